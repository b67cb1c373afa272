//! The `minicloud` binary.

use clap::{Parser, Subcommand};
use minicloud_controlplane::config::ServeConfig;

/// MiniCloud: a self-hosted, WebAssembly-native serverless cloud.
#[derive(Debug, Parser)]
#[command(name = "minicloud", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the platform: API, gateway and runtime in one process.
    Serve(Box<ServeConfig>),
    /// Evaluate workflows' JSONata for a server (which starts it): requests
    /// on standard input, replies on standard output, with limited memory.
    #[command(hide = true)]
    JsonataWorker {
        /// Memory the worker may allocate, MiB.
        #[arg(long)]
        memory_mib: u64,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Serve(config) => {
            minicloud_controlplane::telemetry::init_tracing();
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(minicloud_controlplane::app::serve(*config))
        }
        // No tracing, no runtime: the worker only reads, evaluates and
        // writes.
        Command::JsonataWorker { memory_mib } => {
            minicloud_controlplane::workflows::jsonata::serve(memory_mib)
        }
    }
}
