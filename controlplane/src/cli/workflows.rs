//! Workflows: definitions deployed from their JSON files, executions
//! started, described and followed through their history, open tasks
//! listed, and task tokens approved or rejected.

use super::client::{CliError, Client, segment};
use super::{Format, Global, json_arg, output};
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};
use std::path::PathBuf;

/// `minicloud workflows ...`.
#[derive(Debug, Subcommand)]
pub enum WorkflowsCommand {
    /// Write a workflow from its Amazon States Language file (a new
    /// version when it changed).
    Deploy {
        /// The workflow.
        name: String,
        /// The definition's JSON file.
        file: PathBuf,
        /// The execution role its tasks run with.
        #[arg(long, default_value = "")]
        role: String,
        /// What it does.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// The project's workflows.
    List,
    /// A workflow with its definition.
    Get {
        /// The workflow.
        name: String,
    },
    /// Delete a workflow (refused while executions run).
    Delete {
        /// The workflow.
        name: String,
    },
    /// Start an execution; `--wait` waits (up to a minute) for its end.
    Start(StartArgs),
    /// A workflow's executions, newest first.
    Executions {
        /// The workflow.
        name: String,
        /// Only those of this status (`RUNNING`, `SUCCEEDED`, `FAILED`,
        /// `TIMED_OUT`, `ABORTED`).
        #[arg(long)]
        status: Option<String>,
    },
    /// An execution: its status, input, output or error.
    Describe {
        /// The workflow.
        name: String,
        /// The execution's id or name.
        execution: String,
    },
    /// An execution's history, oldest first.
    History {
        /// The workflow.
        name: String,
        /// The execution's id or name.
        execution: String,
    },
    /// Tasks of running executions waiting for their task token (answer
    /// them with `minicloud approve` or `reject`), oldest first.
    Tasks {
        /// The workflow.
        name: String,
    },
    /// Stop a running execution.
    Stop {
        /// The workflow.
        name: String,
        /// The execution's id or name.
        execution: String,
        /// The error it ends with.
        #[arg(long, default_value = "")]
        error: String,
        /// The cause.
        #[arg(long, default_value = "")]
        cause: String,
    },
}

/// `minicloud workflows start`.
#[derive(Debug, Args)]
pub struct StartArgs {
    /// The workflow.
    name: String,
    /// The input, JSON or `@FILE` (default `{}`).
    #[arg(long, short = 'i')]
    input: Option<String>,
    /// A name that makes the start idempotent.
    #[arg(long = "execution-name")]
    execution_name: Option<String>,
    /// Wait for the end and print the execution as it ended.
    #[arg(long)]
    wait: bool,
}

/// `minicloud approve` and `minicloud reject`: a task token's answer.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The task token, or `-` to read it from standard input (a token on
    /// the command line is visible to the machine's other users in its
    /// process list; it carries no authority alone, but `-` keeps it
    /// private).
    token: String,
    /// `approve`: the task's output, JSON or `@FILE` (default `{}`).
    #[arg(long)]
    task_output: Option<String>,
    /// `reject`: the error name.
    #[arg(long, default_value = "Rejected")]
    error: String,
    /// `reject`: the cause.
    #[arg(long, default_value = "")]
    cause: String,
}

fn workflow_url(c: &Client, name: &str, rest: &str) -> String {
    c.in_project(&format!("/workflows/{}{rest}", segment(name)))
}

const EXECUTION_COLUMNS: [&str; 6] = ["id", "name", "status", "started_ms", "stopped_ms", "error"];

/// Runs a `workflows` command.
pub async fn run(global: &Global, command: WorkflowsCommand) -> Result<(), CliError> {
    let mut c = Client::from_profile(global)?;
    match command {
        WorkflowsCommand::Deploy {
            name,
            file,
            role,
            description,
        } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", file.display())))?;
            let definition: Value = serde_json::from_str(&text)
                .map_err(|e| CliError::Usage(format!("{} is not JSON: {e}", file.display())))?;
            let body = json!({"definition": definition, "role": role, "description": description});
            let written = c
                .call(Method::PUT, &workflow_url(&c, &name, ""), Some(&body))
                .await?;
            output::done(&format!(
                "workflow {name} at version {}",
                output::text(&written["version"])
            ));
            if global.output == Format::Json {
                output::print(global.output, &written, &[]);
            }
        }
        WorkflowsCommand::List => {
            let items = c.all(&c.in_project("/workflows")).await?;
            let columns = ["name", "version", "role", "updated_ms"];
            output::print(global.output, &Value::Array(items), &columns);
        }
        WorkflowsCommand::Get { name } => {
            let workflow = c.call(Method::GET, &workflow_url(&c, &name, ""), None).await?;
            output::print(global.output, &workflow, &[]);
        }
        WorkflowsCommand::Delete { name } => {
            c.call(Method::DELETE, &workflow_url(&c, &name, ""), None).await?;
            output::done(&format!("deleted workflow {name}"));
        }
        WorkflowsCommand::Start(args) => {
            let input = match &args.input {
                Some(i) => json_arg("the input", i)?,
                None => json!({}),
            };
            let body = json!({"input": input, "name": args.execution_name});
            let path = if args.wait { "/start-sync" } else { "/executions" };
            let execution = c
                .call(Method::POST, &workflow_url(&c, &args.name, path), Some(&body))
                .await?;
            output::print(global.output, &execution, &[]);
            if args.wait && execution["status"] != "SUCCEEDED" && execution["status"] != "RUNNING" {
                return Err(CliError::Failed(format!(
                    "the execution ended {}: {} {}",
                    output::shown(&execution["status"]),
                    output::shown(&execution["error"]),
                    output::shown(&execution["cause"])
                )));
            }
        }
        WorkflowsCommand::Executions { name, status } => {
            let url = workflow_url(&c, &name, "/executions");
            let url = match status {
                Some(s) => format!("{url}?status={}", segment(&s)),
                None => url,
            };
            let items = c.all(&url).await?;
            output::print(global.output, &Value::Array(items), &EXECUTION_COLUMNS);
        }
        WorkflowsCommand::Describe { name, execution } => {
            let url = workflow_url(&c, &name, &format!("/executions/{}", segment(&execution)));
            let row = c.call(Method::GET, &url, None).await?;
            output::print(global.output, &row, &[]);
        }
        WorkflowsCommand::History { name, execution } => {
            let url = workflow_url(&c, &name, &format!("/executions/{}/history", segment(&execution)));
            let events = c.all(&url).await?;
            match global.output {
                Format::Json => output::print(global.output, &Value::Array(events), &[]),
                Format::Table => {
                    let rows: Vec<Value> = events
                        .iter()
                        .map(|e| {
                            json!({"seq": e["seq"], "type": e["type"],
                                "state": e["details"]["name"], "at": e["details"]["at"]})
                        })
                        .collect();
                    output::print(
                        global.output,
                        &Value::Array(rows),
                        &["seq", "at", "type", "state"],
                    );
                }
            }
        }
        WorkflowsCommand::Tasks { name } => {
            let items = c.all(&workflow_url(&c, &name, "/tasks")).await?;
            let columns = ["execution", "state", "opened_ms", "token"];
            output::print(global.output, &Value::Array(items), &columns);
        }
        WorkflowsCommand::Stop {
            name,
            execution,
            error,
            cause,
        } => {
            let url = workflow_url(&c, &name, &format!("/executions/{}/stop", segment(&execution)));
            c.call(Method::POST, &url, Some(&json!({"error": error, "cause": cause})))
                .await?;
            output::done(&format!("stopping execution {execution}"));
        }
    }
    Ok(())
}

/// Completes a `.waitForTaskToken` task: with an output (`approve`) or
/// an error (`reject`).
pub async fn answer(global: &Global, approve: bool, args: TokenArgs) -> Result<(), CliError> {
    let mut c = Client::from_profile(global)?;
    let token = if args.token == "-" {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| CliError::Failed(format!("cannot read the task token from standard input: {e}")))?;
        line.trim().to_owned()
    } else {
        args.token.clone()
    };
    if token.is_empty() {
        return Err(CliError::Usage("the task token is empty".into()));
    }
    let (path, body) = if approve {
        let output = match &args.task_output {
            Some(o) => json_arg("the output", o)?,
            None => json!({}),
        };
        ("/task-tokens/success", json!({"token": token, "output": output}))
    } else {
        (
            "/task-tokens/failure",
            json!({"token": token, "error": args.error, "cause": args.cause}),
        )
    };
    c.call(Method::POST, &c.api(path), Some(&body)).await?;
    output::done(if approve { "approved" } else { "rejected" });
    Ok(())
}
