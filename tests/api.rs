//! The REST API against a real server on 127.0.0.1 (plain and TLS with
//! certificates made by rcgen here), a real SQLite store written by the
//! incident writer thread (and by a real replay of the shipped sample), and
//! the real binary for `audit verify` and `api token`.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tower::ServiceExt;

use zoneguard::api::{self, ApiState, ReloadHook, ServeLimits};
use zoneguard::config::{ApiClient, ApiConfig, ApiRole, ApiTls, ApiToken};
use zoneguard::incident::{
    Evidence, Grade, Incident, IncidentUpdate, Severity, Status, TimelineEntry,
};
use zoneguard::queue::{Store, StoreConfig};
use zoneguard::time::Timestamp;

const T0: i64 = 1_793_000_000;
const UNIT_A: &str = "芒市大数据中心";
const UNIT_B: &str = "盈江县大数据中心";

const ADMIN: &str = "admin-token-0001";
const RESPONDER: &str = "responder-token-0002";
const VIEWER: &str = "viewer-token-0003";
const SCOPED: &str = "county-b-token-0004";

fn token(name: &str, t: &str, role: ApiRole, units: &[&str]) -> ApiToken {
    ApiToken {
        name: name.into(),
        sha256: Sha256::digest(t.as_bytes()).into(),
        role,
        units: units.iter().map(|s| s.to_string()).collect(),
    }
}

fn api_config() -> ApiConfig {
    ApiConfig {
        tokens: vec![
            token("admin", ADMIN, ApiRole::Admin, &[]),
            token("duty-officer", RESPONDER, ApiRole::Responder, &[]),
            token("auditor", VIEWER, ApiRole::Viewer, &[]),
            token("yingjiang", SCOPED, ApiRole::Responder, &[UNIT_B]),
        ],
        ..ApiConfig::default()
    }
}

/// Incident `i` of a seeded store: units alternate A, B; grades and
/// categories cycle; zones follow the unit.
fn incident(i: i64) -> Incident {
    let (unit, zone) = if i % 2 == 1 {
        (UNIT_A, "county-mangshi")
    } else {
        (UNIT_B, "county-yingjiang")
    };
    let grade = [Grade::II, Grade::III, Grade::IV][(i % 3) as usize];
    let category = ["network_attack/scan", "violation/unauthorized_outbound"][(i % 2) as usize];
    Incident {
        id: i,
        status: Status::New,
        grade,
        severity: Severity::High,
        category: category.into(),
        title: format!("Incident {i}"),
        title_zh: format!("事件 {i}"),
        zones: vec![zone.into()],
        units: vec![unit.into()],
        unit: Some(unit.into()),
        contact: Some("值班 0692-1234567".into()),
        assignee: None,
        src_ips: vec![IpAddr::from([47, 1, 2, (i % 250) as u8])],
        dest_ips: vec![IpAddr::from([10, 31, 0, 5])],
        first_seen: Timestamp::from_secs_nanos(T0 + i * 60, 0),
        last_seen: Timestamp::from_secs_nanos(T0 + i * 60 + 30, 0),
        alert_count: 2,
        report_due: None,
    }
}

/// Writes `n` incidents through the store's writer thread.
fn seed(db: &Path, n: i64) {
    let mut store = Store::open(db, StoreConfig::default()).expect("open store");
    for i in 1..=n {
        let inc = incident(i);
        let ev = (0..2u64)
            .map(|seq| Evidence {
                seq,
                ts: inc.first_seen.add_secs(seq as i64),
                source: zoneguard::alert::AlertSource::Signature,
                sid: 2_100_000 + seq as u32,
                signature: "ET SCAN test".into(),
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
                detail: "seeded".into(),
            }],
            incident: inc,
            evidence: ev,
            window: None,
        });
    }
    store.close().expect("close store");
}

struct Server {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    state: Arc<ApiState>,
}

impl Server {
    async fn start(
        cfg: &ApiConfig,
        db: &Path,
        reload: Option<ReloadHook>,
        tls: Option<Arc<rustls::ServerConfig>>,
        limits: ServeLimits,
    ) -> Server {
        let state = ApiState::new(cfg, db.to_path_buf(), reload).expect("api state");
        let app = api::router(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(api::serve_with(
            listener,
            tls,
            app,
            async move {
                let _ = rx.await;
            },
            limits,
        ));
        Server {
            addr,
            stop: Some(tx),
            task,
            state,
        }
    }

    async fn plain(cfg: &ApiConfig, db: &Path) -> Server {
        Server::start(cfg, db, None, None, ServeLimits::default()).await
    }

    async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        tokio::time::timeout(Duration::from_secs(15), self.task)
            .await
            .expect("server stops")
            .unwrap()
            .unwrap();
    }
}

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
}

fn parse_response(raw: &[u8]) -> Resp {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"))
    {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let nl = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let n = usize::from_str_radix(std::str::from_utf8(&rest[..nl]).unwrap().trim(), 16)
                .unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&rest[nl + 2..nl + 2 + n]);
            rest = &rest[nl + 2 + n + 2..];
        }
        body = out;
    }
    Resp {
        status,
        headers,
        body,
    }
}

/// One HTTP/1.1 request over `io` with `Connection: close`.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut io: S,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Resp> {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    io.write_all(req.as_bytes()).await?;
    io.write_all(body).await?;
    io.flush().await?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), io.read_to_end(&mut raw))
        .await
        .map_err(|_| std::io::Error::other("response timed out"))??;
    if !raw.starts_with(b"HTTP/1.1 ") || !raw.windows(4).any(|w| w == b"\r\n\r\n") {
        return Err(std::io::Error::other(
            "connection closed without an HTTP response",
        ));
    }
    Ok(parse_response(&raw))
}

async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    tok: Option<&str>,
    body: Option<Value>,
) -> Resp {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let auth = tok.map(|t| format!("Bearer {t}"));
    let mut h: Vec<(&str, &str)> = Vec::new();
    if let Some(a) = &auth {
        h.push(("Authorization", a));
    }
    let b = body.map(|b| b.to_string()).unwrap_or_default();
    if !b.is_empty() {
        h.push(("Content-Type", "application/json"));
    }
    exchange(tcp, method, path, &h, b.as_bytes()).await.unwrap()
}

fn audit_rows(db: &Path) -> Vec<(String, String, Option<i64>, String)> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut s = c
        .prepare("SELECT actor, action, incident_id, detail FROM audit ORDER BY id")
        .unwrap();
    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

fn seeded(n: i64) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("incidents.db");
    seed(&db, n);
    (dir, db)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_wrong_credentials_are_401_and_audited() {
    let (_d, db) = seeded(4);
    let s = Server::plain(&api_config(), &db).await;
    let r = call(s.addr, "GET", "/api/v1/incidents", None, None).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer realm=\"zoneguard\"")
    );
    let e = r.json();
    assert_eq!(e["error"]["code"], "unauthenticated");
    assert!(e["error"]["message_zh"].as_str().unwrap().contains("认证"));
    let r = call(
        s.addr,
        "GET",
        "/api/v1/incidents",
        Some("not-a-token"),
        None,
    )
    .await;
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").is_some());
    let r = call(
        s.addr,
        "POST",
        "/api/v1/incidents/1/ack",
        Some("nope"),
        None,
    )
    .await;
    assert_eq!(r.status, 401);
    // Basic auth is not accepted.
    let tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let r = exchange(
        tcp,
        "GET",
        "/api/v1/summary",
        &[("Authorization", "Basic YWRtaW46YWRtaW4=")],
        b"",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 401);
    // Health and the OpenAPI document need no token.
    assert_eq!(
        call(s.addr, "GET", "/api/v1/health", None, None)
            .await
            .status,
        200
    );
    assert_eq!(
        call(s.addr, "GET", "/api/v1/openapi.json", None, None)
            .await
            .status,
        200
    );
    assert_eq!(s.state.stats().auth_failures, 4);
    s.shutdown().await;
    let rows = audit_rows(&db);
    let failed: Vec<_> = rows.iter().filter(|r| r.1 == "api.auth_failed").collect();
    assert_eq!(failed.len(), 4, "{rows:?}");
    assert!(
        failed[0].3.contains("GET /api/v1/incidents from 127.0.0.1"),
        "{}",
        failed[0].3
    );
    assert!(failed[1].3.contains("unknown token"));
    assert!(failed[3].3.contains("malformed Authorization"));
    // The token itself never reaches the log.
    assert!(rows.iter().all(|r| !r.3.contains("not-a-token")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewer_cannot_change_state() {
    let (_d, db) = seeded(2);
    let s = Server::plain(&api_config(), &db).await;
    for (path, body) in [
        ("/api/v1/incidents/1/ack", None),
        ("/api/v1/incidents/1/assign", Some(json!({"assignee": "x"}))),
        ("/api/v1/incidents/1/resolve", Some(json!({"note": "x"}))),
        ("/api/v1/incidents/1/comments", Some(json!({"text": "x"}))),
        ("/api/v1/reload", None),
    ] {
        let r = call(s.addr, "POST", path, Some(VIEWER), body).await;
        assert_eq!(r.status, 403, "{path}");
        assert_eq!(r.code(), "forbidden");
    }
    // A responder may not reload either.
    assert_eq!(
        call(s.addr, "POST", "/api/v1/reload", Some(RESPONDER), None)
            .await
            .status,
        403
    );
    let r = call(s.addr, "GET", "/api/v1/incidents/1", Some(VIEWER), None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "new");
    assert_eq!(r.json()["timeline"].as_array().unwrap().len(), 1);
    s.shutdown().await;
    // Each refusal is audited with the caller's name.
    let rows = audit_rows(&db);
    let refused: Vec<_> = rows.iter().filter(|r| r.1 == "api.forbidden").collect();
    assert_eq!(refused.len(), 6, "{rows:?}");
    assert_eq!(refused[0].0, "auditor");
    assert_eq!(refused[0].3, "role viewer may not ack");
    assert_eq!(refused[5].0, "duty-officer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responder_acts_and_every_change_is_in_timeline_and_audit() {
    let (_d, db) = seeded(3);
    let s = Server::plain(&api_config(), &db).await;
    let a = s.addr;
    let r = call(a, "POST", "/api/v1/incidents/1/ack", Some(RESPONDER), None).await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    assert_eq!(r.json()["status"], "acknowledged");
    let r = call(
        a,
        "POST",
        "/api/v1/incidents/1/assign",
        Some(RESPONDER),
        Some(json!({"assignee": "张三"})),
    )
    .await;
    assert_eq!(r.json()["assignee"], "张三");
    let r = call(
        a,
        "POST",
        "/api/v1/incidents/1/start",
        Some(RESPONDER),
        Some(json!({})),
    )
    .await;
    assert_eq!(r.json()["status"], "in_progress");
    let r = call(
        a,
        "POST",
        "/api/v1/incidents/1/comments",
        Some(RESPONDER),
        Some(json!({"text": "已封禁源地址"})),
    )
    .await;
    assert_eq!(r.status, 201);
    let r = call(
        a,
        "POST",
        "/api/v1/incidents/1/resolve",
        Some(RESPONDER),
        Some(json!({"note": "blocked at the firewall"})),
    )
    .await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["status"], "resolved");
    let actions: Vec<(String, String)> = v["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["actor"].as_str().unwrap().into(),
                t["action"].as_str().unwrap().into(),
            )
        })
        .collect();
    let who = |a: &str| ("duty-officer".to_string(), a.to_string());
    assert_eq!(
        actions,
        vec![
            ("zoneguard".to_string(), "opened".to_string()),
            who("ack"),
            who("assign"),
            who("start"),
            who("comment"),
            who("resolve"),
        ]
    );
    assert!(v["timeline"][5]["detail"]
        .as_str()
        .unwrap()
        .contains("blocked at the firewall"));
    // An invalid transition is a 409 with the lifecycle's bilingual reason.
    let r = call(
        a,
        "POST",
        "/api/v1/incidents/1/start",
        Some(RESPONDER),
        None,
    )
    .await;
    assert_eq!(r.status, 409);
    assert_eq!(r.code(), "invalid_transition");
    // Reopen needs a reason; to new records the reason as a comment.
    let r = call(
        a,
        "POST",
        "/api/v1/incidents/1/reopen",
        Some(RESPONDER),
        Some(json!({})),
    )
    .await;
    assert_eq!(r.status, 422);
    let r = call(
        a,
        "POST",
        "/api/v1/incidents/1/reopen",
        Some(RESPONDER),
        Some(json!({"reason": "再次出现", "to": "new"})),
    )
    .await;
    assert_eq!(r.json()["status"], "new");
    let r = call(a, "GET", "/api/v1/incidents/1/comments", Some(VIEWER), None).await;
    let comments = r.json()["comments"].as_array().unwrap().clone();
    assert_eq!(comments.len(), 2);
    assert!(comments[1]["detail"].as_str().unwrap().contains("再次出现"));
    // False positive straight from new.
    let r = call(
        a,
        "POST",
        "/api/v1/incidents/2/false-positive",
        Some(RESPONDER),
        Some(json!({"note": "scanner of the audit team"})),
    )
    .await;
    assert_eq!(r.json()["status"], "false_positive");
    // The per-unit summary sees the acknowledgement.
    let r = call(a, "GET", "/api/v1/summary", Some(VIEWER), None).await;
    let units = r.json()["units"].as_array().unwrap().clone();
    let ua = units.iter().find(|u| u["unit"] == UNIT_A).unwrap();
    assert!(ua["mean_ack_secs"].as_f64().is_some());
    s.shutdown().await;

    // The real binary verifies the chain, and the actions are in it.
    let out = common::zoneguard(&["audit", "verify", "--db", db.to_str().unwrap(), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], true);
    let rows = audit_rows(&db);
    assert!(v["records"].as_u64().unwrap() >= 8);
    for action in [
        "incident.ack",
        "incident.assign",
        "incident.start",
        "incident.comment",
        "incident.resolve",
        "incident.reopen",
        "incident.false-positive",
    ] {
        assert!(
            rows.iter().any(|r| r.0 == "duty-officer" && r.1 == action),
            "{action} not audited: {rows:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scoped_user_sees_and_changes_only_its_units() {
    let (_d, db) = seeded(10);
    let s = Server::plain(&api_config(), &db).await;
    let a = s.addr;
    let r = call(a, "GET", "/api/v1/incidents?limit=1000", Some(SCOPED), None).await;
    let v = r.json();
    assert_eq!(v["total"], 5);
    for i in v["incidents"].as_array().unwrap() {
        assert_eq!(i["unit"], UNIT_B);
    }
    // Incident 1 is unit A's: not found for the county, found for others.
    for (m, p, b) in [
        ("GET", "/api/v1/incidents/1", None),
        ("GET", "/api/v1/incidents/1/comments", None),
        ("POST", "/api/v1/incidents/1/ack", None),
        (
            "POST",
            "/api/v1/incidents/1/comments",
            Some(json!({"text": "x"})),
        ),
    ] {
        let r = call(a, m, p, Some(SCOPED), b).await;
        assert_eq!(r.status, 404, "{m} {p}");
        assert_eq!(r.code(), "not_found");
    }
    assert_eq!(
        call(a, "GET", "/api/v1/incidents/1", Some(VIEWER), None)
            .await
            .status,
        200
    );
    // Its own incident it can act on.
    let r = call(a, "POST", "/api/v1/incidents/2/ack", Some(SCOPED), None).await;
    assert_eq!(r.status, 200);
    // Asking for the other unit by filter gives nothing.
    let q = format!("/api/v1/incidents?unit={}", pct(UNIT_A));
    assert_eq!(
        call(a, "GET", &q, Some(SCOPED), None).await.json()["total"],
        0
    );
    let r = call(a, "GET", "/api/v1/summary", Some(SCOPED), None).await;
    let units = r.json()["units"].as_array().unwrap().clone();
    assert_eq!(units.len(), 1);
    assert_eq!(units[0]["unit"], UNIT_B);
    let r = call(a, "GET", "/api/v1/whoami", Some(SCOPED), None).await;
    assert_eq!(
        r.json(),
        json!({"name": "yingjiang", "role": "responder", "units": [UNIT_B]})
    );
    s.shutdown().await;
}

fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagination_by_offset_and_cursor_and_filters() {
    let (_d, db) = seeded(250);
    let s = Server::plain(&api_config(), &db).await;
    let a = s.addr;
    let ids = |v: &Value| -> Vec<i64> {
        v["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_i64().unwrap())
            .collect()
    };
    // Default page: 100, newest first.
    let v = call(a, "GET", "/api/v1/incidents", Some(VIEWER), None)
        .await
        .json();
    assert_eq!(v["total"], 250);
    assert_eq!(ids(&v), (151..=250).rev().collect::<Vec<_>>());
    let v = call(
        a,
        "GET",
        "/api/v1/incidents?limit=100&offset=200",
        Some(VIEWER),
        None,
    )
    .await
    .json();
    assert_eq!(ids(&v), (1..=50).rev().collect::<Vec<_>>());
    assert_eq!(v["next_cursor"], Value::Null);
    // Walk with the cursor: every incident exactly once.
    let mut seen = Vec::new();
    let mut path = "/api/v1/incidents?limit=64".to_string();
    loop {
        let v = call(a, "GET", &path, Some(VIEWER), None).await.json();
        assert_eq!(v["total"], 250);
        seen.extend(ids(&v));
        match v["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/incidents?limit=64&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, (1..=250).rev().collect::<Vec<_>>());
    // Limits and malformed parameters are 400 with the parameter named.
    for q in [
        "limit=1001",
        "limit=0",
        "limit=x",
        "offset=-1",
        "cursor=zz",
        "grade=V",
        "status=open",
        "since=yesterday",
        "colour=red",
        "cursor=1_1&offset=3",
        "limit=1&limit=2",
    ] {
        let r = call(
            a,
            "GET",
            &format!("/api/v1/incidents?{q}"),
            Some(VIEWER),
            None,
        )
        .await;
        assert_eq!(r.status, 400, "{q}: {:?}", r.json());
        assert_eq!(r.code(), "bad_request");
    }
    let r = call(a, "GET", "/api/v1/incidents?limit=1001", Some(VIEWER), None).await;
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("limit"));
    // Filters.
    let total = |q: &str| {
        let q = q.to_string();
        async move {
            call(
                a,
                "GET",
                &format!("/api/v1/incidents?{q}"),
                Some(VIEWER),
                None,
            )
            .await
            .json()["total"]
                .as_u64()
                .unwrap()
        }
    };
    assert_eq!(total("grade=II").await, 83); // i % 3 == 0
    assert_eq!(total("grade=III").await, 83 + 84);
    assert_eq!(total("category=network_attack/scan").await, 125);
    assert_eq!(total("zone=county-mangshi").await, 125);
    assert_eq!(total(&format!("unit={}", pct(UNIT_B))).await, 125);
    assert_eq!(total("status=new").await, 250);
    assert_eq!(total("open=true").await, 250);
    // Incident i is first seen at T0 + 60 i (UTC): 2026-10-26T07:33:20Z + 60 i.
    let since = chrono::DateTime::from_timestamp(T0 + 200 * 60, 0)
        .unwrap()
        .to_rfc3339();
    assert_eq!(total(&format!("since={}", pct(&since))).await, 51);
    assert_eq!(total(&format!("until={}", pct(&since))).await, 200);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_lists_every_route_and_every_route_is_served() {
    let (_d, db) = seeded(1);
    let s = Server::plain(&api_config(), &db).await;
    let doc = call(s.addr, "GET", "/api/v1/openapi.json", None, None)
        .await
        .json();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    let mut documented = Vec::new();
    for (p, ops) in paths {
        for m in ops.as_object().unwrap().keys() {
            documented.push((m.to_uppercase(), p.clone()));
        }
    }
    documented.sort();
    let mut routes: Vec<(String, String)> = api::ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    routes.sort();
    assert_eq!(documented, routes);
    // Every $ref resolves.
    let text = doc.to_string();
    for r in text.split("\"$ref\":\"#/").skip(1) {
        let ptr = r.split('"').next().unwrap();
        assert!(
            doc.pointer(&format!("/{ptr}")).is_some(),
            "dangling $ref {ptr}"
        );
    }
    // Every listed route reaches a handler (not the no-route fallback,
    // not 405).
    for (m, p) in api::ROUTES {
        let path = p.replace("{id}", "1");
        let r = call(s.addr, m, &path, Some(ADMIN), None).await;
        assert!(
            r.status != 405 && !(r.status == 404 && r.code() == "no_route"),
            "{m} {p}: {}",
            r.status
        );
    }
    let r = call(s.addr, "GET", "/api/v1/nothing", Some(ADMIN), None).await;
    assert_eq!((r.status, r.code()), (404, "no_route".to_string()));
    let r = call(s.addr, "DELETE", "/api/v1/incidents/1", Some(ADMIN), None).await;
    assert_eq!(
        (r.status, r.code()),
        (405, "method_not_allowed".to_string())
    );
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_bodies_are_4xx() {
    let (_d, db) = seeded(1);
    let mut cfg = api_config();
    cfg.limits.max_body_bytes = 64 * 1024;
    let s = Server::plain(&cfg, &db).await;
    let auth = format!("Bearer {RESPONDER}");
    let send = |body: Vec<u8>, ctype: &'static str| {
        let auth = auth.clone();
        async move {
            let tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
            exchange(
                tcp,
                "POST",
                "/api/v1/incidents/1/comments",
                &[("Authorization", &auth), ("Content-Type", ctype)],
                &body,
            )
            .await
            .unwrap()
        }
    };
    let cases: Vec<(Vec<u8>, &str, u16, &str)> = vec![
        (b"{".to_vec(), "application/json", 400, "malformed_json"),
        (
            b"{\"text\": \"a\"} trailing".to_vec(),
            "application/json",
            400,
            "malformed_json",
        ),
        (
            b"\xff\xfe".to_vec(),
            "application/json",
            400,
            "malformed_json",
        ),
        (
            format!("{}{}", "[".repeat(5000), "]".repeat(5000)).into_bytes(),
            "application/json",
            422,
            "invalid_body",
        ),
        (
            format!(
                "{{\"text\": {}1{}}}",
                "[".repeat(10_000),
                "]".repeat(10_000)
            )
            .into_bytes(),
            "application/json",
            422,
            "invalid_body",
        ),
        (
            b"{\"text\": \"x\", \"admin\": true}".to_vec(),
            "application/json",
            422,
            "invalid_body",
        ),
        (
            b"{\"text\": 5}".to_vec(),
            "application/json",
            422,
            "invalid_body",
        ),
        (
            b"{\"text\": \"\"}".to_vec(),
            "application/json",
            422,
            "invalid_body",
        ),
        (
            b"{\"text\": \"a\\u0000b\"}".to_vec(),
            "application/json",
            422,
            "invalid_body",
        ),
        (b"[]".to_vec(), "application/json", 422, "invalid_body"),
        (b"".to_vec(), "application/json", 422, "invalid_body"),
        (
            b"text=x".to_vec(),
            "application/x-www-form-urlencoded",
            415,
            "unsupported_media_type",
        ),
        (
            format!("{{\"text\": \"{}\"}}", "x".repeat(100 * 1024)).into_bytes(),
            "application/json",
            413,
            "body_too_large",
        ),
        (
            format!("{{\"text\": \"{}\"}}", "x".repeat(5000)).into_bytes(),
            "application/json",
            422,
            "invalid_body",
        ),
    ];
    for (body, ctype, status, code) in cases {
        let preview = String::from_utf8_lossy(&body[..body.len().min(40)]).to_string();
        let r = send(body, ctype).await;
        assert_eq!(
            r.status,
            status,
            "{preview}: {:?}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.code(), code, "{preview}");
    }
    // Oversized without Content-Length (chunked) is cut at the limit too.
    let tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let mut tcp = tcp;
    let head = format!(
        "POST /api/v1/incidents/1/comments HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b' '; 16 * 1024];
    for _ in 0..8 {
        if tcp
            .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .await
            .is_err()
        {
            break;
        }
        if tcp.write_all(&chunk).await.is_err() || tcp.write_all(b"\r\n").await.is_err() {
            break;
        }
    }
    let _ = tcp.write_all(b"0\r\n\r\n").await;
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut raw)).await;
    let r = parse_response(&raw);
    assert_eq!(r.status, 413);
    // Bad ids.
    for p in [
        "/api/v1/incidents/0",
        "/api/v1/incidents/-3",
        "/api/v1/incidents/abc",
        "/api/v1/incidents/99999999999999999999",
    ] {
        let r = call(s.addr, "GET", p, Some(VIEWER), None).await;
        assert_eq!(r.status, 400, "{p}");
    }
    assert_eq!(
        call(s.addr, "GET", "/api/v1/incidents/77", Some(VIEWER), None)
            .await
            .status,
        404
    );
    // The incident is untouched by all of that.
    let r = call(s.addr, "GET", "/api/v1/incidents/1", Some(VIEWER), None).await;
    assert_eq!(r.json()["timeline"].as_array().unwrap().len(), 1);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_goes_through_the_daemons_hook_and_is_audited() {
    let (_d, db) = seeded(1);
    let (tx, mut rx) =
        tokio::sync::mpsc::channel::<tokio::sync::oneshot::Sender<Result<String, String>>>(1);
    // The "daemon": first reload succeeds, second fails.
    tokio::spawn(async move {
        let mut n = 0;
        while let Some(reply) = rx.recv().await {
            n += 1;
            let _ = reply.send(if n == 1 {
                Ok("reloaded 42 rules".into())
            } else {
                Err("config.yaml:3: unknown key".into())
            });
        }
    });
    let s = Server::start(&api_config(), &db, Some(tx), None, ServeLimits::default()).await;
    let r = call(s.addr, "POST", "/api/v1/reload", Some(ADMIN), None).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({"ok": true, "message": "reloaded 42 rules"})
    );
    let r = call(s.addr, "POST", "/api/v1/reload", Some(ADMIN), None).await;
    assert_eq!((r.status, r.code()), (422, "reload_failed".to_string()));
    s.shutdown().await;
    let rows = audit_rows(&db);
    let reloads: Vec<_> = rows.iter().filter(|r| r.1 == "api.reload").collect();
    assert_eq!(reloads.len(), 2);
    assert_eq!(reloads[0].0, "admin");
    assert!(reloads[0].3.starts_with("success"));
    assert!(reloads[1].3.contains("unknown key"));
    // Without a hook: 503, never a hang.
    let s = Server::plain(&api_config(), &db).await;
    let r = call(s.addr, "POST", "/api/v1/reload", Some(ADMIN), None).await;
    assert_eq!(
        (r.status, r.code()),
        (503, "reload_unavailable".to_string())
    );
    s.shutdown().await;
}

// ------------------------------------------------------------------ TLS

struct Pki {
    dir: tempfile::TempDir,
    ca: rcgen::Certificate,
    console: (rcgen::Certificate, rcgen::KeyPair),
    unmapped: (rcgen::Certificate, rcgen::KeyPair),
    rogue: (rcgen::Certificate, rcgen::KeyPair),
}

fn make_ca(name: &str) -> (rcgen::Certificate, rcgen::KeyPair) {
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    p.distinguished_name.push(rcgen::DnType::CommonName, name);
    let k = rcgen::KeyPair::generate().unwrap();
    (p.self_signed(&k).unwrap(), k)
}

fn leaf(
    cn: &str,
    san: &str,
    issuer: &rcgen::Certificate,
    issuer_key: &rcgen::KeyPair,
) -> (rcgen::Certificate, rcgen::KeyPair) {
    let mut p = rcgen::CertificateParams::new(vec![san.to_owned()]).unwrap();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name
        .push(rcgen::DnType::OrganizationName, "德宏州");
    p.distinguished_name.push(rcgen::DnType::CommonName, cn);
    let k = rcgen::KeyPair::generate().unwrap();
    (p.signed_by(&k, issuer, issuer_key).unwrap(), k)
}

fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let (ca, ca_key) = make_ca("zoneguard test CA");
    let (server, server_key) = leaf("localhost", "localhost", &ca, &ca_key);
    let console = leaf("soc-console", "console.example", &ca, &ca_key);
    let unmapped = leaf("someone-else", "other.example", &ca, &ca_key);
    let (rogue_ca, rogue_ca_key) = make_ca("rogue CA");
    let rogue = leaf("soc-console", "console.example", &rogue_ca, &rogue_ca_key);
    std::fs::write(dir.path().join("server.crt"), server.pem()).unwrap();
    std::fs::write(dir.path().join("server.key"), server_key.serialize_pem()).unwrap();
    std::fs::write(dir.path().join("ca.crt"), ca.pem()).unwrap();
    Pki {
        dir,
        ca,
        console,
        unmapped,
        rogue,
    }
}

fn client_config(
    pki: &Pki,
    cert: Option<&(rcgen::Certificate, rcgen::KeyPair)>,
    tls12_only: bool,
) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca.der().clone()).unwrap();
    let versions: &[&rustls::SupportedProtocolVersion] = if tls12_only {
        &[&rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    };
    let b = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(versions)
    .unwrap()
    .with_root_certificates(roots);
    match cert {
        Some((c, k)) => b
            .with_client_auth_cert(
                vec![c.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(k.serialize_der().into()),
            )
            .unwrap(),
        None => b.with_no_client_auth(),
    }
}

async fn tls_call(
    addr: SocketAddr,
    cfg: rustls::ClientConfig,
    path: &str,
    tok: Option<&str>,
) -> std::io::Result<Resp> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(name, tcp)
        .await?;
    let auth = tok.map(|t| format!("Bearer {t}"));
    let h: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    exchange(tls, "GET", path, &h, b"").await
}

fn tls_api_config(pki: &Pki, require: bool) -> ApiConfig {
    let mut cfg = api_config();
    cfg.tls = Some(ApiTls {
        cert: pki.dir.path().join("server.crt"),
        key: pki.dir.path().join("server.key"),
        client_ca: Some(pki.dir.path().join("ca.crt")),
        require_client_cert: require,
    });
    cfg.clients = vec![ApiClient {
        subject: "soc-console".into(),
        name: "cert:soc-console".into(),
        role: ApiRole::Viewer,
        units: vec![UNIT_A.into()],
    }];
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_tokens_and_client_certificates() {
    let (_d, db) = seeded(4);
    let pki = pki();
    let cfg = tls_api_config(&pki, false);
    let tls = api::tls_config(&cfg).unwrap();
    assert!(tls.is_some());
    let s = Server::start(&cfg, &db, None, tls, ServeLimits::default()).await;
    // Token over TLS, no client certificate (optional mode), TLS 1.3 and 1.2.
    for tls12 in [false, true] {
        let r = tls_call(
            s.addr,
            client_config(&pki, None, tls12),
            "/api/v1/whoami",
            Some(RESPONDER),
        )
        .await
        .unwrap();
        assert_eq!(r.json()["name"], "duty-officer");
    }
    // A mapped client certificate authenticates by itself, with its scope.
    let r = tls_call(
        s.addr,
        client_config(&pki, Some(&pki.console), false),
        "/api/v1/whoami",
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        r.json(),
        json!({"name": "cert:soc-console", "role": "viewer", "units": [UNIT_A]})
    );
    let r = tls_call(
        s.addr,
        client_config(&pki, Some(&pki.console), false),
        "/api/v1/incidents",
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.json()["total"], 2);
    // A valid certificate nobody is mapped to: 401.
    let r = tls_call(
        s.addr,
        client_config(&pki, Some(&pki.unmapped), false),
        "/api/v1/incidents",
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.status, 401);
    // A certificate from another CA: the handshake is refused.
    let r = tls_call(
        s.addr,
        client_config(&pki, Some(&pki.rogue), false),
        "/api/v1/whoami",
        None,
    )
    .await;
    assert!(r.is_err(), "rogue certificate accepted: {r:?}");
    // Plain HTTP on the TLS port gets nothing.
    let r = call_raw_plain(s.addr).await;
    assert!(r.is_err());
    s.shutdown().await;
    let rows = audit_rows(&db);
    assert!(
        rows.iter()
            .any(|r| r.1 == "api.auth_failed" && r.3.contains("someone-else")),
        "{rows:?}"
    );

    // Required client certificates: a token alone is not enough to connect.
    let cfg = tls_api_config(&pki, true);
    let s = Server::start(
        &cfg,
        &db,
        None,
        api::tls_config(&cfg).unwrap(),
        ServeLimits::default(),
    )
    .await;
    let r = tls_call(
        s.addr,
        client_config(&pki, None, false),
        "/api/v1/whoami",
        Some(RESPONDER),
    )
    .await;
    assert!(r.is_err(), "connection without certificate accepted: {r:?}");
    let r = tls_call(
        s.addr,
        client_config(&pki, Some(&pki.console), false),
        "/api/v1/health",
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    s.shutdown().await;
}

async fn call_raw_plain(addr: SocketAddr) -> std::io::Result<Resp> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    exchange(tcp, "GET", "/api/v1/health", &[], b"").await
}

#[test]
fn tls_config_names_the_bad_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("empty.crt"), "").unwrap();
    let cfg = ApiConfig {
        tls: Some(ApiTls {
            cert: dir.path().join("empty.crt"),
            key: dir.path().join("missing.key"),
            client_ca: None,
            require_client_cert: false,
        }),
        ..ApiConfig::default()
    };
    let e = api::tls_config(&cfg).unwrap_err().to_string();
    assert!(
        e.contains("empty.crt") && e.contains("no PEM certificate"),
        "{e}"
    );
    assert!(api::tls_config(&ApiConfig::default()).unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_are_cut_off() {
    let (_d, db) = seeded(1);
    let limits = ServeLimits {
        header_timeout: Duration::from_secs(1),
        ..ServeLimits::default()
    };
    let s = Server::start(&api_config(), &db, None, None, limits).await;
    let mut tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    tcp.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let t = std::time::Instant::now();
    let mut buf = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut buf)).await;
    assert!(r.is_ok(), "connection kept open");
    assert!(t.elapsed() < Duration::from_secs(5));
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_sample_is_served_as_the_cli_lists_it() {
    let dir = tempfile::tempdir().unwrap();
    let repo = common::repo();
    let out = common::zoneguard(&[
        "replay",
        "-c",
        repo.join("config/dehong-egov.yaml").to_str().unwrap(),
        "-r",
        repo.join("samples/dehong-sample.pcap").to_str().unwrap(),
        "-l",
        dir.path().to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let db = dir.path().join("incidents.db");
    let out = common::zoneguard(&["incidents", "list", "--db", db.to_str().unwrap(), "--json"]);
    assert!(out.status.success());
    let cli: Value = serde_json::from_slice(&out.stdout).unwrap();
    let cli = cli.as_array().unwrap().clone();
    assert!(!cli.is_empty(), "the sample opens incidents");
    let s = Server::plain(&api_config(), &db).await;
    let v = call(
        s.addr,
        "GET",
        "/api/v1/incidents?limit=1000",
        Some(VIEWER),
        None,
    )
    .await
    .json();
    assert_eq!(v["total"].as_u64().unwrap() as usize, cli.len());
    let api_list = v["incidents"].as_array().unwrap();
    for (a, c) in api_list.iter().zip(&cli) {
        // `overdue` depends on the wall clock of each call; the rest is equal.
        let strip = |v: &Value| {
            let mut v = v.clone();
            v.as_object_mut().unwrap().remove("overdue");
            v
        };
        assert_eq!(strip(a), strip(c));
        for k in [
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
            assert!(a.get(k).is_some(), "{k} missing");
        }
    }
    let id = cli[0]["id"].as_i64().unwrap();
    let d = call(
        s.addr,
        "GET",
        &format!("/api/v1/incidents/{id}"),
        Some(VIEWER),
        None,
    )
    .await
    .json();
    assert!(!d["evidence"].as_array().unwrap().is_empty());
    assert!(!d["timeline"].as_array().unwrap().is_empty());
    s.shutdown().await;
}

#[test]
fn api_token_cli_prints_a_token_whose_hash_authenticates() {
    let out = common::zoneguard(&["api", "token", "--name", "值班员", "--role", "responder"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let token = text.lines().nth(1).unwrap().trim().to_string();
    assert!(token.starts_with("zg_") && token.len() == 67, "{text}");
    let line = text.lines().nth(3).unwrap().trim().to_string();
    let yaml = format!("name: t\napi:\n  tokens:\n    {line}\n");
    let cfg = zoneguard::config::Config::from_yaml_str(&yaml, "t.yaml", Path::new("."))
        .unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    let state = ApiState::new(
        &cfg.api,
        tempfile::tempdir().unwrap().path().join("x.db"),
        None,
    );
    assert!(state.is_ok());
    assert_eq!(cfg.api.tokens[0].name, "值班员");
    assert_eq!(cfg.api.tokens[0].role, ApiRole::Responder);
    let hex: String = Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(line.contains(&hex));
    let bad = common::zoneguard(&["api", "token", "--role", "root"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--role"));
}

// ------------------------------------------------------- property test

fn any_request() -> impl proptest::strategy::Strategy<Value = axum::http::Request<axum::body::Body>>
{
    use proptest::prelude::*;
    let method = prop_oneof![
        Just("GET"),
        Just("POST"),
        Just("PUT"),
        Just("DELETE"),
        Just("PATCH"),
        Just("HEAD"),
        Just("OPTIONS")
    ];
    let seg = prop_oneof![
        Just("api".to_string()),
        Just("v1".to_string()),
        Just("incidents".to_string()),
        Just("1".to_string()),
        Just("2".to_string()),
        Just("ack".to_string()),
        Just("assign".to_string()),
        Just("comments".to_string()),
        Just("reopen".to_string()),
        Just("summary".to_string()),
        Just("reload".to_string()),
        Just("false-positive".to_string()),
        Just("%FF".to_string()),
        "[a-z0-9%._-]{0,12}",
    ];
    let path = prop::collection::vec(seg, 0..6).prop_map(|v| format!("/api/v1/{}", v.join("/")));
    let query = prop_oneof![
        Just(String::new()),
        "[a-z=&%0-9_]{0,40}".prop_map(|q| format!("?{q}")),
        Just("?limit=5&cursor=1_1".to_string()),
    ];
    let tok = prop_oneof![
        Just(None),
        Just(Some(RESPONDER)),
        Just(Some(VIEWER)),
        Just(Some(ADMIN)),
        Just(Some("junk"))
    ];
    let body = prop_oneof![
        Just(Vec::new()),
        Just(b"{\"note\": \"x\"}".to_vec()),
        Just(b"{\"assignee\": \"a\", \"x\": 1}".to_vec()),
        Just(b"{\"reason\": \"r\", \"to\": \"new\"}".to_vec()),
        Just(b"{\"text\": \"t\"}".to_vec()),
        prop::collection::vec(any::<u8>(), 0..200),
        "[\\[\\]{}\":,a-z0-9 ]{0,200}".prop_map(String::into_bytes),
    ];
    let ctype = prop_oneof![
        Just(None),
        Just(Some("application/json")),
        Just(Some("text/plain")),
        Just(Some("application/json; charset=utf-8"))
    ];
    (method, path, query, tok, body, ctype).prop_map(|(m, p, q, t, b, c)| {
        let mut r = axum::http::Request::builder()
            .method(m)
            .uri(format!("{p}{q}"));
        if let Some(t) = t {
            r = r.header("authorization", format!("Bearer {t}"));
        }
        if let Some(c) = c {
            r = r.header("content-type", c);
        }
        r.body(axum::body::Body::from(b))
            .unwrap_or_else(|_| axum::http::Request::new(axum::body::Body::empty()))
    })
}

#[test]
fn router_never_answers_5xx_to_any_request() {
    let (_d, db) = seeded(3);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut cfg = api_config();
    // Keep the audit log of this run small.
    cfg.limits.failed_auth_audit_per_minute = 20;
    // A daemon that answers reloads, so every route has its real peer.
    let (hook, mut rx) =
        tokio::sync::mpsc::channel::<tokio::sync::oneshot::Sender<Result<String, String>>>(4);
    rt.spawn(async move {
        while let Some(reply) = rx.recv().await {
            let _ = reply.send(Ok("reloaded".into()));
        }
    });
    let state = ApiState::new(&cfg, db.clone(), Some(hook)).unwrap();
    let app = api::router(state);
    let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
        cases: 300,
        failure_persistence: None,
        ..Default::default()
    });
    runner
        .run(&any_request(), |req| {
            let desc = format!("{} {}", req.method(), req.uri());
            let is_head = req.method() == axum::http::Method::HEAD;
            let resp = rt.block_on(app.clone().oneshot(req)).unwrap();
            let status = resp.status();
            proptest::prop_assert!(!status.is_server_error(), "{desc}: {status}");
            let body = rt
                .block_on(axum::body::to_bytes(resp.into_body(), 1 << 20))
                .unwrap();
            if status.is_client_error() && !is_head {
                let v: Value = serde_json::from_slice(&body).map_err(|e| {
                    proptest::test_runner::TestCaseError::fail(format!(
                        "{desc}: error body not JSON: {e}"
                    ))
                })?;
                proptest::prop_assert!(v["error"]["code"].is_string(), "{desc}: {v}");
                proptest::prop_assert!(v["error"]["message_zh"].is_string(), "{desc}: {v}");
            }
            Ok(())
        })
        .unwrap();
    // The chain still verifies after all of that.
    let c = rusqlite::Connection::open(&db).unwrap();
    assert!(zoneguard::queue::audit::verify(&c).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_can_merge_metrics_beside_the_api() {
    let (_d, db) = seeded(1);
    let state = ApiState::new(&api_config(), db.clone(), None).unwrap();
    let app = api::router(state).merge(axum::Router::new().route(
        "/metrics",
        axum::routing::get(|| async { "zoneguard_up 1\n" }),
    ));
    let get = |path: &str, tok: Option<&str>| {
        let mut b = axum::http::Request::builder().uri(path);
        if let Some(t) = tok {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        b.body(axum::body::Body::empty()).unwrap()
    };
    let r = app.clone().oneshot(get("/metrics", None)).await.unwrap();
    assert_eq!(r.status(), 200);
    let body = axum::body::to_bytes(r.into_body(), 1024).await.unwrap();
    assert_eq!(&body[..], b"zoneguard_up 1\n");
    let r = app
        .clone()
        .oneshot(get("/api/v1/incidents", None))
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = app
        .clone()
        .oneshot(get("/api/v1/incidents", Some(VIEWER)))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app.oneshot(get("/elsewhere", None)).await.unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connections_are_closed() {
    let (_d, db) = seeded(1);
    let limits = ServeLimits {
        header_timeout: Duration::from_secs(1),
        ..ServeLimits::default()
    };
    let s = Server::start(&api_config(), &db, None, None, limits).await;
    let mut tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    tcp.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tcp.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    // Now idle: the server must not keep the slot forever.
    let t = std::time::Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut buf)).await;
    assert!(
        matches!(r, Ok(Ok(0)) | Ok(Err(_))),
        "idle connection kept open: {r:?}"
    );
    assert!(t.elapsed() < Duration::from_secs(5));
    s.shutdown().await;
}
