//! What a function's arguments must be: each function's signature and the
//! checks a call's literals get when it is parsed ([`Call::new`]), and
//! [`Args`], the evaluated arguments converted as each function wants them.

use std::fmt::Display;

use serde_json::{Map, Value};

use super::math::ALGORITHMS;
use super::strings::mismatch;
use super::{Arg, Call};
use crate::errors::{Failure, INTRINSIC_FAILURE};
use crate::paths::abridged;

/// The most characters `Base64Encode`, `Base64Decode` and `Hash` take.
pub(super) const MAX_CHARS: usize = 10_000;

impl Call {
    /// Checks the arguments' number and the literals' types.
    pub(super) fn new(func: Func, args: Vec<Arg>) -> Result<Self, String> {
        let sig = func.sig();
        let most = if sig.rest.is_some() {
            usize::MAX
        } else {
            sig.params.len()
        };
        if args.len() < sig.required || args.len() > most {
            return Err(format!("{} takes {}, not {}", sig.name, sig.arity(), args.len()));
        }
        for (i, arg) in args.iter().enumerate() {
            let kind = sig.params.get(i).copied().or(sig.rest).unwrap_or(Kind::Any);
            if let Some(literal) = arg.literal_type()
                && !kind.accepts(arg)
            {
                return Err(format!(
                    "{}: argument {} must be {}, not {literal}",
                    sig.name,
                    i + 1,
                    kind.describe()
                ));
            }
        }
        match (func, args.first(), args.get(1)) {
            (Func::Hash, _, Some(Arg::Str(parts))) if !ALGORITHMS.contains(&parts.join("{}").as_str()) => {
                return Err(format!(
                    "States.Hash: unknown algorithm '{}': use one of {}",
                    parts.join("{}"),
                    ALGORITHMS.join(", ")
                ));
            }
            (Func::Format, Some(Arg::Str(parts)), _) if parts.len() != args.len() => {
                return Err(format!(
                    "States.Format: {}",
                    mismatch(parts.len() - 1, args.len() - 1)
                ));
            }
            _ => {}
        }
        Ok(Self { func, args })
    }
}

impl Arg {
    /// What kind of literal this is; `None` for a path or a call.
    fn literal_type(&self) -> Option<&'static str> {
        match self {
            Arg::Str(_) => Some("a string"),
            Arg::Literal(Value::Number(_)) => Some("a number"),
            Arg::Literal(Value::Bool(_)) => Some("a boolean"),
            Arg::Literal(_) => Some("null"),
            Arg::Path(_) | Arg::Call(_) => None,
        }
    }
}

/// The intrinsic functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Func {
    Format,
    StringToJson,
    JsonToString,
    Array,
    ArrayPartition,
    ArrayContains,
    ArrayRange,
    ArrayGetItem,
    ArrayLength,
    ArrayUnique,
    Base64Encode,
    Base64Decode,
    Hash,
    JsonMerge,
    MathRandom,
    MathAdd,
    StringSplit,
    Uuid,
}

/// What an argument must be. Paths and calls are checked when evaluated;
/// literals when parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Any,
    Str,
    Num,
    Array,
    Object,
    /// A path or a call (`States.JsonToString`).
    Data,
    /// `false` (the deep-merge flag of `States.JsonMerge`).
    False,
}

/// A function's name and parameters: the first `required` of `params` are
/// required, and `rest`, when set, is the kind of any number more.
struct Sig {
    name: &'static str,
    params: &'static [Kind],
    required: usize,
    rest: Option<Kind>,
}

impl Func {
    pub(super) const ALL: [Func; 18] = [
        Func::Format,
        Func::StringToJson,
        Func::JsonToString,
        Func::Array,
        Func::ArrayPartition,
        Func::ArrayContains,
        Func::ArrayRange,
        Func::ArrayGetItem,
        Func::ArrayLength,
        Func::ArrayUnique,
        Func::Base64Encode,
        Func::Base64Decode,
        Func::Hash,
        Func::JsonMerge,
        Func::MathRandom,
        Func::MathAdd,
        Func::StringSplit,
        Func::Uuid,
    ];

    fn sig(self) -> Sig {
        use Kind::*;
        let sig = |name, params, required, rest| Sig {
            name,
            params,
            required,
            rest,
        };
        match self {
            Func::Format => sig("States.Format", &[Str], 1, Some(Any)),
            Func::StringToJson => sig("States.StringToJson", &[Str], 1, None),
            Func::JsonToString => sig("States.JsonToString", &[Data], 1, None),
            Func::Array => sig("States.Array", &[], 0, Some(Any)),
            Func::ArrayPartition => sig("States.ArrayPartition", &[Array, Num], 2, None),
            Func::ArrayContains => sig("States.ArrayContains", &[Array, Any], 2, None),
            Func::ArrayRange => sig("States.ArrayRange", &[Num, Num, Num], 3, None),
            Func::ArrayGetItem => sig("States.ArrayGetItem", &[Array, Num], 2, None),
            Func::ArrayLength => sig("States.ArrayLength", &[Array], 1, None),
            Func::ArrayUnique => sig("States.ArrayUnique", &[Array], 1, None),
            Func::Base64Encode => sig("States.Base64Encode", &[Str], 1, None),
            Func::Base64Decode => sig("States.Base64Decode", &[Str], 1, None),
            Func::Hash => sig("States.Hash", &[Str, Str], 2, None),
            Func::JsonMerge => sig("States.JsonMerge", &[Object, Object, False], 3, None),
            Func::MathRandom => sig("States.MathRandom", &[Num, Num, Num], 2, None),
            Func::MathAdd => sig("States.MathAdd", &[Num, Num], 2, None),
            Func::StringSplit => sig("States.StringSplit", &[Str, Str], 2, None),
            Func::Uuid => sig("States.UUID", &[], 0, None),
        }
    }

    pub(super) fn name(self) -> &'static str {
        self.sig().name
    }

    pub(super) fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }
}

impl Sig {
    /// "2 arguments", "2 or 3 arguments", "at least 1 argument", ...
    fn arity(&self) -> String {
        let s = |n: usize| if n == 1 { "" } else { "s" };
        let (required, most) = (self.required, self.params.len());
        match self.rest {
            Some(_) if required == 0 => "any number of arguments".to_owned(),
            Some(_) => format!("at least {required} argument{}", s(required)),
            None if most == 0 => "no arguments".to_owned(),
            None if required == most => format!("{most} argument{}", s(most)),
            None => format!("{required} or {most} arguments"),
        }
    }
}

impl Kind {
    /// Whether the literal `arg` may stand for this kind.
    fn accepts(self, arg: &Arg) -> bool {
        match self {
            Kind::Any => true,
            Kind::Str => matches!(arg, Arg::Str(_)),
            Kind::Num => matches!(arg, Arg::Literal(Value::Number(_))),
            Kind::False => matches!(arg, Arg::Literal(Value::Bool(false))),
            Kind::Array | Kind::Object | Kind::Data => false,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Kind::Any => "any value",
            Kind::Str => "a string",
            Kind::Num => "a number",
            Kind::Array => "an array (a path or an intrinsic function)",
            Kind::Object => "a JSON object (a path or an intrinsic function)",
            Kind::Data => "a path or an intrinsic function",
            Kind::False => "false (only the shallow merge is supported)",
        }
    }
}

/// A call's evaluated arguments, with what is needed to say what is wrong
/// with them.
pub(super) struct Args<'a> {
    pub(super) func: Func,
    pub(super) values: &'a [Value],
}

impl<'a> Args<'a> {
    pub(super) fn fail(&self, why: impl Display) -> Failure {
        Failure::new(INTRINSIC_FAILURE, format!("{}: {why}", self.func.name()))
    }

    pub(super) fn wrong(&self, i: usize, expected: &str, got: &Value) -> Failure {
        self.fail(format_args!(
            "argument {} must be {expected}, not {}",
            i + 1,
            abridged(got)
        ))
    }

    pub(super) fn value(&self, i: usize) -> Result<&'a Value, Failure> {
        self.values
            .get(i)
            .ok_or_else(|| self.fail(format_args!("argument {} is missing", i + 1)))
    }

    pub(super) fn text(&self, i: usize) -> Result<&'a str, Failure> {
        let value = self.value(i)?;
        value.as_str().ok_or_else(|| self.wrong(i, "a string", value))
    }

    /// A string of at most [`MAX_CHARS`] characters.
    pub(super) fn short_text(&self, i: usize) -> Result<&'a str, Failure> {
        let text = self.text(i)?;
        let chars = text.chars().count();
        if chars > MAX_CHARS {
            return Err(self.fail(format_args!(
                "argument {} has {chars} characters; at most {MAX_CHARS} are allowed",
                i + 1
            )));
        }
        Ok(text)
    }

    pub(super) fn array(&self, i: usize) -> Result<&'a [Value], Failure> {
        let value = self.value(i)?;
        value
            .as_array()
            .map(Vec::as_slice)
            .ok_or_else(|| self.wrong(i, "an array", value))
    }

    pub(super) fn object(&self, i: usize) -> Result<&'a Map<String, Value>, Failure> {
        let value = self.value(i)?;
        value
            .as_object()
            .ok_or_else(|| self.wrong(i, "a JSON object", value))
    }

    /// An integer; another number is rounded to the nearest one, halves up.
    pub(super) fn integer(&self, i: usize) -> Result<i64, Failure> {
        let value = self.value(i)?;
        if let Some(n) = value.as_i64() {
            return Ok(n);
        }
        match value.as_f64() {
            Some(x) if x.abs() < 9.0e15 => Ok((x + 0.5).floor() as i64),
            _ => Err(self.wrong(i, "an integer", value)),
        }
    }

    /// An integer that Java's `int` holds, as `States.MathAdd` requires.
    pub(super) fn int32(&self, i: usize) -> Result<i32, Failure> {
        let n = self.integer(i)?;
        i32::try_from(n).map_err(|_| {
            self.fail(format_args!(
                "argument {} is {n}; it must be between {} and {}",
                i + 1,
                i32::MIN,
                i32::MAX
            ))
        })
    }
}
