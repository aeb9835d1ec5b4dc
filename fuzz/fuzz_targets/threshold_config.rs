#![no_main]
//! threshold.config: arbitrary text parsed, applied to a small ruleset,
//! and the ruleset run on packets from several sources over time.
use std::net::{IpAddr, Ipv4Addr};

use libfuzzer_sys::fuzz_target;
use zoneguard::signatures::engine::state::DetectState;
use zoneguard::signatures::engine::{PacketView, Ruleset, Scratch};
use zoneguard::signatures::{load_rules_str, Classification, ThresholdConfig, Vars};
use zoneguard::time::Timestamp;

const RULES: &str = "alert tcp any any -> any any (msg:\"a\"; content:\"a\"; sid:1;)\n\
alert tcp any any -> any any (msg:\"b\"; content:\"a\"; flowbits:set,x; threshold:type both, track by_dst, count 2, seconds 5; sid:2;)\n\
alert tcp any any -> any any (msg:\"c\"; content:\"a\"; detection_filter:track by_src, count 2, seconds 5; gid:3; sid:3;)\n\
alert tcp any any -> any any (msg:\"d\"; flowbits:isset,x; sid:4;)\n";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let vars = Vars::suricata_defaults().resolve();
    let classes = Classification::suricata_default();
    let load = load_rules_str(RULES, "fuzz.rules", &vars, &classes);
    let mut rs = Ruleset::compile(&load, &classes);
    let cfg = ThresholdConfig::parse(&text, "threshold.config", &vars);
    let _ = rs.apply_threshold_config(&cfg);
    let mut st = DetectState::default();
    let mut sc = Scratch::default();
    let mut hits = Vec::new();
    for i in 0u8..12 {
        let mut flow = None;
        let view = PacketView {
            stream_sizes: None,
            src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, i % 3)),
            dst: IpAddr::V4(Ipv4Addr::new(192, 0, 2, i % 2)),
            sport: 1234,
            dport: 80,
            proto: 6,
            payload: b"a",
            ttl: 64,
            tos: 0,
            ip_id: Some(7),
            tcp: Some((0x18, 512, 1, 1)),
            icmp: None,
            to_server: true,
            established: true,
            app_proto: None,
            l4_valid: true,
            ts: Timestamp::from_secs_micros(i64::from(i), 0),
        };
        hits.clear();
        rs.match_packet(&view, &mut flow, &mut st, &mut sc, &mut hits);
    }
});
