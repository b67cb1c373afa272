//! Workflow variables in the decisions, for states of both query
//! languages: what a frame sees (its own variables over those of the
//! scopes around it, as they were when its state was entered, since an
//! assignment takes effect as its state leaves), and the limits on what a
//! state assigns. The assignments themselves go into `StateExited`, so a
//! replay evaluates nothing again.

use super::{Live, check_size};
use crate::errors::{self, Failure};
use crate::machine::frames::json_bytes;
use crate::paths::Bindings;
use crate::payload::Payload;
use serde_json::{Map, Value};

/// The most an execution's variables may weigh together (Step Functions'
/// limit).
const MAX_VARIABLES_BYTES: usize = 10 * 1024 * 1024;

impl<'d> Live<'_, 'd> {
    /// The variables frame `id` sees: its own over its parents'.
    pub(super) fn variables(&self, id: &str) -> Map<String, Value> {
        let mut chain = Vec::new();
        let mut at = Some(id.to_owned());
        while let Some(frame_id) = at {
            let Some(frame) = self.exec.frames.get(&frame_id) else {
                break;
            };
            chain.push(frame_id);
            at = frame.parent.as_ref().map(|(p, _)| p.clone());
        }
        let mut out = Map::new();
        for frame_id in chain.iter().rev() {
            if let Some(frame) = self.exec.frames.get(frame_id) {
                out.extend(frame.variables.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
        out
    }

    /// The variables a JSONPath `Assign` (of a state, a Choice rule or a
    /// catcher of frame `id`) sets, with `$` the value `dollar`, checked
    /// against the limits; `None` without `Assign`.
    pub(super) fn assign_jsonpath(
        &self,
        id: &str,
        assign: Option<&Payload>,
        dollar: &Value,
        bindings: &Bindings<'_>,
    ) -> Result<Option<Map<String, Value>>, Failure> {
        let assigned = match assign {
            None => None,
            Some(template) => Some(crate::process::assigned(template, dollar, bindings)?),
        };
        self.check_assigned(id, assigned)
    }

    /// `assigned`, unless it weighs more than one state may assign
    /// (`States.DataLimitExceeded`, like a payload too large) or would
    /// bring the execution's variables over their limit.
    pub(super) fn check_assigned(
        &self,
        id: &str,
        assigned: Option<Map<String, Value>>,
    ) -> Result<Option<Map<String, Value>>, Failure> {
        if let Some(map) = &assigned {
            check_size(&Value::Object(map.clone()), "the state's Assign")?;
            self.check_variables(id, map)?;
        }
        Ok(assigned)
    }

    /// `States.DataLimitExceeded` when the execution's variables, with
    /// `assigned` set in frame `id`, would weigh more than Step Functions
    /// allows.
    fn check_variables(&self, id: &str, assigned: &Map<String, Value>) -> Result<(), Failure> {
        let mut total: usize = self.exec.frames.values().map(|f| f.variables_bytes).sum();
        total += assigned.values().map(json_bytes).sum::<usize>();
        // A variable about to be replaced counts once, with its new value.
        if let Some(frame) = self.exec.frames.get(id) {
            let replaced: usize = assigned
                .keys()
                .filter_map(|name| frame.variables.get(name))
                .map(json_bytes)
                .sum();
            total = total.saturating_sub(replaced);
        }
        if total > MAX_VARIABLES_BYTES {
            return Err(Failure::new(
                errors::DATA_LIMIT_EXCEEDED,
                format!(
                    "the execution's variables would be {total} bytes, more than the limit of {MAX_VARIABLES_BYTES}"
                ),
            ));
        }
        Ok(())
    }
}
