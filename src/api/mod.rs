//! The REST API of the incident queue (`/api/v1`): list and read
//! incidents, act on them (acknowledge, assign, start, resolve, false
//! positive, reopen, comment), the per-unit summary, a reload hook for the
//! daemon, and the OpenAPI description of all of it.
//!
//! axum on hyper; TLS with rustls when certificates are configured
//! ([`tls_config`], [`serve`]). Callers authenticate with a bearer token
//! (only its SHA-256 is in the config) or a client certificate mapped to a
//! user; roles are viewer, responder and admin, and a user may be scoped to
//! units (a county's staff see only their county's incidents). Every change
//! and every failed authentication goes to the hash-chained audit log with
//! the caller's name as actor; changes also go to the incident's timeline.
//!
//! The store is used off the async threads through a small pool of SQLite
//! connections ([`pool`]). Every error is JSON
//! `{"error": {"code", "message", "message_zh"}}`; client input never
//! causes a 5xx. See docs/api.md.

pub mod auth;
pub mod error;
mod handlers;
pub mod pool;
pub mod server;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;

use crate::config::ApiConfig;

pub use auth::{ClientCert, Principal};
pub use error::ApiError;
pub use server::{serve, serve_with, tls_config, PeerAddr, ServeLimits};

/// How the daemon is asked to reload: the API sends a one-shot sender and
/// waits for `Ok(summary)` or `Err(reason)`.
pub type ReloadHook =
    tokio::sync::mpsc::Sender<tokio::sync::oneshot::Sender<Result<String, String>>>;

/// Every route: (method, path). The OpenAPI document lists exactly these
/// (a test checks it).
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/v1/health"),
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/api/v1/whoami"),
    ("GET", "/api/v1/incidents"),
    ("GET", "/api/v1/incidents/{id}"),
    ("POST", "/api/v1/incidents/{id}/ack"),
    ("POST", "/api/v1/incidents/{id}/assign"),
    ("POST", "/api/v1/incidents/{id}/start"),
    ("POST", "/api/v1/incidents/{id}/resolve"),
    ("POST", "/api/v1/incidents/{id}/false-positive"),
    ("POST", "/api/v1/incidents/{id}/reopen"),
    ("GET", "/api/v1/incidents/{id}/comments"),
    ("POST", "/api/v1/incidents/{id}/comments"),
    ("GET", "/api/v1/summary"),
    ("POST", "/api/v1/reload"),
];

/// The OpenAPI 3.1 description served at `/api/v1/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

/// Counters of the API, for the daemon's metrics.
#[derive(Debug, Default)]
pub struct ApiStats {
    /// Requests answered.
    pub requests: AtomicU64,
    /// Requests refused for missing or unknown credentials.
    pub auth_failures: AtomicU64,
    /// Audit records that could not be written (store error).
    pub audit_errors: AtomicU64,
}

/// A snapshot of [`ApiStats`] plus the failed authentications not written
/// to the audit log (over the configured rate).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApiStatsSnapshot {
    /// Requests answered.
    pub requests: u64,
    /// Failed authentications.
    pub auth_failures: u64,
    /// Failed authentications counted but not written to the audit log.
    pub auth_failures_unaudited: u64,
    /// Audit records that could not be written.
    pub audit_errors: u64,
}

/// Everything the handlers share: the config, the store and its
/// connections, the users, the reload hook and counters.
#[derive(Debug)]
pub struct ApiState {
    cfg: ApiConfig,
    db: PathBuf,
    pool: Arc<pool::Pool>,
    auth: auth::Authenticator,
    limiter: auth::FailedAuthLimiter,
    reload: Option<ReloadHook>,
    stats: ApiStats,
}

impl ApiState {
    /// Opens the store at `db` (creating it if needed) with
    /// `cfg.limits.db_connections` connections and takes the users from
    /// `cfg`. `reload` is the daemon's hook for `POST /api/v1/reload`
    /// (`None`: that route answers 503).
    pub fn new(
        cfg: &ApiConfig,
        db: PathBuf,
        reload: Option<ReloadHook>,
    ) -> Result<Arc<Self>, ApiError> {
        let pool = pool::Pool::open(
            &db,
            cfg.limits.db_connections,
            Duration::from_millis(cfg.limits.busy_timeout_ms),
            Duration::from_secs(cfg.limits.request_timeout_secs),
        )?;
        Ok(Arc::new(ApiState {
            cfg: cfg.clone(),
            db,
            pool: Arc::new(pool),
            auth: auth::Authenticator::new(cfg.tokens.clone(), cfg.clients.clone()),
            limiter: auth::FailedAuthLimiter::new(cfg.limits.failed_auth_audit_per_minute),
            reload,
            stats: ApiStats::default(),
        }))
    }

    /// The store file.
    pub fn db(&self) -> &std::path::Path {
        &self.db
    }

    /// The API's config.
    pub fn config(&self) -> &ApiConfig {
        &self.cfg
    }

    /// Current counters.
    pub fn stats(&self) -> ApiStatsSnapshot {
        ApiStatsSnapshot {
            requests: self.stats.requests.load(Ordering::Relaxed),
            auth_failures: self.stats.auth_failures.load(Ordering::Relaxed),
            auth_failures_unaudited: self.limiter.suppressed_total(),
            audit_errors: self.stats.audit_errors.load(Ordering::Relaxed),
        }
    }
}

/// The `/api/v1/…` routes with their state, limits and JSON errors. The
/// daemon merges its `/metrics` route into this router (it has no
/// fallback of its own outside `/api/v1`).
pub fn router(state: Arc<ApiState>) -> Router {
    let v1 = Router::new()
        .route("/health", get(handlers::health))
        .route("/openapi.json", get(handlers::openapi))
        .route("/whoami", get(handlers::whoami))
        .route("/incidents", get(handlers::list))
        .route("/incidents/{id}", get(handlers::show))
        .route("/incidents/{id}/ack", post(handlers::ack))
        .route("/incidents/{id}/assign", post(handlers::assign))
        .route("/incidents/{id}/start", post(handlers::start))
        .route("/incidents/{id}/resolve", post(handlers::resolve))
        .route(
            "/incidents/{id}/false-positive",
            post(handlers::false_positive),
        )
        .route("/incidents/{id}/reopen", post(handlers::reopen))
        .route(
            "/incidents/{id}/comments",
            get(handlers::comments).post(handlers::add_comment),
        )
        .route("/summary", get(handlers::summary))
        .route("/reload", post(handlers::reload))
        .fallback(handlers::no_route)
        .with_state(Arc::clone(&state));
    Router::new()
        .nest("/api/v1", v1)
        .layer(axum::middleware::from_fn_with_state(state, handlers::guard))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openapi_document_lists_exactly_the_routes() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("OPENAPI is JSON");
        assert_eq!(doc["openapi"], "3.1.0");
        let mut documented: Vec<(String, String)> = doc["paths"]
            .as_object()
            .expect("paths")
            .iter()
            .flat_map(|(p, ops)| {
                ops.as_object()
                    .into_iter()
                    .flat_map(|o| o.keys())
                    .map(move |m| (m.to_uppercase(), p.clone()))
            })
            .collect();
        documented.sort();
        let mut routes: Vec<(String, String)> = ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        routes.sort();
        assert_eq!(documented, routes);
    }

    #[test]
    fn every_error_has_a_bilingual_json_body() {
        let errs = [
            ApiError::Unauthenticated("x"),
            ApiError::Forbidden {
                role: "viewer",
                action: "ack",
            },
            ApiError::NotFound(3),
            ApiError::TooLarge(10),
            ApiError::Conflict("c".into()),
            ApiError::Timeout,
        ];
        let codes: Vec<u16> = errs.iter().map(|e| e.status().as_u16()).collect();
        assert_eq!(codes, [401, 403, 404, 413, 409, 503]);
        for e in errs {
            let b = e.body();
            assert_eq!(b["error"]["code"], e.code());
            assert!(!b["error"]["message"].as_str().unwrap_or("").is_empty());
            assert!(!b["error"]["message_zh"].as_str().unwrap_or("").is_empty());
        }
    }
}
