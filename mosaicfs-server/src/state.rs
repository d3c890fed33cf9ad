//! Shared state handed to every handler.

use crate::auth::jwt::JwtKeys;
use crate::auth::ratelimit::LoginLimiter;
use crate::config::ServerConfig;
use crate::metrics::Metrics;
use mosaicfs_common::couch::CouchClient;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Cheap to clone; everything inside is shared.
#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

/// The contents of [`AppState`].
pub struct Inner {
    /// Settings.
    pub config: ServerConfig,
    /// The control-plane database.
    pub db: CouchClient,
    /// JWT signing and verification.
    pub jwt: JwtKeys,
    /// Signs and checks content tickets (derived from the JWT key).
    pub content_tickets: crate::auth::content_url::TicketKey,
    /// Login attempts per IP.
    pub login_limiter: LoginLimiter,
    /// Logged-out token ids (jti → expiry, unix seconds); pruned as they expire.
    pub revoked: Mutex<HashMap<String, i64>>,
    /// Request metrics.
    pub metrics: Metrics,
    /// HTTP client for remote agents' transfer endpoints.
    pub http: reqwest::Client,
    /// SHA-256 fingerprint of the TLS certificate.
    pub tls_fingerprint: String,
    /// The local SQLite index of file and label documents, kept current
    /// from the database's changes feed; answers listings and searches.
    pub index: mosaicfs_index::Index,
    /// Writes the control plane's notifications (source `control_plane`).
    pub notifier: mosaicfs_common::notify::Notifier,
    /// Evaluated directory listings (5 s TTL, invalidated from the feed).
    pub readdir_cache: crate::vfs::ReaddirCache,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
