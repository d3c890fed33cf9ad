//! `agent.toml`: the raw file format and the validated [`Config`].
//!
//! Every field is optional in [`RawConfig`] so that a missing field gets our
//! own one-line error naming the file and the field, instead of a serde
//! message. [`Config::load`] is the only way to get a `Config`.

use mosaicfs_common::couch::{CouchConfig, validate_db_name};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Default location of the config file.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/mosaicfs/agent.toml";
/// Default state directory (holds `node_id`).
pub const DEFAULT_STATE_DIR: &str = "/var/lib/mosaicfs";

/// A config problem: which file, which field, what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{}: {}{message}", path.display(), field.as_ref().map(|f| format!("field `{f}`: ")).unwrap_or_default())]
pub struct ConfigError {
    /// The config file.
    pub path: PathBuf,
    /// The offending field (dotted for tables, e.g. `couchdb.url`).
    pub field: Option<String>,
    /// What is wrong and, where it helps, what to do.
    pub message: String,
}

/// `agent.toml` as written; validated into [`Config`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// HTTPS URL of the control plane's REST API.
    pub control_plane_url: Option<String>,
    /// SHA-256 fingerprint (`AA:BB:…`) of the control plane's self-signed
    /// certificate, pinned for HTTPS calls to it; written by `init`.
    pub control_plane_fingerprint: Option<String>,
    /// Access key id of this agent's credential (`MOSAICFS_` + 16 hex).
    pub access_key_id: Option<String>,
    /// Secret of that credential.
    pub secret_key: Option<String>,
    /// Absolute directories to index. May be empty (bridge nodes).
    pub watch_paths: Option<Vec<String>>,
    /// Where the agent keeps its state (`node_id`). Default `/var/lib/mosaicfs`.
    pub state_dir: Option<PathBuf>,
    /// This node's id; read from `{state_dir}/node_id` or generated when absent.
    pub node_id: Option<String>,
    /// Display name; defaults to the host name.
    pub friendly_name: Option<String>,
    /// Seconds between full crawls. Default 3600.
    pub crawl_interval_secs: Option<u64>,
    /// Seconds between heartbeats. Default 30.
    pub heartbeat_interval_secs: Option<u64>,
    /// Seconds between the checks behind notifications (watch paths,
    /// storage, inotify watches, replication). Default 60.
    pub notification_check_secs: Option<u64>,
    /// A filesystem holding watch paths this full or fuller (percent of its
    /// capacity) raises `storage_near_capacity`. Default 90.
    pub storage_warn_percent: Option<u8>,
    /// The local CouchDB.
    pub couchdb: Option<RawCouch>,
    /// The control plane's CouchDB (replication peer).
    pub replication: Option<RawCouch>,
    /// The transfer endpoint; disabled when the table is absent.
    pub transfer: Option<RawTransfer>,
}

/// The `[transfer]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTransfer {
    /// Address to listen on. Default `0.0.0.0:7847`.
    pub listen: Option<String>,
    /// Base URL peers use to reach it (`http://host:7847`). Default: derived
    /// from `listen` (the host name when it listens on every address).
    pub advertise_url: Option<String>,
}

/// Default port of the transfer endpoint.
pub const DEFAULT_TRANSFER_PORT: u16 = 7847;

/// Validated `[transfer]` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferConfig {
    /// Address to bind.
    pub listen: std::net::SocketAddr,
    /// Base URL to publish in the node document; `None` derives it from the
    /// bound address.
    pub advertise_url: Option<String>,
}

/// A `[couchdb]` or `[replication]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCouch {
    /// Server URL.
    pub url: Option<String>,
    /// Database name; default `mosaicfs`.
    pub database: Option<String>,
    /// User.
    pub username: Option<String>,
    /// Password.
    pub password: Option<String>,
}

/// Validated agent settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this came from.
    pub path: PathBuf,
    /// Control plane REST API URL.
    pub control_plane_url: String,
    /// Pinned SHA-256 fingerprint of the control plane's certificate
    /// (`AA:BB:…`, uppercase); `None` when not configured.
    pub control_plane_fingerprint: Option<String>,
    /// Credential id.
    pub access_key_id: String,
    /// Credential secret.
    pub secret_key: String,
    /// Directories to index, as written (absolute).
    pub watch_paths: Vec<PathBuf>,
    /// State directory.
    pub state_dir: PathBuf,
    /// Node id from the file, if given.
    pub node_id: Option<String>,
    /// Display name.
    pub friendly_name: String,
    /// Time between full crawls.
    pub crawl_interval: Duration,
    /// Time between heartbeats.
    pub heartbeat_interval: Duration,
    /// Time between notification checks.
    pub notification_check_interval: Duration,
    /// Storage warning threshold, percent used.
    pub storage_warn_percent: u8,
    /// Local CouchDB.
    pub couchdb: CouchConfig,
    /// Control plane CouchDB.
    pub replication: CouchConfig,
    /// The transfer endpoint, if enabled.
    pub transfer: Option<TransferConfig>,
}

impl Config {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            path: path.to_owned(),
            field: None,
            message: format!("cannot read the config file: {e}"),
        })?;
        Config::parse(path, &text)
    }

    /// Validates the text of a config file; `path` is used in messages.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| toml_error(path, text, &e))?;
        raw.validate(path)
    }
}

fn toml_error(path: &Path, text: &str, e: &toml::de::Error) -> ConfigError {
    let message = e.message().trim().replace('\n', " ");
    let mut field = None;
    let mut loc = String::new();
    if let Some(span) = e.span() {
        let line_no = text[..span.start.min(text.len())].matches('\n').count() + 1;
        loc = format!("line {line_no}: ");
        let line = text.lines().nth(line_no - 1).unwrap_or_default();
        if let Some((key, _)) = line.split_once('=') {
            let key = key.trim();
            if !key.is_empty() && !key.starts_with('[') {
                field = Some(key.to_string());
            }
        }
    }
    // serde names unknown and missing fields inside the message itself.
    if field.is_none()
        && let Some(start) = message.find("field `").map(|i| i + "field `".len())
        && let Some(len) = message[start..].find('`')
    {
        field = Some(message[start..start + len].to_string());
    }
    ConfigError {
        path: path.to_owned(),
        field,
        message: format!("{loc}{message}"),
    }
}

impl RawConfig {
    fn validate(self, path: &Path) -> Result<Config, ConfigError> {
        let err = |field: &str, message: String| ConfigError {
            path: path.to_owned(),
            field: Some(field.to_string()),
            message,
        };
        let missing = |field: &str| err(field, "missing; it is required".into());

        let control_plane_url = self
            .control_plane_url
            .ok_or_else(|| missing("control_plane_url"))?;
        check_url(&control_plane_url).map_err(|m| err("control_plane_url", m))?;
        let control_plane_fingerprint = match self.control_plane_fingerprint {
            None => None,
            Some(fp) if mosaicfs_common::tls::is_valid_fingerprint(&fp) => {
                Some(fp.to_ascii_uppercase())
            }
            Some(fp) => {
                return Err(err(
                    "control_plane_fingerprint",
                    format!(
                        "{fp:?} is not a SHA-256 fingerprint (32 hex pairs separated by colons, AA:BB:…)"
                    ),
                ));
            }
        };

        let access_key_id = self.access_key_id.ok_or_else(|| missing("access_key_id"))?;
        let valid_key = access_key_id
            .strip_prefix("MOSAICFS_")
            .is_some_and(|h| h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit()));
        if !valid_key {
            return Err(err(
                "access_key_id",
                format!(
                    "{access_key_id:?} is not an access key id (MOSAICFS_ followed by 16 hex digits)"
                ),
            ));
        }
        let secret_key = self.secret_key.ok_or_else(|| missing("secret_key"))?;
        if secret_key.trim().is_empty() {
            return Err(err("secret_key", "is empty".into()));
        }

        let raw_paths = self.watch_paths.ok_or_else(|| missing("watch_paths"))?;
        let mut watch_paths: Vec<PathBuf> = Vec::new();
        for p in raw_paths {
            let pb = PathBuf::from(&p);
            if !pb.is_absolute() {
                return Err(err("watch_paths", format!("{p:?} is not an absolute path")));
            }
            let pb = normalize(&pb);
            if let Some(other) = watch_paths
                .iter()
                .find(|o| pb.starts_with(o) || o.starts_with(&pb))
            {
                return Err(err(
                    "watch_paths",
                    format!(
                        "{} and {} overlap; list only the outer one",
                        other.display(),
                        pb.display()
                    ),
                ));
            }
            watch_paths.push(pb);
        }

        let state_dir = self
            .state_dir
            .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR));
        if !state_dir.is_absolute() {
            return Err(err("state_dir", "must be an absolute path".into()));
        }
        if let Some(id) = &self.node_id
            && !mosaicfs_common::ids::is_valid_node_id(id)
        {
            return Err(err(
                "node_id",
                format!(
                    "{id:?} is not a valid node id (1-64 of a-z 0-9 - _, starting with a letter or digit)"
                ),
            ));
        }
        let friendly_name = match self.friendly_name {
            Some(n) if n.trim().is_empty() => return Err(err("friendly_name", "is empty".into())),
            Some(n) => n,
            None => gethostname::gethostname().to_string_lossy().into_owned(),
        };
        let crawl_interval = Duration::from_secs(self.crawl_interval_secs.unwrap_or(3600));
        if crawl_interval < Duration::from_secs(1) {
            return Err(err("crawl_interval_secs", "must be at least 1".into()));
        }
        let notification_check_interval =
            Duration::from_secs(self.notification_check_secs.unwrap_or(60));
        if notification_check_interval < Duration::from_secs(1) {
            return Err(err("notification_check_secs", "must be at least 1".into()));
        }
        let storage_warn_percent = self.storage_warn_percent.unwrap_or(90);
        if !(1..=100).contains(&storage_warn_percent) {
            return Err(err(
                "storage_warn_percent",
                "must be between 1 and 100".into(),
            ));
        }
        let heartbeat_interval = Duration::from_secs(self.heartbeat_interval_secs.unwrap_or(30));
        if heartbeat_interval < Duration::from_secs(1) {
            return Err(err("heartbeat_interval_secs", "must be at least 1".into()));
        }
        let couchdb = couch(self.couchdb, "couchdb").map_err(|(f, m)| err(&f, m))?;
        let replication = couch(self.replication, "replication").map_err(|(f, m)| err(&f, m))?;
        let transfer = self
            .transfer
            .map(transfer)
            .transpose()
            .map_err(|(f, m)| err(&f, m))?;
        Ok(Config {
            path: path.to_owned(),
            control_plane_url,
            control_plane_fingerprint,
            access_key_id,
            secret_key,
            watch_paths,
            state_dir,
            node_id: self.node_id,
            friendly_name,
            crawl_interval,
            heartbeat_interval,
            notification_check_interval,
            storage_warn_percent,
            couchdb,
            replication,
            transfer,
        })
    }
}

fn transfer(raw: RawTransfer) -> Result<TransferConfig, (String, String)> {
    let listen = match raw.listen {
        None => std::net::SocketAddr::from(([0, 0, 0, 0], DEFAULT_TRANSFER_PORT)),
        Some(l) => l.parse().map_err(|_| {
            (
                "transfer.listen".to_string(),
                format!("{l:?} is not an address:port (e.g. \"0.0.0.0:7847\")"),
            )
        })?,
    };
    if let Some(url) = &raw.advertise_url {
        check_url(url).map_err(|m| ("transfer.advertise_url".to_string(), m))?;
        if !url.starts_with("http://") {
            return Err((
                "transfer.advertise_url".into(),
                "must be http:// (transfers are plain HTTP in v1)".into(),
            ));
        }
    }
    Ok(TransferConfig {
        listen,
        advertise_url: raw
            .advertise_url
            .map(|u| u.trim_end_matches('/').to_string()),
    })
}

fn couch(raw: Option<RawCouch>, table: &str) -> Result<CouchConfig, (String, String)> {
    let raw = raw.ok_or_else(|| (format!("[{table}]"), "missing table; it is required".into()))?;
    let url = raw.url.ok_or_else(|| {
        (
            format!("{table}.url"),
            "missing; it is required".to_string(),
        )
    })?;
    check_url(&url).map_err(|m| (format!("{table}.url"), m))?;
    let database = raw.database.unwrap_or_else(|| "mosaicfs".into());
    validate_db_name(&database).map_err(|m| (format!("{table}.database"), m))?;
    if raw.password.is_some() && raw.username.is_none() {
        return Err((
            format!("{table}.username"),
            "missing while a password is set".into(),
        ));
    }
    Ok(CouchConfig {
        url,
        database,
        username: raw.username,
        password: raw.password,
    })
}

fn check_url(url: &str) -> Result<(), String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("{url:?} is not a URL (expected http:// or https://)"))?;
    if scheme != "http" && scheme != "https" {
        return Err(format!("{url:?}: scheme must be http or https"));
    }
    if rest.is_empty() || rest.starts_with('/') {
        return Err(format!("{url:?} has no host"));
    }
    Ok(())
}

/// Removes `.` components and trailing slashes without touching the disk.
fn normalize(p: &Path) -> PathBuf {
    p.components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
control_plane_url = "https://localhost:8443"
access_key_id = "MOSAICFS_0123456789ABCDEF"
secret_key = "s3cret"
watch_paths = ["/home/u/Documents", "/srv/media/"]
state_dir = "/var/lib/mosaicfs"

[couchdb]
url = "http://127.0.0.1:5985"
username = "admin"
password = "pw"

[replication]
url = "http://127.0.0.1:5984"
database = "mosaicfs"
"#;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(Path::new("agent.toml"), text).map_err(|e| e.to_string())
    }

    fn check_err(text: &str, expected: &str) {
        let err = parse(text).expect_err("config should be rejected");
        assert!(err.contains(expected), "expected {expected:?} in {err:?}");
        assert!(err.starts_with("agent.toml: "), "{err}");
        assert!(!err.contains('\n'), "one line: {err:?}");
    }

    #[test]
    fn sample_parses_with_defaults() {
        let c = parse(SAMPLE).unwrap();
        assert_eq!(
            c.watch_paths,
            [
                PathBuf::from("/home/u/Documents"),
                PathBuf::from("/srv/media")
            ]
        );
        assert_eq!(c.couchdb.database, "mosaicfs");
        assert_eq!(c.crawl_interval, Duration::from_secs(3600));
        assert_eq!(c.heartbeat_interval, Duration::from_secs(30));
        assert!(c.node_id.is_none());
        assert!(!c.friendly_name.is_empty());
        assert_eq!(c.transfer, None, "no [transfer] table: disabled");
    }

    #[test]
    fn transfer_table_parses_with_defaults() {
        let c = parse(&format!("{SAMPLE}\n[transfer]\n")).unwrap();
        let t = c.transfer.unwrap();
        assert_eq!(t.listen, "0.0.0.0:7847".parse().unwrap());
        assert_eq!(t.advertise_url, None);
        let c = parse(&format!(
            "{SAMPLE}\n[transfer]\nlisten = \"127.0.0.1:9000\"\nadvertise_url = \"http://nas.local:9000/\"\n"
        ))
        .unwrap();
        let t = c.transfer.unwrap();
        assert_eq!(t.listen, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(t.advertise_url.as_deref(), Some("http://nas.local:9000"));
        check_err(
            &format!("{SAMPLE}\n[transfer]\nlisten = \"nowhere\"\n"),
            "field `transfer.listen`",
        );
        check_err(
            &format!("{SAMPLE}\n[transfer]\nadvertise_url = \"https://x:1\"\n"),
            "field `transfer.advertise_url`",
        );
    }

    #[test]
    fn each_missing_field_is_named() {
        for field in [
            "control_plane_url",
            "access_key_id",
            "secret_key",
            "watch_paths",
        ] {
            let text: String = SAMPLE
                .lines()
                .filter(|l| !l.starts_with(field))
                .map(|l| format!("{l}\n"))
                .collect();
            check_err(&text, &format!("field `{field}`: missing"));
        }
        check_err(&SAMPLE.replace("[replication]", "[other]"), "field `other`");
        let no_url = SAMPLE.replace("url = \"http://127.0.0.1:5984\"\n", "");
        check_err(&no_url, "field `replication.url`: missing");
    }

    #[test]
    fn malformed_fields_are_named() {
        check_err(
            &SAMPLE.replace("[\"/home/u/Documents\", \"/srv/media/\"]", "5"),
            "field `watch_paths`",
        );
        check_err(
            &SAMPLE.replace("\"/srv/media/\"", "\"relative/dir\""),
            "not an absolute path",
        );
        check_err(
            &SAMPLE.replace("\"/srv/media/\"", "\"/home/u/Documents/sub\""),
            "overlap",
        );
        check_err(
            &SAMPLE.replace("MOSAICFS_0123456789ABCDEF", "KEY"),
            "field `access_key_id`",
        );
        check_err(
            &SAMPLE.replace("https://localhost:8443", "localhost"),
            "field `control_plane_url`",
        );
        check_err(
            &SAMPLE.replace("database = \"mosaicfs\"", "database = \"Bad\""),
            "field `replication.database`",
        );
        check_err(&format!("{SAMPLE}\nwatchpaths = []\n"), "watchpaths");
        check_err(
            &format!("node_id = \"Bad Id\"\n{SAMPLE}"),
            "field `node_id`",
        );
        check_err("control_plane_url = \"x\nnope", "line 2: ");
    }

    #[test]
    fn control_plane_fingerprint_is_validated() {
        assert_eq!(parse(SAMPLE).unwrap().control_plane_fingerprint, None);
        let fp = mosaicfs_common::tls::fingerprint(b"cert");
        let c = parse(&format!(
            "control_plane_fingerprint = \"{}\"\n{SAMPLE}",
            fp.to_lowercase()
        ))
        .unwrap();
        assert_eq!(c.control_plane_fingerprint, Some(fp.clone()));
        for bad in [fp.replace(':', ""), fp[3..].to_string(), "AA:BB".into()] {
            check_err(
                &format!("control_plane_fingerprint = \"{bad}\"\n{SAMPLE}"),
                "field `control_plane_fingerprint`",
            );
        }
    }
}
