//! The server's foundations: TLS and its persistence, errors, request ids,
//! metrics, OpenAPI, credentials, JWT login with its rate limit, and the HMAC
//! checks of agent requests.

use crate::common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn tls_material_is_created_once_with_private_modes_and_reused() {
    let tmp = tempfile::tempdir().unwrap();
    let db = couch_server("a").fresh_db("tls").await;
    let s = TestServer::start_with(db.clone(), tmp.path(), |_| {}).await;
    let first = s.fingerprint.clone();
    let health: Value = s
        .request(Method::GET, "/health")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["tls_fingerprint"], first);
    let token = s.token().await;
    s.stop().await;
    use std::os::unix::fs::PermissionsExt;
    for f in ["tls-cert.pem", "tls-key.pem", "jwt.key"] {
        let mode = std::fs::metadata(tmp.path().join(f))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
    let s = TestServer::start_with(db.clone(), tmp.path(), |_| {}).await;
    assert_eq!(s.fingerprint, first, "certificate reused");
    // A logout survives a restart.
    let out = s.token().await;
    assert_eq!(
        s.authed(Method::POST, "/api/auth/logout", &out)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );
    s.stop().await;
    let s = TestServer::start_with(db, tmp.path(), |_| {}).await;
    expect_error(
        s.authed(Method::GET, "/api/auth/whoami", &out)
            .send()
            .await
            .unwrap(),
        StatusCode::UNAUTHORIZED,
        "logged out",
    )
    .await;
    let r = s
        .authed(Method::GET, "/api/auth/whoami", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "a token survives a restart (persistent signing key)"
    );
}

#[tokio::test]
async fn a_configured_certificate_replaces_the_self_signed_one() {
    let tmp = tempfile::tempdir().unwrap();
    let own = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    std::fs::write(tmp.path().join("c.pem"), own.cert.pem()).unwrap();
    std::fs::write(tmp.path().join("k.pem"), own.key_pair.serialize_pem()).unwrap();
    let db = couch_server("a").fresh_db("owncert").await;
    let (c, k) = (tmp.path().join("c.pem"), tmp.path().join("k.pem"));
    let s = TestServer::start_with(db, &tmp.path().join("data"), |cfg| {
        cfg.tls_cert = Some(c);
        cfg.tls_key = Some(k);
    })
    .await;
    assert_eq!(
        s.fingerprint,
        mosaicfs_server::tls::fingerprint(own.cert.der())
    );
    assert!(!tmp.path().join("data/tls-cert.pem").exists());
    assert_eq!(
        s.request(Method::GET, "/health")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn errors_are_json_with_the_right_status_and_request_ids_are_returned() {
    let s = TestServer::start().await;
    let r = s
        .request(Method::GET, "/no/such/route")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("x-request-id").is_some());
    expect_error(r, StatusCode::NOT_FOUND, "no such route").await;

    let r = s
        .request(Method::GET, "/health")
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["x-request-id"],
        "abc-123",
        "a client's request id is echoed"
    );

    // Malformed JSON, a missing field, a wrong type, an unknown field.
    let login = |body: &'static str| {
        s.request(Method::POST, "/api/auth/login")
            .header("content-type", "application/json")
            .body(body)
    };
    expect_error(
        login("{not json").send().await.unwrap(),
        StatusCode::BAD_REQUEST,
        "malformed JSON",
    )
    .await;
    expect_error(
        login(r#"{"access_key_id": "MOSAICFS_00000000000000AD"}"#)
            .send()
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "secret_key",
    )
    .await;
    expect_error(
        login(r#"{"access_key_id": 5, "secret_key": "x"}"#)
            .send()
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "field `access_key_id`",
    )
    .await;
    expect_error(
        login(r#"{"access_key_id": "x", "secret_key": "x", "extra": 1}"#)
            .send()
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "extra",
    )
    .await;

    // An oversized body (the test server allows 1 MiB).
    let token = s.token().await;
    let big = json!({"name": "x".repeat(2 * 1024 * 1024)});
    let r = s
        .authed(Method::POST, "/api/credentials", &token)
        .json(&big)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::PAYLOAD_TOO_LARGE, "larger than").await;

    // A bad query parameter names the parameter.
    let r = s
        .authed(Method::GET, "/api/credentials?limit=lots", &token)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::BAD_REQUEST, "limit").await;
    let r = s
        .authed(Method::GET, "/api/credentials?limit=0", &token)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::BAD_REQUEST, "field `limit`").await;
}

#[tokio::test]
async fn credentials_are_created_once_listed_disabled_and_deleted() {
    let s = TestServer::start().await;
    let token = s.token().await;
    let r = s
        .authed(Method::POST, "/api/credentials", &token)
        .json(&json!({"name": "laptop agent"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    let id = created["access_key_id"].as_str().unwrap().to_string();
    let secret = created["secret_key"].as_str().unwrap().to_string();
    assert!(secret.len() >= 32);

    // The secret is stored only as an Argon2id hash.
    let stored =
        s.db.get_value(&format!("credential::{id}"))
            .await
            .unwrap()
            .unwrap();
    let text = stored.to_string();
    assert!(!text.contains(&secret), "secret stored recoverably");
    assert!(
        stored["secret_key_hash"]
            .as_str()
            .unwrap()
            .starts_with("$argon2id$")
    );

    let list: Value = s
        .authed(Method::GET, "/api/credentials", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(
        items
            .iter()
            .all(|c| c.get("secret_key").is_none() && c.get("secret_key_hash").is_none())
    );

    // The new credential logs in; once disabled it cannot.
    let login = |secret: &str| {
        s.request(Method::POST, "/api/auth/login")
            .json(&json!({"access_key_id": id, "secret_key": secret}))
            .send()
    };
    assert_eq!(login(&secret).await.unwrap().status(), StatusCode::OK);
    expect_error(
        login("wrong").await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "wrong secret",
    )
    .await;
    let r = s
        .authed(Method::PATCH, &format!("/api/credentials/{id}"), &token)
        .json(&json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    expect_error(
        login(&secret).await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "disabled",
    )
    .await;

    let r = s
        .authed(Method::DELETE, &format!("/api/credentials/{id}"), &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = s
        .authed(Method::GET, &format!("/api/credentials/{id}"), &token)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, "no credential").await;
    let r = s
        .authed(
            Method::DELETE,
            &format!("/api/credentials/{ADMIN_KEY}"),
            &token,
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::CONFLICT, "logged in with").await;
}

#[tokio::test]
async fn login_whoami_logout_and_token_checks() {
    let s = TestServer::start().await;
    let token = s.token().await;
    let me: Value = s
        .authed(Method::GET, "/api/auth/whoami", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["access_key_id"], ADMIN_KEY);

    expect_error(
        s.request(Method::GET, "/api/auth/whoami")
            .send()
            .await
            .unwrap(),
        StatusCode::UNAUTHORIZED,
        "missing Authorization",
    )
    .await;
    expect_error(
        s.authed(Method::GET, "/api/auth/whoami", "garbage")
            .send()
            .await
            .unwrap(),
        StatusCode::UNAUTHORIZED,
        "invalid token",
    )
    .await;
    let mut forged = token.clone();
    forged.pop();
    forged.push(if token.ends_with('A') { 'B' } else { 'A' });
    expect_error(
        s.authed(Method::GET, "/api/auth/whoami", &forged)
            .send()
            .await
            .unwrap(),
        StatusCode::UNAUTHORIZED,
        "invalid token",
    )
    .await;

    let r = s
        .authed(Method::POST, "/api/auth/logout", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    expect_error(
        s.authed(Method::GET, "/api/auth/whoami", &token)
            .send()
            .await
            .unwrap(),
        StatusCode::UNAUTHORIZED,
        "logged out",
    )
    .await;
}

#[tokio::test]
async fn the_sixth_login_attempt_in_a_minute_gets_429_with_retry_after() {
    let s = TestServer::start().await;
    let attempt = || {
        s.request(Method::POST, "/api/auth/login")
            .json(&json!({"access_key_id": ADMIN_KEY, "secret_key": "wrong"}))
            .send()
    };
    for _ in 0..5 {
        assert_eq!(attempt().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
    let r = attempt().await.unwrap();
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    expect_error(r, StatusCode::TOO_MANY_REQUESTS, "too many login attempts").await;
    // While locked out, even the right secret is refused.
    let r = s
        .request(Method::POST, "/api/auth/login")
        .json(&json!({"access_key_id": ADMIN_KEY, "secret_key": ADMIN_SECRET}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn successful_logins_do_not_count_against_the_rate_limit() {
    // A person with the web UI in several tabs logs in once per tab.
    let s = TestServer::start().await;
    for i in 0..8 {
        let r = s
            .request(Method::POST, "/api/auth/login")
            .json(&json!({"access_key_id": ADMIN_KEY, "secret_key": ADMIN_SECRET}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "login {i}");
    }
}

#[tokio::test]
async fn metrics_count_requests_per_route_and_openapi_covers_the_routes() {
    let s = TestServer::start().await;
    for _ in 0..3 {
        s.request(Method::GET, "/health").send().await.unwrap();
    }
    let text = s
        .request(Method::GET, "/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(
            r#"mosaicfs_http_requests_total{method="GET",route="/health",status="200"} 3"#
        ),
        "{text}"
    );
    assert!(text.contains("mosaicfs_http_request_duration_seconds_bucket{method=\"GET\",route=\"/health\",le=\"+Inf\"} 3"));

    let doc: Value = s
        .request(Method::GET, "/api/openapi.json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/health",
        "/metrics",
        "/api/auth/login",
        "/api/auth/whoami",
        "/api/auth/logout",
        "/api/credentials",
        "/api/credentials/{access_key_id}",
    ] {
        assert!(paths.contains_key(p), "{p} missing from OpenAPI");
    }
}

#[tokio::test]
async fn signed_agent_requests_are_checked_and_each_rejection_says_why() {
    let s = TestServer::start().await;
    s.db.put(&json!({"_id": "node::node-hb", "type": "node", "node_id": "node-hb", "status": "offline", "future": 1, "access_key_id": ADMIN_KEY}))
        .await
        .unwrap();
    let body = br#"{"node_id": "node-hb"}"#;
    let r = s
        .signed(
            Method::POST,
            "/api/agent/heartbeat",
            body,
            ADMIN_KEY,
            ADMIN_SECRET,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let node = s.db.get_value("node::node-hb").await.unwrap().unwrap();
    assert_eq!(node["status"], "online");
    assert_eq!(node["future"], 1, "unknown fields kept");

    // Unknown key, wrong secret, tampered body, skewed clock, missing header.
    let r = s
        .signed(
            Method::POST,
            "/api/agent/heartbeat",
            body,
            "MOSAICFS_0000000000000BAD",
            ADMIN_SECRET,
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNAUTHORIZED, "unknown access key").await;
    let r = s
        .signed(
            Method::POST,
            "/api/agent/heartbeat",
            body,
            ADMIN_KEY,
            "not-the-secret",
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNAUTHORIZED, "signature mismatch").await;
    let signed = s.signed(
        Method::POST,
        "/api/agent/heartbeat",
        body,
        ADMIN_KEY,
        ADMIN_SECRET,
    );
    let r = signed
        .body(r#"{"node_id": "node-xx"}"#)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNAUTHORIZED, "signature mismatch").await;
    let sha = hex_sha256(body);
    let r = s
        .signed(
            Method::POST,
            "/api/agent/heartbeat",
            body,
            ADMIN_KEY,
            ADMIN_SECRET,
        )
        .header("x-mosaicfs-content-sha256", sha)
        .body(r#"{"node_id": "node-hb", "status": "degraded"}"#)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNAUTHORIZED, "body hash mismatch").await;
    let key = mosaicfs_common::hmac::derive_signing_key(ADMIN_SECRET);
    let past = chrono::Utc::now() - chrono::Duration::minutes(6);
    let (ts, auth) = mosaicfs_common::hmac::signed_headers(
        ADMIN_KEY,
        &key,
        "POST",
        "/api/agent/heartbeat",
        "",
        body,
        &past,
    );
    let r = s
        .request(Method::POST, "/api/agent/heartbeat")
        .header("x-mosaicfs-timestamp", ts)
        .header("authorization", auth)
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNAUTHORIZED, "away from the server clock").await;
    let r = s
        .request(Method::POST, "/api/agent/heartbeat")
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNAUTHORIZED, "missing Authorization").await;

    // A disabled key is refused.
    let token = s.token().await;
    let created: Value = s
        .authed(Method::POST, "/api/credentials", &token)
        .json(&json!({"name": "agent"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (id, secret) = (
        created["access_key_id"].as_str().unwrap(),
        created["secret_key"].as_str().unwrap(),
    );
    // A valid key speaks only for its own node.
    let r = s
        .signed(Method::POST, "/api/agent/heartbeat", body, id, secret)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, "belongs to another access key").await;
    s.db.put(&json!({"_id": "node::node-own", "type": "node", "node_id": "node-own", "status": "offline", "access_key_id": id}))
        .await
        .unwrap();
    let body = br#"{"node_id": "node-own"}"#;
    assert_eq!(
        s.signed(Method::POST, "/api/agent/heartbeat", body, id, secret)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    s.authed(Method::PATCH, &format!("/api/credentials/{id}"), &token)
        .json(&json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    let r = s
        .signed(Method::POST, "/api/agent/heartbeat", body, id, secret)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNAUTHORIZED, "disabled").await;

    // A valid signature over a bad body is a 400 naming the field.
    let r = s
        .signed(
            Method::POST,
            "/api/agent/heartbeat",
            br#"{"node_id": 7}"#,
            ADMIN_KEY,
            ADMIN_SECRET,
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::BAD_REQUEST, "node_id").await;
    let r = s
        .signed(
            Method::POST,
            "/api/agent/heartbeat",
            br#"{"node_id": "node-unknown"}"#,
            ADMIN_KEY,
            ADMIN_SECRET,
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, "not registered").await;
}

fn hex_sha256(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

#[tokio::test]
async fn disabling_or_deleting_a_credential_ends_its_sessions() {
    let s = TestServer::start().await;
    let admin = s.token().await;
    let created: Value = s
        .authed(Method::POST, "/api/credentials", &admin)
        .json(&json!({"name": "cli"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (id, secret) = (
        created["access_key_id"].as_str().unwrap(),
        created["secret_key"].as_str().unwrap(),
    );
    let login: Value = s
        .request(Method::POST, "/api/auth/login")
        .json(&json!({"access_key_id": id, "secret_key": secret}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().unwrap();
    assert_eq!(
        s.authed(Method::GET, "/api/auth/whoami", token)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    s.authed(Method::PATCH, &format!("/api/credentials/{id}"), &admin)
        .json(&json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    expect_error(
        s.authed(Method::GET, "/api/credentials", token)
            .send()
            .await
            .unwrap(),
        StatusCode::UNAUTHORIZED,
        "disabled",
    )
    .await;
    s.authed(Method::DELETE, &format!("/api/credentials/{id}"), &admin)
        .send()
        .await
        .unwrap();
    expect_error(
        s.authed(Method::GET, "/api/credentials", token)
            .send()
            .await
            .unwrap(),
        StatusCode::UNAUTHORIZED,
        "deleted",
    )
    .await;
}
