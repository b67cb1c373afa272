//! `Retry` and `Catch`: what a Task, Parallel or Map state does when it
//! fails. The first retrier whose `ErrorEquals` names the error decides
//! (each retrier counts its own attempts); when it has none left, or none
//! matched, the first matching catcher sends the error output on to its
//! `Next`.

use crate::definition::fields::Fields;
use crate::errors::{ALL, Failure, Problem};
use crate::paths::ReferencePath;
use serde_json::Value;
use std::time::Duration;

/// Longest interval or delay a retrier may name, seconds (Step Functions'
/// limit).
const MAX_SECONDS: u64 = 99_999_999;

/// How a retry's delay is spread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    /// Exactly the computed delay.
    None,
    /// A random delay from zero to the computed one.
    Full,
}

/// One entry of `Retry`.
#[derive(Debug, Clone, PartialEq)]
pub struct Retrier {
    /// The error names it retries.
    pub error_equals: Vec<String>,
    /// Delay before the first retry.
    pub interval: Duration,
    /// Retries at most (0: never).
    pub max_attempts: u32,
    /// The delay's factor from one retry to the next.
    pub backoff_rate: f64,
    /// The longest delay.
    pub max_delay: Option<Duration>,
    /// How the delay is spread.
    pub jitter: Jitter,
}

impl Retrier {
    /// The delay before retry number `retry` (1 for the first) of this
    /// retrier, before jitter; `random` in `0.0..1.0` spreads it when the
    /// jitter is full.
    pub fn delay(&self, retry: u32, random: f64) -> Duration {
        let exponent = i32::try_from(retry.saturating_sub(1)).unwrap_or(i32::MAX);
        let mut secs = self.interval.as_secs_f64() * self.backoff_rate.powi(exponent);
        if let Some(max) = self.max_delay {
            secs = secs.min(max.as_secs_f64());
        }
        secs = secs.min(MAX_SECONDS as f64);
        if self.jitter == Jitter::Full {
            secs *= random.clamp(0.0, 1.0);
        }
        Duration::from_secs_f64(secs)
    }
}

/// One entry of `Catch`.
#[derive(Debug, Clone, PartialEq)]
pub struct Catcher {
    /// The error names it catches.
    pub error_equals: Vec<String>,
    /// Where the error output goes in the state's input (`$` by default;
    /// `None`: the input passes on unchanged).
    pub result_path: Option<ReferencePath>,
    /// The state that runs next.
    pub next: String,
    /// A JSONata catcher's output (`$states.errorOutput` by default).
    pub output: Option<crate::jsonata::Template>,
    /// Variables the catcher sets, in the scope of the state that failed
    /// (in a JSONPath state, `$` is the error output).
    pub assign: Option<crate::variables::Assign>,
}

/// What to do about a failure, given the retriers' counts so far.
#[derive(Debug, Clone, PartialEq)]
pub enum Recovery {
    /// Run the state again after `delay`; retrier `retrier` has used one
    /// more attempt.
    Retry {
        /// The index of the retrier that matched.
        retrier: usize,
        /// How long to wait.
        delay: Duration,
    },
    /// Go on to catcher `catcher`'s `Next`.
    Catch {
        /// The index of the catcher that matched.
        catcher: usize,
    },
    /// The state fails.
    Fail,
}

/// Decides what follows `failure`: `counts[i]` is how many retries
/// retrier `i` has made for this state entry.
pub fn recover(
    retriers: &[Retrier],
    catchers: &[Catcher],
    failure: &Failure,
    counts: &[u32],
    random: f64,
) -> Recovery {
    if let Some(i) = retriers.iter().position(|r| failure.matches(&r.error_equals)) {
        let used = counts.get(i).copied().unwrap_or(0);
        if used < retriers[i].max_attempts {
            return Recovery::Retry {
                retrier: i,
                delay: retriers[i].delay(used + 1, random),
            };
        }
    }
    match catchers.iter().position(|c| failure.matches(&c.error_equals)) {
        Some(catcher) => Recovery::Catch { catcher },
        None => Recovery::Fail,
    }
}

/// Parses `Retry` (at `at`), pushing every problem.
pub(crate) fn parse_retry(value: &Value, at: &str, problems: &mut Vec<Problem>) -> Vec<Retrier> {
    let Some(items) = value.as_array() else {
        problems.push(Problem::new(at, "Retry must be an array of retriers"));
        return Vec::new();
    };
    let count = items.len();
    let mut retriers = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let here = format!("{at}[{i}]");
        let Some(mut f) = Fields::of(item, here, "a retrier", problems) else {
            continue;
        };
        f.only(
            &[
                "ErrorEquals",
                "IntervalSeconds",
                "MaxAttempts",
                "BackoffRate",
                "MaxDelaySeconds",
                "JitterStrategy",
                "Comment",
            ],
            "a retrier",
        );
        let error_equals = error_equals(&mut f, i + 1 == count, "retrier");
        let interval = f
            .uint("IntervalSeconds", 1)
            .map(|s| s.min(MAX_SECONDS))
            .unwrap_or(1);
        let max_attempts = f
            .uint("MaxAttempts", 0)
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
            .unwrap_or(3);
        let backoff_rate = f.number("BackoffRate", 1.0, f64::MAX).unwrap_or(2.0);
        let max_delay = f
            .uint("MaxDelaySeconds", 1)
            .map(|s| Duration::from_secs(s.min(MAX_SECONDS)));
        let jitter = match f.str("JitterStrategy") {
            None | Some("NONE") => Jitter::None,
            Some("FULL") => Jitter::Full,
            Some(other) => {
                f.problem(
                    "JitterStrategy",
                    format!("JitterStrategy is FULL or NONE, not {other:?}"),
                );
                Jitter::None
            }
        };
        retriers.push(Retrier {
            error_equals,
            interval: Duration::from_secs(interval),
            max_attempts,
            backoff_rate,
            max_delay,
            jitter,
        });
    }
    retriers
}

/// Parses `Catch` (at `at`), pushing every problem.
pub(crate) fn parse_catch(
    value: &Value,
    at: &str,
    jsonata: bool,
    problems: &mut Vec<Problem>,
) -> Vec<Catcher> {
    let Some(items) = value.as_array() else {
        problems.push(Problem::new(at, "Catch must be an array of catchers"));
        return Vec::new();
    };
    let count = items.len();
    let mut catchers = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let here = format!("{at}[{i}]");
        let Some(mut f) = Fields::of(item, here, "a catcher", problems) else {
            continue;
        };
        let (output, assign) = if jsonata {
            f.only(
                &["ErrorEquals", "Next", "Output", "Assign", "Comment"],
                "a JSONata catcher",
            );
            (f.template("Output"), f.assign(false))
        } else {
            f.only(
                &["ErrorEquals", "Next", "ResultPath", "Assign", "Comment"],
                "a catcher",
            );
            (None, f.assign(true))
        };
        let error_equals = error_equals(&mut f, i + 1 == count, "catcher");
        let result_path = match f.has("ResultPath") {
            true => f.reference_path("ResultPath").unwrap_or(None),
            false => ReferencePath::parse("$").ok(),
        };
        if let Some(next) = f.required_str("Next", "a catcher") {
            catchers.push(Catcher {
                error_equals,
                result_path,
                next: next.to_owned(),
                output,
                assign,
            });
        }
    }
    catchers
}

/// `ErrorEquals`: a non-empty array of names; `States.ALL` alone, and only
/// in the last entry.
fn error_equals(f: &mut Fields<'_>, last: bool, what: &str) -> Vec<String> {
    let names: Vec<String> = match f.value("ErrorEquals") {
        None => {
            let at = f.at.clone();
            f.problems
                .push(Problem::new(at, format!("a {what} needs ErrorEquals")));
            return Vec::new();
        }
        Some(Value::Array(items)) if !items.is_empty() && items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        Some(_) => {
            f.problem(
                "ErrorEquals",
                "ErrorEquals must be a non-empty array of error names",
            );
            return Vec::new();
        }
    };
    if names.iter().any(|n| n == ALL) && (names.len() > 1 || !last) {
        f.problem(
            "ErrorEquals",
            format!("States.ALL must appear alone, in the last {what}"),
        );
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn retriers(v: Value) -> Vec<Retrier> {
        let mut problems = Vec::new();
        let r = parse_retry(&v, "$.Retry", &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        r
    }

    #[test]
    fn defaults_are_step_functions_defaults() {
        let r = &retriers(json!([{"ErrorEquals": ["States.ALL"]}]))[0];
        assert_eq!(r.interval, Duration::from_secs(1));
        assert_eq!(r.max_attempts, 3);
        assert_eq!(r.backoff_rate, 2.0);
        assert_eq!(r.jitter, Jitter::None);
        assert_eq!(r.delay(1, 0.5), Duration::from_secs(1));
        assert_eq!(r.delay(3, 0.5), Duration::from_secs(4));
    }

    #[test]
    fn delays_are_capped_and_jittered() {
        let r = &retriers(
            json!([{"ErrorEquals": ["X"], "IntervalSeconds": 3, "BackoffRate": 3,
            "MaxDelaySeconds": 20, "JitterStrategy": "FULL"}]),
        )[0];
        assert_eq!(r.delay(1, 1.0), Duration::from_secs(3));
        assert_eq!(r.delay(2, 1.0), Duration::from_secs(9));
        assert_eq!(r.delay(3, 1.0), Duration::from_secs(20), "capped");
        assert_eq!(r.delay(3, 0.5), Duration::from_secs(10), "jittered");
    }

    #[test]
    fn the_first_matching_retrier_decides_and_counts_alone() {
        let rs = retriers(json!([
            {"ErrorEquals": ["A"], "MaxAttempts": 1},
            {"ErrorEquals": ["A", "B"], "MaxAttempts": 5},
            {"ErrorEquals": ["States.ALL"], "MaxAttempts": 0}
        ]));
        let mut problems = Vec::new();
        let cs = parse_catch(
            &json!([{"ErrorEquals": ["A"], "Next": "Handle"}]),
            "$.Catch",
            false,
            &mut problems,
        );
        let a = Failure::new("A", "");
        assert!(matches!(
            recover(&rs, &cs, &a, &[0, 0, 0], 0.0),
            Recovery::Retry { retrier: 0, .. }
        ));
        // Retrier 0 is spent: A is not retried by retrier 1, it is caught.
        assert_eq!(
            recover(&rs, &cs, &a, &[1, 0, 0], 0.0),
            Recovery::Catch { catcher: 0 }
        );
        let b = Failure::new("B", "");
        assert!(matches!(
            recover(&rs, &cs, &b, &[1, 4, 0], 0.0),
            Recovery::Retry { retrier: 1, .. }
        ));
        let c = Failure::new("C", "");
        assert_eq!(
            recover(&rs, &cs, &c, &[0, 0, 0], 0.0),
            Recovery::Fail,
            "MaxAttempts 0 never retries"
        );
        let runtime = Failure::runtime("bad path");
        assert_eq!(recover(&rs, &cs, &runtime, &[0, 0, 0], 0.0), Recovery::Fail);
    }

    #[test]
    fn problems_name_their_fields() {
        let mut problems = Vec::new();
        parse_retry(
            &json!([
                {"ErrorEquals": ["States.ALL"]},
                {"ErrorEquals": [], "MaxAttempts": -1, "BackoffRate": 0.5, "JitterStrategy": "SOME", "Extra": 1}
            ]),
            "$.States.T.Retry",
            &mut problems,
        );
        parse_catch(
            &json!([{"ErrorEquals": ["States.ALL", "X"]}]),
            "$.States.T.Catch",
            false,
            &mut problems,
        );
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "$.States.T.Retry[0].ErrorEquals",
                "$.States.T.Retry[1].Extra",
                "$.States.T.Retry[1].ErrorEquals",
                "$.States.T.Retry[1].MaxAttempts",
                "$.States.T.Retry[1].BackoffRate",
                "$.States.T.Retry[1].JitterStrategy",
                "$.States.T.Catch[0].ErrorEquals",
                "$.States.T.Catch[0]",
            ],
            "{problems:#?}"
        );
    }
}
