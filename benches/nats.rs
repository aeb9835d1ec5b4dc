//! NATS JetStream benchmarks (issue 6 item 9), against a real
//! `nats-server` started here on a free loopback port (skipped, loudly,
//! when it is not installed):
//! - `publish_acked`: sensor side, alerts published and acknowledged by
//!   JetStream (stored in the stream's file store);
//! - `sensor_to_central_committed`: end to end, a publisher and the central
//!   running together, from the first publish until the last alert is
//!   committed (incident update + ledger row) in the central's SQLite.
//!
//! `cargo bench --bench nats`

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};
use zoneguard::alert::{Action, Alert, AlertAddrs, AlertSource};
use zoneguard::config::{Config, QueueBackend};
use zoneguard::queue::nats::{run_central, AlertPublisher};
use zoneguard::time::Timestamp;

const N: u64 = 20_000;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server(dir: &std::path::Path) -> Option<(Server, u16)> {
    let port = TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let child = Command::new("nats-server")
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let s = Server(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Some((s, port))
}

fn alert(i: u64) -> Alert {
    let s = i % 2_000;
    Alert {
        ts: Timestamp::from_secs_nanos(1_793_000_000 + (i / 100) as i64, 0),
        source: AlertSource::Signature,
        flow_id: Some(i),
        pcap_cnt: Some(i + 1),
        addrs: AlertAddrs {
            src_ip: Some(std::net::IpAddr::from([
                47,
                (s >> 16) as u8,
                (s >> 8) as u8,
                s as u8,
            ])),
            src_port: 40000,
            dest_ip: Some(std::net::IpAddr::from([10, 10, 0, (i % 4) as u8 + 1])),
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
            vec![Arc::from("network_attack/exploit")],
        )],
        policy: None,
        app_proto: Some("http"),
        log: None,
    }
}

fn config(port: u16, run: u64) -> Config {
    let mut c = Config::builtin_default();
    c.queue.backend = QueueBackend::Nats;
    c.queue.sensor_id = "bench".into();
    c.queue.nats.urls = vec![format!("nats://127.0.0.1:{port}")];
    // A stream per run, so each run starts empty.
    c.queue.nats.stream = format!("BENCH_{run}");
    c.queue.nats.subject = format!("bench{run}");
    c.queue.nats.durable = format!("central{run}");
    c.queue.nats.buffer = N as usize + 1;
    c.queue.nats.flush_timeout_secs = 120;
    c
}

fn ledger(db: &std::path::Path) -> u64 {
    rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .and_then(|c| {
            c.query_row("SELECT count(*) FROM nats_ledger", [], |r| {
                r.get::<_, i64>(0)
            })
        })
        .map_or(0, |n| n as u64)
}

fn benches_nats(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((_server, port)) = start_server(&dir.path().join("js")) else {
        eprintln!("\n*** nats bench SKIPPED: nats-server is not installed or did not start ***\n");
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let alerts: Vec<Alert> = (0..N).map(alert).collect();
    let mut run = 0u64;
    let mut g = c.benchmark_group("nats");
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements(N));
    g.bench_function("publish_acked", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                run += 1;
                let cfg = config(port, run);
                total += rt.block_on(async {
                    let p = AlertPublisher::connect(&cfg.queue).await.expect("connect");
                    let t = Instant::now();
                    for a in &alerts {
                        p.publish(a).await.expect("publish");
                    }
                    p.flush().await.expect("flush");
                    let e = t.elapsed();
                    let st = p.close().await;
                    assert_eq!(st.acked, N);
                    e
                });
            }
            total
        })
    });
    g.bench_function("sensor_to_central_committed", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                run += 1;
                let cfg = config(port, run);
                let db = dir.path().join(format!("central{run}.db"));
                total += rt.block_on(async {
                    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
                    let (ccfg, cdb) = (cfg.clone(), db.clone());
                    let central = tokio::spawn(async move {
                        run_central(&ccfg, &cdb, async {
                            let _ = rx.await;
                        })
                        .await
                    });
                    let p = AlertPublisher::connect(&cfg.queue).await.expect("connect");
                    let t = Instant::now();
                    for a in &alerts {
                        p.publish(a).await.expect("publish");
                    }
                    while ledger(&db) < N {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    let e = t.elapsed();
                    p.close().await;
                    let _ = tx.send(());
                    let s = central.await.expect("join").expect("central");
                    assert_eq!(s.applied, N);
                    e
                });
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, benches_nats);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
