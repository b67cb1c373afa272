//! An evaluation as data: a template with everything its expressions see,
//! so that it can be evaluated somewhere else (another process, with its
//! own memory limit) and give the same result it would give here.

use std::borrow::Cow;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Entropy, Env, States, Template};
use crate::errors::Failure;

/// One template to apply, and its [`Env`], owned or borrowed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request<'a> {
    /// The template, written as JSON whose `{% %}` strings are
    /// expressions.
    pub template: Cow<'a, Template>,
    /// The ASL field it fills (`Output`, `Arguments`), which failures name.
    pub field: Cow<'a, str>,
    /// `$states.input`.
    pub input: Cow<'a, Value>,
    /// `$states.result`, when there is one.
    pub result: Option<Cow<'a, Value>>,
    /// `$states.errorOutput`, when there is one.
    pub error_output: Option<Cow<'a, Value>>,
    /// `$states.context`.
    pub context: Cow<'a, Value>,
    /// The variables.
    pub variables: Cow<'a, Map<String, Value>>,
    /// `$now()`.
    pub now: DateTime<Utc>,
    /// The seed of `$random()` and its kin; `None`: the system's.
    pub seed: Option<u64>,
    /// How long each expression may run, in milliseconds.
    pub timeout_ms: u64,
}

impl<'a> Request<'a> {
    /// `template` applied in `env` for `field`, as data.
    pub fn new(template: &'a Template, env: &Env<'a>, field: &'a str) -> Self {
        Self {
            template: Cow::Borrowed(template),
            field: Cow::Borrowed(field),
            input: Cow::Borrowed(env.states.input),
            result: env.states.result.map(Cow::Borrowed),
            error_output: env.states.error_output.map(Cow::Borrowed),
            context: Cow::Borrowed(env.states.context),
            variables: Cow::Borrowed(env.variables),
            now: env.now,
            seed: match env.entropy {
                Entropy::System => None,
                Entropy::Seeded(seed) => Some(seed),
            },
            timeout_ms: u64::try_from(env.timeout.as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// Applies the template in this request's environment.
    pub fn apply(&self) -> Result<Value, Failure> {
        let env = Env {
            states: States {
                input: &self.input,
                result: self.result.as_deref(),
                error_output: self.error_output.as_deref(),
                context: &self.context,
            },
            variables: &self.variables,
            now: self.now,
            entropy: self.seed.map_or(Entropy::System, Entropy::Seeded),
            timeout: Duration::from_millis(self.timeout_ms),
        };
        self.template.apply(&env, &self.field)
    }
}
