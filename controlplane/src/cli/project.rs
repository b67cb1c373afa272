//! A project's routes, event rules, events, dead letters and secrets.

use super::client::{CliError, Client, segment};
use super::{Format, Global, json_arg, output};
use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};
use std::io::{IsTerminal, Read};
use std::path::PathBuf;

/// `minicloud routes ...`.
#[derive(Debug, Subcommand)]
pub enum RoutesCommand {
    /// The project's routes.
    List,
    /// Route `METHOD PATH` (such as `GET /hello/{name}`) of the project's
    /// host to a function.
    Create {
        /// The HTTP method, or `*`.
        method: String,
        /// The path pattern.
        path: String,
        /// The function.
        function: String,
        /// `public` or `authenticated` (default: as the function says).
        #[arg(long)]
        auth: Option<String>,
    },
    /// Delete a route.
    Delete {
        /// The route's id.
        id: String,
    },
}

/// `minicloud rules ...`.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// The project's event rules.
    List,
    /// A rule.
    Get {
        /// The rule.
        name: String,
    },
    /// Create a rule from its JSON (`{name, sources, pattern?, targets,
    /// ...}`; `@FILE` reads a file).
    Create {
        /// The rule, JSON or `@FILE`.
        rule: String,
    },
    /// Change a rule's fields (JSON or `@FILE`, the fields to change).
    Update {
        /// The rule.
        name: String,
        /// The fields, JSON or `@FILE`.
        fields: String,
    },
    /// Delete a rule.
    Delete {
        /// The rule.
        name: String,
    },
    /// Test a pattern against an event: whether it matches.
    Test {
        /// The pattern, JSON or `@FILE`.
        pattern: String,
        /// The event, JSON or `@FILE`.
        event: String,
    },
}

/// `minicloud events ...`.
#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Put events on the project's bus: an entry (`{source, detail-type,
    /// detail?}`) or an array of them, JSON or `@FILE`.
    Put {
        /// The entries.
        entries: String,
    },
}

/// `minicloud dead-letters ...`.
#[derive(Debug, Subcommand)]
pub enum DeadLettersCommand {
    /// Deliveries that ran out of attempts.
    List {
        /// Only those of this rule.
        #[arg(long)]
        rule: Option<String>,
    },
    /// Deliver one again (fresh attempts, the same idempotency key).
    Replay {
        /// The dead letter's id.
        id: String,
    },
    /// Drop one.
    Delete {
        /// The dead letter's id.
        id: String,
    },
}

/// `minicloud secrets ...`. Values are read from a file or from standard
/// input, never from the command line (which other users of the machine
/// can read, and shells keep).
#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// The project's secrets (names, never values).
    List,
    /// A secret's versions and description.
    Get {
        /// The secret.
        name: String,
    },
    /// Create a secret; its value from `--from-file`, else standard input.
    Create {
        /// The secret.
        name: String,
        /// What it is for.
        #[arg(long, default_value = "")]
        description: String,
        /// Read the value from this file.
        #[arg(long)]
        from_file: Option<PathBuf>,
    },
    /// A new value (a new version; old versions stay until removed).
    Rotate {
        /// The secret.
        name: String,
        /// Read the value from this file.
        #[arg(long)]
        from_file: Option<PathBuf>,
    },
    /// Print a secret's value (audited).
    Reveal {
        /// The secret.
        name: String,
        /// A version other than the newest.
        #[arg(long)]
        version: Option<i64>,
    },
    /// Delete a secret and its versions.
    Delete {
        /// The secret.
        name: String,
    },
}

/// Runs a `routes` command.
pub async fn routes(global: &Global, command: RoutesCommand) -> Result<(), CliError> {
    let mut c = Client::from_profile(global)?;
    match command {
        RoutesCommand::List => {
            let items = c.all(&c.in_project("/routes")).await?;
            let columns = ["id", "method", "path", "function", "auth"];
            output::print(global.output, &Value::Array(items), &columns);
        }
        RoutesCommand::Create {
            method,
            path,
            function,
            auth,
        } => {
            let mut body = json!({"method": method, "path": path, "function": function});
            if let Some(a) = auth {
                body["auth"] = json!(a);
            }
            let route = c
                .call(Method::POST, &c.in_project("/routes"), Some(&body))
                .await?;
            output::print(global.output, &route, &[]);
        }
        RoutesCommand::Delete { id } => {
            let url = c.in_project(&format!("/routes/{}", segment(&id)));
            c.call(Method::DELETE, &url, None).await?;
            output::done(&format!("deleted route {id}"));
        }
    }
    Ok(())
}

/// Runs a `rules` command.
pub async fn rules(global: &Global, command: RulesCommand) -> Result<(), CliError> {
    let mut c = Client::from_profile(global)?;
    let rule_url = |c: &Client, name: &str| c.in_project(&format!("/rules/{}", segment(name)));
    match command {
        RulesCommand::List => {
            let items = c.all(&c.in_project("/rules")).await?;
            output::print(
                global.output,
                &Value::Array(items),
                &["name", "enabled", "description"],
            );
        }
        RulesCommand::Get { name } => {
            let rule = c.call(Method::GET, &rule_url(&c, &name), None).await?;
            output::print(global.output, &rule, &[]);
        }
        RulesCommand::Create { rule } => {
            let body = json_arg("the rule", &rule)?;
            let rule = c.call(Method::POST, &c.in_project("/rules"), Some(&body)).await?;
            output::print(global.output, &rule, &[]);
        }
        RulesCommand::Update { name, fields } => {
            let body = json_arg("the fields", &fields)?;
            let rule = c.call(Method::PATCH, &rule_url(&c, &name), Some(&body)).await?;
            output::print(global.output, &rule, &[]);
        }
        RulesCommand::Delete { name } => {
            c.call(Method::DELETE, &rule_url(&c, &name), None).await?;
            output::done(&format!("deleted rule {name}"));
        }
        RulesCommand::Test { pattern, event } => {
            let body = json!({"pattern": json_arg("the pattern", &pattern)?, "event": json_arg("the event", &event)?});
            let answer = c
                .call(Method::POST, &c.api("/events/test-pattern"), Some(&body))
                .await?;
            output::print(global.output, &answer, &[]);
        }
    }
    Ok(())
}

/// Runs an `events` command.
pub async fn events(global: &Global, command: EventsCommand) -> Result<(), CliError> {
    let mut c = Client::from_profile(global)?;
    match command {
        EventsCommand::Put { entries } => {
            let entries = match json_arg("the entries", &entries)? {
                Value::Array(list) => list,
                one => vec![one],
            };
            let body = json!({"entries": entries});
            let answer = c
                .call(Method::POST, &c.in_project("/events"), Some(&body))
                .await?;
            match global.output {
                Format::Json => output::print(global.output, &answer, &[]),
                Format::Table => output::print(global.output, &answer["entries"], &["id"]),
            }
        }
    }
    Ok(())
}

/// Runs a `dead-letters` command.
pub async fn dead_letters(global: &Global, command: DeadLettersCommand) -> Result<(), CliError> {
    let mut c = Client::from_profile(global)?;
    match command {
        DeadLettersCommand::List { rule } => {
            let url = match rule {
                Some(r) => c.in_project(&format!("/dead-letters?rule={}", segment(&r))),
                None => c.in_project("/dead-letters"),
            };
            let items = c.all(&url).await?;
            let columns = ["id", "rule", "target_id", "attempts", "error", "created_ms"];
            output::print(global.output, &Value::Array(items), &columns);
        }
        DeadLettersCommand::Replay { id } => {
            let url = c.in_project(&format!("/dead-letters/{}/replay", segment(&id)));
            let answer = c.call(Method::POST, &url, None).await?;
            output::done(&format!("dead letter {id} queued again"));
            if global.output == Format::Json {
                output::print(global.output, &answer, &[]);
            }
        }
        DeadLettersCommand::Delete { id } => {
            let url = c.in_project(&format!("/dead-letters/{}", segment(&id)));
            c.call(Method::DELETE, &url, None).await?;
            output::done(&format!("deleted dead letter {id}"));
        }
    }
    Ok(())
}

/// A secret's value: the file's, else standard input's (not from a
/// terminal without saying so).
fn secret_value(from_file: Option<&PathBuf>) -> Result<String, CliError> {
    let mut value = String::new();
    match from_file {
        Some(path) => {
            value = std::fs::read_to_string(path)
                .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))?;
        }
        None => {
            if std::io::stdin().is_terminal() {
                output::done("type the value, then a newline and Ctrl-D");
            }
            std::io::stdin()
                .read_to_string(&mut value)
                .map_err(|e| CliError::Failed(format!("cannot read standard input: {e}")))?;
        }
    }
    // A file's or a here-string's final newline is not part of the value.
    if value.ends_with('\n') {
        value.pop();
        if value.ends_with('\r') {
            value.pop();
        }
    }
    if value.is_empty() {
        return Err(CliError::Usage("the secret's value is empty".into()));
    }
    Ok(value)
}

/// Runs a `secrets` command.
pub async fn secrets(global: &Global, command: SecretsCommand) -> Result<(), CliError> {
    let mut c = Client::from_profile(global)?;
    let secret_url =
        |c: &Client, name: &str, rest: &str| c.in_project(&format!("/secrets/{}{rest}", segment(name)));
    match command {
        SecretsCommand::List => {
            let items = c.all(&c.in_project("/secrets")).await?;
            output::print(
                global.output,
                &Value::Array(items),
                &["name", "description", "updated_ms"],
            );
        }
        SecretsCommand::Get { name } => {
            let secret = c.call(Method::GET, &secret_url(&c, &name, ""), None).await?;
            output::print(global.output, &secret, &[]);
        }
        SecretsCommand::Create {
            name,
            description,
            from_file,
        } => {
            let value = secret_value(from_file.as_ref())?;
            let body = json!({"name": name, "description": description, "secret_string": value});
            let secret = c
                .call(Method::POST, &c.in_project("/secrets"), Some(&body))
                .await?;
            output::done(&format!("created secret {name}"));
            if global.output == Format::Json {
                output::print(global.output, &secret, &[]);
            }
        }
        SecretsCommand::Rotate { name, from_file } => {
            let value = secret_value(from_file.as_ref())?;
            let body = json!({"secret_string": value});
            let secret = c
                .call(Method::PUT, &secret_url(&c, &name, "/value"), Some(&body))
                .await?;
            output::done(&format!("rotated secret {name}"));
            if global.output == Format::Json {
                output::print(global.output, &secret, &[]);
            }
        }
        SecretsCommand::Reveal { name, version } => {
            let body = json!({"version": version});
            let secret = c
                .call(Method::POST, &secret_url(&c, &name, "/reveal"), Some(&body))
                .await?;
            match global.output {
                // The value alone, for `$(minicloud secrets reveal x)`.
                Format::Table => anstream::println!("{}", output::text(&secret["secret_string"])),
                Format::Json => output::print(global.output, &secret, &[]),
            }
        }
        SecretsCommand::Delete { name } => {
            c.call(Method::DELETE, &secret_url(&c, &name, ""), None).await?;
            output::done(&format!("deleted secret {name}"));
        }
    }
    Ok(())
}
