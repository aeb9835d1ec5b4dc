//! Issue 4 (shipped rules and built-in detectors): against a fresh gen-pcap
//! capture of the public plan, every planted port scan, SSH brute force,
//! SYN flood, ICMP flood, web attack and DNS tunnel alerts on the right
//! addresses with the right taxonomy; the background raises no alert; the
//! records are the same for one and two workers; `-S` switches the
//! built-in detectors and the shipped rules off.

mod common;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::Path;

use common::*;
use serde_json::Value;

const KINDS: [&str; 6] = [
    "port_scan",
    "ssh_bruteforce",
    "syn_flood",
    "icmp_flood",
    "web_attack",
    "dns_tunnel",
];

/// Built-in detectors (docs/detectors.md).
const DETECTOR_SIDS: std::ops::RangeInclusive<u64> = 1_990_101..=1_990_199;
/// Shipped rules (rules/zoneguard.rules).
const RULE_SIDS: std::ops::RangeInclusive<u64> = 1_990_201..=1_990_999;

/// Replays `pcap` and returns the EVE records.
fn replay(pcap: &Path, out: &Path, workers: u32, extra: &[&str]) -> Vec<Value> {
    let mut args = vec![
        "replay",
        "-q",
        "-r",
        pcap.to_str().unwrap(),
        "-l",
        out.to_str().unwrap(),
    ];
    let w = workers.to_string();
    args.extend(["--workers", &w]);
    args.extend(extra);
    let o = zoneguard(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    read_jsonl(&out.join("eve.json"))
}

fn sid(a: &Value) -> u64 {
    a["alert"]["signature_id"].as_u64().unwrap_or(0)
}

fn taxonomy(a: &Value) -> &str {
    a["alert"]["metadata"]["taxonomy"][0].as_str().unwrap_or("")
}

fn v4(s: &str) -> Option<u32> {
    s.parse::<Ipv4Addr>().ok().map(u32::from)
}

/// Whether `ip` is the truth's `dst` (an address or an `a-b` range).
fn dst_matches(truth_dst: &str, ip: &str) -> bool {
    if let Some((a, b)) = truth_dst.split_once('-') {
        match (v4(a), v4(b), v4(ip)) {
            (Some(a), Some(b), Some(x)) => (a..=b).contains(&x),
            _ => false,
        }
    } else {
        truth_dst == ip
    }
}

/// Whether alert `a` is about planted event `ev`: its time inside the
/// event (a second of slack), and its source and destination the event's.
fn about(a: &Value, ev: &Value) -> bool {
    let t = ts_micros(a["timestamp"].as_str().unwrap());
    let first = ts_micros(ev["first_ts"].as_str().unwrap()) - 1_000_000;
    let last = ts_micros(ev["last_ts"].as_str().unwrap()) + 1_000_000;
    if t < first || t > last {
        return false;
    }
    let src = ev["src"].as_str().unwrap_or("");
    let dst = ev["dst"].as_str().unwrap_or("");
    let a_src = a["src_ip"].as_str();
    let a_dst = a["dest_ip"].as_str().unwrap_or("");
    let src_ok = match a_src {
        None => src == "spoofed",
        Some(s) => s == src || src == "spoofed",
    };
    src_ok && dst_matches(dst, a_dst)
}

/// Checks the alerts of one planted event; returns a description of what
/// is wrong, if anything.
fn check_event(alerts: &[&Value], ev: &Value) -> Result<(), String> {
    let id = ev["id"].as_str().unwrap_or("?");
    let kind = ev["kind"].as_str().unwrap_or("?");
    let cat = ev["category"].as_str().unwrap_or("?");
    let mine: Vec<&&Value> = alerts
        .iter()
        .filter(|a| taxonomy(a) == cat && about(a, ev))
        .collect();
    if mine.is_empty() {
        return Err(format!("{id} ({kind}): no alert with taxonomy {cat}"));
    }
    let detector: Vec<_> = mine
        .iter()
        .filter(|a| DETECTOR_SIDS.contains(&sid(a)))
        .collect();
    match kind {
        "web_attack" => {
            if !mine.iter().all(|a| RULE_SIDS.contains(&sid(a))) {
                return Err(format!("{id}: web attack alerts from elsewhere: {mine:?}"));
            }
            if mine.iter().any(|a| a["dest_port"] != ev["dport"]) {
                return Err(format!("{id}: wrong port"));
            }
        }
        _ => {
            if detector.len() != 1 {
                return Err(format!(
                    "{id} ({kind}): expected one detector alert per episode, got {}: {detector:?}",
                    detector.len()
                ));
            }
            let a = detector[0];
            if ev["src"] == "spoofed" && !a["src_ip"].is_null() {
                return Err(format!("{id}: a spoofed flood names a source: {a}"));
            }
            if ev["src"] != "spoofed" && a["src_ip"] != ev["src"] {
                return Err(format!("{id}: wrong source: {a}"));
            }
            if matches!(kind, "ssh_bruteforce" | "syn_flood") && a["dest_port"] != ev["dport"] {
                return Err(format!("{id}: wrong port: {a}"));
            }
            if ev["details"]["mode"] == "horizontal" && a["dest_port"] != ev["dport"] {
                return Err(format!("{id}: wrong port: {a}"));
            }
            if a["alert"]["metadata"]["evidence"]
                .as_array()
                .is_none_or(|e| e.is_empty())
            {
                return Err(format!("{id}: no evidence: {a}"));
            }
        }
    }
    Ok(())
}

fn alerts(eve: &[Value]) -> Vec<&Value> {
    of_type(eve, "alert")
}

/// Alert records as sorted JSON lines (to compare replays).
fn alert_lines(eve: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = alerts(eve).iter().map(|a| a.to_string()).collect();
    v.sort();
    v
}

/// (sid, src, dst) of every alert.
fn alert_keys(eve: &[Value]) -> BTreeSet<(u64, String, String)> {
    alerts(eve)
        .iter()
        .map(|a| {
            (
                sid(a),
                a["src_ip"].as_str().unwrap_or("-").to_string(),
                a["dest_ip"].as_str().unwrap_or("-").to_string(),
            )
        })
        .collect()
}

#[test]
fn planted_events_alert_and_background_is_silent() {
    let dir = tempfile::tempdir().unwrap();
    let (quiet_pcap, truth) = gen_pcap(dir.path(), "public.yaml", 11, 1, false);
    let (busy_pcap, truth_bg) = gen_pcap(dir.path(), "public.yaml", 11, 12, true);
    assert_eq!(truth, truth_bg, "planted events do not depend on the size");
    let events: Vec<&Value> = truth
        .iter()
        .filter(|e| KINDS.contains(&e["kind"].as_str().unwrap_or("")))
        .collect();
    assert!(events.len() >= 11, "the public plan plants every kind");

    let cfg = ["-c", "config/dehong-egov.yaml"];
    let q1 = replay(&quiet_pcap, &dir.path().join("q1"), 1, &cfg);
    let q2 = replay(&quiet_pcap, &dir.path().join("q2"), 2, &cfg);
    let b1 = replay(&busy_pcap, &dir.path().join("b1"), 1, &cfg);
    let b2 = replay(&busy_pcap, &dir.path().join("b2"), 2, &cfg);

    // identical records for one and two workers
    assert_eq!(alert_lines(&q1), alert_lines(&q2));
    assert_eq!(alert_lines(&b1), alert_lines(&b2));

    // every planted event of the six kinds alerts, with and without
    // background
    for eve in [&q1, &b1] {
        let al = alerts(eve);
        let errors: Vec<String> = events
            .iter()
            .filter_map(|ev| check_event(&al, ev).err())
            .collect();
        assert!(errors.is_empty(), "{errors:#?}");
    }

    // no alert of the detectors or shipped rules outside the planted events
    for a in alerts(&b1) {
        let s = sid(a);
        if DETECTOR_SIDS.contains(&s) || RULE_SIDS.contains(&s) {
            assert!(
                events.iter().any(|ev| about(a, ev)),
                "alert outside the planted events: {a}"
            );
        }
    }
    // and the background adds no alert at all, of any source
    assert_eq!(alert_keys(&q1), alert_keys(&b1));
}

#[test]
fn builtin_defaults_detect_and_dash_s_switches_off() {
    let dir = tempfile::tempdir().unwrap();
    let (pcap, truth) = gen_pcap(dir.path(), "public.yaml", 5, 1, false);
    // without -c: built-in defaults and the rules shipped in rules/
    let eve = replay(&pcap, &dir.path().join("d"), 2, &[]);
    let al = alerts(&eve);
    let errors: Vec<String> = truth
        .iter()
        .filter(|e| KINDS.contains(&e["kind"].as_str().unwrap_or("")))
        .filter_map(|ev| check_event(&al, ev).err())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // no zones: the detectors' alerts name none
    assert!(al
        .iter()
        .filter(|a| DETECTOR_SIDS.contains(&sid(a)))
        .all(|a| a["alert"]["metadata"].get("dest_zone").is_none()));

    // -S: only that file; no built-in detector, no shipped rule
    let only = dir.path().join("one.rules");
    std::fs::write(
        &only,
        "alert icmp any any -> any any (msg:\"icmp\"; itype:8; sid:9000001; rev:1;)\n",
    )
    .unwrap();
    let eve = replay(
        &pcap,
        &dir.path().join("s"),
        1,
        &["-S", only.to_str().unwrap()],
    );
    let sids: BTreeSet<u64> = alerts(&eve).iter().map(|a| sid(a)).collect();
    assert!(sids.contains(&9_000_001));
    assert!(
        !sids
            .iter()
            .any(|s| DETECTOR_SIDS.contains(s) || RULE_SIDS.contains(s)),
        "{sids:?}"
    );
}
