//! The sensor side: every alert to the JetStream stream, at least once,
//! without ever making the caller wait for the network.
//!
//! [`AlertPublisher::publish`] encodes the alert, gives it the message id
//! `SENSOR.RUN.SEQ` and puts it in a bounded memory buffer; a background
//! task sends with at most `max_in_flight` publishes awaiting their
//! JetStream acknowledgement and puts back whatever failed or timed out
//! (same id: JetStream's duplicate window and the central's ledger drop a
//! second copy). When the buffer is full (NATS down or slow) alerts go to
//! the [`Spool`] if one is configured, else they are counted as dropped.
//! [`AlertPublisher::close`] spools what is still unacknowledged.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_nats::jetstream::message::PublishMessage as Publish;
use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::spool::Spool;
use super::{connect_client, ensure_stream, wire, NatsError};
use crate::alert::Alert;
use crate::config::QueueConfig;

/// Counters of a publisher.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PublisherStats {
    /// Alerts handed to [`AlertPublisher::publish`].
    pub published: u64,
    /// Messages acknowledged by JetStream (stored in the stream).
    pub acked: u64,
    /// Of those, acknowledged as duplicates (an earlier copy was stored).
    pub duplicates: u64,
    /// Publish attempts that failed or timed out and were retried.
    pub retries: u64,
    /// Alerts waiting in memory now.
    pub buffered: u64,
    /// Publishes awaiting their acknowledgement now.
    pub in_flight: u64,
    /// Alerts written to the spool.
    pub spooled: u64,
    /// Spooled alerts read back for sending.
    pub unspooled: u64,
    /// Alerts lost: buffer full with no spool, or the spool failed.
    pub dropped: u64,
    /// Alerts that could not be encoded (larger than a message may be).
    pub encode_errors: u64,
}

/// An alert waiting to be sent.
struct Item {
    id: String,
    subject: Arc<str>,
    payload: Bytes,
    /// Its spool row, when it came from the spool.
    row: Option<i64>,
}

#[derive(Default)]
struct Counters {
    published: AtomicU64,
    acked: AtomicU64,
    duplicates: AtomicU64,
    retries: AtomicU64,
    in_flight: AtomicU64,
    spooled: AtomicU64,
    unspooled: AtomicU64,
    dropped: AtomicU64,
    encode_errors: AtomicU64,
    /// Rows believed to be in the spool (for `flush`).
    spool_rows: AtomicU64,
}

/// Overflow written to the spool in one transaction once this many wait.
const SPOOL_BATCH: usize = 512;
/// Spooled rows read back at once.
const UNSPOOL_BATCH: usize = 1024;
/// Timeout of one publish acknowledgement.
const ACK_TIMEOUT: Duration = Duration::from_secs(5);

struct Shared {
    subject: Arc<str>,
    sensor: String,
    run: String,
    seq: AtomicU64,
    cap: usize,
    max_in_flight: usize,
    flush_timeout: Duration,
    queue: Mutex<VecDeque<Item>>,
    overflow: Mutex<Vec<Item>>,
    spool: Option<Mutex<Spool>>,
    wake: Notify,
    stop: AtomicBool,
    c: Counters,
}

fn sub_sat(a: &AtomicU64, n: u64) {
    let _ = a.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
        Some(v.saturating_sub(n))
    });
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these locks cannot leave the data
    // inconsistent (plain pushes and pops), so a poisoned lock is used.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    /// Writes the overflow to the spool (or counts it dropped).
    fn spill(&self) {
        let items: Vec<Item> = std::mem::take(&mut *lock(&self.overflow));
        self.spill_items(items);
    }

    fn spill_items(&self, items: Vec<Item>) {
        if items.is_empty() {
            return;
        }
        let n = items.len() as u64;
        // Items that came from the spool are still there.
        let fresh: Vec<&Item> = items.iter().filter(|i| i.row.is_none()).collect();
        let Some(spool) = &self.spool else {
            self.c
                .dropped
                .fetch_add(fresh.len() as u64, Ordering::Relaxed);
            return;
        };
        let mut s = lock(spool);
        match s.put(
            fresh
                .iter()
                .map(|i| (i.id.as_str(), &*i.subject, &i.payload[..])),
        ) {
            Ok(added) => {
                self.c.spooled.fetch_add(added, Ordering::Relaxed);
                self.c.spool_rows.fetch_add(added, Ordering::Relaxed);
                if fresh.len() as u64 != n {
                    // Rows taken from the spool and not sent go back in order.
                    s.rewind();
                }
            }
            Err(e) => {
                tracing::error!(error = %e, lost = fresh.len(), "NATS spool write failed; alerts lost / 告警写入缓存失败");
                self.c
                    .dropped
                    .fetch_add(fresh.len() as u64, Ordering::Relaxed);
            }
        }
    }

    fn idle(&self) -> bool {
        lock(&self.queue).is_empty()
            && lock(&self.overflow).is_empty()
            && self.c.in_flight.load(Ordering::Acquire) == 0
            && self.c.spool_rows.load(Ordering::Relaxed) == 0
    }
}

/// Publishes a sensor's alerts to JetStream. Cheap to share behind an
/// `Arc`; [`AlertPublisher::publish`] never waits for the network.
pub struct AlertPublisher {
    shared: Arc<Shared>,
    task: Mutex<Option<JoinHandle<()>>>,
}

fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos:x}-{}", std::process::id())
}

impl AlertPublisher {
    /// Starts a publisher for `cfg.sensor_id` on `cfg.nats`. Returns at
    /// once even when no server is reachable: the client keeps
    /// reconnecting and alerts wait in the buffer (and the spool).
    pub async fn connect(cfg: &QueueConfig) -> Result<Self, NatsError> {
        let n = &cfg.nats;
        let spool = match &n.spool {
            Some(p) => Some(Spool::open(p)?),
            None => None,
        };
        let spool_rows = match &spool {
            Some(s) => s.len()?,
            None => 0,
        };
        let client =
            connect_client(n, &format!("zoneguard-sensor-{}", cfg.sensor_id), false).await?;
        let js = async_nats::jetstream::ContextBuilder::new()
            .timeout(ACK_TIMEOUT)
            .max_ack_inflight(n.max_in_flight.max(1))
            .backpressure_on_inflight(true)
            .build(client);
        let shared = Arc::new(Shared {
            subject: Arc::from(format!("{}.{}", n.subject, cfg.sensor_id)),
            sensor: cfg.sensor_id.clone(),
            run: run_id(),
            seq: AtomicU64::new(0),
            cap: n.buffer.max(1),
            max_in_flight: n.max_in_flight.max(1),
            flush_timeout: Duration::from_secs(n.flush_timeout_secs),
            queue: Mutex::new(VecDeque::new()),
            overflow: Mutex::new(Vec::new()),
            spool: spool.map(Mutex::new),
            wake: Notify::new(),
            stop: AtomicBool::new(false),
            c: Counters::default(),
        });
        shared.c.spool_rows.store(spool_rows, Ordering::Relaxed);
        let nats = n.clone();
        let task = tokio::spawn(sender(Arc::clone(&shared), js, nats));
        Ok(AlertPublisher {
            shared,
            task: Mutex::new(Some(task)),
        })
    }

    /// Queues one alert (never waits for the network; writes the spool
    /// only when the buffer is full). An alert too large for a message is
    /// counted in `encode_errors` and returned as an error.
    pub async fn publish(&self, alert: &Alert) -> Result<(), NatsError> {
        let s = &self.shared;
        let seq = s.seq.fetch_add(1, Ordering::Relaxed) + 1;
        s.c.published.fetch_add(1, Ordering::Relaxed);
        let payload = match wire::encode(alert, &s.sensor, seq) {
            Ok(p) => p,
            Err(e) => {
                s.c.encode_errors.fetch_add(1, Ordering::Relaxed);
                return Err(e.into());
            }
        };
        let item = Item {
            id: format!("{}.{}.{}", s.sensor, s.run, seq),
            subject: Arc::clone(&s.subject),
            payload: Bytes::from(payload),
            row: None,
        };
        {
            let mut q = lock(&s.queue);
            if q.len() < s.cap {
                q.push_back(item);
                drop(q);
                s.wake.notify_one();
                return Ok(());
            }
        }
        if s.spool.is_none() {
            s.c.dropped.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        let full = {
            let mut o = lock(&s.overflow);
            o.push(item);
            o.len() >= SPOOL_BATCH
        };
        if full {
            s.spill();
        }
        Ok(())
    }

    /// Waits until everything published so far (and everything in the
    /// spool) is acknowledged by JetStream, at most
    /// `queue.nats.flush_timeout_secs`.
    pub async fn flush(&self) -> Result<(), NatsError> {
        let s = &self.shared;
        let started = Instant::now();
        loop {
            if !lock(&s.overflow).is_empty() {
                // The overflow goes to the spool, and from there to NATS.
                s.spill();
                s.wake.notify_one();
            }
            if s.idle() {
                return Ok(());
            }
            if started.elapsed() >= s.flush_timeout {
                let st = self.stats();
                return Err(NatsError::FlushTimeout {
                    pending: st.buffered + st.in_flight + s.c.spool_rows.load(Ordering::Relaxed),
                    secs: s.flush_timeout.as_secs(),
                });
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops sending, waits for the publishes in flight (at most the ack
    /// timeout), writes everything unacknowledged to the spool (counted
    /// as dropped without one) and returns the final counters.
    pub async fn close(&self) -> PublisherStats {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.wake.notify_one();
        let task = lock(&self.task).take();
        if let Some(t) = task {
            if let Err(e) = t.await {
                tracing::error!(error = %e, "NATS publisher task failed");
            }
        }
        let rest: Vec<Item> = lock(&self.shared.queue).drain(..).collect();
        self.shared.spill_items(rest);
        self.shared.spill();
        self.stats()
    }

    /// The counters.
    pub fn stats(&self) -> PublisherStats {
        let c = &self.shared.c;
        let buffered = lock(&self.shared.queue).len() + lock(&self.shared.overflow).len();
        PublisherStats {
            published: c.published.load(Ordering::Relaxed),
            acked: c.acked.load(Ordering::Relaxed),
            duplicates: c.duplicates.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            buffered: buffered as u64,
            in_flight: c.in_flight.load(Ordering::Relaxed),
            spooled: c.spooled.load(Ordering::Relaxed),
            unspooled: c.unspooled.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            encode_errors: c.encode_errors.load(Ordering::Relaxed),
        }
    }

    /// This run's id, the middle part of every message id.
    pub fn run_id(&self) -> &str {
        &self.shared.run
    }
}

impl Drop for AlertPublisher {
    /// Without [`AlertPublisher::close`]: stops sending and writes what is
    /// still buffered to the spool (counted as dropped without one); the
    /// publishes in flight are settled by the background task.
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.wake.notify_one();
        let rest: Vec<Item> = lock(&self.shared.queue).drain(..).collect();
        self.shared.spill_items(rest);
        self.shared.spill();
    }
}

type AckFuture = Pin<Box<dyn Future<Output = (Item, Result<bool, String>)> + Send>>;

/// The background task: fills the in-flight window from the buffer (and
/// the spool when the buffer is empty) and settles acknowledgements.
async fn sender(s: Arc<Shared>, js: async_nats::jetstream::Context, n: crate::config::NatsConfig) {
    let mut inflight: FuturesUnordered<AckFuture> = FuturesUnordered::new();
    let mut stream_ready = false;
    let mut backoff = Duration::from_millis(0);
    let mut acked_rows: Vec<i64> = Vec::new();
    let mut last_tick = Instant::now();
    loop {
        let stopping = s.stop.load(Ordering::Acquire);
        if !stream_ready && !stopping {
            match ensure_stream(&js, &n).await {
                Ok(_) => stream_ready = true,
                Err(e) => {
                    tracing::debug!(error = %e, "NATS stream not ready");
                    backoff =
                        (backoff * 2).clamp(Duration::from_millis(100), Duration::from_secs(2));
                }
            }
        }
        let mut failed = false;
        if stream_ready && !stopping && backoff.is_zero() {
            // Read back the spool when memory has nothing to send.
            if lock(&s.queue).is_empty() && s.c.spool_rows.load(Ordering::Relaxed) > 0 {
                if let Some(sp) = &s.spool {
                    let rows = lock(sp).take(UNSPOOL_BATCH.min(s.cap));
                    match rows {
                        Ok(rows) => {
                            s.c.unspooled
                                .fetch_add(rows.len() as u64, Ordering::Relaxed);
                            let mut q = lock(&s.queue);
                            for r in rows {
                                q.push_back(Item {
                                    id: r.msg_id,
                                    subject: Arc::from(r.subject),
                                    payload: Bytes::from(r.payload),
                                    row: Some(r.row),
                                });
                            }
                        }
                        Err(e) => tracing::error!(error = %e, "NATS spool read failed"),
                    }
                }
            }
            while inflight.len() < s.max_in_flight {
                let Some(item) = lock(&s.queue).pop_front() else {
                    break;
                };
                let publish = Publish::build()
                    .payload(item.payload.clone())
                    .message_id(item.id.as_str());
                match js.send_publish(item.subject.to_string(), publish).await {
                    Ok(fut) => {
                        s.c.in_flight.fetch_add(1, Ordering::AcqRel);
                        inflight.push(Box::pin(async move {
                            let r = fut.await.map(|a| a.duplicate).map_err(|e| e.to_string());
                            (item, r)
                        }));
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "NATS publish failed; will retry");
                        s.c.retries.fetch_add(1, Ordering::Relaxed);
                        lock(&s.queue).push_front(item);
                        failed = true;
                        break;
                    }
                }
            }
        }
        if stopping && inflight.is_empty() {
            break;
        }
        if failed {
            backoff = (backoff * 2).clamp(Duration::from_millis(100), Duration::from_secs(2));
        }
        let tick = if backoff.is_zero() {
            Duration::from_millis(200)
        } else {
            backoff
        };
        tokio::select! {
            Some((item, r)) = inflight.next(), if !inflight.is_empty() => {
                s.c.in_flight.fetch_sub(1, Ordering::AcqRel);
                match r {
                    Ok(dup) => {
                        s.c.acked.fetch_add(1, Ordering::Relaxed);
                        if dup {
                            s.c.duplicates.fetch_add(1, Ordering::Relaxed);
                        }
                        if let Some(row) = item.row {
                            acked_rows.push(row);
                        }
                        backoff = Duration::ZERO;
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, id = %item.id, "NATS publish not acknowledged; will retry");
                        s.c.retries.fetch_add(1, Ordering::Relaxed);
                        if stopping {
                            s.spill_items(vec![item]);
                        } else {
                            lock(&s.queue).push_front(item);
                        }
                        backoff = (backoff * 2).clamp(Duration::from_millis(100), Duration::from_secs(2));
                    }
                }
            }
            _ = s.wake.notified() => {}
            _ = tokio::time::sleep(tick) => {
                backoff = Duration::ZERO;
            }
        }
        if acked_rows.len() >= 256
            || (!acked_rows.is_empty()
                && (inflight.is_empty() || last_tick.elapsed() > Duration::from_millis(200)))
        {
            if let Some(sp) = &s.spool {
                match lock(sp).remove(&acked_rows) {
                    Ok(()) => {
                        sub_sat(&s.c.spool_rows, acked_rows.len() as u64);
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "NATS spool delete failed (rows are re-sent later, duplicates are dropped)")
                    }
                }
            }
            acked_rows.clear();
        }
        if last_tick.elapsed() > Duration::from_millis(200) {
            last_tick = Instant::now();
            if !lock(&s.overflow).is_empty() {
                s.spill();
            }
        }
    }
    if let Some(sp) = &s.spool {
        if let Err(e) = lock(sp).remove(&acked_rows) {
            tracing::error!(error = %e, "NATS spool delete failed");
        } else {
            sub_sat(&s.c.spool_rows, acked_rows.len() as u64);
        }
    }
}
