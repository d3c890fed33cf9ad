//! `mosaicfs-agent`: parses arguments, sets up logging, runs the agent and
//! maps the outcome to an exit code (0 ok, 1 runtime error, 2 bad config).

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use mosaicfs_agent::config::{Config, DEFAULT_CONFIG_PATH};
use mosaicfs_agent::init::{InitArgs, Terminal};
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
    /// Set up this machine: register it with the control plane, write
    /// agent.toml (to --config) and install the service.
    Init(Box<InitArgs>),
    /// Stop and remove the services `init` installed (the agent's and the
    /// mount's). agent.toml, the state directory and the databases stay.
    Uninstall {
        /// Where `init --service-dir` wrote them (default the system location).
        #[arg(long)]
        service_dir: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let matches = Args::command().get_matches();
    let config_explicit = matches.value_source("config") != Some(ValueSource::DefaultValue);
    let args = Args::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    mosaicfs_common::logging::init();
    if let Some(Command::Init(init)) = args.command {
        return run_init(*init, args.config, config_explicit);
    }
    if let Some(Command::Uninstall { service_dir }) = &args.command {
        return match mosaicfs_agent::init::uninstall(service_dir.as_deref()) {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("mosaicfs-agent: {e}");
                ExitCode::FAILURE
            }
        };
    }
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
            Command::Init(_) | Command::Uninstall { .. } => {
                unreachable!("handled before the config is loaded")
            }
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

/// `init` asks on the terminal when there is one, else takes only flags.
fn run_init(args: InitArgs, config: PathBuf, config_explicit: bool) -> ExitCode {
    let interactive = std::io::IsTerminal::is_terminal(&std::io::stdin());
    let mut terminal = Terminal;
    let prompt: Option<&mut dyn mosaicfs_agent::init::Prompt> =
        interactive.then_some(&mut terminal as _);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mosaicfs-agent init: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(mosaicfs_agent::init::run(
        args,
        config,
        config_explicit,
        prompt,
    )) {
        Ok(done) => {
            println!(
                "Node {} is set up ({}).",
                done.node_id,
                done.config_path.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mosaicfs-agent init: {e}");
            ExitCode::from(e.exit_code())
        }
    }
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
