//! Content tickets over real HTTPS: `POST /api/files/{id}/content-url`, and
//! reading the content through the returned URL with no `Authorization`
//! header (as a browser's `<video>` does), ranges included; tickets for
//! another file, altered, expired or outliving their session are refused.

use crate::common::*;
use mosaicfs_server::auth::content_url::{Ticket, TicketKey};
use mosaicfs_server::content::Disposition;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::path::Path;

const NODE: &str = "server-node";

/// A server on node `server-node` whose watch path is `{tmp}/files`.
async fn server(tmp: &Path) -> TestServer {
    let db = couch_server("a").fresh_db("ticket").await;
    let s = TestServer::start_with(db, &tmp.join("data"), |c| c.node_id = Some(NODE.into())).await;
    std::fs::create_dir_all(tmp.join("files")).unwrap();
    s.db.put(
        &json!({"_id": format!("node::{NODE}"), "type": "node", "node_id": NODE,
        "watch_paths": [tmp.join("files")]}),
    )
    .await
    .unwrap();
    s
}

/// Writes `{tmp}/files/{name}` and its file document; returns the bytes.
async fn add_file(s: &TestServer, tmp: &Path, id: &str, name: &str, mime: &str) -> Vec<u8> {
    let content: Vec<u8> = (0..5000).map(|i| (i * 7 % 251) as u8).collect();
    let path = tmp.join("files").join(name);
    std::fs::write(&path, &content).unwrap();
    let md = std::fs::metadata(&path).unwrap();
    let mtime = mosaicfs_common::time::from_system_time(md.modified().unwrap());
    s.db.put(&json!({
        "_id": id, "type": "file", "inode": 77, "name": name,
        "source": {"node_id": NODE, "export_path": path.to_string_lossy(),
                   "export_parent": path.parent().unwrap().to_string_lossy()},
        "size": md.len(), "mtime": mosaicfs_common::time::format(&mtime),
        "mime_type": mime, "status": "active"
    }))
    .await
    .unwrap();
    content
}

/// `POST …/content-url` with an optional JSON body; the answer's URL.
async fn content_url(s: &TestServer, token: &str, id: &str, body: Option<Value>) -> String {
    let mut r = s.authed(Method::POST, &format!("/api/files/{id}/content-url"), token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{v}");
    let expires: chrono::DateTime<chrono::Utc> = v["expires_at"].as_str().unwrap().parse().unwrap();
    let left = expires - chrono::Utc::now();
    assert!(
        left > chrono::Duration::minutes(14) && left <= chrono::Duration::minutes(15),
        "valid 15 minutes: {left}"
    );
    let url = v["url"].as_str().unwrap().to_string();
    assert!(
        url.starts_with(&format!("/api/files/{id}/content?ticket=")),
        "{url}"
    );
    url
}

fn ticket_of(url: &str) -> &str {
    url.split_once("ticket=").unwrap().1
}

/// A GET or HEAD with no `Authorization` header.
async fn get(s: &TestServer, method: Method, url: &str, range: Option<&str>) -> reqwest::Response {
    let mut r = s.request(method, url);
    if let Some(range) = range {
        r = r.header("range", range);
    }
    r.send().await.unwrap()
}

#[tokio::test]
async fn a_ticket_url_reads_the_exact_bytes_and_ranges_without_a_token() {
    let tmp = tempfile::tempdir().unwrap();
    let s = server(tmp.path()).await;
    let token = s.token().await;
    let id = "file::0190c0de5b6f7a3e8c1d2e3f4a5b6d01";
    let content = add_file(&s, tmp.path(), id, "clip.mp4", "video/mp4").await;
    let url = content_url(&s, &token, id, None).await;

    let r = get(&s, Method::GET, &url, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let h = r.headers().clone();
    assert_eq!(h["content-type"], "video/mp4");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["content-length"], content.len().to_string());
    assert_eq!(
        h["content-disposition"],
        "inline; filename=\"clip.mp4\"; filename*=UTF-8''clip.mp4"
    );
    assert!(r.bytes().await.unwrap() == content, "byte-for-byte");

    // Seeking in a <video> is a ranged request on the same URL.
    let r = get(&s, Method::GET, &url, Some("bytes=10-19")).await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes 10-19/{}", content.len())
    );
    assert!(r.bytes().await.unwrap() == content[10..=19]);

    let r = get(&s, Method::HEAD, &url, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-length"], content.len().to_string());
    assert!(r.bytes().await.unwrap().is_empty());

    // The bearer path is unchanged: a download, as the CLI always had.
    let r = s
        .authed(Method::GET, &format!("/api/files/{id}/content"), &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment;")
    );
}

#[tokio::test]
async fn a_ticket_opens_only_its_own_files_content_unaltered_and_unexpired() {
    let tmp = tempfile::tempdir().unwrap();
    let s = server(tmp.path()).await;
    let token = s.token().await;
    let a = "file::0190c0de5b6f7a3e8c1d2e3f4a5b6d02";
    let b = "file::0190c0de5b6f7a3e8c1d2e3f4a5b6d03";
    add_file(&s, tmp.path(), a, "a.txt", "text/plain").await;
    add_file(&s, tmp.path(), b, "b.txt", "text/plain").await;
    let url = content_url(&s, &token, a, None).await;
    let ticket = ticket_of(&url).to_string();
    assert_eq!(
        get(&s, Method::GET, &url, None).await.status(),
        StatusCode::OK
    );

    // Another file's content.
    let other = format!("/api/files/{b}/content?ticket={ticket}");
    expect_error(
        get(&s, Method::GET, &other, None).await,
        StatusCode::UNAUTHORIZED,
        "another file",
    )
    .await;
    assert_eq!(
        get(&s, Method::HEAD, &other, None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Any other route: a ticket is no session.
    let r = get(
        &s,
        Method::GET,
        &format!("/api/files/{a}?ticket={ticket}"),
        None,
    )
    .await;
    expect_error(r, StatusCode::UNAUTHORIZED, "Authorization").await;

    // Altered: one character of the ticket changed.
    let mut chars: Vec<char> = ticket.chars().collect();
    let i = chars.len() / 2;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    let altered: String = chars.into_iter().collect();
    let r = get(
        &s,
        Method::GET,
        &format!("/api/files/{a}/content?ticket={altered}"),
        None,
    )
    .await;
    expect_error(r, StatusCode::UNAUTHORIZED, "invalid ticket").await;
    let r = get(
        &s,
        Method::GET,
        &format!("/api/files/{a}/content?ticket=%21%21"),
        None,
    )
    .await;
    expect_error(r, StatusCode::UNAUTHORIZED, "malformed").await;

    // Expired: a genuine ticket (the server's own key) whose time has passed.
    let jwt_secret = hex::decode(
        std::fs::read_to_string(s.data_dir.join("jwt.key"))
            .unwrap()
            .trim(),
    )
    .unwrap();
    let expired = TicketKey::derive(&jwt_secret).issue(&Ticket {
        file_id: a.into(),
        exp: chrono::Utc::now().timestamp() - 1,
        disposition: Disposition::Inline,
        access_key_id: ADMIN_KEY.into(),
        jti: "0123456789abcdef0123456789abcdef".into(),
    });
    let r = get(
        &s,
        Method::GET,
        &format!("/api/files/{a}/content?ticket={expired}"),
        None,
    )
    .await;
    let body = expect_error(r, StatusCode::UNAUTHORIZED, "expired").await;
    assert_eq!(body["error"], "unauthorized");
}

#[tokio::test]
async fn an_attachment_ticket_names_the_file_in_rfc_5987() {
    let tmp = tempfile::tempdir().unwrap();
    let s = server(tmp.path()).await;
    let token = s.token().await;
    let id = "file::0190c0de5b6f7a3e8c1d2e3f4a5b6d04";
    add_file(&s, tmp.path(), id, "résumé 2024.txt", "text/plain").await;
    let url = content_url(&s, &token, id, Some(json!({"disposition": "attachment"}))).await;
    let r = get(&s, Method::GET, &url, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["content-disposition"],
        "attachment; filename=\"r_sum_ 2024.txt\"; filename*=UTF-8''r%C3%A9sum%C3%A9%202024.txt"
    );
    assert_eq!(r.headers()["content-type"], "text/plain");
    assert_eq!(r.headers()["content-security-policy"], "sandbox");
    let url = content_url(&s, &token, id, Some(json!({"disposition": "inline"}))).await;
    let r = get(&s, Method::GET, &url, None).await;
    assert_eq!(
        r.headers()["content-disposition"],
        "inline; filename=\"r_sum_ 2024.txt\"; filename*=UTF-8''r%C3%A9sum%C3%A9%202024.txt"
    );
}

#[tokio::test]
async fn content_url_refuses_missing_files_bad_bodies_and_no_token() {
    let tmp = tempfile::tempdir().unwrap();
    let s = server(tmp.path()).await;
    let token = s.token().await;
    let missing = "file::0190c0de5b6f7a3e8c1d2e3f4a5b6dff";
    let post = |id: &str| {
        s.authed(
            Method::POST,
            &format!("/api/files/{id}/content-url"),
            &token,
        )
    };
    expect_error(
        post(missing).send().await.unwrap(),
        StatusCode::NOT_FOUND,
        missing,
    )
    .await;
    let id = "file::0190c0de5b6f7a3e8c1d2e3f4a5b6d05";
    add_file(&s, tmp.path(), id, "x.bin", "application/octet-stream").await;
    let r = post(id)
        .json(&json!({"disposition": "download"}))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::BAD_REQUEST, "field `disposition`").await;
    let r = post(id).json(&json!({"expires": 60})).send().await.unwrap();
    expect_error(r, StatusCode::BAD_REQUEST, "expires").await;
    let r = post(id).body("disposition=inline").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r = s
        .request(Method::POST, &format!("/api/files/{id}/content-url"))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNAUTHORIZED, "Authorization").await;

    // A deleted file gets no ticket.
    let mut doc = s.db.get_value(id).await.unwrap().unwrap();
    doc["status"] = json!("deleted");
    s.db.put(&doc).await.unwrap();
    expect_error(
        post(id).send().await.unwrap(),
        StatusCode::NOT_FOUND,
        "deleted",
    )
    .await;
}

#[tokio::test]
async fn a_ticket_ends_with_its_session_and_its_credential() {
    let tmp = tempfile::tempdir().unwrap();
    let s = server(tmp.path()).await;
    let admin = s.token().await;
    let id = "file::0190c0de5b6f7a3e8c1d2e3f4a5b6d06";
    add_file(&s, tmp.path(), id, "y.txt", "text/plain").await;
    let (_, created) = s
        .call(
            Method::POST,
            "/api/credentials",
            Some(&admin),
            Some(&json!({"name": "browser"})),
        )
        .await;
    let key = created["access_key_id"].as_str().unwrap().to_string();
    let secret = created["secret_key"].as_str().unwrap().to_string();
    let login = || s.token_for(&key, &secret);

    // Logged out: the ticket goes with the session.
    let token = login().await;
    let url = content_url(&s, &token, id, None).await;
    assert_eq!(
        get(&s, Method::GET, &url, None).await.status(),
        StatusCode::OK
    );
    let (status, _) = s
        .call(Method::POST, "/api/auth/logout", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    expect_error(
        get(&s, Method::GET, &url, None).await,
        StatusCode::UNAUTHORIZED,
        "logged out",
    )
    .await;

    // Disabled credential: refused, as its JWTs are.
    let token = login().await;
    let url = content_url(&s, &token, id, None).await;
    let (status, _) = s
        .call(
            Method::PATCH,
            &format!("/api/credentials/{key}"),
            Some(&admin),
            Some(&json!({"enabled": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    expect_error(
        get(&s, Method::GET, &url, None).await,
        StatusCode::UNAUTHORIZED,
        "disabled",
    )
    .await;
}
