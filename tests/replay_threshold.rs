//! threshold.config in replay: `rules.threshold_file` from the config
//! (relative to the config's directory) silences rules as Suricata's
//! `suppress` does, with `-S` too; the suppressed rule's flowbits still
//! take effect.

mod common;

use std::collections::BTreeMap;

/// Alerts per sid in `eve`.
fn per_sid(eve: &[serde_json::Value]) -> BTreeMap<u64, usize> {
    let mut m = BTreeMap::new();
    for r in eve.iter().filter(|r| r["event_type"] == "alert") {
        if let Some(sid) = r["alert"]["signature_id"].as_u64() {
            *m.entry(sid).or_default() += 1;
        }
    }
    m
}

#[test]
fn suppress_line_silences_a_rule_in_replay() {
    let case = common::shared().join("corpus/suricata-verify/detect-flowbits");
    let rules = case.join("test.rules");
    let pcap = case.join("input.pcap");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("zg.yaml"),
        "name: threshold-test\nrules:\n  threshold_file: threshold.config\n",
    )
    .expect("write config");
    std::fs::write(
        dir.path().join("threshold.config"),
        "# silence sid 1 (it sets fb1; sid 5 reads it)\n\
         suppress gen_id 1, sig_id 1\n\
         suppress gen_id 1, sig_id 2, track by_src, ip [0.0.0.0/0, ::/0]\n\
         suppress gen_id 1, sig_id 7, track by_dst, ip 203.0.113.0/24\n\
         suppress gen_id 1, sig_id 424242\n",
    )
    .expect("write threshold.config");
    let cfg = dir.path().join("zg.yaml");
    let run = |with_cfg: bool, out: &str| {
        let out = dir.path().join(out);
        let mut args = vec!["replay"];
        if with_cfg {
            args.extend(["-c", cfg.to_str().expect("utf-8 path")]);
        }
        args.extend([
            "-S",
            rules.to_str().expect("utf-8 path"),
            "-r",
            pcap.to_str().expect("utf-8 path"),
            "-l",
            out.to_str().expect("utf-8 path"),
            "--workers",
            "1",
        ]);
        let o = common::zoneguard(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        (
            per_sid(&common::read_jsonl(&out.join("eve.json"))),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (before, _, _) = run(false, "before");
    assert_eq!(before.get(&1), Some(&1), "{before:?}");
    assert_eq!(before.get(&2), Some(&1), "{before:?}");
    assert_eq!(before.get(&5), Some(&1), "{before:?}");
    assert_eq!(before.get(&7), Some(&1), "{before:?}");

    let (after, stdout, stderr) = run(true, "after");
    assert_eq!(after.get(&1), None, "suppressed: {after:?}");
    assert_eq!(after.get(&2), None, "suppressed by source: {after:?}");
    // fb1 is still set by the suppressed sid 1
    assert_eq!(after.get(&5), Some(&1), "{after:?}");
    // the address does not match: still alerts
    assert_eq!(after.get(&7), Some(&1), "{after:?}");
    let mut rest_before = before.clone();
    let mut rest_after = after.clone();
    for sid in [1, 2] {
        rest_before.remove(&sid);
        rest_after.remove(&sid);
    }
    assert_eq!(rest_before, rest_after);
    assert!(
        stdout.contains(
            "threshold.config / 阈值文件: 4 entries, 1 rules suppressed, 2 suppressed by address"
        ),
        "{stdout}"
    );
    // the entry that names no loaded rule is reported with its line
    assert!(
        stderr.contains("threshold.config:5: no loaded rule"),
        "{stderr}"
    );
}
