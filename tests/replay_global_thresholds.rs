//! Thresholds, detection filters and rate filters tracked by address or
//! rule are global across workers (as Suricata's threshold table is):
//! `--workers 2` gives the same number of alerts per rule, source and
//! action as `--workers 1`, though flows of one source land on both
//! workers.

mod common;

use std::collections::BTreeMap;

/// The windows are longer than the capture, so the counts do not depend
/// on the order in which the workers reach the shared counters.
const RULES: &str = r#"
alert tcp any any -> any any (msg:"syn"; flags:S,CE; sid:8001;)
alert tcp any any -> any any (msg:"syn limit"; flags:S,CE; threshold:type limit, track by_src, count 3, seconds 100000000; sid:8002;)
alert tcp any any -> any any (msg:"syn threshold"; flags:S,CE; threshold:type threshold, track by_dst, count 4, seconds 100000000; sid:8003;)
alert tcp any any -> any any (msg:"syn both"; flags:S,CE; threshold:type both, track by_both, count 2, seconds 100000000; sid:8004;)
alert tcp any any -> any any (msg:"syn df"; flags:S,CE; detection_filter:track by_src, count 5, seconds 100000000; sid:8005;)
alert tcp any any -> any any (msg:"syn rate"; flags:S,CE; sid:8006;)
"#;

const THRESHOLDS: &str = "rate_filter gen_id 1, sig_id 8006, track by_rule, count 7, seconds 100000000, new_action drop, timeout 100000000\n";

type Counts = BTreeMap<(u64, String), u64>;

/// Alerts per sid and what the sid's counter tracks (so the counts do not
/// depend on which packet of which worker reached it first): the source
/// (limit, detection_filter), the destination (threshold by_dst), the
/// unordered pair (by_both), the action (rate_filter by_rule).
fn run(dir: &std::path::Path, workers: &str) -> Counts {
    let rules = dir.join("t.rules");
    std::fs::write(&rules, RULES).expect("write rules");
    std::fs::write(dir.join("threshold.config"), THRESHOLDS).expect("write threshold.config");
    let cfg = dir.join("zg.yaml");
    std::fs::write(
        &cfg,
        "name: global-thresholds\nrules:\n  threshold_file: threshold.config\n",
    )
    .expect("write config");
    let pcap = common::repo().join("samples/dehong-sample.pcap");
    let out = dir.join(format!("out-{workers}"));
    let o = common::zoneguard(&[
        "replay",
        "-c",
        cfg.to_str().expect("utf-8"),
        "-S",
        rules.to_str().expect("utf-8"),
        "-r",
        pcap.to_str().expect("utf-8"),
        "-l",
        out.to_str().expect("utf-8"),
        "--workers",
        workers,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("1 rate filters"), "{stdout}");
    let mut m = Counts::new();
    for r in common::of_type(&common::read_jsonl(&out.join("eve.json")), "alert") {
        let sid = r["alert"]["signature_id"].as_u64().expect("sid");
        let src = r["src_ip"].as_str().unwrap_or("").to_string();
        let dst = r["dest_ip"].as_str().unwrap_or("").to_string();
        let key = match sid {
            8003 => dst,
            8004 => {
                let (a, b) = if src <= dst { (src, dst) } else { (dst, src) };
                format!("{a} {b}")
            }
            8006 => r["alert"]["action"].as_str().unwrap_or("").to_string(),
            _ => src,
        };
        *m.entry((sid, key)).or_default() += 1;
    }
    m
}

fn per_sid(c: &Counts, sid: u64) -> u64 {
    c.iter().filter(|(k, _)| k.0 == sid).map(|(_, v)| v).sum()
}

#[test]
fn two_workers_count_like_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let one = run(dir.path(), "1");
    let two = run(dir.path(), "2");
    let diff: Vec<_> = one
        .iter()
        .filter(|(k, v)| two.get(*k) != Some(*v))
        .chain(two.iter().filter(|(k, _)| !one.contains_key(*k)))
        .take(20)
        .collect();
    assert!(diff.is_empty(), "differ (first 20): {diff:?}");
    // the rules really limit: sources with more than 3 SYNs exist
    let syns = per_sid(&one, 8001);
    assert!(syns > 20, "{syns}");
    let busy = one.iter().filter(|(k, v)| k.0 == 8001 && **v > 5).count();
    assert!(busy > 0, "a source with several SYNs");
    for ((sid, src), n) in &one {
        if *sid == 8002 {
            assert!(*n <= 3, "limit 3 by_src: {src} {n}");
        }
    }
    assert!(per_sid(&one, 8002) < syns);
    assert!(per_sid(&one, 8003) < syns && per_sid(&one, 8003) > 0);
    assert!(per_sid(&one, 8005) < syns && per_sid(&one, 8005) > 0);
    // rate filter by_rule, count 7: 7 allowed, the rest blocked
    let allowed = one.get(&(8006, "allowed".to_string())).copied();
    let blocked = one.get(&(8006, "blocked".to_string())).copied();
    assert_eq!((allowed, blocked), (Some(7), Some(syns - 7)));
}
