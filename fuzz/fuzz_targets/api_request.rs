//! Fuzzes the REST API router with arbitrary requests: method, path and
//! query, headers (with or without a valid token) and body all come from
//! the input. No request may panic or be answered with a 5xx, and every
//! error body is JSON. The same property is checked in `tests/api.rs`
//! (`router_never_answers_5xx_to_any_request`, a proptest).
//!
//! Input layout: byte 0 picks the method, byte 1 the credentials and
//! content type; then the request target up to `\n`, header lines up to an
//! empty line, and the body.
#![no_main]

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::Request;
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};
use tower::ServiceExt;
use zoneguard::api::{self, ApiState};
use zoneguard::config::{ApiConfig, ApiRole, ApiToken};
use zoneguard::incident::{Grade, Incident, IncidentUpdate, Severity, Status};
use zoneguard::queue::{Store, StoreConfig};
use zoneguard::time::Timestamp;

const TOKENS: [&str; 3] = ["fuzz-viewer", "fuzz-responder", "fuzz-admin"];

struct Harness {
    rt: tokio::runtime::Runtime,
    app: axum::Router,
}

fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("zoneguard-fuzz-api-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let db = dir.join("incidents.db");
        let _ = std::fs::remove_file(&db);
        let mut store = Store::open(&db, StoreConfig::default()).expect("store");
        for id in 1..=3 {
            store.submit(IncidentUpdate {
                incident: Incident {
                    id,
                    status: Status::New,
                    grade: Grade::III,
                    severity: Severity::High,
                    category: "network_attack/scan".into(),
                    title: "fuzz".into(),
                    title_zh: "模糊测试".into(),
                    zones: vec!["z".into()],
                    units: vec![format!("unit-{id}")],
                    unit: Some(format!("unit-{id}")),
                    contact: None,
                    assignee: None,
                    src_ips: vec![],
                    dest_ips: vec![],
                    first_seen: Timestamp(0),
                    last_seen: Timestamp(id),
                    alert_count: 1,
                    report_due: None,
                },
                evidence: vec![],
                timeline: vec![],
                window: None,
            });
        }
        store.close().expect("close");
        let roles = [ApiRole::Viewer, ApiRole::Responder, ApiRole::Admin];
        let mut cfg = ApiConfig::default();
        cfg.limits.failed_auth_audit_per_minute = 10;
        cfg.limits.max_body_bytes = 4096;
        for (t, role) in TOKENS.iter().zip(roles) {
            cfg.tokens.push(ApiToken {
                name: t.to_string(),
                sha256: Sha256::digest(t.as_bytes()).into(),
                role,
                units: if role == ApiRole::Responder {
                    vec!["unit-2".into()]
                } else {
                    vec![]
                },
            });
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        // A daemon that answers reloads (runs whenever the runtime does).
        let (hook, mut rx) =
            tokio::sync::mpsc::channel::<tokio::sync::oneshot::Sender<Result<String, String>>>(4);
        rt.spawn(async move {
            while let Some(reply) = rx.recv().await {
                let _ = reply.send(Err("fuzz: refused".into()));
            }
        });
        let state: Arc<ApiState> = ApiState::new(&cfg, db, Some(hook)).expect("api state");
        Harness {
            rt,
            app: api::router(state),
        }
    })
}

fn request(data: &[u8]) -> Option<Request<Body>> {
    let (&m, rest) = data.split_first()?;
    let (&flags, rest) = rest.split_first()?;
    let method = [
        "GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS", "TRACE",
    ][usize::from(m % 8)];
    let nl = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
    let target = String::from_utf8_lossy(&rest[..nl]);
    let target = if target.starts_with('/') {
        target.into_owned()
    } else {
        format!("/api/v1/{target}")
    };
    let mut b = Request::builder().method(method).uri(target);
    if flags & 3 != 3 {
        b = b.header(
            "authorization",
            format!("Bearer {}", TOKENS[usize::from(flags & 3)]),
        );
    }
    if flags & 4 != 0 {
        b = b.header("content-type", "application/json");
    }
    let mut rest = rest.get(nl + 1..).unwrap_or(&[]);
    // Header lines until an empty line.
    while let Some(end) = rest.iter().position(|b| *b == b'\n') {
        let line = &rest[..end];
        rest = &rest[end + 1..];
        if line.is_empty() {
            break;
        }
        if let Some(colon) = line.iter().position(|b| *b == b':') {
            b = b.header(&line[..colon], &line[colon + 1..]);
        }
    }
    b.body(Body::from(rest.to_vec())).ok()
}

fuzz_target!(|data: &[u8]| {
    let Some(req) = request(data) else { return };
    let h = harness();
    let head = req.method() == axum::http::Method::HEAD;
    let resp =
        h.rt.block_on(h.app.clone().oneshot(req))
            .expect("infallible");
    let status = resp.status();
    assert!(!status.is_server_error(), "5xx: {status}");
    if status.is_client_error() && !head {
        let body =
            h.rt.block_on(axum::body::to_bytes(resp.into_body(), 1 << 20))
                .expect("body");
        let v: serde_json::Value = serde_json::from_slice(&body).expect("JSON error body");
        assert!(v["error"]["code"].is_string());
    }
});
