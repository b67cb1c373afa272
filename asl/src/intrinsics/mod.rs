//! Intrinsic functions: the calls such as `States.Format('Hello {}', $.name)`
//! that a `.$` key of a payload template may hold instead of a path. A call
//! is parsed once, when the definition is read, and evaluated against the
//! state's input and the context object each time the state runs.
//!
//! It follows AWS's page "Intrinsic functions for JSONPath states in Step
//! Functions":
//!
//! - Arguments are string literals in single quotes, numbers, `true`,
//!   `false`, `null`, paths on the input (`$`, `$.x`), on the context
//!   object (`$$.Execution.Id`) or on a variable (`$order.number`), and
//!   nested calls; one field holds at most
//!   10 calls. In a string literal `\'`, `\{`, `\}` and `\\` stand for `'`,
//!   `{`, `}` and `\`; any other backslash is an error.
//! - What cannot be parsed (an unknown function, a wrong number of
//!   arguments, a literal of the wrong type, a bad path, an unclosed quote
//!   or parenthesis) is an [`IntrinsicError`], shown by definition
//!   validation.
//! - At run time, a path that matches nothing fails with `States.Runtime`;
//!   anything else that goes wrong fails with `States.IntrinsicFailure`
//!   and a cause that names the function and what is wrong.
//! - Numbers that should be integers are rounded to the nearest one (half
//!   up), and integer results stay integers.
//!
//! The code, by file:
//!
//! - `parse`: the parser of a call's text: arguments, string escapes, paths.
//! - `args`: the functions' signatures, and the checks and conversions of arguments.
//! - `strings`: `States.Format`, `StringToJson`, `JsonMerge` and `StringSplit`.
//! - `arrays`: `States.ArrayPartition`, `ArrayRange`, `ArrayGetItem` and `ArrayUnique`.
//! - `math`: `States.MathRandom`, `Hash` and `Base64Decode`.
//!
//! The other functions take one line of [`Call::eval`].

mod args;
mod arrays;
mod math;
mod parse;
mod strings;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use crate::budget::Budget;
use crate::errors::Failure;
use crate::paths::{Bindings, Path};
use args::{Args, Func};
use arrays::{array_get_item, array_partition, array_range, array_unique};
pub(crate) use math::{ALGORITHMS, hex_digest, splitmix64};
use math::{base64_decode, hash, math_random};
use strings::{format, json_merge, string_split, string_to_json};

/// Why an intrinsic call could not be parsed (definition validation shows it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct IntrinsicError(pub String);

/// Whether `text` looks like an intrinsic call (starts with "States." and a name and "(");
/// used to decide between a path and a call for `.$` keys.
pub fn is_call(text: &str) -> bool {
    let Some(rest) = text.trim_start().strip_prefix("States.") else {
        return false;
    };
    let name = rest
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(rest.len());
    name > 0 && rest[name..].starts_with('(')
}

/// A parsed intrinsic call.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    func: Func,
    args: Vec<Arg>,
}

/// One argument as written.
#[derive(Debug, Clone, PartialEq)]
enum Arg {
    /// A string literal, unescaped and cut at each unescaped `{}` (the
    /// placeholders of a `States.Format` template): its value is the parts
    /// joined with `{}`.
    Str(Vec<String>),
    /// A number, `true`, `false` or `null`.
    Literal(Value),
    Path(Path),
    Call(Call),
}

impl Call {
    /// Parses `text`, e.g. "States.Format('Hello {}', $.name)". Unknown function names,
    /// wrong argument counts, literal arguments of the wrong type, bad paths, unbalanced
    /// quotes or parentheses: an IntrinsicError whose message says what is wrong.
    pub fn parse(text: &str) -> Result<Self, IntrinsicError> {
        if !is_call(text) {
            return Err(IntrinsicError(format!(
                "{text:?} is not an intrinsic function call: it should be States., a function name and (arguments)"
            )));
        }
        parse::call(text)
    }

    /// Evaluates against the state's input, the context object and the variables. A path argument that
    /// matches nothing fails with Failure { error: "States.Runtime", .. } (use Failure::runtime);
    /// anything else that goes wrong at run time (wrong argument type from a path, a string
    /// that is not JSON for StringToJson, bad base64, ArrayGetItem out of range, a Format
    /// with the wrong number of {} ...) fails with error "States.IntrinsicFailure" and a cause
    /// that says what is wrong.
    pub fn eval(&self, input: &Value, bindings: &Bindings<'_>) -> Result<Value, Failure> {
        self.eval_within(input, bindings, &mut Budget::payload())
    }

    /// Evaluates, the arguments' copies taken from `budget`
    /// (`States.DataLimitExceeded` when they weigh more).
    pub(crate) fn eval_within(
        &self,
        input: &Value,
        bindings: &Bindings<'_>,
        budget: &mut Budget,
    ) -> Result<Value, Failure> {
        let values = self
            .args
            .iter()
            .map(|arg| arg.eval(input, bindings, budget))
            .collect::<Result<Vec<_>, _>>()?;
        // The result is made of the arguments (each weighed) or bounded by
        // the function's own limits; the state's output is weighed after.
        self.apply_to(&values)
    }

    /// The function applied to its arguments' values.
    fn apply_to(&self, values: &[Value]) -> Result<Value, Failure> {
        let args = Args {
            func: self.func,
            values,
        };
        match self.func {
            Func::Format => format(&args, self.template(&args)?),
            Func::StringToJson => string_to_json(&args),
            Func::JsonToString => Ok(Value::String(args.value(0)?.to_string())),
            Func::Array => Ok(Value::Array(values.to_vec())),
            Func::ArrayPartition => array_partition(&args),
            Func::ArrayContains => Ok(Value::Bool(args.array(0)?.contains(args.value(1)?))),
            Func::ArrayRange => array_range(&args),
            Func::ArrayGetItem => array_get_item(&args),
            Func::ArrayLength => Ok(Value::from(args.array(0)?.len())),
            Func::ArrayUnique => Ok(array_unique(args.array(0)?)),
            Func::Base64Encode => Ok(Value::String(STANDARD.encode(args.short_text(0)?))),
            Func::Base64Decode => base64_decode(&args),
            Func::Hash => hash(&args),
            Func::JsonMerge => json_merge(&args),
            Func::MathRandom => math_random(&args),
            Func::MathAdd => Ok(Value::from(i64::from(args.int32(0)?) + i64::from(args.int32(1)?))),
            Func::StringSplit => string_split(&args),
            Func::Uuid => Ok(Value::String(uuid::Uuid::new_v4().to_string())),
        }
    }

    /// The text between the placeholders of a `States.Format` template: cut
    /// where it was written for a literal, at every `{}` for a value.
    fn template(&self, args: &Args<'_>) -> Result<Vec<String>, Failure> {
        match self.args.first() {
            Some(Arg::Str(parts)) => Ok(parts.clone()),
            _ => Ok(args.text(0)?.split("{}").map(str::to_owned).collect()),
        }
    }
}

impl Arg {
    fn eval(&self, input: &Value, bindings: &Bindings<'_>, budget: &mut Budget) -> Result<Value, Failure> {
        match self {
            Arg::Str(parts) => Ok(Value::String(parts.join("{}"))),
            Arg::Literal(value) => Ok(value.clone()),
            Arg::Path(path) => {
                let value = path.select(input, bindings).map_err(Failure::runtime)?;
                budget.take(&value)?;
                Ok(value)
            }
            Arg::Call(call) => call.eval_within(input, bindings, budget),
        }
    }
}

#[cfg(test)]
mod tests {
    //! The helpers every file's tests use, and the tests of [`is_call`].

    use super::*;
    use crate::errors::INTRINSIC_FAILURE;
    use serde_json::json;

    fn context() -> Value {
        json!({"Execution": {"Id": "arn:exec:1", "Name": "run-1"}, "State": {"Name": "Build"}})
    }

    pub(super) fn run(text: &str, input: Value) -> Result<Value, Failure> {
        let variables = json!({"order": {"number": 7}});
        let variables = variables.as_object().cloned().unwrap_or_default();
        Call::parse(text)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .eval(&input, &Bindings::new(&context(), &variables))
    }

    pub(super) fn ok(text: &str, input: Value) -> Value {
        run(text, input).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    /// The cause of a `States.IntrinsicFailure`.
    pub(super) fn failure(text: &str, input: Value) -> String {
        let failure = run(text, input).expect_err(text);
        assert_eq!(failure.error, INTRINSIC_FAILURE, "{text}: {failure}");
        failure.cause
    }

    pub(super) fn parse_error(text: &str) -> String {
        Call::parse(text).expect_err(text).0
    }

    #[test]
    fn arguments_read_variables() {
        // AWS's example: `States.Format('The order number is {}', $order.number)`.
        assert_eq!(
            ok(
                "States.Format('The order number is {}', $order.number)",
                json!({})
            ),
            json!("The order number is 7")
        );
        assert_eq!(
            ok("States.Array($order, $.a)", json!({"a": 1})),
            json!([{"number": 7}, 1])
        );
        let unknown = run("States.Format('{}', $nothing)", json!({})).expect_err("unassigned");
        assert_eq!(unknown.error, crate::errors::RUNTIME);
        assert!(unknown.cause.contains("$nothing"), "{}", unknown.cause);
    }

    #[test]
    fn is_call_tells_calls_from_paths() {
        for call in ["States.UUID()", "States.Format('{}', $.a)", "  States.Nope(1)"] {
            assert!(is_call(call), "{call}");
        }
        for other in [
            "$.a",
            "$$.Execution.Id",
            "States.",
            "States.(",
            "States.Format",
            "states.Array()",
            "x States.Array()",
        ] {
            assert!(!is_call(other), "{other}");
        }
    }
}
