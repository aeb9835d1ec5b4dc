//! Log rules over the shared corpora: loghub OpenSSH_2k against its ground
//! truth, gen-syslog's planted events, and the SigmaHQ rule sets.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use zoneguard::alert::Alert;
use zoneguard::config::Config;
use zoneguard::logrules::replay::replay_message;
use zoneguard::logrules::{
    replay_log_file, Engine, LoadOptions, ReplayOptions, ReplayStats, Rule, RuleSet,
};
use zoneguard::syslog::ParseOptions;

const SHARED: &str = "/work/shared";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn config() -> Config {
    Config::load(&root().join("config/dehong-egov.yaml")).expect("config loads")
}

fn shipped(opts: &LoadOptions) -> RuleSet {
    let mut set = RuleSet::new();
    set.load_path(&root().join("rules/sigma"), opts)
        .expect("rules/sigma readable");
    assert!(
        set.report.rejected.is_empty(),
        "shipped rules rejected: {:#?}",
        set.report.rejected
    );
    set
}

fn corpus_present(p: &Path) -> bool {
    if p.exists() {
        true
    } else {
        eprintln!("skipping: {} not present", p.display());
        false
    }
}

/// OpenSSH_2k: year-less lines, one day; receive time 2015-12-31, UTC.
fn openssh_opts() -> ReplayOptions {
    ReplayOptions {
        parse: ParseOptions::default().received_at_unix(1_451_520_000),
        hosts: Default::default(),
        max_message_size: 64 * 1024,
    }
}

#[test]
fn openssh_failed_logins_per_source_match_ground_truth() {
    let log = Path::new(SHARED).join("corpus/syslog/loghub/OpenSSH/OpenSSH_2k.log");
    if !corpus_present(&log) {
        return;
    }
    // Base rules alone (no correlations) emit one alert per matching line.
    let set = shipped(&LoadOptions::from_config(&config()));
    let mut base = RuleSet::new();
    base.rules = set
        .rules
        .into_iter()
        .filter(|r| matches!(r, Rule::Detection(_)))
        .collect();
    let mut engine = Engine::new(base);
    let (alerts, stats) = replay_log_file(&log, &mut engine, &openssh_opts()).expect("replay");
    assert_eq!(stats.lines, 2000);
    assert_eq!(stats.unparseable, 0, "{stats:?}");
    let mut per_src: BTreeMap<String, u32> = BTreeMap::new();
    let mut invalid_probes: BTreeMap<String, u32> = BTreeMap::new();
    for a in &alerts {
        let src = a.addrs.src_ip.map(|i| i.to_string()).unwrap_or_default();
        match a.sid {
            1995001 => *per_src.entry(src).or_default() += 1,
            1995003 => *invalid_probes.entry(src).or_default() += 1,
            _ => {}
        }
    }
    let expected: &[(&str, u32)] = &[
        ("183.62.140.253", 286),
        ("187.141.143.180", 80),
        ("103.99.0.122", 46),
        ("112.95.230.3", 26),
        ("5.188.10.180", 18),
        ("185.190.58.151", 17),
        ("123.235.32.19", 7),
        ("119.4.203.64", 6),
        ("52.80.34.196", 5),
        ("60.2.12.12", 5),
        ("103.207.39.16", 3),
        ("103.207.39.212", 3),
        ("104.192.3.34", 2),
        ("173.234.31.186", 2),
        ("183.136.162.51", 2),
        ("195.154.37.122", 2),
        ("202.100.179.208", 2),
        ("103.207.39.165", 1),
        ("106.5.5.195", 1),
        ("175.102.13.6", 1),
        ("191.210.223.172", 1),
        ("5.36.59.76", 1),
        ("88.147.143.242", 1),
    ];
    let want: BTreeMap<String, u32> = expected
        .iter()
        .map(|(s, n)| ((*s).to_owned(), *n))
        .collect();
    assert_eq!(per_src, want);
    assert_eq!(per_src.values().sum::<u32>(), 518);
    assert_eq!(invalid_probes.values().sum::<u32>(), 113);
    assert_eq!(invalid_probes.get("103.99.0.122"), Some(&35));
}

#[test]
fn openssh_fast_bruteforce_flags_exactly_nine_sources() {
    let log = Path::new(SHARED).join("corpus/syslog/loghub/OpenSSH/OpenSSH_2k.log");
    if !corpus_present(&log) {
        return;
    }
    let mut engine = Engine::new(shipped(&LoadOptions::from_config(&config())));
    let (alerts, _) = replay_log_file(&log, &mut engine, &openssh_opts()).expect("replay");
    let mut per_sid: BTreeMap<u32, usize> = BTreeMap::new();
    for a in &alerts {
        *per_sid.entry(a.sid).or_default() += 1;
    }
    eprintln!("OpenSSH_2k alerts per sid: {per_sid:?}");
    let flagged: BTreeSet<String> = alerts
        .iter()
        .filter(|a| a.sid == 1995010)
        .filter_map(|a| a.addrs.src_ip.map(|i| i.to_string()))
        .collect();
    let want: BTreeSet<String> = [
        "183.62.140.253",
        "187.141.143.180",
        "103.99.0.122",
        "112.95.230.3",
        "5.188.10.180",
        "185.190.58.151",
        "123.235.32.19",
        "119.4.203.64",
        "60.2.12.12",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    assert_eq!(flagged, want);
    for a in alerts.iter().filter(|a| a.sid == 1995010) {
        assert_eq!(a.taxonomy(), Some("network_attack/brute_force"));
        assert_eq!(a.severity, 1);
        let log = a.log.as_ref().expect("log info");
        assert_eq!(log.host.as_deref(), Some("LabSZ"));
        assert_eq!(log.program.as_deref(), Some("sshd"));
        assert!(
            log.message.starts_with("Failed password"),
            "{}",
            log.message
        );
    }
    // The success after failures: 1 accepted login in the log, not after
    // failures from the same address.
    assert!(alerts.iter().all(|a| a.sid != 1995021));
}

struct Truth {
    id: String,
    category: String,
    lines: BTreeSet<usize>,
}

fn read_truth(path: &Path) -> Vec<Truth> {
    let text = std::fs::read_to_string(path).expect("truth");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("truth json");
            Truth {
                id: v["id"].as_str().unwrap_or_default().to_owned(),
                category: v["category"].as_str().unwrap_or_default().to_owned(),
                lines: v["line_numbers"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|n| n.as_u64().map(|n| n as usize))
                            .collect()
                    })
                    .unwrap_or_default(),
            }
        })
        .collect()
}

/// Replay a file line by line, returning each alert with its 1-based line.
fn replay_lines(path: &Path, engine: &mut Engine, opts: &ReplayOptions) -> Vec<(usize, Alert)> {
    let text = std::fs::read(path).expect("log");
    let mut stats = ReplayStats::default();
    let mut out = Vec::new();
    let mut tagged = Vec::new();
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        replay_message(line, engine, opts, &mut stats, &mut out);
        tagged.extend(out.drain(..).map(|a| (i + 1, a)));
    }
    assert_eq!(stats.unparseable, 0, "{stats:?}");
    tagged
}

#[test]
fn gen_syslog_planted_events_alert_and_background_does_not() {
    let tool = Path::new(SHARED).join("tools/gen-syslog");
    let plan = Path::new(SHARED).join("tools/plans/syslog-public.yaml");
    if !corpus_present(&tool) || !corpus_present(&plan) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("g.log");
    let truth = dir.path().join("g.jsonl");
    let status = std::process::Command::new(&tool)
        .arg("--plan")
        .arg(&plan)
        .args(["--seed", "1", "--lines", "20000", "--out"])
        .arg(&log)
        .arg("--truth")
        .arg(&truth)
        .status();
    match status {
        Ok(s) if s.success() => {}
        other => {
            eprintln!("skipping: gen-syslog did not run: {other:?}");
            return;
        }
    }
    let cfg = config();
    let opts = LoadOptions::from_config(&cfg);
    let mut engine = Engine::new(shipped(&opts));
    // Receive time: the end of the plan's hour (2026-11-02T02:00:00Z).
    let ropts = ReplayOptions::from_config(&cfg, 1_793_584_800);
    let alerts = replay_lines(&log, &mut engine, &ropts);
    let events = read_truth(&truth);
    assert_eq!(events.len(), 16);
    let mut planted_lines = BTreeSet::new();
    for e in &events {
        planted_lines.extend(e.lines.iter().copied());
        let hit = alerts
            .iter()
            .any(|(l, a)| e.lines.contains(l) && a.taxonomy() == Some(e.category.as_str()));
        assert!(
            hit,
            "planted event {} ({}) raised no alert",
            e.id, e.category
        );
    }
    for (l, a) in &alerts {
        assert!(
            planted_lines.contains(l),
            "background line {l} raised {} (sid {}): {:?}",
            a.signature,
            a.sid,
            a.log
        );
        assert_eq!(a.gid, 1);
        assert!(a.log.is_some());
        // Host names map to addresses: dest_ip is the logging host unless the
        // line names a destination.
        assert!(a.addrs.dest_ip.is_some(), "{a:?}");
    }
    // The sudo-to-root rule names the configured admins: ops is one.
    let sr: Vec<_> = alerts.iter().filter(|(_, a)| a.sid == 1995031).collect();
    assert!(!sr.is_empty());
    // Brute force from 185.220.101.34 on portal-web01 (10.10.1.10): the
    // alert names both ends and the zone.
    let bf = alerts
        .iter()
        .find(|(_, a)| {
            a.sid == 1995010 && a.addrs.src_ip == "185.220.101.34".parse::<IpAddr>().ok()
        })
        .expect("fast brute force alert");
    assert_eq!(bf.1.addrs.dest_ip, "10.10.1.10".parse::<IpAddr>().ok());
    assert!(bf.1.metadata.iter().any(|(k, _)| &**k == "zone"));
}

#[test]
fn sigmahq_rules_load_or_are_rejected_with_reasons() {
    let base = Path::new(SHARED).join("corpus/rules/sigma");
    if !corpus_present(&base) {
        return;
    }
    let mut set = RuleSet::new();
    let opts = LoadOptions::default();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&base)
        .expect("sigma dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("rules"))
        })
        .collect();
    dirs.sort();
    for d in &dirs {
        set.load_path(d, &opts).expect("readable");
    }
    let engine = Engine::new(set);
    let r = engine.report();
    eprintln!(
        "SigmaHQ: {} files, {} loaded, {} rejected",
        r.files,
        r.loaded,
        r.rejected.len()
    );
    for (reason, n) in r.by_reason() {
        eprintln!("  {n:5}  {reason}");
    }
    assert!(r.files > 0);
    assert!(r.loaded > 0, "no SigmaHQ rule loaded");
    assert_eq!(r.loaded + r.rejected.len(), count_docs(&dirs));
    for rej in &r.rejected {
        if !rej
            .error
            .reason_key()
            .starts_with("logsource not collected")
        {
            eprintln!("  {rej}");
        }
        assert!(!rej.file.is_empty());
        assert!(!rej.error.to_string().is_empty());
    }
}

/// Rule documents under the directories (non-empty YAML documents).
fn count_docs(dirs: &[PathBuf]) -> usize {
    fn walk(p: &Path, n: &mut usize) {
        if p.is_dir() {
            if let Ok(rd) = std::fs::read_dir(p) {
                for e in rd.flatten() {
                    walk(&e.path(), n);
                }
            }
        } else if p.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            if let Ok(t) = std::fs::read_to_string(p) {
                *n += t
                    .split("\n---")
                    .filter(|d| {
                        d.lines()
                            .any(|l| !l.trim().is_empty() && !l.starts_with('#'))
                    })
                    .count();
            }
        }
    }
    let mut n = 0;
    for d in dirs {
        walk(d, &mut n);
    }
    n
}

/// Throughput of parse + decode + shipped rules (run in release:
/// `cargo test --release --test logrules_corpus throughput -- --ignored --nocapture`).
#[test]
#[ignore = "measurement; run in release"]
fn throughput() {
    let cfg = config();
    let opts = LoadOptions::from_config(&cfg);
    let dir = tempfile::tempdir().expect("tempdir");
    let gen = dir.path().join("g.log");
    let ok = std::process::Command::new(Path::new(SHARED).join("tools/gen-syslog"))
        .arg("--plan")
        .arg(Path::new(SHARED).join("tools/plans/syslog-public.yaml"))
        .args(["--seed", "1", "--lines", "200000", "--out"])
        .arg(&gen)
        .arg("--truth")
        .arg(dir.path().join("g.jsonl"))
        .status()
        .is_ok_and(|s| s.success());
    let openssh = Path::new(SHARED).join("corpus/syslog/loghub/OpenSSH/OpenSSH_2k.log");
    let mut inputs = vec![("OpenSSH_2k x50", openssh, 1_451_520_000, 50)];
    if ok {
        inputs.push(("gen-syslog 200k", gen, 1_793_584_800, 1));
    }
    for (name, path, received, reps) in inputs {
        let data = std::fs::read(&path).expect("input");
        let ropts = ReplayOptions::from_config(&cfg, received);
        let mut engine = Engine::new(shipped(&opts));
        let start = std::time::Instant::now();
        let mut stats = ReplayStats::default();
        let mut alerts = 0usize;
        let mut out = Vec::new();
        for _ in 0..reps {
            for l in data.split(|&b| b == b'\n') {
                replay_message(l, &mut engine, &ropts, &mut stats, &mut out);
                alerts += out.len();
                out.clear();
            }
        }
        let secs = start.elapsed().as_secs_f64();
        eprintln!(
            "{name}: {} lines in {secs:.3} s = {:.0} lines/s ({alerts} alerts, {} rule evaluations)",
            stats.lines,
            stats.lines as f64 / secs,
            engine.stats().evaluations
        );
    }
}

#[test]
fn sigma_spec_correlation_examples() {
    let dir = Path::new(SHARED).join("corpus/rules/sigma/spec/tests/schema/correlation");
    if !corpus_present(&dir) {
        return;
    }
    let mut set = RuleSet::new();
    set.load_path(&dir, &LoadOptions::default())
        .expect("readable");
    let r = &set.report;
    for rej in &r.rejected {
        eprintln!("  {rej}");
    }
    // event_count, value_count, temporal, temporal_ordered load; value_sum,
    // value_avg, value_percentile are not implemented; event_count_ecs
    // groups by an ECS field (dns.question.name) no decoder produces.
    assert_eq!(r.loaded, 4, "{:#?}", r.rejected);
    assert_eq!(r.rejected.len(), 4);
    let unsupported = r
        .rejected
        .iter()
        .filter(|x| matches!(x.error, zoneguard::logrules::RuleError::Unsupported(_)))
        .count();
    assert_eq!(unsupported, 3);
}

#[test]
fn sigmahq_legacy_aggregations_are_rejected() {
    let dir = Path::new(SHARED).join("corpus/rules/sigma/unsupported");
    if !corpus_present(&dir) {
        return;
    }
    let mut set = RuleSet::new();
    set.load_path(&dir, &LoadOptions::default())
        .expect("readable");
    let r = &set.report;
    eprintln!(
        "SigmaHQ unsupported/: {} loaded, {} rejected",
        r.loaded,
        r.rejected.len()
    );
    for (reason, n) in r.by_reason() {
        eprintln!("  {n:5}  {reason}");
    }
    assert!(r.rejected.len() + r.loaded > 0);
}

#[test]
fn sigmahq_rules_stay_quiet_on_reference_background() {
    let base = Path::new(SHARED).join("corpus/rules/sigma");
    let tool = Path::new(SHARED).join("tools/gen-syslog");
    if !corpus_present(&base) || !corpus_present(&tool) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("g.log");
    let ok = std::process::Command::new(&tool)
        .arg("--plan")
        .arg(Path::new(SHARED).join("tools/plans/syslog-public.yaml"))
        .args(["--seed", "2", "--lines", "20000", "--out"])
        .arg(&log)
        .arg("--truth")
        .arg(dir.path().join("g.jsonl"))
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("skipping: gen-syslog did not run");
        return;
    }
    let mut set = RuleSet::new();
    for d in ["rules", "rules-emerging-threats", "rules-threat-hunting"] {
        set.load_path(&base.join(d), &LoadOptions::default())
            .expect("readable");
    }
    let cfg = config();
    let mut engine = Engine::new(set);
    let ropts = ReplayOptions::from_config(&cfg, 1_793_584_800);
    let alerts = replay_lines(&log, &mut engine, &ropts);
    let truth = read_truth(&dir.path().join("g.jsonl"));
    let planted: BTreeSet<usize> = truth.iter().flat_map(|t| t.lines.iter().copied()).collect();
    for (l, a) in &alerts {
        eprintln!(
            "line {l} planted={} sid {} {}: {:?}",
            planted.contains(l),
            a.sid,
            a.signature,
            a.log
        );
    }
    assert!(alerts.iter().all(|(l, _)| planted.contains(l)));
}
