//! Many sensors, one queue: alerts over NATS JetStream.
//!
//! Each sensor's [`AlertPublisher`] sends every alert (the [`wire`] JSON,
//! with a `Nats-Msg-Id` of `SENSOR.RUN.SEQ`) to the stream `queue.nats.stream`
//! on the subject `SUBJECT.SENSOR`; [`run_central`] reads the stream with a
//! durable pull consumer, correlates with the same
//! [`crate::incident::Manager`] a sensor uses locally, and keeps the
//! incidents in its own SQLite store. A message is acknowledged only after
//! its effect is committed, and the store records the message id in the same
//! transaction ([`ledger`]), so a re-delivery is recognised and counted once.
//! See docs/scale-out.md.

pub mod central;
pub mod ledger;
pub mod publisher;
pub mod spool;
pub mod wire;

use std::time::Duration;

use crate::config::NatsConfig;

pub use central::{run_central, CentralSummary};
pub use publisher::{AlertPublisher, PublisherStats};
pub use wire::{decode, encode, Received, WireError, WIRE_VERSION};

/// Errors of the NATS queue.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NatsError {
    /// A server URL could not be used.
    #[error("queue.nats.urls: '{url}': {reason}")]
    Url {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The credentials file could not be read.
    #[error("queue.nats.credentials {path}: {source}")]
    Credentials {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Connecting failed.
    #[error("cannot connect to NATS {urls}: {reason} / 无法连接 NATS")]
    Connect {
        /// The servers tried.
        urls: String,
        /// Why.
        reason: String,
    },
    /// A JetStream request (stream, consumer, fetch) failed.
    #[error("JetStream {what}: {reason}")]
    JetStream {
        /// What was being done.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// The incident store failed.
    #[error("incident store: {0}")]
    Store(#[from] crate::queue::StoreError),
    /// The spool failed.
    #[error("spool {path}: {reason}")]
    Spool {
        /// The spool file.
        path: String,
        /// Why.
        reason: String,
    },
    /// An alert could not be encoded.
    #[error("alert: {0}")]
    Wire(#[from] WireError),
    /// `flush` gave up waiting for acknowledgements.
    #[error(
        "{pending} alerts not acknowledged by NATS after {secs} s / {pending} 条告警未获 NATS 确认"
    )]
    FlushTimeout {
        /// Alerts not acknowledged (buffered, in flight or spooled).
        pending: u64,
        /// How long flush waited.
        secs: u64,
    },
    /// The publisher's background task is gone.
    #[error("the NATS publisher task stopped")]
    Stopped,
}

fn js_err(what: &'static str, e: impl std::fmt::Display) -> NatsError {
    NatsError::JetStream {
        what,
        reason: e.to_string(),
    }
}

/// Connects a client with the section's servers, TLS and credentials.
/// With `wait == false` the client keeps trying in the background
/// (a sensor must start while the central's NATS is down).
pub async fn connect_client(
    n: &NatsConfig,
    name: &str,
    wait: bool,
) -> Result<async_nats::Client, NatsError> {
    let mut addrs = Vec::with_capacity(n.urls.len());
    for u in &n.urls {
        let a: async_nats::ServerAddr = u.parse().map_err(|e| NatsError::Url {
            url: u.clone(),
            reason: format!("{e}"),
        })?;
        addrs.push(a);
    }
    let mut opts = async_nats::ConnectOptions::new()
        .name(name)
        .connection_timeout(Duration::from_secs(5))
        .request_timeout(Some(Duration::from_secs(5)))
        .max_reconnects(None::<usize>)
        .reconnect_delay_callback(|attempts| {
            Duration::from_millis((100u64 << attempts.min(5) as u32).min(2_000))
        });
    if !wait {
        opts = opts.retry_on_initial_connect();
    }
    if let Some(c) = &n.credentials {
        opts = opts
            .credentials_file(c)
            .await
            .map_err(|source| NatsError::Credentials {
                path: c.display().to_string(),
                source,
            })?;
    }
    if let Some(t) = &n.tls {
        opts = opts.require_tls(true);
        if let Some(ca) = &t.ca {
            opts = opts.add_root_certificates(ca.clone());
        }
        if let (Some(cert), Some(key)) = (&t.cert, &t.key) {
            opts = opts.add_client_certificate(cert.clone(), key.clone());
        }
    }
    opts.connect(addrs).await.map_err(|e| NatsError::Connect {
        urls: n.urls.join(","),
        reason: e.to_string(),
    })
}

/// The stream's settings: file storage, `SUBJECT.>`, the duplicate window
/// and maximum age of the config. Sensors and the central both create it
/// if it is missing, so either may start first.
pub fn stream_config(n: &NatsConfig) -> async_nats::jetstream::stream::Config {
    async_nats::jetstream::stream::Config {
        name: n.stream.clone(),
        subjects: vec![format!("{}.>", n.subject)],
        storage: async_nats::jetstream::stream::StorageType::File,
        duplicate_window: Duration::from_secs(n.duplicate_window_secs),
        max_age: Duration::from_secs(n.max_age_secs),
        ..Default::default()
    }
}

/// Gets the stream, creating it when missing.
pub async fn ensure_stream(
    js: &async_nats::jetstream::Context,
    n: &NatsConfig,
) -> Result<async_nats::jetstream::stream::Stream, NatsError> {
    js.get_or_create_stream(stream_config(n))
        .await
        .map_err(|e| js_err("stream", e))
}
