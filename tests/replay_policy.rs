//! Issue 2, "must show": a fresh gen-pcap capture of the reference network
//! replayed with config/dehong-egov.yaml finds every planted zone-policy
//! event with the right kind, addresses and zones, and raises no policy
//! alert on the background traffic.

mod common;

use common::*;
use serde_json::Value;

const KINDS: [&str; 4] = [
    "unauthorized_outbound",
    "isolated_breach",
    "rogue_device",
    "policy_violation",
];

fn within(ev: &Value, ts: i64) -> bool {
    let first = ts_micros(ev["first_ts"].as_str().unwrap());
    let last = ts_micros(ev["last_ts"].as_str().unwrap());
    ts >= first - 1_000 && ts <= last + 1_000
}

fn addr_match(ev: &Value, alert: &Value) -> bool {
    if alert["policy"]["kind"] == "rogue_device" {
        // a device is named by the IP it claims; what it talks to varies
        return alert["src_ip"] == ev["src"];
    }
    let ips = [alert["src_ip"].as_str(), alert["dest_ip"].as_str()];
    let named = |k: &str| {
        ev[k]
            .as_str()
            .filter(|s| s.parse::<std::net::IpAddr>().is_ok())
    };
    match (named("src"), named("dst")) {
        (Some(s), Some(d)) => ips.contains(&Some(s)) && ips.contains(&Some(d)),
        (Some(s), None) => ips.contains(&Some(s)),
        (None, Some(d)) => ips.contains(&Some(d)),
        (None, None) => true,
    }
}

fn check_capture(background: bool, size_mb: u32, workers: &[usize]) {
    let dir = tempfile::tempdir().unwrap();
    let (pcap, truth) = gen_pcap(dir.path(), "public.yaml", 1, size_mb, background);
    let mut previous: Option<Vec<String>> = None;
    for &w in workers {
        let out_dir = dir.path().join(format!("out-{w}"));
        let out = zoneguard(&[
            "replay",
            "-c",
            "config/dehong-egov.yaml",
            "-r",
            pcap.to_str().unwrap(),
            "-l",
            out_dir.to_str().unwrap(),
            "--workers",
            &w.to_string(),
        ]);
        assert!(
            out.status.success(),
            "replay failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let eve = read_jsonl(&out_dir.join("eve.json"));
        let alerts: Vec<&Value> = of_type(&eve, "alert")
            .into_iter()
            .filter(|a| a.get("policy").is_some())
            .collect();

        // Every planted event of the four kinds is found, with its zones.
        for ev in truth
            .iter()
            .filter(|e| KINDS.contains(&e["kind"].as_str().unwrap()))
        {
            let kind = ev["kind"].as_str().unwrap();
            let hits: Vec<&&Value> = alerts
                .iter()
                .filter(|a| a["policy"]["kind"] == kind)
                .filter(|a| within(ev, ts_micros(a["timestamp"].as_str().unwrap())))
                .filter(|a| addr_match(ev, a))
                .collect();
            assert!(
                !hits.is_empty(),
                "workers={w}: planted {} ({kind}) not found",
                ev["id"]
            );
            for a in &hits {
                if kind == "rogue_device" {
                    assert_eq!(
                        a["src_ip"], ev["src"],
                        "{}: rogue names the IP it claims",
                        ev["id"]
                    );
                    assert_eq!(a["ether"]["src_mac"], ev["details"]["mac"], "{}", ev["id"]);
                    assert_eq!(a["policy"]["src_zone"], ev["src_zone"], "{}", ev["id"]);
                    continue;
                }
                assert_eq!(a["src_ip"], ev["src"], "{}: initiator", ev["id"]);
                assert_eq!(a["policy"]["src_zone"], ev["src_zone"], "{}", ev["id"]);
                assert_eq!(a["policy"]["dest_zone"], ev["dst_zone"], "{}", ev["id"]);
                assert_eq!(
                    a["alert"]["metadata"]["taxonomy"][0], ev["category"],
                    "{}: taxonomy",
                    ev["id"]
                );
            }
            if kind == "rogue_device" {
                assert_eq!(
                    hits.len(),
                    1,
                    "{}: one rogue alert per MAC/IP per hour",
                    ev["id"]
                );
            }
        }

        // No policy alert that no planted event explains: the background
        // obeys the allow-list by construction.
        for a in &alerts {
            let kind = a["policy"]["kind"].as_str().unwrap();
            let ts = ts_micros(a["timestamp"].as_str().unwrap());
            let explained = truth.iter().any(|ev| {
                let also: Vec<&str> = ev["also"]
                    .as_array()
                    .map(|v| v.iter().filter_map(|x| x.as_str()).collect())
                    .unwrap_or_default();
                (ev["kind"] == kind || also.contains(&kind)) && within(ev, ts) && addr_match(ev, a)
            });
            assert!(explained, "workers={w}: unexplained policy alert {a}");
        }

        // Per-flow records are the same whatever the number of workers.
        let mut records: Vec<String> = eve
            .iter()
            .filter(|r| r["event_type"] != "stats")
            .map(|r| r.to_string())
            .collect();
        records.sort();
        if let Some(p) = &previous {
            assert!(
                p == &records,
                "workers={w}: records differ from the single-worker run"
            );
        }
        previous = Some(records);
    }
}

#[test]
fn planted_policy_events_only() {
    check_capture(false, 1, &[1, 2]);
}

#[test]
fn planted_events_with_background() {
    check_capture(true, 40, &[1, 2, 3]);
}
