//! Unit tests of the cross-flow detectors: each threshold just below and
//! at its value, repeats, episodes, bounds, and hostile input.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use proptest::prelude::*;

use super::*;
use crate::capture::LinkType;
use crate::config::Config;
use crate::decode::testutil::*;
use crate::decode::{decode, DecodeOptions, TCP_ACK, TCP_RST, TCP_SYN};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn t(ms: i64) -> Timestamp {
    Timestamp(ms * 1_000_000)
}

fn obs(ms: i64, src: &str, dst: &str, sport: u16, dport: u16, kind: ObsKind) -> Observation {
    Observation {
        ts: t(ms),
        pcap_cnt: 1,
        src: ip(src),
        dst: ip(dst),
        sport,
        dport,
        ether: None,
        kind,
    }
}

fn policy() -> Arc<ZonePolicy> {
    let yaml = "name: t\nzones:\n  - {id: internet, level: 0, default: true}\n  - {id: dmz, level: 3, cidrs: [10.10.1.0/24], unit: 州政务服务中心}\n  - {id: office, level: 2, cidrs: [10.31.0.0/16]}\n";
    let cfg = Config::from_yaml_str(yaml, "t.yaml", Path::new(".")).unwrap();
    Arc::new(ZonePolicy::from_config(&cfg))
}

fn cross(cfg: &DetectConfig) -> CrossFlow {
    CrossFlow::new(cfg, policy())
}

fn feed(c: &mut CrossFlow, list: &[Observation]) -> Vec<Alert> {
    let mut out = Vec::new();
    for o in list {
        c.advance(o.ts, &mut out);
        c.observe(o, &mut out);
    }
    out
}

fn meta<'a>(a: &'a Alert, key: &str) -> Vec<&'a str> {
    a.metadata
        .iter()
        .find(|(k, _)| &**k == key)
        .map(|(_, v)| v.iter().map(|s| &**s).collect())
        .unwrap_or_default()
}

fn syns_to_ports(n: u16, src: &str, dst: &str) -> Vec<Observation> {
    (0..n)
        .map(|i| obs(i64::from(i), src, dst, 40000, 1 + i, ObsKind::Syn))
        .collect()
}

#[test]
fn vertical_scan_threshold() {
    let cfg = DetectConfig::default();
    let n = cfg.port_scan.vertical_ports as u16;
    let mut c = cross(&cfg);
    assert!(feed(&mut c, &syns_to_ports(n - 1, "45.134.26.12", "10.10.1.10")).is_empty());
    let mut c = cross(&cfg);
    let out = feed(&mut c, &syns_to_ports(n + 50, "45.134.26.12", "10.10.1.10"));
    assert_eq!(out.len(), 1, "one alert per episode: {out:?}");
    let a = &out[0];
    assert_eq!(a.sid, Detector::VerticalScan.sid());
    assert_eq!(a.taxonomy(), Some("network_attack/scan"));
    assert_eq!(a.addrs.src_ip, Some(ip("45.134.26.12")));
    assert_eq!(a.addrs.dest_ip, Some(ip("10.10.1.10")));
    assert_eq!(meta(a, "src_zone"), vec!["internet"]);
    assert_eq!(meta(a, "dest_zone"), vec!["dmz"]);
    assert!(meta(a, "evidence").contains(&format!("unanswered_ports={n}").as_str()));
    assert_eq!(meta(a, "zoneguard_severity"), vec!["medium"]);
}

#[test]
fn answered_ports_do_not_count() {
    // a client opening many connections that the server accepts is no scan
    let cfg = DetectConfig::default();
    let mut c = cross(&cfg);
    let mut list = Vec::new();
    for i in 0..100u16 {
        list.push(obs(
            i64::from(i) * 2,
            "10.31.4.27",
            "10.10.1.10",
            40000,
            1000 + i,
            ObsKind::Syn,
        ));
        list.push(obs(
            i64::from(i) * 2 + 1,
            "10.10.1.10",
            "10.31.4.27",
            1000 + i,
            40000,
            ObsKind::SynAck,
        ));
    }
    assert!(feed(&mut c, &list).is_empty());
}

#[test]
fn slow_probes_outside_the_window_do_not_alert() {
    let cfg = DetectConfig::default();
    let step = (cfg.port_scan.window_secs as i64 * 1000) / 10 + 1;
    let list: Vec<_> = (0..200u16)
        .map(|i| {
            obs(
                i64::from(i) * step,
                "45.134.26.12",
                "10.10.1.10",
                1,
                1 + i,
                ObsKind::Syn,
            )
        })
        .collect();
    assert!(feed(&mut cross(&cfg), &list).is_empty());
}

#[test]
fn horizontal_scan_threshold() {
    let cfg = DetectConfig::default();
    let n = cfg.port_scan.horizontal_hosts;
    let hosts = |k: u32| -> Vec<Observation> {
        (0..k)
            .map(|i| {
                obs(
                    i64::from(i),
                    "10.31.4.27",
                    &format!("10.31.2.{}", i + 1),
                    50000,
                    445,
                    ObsKind::Syn,
                )
            })
            .collect()
    };
    assert!(feed(&mut cross(&cfg), &hosts(n - 1)).is_empty());
    let out = feed(&mut cross(&cfg), &hosts(80));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].sid, Detector::HorizontalScan.sid());
    assert_eq!(out[0].addrs.dest_port, 445);
    assert_eq!(meta(&out[0], "dest_zone"), vec!["office"]);
}

#[test]
fn udp_probes_refused_count_as_scan() {
    let cfg = DetectConfig::default();
    let list: Vec<_> = (0..30u16)
        .map(|i| {
            obs(
                i64::from(i),
                "10.10.1.10",
                "45.134.26.12",
                0,
                0,
                ObsKind::PortUnreachable { port: 100 + i },
            )
        })
        .collect();
    let out = feed(&mut cross(&cfg), &list);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].addrs.src_ip, Some(ip("45.134.26.12")), "the prober");
    assert_eq!(out[0].addrs.proto, Some(17));
}

#[test]
fn ssh_bruteforce_threshold_and_retransmissions() {
    let cfg = DetectConfig::default();
    let n = cfg.ssh_bruteforce.connections as u16;
    let conns = |k: u16| -> Vec<Observation> {
        let mut v = Vec::new();
        for i in 0..k {
            // each attempt retransmits its SYN once: still one connection
            for r in 0..2 {
                v.push(obs(
                    i64::from(i) * 1500 + r,
                    "185.220.101.34",
                    "10.10.1.20",
                    40000 + i,
                    22,
                    ObsKind::Syn,
                ));
            }
        }
        v
    };
    let mut cfg_no_scan = cfg.clone();
    cfg_no_scan.port_scan.enabled = false;
    assert!(feed(&mut cross(&cfg_no_scan), &conns(n - 1)).is_empty());
    let out = feed(&mut cross(&cfg_no_scan), &conns(40));
    assert_eq!(out.len(), 1, "{out:?}");
    let a = &out[0];
    assert_eq!(a.taxonomy(), Some("network_attack/brute_force"));
    assert_eq!(a.addrs.dest_port, 22);
    assert!(meta(a, "evidence").contains(&format!("connections={n}").as_str()));
    // another port is not SSH
    let other: Vec<_> = conns(40)
        .into_iter()
        .map(|mut o| {
            o.dport = 2222;
            o
        })
        .collect();
    assert!(feed(&mut cross(&cfg_no_scan), &other).is_empty());
}

fn flood(n: u32, spoofed: bool, kind: ObsKind) -> Vec<Observation> {
    (0..n)
        .map(|i| {
            let src = if spoofed {
                format!("198.18.{}.{}", (i >> 8) & 0xff, i & 0xff)
            } else {
                "103.77.192.4".to_string()
            };
            let mut o = obs(0, &src, "10.10.1.20", 1024 + (i % 60000) as u16, 443, kind);
            o.ts = Timestamp(i64::from(i) * 500_000); // 2000 per second
            o
        })
        .collect()
}

#[test]
fn syn_flood_threshold() {
    let mut cfg = DetectConfig::default();
    cfg.port_scan.enabled = false;
    let min = cfg.syn_flood.rate * cfg.syn_flood.window_secs as u32;
    assert!(feed(&mut cross(&cfg), &flood(min - 1, true, ObsKind::Syn)).is_empty());
    let out = feed(&mut cross(&cfg), &flood(min * 3, true, ObsKind::Syn));
    assert_eq!(out.len(), 1);
    let a = &out[0];
    assert_eq!(a.taxonomy(), Some("network_attack/dos"));
    assert_eq!(a.addrs.src_ip, None, "many sources: no single source");
    assert_eq!(a.addrs.dest_ip, Some(ip("10.10.1.20")));
    assert_eq!(a.addrs.dest_port, 443);
    // one source: named
    let out = feed(&mut cross(&cfg), &flood(min, false, ObsKind::Syn));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].addrs.src_ip, Some(ip("103.77.192.4")));
}

#[test]
fn icmp_flood_threshold() {
    let cfg = DetectConfig::default();
    let min = cfg.icmp_flood.rate * cfg.icmp_flood.window_secs as u32;
    assert!(feed(
        &mut cross(&cfg),
        &flood(min - 1, false, ObsKind::EchoRequest)
    )
    .is_empty());
    let out = feed(
        &mut cross(&cfg),
        &flood(min + 10, false, ObsKind::EchoRequest),
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].sid, Detector::IcmpFlood.sid());
    assert_eq!(out[0].addrs.proto, Some(1));
    assert_eq!(out[0].addrs.src_ip, Some(ip("103.77.192.4")));
}

fn dns(ms: i64, src: &str, name: &str, qtype: u16) -> Observation {
    obs(
        ms,
        src,
        "10.10.1.53",
        33000,
        53,
        ObsKind::DnsQuery {
            qtype,
            name: QName::from_text(name).unwrap(),
        },
    )
}

/// A base32-looking label from a counter (deterministic, high entropy).
fn random_label(i: u32, len: usize) -> String {
    const A: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut x = u64::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            A[(x % 32) as usize] as char
        })
        .collect()
}

#[test]
fn dns_tunnel_threshold() {
    let cfg = DetectConfig::default();
    let n = cfg.dns_tunnel.queries;
    let q = |k: u32, qtype: u16| -> Vec<Observation> {
        (0..k)
            .map(|i| {
                dns(
                    i64::from(i) * 800,
                    "10.35.9.201",
                    &format!("{}.{i}.t.cdn-sync.example", random_label(i, 52)),
                    qtype,
                )
            })
            .collect()
    };
    assert!(feed(&mut cross(&cfg), &q(n - 1, 1)).is_empty());
    let out = feed(&mut cross(&cfg), &q(150, 1));
    assert_eq!(out.len(), 1);
    let a = &out[0];
    assert_eq!(a.taxonomy(), Some("anomaly/covert_channel"));
    assert_eq!(a.addrs.src_ip, Some(ip("10.35.9.201")));
    assert!(meta(a, "evidence").contains(&"domain=cdn-sync.example"));
    // ordinary names never count, however many
    let normal: Vec<_> = (0..5000)
        .map(|i| dns(i, "10.31.4.27", &format!("www{}.example.com", i % 50), 1))
        .collect();
    let mut c = cross(&cfg);
    assert!(feed(&mut c, &normal).is_empty());
    assert_eq!(c.tracked(), 0, "ordinary queries take no table entry");
}

#[test]
fn dns_txt_volume_threshold() {
    let cfg = DetectConfig::default();
    let n = cfg.dns_tunnel.txt_null_queries;
    let q = |k: u32| -> Vec<Observation> {
        (0..k)
            .map(|i| {
                dns(
                    i64::from(i) * 100,
                    "10.41.0.10",
                    &format!("s{i}.d.statsapi.example"),
                    observation::qtype::TXT,
                )
            })
            .collect()
    };
    assert!(feed(&mut cross(&cfg), &q(n - 1)).is_empty());
    assert_eq!(feed(&mut cross(&cfg), &q(n)).len(), 1);
}

#[test]
fn resolver_recursion_is_not_attributed() {
    let cfg = DetectConfig::default();
    let mut c = cross(&cfg);
    let mut list = vec![obs(
        0,
        "10.10.1.53",
        "10.31.4.27",
        53,
        33000,
        ObsKind::DnsResponse,
    )];
    for i in 0..100u32 {
        let name = format!("{}.{i}.t.cdn-sync.example", random_label(i, 52));
        list.push(dns(i64::from(i) * 10 + 1, "10.10.1.53", &name, 16));
    }
    assert!(feed(&mut c, &list).is_empty());
    assert_eq!(c.stats().resolver_queries, 100);
}

#[test]
fn repeats_after_the_interval_and_new_episodes() {
    let cfg = DetectConfig {
        repeat_secs: 120,
        ..DetectConfig::default()
    };
    let mut c = cross(&cfg);
    let mut out = Vec::new();
    // a scan lasting 5 minutes, 1 port per 100 ms: alerts at 0, 120, 240 s
    for i in 0..3000u32 {
        let o = obs(
            i64::from(i) * 100,
            "45.134.26.12",
            "10.10.1.10",
            1,
            (i % 60000) as u16 + 1,
            ObsKind::Syn,
        );
        c.advance(o.ts, &mut out);
        c.observe(&o, &mut out);
    }
    let v: Vec<_> = out
        .iter()
        .filter(|a| a.sid == Detector::VerticalScan.sid())
        .collect();
    assert_eq!(
        v.len(),
        3,
        "{:?}",
        v.iter().map(|a| a.ts).collect::<Vec<_>>()
    );
    // quiet for longer than the repeat interval: the episode ends and a
    // new scan alerts at once
    let later = 300_000 + 200_000;
    c.advance(t(later), &mut out);
    let before = out.len();
    for i in 0..30u16 {
        let o = obs(
            later + i64::from(i),
            "45.134.26.12",
            "10.10.1.10",
            1,
            1 + i,
            ObsKind::Syn,
        );
        c.observe(&o, &mut out);
    }
    assert_eq!(out.len(), before + 1);
}

#[test]
fn tables_are_capped() {
    let cfg = DetectConfig {
        max_tracked: 64,
        ..DetectConfig::default()
    };
    let mut c = cross(&cfg);
    let mut out = Vec::new();
    for i in 0..10_000u32 {
        let src = IpAddr::V4(Ipv4Addr::from(0xc612_0000 + i));
        let o = Observation {
            ts: t(i64::from(i / 100)),
            pcap_cnt: u64::from(i),
            src,
            dst: ip("10.10.1.20"),
            sport: 1,
            dport: 443,
            ether: None,
            kind: ObsKind::Syn,
        };
        c.observe(&o, &mut out);
    }
    assert!(c.tracked() <= 6 * 64);
    assert!(c.stats().evicted > 0);
}

#[test]
fn disabled_detectors_stay_silent() {
    let cfg = DetectConfig {
        enabled: false,
        ..DetectConfig::default()
    };
    let mut c = cross(&cfg);
    assert!(feed(&mut c, &syns_to_ports(500, "45.134.26.12", "10.10.1.10")).is_empty());
    assert_eq!(c.stats().observations, 0);
}

#[test]
fn observations_from_packets() {
    let opts = DecodeOptions::default();
    let f = eth_ipv4_tcp([10, 0, 0, 1], [10, 0, 0, 2], 40000, 22, TCP_SYN, &[]);
    let d = decode(LinkType::Ethernet, &f, &opts);
    let o = Observation::from_decoded(t(1), 7, &d).unwrap();
    assert_eq!(o.kind, ObsKind::Syn);
    assert_eq!((o.sport, o.dport, o.pcap_cnt), (40000, 22, 7));
    assert_eq!(o.ether, Some((SRC_MAC, DST_MAC)));
    let f = eth_ipv4_tcp(
        [10, 0, 0, 2],
        [10, 0, 0, 1],
        22,
        40000,
        TCP_SYN | TCP_ACK,
        &[],
    );
    let d = decode(LinkType::Ethernet, &f, &opts);
    assert_eq!(
        Observation::from_decoded(t(1), 8, &d).unwrap().kind,
        ObsKind::SynAck
    );
    let f = eth_ipv4_tcp(
        [10, 0, 0, 2],
        [10, 0, 0, 1],
        22,
        40000,
        TCP_RST | TCP_ACK,
        &[],
    );
    let d = decode(LinkType::Ethernet, &f, &opts);
    assert_eq!(
        Observation::from_decoded(t(1), 9, &d).unwrap().kind,
        ObsKind::Rst
    );
    // plain data segments give nothing
    let f = eth_ipv4_tcp([10, 0, 0, 2], [10, 0, 0, 1], 22, 40000, TCP_ACK, b"x");
    let d = decode(LinkType::Ethernet, &f, &opts);
    assert!(Observation::from_decoded(t(1), 10, &d).is_none());
    // ICMP echo request
    let f = eth_ipv4_proto([10, 0, 0, 1], [10, 0, 0, 2], 1, &icmp_echo(false, b"abcd"));
    let d = decode(LinkType::Ethernet, &f, &opts);
    assert_eq!(
        Observation::from_decoded(t(1), 11, &d).unwrap().kind,
        ObsKind::EchoRequest
    );
    // DNS query
    let mut m = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(b"\x03abc\x07example\x00\x00\x10\x00\x01");
    let f = eth(
        &[],
        0x0800,
        &ipv4_udp([10, 0, 0, 1], [10, 0, 0, 53], 33000, 53, &m),
    );
    let d = decode(LinkType::Ethernet, &f, &opts);
    match Observation::from_decoded(t(1), 12, &d).unwrap().kind {
        ObsKind::DnsQuery { qtype, name } => {
            assert_eq!(qtype, 16);
            assert_eq!(name.as_bytes(), b"abc.example");
        }
        k => panic!("{k:?}"),
    }
    // its answer
    m[2] |= 0x80;
    let f = eth(
        &[],
        0x0800,
        &ipv4_udp([10, 0, 0, 53], [10, 0, 0, 1], 53, 33000, &m),
    );
    let d = decode(LinkType::Ethernet, &f, &opts);
    assert_eq!(
        Observation::from_decoded(t(1), 13, &d).unwrap().kind,
        ObsKind::DnsResponse
    );
}

#[test]
fn observation_is_small_and_copy() {
    fn is_copy<T: Copy>() {}
    is_copy::<Observation>();
    assert!(
        std::mem::size_of::<Observation>() <= 352,
        "{}",
        std::mem::size_of::<Observation>()
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// No frame, however malformed, panics the extraction, and whatever it
    /// yields, the detectors take without panicking or growing unbounded.
    #[test]
    fn no_input_panics(
        frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..40),
        udp_payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..20),
        icmp_payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 0..20),
    ) {
        let opts = DecodeOptions::default();
        let cfg = DetectConfig {
            max_tracked: 16,
            ..DetectConfig::default()
        };
        let mut c = cross(&cfg);
        let mut out = Vec::new();
        let mut all: Vec<Vec<u8>> = frames;
        for p in &udp_payloads {
            all.push(eth(&[], 0x0800, &ipv4_udp([10, 0, 0, 1], [10, 0, 0, 53], 33000, 53, p)));
            all.push(eth(&[], 0x0800, &ipv4_udp([10, 0, 0, 53], [10, 0, 0, 1], 53, 33000, p)));
        }
        for p in &icmp_payloads {
            let mut m = vec![3, 3, 0, 0, 0, 0, 0, 0];
            m.extend_from_slice(p);
            all.push(eth_ipv4_proto([10, 0, 0, 2], [10, 0, 0, 1], 1, &m));
        }
        for (i, f) in all.iter().enumerate() {
            let d = decode(LinkType::Ethernet, f, &opts);
            if let Some(o) = Observation::from_decoded(t(i as i64), i as u64 + 1, &d) {
                c.observe(&o, &mut out);
            }
            c.advance(t(i as i64 * 700), &mut out);
        }
        prop_assert!(c.tracked() <= 6 * 16);
    }

    /// Arbitrary DNS messages never panic the question parser, and a name it
    /// returns is within bounds and lower-case.
    #[test]
    fn question_parser_is_total(msg in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Some((n, _)) = observation::parse_question(&msg) {
            prop_assert!(n.as_bytes().len() <= observation::MAX_QNAME);
            prop_assert!(!n.as_bytes().iter().any(u8::is_ascii_uppercase));
        }
    }
}

#[test]
fn reconfigure_keeps_episodes() {
    let cfg = DetectConfig::default();
    let mut c = cross(&cfg);
    let list = syns_to_ports(15, "45.134.26.12", "10.10.1.10");
    assert!(feed(&mut c, &list).is_empty());
    let mut lower = cfg.clone();
    lower.port_scan.vertical_ports = 16;
    c.reconfigure(&lower, policy());
    let more: Vec<_> = (15..17u16)
        .map(|i| {
            obs(
                i64::from(i),
                "45.134.26.12",
                "10.10.1.10",
                40000,
                1 + i,
                ObsKind::Syn,
            )
        })
        .collect();
    assert_eq!(
        feed(&mut c, &more).len(),
        1,
        "the 16th port crosses the new threshold"
    );
}
