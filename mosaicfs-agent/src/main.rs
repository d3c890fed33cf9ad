//! `mosaicfs-agent`: parses arguments, sets up logging, runs the agent and
//! maps the outcome to an exit code (0 ok, 1 runtime error, 2 bad config).

use clap::{Parser, Subcommand};
use mosaicfs_agent::config::{Config, DEFAULT_CONFIG_PATH};
use std::path::PathBuf;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

/// The MosaicFS agent: indexes this machine's watch paths into its local
/// CouchDB and replicates with the control plane.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Path to agent.toml.
    #[arg(long, short, global = true, env = "MOSAICFS_AGENT_CONFIG", default_value = DEFAULT_CONFIG_PATH)]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the agent (the default): crawl, replicate, heartbeat until SIGTERM.
    Run,
    /// Crawl the watch paths once into the local CouchDB and print the summary.
    Crawl,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MOSAICFS_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let config = match Config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mosaicfs-agent: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mosaicfs-agent: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let shutdown = CancellationToken::new();
        tokio::spawn(wait_for_signal(shutdown.clone()));
        let result = match args.command.unwrap_or(Command::Run) {
            Command::Run => mosaicfs_agent::run(config, shutdown).await,
            Command::Crawl => mosaicfs_agent::crawl_once(&config, &shutdown)
                .await
                .map(|s| println!("crawl summary: {s}")),
        };
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("mosaicfs-agent: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

async fn wait_for_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop the agent with SIGKILL");
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
    shutdown.cancel();
}
