//! Suricata-verify conformance: every case of
//! shared/corpus/suricata-verify is replayed with only its rule file
//! (`zoneguard replay -S test.rules -r PCAP --workers 1 -k none`, no
//! config) and its alerts compared with `expected.json`: the exact count
//! per sid, the total where stated, and the alert filters on simple
//! `alert.*` fields. Cases that do not pass yet are listed in
//! [`KNOWN_FAILURES`] with the reason; the same list is in
//! docs/conformance.md. A listed case that starts to pass fails the test
//! too, so the list stays honest.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

/// Cases that do not pass, with the reason (kept in docs/conformance.md).
const KNOWN_FAILURES: &[(&str, &str)] = &[(
    "bug-6402-01",
    "Geneve (UDP 6081) is not decoded: the inner packets the rules alert on are never seen",
)];

/// Checks one case; Err(why) on a mismatch.
fn run_case(dir: &Path, out: &Path) -> Result<(), String> {
    let exp: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("expected.json"))
            .map_err(|e| format!("expected.json: {e}"))?,
    )
    .map_err(|e| format!("expected.json: {e}"))?;
    let pcap = exp["pcap"].as_str().ok_or("expected.json: no pcap")?;
    let rules = dir.join("test.rules");
    let pcap = dir.join(pcap);
    let o = common::zoneguard(&[
        "replay",
        "-q",
        "-S",
        rules.to_str().ok_or("path")?,
        "-r",
        pcap.to_str().ok_or("path")?,
        "-l",
        out.to_str().ok_or("path")?,
        "--workers",
        "1",
        "-k",
        "none",
    ]);
    // A capture that breaks off (a fuzzed pcap) still has its first
    // packets processed and written, as Suricata does; compare those.
    if !o.status.success() && !out.join("eve.json").is_file() {
        return Err(format!(
            "exit {:?}: {}",
            o.status.code(),
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ));
    }
    let eve = common::read_jsonl(&out.join("eve.json"));
    let alerts = common::of_type(&eve, "alert");
    let mut per_sid: BTreeMap<u64, u64> = BTreeMap::new();
    for a in &alerts {
        *per_sid
            .entry(a["alert"]["signature_id"].as_u64().unwrap_or(0))
            .or_default() += 1;
    }
    let mut why = Vec::new();
    for e in exp["alerts"].as_array().into_iter().flatten() {
        let sid = e["sid"].as_u64().unwrap_or(0);
        let want = e["count"].as_u64().unwrap_or(0);
        let got = per_sid.get(&sid).copied().unwrap_or(0);
        if got != want {
            why.push(format!("sid {sid}: {got} != {want}"));
        }
    }
    if let Some(t) = exp["alerts_total"].as_u64() {
        if alerts.len() as u64 != t {
            why.push(format!("total {} != {t}", alerts.len()));
        }
    }
    // alert filters on fields we write the same way as Suricata
    for f in exp["alert_filters"].as_array().into_iter().flatten() {
        let Some(m) = f["match"].as_object() else {
            continue;
        };
        let checkable = m.keys().all(|k| {
            matches!(
                k.as_str(),
                "event_type"
                    | "alert.signature_id"
                    | "alert.gid"
                    | "alert.rev"
                    | "alert.signature"
                    | "alert.action"
                    | "src_ip"
                    | "dest_ip"
                    | "src_port"
                    | "dest_port"
                    | "pcap_cnt"
            )
        });
        if !checkable {
            continue;
        }
        let want = f["count"].as_u64().unwrap_or(0);
        let got = alerts
            .iter()
            .filter(|a| {
                m.iter().all(|(k, v)| {
                    let mut cur: &Value = a;
                    for part in k.split('.') {
                        cur = &cur[part];
                    }
                    cur == v
                })
            })
            .count() as u64;
        if got != want {
            why.push(format!(
                "filter {}: {got} != {want}",
                Value::Object(m.clone())
            ));
        }
    }
    if why.is_empty() {
        Ok(())
    } else {
        Err(why.join("; "))
    }
}

#[test]
fn suricata_verify_alerts() {
    let root = common::shared().join("corpus/suricata-verify");
    let Ok(rd) = std::fs::read_dir(&root) else {
        eprintln!("no corpus at {}; skipped", root.display());
        return;
    };
    let mut cases: Vec<_> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("expected.json").is_file())
        .collect();
    cases.sort();
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut bad = Vec::new();
    let mut passed = 0;
    println!("{:<55} {:<6} why", "case", "result");
    for c in &cases {
        let name = c
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_string();
        let out = tmp.path().join(&name);
        let r = run_case(c, &out);
        let known = KNOWN_FAILURES.iter().find(|(n, _)| *n == name);
        match (&r, known) {
            (Ok(()), None) => {
                passed += 1;
                println!("{name:<55} pass");
            }
            (Ok(()), Some(_)) => {
                println!("{name:<55} PASS   listed as known failure: remove it from the list");
                bad.push(format!("{name}: passes but is listed as a known failure"));
            }
            (Err(w), Some((_, reason))) => {
                println!("{name:<55} known  {w} ({reason})");
            }
            (Err(w), None) => {
                println!("{name:<55} FAIL   {w}");
                bad.push(format!("{name}: {w}"));
            }
        }
    }
    println!(
        "{passed}/{} cases pass, {} known failures",
        cases.len(),
        KNOWN_FAILURES.len()
    );
    let doc =
        std::fs::read_to_string(common::repo().join("docs/conformance.md")).unwrap_or_default();
    for (n, _) in KNOWN_FAILURES {
        if !doc.contains(n) {
            bad.push(format!("{n}: not listed in docs/conformance.md"));
        }
    }
    assert!(bad.is_empty(), "suricata-verify: {}", bad.join("\n"));
}
