//! Errors: the names Step Functions gives its own errors, a failure as a
//! state or an execution reports it (`{"Error", "Cause"}`), and the
//! problems found in a definition, each at its JSON path.

use serde_json::{Value, json};

/// Matches any error name (but terminal ones: see [`Failure::is_terminal`]).
pub const ALL: &str = "States.ALL";
/// A task failed (any error but a timeout).
pub const TASK_FAILED: &str = "States.TaskFailed";
/// A task or the execution ran past its `TimeoutSeconds`.
pub const TIMEOUT: &str = "States.Timeout";
/// A task sent no heartbeat within `HeartbeatSeconds`.
pub const HEARTBEAT_TIMEOUT: &str = "States.HeartbeatTimeout";
/// The execution's role may not do what the state asked.
pub const PERMISSIONS: &str = "States.Permissions";
/// A payload was larger than the limit.
pub const DATA_LIMIT_EXCEEDED: &str = "States.DataLimitExceeded";
/// The definition could not be applied to the data (a path to nothing, a
/// result that cannot be written). Never retried or caught.
pub const RUNTIME: &str = "States.Runtime";
/// No Choice rule matched and there is no `Default`.
pub const NO_CHOICE_MATCHED: &str = "States.NoChoiceMatched";
/// An intrinsic function failed.
pub const INTRINSIC_FAILURE: &str = "States.IntrinsicFailure";
/// A JSONata expression failed, timed out or returned nothing (undefined).
pub const QUERY_EVALUATION_ERROR: &str = "States.QueryEvaluationError";
/// A parameter path matched nothing or a template could not be applied.
pub const PARAMETER_PATH_FAILURE: &str = "States.ParameterPathFailure";
/// A result selector could not be applied.
pub const RESULT_PATH_MATCH_FAILURE: &str = "States.ResultPathMatchFailure";
/// A Map's items path did not select an array.
pub const ITEM_READER_FAILED: &str = "States.ItemReaderFailed";
/// A Map failed more items than it tolerated.
pub const EXCEED_TOLERATED_FAILURE_THRESHOLD: &str = "States.ExceedToleratedFailureThreshold";
/// A branch or iteration failed (the error of a Parallel or Map state is
/// the branch's own).
pub const BRANCH_FAILED: &str = "States.BranchFailed";

/// A failure: an error name and a cause, as a state, a task or an
/// execution reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The error name, compared case-sensitively.
    pub error: String,
    /// What happened, for people.
    pub cause: String,
}

impl Failure {
    /// A failure named `error`.
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            cause: cause.into(),
        }
    }

    /// A `States.Runtime` failure.
    pub fn runtime(cause: impl std::fmt::Display) -> Self {
        Self::new(RUNTIME, cause.to_string())
    }

    /// The error output a catcher passes on: `{"Error", "Cause"}`.
    pub fn to_json(&self) -> Value {
        json!({ "Error": self.error, "Cause": self.cause })
    }

    /// Whether the failure ends the execution whatever its retriers and
    /// catchers say: `States.Runtime` and `States.DataLimitExceeded`.
    pub fn is_terminal(&self) -> bool {
        self.error == RUNTIME || self.error == DATA_LIMIT_EXCEEDED
    }

    /// Whether a retrier's or catcher's `ErrorEquals` names this failure:
    /// its exact name (compared case-sensitively), `States.ALL` (any), or
    /// `States.TaskFailed` (any but `States.Timeout`). A terminal failure
    /// matches nothing.
    pub fn matches(&self, error_equals: &[String]) -> bool {
        !self.is_terminal()
            && error_equals.iter().any(|name| {
                name == &self.error || name == ALL || (name == TASK_FAILED && self.error != TIMEOUT)
            })
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.cause)
    }
}

/// A problem in a definition: the JSON path of what is wrong
/// (`$.States.Check.Next`) and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where, as a JSON path into the definition.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// The engine version (`machine::ENGINE_VERSION`) that added the rule
    /// this breaks, when definitions were stored before it: such a
    /// definition still loads (it was valid when written), though it
    /// cannot be written again as it is.
    pub since: Option<i64>,
}

impl Problem {
    /// A problem at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
            since: None,
        }
    }

    /// A problem at `path` with a rule that engine version `since` added.
    pub fn since(since: i64, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            since: Some(since),
            ..Self::new(path, message)
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// The JSON path of field `name` under `parent`: `.name` when the name
/// allows it, `['name']` otherwise.
pub fn field_path(parent: &str, name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        format!("{parent}.{name}")
    } else {
        format!("{parent}['{}']", name.replace('\'', "\\'"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn error_names_match_as_step_functions_documents() {
        let custom = Failure::new("Payment.Declined", "card expired");
        assert!(custom.matches(&names(&["Payment.Declined"])));
        assert!(
            !custom.matches(&names(&["payment.declined"])),
            "names are case-sensitive"
        );
        assert!(custom.matches(&names(&["Other", ALL])));
        assert!(custom.matches(&names(&[TASK_FAILED])));
        let timeout = Failure::new(TIMEOUT, "");
        assert!(!timeout.matches(&names(&[TASK_FAILED])));
        assert!(timeout.matches(&names(&[ALL])));
        assert!(timeout.matches(&names(&[TIMEOUT])));
        for terminal in [
            Failure::runtime("bad path"),
            Failure::new(DATA_LIMIT_EXCEEDED, "big"),
        ] {
            assert!(!terminal.matches(&names(&[ALL])), "{terminal} was caught");
            assert!(
                !terminal.matches(&names(&[&terminal.error.clone()])),
                "{terminal} was caught"
            );
        }
    }

    #[test]
    fn field_paths_quote_what_needs_it() {
        assert_eq!(field_path("$.States", "Check"), "$.States.Check");
        assert_eq!(field_path("$.States", "Check it"), "$.States['Check it']");
    }
}
