#![no_main]
//! Signature engine: the first line of the input is a rule (compiled and,
//! if accepted, run), the rest a packet payload matched by it and by a
//! fixed set of rules exercising relative content, byte_* (with
//! byte_extract variables), base64_decode/base64_data, flowint, xbits and
//! pcre; the payload is also fed as stream data (stream inspection).
use std::net::{IpAddr, Ipv4Addr};

use libfuzzer_sys::fuzz_target;
use zoneguard::signatures::engine::state::DetectState;
use zoneguard::signatures::engine::{PacketView, Ruleset, Scratch};
use zoneguard::signatures::{load_rules_str, Classification, Vars};
use zoneguard::time::Timestamp;

const FIXED: &str = "alert tcp any any -> any any (msg:\"a\"; content:\"|00|\"; byte_test:2,>,10,0,relative; isdataat:!4,relative; sid:1;)\n\
alert tcp any any -> any any (msg:\"b\"; content:\"A\"; byte_jump:1,0,relative,post_offset -1; content:\"B\"; within:3; sid:2;)\n\
alert tcp any any -> any any (msg:\"c\"; pcre:\"/^.{2}\\x00/s\"; content:\"x\"; distance:-2; sid:3;)\n\
alert tcp any any -> any any (msg:\"d\"; content:\"L\"; byte_extract:1,0,n,relative; content:\"M\"; distance:n; within:4; byte_test:1,<,n,0,relative; isdataat:n,relative; sid:4;)\n\
alert tcp any any -> any any (msg:\"e\"; content:\"=\"; base64_decode:bytes 64,relative; base64_data; content:\"Z\"; byte_extract:2,0,v,relative,string,hex; content:\"Q\"; distance:v; sid:5;)\n\
alert tcp any any -> any any (msg:\"f\"; flowint:c,+,1; flowint:c,>,2; xbits:set,x,track ip_pair; stream_size:client,>,0; sid:6;)\n";

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let (rule, payload) = data.split_at(split);
    let text = format!("{FIXED}{}\n", String::from_utf8_lossy(rule));
    let vars = Vars::suricata_defaults().resolve();
    let classes = Classification::suricata_default();
    let load = load_rules_str(&text, "fuzz.rules", &vars, &classes);
    let rs = Ruleset::compile(&load, &classes);
    let view = PacketView {
        src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        sport: 1234,
        dport: 80,
        proto: 6,
        payload,
        ttl: 64,
        tos: 0,
        ip_id: Some(7),
        tcp: Some((0x18, 512, 1, 1)),
        icmp: None,
        to_server: true,
        established: true,
        app_proto: None,
        l4_valid: true,
        ts: Timestamp(0),
        stream_sizes: Some((1, 1)),
    };
    let mut flow = None;
    let mut st = DetectState::default();
    let mut sc = Scratch::default();
    let mut hits = Vec::new();
    for _ in 0..3 {
        rs.match_packet(&view, &mut flow, &mut st, &mut sc, &mut hits);
        // The same bytes as stream data: joins the previous copy's tail.
        sc.stream.data(payload);
        rs.match_stream(&view, &mut flow, &mut st, &mut sc, &mut hits);
    }
});
