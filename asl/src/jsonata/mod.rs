//! JSONata, the query language of states that set `"QueryLanguage":
//! "JSONata"`, as AWS's page "Transforming data with JSONata in Step
//! Functions" describes it:
//!
//! - A string that starts with `{%` and ends with `%}` is an expression; any
//!   other string is a literal. A string that opens an expression and does
//!   not close it, or that puts a space before `{%` or after `%}`, is a
//!   problem of the definition.
//! - An expression runs with no input (`$` is undefined): the state's data
//!   is in `$states` (`input`, `result`, `errorOutput`, `context`) and each
//!   workflow variable is `$name`.
//! - A failure, a timeout, or a result that is undefined (JSON cannot hold
//!   it) fails the state with `States.QueryEvaluationError`, naming the
//!   expression and the field (`Output/a/b[0]`), as AWS does.
//! - Step Functions adds `$partition`, `$range`, `$hash`, `$random` (with an
//!   optional seed), `$uuid` and `$parse`, and removes `$eval`.
//!
//! The engine is the `jsonata-core` crate. Its evaluator is not `Send`, so
//! an evaluation runs start to end on the caller's thread; a parsed
//! [`Expression`] is `Send + Sync` and lives in the definition.
//!
//! The interpreter replays journals, so nothing here reads the clock or
//! the system's randomness unless told to: the caller gives the time
//! (`$now`, `$millis`) and an [`Entropy`] (`$random`, `$uuid`, `$shuffle`)
//! in the [`Env`].
//!
//! The code, by file:
//!
//! - `expression`: `{% %}` strings, parsed once into an [`Expression`].
//! - `template`: [`Template`], JSON whose strings may be expressions.
//! - `session`: one evaluator with `$states`, the variables, the limits and
//!   the functions, and the failures it reports.
//! - `functions`: the functions Step Functions adds, and those it replaces.
//! - `convert`: a result turned into JSON.
//! - `request`: an evaluation as data, to evaluate in another process.

mod convert;
mod expression;
mod functions;
mod request;
mod session;
mod template;
#[cfg(test)]
mod tests;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

pub use expression::{Expression, ExpressionError, expression_text};
pub use request::Request;
pub use template::Template;

/// The longest expression accepted, in bytes between `{%` and `%}`: far
/// more than a hand-written expression needs, and a bound on parsing time.
pub const MAX_EXPRESSION_BYTES: usize = 64 * 1024;

/// How long one expression may run, unless the caller says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(1000);

/// How deep an evaluation may nest (function calls, operators) before it
/// fails: room for about 1,600 non-tail recursive calls.
pub const MAX_STACK_DEPTH: usize = 5000;

/// The longest sequence an evaluation may build (`[1..n]`, `$map`, a path).
pub const MAX_SEQUENCE_LENGTH: usize = 1_000_000;

/// How deeply a result may nest arrays and objects: serde_json reads no
/// deeper, and results are stored as JSON and read back.
pub const MAX_RESULT_DEPTH: usize = 128;

/// The reserved variable `$states`: the state's input, the task's result
/// or error output when there is one, and the context object.
#[derive(Debug, Clone, Copy)]
pub struct States<'a> {
    /// `$states.input`: the state's input.
    pub input: &'a Value,
    /// `$states.result`: the task's, branches' or iterations' result, in
    /// the fields that may read it.
    pub result: Option<&'a Value>,
    /// `$states.errorOutput`: `{"Error", "Cause"}`, in a `Catch`.
    pub error_output: Option<&'a Value>,
    /// `$states.context`: the context object.
    pub context: &'a Value,
}

impl States<'_> {
    /// The object `$states` is bound to; a missing result or error output
    /// is left out, so reading it is undefined rather than null.
    fn to_json(self) -> Value {
        let mut states = Map::new();
        states.insert("input".into(), self.input.clone());
        if let Some(result) = self.result {
            states.insert("result".into(), result.clone());
        }
        if let Some(error_output) = self.error_output {
            states.insert("errorOutput".into(), error_output.clone());
        }
        states.insert("context".into(), self.context.clone());
        Value::Object(states)
    }
}

/// Where `$random()`, `$uuid()` and `$shuffle()` take their randomness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entropy {
    /// The system's generator: values nobody can predict or replay.
    System,
    /// A generator started from this seed: the same seed gives the same
    /// values in the same order, so a journal that keeps the seed (or the
    /// result) replays the evaluation. Give each evaluation its own seed.
    Seeded(u64),
}

/// What an evaluation sees and may take from outside.
#[derive(Debug, Clone, Copy)]
pub struct Env<'a> {
    /// `$states`.
    pub states: States<'a>,
    /// The workflow's variables, each bound as `$name`; a variable named
    /// `states` is hidden by the reserved one.
    pub variables: &'a Map<String, Value>,
    /// What `$now()` and `$millis()` answer, the same for every call, as
    /// JSONata defines them.
    pub now: DateTime<Utc>,
    /// The randomness of `$random()`, `$uuid()` and `$shuffle()`.
    pub entropy: Entropy,
    /// How long each expression may run before it fails. The engine checks
    /// the clock between steps, so a long builtin can overrun it a little.
    pub timeout: Duration,
}

impl<'a> Env<'a> {
    /// `$states` and the variables, with the system's clock and
    /// randomness and the default timeout: for tests and one-off
    /// evaluations, not for an interpreter that replays.
    pub fn new(states: States<'a>, variables: &'a Map<String, Value>) -> Self {
        Self {
            states,
            variables,
            now: Utc::now(),
            entropy: Entropy::System,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}
