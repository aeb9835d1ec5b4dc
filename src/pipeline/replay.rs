//! The replay driver: captures in, `eve.json` out, as fast as the machine
//! allows, with exactly the records the daemon would write.
//!
//! Every worker thread reads the captures itself (the page cache makes the
//! second read free) and decodes each packet far enough to know its shard —
//! a symmetric hash of the innermost IP addresses — then processes only the
//! packets of its own shard. No packet is copied between threads, no queue
//! sits between reader and workers, and every worker sees every packet's
//! time, so flow timeouts fire at the same packet time whatever the number
//! of workers. Per-flow records are therefore identical for any `--workers`;
//! detectors spanning flows (rogue devices) merge their candidates
//! afterwards in capture order.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::rogue::{self, RogueLocal};
use super::worker::{policy_alert, WorkerStats};
use super::{Engine, Worker};
use crate::alert::{Alert, AlertAddrs, PolicyKind};
use crate::capture::{CaptureError, CaptureReader};
use crate::decode::decode;
use crate::detect::{CrossFlow, CrossFlowStats, Observation};
use crate::incident::{CorrelatorConfig, Manager};
use crate::output::{EveBuf, EveWriter};
use crate::queue::StoreConfig;
use crate::signatures::engine::profile::RuleProfiler;
use crate::time::Timestamp;

/// What to replay and where to write.
#[derive(Clone, Debug)]
pub struct ReplayOptions {
    /// Capture files, processed in order as one stream.
    pub pcaps: Vec<PathBuf>,
    /// Number of worker threads (≥ 1).
    pub workers: usize,
    /// Show progress on standard error.
    pub progress: bool,
    /// Write incidents to this SQLite store.
    pub incidents_db: Option<PathBuf>,
    /// Alerts from other sources of the same replay (log rules), already
    /// written to EVE, that the incident layer merges with the traffic's.
    pub extra_alerts: Vec<Alert>,
    /// Correlation window and grading (the config's `incidents:` section).
    pub correlator: CorrelatorConfig,
    /// Incident events (opened, grade raised) for the notifier; bounded,
    /// never waited on (see `Manager::set_notifier`).
    pub notify: Option<tokio::sync::mpsc::Sender<crate::notify::IncidentEvent>>,
    /// Per-rule profiling (`--profile-rules`): the summary then carries
    /// every worker's counters merged ([`ReplaySummary::rule_profile`]).
    pub profile_rules: bool,
}

/// Errors that stop a replay before it starts.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// A worker thread could not be started.
    #[error("cannot start worker thread: {0}")]
    Thread(std::io::Error),
    /// A worker panicked (a bug: reported, never silent).
    #[error("worker {0} panicked")]
    WorkerPanic(usize),
    /// The incident store could not be opened.
    #[error("incident store {path}: {source}")]
    Store {
        /// The store file.
        path: String,
        /// Why.
        source: crate::queue::StoreError,
    },
}

/// The outcome of a replay.
#[derive(Debug, Default)]
pub struct ReplaySummary {
    /// Counters summed over workers.
    pub stats: WorkerStats,
    /// Packets read from the captures.
    pub packets_read: u64,
    /// Wall-clock time.
    pub elapsed: Duration,
    /// The first capture error (the replay stops reading there but keeps
    /// and writes everything decoded before it).
    pub capture_error: Option<CaptureError>,
    /// Time of the last packet.
    pub last_ts: Timestamp,
    /// Rogue-device candidates dropped because a worker's list was full.
    pub rogue_dropped: u64,
    /// What the incident layer did, when it ran.
    pub incidents: Option<crate::incident::Summary>,
    /// Counters of the cross-flow detectors, when they ran.
    pub detect: Option<CrossFlowStats>,
    /// The alerts given to the incident layer, in the order it saw them
    /// (empty without `incidents_db`): what a NATS sensor publishes.
    pub alerts: Vec<Alert>,
    /// Per-rule profile merged over workers (with `profile_rules`).
    pub rule_profile: Option<RuleProfiler>,
}

impl ReplaySummary {
    /// Packets per second of wall-clock time.
    pub fn packets_per_sec(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.packets_read as f64 / s
        } else {
            0.0
        }
    }
}

struct WorkerOutcome {
    stats: WorkerStats,
    rogue: RogueLocal,
    alerts: Vec<Alert>,
    read: u64,
    error: Option<CaptureError>,
    last_ts: Timestamp,
    detect: Option<CrossFlowStats>,
    profile: Option<RuleProfiler>,
}

#[allow(clippy::too_many_arguments)]
fn run_worker(
    id: usize,
    n: usize,
    engine: Arc<Engine>,
    eve: &EveWriter,
    pcaps: &[PathBuf],
    progress: &AtomicU64,
    stop: &AtomicBool,
    keep_alerts: bool,
    profile_rules: bool,
) -> WorkerOutcome {
    let buf = EveBuf::new(eve, engine.tz);
    let mut w = Worker::new(Arc::clone(&engine), buf, n, 0, keep_alerts);
    if profile_rules {
        w.enable_rule_profiling();
    }
    let mut cnt: u64 = 0;
    let mut error = None;
    let mut last_ts = Timestamp::default();
    // The cross-flow detectors run in worker 0, which sees every packet in
    // capture order: their alerts are the same for any number of workers.
    let mut cross = match (&engine.detect, id) {
        (Some(c), 0) => Some(CrossFlow::new(c, Arc::new(engine.policy.clone()))),
        _ => None,
    };
    let mut found: Vec<crate::alert::Alert> = Vec::new();
    'files: for path in pcaps {
        let mut reader = match CaptureReader::open(path) {
            Ok(r) => r,
            Err(e) => {
                error = Some(e);
                break;
            }
        };
        loop {
            match reader.next_packet() {
                Ok(Some(p)) => {
                    cnt += 1;
                    last_ts = p.ts;
                    let d = decode(p.linktype, p.data, &engine.decode);
                    if n == 1 || (d.shard_hash() % n as u64) as usize == id {
                        w.process(p.ts, cnt, p.data.len(), &d);
                    } else {
                        w.advance_clock(p.ts);
                    }
                    if let Some(cf) = cross.as_mut() {
                        if let Some(o) = Observation::from_decoded(p.ts, cnt, &d) {
                            cf.observe(&o, &mut found);
                        }
                        cf.advance(p.ts, &mut found);
                        for a in found.drain(..) {
                            w.emit_alert(&a);
                        }
                    }
                    if id == 0 && cnt & 0xfff == 0 {
                        progress.store(cnt, Ordering::Relaxed);
                        if stop.load(Ordering::Relaxed) {
                            break 'files;
                        }
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    error = Some(e);
                    break 'files;
                }
            }
        }
    }
    if id == 0 {
        progress.store(cnt, Ordering::Relaxed);
    }
    let profile = profile_rules.then(|| w.take_rule_profile());
    let (stats, rogue, alerts) = w.finish();
    WorkerOutcome {
        profile,
        stats,
        rogue,
        alerts,
        read: cnt,
        error,
        last_ts,
        detect: cross.map(|c| c.stats()),
    }
}

/// Replays captures through `engine`, writing records to `eve`.
pub fn replay(
    engine: Arc<Engine>,
    eve: &EveWriter,
    opts: &ReplayOptions,
) -> Result<ReplaySummary, ReplayError> {
    let started = Instant::now();
    let n = opts.workers.max(1);
    let progress = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let total_bytes: u64 = opts
        .pcaps
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let outcomes: Vec<WorkerOutcome> = std::thread::scope(|s| {
        let mut handles = Vec::with_capacity(n);
        for id in 0..n {
            let engine = Arc::clone(&engine);
            let (progress, stop, pcaps) = (&progress, &stop, &opts.pcaps);
            let keep = opts.incidents_db.is_some();
            let prof = opts.profile_rules;
            let h = std::thread::Builder::new()
                .name(format!("zg-worker-{id}"))
                .spawn_scoped(s, move || {
                    run_worker(id, n, engine, eve, pcaps, progress, stop, keep, prof)
                })
                .map_err(ReplayError::Thread)?;
            handles.push(h);
        }
        if opts.progress {
            let mut last = Instant::now();
            while handles.iter().any(|h| !h.is_finished()) {
                std::thread::sleep(Duration::from_millis(50));
                if last.elapsed() >= Duration::from_millis(500) {
                    last = Instant::now();
                    let pk = progress.load(Ordering::Relaxed);
                    let secs = started.elapsed().as_secs_f64().max(1e-3);
                    eprint!(
                        "\r  {pk} packets / 包, {:.2} Mpps, {:.0} s, capture {} MB   ",
                        pk as f64 / secs / 1e6,
                        secs,
                        total_bytes / 1_000_000
                    );
                }
            }
            eprint!("\r{}\r", " ".repeat(72));
        }
        let mut out = Vec::with_capacity(n);
        for (i, h) in handles.into_iter().enumerate() {
            out.push(h.join().map_err(|_| ReplayError::WorkerPanic(i))?);
        }
        Ok::<_, ReplayError>(out)
    })?;

    let mut summary = ReplaySummary::default();
    let mut rogue_lists = Vec::with_capacity(n);
    let mut alerts: Vec<Alert> = Vec::new();
    for mut o in outcomes {
        alerts.append(&mut o.alerts);
        summary.stats.merge(&o.stats);
        summary.packets_read = summary.packets_read.max(o.read);
        summary.last_ts = summary.last_ts.max(o.last_ts);
        summary.rogue_dropped += o.rogue.dropped;
        if summary.capture_error.is_none() {
            summary.capture_error = o.error;
        }
        rogue_lists.push(o.rogue.candidates);
        if o.detect.is_some() {
            summary.detect = o.detect;
        }
        if let Some(p) = &o.profile {
            summary
                .rule_profile
                .get_or_insert_with(RuleProfiler::default)
                .merge(p);
        }
    }

    let mut buf = EveBuf::new(eve, engine.tz);
    for c in rogue::merge(engine.rogue_interval_secs, rogue_lists) {
        let a = policy_alert(
            &engine,
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
        *summary
            .stats
            .alerts
            .entry("policy/rogue_device".to_string())
            .or_default() += 1;
        buf.alert(&a);
        if opts.incidents_db.is_some() {
            alerts.push(a);
        }
    }
    for a in &opts.extra_alerts {
        *summary.stats.alerts.entry("log".to_string()).or_default() += 1;
        if opts.incidents_db.is_some() {
            alerts.push(a.clone());
        }
    }
    if let Some(db) = &opts.incidents_db {
        // Alerts in capture order, the same for any number of workers.
        alerts.sort_by(|a, b| {
            (a.ts, a.pcap_cnt.unwrap_or(u64::MAX), a.flow_id, a.sid)
                .cmp(&(b.ts, b.pcap_cnt.unwrap_or(u64::MAX), b.flow_id, b.sid))
                .then_with(|| a.addrs.src_ip.cmp(&b.addrs.src_ip))
                .then_with(|| a.addrs.dest_ip.cmp(&b.addrs.dest_ip))
        });
        let mut mgr = Manager::open(
            db,
            Arc::new(engine.policy.clone()),
            opts.correlator.clone(),
            StoreConfig::default(),
        )
        .map_err(|source| ReplayError::Store {
            path: db.display().to_string(),
            source,
        })?;
        if let Some(tx) = &opts.notify {
            mgr.set_notifier(tx.clone());
        }
        for a in &alerts {
            mgr.on_alert(a);
        }
        summary.incidents = Some(mgr.finish());
        summary.alerts = alerts;
    }
    buf.stats(summary.last_ts, &stats_json(&summary));
    drop(buf);
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// The body of the final `stats` record, shaped like Suricata's.
pub fn stats_json(s: &ReplaySummary) -> serde_json::Value {
    let st = &s.stats;
    let mut anomalies = serde_json::Map::new();
    let mut names: Vec<_> = st.anomalies.iter().collect();
    names.sort();
    for (k, v) in names {
        anomalies.insert((*k).to_string(), (*v).into());
    }
    serde_json::json!({
        "uptime": s.elapsed.as_secs(),
        "capture": {"kernel_packets": s.packets_read, "kernel_drops": 0},
        "decoder": {
            "pkts": st.packets, "bytes": st.bytes, "ipv4": st.ipv4, "ipv6": st.ipv6,
            "tcp": st.tcp, "udp": st.udp, "icmp": st.icmp, "arp": st.arp, "other": st.other,
            "defrag_reassembled": st.reassembled, "invalid_checksum": st.invalid_checksum,
            "event": anomalies,
        },
        "flow": {
            "total": st.flow_table.created, "timeout": st.flows_ended[0],
            "forced": st.flows_ended[1], "shutdown": st.flows_ended[2],
            "emergency_mode_entered": st.flow_table.emergency_entered,
        },
        "detect": {"alert": st.total_alerts(), "crossflow": s.detect.as_ref().map(|d| serde_json::json!({
            "observations": d.observations, "evicted": d.evicted,
            "resolvers_full": d.resolvers_full, "resolver_queries": d.resolver_queries,
        }))},
    })
}
