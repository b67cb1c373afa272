//! The functions Step Functions adds to JSONata (`$partition`, `$range`,
//! `$hash`, `$random`, `$uuid`, `$parse`), as AWS's "JSONata functions
//! provided by Step Functions" describes them, and the builtins replaced:
//! `$eval` (AWS removes it), and `$random`, `$shuffle`, `$now` and `$millis`,
//! which take their randomness and time from the [`Env`].
//!
//! As in JSONata, an undefined argument makes the result undefined, and so
//! do the cases AWS answers with nothing: an empty array or a chunk size
//! under 1 for `$partition`, a `$range` whose step is 0 or points away from
//! its end, a `$hash` without an algorithm. Integer arguments are cut
//! toward zero, as AWS is seen to do.

use std::cell::Cell;
use std::rc::Rc;

use chrono::SecondsFormat;
use jsonata_core::evaluator::{Evaluator, EvaluatorError, HostFnResult};
use jsonata_core::value::JValue;

use super::{Entropy, Env, MAX_SEQUENCE_LENGTH};
use crate::intrinsics::{ALGORITHMS, hex_digest, splitmix64};

/// Registers every function on `evaluator`, with the clock and randomness
/// of `env`.
pub(super) fn register(evaluator: &mut Evaluator, env: &Env<'_>) -> Result<(), EvaluatorError> {
    let dice = Rc::new(Dice::new(env.entropy));
    let now = env.now.to_rfc3339_opts(SecondsFormat::Millis, true);
    let millis = env.now.timestamp_millis();
    evaluator.register_fn_override("partition", partition)?;
    evaluator.register_fn_override("range", range)?;
    evaluator.register_fn_override("hash", hash)?;
    evaluator.register_fn_override("parse", parse)?;
    evaluator.register_fn_override("eval", |_: &[JValue]| -> HostFnResult {
        Err(error(
            "T1006: $eval is not available in Step Functions; use $parse to read JSON text",
        ))
    })?;
    let d = Rc::clone(&dice);
    evaluator.register_fn_override("random", move |args: &[JValue]| random(&d, args))?;
    let d = Rc::clone(&dice);
    evaluator.register_fn_override("uuid", move |args: &[JValue]| uuid(&d, args))?;
    evaluator.register_fn_override("shuffle", move |args: &[JValue]| shuffle(&dice, args))?;
    evaluator.register_fn_override("now", move |args: &[JValue]| -> HostFnResult {
        at_most(args, 2, "now")?;
        match args {
            [] => Ok(JValue::from(now.as_str())),
            // `$now(picture, timezone)`: the same instant, formatted.
            [picture, timezone @ ..] => formatted(millis, picture, timezone.first()),
        }
    })?;
    // JSONata's $millis has no signature and ignores arguments, which
    // `$map(list, $millis)` passes.
    evaluator.register_fn_override("millis", move |_: &[JValue]| -> HostFnResult {
        Ok(JValue::from(millis))
    })
}

/// The instant `millis` as JSONata's `$fromMillis(millis, picture,
/// timezone)` formats it (an evaluator of its own: the crate keeps its
/// formatter to itself).
fn formatted(millis: i64, picture: &JValue, timezone: Option<&JValue>) -> HostFnResult {
    use jsonata_core::evaluator::{Context, EvaluatorOptions};
    let call =
        jsonata_core::parser::parse("$fromMillis($m, $p, $t)").map_err(|e| error(format!("$now: {e:?}")))?;
    let mut context = Context::new();
    context.bind("m".into(), JValue::from(millis));
    context.bind("p".into(), picture.clone());
    if let Some(timezone) = timezone {
        context.bind("t".into(), timezone.clone());
    }
    let options = EvaluatorOptions {
        timeout_ms: Some(100),
        ..EvaluatorOptions::default()
    };
    Evaluator::with_options(context, options).evaluate(&call, &JValue::Undefined)
}

/// `$partition(array, size)`: the array cut into chunks of `size`, the
/// last one shorter when the items run out. A single value is an array of
/// one, as JSONata's signatures have it.
fn partition(args: &[JValue]) -> HostFnResult {
    at_most(args, 2, "partition")?;
    let single: [JValue; 1];
    let items: &[JValue] = match args.first() {
        None | Some(JValue::Undefined) => return Ok(JValue::Undefined),
        Some(JValue::Array(items)) => items,
        Some(value) if value.is_function() => return Err(signature("partition", 1)),
        Some(value) => {
            single = [value.clone()];
            &single
        }
    };
    let Some(size) = integer(args, 1, "partition")? else {
        return Ok(JValue::Undefined);
    };
    let Some(size) = usize::try_from(size).ok().filter(|size| *size > 0) else {
        return Ok(JValue::Undefined);
    };
    if items.is_empty() {
        return Ok(JValue::Undefined);
    }
    let chunks = items.chunks(size).map(|chunk| JValue::array(chunk.to_vec()));
    Ok(JValue::array(chunks.collect()))
}

/// `$range(start, end, step)`: from `start` by `step` while not past `end`;
/// a range of one number is that number, as a JSONata sequence of one is.
/// More numbers than a sequence may hold is an error.
fn range(args: &[JValue]) -> HostFnResult {
    at_most(args, 3, "range")?;
    let bounds = (
        integer(args, 0, "range")?,
        integer(args, 1, "range")?,
        integer(args, 2, "range")?,
    );
    let (Some(start), Some(end), Some(step)) = bounds else {
        return Ok(JValue::Undefined);
    };
    let (start, span, step) = (
        i128::from(start),
        i128::from(end) - i128::from(start),
        i128::from(step),
    );
    if step == 0 || (span != 0 && (span > 0) != (step > 0)) {
        return Ok(JValue::Undefined);
    }
    let count = span / step + 1;
    if count > MAX_SEQUENCE_LENGTH as i128 {
        return Err(error(format!(
            "D2014: $range would make {count} numbers; at most {MAX_SEQUENCE_LENGTH} are allowed"
        )));
    }
    // Every number lies between start and end, both i64s.
    let number = |k: i128| JValue::from((start + k * step) as i64);
    if count == 1 {
        return Ok(number(0));
    }
    Ok(JValue::array((0..count).map(number).collect()))
}

/// `$hash(text, algorithm)`: the hex digest, as `States.Hash` computes it.
fn hash(args: &[JValue]) -> HostFnResult {
    at_most(args, 2, "hash")?;
    let (Some(text), Some(algorithm)) = (string(args, 0, "hash")?, string(args, 1, "hash")?) else {
        return Ok(JValue::Undefined);
    };
    hex_digest(algorithm, text.as_bytes())
        .map(JValue::from)
        .ok_or_else(|| {
            error(format!(
                "$hash: unknown algorithm {algorithm:?}: use one of {}",
                ALGORITHMS.join(", ")
            ))
        })
}

/// `$parse(text)`: the JSON value the text holds.
fn parse(args: &[JValue]) -> HostFnResult {
    at_most(args, 1, "parse")?;
    let Some(text) = string(args, 0, "parse")? else {
        return Ok(JValue::Undefined);
    };
    JValue::from_json_str(text).map_err(|e| error(format!("$parse: the text is not JSON: {e}")))
}

/// `$random()`: a number in `[0, 1)` from the session's randomness;
/// `$random(seed)`: the same number for the same seed, always.
fn random(dice: &Dice, args: &[JValue]) -> HostFnResult {
    at_most(args, 1, "random")?;
    let bits = match integer(args, 0, "random")? {
        Some(seed) => splitmix64(seed as u64),
        None => dice.next_u64(),
    };
    Ok(JValue::from(unit(bits)))
}

/// `$uuid()`: a version 4 UUID from the session's randomness.
fn uuid(dice: &Dice, args: &[JValue]) -> HostFnResult {
    no_arguments(args, "uuid", "")?;
    let high = dice.next_u64().to_be_bytes();
    let low = dice.next_u64().to_be_bytes();
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&high);
    bytes[8..].copy_from_slice(&low);
    let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
    Ok(JValue::from(id.to_string()))
}

/// `$shuffle(array)`: the items in an order drawn from the session's
/// randomness (Fisher-Yates).
fn shuffle(dice: &Dice, args: &[JValue]) -> HostFnResult {
    at_most(args, 1, "shuffle")?;
    let mut items = match args.first() {
        None | Some(JValue::Undefined) => return Ok(JValue::Undefined),
        Some(JValue::Array(items)) => items.to_vec(),
        Some(value) => vec![value.clone()],
    };
    for i in (1..items.len()).rev() {
        // i + 1 items at most a sequence's length: the modulo fits usize.
        let j = (dice.next_u64() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
    Ok(JValue::array(items))
}

/// The randomness of one session: the system's, or a SplitMix64 stream
/// from the caller's seed.
struct Dice {
    /// The next seed of the stream; `None` for the system's generator.
    next: Option<Cell<u64>>,
}

impl Dice {
    fn new(entropy: Entropy) -> Self {
        let next = match entropy {
            Entropy::System => None,
            Entropy::Seeded(seed) => Some(Cell::new(seed)),
        };
        Self { next }
    }

    /// 64 random bits.
    fn next_u64(&self) -> u64 {
        const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;
        match &self.next {
            None => rand::random(),
            Some(next) => {
                let seed = next.get();
                next.set(seed.wrapping_add(GOLDEN_GAMMA));
                splitmix64(seed)
            }
        }
    }
}

/// 53 of `bits` as a number in `[0, 1)`.
fn unit(bits: u64) -> f64 {
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// Argument `index` as an integer, cut toward zero; `None` when undefined
/// or missing.
fn integer(args: &[JValue], index: usize, function: &str) -> Result<Option<i64>, EvaluatorError> {
    // Within ±2^63, where an f64 converts to an i64 exactly.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    match args.get(index) {
        None | Some(JValue::Undefined) => Ok(None),
        Some(JValue::Number(n)) if n.is_finite() && n.abs() < LIMIT => Ok(Some(n.trunc() as i64)),
        Some(JValue::Number(n)) => Err(error(format!(
            "${function}: argument {} ({n}) is not a number in the range of a 64-bit integer",
            index + 1
        ))),
        Some(_) => Err(signature(function, index + 1)),
    }
}

/// Argument `index` as a string; `None` when undefined or missing.
fn string<'a>(args: &'a [JValue], index: usize, function: &str) -> Result<Option<&'a str>, EvaluatorError> {
    match args.get(index) {
        None | Some(JValue::Undefined) => Ok(None),
        Some(JValue::String(text)) => Ok(Some(text)),
        Some(_) => Err(signature(function, index + 1)),
    }
}

/// Refuses more than `max` arguments, as JSONata's signatures do.
fn at_most(args: &[JValue], max: usize, function: &str) -> Result<(), EvaluatorError> {
    if args.len() > max {
        return Err(signature(function, max + 1));
    }
    Ok(())
}

/// Refuses any argument (an undefined one included), with `hint` after
/// the message.
fn no_arguments(args: &[JValue], function: &str, hint: &str) -> Result<(), EvaluatorError> {
    if !args.is_empty() {
        return Err(error(format!("T0410: ${function} takes no arguments{hint}")));
    }
    Ok(())
}

/// JSONata's error for an argument of the wrong type or one too many.
fn signature(function: &str, argument: usize) -> EvaluatorError {
    error(format!(
        "T0410: Argument {argument} of function \"{function}\" does not match function signature"
    ))
}

/// An evaluation error with `message`.
fn error(message: impl Into<String>) -> EvaluatorError {
    EvaluatorError::EvaluationError(message.into())
}
