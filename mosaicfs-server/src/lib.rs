//! The MosaicFS control plane.
//!
//! [`app`] builds the whole router (no I/O, so tests can call it directly);
//! [`start`] prepares the data directory, TLS and CouchDB and serves on a
//! bound listener until the shutdown token fires. Route handlers live in
//! [`routes`], one module per area; authentication is in [`auth`] as
//! extractors.
#![warn(missing_docs)]

pub mod auth;
pub mod backup;
pub mod browser_db;
pub mod config;
pub mod content;
pub mod error;
pub mod extract;
pub mod labels;
pub mod metrics;
pub mod monitor;
pub mod replication;
pub mod routes;
pub mod secrets;
pub mod state;
pub mod tls;
pub mod vfs;
pub mod web;

use crate::config::ServerConfig;
use crate::state::{AppState, Inner};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use axum::response::IntoResponse;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use mosaicfs_common::couch::CouchClient;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// Header carrying the request id (set if absent, echoed in the response).
pub const REQUEST_ID: &str = "x-request-id";

/// The complete router with its middleware.
pub fn app(state: AppState) -> Router {
    let (router, openapi) = routes::api().split_for_parts();
    let openapi = Arc::new(openapi);
    let request_id = HeaderName::from_static(REQUEST_ID);
    router
        .route(
            "/api/openapi.json",
            axum::routing::get(move || {
                let doc = openapi.clone();
                async move { axum::Json(doc.as_ref().clone()) }
            }),
        )
        // PouchDB's read-only window on the browser replica; CouchDB's
        // protocol, so not in the OpenAPI document.
        .route(browser_db::PREFIX, axum::routing::any(browser_db::proxy))
        .route("/api/browser-db/", axum::routing::any(browser_db::proxy))
        .route("/api/browser-db/{*rest}", axum::routing::any(browser_db::proxy))
        .fallback(web::fallback)
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| {
            tracing::error!("a handler panicked; answered 500");
            error::ApiError::internal("handler panicked").into_response()
        }))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                let id = req
                    .headers()
                    .get(REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path())
            })
            .on_failure(log_failure),
        )
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

/// Logs a 5xx answer: at ERROR, except 503, which is a state the server
/// answers on purpose (its index catching up, a peer away) and logs at WARN,
/// so a starting server does not fill the log with errors.
fn log_failure(
    class: tower_http::classify::ServerErrorsFailureClass,
    latency: std::time::Duration,
    _span: &tracing::Span,
) {
    let duration_ms = latency.as_millis() as u64;
    match class {
        tower_http::classify::ServerErrorsFailureClass::StatusCode(s)
            if s == axum::http::StatusCode::SERVICE_UNAVAILABLE =>
        {
            tracing::warn!(
                status = 503,
                duration_ms,
                "answered 503 service unavailable"
            )
        }
        other => tracing::error!(classification = %other, duration_ms, "response failed"),
    }
}

/// A running server.
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// SHA-256 fingerprint of its certificate.
    pub tls_fingerprint: String,
    /// Path of its certificate (PEM).
    pub cert_path: std::path::PathBuf,
    /// Finishes when the server has stopped.
    pub task: tokio::task::JoinHandle<()>,
}

/// Prepares everything and serves on `listener` until `shutdown`.
pub async fn start(
    config: ServerConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<Running> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| anyhow::anyhow!("data directory {}: {e}", config.data_dir.display()))?;
    let tls = tls::load(
        &config.data_dir,
        config.tls_cert.as_deref(),
        config.tls_key.as_deref(),
    )?;
    let jwt_secret = secrets::jwt_key(&config.data_dir)?;
    if let Some(dir) = &config.web_dir {
        web::check_dir(dir)?;
    }
    let db = CouchClient::new(&config.couch())?;
    db.ensure_db().await?;
    mosaicfs_common::replication::ensure_design_document(&db).await?;
    let browser_replication = replication::setup_browser(&db).await?;
    routes::notifications::ensure_index(&db).await?;
    // The control plane serves GET /api/search: keep the name table.
    let index = mosaicfs_index::IndexFollower::start_with(
        db.clone(),
        &config.data_dir.join("index.db"),
        shutdown.clone(),
        mosaicfs_index::IndexOptions { name_table: true },
    )
    .await?
    .index();
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()?;
    let state = AppState(Arc::new(Inner {
        jwt: auth::jwt::JwtKeys::new(&jwt_secret),
        content_tickets: auth::content_url::TicketKey::derive(&jwt_secret),
        login_limiter: Default::default(),
        revoked: std::sync::Mutex::new(secrets::load_revoked(&config.data_dir)),
        metrics: Default::default(),
        tls_fingerprint: tls.fingerprint.clone(),
        http,
        index,
        readdir_cache: Default::default(),
        notifier: mosaicfs_common::notify::Notifier::new(
            db.clone(),
            mosaicfs_common::notify::CONTROL_PLANE,
            mosaicfs_common::notify::DEFAULT_MIN_INTERVAL,
        ),
        db,
        config,
    }));
    routes::credentials::bootstrap(&state).await?;
    routes::vfs::ensure_root(&state).await?;
    tokio::spawn(monitor::run(
        state.clone(),
        Duration::from_secs(state.config.monitor_interval_secs.max(1)),
        shutdown.clone(),
    ));
    tokio::spawn(replication::monitor_browser(
        state.clone(),
        browser_replication,
        shutdown.clone(),
    ));
    let addr = listener.local_addr()?;
    tracing::info!(%addr, fingerprint = %tls.fingerprint, "mosaicfs-server listening (TLS)");
    let app = app(state);
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.config.clone());
    let task = tokio::spawn(serve(listener, acceptor, app, shutdown));
    Ok(Running {
        addr,
        tls_fingerprint: tls.fingerprint,
        cert_path: tls.cert_path,
        task,
    })
}

/// Accepts TLS connections and serves `app` on each, HTTP/1.1 or HTTP/2.
async fn serve(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    app: Router,
    shutdown: CancellationToken,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Small JSON answers must not wait for delayed ACKs (Nagle).
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(%peer, error = %e, "cannot set TCP_NODELAY");
        }
        let acceptor = acceptor.clone();
        let app = app.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream))
                .await
            {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let service =
                hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
                    req.extensions_mut()
                        .insert(axum::extract::ConnectInfo(peer));
                    app.clone().oneshot(req.map(axum::body::Body::new))
                });
            let builder = auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
            if let Err(e) = watcher.watch(conn.into_owned()).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(Duration::from_secs(10)) => tracing::warn!("connections still open after 10 s; closing"),
    }
}
