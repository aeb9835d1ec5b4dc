//! Notifications: incidents sent out when they are opened, raised in grade,
//! or their reporting deadline passes — to HTTPS webhooks (JSON, HMAC
//! signature, retries, dead letters) and to a SIEM as RFC 5424 syslog over
//! TLS (RFC 5425).
//!
//! The [`crate::incident::Manager`] puts an [`IncidentEvent`] into a bounded
//! channel (never waiting: a full channel is counted, and the overdue scan
//! catches deadlines anyway). [`spawn`] starts, on the current tokio
//! runtime, a dispatcher that routes each event by grade and unit to the
//! destinations of the `notify:` config, and one worker per destination
//! with its own bounded queue and rate limit (token bucket; the excess goes
//! out as one digest). The dispatcher also scans the store every
//! `overdue_scan` for open incidents past `report_due` and sends each one
//! overdue notice (remembered in the store, so a restart does not repeat
//! it). See docs/notifications.md.

pub mod deadletter;
pub mod limit;
pub mod message;
pub mod syslog;
pub mod tls;
pub mod webhook;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::{NotifyConfig, Route};
use crate::incident::{wall_now, Incident};

pub use deadletter::DeadLetter;
pub use message::{Digest, Notice};

/// Overdue incidents handled per scan at most (the rest next time).
const MAX_OVERDUE_PER_SCAN: usize = 1000;

/// What happened to an incident.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A new incident.
    Opened,
    /// Its grade rose (a more serious detection joined).
    GradeRaised,
    /// Its reporting deadline passed while it is still open.
    Overdue,
}

impl EventKind {
    /// `opened`, `grade_raised`, `overdue`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Opened => "opened",
            EventKind::GradeRaised => "grade_raised",
            EventKind::Overdue => "overdue",
        }
    }

    /// Chinese and English names.
    pub fn names(self) -> (&'static str, &'static str) {
        match self {
            EventKind::Opened => ("新建事件", "Incident opened"),
            EventKind::GradeRaised => ("事件等级升高", "Incident grade raised"),
            EventKind::Overdue => ("事件报告超时", "Incident report overdue"),
        }
    }
}

/// One notification-worthy change of an incident.
#[derive(Clone, Debug, PartialEq)]
pub struct IncidentEvent {
    /// What happened.
    pub kind: EventKind,
    /// The incident's state at that moment.
    pub incident: Incident,
}

/// Why the notifier could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// A destination's settings are unusable.
    #[error("notify destination `{destination}`: {reason}")]
    Config {
        /// Destination name.
        destination: String,
        /// What is wrong.
        reason: String,
    },
    /// A certificate or key file is unusable.
    #[error("notify destination `{destination}`: {path}: {reason}")]
    Tls {
        /// Destination name.
        destination: String,
        /// The file at fault.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// Counters of one destination.
#[derive(Debug, Default)]
pub struct DestCounters {
    /// Notices delivered (webhook: 2xx; syslog: written).
    pub sent: AtomicU64,
    /// Attempts (or connections) that failed.
    pub failed_attempts: AtomicU64,
    /// Webhook retries made.
    pub retries: AtomicU64,
    /// Notices given up and recorded as dead letters.
    pub dead_letters: AtomicU64,
    /// Syslog notices dropped (queue full, shutdown deadline).
    pub dropped: AtomicU64,
    /// Events not routed here (grade or unit).
    pub filtered: AtomicU64,
    /// Events over the rate, summarized in a digest.
    pub rate_limited: AtomicU64,
    /// Digests sent.
    pub digests: AtomicU64,
    /// Syslog connections made.
    pub connects: AtomicU64,
}

/// Snapshot of one destination's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DestinationStats {
    /// Destination name.
    pub name: String,
    /// `webhook` or `syslog`.
    pub kind: &'static str,
    /// See [`DestCounters::sent`].
    pub sent: u64,
    /// See [`DestCounters::failed_attempts`].
    pub failed_attempts: u64,
    /// See [`DestCounters::retries`].
    pub retries: u64,
    /// See [`DestCounters::dead_letters`].
    pub dead_letters: u64,
    /// See [`DestCounters::dropped`].
    pub dropped: u64,
    /// See [`DestCounters::filtered`].
    pub filtered: u64,
    /// See [`DestCounters::rate_limited`].
    pub rate_limited: u64,
    /// See [`DestCounters::digests`].
    pub digests: u64,
    /// See [`DestCounters::connects`].
    pub connects: u64,
}

/// Counters of the whole notifier.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NotifierStats {
    /// Events received (from the Manager and the overdue scan).
    pub events: u64,
    /// Overdue incidents found by the scan.
    pub overdue: u64,
    /// Scans that failed (store unreadable).
    pub scan_errors: u64,
    /// Dead letters that could not be written to the store (logged).
    pub dead_letter_errors: u64,
    /// Per destination, webhooks first.
    pub destinations: Vec<DestinationStats>,
}

#[derive(Debug, Default)]
struct Counters {
    events: AtomicU64,
    overdue: AtomicU64,
    scan_errors: AtomicU64,
    dead_letter_errors: AtomicU64,
}

/// Resolves when `rx` turns true; never, if its sender is gone (a dropped
/// handle sets no deadline), so a `select!` on it cannot spin.
pub(crate) async fn abandoned(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|a| *a).await.is_err() {
        std::future::pending::<()>().await;
    }
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// Small, fast random numbers for backoff jitter (SplitMix64; not for
/// anything secret).
pub(crate) struct Jitter(u64);

impl Jitter {
    pub(crate) fn new(salt: &str) -> Jitter {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let h = salt.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        Jitter(t ^ h)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

/// Writes dead letters to the store from the async side (on the blocking
/// pool, one connection kept open).
#[derive(Clone)]
pub(crate) struct DeadLetterSink {
    store: PathBuf,
    conn: Arc<Mutex<Option<rusqlite::Connection>>>,
    counters: Arc<Counters>,
}

impl DeadLetterSink {
    /// Stores `d`; a failure is logged and counted.
    pub(crate) async fn record(&self, d: DeadLetter) {
        let store = self.store.clone();
        let conn = Arc::clone(&self.conn);
        let res = tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            if guard.is_none() {
                *guard = Some(crate::queue::open_db(&store)?);
            }
            match guard.as_ref() {
                Some(c) => deadletter::insert(c, &d).map(|_| ()),
                None => Ok(()),
            }
        })
        .await;
        let err = match res {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e.to_string(),
            Err(e) => e.to_string(),
        };
        bump(&self.counters.dead_letter_errors);
        tracing::error!(
            "{}: cannot record a notification dead letter: {err} / 无法记录死信",
            self.store.display()
        );
    }
}

struct Dest {
    name: String,
    kind: &'static str,
    route: Route,
    tx: mpsc::Sender<Arc<IncidentEvent>>,
    counters: Arc<DestCounters>,
}

/// The notifier: see the module documentation. Start it with
/// [`Notifier::spawn`] (or [`spawn`]).
pub struct Notifier;

impl Notifier {
    /// Starts the notifier on the current tokio runtime: reads the
    /// destinations' certificates, then routes what arrives on `rx` until
    /// [`NotifierHandle::shutdown`] or until every sender of `rx` is gone.
    /// `store` is the incident store (dead letters, overdue scan).
    pub fn spawn(
        cfg: &NotifyConfig,
        store: PathBuf,
        rx: mpsc::Receiver<IncidentEvent>,
    ) -> Result<NotifierHandle, NotifyError> {
        let counters = Arc::new(Counters::default());
        let dead = DeadLetterSink {
            store: store.clone(),
            conn: Arc::new(Mutex::new(None)),
            counters: Arc::clone(&counters),
        };
        let (abandon_tx, abandon_rx) = watch::channel(false);
        let mut dests = Vec::new();
        let mut workers = Vec::new();
        let mut hooks = Vec::new();
        for w in &cfg.webhooks {
            let c = Arc::new(DestCounters::default());
            hooks.push((
                webhook::Webhook::new(w, cfg.retry, Arc::clone(&c), dead.clone())?,
                w,
                c,
            ));
        }
        let mut syslogs = Vec::new();
        for s in &cfg.syslog {
            let c = Arc::new(DestCounters::default());
            syslogs.push((syslog::Syslog::new(s, cfg.retry, Arc::clone(&c))?, s, c));
        }
        // Everything is valid: start the tasks.
        for (hook, w, c) in hooks {
            let (tx, wrx) = mpsc::channel(cfg.queue.max(1));
            workers.push(tokio::spawn(hook.run(wrx, abandon_rx.clone())));
            dests.push(Dest {
                name: w.name.clone(),
                kind: "webhook",
                route: w.route.clone(),
                tx,
                counters: c,
            });
        }
        for (sys, s, c) in syslogs {
            let (tx, wrx) = mpsc::channel(cfg.queue.max(1));
            workers.push(tokio::spawn(sys.run(wrx, abandon_rx.clone())));
            dests.push(Dest {
                name: s.name.clone(),
                kind: "syslog",
                route: s.route.clone(),
                tx,
                counters: c,
            });
        }
        let stats: Vec<(String, &'static str, Arc<DestCounters>)> = dests
            .iter()
            .map(|d| (d.name.clone(), d.kind, Arc::clone(&d.counters)))
            .collect();
        let (stop_tx, stop_rx) = watch::channel(false);
        let dispatcher = Dispatcher {
            dests,
            store,
            scan_every: Duration::from_secs(cfg.overdue_scan_secs.max(1)),
            counters: Arc::clone(&counters),
            dead,
        };
        let task = tokio::spawn(dispatcher.run(rx, stop_rx));
        Ok(NotifierHandle {
            dispatcher: task,
            workers,
            stop: stop_tx,
            abandon: abandon_tx,
            flush: Duration::from_millis(cfg.flush_timeout_ms),
            counters,
            dests: stats,
        })
    }
}

/// Starts the notifier: see [`Notifier::spawn`].
pub fn spawn(
    cfg: &NotifyConfig,
    store: PathBuf,
    rx: mpsc::Receiver<IncidentEvent>,
) -> Result<NotifierHandle, NotifyError> {
    Notifier::spawn(cfg, store, rx)
}

struct Dispatcher {
    dests: Vec<Dest>,
    store: PathBuf,
    scan_every: Duration,
    counters: Arc<Counters>,
    dead: DeadLetterSink,
}

impl Dispatcher {
    async fn run(self, mut rx: mpsc::Receiver<IncidentEvent>, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(self.scan_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate: scan once at start, whatever comes.
        tick.tick().await;
        self.scan().await;
        loop {
            tokio::select! {
                // A dropped handle (sender gone) stops the dispatcher too.
                _ = stop.changed() => break,
                ev = rx.recv() => match ev {
                    Some(ev) => self.route(ev).await,
                    None => break,
                },
                _ = tick.tick() => self.scan().await,
            }
        }
        // Take what was already queued; the workers then flush and end.
        rx.close();
        while let Ok(ev) = rx.try_recv() {
            self.route(ev).await;
        }
    }

    async fn route(&self, ev: IncidentEvent) {
        bump(&self.counters.events);
        let ev = Arc::new(ev);
        for d in &self.dests {
            if !limit::routed(&d.route, &ev.incident) {
                bump(&d.counters.filtered);
                continue;
            }
            let ev = match d.tx.try_send(Arc::clone(&ev)) {
                Ok(()) => continue,
                Err(
                    mpsc::error::TrySendError::Full(ev) | mpsc::error::TrySendError::Closed(ev),
                ) => ev,
            };
            if d.kind == "webhook" {
                bump(&d.counters.dead_letters);
                let notice = Notice::Event(ev);
                self.dead
                    .record(DeadLetter {
                        id: 0,
                        created: wall_now(),
                        destination: d.name.clone(),
                        kind: d.kind.into(),
                        event: notice.event_name().into(),
                        incident_id: notice.incident().map(|i| i.id),
                        attempts: 0,
                        last_error: "destination queue full / 队列已满".into(),
                        payload: notice.to_json(wall_now()).to_string(),
                    })
                    .await;
            } else {
                bump(&d.counters.dropped);
            }
        }
    }

    async fn scan(&self) {
        let store = self.store.clone();
        let now = wall_now();
        let res = tokio::task::spawn_blocking(move || {
            let mut conn = crate::queue::open_db(&store)?;
            deadletter::take_overdue(&mut conn, now, MAX_OVERDUE_PER_SCAN)
        })
        .await;
        match res {
            Ok(Ok(list)) => {
                for incident in list {
                    bump(&self.counters.overdue);
                    self.route(IncidentEvent {
                        kind: EventKind::Overdue,
                        incident,
                    })
                    .await;
                }
            }
            Ok(Err(e)) => {
                bump(&self.counters.scan_errors);
                tracing::warn!("{}: overdue scan: {e}", self.store.display());
            }
            Err(e) => {
                bump(&self.counters.scan_errors);
                tracing::warn!("{}: overdue scan: {e}", self.store.display());
            }
        }
    }
}

/// A running notifier.
pub struct NotifierHandle {
    dispatcher: JoinHandle<()>,
    workers: Vec<JoinHandle<()>>,
    stop: watch::Sender<bool>,
    abandon: watch::Sender<bool>,
    flush: Duration,
    counters: Arc<Counters>,
    dests: Vec<(String, &'static str, Arc<DestCounters>)>,
}

impl NotifierHandle {
    /// Current counters.
    pub fn stats(&self) -> NotifierStats {
        snapshot(&self.counters, &self.dests)
    }

    /// Stops taking events, then gives pending deliveries (retries and
    /// digests included) up to the configured `flush_timeout`; webhook
    /// deliveries still pending then become dead letters, syslog ones are
    /// counted as dropped. Returns the final counters.
    pub async fn shutdown(self) -> NotifierStats {
        let _ = self.stop.send(true);
        let _ = self.dispatcher.await;
        let mut workers = self.workers;
        let all = async {
            for w in workers.iter_mut() {
                let _ = w.await;
            }
        };
        if tokio::time::timeout(self.flush, all).await.is_err() {
            let _ = self.abandon.send(true);
            // An attempt in flight ends within its own timeout.
            let grace = async {
                for w in workers.iter_mut() {
                    let _ = w.await;
                }
            };
            if tokio::time::timeout(Duration::from_secs(30), grace)
                .await
                .is_err()
            {
                for w in &workers {
                    w.abort();
                }
            }
        }
        snapshot(&self.counters, &self.dests)
    }
}

fn snapshot(
    counters: &Counters,
    dests: &[(String, &'static str, Arc<DestCounters>)],
) -> NotifierStats {
    let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
    NotifierStats {
        events: l(&counters.events),
        overdue: l(&counters.overdue),
        scan_errors: l(&counters.scan_errors),
        dead_letter_errors: l(&counters.dead_letter_errors),
        destinations: dests
            .iter()
            .map(|(name, kind, c)| DestinationStats {
                name: name.clone(),
                kind,
                sent: l(&c.sent),
                failed_attempts: l(&c.failed_attempts),
                retries: l(&c.retries),
                dead_letters: l(&c.dead_letters),
                dropped: l(&c.dropped),
                filtered: l(&c.filtered),
                rate_limited: l(&c.rate_limited),
                digests: l(&c.digests),
                connects: l(&c.connects),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_is_bounded_and_varies() {
        let mut j = Jitter::new("x");
        let v: Vec<u64> = (0..100).map(|_| j.below(10)).collect();
        assert!(v.iter().all(|x| *x < 10));
        assert!(v.iter().any(|x| *x != v[0]));
        assert_eq!(j.below(0), 0);
    }

    #[test]
    fn event_names() {
        for k in [
            EventKind::Opened,
            EventKind::GradeRaised,
            EventKind::Overdue,
        ] {
            assert!(!k.as_str().is_empty());
            assert!(!k.names().0.is_empty());
        }
    }
}
