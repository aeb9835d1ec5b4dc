//! Decoding the suricata-verify captures in /work/shared/corpus: what their
//! expected outputs need from the decoder and the defragmenter.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::*;
use crate::time::Timestamp;

const CORPUS: &str = "/work/shared/corpus/suricata-verify";

/// A classic pcap file read for tests: link type and (time, frame) records.
struct Pcap {
    linktype: LinkType,
    records: Vec<(Timestamp, Vec<u8>)>,
}

/// Reads a classic pcap (either byte order, micro- or nanosecond); `None`
/// for pcapng or unreadable files. Stops at a truncated record.
fn read_pcap(path: &Path) -> Option<Pcap> {
    let data = std::fs::read(path).ok()?;
    let magic: [u8; 4] = data.get(..4)?.try_into().ok()?;
    let (le, nanos) = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] => (true, false),
        [0xa1, 0xb2, 0xc3, 0xd4] => (false, false),
        [0x4d, 0x3c, 0xb2, 0xa1] => (true, true),
        [0xa1, 0xb2, 0x3c, 0x4d] => (false, true),
        _ => return None,
    };
    let u32_at = |off: usize| -> Option<u32> {
        let b: [u8; 4] = data.get(off..off + 4)?.try_into().ok()?;
        Some(if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    };
    let linktype = LinkType::from_u32(u32_at(20)? & 0x0FFF_FFFF);
    let mut records = Vec::new();
    let mut off = 24usize;
    while let (Some(sec), Some(frac), Some(incl)) = (u32_at(off), u32_at(off + 4), u32_at(off + 8))
    {
        let start = off + 16;
        let Some(frame) = data.get(start..start + incl as usize) else {
            break;
        };
        let ts = if nanos {
            Timestamp::from_secs_nanos(i64::from(sec), frac)
        } else {
            Timestamp::from_secs_micros(i64::from(sec), frac)
        };
        records.push((ts, frame.to_vec()));
        off = start + incl as usize;
    }
    Some(Pcap { linktype, records })
}

fn pcap_in(dir: &str) -> Option<Pcap> {
    let d = Path::new(CORPUS).join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(d)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .collect();
    files.sort();
    read_pcap(files.first()?)
}

/// Decodes every frame, feeding fragments to a defragmenter; returns, per
/// frame, the decoded frame's facts and any reassembled datagram.
fn with_defrag(p: &Pcap, mut f: impl FnMut(&Decoded<'_>, Option<&Decoded<'_>>)) {
    let opts = DecodeOptions::default();
    let mut df = Defragmenter::new(DefragConfig::default());
    for (ts, frame) in &p.records {
        let d = decode(p.linktype, frame, &opts);
        match df.insert(*ts, &d) {
            Some(dg) => {
                let r = decode_reassembled(&d, &dg, &opts);
                f(&d, Some(&r));
            }
            None => f(&d, None),
        }
    }
}

macro_rules! corpus {
    ($dir:expr) => {
        match pcap_in($dir) {
            Some(p) => p,
            None => {
                eprintln!("skipping: {} not available", $dir);
                return;
            }
        }
    };
}

#[test]
fn defrag_eth_vlan_ipv6_tcp() {
    let p = corpus!("bug-6887-defrag-eth-vlan-ipv6-tcp");
    assert_eq!(p.linktype, LinkType::Ethernet);
    let mut sizes = Vec::new();
    with_defrag(&p, |d, r| {
        assert_eq!(d.vlan_count, 1);
        if let Some(r) = r {
            assert!(matches!(r.l4, L4::Tcp(_)), "{:?}", r.anomalies);
            assert_eq!(r.vlan_count, 1, "outer VLAN kept");
            assert!(r.ether.is_some());
            sizes.push(r.payload.len());
        }
    });
    // The rule is `dsize:1000`.
    assert_eq!(sizes, vec![1000]);
}

#[test]
fn defrag_ppp_ipv6_tcp() {
    let p = corpus!("bug-6887-defrag-ppp-ipv6-tcp");
    assert_eq!(p.linktype, LinkType::Ppp);
    let mut sizes = Vec::new();
    with_defrag(&p, |d, r| {
        assert!(matches!(d.l3, L3::Ipv6(_)), "{:?}", d.anomalies);
        if let Some(r) = r {
            assert!(matches!(r.l4, L4::Tcp(_)));
            sizes.push(r.payload.len());
        }
    });
    assert_eq!(sizes, vec![1000]);
}

#[test]
fn defrag_eth_ip_gre_ppp_ip_udp_max_size() {
    let p = corpus!("bug-6942-6887-defrag-eth-ip-gre-ppp-ip-udp-data");
    let mut sizes = Vec::new();
    with_defrag(&p, |d, r| {
        assert_eq!(d.tunnel, Tunnel::Gre, "{:?}", d.anomalies);
        if let Some(r) = r {
            assert!(matches!(r.l4, L4::Udp(_)), "{:?}", r.anomalies);
            assert_eq!(r.tunnel, Tunnel::Gre);
            sizes.push(r.payload.len());
        }
    });
    // The rule is `dsize:>65000`.
    assert_eq!(sizes.len(), 1, "{sizes:?}");
    assert!(sizes[0] > 65000, "{sizes:?}");
}

#[test]
fn gre_tunnelled_icmp_and_ssh() {
    let p = corpus!("bug-5633-gre-02");
    let opts = DecodeOptions::default();
    let target: IpAddr = "172.28.2.3".parse().unwrap();
    let (mut echo, mut client_banner, mut server_banner) = (0, false, false);
    for (_, f) in &p.records {
        let d = decode(p.linktype, f, &opts);
        assert_eq!(d.tunnel, Tunnel::Gre);
        assert!(d.anomalies.is_empty(), "{:?}", d.anomalies);
        if let L4::Icmp(i) = d.l4 {
            if i.itype == 8 {
                assert_eq!(d.dst_ip(), Some(target));
                echo += 1;
            }
        }
        client_banner |= d.payload.starts_with(b"SSH-2.0-OpenSSH_3.6.1p1");
        server_banner |= d.payload.starts_with(b"SSH-1.99-OpenSSH_3.1p1");
    }
    assert!(echo > 0);
    assert!(client_banner && server_banner);
}

#[test]
fn cisco_hdlc_http() {
    let p = corpus!("decode-chdlc-01");
    assert_eq!(p.linktype, LinkType::CiscoHdlc);
    let opts = DecodeOptions::default();
    let mut n = 0;
    let mut get = false;
    for (_, f) in &p.records {
        let d = decode(p.linktype, f, &opts);
        assert!(matches!(d.l3, L3::Ipv4(_)));
        assert!(matches!(d.l4, L4::Tcp(_)));
        get |= d.payload.starts_with(b"GET ");
        n += 1;
    }
    // decoder.ipv4 and decoder.chdlc are both 17.
    assert_eq!(n, 17);
    assert!(get);
}

#[test]
fn linux_sll2_http() {
    let p = corpus!("decode-sll2-02");
    assert_eq!(p.linktype, LinkType::LinuxSll2);
    let opts = DecodeOptions::default();
    let (mut tcp, mut testing) = (0, false);
    for (_, f) in &p.records {
        let d = decode(p.linktype, f, &opts);
        if matches!(d.l4, L4::Tcp(_)) && matches!(d.l3, L3::Ipv4(_)) {
            tcp += 1;
        }
        testing |= d.payload.starts_with(b"GET /testing");
    }
    assert_eq!(tcp, 159);
    assert!(testing);
}

#[test]
fn fuzzed_tcp_header_keeps_ip() {
    let p = corpus!("bug-6875-01");
    let opts = DecodeOptions::default();
    let first = decode(p.linktype, &p.records[0].1, &opts);
    // `alert ip` must still match packet 1 although its TCP header is bad.
    assert!(matches!(first.l3, L3::Ipv4(_)));
    assert_eq!(first.l4, L4::None);
    assert!(first.anomalies.contains(Anomaly::TcpHlenTooSmall));
    // The fuzzed first record's length swallows the rest of the file.
    assert_eq!(p.records.len(), 1);
}

#[test]
fn udp_trailing_data_rejected() {
    let p = corpus!("udp-trailing-data");
    let d = decode(p.linktype, &p.records[0].1, &DecodeOptions::default());
    assert!(d.anomalies.contains(Anomaly::UdpHlenInvalid));
    assert_eq!(d.l4, L4::None);
    assert_eq!(d.src_port(), 0);
}

#[test]
fn ethernet_macs() {
    let p = corpus!("mac-eve-packet");
    assert_eq!(p.records.len(), 2);
    for (_, f) in &p.records {
        let d = decode(p.linktype, f, &DecodeOptions::default());
        let e = d.ether.unwrap();
        assert_eq!(e.dst, [0x00, 0x25, 0x90, 0xe3, 0xd2, 0xe1]);
        assert_eq!(e.src, [0x0c, 0x86, 0x10, 0xed, 0xd7, 0xc6]);
        // The SYNs claim a 24-byte TCP header in a 40-byte IP packet: the
        // TCP layer is invalid (as in Suricata), the IP layer stays for
        // `alert ip`.
        assert!(matches!(d.l3, L3::Ipv4(_)));
        assert!(d.anomalies.contains(Anomaly::TcpHlenTooSmall));
    }
}

#[test]
fn every_corpus_pcap_decodes_without_panic() {
    let Ok(dirs) = std::fs::read_dir(CORPUS) else {
        return;
    };
    let mut files = 0;
    for dir in dirs.flatten() {
        let Ok(entries) = std::fs::read_dir(dir.path()) else {
            continue;
        };
        for e in entries.flatten() {
            let Some(p) = read_pcap(&e.path()) else {
                continue;
            };
            files += 1;
            for k in [false, true] {
                let opts = DecodeOptions {
                    validate_checksums: k,
                    ..Default::default()
                };
                let mut df = Defragmenter::new(DefragConfig::default());
                for (ts, f) in &p.records {
                    let d = decode(p.linktype, f, &opts);
                    if let Some(dg) = df.insert(*ts, &d) {
                        let _ = decode_reassembled(&d, &dg, &opts);
                    }
                    // Every truncation of the first bytes must be safe too.
                    for cut in [0, 1, 13, 14, 20, 33, 34, 40, 54, 60] {
                        let _ = decode(p.linktype, f.get(..cut).unwrap_or(f), &opts);
                    }
                }
            }
        }
    }
    assert!(files > 10, "{files}");
}
