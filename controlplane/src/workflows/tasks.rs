//! A task's function, invoked through the functions service like every
//! other trigger: the execution's id is the invocation's trace id, so one
//! execution's log lines are found together. A function names its error
//! the way Lambda reports one: an error text that is the JSON object
//! `{"errorType": name, "errorMessage": cause}` fails the task with that
//! name and cause (the SDK's `Error::named` writes it); any other text
//! fails it with `States.TaskFailed`. Running out of time is
//! `States.Timeout`; traps and memory limits are `States.TaskFailed`, the
//! reason their cause. The function reads which task it runs (the state,
//! the retry, the token and the entry's idempotency key) through the
//! `workflows` interface.

use super::WorkflowEngine;
use crate::capabilities::grants::RoleGrants;
use crate::iam::actions::functions::INVOKE_FUNCTION;
use crate::services::functions::{FunctionError, Input, Output, Trigger};
use crate::store::projects::Project;
use minicloud_asl::Failure;
use minicloud_asl::errors::{PERMISSIONS, TASK_FAILED, TIMEOUT};
use minicloud_asl::machine::{Invocation, Signal};
use minicloud_runtime::InvokeError;
use minicloud_runtime::caps::backend::Grants;
use minicloud_runtime::caps::backend::TaskInfo;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// The execution a task belongs to: what its invocations need of it.
#[derive(Debug)]
pub(super) struct TaskOwner {
    /// The execution's id (the trace id of its tasks).
    pub(super) id: String,
    /// The workflow's name.
    pub(super) workflow: String,
    /// The execution role's name (empty: none).
    pub(super) role: String,
}

/// Runs `invocation` of `execution`, an execution of `workflow`; the
/// signal its end sends (for a task that ends only when its token comes
/// back, that its function ran).
pub(super) async fn run(
    engine: &WorkflowEngine,
    project: &Project,
    execution: &TaskOwner,
    invocation: Invocation,
) -> Signal {
    let started = std::time::Instant::now();
    let outcome = invoke(engine, project, execution, &invocation).await;
    metrics::histogram!("minicloud_workflow_task_seconds", "state" => invocation.state.clone())
        .record(started.elapsed().as_secs_f64());
    let task = invocation.task;
    match outcome {
        Ok(_) if invocation.token.is_some() => Signal::TaskSubmitted { task },
        Ok(output) => Signal::TaskSucceeded { task, output },
        Err(failure) => Signal::TaskFailed { task, failure },
    }
}

async fn invoke(
    engine: &WorkflowEngine,
    project: &Project,
    row: &TaskOwner,
    invocation: &Invocation,
) -> Result<Value, Failure> {
    let functions = &engine.inner.functions;
    let (workflow, execution) = (row.workflow.as_str(), row.id.as_str());
    let name = crate::services::workflows::task_function(&invocation.resource, project)
        .map_err(|why| Failure::new(TASK_FAILED, why))?;
    if !row.role.is_empty() {
        may_invoke(engine, project, &row.role, execution, name).await?;
    }
    let target = functions
        .target(project, name)
        .await
        .map_err(|e| Failure::new(TASK_FAILED, e.to_string()))?;
    let input = invocation.input.to_string();
    let task = Arc::new(TaskInfo {
        execution_id: execution.to_owned(),
        workflow: workflow.to_owned(),
        state: invocation.state.clone(),
        retry_count: invocation.task.attempt,
        token: invocation.token.clone(),
        idempotency_key: invocation.task.idempotency_key(execution),
    });
    loop {
        let trigger = Trigger {
            caller: None,
            trace_id: execution.into(),
            delivery: None,
            task: Some(task.clone()),
        };
        match functions
            .invoke(&target, Input::Json(input.clone()), trigger)
            .await
        {
            Ok(invoked) => {
                return match invoked.output {
                    Output::Json(text) => serde_json::from_str(&text).map_err(|e| {
                        Failure::new(TASK_FAILED, format!("the function's result is not JSON: {e}"))
                    }),
                    Output::Http(_) => Err(Failure::new(
                        TASK_FAILED,
                        format!("function {name:?} serves HTTP; a task runs a function of the handler world"),
                    )),
                };
            }
            // A busy function is not a failed task: it runs when there is
            // room.
            Err(FunctionError::Refused(r)) => {
                let after = r.into_throttled().retry_after_secs.max(1);
                tokio::time::sleep(Duration::from_millis(after * 200)).await;
            }
            Err(FunctionError::Invoke(e)) => return Err(failure_of(e)),
            Err(e) => return Err(Failure::new(TASK_FAILED, e.to_string())),
        }
    }
}

/// With an execution role, the role's policies must allow
/// `functions:InvokeFunction` on the task's function, the execution the
/// principal (`mc:PrincipalType` `Workflow`): `States.Permissions`
/// otherwise, which Retry and Catch see like any error.
async fn may_invoke(
    engine: &WorkflowEngine,
    project: &Project,
    role: &str,
    execution: &str,
    function: &str,
) -> Result<(), Failure> {
    let policies = engine
        .inner
        .authorizer
        .role_policies(&project.org(), role)
        .await
        .map_err(|e| {
            Failure::new(
                TASK_FAILED,
                format!("cannot read the execution role {role:?}: {e}"),
            )
        })?;
    let resource = format!(
        "mrn:functions:{}:{}:function/{function}",
        project.org_name, project.name
    );
    let allowed = policies.is_some_and(|p| {
        RoleGrants::for_principal(p, &project.org_name, &project.name, "Workflow", execution)
            .allows(INVOKE_FUNCTION, &resource)
    });
    if allowed {
        Ok(())
    } else {
        Err(Failure::new(
            PERMISSIONS,
            format!("the execution role {role:?} does not allow {INVOKE_FUNCTION} on function {function:?}"),
        ))
    }
}

/// The error a function's failure is to its task.
fn failure_of(e: InvokeError) -> Failure {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Named {
        error_type: String,
        #[serde(default)]
        error_message: String,
    }
    match e {
        InvokeError::Guest(text) => match serde_json::from_str::<Named>(&text) {
            Ok(named) if !named.error_type.is_empty() => Failure::new(named.error_type, named.error_message),
            _ => Failure::new(TASK_FAILED, text),
        },
        InvokeError::Timeout(_) => Failure::new(TIMEOUT, e.to_string()),
        other => Failure::new(TASK_FAILED, other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_errors_keep_their_name() {
        let named = failure_of(InvokeError::Guest(
            r#"{"errorType":"Payment.Declined","errorMessage":"card expired"}"#.into(),
        ));
        assert_eq!(named, Failure::new("Payment.Declined", "card expired"));
        let plain = failure_of(InvokeError::Guest("out of stock".into()));
        assert_eq!(plain, Failure::new("States.TaskFailed", "out of stock"));
        let timeout = failure_of(InvokeError::Timeout(Duration::from_millis(100)));
        assert_eq!(timeout.error, "States.Timeout");
        assert!(timeout.cause.contains("100 ms"), "{}", timeout.cause);
        let trap = failure_of(InvokeError::Trap("unreachable".into()));
        assert_eq!(trap.error, "States.TaskFailed");
    }
}
