//! Issue 6 (part): replaying a generated capture writes DIR/incidents.db,
//! and each planted event of the kinds the sensor detects today becomes
//! exactly one incident with the category of its ground truth, the grade
//! the default matrix gives (an isolated breach is II; for the built-in
//! detectors and shipped rules, their severity × the highest protection
//! level of the event's zones) and a unit.

mod common;

use common::*;
use serde_json::Value;
use zoneguard::config::Config;
use zoneguard::taxonomy::{Severity, Taxonomy};

/// Kinds whose detectors exist (zone policy, cleartext logins, indicators,
/// built-in detectors, shipped rules).
const KINDS: [&str; 14] = [
    "unauthorized_outbound",
    "isolated_breach",
    "rogue_device",
    "policy_violation",
    "cleartext_credentials",
    "bad_indicator_dns",
    "bad_indicator_tls",
    "bad_indicator_ip",
    "port_scan",
    "ssh_bruteforce",
    "syn_flood",
    "icmp_flood",
    "web_attack",
    "dns_tunnel",
];

/// Detection severity of the built-in detectors and shipped rules
/// (docs/detectors.md): scans medium, the rest high.
fn detector_severity(kind: &str) -> Option<Severity> {
    match kind {
        "port_scan" => Some(Severity::Medium),
        "ssh_bruteforce" | "syn_flood" | "icmp_flood" | "web_attack" | "dns_tunnel" => {
            Some(Severity::High)
        }
        _ => None,
    }
}

/// The grade the default matrix gives a detection of `sev` between the
/// truth's zones.
fn expected_grade(cfg: &Config, ev: &Value, sev: Severity) -> String {
    let zones: Vec<&zoneguard::config::Zone> = ["src_zone", "dst_zone"]
        .iter()
        .filter_map(|k| ev[*k].as_str())
        .filter_map(|id| cfg.zones.iter().find(|z| z.id == id))
        .collect();
    let level = zones.iter().map(|z| z.level).max().unwrap_or(0);
    let isolated = zones.iter().any(|z| z.isolated);
    Taxonomy::builtin()
        .default_grade(ev["category"].as_str().unwrap(), sev, level, isolated)
        .unwrap()
        .id
        .clone()
}

fn has(list: &Value, ip: &str) -> bool {
    list.as_array().is_some_and(|a| a.iter().any(|v| v == ip))
}

#[test]
fn planted_events_become_one_incident_each() {
    let dir = tempfile::tempdir().unwrap();
    let (pcap, truth) = gen_pcap(dir.path(), "public.yaml", 3, 1, false);
    let cfg = Config::load(&repo().join("config/dehong-egov.yaml")).unwrap();
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
        // floods are keyed without the source (spoofed, or many): by target
        let sourceless = ev["category"] == "network_attack/dos";
        let mine: Vec<&Value> = incidents
            .iter()
            .filter(|i| {
                i["category"] == ev["category"]
                    && (sourceless || has(&i["src_ips"], src) || has(&i["dest_ips"], src))
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
        if let Some(sev) = detector_severity(ev["kind"].as_str().unwrap()) {
            assert_eq!(
                inc["grade"],
                expected_grade(&cfg, ev, sev).as_str(),
                "{} ({}): {inc}",
                ev["id"],
                ev["kind"]
            );
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
