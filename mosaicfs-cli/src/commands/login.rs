//! `login` and `logout`: trust on first use of the server's certificate,
//! the exchange of an access key for a session token, and `cli.toml`.

use super::{ask, confirm, interactive};
use crate::Context;
use crate::cli::LoginArgs;
use crate::client::{Client, Trust, json_of};
use crate::config::{normalize_url, same_fingerprint};
use crate::error::{CliError, Result};
use crate::output::relative_time;
use reqwest::Method;
use serde_json::{Value, json};

/// Whether `id` has the form of an access key id (`MOSAICFS_` + 16
/// uppercase hex digits).
fn is_access_key_id(id: &str) -> bool {
    id.strip_prefix("MOSAICFS_").is_some_and(|h| {
        h.len() == 16
            && h.chars()
                .all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c))
    })
}

/// `login [URL]`.
pub async fn login(ctx: &Context, args: LoginArgs) -> Result<()> {
    let s = &ctx.settings;
    let can_ask = interactive();
    let raw_url = match args.server.clone().or_else(|| s.url.clone()) {
        Some(u) => u,
        None if can_ask => ask("Server URL (e.g. https://nas.local:8443)", None)?,
        None => {
            return Err(CliError::Usage(
                "no server URL: give it as `mosaicfs-cli login URL` or set MOSAICFS_URL".into(),
            ));
        }
    };
    let url = normalize_url(&raw_url)?;
    let same_server = s.file_is_for(&url);
    // Without a terminal every answer must be given up front: say so before
    // contacting the server.
    if !can_ask && args.secret_key.is_none() {
        return Err(CliError::Usage(
            "no secret key and no terminal to ask on: set MOSAICFS_SECRET_KEY or pass --secret-key"
                .into(),
        ));
    }

    // 1. The certificate: pinned, given, or trusted on first use.
    let expected = match &s.overrides.tls_fingerprint {
        Some(fp) => Some(crate::config::parse_fingerprint(fp)?),
        None if same_server => s.file.tls_fingerprint.clone(),
        None => None,
    };
    let trust = if s.insecure {
        crate::insecure_warning();
        Trust::Insecure
    } else {
        match &expected {
            Some(fp) => Trust::Pinned(fp.clone()),
            None => Trust::FirstContact,
        }
    };
    let probe = Client::new(&url, trust.clone(), ctx.out.verbose, &ctx.command)?;
    let resp = probe
        .send_raw(probe.request(Method::GET, probe.url(&["health"])))
        .await?;
    let status = resp.status();
    let health = json_of(resp).await.unwrap_or(Value::Null);
    let reported = health.get("tls_fingerprint").and_then(Value::as_str);
    let Some(reported) = reported else {
        return Err(CliError::Server(format!(
            "{url}/health answered {status} without a MosaicFS health report; is this the MosaicFS server's URL?"
        )));
    };
    let seen = probe.seen_fingerprint().ok_or_else(|| {
        CliError::Server(format!(
            "{url} presented no certificate; the URL must be https"
        ))
    })?;
    if !same_fingerprint(reported, &seen) {
        eprintln!(
            "WARNING: the certificate presented ({seen}) differs from the one the server reports ({reported}); a TLS proxy may be in between."
        );
    }
    let pin = match trust {
        Trust::Insecure => None,
        Trust::Pinned(_) => Some(seen.clone()),
        Trust::FirstContact => {
            if !args.yes && !can_ask {
                return Err(CliError::Usage(format!(
                    "cannot ask whether to trust the certificate (no terminal); pass --yes or --tls-fingerprint {seen} after checking it"
                )));
            }
            eprintln!("The server's certificate has SHA-256 fingerprint:\n  {seen}");
            eprintln!(
                "Compare it with the fingerprint in the server's start-up log before trusting it."
            );
            let accepted = args.yes || confirm("Trust this certificate and pin it?", false)?;
            if !accepted {
                return Err(CliError::Auth(
                    "certificate not trusted; nothing was written".into(),
                ));
            }
            Some(seen.clone())
        }
    };

    // 2. The credential.
    let stored_key = same_server.then(|| s.file.access_key_id.clone()).flatten();
    let key = match args.access_key_id.clone() {
        Some(k) => k,
        None if can_ask => ask("Access key id", stored_key.as_deref())?,
        None => stored_key.ok_or_else(|| {
            CliError::Usage(
                "no access key id: pass --access-key-id or set MOSAICFS_ACCESS_KEY_ID".into(),
            )
        })?,
    };
    let key = key.trim().to_string();
    if !is_access_key_id(&key) {
        return Err(CliError::Usage(format!(
            "{key:?} is not an access key id (MOSAICFS_ followed by 16 uppercase hex digits)"
        )));
    }
    let secret = match args.secret_key.clone() {
        Some(sk) => sk,
        None if can_ask => rpassword::prompt_password("Secret key: ")
            .map_err(CliError::io("reading the secret key"))?,
        None => {
            return Err(CliError::Usage(
                "no secret key and no terminal to ask on: set MOSAICFS_SECRET_KEY or pass --secret-key".into(),
            ));
        }
    };

    // 3. The session, over a connection that accepts only the pinned
    // certificate.
    let trust = match &pin {
        Some(fp) => Trust::Pinned(fp.clone()),
        None => Trust::Insecure,
    };
    let client = Client::new(&url, trust, ctx.out.verbose, &ctx.command)?;
    let rb = client
        .request(Method::POST, client.url(&["api", "auth", "login"]))
        .json(&json!({"access_key_id": key, "secret_key": secret}));
    let resp = client.send_raw(rb).await?;
    if resp.status() == reqwest::StatusCode::UNAUTHORIZED {
        let body = json_of(resp).await.unwrap_or(Value::Null);
        let msg = body
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("refused");
        return Err(CliError::Auth(format!(
            "login refused: {msg}; check the access key id and secret key"
        )));
    }
    if !resp.status().is_success() {
        return Err(client
            .api_error(&Method::POST, "/api/auth/login", resp)
            .await);
    }
    let session = json_of(resp).await?;
    let token = session
        .get("token")
        .and_then(Value::as_str)
        .ok_or_else(|| CliError::Server("the login answer has no token".into()))?;
    let expires_at = session
        .get("expires_at")
        .and_then(Value::as_str)
        .map(str::to_string);

    // 4. The configuration file.
    let mut file = if same_server {
        s.file.clone()
    } else {
        crate::config::FileConfig {
            extra: s.file.extra.clone(),
            ..Default::default()
        }
    };
    file.url = Some(url.clone());
    file.access_key_id = Some(key.clone());
    file.tls_fingerprint = pin.clone();
    file.token = Some(token.to_string());
    file.token_expires_at = expires_at.clone();
    file.save(&s.config_path)?;

    if ctx.out.json {
        return ctx.out.json(&json!({
            "url": url,
            "access_key_id": key,
            "expires_at": expires_at,
            "tls_fingerprint": pin,
            "config": s.config_path,
        }));
    }
    let until = expires_at
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| {
            format!(
                "; session valid until {t} ({})",
                relative_time(t.with_timezone(&chrono::Utc), chrono::Utc::now())
            )
        })
        .unwrap_or_default();
    ctx.out
        .note(&format!("Logged in to {url} as {key}{until}."));
    ctx.out.note(&format!(
        "Saved to {} (the secret key is not stored).",
        s.config_path.display()
    ));
    Ok(())
}

/// `logout`: revoke the token on the server (best effort) and forget it.
pub async fn logout(ctx: &Context) -> Result<()> {
    let s = &ctx.settings;
    if let Ok(client) = ctx.client() {
        let rb = client.request(Method::POST, client.url(&["api", "auth", "logout"]));
        if let Err(e) = client.send_raw(rb).await {
            ctx.out
                .note(&format!("could not revoke the token on the server: {e}"));
        }
    }
    let mut file = s.file.clone();
    let had = file.token.take().is_some();
    file.token_expires_at = None;
    if had {
        file.save(&s.config_path)?;
    }
    if ctx.out.json {
        return ctx.out.json(&json!({"logged_out": had}));
    }
    ctx.out
        .note(if had { "Logged out." } else { "Not logged in." });
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn access_key_ids() {
        assert!(super::is_access_key_id("MOSAICFS_00000000000000AD"));
        assert!(!super::is_access_key_id("MOSAICFS_00000000000000ad"));
        assert!(!super::is_access_key_id("MOSAICFS_0"));
        assert!(!super::is_access_key_id("XX_00000000000000AD"));
    }
}
