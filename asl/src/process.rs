//! Input and output processing, in Step Functions' order: `InputPath`
//! selects from the state's input, `Parameters` builds the effective input
//! from it; after the state's work, `ResultSelector` shapes the result
//! while `Assign` sets variables from it, `ResultPath` places it in the
//! state's original input, and `OutputPath` selects the output. Every path
//! but `ResultPath` may read the variables (as they were when the state
//! was entered) and the context object, through [`Bindings`].

use crate::definition::Io;
use crate::errors::Failure;
use crate::paths::Bindings;
use serde_json::{Map, Value};

impl Io {
    /// The effective input: `InputPath` (null: `{}`), then `Parameters`.
    pub fn effective_input(&self, input: &Value, bindings: &Bindings<'_>) -> Result<Value, Failure> {
        let selected = match &self.input_path {
            None => Value::Object(Map::new()),
            Some(path) => path.select(input, bindings).map_err(Failure::runtime)?,
        };
        match &self.parameters {
            None => Ok(selected),
            Some(template) => template.apply(&selected, bindings),
        }
    }

    /// The variables `Assign` sets, with `$` the state's result (or, for
    /// a Choice or Wait state, its effective input): evaluated before
    /// `ResultSelector`, `ResultPath` and `OutputPath`, with the variables
    /// as they were when the state was entered. `None` without `Assign`.
    pub fn assigned(
        &self,
        result: &Value,
        bindings: &Bindings<'_>,
    ) -> Result<Option<Map<String, Value>>, Failure> {
        match &self.assign {
            None => Ok(None),
            Some(template) => assigned(template, result, bindings).map(Some),
        }
    }

    /// The output, from the state's original `input` and its `result`:
    /// `ResultSelector`, then `ResultPath` (null: the input passes on),
    /// then `OutputPath` (null: `{}`).
    pub fn output(&self, input: &Value, result: Value, bindings: &Bindings<'_>) -> Result<Value, Failure> {
        let result = match &self.result_selector {
            None => result,
            Some(template) => template.apply(&result, bindings)?,
        };
        self.place(input, result, bindings)
    }

    /// `ResultPath` and `OutputPath` without `ResultSelector`: for a Pass
    /// state's result and a catcher's error output (placed by the
    /// catcher's own `ResultPath`, see [`crate::retry::Catcher`]).
    pub fn place(&self, input: &Value, result: Value, bindings: &Bindings<'_>) -> Result<Value, Failure> {
        let combined = match &self.result_path {
            None => input.clone(),
            Some(path) => path.set(input.clone(), result).map_err(Failure::runtime)?,
        };
        self.select_output(&combined, bindings)
    }

    /// `OutputPath` alone (null: `{}`).
    pub fn select_output(&self, combined: &Value, bindings: &Bindings<'_>) -> Result<Value, Failure> {
        match &self.output_path {
            None => Ok(Value::Object(Map::new())),
            Some(path) => path.select(combined, bindings).map_err(Failure::runtime),
        }
    }
}

/// The variables a JSONPath `Assign` (a state's, a Choice rule's or a
/// catcher's) sets, with `$` the value given.
pub(crate) fn assigned(
    template: &crate::payload::Payload,
    dollar: &Value,
    bindings: &Bindings<'_>,
) -> Result<Map<String, Value>, Failure> {
    match template.apply(dollar, bindings)? {
        Value::Object(map) => Ok(map),
        other => Err(Failure::runtime(format!(
            "Assign gave {other}, not an object of variables"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use crate::definition::{Definition, Io};
    use crate::paths::Bindings;
    use serde_json::{Map, Value, json};

    fn io_of(state: Value) -> Io {
        let d = Definition::parse(&json!({"StartAt": "S", "States": {"S": state}})).expect("valid");
        d.states["S"].io.clone()
    }

    fn run(state: Value, input: Value, result: Value) -> Value {
        let (context, none) = (json!({"Execution": {"Id": "e1"}}), Map::new());
        io_of(state)
            .output(&input, result, &Bindings::new(&context, &none))
            .expect("output")
    }

    #[test]
    fn the_aws_documented_order_holds() {
        // InputPath, Parameters, then ResultSelector, ResultPath into the
        // original input, OutputPath.
        let state = json!({
            "Type": "Task", "Resource": "f", "End": true,
            "InputPath": "$.order",
            "Parameters": {"id.$": "$.id", "run.$": "$$.Execution.Id"},
            "ResultSelector": {"total.$": "$.sum"},
            "ResultPath": "$.priced",
            "OutputPath": "$.priced"
        });
        let io = io_of(state.clone());
        let input = json!({"order": {"id": 7}, "other": true});
        let (context, none) = (json!({"Execution": {"Id": "e1"}}), Map::new());
        assert_eq!(
            io.effective_input(&input, &Bindings::new(&context, &none)),
            Ok(json!({"id": 7, "run": "e1"}))
        );
        assert_eq!(
            run(state, input, json!({"sum": 12, "noise": 1})),
            json!({"total": 12})
        );
    }

    #[test]
    fn result_path_forms() {
        let input = json!({"a": 1, "nested": {"b": 2}});
        let result = json!("R");
        let out = |rp: Value| {
            run(
                json!({"Type": "Task", "Resource": "f", "End": true, "ResultPath": rp}),
                input.clone(),
                result.clone(),
            )
        };
        assert_eq!(out(json!("$")), json!("R"), "root: the result replaces the input");
        assert_eq!(
            out(json!("$.new")),
            json!({"a": 1, "nested": {"b": 2}, "new": "R"})
        );
        assert_eq!(
            out(json!("$.nested.b")),
            json!({"a": 1, "nested": {"b": "R"}}),
            "existing node"
        );
        assert_eq!(out(Value::Null), input, "null: the input passes on");
    }

    #[test]
    fn null_input_and_output_paths_give_empty_objects() {
        let state =
            json!({"Type": "Task", "Resource": "f", "End": true, "InputPath": null, "OutputPath": null});
        let io = io_of(state);
        let (context, none) = (json!({}), Map::new());
        let b = Bindings::new(&context, &none);
        assert_eq!(io.effective_input(&json!({"a": 1}), &b), Ok(json!({})));
        assert_eq!(io.output(&json!({"a": 1}), json!(2), &b), Ok(json!({})));
    }

    #[test]
    fn a_path_to_nothing_is_a_runtime_failure() {
        let (context, none) = (json!({}), Map::new());
        let b = Bindings::new(&context, &none);
        let io = io_of(json!({"Type": "Task", "Resource": "f", "End": true, "InputPath": "$.missing"}));
        let failure = io.effective_input(&json!({}), &b).expect_err("a runtime failure");
        assert_eq!(failure.error, "States.Runtime");
        let io = io_of(json!({"Type": "Task", "Resource": "f", "End": true, "ResultPath": "$.a.b"}));
        let failure = io
            .output(&json!({"a": 5}), json!(1), &b)
            .expect_err("a runtime failure");
        assert_eq!(failure.error, "States.Runtime");
    }

    #[test]
    fn variables_are_read_wherever_a_path_is_and_assign_sees_the_raw_result() {
        // Developer guide, "Passing data between states with variables":
        // any JSONPath field but ResultPath reads variables, and a Task's
        // Assign runs beside ResultSelector, on the task's result.
        let state = json!({
            "Type": "Task", "Resource": "f", "End": true,
            "InputPath": "$customer",
            "Parameters": {"who.$": "$.name", "limit.$": "$limit"},
            "ResultSelector": {"total.$": "$.sum", "limit.$": "$limit"},
            "Assign": {"sum.$": "$.sum", "noise.$": "$.noise", "fixed": {"from.$": "$$.Execution.Id"}},
            "ResultPath": "$.priced",
            "OutputPath": "$.priced"
        });
        let io = io_of(state);
        let context = json!({"Execution": {"Id": "e1"}});
        let variables = json!({"customer": {"name": "ada"}, "limit": 3});
        let variables = variables.as_object().cloned().unwrap_or_default();
        let b = Bindings::new(&context, &variables);
        assert_eq!(
            io.effective_input(&json!({}), &b),
            Ok(json!({"who": "ada", "limit": 3}))
        );
        let result = json!({"sum": 12, "noise": 1});
        let assigned = io.assigned(&result, &b).expect("assigned").map(Value::Object);
        assert_eq!(
            assigned,
            Some(json!({"sum": 12, "noise": 1, "fixed": {"from": "e1"}}))
        );
        assert_eq!(
            io.output(&json!({}), result, &b),
            Ok(json!({"total": 12, "limit": 3}))
        );
    }
}
