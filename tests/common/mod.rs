//! Shared helpers of the integration tests: the generators in ../shared,
//! running the real binary, reading eve.json.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The read-only shared folder beside the checkout (override with
/// ZONEGUARD_SHARED).
pub fn shared() -> PathBuf {
    if let Ok(p) = std::env::var("ZONEGUARD_SHARED") {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared")
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The zoneguard binary built for this test run.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_zoneguard"))
}

/// Runs zoneguard with `args`.
pub fn zoneguard(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .current_dir(repo())
        .output()
        .expect("run zoneguard")
}

/// Generates a capture with gen-pcap; returns (pcap, ground truth).
pub fn gen_pcap(
    dir: &Path,
    plan: &str,
    seed: u32,
    size_mb: u32,
    background: bool,
) -> (PathBuf, Vec<Value>) {
    let pcap = dir.join(format!("gen-{seed}-{size_mb}.pcap"));
    let truth = dir.join(format!("gen-{seed}-{size_mb}.jsonl"));
    let sh = shared();
    let mut cmd = Command::new(sh.join("tools/gen-pcap"));
    cmd.arg("--topology")
        .arg(sh.join("topology/dehong-egov.yaml"))
        .arg("--plan")
        .arg(sh.join("tools/plans").join(plan))
        .args([
            "--seed",
            &seed.to_string(),
            "--size-mb",
            &size_mb.to_string(),
            "--quiet",
        ])
        .arg("--out")
        .arg(&pcap)
        .arg("--truth")
        .arg(&truth);
    if !background {
        cmd.arg("--no-background");
    }
    let out = cmd.output().expect("run gen-pcap");
    assert!(
        out.status.success(),
        "gen-pcap failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (pcap, read_jsonl(&truth))
}

/// Generates a syslog file with gen-syslog; returns (log, ground truth).
pub fn gen_syslog(dir: &Path, plan: &str, seed: u32, lines: u32) -> (PathBuf, Vec<Value>) {
    let log = dir.join(format!("gen-syslog-{seed}-{lines}.log"));
    let truth = dir.join(format!("gen-syslog-{seed}-{lines}.jsonl"));
    let sh = shared();
    let out = Command::new(sh.join("tools/gen-syslog"))
        .arg("--plan")
        .arg(sh.join("tools/plans").join(plan))
        .args(["--seed", &seed.to_string(), "--lines", &lines.to_string()])
        .arg("--out")
        .arg(&log)
        .arg("--truth")
        .arg(&truth)
        .output()
        .expect("run gen-syslog");
    assert!(
        out.status.success(),
        "gen-syslog failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (log, read_jsonl(&truth))
}

/// Reads a JSON-lines file.
pub fn read_jsonl(p: &Path) -> Vec<Value> {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

/// Records of one event type.
pub fn of_type<'a>(eve: &'a [Value], t: &str) -> Vec<&'a Value> {
    eve.iter().filter(|r| r["event_type"] == t).collect()
}

/// Parses an RFC 3339 / EVE timestamp to microseconds since the epoch.
pub fn ts_micros(s: &str) -> i64 {
    let dt = chrono::DateTime::parse_from_rfc3339(s)
        .or_else(|_| chrono::DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .unwrap_or_else(|e| panic!("bad timestamp {s}: {e}"));
    dt.timestamp_micros()
}
