//! The `minicloud` binary: the platform (`serve`) and its command line.

use clap::{CommandFactory, Parser, Subcommand};
use minicloud_controlplane::cli;
use minicloud_controlplane::config::ServeConfig;
use std::process::ExitCode;

/// MiniCloud: a self-hosted, WebAssembly-native serverless cloud.
#[derive(Debug, Parser)]
#[command(name = "minicloud", version, about, after_help = cli::EXIT_CODES)]
struct Cli {
    #[command(flatten)]
    global: cli::Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the platform: API, gateway and runtime in one process.
    Serve(Box<ServeConfig>),
    #[command(flatten)]
    Client(cli::Command),
    /// Print a shell's completion script (`minicloud completions bash >
    /// ~/.local/share/bash-completion/completions/minicloud`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Evaluate workflows' JSONata for a server (which starts it): requests
    /// on standard input, replies on standard output, with limited memory.
    #[command(hide = true)]
    JsonataWorker {
        /// Memory the worker may allocate, MiB.
        #[arg(long)]
        memory_mib: u64,
    },
}

/// Tasks a worker polls between two looks at the sockets and timers
/// (tokio's default is 61). The server's tasks mostly poll briefly (a
/// guest computes at most one 1 ms epoch tick a poll), so the default
/// looks far more often than a poll takes: at 255 a reused WASI 0.3
/// hello's p99 fell from 7.8 to 5.1 ms and its CPU a request by 4-6 %,
/// the noisy-neighbours ratio unchanged (BENCHMARKS 2026-12-06). The cost:
/// new requests and due timers wait behind up to 255 polls, 255 ms only
/// if every one of them were a guest's full tick.
const EVENT_INTERVAL: u32 = 255;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(config) => {
            minicloud_controlplane::telemetry::init_tracing();
            let served = tokio::runtime::Builder::new_multi_thread()
                .event_interval(EVENT_INTERVAL)
                .enable_all()
                .build()
                .map_err(anyhow::Error::from)
                .and_then(|runtime| runtime.block_on(minicloud_controlplane::app::serve(*config)));
            exit(served)
        }
        Command::Client(command) => cli::run(cli.global, command),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "minicloud", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        // No tracing, no runtime: the worker only reads, evaluates and
        // writes.
        Command::JsonataWorker { memory_mib } => {
            exit(minicloud_controlplane::workflows::jsonata::serve(memory_mib))
        }
    }
}

/// The exit code of `serve` or the worker: 1 and the error's chain on
/// standard error when it failed, as `anyhow` prints it from `main`.
fn exit(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:?}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    /// Every command's arguments are unique and well formed (clap checks
    /// only the commands a run parses).
    #[test]
    fn the_command_line_is_well_formed() {
        <super::Cli as clap::CommandFactory>::command().debug_assert();
    }
}
