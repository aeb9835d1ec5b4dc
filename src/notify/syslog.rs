//! RFC 5424 syslog to a SIEM over TLS (RFC 5425, octet-counting framing:
//! `LEN SP MSG`).
//!
//! A worker per destination keeps one TLS connection, reconnecting with
//! exponential backoff and jitter. A message whose write fails is sent again
//! on the next connection (at least once; RFC 5425 has no acknowledgement,
//! so a message the kernel accepted just before the collector went away can
//! still be lost — the collector's own counters are the check). The queue
//! is bounded; what does not fit is counted as dropped.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio_rustls::client::TlsStream;

use super::limit::{Admit, Gate};
use super::message::{local_hostname, syslog_message, Notice, SyslogFormat};
use super::{bump, tls, DestCounters, IncidentEvent, Jitter, NotifyError};
use crate::config::{RetryPolicy, SyslogForwardConfig};
use crate::incident::wall_now;

/// Time a connection (TCP and TLS handshake) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time one write may take.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// The delivery side of one syslog destination.
pub(super) struct Syslog {
    cfg: SyslogForwardConfig,
    retry: RetryPolicy,
    host: String,
    port: u16,
    server_name: ServerName<'static>,
    tls: tokio_rustls::TlsConnector,
    format: SyslogFormat,
    counters: Arc<DestCounters>,
}

impl Syslog {
    /// Builds the destination (reads its certificates).
    pub(super) fn new(
        cfg: &SyslogForwardConfig,
        retry: RetryPolicy,
        counters: Arc<DestCounters>,
    ) -> Result<Syslog, NotifyError> {
        let bad = |reason: String| NotifyError::Config {
            destination: cfg.name.clone(),
            reason,
        };
        let (host, port) = cfg
            .address
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h.trim_matches(['[', ']']).to_string(), p.parse().ok()?)))
            .ok_or_else(|| bad(format!("address '{}': expected HOST:PORT", cfg.address)))?;
        let name = cfg.tls.server_name.clone().unwrap_or_else(|| host.clone());
        let server_name = ServerName::try_from(name.clone())
            .map_err(|e| bad(format!("server name '{name}': {e}")))?;
        let client = match (&cfg.tls.cert, &cfg.tls.key) {
            (Some(c), Some(k)) => tls::client_config(&cfg.name, &cfg.tls.ca, Some((c, k)))?,
            _ => tls::client_config(&cfg.name, &cfg.tls.ca, None)?,
        };
        Ok(Syslog {
            format: SyslogFormat {
                facility: cfg.facility,
                sd_id: cfg.sd_id.clone(),
                hostname: cfg.hostname.clone().unwrap_or_else(local_hostname),
                procid: std::process::id(),
            },
            cfg: cfg.clone(),
            retry,
            host,
            port,
            server_name,
            tls: tokio_rustls::TlsConnector::from(client),
            counters,
        })
    }

    async fn connect(&self) -> Result<TlsStream<TcpStream>, String> {
        let fut = async {
            let tcp = TcpStream::connect((self.host.as_str(), self.port))
                .await
                .map_err(|e| format!("connect {}:{}: {e}", self.host, self.port))?;
            let _ = tcp.set_nodelay(true);
            self.tls
                .connect(self.server_name.clone(), tcp)
                .await
                .map_err(|e| format!("TLS: {e}"))
        };
        tokio::time::timeout(CONNECT_TIMEOUT, fut)
            .await
            .unwrap_or_else(|_| Err("connect timed out".to_string()))
    }

    /// Sends one frame, (re)connecting as needed. Returns false when
    /// abandoned before it could be written.
    async fn send(
        &self,
        conn: &mut Option<TlsStream<TcpStream>>,
        frame: &[u8],
        abandon: &mut watch::Receiver<bool>,
        jitter: &mut Jitter,
    ) -> bool {
        let mut failures = 0u32;
        loop {
            if *abandon.borrow() {
                return false;
            }
            if conn.is_none() {
                match self.connect().await {
                    Ok(c) => *conn = Some(c),
                    Err(e) => {
                        failures = failures.saturating_add(1);
                        bump(&self.counters.failed_attempts);
                        tracing::debug!("syslog {}: {e}", self.cfg.name);
                        let wait = super::webhook::backoff(&self.retry, failures, jitter);
                        tokio::select! {
                            _ = tokio::time::sleep(wait) => {}
                            _ = super::abandoned(abandon) => {}
                        }
                        continue;
                    }
                }
                bump(&self.counters.connects);
            }
            let Some(c) = conn.as_mut() else { continue };
            let write = async {
                c.write_all(frame).await?;
                c.flush().await
            };
            match tokio::time::timeout(WRITE_TIMEOUT, write).await {
                Ok(Ok(())) => return true,
                Ok(Err(e)) => tracing::debug!("syslog {}: write: {e}", self.cfg.name),
                Err(_) => tracing::debug!("syslog {}: write timed out", self.cfg.name),
            }
            bump(&self.counters.failed_attempts);
            *conn = None;
        }
    }

    fn frame(&self, n: &Notice) -> Vec<u8> {
        let msg = syslog_message(n, &self.format, wall_now());
        let mut out = Vec::with_capacity(msg.len() + 8);
        out.extend_from_slice(msg.len().to_string().as_bytes());
        out.push(b' ');
        out.extend_from_slice(msg.as_bytes());
        out
    }

    /// The worker: runs until its queue is closed (then flushes) or
    /// `abandon` turns true (then what is left is counted as dropped).
    pub(super) async fn run(
        self,
        mut rx: mpsc::Receiver<Arc<IncidentEvent>>,
        mut abandon: watch::Receiver<bool>,
    ) {
        let mut gate = Gate::new(self.cfg.route.rate_per_min);
        let mut conn: Option<TlsStream<TcpStream>> = None;
        let mut jitter = Jitter::new(&self.cfg.name);
        let mut open = true;
        loop {
            if *abandon.borrow() {
                break;
            }
            let digest = gate.take_digest(Instant::now()).or_else(|| {
                if open {
                    None
                } else {
                    gate.drain_digest()
                }
            });
            if let Some(d) = digest {
                let f = self.frame(&Notice::Digest(d));
                if self.send(&mut conn, &f, &mut abandon, &mut jitter).await {
                    bump(&self.counters.digests);
                    bump(&self.counters.sent);
                } else {
                    bump(&self.counters.dropped);
                }
                continue;
            }
            if !open {
                break;
            }
            let digest_in = gate.pending().then(|| gate.digest_wait(Instant::now()));
            tokio::select! {
                _ = super::abandoned(&mut abandon) => {}
                ev = rx.recv() => match ev {
                    None => open = false,
                    Some(ev) => match gate.admit(&ev, Instant::now(), wall_now()) {
                        Admit::Send => {
                            let f = self.frame(&Notice::Event(ev));
                            if self.send(&mut conn, &f, &mut abandon, &mut jitter).await {
                                bump(&self.counters.sent);
                            } else {
                                bump(&self.counters.dropped);
                            }
                        }
                        Admit::Held => bump(&self.counters.rate_limited),
                    },
                },
                _ = tokio::time::sleep(digest_in.unwrap_or_default()), if digest_in.is_some() => {}
            }
        }
        let mut left = 0u64;
        while rx.try_recv().is_ok() {
            left += 1;
        }
        if let Some(d) = gate.drain_digest() {
            left = left.saturating_add(1);
            tracing::warn!(
                "syslog {}: digest of {} held-back notices not sent before shutdown",
                self.cfg.name,
                d.suppressed
            );
        }
        if left > 0 {
            self.counters
                .dropped
                .fetch_add(left, std::sync::atomic::Ordering::Relaxed);
            tracing::warn!(
                "syslog {}: {left} notice(s) not sent before the shutdown deadline / 关闭前未发送",
                self.cfg.name
            );
        }
        if let Some(mut c) = conn {
            let _ = tokio::time::timeout(Duration::from_secs(1), c.shutdown()).await;
            // Read what the collector sent (TLS 1.3 session tickets, its
            // close_notify) until it closes: a socket closed with unread
            // data goes out with an RST, and an RST makes the collector's
            // kernel discard messages it has not read yet.
            let mut buf = [0u8; 4096];
            let drain = async {
                while let Ok(n) = c.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                }
            };
            let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
        }
    }
}
