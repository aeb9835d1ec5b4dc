//! Stream inspection end to end: a capture whose TCP payload splits a
//! rule's content across segments (in order and out of order) replayed
//! with `zoneguard replay -S`, alerts counted per sid from eve.json.

mod common;

use std::collections::BTreeMap;

use zoneguard::capture::{LinkType, PcapWriter};
use zoneguard::time::Timestamp;

const CLIENT: [u8; 4] = [10, 0, 0, 1];
const SERVER: [u8; 4] = [10, 0, 0, 2];
const CPORT: u16 = 40000;
const SPORT: u16 = 9999;

/// A raw IPv4/TCP packet (checksums left zero: replayed with `-k none`).
fn tcp(to_server: bool, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let (src, dst, sp, dp) = if to_server {
        (CLIENT, SERVER, CPORT, SPORT)
    } else {
        (SERVER, CLIENT, SPORT, CPORT)
    };
    let total = 20 + 20 + payload.len();
    let mut p = Vec::with_capacity(total);
    p.extend_from_slice(&[0x45, 0]);
    p.extend_from_slice(&u16::try_from(total).unwrap().to_be_bytes());
    p.extend_from_slice(&[0, 1, 0x40, 0, 64, 6, 0, 0]);
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(&sp.to_be_bytes());
    p.extend_from_slice(&dp.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ack.to_be_bytes());
    p.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    p.extend_from_slice(payload);
    p
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH_ACK: u8 = 0x18;

fn write_capture(path: &std::path::Path) {
    let mut w = PcapWriter::new(Vec::new(), LinkType::Raw, 65535).unwrap();
    let (c, s) = (1000u32, 5000u32);
    let segs: &[&[u8]] = &[b"hello EVIL", b"PAYLOAD world ", b"xx ABC", b"DEF yy"];
    let mut pkts = vec![
        tcp(true, c, 0, SYN, b""),
        tcp(false, s, c + 1, SYN | ACK, b""),
        tcp(true, c + 1, s + 1, ACK, b""),
    ];
    let mut seq = c + 1;
    let mut offs = Vec::new();
    for seg in segs {
        offs.push(seq);
        seq += u32::try_from(seg.len()).unwrap();
    }
    // Segments 1 and 2 in order, then 4 before 3 (out of order).
    pkts.push(tcp(true, offs[0], s + 1, PSH_ACK, segs[0]));
    pkts.push(tcp(true, offs[1], s + 1, PSH_ACK, segs[1]));
    pkts.push(tcp(true, offs[3], s + 1, PSH_ACK, segs[3]));
    pkts.push(tcp(true, offs[2], s + 1, PSH_ACK, segs[2]));
    pkts.push(tcp(false, s + 1, seq, ACK, b""));
    for (i, p) in pkts.iter().enumerate() {
        let ts = Timestamp::from_secs_micros(1_700_000_000, u32::try_from(i).unwrap() * 1000);
        w.write_packet(ts, p).unwrap();
    }
    std::fs::write(path, w.into_inner()).unwrap();
}

#[test]
fn contents_split_across_segments_match_the_stream() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("split.pcap");
    write_capture(&pcap);
    let rules = dir.path().join("t.rules");
    std::fs::write(
        &rules,
        r#"alert tcp any any -> any any (msg:"split in order"; flow:established,to_server; content:"EVILPAYLOAD"; sid:1;)
alert tcp-pkt any any -> any any (msg:"packets only"; content:"EVILPAYLOAD"; sid:2;)
alert tcp any any -> any any (msg:"only stream"; flow:only_stream; content:"hello"; sid:3;)
alert tcp any any -> any any (msg:"once, not again from the tail"; content:"hello"; sid:4;)
alert tcp any any -> any any (msg:"no stream"; flow:no_stream; content:"world"; sid:5;)
alert tcp any any -> any any (msg:"split out of order"; content:"ABCDEF"; sid:6;)
alert tcp-stream any any -> any any (msg:"stream proto"; content:"CDEF y"; sid:7;)
alert tcp any any -> any any (msg:"relative across"; content:"EVIL"; content:"world"; distance:8; within:5; sid:8;)
alert tcp any any -> any any (msg:"stream_size"; stream_size:client,>,20; content:"ABCDEF"; sid:9;)
alert tcp any any -> any any (msg:"stream_size small"; stream_size:client,<,5; content:"ABCDEF"; sid:10;)
"#,
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = common::zoneguard(&[
        "replay",
        "-q",
        "-S",
        rules.to_str().unwrap(),
        "-r",
        pcap.to_str().unwrap(),
        "-l",
        out.to_str().unwrap(),
        "--workers",
        "1",
        "-k",
        "none",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let eve = common::read_jsonl(&out.join("eve.json"));
    let mut per_sid: BTreeMap<u64, u64> = BTreeMap::new();
    for a in common::of_type(&eve, "alert") {
        *per_sid
            .entry(a["alert"]["signature_id"].as_u64().unwrap_or(0))
            .or_default() += 1;
    }
    let want: BTreeMap<u64, u64> = [
        (1, 1),
        (3, 1),
        (4, 1),
        (5, 1),
        (6, 1),
        (7, 1),
        (8, 1),
        (9, 1),
    ]
    .into_iter()
    .collect();
    assert_eq!(per_sid, want);
}
