//! Serving the router over TCP or TLS (rustls, TLS 1.2 and 1.3, optional
//! client certificates) with hyper: a bounded number of connections, a
//! time limit for the TLS handshake and the request headers, and a
//! graceful stop.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

use super::auth::ClientCert;
use super::ApiError;
use crate::config::{ApiConfig, ApiLimits};

/// The remote address of a request (a request extension set by [`serve`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// Connection limits of [`serve_with`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServeLimits {
    /// Connections served at once.
    pub max_connections: usize,
    /// Time for the TLS handshake and for each request's headers.
    pub header_timeout: Duration,
    /// How long a stop waits for requests in flight.
    pub shutdown_grace: Duration,
    /// Longest life of one connection (keep-alive included); bounds a
    /// client that stops reading its response.
    pub connection_lifetime: Duration,
}

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits::from(&ApiLimits::default())
    }
}

impl From<&ApiLimits> for ServeLimits {
    fn from(l: &ApiLimits) -> Self {
        ServeLimits {
            max_connections: l.max_connections.max(1),
            header_timeout: Duration::from_secs(l.header_timeout_secs),
            shutdown_grace: Duration::from_secs(10),
            connection_lifetime: Duration::from_secs(600),
        }
    }
}

/// The rustls server config of `cfg.tls` (`None` without TLS): TLS 1.2 and
/// 1.3, ALPN `http/1.1`, and client certificates verified against
/// `client_ca` when given (required with `require_client_cert`).
pub fn tls_config(cfg: &ApiConfig) -> Result<Option<Arc<rustls::ServerConfig>>, ApiError> {
    let Some(t) = &cfg.tls else {
        return Ok(None);
    };
    let mut config = crate::tls::server_config(
        &t.cert,
        &t.key,
        t.client_ca.as_deref(),
        t.require_client_cert,
    )
    .map_err(|e| ApiError::Tls {
        path: e.path,
        reason: e.reason,
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(Arc::new(config)))
}

/// Serves `app` on `listener` (over TLS when `tls` is given) until
/// `shutdown` completes, with the default [`ServeLimits`].
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, tls, app, shutdown, ServeLimits::default()).await
}

/// [`serve`] with explicit limits (`ServeLimits::from(&cfg.limits)`).
pub async fn serve_with(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: ServeLimits,
) -> std::io::Result<()> {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: wait instead of spinning.
                    tracing::warn!("api: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let app = app.clone();
        let acceptor = acceptor.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _permit = permit;
            match acceptor {
                None => serve_conn(TokioIo::new(tcp), app, peer, None, watcher, limits).await,
                Some(acc) => {
                    let tls =
                        match tokio::time::timeout(limits.header_timeout, acc.accept(tcp)).await {
                            Ok(Ok(s)) => s,
                            Ok(Err(e)) => {
                                tracing::debug!("api: TLS handshake with {peer} failed: {e}");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!("api: TLS handshake with {peer} timed out");
                                return;
                            }
                        };
                    let cert = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .and_then(|c| ClientCert::from_der(c.as_ref()));
                    serve_conn(TokioIo::new(tls), app, peer, cert, watcher, limits).await;
                }
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("api: requests still in flight after the grace period; closing");
    }
    Ok(())
}

async fn serve_conn<I>(
    io: TokioIo<I>,
    app: Router,
    peer: SocketAddr,
    cert: Option<ClientCert>,
    watcher: hyper_util::server::graceful::Watcher,
    limits: ServeLimits,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(PeerAddr(peer));
        if let Some(c) = &cert {
            req.extensions_mut().insert(c.clone());
        }
        app.clone().oneshot(req)
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .serve_connection(io, svc);
    match tokio::time::timeout(limits.connection_lifetime, watcher.watch(conn)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!("api: connection from {peer}: {e}"),
        Err(_) => tracing::debug!("api: connection from {peer} closed at its lifetime limit"),
    }
}
