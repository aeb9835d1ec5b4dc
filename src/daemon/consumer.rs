//! The alert consumer thread: every alert of the workers, the log service
//! and the daemon's own checks goes through here into the incident layer
//! (correlation, grading, the SQLite queue) and the alert metrics.
//! Rogue-device candidates of all workers are merged here, as replay
//! merges them at the end.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver};
use rustc_hash::FxHashSet;

use super::workers::ToConsumer;
use super::Shared;
use crate::alert::{Alert, AlertAddrs, PolicyKind};
use crate::decode::Mac;
use crate::detect::CrossFlow;
use crate::incident::{Manager, Summary};
use crate::output::EveBuf;
use crate::pipeline::rogue::RogueCandidate;
use crate::pipeline::worker::policy_alert;

/// Counters of the consumer.
#[derive(Debug, Default)]
pub struct ConsumerStats {
    /// Alerts handed to the incident layer.
    pub alerts: AtomicU64,
    /// Rogue-device alerts raised from merged candidates.
    pub rogue_alerts: AtomicU64,
    /// Failed commits of the incident store (each retried by the next).
    pub store_errors: AtomicU64,
    /// Alerts not handed to the NATS publisher because its queue was full
    /// (they are in the local store and eve.json).
    pub publish_dropped: AtomicU64,
}

/// Remembered rogue findings (beyond: forgotten, which at worst repeats
/// one).
const MAX_ROGUE_SEEN: usize = 100_000;

/// Runs until both channels are closed (every sender dropped), then closes
/// the incident windows and returns the summary.
pub fn run(
    shared: &Shared,
    mgr: Manager,
    from_workers: Receiver<ToConsumer>,
    singles: Receiver<Alert>,
    stats: &ConsumerStats,
    publish: Option<tokio::sync::mpsc::Sender<Alert>>,
) -> Summary {
    let mut mgr = Sink {
        mgr,
        publish,
        stats,
    };
    let mut seen_gen = shared.generation.load(Ordering::Acquire);
    let mut cross = cross_flow(shared);
    let mut found: Vec<Alert> = Vec::new();
    let mut rogue_seen: FxHashSet<(Mac, Option<IpAddr>, i64)> = FxHashSet::default();
    let mut workers_open = true;
    let mut singles_open = true;
    let tick = Duration::from_millis(200);
    while workers_open || singles_open {
        let t0 = Instant::now();
        let mut handled = 0usize;
        let never = crossbeam_channel::never();
        let wrx = if workers_open { &from_workers } else { &never };
        let never2 = crossbeam_channel::never();
        let srx = if singles_open { &singles } else { &never2 };
        select! {
            recv(wrx) -> m => match m {
                Ok(ToConsumer::Alerts(batch)) => {
                    for a in &batch {
                        shared.metrics.count_alert(a);
                        mgr.on_alert(a);
                    }
                    handled += batch.len();
                }
                Ok(ToConsumer::Rogue(cands)) => {
                    handled += rogue(shared, &mut mgr, &mut rogue_seen, cands, stats);
                }
                Ok(ToConsumer::Observations(batch)) => {
                    if let Some(cf) = cross.as_mut() {
                        for o in &batch {
                            cf.observe(o, &mut found);
                            cf.advance(o.ts, &mut found);
                        }
                        handled += emit(shared, &mut mgr, &mut found);
                    }
                }
                Err(_) => workers_open = false,
            },
            recv(srx) -> m => match m {
                Ok(a) => {
                    shared.metrics.count_alert(&a);
                    mgr.on_alert(&a);
                    handled += 1;
                }
                Err(_) => singles_open = false,
            },
            default(tick) => {}
        }
        let g = shared.generation.load(Ordering::Acquire);
        if g != seen_gen {
            seen_gen = g;
            mgr.set_policy(Arc::new(shared.snapshot.load().engine.policy.clone()));
            // new thresholds or zones; ongoing episodes are kept
            let snap = shared.snapshot.load();
            match (&mut cross, &snap.engine.detect) {
                (Some(cf), Some(c)) => {
                    cf.reconfigure(c, Arc::new(snap.engine.policy.clone()));
                }
                _ => cross = cross_flow(shared),
            }
        }
        if handled > 0 {
            stats.alerts.fetch_add(handled as u64, Ordering::Relaxed);
            // alert received -> incident committed (WAL, synchronous=FULL)
            match mgr.sync() {
                Ok(()) => shared
                    .metrics
                    .observe("incident_store", t0.elapsed().as_secs_f64()),
                Err(e) => {
                    let n = stats.store_errors.fetch_add(1, Ordering::Relaxed) + 1;
                    if n.is_power_of_two() {
                        tracing::error!("incident store / 事件库: {e} ({n} failures)");
                    }
                }
            }
        }
        shared
            .metrics
            .set_queue("alerts", from_workers.len() + singles.len(), 0);
    }
    mgr.mgr.finish()
}

/// Where alerts go: the local incident queue, and NATS when this sensor
/// feeds a central (`queue.backend: nats`).
struct Sink<'a> {
    mgr: Manager,
    publish: Option<tokio::sync::mpsc::Sender<Alert>>,
    stats: &'a ConsumerStats,
}

impl Sink<'_> {
    fn on_alert(&mut self, a: &Alert) {
        self.mgr.on_alert(a);
        if let Some(tx) = &self.publish {
            if tx.try_send(a.clone()).is_err() {
                self.stats.publish_dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    fn sync(&mut self) -> Result<(), crate::queue::StoreError> {
        self.mgr.sync()
    }
    fn set_policy(&mut self, p: Arc<crate::policy::ZonePolicy>) {
        self.mgr.set_policy(p);
    }
}

/// The cross-flow detectors of the running snapshot (None: off).
fn cross_flow(shared: &Shared) -> Option<CrossFlow> {
    let snap = shared.snapshot.load();
    let engine = &snap.engine;
    engine
        .detect
        .as_ref()
        .map(|c| CrossFlow::new(c, Arc::new(engine.policy.clone())))
}

/// Writes, counts and correlates the detectors' alerts.
fn emit(shared: &Shared, mgr: &mut Sink<'_>, found: &mut Vec<Alert>) -> usize {
    if found.is_empty() {
        return 0;
    }
    let mut buf = EveBuf::new(&shared.eve, shared.snapshot.load().engine.tz);
    let n = found.len();
    for a in found.drain(..) {
        buf.alert(&a);
        shared.metrics.count_alert(&a);
        mgr.on_alert(&a);
    }
    n
}

fn rogue(
    shared: &Shared,
    mgr: &mut Sink<'_>,
    seen: &mut FxHashSet<(Mac, Option<IpAddr>, i64)>,
    cands: Vec<RogueCandidate>,
    stats: &ConsumerStats,
) -> usize {
    let snap = shared.snapshot.load();
    let engine = &snap.engine;
    let interval = engine.rogue_interval_secs.max(1);
    let mut buf = EveBuf::new(&shared.eve, engine.tz);
    let mut n = 0;
    for c in cands {
        let key = (c.mac, c.ip, c.ts.secs().div_euclid(interval));
        if seen.len() >= MAX_ROGUE_SEEN {
            seen.clear();
        }
        if !seen.insert(key) {
            continue;
        }
        let a = policy_alert(
            engine,
            c.ts,
            Some(c.pcap_cnt),
            c.flow_id,
            Some((c.mac, c.dst_mac)),
            c.vlans.clone(),
            PolicyKind::RogueDevice,
            (c.zone, c.zone),
            AlertAddrs {
                src_ip: c.ip,
                src_port: c.sport,
                dest_ip: c.dst_ip,
                dest_port: c.dport,
                proto: c.proto,
            },
        );
        buf.alert(&a);
        shared.metrics.count_alert(&a);
        mgr.on_alert(&a);
        stats.rogue_alerts.fetch_add(1, Ordering::Relaxed);
        n += 1;
    }
    n
}
