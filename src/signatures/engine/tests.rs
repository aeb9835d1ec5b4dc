//! Engine tests: rules from text, matched against hand-made packets.

use std::net::{IpAddr, Ipv4Addr};

use super::*;
use crate::signatures::{load_rules_str, Vars};

fn ruleset(text: &str) -> Ruleset {
    let vars = Vars::suricata_defaults().resolve();
    let classes = Classification::suricata_default();
    let load = load_rules_str(text, "t.rules", &vars, &classes);
    assert!(load.rejected.is_empty(), "{:?}", load.rejected);
    let rs = Ruleset::compile(&load, &classes);
    assert!(rs.unsupported().is_empty(), "{:?}", rs.unsupported());
    rs
}

fn pkt(payload: &[u8]) -> PacketView<'_> {
    PacketView {
        src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        dst: IpAddr::V4(Ipv4Addr::new(8, 8, 8, 8)),
        sport: 40000,
        dport: 80,
        proto: 6,
        payload,
        ttl: 64,
        tos: 0,
        ip_id: Some(1),
        tcp: Some((0x18, 1000, 1, 1)),
        icmp: None,
        to_server: true,
        established: true,
        app_proto: None,
        l4_valid: true,
        ts: Timestamp::from_secs_micros(100, 0),
    }
}

fn sids(rs: &Ruleset, p: &PacketView<'_>, flow: &mut Option<Box<FlowDetect>>) -> Vec<u32> {
    let mut st = DetectState::default();
    let mut sc = Scratch::default();
    let mut hits = Vec::new();
    rs.match_packet(p, flow, &mut st, &mut sc, &mut hits);
    hits.iter()
        .filter_map(|h| rs.rule(h.rule).map(|r| r.rule.sid))
        .collect()
}

#[test]
fn content_header_and_prefilter() {
    let rs = ruleset(
        "alert tcp any any -> any 80 (msg:\"a\"; content:\"evil\"; nocase; sid:1;)\n\
         alert tcp any any -> any 443 (msg:\"b\"; content:\"evil\"; sid:2;)\n\
         alert tcp $HOME_NET any -> $EXTERNAL_NET any (msg:\"c\"; dsize:>3; sid:3;)\n\
         alert udp any any -> any any (msg:\"d\"; sid:4;)\n\
         alert tcp any any -> any any (msg:\"e\"; content:\"x\"; pcre:\"/EV[iI]L$/i\"; sid:5;)",
    );
    let mut f = None;
    let mut got = sids(&rs, &pkt(b"xx EVIL"), &mut f);
    got.sort();
    assert_eq!(got, [1, 3, 5]);
    assert_eq!(sids(&rs, &pkt(b"ok"), &mut f), Vec::<u32>::new());
}

#[test]
fn flowbits_and_pass() {
    let rs = ruleset(
        "alert tcp any any -> any any (msg:\"set\"; content:\"login\"; flowbits:set,seen; flowbits:noalert; sid:1;)\n\
         alert tcp any any -> any any (msg:\"is\"; content:\"data\"; flowbits:isset,seen; sid:2;)\n\
         pass tcp any any -> any any (msg:\"p\"; content:\"trusted\"; sid:3;)\n\
         alert tcp any any -> any any (msg:\"t\"; content:\"data\"; sid:4;)",
    );
    let mut f = None;
    assert_eq!(sids(&rs, &pkt(b"data"), &mut f), [4]);
    assert_eq!(sids(&rs, &pkt(b"login"), &mut f), Vec::<u32>::new());
    let mut got = sids(&rs, &pkt(b"data"), &mut f);
    got.sort();
    assert_eq!(got, [2, 4]);
    assert_eq!(sids(&rs, &pkt(b"trusted data"), &mut f), Vec::<u32>::new());
}

#[test]
fn threshold_limit_by_src() {
    let rs = ruleset(
        "alert tcp any any -> any any (msg:\"l\"; content:\"a\"; threshold:type limit, track by_src, count 2, seconds 60; sid:1;)",
    );
    let mut st = DetectState::default();
    let mut sc = Scratch::default();
    let mut f = None;
    let mut n = 0;
    for _ in 0..5 {
        let mut hits = Vec::new();
        rs.match_packet(&pkt(b"a"), &mut f, &mut st, &mut sc, &mut hits);
        n += hits.len();
    }
    assert_eq!(n, 2);
}

#[test]
fn unsupported_is_reported() {
    let vars = Vars::suricata_defaults().resolve();
    let classes = Classification::suricata_default();
    let load = load_rules_str(
        "alert tcp any any -> any any (msg:\"x\"; content:\"a\"; byte_extract:1,0,v; content:\"b\"; distance:v; sid:9;)",
        "t.rules",
        &vars,
        &classes,
    );
    let rs = Ruleset::compile(&load, &classes);
    assert_eq!(rs.len() + rs.unsupported().len(), load.rules.len());
}

proptest::proptest! {
    #[test]
    fn packet_matching_never_panics(payload in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
        let rs = ruleset(
            "alert tcp any any -> any any (msg:\"a\"; content:\"|00|\"; byte_test:2,>,10,0,relative; isdataat:!4,relative; sid:1;)\n\
             alert tcp any any -> any any (msg:\"b\"; content:\"A\"; byte_jump:1,0,relative,post_offset -1; content:\"B\"; within:3; sid:2;)\n\
             alert tcp any any -> any any (msg:\"c\"; pcre:\"/^.{2}\\x00/s\"; sid:3;)",
        );
        let mut f = None;
        let _ = sids(&rs, &pkt(&payload), &mut f);
    }
}

#[test]
fn ip_list_rules_are_indexed_by_address() {
    let rs = ruleset(
        "alert ip [1.2.3.4,8.8.8.0/24] any -> any any (msg:\"src\"; sid:1;)\n\
         alert ip any any -> [8.8.4.4,9.9.9.9] any (msg:\"dst\"; sid:2;)\n\
         alert ip [10.0.0.1] any <> [7.7.7.7] any (msg:\"both\"; sid:3;)",
    );
    let mut f = None;
    let mut p = pkt(b"");
    assert_eq!(sids(&rs, &p, &mut f), Vec::<u32>::new());
    p.src = IpAddr::V4(Ipv4Addr::new(8, 8, 8, 9));
    p.dst = IpAddr::V4(Ipv4Addr::new(9, 9, 9, 9));
    let mut got = sids(&rs, &p, &mut f);
    got.sort();
    assert_eq!(got, [1, 2]);
    p.src = IpAddr::V4(Ipv4Addr::new(7, 7, 7, 7));
    p.dst = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    assert_eq!(sids(&rs, &p, &mut f), [3]);
}

#[test]
fn port_groups_by_source_and_destination() {
    let rs = ruleset(
        "alert tcp any 80 -> any any (msg:\"sport\"; content:\"HTTP/1.1 200\"; sid:1;)\n\
         alert tcp any any -> any [80,8080] (msg:\"dport\"; content:\"GET\"; sid:2;)\n\
         alert tcp any any <> any 80 (msg:\"both\"; content:\"GET\"; sid:3;)",
    );
    let mut f = None;
    let mut p = pkt(b"GET / HTTP/1.1 200");
    let mut got = sids(&rs, &p, &mut f);
    got.sort();
    assert_eq!(got, [2, 3]);
    p.sport = 80;
    p.dport = 40000;
    let mut got = sids(&rs, &p, &mut f);
    got.sort();
    assert_eq!(got, [1, 3]);
}

#[test]
fn tls_application_data_is_not_payload_inspected() {
    let rs = ruleset(
        "alert tcp any any -> any any (msg:\"content\"; content:\"evil\"; sid:1;)\n\
         alert tcp any any -> any any (msg:\"header only\"; flags:PA; sid:2;)",
    );
    let mut f = None;
    let mut p = pkt(b"\x16\x03\x01\x00\x05evil!");
    p.app_proto = Some("tls");
    // handshake: inspected
    assert_eq!(sids(&rs, &p, &mut f), [1, 2]);
    // the first application-data record switches payload inspection off
    // for the flow; header-only rules still run
    let appdata = b"\x17\x03\x03\x00\x10evil evil evil..";
    p.payload = appdata;
    assert_eq!(sids(&rs, &p, &mut f), [2]);
    p.payload = b"continuation evil";
    assert_eq!(sids(&rs, &p, &mut f), [2]);
    // other flows, and non-TLS flows, are unaffected
    let mut g = None;
    let mut q = pkt(appdata);
    assert_eq!(sids(&rs, &q, &mut g), [1, 2]);
    q.app_proto = Some("http");
    assert_eq!(sids(&rs, &q, &mut g), [1, 2]);
}
