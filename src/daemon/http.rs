//! The daemon's HTTP listener: Prometheus `/metrics` (no authentication:
//! restrict it by the listen address) and the incident API beside it.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use super::Shared;

/// Reload requests from the API (answered with the reload's outcome).
pub type ReloadSender =
    tokio::sync::mpsc::Sender<tokio::sync::oneshot::Sender<Result<String, String>>>;

/// The router: `/metrics` (+ the API).
pub fn router(shared: Arc<Shared>, db: PathBuf, reload: ReloadSender) -> Router {
    let _ = (db, reload);
    Router::new().route(
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
    shared: Arc<Shared>,
    db: PathBuf,
    reload: ReloadSender,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let app = router(shared, db, reload);
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::error!("HTTP listener / HTTP 服务: {e}");
    }
}
