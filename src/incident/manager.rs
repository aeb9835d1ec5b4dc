//! The replay/daemon hook: correlator + store writer.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::alert::Alert;
use crate::policy::ZonePolicy;
use crate::queue::{self, Store, StoreConfig, StoreError};

use super::{Correlator, CorrelatorConfig, CorrelatorStats, Grade, Incident};

/// What a run did, for replay's summary.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    /// Incidents opened.
    pub opened: u64,
    /// Alerts that joined an open incident.
    pub updated: u64,
    /// Incidents opened, by their final grade (I first).
    pub by_grade: BTreeMap<Grade, u64>,
    /// Updates dropped from the queue (channel full, dirty cap hit).
    pub dropped: u64,
    /// Updates held back and coalesced because the channel was full.
    pub coalesced: u64,
    /// Correlator counters.
    pub correlator: CorrelatorStats,
    /// The incidents opened, latest state, by id (at most 10 000 kept).
    pub incidents: Vec<Incident>,
    /// Error of the final sync, if any (then not everything is stored).
    pub sync_error: Option<String>,
    /// Correlation windows of stored incidents reopened at start.
    pub restored: u64,
}

/// Upper bound of incidents kept for the summary.
const MAX_SUMMARY_INCIDENTS: usize = 10_000;

/// Owns a [`Correlator`] and a [`Store`]; call [`Manager::on_alert`] for
/// every alert and [`Manager::finish`] at the end.
pub struct Manager {
    corr: Correlator,
    store: Store,
    latest: BTreeMap<i64, Incident>,
    notify: Option<tokio::sync::mpsc::Sender<crate::notify::IncidentEvent>>,
    notify_dropped: u64,
    restored: u64,
}

impl Manager {
    /// Opens `db` (e.g. `DIR/incidents.db`), continues its id sequence
    /// and reopens the correlation windows of the incidents that were open
    /// when the previous process stopped (a restart does not split an
    /// attack into two incidents).
    pub fn open(
        db: &Path,
        policy: Arc<ZonePolicy>,
        cfg: CorrelatorConfig,
        store_cfg: StoreConfig,
    ) -> Result<Manager, StoreError> {
        let conn = queue::open_db(db)?;
        let first = queue::next_id(&conn)?;
        let windows = queue::open_windows(&conn, cfg.window_secs, cfg.max_open)?;
        drop(conn);
        let mut corr = Correlator::new(cfg, policy, first);
        let mut restored = 0;
        for (inc, state) in windows {
            match corr.restore(inc, &state) {
                Ok(()) => restored += 1,
                Err(e) => tracing::warn!("{e}"),
            }
        }
        Ok(Manager {
            corr,
            store: Store::open(db, store_cfg)?,
            latest: BTreeMap::new(),
            notify: None,
            notify_dropped: 0,
            restored,
        })
    }

    /// Correlation windows reopened from the store at start.
    pub fn restored(&self) -> u64 {
        self.restored
    }

    /// Correlates one alert and queues the incident's new state (never
    /// waits on the disk). Returns the incident id.
    pub fn on_alert(&mut self, a: &Alert) -> i64 {
        let o = self.corr.on_alert(a);
        let id = o.update.incident.id;
        if let Some(slot) = self.latest.get_mut(&id) {
            slot.clone_from(&o.update.incident);
        } else if o.opened && self.latest.len() < MAX_SUMMARY_INCIDENTS {
            self.latest.insert(id, o.update.incident.clone());
        }
        if let Some(tx) = &self.notify {
            let kind = if o.opened {
                Some(crate::notify::EventKind::Opened)
            } else if o.update.timeline.iter().any(|t| t.action == "grade_raised") {
                Some(crate::notify::EventKind::GradeRaised)
            } else {
                None
            };
            if let Some(kind) = kind {
                let ev = crate::notify::IncidentEvent {
                    kind,
                    incident: o.update.incident.clone(),
                };
                // Never waits: a full channel is counted (the overdue scan
                // still finds deadlines; see docs/notifications.md).
                if tx.try_send(ev).is_err() {
                    self.notify_dropped = self.notify_dropped.saturating_add(1);
                }
            }
        }
        self.store.submit(o.update);
        id
    }

    /// Replaces the zone policy used to locate new alerts (a reload).
    pub fn set_policy(&mut self, policy: Arc<ZonePolicy>) {
        self.corr.set_policy(policy);
    }

    /// Like [`Manager::on_alert`], with rows committed in the same
    /// transaction as the incident's new state (the NATS central's record
    /// of the message; `hook` is given the incident id); waits for room in
    /// the writer's channel.
    pub fn on_alert_with(
        &mut self,
        a: &Alert,
        hook: impl FnOnce(i64) -> Box<dyn queue::CommitHook>,
    ) -> Result<i64, StoreError> {
        let o = self.corr.on_alert(a);
        let id = o.update.incident.id;
        if let Some(slot) = self.latest.get_mut(&id) {
            slot.clone_from(&o.update.incident);
        } else if o.opened && self.latest.len() < MAX_SUMMARY_INCIDENTS {
            self.latest.insert(id, o.update.incident.clone());
        }
        self.store.submit_with(o.update, hook(id))?;
        Ok(id)
    }

    /// Sends an [`crate::notify::IncidentEvent`] into `tx` whenever an
    /// incident is opened or raised in grade (bounded; never blocks).
    pub fn set_notifier(&mut self, tx: tokio::sync::mpsc::Sender<crate::notify::IncidentEvent>) {
        self.notify = Some(tx);
    }

    /// Events not handed to the notifier because its channel was full or
    /// closed.
    pub fn notify_dropped(&self) -> u64 {
        self.notify_dropped
    }

    /// Blocks until everything queued so far is committed.
    pub fn sync(&mut self) -> Result<(), StoreError> {
        self.store.sync()
    }

    /// The store handle (counters).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Closes every window, commits everything and returns the summary.
    pub fn finish(mut self) -> Summary {
        self.corr.close_all();
        let sync_error = self.store.sync().err().map(|e| e.to_string());
        let st = self.corr.stats();
        let stats = Arc::clone(self.store.stats());
        let mut by_grade = BTreeMap::new();
        for i in self.latest.values() {
            *by_grade.entry(i.grade).or_insert(0) += 1;
        }
        let s = Summary {
            opened: st.opened,
            updated: st.joined,
            by_grade,
            dropped: stats.dropped.load(Ordering::Relaxed),
            coalesced: stats.coalesced.load(Ordering::Relaxed),
            correlator: st,
            incidents: self.latest.into_values().collect(),
            sync_error,
            restored: self.restored,
        };
        let _ = self.store.close();
        s
    }
}

impl Summary {
    /// Bilingual lines for replay's output: one per incident opened.
    pub fn render(&self) -> String {
        let mut out = format!(
            "incidents opened / 新建事件: {} (alerts joined / 合并告警: {}, dropped from queue / 队列丢弃: {})\n",
            self.opened, self.updated, self.dropped
        );
        for i in &self.incidents {
            out.push_str(&format!(
                "  #{} [{}] {} | {} ({} alerts / 条告警)\n",
                i.id, i.grade, i.title_zh, i.title, i.alert_count
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::correlate::tests::alert_at;
    use crate::incident::route::tests::policy;
    use crate::notify::EventKind;

    #[test]
    fn events_for_the_notifier_never_block_and_drops_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = Manager::open(
            &dir.path().join("i.db"),
            Arc::new(policy()),
            CorrelatorConfig::default(),
            StoreConfig::default(),
        )
        .unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::channel(2);
        m.set_notifier(tx);
        // Low then high on a level-3 host: opened (IV), then raised to III.
        let id = m.on_alert(&alert_at(
            0,
            "network_attack/exploit",
            "47.9.9.9",
            "10.10.1.1",
            1,
            3,
        ));
        // Joins without a change of grade: no event.
        m.on_alert(&alert_at(
            1,
            "network_attack/exploit",
            "47.9.9.9",
            "10.10.1.1",
            1,
            3,
        ));
        m.on_alert(&alert_at(
            5,
            "network_attack/exploit",
            "47.9.9.9",
            "10.10.1.1",
            2,
            1,
        ));
        let opened = rx.try_recv().unwrap();
        assert_eq!((opened.kind, opened.incident.id), (EventKind::Opened, id));
        assert_eq!(opened.incident.grade, Grade::IV);
        let raised = rx.try_recv().unwrap();
        assert_eq!(raised.kind, EventKind::GradeRaised);
        assert_eq!(raised.incident.grade, Grade::III);
        assert!(rx.try_recv().is_err());
        assert_eq!(m.notify_dropped(), 0);
        // Nobody reads: the channel fills, on_alert goes on, drops counted.
        for i in 0..5u8 {
            m.on_alert(&alert_at(
                10,
                "network_attack/exploit",
                &format!("47.9.9.{}", 20 + i),
                "10.10.1.1",
                3,
                3,
            ));
        }
        assert_eq!(m.notify_dropped(), 3);
        let s = m.finish();
        assert_eq!(s.opened, 6);
    }
}
