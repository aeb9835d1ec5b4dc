//! Fuzzes the correlator: arbitrary alert fields (addresses, taxonomy ids,
//! severities, extreme times, log hosts) must never panic, and the open
//! index stays within its cap. The same path is covered in the crate by
//! the `hostile_fields_never_panic` proptest.
#![no_main]

use std::net::IpAddr;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use zoneguard::alert::{Action, Alert, AlertAddrs, AlertSource, LogInfo};
use zoneguard::incident::{Correlator, CorrelatorConfig};
use zoneguard::policy::ZonePolicy;
use zoneguard::time::Timestamp;

fuzz_target!(|data: &[u8]| {
    let cfg = CorrelatorConfig {
        max_open: 16,
        ..Default::default()
    };
    let mut c = Correlator::new(cfg, Arc::new(ZonePolicy::default()), 1);
    for chunk in data.chunks(16) {
        let b = |i: usize| chunk.get(i).copied().unwrap_or(0);
        let text = String::from_utf8_lossy(chunk).into_owned();
        let ts = i64::from_le_bytes([b(0), b(1), b(2), b(3), b(4), b(5), b(6), b(7)]);
        let a = Alert {
            ts: Timestamp(ts),
            source: match b(8) % 3 {
                0 => AlertSource::Policy,
                1 => AlertSource::Signature,
                _ => AlertSource::Log,
            },
            flow_id: None,
            pcap_cnt: None,
            addrs: AlertAddrs {
                src_ip: (b(9) & 1 == 0).then(|| IpAddr::from([b(10), b(11), 0, 1])),
                src_port: 0,
                dest_ip: (b(9) & 2 == 0).then(|| IpAddr::from([b(12), b(13), 0, 1])),
                dest_port: 0,
                proto: None,
            },
            ether: None,
            vlans: Vec::new(),
            action: Action::Allowed,
            gid: 1,
            sid: u32::from(b(14)),
            rev: 1,
            signature: Arc::from(text.as_str()),
            category: Arc::from(""),
            severity: b(15),
            metadata: vec![(Arc::from("taxonomy"), vec![Arc::from(text.as_str())])],
            policy: None,
            app_proto: None,
            log: (b(8) % 3 == 2).then(|| LogInfo {
                host: Some(text.clone()),
                program: None,
                message: text.clone(),
            }),
        };
        let o = c.on_alert(&a);
        assert!(o.update.incident.first_seen <= o.update.incident.last_seen);
    }
    assert!(c.open_count() <= 16);
});
