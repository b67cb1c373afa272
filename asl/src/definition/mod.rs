//! A definition, parsed and validated: every problem found at once, each
//! at its JSON path, so that a definition that exists is one the engine can
//! run.
//!
//! - `machine`: a state machine's own fields (the definition's, a
//!   branch's, an item processor's) and its states.
//! - `fields`: reading JSON objects field by field.
//! - `states`: each state type's fields (JSONPath states).
//! - `jsonata`: the fields of JSONata states.
//! - `parts`: what both share: transitions, a Task's fields, `Retry` and
//!   `Catch`, branches and item processors.
//! - `graph`: transitions that name states, states that can be reached,
//!   and a way to the end.
//! - `scopes`: variables by scope: a Parallel branch or a Map's item
//!   processor assigns no variable that a scope around it assigns.

pub(crate) mod fields;
mod graph;
mod jsonata;
mod machine;
mod parts;
mod scopes;
mod states;

use crate::choice::Choice;
use crate::errors::Problem;
use crate::jsonata::{Expression, Template};
use crate::paths::{Path, ReferencePath};
use crate::payload::Payload;
use crate::retry::{Catcher, Retrier};
use machine::{Scope, parse_machine};
use serde_json::Value;
use std::collections::BTreeMap;

/// Longest state name (Step Functions' limit).
pub const MAX_STATE_NAME: usize = 80;

/// A state machine, or one branch of a Parallel state, or a Map's item
/// processor.
#[derive(Debug, Clone, PartialEq)]
pub struct Definition {
    /// The first state.
    pub start_at: String,
    /// The states by name.
    pub states: BTreeMap<String, State>,
    /// The whole execution's time limit (top level only).
    pub timeout_seconds: Option<u64>,
}

/// One state: its type's fields, its input and output processing, and
/// where it goes next.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    /// Its name.
    pub name: String,
    /// What it does.
    pub kind: Kind,
    /// Its input and output processing.
    pub io: Io,
    /// Where it goes next (`None` for Choice, Succeed and Fail, which say
    /// so themselves).
    pub transition: Option<Transition>,
    /// Set when the state's query language is JSONata: its `Arguments`,
    /// `Output` and `Assign` (and `io` is unused).
    pub jsonata: Option<Box<JsonataIo>>,
}

/// The input and output of a JSONata state: templates whose `{% %}`
/// strings see `$states` and the workflow's variables.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JsonataIo {
    /// A Task's function input, or a Parallel's branches' (the state's
    /// input by default).
    pub arguments: Option<Template>,
    /// The state's output (by default the result, or the input for a
    /// state without one).
    pub output: Option<Template>,
    /// Variables the state sets as it leaves, an object of templates.
    pub assign: Option<Template>,
}

/// An error name or a cause written out, read from a path, or computed by
/// JSONata.
#[derive(Debug, Clone, PartialEq)]
pub enum Text {
    /// A literal, a path or an intrinsic call (JSONPath states).
    Payload(Payload),
    /// A literal or an expression (JSONata states).
    Jsonata(Template),
}

/// Where a state goes when it is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// To the named state.
    Next(String),
    /// The end of its state machine (or branch, or iteration).
    End,
}

/// Input and output processing, in Step Functions' order: `InputPath`,
/// `Parameters`, (the state's work), `ResultSelector`, `ResultPath`,
/// `OutputPath`. A field a state type does not have keeps its default.
#[derive(Debug, Clone, PartialEq)]
pub struct Io {
    /// `$` by default; `None` when null: the effective input is `{}`.
    pub input_path: Option<Path>,
    /// The template of the effective input.
    pub parameters: Option<Payload>,
    /// The template applied to a task's (or Parallel's, or Map's) result.
    pub result_selector: Option<Payload>,
    /// `$` by default; `None` when null: the result is discarded and the
    /// input passes on.
    pub result_path: Option<ReferencePath>,
    /// `$` by default; `None` when null: the output is `{}`.
    pub output_path: Option<Path>,
    /// The variables the state sets as it leaves: an object payload
    /// template whose `$` is the state's result (a Task's, Parallel's or
    /// Map's before `ResultSelector`, a Pass's `Result` or effective
    /// input) or, for Choice and Wait, the effective input.
    pub assign: Option<Payload>,
}

impl Default for Io {
    fn default() -> Self {
        Self {
            input_path: Path::parse("$").ok(),
            parameters: None,
            result_selector: None,
            result_path: ReferencePath::parse("$").ok(),
            output_path: Path::parse("$").ok(),
            assign: None,
        }
    }
}

/// A number of seconds (or items, or a percentage) written out or read from
/// the input.
#[derive(Debug, Clone, PartialEq)]
pub enum Amount<T> {
    /// Written in the definition.
    Fixed(T),
    /// Read from the effective input (or the context object) when the
    /// state runs.
    Path(Path),
    /// Computed by a JSONata expression when the state runs.
    Expr(Expression),
}

/// What a state does.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// Passes its input (or `Result`) on.
    Pass {
        /// Used as the state's result instead of its input.
        result: Option<Value>,
    },
    /// Runs a function.
    Task(Task),
    /// Chooses the next state.
    Choice {
        /// The rules, in order.
        choices: Vec<Choice>,
        /// The state when no rule matches.
        default: Option<String>,
    },
    /// Waits.
    Wait(Wait),
    /// Ends its state machine (branch, iteration) successfully.
    Succeed,
    /// Ends the execution with an error.
    Fail {
        /// The error name.
        error: Option<Text>,
        /// The cause.
        cause: Option<Text>,
    },
    /// Runs branches side by side; its result is their outputs in order.
    Parallel {
        /// The branches.
        branches: Vec<Definition>,
        /// Its retriers.
        retry: Vec<Retrier>,
        /// Its catchers.
        catch: Vec<Catcher>,
    },
    /// Runs its item processor once per item; its result is their outputs
    /// in order.
    Map(Box<MapState>),
}

/// A Task state.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// The function, as written (a bare name or an `mrn:`), without
    /// `.waitForTaskToken`.
    pub resource: String,
    /// Whether the task ends only when its token is sent back
    /// (`.waitForTaskToken`).
    pub wait_for_token: bool,
    /// Its time limit.
    pub timeout_seconds: Option<Amount<u64>>,
    /// The longest time between heartbeats.
    pub heartbeat_seconds: Option<Amount<u64>>,
    /// Its retriers.
    pub retry: Vec<Retrier>,
    /// Its catchers.
    pub catch: Vec<Catcher>,
}

/// How long a Wait state waits.
#[derive(Debug, Clone, PartialEq)]
pub enum Wait {
    /// This many seconds.
    Seconds(u64),
    /// Until this instant (RFC 3339).
    Timestamp(chrono::DateTime<chrono::Utc>),
    /// The seconds at a path of the effective input.
    SecondsPath(Path),
    /// The instant at a path of the effective input.
    TimestampPath(Path),
    /// The seconds a JSONata expression computes.
    SecondsExpr(Expression),
    /// The instant a JSONata expression computes.
    TimestampExpr(Expression),
}

/// An inline Map state.
#[derive(Debug, Clone, PartialEq)]
pub struct MapState {
    /// What runs for each item.
    pub processor: Definition,
    /// Where the items are in the effective input (`$` by default).
    pub items_path: Path,
    /// The items, in a JSONata state (an array, or an expression that
    /// gives one; the state's input by default).
    pub items: Option<Template>,
    /// Each item's input, in a JSONata state (`$states.context.Map.Item`
    /// holds the item and its index).
    pub item_template: Option<Template>,
    /// The template of each item's input (with `$$.Map.Item.Index` and
    /// `$$.Map.Item.Value`); the item itself without one.
    pub item_selector: Option<Payload>,
    /// Iterations at once (0: no limit).
    pub max_concurrency: Amount<u64>,
    /// Failed items tolerated, in percent.
    pub tolerated_failure_percentage: Option<Amount<f64>>,
    /// Failed items tolerated.
    pub tolerated_failure_count: Option<Amount<u64>>,
    /// Its retriers.
    pub retry: Vec<Retrier>,
    /// Its catchers.
    pub catch: Vec<Catcher>,
}

/// A definition's JSON text read, or the problem with it.
fn json(text: &str) -> Result<Value, Vec<Problem>> {
    serde_json::from_str(text)
        .map_err(|e| vec![Problem::new("$", format!("the definition is not JSON: {e}"))])
}

impl Definition {
    /// Parses and validates a definition's JSON text.
    pub fn from_json(text: &str) -> Result<Self, Vec<Problem>> {
        Self::parse(&json(text)?)
    }

    /// Parses and validates a definition, reporting every problem.
    pub fn parse(value: &Value) -> Result<Self, Vec<Problem>> {
        let mut problems = Vec::new();
        let definition = parse_machine(value, "$", Scope::Top, false, &mut problems);
        scopes::check(value, "$", &BTreeMap::new(), &mut problems);
        match definition {
            Some(d) if problems.is_empty() => Ok(d),
            _ => Err(problems),
        }
    }

    /// Parses a stored definition's JSON text: one that was valid when it
    /// was written, so rules added since (`Problem::since`) do not stop
    /// it, and executions of it run as they did before the upgrade.
    pub fn load(text: &str) -> Result<Self, Vec<Problem>> {
        let value = json(text)?;
        let mut problems = Vec::new();
        // The scope rule came with engine 2 (every problem it finds is
        // `since`), so it is not checked here.
        let definition = parse_machine(&value, "$", Scope::Top, false, &mut problems);
        problems.retain(|p| p.since.is_none());
        match definition {
            Some(d) if problems.is_empty() => Ok(d),
            _ => Err(problems),
        }
    }

    /// Whether any state, here or in a branch or processor, is a JSONata
    /// state (its decisions evaluate tenant expressions).
    pub fn uses_jsonata(&self) -> bool {
        self.any_state(&|s| s.jsonata.is_some())
    }

    /// Whether any task, here or in a branch or processor, waits for a
    /// task token (`.waitForTaskToken`).
    pub fn uses_task_tokens(&self) -> bool {
        self.any_state(&|s| matches!(&s.kind, Kind::Task(t) if t.wait_for_token))
    }

    /// Whether `test` holds for any state, here or in a branch or
    /// processor.
    fn any_state(&self, test: &dyn Fn(&State) -> bool) -> bool {
        self.states.values().any(|s| {
            test(s)
                || match &s.kind {
                    Kind::Parallel { branches, .. } => branches.iter().any(|b| b.any_state(test)),
                    Kind::Map(m) => m.processor.any_state(test),
                    _ => false,
                }
        })
    }

    /// Every task's resource, as written, in this definition and its
    /// branches and processors.
    pub fn resources(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.collect_resources(&mut out);
        out.sort_unstable();
        out.dedup();
        out
    }

    fn collect_resources<'a>(&'a self, out: &mut Vec<&'a str>) {
        for state in self.states.values() {
            match &state.kind {
                Kind::Task(t) => out.push(&t.resource),
                Kind::Parallel { branches, .. } => branches.iter().for_each(|b| b.collect_resources(out)),
                Kind::Map(m) => m.processor.collect_resources(out),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod variables_tests;
