//! Incident store benchmarks (issue 6):
//! - sustained alerts/s from `Manager::on_alert` to committed in SQLite
//!   (target ≥ 20 000/s);
//! - alert → incident stored latency at a paced 1 000 alerts/s (target
//!   p99 ≤ 50 ms), printed before the criterion runs.
//!
//! Register in Cargo.toml as `[[bench]] name = "incident" harness = false`.

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};
use zoneguard::alert::{Action, Alert, AlertAddrs, AlertSource};
use zoneguard::incident::{CorrelatorConfig, Manager};
use zoneguard::policy::{ZoneInfo, ZoneMap, ZonePolicy};
use zoneguard::queue::StoreConfig;
use zoneguard::time::Timestamp;

fn policy() -> Arc<ZonePolicy> {
    let z = |id: &str, level: u8, unit: Option<&str>, default: bool| ZoneInfo {
        id: Arc::from(id),
        name_zh: Some(Arc::from(id)),
        name_en: None,
        level,
        isolated: false,
        is_default: default,
        strict: false,
        unit: unit.map(Arc::from),
        contact: None,
    };
    Arc::new(ZonePolicy {
        zones: vec![
            z("internet", 0, None, true),
            z("datacenter", 3, Some("州大数据中心"), false),
        ],
        map: ZoneMap::new([("10.10.0.0/16".parse().expect("cidr"), 1u16)], Some(0)),
        ..Default::default()
    })
}

/// Alert `i` of a stream with `sources` distinct attackers against 4 hosts:
/// the first alert of each (source, host, category) opens an incident,
/// the rest join.
fn alert(i: u64, sources: u64) -> Alert {
    let s = i % sources;
    let cats = [
        "network_attack/exploit",
        "network_attack/brute_force",
        "network_attack/scan",
    ];
    Alert {
        ts: Timestamp::from_secs_nanos(1_793_000_000 + (i / 100) as i64, 0),
        source: AlertSource::Signature,
        flow_id: Some(i),
        pcap_cnt: Some(i + 1),
        addrs: AlertAddrs {
            src_ip: Some(IpAddr::from([47, (s >> 16) as u8, (s >> 8) as u8, s as u8])),
            src_port: 40000,
            dest_ip: Some(IpAddr::from([10, 10, 0, (i % 4) as u8 + 1])),
            dest_port: 80,
            proto: Some(6),
        },
        ether: None,
        vlans: Vec::new(),
        action: Action::Allowed,
        gid: 1,
        sid: 2_000_000 + (i % 17) as u32,
        rev: 1,
        signature: Arc::from("ET WEB_SERVER benchmark rule"),
        category: Arc::from("Web Application Attack"),
        severity: 1 + (i % 3) as u8,
        metadata: vec![(
            Arc::from("taxonomy"),
            vec![Arc::from(cats[(s % 3) as usize])],
        )],
        policy: None,
        app_proto: Some("http"),
        log: None,
    }
}

fn throughput(c: &mut Criterion) {
    const N: u64 = 50_000;
    let alerts: Vec<Alert> = (0..N).map(|i| alert(i, 2_000)).collect();
    let mut g = c.benchmark_group("incident_store");
    g.sample_size(10);
    g.throughput(Throughput::Elements(N));
    g.bench_function("alerts_to_committed", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().expect("tempdir");
                let db = dir.path().join("incidents.db");
                let mut m = Manager::open(
                    &db,
                    policy(),
                    CorrelatorConfig::default(),
                    StoreConfig::default(),
                )
                .expect("open");
                let t = Instant::now();
                for a in &alerts {
                    m.on_alert(a);
                }
                let s = m.finish();
                total += t.elapsed();
                assert!(s.sync_error.is_none());
            }
            total
        })
    });
    g.finish();
}

/// Paced 1 000 alerts/s for `secs` seconds; latency from `on_alert` to the
/// writer's commit of that update.
fn latency_report(secs: u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("incidents.db");
    let mut m = Manager::open(
        &db,
        policy(),
        CorrelatorConfig::default(),
        StoreConfig::default(),
    )
    .expect("open");
    let stats = Arc::clone(m.store().stats());
    let n = secs * 1000;
    let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(1);
    let poll_stats = Arc::clone(&stats);
    let poller = std::thread::spawn(move || {
        let mut seen = Vec::with_capacity(100_000);
        let mut last = 0;
        loop {
            let c = poll_stats.committed_seq.load(Ordering::Acquire);
            if c != last {
                seen.push((Instant::now(), c));
                last = c;
            }
            if stop_rx.try_recv().is_ok() {
                return seen;
            }
            std::thread::sleep(Duration::from_micros(50));
        }
    });
    let start = Instant::now();
    let mut submitted = Vec::with_capacity(n as usize);
    for i in 0..n {
        let due = start + Duration::from_micros(i * 1000);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        m.on_alert(&alert(i, 500));
        submitted.push((Instant::now(), m.store().submitted_seq()));
    }
    m.sync().expect("sync");
    std::thread::sleep(Duration::from_millis(5));
    let _ = stop_tx.send(());
    let seen = poller.join().expect("poller");
    let mut lat: Vec<f64> = Vec::with_capacity(submitted.len());
    let mut j = 0;
    for (t, seq) in &submitted {
        while j < seen.len() && seen[j].1 < *seq {
            j += 1;
        }
        if let Some((tc, _)) = seen.get(j) {
            lat.push(tc.saturating_duration_since(*t).as_secs_f64() * 1000.0);
        }
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    let p = |q: f64| {
        lat.get(((lat.len() as f64 - 1.0) * q) as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    println!(
        "incident_store/latency_at_1000_per_s: {} alerts, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, {} transactions",
        lat.len(),
        p(0.5),
        p(0.99),
        lat.last().copied().unwrap_or(f64::NAN),
        stats.transactions.load(Ordering::Relaxed)
    );
    m.finish();
}

criterion_group!(benches, throughput);

fn main() {
    latency_report(5);
    benches();
    Criterion::default().configure_from_args().final_summary();
}
