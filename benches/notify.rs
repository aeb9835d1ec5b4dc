//! Notification benchmarks:
//! - formatting: the RFC 5424 message and the webhook JSON with its
//!   HMAC-SHA256 signature, per notice (criterion);
//! - whole path on loopback, printed before the criterion runs: notices/s
//!   through `notify::spawn` to a real HTTPS receiver (hyper + rustls, one
//!   TLS connection per delivery) and to the project's TLS syslog listener.
//!
//! Register in Cargo.toml as `[[bench]] name = "notify" harness = false`.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;
use zoneguard::config::{
    NotifyConfig, RetryPolicy, Route, SyslogForwardConfig, SyslogTls, WebhookConfig, DEFAULT_SD_ID,
};
use zoneguard::incident::{Grade, Incident, Severity, Status};
use zoneguard::notify::message::{signature, syslog_message, Notice, SyslogFormat};
use zoneguard::notify::{EventKind, IncidentEvent};
use zoneguard::time::Timestamp;

fn incident(id: i64) -> Incident {
    Incident {
        id,
        status: Status::New,
        grade: Grade::III,
        severity: Severity::High,
        category: "network_attack/exploit".into(),
        title: "Web attack on datacenter host 10.10.1.1 from 47.9.9.9".into(),
        title_zh: "针对州政务数据中心主机 10.10.1.1 的漏洞攻击".into(),
        zones: vec!["internet".into(), "datacenter".into()],
        units: vec!["州大数据中心".into()],
        unit: Some("州大数据中心".into()),
        contact: Some("0692-0000000".into()),
        assignee: None,
        src_ips: (0..64u8)
            .map(|i| std::net::IpAddr::from([47, 9, 9, i]))
            .collect(),
        dest_ips: vec![std::net::IpAddr::from([10, 10, 1, 1])],
        first_seen: Timestamp::from_secs_nanos(1_793_000_000, 0),
        last_seen: Timestamp::from_secs_nanos(1_793_000_060, 0),
        alert_count: 64,
        report_due: Some(Timestamp::from_secs_nanos(1_793_014_400, 0)),
    }
}

fn notice(id: i64) -> Notice {
    Notice::Event(Arc::new(IncidentEvent {
        kind: EventKind::Opened,
        incident: incident(id),
    }))
}

struct Pki {
    dir: tempfile::TempDir,
    server: Arc<rustls::ServerConfig>,
}

fn pki() -> Pki {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let ca = p.self_signed(&ca_key).expect("ca");
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = leaf.signed_by(&key, &ca, &ca_key).expect("cert");
    std::fs::write(dir.path().join("ca.crt"), ca.pem()).expect("write");
    std::fs::write(dir.path().join("server.crt"), cert.pem()).expect("write");
    std::fs::write(dir.path().join("server.key"), key.serialize_pem()).expect("write");
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .expect("server config");
    Pki {
        dir,
        server: Arc::new(server),
    }
}

fn route() -> Route {
    Route {
        min_grade: Grade::IV,
        units: Vec::new(),
        rate_per_min: 100_000,
    }
}

fn cfg(webhooks: Vec<WebhookConfig>, syslog: Vec<SyslogForwardConfig>) -> NotifyConfig {
    NotifyConfig {
        webhooks,
        syslog,
        retry: RetryPolicy::default(),
        queue: 100_000,
        overdue_scan_secs: 86_400,
        flush_timeout_ms: 120_000,
    }
}

/// Notices/s through the notifier to a loopback HTTPS receiver.
async fn webhook_rate(n: usize) -> f64 {
    let pki = pki();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(&pki.server));
    let got = Arc::new(AtomicU64::new(0));
    let g = Arc::clone(&got);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let g = Arc::clone(&g);
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = hyper::service::service_fn(move |req: hyper::Request<_>| {
                    let g = Arc::clone(&g);
                    async move {
                        let _ = BodyExt::collect(req.into_body()).await;
                        g.fetch_add(1, Ordering::Relaxed);
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::new())))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    let w = WebhookConfig {
        name: "bench".into(),
        url: format!("https://localhost:{port}/h"),
        secret: Some("k".into()),
        ca: Some(pki.dir.path().join("ca.crt")),
        route: route(),
        timeout_ms: 10_000,
    };
    run(cfg(vec![w], vec![]), n).await;
    got.load(Ordering::Relaxed) as f64
}

/// Notices/s through the notifier to the project's TLS syslog listener.
async fn syslog_rate(n: usize) -> (f64, u64) {
    use zoneguard::syslog::config::{ListenerConfig, ListenerProtocol, TlsConfig};
    use zoneguard::syslog::listener::{spawn_listener, ListenerStats};
    let pki = pki();
    let mut lc = ListenerConfig::new(
        "bench",
        ListenerProtocol::Tls,
        "127.0.0.1:0".parse().expect("addr"),
    );
    lc.tls = Some(TlsConfig {
        cert: pki.dir.path().join("server.crt"),
        key: pki.dir.path().join("server.key"),
        client_ca: None,
        require_client_cert: false,
    });
    let (ltx, mut lrx) = mpsc::channel(100_000);
    let stats = Arc::new(ListenerStats::default());
    let l = spawn_listener(lc, ltx, Arc::clone(&stats))
        .await
        .expect("listener");
    let count = tokio::spawn(async move {
        let mut n = 0u64;
        while lrx.recv().await.is_some() {
            n += 1;
        }
        n
    });
    let s = SyslogForwardConfig {
        name: "bench".into(),
        address: format!("127.0.0.1:{}", l.local_addr.port()),
        tls: SyslogTls {
            ca: pki.dir.path().join("ca.crt"),
            cert: None,
            key: None,
            server_name: Some("localhost".into()),
        },
        route: route(),
        facility: 13,
        sd_id: DEFAULT_SD_ID.into(),
        hostname: Some("bench".into()),
    };
    let rate = run(cfg(vec![], vec![s]), n).await;
    // Written is not yet read: give the listener time to take it all in.
    for _ in 0..500 {
        if stats.received.load(Ordering::Relaxed) as usize >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    l.task.abort();
    count.abort();
    (rate, stats.received.load(Ordering::Relaxed))
}

/// Sends `n` notices and waits for the flush; returns notices/s.
async fn run(cfg: NotifyConfig, n: usize) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let (tx, rx) = mpsc::channel(n);
    let h = zoneguard::notify::spawn(&cfg, dir.path().join("n.db"), rx).expect("notifier");
    let t0 = Instant::now();
    for i in 0..n {
        let ev = IncidentEvent {
            kind: EventKind::Opened,
            incident: incident(i as i64 + 1),
        };
        tx.send(ev).await.expect("send");
    }
    drop(tx);
    let stats = h.shutdown().await;
    let secs = t0.elapsed().as_secs_f64();
    let sent: u64 = stats.destinations.iter().map(|d| d.sent).sum();
    assert_eq!(sent, n as u64, "{stats:?}");
    n as f64 / secs
}

fn whole_path() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let n = 500;
    let mut best_w = 0f64;
    let mut best_s = 0f64;
    for _ in 0..3 {
        let t0 = Instant::now();
        let got = rt.block_on(webhook_rate(n));
        assert_eq!(got as usize, n);
        best_w = best_w.max(n as f64 / t0.elapsed().as_secs_f64());
        let (rate, received) = rt.block_on(syslog_rate(n * 10));
        assert_eq!(received as usize, n * 10);
        best_s = best_s.max(rate);
    }
    println!(
        "notify whole path (best of 3): webhook {best_w:.0} notices/s ({n} deliveries, one TLS connection each); syslog over TLS {best_s:.0} notices/s ({} messages)",
        n * 10
    );
}

fn formatting(c: &mut Criterion) {
    let n = notice(7);
    let f = SyslogFormat {
        facility: 13,
        sd_id: DEFAULT_SD_ID.into(),
        hostname: "sensor-1".into(),
        procid: 4242,
    };
    let now = Timestamp::from_secs_nanos(1_793_000_100, 0);
    let mut g = c.benchmark_group("notify");
    g.throughput(Throughput::Elements(1));
    g.bench_function("syslog_message", |b| {
        b.iter(|| syslog_message(std::hint::black_box(&n), &f, now))
    });
    g.bench_function("webhook_json_signed", |b| {
        b.iter(|| {
            let body = n.to_json(now).to_string();
            signature(b"secret-key", now.secs(), body.as_bytes())
        })
    });
    g.finish();
}

criterion_group!(benches, formatting);

fn main() {
    whole_path();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
