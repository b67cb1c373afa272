//! The context object (`$$`): what a state knows of its execution, of
//! itself, of its task token and, in a Map's `ItemSelector`, of its item.

use serde_json::{Map, Value, json};

/// The execution and its state machine, the same for every state.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionInfo {
    /// `$$.Execution.Id`.
    pub id: String,
    /// `$$.Execution.Name`.
    pub name: String,
    /// `$$.Execution.Input`: the execution's input.
    pub input: Value,
    /// `$$.Execution.StartTime` (RFC 3339).
    pub start_time: String,
    /// `$$.Execution.RoleArn`: the execution role, when there is one.
    pub role: Option<String>,
    /// `$$.StateMachine.Id`.
    pub workflow_id: String,
    /// `$$.StateMachine.Name`.
    pub workflow_name: String,
}

/// The state running.
#[derive(Debug, Clone, PartialEq)]
pub struct StateInfo<'a> {
    /// `$$.State.Name`.
    pub name: &'a str,
    /// `$$.State.EnteredTime` (RFC 3339).
    pub entered_time: &'a str,
    /// `$$.State.RetryCount`: retries of this entry so far.
    pub retry_count: u32,
    /// `$$.Task.Token`, for a task that waits for it.
    pub task_token: Option<&'a str>,
    /// `$$.Map.Item.Index` and `.Value`, in a Map's `ItemSelector`.
    pub map_item: Option<(usize, &'a Value)>,
}

impl ExecutionInfo {
    /// The context object of `state`.
    pub fn context(&self, state: &StateInfo<'_>) -> Value {
        let mut execution = json!({
            "Id": self.id,
            "Name": self.name,
            "Input": self.input,
            "StartTime": self.start_time,
        });
        if let (Some(role), Some(map)) = (&self.role, execution.as_object_mut()) {
            map.insert("RoleArn".into(), Value::String(role.clone()));
        }
        let mut context = Map::new();
        context.insert("Execution".into(), execution);
        context.insert(
            "State".into(),
            json!({
                "Name": state.name,
                "EnteredTime": state.entered_time,
                "RetryCount": state.retry_count,
            }),
        );
        context.insert(
            "StateMachine".into(),
            json!({ "Id": self.workflow_id, "Name": self.workflow_name }),
        );
        if let Some(token) = state.task_token {
            context.insert("Task".into(), json!({ "Token": token }));
        }
        if let Some((index, value)) = state.map_item {
            context.insert(
                "Map".into(),
                json!({ "Item": { "Index": index, "Value": value } }),
            );
        }
        Value::Object(context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::Path;

    #[test]
    fn paths_read_the_documented_fields() {
        let execution = ExecutionInfo {
            id: "mrn:workflows:acme:shop:execution/orders/e1".into(),
            name: "e1".into(),
            input: json!({"order": 7}),
            start_time: "2026-12-03T12:00:00.000Z".into(),
            role: Some("mrn:iam:acme::role/orders".into()),
            workflow_id: "mrn:workflows:acme:shop:workflow/orders".into(),
            workflow_name: "orders".into(),
        };
        let item = json!({"sku": "a"});
        let context = execution.context(&StateInfo {
            name: "Charge",
            entered_time: "2026-12-03T12:00:01.000Z",
            retry_count: 2,
            task_token: Some("tok"),
            map_item: Some((3, &item)),
        });
        let none = serde_json::Map::new();
        let bindings = crate::paths::Bindings::new(&context, &none);
        let read = |p: &str| Path::parse(p).and_then(|p| p.select(&json!({}), &bindings));
        assert_eq!(
            read("$$.Execution.Id"),
            Ok(json!("mrn:workflows:acme:shop:execution/orders/e1"))
        );
        assert_eq!(read("$$.Execution.Input.order"), Ok(json!(7)));
        assert_eq!(
            read("$$.Execution.StartTime"),
            Ok(json!("2026-12-03T12:00:00.000Z"))
        );
        assert_eq!(
            read("$$.Execution.RoleArn"),
            Ok(json!("mrn:iam:acme::role/orders"))
        );
        assert_eq!(read("$$.State.Name"), Ok(json!("Charge")));
        assert_eq!(
            read("$$.State.EnteredTime"),
            Ok(json!("2026-12-03T12:00:01.000Z"))
        );
        assert_eq!(read("$$.State.RetryCount"), Ok(json!(2)));
        assert_eq!(read("$$.StateMachine.Name"), Ok(json!("orders")));
        assert_eq!(read("$$.Task.Token"), Ok(json!("tok")));
        assert_eq!(read("$$.Map.Item.Index"), Ok(json!(3)));
        assert_eq!(read("$$.Map.Item.Value.sku"), Ok(json!("a")));
        let plain = execution.context(&StateInfo {
            name: "Pass",
            entered_time: "t",
            retry_count: 0,
            task_token: None,
            map_item: None,
        });
        assert!(plain.get("Task").is_none() && plain.get("Map").is_none());
    }
}
