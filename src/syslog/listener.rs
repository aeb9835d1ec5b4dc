//! Syslog listeners: UDP (RFC 5426), TCP (RFC 6587) and TLS (RFC 5425).
//!
//! Every message goes, as raw bytes with its sender and arrival time, into
//! one bounded channel. Back-pressure differs by transport:
//!
//! * UDP never waits: when the channel is full the datagram is dropped and
//!   counted in [`ListenerStats::dropped`] (the kernel would drop it anyway
//!   if the receive loop stalled, and then nobody would count it).
//! * TCP and TLS wait for room (`send().await`): the sender's TCP window
//!   closes and it slows down, which loses nothing.
//!
//! Memory is bounded per connection by the frame decoder (maximum message
//! size plus one read buffer) and overall by `max_connections`.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rustc_hash::FxHashMap;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;

use super::config::{ListenerConfig, ListenerProtocol, TlsConfig};
use super::framing::FrameDecoder;

/// Requested socket receive buffer for UDP (the kernel may cap it at
/// `net.core.rmem_max`).
pub const UDP_RECV_BUFFER: usize = 8 * 1024 * 1024;
/// Read size for stream connections.
const READ_CHUNK: usize = 64 * 1024;
/// Largest UDP payload.
const MAX_DATAGRAM: usize = 65_535;
/// Time a client gets to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// One message as it arrived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// The listener's configured name.
    pub listener: Arc<str>,
    /// The sender.
    pub peer: SocketAddr,
    /// Arrival time.
    pub received: DateTime<Utc>,
    /// The message without framing (cut at the maximum size).
    pub bytes: Vec<u8>,
    /// The message was longer than the maximum size and was cut.
    pub truncated: bool,
}

/// Counters of one listener.
#[derive(Debug, Default)]
pub struct ListenerStats {
    /// Messages put into the channel.
    pub received: AtomicU64,
    /// UDP messages dropped because the channel was full.
    pub dropped: AtomicU64,
    /// Messages cut at the maximum size.
    pub truncated: AtomicU64,
    /// TCP/TLS connections accepted.
    pub connections: AtomicU64,
    /// TCP/TLS connections refused at the connection limit.
    pub rejected_connections: AtomicU64,
    /// TLS handshakes that failed (plaintext clients, untrusted certificates).
    pub tls_failures: AtomicU64,
    /// Connections that ended inside a frame.
    pub framing_errors: AtomicU64,
    /// Connections closed for being idle.
    pub idle_timeouts: AtomicU64,
    /// TCP/TLS connections closed without sending a byte (health checks,
    /// probes): no error, logged at debug level.
    pub empty_connections: AtomicU64,
    /// Messages and drops per sender address, at most [`MAX_SENDERS`]
    /// senders; others are counted in `senders_overflow`.
    senders: Mutex<FxHashMap<IpAddr, SenderCounts>>,
    /// Messages from senders beyond the [`MAX_SENDERS`] table.
    pub senders_overflow: AtomicU64,
}

/// Senders tracked per listener; a flood of spoofed UDP sources cannot grow
/// the table past this.
pub const MAX_SENDERS: usize = 4096;

/// Counters of one sender.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SenderCounts {
    /// Messages put into the channel.
    pub received: u64,
    /// Messages dropped (UDP, channel full).
    pub dropped: u64,
    /// Messages cut at the maximum size.
    pub truncated: u64,
}

impl SenderCounts {
    fn add(&mut self, o: SenderCounts) {
        self.received += o.received;
        self.dropped += o.dropped;
        self.truncated += o.truncated;
    }
}

/// A plain copy of [`ListenerStats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// See [`ListenerStats::received`].
    pub received: u64,
    /// See [`ListenerStats::dropped`].
    pub dropped: u64,
    /// See [`ListenerStats::truncated`].
    pub truncated: u64,
    /// See [`ListenerStats::connections`].
    pub connections: u64,
    /// See [`ListenerStats::rejected_connections`].
    pub rejected_connections: u64,
    /// See [`ListenerStats::tls_failures`].
    pub tls_failures: u64,
    /// See [`ListenerStats::framing_errors`].
    pub framing_errors: u64,
    /// See [`ListenerStats::idle_timeouts`].
    pub idle_timeouts: u64,
    /// See [`ListenerStats::empty_connections`].
    pub empty_connections: u64,
}

impl ListenerStats {
    /// Read all counters.
    pub fn snapshot(&self) -> StatsSnapshot {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StatsSnapshot {
            received: r(&self.received),
            dropped: r(&self.dropped),
            truncated: r(&self.truncated),
            connections: r(&self.connections),
            rejected_connections: r(&self.rejected_connections),
            tls_failures: r(&self.tls_failures),
            framing_errors: r(&self.framing_errors),
            idle_timeouts: r(&self.idle_timeouts),
            empty_connections: r(&self.empty_connections),
        }
    }

    /// Per-sender counters, busiest first.
    pub fn senders(&self) -> Vec<(IpAddr, SenderCounts)> {
        let mut v: Vec<_> = match self.senders.lock() {
            Ok(m) => m.iter().map(|(a, c)| (*a, *c)).collect(),
            Err(p) => p.into_inner().iter().map(|(a, c)| (*a, *c)).collect(),
        };
        v.sort_by(|a, b| b.1.received.cmp(&a.1.received).then(a.0.cmp(&b.0)));
        v
    }

    /// Merge a batch of per-sender counts (one lock per batch).
    pub(crate) fn merge_senders(&self, batch: &mut FxHashMap<IpAddr, SenderCounts>) {
        if batch.is_empty() {
            return;
        }
        let mut table = match self.senders.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        for (addr, c) in batch.drain() {
            let full = table.len() >= MAX_SENDERS;
            match table.get_mut(&addr) {
                Some(t) => t.add(c),
                None if !full => {
                    table.insert(addr, c);
                }
                None => {
                    self.senders_overflow
                        .fetch_add(c.received + c.dropped, Ordering::Relaxed);
                }
            }
        }
    }
}

fn bump(a: &AtomicU64) {
    a.fetch_add(1, Ordering::Relaxed);
}

/// Why a listener could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ListenerError {
    /// The configuration is inconsistent.
    #[error(transparent)]
    Config(#[from] super::config::ConfigError),
    /// The address could not be bound.
    #[error("syslog listener `{listener}`: cannot bind {address}: {source}")]
    Bind {
        /// Listener name.
        listener: String,
        /// The address.
        address: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// A certificate, key or CA file could not be used.
    #[error("syslog listener `{listener}`: {path}: {reason}")]
    Tls {
        /// Listener name.
        listener: String,
        /// The file at fault.
        path: String,
        /// What was wrong.
        reason: String,
    },
}

/// A running listener.
#[derive(Debug)]
pub struct ListenerHandle {
    /// The bound address (the real port when the configuration said 0).
    pub local_addr: SocketAddr,
    /// The accept / receive task; abort it to stop the listener.
    pub task: JoinHandle<()>,
}

/// Bind and start a listener on the current tokio runtime.
pub async fn spawn_listener(
    cfg: ListenerConfig,
    tx: mpsc::Sender<Received>,
    stats: Arc<ListenerStats>,
) -> Result<ListenerHandle, ListenerError> {
    cfg.validate()?;
    let bind_err = |source| ListenerError::Bind {
        listener: cfg.name.clone(),
        address: cfg.address,
        source,
    };
    let name: Arc<str> = Arc::from(cfg.name.as_str());
    match cfg.protocol {
        ListenerProtocol::Udp => {
            let sock = bind_udp(cfg.address).map_err(bind_err)?;
            let local_addr = sock.local_addr().map_err(bind_err)?;
            let max = cfg.max_message_size;
            let task = tokio::spawn(udp_loop(sock, name, max, tx, stats));
            Ok(ListenerHandle { local_addr, task })
        }
        ListenerProtocol::Tcp | ListenerProtocol::Tls => {
            let acceptor = match (&cfg.tls, cfg.protocol) {
                (Some(t), ListenerProtocol::Tls) => Some(tls_acceptor(&cfg.name, t)?),
                _ => None,
            };
            let listener = TcpListener::bind(cfg.address).await.map_err(bind_err)?;
            let local_addr = listener.local_addr().map_err(bind_err)?;
            let task = tokio::spawn(accept_loop(listener, cfg, name, acceptor, tx, stats));
            Ok(ListenerHandle { local_addr, task })
        }
    }
}

pub(crate) fn bind_udp(address: SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let sock = Socket::new(
        Domain::for_address(address),
        Type::DGRAM,
        Some(Protocol::UDP),
    )?;
    // Best effort: the kernel caps it at net.core.rmem_max.
    let _ = sock.set_recv_buffer_size(UDP_RECV_BUFFER);
    sock.set_nonblocking(true)?;
    sock.bind(&address.into())?;
    UdpSocket::from_std(sock.into())
}

async fn udp_loop(
    sock: UdpSocket,
    name: Arc<str>,
    max: usize,
    tx: mpsc::Sender<Received>,
    stats: Arc<ListenerStats>,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut batch: FxHashMap<IpAddr, SenderCounts> = FxHashMap::default();
    loop {
        stats.merge_senders(&mut batch);
        if sock.readable().await.is_err() {
            return;
        }
        let now = Utc::now();
        // Drain everything queued before waiting again (batched receive).
        // WouldBlock ends the batch; any other error (an ICMP error
        // reported on the socket) too, so a persistent error cannot spin
        // this loop without yielding.
        while let Ok((n, peer)) = sock.try_recv_from(&mut buf) {
            let truncated = n > max;
            if truncated {
                bump(&stats.truncated);
            }
            let data = buf.get(..n.min(max)).unwrap_or_default();
            let msg = Received {
                listener: name.clone(),
                peer,
                received: now,
                bytes: data.to_vec(),
                truncated,
            };
            let per = batch.entry(peer.ip()).or_default();
            per.truncated += u64::from(truncated);
            match tx.try_send(msg) {
                Ok(()) => {
                    bump(&stats.received);
                    per.received += 1;
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    bump(&stats.dropped);
                    per.dropped += 1;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    stats.merge_senders(&mut batch);
                    return;
                }
            }
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    cfg: ListenerConfig,
    name: Arc<str>,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    tx: mpsc::Sender<Received>,
    stats: Arc<ListenerStats>,
) {
    let slots = Arc::new(Semaphore::new(cfg.max_connections));
    let idle = Duration::from_secs(cfg.idle_timeout_secs);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(v) => v,
            Err(_) => {
                // EMFILE and friends: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            bump(&stats.rejected_connections);
            drop(stream);
            continue;
        };
        bump(&stats.connections);
        let _ = stream.set_nodelay(true);
        let (tx, stats, name, acceptor) =
            (tx.clone(), stats.clone(), name.clone(), acceptor.clone());
        let max = cfg.max_message_size;
        tokio::spawn(async move {
            let _permit = permit;
            match acceptor {
                None => read_stream(stream, peer, name, max, idle, tx, stats).await,
                Some(acc) => {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acc.accept(stream)).await {
                        Ok(Ok(tls)) => read_stream(tls, peer, name, max, idle, tx, stats).await,
                        _ => bump(&stats.tls_failures),
                    }
                }
            }
        });
    }
}

async fn read_stream<S: AsyncRead + Unpin>(
    mut stream: S,
    peer: SocketAddr,
    name: Arc<str>,
    max: usize,
    idle: Duration,
    tx: mpsc::Sender<Received>,
    stats: Arc<ListenerStats>,
) {
    let mut dec = FrameDecoder::new(max);
    let mut buf = vec![0u8; READ_CHUNK];
    let mut batch: FxHashMap<IpAddr, SenderCounts> = FxHashMap::default();
    loop {
        stats.merge_senders(&mut batch);
        let n = match tokio::time::timeout(idle, stream.read(&mut buf)).await {
            Err(_) => {
                bump(&stats.idle_timeouts);
                0
            }
            Ok(Ok(n)) => n,
            Ok(Err(_)) => 0,
        };
        if n == 0 {
            dec.finish();
        } else {
            dec.push(buf.get(..n).unwrap_or_default());
        }
        let now = Utc::now();
        loop {
            let msg = match dec.next_frame() {
                None => break,
                Some(Err(_)) => {
                    bump(&stats.framing_errors);
                    continue;
                }
                Some(Ok(f)) => {
                    if f.truncated {
                        bump(&stats.truncated);
                    }
                    Received {
                        listener: name.clone(),
                        peer,
                        received: now,
                        bytes: f.data.to_vec(),
                        truncated: f.truncated,
                    }
                }
            };
            let truncated = msg.truncated;
            if tx.send(msg).await.is_err() {
                stats.merge_senders(&mut batch);
                return;
            }
            bump(&stats.received);
            let per = batch.entry(peer.ip()).or_default();
            per.received += 1;
            per.truncated += u64::from(truncated);
        }
        if n == 0 {
            if dec.end() == Some(super::framing::StreamEnd::Empty) {
                // A connect and close (health check, probe): counted, no error.
                bump(&stats.empty_connections);
                tracing::debug!(%peer, "syslog connection closed without data");
            }
            stats.merge_senders(&mut batch);
            return;
        }
    }
}

pub(crate) fn tls_acceptor(
    listener: &str,
    t: &TlsConfig,
) -> Result<tokio_rustls::TlsAcceptor, ListenerError> {
    let config = crate::tls::server_config(
        &t.cert,
        &t.key,
        t.client_ca.as_deref(),
        t.require_client_cert,
    )
    .map_err(|e| ListenerError::Tls {
        listener: listener.to_owned(),
        path: e.path,
        reason: e.reason,
    })?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
