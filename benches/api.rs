//! REST API benchmarks (issue 6 item 7) over a store of 5 000 incidents
//! (3 evidence records each) written by the store's writer thread:
//! - criterion, in process through the router (`tower::ServiceExt::oneshot`):
//!   list pages (first page, a unit filter, a deep offset, a scoped user,
//!   1 000 per page) and one incident with its evidence and timeline;
//! - printed first: whole-server latency and throughput over real loopback
//!   sockets (one connection per request, 4 concurrent clients).
//!
//! Register in Cargo.toml as `[[bench]] name = "api" harness = false`.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use criterion::{criterion_group, Criterion};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;
use zoneguard::alert::AlertSource;
use zoneguard::api::{self, ApiState};
use zoneguard::config::{ApiConfig, ApiRole, ApiToken};
use zoneguard::incident::{
    Evidence, Grade, Incident, IncidentUpdate, Severity, Status, TimelineEntry,
};
use zoneguard::queue::{Store, StoreConfig};
use zoneguard::time::Timestamp;

const N: i64 = 5_000;
const UNITS: [&str; 5] = [
    "州大数据中心",
    "芒市大数据中心",
    "瑞丽市大数据中心",
    "盈江县大数据中心",
    "陇川县大数据中心",
];
const TOKEN: &str = "bench-viewer";
const SCOPED: &str = "bench-county";

fn seed(db: &Path) {
    let mut store = Store::open(db, StoreConfig::default()).expect("store");
    for i in 1..=N {
        let unit = UNITS[(i % 5) as usize];
        let inc = Incident {
            id: i,
            status: Status::New,
            grade: [Grade::II, Grade::III, Grade::IV][(i % 3) as usize],
            severity: Severity::High,
            category: "network_attack/scan".into(),
            title: format!("Port scan of zone {} from 47.1.2.3", i % 5),
            title_zh: format!("来自 47.1.2.3 的端口扫描（区域 {}）", i % 5),
            zones: vec![format!("zone-{}", i % 5)],
            units: vec![unit.into()],
            unit: Some(unit.into()),
            contact: Some("值班电话 0692-1234567".into()),
            assignee: None,
            src_ips: vec![IpAddr::from([47, 1, 2, (i % 250) as u8])],
            dest_ips: vec![IpAddr::from([10, 10, (i % 250) as u8, 5])],
            first_seen: Timestamp::from_secs_nanos(1_793_000_000 + i * 10, 0),
            last_seen: Timestamp::from_secs_nanos(1_793_000_000 + i * 10 + 5, 0),
            alert_count: 3,
            report_due: None,
        };
        let evidence = (0..3u64)
            .map(|seq| Evidence {
                seq,
                ts: inc.first_seen,
                source: AlertSource::Signature,
                sid: 2_100_000,
                signature: "ET SCAN Potential SSH Scan".into(),
                flow_id: Some(i as u64),
                pcap_cnt: Some(seq + 1),
                log_line: None,
            })
            .collect();
        store.submit(IncidentUpdate {
            timeline: vec![TimelineEntry {
                ts: inc.first_seen,
                actor: "zoneguard".into(),
                action: "opened".into(),
                detail: String::new(),
            }],
            incident: inc,
            evidence,
            window: None,
        });
    }
    store.close().expect("close");
}

fn config() -> ApiConfig {
    let tok = |name: &str, t: &str, units: Vec<String>| ApiToken {
        name: name.into(),
        sha256: Sha256::digest(t.as_bytes()).into(),
        role: ApiRole::Viewer,
        units,
    };
    ApiConfig {
        tokens: vec![
            tok("viewer", TOKEN, vec![]),
            tok("county", SCOPED, vec![UNITS[3].into()]),
        ],
        ..ApiConfig::default()
    }
}

fn get(path: &str, token: &str) -> Request<Body> {
    Request::builder()
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .expect("request")
}

async fn one_request(addr: SocketAddr, path: &str) -> usize {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
    );
    tcp.write_all(req.as_bytes()).await.expect("write");
    let mut buf = Vec::with_capacity(256 * 1024);
    tcp.read_to_end(&mut buf).await.expect("read");
    assert!(buf.starts_with(b"HTTP/1.1 200"), "{path}");
    buf.len()
}

/// Whole-server figures over loopback: `total` requests of `path`, 4
/// clients at once.
fn socket_report(
    rt: &tokio::runtime::Runtime,
    app: axum::Router,
    path: &'static str,
    total: usize,
) {
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(api::serve(listener, None, app, async move {
            let _ = stop_rx.await;
        }));
        let clients = 4;
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..clients {
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::with_capacity(total / clients);
                let mut bytes = 0;
                for _ in 0..total / clients {
                    let t = Instant::now();
                    bytes = one_request(addr, path).await;
                    lat.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                (lat, bytes)
            }));
        }
        let mut lat = Vec::new();
        let mut bytes = 0;
        for t in tasks {
            let (l, b) = t.await.expect("client");
            lat.extend(l);
            bytes = b;
        }
        let secs = start.elapsed().as_secs_f64();
        lat.sort_by(|a, b| a.total_cmp(b));
        let p = |q: f64| lat.get(((lat.len() as f64 - 1.0) * q) as usize).copied().unwrap_or(f64::NAN);
        println!(
            "api/socket {path}: {} requests, 4 clients, {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {} bytes/response",
            lat.len(),
            lat.len() as f64 / secs,
            p(0.5),
            p(0.99),
            bytes
        );
        let _ = stop_tx.send(());
        let _ = tokio::time::timeout(Duration::from_secs(15), server).await;
    });
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("incidents.db");
    seed(&db);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let state: Arc<ApiState> = {
        let _g = rt.enter();
        ApiState::new(&config(), db.clone(), None).expect("state")
    };
    let app = api::router(state);
    socket_report(&rt, app.clone(), "/api/v1/incidents?limit=100", 2_000);
    socket_report(&rt, app.clone(), "/api/v1/incidents/2500", 2_000);

    let mut g = c.benchmark_group("api");
    g.sample_size(30);
    let unit_q = format!(
        "/api/v1/incidents?limit=100&unit={}",
        UNITS[1]
            .bytes()
            .map(|b| format!("%{b:02X}"))
            .collect::<String>()
    );
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "list_first_100",
            "/api/v1/incidents?limit=100".into(),
            TOKEN,
        ),
        ("list_unit_filter_100", unit_q, TOKEN),
        (
            "list_offset_4000_100",
            "/api/v1/incidents?limit=100&offset=4000".into(),
            TOKEN,
        ),
        (
            "list_scoped_user_100",
            "/api/v1/incidents?limit=100".into(),
            SCOPED,
        ),
        ("list_1000", "/api/v1/incidents?limit=1000".into(), TOKEN),
        (
            "get_one_with_evidence",
            "/api/v1/incidents/2500".into(),
            TOKEN,
        ),
    ];
    for (name, path, token) in cases {
        g.bench_function(name, |b| {
            b.iter(|| {
                let resp = rt
                    .block_on(app.clone().oneshot(get(&path, token)))
                    .expect("infallible");
                assert!(resp.status().is_success(), "{name}: {}", resp.status());
                rt.block_on(axum::body::to_bytes(resp.into_body(), 16 << 20))
                    .expect("body")
                    .len()
            })
        });
    }
    g.finish();
}

criterion_group!(api_benches, benches);

fn main() {
    api_benches();
    Criterion::default().configure_from_args().final_summary();
}
