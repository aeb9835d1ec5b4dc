//! The log service with real loopback sockets: listeners from the config,
//! the shipped Sigma rules, alerts to a channel and to a real eve.json.
//! Every wait is bounded.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use zoneguard::config::{Config, ExpectedSender, SenderId};
use zoneguard::output::{EveWriter, EventTypes};
use zoneguard::syslog::config::{ListenerConfig, ListenerProtocol};
use zoneguard::syslog::service::{load_rules, ListenerCounters, LogService};

const LIMIT: Duration = Duration::from_secs(120);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn config(protocols: &[ListenerProtocol]) -> Config {
    let mut cfg = Config::builtin_default();
    cfg.rules.sigma_directories = vec![repo().join("rules/sigma")];
    for (i, p) in protocols.iter().enumerate() {
        cfg.syslog.listeners.push(ListenerConfig::new(
            &format!("l{i}"),
            *p,
            "127.0.0.1:0".parse().expect("addr"),
        ));
    }
    cfg
}

struct Running {
    svc: LogService,
    alerts: crossbeam_channel::Receiver<zoneguard::alert::Alert>,
    eve_path: PathBuf,
    _dir: tempfile::TempDir,
}

fn start(rt: &tokio::runtime::Runtime, cfg: &Config, alert_cap: usize) -> Running {
    let rules = Arc::new(load_rules(cfg).expect("shipped rules load"));
    assert!(
        rules.report.rejected.is_empty(),
        "{:?}",
        rules.report.rejected
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let eve_path = dir.path().join("eve.json");
    let eve = Arc::new(EveWriter::create(&eve_path, EventTypes::all()).expect("eve.json"));
    let (tx, alerts) = crossbeam_channel::bounded(alert_cap);
    let svc = LogService::start(rt.handle(), cfg, rules, tx, eve).expect("service starts");
    Running {
        svc,
        alerts,
        eve_path,
        _dir: dir,
    }
}

fn addr(svc: &LogService, name: &str) -> SocketAddr {
    svc.local_addrs()
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, a)| a)
        .expect("listener")
}

fn counters(svc: &LogService, name: &str) -> ListenerCounters {
    svc.stats()
        .into_iter()
        .find(|c| c.name == name)
        .expect("listener")
}

/// Waits until `f` holds, at most [`LIMIT`].
fn wait_until(mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < LIMIT, "timed out");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
}

fn failed(i: u32, src: &str) -> String {
    format!(
        "<38>1 2026-11-02T09:00:{:02}Z web01 sshd 2211 - - Failed password for root from {src} port {} ssh2",
        i % 60,
        40000 + i
    )
}

fn eve_alerts(p: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(p)
        .expect("eve.json")
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("eve line is JSON"))
        .filter(|v| v["event_type"] == "alert")
        .collect()
}

#[test]
fn ssh_brute_force_over_tcp_gives_the_fast_brute_force_alert() {
    let rt = runtime();
    let cfg = config(&[ListenerProtocol::Tcp]);
    let r = start(&rt, &cfg, 1024);
    let to = addr(&r.svc, "l0");
    let mut s = std::net::TcpStream::connect(to).expect("connect");
    // Six failures from one source within six seconds, octet-counted and
    // LF-framed mixed, plus the pam_unix duplicates that must not count.
    for i in 0..6u32 {
        let l = failed(i, "203.0.113.9");
        if i % 2 == 0 {
            write!(s, "{} {l}", l.len()).expect("send");
        } else {
            writeln!(s, "{l}").expect("send");
        }
        writeln!(
            s,
            "<38>1 2026-11-02T09:00:{i:02}Z web01 sshd 2211 - - pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.9  user=root"
        )
        .expect("send");
    }
    drop(s);
    wait_until(|| counters(&r.svc, "l0").parsed == 12);
    let c = counters(&r.svc, "l0");
    assert_eq!((c.received, c.dropped, c.unparseable), (12, 0, 0));
    rt.block_on(r.svc.shutdown());
    let got: Vec<_> = r.alerts.try_iter().collect();
    let fast: Vec<_> = got.iter().filter(|a| a.sid == 1_995_010).collect();
    assert_eq!(fast.len(), 1, "{got:#?}");
    let a = fast[0];
    assert_eq!(a.taxonomy(), Some("network_attack/brute_force"));
    assert_eq!(a.source, zoneguard::alert::AlertSource::Log);
    assert_eq!(a.addrs.src_ip, Some("203.0.113.9".parse().expect("ip")));
    // The same alert is in eve.json with its log object.
    let eve = eve_alerts(&r.eve_path);
    let rec = eve
        .iter()
        .find(|v| v["alert"]["signature_id"] == 1_995_010)
        .expect("eve alert");
    assert_eq!(rec["src_ip"], "203.0.113.9");
    assert!(rec["log"].is_object(), "{rec}");
    assert_eq!(eve.len(), got.len());
}

#[test]
fn counters_add_up_and_shutdown_drains_the_queues() {
    const N: u64 = 200_000;
    let rt = runtime();
    let mut cfg = config(&[ListenerProtocol::Tcp, ListenerProtocol::Udp]);
    cfg.syslog.expected_senders = vec![
        ExpectedSender {
            id: SenderId::Ip("127.0.0.1".parse().expect("ip")),
            silence_secs: 60,
        },
        ExpectedSender {
            id: SenderId::Host("quiet-host".into()),
            silence_secs: 1,
        },
    ];
    let r = start(&rt, &cfg, 16);
    let before = SystemTime::now();
    assert_eq!(
        r.svc.last_seen(),
        vec![
            ("127.0.0.1".to_owned(), None),
            ("quiet-host".to_owned(), None)
        ]
    );
    let to = addr(&r.svc, "l0");
    // Background lines, some junk and an empty frame between them.
    let mut s = std::net::TcpStream::connect(to).expect("connect");
    let mut buf = Vec::new();
    for i in 0..N {
        match i % 1000 {
            7 => buf.extend_from_slice(b"\xff\xfe binary \x01junk\n"),
            _ => {
                buf.extend_from_slice(
                    format!("<30>1 2026-11-02T09:00:00Z app01 cron 1 - - job {i} done\n")
                        .as_bytes(),
                );
            }
        }
        if buf.len() > 1 << 20 {
            s.write_all(&buf).expect("send");
            buf.clear();
        }
    }
    s.write_all(&buf).expect("send");
    drop(s);
    // UDP datagrams too.
    let u = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    let uto = addr(&r.svc, "l1");
    for i in 0..1000 {
        u.send_to(
            format!("<13>Nov  2 09:00:00 h app: udp {i}").as_bytes(),
            uto,
        )
        .expect("udp send");
    }
    // Everything the listener accepted is processed after shutdown.
    wait_until(|| counters(&r.svc, "l0").received == N);
    wait_until(|| {
        let c = counters(&r.svc, "l1");
        c.received + c.dropped == 1000
    });
    let mut r = r;
    rt.block_on(r.svc.stop());
    let tcp = counters(&r.svc, "l0");
    assert_eq!(tcp.received, N);
    assert_eq!(tcp.dropped, 0);
    assert_eq!(tcp.parsed + tcp.unparseable, N);
    // Junk lines are still messages (lenient parsing keeps their text).
    assert_eq!(tcp.unparseable, 0);
    let udp = counters(&r.svc, "l1");
    assert_eq!(udp.parsed + udp.unparseable, udp.received);
    assert_eq!(udp.received + udp.dropped, 1000);
    let seen = r.svc.last_seen();
    assert!(seen[0]
        .1
        .is_some_and(|t| t >= before - Duration::from_secs(1)));
    assert_eq!(seen[1].1, None);
    let later = SystemTime::now() + Duration::from_secs(5);
    let silent = r.svc.silent_senders(later);
    assert_eq!(silent, vec![("quiet-host".to_owned(), None)]);
}

#[test]
fn reload_installs_new_rules() {
    let rt = runtime();
    let cfg = config(&[ListenerProtocol::Udp]);
    let r = start(&rt, &cfg, 64);
    let to = addr(&r.svc, "l0");
    let u = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    let marker = "<13>1 2026-11-02T09:00:00Z h app - - - zoneguard-reload-marker";
    u.send_to(marker.as_bytes(), to).expect("send");
    wait_until(|| counters(&r.svc, "l0").parsed == 1);
    assert!(r.alerts.try_recv().is_err(), "no shipped rule matches");
    let mut set = zoneguard::logrules::RuleSet::new();
    set.load_str(
        "title: marker\nid: m1\nlevel: high\nlogsource: {product: linux}\ndetection: {k: [zoneguard-reload-marker], condition: k}\n",
        "marker.yml",
        &zoneguard::logrules::LoadOptions::default(),
    );
    assert!(r.svc.reload(&cfg, Arc::new(set)), "listeners unchanged");
    u.send_to(marker.as_bytes(), to).expect("send");
    wait_until(|| counters(&r.svc, "l0").parsed == 2);
    let a = r.alerts.recv_timeout(LIMIT).expect("the new rule alerts");
    assert_eq!(&*a.signature, "marker");
    assert_eq!(r.svc.service_stats().reloads, 1);
    let mut other = cfg.clone();
    other.syslog.listeners[0].max_message_size = 100;
    assert!(!r
        .svc
        .reload(&other, Arc::new(load_rules(&cfg).expect("rules"))));
    rt.block_on(r.svc.shutdown());
}

#[test]
fn a_full_alert_channel_counts_and_eve_keeps_everything() {
    let rt = runtime();
    let cfg = config(&[ListenerProtocol::Tcp]);
    // Room for one alert only.
    let r = start(&rt, &cfg, 1);
    let mut s = std::net::TcpStream::connect(addr(&r.svc, "l0")).expect("connect");
    for i in 0..20u32 {
        writeln!(
            s,
            "<86>1 2026-11-02T09:00:{:02}Z web01 sudo - - - alice : 3 incorrect password attempts ; TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/bash",
            i
        )
        .expect("send");
    }
    drop(s);
    wait_until(|| counters(&r.svc, "l0").parsed == 20);
    rt.block_on(r.svc.shutdown());
    let st_sent = r.alerts.try_iter().count() as u64;
    assert_eq!(st_sent, 1);
    let eve = eve_alerts(&r.eve_path);
    assert!(eve.len() > 1, "{}", eve.len());
}

#[test]
fn a_huge_line_and_junk_leave_the_listener_serving() {
    let rt = runtime();
    let cfg = config(&[ListenerProtocol::Tcp]);
    let r = start(&rt, &cfg, 64);
    let to = addr(&r.svc, "l0");
    let mut s = std::net::TcpStream::connect(to).expect("connect");
    let mut big = vec![b'A'; 10 * 1024 * 1024];
    big.push(b'\n');
    s.write_all(&big).expect("send");
    s.write_all(b"\x00\xff\xfe\xfd\n\n").expect("send");
    drop(s);
    let mut s = std::net::TcpStream::connect(to).expect("connect again");
    s.write_all(failed(1, "198.51.100.7").as_bytes())
        .expect("send");
    s.write_all(b"\n").expect("send");
    drop(s);
    wait_until(|| counters(&r.svc, "l0").parsed == 3);
    let c = counters(&r.svc, "l0");
    assert_eq!(c.truncated, 1);
    assert_eq!(c.connections, 2);
    rt.block_on(r.svc.shutdown());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_and_shuts_down_from_inside_the_runtime() {
    let cfg = config(&[ListenerProtocol::Udp, ListenerProtocol::Tcp]);
    let rules = Arc::new(load_rules(&cfg).expect("rules"));
    let eve = Arc::new(EveWriter::from_writer(
        Box::new(std::io::sink()),
        EventTypes::all(),
    ));
    let (tx, _rx) = crossbeam_channel::bounded(8);
    let svc = LogService::start(&tokio::runtime::Handle::current(), &cfg, rules, tx, eve)
        .expect("starts inside the runtime");
    let to = addr(&svc, "l1");
    let mut s = tokio::net::TcpStream::connect(to).await.expect("connect");
    tokio::io::AsyncWriteExt::write_all(&mut s, b"<13>1 - h a - - - one\n")
        .await
        .expect("send");
    drop(s);
    let t = Instant::now();
    while counters(&svc, "l1").parsed < 1 {
        assert!(t.elapsed() < LIMIT, "timed out");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::timeout(LIMIT, svc.shutdown())
        .await
        .expect("shutdown ends");
}

/// `expect_hostname` and `bad_hostname` are per listener: the same BSD
/// lines with a host name give the brute-force alert (with that host) on
/// a default listener, and none on listeners told that the word after the
/// time stamp is not a host name (the program is then `web01`, not sshd).
#[test]
fn parse_options_apply_per_listener() {
    let rt = runtime();
    let mut cfg = config(&[
        ListenerProtocol::Tcp,
        ListenerProtocol::Tcp,
        ListenerProtocol::Tcp,
    ]);
    cfg.syslog.listeners[1].expect_hostname = false;
    cfg.syslog.listeners[2].bad_hostname = Some("^web[0-9]+$".into());
    let r = start(&rt, &cfg, 1024);
    for (i, name) in ["l0", "l1", "l2"].into_iter().enumerate() {
        let mut s = std::net::TcpStream::connect(addr(&r.svc, name)).expect("connect");
        for k in 0..6u32 {
            writeln!(
                s,
                "<38>Nov  2 09:00:{k:02} web01 sshd[2211]: Failed password for root from 203.0.113.{} port {} ssh2",
                i + 1,
                40000 + k
            )
            .expect("send");
        }
    }
    wait_until(|| {
        ["l0", "l1", "l2"]
            .iter()
            .all(|n| counters(&r.svc, n).parsed == 6)
    });
    rt.block_on(r.svc.shutdown());
    let got: Vec<_> = r.alerts.try_iter().collect();
    let fast: Vec<_> = got
        .iter()
        .filter(|a| a.sid == 1_995_010)
        .map(|a| a.addrs.src_ip)
        .collect();
    assert_eq!(
        fast,
        vec![Some("203.0.113.1".parse().expect("ip"))],
        "{got:#?}"
    );
    let eve = eve_alerts(&r.eve_path);
    let rec = eve
        .iter()
        .find(|v| v["alert"]["signature_id"] == 1_995_010)
        .expect("eve alert");
    assert_eq!(rec["log"]["host"], "web01", "{rec}");
}

/// A connection opened and closed without a byte (a health check) is no
/// framing error: it is counted as an empty connection; one cut inside a
/// frame is a framing error.
#[test]
fn health_check_connections_are_counted_not_errors() {
    let rt = runtime();
    let cfg = config(&[ListenerProtocol::Tcp]);
    let r = start(&rt, &cfg, 16);
    let to = addr(&r.svc, "l0");
    for _ in 0..3 {
        drop(std::net::TcpStream::connect(to).expect("connect"));
    }
    let mut s = std::net::TcpStream::connect(to).expect("connect");
    s.write_all(b"<13>1 - h a - - - complete\n40 <13>1 - h a - - - cut")
        .expect("send");
    drop(s);
    wait_until(|| {
        let c = counters(&r.svc, "l0");
        c.connections == 4 && c.empty_connections == 3 && c.framing_errors == 1 && c.parsed == 1
    });
    let c = counters(&r.svc, "l0");
    assert_eq!((c.received, c.parsed), (1, 1));
    rt.block_on(r.svc.shutdown());
}
