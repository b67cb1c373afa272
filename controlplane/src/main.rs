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
    Serve(ServeConfig),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    minicloud_controlplane::telemetry::init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match cli.command {
        Command::Serve(config) => runtime.block_on(minicloud_controlplane::app::serve(config)),
    }
}
