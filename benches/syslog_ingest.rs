//! End-to-end syslog ingest: one loopback TCP connection into the log
//! service (listener, framing, batches, a worker thread parsing, decoding
//! and running the shipped Sigma rules, alerts to a channel and to a real
//! eve.json), with a Rust sender in this process writing pre-formatted
//! messages as fast as the connection takes them.
//!
//! ```sh
//! cargo bench --bench syslog_ingest            # 2 000 000 messages per run, 3 runs per framing
//! ZG_INGEST_MESSAGES=5000000 ZG_INGEST_RUNS=5 cargo bench --bench syslog_ingest
//! ```
//!
//! Messages: gen-syslog with `shared/tools/plans/syslog-public.yaml`
//! (seed 1, 200 000 mixed RFC 3164 / RFC 5424 lines of the reference
//! network, planted attacks included), repeated until the count is
//! reached; config `config/dehong-egov.yaml` (host names, admins). Falls
//! back to the loghub OpenSSH log when gen-syslog cannot run. Prints, per
//! run, messages/s and what the service received, parsed and matched;
//! a run with any loss (received or processed ≠ sent) fails the bench.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use zoneguard::config::Config;
use zoneguard::output::{EveWriter, EventTypes};
use zoneguard::syslog::config::{ListenerConfig, ListenerProtocol};
use zoneguard::syslog::service::{load_rules, LogService};

fn shared() -> PathBuf {
    std::env::var_os("ZONEGUARD_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared")))
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn lines(path: &Path) -> Vec<Vec<u8>> {
    std::fs::read(path)
        .map(|d| {
            d.split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .map(<[u8]>::to_vec)
                .collect()
        })
        .unwrap_or_default()
}

fn messages(dir: &Path) -> (Vec<Vec<u8>>, &'static str) {
    let out = dir.join("gen.log");
    let ok = std::process::Command::new(shared().join("tools/gen-syslog"))
        .arg("--plan")
        .arg(shared().join("tools/plans/syslog-public.yaml"))
        .args(["--seed", "1", "--lines", "200000", "--out"])
        .arg(&out)
        .arg("--truth")
        .arg(dir.join("gen.jsonl"))
        .status()
        .is_ok_and(|s| s.success());
    let l = if ok { lines(&out) } else { Vec::new() };
    if !l.is_empty() {
        return (l, "gen-syslog syslog-public seed 1, 200 000 lines");
    }
    (
        lines(&shared().join("corpus/syslog/loghub/OpenSSH/OpenSSH_2k.log")),
        "loghub OpenSSH_2k",
    )
}

fn stream(msgs: &[Vec<u8>], octet: bool) -> Vec<u8> {
    let mut s = Vec::with_capacity(msgs.iter().map(|m| m.len() + 8).sum());
    for m in msgs {
        if octet {
            s.extend_from_slice(m.len().to_string().as_bytes());
            s.push(b' ');
            s.extend_from_slice(m);
        } else {
            s.extend_from_slice(m);
            s.push(b'\n');
        }
    }
    s
}

struct Run {
    secs: f64,
    received: u64,
    parsed: u64,
    unparseable: u64,
    alerts: u64,
    dropped: u64,
}

fn run_once(
    cfg: &Config,
    rules: &Arc<zoneguard::logrules::RuleSet>,
    data: &Arc<Vec<u8>>,
    per_pass: u64,
    passes: u64,
) -> Run {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let eve = Arc::new(
        EveWriter::create(&dir.path().join("eve.json"), EventTypes::all()).expect("eve.json"),
    );
    let (tx, rx) = crossbeam_channel::bounded(1 << 16);
    let svc = LogService::start(rt.handle(), cfg, rules.clone(), tx, eve).expect("service");
    let addr = svc.local_addrs().first().map(|x| x.1).expect("listener");
    let total = per_pass * passes;
    let data2 = data.clone();
    let start = Instant::now();
    let sender = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        for _ in 0..passes {
            s.write_all(&data2).expect("send");
        }
    });
    // Drain the alert channel as the daemon would.
    let drain = std::thread::spawn(move || rx.iter().count() as u64);
    let limit = Duration::from_secs(600);
    loop {
        let c = svc.stats().into_iter().next().expect("counters");
        if c.parsed + c.unparseable >= total || start.elapsed() > limit {
            break;
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    let secs = start.elapsed().as_secs_f64();
    let _ = sender.join();
    let c = svc.stats().into_iter().next().expect("counters");
    rt.block_on(svc.shutdown());
    let alerts = drain.join().unwrap_or(0);
    Run {
        secs,
        received: c.received,
        parsed: c.parsed,
        unparseable: c.unparseable,
        alerts,
        dropped: c.dropped,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: run
    // a small smoke version then.
    let bench = std::env::args().any(|a| a == "--bench");
    let want = env_u64("ZG_INGEST_MESSAGES", if bench { 2_000_000 } else { 20_000 });
    let runs = env_u64("ZG_INGEST_RUNS", if bench { 3 } else { 1 });
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut cfg = Config::load(&root.join("config/dehong-egov.yaml")).expect("config");
    cfg.rules.sigma_directories = vec![root.join("rules/sigma")];
    cfg.syslog.listeners = vec![ListenerConfig::new(
        "bench",
        ListenerProtocol::Tcp,
        "127.0.0.1:0".parse().expect("addr"),
    )];
    let rules = Arc::new(load_rules(&cfg).expect("rules"));
    let dir = tempfile::tempdir().expect("tempdir");
    let (msgs, what) = messages(dir.path());
    assert!(!msgs.is_empty(), "no input messages");
    let per_pass = msgs.len() as u64;
    let passes = want.div_ceil(per_pass).max(1);
    let total = per_pass * passes;
    println!(
        "syslog_ingest: {what}; {total} messages per run ({passes} passes), one TCP connection, {} rules",
        rules.rules.len()
    );
    for (name, octet) in [("octet-counting", true), ("LF", false)] {
        let data = Arc::new(stream(&msgs, octet));
        let mut best = 0.0f64;
        for i in 0..runs {
            let r = run_once(&cfg, &rules, &data, per_pass, passes);
            let rate = total as f64 / r.secs;
            best = best.max(rate);
            println!(
                "  {name:15} run {i}: {:.3} s, {:>9.0} msg/s; received {} parsed {} unparseable {} dropped {} alerts {}",
                r.secs, rate, r.received, r.parsed, r.unparseable, r.dropped, r.alerts
            );
            assert_eq!(r.received, total, "loss: received != sent");
            assert_eq!(r.parsed + r.unparseable, total, "loss: processed != sent");
            assert_eq!(r.dropped, 0);
        }
        println!("  {name:15} best: {best:.0} msg/s");
    }
}
