//! The daemon's HTTP listener: Prometheus `/metrics` (no authentication:
//! restrict it by the listen address) and the incident API beside it
//! (bearer tokens or client certificates; `src/api`).

use std::future::Future;
use std::sync::Arc;

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use super::Shared;
use crate::api::{self, ApiState, ServeLimits};

/// The router: the API (`/api/v1/...`) and `/metrics`.
pub fn router(shared: Arc<Shared>, api: Arc<ApiState>) -> Router {
    api::router(api).route(
        "/metrics",
        get(move || {
            let sh = Arc::clone(&shared);
            async move {
                (
                    [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
                    sh.metrics.render(),
                )
                    .into_response()
            }
        }),
    )
}

/// Serves until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    shared: Arc<Shared>,
    api: Arc<ApiState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let limits = ServeLimits::from(&api.config().limits);
    let app = router(shared, api);
    if let Err(e) = api::serve_with(listener, tls, app, shutdown, limits).await {
        tracing::error!("HTTP listener / HTTP 服务: {e}");
    }
}
