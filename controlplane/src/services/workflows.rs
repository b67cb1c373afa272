//! The workflows service: definitions validated against the States
//! Language and the project's functions, then stored as immutable
//! versions; executions started (idempotently by name), listed, read,
//! stopped; task tokens sent back. The engine (`crate::workflows`) drives
//! what it starts.

use crate::store::projects::{Project, ProjectScope};
use crate::store::workflows::executions::{ExecutionRow, JournalRow, NewExecution};
use crate::store::workflows::{DeleteRefused, NewDefinition, PutOutcome, WorkflowRow};
use crate::store::{Store, StoreError};
use crate::workflows::{EngineError, StoredSignal, WorkflowEngine, token_execution};
use minicloud_asl::Problem;
use minicloud_asl::definition::Definition;
use minicloud_asl::machine::MAX_PAYLOAD;
use serde_json::Value;
use sha2::Digest;
use std::time::Duration;

/// Executions of one project running at once, at most.
pub const MAX_OPEN_EXECUTIONS: i64 = 10_000;
/// The longest `start-sync` waits for its execution.
pub const MAX_SYNC_WAIT: Duration = Duration::from_secs(60);
/// The longest definition, in bytes (Step Functions' limit).
pub const MAX_DEFINITION: usize = 1024 * 1024;

/// Why the workflows service refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    /// The definition does not validate.
    #[error("the definition has {} problem(s)", .0.len())]
    Invalid(Vec<Problem>),
    /// No such workflow.
    #[error("workflow {0:?} does not exist")]
    NoWorkflow(String),
    /// No such execution.
    #[error("execution {0:?} does not exist")]
    NoExecution(String),
    /// The workflow has running executions.
    #[error("workflow {0:?} has {1} running execution(s); stop them first")]
    Busy(String, i64),
    /// Another start of the same name had another input.
    #[error("execution {0:?} already exists with another input; choose another name")]
    AlreadyExists(String),
    /// An input past the payload limit.
    #[error("the input is {0} bytes, more than the limit of {MAX_PAYLOAD}")]
    InputTooLarge(usize),
    /// An execution name that is not allowed.
    #[error("execution name {0:?} must be 1 to 80 letters, digits, '-' or '_'")]
    BadName(String),
    /// Too many executions running in the project.
    #[error("the project has {MAX_OPEN_EXECUTIONS} executions running, its limit; wait for some to end")]
    TooManyOpen,
    /// The execution is not running.
    #[error("execution {0:?} is not running")]
    NotRunning(String),
    /// A task token that names no execution.
    #[error("the task token is not one this platform issued")]
    BadToken,
    /// A task token whose task no longer waits for an answer.
    #[error(
        "the task of this token no longer waits for an answer: it was answered, timed out or failed, or its execution ended"
    )]
    TaskTimedOut,
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

type Result<T, E = WorkflowError> = std::result::Result<T, E>;

/// The function a task's `Resource` names in `project`: its bare name, or
/// `mrn:functions:<org>:<project>:function/<name>` of this same project.
pub fn task_function<'a>(resource: &'a str, project: &Project) -> std::result::Result<&'a str, String> {
    let Some(rest) = resource.strip_prefix("mrn:") else {
        return if minicloud_runtime::names::valid_name(resource) {
            Ok(resource)
        } else {
            Err(format!(
                "Resource {resource:?} is neither a function's name nor its mrn:functions:<org>:<project>:function/<name>"
            ))
        };
    };
    let own = format!("functions:{}:{}:function/", project.org_name, project.name);
    match rest.strip_prefix(&own) {
        Some(name) if minicloud_runtime::names::valid_name(name) => Ok(name),
        _ => Err(format!(
            "Resource {resource:?} is not a function of project {:?}: a task runs functions of its own project (mrn:{own}<name>)",
            project.name
        )),
    }
}

/// An execution name: 1 to 80 letters, digits, `-` or `_`.
fn check_execution_name(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 80
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid {
        Ok(())
    } else {
        Err(WorkflowError::BadName(name.to_owned()))
    }
}

/// Stores a new execution of `workflow`'s current version, leased to
/// `lease` (owner and until; `("", 0)`: unleased, for whichever node polls
/// first), after the checks every start makes: the input's size, the
/// name, the project's running executions. The same name and input answer
/// the execution that exists (and `false`); another input is refused.
pub async fn store_execution(
    scope: &ProjectScope,
    workflow: &WorkflowRow,
    name: Option<&str>,
    input: &Value,
    hops: i64,
    lease: (&str, i64),
) -> Result<(ExecutionRow, bool)> {
    let size = input.to_string().len();
    if size > MAX_PAYLOAD {
        return Err(WorkflowError::InputTooLarge(size));
    }
    let fresh = crate::util::new_id();
    let name = name.unwrap_or(&fresh);
    check_execution_name(name)?;
    if scope.running_executions().await? >= MAX_OPEN_EXECUTIONS {
        return Err(WorkflowError::TooManyOpen);
    }
    let new = NewExecution {
        workflow_id: &workflow.id,
        workflow: &workflow.name,
        version: workflow.version,
        name,
        input,
        role: &workflow.role,
        hops,
    };
    let (row, created) = scope.insert_execution(new, lease.0, lease.1).await?;
    if !created && &row.input != input {
        return Err(WorkflowError::AlreadyExists(name.to_owned()));
    }
    Ok((row, created))
}

/// Every task `Resource` in a definition's JSON, with its JSON path.
fn resources(value: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            let is_task = map.get("Type").and_then(Value::as_str) == Some("Task");
            for (key, v) in map {
                let here = minicloud_asl::errors::field_path(at, key);
                match (key.as_str(), v.as_str()) {
                    ("Resource", Some(r)) if is_task => {
                        let r = r.strip_suffix(".waitForTaskToken").unwrap_or(r);
                        out.push((here, r.to_owned()));
                    }
                    _ => resources(v, &here, out),
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                resources(v, &format!("{at}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Workflows and their executions.
#[derive(Debug, Clone)]
pub struct WorkflowService {
    store: Store,
    engine: WorkflowEngine,
}

impl WorkflowService {
    /// The service over `store`, whose executions `engine` drives.
    pub fn new(store: Store, engine: WorkflowEngine) -> Self {
        Self { store, engine }
    }

    /// The engine.
    pub fn engine(&self) -> &WorkflowEngine {
        &self.engine
    }

    /// Validates `definition` (every problem at its JSON path, tasks
    /// naming functions of the project that exist) and stores it as the
    /// current version of `name`.
    pub async fn put(
        &self,
        project: &Project,
        name: &str,
        definition: &Value,
        role: &str,
        description: &str,
    ) -> Result<(WorkflowRow, PutOutcome)> {
        let mut problems = match Definition::parse(definition) {
            Ok(d) if d.uses_jsonata() && !self.engine.jsonata_enabled() => vec![Problem::new(
                "$",
                "JSONata is turned off on this platform (its operator's --workflow-jsonata); write the definition with JSONPath",
            )],
            Ok(_) => Vec::new(),
            Err(problems) => problems,
        };
        let mut tasks = Vec::new();
        resources(definition, "$", &mut tasks);
        let scope = self.store.in_project(project);
        for (path, resource) in tasks {
            match task_function(&resource, project) {
                Err(why) => problems.push(Problem::new(path, why)),
                Ok(function) => {
                    if scope.function(function).await?.is_none() {
                        problems.push(Problem::new(
                            path,
                            format!(
                                "names function {function:?}, which project {:?} does not have: deploy it first",
                                project.name
                            ),
                        ));
                    }
                }
            }
        }
        let text = definition.to_string();
        if text.len() > MAX_DEFINITION {
            problems.push(Problem::new(
                "$",
                format!(
                    "the definition is {} bytes, more than the limit of {MAX_DEFINITION}",
                    text.len()
                ),
            ));
        }
        if !problems.is_empty() {
            return Err(WorkflowError::Invalid(problems));
        }
        let sha256 = hex::encode(sha2::Sha256::digest(text.as_bytes()));
        let new = NewDefinition {
            text: &text,
            sha256: &sha256,
            role,
            description,
        };
        for _ in 0..3 {
            if let Some(stored) = scope.put_workflow(name, new).await? {
                return Ok(stored);
            }
        }
        Err(StoreError::Corrupt(format!("workflow {name:?} kept changing while it was written")).into())
    }

    /// A workflow and its current definition.
    pub async fn get(&self, project: &Project, name: &str) -> Result<(WorkflowRow, Value)> {
        let scope = self.store.in_project(project);
        let row = self.workflow(project, name).await?;
        let text = scope
            .workflow_definition(&row.id, row.version)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("workflow {name:?} lost version {}", row.version)))?;
        let definition = serde_json::from_str(&text)
            .map_err(|e| StoreError::Corrupt(format!("workflow {name:?}: {e}")))?;
        Ok((row, definition))
    }

    /// A workflow.
    pub async fn workflow(&self, project: &Project, name: &str) -> Result<WorkflowRow> {
        self.store
            .in_project(project)
            .workflow(name)
            .await?
            .ok_or_else(|| WorkflowError::NoWorkflow(name.to_owned()))
    }

    /// Deletes a workflow, its versions and its ended executions.
    pub async fn delete(&self, project: &Project, name: &str) -> Result<()> {
        match self.store.in_project(project).delete_workflow(name).await? {
            Ok(()) => Ok(()),
            Err(DeleteRefused::NotFound) => Err(WorkflowError::NoWorkflow(name.to_owned())),
            Err(DeleteRefused::Running(n)) => Err(WorkflowError::Busy(name.to_owned(), n)),
        }
    }

    /// Starts an execution of `workflow`'s current version, `hops` deep in
    /// a chain of event deliveries (0 from the API; see `events::loops`). A
    /// name makes the start idempotent: the same name and input answer the
    /// execution that exists (and `false`).
    pub async fn start(
        &self,
        project: &Project,
        workflow: &WorkflowRow,
        name: Option<&str>,
        input: &Value,
        hops: i64,
    ) -> Result<(ExecutionRow, bool)> {
        let lease = (self.engine.owner(), self.engine.lease_until());
        let scope = self.store.in_project(project);
        let (row, created) = store_execution(&scope, workflow, name, input, hops, lease).await?;
        if created {
            self.engine.run_new(row.clone(), project).await?;
        }
        Ok((row, created))
    }

    /// Starts an execution and waits for it to end, at most
    /// [`MAX_SYNC_WAIT`]: the execution as it stands then.
    pub async fn start_sync(
        &self,
        project: &Project,
        workflow: &WorkflowRow,
        name: Option<&str>,
        input: &Value,
    ) -> Result<ExecutionRow> {
        let (row, _) = self.start(project, workflow, name, input, 0).await?;
        let deadline = tokio::time::Instant::now() + MAX_SYNC_WAIT;
        loop {
            let execution = self.execution(project, workflow, &row.id).await?;
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if execution.status != "RUNNING" || left.is_zero() {
                return Ok(execution);
            }
            self.engine.wait(&row.id, left).await;
        }
    }

    /// An execution of `workflow`, by its id or else by its name (unique
    /// in the workflow).
    pub async fn execution(
        &self,
        project: &Project,
        workflow: &WorkflowRow,
        id: &str,
    ) -> Result<ExecutionRow> {
        let scope = self.store.in_project(project);
        let by_id = scope
            .execution(id)
            .await?
            .filter(|e| e.workflow_id == workflow.id);
        let found = match by_id {
            Some(row) => Some(row),
            None => scope.execution_named(&workflow.id, id).await?,
        };
        found.ok_or_else(|| WorkflowError::NoExecution(id.to_owned()))
    }

    /// A page of an execution's journal.
    pub async fn history(
        &self,
        project: &Project,
        workflow: &WorkflowRow,
        id: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<JournalRow>> {
        let execution = self.execution(project, workflow, id).await?;
        Ok(self
            .store
            .in_project(project)
            .history(&execution.id, after, limit)
            .await?)
    }

    /// Stops a running execution with `error` and `cause`.
    pub async fn stop(
        &self,
        project: &Project,
        workflow: &WorkflowRow,
        id: &str,
        error: &str,
        cause: &str,
    ) -> Result<()> {
        let execution = self.execution(project, workflow, id).await?;
        let signal = StoredSignal::Stop {
            error: error.to_owned(),
            cause: cause.to_owned(),
        };
        self.signal(project, &execution.id, &signal).await
    }

    /// The execution a task token names, whatever its project (the caller
    /// is authorized on its workflow next).
    pub async fn token_owner(&self, token: &str) -> Result<(ExecutionRow, Project)> {
        let id = token_execution(token).ok_or(WorkflowError::BadToken)?;
        let execution = self
            .store
            .execution_by_id(id)
            .await?
            .ok_or(WorkflowError::BadToken)?;
        let project = self
            .store
            .project_by_id(&execution.project_id)
            .await?
            .ok_or(WorkflowError::BadToken)?;
        Ok((execution, project))
    }

    /// Queues the answer `signal` to task token `token` of `execution`:
    /// refused as Step Functions refuses it (`TaskTimedOut`) when the
    /// execution ended or no longer waits for the token. A success or
    /// failure closes the token to further answers and heartbeats at once
    /// (two approvers: the first wins); a heartbeat leaves it open.
    pub async fn answer_token(
        &self,
        project: &Project,
        execution: &ExecutionRow,
        token: &str,
        signal: &StoredSignal,
    ) -> Result<()> {
        if execution.status != "RUNNING" {
            return Err(WorkflowError::TaskTimedOut);
        }
        if let StoredSignal::TaskHeartbeat { .. } = signal {
            if !self.store.awaits_token(&execution.id, token).await? {
                return Err(WorkflowError::TaskTimedOut);
            }
            return self.signal(project, &execution.id, signal).await;
        }
        let text = serde_json::to_string(signal).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        if !self
            .store
            .in_project(project)
            .answer_task(&execution.id, token, &text)
            .await?
        {
            return Err(WorkflowError::TaskTimedOut);
        }
        self.engine.nudge();
        Ok(())
    }

    /// Queues `signal` for a running execution of `project` and wakes the
    /// engine.
    pub async fn signal(&self, project: &Project, execution: &str, signal: &StoredSignal) -> Result<()> {
        let text = serde_json::to_string(signal).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        if !self
            .store
            .in_project(project)
            .signal_execution(execution, &text)
            .await?
        {
            return Err(WorkflowError::NotRunning(execution.to_owned()));
        }
        self.engine.nudge();
        Ok(())
    }
}
