//! `mosaicfs-agent init` (plan 2.9): asks for (or takes from flags) the
//! control plane, the credential and the local settings, trusts the control
//! plane's self-signed certificate by its SHA-256 fingerprint, logs in,
//! registers the node, then writes `agent.toml`, a service definition and
//! raises the inotify limit.
//!
//! Nothing is written before the control plane has accepted the credential
//! and registered the node, so a wrong URL, secret or fingerprint leaves no
//! file behind. Every file is written atomically (temp file, then rename).

use crate::config::{Config, DEFAULT_STATE_DIR};
use mosaicfs_common::fsutil;
use mosaicfs_common::tls::PinnedVerifier;
pub use mosaicfs_common::tls::{fingerprint, same_fingerprint};
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Default directory of the systemd unit.
pub const SYSTEMD_DIR: &str = "/etc/systemd/system";
/// Default directory of the launchd property list.
pub const LAUNCHD_DIR: &str = "/Library/LaunchDaemons";
/// Name of the systemd unit.
pub const UNIT_NAME: &str = "mosaicfs-agent.service";
/// Label (and file stem) of the launchd job.
pub const LAUNCHD_LABEL: &str = "org.mosaicfs.agent";
/// Name of the systemd unit of the FUSE mount (`init --mountpoint`).
pub const VFS_UNIT_NAME: &str = "mosaicfs-vfs.service";
/// Label (and file stem) of the mount's launchd job.
pub const VFS_LAUNCHD_LABEL: &str = "org.mosaicfs.vfs";
/// inotify watch limit the agent wants (plan 11.4).
pub const INOTIFY_WATCHES: u64 = 524_288;
const INOTIFY_SYSCTL: &str = "/proc/sys/fs/inotify/max_user_watches";
const HTTP_TIMEOUT: Duration = Duration::from_secs(20);

/// Flags of `mosaicfs-agent init`. Every prompt has a flag, so the command
/// runs unattended when stdin is not a terminal (or with `--yes`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct InitArgs {
    /// HTTPS URL of the control plane, e.g. `https://cp.example:8443`.
    #[arg(long)]
    pub control_plane_url: Option<String>,
    /// Access key id of this agent's credential (`MOSAICFS_…`).
    #[arg(long)]
    pub access_key_id: Option<String>,
    /// The credential's secret (prefer --secret-key-file or the environment:
    /// a flag is visible in the process list).
    #[arg(long, env = "MOSAICFS_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
    /// File holding the credential's secret (first line).
    #[arg(long, conflicts_with = "secret_key")]
    pub secret_key_file: Option<PathBuf>,
    /// Absolute directory to index; repeat for several.
    #[arg(long = "watch-path")]
    pub watch_paths: Vec<PathBuf>,
    /// URL of this machine's CouchDB (default http://127.0.0.1:5984).
    #[arg(long)]
    pub couchdb_url: Option<String>,
    /// Database of this machine's CouchDB (default mosaicfs).
    #[arg(long)]
    pub couchdb_database: Option<String>,
    /// User of this machine's CouchDB.
    #[arg(long)]
    pub couchdb_user: Option<String>,
    /// Password of this machine's CouchDB.
    #[arg(long, env = "MOSAICFS_COUCHDB_PASSWORD", hide_env_values = true)]
    pub couchdb_password: Option<String>,
    /// URL of the control plane's CouchDB (the replication peer).
    #[arg(long)]
    pub replication_url: Option<String>,
    /// Database of the control plane's CouchDB (default mosaicfs).
    #[arg(long)]
    pub replication_database: Option<String>,
    /// User of the control plane's CouchDB.
    #[arg(long)]
    pub replication_user: Option<String>,
    /// Password of the control plane's CouchDB.
    #[arg(long, env = "MOSAICFS_REPLICATION_PASSWORD", hide_env_values = true)]
    pub replication_password: Option<String>,
    /// State directory (holds `node_id`; default /var/lib/mosaicfs).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Display name of this node (default the host name).
    #[arg(long)]
    pub friendly_name: Option<String>,
    /// Expected SHA-256 fingerprint of the control plane's certificate
    /// (`AA:BB:…`, as `GET /health` reports it). Required without a terminal.
    #[arg(long)]
    pub tls_fingerprint: Option<String>,
    /// Address this node's transfer endpoint listens on: peers read this
    /// node's files from it [default: 0.0.0.0:7847].
    #[arg(long, value_name = "ADDR:PORT")]
    pub transfer_listen: Option<String>,
    /// URL peers use to reach the transfer endpoint (http://host:7847)
    /// [default: derived from the host name and the listen port].
    #[arg(long, value_name = "URL")]
    pub transfer_url: Option<String>,
    /// Do not serve this node's files to peers (writes no `[transfer]`
    /// table: other nodes then cannot read files that live only here).
    #[arg(long, conflicts_with_all = ["transfer_listen", "transfer_url"])]
    pub no_transfer: bool,
    /// Also install a service that mounts the virtual filesystem here at
    /// boot (`mosaicfs-vfs mount`, the binary next to this one), after the
    /// agent's.
    #[arg(long, value_name = "PATH")]
    pub mountpoint: Option<PathBuf>,
    /// Do not install or start a service and do not change system settings
    /// (the inotify limit); print what to do instead.
    #[arg(long)]
    pub no_service: bool,
    /// Where to write the systemd unit or launchd plist (default
    /// /etc/systemd/system or /Library/LaunchDaemons). The service is only
    /// started, and the inotify limit only raised, with the default.
    #[arg(long)]
    pub service_dir: Option<PathBuf>,
    /// Take defaults without asking and overwrite an existing config file.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

/// Why `init` stopped. Every message is one line.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// A value is missing or malformed; nothing was contacted or written.
    #[error("{0}")]
    Usage(String),
    /// The settings would not make a valid `agent.toml`.
    #[error("the settings are invalid: {0}")]
    Config(#[from] crate::config::ConfigError),
    /// The control plane could not be reached, or is not one.
    #[error("cannot reach the control plane at {url}: {detail}")]
    Unreachable {
        /// The URL tried.
        url: String,
        /// Why.
        detail: String,
    },
    /// The certificate is not the expected one, or was not trusted.
    #[error("{0}")]
    Untrusted(String),
    /// Login failed.
    #[error("the control plane rejected the access key or secret")]
    Rejected,
    /// Another API failure.
    #[error("{0}")]
    Api(String),
    /// A prompt, file or command failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
}

impl InitError {
    /// Exit status: 2 for usage and settings errors, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            InitError::Usage(_) | InitError::Config(_) => 2,
            _ => 1,
        }
    }
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> InitError {
    let what = what.into();
    move |source| InitError::Io { what, source }
}

/// How `init` asks questions; [`Terminal`] in the binary, scripted in tests.
pub trait Prompt {
    /// A line of text; an empty answer takes `default`.
    fn ask(&mut self, question: &str, default: Option<&str>) -> std::io::Result<String>;
    /// A secret, read without echo.
    fn secret(&mut self, question: &str) -> std::io::Result<String>;
    /// Yes or no.
    fn confirm(&mut self, question: &str, default: bool) -> std::io::Result<bool>;
}

/// Questions on the controlling terminal (the secret with echo off).
pub struct Terminal;

impl Prompt for Terminal {
    fn ask(&mut self, question: &str, default: Option<&str>) -> std::io::Result<String> {
        match default {
            Some(d) if !d.is_empty() => print!("{question} [{d}]: "),
            _ => print!("{question}: "),
        }
        std::io::stdout().flush()?;
        let mut line = String::new();
        if std::io::stdin().read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "end of input",
            ));
        }
        let line = line.trim();
        Ok(match (line.is_empty(), default) {
            (true, Some(d)) => d.to_string(),
            _ => line.to_string(),
        })
    }

    fn secret(&mut self, question: &str) -> std::io::Result<String> {
        rpassword::prompt_password(format!("{question}: "))
    }

    fn confirm(&mut self, question: &str, default: bool) -> std::io::Result<bool> {
        let hint = if default { "Y/n" } else { "y/N" };
        loop {
            let a = self.ask(&format!("{question} [{hint}]"), None)?;
            match a.to_ascii_lowercase().as_str() {
                "" => return Ok(default),
                "y" | "yes" => return Ok(true),
                "n" | "no" => return Ok(false),
                _ => println!("Please answer y or n."),
            }
        }
    }
}

/// What `init` did.
#[derive(Debug, Clone)]
pub struct InitOutcome {
    /// The registered node id.
    pub node_id: String,
    /// The config file written.
    pub config_path: PathBuf,
    /// The control plane's certificate fingerprint.
    pub fingerprint: String,
    /// The service file written, if any.
    pub service_file: Option<PathBuf>,
}

/// The values `init` needs, after flags and prompts.
#[derive(Debug, Clone)]
struct Settings {
    control_plane_url: String,
    access_key_id: String,
    secret_key: String,
    watch_paths: Vec<String>,
    couchdb: CouchSettings,
    replication: CouchSettings,
    state_dir: PathBuf,
    friendly_name: Option<String>,
    /// The `[transfer]` table; `None` with --no-transfer.
    transfer: Option<TransferSettings>,
}

#[derive(Debug, Clone)]
struct TransferSettings {
    listen: String,
    advertise_url: Option<String>,
}

#[derive(Debug, Clone)]
struct CouchSettings {
    url: String,
    database: String,
    user: Option<String>,
    password: Option<String>,
}

/// Runs `init`. `prompt` is `None` when there is no terminal: then every
/// required value must come from a flag. `config_path` is where agent.toml
/// goes (`config_explicit`: given on the command line, so not asked for).
pub async fn run(
    args: InitArgs,
    config_path: PathBuf,
    config_explicit: bool,
    mut prompt: Option<&mut dyn Prompt>,
) -> Result<InitOutcome, InitError> {
    if args.yes {
        prompt = None;
    }
    let platform = match std::env::consts::OS {
        "linux" => "linux",
        "macos" => "macos",
        other => {
            return Err(InitError::Usage(format!(
                "init supports linux and macos, not {other}"
            )));
        }
    };
    let config_path = match (&mut prompt, config_explicit) {
        (Some(p), false) => PathBuf::from(ask(
            *p,
            "Config file",
            Some(&config_path.display().to_string()),
        )?),
        _ => config_path,
    };
    let settings = gather(&args, &mut prompt)?;
    let toml_text = render_config(&settings, None);
    // Validate everything a config file would check before any network call.
    Config::parse(&config_path, &toml_text)?;
    if config_path.exists() && !args.yes {
        let overwrite = match &mut prompt {
            Some(p) => p
                .confirm(
                    &format!("{} exists. Overwrite it?", config_path.display()),
                    false,
                )
                .map_err(io_err("reading the answer"))?,
            None => false,
        };
        if !overwrite {
            return Err(InitError::Usage(format!(
                "{} already exists; pass --yes to overwrite it",
                config_path.display()
            )));
        }
    }

    // 1. Reach the control plane and decide whether to trust its certificate.
    let base = settings.control_plane_url.trim_end_matches('/').to_string();
    let (fingerprint, health) = probe(&base, args.tls_fingerprint.as_deref()).await?;
    println!("Control plane certificate SHA-256 fingerprint:\n  {fingerprint}");
    if let Some(reported) = health.get("tls_fingerprint").and_then(Value::as_str)
        && !same_fingerprint(reported, &fingerprint)
    {
        println!(
            "Note: the server reports {reported}; something between you and it (a proxy) presents another certificate."
        );
    }
    if args.tls_fingerprint.is_none() {
        match &mut prompt {
            Some(p) => {
                let ok = p
                    .confirm(
                        "Compare it with the server's (mosaicfs-server prints it at start). Trust it?",
                        false,
                    )
                    .map_err(io_err("reading the answer"))?;
                if !ok {
                    return Err(InitError::Untrusted(
                        "the control plane's certificate was not trusted; nothing was written"
                            .into(),
                    ));
                }
            }
            None => {
                return Err(InitError::Untrusted(format!(
                    "pass --tls-fingerprint {fingerprint} after checking it against the server's (no terminal to confirm it on)"
                )));
            }
        }
    }

    // 2. Every further request is pinned to that certificate.
    let client = pinned_client(Some(&fingerprint))?;
    let token = login(&client, &base, &settings).await?;
    let state_dir = &settings.state_dir;
    let existing_id = read_node_id(state_dir)?;
    let node_id = register(
        &client,
        &base,
        &token,
        &settings,
        platform,
        existing_id.as_deref(),
    )
    .await?;
    println!("Registered node {node_id}.");

    // 3. Write: node id, config, service.
    if existing_id.as_deref() != Some(node_id.as_str()) {
        std::fs::create_dir_all(state_dir)
            .map_err(io_err(format!("creating {}", state_dir.display())))?;
        write_atomic(
            &state_dir.join("node_id"),
            format!("{node_id}\n").as_bytes(),
            0o644,
        )?;
    }
    let toml_text = render_config(&settings, Some(&fingerprint));
    Config::parse(&config_path, &toml_text)?;
    if let Some(dir) = config_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
    }
    write_atomic(&config_path, toml_text.as_bytes(), 0o600)?;
    println!("Wrote {}.", config_path.display());

    let service_file = if args.no_service {
        println!(
            "No service installed (--no-service). Start the agent with:\n  {}",
            run_command(&config_path)
        );
        None
    } else {
        // System settings change only with a system install, never for a
        // service file written elsewhere (tests, packaging).
        if args.service_dir.is_none() {
            raise_inotify_limit();
        }
        let agent = install_service(&config_path, args.service_dir.as_deref())?;
        if let Some(mp) = &args.mountpoint {
            install_vfs_service(&config_path, mp, args.service_dir.as_deref())?;
        }
        Some(agent)
    };
    Ok(InitOutcome {
        node_id,
        config_path,
        fingerprint,
        service_file,
    })
}

fn ask(p: &mut dyn Prompt, q: &str, default: Option<&str>) -> Result<String, InitError> {
    p.ask(q, default).map_err(io_err("reading the answer"))
}

/// Fills the settings from flags, asking for what is missing.
fn gather(args: &InitArgs, prompt: &mut Option<&mut dyn Prompt>) -> Result<Settings, InitError> {
    let control_plane_url = need(
        prompt,
        &args.control_plane_url,
        "--control-plane-url",
        "Control plane URL (https://host:8443)",
        None,
    )?;
    let access_key_id = need(
        prompt,
        &args.access_key_id,
        "--access-key-id",
        "Access key id",
        None,
    )?;
    let secret_key = match (&args.secret_key, &args.secret_key_file) {
        (Some(s), _) => s.clone(),
        (None, Some(f)) => std::fs::read_to_string(f)
            .map_err(io_err(format!("reading {}", f.display())))?
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_string(),
        (None, None) => match prompt {
            Some(p) => p
                .secret("Secret key")
                .map_err(io_err("reading the secret"))?,
            None => {
                return Err(InitError::Usage(
                    "missing --secret-key-file (or MOSAICFS_SECRET_KEY) (no terminal to ask on)"
                        .into(),
                ));
            }
        },
    };
    let mut watch_paths: Vec<String> = args
        .watch_paths
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    if watch_paths.is_empty() {
        match prompt {
            Some(p) => {
                let a = ask(
                    *p,
                    "Directories to index (absolute, separated by commas)",
                    None,
                )?;
                watch_paths = a
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect();
            }
            None => {
                return Err(InitError::Usage(
                    "missing --watch-path (repeat it for several directories) (no terminal to ask on)"
                        .into(),
                ));
            }
        }
    }
    let couchdb = couch_settings(
        prompt,
        CouchFlags {
            url: &args.couchdb_url,
            database: &args.couchdb_database,
            user: &args.couchdb_user,
            password: &args.couchdb_password,
        },
        "--couchdb-url",
        "Local CouchDB URL",
        Some("http://127.0.0.1:5984"),
        "Local CouchDB",
    )?;
    let replication = couch_settings(
        prompt,
        CouchFlags {
            url: &args.replication_url,
            database: &args.replication_database,
            user: &args.replication_user,
            password: &args.replication_password,
        },
        "--replication-url",
        "Control plane CouchDB URL (replication)",
        None,
        "Control plane CouchDB",
    )?;
    let state_dir = match (&args.state_dir, &mut *prompt) {
        (Some(d), _) => d.clone(),
        (None, Some(p)) => PathBuf::from(ask(*p, "State directory", Some(DEFAULT_STATE_DIR))?),
        (None, None) => PathBuf::from(DEFAULT_STATE_DIR),
    };
    let friendly_name = match (&args.friendly_name, &mut *prompt) {
        (Some(n), _) => Some(n.clone()),
        (None, Some(p)) => {
            let host = gethostname::gethostname().to_string_lossy().into_owned();
            Some(ask(*p, "Name of this node", Some(&host))?)
        }
        (None, None) => None,
    };
    let transfer = if args.no_transfer {
        None
    } else {
        let default_listen = format!("0.0.0.0:{}", crate::config::DEFAULT_TRANSFER_PORT);
        let listen = match (&args.transfer_listen, &mut *prompt) {
            (Some(l), _) => l.clone(),
            (None, Some(p)) => ask(
                *p,
                "Transfer endpoint (serves this node's files to peers) listens on",
                Some(&default_listen),
            )?,
            (None, None) => default_listen,
        };
        Some(TransferSettings {
            listen,
            advertise_url: args.transfer_url.clone(),
        })
    };
    Ok(Settings {
        control_plane_url,
        access_key_id,
        secret_key,
        watch_paths,
        couchdb,
        replication,
        state_dir,
        friendly_name,
        transfer,
    })
}

/// The flags of one CouchDB connection (this machine's or the control plane's).
struct CouchFlags<'a> {
    url: &'a Option<String>,
    database: &'a Option<String>,
    user: &'a Option<String>,
    password: &'a Option<String>,
}

/// One CouchDB connection from its flags, asking for what is missing: the
/// URL (required), the user (optional) and, only when there is a user, the
/// password. `label` starts the user and password questions.
fn couch_settings(
    prompt: &mut Option<&mut dyn Prompt>,
    flags: CouchFlags<'_>,
    url_flag: &str,
    url_question: &str,
    url_default: Option<&str>,
    label: &str,
) -> Result<CouchSettings, InitError> {
    let url = need(prompt, flags.url, url_flag, url_question, url_default)?;
    let database = flags.database.clone().unwrap_or_else(|| "mosaicfs".into());
    let user = optional(flags.user, prompt, &format!("{label} user (empty: none)"))?;
    let password = password(
        flags.password,
        user.is_some(),
        prompt,
        &format!("{label} password"),
    )?;
    Ok(CouchSettings {
        url,
        database,
        user,
        password,
    })
}

/// A required value: the flag, else a prompt, else the default, else an
/// error naming the flag.
fn need(
    prompt: &mut Option<&mut dyn Prompt>,
    value: &Option<String>,
    flag: &str,
    question: &str,
    default: Option<&str>,
) -> Result<String, InitError> {
    if let Some(v) = value {
        return Ok(v.clone());
    }
    match prompt {
        Some(p) => {
            let a = ask(*p, question, default)?;
            if a.is_empty() {
                Err(InitError::Usage(format!(
                    "{question}: an answer is required"
                )))
            } else {
                Ok(a)
            }
        }
        None => match default {
            Some(d) => Ok(d.to_string()),
            None => Err(InitError::Usage(format!(
                "missing {flag} (no terminal to ask on)"
            ))),
        },
    }
}

fn optional(
    value: &Option<String>,
    prompt: &mut Option<&mut dyn Prompt>,
    question: &str,
) -> Result<Option<String>, InitError> {
    let v = match (value, prompt) {
        (Some(v), _) => v.clone(),
        (None, Some(p)) => ask(*p, question, None)?,
        (None, None) => String::new(),
    };
    Ok(Some(v).filter(|v| !v.is_empty()))
}

fn password(
    value: &Option<String>,
    has_user: bool,
    prompt: &mut Option<&mut dyn Prompt>,
    question: &str,
) -> Result<Option<String>, InitError> {
    match (value, prompt) {
        (Some(v), _) => Ok(Some(v.clone())),
        (None, Some(p)) if has_user => Ok(Some(
            p.secret(question).map_err(io_err("reading the password"))?,
        )),
        _ => Ok(None),
    }
}

/// A TOML string literal (quoted and escaped).
fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// The text of agent.toml, in the format [`Config::parse`] reads, with the
/// confirmed fingerprint as `control_plane_fingerprint`.
fn render_config(s: &Settings, fingerprint: Option<&str>) -> String {
    let mut t = String::new();
    t.push_str("# Written by `mosaicfs-agent init`. Contains a secret: keep it mode 0600.\n");
    t.push_str(&format!(
        "control_plane_url = {}\n",
        q(&s.control_plane_url)
    ));
    if let Some(fp) = fingerprint {
        t.push_str(
            "# SHA-256 fingerprint of the control plane's certificate, confirmed at init.\n",
        );
        t.push_str(&format!("control_plane_fingerprint = {}\n", q(fp)));
    }
    t.push_str(&format!("access_key_id = {}\n", q(&s.access_key_id)));
    t.push_str(&format!("secret_key = {}\n", q(&s.secret_key)));
    let paths: Vec<String> = s.watch_paths.iter().map(|p| q(p)).collect();
    t.push_str(&format!("watch_paths = [{}]\n", paths.join(", ")));
    t.push_str(&format!(
        "state_dir = {}\n",
        q(&s.state_dir.display().to_string())
    ));
    if let Some(n) = &s.friendly_name {
        t.push_str(&format!("friendly_name = {}\n", q(n)));
    }
    for (table, c) in [("couchdb", &s.couchdb), ("replication", &s.replication)] {
        t.push_str(&format!("\n[{table}]\nurl = {}\n", q(&c.url)));
        t.push_str(&format!("database = {}\n", q(&c.database)));
        if let Some(u) = &c.user {
            t.push_str(&format!("username = {}\n", q(u)));
        }
        if let Some(p) = &c.password {
            t.push_str(&format!("password = {}\n", q(p)));
        }
    }
    match &s.transfer {
        Some(tr) => {
            t.push_str("\n# Serves this node's files to peers (signed, short-lived tokens).\n");
            t.push_str(&format!("[transfer]\nlisten = {}\n", q(&tr.listen)));
            if let Some(u) = &tr.advertise_url {
                t.push_str(&format!("advertise_url = {}\n", q(u)));
            }
        }
        None => t.push_str(
            "\n# No [transfer] table (init --no-transfer): peers cannot read files that live only here.\n",
        ),
    }
    t
}

// ---------------------------------------------------------------------------
// TLS: trust on first use, then pinning.

fn client_with(verifier: PinnedVerifier) -> Result<reqwest::Client, InitError> {
    let tls = verifier
        .client_config()
        .map_err(|e| InitError::Api(format!("TLS setup failed: {e}")))?;
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(HTTP_TIMEOUT)
        .connect_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| InitError::Api(format!("HTTP client setup failed: {}", chain(&e))))
}

fn new_verifier(expected: Option<&str>) -> (PinnedVerifier, Arc<Mutex<Option<String>>>) {
    let v = PinnedVerifier::new(expected);
    let seen = v.seen();
    (v, seen)
}

/// A client that accepts only the certificate with `fingerprint` (or, with
/// `None`, any certificate: only for the first contact).
pub fn pinned_client(fingerprint: Option<&str>) -> Result<reqwest::Client, InitError> {
    client_with(new_verifier(fingerprint).0)
}

/// `GET {base}/health`, trusting the certificate on first use (or only the
/// one with `expected`). Returns the leaf's fingerprint and the health body.
pub async fn probe(base: &str, expected: Option<&str>) -> Result<(String, Value), InitError> {
    let (verifier, seen) = new_verifier(expected);
    let client = client_with(verifier)?;
    let url = format!("{base}/health");
    let unreachable = |detail: String| InitError::Unreachable {
        url: base.to_string(),
        detail,
    };
    let resp = match client.get(&url).send().await {
        Ok(r) => r,
        Err(e) => {
            let seen = seen.lock().ok().and_then(|s| s.clone());
            if let (Some(want), Some(got)) = (expected, &seen)
                && !same_fingerprint(want, got)
            {
                return Err(InitError::Untrusted(format!(
                    "the control plane's certificate fingerprint {got} does not match --tls-fingerprint {want}; nothing was written"
                )));
            }
            return Err(unreachable(chain(&e)));
        }
    };
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if body.get("tls_fingerprint").is_none() {
        return Err(unreachable(format!(
            "GET /health answered {status} without a MosaicFS health report; is this the control plane's URL?"
        )));
    }
    let fp =
        seen.lock().ok().and_then(|s| s.clone()).ok_or_else(|| {
            unreachable("no certificate was presented (is the URL https?)".into())
        })?;
    Ok((fp, body))
}

/// The error and its sources on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let t = s.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        cur = s.source();
    }
    parts.join(": ").replace('\n', " ")
}

/// The `message` of an API error body, or the status.
async fn api_message(resp: reqwest::Response) -> String {
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    let msg = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| text.chars().take(200).collect());
    format!("{status}: {}", msg.replace('\n', " "))
}

async fn login(client: &reqwest::Client, base: &str, s: &Settings) -> Result<String, InitError> {
    let resp = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"access_key_id": s.access_key_id, "secret_key": s.secret_key}))
        .send()
        .await
        .map_err(|e| InitError::Unreachable {
            url: base.to_string(),
            detail: chain(&e),
        })?;
    match resp.status().as_u16() {
        200 => {}
        401 | 403 => return Err(InitError::Rejected),
        _ => {
            return Err(InitError::Api(format!(
                "login failed: {}",
                api_message(resp).await
            )));
        }
    }
    let body: Value = resp
        .json()
        .await
        .map_err(|e| InitError::Api(format!("login answer unreadable: {}", chain(&e))))?;
    body.get("token")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| InitError::Api("the login answer has no token".into()))
}

/// Registers the node (`POST /api/nodes`) and returns its id.
async fn register(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    s: &Settings,
    platform: &str,
    node_id: Option<&str>,
) -> Result<String, InitError> {
    let friendly_name = s
        .friendly_name
        .clone()
        .unwrap_or_else(|| gethostname::gethostname().to_string_lossy().into_owned());
    let mut body = json!({
        "friendly_name": friendly_name,
        "platform": platform,
        "access_key_id": s.access_key_id,
        "watch_paths": s.watch_paths,
    });
    if let Some(id) = node_id {
        body["node_id"] = json!(id);
    }
    let resp = client
        .post(format!("{base}/api/nodes"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .map_err(|e| InitError::Unreachable {
            url: base.to_string(),
            detail: chain(&e),
        })?;
    match resp.status().as_u16() {
        200 | 201 => {}
        409 => {
            return Err(InitError::Api(format!(
                "node {} is registered with another access key ({}); remove {} to register a new node",
                node_id.unwrap_or("?"),
                api_message(resp).await,
                s.state_dir.join("node_id").display()
            )));
        }
        404 | 405 => {
            return Err(InitError::Api(
                "this control plane cannot register nodes (POST /api/nodes is missing); upgrade mosaicfs-server".into(),
            ));
        }
        _ => {
            return Err(InitError::Api(format!(
                "node registration failed: {}",
                api_message(resp).await
            )));
        }
    }
    let doc: Value = resp
        .json()
        .await
        .map_err(|e| InitError::Api(format!("registration answer unreadable: {}", chain(&e))))?;
    let id = doc
        .get("node_id")
        .and_then(Value::as_str)
        .ok_or_else(|| InitError::Api("the registration answer has no node_id".into()))?;
    if !mosaicfs_common::ids::is_valid_node_id(id) {
        return Err(InitError::Api(format!(
            "the control plane assigned an invalid node id {id:?}"
        )));
    }
    Ok(id.to_string())
}

/// `{state_dir}/node_id` if it exists.
fn read_node_id(state_dir: &Path) -> Result<Option<String>, InitError> {
    let path = state_dir.join("node_id");
    match std::fs::read_to_string(&path) {
        Ok(t) => {
            let id = t.trim().to_string();
            if mosaicfs_common::ids::is_valid_node_id(&id) {
                Ok(Some(id))
            } else {
                Err(InitError::Usage(format!(
                    "{} holds {id:?}, which is not a node id; fix or remove it",
                    path.display()
                )))
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(format!("reading {}", path.display()))(e)),
    }
}

/// Writes `bytes` to `path` atomically with `mode` (see
/// [`fsutil::write_atomic`]); the directory must exist.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), InitError> {
    fsutil::write_atomic(path, bytes, Some(mode))
        .map_err(io_err(format!("writing {}", path.display())))
}

// ---------------------------------------------------------------------------
// Service and system settings.

fn agent_exe() -> String {
    std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "/usr/local/bin/mosaicfs-agent".into())
}

fn run_command(config: &Path) -> String {
    format!("{} --config {} run", agent_exe(), config.display())
}

/// The systemd unit running the agent with `config`.
pub fn systemd_unit(exe: &str, config: &Path) -> String {
    format!(
        "# Written by `mosaicfs-agent init`.\n\
         [Unit]\n\
         Description=MosaicFS agent\n\
         Wants=network-online.target\n\
         After=network-online.target\n\n\
         [Service]\n\
         ExecStart={exe} --config {config} run\n\
         Restart=on-failure\n\
         RestartSec=5\n\
         Environment=MOSAICFS_LOG=info\n\n\
         [Install]\n\
         WantedBy=multi-user.target\n",
        config = config.display()
    )
}

/// The launchd property list running the agent with `config`.
pub fn launchd_plist(exe: &str, config: &Path) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key><string>{LAUNCHD_LABEL}</string>
  <key>ProgramArguments</key>
  <array><string>{exe}</string><string>--config</string><string>{config}</string><string>run</string></array>
  <key>RunAtLoad</key><true/>
  <key>KeepAlive</key><true/>
</dict>
</plist>
"#,
        config = config.display()
    )
}

/// The `mosaicfs-vfs` binary installed beside this one.
fn vfs_exe() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("mosaicfs-vfs")))
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "/usr/local/bin/mosaicfs-vfs".into())
}

/// The systemd unit mounting the virtual filesystem at `mountpoint`.
pub fn vfs_systemd_unit(exe: &str, config: &Path, mountpoint: &Path) -> String {
    format!(
        "# Written by `mosaicfs-agent init --mountpoint`.\n\
         [Unit]\n\
         Description=MosaicFS mount at {mp}\n\
         Wants=network-online.target {UNIT_NAME}\n\
         After=network-online.target {UNIT_NAME}\n\n\
         [Service]\n\
         ExecStartPre=/bin/mkdir -p {mp}\n\
         ExecStart={exe} mount --config {config} --mountpoint {mp}\n\
         Restart=on-failure\n\
         RestartSec=5\n\
         Environment=MOSAICFS_LOG=info\n\n\
         [Install]\n\
         WantedBy=multi-user.target\n",
        config = config.display(),
        mp = mountpoint.display()
    )
}

/// The launchd property list mounting the virtual filesystem at `mountpoint`.
pub fn vfs_launchd_plist(exe: &str, config: &Path, mountpoint: &Path) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key><string>{VFS_LAUNCHD_LABEL}</string>
  <key>ProgramArguments</key>
  <array><string>{exe}</string><string>mount</string><string>--config</string><string>{config}</string><string>--mountpoint</string><string>{mp}</string></array>
  <key>RunAtLoad</key><true/>
  <key>KeepAlive</key><true/>
</dict>
</plist>
"#,
        config = config.display(),
        mp = mountpoint.display()
    )
}

/// The service files `init` may write, in `dir` (default the system
/// location): the agent's, then the mount's.
pub fn service_files(dir: Option<&Path>) -> [PathBuf; 2] {
    let macos = cfg!(target_os = "macos");
    let dir = dir.unwrap_or(Path::new(if macos { LAUNCHD_DIR } else { SYSTEMD_DIR }));
    if macos {
        [
            dir.join(format!("{LAUNCHD_LABEL}.plist")),
            dir.join(format!("{VFS_LAUNCHD_LABEL}.plist")),
        ]
    } else {
        [dir.join(UNIT_NAME), dir.join(VFS_UNIT_NAME)]
    }
}

/// Writes the mount's service file; starts it like the agent's.
fn install_vfs_service(
    config: &Path,
    mountpoint: &Path,
    dir: Option<&Path>,
) -> Result<PathBuf, InitError> {
    let macos = cfg!(target_os = "macos");
    let exe = vfs_exe();
    let path = service_files(dir)[1].clone();
    let text = if macos {
        vfs_launchd_plist(&exe, config, mountpoint)
    } else {
        vfs_systemd_unit(&exe, config, mountpoint)
    };
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(io_err(format!("creating {}", d.display())))?;
    }
    write_atomic(&path, text.as_bytes(), 0o644)?;
    println!("Wrote {}.", path.display());
    let started = if dir.is_some() {
        false
    } else if macos {
        run_cmd("launchctl", &["load", "-w", &path.display().to_string()])
    } else if Path::new("/run/systemd/system").exists() {
        run_cmd("systemctl", &["daemon-reload"])
            && run_cmd("systemctl", &["enable", "--now", "mosaicfs-vfs"])
    } else {
        false
    };
    if started {
        println!(
            "The virtual filesystem is mounted at {} by a service.",
            mountpoint.display()
        );
    } else {
        println!(
            "Mount it by hand with:\n  {exe} mount --config {} --mountpoint {}",
            config.display(),
            mountpoint.display()
        );
    }
    Ok(path)
}

/// `mosaicfs-agent uninstall`: stops and removes the services `init` wrote
/// (agent and mount). Leaves agent.toml, the state directory and the
/// databases alone. Returns the files removed.
pub fn uninstall(dir: Option<&Path>) -> Result<Vec<PathBuf>, InitError> {
    let macos = cfg!(target_os = "macos");
    let system = dir.is_none();
    let mut removed = Vec::new();
    // The mount first: it reads the agent's database.
    for (path, name) in service_files(dir)
        .into_iter()
        .rev()
        .zip(["mosaicfs-vfs", "mosaicfs-agent"])
    {
        if !path.exists() {
            continue;
        }
        if system {
            if macos {
                run_cmd("launchctl", &["unload", "-w", &path.display().to_string()]);
            } else if Path::new("/run/systemd/system").exists() {
                run_cmd("systemctl", &["disable", "--now", name]);
            }
        }
        std::fs::remove_file(&path).map_err(io_err(format!("removing {}", path.display())))?;
        println!("Removed {}.", path.display());
        removed.push(path);
    }
    if system && !macos && Path::new("/run/systemd/system").exists() {
        run_cmd("systemctl", &["daemon-reload"]);
    }
    if removed.is_empty() {
        println!("No MosaicFS service files found; nothing to remove.");
    }
    Ok(removed)
}

/// Writes the service file; starts it when it went to the system location
/// and the service manager is running, else says how to start the agent.
fn install_service(config: &Path, dir: Option<&Path>) -> Result<PathBuf, InitError> {
    let exe = agent_exe();
    let macos = cfg!(target_os = "macos");
    let (default_dir, file, text) = if macos {
        (
            LAUNCHD_DIR,
            format!("{LAUNCHD_LABEL}.plist"),
            launchd_plist(&exe, config),
        )
    } else {
        (
            SYSTEMD_DIR,
            UNIT_NAME.to_string(),
            systemd_unit(&exe, config),
        )
    };
    let dir = dir.unwrap_or(Path::new(default_dir));
    std::fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
    let path = dir.join(file);
    write_atomic(&path, text.as_bytes(), 0o644)?;
    println!("Wrote {}.", path.display());
    let system_location = dir == Path::new(default_dir);
    let started = if !system_location {
        false
    } else if macos {
        run_cmd("launchctl", &["load", "-w", &path.display().to_string()])
    } else if Path::new("/run/systemd/system").exists() {
        run_cmd("systemctl", &["daemon-reload"])
            && run_cmd("systemctl", &["enable", "--now", "mosaicfs-agent"])
    } else {
        println!("No service manager is running (systemd is not PID 1).");
        false
    };
    if started {
        println!("The agent is running as a service.");
    } else {
        println!("Start the agent by hand with:\n  {}", run_command(config));
    }
    Ok(path)
}

fn run_cmd(cmd: &str, args: &[&str]) -> bool {
    match std::process::Command::new(cmd).args(args).status() {
        Ok(s) if s.success() => true,
        Ok(s) => {
            println!("`{cmd} {}` failed ({s}).", args.join(" "));
            false
        }
        Err(e) => {
            println!("cannot run {cmd}: {e}");
            false
        }
    }
}

/// Raises `fs.inotify.max_user_watches` to [`INOTIFY_WATCHES`] on Linux
/// when it is lower and writable; else says how (plan 11.4).
fn raise_inotify_limit() {
    if !cfg!(target_os = "linux") {
        return;
    }
    let Some(current) = std::fs::read_to_string(INOTIFY_SYSCTL)
        .ok()
        .and_then(|t| t.trim().parse::<u64>().ok())
    else {
        return;
    };
    if current >= INOTIFY_WATCHES {
        return;
    }
    match std::fs::write(INOTIFY_SYSCTL, format!("{INOTIFY_WATCHES}\n")) {
        Ok(()) => println!(
            "Raised fs.inotify.max_user_watches from {current} to {INOTIFY_WATCHES} (until reboot; \
             add `fs.inotify.max_user_watches = {INOTIFY_WATCHES}` to /etc/sysctl.d/90-mosaicfs.conf to keep it)."
        ),
        Err(_) => println!(
            "fs.inotify.max_user_watches is {current}; raise it with \
             `sysctl -w fs.inotify.max_user_watches={INOTIFY_WATCHES}` and add \
             `fs.inotify.max_user_watches = {INOTIFY_WATCHES}` to /etc/sysctl.d/90-mosaicfs.conf."
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            control_plane_url: "https://cp:8443".into(),
            access_key_id: "MOSAICFS_0123456789ABCDEF".into(),
            secret_key: "s\"e\\cret".into(),
            watch_paths: vec!["/home/u/Docs".into(), "/srv/with \"quote\"".into()],
            couchdb: CouchSettings {
                url: "http://127.0.0.1:5984".into(),
                database: "mosaicfs".into(),
                user: Some("admin".into()),
                password: Some("pw".into()),
            },
            replication: CouchSettings {
                url: "https://cp:6984".into(),
                database: "mosaicfs".into(),
                user: None,
                password: None,
            },
            state_dir: "/var/lib/mosaicfs".into(),
            friendly_name: Some("laptop".into()),
            transfer: Some(TransferSettings {
                listen: "0.0.0.0:7847".into(),
                advertise_url: Some("http://laptop.lan:7847".into()),
            }),
        }
    }

    #[test]
    fn the_transfer_table_is_written_unless_turned_off() {
        let c = Config::parse(Path::new("agent.toml"), &render_config(&settings(), None)).unwrap();
        let t = c.transfer.expect("a [transfer] table");
        assert_eq!(t.listen, "0.0.0.0:7847".parse().unwrap());
        assert_eq!(t.advertise_url.as_deref(), Some("http://laptop.lan:7847"));

        let mut off = settings();
        off.transfer = None;
        let text = render_config(&off, None);
        assert!(text.contains("--no-transfer"), "{text}");
        assert_eq!(
            Config::parse(Path::new("agent.toml"), &text)
                .unwrap()
                .transfer,
            None
        );
    }

    #[test]
    fn a_bad_transfer_address_is_refused_naming_the_field() {
        let mut bad = settings();
        bad.transfer = Some(TransferSettings {
            listen: "not-an-address".into(),
            advertise_url: None,
        });
        let e = Config::parse(Path::new("agent.toml"), &render_config(&bad, None)).unwrap_err();
        assert!(e.to_string().contains("transfer.listen"), "{e}");
    }

    #[test]
    fn rendered_config_round_trips_through_config_parse() {
        let fp = fingerprint(b"cert");
        let text = render_config(&settings(), Some(&fp));
        let c = Config::parse(Path::new("agent.toml"), &text).unwrap();
        assert_eq!(c.secret_key, "s\"e\\cret");
        assert_eq!(c.watch_paths[1], PathBuf::from("/srv/with \"quote\""));
        assert_eq!(c.couchdb.password.as_deref(), Some("pw"));
        assert_eq!(c.replication.username, None);
        assert_eq!(c.friendly_name, "laptop");
        assert!(text.contains("# SHA-256 fingerprint of the control plane"));
        assert_eq!(c.control_plane_fingerprint.as_deref(), Some(fp.as_str()));
    }

    #[test]
    fn fingerprints_compare_without_case_or_separators() {
        let fp = fingerprint(b"cert");
        assert_eq!(fp.len(), 32 * 3 - 1);
        assert!(same_fingerprint(&fp, &fp.replace(':', "").to_lowercase()));
        assert!(!same_fingerprint(&fp, &fingerprint(b"other")));
        assert!(!same_fingerprint("", ""));
    }

    #[test]
    fn unattended_missing_values_name_the_flag() {
        let base = InitArgs {
            control_plane_url: Some("https://cp:8443".into()),
            access_key_id: Some("MOSAICFS_0123456789ABCDEF".into()),
            secret_key: Some("x".into()),
            watch_paths: vec!["/w".into()],
            replication_url: Some("http://cp:5984".into()),
            ..Default::default()
        };
        gather(&base, &mut None).unwrap();
        type Unset = fn(&mut InitArgs);
        let cases: [(Unset, &str); 4] = [
            (|a| a.control_plane_url = None, "--control-plane-url"),
            (|a| a.secret_key = None, "--secret-key-file"),
            (|a| a.watch_paths.clear(), "--watch-path"),
            (|a| a.replication_url = None, "--replication-url"),
        ];
        for (unset, flag) in cases {
            let mut a = base.clone();
            unset(&mut a);
            let e = gather(&a, &mut None).unwrap_err().to_string();
            assert!(e.contains(flag), "{e}");
        }
    }

    #[test]
    fn service_files_name_the_config() {
        let unit = systemd_unit("/usr/bin/mosaicfs-agent", Path::new("/etc/m/agent.toml"));
        assert!(unit.contains("ExecStart=/usr/bin/mosaicfs-agent --config /etc/m/agent.toml run"));
        let plist = launchd_plist("/usr/bin/mosaicfs-agent", Path::new("/etc/m/agent.toml"));
        assert!(plist.contains("<string>/etc/m/agent.toml</string>"));
    }
}
