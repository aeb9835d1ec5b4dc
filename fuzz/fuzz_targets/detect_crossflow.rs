//! Fuzz the cross-flow detectors: the input is a sequence of Ethernet
//! frames separated by 0xFE bytes, each decoded, turned into an
//! observation (TCP flags, ICMP errors, DNS questions) and fed to a
//! `CrossFlow` with small tables and low thresholds, so that alerts,
//! evictions and sweeps all happen. Never panics; tables stay capped.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use zoneguard::capture::LinkType;
use zoneguard::config::{Config, DetectConfig};
use zoneguard::decode::{decode, DecodeOptions};
use zoneguard::detect::{CrossFlow, Observation};
use zoneguard::policy::ZonePolicy;
use zoneguard::time::Timestamp;

fuzz_target!(|data: &[u8]| {
    let mut cfg = DetectConfig {
        max_tracked: 8,
        repeat_secs: 1,
        ..DetectConfig::default()
    };
    cfg.port_scan.vertical_ports = 2;
    cfg.port_scan.horizontal_hosts = 2;
    cfg.ssh_bruteforce.connections = 2;
    cfg.syn_flood.rate = 2;
    cfg.icmp_flood.rate = 2;
    cfg.dns_tunnel.queries = 2;
    cfg.dns_tunnel.txt_null_queries = 2;
    cfg.dns_tunnel.min_label_len = 8;
    let policy = Arc::new(ZonePolicy::from_config(&Config::builtin_default()));
    let mut cf = CrossFlow::new(&cfg, policy);
    let opts = DecodeOptions::default();
    let mut out = Vec::new();
    for (i, frame) in data.split(|b| *b == 0xFE).enumerate() {
        let ts = Timestamp::from_secs_nanos(i as i64 / 4, 0);
        let d = decode(LinkType::Ethernet, frame, &opts);
        if let Some(o) = Observation::from_decoded(ts, i as u64 + 1, &d) {
            cf.observe(&o, &mut out);
        }
        cf.advance(ts, &mut out);
        assert!(cf.tracked() <= 6 * 8);
        out.clear();
    }
});
