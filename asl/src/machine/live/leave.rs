//! What a state does when its work ended (a task returned, a Wait's time
//! is over, the branches or iterations are done, or it failed): a JSONPath
//! state's `Assign` and output, in Step Functions' order, or a JSONata
//! state's; Retry and Catch for a failure.

use super::{Live, next_of};
use crate::definition::{Kind, State};
use crate::errors::Failure;
use crate::paths::Bindings;
use serde_json::{Map, Value};

/// A JSONPath state's output and the variables it assigned, as it leaves.
pub(super) type Leaving = (Value, Option<Map<String, Value>>);

impl<'d> Live<'_, 'd> {
    /// The state's work ended with `result`: its output, or Retry and
    /// Catch.
    pub(super) fn conclude(&mut self, id: &str, state: &'d State, result: Result<Value, Failure>) {
        match result {
            Ok(raw) if state.jsonata.is_some() => {
                let result = (!matches!(state.kind, Kind::Wait(_))).then_some(raw);
                if let Some(io) = &state.jsonata {
                    self.leave_jsonata(id, state, io, result);
                }
            }
            Ok(raw) => {
                let input = self.input_of(id);
                let (ctx, variables) = (self.context(id, None, None), self.variables(id));
                let bindings = Bindings::new(&ctx, &variables);
                let io = &state.io;
                // `Assign` sees what `ResultSelector` sees, the raw result
                // (a Wait's: its effective input), before `ResultPath`.
                let leaving = match &state.kind {
                    Kind::Wait(_) => io.effective_input(&input, &bindings).and_then(|effective| {
                        let assigned = self.assign_jsonpath(id, io.assign.as_ref(), &effective, &bindings)?;
                        Ok((io.select_output(&effective, &bindings)?, assigned))
                    }),
                    _ => self
                        .assign_jsonpath(id, io.assign.as_ref(), &raw, &bindings)
                        .and_then(|assigned| Ok((io.output(&input, raw, &bindings)?, assigned))),
                };
                self.proceed(id, state, leaving);
            }
            Err(failure) => self.recover(id, state, failure),
        }
    }

    /// A JSONPath state leaves for its `Next` (or ends its frame), or
    /// fails.
    pub(super) fn proceed(&mut self, id: &str, state: &'d State, leaving: Result<Leaving, Failure>) {
        match leaving {
            Ok((output, assigned)) => self.exit(id, state, output, next_of(state), assigned),
            Err(failure) => self.state_failed(id, failure),
        }
    }
}
