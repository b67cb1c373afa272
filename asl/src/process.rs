//! Input and output processing, in Step Functions' order: `InputPath`
//! selects from the state's input, `Parameters` builds the effective input
//! from it; after the state's work, `ResultSelector` shapes the result,
//! `ResultPath` places it in the state's original input, and `OutputPath`
//! selects the output.

use crate::definition::Io;
use crate::errors::Failure;
use serde_json::{Map, Value};

impl Io {
    /// The effective input: `InputPath` (null: `{}`), then `Parameters`.
    pub fn effective_input(&self, input: &Value, context: &Value) -> Result<Value, Failure> {
        let selected = match &self.input_path {
            None => Value::Object(Map::new()),
            Some(path) => path.select(input, context).map_err(Failure::runtime)?,
        };
        match &self.parameters {
            None => Ok(selected),
            Some(template) => template.apply(&selected, context),
        }
    }

    /// The output, from the state's original `input` and its `result`:
    /// `ResultSelector`, then `ResultPath` (null: the input passes on),
    /// then `OutputPath` (null: `{}`).
    pub fn output(&self, input: &Value, result: Value, context: &Value) -> Result<Value, Failure> {
        let result = match &self.result_selector {
            None => result,
            Some(template) => template.apply(&result, context)?,
        };
        self.place(input, result, context)
    }

    /// `ResultPath` and `OutputPath` without `ResultSelector`: for a Pass
    /// state's result and a catcher's error output (placed by the
    /// catcher's own `ResultPath`, see [`crate::retry::Catcher`]).
    pub fn place(&self, input: &Value, result: Value, context: &Value) -> Result<Value, Failure> {
        let combined = match &self.result_path {
            None => input.clone(),
            Some(path) => path.set(input.clone(), result).map_err(Failure::runtime)?,
        };
        self.select_output(&combined, context)
    }

    /// `OutputPath` alone (null: `{}`).
    pub fn select_output(&self, combined: &Value, context: &Value) -> Result<Value, Failure> {
        match &self.output_path {
            None => Ok(Value::Object(Map::new())),
            Some(path) => path.select(combined, context).map_err(Failure::runtime),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::definition::{Definition, Io};
    use serde_json::{Value, json};

    fn io_of(state: Value) -> Io {
        let d = Definition::parse(&json!({"StartAt": "S", "States": {"S": state}})).expect("valid");
        d.states["S"].io.clone()
    }

    fn run(state: Value, input: Value, result: Value) -> Value {
        io_of(state)
            .output(&input, result, &json!({"Execution": {"Id": "e1"}}))
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
        let context = json!({"Execution": {"Id": "e1"}});
        assert_eq!(
            io.effective_input(&input, &context),
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
        assert_eq!(io.effective_input(&json!({"a": 1}), &json!({})), Ok(json!({})));
        assert_eq!(io.output(&json!({"a": 1}), json!(2), &json!({})), Ok(json!({})));
    }

    #[test]
    fn a_path_to_nothing_is_a_runtime_failure() {
        let io = io_of(json!({"Type": "Task", "Resource": "f", "End": true, "InputPath": "$.missing"}));
        let failure = io
            .effective_input(&json!({}), &json!({}))
            .expect_err("a runtime failure");
        assert_eq!(failure.error, "States.Runtime");
        let io = io_of(json!({"Type": "Task", "Resource": "f", "End": true, "ResultPath": "$.a.b"}));
        let failure = io
            .output(&json!({"a": 5}), json!(1), &json!({}))
            .expect_err("a runtime failure");
        assert_eq!(failure.error, "States.Runtime");
    }
}
