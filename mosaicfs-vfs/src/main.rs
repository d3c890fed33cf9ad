//! `mosaicfs-vfs mount --config agent.toml --mountpoint DIR`: mounts the
//! virtual filesystem until SIGINT/SIGTERM or `fusermount3 -u`.

use clap::{Parser, Subcommand};
use mosaicfs_vfs::daemon::{MountOptions, run};
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(name = "mosaicfs-vfs", about = "The MosaicFS virtual filesystem")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Mount the virtual directories read-only.
    Mount {
        /// The agent's config file.
        #[arg(long, default_value = "/etc/mosaicfs/agent.toml")]
        config: PathBuf,
        /// Where to mount.
        #[arg(long)]
        mountpoint: PathBuf,
        /// The file cache (default: `{state_dir}/vfs-cache`).
        #[arg(long)]
        cache_dir: Option<PathBuf>,
        /// Read local files through the daemon instead of FUSE passthrough.
        #[arg(long)]
        no_passthrough: bool,
        /// Let other users access the mount.
        #[arg(long)]
        allow_other: bool,
        /// Experiment: let the kernel open files without asking the daemon
        /// (no OPEN/RELEASE requests; disables passthrough).
        #[arg(long)]
        kernel_opens: bool,
        /// Microseconds the request thread polls for the next request after
        /// an answer it gave at once, before it sleeps (0: sleep at once).
        /// Saves a wake-up per request in tree walks; costs at most this
        /// much CPU per such answer.
        #[arg(long, value_name = "MICROSECONDS", default_value_t = mosaicfs_vfs::fuse::LINGER.as_micros() as u64)]
        linger_us: u64,
        /// Readahead of the mount in KiB, set on its backing device after
        /// mounting (needs root; the kernel's default is 128). Larger makes
        /// sequential reads the daemon serves (first reads of remote files)
        /// come in fewer, larger requests; smaller makes the kernel fetch
        /// less beyond what random reads ask for.
        #[arg(long, value_name = "KIB", default_value_t = mosaicfs_vfs::fuse::MAX_READAHEAD / 1024,
              value_parser = clap::value_parser!(u32).range(4..=65536))]
        readahead_kib: u32,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    mosaicfs_common::logging::init();
    let Command::Mount {
        config,
        mountpoint,
        cache_dir,
        no_passthrough,
        allow_other,
        kernel_opens,
        linger_us,
        readahead_kib,
    } = Args::parse().command;
    let shutdown = CancellationToken::new();
    let s = shutdown.clone();
    tokio::spawn(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("install the SIGTERM handler");
        tokio::select! { _ = tokio::signal::ctrl_c() => {}, _ = term.recv() => {} }
        s.cancel();
    });
    let opts = MountOptions {
        config,
        mountpoint,
        cache_dir,
        passthrough: !no_passthrough,
        allow_other,
        kernel_opens,
        linger: std::time::Duration::from_micros(linger_us),
        readahead: readahead_kib * 1024,
    };
    Ok(run(opts, shutdown).await?)
}
