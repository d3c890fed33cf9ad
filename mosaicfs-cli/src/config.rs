//! `cli.toml`: where it lives, what it holds, and how flags and environment
//! variables override it. The file is the raw input ([`FileConfig`]); it is
//! combined once with the command line into validated [`Settings`].

use crate::error::{CliError, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The file's name inside `$XDG_CONFIG_HOME/mosaicfs/`.
pub const FILE_NAME: &str = "cli.toml";

/// The contents of `cli.toml`, as written by `login`. The secret key is
/// never stored: when the token expires, the user logs in again.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileConfig {
    /// Base URL of the control plane, e.g. `https://nas.local:8443`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The access key id of the last login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// SHA-256 fingerprint (`AA:BB:…`) of the server's certificate, pinned
    /// at the first login; no other certificate is accepted for `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_fingerprint: Option<String>,
    /// The session token (JWT) of the last login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// When `token` expires (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_expires_at: Option<String>,
    /// Keys this version does not know (written by a newer CLI); kept.
    #[serde(flatten)]
    pub extra: toml::Table,
}

impl FileConfig {
    /// Reads `path`; a missing file is an empty configuration.
    pub fn load(path: &Path) -> Result<FileConfig> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FileConfig::default()),
            Err(e) => return Err(CliError::Local(format!("reading {}: {e}", path.display()))),
        };
        toml::from_str(&text).map_err(|e| {
            CliError::Usage(format!(
                "{} is not a valid configuration ({}); fix it or delete it and run `mosaicfs-cli login`",
                path.display(),
                e.message()
            ))
        })
    }

    /// Writes the file atomically (temp file and rename) with mode 0600,
    /// creating its directory (mode 0700) when needed.
    pub fn save(&self, path: &Path) -> Result<()> {
        let body = toml::to_string_pretty(self)
            .map_err(|e| CliError::Local(format!("encoding the configuration: {e}")))?;
        let text = format!(
            "# mosaicfs-cli configuration, written by `mosaicfs-cli login`.\n\
             # It holds a session token: keep it private (mode 0600).\n{body}"
        );
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(CliError::io(format!("creating {}", dir.display())))?;
        }
        write_atomic(path, text.as_bytes(), 0o600)
    }
}

/// Writes `bytes` to `path` atomically with `mode` (see
/// [`mosaicfs_common::fsutil::write_atomic`]); the directory must exist.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    mosaicfs_common::fsutil::write_atomic(path, bytes, Some(mode))
        .map_err(|e| CliError::Local(format!("writing {}: {e}", path.display())))
}

/// Where the configuration lives when neither `--config` nor
/// `MOSAICFS_CONFIG` says: `$XDG_CONFIG_HOME/mosaicfs/cli.toml`, else
/// `$HOME/.config/mosaicfs/cli.toml`.
pub fn default_path(xdg_config_home: Option<OsString>, home: Option<OsString>) -> Result<PathBuf> {
    let base = match (xdg_config_home.filter(|x| !x.is_empty()), home) {
        (Some(x), _) => PathBuf::from(x),
        (None, Some(h)) if !h.is_empty() => PathBuf::from(h).join(".config"),
        _ => {
            return Err(CliError::Usage(
                "neither XDG_CONFIG_HOME nor HOME is set; pass --config PATH".into(),
            ));
        }
    };
    Ok(base.join("mosaicfs").join(FILE_NAME))
}

/// A server URL in canonical form: scheme `https` added when absent, no
/// trailing `/`. Refuses what cannot be a server's base URL.
pub fn normalize_url(raw: &str) -> Result<String> {
    let raw = raw.trim();
    let with_scheme = if raw.contains("://") {
        raw.to_string()
    } else {
        format!("https://{raw}")
    };
    let bad = |why: &str| {
        CliError::Usage(format!(
            "{raw:?} is not a server URL ({why}); give one like https://host:8443"
        ))
    };
    let url = reqwest::Url::parse(&with_scheme).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(bad("the scheme must be https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("no query or fragment allowed"));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

pub use mosaicfs_common::tls::same_fingerprint;

/// Checks that `fp` looks like a SHA-256 fingerprint and returns it in the
/// `AA:BB:…` form the server reports.
pub fn parse_fingerprint(fp: &str) -> Result<String> {
    let hex: String = fp
        .chars()
        .filter(|c| *c != ':' && !c.is_whitespace())
        .collect();
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(CliError::Usage(format!(
            "{fp:?} is not a SHA-256 fingerprint (64 hex digits, `:` separators allowed); `mosaicfs-cli system health --insecure` or the server's start-up log shows it"
        )));
    }
    Ok(hex
        .to_ascii_uppercase()
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(":"))
}

/// The session token a command will send.
#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    /// From `--token` or `MOSAICFS_TOKEN`: its expiry is not known here.
    Given(String),
    /// From `cli.toml`, with its expiry.
    Stored {
        /// The JWT.
        token: String,
        /// When it expires, if the file says.
        expires_at: Option<DateTime<Utc>>,
    },
}

/// The command line's overrides of the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--url` / `MOSAICFS_URL`.
    pub url: Option<String>,
    /// `--tls-fingerprint` / `MOSAICFS_TLS_FINGERPRINT`.
    pub tls_fingerprint: Option<String>,
    /// `--token` / `MOSAICFS_TOKEN`.
    pub token: Option<String>,
    /// `--insecure`.
    pub insecure: bool,
}

/// The validated settings of one invocation.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the configuration file is (it may not exist).
    pub config_path: PathBuf,
    /// Its contents (empty when it does not exist).
    pub file: FileConfig,
    /// The server, canonical; `None` when nothing names one.
    pub url: Option<String>,
    /// The certificate fingerprint to accept for `url`.
    pub tls_fingerprint: Option<String>,
    /// The token to send.
    pub token: Option<Token>,
    /// Accept any certificate.
    pub insecure: bool,
    /// What the command line gave, before combining with the file.
    pub overrides: Overrides,
}

impl Settings {
    /// Combines the file with the overrides. The stored fingerprint and
    /// token belong to the stored URL: they are used only when the
    /// effective URL is that one, so a token never goes to another server.
    pub fn resolve(config_path: PathBuf, file: FileConfig, o: Overrides) -> Result<Settings> {
        let stored_url = file
            .url
            .as_deref()
            .map(normalize_url)
            .transpose()
            .ok()
            .flatten();
        let url = match &o.url {
            Some(u) => Some(normalize_url(u)?),
            None => stored_url.clone(),
        };
        let same_server = url.is_some() && url == stored_url;
        let tls_fingerprint = match &o.tls_fingerprint {
            Some(fp) => Some(parse_fingerprint(fp)?),
            None if same_server => file.tls_fingerprint.clone(),
            None => None,
        };
        let token = match &o.token {
            Some(t) if !t.is_empty() => Some(Token::Given(t.clone())),
            _ if same_server => file.token.clone().map(|token| Token::Stored {
                token,
                expires_at: file
                    .token_expires_at
                    .as_deref()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.with_timezone(&Utc)),
            }),
            _ => None,
        };
        Ok(Settings {
            config_path,
            file,
            url,
            tls_fingerprint,
            token,
            insecure: o.insecure,
            overrides: o,
        })
    }

    /// Whether the file's settings (pin, token, key) belong to `url`.
    pub fn file_is_for(&self, url: &str) -> bool {
        self.file
            .url
            .as_deref()
            .and_then(|u| normalize_url(u).ok())
            .is_some_and(|u| u == url)
    }

    /// The server URL, or a usage error telling how to name one.
    pub fn require_url(&self) -> Result<&str> {
        self.url.as_deref().ok_or_else(|| {
            CliError::Auth(format!(
                "no server configured ({} has no url); run `mosaicfs-cli login https://host:8443`",
                self.config_path.display()
            ))
        })
    }

    /// The token to send, or an authentication error when there is none or
    /// it has expired.
    pub fn require_token(&self, now: DateTime<Utc>) -> Result<&str> {
        let url = self.require_url()?;
        match &self.token {
            None => Err(CliError::Auth(format!(
                "not logged in to {url}; run `mosaicfs-cli login`"
            ))),
            Some(Token::Given(t)) => Ok(t),
            Some(Token::Stored { token, expires_at }) => match expires_at {
                Some(exp) if *exp <= now => Err(CliError::Auth(format!(
                    "your session on {url} expired {}; run `mosaicfs-cli login` (the secret key is never stored)",
                    crate::output::relative_time(*exp, now)
                ))),
                _ => Ok(token),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
# written by login
url = "https://nas.local:8443/"
access_key_id = "MOSAICFS_7F3A9B2C1D4E5F6A"
tls_fingerprint = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89"
token = "eyJ.x.y"
token_expires_at = "2030-01-01T00:00:00Z"
future_key = "kept"
"#;

    fn sample() -> FileConfig {
        toml::from_str(SAMPLE).unwrap()
    }

    #[test]
    fn parses_a_sample_and_keeps_unknown_keys() {
        let c = sample();
        assert_eq!(c.url.as_deref(), Some("https://nas.local:8443/"));
        assert_eq!(
            c.access_key_id.as_deref(),
            Some("MOSAICFS_7F3A9B2C1D4E5F6A")
        );
        assert_eq!(c.extra["future_key"].as_str(), Some("kept"));
        let again: FileConfig = toml::from_str(&toml::to_string(&c).unwrap()).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn saves_atomically_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("deep/mosaicfs/cli.toml");
        sample().save(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(FileConfig::load(&path).unwrap(), sample());
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file left behind");
    }

    #[test]
    fn default_path_honours_xdg_then_home() {
        let p = default_path(Some("/x".into()), Some("/home/u".into())).unwrap();
        assert_eq!(p, PathBuf::from("/x/mosaicfs/cli.toml"));
        let p = default_path(Some("".into()), Some("/home/u".into())).unwrap();
        assert_eq!(p, PathBuf::from("/home/u/.config/mosaicfs/cli.toml"));
        assert!(default_path(None, None).is_err());
    }

    #[test]
    fn urls_are_normalized() {
        let check = |raw: &str, want: Option<&str>| match (normalize_url(raw), want) {
            (Ok(got), Some(w)) => assert_eq!(got, w, "{raw}"),
            (Err(_), None) => {}
            (got, want) => panic!("{raw}: got {got:?}, want {want:?}"),
        };
        check("nas.local:8443", Some("https://nas.local:8443"));
        check("https://nas.local:8443/", Some("https://nas.local:8443"));
        check(
            "https://10.0.0.2:8443/prefix/",
            Some("https://10.0.0.2:8443/prefix"),
        );
        check("ftp://nas", None);
        check("https://", None);
        check("https://nas?x=1", None);
    }

    #[test]
    fn fingerprints_compare_and_parse() {
        let fp = "ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89";
        let parsed = parse_fingerprint(&fp.replace(':', "")).unwrap();
        assert_eq!(parsed, fp.to_uppercase());
        assert!(same_fingerprint(fp, &parsed));
        assert!(parse_fingerprint("AB:CD").is_err());
    }

    #[test]
    fn stored_token_and_pin_only_for_the_stored_server() {
        let now = DateTime::parse_from_rfc3339("2029-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let s = Settings::resolve("c".into(), sample(), Overrides::default()).unwrap();
        assert_eq!(s.url.as_deref(), Some("https://nas.local:8443"));
        assert!(s.tls_fingerprint.is_some());
        assert_eq!(s.require_token(now).unwrap(), "eyJ.x.y");
        let o = Overrides {
            url: Some("https://other:8443".into()),
            ..Default::default()
        };
        let s = Settings::resolve("c".into(), sample(), o).unwrap();
        assert!(s.tls_fingerprint.is_none() && s.token.is_none());
        assert!(matches!(s.require_token(now), Err(CliError::Auth(_))));
        let o = Overrides {
            token: Some("env".into()),
            ..Default::default()
        };
        let s = Settings::resolve("c".into(), sample(), o).unwrap();
        assert_eq!(s.require_token(now).unwrap(), "env");
    }

    #[test]
    fn an_expired_token_is_an_auth_error_that_says_login() {
        let later = DateTime::parse_from_rfc3339("2031-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let s = Settings::resolve("c".into(), sample(), Overrides::default()).unwrap();
        let e = s.require_token(later).unwrap_err();
        assert!(matches!(e, CliError::Auth(_)));
        assert!(
            e.to_string().contains("expired") && e.to_string().contains("login"),
            "{e}"
        );
    }
}
