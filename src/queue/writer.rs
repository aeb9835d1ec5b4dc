//! The writer thread and the producer's handle to it.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use rusqlite::{params, Connection, TransactionBehavior};
use rustc_hash::FxHashMap;

use crate::incident::IncidentUpdate;

use super::{audit, open_db, StoreError};

/// Settings of the writer.
#[derive(Clone, Copy, Debug)]
pub struct StoreConfig {
    /// Capacity of the channel to the writer thread (updates).
    pub channel_capacity: usize,
    /// Upper bound of incidents held dirty in memory while the channel is
    /// full; beyond it updates are dropped from the queue (and counted).
    pub max_dirty: usize,
    /// Most updates committed in one transaction.
    pub batch_max: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            channel_capacity: 4096,
            max_dirty: 100_000,
            batch_max: 4096,
        }
    }
}

/// Counters of the store, shared with the writer thread.
#[derive(Debug, Default)]
pub struct StoreStats {
    /// Updates handed to the channel.
    pub queued: AtomicU64,
    /// Updates folded into a dirty incident because the channel was full.
    pub coalesced: AtomicU64,
    /// Updates dropped from the queue: channel full and the dirty table at
    /// its cap (the alerts are still in eve.json).
    pub dropped: AtomicU64,
    /// Updates committed.
    pub committed: AtomicU64,
    /// Transactions committed.
    pub transactions: AtomicU64,
    /// Failed transactions (each retried, then reported to `sync`).
    pub write_errors: AtomicU64,
    /// Sequence number of the latest update committed.
    pub committed_seq: AtomicU64,
}

/// What [`Store::submit`] did with an update.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Submitted {
    /// Sent to the writer.
    Queued,
    /// Held in memory (channel full), merged with the incident's pending
    /// state; it reaches the writer on a later submit or `sync`.
    Coalesced,
    /// Dropped from the queue: channel full and dirty table at its cap.
    Dropped,
}

/// Rows written in the same transaction as one update: how a consumer of
/// an outside queue (the NATS central) records that a message has been
/// applied, so that its acknowledgement can follow the commit and a
/// re-delivery can be recognised (docs/scale-out.md).
pub trait CommitHook: Send + 'static {
    /// Writes the rows; runs inside the update's transaction.
    fn write(&self, conn: &Connection) -> Result<(), StoreError>;
}

enum Msg {
    Update(Box<IncidentUpdate>, u64),
    Hooked(Box<IncidentUpdate>, u64, Box<dyn CommitHook>),
    Sync(Sender<Result<(), String>>),
}

/// Producer's handle to the durable store: never blocks in
/// [`Store::submit`]; [`Store::sync`] returns once everything submitted is
/// committed.
pub struct Store {
    tx: Option<Sender<Msg>>,
    dirty: FxHashMap<i64, (IncidentUpdate, u64)>,
    dirty_order: VecDeque<i64>,
    cfg: StoreConfig,
    stats: Arc<StoreStats>,
    seq: u64,
    thread: Option<JoinHandle<()>>,
}

impl Store {
    /// Opens (creating and migrating) `path` and starts the writer thread.
    pub fn open(path: &Path, cfg: StoreConfig) -> Result<Store, StoreError> {
        let conn = open_db(path)?;
        let (tx, rx) = bounded(cfg.channel_capacity.max(1));
        let stats = Arc::new(StoreStats::default());
        let st = Arc::clone(&stats);
        let batch_max = cfg.batch_max.max(1);
        let thread = std::thread::Builder::new()
            .name("zg-incident-writer".into())
            .spawn(move || writer_loop(conn, rx, st, batch_max))
            .map_err(|e| StoreError::WriterGone(e.to_string()))?;
        Ok(Store {
            tx: Some(tx),
            dirty: FxHashMap::default(),
            dirty_order: VecDeque::new(),
            cfg,
            stats,
            seq: 0,
            thread: Some(thread),
        })
    }

    /// The counters.
    pub fn stats(&self) -> &Arc<StoreStats> {
        &self.stats
    }

    /// Sequence number of the latest update submitted (compare with
    /// `stats().committed_seq`).
    pub fn submitted_seq(&self) -> u64 {
        self.seq
    }

    /// Incidents waiting in memory for room in the channel.
    pub fn dirty_len(&self) -> usize {
        self.dirty.len()
    }

    fn try_drain_dirty(&mut self) -> bool {
        let Some(tx) = &self.tx else { return false };
        while let Some(&id) = self.dirty_order.front() {
            let Some((upd, seq)) = self.dirty.remove(&id) else {
                self.dirty_order.pop_front();
                continue;
            };
            match tx.try_send(Msg::Update(Box::new(upd), seq)) {
                Ok(()) => {
                    self.dirty_order.pop_front();
                    self.stats.queued.fetch_add(1, Ordering::Relaxed);
                }
                Err(TrySendError::Full(Msg::Update(upd, seq))) => {
                    self.dirty.insert(id, (*upd, seq));
                    return false;
                }
                Err(_) => return false,
            }
        }
        true
    }

    /// Hands an update to the writer without waiting.
    pub fn submit(&mut self, upd: IncidentUpdate) -> Submitted {
        self.seq += 1;
        let seq = self.seq;
        let id = upd.incident.id;
        if let Some((pending, pseq)) = self.dirty.get_mut(&id) {
            pending.merge(upd);
            *pseq = seq;
            self.stats.coalesced.fetch_add(1, Ordering::Relaxed);
            self.try_drain_dirty();
            return Submitted::Coalesced;
        }
        let drained = self.try_drain_dirty();
        let Some(tx) = &self.tx else {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            return Submitted::Dropped;
        };
        let upd = if drained {
            match tx.try_send(Msg::Update(Box::new(upd), seq)) {
                Ok(()) => {
                    self.stats.queued.fetch_add(1, Ordering::Relaxed);
                    return Submitted::Queued;
                }
                Err(TrySendError::Full(Msg::Update(u, _))) => *u,
                Err(_) => {
                    self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                    return Submitted::Dropped;
                }
            }
        } else {
            upd
        };
        if self.dirty.len() >= self.cfg.max_dirty {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            return Submitted::Dropped;
        }
        self.dirty.insert(id, (upd, seq));
        self.dirty_order.push_back(id);
        self.stats.coalesced.fetch_add(1, Ordering::Relaxed);
        Submitted::Coalesced
    }

    /// Hands an update to the writer together with rows that must commit
    /// in the same transaction; waits for room in the channel instead of
    /// coalescing (for consumers of an outside queue, never the packet
    /// path).
    pub fn submit_with(
        &mut self,
        upd: IncidentUpdate,
        hook: Box<dyn CommitHook>,
    ) -> Result<(), StoreError> {
        let tx = self
            .tx
            .as_ref()
            .ok_or_else(|| StoreError::WriterGone("store closed".into()))?;
        while let Some(id) = self.dirty_order.pop_front() {
            if let Some((upd, seq)) = self.dirty.remove(&id) {
                tx.send(Msg::Update(Box::new(upd), seq))
                    .map_err(|_| StoreError::WriterGone("channel closed".into()))?;
                self.stats.queued.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.seq += 1;
        tx.send(Msg::Hooked(Box::new(upd), self.seq, hook))
            .map_err(|_| StoreError::WriterGone("channel closed".into()))?;
        self.stats.queued.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Blocks until every update submitted so far is committed to disk.
    pub fn sync(&mut self) -> Result<(), StoreError> {
        let tx = self
            .tx
            .as_ref()
            .ok_or_else(|| StoreError::WriterGone("store closed".into()))?;
        while let Some(id) = self.dirty_order.pop_front() {
            if let Some((upd, seq)) = self.dirty.remove(&id) {
                tx.send(Msg::Update(Box::new(upd), seq))
                    .map_err(|_| StoreError::WriterGone("channel closed".into()))?;
                self.stats.queued.fetch_add(1, Ordering::Relaxed);
            }
        }
        let (ack_tx, ack_rx) = bounded(1);
        tx.send(Msg::Sync(ack_tx))
            .map_err(|_| StoreError::WriterGone("channel closed".into()))?;
        ack_rx
            .recv()
            .map_err(|_| StoreError::WriterGone("no acknowledgement".into()))?
            .map_err(StoreError::WriterGone)
    }

    /// Same as [`Store::sync`].
    pub fn flush(&mut self) -> Result<(), StoreError> {
        self.sync()
    }

    /// Syncs, stops the writer thread and waits for it.
    pub fn close(mut self) -> Result<(), StoreError> {
        let r = self.sync();
        self.shutdown();
        r
    }

    fn shutdown(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let _ = self.sync();
        self.shutdown();
    }
}

fn writer_loop(mut conn: Connection, rx: Receiver<Msg>, stats: Arc<StoreStats>, batch_max: usize) {
    let mut batch: Vec<Msg> = Vec::with_capacity(batch_max);
    while let Ok(first) = rx.recv() {
        batch.push(first);
        while batch.len() < batch_max {
            match rx.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        let mut result = Err(String::new());
        for attempt in 0..3 {
            match commit_batch(&mut conn, &batch) {
                Ok(()) => {
                    result = Ok(());
                    break;
                }
                Err(e) => {
                    stats.write_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, attempt, "incident store: batch commit failed");
                    result = Err(e.to_string());
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
        let mut n = 0;
        let mut max_seq = 0;
        for m in batch.drain(..) {
            match m {
                Msg::Update(_, seq) | Msg::Hooked(_, seq, _) => {
                    n += 1;
                    max_seq = max_seq.max(seq);
                }
                Msg::Sync(ack) => {
                    let _ = ack.send(result.clone());
                }
            }
        }
        if result.is_ok() {
            stats.committed.fetch_add(n, Ordering::Relaxed);
            stats.transactions.fetch_add(1, Ordering::Relaxed);
            if max_seq > 0 {
                stats.committed_seq.fetch_max(max_seq, Ordering::Release);
            }
        }
    }
}

fn commit_batch(conn: &mut Connection, batch: &[Msg]) -> Result<(), StoreError> {
    if !batch
        .iter()
        .any(|m| matches!(m, Msg::Update(..) | Msg::Hooked(..)))
    {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for m in batch {
        match m {
            Msg::Update(u, _) => apply_update(&tx, u)?,
            Msg::Hooked(u, _, hook) => {
                apply_update(&tx, u)?;
                hook.write(&tx)?;
            }
            Msg::Sync(_) => {}
        }
    }
    tx.commit()?;
    Ok(())
}

fn json_list<T: ToString>(v: &[T]) -> String {
    serde_json::Value::Array(
        v.iter()
            .map(|x| serde_json::Value::String(x.to_string()))
            .collect(),
    )
    .to_string()
}

/// Writes one update: upserts the correlator-owned columns (category and
/// titles may be refined; status and assignee belong to people and are
/// never overwritten), adds evidence, and
/// appends timeline entries with their audit records.
pub(crate) fn apply_update(conn: &Connection, u: &IncidentUpdate) -> Result<(), StoreError> {
    let i = &u.incident;
    conn.prepare_cached(
        "INSERT INTO incidents (id, status, grade, severity, category, title, title_zh, zones, units,
            unit, contact, assignee, src_ips, dest_ips, first_seen, last_seen, alert_count, report_due)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
         ON CONFLICT(id) DO UPDATE SET
            category = excluded.category, title = excluded.title, title_zh = excluded.title_zh,
            grade = min(grade, excluded.grade),
            severity = excluded.severity,
            zones = excluded.zones, units = excluded.units,
            unit = coalesce(unit, excluded.unit), contact = coalesce(contact, excluded.contact),
            src_ips = excluded.src_ips, dest_ips = excluded.dest_ips,
            first_seen = min(first_seen, excluded.first_seen),
            last_seen = max(last_seen, excluded.last_seen),
            alert_count = max(alert_count, excluded.alert_count),
            report_due = coalesce(min(report_due, excluded.report_due), report_due, excluded.report_due)",
    )?
    .execute(params![
        i.id,
        i.status.as_str(),
        i.grade.rank(),
        i.severity.as_str(),
        i.category,
        i.title,
        i.title_zh,
        json_list(&i.zones),
        json_list(&i.units),
        i.unit,
        i.contact,
        i.assignee,
        json_list(&i.src_ips),
        json_list(&i.dest_ips),
        i.first_seen.0,
        i.last_seen.0,
        i64::try_from(i.alert_count).unwrap_or(i64::MAX),
        i.report_due.map(|t| t.0),
    ])?;
    if let Some(w) = &u.window {
        conn.prepare_cached(
            "INSERT INTO correlator_windows (incident_id, state) VALUES (?1, ?2)
             ON CONFLICT(incident_id) DO UPDATE SET state = excluded.state",
        )?
        .execute(params![i.id, w])?;
    }
    for e in &u.evidence {
        conn.prepare_cached(
            "INSERT OR IGNORE INTO incident_alerts
                (incident_id, seq, ts, source, sid, signature, flow_id, pcap_cnt, log_line)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            i.id,
            i64::try_from(e.seq).unwrap_or(i64::MAX),
            e.ts.0,
            e.source.as_str(),
            e.sid,
            e.signature,
            e.flow_id.map(|f| f as i64),
            e.pcap_cnt.map(|c| c as i64),
            e.log_line,
        ])?;
    }
    for t in &u.timeline {
        conn.prepare_cached(
            "INSERT INTO timeline (incident_id, ts, actor, action, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![i.id, t.ts.0, t.actor, t.action, t.detail])?;
        audit::append(
            conn,
            t.ts.0,
            &t.actor,
            &format!("incident.{}", t.action),
            Some(i.id),
            &t.detail,
        )?;
    }
    Ok(())
}
