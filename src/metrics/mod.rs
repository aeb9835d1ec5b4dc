//! Prometheus metrics of the daemon (CONTRACT.md "Metrics").
//!
//! Workers never touch a metric: they keep plain counters
//! ([`crate::pipeline::WorkerStats`]) and publish a copy about once a second;
//! [`Metrics::update_workers`] turns the sum of those copies into the
//! exported counters. The packet path therefore pays nothing for metrics,
//! and every label set is bounded by the config (interfaces, zones, units,
//! listeners) or by a fixed list (sources, severities, kinds).

use prometheus::{
    Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::alert::Alert;
use crate::incident::Grade;
use crate::pipeline::WorkerStats;

/// Errors setting up the registry (a bug: names are fixed).
#[derive(Debug, thiserror::Error)]
#[error("metrics: {0}")]
pub struct MetricsError(#[from] prometheus::Error);

/// Counters of one capture interface.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InterfaceCounters {
    /// Packets received by zoneguard.
    pub packets: u64,
    /// Bytes of those packets.
    pub bytes: u64,
    /// Packets the kernel dropped (PACKET_STATISTICS).
    pub kernel_drops: u64,
}

/// Counters of one syslog listener.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListenerCounters {
    /// Listener name from the config.
    pub name: String,
    /// Messages received.
    pub received: u64,
    /// Messages dropped (queue full, over the size limit, connection limit).
    pub dropped: u64,
    /// Messages that did not parse.
    pub unparseable: u64,
    /// TCP/TLS connections closed without sending anything (health checks).
    pub empty_connections: u64,
}

/// Every metric the daemon exports.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    packets: IntCounterVec,
    bytes: IntCounterVec,
    kernel_drops: IntCounterVec,
    decode_anomalies: IntCounterVec,
    invalid_checksum: IntCounter,
    flows_active: IntGauge,
    flows_created: IntCounter,
    flows_ended: IntCounterVec,
    flows_emergency: IntCounter,
    app_records: IntCounterVec,
    alerts: IntCounterVec,
    policy_violations: IntCounterVec,
    rules_loaded: IntGaugeVec,
    rules_rejected: IntGaugeVec,
    reloads: IntCounterVec,
    last_reload: Gauge,
    last_reload_ok: IntGauge,
    syslog_messages: IntCounterVec,
    syslog_empty_connections: IntCounterVec,
    incidents_open: IntGaugeVec,
    incidents: IntGaugeVec,
    reports_overdue: IntGauge,
    queue_depth: IntGaugeVec,
    queue_dropped: IntCounterVec,
    stage_latency: HistogramVec,
    eve_records: IntCounter,
    eve_lost: IntCounter,
    silent: IntGaugeVec,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn counter_vec(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<IntCounterVec> {
    let c = IntCounterVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(c.clone()))?;
    Ok(c)
}

fn gauge_vec(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<IntGaugeVec> {
    let g = IntGaugeVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(g.clone()))?;
    Ok(g)
}

fn counter(r: &Registry, name: &str, help: &str) -> prometheus::Result<IntCounter> {
    let c = IntCounter::new(name, help)?;
    r.register(Box::new(c.clone()))?;
    Ok(c)
}

fn gauge(r: &Registry, name: &str, help: &str) -> prometheus::Result<IntGauge> {
    let g = IntGauge::new(name, help)?;
    r.register(Box::new(g.clone()))?;
    Ok(g)
}

/// Raises a counter to `v` (counters only grow; a smaller `v` — a worker
/// restarted — is ignored).
fn raise(c: &IntCounter, v: u64) {
    let cur = c.get();
    if v > cur {
        c.inc_by(v - cur);
    }
}

/// The bucket of an alert severity label.
fn severity_label(s: u8) -> &'static str {
    match s {
        0 | 1 => "1",
        2 => "2",
        3 => "3",
        _ => "4",
    }
}

impl Metrics {
    /// Creates the registry with every metric (and the process metrics
    /// where the platform has them).
    pub fn new() -> Result<Metrics, MetricsError> {
        let r = Registry::new_custom(Some("zoneguard".into()), None)?;
        #[cfg(target_os = "linux")]
        {
            let pc = prometheus::process_collector::ProcessCollector::for_self();
            r.register(Box::new(pc))?;
        }
        let stage_latency = HistogramVec::new(
            HistogramOpts::new(
                "stage_duration_seconds",
                "Time spent per pipeline stage: packet batch, alert to stored incident, EVE flush, reload",
            )
            .buckets(vec![
                0.000_05, 0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                2.5, 5.0, 10.0,
            ]),
            &["stage"],
        )?;
        r.register(Box::new(stage_latency.clone()))?;
        let last_reload = Gauge::new(
            "last_reload_timestamp_seconds",
            "Unix time of the last reload attempt",
        )?;
        r.register(Box::new(last_reload.clone()))?;
        let info = GaugeVec::new(
            Opts::new("build_info", "Version of the running daemon (always 1)"),
            &["version"],
        )?;
        r.register(Box::new(info.clone()))?;
        info.with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1.0);
        Ok(Metrics {
            packets: counter_vec(&r, "packets_total", "Packets captured", &["interface"])?,
            bytes: counter_vec(&r, "bytes_total", "Bytes captured", &["interface"])?,
            kernel_drops: counter_vec(
                &r,
                "kernel_drops_total",
                "Packets the kernel dropped before zoneguard read them (PACKET_STATISTICS)",
                &["interface"],
            )?,
            decode_anomalies: counter_vec(
                &r,
                "decode_anomalies_total",
                "Decoder anomalies by kind",
                &["kind"],
            )?,
            invalid_checksum: counter(
                &r,
                "invalid_checksum_packets_total",
                "Packets not processed because a checksum was invalid",
            )?,
            flows_active: gauge(&r, "flows_active", "Flows in the flow tables")?,
            flows_created: counter(&r, "flows_created_total", "Flows created")?,
            flows_ended: counter_vec(
                &r,
                "flows_ended_total",
                "Flows ended, by reason (timeout, forced = evicted by memory pressure, shutdown)",
                &["reason"],
            )?,
            flows_emergency: counter(
                &r,
                "flow_emergency_entered_total",
                "Times a flow table entered emergency mode",
            )?,
            app_records: counter_vec(
                &r,
                "app_records_total",
                "Application-layer records (transactions) by protocol",
                &["protocol"],
            )?,
            alerts: counter_vec(
                &r,
                "alerts_total",
                "Alerts by source (policy, signature, log) and severity (1 high .. 4 low)",
                &["source", "severity"],
            )?,
            policy_violations: counter_vec(
                &r,
                "policy_violations_total",
                "Zone-policy findings by kind and zone pair",
                &["kind", "src_zone", "dest_zone"],
            )?,
            rules_loaded: gauge_vec(
                &r,
                "rules_loaded",
                "Rules in the running snapshot, by kind (signature, log)",
                &["kind"],
            )?,
            rules_rejected: gauge_vec(
                &r,
                "rules_rejected",
                "Rules rejected or not supported when the running snapshot was built",
                &["kind"],
            )?,
            reloads: counter_vec(&r, "reloads_total", "Reloads by result", &["result"])?,
            last_reload,
            last_reload_ok: gauge(
                &r,
                "last_reload_success",
                "1 if the last reload succeeded, 0 if it failed (the old snapshot runs)",
            )?,
            syslog_messages: counter_vec(
                &r,
                "syslog_messages_total",
                "Syslog messages by listener and outcome (received, dropped, unparseable)",
                &["listener", "outcome"],
            )?,
            syslog_empty_connections: counter_vec(
                &r,
                "syslog_empty_connections_total",
                "TCP/TLS syslog connections closed before sending a message (health checks), by listener",
                &["listener"],
            )?,
            incidents_open: gauge_vec(
                &r,
                "incidents_open",
                "Open incidents (not resolved, not false positive) by grade and unit",
                &["grade", "unit"],
            )?,
            incidents: gauge_vec(
                &r,
                "incidents",
                "Incidents in the store by grade and status",
                &["grade", "status"],
            )?,
            reports_overdue: gauge(
                &r,
                "reports_overdue",
                "Open incidents whose reporting deadline has passed",
            )?,
            queue_depth: gauge_vec(
                &r,
                "queue_depth",
                "Items waiting in an internal queue",
                &["queue"],
            )?,
            queue_dropped: counter_vec(
                &r,
                "queue_dropped_total",
                "Items an internal queue could not take (counted, never silent)",
                &["queue"],
            )?,
            stage_latency,
            eve_records: counter(&r, "eve_records_total", "Records written to eve.json")?,
            eve_lost: counter(
                &r,
                "eve_lost_records_total",
                "Records that could not be written to eve.json (disk full, I/O error)",
            )?,
            silent: gauge_vec(
                &r,
                "source_silent",
                "1 while an interface or an expected syslog sender has been silent longer than allowed",
                &["kind", "name"],
            )?,
            registry: r,
        })
    }

    /// The registry (for tests and extra collectors).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let enc = TextEncoder::new();
        if let Err(e) = enc.encode(&self.registry.gather(), &mut buf) {
            tracing::warn!("metrics encoding failed: {e}");
        }
        String::from_utf8(buf).unwrap_or_default()
    }

    /// Sets the interface counters (cumulative values).
    pub fn update_interface(&self, name: &str, c: &InterfaceCounters) {
        raise(&self.packets.with_label_values(&[name]), c.packets);
        raise(&self.bytes.with_label_values(&[name]), c.bytes);
        raise(
            &self.kernel_drops.with_label_values(&[name]),
            c.kernel_drops,
        );
    }

    /// Sets the packet-path counters from the sum of the workers' counters.
    pub fn update_workers(&self, s: &WorkerStats, active_flows: u64) {
        for (kind, n) in &s.anomalies {
            raise(&self.decode_anomalies.with_label_values(&[kind]), *n);
        }
        raise(&self.invalid_checksum, s.invalid_checksum);
        self.flows_active
            .set(i64::try_from(active_flows).unwrap_or(i64::MAX));
        raise(&self.flows_created, s.flow_table.created);
        for (i, reason) in ["timeout", "forced", "shutdown"].iter().enumerate() {
            raise(
                &self.flows_ended.with_label_values(&[reason]),
                s.flows_ended.get(i).copied().unwrap_or(0),
            );
        }
        raise(&self.flows_emergency, s.flow_table.emergency_entered);
        for (p, n) in &s.app_records {
            raise(&self.app_records.with_label_values(&[p]), *n);
        }
    }

    /// Counts one alert (called by the alert consumer for every alert).
    pub fn count_alert(&self, a: &Alert) {
        self.alerts
            .with_label_values(&[a.source.as_str(), severity_label(a.severity)])
            .inc();
        if let Some(p) = &a.policy {
            self.policy_violations
                .with_label_values(&[p.kind.as_str(), &p.src_zone, &p.dest_zone])
                .inc();
        }
    }

    /// Sets the rule counts of the running snapshot.
    pub fn set_rules(&self, kind: &str, loaded: usize, rejected: usize) {
        self.rules_loaded
            .with_label_values(&[kind])
            .set(i64::try_from(loaded).unwrap_or(i64::MAX));
        self.rules_rejected
            .with_label_values(&[kind])
            .set(i64::try_from(rejected).unwrap_or(i64::MAX));
    }

    /// Marks the snapshot loaded at start as good (no reload counted).
    pub fn started(&self) {
        self.last_reload_ok.set(1);
    }

    /// Records a reload attempt.
    pub fn reload(&self, ok: bool, secs: f64) {
        self.reloads
            .with_label_values(&[if ok { "success" } else { "failure" }])
            .inc();
        self.last_reload_ok.set(i64::from(ok));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        self.last_reload.set(now);
        self.observe("reload", secs);
    }

    /// Sets the counters of the syslog listeners.
    pub fn update_listeners(&self, ls: &[ListenerCounters]) {
        for l in ls {
            for (outcome, v) in [
                ("received", l.received),
                ("dropped", l.dropped),
                ("unparseable", l.unparseable),
            ] {
                raise(
                    &self.syslog_messages.with_label_values(&[&l.name, outcome]),
                    v,
                );
            }
            raise(
                &self.syslog_empty_connections.with_label_values(&[&l.name]),
                l.empty_connections,
            );
        }
    }

    /// Sets the incident gauges from the store (open by grade and unit,
    /// all by grade and status, overdue reports). Label sets that
    /// disappeared are reset to zero.
    pub fn update_incidents(
        &self,
        open: &[(Grade, String, u64)],
        by_status: &[(Grade, String, u64)],
        overdue: u64,
    ) {
        self.incidents_open.reset();
        for (g, unit, n) in open {
            self.incidents_open
                .with_label_values(&[g.as_str(), unit])
                .set(i64::try_from(*n).unwrap_or(i64::MAX));
        }
        self.incidents.reset();
        for (g, status, n) in by_status {
            self.incidents
                .with_label_values(&[g.as_str(), status])
                .set(i64::try_from(*n).unwrap_or(i64::MAX));
        }
        self.reports_overdue
            .set(i64::try_from(overdue).unwrap_or(i64::MAX));
    }

    /// Sets the depth of an internal queue.
    pub fn set_queue(&self, queue: &str, depth: usize, dropped_total: u64) {
        self.queue_depth
            .with_label_values(&[queue])
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
        raise(
            &self.queue_dropped.with_label_values(&[queue]),
            dropped_total,
        );
    }

    /// Observes the duration of one pass of a stage.
    pub fn observe(&self, stage: &str, secs: f64) {
        self.stage_latency.with_label_values(&[stage]).observe(secs);
    }

    /// Sets the EVE writer's counters.
    pub fn update_eve(&self, records: u64, lost: u64) {
        raise(&self.eve_records, records);
        raise(&self.eve_lost, lost);
    }

    /// Marks a source silent (1) or alive (0).
    pub fn set_silent(&self, kind: &str, name: &str, silent: bool) {
        self.silent
            .with_label_values(&[kind, name])
            .set(i64::from(silent));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str, line_prefix: &str) -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(line_prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    #[test]
    fn names_and_labels_follow_the_contract() {
        let m = Metrics::new().unwrap();
        m.update_interface(
            "eth1",
            &InterfaceCounters {
                packets: 10,
                bytes: 1000,
                kernel_drops: 0,
            },
        );
        m.update_interface(
            "eth1",
            &InterfaceCounters {
                packets: 25,
                bytes: 2500,
                kernel_drops: 1,
            },
        );
        m.reload(true, 0.2);
        m.reload(false, 0.1);
        m.update_listeners(&[ListenerCounters {
            name: "udp514".into(),
            received: 7,
            dropped: 0,
            unparseable: 1,
            empty_connections: 2,
        }]);
        m.update_incidents(&[(Grade::II, "county-a".into(), 3)], &[], 1);
        m.set_rules("signature", 120, 2);
        let t = m.render();
        assert_eq!(
            value(&t, "zoneguard_packets_total{interface=\"eth1\"}"),
            Some(25.0)
        );
        assert_eq!(
            value(&t, "zoneguard_bytes_total{interface=\"eth1\"}"),
            Some(2500.0)
        );
        assert_eq!(
            value(&t, "zoneguard_kernel_drops_total{interface=\"eth1\"}"),
            Some(1.0)
        );
        assert_eq!(
            value(&t, "zoneguard_reloads_total{result=\"success\"}"),
            Some(1.0)
        );
        assert_eq!(
            value(&t, "zoneguard_reloads_total{result=\"failure\"}"),
            Some(1.0)
        );
        assert_eq!(value(&t, "zoneguard_last_reload_success"), Some(0.0));
        assert_eq!(
            value(
                &t,
                "zoneguard_syslog_messages_total{listener=\"udp514\",outcome=\"unparseable\"}"
            ),
            Some(1.0)
        );
        assert_eq!(
            value(
                &t,
                "zoneguard_incidents_open{grade=\"II\",unit=\"county-a\"}"
            ),
            Some(3.0)
        );
        assert_eq!(value(&t, "zoneguard_reports_overdue"), Some(1.0));
        assert_eq!(
            value(&t, "zoneguard_rules_loaded{kind=\"signature\"}"),
            Some(120.0)
        );
        assert!(t.contains("zoneguard_flows_active"));
        // counters never go down
        m.update_interface("eth1", &InterfaceCounters::default());
        let t = m.render();
        assert_eq!(
            value(&t, "zoneguard_packets_total{interface=\"eth1\"}"),
            Some(25.0)
        );
    }

    /// Every metric the shipped Grafana dashboard and Prometheus alerting
    /// rules use exists (names drift otherwise).
    #[test]
    fn shipped_dashboard_and_alerts_use_real_metrics() {
        let m = Metrics::new().unwrap();
        // make the labelled families appear in the exposition
        m.update_interface("x", &InterfaceCounters::default());
        m.set_silent("interface", "x", false);
        m.observe("reload", 0.1);
        m.reload(true, 0.1);
        m.set_queue("alerts", 0, 0);
        m.update_incidents(
            &[(Grade::II, "u".into(), 1)],
            &[(Grade::II, "new".into(), 1)],
            0,
        );
        m.update_listeners(&[ListenerCounters::default()]);
        m.set_rules("signature", 1, 0);
        let s = WorkerStats {
            flows_ended: [1, 1, 1],
            ..WorkerStats::default()
        };
        m.update_workers(&s, 1);
        let mut known: Vec<String> = m
            .registry()
            .gather()
            .iter()
            .map(|f| f.name().to_string())
            .collect();
        known.push("zoneguard_decode_anomalies_total".into());
        known.push("zoneguard_app_records_total".into());
        known.push("zoneguard_alerts_total".into());
        known.push("zoneguard_policy_violations_total".into());
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("monitoring");
        for f in ["grafana-dashboard.json", "prometheus-alerts.yml"] {
            let text = std::fs::read_to_string(root.join(f)).unwrap();
            let mut rest = text.as_str();
            while let Some(i) = rest.find("zoneguard_") {
                let tail = &rest[i..];
                let end = tail
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(tail.len());
                let name = &tail[..end];
                rest = &tail[end..];
                let base = name
                    .strip_suffix("_bucket")
                    .or_else(|| name.strip_suffix("_sum"))
                    .or_else(|| name.strip_suffix("_count"))
                    .unwrap_or(name);
                assert!(
                    known.iter().any(|k| k == base),
                    "{f} uses {name}, which zoneguard does not export"
                );
            }
        }
    }
}
