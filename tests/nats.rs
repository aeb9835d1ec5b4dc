//! Many sensors, one queue: against a real `nats-server` (Debian package
//! `nats-server`, started here with JetStream on a free loopback port and a
//! store in a temporary directory).
//!
//! Without `nats-server` the tests say so loudly and pass, except in CI
//! (`CI=true`), where a missing server is a failure.

mod common;

use std::net::{IpAddr, Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use zoneguard::alert::{Action, Alert, AlertAddrs, AlertSource, PolicyInfo, PolicyKind};
use zoneguard::config::{Config, NatsTls, QueueBackend};
use zoneguard::queue::nats::{run_central, AlertPublisher};
use zoneguard::time::Timestamp;

/// A nats-server with JetStream on 127.0.0.1.
struct NatsServer {
    child: Option<Child>,
    port: u16,
    store: PathBuf,
    conf: Option<PathBuf>,
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

/// `None` (after a loud message) when nats-server is missing outside CI.
fn nats_server_available() -> bool {
    let ok = Command::new("nats-server")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("nats-server is not installed (CI=true): .ci/run must `apt-get install -y nats-server`");
        }
        eprintln!(
            "\n*** SKIPPED: nats-server is not installed (apt-get install -y nats-server) ***\n"
        );
    }
    ok
}

impl NatsServer {
    fn start(store: &Path) -> NatsServer {
        let mut s = NatsServer {
            child: None,
            port: free_port(),
            store: store.to_path_buf(),
            conf: None,
        };
        s.spawn();
        s
    }

    /// With a config file (TLS).
    fn start_with_conf(store: &Path, conf: &Path, port: u16) -> NatsServer {
        let mut s = NatsServer {
            child: None,
            port,
            store: store.to_path_buf(),
            conf: Some(conf.to_path_buf()),
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new("nats-server");
        if let Some(c) = &self.conf {
            cmd.arg("-c").arg(c);
        }
        cmd.args([
            "-js",
            "-a",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-sd",
        ])
        .arg(&self.store)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        let child = cmd.spawn().expect("start nats-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn config(url: &str, sensor: &str) -> Config {
    let mut c = Config::builtin_default();
    c.queue.backend = QueueBackend::Nats;
    c.queue.sensor_id = sensor.to_string();
    c.queue.nats.urls = vec![url.to_string()];
    c.queue.nats.flush_timeout_secs = 20;
    c
}

/// A policy alert; `i` varies the source so alerts spread over incidents.
fn alert(i: u64) -> Alert {
    Alert {
        ts: Timestamp(1_700_000_000_000_000_000 + i as i64 * 1_000_000),
        source: AlertSource::Policy,
        flow_id: Some(i),
        pcap_cnt: Some(i + 1),
        addrs: AlertAddrs {
            src_ip: Some(IpAddr::V4(Ipv4Addr::new(10, 1, 0, (i % 7) as u8 + 1))),
            src_port: 40_000,
            dest_ip: Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9))),
            dest_port: 443,
            proto: Some(6),
        },
        ether: None,
        vlans: Vec::new(),
        action: Action::Allowed,
        gid: 1,
        sid: 1_990_002,
        rev: 1,
        signature: Arc::from("违规外联 / unauthorized outbound connection"),
        category: Arc::from("Policy Violation"),
        severity: 1,
        metadata: vec![(
            Arc::from("taxonomy"),
            vec![Arc::from("violation/unauthorized_outbound")],
        )],
        policy: Some(PolicyInfo {
            kind: PolicyKind::UnauthorizedOutbound,
            src_zone: Arc::from("office"),
            dest_zone: Arc::from("internet"),
            level: 2,
            unit: None,
            contact: None,
            app: None,
            user: None,
        }),
        app_proto: None,
        log: None,
    }
}

fn db_counts(db: &Path) -> (u64, u64, u64) {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open store");
    let (sum, n): (Option<i64>, i64) = c
        .query_row(
            "SELECT sum(alert_count), count(*) FROM incidents",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("incidents");
    let ledger: i64 = c
        .query_row("SELECT count(*) FROM nats_ledger", [], |r| r.get(0))
        .unwrap_or(0);
    (sum.unwrap_or(0) as u64, n as u64, ledger as u64)
}

fn ledger_count(db: &Path) -> u64 {
    if !db.exists() {
        return 0;
    }
    let Ok(c) =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return 0;
    };
    c.query_row("SELECT count(*) FROM nats_ledger", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_or(0, |n| n as u64)
}

async fn stream_messages(url: &str, stream: &str) -> u64 {
    let client = async_nats::connect(url).await.expect("connect");
    let js = async_nats::jetstream::new(client);
    let mut s = js.get_stream(stream).await.expect("stream");
    s.info().await.expect("info").state.messages
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_consume_round_trip() {
    if !nats_server_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = NatsServer::start(&dir.path().join("js"));
    let cfg = config(&server.url(), "s1");
    let publisher = AlertPublisher::connect(&cfg.queue).await.unwrap();
    const N: u64 = 500;
    for i in 0..N {
        publisher.publish(&alert(i)).await.unwrap();
    }
    publisher.flush().await.unwrap();
    let st = publisher.close().await;
    assert_eq!((st.published, st.acked, st.dropped), (N, N, 0), "{st:?}");
    assert_eq!(stream_messages(&server.url(), "ZONEGUARD_ALERTS").await, N);

    // A hostile message on the stream: counted, never applied, no panic.
    let raw = async_nats::connect(server.url()).await.unwrap();
    let js = async_nats::jetstream::new(raw);
    js.publish("zoneguard.alerts.evil", "{\"v\":1,\"oops\":".into())
        .await
        .unwrap()
        .await
        .unwrap();

    let db = dir.path().join("central.db");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let central_cfg = config(&server.url(), "central");
    let db2 = db.clone();
    let central = tokio::spawn(async move {
        run_central(&central_cfg, &db2, async {
            let _ = rx.await;
        })
        .await
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while ledger_count(&db) < N {
        assert!(
            Instant::now() < deadline,
            "central did not apply {N} alerts"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let the malformed message (published last) be seen too.
    tokio::time::sleep(Duration::from_millis(800)).await;
    tx.send(()).unwrap();
    let sum = central.await.unwrap().unwrap();
    assert_eq!(sum.applied, N);
    assert_eq!(sum.duplicates, 0);
    assert_eq!(sum.malformed, 1);
    assert_eq!(sum.ledger_total, N);
    assert_eq!(sum.per_sensor, vec![("s1".to_string(), N)]);
    let (alerts, incidents, ledger) = db_counts(&db);
    assert_eq!(alerts, N, "sum of the incidents' alert counts");
    assert_eq!(ledger, N);
    // 7 sources, one destination, one category: 7 incidents.
    assert_eq!(incidents, 7);
}

fn write_sensor_config(dir: &Path, url: &str, sensor: &str, batch: usize) -> PathBuf {
    let base = std::fs::read_to_string(common::repo().join("config/dehong-egov.yaml")).unwrap();
    let rules = common::repo().join("rules");
    let text = base.replace("../rules", rules.to_str().unwrap());
    let text = format!(
        "{text}\nqueue:\n  backend: nats\n  sensor_id: {sensor}\n  nats:\n    urls: [{url}]\n    batch: {batch}\n    flush_timeout_secs: 60\n"
    );
    let p = dir.join(format!("{sensor}.yaml"));
    std::fs::write(&p, text).unwrap();
    p
}

fn published_count(stdout: &str) -> u64 {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("nats "))
        .unwrap_or_else(|| panic!("no nats line in {stdout}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = |w: &str| -> u64 {
        let i = words.iter().position(|x| *x == w).unwrap();
        words[i + 1].parse().unwrap()
    };
    assert_eq!(at("published"), at("acknowledged"), "{line}");
    assert_eq!(at("dropped"), 0, "{line}");
    at("acknowledged")
}

fn start_central(cfg: &Path, db: &Path) -> Child {
    Command::new(common::bin())
        .args(["central", "-c"])
        .arg(cfg)
        .arg("--db")
        .arg(db)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start central")
}

#[test]
fn two_sensors_central_killed_mid_stream_exact_counts() {
    if !nats_server_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = NatsServer::start(&dir.path().join("js"));
    let url = server.url();
    let pcap = common::repo().join("samples/dehong-sample.pcap");
    // The central commits small batches so that it is surely killed in
    // the middle of the stream.
    let central_cfg = write_sensor_config(dir.path(), &url, "central", 8);
    let db = dir.path().join("central.db");
    let mut central = start_central(&central_cfg, &db);

    // Two sensors: the same traffic seen at two points, so their alerts
    // correlate into the same incidents at the central.
    let mut published = 0;
    let mut local_alerts = 0;
    for s in ["sensor-a", "sensor-b"] {
        let cfg = write_sensor_config(dir.path(), &url, s, 256);
        let out_dir = dir.path().join(s);
        let out = Command::new(common::bin())
            .args(["replay", "-c"])
            .arg(&cfg)
            .arg("-r")
            .arg(&pcap)
            .arg("-l")
            .arg(&out_dir)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        published += published_count(&stdout);
        assert!(out_dir.join("eve.json").exists());
        let (sum, _, _) = {
            let c = rusqlite::Connection::open(out_dir.join("incidents.db")).unwrap();
            let s: i64 = c
                .query_row("SELECT sum(alert_count) FROM incidents", [], |r| r.get(0))
                .unwrap();
            (s as u64, 0, 0)
        };
        local_alerts += sum;
    }
    assert!(published > 1000, "only {published} alerts");
    assert_eq!(
        published, local_alerts,
        "sensors published what they stored"
    );

    // kill -9 in the middle of the stream.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let n = ledger_count(&db);
        if n >= published / 4 {
            break;
        }
        assert!(Instant::now() < deadline, "central applied only {n}");
        std::thread::sleep(Duration::from_millis(5));
    }
    central.kill().unwrap();
    central.wait().unwrap();
    let at_kill = ledger_count(&db);
    assert!(
        at_kill < published,
        "the central finished ({at_kill}) before it was killed; the test proves nothing"
    );

    // Start again: the durable consumer re-delivers what was not
    // acknowledged, the ledger recognises what was committed.
    let central = start_central(&central_cfg, &db);
    let deadline = Instant::now() + Duration::from_secs(120);
    while ledger_count(&db) < published {
        assert!(
            Instant::now() < deadline,
            "central stuck at {}",
            ledger_count(&db)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Anything more (a double count) would show up within this time.
    std::thread::sleep(Duration::from_millis(1500));
    let pid = central.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let out = central.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("汇聚节点摘要"), "{stdout}");
    eprintln!(
        "killed at {at_kill} of {published}; after restart:\n{}",
        stdout
            .lines()
            .filter(|l| l.contains("received") || l.contains("applied") || l.contains("duplicates"))
            .collect::<Vec<_>>()
            .join("\n")
    );

    let (alerts, incidents, ledger) = db_counts(&db);
    assert_eq!(ledger, published, "every alert applied exactly once");
    assert_eq!(
        alerts, published,
        "sum of incident alert counts = alerts published"
    );
    assert!(incidents > 0);
    let c = rusqlite::Connection::open(&db).unwrap();
    let per: Vec<(String, i64)> = c
        .prepare("SELECT sensor, count(*) FROM nats_ledger GROUP BY sensor ORDER BY sensor")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(per.len(), 2);
    assert_eq!(per[0].1 as u64 + per[1].1 as u64, published);
    assert_eq!(per[0].1, per[1].1, "both sensors saw the same traffic");
    let integrity: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    let audit = common::zoneguard(&["audit", "verify", "--db", db.to_str().unwrap()]);
    assert!(
        audit.status.success(),
        "{}",
        String::from_utf8_lossy(&audit.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_server_restarted_under_publisher_loses_nothing() {
    if !nats_server_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut server = NatsServer::start(&dir.path().join("js"));
    let mut cfg = config(&server.url(), "s1");
    cfg.queue.nats.buffer = 100;
    cfg.queue.nats.spool = Some(dir.path().join("spool.db"));
    let publisher = AlertPublisher::connect(&cfg.queue).await.unwrap();
    for i in 0..300 {
        publisher.publish(&alert(i)).await.unwrap();
    }
    publisher.flush().await.unwrap();
    // The server dies (kill -9) under the publisher; alerts keep coming:
    // 100 wait in memory, the rest in the spool.
    tokio::task::block_in_place(|| server.kill());
    for i in 300..1000 {
        publisher.publish(&alert(i)).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let st = publisher.stats();
    assert!(st.spooled > 0, "{st:?}");
    tokio::task::block_in_place(|| server.restart());
    if let Err(e) = publisher.flush().await {
        panic!("{e}: {:?}", publisher.stats());
    }
    let st = publisher.close().await;
    assert_eq!(st.published, 1000);
    assert_eq!(st.dropped, 0, "{st:?}");
    assert_eq!(
        stream_messages(&server.url(), "ZONEGUARD_ALERTS").await,
        1000,
        "each alert stored once: {st:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spool_carries_alerts_to_the_next_run() {
    if !nats_server_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // No server yet: everything goes to the spool.
    let port = free_port();
    let url = format!("nats://127.0.0.1:{port}");
    let mut cfg = config(&url, "s1");
    cfg.queue.nats.buffer = 10;
    cfg.queue.nats.flush_timeout_secs = 1;
    cfg.queue.nats.spool = Some(dir.path().join("spool.db"));
    let publisher = AlertPublisher::connect(&cfg.queue).await.unwrap();
    for i in 0..200 {
        publisher.publish(&alert(i)).await.unwrap();
    }
    assert!(
        publisher.flush().await.is_err(),
        "nothing can be acknowledged"
    );
    let st = publisher.close().await;
    assert_eq!(st.acked, 0);
    assert_eq!(st.dropped, 0, "{st:?}");
    assert_eq!(st.spooled, 200, "{st:?}");

    // Next run, the server is up: the spool drains.
    let mut server = NatsServer {
        child: None,
        port,
        store: dir.path().join("js"),
        conf: None,
    };
    tokio::task::block_in_place(|| server.spawn());
    cfg.queue.nats.flush_timeout_secs = 60;
    let publisher = AlertPublisher::connect(&cfg.queue).await.unwrap();
    publisher.flush().await.unwrap();
    let st = publisher.close().await;
    assert_eq!(st.unspooled, 200, "{st:?}");
    assert_eq!(
        stream_messages(&server.url(), "ZONEGUARD_ALERTS").await,
        200
    );
    let c = rusqlite::Connection::open(dir.path().join("spool.db")).unwrap();
    let left: i64 = c
        .query_row("SELECT count(*) FROM nats_spool", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 0, "acknowledged rows leave the spool");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_to_nats_server() {
    if !nats_server_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "zoneguard test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let srv_key = rcgen::KeyPair::generate().unwrap();
    let mut srv_params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    srv_params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    let srv = srv_params.signed_by(&srv_key, &ca, &ca_key).unwrap();
    let w = |name: &str, pem: String| {
        let p = dir.path().join(name);
        std::fs::write(&p, pem).unwrap();
        p
    };
    let ca_pem = w("ca.pem", ca.pem());
    let srv_pem = w("server.pem", srv.pem());
    let srv_key_pem = w("server.key", srv_key.serialize_pem());
    let conf = dir.path().join("nats.conf");
    std::fs::write(
        &conf,
        format!(
            "tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n  ca_file: \"{}\"\n  timeout: 2\n}}\n",
            srv_pem.display(),
            srv_key_pem.display(),
            ca_pem.display()
        ),
    )
    .unwrap();
    let port = free_port();
    let server = NatsServer::start_with_conf(&dir.path().join("js"), &conf, port);
    let url = format!("tls://127.0.0.1:{}", server.port);
    let mut cfg = config(&url, "tls-sensor");
    cfg.queue.nats.tls = Some(NatsTls {
        ca: Some(ca_pem.clone()),
        cert: None,
        key: None,
    });
    let publisher = AlertPublisher::connect(&cfg.queue).await.unwrap();
    for i in 0..50 {
        publisher.publish(&alert(i)).await.unwrap();
    }
    publisher.flush().await.unwrap();
    let st = publisher.close().await;
    assert_eq!(st.acked, 50, "{st:?}");

    // Without the CA the server's certificate is refused: nothing is
    // acknowledged, and flush says so instead of pretending.
    let mut bad = config(&url, "tls-sensor");
    bad.queue.nats.flush_timeout_secs = 2;
    bad.queue.nats.tls = Some(NatsTls::default());
    let p = AlertPublisher::connect(&bad.queue).await.unwrap();
    p.publish(&alert(1)).await.unwrap();
    assert!(p.flush().await.is_err());
    let st = p.close().await;
    assert_eq!(st.acked, 0);
    assert_eq!(st.dropped, 1, "no spool: counted as lost, {st:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_drops_a_copy_outside_the_duplicate_window() {
    if !nats_server_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = NatsServer::start(&dir.path().join("js"));
    let mut cfg = config(&server.url(), "central");
    cfg.queue.nats.duplicate_window_secs = 1;
    let client = async_nats::connect(server.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    zoneguard::queue::nats::ensure_stream(&js, &cfg.queue.nats)
        .await
        .unwrap();
    let payload = zoneguard::queue::nats::encode(&alert(1), "s9", 1).unwrap();
    let send = |id: &'static str| {
        let js = js.clone();
        let payload = payload.clone();
        async move {
            let mut h = async_nats::HeaderMap::new();
            h.insert("Nats-Msg-Id", id);
            js.publish_with_headers("zoneguard.alerts.s9", h, payload.into())
                .await
                .unwrap()
                .await
                .unwrap()
        }
    };
    assert!(!send("s9.run.1").await.duplicate);
    assert!(
        send("s9.run.1").await.duplicate,
        "inside the window: JetStream drops it"
    );
    tokio::time::sleep(Duration::from_millis(1600)).await;
    // A sensor re-sending from its spool after a long outage: the stream
    // stores the copy, the central's ledger must not apply it again.
    assert!(!send("s9.run.1").await.duplicate);
    assert_eq!(stream_messages(&server.url(), "ZONEGUARD_ALERTS").await, 2);

    let db = dir.path().join("central.db");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let db2 = db.clone();
    let central = tokio::spawn(async move {
        run_central(&cfg, &db2, async {
            let _ = rx.await;
        })
        .await
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while ledger_count(&db) < 1 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    tx.send(()).unwrap();
    let sum = central.await.unwrap().unwrap();
    assert_eq!((sum.received, sum.applied, sum.duplicates), (2, 1, 1));
    let (alerts, incidents, ledger) = db_counts(&db);
    assert_eq!((alerts, incidents, ledger), (1, 1, 1));
}
