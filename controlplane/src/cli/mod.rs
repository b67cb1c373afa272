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

mod account;
mod client;
mod functions;
mod output;
mod profile;

use clap::{Args, Subcommand, ValueEnum};
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
