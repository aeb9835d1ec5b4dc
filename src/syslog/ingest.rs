//! Batched intake for the log service: the same UDP, TCP and TLS listeners
//! as [`super::listener`], but messages travel in [`Batch`]es (one buffer,
//! many frames) through one bounded channel per worker, and batches are
//! recycled through a [`BatchPool`], so a message costs no allocation and
//! no channel operation of its own.
//!
//! Back-pressure is the listener module's: UDP never waits (a batch that
//! finds its worker's queue full is dropped and every message in it
//! counted in `dropped`); TCP and TLS wait for room, closing the sender's
//! window, so nothing is lost. Messages of one sender always go to the
//! same worker (`shard_of`), in order.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rustc_hash::FxHashMap;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, watch, Semaphore};

use super::config::ListenerConfig;
use super::framing::FrameDecoder;
use super::listener::{ListenerStats, SenderCounts};

/// A batch is handed on once it holds this many messages ...
pub const BATCH_MAX_FRAMES: usize = 512;
/// ... or this many bytes (a single longer message makes a batch of one).
pub const BATCH_MAX_BYTES: usize = 256 * 1024;
/// Read size for stream connections.
const READ_CHUNK: usize = 64 * 1024;
/// Largest UDP payload.
const MAX_DATAGRAM: usize = 65_535;
/// Time a client gets to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where one message of a [`Batch`] lies and where it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchFrame {
    /// Offset of the message in [`Batch::data`].
    pub start: u32,
    /// Its length.
    pub len: u32,
    /// The sender.
    pub peer: SocketAddr,
    /// The message was cut at the maximum size.
    pub truncated: bool,
}

/// Messages of one listener received together.
#[derive(Debug, Default)]
pub struct Batch {
    /// Index of the listener (in the service's listener table).
    pub listener: usize,
    /// Arrival time of the first message.
    pub received: DateTime<Utc>,
    /// The messages' bytes, back to back.
    pub data: Vec<u8>,
    /// The messages.
    pub frames: Vec<BatchFrame>,
}

impl Batch {
    fn with_capacity() -> Self {
        Batch {
            listener: 0,
            received: DateTime::<Utc>::UNIX_EPOCH,
            data: Vec::with_capacity(BATCH_MAX_BYTES),
            frames: Vec::with_capacity(BATCH_MAX_FRAMES),
        }
    }

    /// Number of messages.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// No messages.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// The messages with their frames, in arrival order.
    pub fn messages(&self) -> impl Iterator<Item = (&[u8], &BatchFrame)> {
        self.frames.iter().map(|f| {
            let s = f.start as usize;
            (self.data.get(s..s + f.len as usize).unwrap_or_default(), f)
        })
    }

    fn push(&mut self, bytes: &[u8], peer: SocketAddr, truncated: bool, now: DateTime<Utc>) {
        if self.frames.is_empty() {
            self.received = now;
        }
        // Messages are at most 16 MiB (ListenerConfig::validate) and a
        // batch is handed on past BATCH_MAX_BYTES, so offsets fit in u32.
        let start = self.data.len() as u32;
        self.data.extend_from_slice(bytes);
        self.frames.push(BatchFrame {
            start,
            len: bytes.len() as u32,
            peer,
            truncated,
        });
    }

    fn full(&self) -> bool {
        self.frames.len() >= BATCH_MAX_FRAMES || self.data.len() >= BATCH_MAX_BYTES
    }

    fn clear(&mut self) {
        self.data.clear();
        self.frames.clear();
    }

    /// Per-sender counts of this batch added to `per` as received (or
    /// dropped), plus truncations.
    fn count_senders(&self, per: &mut FxHashMap<IpAddr, SenderCounts>, dropped: bool) {
        for f in &self.frames {
            let c = per.entry(f.peer.ip()).or_default();
            if dropped {
                c.dropped += 1;
            } else {
                c.received += 1;
            }
            c.truncated += u64::from(f.truncated);
        }
    }
}

/// Empty batches for reuse; bounded, so idle memory is bounded too.
#[derive(Clone, Debug)]
pub struct BatchPool {
    tx: crossbeam_channel::Sender<Batch>,
    rx: crossbeam_channel::Receiver<Batch>,
}

impl BatchPool {
    /// A pool keeping at most `capacity` empty batches.
    pub fn new(capacity: usize) -> Self {
        let (tx, rx) = crossbeam_channel::bounded(capacity.max(1));
        BatchPool { tx, rx }
    }

    /// An empty batch for listener `listener` (reused when one is free).
    pub fn get(&self, listener: usize) -> Batch {
        let mut b = self
            .rx
            .try_recv()
            .unwrap_or_else(|_| Batch::with_capacity());
        b.listener = listener;
        b
    }

    /// Returns a processed batch; buffers grown by a huge message are
    /// shrunk first, and a batch the full pool cannot take is freed.
    pub fn put(&self, mut b: Batch) {
        b.clear();
        if b.data.capacity() > 2 * BATCH_MAX_BYTES {
            b.data.shrink_to(BATCH_MAX_BYTES);
        }
        let _ = self.tx.try_send(b);
    }
}

/// The worker queues messages are spread over, by sender address.
#[derive(Clone, Debug)]
pub struct Shards {
    txs: Arc<[mpsc::Sender<Batch>]>,
}

impl Shards {
    /// One sender per worker queue.
    pub fn new(txs: Vec<mpsc::Sender<Batch>>) -> Self {
        Shards { txs: txs.into() }
    }

    /// The worker of a sender address.
    pub fn shard_of(&self, ip: IpAddr) -> usize {
        let n = self.txs.len();
        if n <= 1 {
            return 0;
        }
        let h = match ip {
            IpAddr::V4(a) => u64::from(u32::from(a)),
            IpAddr::V6(a) => {
                let v = u128::from(a);
                (v as u64) ^ ((v >> 64) as u64)
            }
        };
        (h.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize % n
    }

    fn len(&self) -> usize {
        self.txs.len()
    }

    fn get(&self, i: usize) -> Option<&mpsc::Sender<Batch>> {
        self.txs.get(i)
    }
}

/// What a batch listener needs besides its config.
#[derive(Clone, Debug)]
pub struct IngestContext {
    /// Index of this listener in the service's table (put in every batch).
    pub listener: usize,
    /// Worker queues.
    pub shards: Shards,
    /// Batch recycling.
    pub pool: BatchPool,
    /// The listener's counters.
    pub stats: Arc<ListenerStats>,
    /// Becomes `true` when the service shuts down.
    pub shutdown: watch::Receiver<bool>,
}

/// A bound listener, ready to run.
pub enum BoundListener {
    /// A UDP socket.
    Udp(UdpSocket),
    /// A TCP listening socket, with the TLS acceptor of a `tls` listener.
    Stream(TcpListener, Option<tokio_rustls::TlsAcceptor>),
}

impl std::fmt::Debug for BoundListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BoundListener::Udp(s) => f.debug_tuple("Udp").field(s).finish(),
            BoundListener::Stream(l, a) => f
                .debug_struct("Stream")
                .field("listener", l)
                .field("tls", &a.is_some())
                .finish(),
        }
    }
}

impl BoundListener {
    /// Binds `cfg.address` synchronously; must run inside the tokio
    /// runtime's context (`Handle::enter`).
    pub fn bind(cfg: &ListenerConfig) -> Result<Self, super::listener::ListenerError> {
        use super::config::ListenerProtocol;
        use super::listener::ListenerError;
        cfg.validate()?;
        let bind_err = |source| ListenerError::Bind {
            listener: cfg.name.clone(),
            address: cfg.address,
            source,
        };
        match cfg.protocol {
            ListenerProtocol::Udp => Ok(BoundListener::Udp(
                super::listener::bind_udp(cfg.address).map_err(bind_err)?,
            )),
            ListenerProtocol::Tcp | ListenerProtocol::Tls => {
                let acceptor = match (&cfg.tls, cfg.protocol) {
                    (Some(t), ListenerProtocol::Tls) => {
                        Some(super::listener::tls_acceptor(&cfg.name, t)?)
                    }
                    _ => None,
                };
                let l = bind_tcp(cfg.address).map_err(bind_err)?;
                Ok(BoundListener::Stream(l, acceptor))
            }
        }
    }

    /// The bound address (the real port when the config said 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match self {
            BoundListener::Udp(s) => s.local_addr(),
            BoundListener::Stream(l, _) => l.local_addr(),
        }
    }

    /// Runs until shutdown: receives, frames and hands batches on.
    pub async fn run(self, cfg: ListenerConfig, cx: IngestContext) {
        match self {
            BoundListener::Udp(s) => udp_loop(s, cfg.max_message_size, cx).await,
            BoundListener::Stream(l, acc) => accept_loop(l, cfg, acc, cx).await,
        }
    }
}

fn bind_tcp(address: SocketAddr) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let sock = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    sock.set_reuse_address(true)?;
    sock.set_nonblocking(true)?;
    sock.bind(&address.into())?;
    sock.listen(1024)?;
    TcpListener::from_std(sock.into())
}

async fn udp_loop(sock: UdpSocket, max: usize, mut cx: IngestContext) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut per: FxHashMap<IpAddr, SenderCounts> = FxHashMap::default();
    let mut batches: Vec<Batch> = (0..cx.shards.len())
        .map(|_| cx.pool.get(cx.listener))
        .collect();
    loop {
        cx.stats.merge_senders(&mut per);
        tokio::select! {
            r = sock.readable() => if r.is_err() { return },
            _ = cx.shutdown.wait_for(|v| *v) => return,
        }
        let now = Utc::now();
        // Drain what is queued (batched receive); any error ends the batch.
        while let Ok((n, peer)) = sock.try_recv_from(&mut buf) {
            let truncated = n > max;
            if truncated {
                cx.stats.truncated.fetch_add(1, Ordering::Relaxed);
            }
            let shard = cx.shards.shard_of(peer.ip());
            let Some(b) = batches.get_mut(shard) else {
                continue;
            };
            b.push(
                buf.get(..n.min(max)).unwrap_or_default(),
                peer,
                truncated,
                now,
            );
            if b.full() && !udp_send(&mut batches, shard, &mut per, &cx) {
                return;
            }
        }
        for shard in 0..batches.len() {
            if !udp_send(&mut batches, shard, &mut per, &cx) {
                return;
            }
        }
    }
}

/// Hands shard `shard`'s batch on without waiting; a full queue drops and
/// counts it. `false` when the service is gone.
fn udp_send(
    batches: &mut [Batch],
    shard: usize,
    per: &mut FxHashMap<IpAddr, SenderCounts>,
    cx: &IngestContext,
) -> bool {
    let (Some(slot), Some(tx)) = (batches.get_mut(shard), cx.shards.get(shard)) else {
        return true;
    };
    if slot.is_empty() {
        return true;
    }
    let b = std::mem::replace(slot, cx.pool.get(cx.listener));
    let n = b.len() as u64;
    // Counted before the send: the worker may finish with it first.
    b.count_senders(per, false);
    match tx.try_send(b) {
        Ok(()) => {
            cx.stats.received.fetch_add(n, Ordering::Relaxed);
            true
        }
        Err(mpsc::error::TrySendError::Full(b)) => {
            cx.stats.dropped.fetch_add(n, Ordering::Relaxed);
            for f in &b.frames {
                let c = per.entry(f.peer.ip()).or_default();
                c.received = c.received.saturating_sub(1);
                c.dropped += 1;
            }
            cx.pool.put(b);
            true
        }
        Err(mpsc::error::TrySendError::Closed(b)) => {
            cx.stats.dropped.fetch_add(n, Ordering::Relaxed);
            cx.pool.put(b);
            false
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    cfg: ListenerConfig,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    mut cx: IngestContext,
) {
    let slots = Arc::new(Semaphore::new(cfg.max_connections));
    let idle = Duration::from_secs(cfg.idle_timeout_secs);
    let max = cfg.max_message_size;
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = cx.shutdown.wait_for(|v| *v) => return,
        };
        let (stream, peer) = match accepted {
            Ok(v) => v,
            Err(_) => {
                // EMFILE and friends: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            cx.stats
                .rejected_connections
                .fetch_add(1, Ordering::Relaxed);
            drop(stream);
            continue;
        };
        cx.stats.connections.fetch_add(1, Ordering::Relaxed);
        let _ = stream.set_nodelay(true);
        let (cx, acceptor) = (cx.clone(), acceptor.clone());
        tokio::spawn(async move {
            let _permit = permit;
            match acceptor {
                None => read_stream(stream, peer, max, idle, cx).await,
                Some(acc) => {
                    let mut sd = cx.shutdown.clone();
                    let hs = tokio::select! {
                        r = tokio::time::timeout(HANDSHAKE_TIMEOUT, acc.accept(stream)) => r,
                        _ = sd.wait_for(|v| *v) => return,
                    };
                    match hs {
                        Ok(Ok(tls)) => read_stream(tls, peer, max, idle, cx).await,
                        _ => {
                            cx.stats.tls_failures.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
        });
    }
}

async fn read_stream<S: AsyncRead + Unpin>(
    mut stream: S,
    peer: SocketAddr,
    max: usize,
    idle: Duration,
    mut cx: IngestContext,
) {
    let mut dec = FrameDecoder::new(max);
    let mut buf = vec![0u8; READ_CHUNK];
    let mut per: FxHashMap<IpAddr, SenderCounts> = FxHashMap::default();
    let shard = cx.shards.shard_of(peer.ip());
    let Some(tx) = cx.shards.get(shard).cloned() else {
        return;
    };
    let mut batch = cx.pool.get(cx.listener);
    loop {
        cx.stats.merge_senders(&mut per);
        let n = tokio::select! {
            r = tokio::time::timeout(idle, stream.read(&mut buf)) => match r {
                Err(_) => {
                    cx.stats.idle_timeouts.fetch_add(1, Ordering::Relaxed);
                    0
                }
                Ok(Ok(n)) => n,
                Ok(Err(_)) => 0,
            },
            _ = cx.shutdown.wait_for(|v| *v) => 0,
        };
        if n == 0 {
            dec.finish();
        } else {
            dec.push(buf.get(..n).unwrap_or_default());
        }
        let now = Utc::now();
        while let Some(f) = dec.next_frame() {
            match f {
                Err(_) => {
                    cx.stats.framing_errors.fetch_add(1, Ordering::Relaxed);
                }
                Ok(f) => {
                    if f.truncated {
                        cx.stats.truncated.fetch_add(1, Ordering::Relaxed);
                    }
                    batch.push(f.data, peer, f.truncated, now);
                    if batch.full() {
                        let full = std::mem::replace(&mut batch, cx.pool.get(cx.listener));
                        if !stream_send(&tx, full, &mut per, &cx).await {
                            return;
                        }
                    }
                }
            }
        }
        if !batch.is_empty() {
            let b = std::mem::replace(&mut batch, cx.pool.get(cx.listener));
            if !stream_send(&tx, b, &mut per, &cx).await {
                return;
            }
        }
        if n == 0 {
            if dec.end() == Some(super::framing::StreamEnd::Empty) {
                // A connect and close (health check, probe): counted, no error.
                cx.stats.empty_connections.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%peer, "syslog connection closed without data");
            }
            cx.stats.merge_senders(&mut per);
            cx.pool.put(batch);
            return;
        }
    }
}

/// Waits for room (back-pressure); `false` when the service is gone.
async fn stream_send(
    tx: &mpsc::Sender<Batch>,
    b: Batch,
    per: &mut FxHashMap<IpAddr, SenderCounts>,
    cx: &IngestContext,
) -> bool {
    let n = b.len() as u64;
    b.count_senders(per, false);
    // Counted before the send so that a worker never sees more processed
    // than received.
    cx.stats.received.fetch_add(n, Ordering::Relaxed);
    match tx.send(b).await {
        Ok(()) => true,
        Err(mpsc::error::SendError(b)) => {
            cx.stats.received.fetch_sub(n, Ordering::Relaxed);
            cx.stats.dropped.fetch_add(n, Ordering::Relaxed);
            cx.pool.put(b);
            cx.stats.merge_senders(per);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_keeps_messages_apart_and_pool_recycles() {
        let pool = BatchPool::new(2);
        let mut b = pool.get(3);
        let peer: SocketAddr = "127.0.0.1:9".parse().expect("addr");
        let now = Utc::now();
        b.push(b"one", peer, false, now);
        b.push(b"", peer, false, now);
        b.push(b"three", peer, true, now);
        let got: Vec<_> = b
            .messages()
            .map(|(m, f)| (m.to_vec(), f.truncated))
            .collect();
        assert_eq!(
            got,
            vec![
                (b"one".to_vec(), false),
                (Vec::new(), false),
                (b"three".to_vec(), true)
            ]
        );
        assert_eq!((b.listener, b.received), (3, now));
        let cap = b.data.capacity();
        pool.put(b);
        let b = pool.get(1);
        assert!(b.is_empty());
        assert_eq!((b.listener, b.data.capacity()), (1, cap));
    }

    #[test]
    fn batches_fill_by_count_or_bytes() {
        let peer: SocketAddr = "127.0.0.1:9".parse().expect("addr");
        let now = Utc::now();
        let mut b = Batch::with_capacity();
        for _ in 0..BATCH_MAX_FRAMES - 1 {
            b.push(b"x", peer, false, now);
        }
        assert!(!b.full());
        b.push(b"x", peer, false, now);
        assert!(b.full());
        let mut b = Batch::with_capacity();
        b.push(&vec![b'y'; BATCH_MAX_BYTES], peer, false, now);
        assert!(b.full());
    }

    #[test]
    fn shards_are_stable_and_in_range() {
        let (txs, _rxs): (Vec<_>, Vec<_>) = (0..3).map(|_| mpsc::channel::<Batch>(1)).unzip();
        let s = Shards::new(txs);
        for i in 0..200u8 {
            let ip = IpAddr::from([10, 0, 0, i]);
            let a = s.shard_of(ip);
            assert!(a < 3);
            assert_eq!(a, s.shard_of(ip));
        }
        let spread: std::collections::BTreeSet<_> = (0..200u8)
            .map(|i| s.shard_of(IpAddr::from([10, 0, 0, i])))
            .collect();
        assert_eq!(spread.len(), 3);
    }
}
