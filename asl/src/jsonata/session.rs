//! One evaluator, set up for a state: `$states` and the variables bound,
//! the limits set, Step Functions' functions registered. A template's
//! expressions share one session, so the bindings are converted once.

use std::panic::{AssertUnwindSafe, catch_unwind};

use jsonata_core::evaluator::{Context, Evaluator, EvaluatorError, EvaluatorOptions};
use jsonata_core::value::JValue;
use serde_json::Value;

use super::convert::{self, Unrepresentable};
use super::functions;
use super::{Env, Expression, MAX_SEQUENCE_LENGTH, MAX_STACK_DEPTH};
use crate::errors::{Failure, QUERY_EVALUATION_ERROR};

/// An evaluator ready to run expressions in one [`Env`].
pub(super) struct Session {
    evaluator: Evaluator,
}

impl Session {
    /// Binds the variables, then `$states` (which wins over a variable of
    /// that name), and registers the functions.
    pub(super) fn new(env: &Env<'_>) -> Result<Self, Failure> {
        let mut context = Context::new();
        for (name, value) in env.variables {
            context.bind(name.clone(), JValue::from(value.clone()));
        }
        context.bind("states".into(), JValue::from(env.states.to_json()));
        let options = EvaluatorOptions {
            timeout_ms: Some(u64::try_from(env.timeout.as_millis()).unwrap_or(u64::MAX)),
            max_stack_depth: Some(MAX_STACK_DEPTH),
            max_sequence_length: Some(MAX_SEQUENCE_LENGTH),
            ..EvaluatorOptions::default()
        };
        let mut evaluator = Evaluator::with_options(context, options);
        functions::register(&mut evaluator, env).map_err(|e| {
            Failure::new(
                QUERY_EVALUATION_ERROR,
                format!(
                    "the JSONata engine refused a Step Functions function: {}",
                    e.message()
                ),
            )
        })?;
        Ok(Self { evaluator })
    }

    /// Runs `expression` with no input (`$` is undefined, as in Step
    /// Functions) and turns its result into JSON. Failures name the
    /// expression and `field`.
    pub(super) fn evaluate(&mut self, expression: &Expression, field: &str) -> Result<Value, Failure> {
        let fail = |what: String| {
            Failure::new(
                QUERY_EVALUATION_ERROR,
                format!(
                    "The JSONata expression '{}' specified for the field '{field}' {what}",
                    expression.source()
                ),
            )
        };
        let ast = expression.ast();
        let evaluator = &mut self.evaluator;
        // The engine is a third party's: a panic in it fails the state, not
        // the engine's thread.
        let outcome = catch_unwind(AssertUnwindSafe(|| evaluator.evaluate(ast, &JValue::Undefined)))
            .unwrap_or_else(|_| {
                Err(EvaluatorError::EvaluationError(
                    "the JSONata engine panicked".into(),
                ))
            });
        let result =
            outcome.map_err(|e| fail(format!("threw an error during evaluation. {}", e.message())))?;
        match convert::to_json(&result) {
            Ok(Some(value)) => Ok(value),
            Ok(None) => Err(fail("returned nothing (undefined).".into())),
            Err(Unrepresentable::Function) => {
                Err(fail("returned a function, which JSON cannot hold.".into()))
            }
            Err(Unrepresentable::TooDeep(depth)) => Err(fail(format!(
                "returned a value nested more than {depth} levels deep."
            ))),
            Err(Unrepresentable::TooLarge(bytes)) => {
                Err(fail(format!("returned a value of more than {bytes} bytes.")))
            }
        }
    }
}
