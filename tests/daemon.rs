//! `zoneguard run` without capture (no root needed): the HTTP listener
//! (metrics without authentication, the API with it), syslog over TCP into
//! alerts and incidents, reload by SIGHUP and by the API, a broken config
//! kept out, a silent expected sender raising a facility-fault incident,
//! SIGTERM exiting 0.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::Digest;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.1 request; returns (status, body).
fn http(addr: SocketAddr, method: &str, path: &str, token: Option<&str>) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let body = if method == "POST" { "{}" } else { "" };
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    let status = resp.split(' ').nth(1)?.parse().ok()?;
    let body = resp.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    // chunked bodies: keep the JSON or text between the chunk sizes
    Some((status, body.to_string()))
}

fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn wait_for(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(
            t0.elapsed() < Duration::from_secs(secs),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn kill(child: &Child, sig: &str) {
    assert!(Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status()
        .unwrap()
        .success());
}

#[test]
fn daemon_serves_reloads_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let repo = common::repo();
    let http_port = free_port();
    let syslog_port = free_port();
    let admin = "admin-token-for-the-daemon-test-0123456789";
    let viewer = "viewer-token-for-the-daemon-test-0123456789";
    let hash = |t: &str| hex(&sha2::Sha256::digest(t.as_bytes()));
    let base = std::fs::read_to_string(repo.join("config/dehong-egov.yaml"))
        .unwrap()
        .replace("../rules", &repo.join("rules").display().to_string());
    let cfg_text = format!(
        "{base}
syslog:
  listeners:
    - {{name: tcp-test, protocol: tcp, address: \"127.0.0.1:{syslog_port}\"}}
  expected_senders:
    - {{host: oa-app01, silence_secs: 2}}
api:
  listen: \"127.0.0.1:{http_port}\"
  tokens:
    - {{name: admin, sha256: {}, role: admin}}
    - {{name: viewer, sha256: {}, role: viewer}}
daemon:
  state_dir: {}
  log_dir: {}
",
        hash(admin),
        hash(viewer),
        dir.path().join("state").display(),
        dir.path().join("log").display()
    );
    let cfg = dir.path().join("zoneguard.yaml");
    std::fs::write(&cfg, &cfg_text).unwrap();
    let check = common::zoneguard(&["check", "-c", &cfg.display().to_string()]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let errlog = dir.path().join("daemon.log");
    let mut child = Command::new(common::bin())
        .args(["run", "-c"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&errlog).unwrap())
        .spawn()
        .unwrap();
    let log = || std::fs::read_to_string(&errlog).unwrap_or_default();
    let addr: SocketAddr = format!("127.0.0.1:{http_port}").parse().unwrap();
    let metrics = || http(addr, "GET", "/metrics", None).map_or(String::new(), |r| r.1);
    wait_for(60, "metrics served", || {
        if let Ok(Some(st)) = child.try_wait() {
            panic!("daemon exited ({st}): {}", log());
        }
        metrics().contains("zoneguard_rules_loaded")
    });
    let m = metrics();
    assert_eq!(metric(&m, "zoneguard_last_reload_success"), Some(1.0));
    assert!(metric(&m, "zoneguard_rules_loaded{kind=\"log\"}").unwrap() > 0.0);

    // the API requires a token; a viewer may not reload
    assert_eq!(http(addr, "GET", "/api/v1/incidents", None).unwrap().0, 401);
    assert_eq!(
        http(addr, "GET", "/api/v1/incidents", Some(viewer))
            .unwrap()
            .0,
        200
    );
    assert_eq!(
        http(addr, "POST", "/api/v1/reload", Some(viewer))
            .unwrap()
            .0,
        403
    );

    // syslog over TCP (LF framing): a fast SSH brute force
    {
        let mut s = TcpStream::connect(("127.0.0.1", syslog_port)).unwrap();
        for i in 0..8 {
            writeln!(
                s,
                "<38>Nov 28 10:00:{:02} oa-app01 sshd[4242]: Failed password for root from 198.51.100.23 port {} ssh2",
                10 + i,
                40000 + i
            )
            .unwrap();
        }
    }
    wait_for(20, "log messages counted", || {
        metric(
            &metrics(),
            "zoneguard_syslog_messages_total{listener=\"tcp-test\",outcome=\"received\"}",
        ) == Some(8.0)
    });
    wait_for(20, "a log alert counted", || {
        metrics()
            .lines()
            .any(|l| l.starts_with("zoneguard_alerts_total{") && l.contains("source=\"log\""))
    });

    // reload: SIGHUP, then the API as admin
    kill(&child, "HUP");
    wait_for(20, "reload by SIGHUP", || {
        metric(&metrics(), "zoneguard_reloads_total{result=\"success\"}") == Some(1.0)
    });
    let (st, body) = http(addr, "POST", "/api/v1/reload", Some(admin)).unwrap();
    assert_eq!(st, 200, "{body}");
    assert_eq!(
        metric(&metrics(), "zoneguard_reloads_total{result=\"success\"}"),
        Some(2.0)
    );
    // a broken config is refused and the old one keeps running
    std::fs::write(&cfg, cfg_text.replace("name: dehong-egov", "name: [")).unwrap();
    let (st, body) = http(addr, "POST", "/api/v1/reload", Some(admin)).unwrap();
    assert!(st >= 400, "broken reload answered {st}: {body}");
    let m = metrics();
    assert_eq!(
        metric(&m, "zoneguard_reloads_total{result=\"failure\"}"),
        Some(1.0)
    );
    assert_eq!(metric(&m, "zoneguard_last_reload_success"), Some(0.0));

    // the expected sender oa-app01 goes quiet for > 2 s: facility fault
    wait_for(30, "silence alarm", || {
        metric(
            &metrics(),
            "zoneguard_source_silent{kind=\"syslog_sender\",name=\"oa-app01\"}",
        ) == Some(1.0)
    });

    // SIGTERM: exit 0 quickly
    let t0 = Instant::now();
    kill(&child, "TERM");
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "{}", log());
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}: {}", log());

    // incidents: the brute force and the facility fault
    let out = common::zoneguard(&[
        "incidents",
        "list",
        "--db",
        &dir.path().join("state/incidents.db").display().to_string(),
        "--json",
    ]);
    let incidents: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        incidents
            .iter()
            .any(|i| i["src_ips"].to_string().contains("198.51.100.23")),
        "brute force incident: {incidents:?}"
    );
    assert!(
        incidents.iter().any(|i| i["category"]
            .as_str()
            .unwrap_or("")
            .starts_with("facility_fault")),
        "facility fault incident: {incidents:?}"
    );
    // the audit chain records the API reloads and verifies
    let out = common::zoneguard(&[
        "audit",
        "verify",
        "--db",
        &dir.path().join("state/incidents.db").display().to_string(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `config/demo.yaml` (CONTRACT.md): syslog on 127.0.0.1:5514, metrics
/// and API on 127.0.0.1:9750, state under ./var, no capture.
#[test]
fn demo_config_runs_unprivileged() {
    let dir = tempfile::tempdir().unwrap();
    let repo = common::repo();
    std::fs::create_dir_all(dir.path().join("config")).unwrap();
    let text = std::fs::read_to_string(repo.join("config/demo.yaml"))
        .unwrap()
        .replace("../rules", &repo.join("rules").display().to_string());
    let cfg = dir.path().join("config/demo.yaml");
    std::fs::write(&cfg, text).unwrap();
    let mut child = Command::new(common::bin())
        .args(["run", "-c"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr: SocketAddr = "127.0.0.1:9750".parse().unwrap();
    wait_for(60, "demo metrics", || {
        assert!(child.try_wait().unwrap().is_none(), "demo daemon exited");
        http(addr, "GET", "/metrics", None).is_some_and(|r| r.1.contains("zoneguard_"))
    });
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    s.send_to(
        b"<86>Nov 28 10:00:00 oa-app01 sudo: pam_unix(sudo:auth): authentication failure; logname=bob uid=1000 euid=0 tty=/dev/pts/0 ruser=bob rhost=  user=bob",
        "127.0.0.1:5514",
    )
    .unwrap();
    wait_for(20, "the demo's UDP listener counts it", || {
        http(addr, "GET", "/metrics", None).is_some_and(|r| {
            metric(
                &r.1,
                "zoneguard_syslog_messages_total{listener=\"udp5514\",outcome=\"received\"}",
            ) == Some(1.0)
        })
    });
    let (st, _) = http(
        addr,
        "GET",
        "/api/v1/incidents",
        Some("zoneguard-demo-viewer"),
    )
    .unwrap();
    assert_eq!(st, 200);
    kill(&child, "TERM");
    let t0 = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(t0.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(dir.path().join("var/lib/incidents.db").exists());
    assert!(dir.path().join("var/log/eve.json").exists());
}

/// A restarted daemon goes on correlating: alerts of an attack that
/// continues after a restart join the incident opened before it (the store
/// keeps each open incident's correlation window), instead of splitting the
/// attack into two incidents.
#[test]
fn restart_keeps_open_incidents_correlating() {
    let dir = tempfile::tempdir().unwrap();
    let repo = common::repo();
    let http_port = free_port();
    let syslog_port = free_port();
    let base = std::fs::read_to_string(repo.join("config/dehong-egov.yaml"))
        .unwrap()
        .replace("../rules", &repo.join("rules").display().to_string());
    let cfg = dir.path().join("zoneguard.yaml");
    std::fs::write(
        &cfg,
        format!(
            "{base}
syslog:
  listeners:
    - {{name: tcp-test, protocol: tcp, address: \"127.0.0.1:{syslog_port}\"}}
api:
  listen: \"127.0.0.1:{http_port}\"
daemon:
  state_dir: {}
  log_dir: {}
",
            dir.path().join("state").display(),
            dir.path().join("log").display()
        ),
    )
    .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{http_port}").parse().unwrap();
    let metrics = || http(addr, "GET", "/metrics", None).map_or(String::new(), |r| r.1);
    let db = dir.path().join("state/incidents.db").display().to_string();
    let brute_force = |minute: u32| {
        let errlog = dir.path().join(format!("daemon-{minute}.log"));
        let mut child = Command::new(common::bin())
            .args(["run", "-c"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&errlog).unwrap())
            .spawn()
            .unwrap();
        let log = || std::fs::read_to_string(&errlog).unwrap_or_default();
        wait_for(60, "metrics served", || {
            if let Ok(Some(st)) = child.try_wait() {
                panic!("daemon exited ({st}): {}", log());
            }
            metrics().contains("zoneguard_rules_loaded")
        });
        {
            let mut s = TcpStream::connect(("127.0.0.1", syslog_port)).unwrap();
            for i in 0..8 {
                writeln!(
                    s,
                    "<38>Nov 28 10:{minute:02}:{:02} oa-app01 sshd[4242]: Failed password for root from 198.51.100.23 port {} ssh2",
                    10 + i,
                    40000 + i
                )
                .unwrap();
            }
        }
        wait_for(20, "a log alert counted", || {
            metrics()
                .lines()
                .any(|l| l.starts_with("zoneguard_alerts_total{") && l.contains("source=\"log\""))
        });
        kill(&child, "TERM");
        let t0 = Instant::now();
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st;
            }
            assert!(t0.elapsed() < Duration::from_secs(10), "{}", log());
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(status.success(), "{status}: {}", log());
        let out = common::zoneguard(&["incidents", "list", "--db", &db, "--json"]);
        let all: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        all.into_iter()
            .filter(|i| i["src_ips"].to_string().contains("198.51.100.23"))
            .collect::<Vec<Value>>()
    };
    let before = brute_force(0);
    assert_eq!(before.len(), 1, "{before:?}");
    // five minutes later, after a restart: the same attack, the same incident
    let after = brute_force(5);
    assert_eq!(after.len(), 1, "the restart split the attack: {after:?}");
    assert_eq!(after[0]["id"], before[0]["id"]);
    assert!(
        after[0]["alert_count"].as_u64() > before[0]["alert_count"].as_u64(),
        "{before:?} -> {after:?}"
    );
    assert_eq!(after[0]["first_seen"], before[0]["first_seen"]);
}
