//! Capture worker threads: one per capture socket, each with its own flow
//! table shard, running exactly the replay pipeline (decode → flow →
//! application layer → policy / signatures → EVE).
//!
//! A worker never waits on another thread on the packet path. About every
//! 100 ms (or 4 096 packets) it publishes its counters, flushes its EVE
//! buffer, hands its alerts to the alert consumer (a bounded channel; when
//! full, the batch waits in the worker up to a cap, then is counted as
//! dropped — it is already in eve.json) and picks up a new engine if a
//! reload swapped one in.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, TrySendError};

use super::Shared;
use crate::alert::Alert;
use crate::capture::LinkType;
use crate::decode::decode;
use crate::detect::Observation;
use crate::output::EveBuf;
use crate::pipeline::rogue::RogueCandidate;
use crate::pipeline::{Worker, WorkerStats};
use crate::time::Timestamp;

/// A source of frames for one worker (an AF_PACKET socket in a fanout
/// group; anything else in tests).
pub trait PacketSource: Send {
    /// The next frame, or `None` after a read timeout (the worker then
    /// advances its clock and looks at its flags).
    fn next_packet(&mut self) -> Result<Option<(Timestamp, &[u8])>, String>;
    /// Link type of the frames.
    fn linktype(&self) -> LinkType;
    /// Cumulative (received, dropped) counts of the kernel, if it keeps
    /// them.
    fn kernel_stats(&mut self) -> Option<(u64, u64)>;
}

/// What workers send to the alert consumer.
#[derive(Debug)]
pub enum ToConsumer {
    /// Alerts, in this worker's order (already written to EVE).
    Alerts(Vec<Alert>),
    /// Rogue-device candidates (merged and reported by the consumer).
    Rogue(Vec<RogueCandidate>),
    /// Observations for the cross-flow detectors (scans, floods, brute
    /// force, DNS tunnels), which the consumer runs over every worker's.
    Observations(Vec<Observation>),
}

/// What one worker last published.
#[derive(Debug, Default)]
pub struct Published {
    /// Counters.
    pub stats: WorkerStats,
    /// Flows in the table.
    pub flows: u64,
    /// Kernel (received, dropped) counts of its socket.
    pub kernel: (u64, u64),
}

/// Per-worker shared state, read by the metrics updater.
#[derive(Debug)]
pub struct WorkerSlot {
    /// Interface name.
    pub interface: String,
    /// The last published counters.
    pub published: Mutex<Published>,
    /// Unix seconds of the last packet (0: none yet).
    pub last_packet: AtomicU64,
    /// Alerts dropped because the consumer's queue stayed full.
    pub alerts_dropped: AtomicU64,
    /// Detector observations dropped (per-worker cap or queue full).
    pub observations_dropped: AtomicU64,
    /// Batches of rogue-device candidates the consumer's queue had no room
    /// for (counted, never silent).
    pub rogue_dropped: AtomicU64,
}

impl WorkerSlot {
    /// A slot for a worker on `interface`.
    pub fn new(interface: &str) -> WorkerSlot {
        WorkerSlot {
            interface: interface.to_string(),
            published: Mutex::new(Published::default()),
            last_packet: AtomicU64::new(0),
            alerts_dropped: AtomicU64::new(0),
            observations_dropped: AtomicU64::new(0),
            rogue_dropped: AtomicU64::new(0),
        }
    }
}

/// Alerts a worker holds while the consumer's queue is full (beyond:
/// counted as dropped; they are in eve.json).
const MAX_PENDING_ALERTS: usize = 100_000;

/// Detector observations a worker collects between two hand-overs
/// (beyond: counted as dropped; a flood that fills this is detected long
/// before).
const MAX_OBSERVATIONS: usize = 65_536;

fn wall_now() -> Timestamp {
    Timestamp::from_chrono(&chrono::Utc::now())
}

fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Hands `pending` to the consumer; keeps what does not fit.
fn hand_over(
    tx: &Sender<ToConsumer>,
    pending: &mut Vec<Alert>,
    slot: &WorkerSlot,
    block_for: Option<Duration>,
) {
    if pending.is_empty() {
        return;
    }
    let batch = std::mem::take(pending);
    let res = match block_for {
        Some(d) => tx
            .send_timeout(ToConsumer::Alerts(batch), d)
            .map_err(|e| match e {
                crossbeam_channel::SendTimeoutError::Timeout(b)
                | crossbeam_channel::SendTimeoutError::Disconnected(b) => b,
            }),
        None => tx.try_send(ToConsumer::Alerts(batch)).map_err(|e| match e {
            TrySendError::Full(b) | TrySendError::Disconnected(b) => b,
        }),
    };
    if let Err(ToConsumer::Alerts(mut back)) = res {
        if back.len() > MAX_PENDING_ALERTS {
            let over = back.len() - MAX_PENDING_ALERTS;
            back.drain(..over);
            slot.alerts_dropped
                .fetch_add(over as u64, Ordering::Relaxed);
        }
        *pending = back;
    }
}

/// Runs one worker until `shared.stop` is set; then flushes its flows and
/// hands over everything.
#[allow(clippy::too_many_arguments)]
pub fn run_worker(
    id: usize,
    shards: usize,
    mut src: Box<dyn PacketSource>,
    shared: &Shared,
    slot: &WorkerSlot,
    tx: &Sender<ToConsumer>,
) {
    let snap = shared.snapshot.load_full();
    let mut engine = Arc::clone(&snap.engine);
    drop(snap);
    let mut seen_gen = shared.generation.load(Ordering::Acquire);
    let eve = EveBuf::new(&shared.eve, engine.tz);
    let mut w = Worker::new(Arc::clone(&engine), eve, shards, id as u64, true);
    let linktype = src.linktype();
    let mut cnt: u64 = 0;
    let mut since_publish: u32 = 0;
    let mut last_publish = Instant::now();
    let mut pending: Vec<Alert> = Vec::new();
    let mut obs: Vec<Observation> = Vec::new();
    let mut errors: u64 = 0;
    let publish_every = Duration::from_millis(100);
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        let mut timed_out = false;
        match src.next_packet() {
            Ok(Some((ts, data))) => {
                cnt += 1;
                since_publish += 1;
                let d = decode(linktype, data, &engine.decode);
                w.process(ts, cnt, data.len(), &d);
                if engine.detect.is_some() {
                    if let Some(o) = Observation::from_decoded(ts, cnt, &d) {
                        if obs.len() < MAX_OBSERVATIONS {
                            obs.push(o);
                        } else {
                            slot.observations_dropped.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
            Ok(None) => {
                w.advance_clock(wall_now());
                timed_out = true;
            }
            Err(e) => {
                errors += 1;
                if errors.is_power_of_two() {
                    tracing::error!(
                        "capture on {} (worker {id}): {e} ({errors} errors so far) / 抓包错误",
                        slot.interface
                    );
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let look = timed_out || since_publish >= 4096 || since_publish % 64 == 0;
        if look && (since_publish >= 4096 || last_publish.elapsed() >= publish_every) {
            last_publish = Instant::now();
            since_publish = 0;
            let g = shared.generation.load(Ordering::Acquire);
            if g != seen_gen {
                seen_gen = g;
                engine = Arc::clone(&shared.snapshot.load().engine);
                w.set_engine(Arc::clone(&engine));
            }
            publish(&mut w, &mut *src, slot, cnt);
            pending.append(&mut w.take_alerts());
            hand_over(tx, &mut pending, slot, None);
            if !obs.is_empty() {
                let batch = std::mem::take(&mut obs);
                let n = batch.len() as u64;
                if tx.try_send(ToConsumer::Observations(batch)).is_err() {
                    slot.observations_dropped.fetch_add(n, Ordering::Relaxed);
                }
            }
            let rogue = w.take_rogue();
            if !rogue.is_empty() {
                // rogue findings are rare; wait briefly rather than lose one
                if tx
                    .send_timeout(ToConsumer::Rogue(rogue), Duration::from_millis(50))
                    .is_err()
                {
                    slot.rogue_dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
    // shutdown: flush every flow (their records and alerts), hand over all
    let kernel = src.kernel_stats().unwrap_or_default();
    let (mut stats, rogue, alerts) = w.finish();
    stats.packets = stats.packets.max(cnt);
    pending.extend(alerts);
    hand_over(tx, &mut pending, slot, Some(Duration::from_secs(2)));
    if !rogue.candidates.is_empty()
        && tx
            .send_timeout(ToConsumer::Rogue(rogue.candidates), Duration::from_secs(1))
            .is_err()
    {
        slot.rogue_dropped.fetch_add(1, Ordering::Relaxed);
    }
    if let Ok(mut p) = slot.published.lock() {
        p.stats = stats;
        p.flows = 0;
        p.kernel = kernel;
    }
}

fn publish(w: &mut Worker<'_>, src: &mut dyn PacketSource, slot: &WorkerSlot, cnt: u64) {
    w.flush_eve();
    let mut stats = w.stats();
    // every frame counts, also those the pipeline could not decode
    stats.packets = stats.packets.max(cnt);
    let kernel = src.kernel_stats();
    if let Ok(mut p) = slot.published.lock() {
        if stats.packets > p.stats.packets {
            slot.last_packet.store(unix_secs(), Ordering::Relaxed);
        }
        p.stats = stats;
        p.flows = w.active_flows() as u64;
        if let Some(k) = kernel {
            p.kernel = k;
        }
    }
}

/// Sums what the workers published: (stats, active flows).
pub fn sum(slots: &[Arc<WorkerSlot>]) -> (WorkerStats, u64) {
    let mut total = WorkerStats::default();
    let mut flows = 0;
    for s in slots {
        if let Ok(p) = s.published.lock() {
            total.merge(&p.stats);
            flows += p.flows;
        }
    }
    (total, flows)
}
