//! Issue 6 (part): replaying a generated capture writes DIR/incidents.db,
//! and each planted event of the kinds the sensor detects today becomes
//! exactly one incident with the category of its ground truth, the grade
//! the default matrix gives (an isolated breach is II) and a unit.

mod common;

use common::*;
use serde_json::Value;

/// Kinds whose detectors exist (zone policy, cleartext logins, indicators).
const KINDS: [&str; 8] = [
    "unauthorized_outbound",
    "isolated_breach",
    "rogue_device",
    "policy_violation",
    "cleartext_credentials",
    "bad_indicator_dns",
    "bad_indicator_tls",
    "bad_indicator_ip",
];

fn has(list: &Value, ip: &str) -> bool {
    list.as_array().is_some_and(|a| a.iter().any(|v| v == ip))
}

#[test]
fn planted_events_become_one_incident_each() {
    let dir = tempfile::tempdir().unwrap();
    let (pcap, truth) = gen_pcap(dir.path(), "public.yaml", 3, 1, false);
    let out = dir.path().join("out");
    let o = zoneguard(&[
        "replay",
        "-q",
        "-c",
        "config/dehong-egov.yaml",
        "-r",
        pcap.to_str().unwrap(),
        "-l",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let db = out.join("incidents.db");
    let o = zoneguard(&["incidents", "list", "--db", db.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let incidents: Vec<Value> =
        serde_json::from_slice(&o.stdout).expect("incidents list --json is a JSON array");
    for inc in &incidents {
        for field in [
            "id",
            "status",
            "grade",
            "category",
            "title",
            "title_zh",
            "zones",
            "units",
            "src_ips",
            "dest_ips",
            "first_seen",
            "last_seen",
            "alert_count",
        ] {
            assert!(inc.get(field).is_some(), "incident lacks {field}: {inc}");
        }
    }
    for ev in truth
        .iter()
        .filter(|e| KINDS.contains(&e["kind"].as_str().unwrap()))
    {
        let src = ev["src"].as_str().unwrap();
        let mine: Vec<&Value> = incidents
            .iter()
            .filter(|i| {
                i["category"] == ev["category"]
                    && (has(&i["src_ips"], src) || has(&i["dest_ips"], src))
            })
            .filter(|i| {
                // a host may be in several events of one category: tell
                // them apart by the other end where the truth names one
                let dst = ev["dst"].as_str().unwrap_or("");
                ev["kind"] == "rogue_device"
                    || dst.parse::<std::net::IpAddr>().is_err()
                    || has(&i["dest_ips"], dst)
                    || has(&i["src_ips"], dst)
            })
            .collect();
        assert_eq!(
            mine.len(),
            1,
            "{} ({}): incidents {:?}",
            ev["id"],
            ev["kind"],
            mine
        );
        let inc = mine[0];
        if ev["kind"] == "isolated_breach" {
            assert_eq!(inc["grade"], "II", "{}", ev["id"]);
        }
        assert!(
            !inc["units"].as_array().unwrap().is_empty(),
            "{}: no unit",
            ev["id"]
        );
    }

    // the audit chain of the store verifies
    let o = zoneguard(&["audit", "verify", "--db", db.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
}
