//! HTTPS webhooks: one POST of the JSON document per notice over hyper 1
//! (HTTP/1.1 client connection) on tokio-rustls, with retries and dead
//! letters.
//!
//! A worker per destination takes notices from its bounded queue, sends
//! them, and puts failures into a bounded retry queue ordered by due time
//! (exponential backoff with jitter). A 2xx answer delivers; 408, 429, 5xx
//! and network or TLS failures are retried; other statuses are permanent
//! refusals. A notice that cannot be delivered (attempts exhausted, refused,
//! retry queue full, shutdown deadline) becomes a dead letter in the store.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::sync::{mpsc, watch};

use super::limit::{Admit, Gate};
use super::message::{signature, Notice};
use super::{bump, tls, DeadLetterSink, DestCounters, IncidentEvent, Jitter};
use crate::config::{RetryPolicy, WebhookConfig};
use crate::incident::wall_now;

/// Largest response body read (the rest is ignored).
const MAX_RESPONSE: usize = 64 * 1024;

/// Why a webhook URL is unusable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// Not a URL.
    #[error("malformed URL: {0}")]
    Malformed(String),
    /// Not `https://`.
    #[error("the URL must start with https:// (notifications go over TLS)")]
    NotHttps,
    /// No host.
    #[error("the URL has no host")]
    NoHost,
}

/// Where a webhook goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Host name or address (without IPv6 brackets).
    pub host: String,
    /// Port (443 unless given).
    pub port: u16,
    /// `Host` header value.
    pub authority: String,
    /// Path and query.
    pub path: String,
}

/// Parses and checks an `https://` URL.
pub fn parse_url(url: &str) -> Result<Target, UrlError> {
    let uri: Uri = url
        .trim()
        .parse()
        .map_err(|e: hyper::http::uri::InvalidUri| UrlError::Malformed(e.to_string()))?;
    if uri.scheme_str() != Some("https") {
        return Err(UrlError::NotHttps);
    }
    let authority = uri.authority().ok_or(UrlError::NoHost)?;
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    if host.is_empty() {
        return Err(UrlError::NoHost);
    }
    Ok(Target {
        host,
        port: authority.port_u16().unwrap_or(443),
        authority: authority.as_str().to_string(),
        path: uri
            .path_and_query()
            .map_or_else(|| "/".to_string(), |p| p.as_str().to_string()),
    })
}

/// How one attempt ended.
#[derive(Debug)]
enum Attempt {
    /// 2xx.
    Delivered,
    /// Worth retrying.
    Transient(String),
    /// Not worth retrying.
    Permanent(String),
}

/// A notice on its way, with its attempts.
struct Job {
    notice: Notice,
    body: Bytes,
    attempts: u32,
    last_error: String,
    due: Instant,
}

/// The delivery side of one webhook destination.
pub(super) struct Webhook {
    pub(super) cfg: WebhookConfig,
    pub(super) retry: RetryPolicy,
    pub(super) target: Target,
    pub(super) server_name: ServerName<'static>,
    pub(super) tls: tokio_rustls::TlsConnector,
    pub(super) counters: Arc<DestCounters>,
    pub(super) dead: DeadLetterSink,
}

impl Webhook {
    /// Builds the destination (reads its CA file).
    pub(super) fn new(
        cfg: &WebhookConfig,
        retry: RetryPolicy,
        counters: Arc<DestCounters>,
        dead: DeadLetterSink,
    ) -> Result<Webhook, super::NotifyError> {
        let target = parse_url(&cfg.url).map_err(|e| super::NotifyError::Config {
            destination: cfg.name.clone(),
            reason: e.to_string(),
        })?;
        let server_name = match target.host.parse::<IpAddr>() {
            Ok(ip) => ServerName::IpAddress(ip.into()),
            Err(_) => ServerName::try_from(target.host.clone()).map_err(|e| {
                super::NotifyError::Config {
                    destination: cfg.name.clone(),
                    reason: format!("host '{}': {e}", target.host),
                }
            })?,
        };
        let ca = cfg.ca.as_deref().unwrap_or(Path::new(tls::SYSTEM_CA_FILE));
        let client = tls::client_config(&cfg.name, ca, None)?;
        Ok(Webhook {
            cfg: cfg.clone(),
            retry,
            target,
            server_name,
            tls: tokio_rustls::TlsConnector::from(client),
            counters,
            dead,
        })
    }

    /// One POST; the whole attempt is bounded by the configured timeout.
    async fn attempt(&self, job: &Job) -> Attempt {
        let timeout = Duration::from_millis(self.cfg.timeout_ms);
        match tokio::time::timeout(timeout, self.post(job)).await {
            Ok(r) => r,
            Err(_) => Attempt::Transient(format!("timed out after {} ms", self.cfg.timeout_ms)),
        }
    }

    async fn post(&self, job: &Job) -> Attempt {
        let t = &self.target;
        let tcp = match tokio::net::TcpStream::connect((t.host.as_str(), t.port)).await {
            Ok(s) => s,
            Err(e) => return Attempt::Transient(format!("connect {}:{}: {e}", t.host, t.port)),
        };
        let _ = tcp.set_nodelay(true);
        let stream = match self.tls.connect(self.server_name.clone(), tcp).await {
            Ok(s) => s,
            Err(e) => return Attempt::Transient(format!("TLS: {e}")),
        };
        let (mut sender, conn) =
            match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
                Ok(x) => x,
                Err(e) => return Attempt::Transient(format!("HTTP: {e}")),
            };
        // The connection task ends when the response is read and `sender`
        // dropped; the timeout bounds it should the peer stall.
        let limit = Duration::from_millis(self.cfg.timeout_ms);
        tokio::spawn(async move {
            let _ = tokio::time::timeout(limit, conn).await;
        });
        let now = wall_now();
        let mut req = Request::post(t.path.as_str())
            .header(hyper::header::HOST, t.authority.as_str())
            .header(
                hyper::header::CONTENT_TYPE,
                "application/json; charset=utf-8",
            )
            .header(
                hyper::header::USER_AGENT,
                concat!("zoneguard/", env!("CARGO_PKG_VERSION")),
            )
            .header("X-Zoneguard-Event", job.notice.event_name())
            .header("X-Zoneguard-Delivery", job.notice.delivery_id());
        if let Some(secret) = &self.cfg.secret {
            req = req
                .header("X-Zoneguard-Timestamp", now.secs().to_string())
                .header(
                    "X-Zoneguard-Signature",
                    signature(secret.as_bytes(), now.secs(), &job.body),
                );
        }
        let req = match req.body(Full::new(job.body.clone())) {
            Ok(r) => r,
            Err(e) => return Attempt::Permanent(format!("request: {e}")),
        };
        let resp = match sender.send_request(req).await {
            Ok(r) => r,
            Err(e) => return Attempt::Transient(format!("HTTP: {e}")),
        };
        let status = resp.status();
        // Read (a bounded part of) the answer for the error text.
        let body = http_body_util::Limited::new(resp.into_body(), MAX_RESPONSE)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        classify(status, &body)
    }

    /// The worker: runs until its queue is closed and every retry is done,
    /// or `abandon` turns true (then what is left becomes dead letters).
    pub(super) async fn run(
        self,
        mut rx: mpsc::Receiver<Arc<IncidentEvent>>,
        mut abandon: watch::Receiver<bool>,
    ) {
        let mut gate = Gate::new(self.cfg.route.rate_per_min);
        let mut retries: VecDeque<Job> = VecDeque::new();
        let mut jitter = Jitter::new(&self.cfg.name);
        let mut open = true;
        loop {
            if *abandon.borrow() {
                break;
            }
            if let Some(d) = gate.take_digest(Instant::now()) {
                bump(&self.counters.digests);
                self.deliver(
                    self.job(Notice::Digest(d)),
                    &mut retries,
                    &mut jitter,
                    &mut abandon,
                )
                .await;
                continue;
            }
            if !open && retries.is_empty() {
                if let Some(d) = gate.drain_digest() {
                    // Closing: the digest goes now, whatever the rate.
                    bump(&self.counters.digests);
                    self.deliver(
                        self.job(Notice::Digest(d)),
                        &mut retries,
                        &mut jitter,
                        &mut abandon,
                    )
                    .await;
                    continue;
                }
                break;
            }
            let next_retry = retries.front().map(|j| j.due);
            let digest_in = gate.pending().then(|| gate.digest_wait(Instant::now()));
            tokio::select! {
                _ = super::abandoned(&mut abandon) => {}
                ev = rx.recv(), if open => match ev {
                    None => open = false,
                    Some(ev) => match gate.admit(&ev, Instant::now(), wall_now()) {
                        Admit::Send => {
                            let job = self.job(Notice::Event(ev));
                            self.deliver(job, &mut retries, &mut jitter, &mut abandon).await;
                        }
                        Admit::Held => bump(&self.counters.rate_limited),
                    },
                },
                _ = sleep_until(next_retry), if next_retry.is_some() => {
                    if let Some(job) = retries.pop_front() {
                        bump(&self.counters.retries);
                        self.deliver(job, &mut retries, &mut jitter, &mut abandon).await;
                    }
                }
                _ = tokio::time::sleep(digest_in.unwrap_or_default()), if digest_in.is_some() => {}
            }
        }
        // Abandoned at the shutdown deadline: nothing is dropped silently.
        let reason = "not delivered before the shutdown deadline";
        for mut job in retries.drain(..) {
            job.last_error = format!("{reason}; last error: {}", job.last_error);
            self.dead_letter(job).await;
        }
        while let Ok(ev) = rx.try_recv() {
            let mut job = self.job(Notice::Event(ev));
            job.last_error = reason.to_string();
            self.dead_letter(job).await;
        }
        if let Some(d) = gate.drain_digest() {
            let mut job = self.job(Notice::Digest(d));
            job.last_error = reason.to_string();
            self.dead_letter(job).await;
        }
    }

    fn job(&self, notice: Notice) -> Job {
        let body = Bytes::from(notice.to_json(wall_now()).to_string());
        Job {
            notice,
            body,
            attempts: 0,
            last_error: String::new(),
            due: Instant::now(),
        }
    }

    /// One attempt; a failure is scheduled again or becomes a dead letter.
    async fn deliver(
        &self,
        mut job: Job,
        retries: &mut VecDeque<Job>,
        jitter: &mut Jitter,
        abandon: &mut watch::Receiver<bool>,
    ) {
        job.attempts = job.attempts.saturating_add(1);
        let outcome = tokio::select! {
            r = self.attempt(&job) => r,
            _ = super::abandoned(abandon) => Attempt::Permanent(
                "attempt cut short: not delivered before the shutdown deadline".to_string(),
            ),
        };
        match outcome {
            Attempt::Delivered => bump(&self.counters.sent),
            Attempt::Permanent(e) => {
                bump(&self.counters.failed_attempts);
                job.last_error = e;
                self.dead_letter(job).await;
            }
            Attempt::Transient(e) => {
                bump(&self.counters.failed_attempts);
                tracing::debug!(
                    "webhook {}: attempt {} failed: {e}",
                    self.cfg.name,
                    job.attempts
                );
                job.last_error = e;
                if job.attempts >= self.retry.max_attempts {
                    self.dead_letter(job).await;
                    return;
                }
                job.due = Instant::now() + backoff(&self.retry, job.attempts, jitter);
                if retries.len() >= self.retry.queue {
                    // Full: the oldest waiting delivery gives way.
                    if let Some(mut old) = retries.pop_front() {
                        old.last_error =
                            format!("retry queue full; last error: {}", old.last_error);
                        self.dead_letter(old).await;
                    }
                }
                let pos = retries.partition_point(|j| j.due <= job.due);
                retries.insert(pos, job);
            }
        }
    }

    async fn dead_letter(&self, job: Job) {
        bump(&self.counters.dead_letters);
        tracing::warn!(
            "webhook {}: giving up on {} after {} attempt(s): {} / 通知投递失败，已记入死信",
            self.cfg.name,
            job.notice.delivery_id(),
            job.attempts,
            job.last_error
        );
        let payload = String::from_utf8_lossy(&job.body).into_owned();
        self.dead
            .record(super::deadletter::DeadLetter {
                id: 0,
                created: wall_now(),
                destination: self.cfg.name.clone(),
                kind: "webhook".into(),
                event: job.notice.event_name().into(),
                incident_id: job.notice.incident().map(|i| i.id),
                attempts: job.attempts,
                last_error: job.last_error,
                payload,
            })
            .await;
    }
}

/// Delay before attempt `attempts + 1`: `initial × 2^(attempts-1)`, capped
/// at the maximum, of which the upper half is random ("equal jitter").
pub(super) fn backoff(p: &RetryPolicy, attempts: u32, jitter: &mut Jitter) -> Duration {
    let exp = attempts.saturating_sub(1).min(32);
    let full = p
        .initial_backoff_ms
        .saturating_mul(1u64 << exp)
        .min(p.max_backoff_ms)
        .max(1);
    let half = full / 2;
    Duration::from_millis(full - half + jitter.below(half + 1))
}

fn classify(status: StatusCode, body: &[u8]) -> Attempt {
    if status.is_success() {
        return Attempt::Delivered;
    }
    let text: String = String::from_utf8_lossy(body).chars().take(200).collect();
    let msg = format!("HTTP {status}: {}", text.trim());
    if status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
    {
        Attempt::Transient(msg)
    } else {
        Attempt::Permanent(msg)
    }
}

async fn sleep_until(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(tokio::time::Instant::from_std(t)).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = parse_url("https://soc.example:8443/hook?x=1").unwrap();
        assert_eq!(t.host, "soc.example");
        assert_eq!(t.port, 8443);
        assert_eq!(t.path, "/hook?x=1");
        assert_eq!(t.authority, "soc.example:8443");
        let t = parse_url("https://[::1]/").unwrap();
        assert_eq!(t.host, "::1");
        assert_eq!(t.port, 443);
        assert_eq!(parse_url("http://x/"), Err(UrlError::NotHttps));
        assert!(matches!(
            parse_url("not a url"),
            Err(UrlError::Malformed(_))
        ));
        assert!(parse_url("https:///x").is_err());
    }

    #[test]
    fn statuses() {
        assert!(matches!(classify(StatusCode::OK, b""), Attempt::Delivered));
        assert!(matches!(
            classify(StatusCode::NO_CONTENT, b""),
            Attempt::Delivered
        ));
        assert!(matches!(
            classify(StatusCode::SERVICE_UNAVAILABLE, b"busy"),
            Attempt::Transient(_)
        ));
        assert!(matches!(
            classify(StatusCode::TOO_MANY_REQUESTS, b""),
            Attempt::Transient(_)
        ));
        assert!(matches!(
            classify(StatusCode::FORBIDDEN, b"no"),
            Attempt::Permanent(_)
        ));
    }

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        let p = RetryPolicy {
            max_attempts: 10,
            initial_backoff_ms: 1000,
            max_backoff_ms: 5000,
            queue: 4,
        };
        let mut j = Jitter::new("t");
        for _ in 0..100 {
            let d1 = backoff(&p, 1, &mut j).as_millis();
            assert!((500..=1000).contains(&d1), "{d1}");
            let d2 = backoff(&p, 2, &mut j).as_millis();
            assert!((1000..=2000).contains(&d2), "{d2}");
            let d9 = backoff(&p, 9, &mut j).as_millis();
            assert!((2500..=5000).contains(&d9), "{d9}");
        }
        let big = backoff(&p, u32::MAX, &mut j);
        assert!(big <= Duration::from_millis(5000));
    }
}
