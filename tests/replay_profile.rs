//! `replay --profile-rules`: the per-rule profile written to
//! `DIR/rule_perf.json` agrees with the alerts of `DIR/eve.json`, and the
//! table of the costliest rules is printed on standard error.

mod common;

use std::collections::BTreeMap;

use serde_json::Value;

/// Rules over the sample capture: packet, stream and transaction rules
/// that match, one that is a candidate but never matches, one whose fast
/// pattern never occurs.
const RULES: &str = r#"
alert http any any -> any any (msg:"http GET"; flow:to_server; http.method; content:"GET"; sid:9001; rev:2;)
alert dns any any -> any any (msg:"dns query"; dns.query; content:"."; sid:9002;)
alert tcp any any -> any any (msg:"ssh banner"; content:"SSH-2.0"; sid:9003;)
alert tcp any any -> any any (msg:"GET then nothing"; content:"GET "; fast_pattern; content:"zz-no-such-bytes-zz"; distance:0; sid:9004;)
alert tcp any any -> any any (msg:"never a candidate"; content:"qq-never-in-this-capture-qq"; sid:9005;)
alert udp any any -> any 53 (msg:"udp to 53"; sid:9006;)
"#;

fn alerts_per_sid(eve: &[Value]) -> BTreeMap<u64, u64> {
    let mut m = BTreeMap::new();
    for r in common::of_type(eve, "alert") {
        if let Some(sid) = r["alert"]["signature_id"].as_u64() {
            *m.entry(sid).or_default() += 1;
        }
    }
    m
}

fn replay(dir: &std::path::Path, out: &str, extra: &[&str]) -> (std::path::PathBuf, String) {
    let rules = dir.join("t.rules");
    std::fs::write(&rules, RULES).expect("write rules");
    let pcap = common::repo().join("samples/dehong-sample.pcap");
    let out = dir.join(out);
    let mut args = vec![
        "replay",
        "-S",
        rules.to_str().expect("utf-8"),
        "-r",
        pcap.to_str().expect("utf-8"),
        "-l",
        out.to_str().expect("utf-8"),
    ];
    args.extend_from_slice(extra);
    let o = common::zoneguard(&args);
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{stderr}");
    (out, stderr)
}

#[test]
fn profile_counts_agree_with_eve() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (out, stderr) = replay(
        dir.path(),
        "prof",
        &[
            "--workers",
            "2",
            "--profile-rules",
            "--profile-rules-top",
            "3",
        ],
    );
    let eve = common::read_jsonl(&out.join("eve.json"));
    let alerts = alerts_per_sid(&eve);
    let perf: Value = serde_json::from_slice(
        &std::fs::read(out.join("rule_perf.json")).expect("rule_perf.json written"),
    )
    .expect("rule_perf.json is JSON");
    let rules = perf["rules"].as_array().expect("rules array");
    assert_eq!(perf["rules_checked"].as_u64(), Some(rules.len() as u64));
    let mut by_sid = BTreeMap::new();
    for r in rules {
        let sid = r["sid"].as_u64().expect("sid");
        let checks = r["checks"].as_u64().expect("checks");
        let matches = r["matches"].as_u64().expect("matches");
        assert!(checks >= matches, "{r}");
        assert!(checks > 0, "only checked rules are listed: {r}");
        assert!(r["max_ns"].as_u64() <= r["total_ns"].as_u64(), "{r}");
        assert!(r["avg_ns"].as_u64() <= r["max_ns"].as_u64(), "{r}");
        assert_eq!(r["gid"].as_u64(), Some(1));
        by_sid.insert(sid, (checks, matches, r.clone()));
    }
    // sorted by total time, costliest first
    let totals: Vec<u64> = rules
        .iter()
        .filter_map(|r| r["total_ns"].as_u64())
        .collect();
    assert!(totals.windows(2).all(|w| w[0] >= w[1]), "{totals:?}");
    // the rules that alert: matches equal their alerts in eve.json
    for sid in [9001u64, 9002, 9003, 9006] {
        let n = alerts.get(&sid).copied().unwrap_or(0);
        assert!(n > 0, "sid {sid} alerts on the sample: {alerts:?}");
        let (_, matches, _) = by_sid.get(&sid).expect("alerting rule is profiled");
        assert_eq!(*matches, n, "sid {sid}");
    }
    assert_eq!(by_sid[&9001].2["rev"].as_u64(), Some(2));
    assert_eq!(by_sid[&9001].2["msg"].as_str(), Some("http GET"));
    // a candidate that never matches: checked, no match, no alert
    let (checks, matches, _) = by_sid.get(&9004).expect("sid 9004 is a candidate");
    assert!(*checks > 0 && *matches == 0);
    assert!(!alerts.contains_key(&9004));
    // never a candidate: absent
    assert!(!by_sid.contains_key(&9005), "{:?}", by_sid.keys());
    // the table: bilingual header, 3 rows
    assert!(
        stderr.contains("rule profile / 规则性能分析: top 3 of 5 rules checked"),
        "{stderr}"
    );
    assert!(stderr.contains("检查次数"), "{stderr}");
    assert!(stderr.contains("rule_perf.json"), "{stderr}");

    // profiling changes no record: the same alerts without it
    let (plain, stderr) = replay(dir.path(), "plain", &["--workers", "2"]);
    assert_eq!(
        alerts_per_sid(&common::read_jsonl(&plain.join("eve.json"))),
        alerts
    );
    assert!(!plain.join("rule_perf.json").exists());
    assert!(!stderr.contains("规则性能分析"), "{stderr}");
}
