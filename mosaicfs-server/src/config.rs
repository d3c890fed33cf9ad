//! Server settings: command-line flags, each with a `MOSAICFS_*` variable.

use clap::Parser;
use mosaicfs_common::couch::CouchConfig;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The MosaicFS control plane: the REST API over TLS in front of CouchDB.
#[derive(Debug, Clone, Parser)]
#[command(version, about)]
pub struct ServerConfig {
    /// Address to listen on.
    #[arg(long, env = "MOSAICFS_LISTEN", default_value = "0.0.0.0:8443")]
    pub listen: SocketAddr,
    /// Directory for the TLS certificate, the JWT signing key and the search index.
    #[arg(
        long,
        env = "MOSAICFS_DATA_DIR",
        default_value = "/var/lib/mosaicfs-server"
    )]
    pub data_dir: PathBuf,
    /// CouchDB server URL.
    #[arg(
        long,
        env = "MOSAICFS_COUCHDB_URL",
        default_value = "http://127.0.0.1:5984"
    )]
    pub couchdb_url: String,
    /// CouchDB database.
    #[arg(long, env = "MOSAICFS_COUCHDB_DATABASE", default_value = "mosaicfs")]
    pub couchdb_database: String,
    /// CouchDB admin user.
    #[arg(long, env = "MOSAICFS_COUCHDB_USER")]
    pub couchdb_user: Option<String>,
    /// CouchDB admin password.
    #[arg(long, env = "MOSAICFS_COUCHDB_PASSWORD", hide_env_values = true)]
    pub couchdb_password: Option<String>,
    /// PEM certificate chain replacing the self-signed certificate (with --tls-key).
    #[arg(long, env = "MOSAICFS_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "MOSAICFS_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Node id of the machine the server runs on; its files are served from
    /// disk, other nodes' files through their transfer endpoints.
    #[arg(long, env = "MOSAICFS_NODE_ID")]
    pub node_id: Option<String>,
    /// Largest accepted request body in bytes.
    #[arg(long, env = "MOSAICFS_MAX_BODY_BYTES", default_value_t = 32 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Largest backup file `POST /api/system/restore` accepts, in bytes. The
    /// restore holds the file in memory to check every document before the
    /// first write.
    #[arg(long, env = "MOSAICFS_MAX_RESTORE_BYTES", default_value_t = 1024 * 1024 * 1024)]
    pub max_restore_bytes: usize,
    /// Most documents a restore accepts.
    #[arg(
        long,
        env = "MOSAICFS_MAX_RESTORE_DOCUMENTS",
        default_value_t = 2_000_000
    )]
    pub max_restore_documents: usize,
    /// Seconds between the control plane's checks behind its notifications
    /// (disk, credentials, conflicts).
    #[arg(long, env = "MOSAICFS_MONITOR_INTERVAL_SECS", default_value_t = 60)]
    pub monitor_interval_secs: u64,
    /// The data directory's filesystem this full (percent) raises
    /// `control_plane_disk_low`.
    #[arg(long, env = "MOSAICFS_DISK_WARN_PERCENT", default_value_t = 90)]
    pub disk_warn_percent: u8,
    /// An enabled credential unused this many days raises
    /// `credential_inactive`.
    #[arg(long, env = "MOSAICFS_CREDENTIAL_INACTIVE_DAYS", default_value_t = 90)]
    pub credential_inactive_days: u32,
    /// Enables `DELETE /api/system/data` (wipes the database). Never in production.
    #[arg(long, env = "MOSAICFS_DEVELOPER_MODE")]
    pub developer_mode: bool,
    /// Credential to create at first start when none exists, as
    /// `ACCESS_KEY_ID:SECRET` (bootstrap; create further credentials with
    /// `POST /api/credentials` once logged in).
    #[arg(long, env = "MOSAICFS_BOOTSTRAP_CREDENTIAL", hide_env_values = true)]
    pub bootstrap_credential: Option<String>,
    /// Directory of the built web UI (`web/dist`: `index.html` and
    /// `assets/`), served at `/` beside the API. Without it `GET /` answers
    /// 404 saying the web UI is not installed.
    #[arg(long, env = "MOSAICFS_WEB_DIR")]
    pub web_dir: Option<PathBuf>,
}

impl ServerConfig {
    /// The command line's defaults (each option's `default_value`, and the
    /// `MOSAICFS_*` environment as for the binary), for code that builds a
    /// configuration instead of parsing one: tests write
    /// `ServerConfig { listen, data_dir, .., ..ServerConfig::defaults() }`,
    /// so a new option needs no change where a config is built.
    pub fn defaults() -> ServerConfig {
        ServerConfig::parse_from(["mosaicfs-server"])
    }
}

impl ServerConfig {
    /// CouchDB connection settings.
    pub fn couch(&self) -> CouchConfig {
        CouchConfig {
            url: self.couchdb_url.clone(),
            database: self.couchdb_database.clone(),
            username: self.couchdb_user.clone(),
            password: self.couchdb_password.clone(),
        }
    }
}
