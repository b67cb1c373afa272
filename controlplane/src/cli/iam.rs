//! Orgs, projects, users, keys, roles, bindings, policies (and the
//! simulator), and the audit trail. Commands of one org take `--org`
//! (default: the signed-in principal's).

use super::client::{CliError, Client, segment};
use super::{Format, Global, json_arg, output};
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};
use std::io::{BufRead, IsTerminal};

/// The org a command acts in.
#[derive(Debug, Args)]
pub struct InOrg {
    /// The org (default: the signed-in principal's).
    #[arg(long)]
    org: Option<String>,
}

impl InOrg {
    async fn name(&self, c: &mut Client) -> Result<String, CliError> {
        if let Some(o) = &self.org {
            return Ok(o.clone());
        }
        let me = c.call(Method::GET, &c.api("/auth/me"), None).await?;
        Ok(output::text(&me["org"]))
    }

    async fn url(&self, c: &mut Client, rest: &str) -> Result<String, CliError> {
        let org = self.name(c).await?;
        Ok(c.api(&format!("/orgs/{}{rest}", segment(&org))))
    }
}

/// `minicloud orgs ...`.
#[derive(Debug, Subcommand)]
pub enum OrgsCommand {
    /// The orgs the caller may see.
    List,
    /// Create an org.
    Create {
        /// The org.
        name: String,
    },
    /// An org.
    Get {
        /// The org.
        name: String,
    },
    /// Delete an org without projects.
    Delete {
        /// The org.
        name: String,
    },
}

/// `minicloud projects ...` (and `users`, `roles`, `policies`: the same
/// verbs on the org's resources).
#[derive(Debug, Subcommand)]
pub enum NamedCommand {
    /// The org's resources of this kind.
    List {
        #[command(flatten)]
        org: InOrg,
    },
    /// One of them.
    Get {
        /// Its name.
        name: String,
        #[command(flatten)]
        org: InOrg,
    },
    /// Delete one.
    Delete {
        /// Its name.
        name: String,
        #[command(flatten)]
        org: InOrg,
    },
    /// Create one: a project or role by name (a role with `--policy`
    /// attached), a user (`--password-stdin`), a policy (`--document` JSON
    /// or `@FILE`).
    Create {
        /// Its name.
        name: String,
        #[command(flatten)]
        org: InOrg,
        /// A role's managed policies, attached at once.
        #[arg(long = "policy")]
        policies: Vec<String>,
        /// A user's password, read from standard input.
        #[arg(long)]
        password_stdin: bool,
        /// A policy's document.
        #[arg(long)]
        document: Option<String>,
    },
}

/// `minicloud keys ...`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// A user's API keys.
    List {
        /// The user.
        user: String,
        #[command(flatten)]
        org: InOrg,
    },
    /// A new API key for a user (the token is printed once).
    Create {
        /// The user.
        user: String,
        /// The key's name.
        name: String,
        /// Seconds until it stops working.
        #[arg(long)]
        expires_in_secs: Option<u64>,
        #[command(flatten)]
        org: InOrg,
    },
    /// Revoke a key.
    Revoke {
        /// The user.
        user: String,
        /// The key's id.
        id: String,
        #[command(flatten)]
        org: InOrg,
    },
}

/// `minicloud bindings ...`.
#[derive(Debug, Subcommand)]
pub enum BindingsCommand {
    /// The org's role bindings.
    List {
        #[command(flatten)]
        org: InOrg,
    },
    /// Give a principal (a user, or `key:<id>`) a role, in one project or
    /// the whole org.
    Create {
        /// The user, or `key:<id>`.
        principal: String,
        /// The role.
        role: String,
        /// The project (default: the whole org).
        #[arg(long = "in-project")]
        in_project: Option<String>,
        #[command(flatten)]
        org: InOrg,
    },
    /// Remove a binding.
    Delete {
        /// The binding's id.
        id: String,
        #[command(flatten)]
        org: InOrg,
    },
}

/// `minicloud audit ...`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// `verify`: check the chain instead of listing records.
    #[arg(value_parser = ["verify"])]
    verify: Option<String>,
    /// Records of this actor (id or name).
    #[arg(long)]
    actor: Option<String>,
    /// Records of this action (`iam:CreateUser`).
    #[arg(long)]
    action: Option<String>,
    /// `Allow` or `Deny`.
    #[arg(long)]
    decision: Option<String>,
    /// Records at most.
    #[arg(long, default_value_t = 50)]
    limit: u32,
    #[command(flatten)]
    org: InOrg,
}

/// Runs an `orgs` command.
pub async fn orgs(global: &Global, command: OrgsCommand) -> Result<(), CliError> {
    let mut c = Client::from_profile(global)?;
    match command {
        OrgsCommand::List => {
            let items = c.all(&c.api("/orgs")).await?;
            output::print(global.output, &Value::Array(items), &["name", "id", "created_ms"]);
        }
        OrgsCommand::Create { name } => {
            let org = c
                .call(Method::POST, &c.api("/orgs"), Some(&json!({"name": name})))
                .await?;
            output::print(global.output, &org, &[]);
        }
        OrgsCommand::Get { name } => {
            let org = c
                .call(Method::GET, &c.api(&format!("/orgs/{}", segment(&name))), None)
                .await?;
            output::print(global.output, &org, &[]);
        }
        OrgsCommand::Delete { name } => {
            c.call(Method::DELETE, &c.api(&format!("/orgs/{}", segment(&name))), None)
                .await?;
            output::done(&format!("deleted org {name}"));
        }
    }
    Ok(())
}

/// Which of the org's named resources a [`NamedCommand`] acts on.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// `/orgs/{org}/projects`.
    Projects,
    /// `/orgs/{org}/users`.
    Users,
    /// `/orgs/{org}/roles`.
    Roles,
    /// `/orgs/{org}/policies`.
    Policies,
}

impl Kind {
    fn path(self) -> &'static str {
        match self {
            Kind::Projects => "/projects",
            Kind::Users => "/users",
            Kind::Roles => "/roles",
            Kind::Policies => "/policies",
        }
    }

    fn columns(self) -> &'static [&'static str] {
        match self {
            Kind::Projects => &["name", "org"],
            Kind::Users => &["name", "id", "created_ms"],
            Kind::Roles => &["name", "policies", "created_ms"],
            Kind::Policies => &["name", "builtin", "updated_ms"],
        }
    }

    fn one(self) -> &'static str {
        match self {
            Kind::Projects => "project",
            Kind::Users => "user",
            Kind::Roles => "role",
            Kind::Policies => "policy",
        }
    }
}

/// Runs `projects`, `users`, `roles` or `policies` commands.
pub async fn named(global: &Global, kind: Kind, command: NamedCommand) -> Result<(), CliError> {
    let mut c = Client::from_profile(global)?;
    match command {
        NamedCommand::List { org } => {
            let url = org.url(&mut c, kind.path()).await?;
            let items = c.all(&url).await?;
            output::print(global.output, &Value::Array(items), kind.columns());
        }
        NamedCommand::Get { name, org } => {
            let url = org
                .url(&mut c, &format!("{}/{}", kind.path(), segment(&name)))
                .await?;
            let one = c.call(Method::GET, &url, None).await?;
            output::print(global.output, &one, &[]);
        }
        NamedCommand::Delete { name, org } => {
            let url = org
                .url(&mut c, &format!("{}/{}", kind.path(), segment(&name)))
                .await?;
            c.call(Method::DELETE, &url, None).await?;
            output::done(&format!("deleted {} {name}", kind.one()));
        }
        NamedCommand::Create {
            name,
            org,
            policies,
            password_stdin,
            document,
        } => {
            let mut body = json!({"name": name});
            match kind {
                Kind::Roles => body["policies"] = json!(policies),
                Kind::Users if password_stdin => body["password"] = json!(password()?),
                Kind::Policies => {
                    let d = document
                        .ok_or_else(|| CliError::Usage("a policy needs --document (JSON or @FILE)".into()))?;
                    body["document"] = json_arg("the document", &d)?;
                }
                _ => {}
            }
            let url = org.url(&mut c, kind.path()).await?;
            let created = c.call(Method::POST, &url, Some(&body)).await?;
            output::done(&format!("created {} {name}", kind.one()));
            output::print(global.output, &created, &[]);
        }
    }
    Ok(())
}

fn password() -> Result<String, CliError> {
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password("Password: ")
            .map_err(|e| CliError::Failed(format!("cannot read the password: {e}")));
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::Failed(format!("cannot read standard input: {e}")))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Runs a `keys` command.
pub async fn keys(global: &Global, command: KeysCommand) -> Result<(), CliError> {
    let mut c = Client::from_profile(global)?;
    match command {
        KeysCommand::List { user, org } => {
            let url = org
                .url(&mut c, &format!("/users/{}/keys", segment(&user)))
                .await?;
            let items = c.all(&url).await?;
            let columns = [
                "id",
                "name",
                "created_ms",
                "expires_ms",
                "last_used_ms",
                "revoked_ms",
            ];
            output::print(global.output, &Value::Array(items), &columns);
        }
        KeysCommand::Create {
            user,
            name,
            expires_in_secs,
            org,
        } => {
            let url = org
                .url(&mut c, &format!("/users/{}/keys", segment(&user)))
                .await?;
            let body = json!({"name": name, "expires_in_secs": expires_in_secs});
            let key = c.call(Method::POST, &url, Some(&body)).await?;
            match global.output {
                Format::Json => output::print(global.output, &key, &[]),
                // The token alone on standard output: it is shown once.
                Format::Table => {
                    output::done(&format!(
                        "created key {} for {user}; its token (shown once):",
                        output::text(&key["id"])
                    ));
                    anstream::println!("{}", output::text(&key["token"]));
                }
            }
        }
        KeysCommand::Revoke { user, id, org } => {
            let url = org
                .url(
                    &mut c,
                    &format!("/users/{}/keys/{}", segment(&user), segment(&id)),
                )
                .await?;
            c.call(Method::DELETE, &url, None).await?;
            output::done(&format!("revoked key {id}"));
        }
    }
    Ok(())
}

/// Runs a `bindings` command.
pub async fn bindings(global: &Global, command: BindingsCommand) -> Result<(), CliError> {
    let mut c = Client::from_profile(global)?;
    match command {
        BindingsCommand::List { org } => {
            let url = org.url(&mut c, "/bindings").await?;
            let items = c.all(&url).await?;
            let columns = ["id", "principal", "role", "project", "created_ms"];
            output::print(global.output, &Value::Array(items), &columns);
        }
        BindingsCommand::Create {
            principal,
            role,
            in_project,
            org,
        } => {
            let url = org.url(&mut c, "/bindings").await?;
            let body = json!({"principal": principal, "role": role, "project": in_project});
            let binding = c.call(Method::POST, &url, Some(&body)).await?;
            output::print(global.output, &binding, &[]);
        }
        BindingsCommand::Delete { id, org } => {
            let url = org.url(&mut c, &format!("/bindings/{}", segment(&id))).await?;
            c.call(Method::DELETE, &url, None).await?;
            output::done(&format!("deleted binding {id}"));
        }
    }
    Ok(())
}

/// `minicloud policies simulate`: the IAM engine's decision on a request
/// (`{policies | principal, action, resource, context?}`, JSON or
/// `@FILE`).
pub async fn simulate(global: &Global, request: &str) -> Result<(), CliError> {
    let mut c = Client::from_profile(global)?;
    let body = json_arg("the request", request)?;
    let answer = c
        .call(Method::POST, &c.api("/policies/simulate"), Some(&body))
        .await?;
    output::print(global.output, &answer, &["decision", "statements"]);
    Ok(())
}

/// Runs `audit`: records newest first, or the chain's verification.
pub async fn audit(global: &Global, args: AuditArgs) -> Result<(), CliError> {
    let mut c = Client::from_profile(global)?;
    if args.verify.is_some() {
        let url = args.org.url(&mut c, "/audit/verify").await?;
        let verdict = c.call(Method::GET, &url, None).await?;
        output::print(global.output, &verdict, &["ok", "records", "broken_at", "reason"]);
        if verdict["ok"] != true {
            return Err(CliError::Failed("the audit chain is broken".into()));
        }
        return Ok(());
    }
    let mut query = format!("?limit={}", args.limit);
    for (key, value) in [
        ("actor", &args.actor),
        ("action", &args.action),
        ("decision", &args.decision),
    ] {
        if let Some(v) = value {
            query.push_str(&format!("&{key}={}", segment(v)));
        }
    }
    let url = args.org.url(&mut c, &format!("/audit{query}")).await?;
    let page = c.call(Method::GET, &url, None).await?;
    let columns = [
        "seq",
        "time_ms",
        "actor_name",
        "action",
        "resource",
        "decision",
        "outcome",
    ];
    match global.output {
        Format::Json => output::print(global.output, &page, &[]),
        Format::Table => output::print(global.output, &page["items"], &columns),
    }
    Ok(())
}
