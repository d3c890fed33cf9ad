//! `mosaicfs-vfs mount`: the agent's config → local CouchDB → index
//! follower (ready before the mount appears) → read path → FUSE mount, until
//! the shutdown token fires or someone unmounts (`fusermount3 -u`).
//!
//! Tier 4 transfers from other nodes carry control-plane-issued transfer
//! tokens ([`TokenSigner`]: `control_plane_url`, pinned with
//! `control_plane_fingerprint`, requests signed with this agent's own
//! credential); transfers from this node's own endpoint are signed with the
//! own credential.

use crate::cache::{Cache, CacheConfig};
use crate::fetch::{FetchError, TokenSigner};
use crate::fuse::{Core, FuseConfig};
use crate::{Vfs, VfsConfig};
use mosaicfs_common::couch::CouchClient;
use mosaicfs_index::IndexFollower;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the daemon checks whether the mount was taken away.
const UNMOUNT_POLL: Duration = Duration::from_millis(200);
/// How long one wait for the index lasts before it is logged and retried.
const READY_LOG_EVERY: Duration = Duration::from_secs(10);

/// What `mount` needs.
#[derive(Debug, Clone)]
pub struct MountOptions {
    /// The agent's `agent.toml`.
    pub config: PathBuf,
    /// Where to mount.
    pub mountpoint: PathBuf,
    /// The file cache; default `{state_dir}/vfs-cache`. The local index
    /// lives beside it as `{cache_dir}/local-index/index.db`.
    pub cache_dir: Option<PathBuf>,
    /// FUSE passthrough for local files.
    pub passthrough: bool,
    /// `allow_other`.
    pub allow_other: bool,
    /// See [`FuseConfig::kernel_opens`] (experiment).
    pub kernel_opens: bool,
    /// See [`FuseConfig::linger`].
    pub linger: Duration,
    /// See [`FuseConfig::readahead`].
    pub readahead: u32,
}

/// Why the daemon stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// `agent.toml` is invalid.
    #[error(transparent)]
    Config(#[from] mosaicfs_agent::config::ConfigError),
    /// The node id cannot be read or made.
    #[error(transparent)]
    NodeId(#[from] mosaicfs_agent::node::NodeIdError),
    /// The local CouchDB settings are unusable.
    #[error(transparent)]
    Couch(#[from] mosaicfs_common::couch::CouchError),
    /// The index cannot be opened.
    #[error(transparent)]
    Index(#[from] mosaicfs_index::IndexError),
    /// The cache cannot be opened.
    #[error(transparent)]
    Cache(#[from] crate::cache::CacheError),
    /// The transfer-token client cannot be set up.
    #[error("transfer tokens: {0}")]
    Signer(#[from] FetchError),
    /// The mount point is missing or not a directory (checked before
    /// anything starts).
    #[error(
        "mount point {}: {why}; create it as an empty directory (mkdir -p {}) or pass another --mountpoint",
        path.display(),
        path.display()
    )]
    Mountpoint {
        /// The mount point.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// Mounting or unmounting failed.
    #[error("{what} {}: {source}", path.display())]
    Mount {
        /// `mount` or `unmount`.
        what: &'static str,
        /// The mount point.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Runs the mount until `shutdown` fires or the filesystem is unmounted.
pub async fn run(opts: MountOptions, shutdown: CancellationToken) -> Result<(), DaemonError> {
    let config = mosaicfs_agent::config::Config::load(&opts.config)?;
    // Fail before the index wait, which can be long.
    match std::fs::metadata(&opts.mountpoint) {
        Ok(md) if md.is_dir() => {}
        Ok(_) => {
            return Err(DaemonError::Mountpoint {
                path: opts.mountpoint.clone(),
                why: "not a directory".into(),
            });
        }
        Err(e) => {
            return Err(DaemonError::Mountpoint {
                path: opts.mountpoint.clone(),
                why: e.to_string(),
            });
        }
    }
    let node_id =
        mosaicfs_agent::node::resolve_node_id(config.node_id.as_deref(), &config.state_dir)?;
    let db = CouchClient::new(&config.couchdb)?;
    let cache_dir = opts
        .cache_dir
        .clone()
        .unwrap_or_else(|| config.state_dir.join("vfs-cache"));
    let index_dir = cache_dir.join("local-index");
    std::fs::create_dir_all(&index_dir).map_err(|source| mosaicfs_index::IndexError::Io {
        path: index_dir.clone(),
        source,
    })?;
    let stop_index = shutdown.child_token();
    let follower =
        IndexFollower::start(db.clone(), &index_dir.join("index.db"), stop_index.clone()).await?;
    let index = follower.index();
    // The label cache and the directory set must be complete before the
    // mount appears: a half-built index would show half-empty directories.
    while let Err(e) = index.wait_ready(READY_LOG_EVERY).await {
        tracing::info!(error = %e, "waiting for the local index to catch up");
        if shutdown.is_cancelled() {
            return Ok(());
        }
    }
    let cache = Cache::open(CacheConfig::new(&cache_dir)).await?;
    if config.control_plane_fingerprint.is_none()
        && config.control_plane_url.starts_with("https://")
    {
        tracing::warn!(
            "agent.toml has no control_plane_fingerprint: the control plane's certificate must chain to a public root, or transfers from other nodes will fail"
        );
    }
    let signer = Arc::new(TokenSigner::new(
        &config.control_plane_url,
        config.control_plane_fingerprint.as_deref(),
        &node_id,
        &config.access_key_id,
        &config.secret_key,
    )?);
    // The connection to the control plane, open before the first remote
    // read needs a token.
    tokio::spawn({
        let signer = signer.clone();
        async move { signer.warm().await }
    });
    let vfs = Vfs::new(
        VfsConfig::new(&node_id, config.watch_paths.clone()),
        cache,
        Arc::new(db),
        signer,
    );
    let mut fuse_cfg = FuseConfig::new();
    fuse_cfg.passthrough = opts.passthrough;
    fuse_cfg.allow_other = opts.allow_other;
    fuse_cfg.kernel_opens = opts.kernel_opens;
    fuse_cfg.linger = opts.linger;
    fuse_cfg.readahead = opts.readahead;
    crate::fuse::raise_nofile_limit();
    let core = Arc::new(Core::new(index, vfs, fuse_cfg));
    let mounted_at = std::time::Instant::now();
    let mounted = crate::fuse::mount(
        core.clone(),
        &opts.mountpoint,
        tokio::runtime::Handle::current(),
    )
    .map_err(|source| DaemonError::Mount {
        what: "mount",
        path: opts.mountpoint.clone(),
        source,
    })?;
    tracing::info!(mountpoint = %opts.mountpoint.display(), node_id, "mounted");
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(UNMOUNT_POLL) => if mounted.is_finished() {
                tracing::info!("unmounted from outside");
                break;
            },
        }
    }
    let unmounted = tokio::task::spawn_blocking(move || mounted.unmount()).await;
    let c = core.counts();
    tracing::info!(
        operation = "unmount",
        node_id,
        duration_ms = mounted_at.elapsed().as_millis() as u64,
        lookups = c.lookups(),
        getattrs = c.getattrs(),
        opens = c.opens(),
        open_hits = c.open_hits(),
        readdirs = c.readdirs(),
        reads = c.reads(),
        lingers = c.lingers(),
        linger_hits = c.linger_hits(),
        forgets = c.forgets(),
        known_inodes = core.known_inodes(),
        name_collisions = core.name_collisions(),
        "mount summary"
    );
    stop_index.cancel();
    follower.join().await;
    match unmounted {
        Ok(Ok(())) => Ok(()),
        Ok(Err(source)) => Err(DaemonError::Mount {
            what: "unmount",
            path: opts.mountpoint,
            source,
        }),
        Err(e) => Err(DaemonError::Mount {
            what: "unmount",
            path: opts.mountpoint,
            source: std::io::Error::other(e.to_string()),
        }),
    }
}
