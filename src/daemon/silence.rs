//! Silence is an alarm: an interface that sees no packet for longer than
//! its configured time raises a `facility_fault` alert (and incident) and
//! sets `zoneguard_source_silent`; so does an expected syslog sender that
//! goes quiet. A dead SPAN port must not look like a quiet network.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::SystemTime;

use super::workers::WorkerSlot;
use super::{sensor_alert, Shared};
use crate::alert::Alert;
use crate::config::Config;

/// sid of the "interface silent" alert.
pub const SID_INTERFACE_SILENT: u32 = 1_990_030;
/// sid of the "syslog sender silent" alert.
pub const SID_SENDER_SILENT: u32 = 1_990_031;

/// Default silence limit of an interface, in seconds.
pub const DEFAULT_INTERFACE_SILENCE_SECS: u64 = crate::config::DEFAULT_SILENCE_SECS;

/// Tracks which sources are silent (an alarm is raised once per silence).
#[derive(Debug)]
pub struct Monitor {
    started: u64,
    limits: BTreeMap<String, u64>,
    alarmed: BTreeMap<(String, String), bool>,
}

fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Monitor {
    /// A monitor for the config's interfaces.
    pub fn new(cfg: &Config) -> Monitor {
        Monitor {
            started: unix_secs(),
            limits: cfg
                .capture
                .interfaces
                .iter()
                .map(|i| (i.name.clone(), i.silence_secs))
                .collect(),
            alarmed: BTreeMap::new(),
        }
    }

    fn limit(&self, iface: &str) -> u64 {
        self.limits
            .get(iface)
            .copied()
            .unwrap_or(DEFAULT_INTERFACE_SILENCE_SECS)
    }

    /// Looks at every source; returns the alarms to raise now.
    pub fn check(
        &mut self,
        shared: &Shared,
        slots: &[Arc<WorkerSlot>],
        senders: &[(String, Option<SystemTime>)],
        quiet: &[(String, Option<SystemTime>)],
    ) -> Vec<Alert> {
        let now = unix_secs();
        let mut last: BTreeMap<&str, u64> = BTreeMap::new();
        for s in slots {
            let t = s.last_packet.load(Ordering::Relaxed);
            let e = last.entry(s.interface.as_str()).or_insert(0);
            *e = (*e).max(t);
        }
        let mut out = Vec::new();
        for (iface, t) in last {
            let since = if t == 0 { self.started } else { t };
            let limit = self.limit(iface);
            let silent = limit > 0 && now.saturating_sub(since) > limit;
            out.extend(self.transition("interface", iface, silent, shared, || {
                format!(
                    "ZONEGUARD 接口 {iface} 超过 {limit} 秒未收到数据包（镜像端口可能失效） / interface {iface} saw no packet for {limit} s (SPAN port may be dead)"
                )
            }));
        }
        for (name, _) in senders {
            let silent = quiet.iter().any(|(n, _)| n == name);
            out.extend(self.transition("syslog_sender", name, silent, shared, || {
                format!(
                    "ZONEGUARD 日志源 {name} 停止发送日志 / syslog sender {name} went quiet (log forwarding broken or logging disabled)"
                )
            }));
        }
        out
    }

    fn transition(
        &mut self,
        kind: &str,
        name: &str,
        silent: bool,
        shared: &Shared,
        msg: impl FnOnce() -> String,
    ) -> Option<Alert> {
        shared.metrics.set_silent(kind, name, silent);
        let key = (kind.to_string(), name.to_string());
        let was = self.alarmed.get(&key).copied().unwrap_or(false);
        self.alarmed.insert(key, silent);
        if silent && !was {
            let m = msg();
            tracing::error!("{m}");
            let sid = if kind == "interface" {
                SID_INTERFACE_SILENT
            } else {
                SID_SENDER_SILENT
            };
            Some(sensor_alert(sid, "facility_fault/hw_sw_fault", &m, "high"))
        } else {
            if was && !silent {
                tracing::info!("{kind} {name} is sending again / 已恢复");
            }
            None
        }
    }
}
