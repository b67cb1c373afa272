//! The `minicloud` command line for people and scripts. Every command is
//! a call of the public REST API, authorized and audited as any client's
//! call is: the CLI has no way in that the API lacks.
//!
//! - `profile`: named profiles (endpoint, project, credentials) in the
//!   user's config directory, written with mode 0600.
//! - `client`: the API client: credentials from the profile or the
//!   environment, sessions refreshed when they expire, and the API's
//!   errors turned into messages and exit codes.
//! - `output`: results as tables or JSON; colour only on a terminal.
//! - `account`: `login`, `logout`, `whoami`.
//! - `functions`: `functions deploy/list/get/versions/delete`, `invoke`,
//!   and `logs` (with `--follow`, over server-sent events).
//! - `project`: `routes`, `rules` (with a pattern tester), `events put`,
//!   `dead-letters`, `secrets` (values from a file or standard input).
//! - `buckets`: buckets, `ls`, and `cp` both ways, streamed.
//! - `iam`: `orgs`, `projects`, `users`, `keys`, `roles`, `bindings`,
//!   `policies` (with `simulate`), `audit` (with `verify`).
//! - `workflows`: `workflows deploy/start/describe/history/...`, and
//!   `approve`/`reject` of a task token.
//! - `manifest`: `plan` and `apply` of a project's `minicloud.toml`.

mod account;
mod buckets;
mod client;
mod functions;
mod iam;
mod manifest;
mod output;
mod profile;
mod project;
mod workflows;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::Value;
use std::process::ExitCode;

pub use client::CliError;

/// What every client command's exit code means (also in `--help`).
pub const EXIT_CODES: &str = "Exit codes: 0 done; 1 failed (the server's fault, the network, a file); \
2 bad usage (arguments, input); 3 not signed in or not allowed (HTTP 401, 403); \
4 not found (404); 5 refused (another 4xx: invalid, conflict, too large, too many).";

/// Options of every client command.
#[derive(Debug, Args)]
pub struct Global {
    /// The profile to use (default: the one `login` saved last).
    #[arg(long, global = true, env = "MINICLOUD_PROFILE")]
    pub profile: Option<String>,
    /// The platform's URL, over the profile's.
    #[arg(long, global = true, env = "MINICLOUD_ENDPOINT")]
    pub endpoint: Option<String>,
    /// The project, over the profile's (default: `default`).
    #[arg(long, global = true, env = "MINICLOUD_PROJECT")]
    pub project: Option<String>,
    /// How to print results.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = Format::Table)]
    pub output: Format,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Columns for people.
    Table,
    /// The API's JSON, for scripts (one document; `logs` prints one line
    /// of JSON per log line).
    Json,
}

/// The client commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sign in to a platform and save the profile: with an API key read
    /// from standard input (`--token-stdin`), or as a user with a password
    /// (prompted on a terminal, else read from standard input).
    Login(account::LoginArgs),
    /// Forget the profile's credentials (a session is ended on the server).
    Logout,
    /// Who the profile signs in as.
    Whoami,
    /// Deploy, list, inspect and delete functions.
    #[command(subcommand)]
    Functions(functions::FunctionsCommand),
    /// Call a function that exports the handler world with a JSON event,
    /// and print its answer.
    Invoke(functions::InvokeArgs),
    /// Print a function's log lines, oldest first; `--follow` prints new
    /// ones as they come.
    Logs(functions::LogsArgs),
    /// A project's routes on its own host.
    #[command(subcommand)]
    Routes(project::RoutesCommand),
    /// Event rules: which events go to which functions.
    #[command(subcommand)]
    Rules(project::RulesCommand),
    /// Put events on the project's bus.
    #[command(subcommand)]
    Events(project::EventsCommand),
    /// Deliveries that ran out of attempts: list, replay, drop.
    #[command(subcommand)]
    DeadLetters(project::DeadLettersCommand),
    /// Buckets and their objects (`cp FILE mc://BUCKET/KEY` and back).
    #[command(subcommand)]
    Buckets(buckets::BucketsCommand),
    /// Secrets: names and versions; values only from a file or standard
    /// input, and out only through `reveal`.
    #[command(subcommand)]
    Secrets(project::SecretsCommand),
    /// Orgs.
    #[command(subcommand)]
    Orgs(iam::OrgsCommand),
    /// An org's projects.
    #[command(subcommand)]
    Projects(iam::NamedCommand),
    /// An org's users.
    #[command(subcommand)]
    Users(iam::NamedCommand),
    /// Users' API keys.
    #[command(subcommand)]
    Keys(iam::KeysCommand),
    /// An org's roles.
    #[command(subcommand)]
    Roles(iam::NamedCommand),
    /// Who has which role where.
    #[command(subcommand)]
    Bindings(iam::BindingsCommand),
    /// An org's managed policies, and the simulator.
    #[command(subcommand)]
    Policies(PoliciesCommand),
    /// The org's audit trail, newest first; `audit verify` checks its
    /// hash chain (exit code 1 when broken).
    Audit(iam::AuditArgs),
    /// Workflows (Amazon States Language) and their executions.
    #[command(subcommand)]
    Workflows(workflows::WorkflowsCommand),
    /// What `apply` would change to make the project what its
    /// `minicloud.toml` says, as a diff (`+` create, `~` update, `-`
    /// delete).
    Plan(manifest::ManifestArgs),
    /// Make the project what its `minicloud.toml` says (a second apply
    /// changes nothing; `--prune` deletes what it does not name).
    Apply(manifest::ManifestArgs),
    /// Complete a task waiting for a token, with an output.
    Approve(workflows::TokenArgs),
    /// Fail a task waiting for a token, with an error and a cause.
    Reject(workflows::TokenArgs),
}

/// `minicloud policies ...`.
#[derive(Debug, Subcommand)]
pub enum PoliciesCommand {
    /// The IAM engine's decision on a request: `{policies | principal,
    /// action, resource, context?}`, JSON or `@FILE`.
    Simulate {
        /// The request.
        request: String,
    },
    #[command(flatten)]
    Named(iam::NamedCommand),
}

/// Runs a client command: its exit code.
pub fn run(global: Global, command: Command) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => return fail(&CliError::Failed(format!("cannot start: {e}"))),
    };
    let result = runtime.block_on(async {
        match command {
            Command::Login(args) => account::login(&global, args).await,
            Command::Logout => account::logout(&global).await,
            Command::Whoami => account::whoami(&global).await,
            Command::Functions(c) => functions::run(&global, c).await,
            Command::Invoke(args) => functions::invoke(&global, args).await,
            Command::Logs(args) => functions::logs(&global, args).await,
            Command::Routes(c) => project::routes(&global, c).await,
            Command::Rules(c) => project::rules(&global, c).await,
            Command::Events(c) => project::events(&global, c).await,
            Command::DeadLetters(c) => project::dead_letters(&global, c).await,
            Command::Buckets(c) => buckets::run(&global, c).await,
            Command::Secrets(c) => project::secrets(&global, c).await,
            Command::Orgs(c) => iam::orgs(&global, c).await,
            Command::Projects(c) => iam::named(&global, iam::Kind::Projects, c).await,
            Command::Users(c) => iam::named(&global, iam::Kind::Users, c).await,
            Command::Keys(c) => iam::keys(&global, c).await,
            Command::Roles(c) => iam::named(&global, iam::Kind::Roles, c).await,
            Command::Bindings(c) => iam::bindings(&global, c).await,
            Command::Policies(PoliciesCommand::Simulate { request }) => {
                iam::simulate(&global, &request).await
            }
            Command::Policies(PoliciesCommand::Named(c)) => iam::named(&global, iam::Kind::Policies, c).await,
            Command::Audit(args) => iam::audit(&global, args).await,
            Command::Workflows(c) => workflows::run(&global, c).await,
            Command::Plan(args) => manifest::run(&global, args, false).await,
            Command::Apply(args) => manifest::run(&global, args, true).await,
            Command::Approve(args) => workflows::answer(&global, true, args).await,
            Command::Reject(args) => workflows::answer(&global, false, args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(e: &CliError) -> ExitCode {
    output::error(&e.to_string());
    ExitCode::from(e.exit_code())
}

/// A JSON argument: the text itself, `@FILE` for a file's, `@-` for
/// standard input's.
pub(crate) fn json_arg(what: &str, arg: &str) -> Result<Value, CliError> {
    let text = match arg {
        "@-" => std::io::read_to_string(std::io::stdin())
            .map_err(|e| CliError::Failed(format!("cannot read standard input: {e}")))?,
        a if a.starts_with('@') => std::fs::read_to_string(&a[1..])
            .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", &a[1..])))?,
        a => a.to_owned(),
    };
    serde_json::from_str(&text).map_err(|e| CliError::Usage(format!("{what} is not JSON: {e}")))
}
