//! Notifications against real receivers on loopback: an HTTPS server
//! (hyper + tokio-rustls, certificates made here with rcgen) and the
//! project's own RFC 5425 TLS syslog listener. The incident events come from
//! replaying the shipped sample capture with the reference config through
//! the incident Manager.

mod common;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use sha2::Sha256;
use tokio::sync::mpsc;

use zoneguard::config::{
    Config, NotifyConfig, RetryPolicy, Route, SyslogForwardConfig, SyslogTls, WebhookConfig,
    DEFAULT_SD_ID,
};
use zoneguard::incident::Grade;
use zoneguard::notify::{self, EventKind, IncidentEvent, NotifierStats};
use zoneguard::output::{EveWriter, EventTypes};
use zoneguard::pipeline::replay::{replay, ReplayOptions};
use zoneguard::pipeline::{Engine, EngineOptions};

// ---------------------------------------------------------------- fixtures

struct Pki {
    dir: tempfile::TempDir,
    server: Arc<rustls::ServerConfig>,
}

impl Pki {
    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }
}

/// A CA and a server certificate for `localhost` and 127.0.0.1.
fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    p.distinguished_name
        .push(rcgen::DnType::CommonName, "zoneguard notify test CA");
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca = p.self_signed(&ca_key).unwrap();
    let leaf =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = leaf.signed_by(&key, &ca, &ca_key).unwrap();
    std::fs::write(dir.path().join("ca.crt"), ca.pem()).unwrap();
    std::fs::write(dir.path().join("server.crt"), cert.pem()).unwrap();
    std::fs::write(dir.path().join("server.key"), key.serialize_pem()).unwrap();
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .unwrap();
    Pki {
        dir,
        server: Arc::new(server),
    }
}

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Got {
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
    status: u16,
}

impl Got {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

/// How the receiver answers.
#[derive(Clone, Copy)]
enum Behaviour {
    /// 503 for the first N requests, then 200.
    FailFirst(usize),
    /// Accept TCP and never answer.
    BlackHole,
}

struct HttpsReceiver {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<Got>>>,
}

impl HttpsReceiver {
    fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.addr.port())
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }
}

async fn https_receiver(pki: &Pki, behaviour: Behaviour) -> HttpsReceiver {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(&pki.server));
    let got: Arc<Mutex<Vec<Got>>> = Arc::default();
    let seen = Arc::new(AtomicUsize::new(0));
    let g = Arc::clone(&got);
    tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            if let Behaviour::BlackHole = behaviour {
                held.push(tcp);
                continue;
            }
            let acceptor = acceptor.clone();
            let g = Arc::clone(&g);
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let g = Arc::clone(&g);
                    let seen = Arc::clone(&seen);
                    async move {
                        let path = req.uri().path().to_string();
                        let headers = req
                            .headers()
                            .iter()
                            .map(|(k, v)| {
                                (k.as_str().to_string(), v.to_str().unwrap_or("").to_string())
                            })
                            .collect();
                        let body = req.into_body().collect().await.unwrap().to_bytes().to_vec();
                        let n = seen.fetch_add(1, Ordering::SeqCst);
                        let status = match behaviour {
                            Behaviour::FailFirst(k) if n < k => 503,
                            _ => 200,
                        };
                        g.lock().unwrap().push(Got {
                            path,
                            headers,
                            body,
                            status,
                        });
                        Ok::<_, Infallible>(
                            Response::builder()
                                .status(StatusCode::from_u16(status).unwrap())
                                .body(Full::new(Bytes::from_static(b"ok")))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    HttpsReceiver { addr, got }
}

/// The events and store of one replay of the sample capture.
struct Sample {
    _dir: tempfile::TempDir,
    db: PathBuf,
    events: Vec<IncidentEvent>,
}

fn sample() -> &'static Sample {
    static S: OnceLock<Sample> = OnceLock::new();
    S.get_or_init(|| {
        let repo = common::repo();
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config::load(&repo.join("config/dehong-egov.yaml")).expect("reference config");
        let engine = Engine::from_config(&cfg, &EngineOptions::default());
        let eve = EveWriter::create(
            &dir.path().join("eve.json"),
            EventTypes::parse_list("alert").unwrap(),
        )
        .unwrap();
        let db = dir.path().join("incidents.db");
        let (tx, mut rx) = mpsc::channel(100_000);
        let summary = replay(
            engine,
            &eve,
            &ReplayOptions {
                pcaps: vec![repo.join("samples/dehong-sample.pcap")],
                workers: 1,
                progress: false,
                incidents_db: Some(db.clone()),
                extra_alerts: Vec::new(),
                correlator: cfg.incidents.correlator_config(),
                notify: Some(tx),
                profile_rules: false,
            },
        )
        .expect("replay");
        let mut events = Vec::new();
        while let Ok(ev) = rx.try_recv() {
            events.push(ev);
        }
        let opened = summary.incidents.as_ref().map_or(0, |s| s.opened);
        assert!(opened > 0, "the sample opens incidents");
        assert_eq!(
            events
                .iter()
                .filter(|e| e.kind == EventKind::Opened)
                .count() as u64,
            opened,
            "one opened event per incident"
        );
        Sample {
            _dir: dir,
            db,
            events,
        }
    })
}

fn retry(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        initial_backoff_ms: 20,
        max_backoff_ms: 100,
        queue: 64,
    }
}

fn webhook(name: &str, url: String, pki: &Pki, route: Route) -> WebhookConfig {
    WebhookConfig {
        name: name.to_string(),
        url,
        secret: Some("s3cret-key".to_string()),
        ca: Some(pki.ca()),
        route,
        timeout_ms: 5000,
    }
}

fn config(webhooks: Vec<WebhookConfig>, syslog: Vec<SyslogForwardConfig>) -> NotifyConfig {
    NotifyConfig {
        webhooks,
        syslog,
        retry: retry(5),
        queue: 10_000,
        // One scan at start on the (empty) store of the test, then none.
        overdue_scan_secs: 86_400,
        flush_timeout_ms: 10_000,
    }
}

fn all_route() -> Route {
    Route {
        min_grade: Grade::IV,
        units: Vec::new(),
        rate_per_min: 100_000,
    }
}

/// Runs a notifier over `events` with a fresh store; returns its counters
/// and the store.
async fn run(cfg: &NotifyConfig, events: &[IncidentEvent], store: &Path) -> NotifierStats {
    let (tx, rx) = mpsc::channel(events.len().max(1));
    let h = notify::spawn(cfg, store.to_path_buf(), rx).expect("notifier starts");
    for ev in events {
        tx.send(ev.clone()).await.unwrap();
    }
    drop(tx);
    h.shutdown().await
}

fn dest<'a>(s: &'a NotifierStats, name: &str) -> &'a notify::DestinationStats {
    s.destinations.iter().find(|d| d.name == name).unwrap()
}

fn verify_signature(g: &Got, secret: &[u8]) {
    let ts = &g.headers["x-zoneguard-timestamp"];
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(&g.body);
    let want: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(g.headers["x-zoneguard-signature"], format!("sha256={want}"));
    // A wrong key does not verify.
    let mut bad = Hmac::<Sha256>::new_from_slice(b"other").unwrap();
    bad.update(ts.as_bytes());
    bad.update(b".");
    bad.update(&g.body);
    let hex: String = bad
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_ne!(g.headers["x-zoneguard-signature"], format!("sha256={hex}"));
}

// ------------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_receives_signed_json_of_replayed_incidents() {
    let s = sample();
    let pki = pki();
    let rx = https_receiver(&pki, Behaviour::FailFirst(0)).await;
    let store = tempfile::tempdir().unwrap();
    let cfg = config(
        vec![webhook("soc", rx.url("/hook"), &pki, all_route())],
        vec![],
    );
    let stats = run(&cfg, &s.events, &store.path().join("n.db")).await;
    let got = rx.got();
    assert_eq!(got.len(), s.events.len(), "{stats:?}");
    assert_eq!(dest(&stats, "soc").sent, s.events.len() as u64);
    assert_eq!(dest(&stats, "soc").dead_letters, 0);
    // The store's own view of the incidents, to compare with.
    let o = common::zoneguard(&[
        "incidents",
        "list",
        "--db",
        s.db.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success());
    let stored: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
    let mut breach = 0;
    for g in &got {
        assert_eq!(g.path, "/hook");
        assert!(g.headers["content-type"].starts_with("application/json"));
        verify_signature(g, b"s3cret-key");
        let v = g.json();
        assert_eq!(g.headers["x-zoneguard-delivery"], v["delivery_id"]);
        let inc = &v["incident"];
        for f in [
            "id",
            "status",
            "grade",
            "category",
            "title",
            "title_zh",
            "zones",
            "units",
            "src_ips",
            "dest_ips",
            "first_seen",
            "last_seen",
            "alert_count",
        ] {
            assert!(inc.get(f).is_some(), "no {f} in {v}");
        }
        let title = v["title"].as_str().unwrap();
        assert!(title.contains(inc["title_zh"].as_str().unwrap()), "{title}");
        assert!(title.contains(inc["title"].as_str().unwrap()), "{title}");
        if v["event"] == "opened" {
            assert!(title.contains("新建事件") && title.contains("Incident opened"));
            let same = stored
                .iter()
                .find(|x| x["id"] == inc["id"])
                .expect("stored");
            // (A generic category may yield to a specific detection later.)
            assert_eq!(same["first_seen"], inc["first_seen"]);
            // The incident may have grown after it was opened.
            for ip in inc["src_ips"].as_array().unwrap() {
                assert!(same["src_ips"].as_array().unwrap().contains(ip), "{same}");
            }
        }
        if inc["category"] == "violation/isolation_breach" {
            assert_eq!(inc["grade"], "II");
            assert!(inc["report_due"].is_string());
            breach += 1;
        }
    }
    assert!(breach > 0, "the sample has an isolated-zone breach");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_three_times_then_ok_is_delivered_once() {
    let s = sample();
    let pki = pki();
    let rx = https_receiver(&pki, Behaviour::FailFirst(3)).await;
    let store = tempfile::tempdir().unwrap();
    let db = store.path().join("n.db");
    let cfg = config(
        vec![webhook("soc", rx.url("/h"), &pki, all_route())],
        vec![],
    );
    let stats = run(&cfg, &s.events[..1], &db).await;
    let got = rx.got();
    assert_eq!(got.len(), 4, "three failures and one success");
    assert_eq!(
        got.iter().map(|g| g.status).collect::<Vec<_>>(),
        vec![503, 503, 503, 200]
    );
    let ids: Vec<&String> = got
        .iter()
        .map(|g| &g.headers["x-zoneguard-delivery"])
        .collect();
    assert!(ids.iter().all(|i| *i == ids[0]), "one delivery id: {ids:?}");
    let d = dest(&stats, "soc");
    assert_eq!(
        (d.sent, d.retries, d.failed_attempts, d.dead_letters),
        (1, 3, 3, 0)
    );
    let o = common::zoneguard(&[
        "incidents",
        "dead-letters",
        "--db",
        db.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success());
    assert_eq!(
        serde_json::from_slice::<Value>(&o.stdout).unwrap(),
        Value::Array(vec![])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_failing_becomes_a_listed_dead_letter() {
    let s = sample();
    let pki = pki();
    let rx = https_receiver(&pki, Behaviour::FailFirst(usize::MAX)).await;
    let store = tempfile::tempdir().unwrap();
    let db = store.path().join("n.db");
    let mut cfg = config(
        vec![webhook("soc", rx.url("/h"), &pki, all_route())],
        vec![],
    );
    cfg.retry = retry(3);
    let ev = &s.events[0];
    let stats = run(&cfg, std::slice::from_ref(ev), &db).await;
    assert_eq!(rx.got().len(), 3);
    let d = dest(&stats, "soc");
    assert_eq!((d.sent, d.dead_letters), (0, 1));
    let o = common::zoneguard(&[
        "incidents",
        "dead-letters",
        "--db",
        db.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let list: Value = serde_json::from_slice(&o.stdout).unwrap();
    let dl = &list[0];
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(dl["destination"], "soc");
    assert_eq!(dl["kind"], "webhook");
    assert_eq!(dl["event"], "opened");
    assert_eq!(dl["attempts"], 3);
    assert_eq!(dl["incident_id"], ev.incident.id);
    assert_eq!(dl["payload"]["incident"]["id"], ev.incident.id);
    assert!(dl["last_error"].as_str().unwrap().contains("503"), "{dl}");
    let o = common::zoneguard(&["incidents", "dead-letters", "--db", db.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("目的地 destination") && text.contains("soc"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_deadline_turns_a_hung_delivery_into_a_dead_letter() {
    let s = sample();
    let pki = pki();
    let rx = https_receiver(&pki, Behaviour::BlackHole).await;
    let store = tempfile::tempdir().unwrap();
    let db = store.path().join("n.db");
    let mut cfg = config(
        vec![webhook("slow", rx.url("/h"), &pki, all_route())],
        vec![],
    );
    cfg.webhooks[0].timeout_ms = 60_000;
    cfg.flush_timeout_ms = 300;
    let t0 = std::time::Instant::now();
    let stats = run(&cfg, &s.events[..2], &db).await;
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    assert_eq!(dest(&stats, "slow").dead_letters, 2, "{stats:?}");
    let conn = zoneguard::queue::open_db(&db).unwrap();
    let dl = notify::deadletter::list(&conn, 10).unwrap();
    assert_eq!(dl.len(), 2);
    assert!(
        dl.iter()
            .all(|d| d.last_error.contains("shutdown deadline")),
        "{dl:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_by_grade_and_unit() {
    let s = sample();
    let pki = pki();
    let rx = https_receiver(&pki, Behaviour::FailFirst(0)).await;
    let store = tempfile::tempdir().unwrap();
    // A unit that some but not all incidents have.
    let unit = s
        .events
        .iter()
        .filter_map(|e| e.incident.unit.clone())
        .next()
        .expect("incidents carry units");
    let serious = Route {
        min_grade: Grade::II,
        ..all_route()
    };
    let by_unit = Route {
        units: vec![unit.clone()],
        ..all_route()
    };
    let cfg = config(
        vec![
            webhook("all", rx.url("/all"), &pki, all_route()),
            webhook("serious", rx.url("/serious"), &pki, serious),
            webhook("unit", rx.url("/unit"), &pki, by_unit),
        ],
        vec![],
    );
    let stats = run(&cfg, &s.events, &store.path().join("n.db")).await;
    let got = rx.got();
    let on = |p: &str| got.iter().filter(|g| g.path == p).collect::<Vec<_>>();
    let want_serious = s
        .events
        .iter()
        .filter(|e| e.incident.grade <= Grade::II)
        .count();
    let want_unit = s
        .events
        .iter()
        .filter(|e| {
            e.incident.unit.as_deref() == Some(unit.as_str()) || e.incident.units.contains(&unit)
        })
        .count();
    assert!(want_serious > 0 && want_serious < s.events.len());
    assert!(want_unit > 0 && want_unit < s.events.len());
    assert_eq!(on("/all").len(), s.events.len());
    assert_eq!(on("/serious").len(), want_serious);
    assert_eq!(on("/unit").len(), want_unit);
    for g in on("/serious") {
        let grade = g.json()["incident"]["grade"].as_str().unwrap().to_string();
        assert!(grade == "I" || grade == "II", "{grade}");
    }
    assert_eq!(
        dest(&stats, "serious").filtered,
        (s.events.len() - want_serious) as u64
    );
    assert_eq!(
        dest(&stats, "unit").filtered,
        (s.events.len() - want_unit) as u64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_sends_a_digest_of_the_excess() {
    let s = sample();
    assert!(s.events.len() >= 6, "{}", s.events.len());
    let pki = pki();
    let rx = https_receiver(&pki, Behaviour::FailFirst(0)).await;
    let store = tempfile::tempdir().unwrap();
    let route = Route {
        rate_per_min: 2,
        ..all_route()
    };
    let cfg = config(vec![webhook("soc", rx.url("/h"), &pki, route)], vec![]);
    let n = s.events.len();
    let stats = run(&cfg, &s.events, &store.path().join("n.db")).await;
    let got = rx.got();
    let events: Vec<Value> = got.iter().map(Got::json).collect();
    let singles = events.iter().filter(|v| v["event"] != "digest").count();
    let digests: Vec<&Value> = events.iter().filter(|v| v["event"] == "digest").collect();
    assert_eq!(singles, 2);
    assert_eq!(digests.len(), 1);
    assert_eq!(digests[0]["suppressed"], (n - 2) as u64);
    let by: u64 = ["I", "II", "III", "IV"]
        .iter()
        .map(|g| digests[0]["by_grade"][g].as_u64().unwrap())
        .sum();
    assert_eq!(by, (n - 2) as u64);
    assert!(digests[0]["title"]
        .as_str()
        .unwrap()
        .contains("速率限制汇总"));
    let d = dest(&stats, "soc");
    assert_eq!((d.rate_limited, d.digests, d.sent), ((n - 2) as u64, 1, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syslog_over_tls_parses_back_as_rfc5424() {
    use zoneguard::syslog::config::{ListenerConfig, ListenerProtocol, TlsConfig};
    use zoneguard::syslog::listener::{spawn_listener, ListenerStats};
    let s = sample();
    let pki = pki();
    let mut lc = ListenerConfig::new(
        "siem",
        ListenerProtocol::Tls,
        "127.0.0.1:0".parse().unwrap(),
    );
    lc.tls = Some(TlsConfig {
        cert: pki.dir.path().join("server.crt"),
        key: pki.dir.path().join("server.key"),
        client_ca: None,
        require_client_cert: false,
    });
    let (ltx, mut lrx) = mpsc::channel(1024);
    let listener = spawn_listener(lc, ltx, Arc::new(ListenerStats::default()))
        .await
        .unwrap();
    let store = tempfile::tempdir().unwrap();
    let serious: Vec<IncidentEvent> = s
        .events
        .iter()
        .filter(|e| e.incident.grade <= Grade::III)
        .cloned()
        .collect();
    assert!(!serious.is_empty());
    let sys = SyslogForwardConfig {
        name: "siem".into(),
        address: format!("localhost:{}", listener.local_addr.port()),
        tls: SyslogTls {
            ca: pki.ca(),
            cert: None,
            key: None,
            server_name: None,
        },
        route: Route {
            min_grade: Grade::III,
            ..all_route()
        },
        facility: 13,
        sd_id: DEFAULT_SD_ID.to_string(),
        hostname: Some("sensor-1".into()),
    };
    let stats = run(
        &config(vec![], vec![sys]),
        &s.events,
        &store.path().join("n.db"),
    )
    .await;
    let d = dest(&stats, "siem");
    assert_eq!(d.sent, serious.len() as u64, "{stats:?}");
    assert_eq!(d.dropped, 0);
    let opts = zoneguard::syslog::ParseOptions {
        strict: true,
        tz: chrono_tz::Tz::UTC,
        received: chrono::Utc::now(),
        sender: None,
        ..Default::default()
    };
    for want in &serious {
        let r = tokio::time::timeout(Duration::from_secs(10), lrx.recv())
            .await
            .expect("message in time")
            .expect("listener open");
        let m = zoneguard::syslog::parse(&r.bytes, &opts).expect("strict RFC 5424");
        assert_eq!(m.facility, Some(13));
        assert_eq!(m.severity, Some(want.incident.grade.rank()));
        assert_eq!(m.hostname.as_deref(), Some("sensor-1"));
        assert_eq!(m.app_name.as_deref(), Some("zoneguard"));
        assert_eq!(m.msgid.as_deref(), Some(want.kind.as_str()));
        let sd = m
            .structured_data
            .iter()
            .find(|e| e.id == DEFAULT_SD_ID)
            .expect("zoneguard SD element");
        let p = |k: &str| {
            sd.params
                .iter()
                .find(|x| x.name == k)
                .map(|x| x.value.to_string())
                .unwrap_or_default()
        };
        assert_eq!(p("id"), want.incident.id.to_string());
        assert_eq!(p("grade"), want.incident.grade.as_str());
        assert_eq!(p("category"), want.incident.category);
        assert_eq!(p("alert_count"), want.incident.alert_count.to_string());
        assert_eq!(p("unit"), want.incident.unit.clone().unwrap_or_default());
        assert!(m.msg.contains(&want.incident.title_zh), "{}", m.msg);
    }
    listener.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overdue_incidents_are_notified_once() {
    let s = sample();
    let pki = pki();
    let rx = https_receiver(&pki, Behaviour::FailFirst(0)).await;
    let store = tempfile::tempdir().unwrap();
    let db = store.path().join("copy.db");
    {
        let conn = zoneguard::queue::open_db(&s.db).unwrap();
        conn.execute("VACUUM INTO ?1", [db.to_str().unwrap()])
            .unwrap();
    }
    // Sample time is in the past: every open incident with a deadline is
    // overdue now.
    let due: Vec<i64> = {
        let conn = zoneguard::queue::open_db(&db).unwrap();
        let mut st = conn
            .prepare("SELECT id FROM incidents WHERE report_due IS NOT NULL ORDER BY id")
            .unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert!(!due.is_empty());
    let cfg = config(
        vec![webhook("soc", rx.url("/h"), &pki, all_route())],
        vec![],
    );
    let stats = run(&cfg, &[], &db).await;
    assert_eq!(stats.overdue, due.len() as u64);
    let got: Vec<i64> = rx
        .got()
        .iter()
        .map(|g| {
            let v = g.json();
            assert_eq!(v["event"], "overdue");
            assert_eq!(v["incident"]["overdue"], true);
            assert!(v["title"].as_str().unwrap().contains("事件报告超时"));
            v["incident"]["id"].as_i64().unwrap()
        })
        .collect();
    let mut sorted = got.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, due);
    // A restart does not repeat them.
    let stats = run(&cfg, &[], &db).await;
    assert_eq!(stats.overdue, 0);
    assert_eq!(rx.got().len(), due.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_destinations_are_refused_with_their_name() {
    let pki = pki();
    let store = tempfile::tempdir().unwrap();
    let mut w = webhook("soc", "https://127.0.0.1:9/h".into(), &pki, all_route());
    w.ca = Some(store.path().join("missing.pem"));
    let (_tx, rx) = mpsc::channel(1);
    let err = match notify::spawn(&config(vec![w], vec![]), store.path().join("n.db"), rx) {
        Ok(_) => panic!("a missing CA file must be refused"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("soc") && err.contains("missing.pem"), "{err}");
}

fn syslog_dest(pki: &Pki, port: u16) -> SyslogForwardConfig {
    SyslogForwardConfig {
        name: "siem".into(),
        address: format!("127.0.0.1:{port}"),
        tls: SyslogTls {
            ca: pki.ca(),
            cert: None,
            key: None,
            server_name: Some("localhost".into()),
        },
        route: all_route(),
        facility: 13,
        sd_id: DEFAULT_SD_ID.to_string(),
        hostname: None,
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syslog_reconnects_when_the_collector_comes_up() {
    use zoneguard::syslog::config::{ListenerConfig, ListenerProtocol, TlsConfig};
    use zoneguard::syslog::listener::{spawn_listener, ListenerStats};
    let s = sample();
    let pki = pki();
    let port = free_port();
    let store = tempfile::tempdir().unwrap();
    let cfg = config(vec![], vec![syslog_dest(&pki, port)]);
    let (tx, rx) = mpsc::channel(16);
    let h = notify::spawn(&cfg, store.path().join("n.db"), rx).unwrap();
    tx.send(s.events[0].clone()).await.unwrap();
    // Nobody listens yet: connection attempts fail and back off.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        h.stats().destinations[0].failed_attempts >= 1,
        "{:?}",
        h.stats()
    );
    assert_eq!(h.stats().destinations[0].sent, 0);
    let mut lc = ListenerConfig::new(
        "siem",
        ListenerProtocol::Tls,
        SocketAddr::from(([127, 0, 0, 1], port)),
    );
    lc.tls = Some(TlsConfig {
        cert: pki.dir.path().join("server.crt"),
        key: pki.dir.path().join("server.key"),
        client_ca: None,
        require_client_cert: false,
    });
    let (ltx, mut lrx) = mpsc::channel(16);
    let listener = spawn_listener(lc, ltx, Arc::new(ListenerStats::default()))
        .await
        .unwrap();
    let r = tokio::time::timeout(Duration::from_secs(10), lrx.recv())
        .await
        .expect("delivered after the collector came up")
        .unwrap();
    let text = String::from_utf8_lossy(&r.bytes);
    assert!(
        text.contains(&format!("id=\"{}\"", s.events[0].incident.id)),
        "{text}"
    );
    drop(tx);
    let stats = h.shutdown().await;
    let d = &stats.destinations[0];
    assert_eq!((d.sent, d.connects, d.dropped), (1, 1, 0));
    listener.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syslog_queue_overflow_is_counted_not_lost_silently() {
    let s = sample();
    let pki = pki();
    let store = tempfile::tempdir().unwrap();
    // A collector that never comes up, a queue of one, a short deadline.
    let mut cfg = config(vec![], vec![syslog_dest(&pki, free_port())]);
    cfg.queue = 1;
    cfg.flush_timeout_ms = 300;
    let stats = run(&cfg, &s.events, &store.path().join("n.db")).await;
    let d = &stats.destinations[0];
    assert_eq!(d.sent, 0);
    assert_eq!(
        d.dropped + d.rate_limited,
        s.events.len() as u64,
        "every event accounted for: {d:?}"
    );
    assert!(d.dropped >= s.events.len() as u64 - 2, "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_handle_still_flushes_pending_retries() {
    let s = sample();
    let pki = pki();
    let rx = https_receiver(&pki, Behaviour::FailFirst(1)).await;
    let store = tempfile::tempdir().unwrap();
    let db = store.path().join("n.db");
    let cfg = config(
        vec![webhook("soc", rx.url("/h"), &pki, all_route())],
        vec![],
    );
    let (tx, erx) = mpsc::channel(4);
    let h = notify::spawn(&cfg, db.clone(), erx).unwrap();
    tx.send(s.events[0].clone()).await.unwrap();
    // Wait for the first (failing) attempt, then let go of everything.
    for _ in 0..100 {
        if !rx.got().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(h);
    drop(tx);
    for _ in 0..100 {
        if rx.got().len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let got = rx.got();
    assert_eq!(
        got.iter().map(|g| g.status).collect::<Vec<_>>(),
        vec![503, 200]
    );
    let conn = zoneguard::queue::open_db(&db).unwrap();
    assert!(notify::deadletter::list(&conn, 10).unwrap().is_empty());
}
