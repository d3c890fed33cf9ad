//! `mosaicfs-server`: parses flags, sets up logging, serves until SIGTERM or
//! SIGINT. Exit codes: 0 clean stop, 1 startup failure, 2 bad flags (clap).

use clap::Parser;
use mosaicfs_server::config::ServerConfig;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    let config = ServerConfig::parse();
    mosaicfs_common::logging::init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mosaicfs-server: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let listener = match tokio::net::TcpListener::bind(config.listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("mosaicfs-server: cannot listen on {}: {e}", config.listen);
                return ExitCode::FAILURE;
            }
        };
        let shutdown = CancellationToken::new();
        let running = match mosaicfs_server::start(config, listener, shutdown.clone()).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("mosaicfs-server: {e:#}");
                return ExitCode::FAILURE;
            }
        };
        wait_for_signal().await;
        shutdown.cancel();
        let _ = running.task.await;
        ExitCode::SUCCESS
    })
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
}
