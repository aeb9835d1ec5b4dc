//! Tests of [`CaptureReader`] on synthetic captures of every variant, on the
//! suricata-verify corpus, and on hostile input.

use super::*;
use crate::capture::PcapWriter;
use proptest::prelude::*;
use std::io::Cursor;

// ---------------------------------------------------------------- builders

fn put16(out: &mut Vec<u8>, big: bool, v: u16) {
    out.extend_from_slice(&if big {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    });
}

fn put32(out: &mut Vec<u8>, big: bool, v: u32) {
    out.extend_from_slice(&if big {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    });
}

/// A classic pcap file. `magic` is written in the byte order `big` picks.
fn pcap_file(magic: u32, big: bool, network: u32, packets: &[(u32, u32, &[u8], u32)]) -> Vec<u8> {
    let modified = magic == 0xa1b2_cd34;
    let mut v = Vec::new();
    put32(&mut v, big, magic);
    put16(&mut v, big, 2);
    put16(&mut v, big, 4);
    put32(&mut v, big, 0);
    put32(&mut v, big, 0);
    put32(&mut v, big, 65535);
    put32(&mut v, big, network);
    for (sec, frac, data, orig) in packets {
        put32(&mut v, big, *sec);
        put32(&mut v, big, *frac);
        put32(&mut v, big, data.len() as u32);
        put32(&mut v, big, *orig);
        if modified {
            v.extend_from_slice(&[0; 8]);
        }
        v.extend_from_slice(data);
    }
    v
}

/// Builds pcapng streams block by block.
struct Ng {
    big: bool,
    out: Vec<u8>,
    /// Offset of each block written.
    offsets: Vec<usize>,
}

impl Ng {
    fn new(big: bool) -> Self {
        let mut ng = Ng {
            big,
            out: Vec::new(),
            offsets: Vec::new(),
        };
        ng.shb(big);
        ng
    }

    fn block(&mut self, btype: u32, body: &[u8]) -> &mut Self {
        let mut body = body.to_vec();
        while body.len() % 4 != 0 {
            body.push(0);
        }
        let len = body.len() as u32 + 12;
        self.offsets.push(self.out.len());
        put32(&mut self.out, self.big, btype);
        put32(&mut self.out, self.big, len);
        self.out.extend_from_slice(&body);
        put32(&mut self.out, self.big, len);
        self
    }

    fn shb(&mut self, big: bool) -> &mut Self {
        self.big = big;
        let mut body = Vec::new();
        put32(&mut body, big, 0x1a2b_3c4d);
        put16(&mut body, big, 1);
        put16(&mut body, big, 0);
        body.extend_from_slice(&[0xff; 8]);
        // An option: shb_userappl.
        body.extend(self.opt(4, b"zoneguard tests"));
        body.extend(self.opt(0, b""));
        self.block(0x0a0d_0d0a, &body)
    }

    fn opt(&self, code: u16, value: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        put16(&mut v, self.big, code);
        put16(&mut v, self.big, value.len() as u16);
        v.extend_from_slice(value);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }

    fn idb(
        &mut self,
        linktype: u16,
        snaplen: u32,
        tsresol: Option<u8>,
        tsoffset: Option<i64>,
    ) -> &mut Self {
        let mut body = Vec::new();
        put16(&mut body, self.big, linktype);
        put16(&mut body, self.big, 0);
        put32(&mut body, self.big, snaplen);
        body.extend(self.opt(2, b"eth0"));
        if let Some(r) = tsresol {
            body.extend(self.opt(9, &[r]));
        }
        if let Some(o) = tsoffset {
            let b = if self.big {
                o.to_be_bytes()
            } else {
                o.to_le_bytes()
            };
            body.extend(self.opt(14, &b));
        }
        body.extend(self.opt(0, b""));
        self.block(1, &body)
    }

    fn epb(&mut self, iface: u32, ts: u64, data: &[u8], orig: u32) -> &mut Self {
        let mut body = Vec::new();
        put32(&mut body, self.big, iface);
        put32(&mut body, self.big, (ts >> 32) as u32);
        put32(&mut body, self.big, ts as u32);
        put32(&mut body, self.big, data.len() as u32);
        put32(&mut body, self.big, orig);
        body.extend_from_slice(data);
        while body.len() % 4 != 0 {
            body.push(0);
        }
        // epb_flags option, to be ignored.
        body.extend(self.opt(2, &[0, 0, 0, 1]));
        self.block(6, &body)
    }

    fn pb(&mut self, iface: u16, ts: u64, data: &[u8]) -> &mut Self {
        let mut body = Vec::new();
        put16(&mut body, self.big, iface);
        put16(&mut body, self.big, 0);
        put32(&mut body, self.big, (ts >> 32) as u32);
        put32(&mut body, self.big, ts as u32);
        put32(&mut body, self.big, data.len() as u32);
        put32(&mut body, self.big, data.len() as u32);
        body.extend_from_slice(data);
        self.block(2, &body)
    }

    fn spb(&mut self, orig: u32, data: &[u8]) -> &mut Self {
        let mut body = Vec::new();
        put32(&mut body, self.big, orig);
        body.extend_from_slice(data);
        self.block(3, &body)
    }

    fn bytes(&self) -> Vec<u8> {
        self.out.clone()
    }
}

/// An owned copy of a packet, to compare after the borrow ends.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pkt {
    ts: Timestamp,
    linktype: LinkType,
    data: Vec<u8>,
    orig_len: u32,
    interface: u32,
}

fn own(p: PacketRef<'_>) -> Pkt {
    Pkt {
        ts: p.ts,
        linktype: p.linktype,
        data: p.data.to_vec(),
        orig_len: p.orig_len,
        interface: p.interface,
    }
}

/// Reads a whole capture: the packets, and the error that ended it.
fn read_all(bytes: Vec<u8>) -> Result<(Vec<Pkt>, Option<CaptureError>), CaptureError> {
    let mut r = CaptureReader::from_reader("test.cap", Cursor::new(bytes))?;
    let mut out = Vec::new();
    let err = loop {
        match r.next_packet() {
            Ok(Some(p)) => out.push(own(p)),
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
    };
    assert_eq!(r.packets_read(), out.len() as u64);
    // Finished readers stay finished.
    assert!(matches!(r.next_packet(), Ok(None)));
    assert!(matches!(r.next_packet(), Ok(None)));
    Ok((out, err))
}

fn read_ok(bytes: Vec<u8>) -> Vec<Pkt> {
    match read_all(bytes) {
        Ok((p, None)) => p,
        Ok((_, Some(e))) => panic!("unexpected error: {e}"),
        Err(e) => panic!("unexpected open error: {e}"),
    }
}

fn read_err(bytes: Vec<u8>) -> (Vec<Pkt>, CaptureError) {
    match read_all(bytes) {
        Ok((p, Some(e))) => (p, e),
        Ok((p, None)) => panic!("expected an error, read {} packets", p.len()),
        Err(e) => (Vec::new(), e),
    }
}

const T0: u32 = 1_793_667_635;

// ---------------------------------------------------------------- pcap

#[test]
fn pcap_micro_and_nano_both_byte_orders() {
    let a: &[u8] = &[0xaa; 60];
    let b: &[u8] = &[0xbb; 1514];
    for big in [false, true] {
        for (magic, nanos) in [(0xa1b2_c3d4u32, false), (0xa1b2_3c4d, true)] {
            let bytes = pcap_file(
                magic,
                big,
                1,
                &[(T0, 22_134, a, 60), (T0 + 1, 999_999, b, 1600)],
            );
            let mut r = CaptureReader::from_reader("x", Cursor::new(bytes.clone())).unwrap();
            assert_eq!(
                r.format(),
                if nanos {
                    CaptureFormat::PcapNanos
                } else {
                    CaptureFormat::PcapMicros
                }
            );
            assert_eq!(r.offset(), 24);
            let p = own(r.next_packet().unwrap().unwrap());
            assert_eq!(r.offset(), 24 + 16 + 60);
            let q = own(r.next_packet().unwrap().unwrap());
            assert_eq!(r.offset(), bytes.len() as u64);
            assert!(r.next_packet().unwrap().is_none());
            assert_eq!(r.packets_read(), 2);
            let ts = |s: u32, f: u32| {
                if nanos {
                    Timestamp::from_secs_nanos(i64::from(s), f)
                } else {
                    Timestamp::from_secs_micros(i64::from(s), f)
                }
            };
            assert_eq!(
                p,
                Pkt {
                    ts: ts(T0, 22_134),
                    linktype: LinkType::Ethernet,
                    data: a.to_vec(),
                    orig_len: 60,
                    interface: 0
                }
            );
            assert_eq!(q.ts, ts(T0 + 1, 999_999));
            assert_eq!(q.data, b);
            assert_eq!(q.orig_len, 1600);
        }
    }
}

#[test]
fn pcap_linktypes_and_fcs_bits() {
    for (network, lt) in [
        (0u32, LinkType::Null),
        (9, LinkType::Ppp),
        (101, LinkType::Raw),
        (104, LinkType::CiscoHdlc),
        (113, LinkType::LinuxSll),
        (276, LinkType::LinuxSll2),
        (147, LinkType::Other(147)),
    ] {
        let p = read_ok(pcap_file(
            0xa1b2_c3d4,
            false,
            network,
            &[(T0, 0, &[1, 2, 3], 3)],
        ));
        assert_eq!(p[0].linktype, lt);
    }
    // FCS of 4 bytes announced in the upper bits.
    let network = (2u32 << 28) | 0x0400_0000 | 1;
    let bytes = pcap_file(0xa1b2_c3d4, true, network, &[(T0, 0, &[1; 64], 64)]);
    let mut r = CaptureReader::from_reader("x", Cursor::new(bytes)).unwrap();
    assert_eq!(r.fcs_len(), Some(4));
    assert_eq!(
        r.next_packet().unwrap().unwrap().linktype,
        LinkType::Ethernet
    );
}

#[test]
fn pcap_modified_format() {
    let bytes = pcap_file(
        0xa1b2_cd34,
        false,
        1,
        &[(T0, 5, &[7; 42], 42), (T0, 6, &[8; 10], 10)],
    );
    let mut r = CaptureReader::from_reader("x", Cursor::new(bytes.clone())).unwrap();
    assert_eq!(r.format(), CaptureFormat::PcapModified);
    let p = own(r.next_packet().unwrap().unwrap());
    assert_eq!(p.data, vec![7; 42]);
    assert_eq!(p.ts, Timestamp::from_secs_micros(i64::from(T0), 5));
    assert_eq!(own(r.next_packet().unwrap().unwrap()).data, vec![8; 10]);
    assert!(r.next_packet().unwrap().is_none());
    assert_eq!(r.offset(), bytes.len() as u64);
}

#[test]
fn writer_round_trip_across_buffer_refills() {
    // ~3 MiB of packets of odd sizes, so records straddle the 1 MiB window.
    let mut w = PcapWriter::new(Vec::new(), LinkType::Raw, 0).unwrap();
    let mut want = Vec::new();
    for i in 0..4000u32 {
        let len = (i * 7919) % 1500 + 1;
        let data: Vec<u8> = (0..len).map(|j| (i + j) as u8).collect();
        let ts = Timestamp::from_secs_micros(i64::from(T0 + i / 100), (i * 37) % 1_000_000);
        w.write_packet(ts, &data).unwrap();
        want.push(Pkt {
            ts,
            linktype: LinkType::Raw,
            data,
            orig_len: len,
            interface: 0,
        });
    }
    let bytes = w.into_inner();
    assert!(bytes.len() > 2 * BUF_SIZE);
    assert_eq!(read_ok(bytes), want);
}

#[test]
fn open_reads_a_file_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one.pcap");
    std::fs::write(
        &path,
        pcap_file(0xa1b2_c3d4, false, 1, &[(T0, 0, &[1; 60], 60)]),
    )
    .unwrap();
    let mut r = CaptureReader::open(&path).unwrap();
    assert_eq!(r.name(), path.display().to_string());
    assert!(r.next_packet().unwrap().is_some());
    assert!(r.next_packet().unwrap().is_none());

    let missing = dir.path().join("missing.pcap");
    let e = CaptureReader::open(&missing).unwrap_err();
    assert!(matches!(e, CaptureError::Io { .. }));
    assert!(e.to_string().contains("missing.pcap"), "{e}");
}

// ---------------------------------------------------------------- pcapng

#[test]
fn pcapng_two_interfaces_tsresol_spb_pb_and_unknown_blocks() {
    let t_us = u64::from(T0) * 1_000_000 + 22_134;
    let t_ns = u64::from(T0) * 1_000_000_000 + 123_456_789;
    let mut ng = Ng::new(false);
    ng.idb(1, 96, None, None) // Ethernet, µs, snaplen 96
        .block(4, &[0, 0, 0, 0]) // NRB (empty record list)
        .idb(101, 0, Some(9), Some(100)) // raw IP, ns, +100 s
        .epb(0, t_us, &[0xe0; 60], 60)
        .block(0x0000_0bad, b"custom block data") // custom
        .epb(1, t_ns, &[0x45; 40], 40)
        .spb(200, &[0x5a; 96]) // original 200 bytes, cut to IDB 0's 96
        .block(5, &[0; 20]) // ISB
        .block(10, &[0; 8]) // DSB
        .pb(1, t_ns + 1, &[0x60; 48])
        .idb(113, 0, Some(0x80 | 10), None) // Linux SLL, 2^-10 s
        .epb(2, (u64::from(T0) << 10) | 512, &[0x11; 20], 20);
    let bytes = ng.bytes();
    let mut r = CaptureReader::from_reader("ng", Cursor::new(bytes.clone())).unwrap();
    assert_eq!(r.format(), CaptureFormat::Pcapng);
    let mut got = Vec::new();
    while let Some(p) = r.next_packet().unwrap() {
        got.push(own(p));
    }
    assert_eq!(r.offset(), bytes.len() as u64);
    let secs = i64::from(T0);
    assert_eq!(
        got,
        vec![
            Pkt {
                ts: Timestamp::from_secs_micros(secs, 22_134),
                linktype: LinkType::Ethernet,
                data: vec![0xe0; 60],
                orig_len: 60,
                interface: 0
            },
            Pkt {
                ts: Timestamp::from_secs_nanos(secs + 100, 123_456_789),
                linktype: LinkType::Raw,
                data: vec![0x45; 40],
                orig_len: 40,
                interface: 1
            },
            Pkt {
                // An SPB has no time: the previous packet's.
                ts: Timestamp::from_secs_nanos(secs + 100, 123_456_789),
                linktype: LinkType::Ethernet,
                data: vec![0x5a; 96],
                orig_len: 200,
                interface: 0
            },
            Pkt {
                ts: Timestamp::from_secs_nanos(secs + 100, 123_456_790),
                linktype: LinkType::Raw,
                data: vec![0x60; 48],
                orig_len: 48,
                interface: 1
            },
            Pkt {
                ts: Timestamp::from_secs_nanos(secs, 500_000_000),
                linktype: LinkType::LinuxSll,
                data: vec![0x11; 20],
                orig_len: 20,
                interface: 2
            },
        ]
    );
}

#[test]
fn pcapng_spb_padding_is_not_data() {
    // SPB of a 61-byte packet: 3 bytes of padding must not be returned.
    let mut ng = Ng::new(true);
    ng.idb(1, 0, None, None).spb(61, &[0x77; 61]);
    let p = read_ok(ng.bytes());
    assert_eq!(p[0].data, vec![0x77; 61]);
    assert_eq!(p[0].orig_len, 61);

    // IDB 0's snaplen bounds the data even when the block holds more.
    let mut ng = Ng::new(false);
    ng.idb(1, 64, None, None).spb(200, &[0x66; 120]);
    let p = read_ok(ng.bytes());
    assert_eq!(p[0].data, vec![0x66; 64]);
    assert_eq!(p[0].orig_len, 200);
}

#[test]
fn pcapng_sections_change_byte_order_and_reset_interfaces() {
    let mut ng = Ng::new(false);
    ng.idb(1, 0, None, None)
        .idb(101, 0, None, None)
        .epb(1, 1_000_000, &[1; 20], 20)
        .shb(true)
        .idb(113, 0, Some(3), None) // milliseconds
        .epb(0, 1500, &[2; 30], 30)
        .shb(false)
        .idb(276, 0, None, None)
        .epb(0, 3_000_000, &[3; 40], 40);
    let p = read_ok(ng.bytes());
    assert_eq!(p.len(), 3);
    assert_eq!((p[0].linktype, p[0].interface), (LinkType::Raw, 1));
    assert_eq!(p[0].ts, Timestamp::from_secs_nanos(1, 0));
    assert_eq!((p[1].linktype, p[1].interface), (LinkType::LinuxSll, 0));
    assert_eq!(p[1].ts, Timestamp::from_secs_nanos(1, 500_000_000));
    assert_eq!(p[1].data, vec![2; 30]);
    assert_eq!(p[2].linktype, LinkType::LinuxSll2);
    assert_eq!(p[2].ts, Timestamp::from_secs_nanos(3, 0));

    // Interface 1 of the first section is gone in the second.
    let mut ng = Ng::new(false);
    ng.idb(1, 0, None, None)
        .idb(101, 0, None, None)
        .epb(1, 0, &[1; 20], 20)
        .shb(true)
        .idb(1, 0, None, None);
    let at = ng.out.len();
    ng.epb(1, 0, &[1; 20], 20);
    let (p, e) = read_err(ng.bytes());
    assert_eq!(p.len(), 1);
    assert!(
        matches!(e, CaptureError::UnknownInterface { interface: 1, known: 1, offset, .. } if offset == at as u64),
        "{e}"
    );
}

#[test]
fn pcapng_large_block_grows_the_window() {
    // An EPB whose options make it 3 MiB: read whole, then the next one.
    let mut ng = Ng::new(false);
    ng.idb(1, 0, None, None);
    let mut body = Vec::new();
    put32(&mut body, false, 0);
    put32(&mut body, false, 0);
    put32(&mut body, false, 7);
    put32(&mut body, false, 4);
    put32(&mut body, false, 4);
    body.extend_from_slice(&[9, 9, 9, 9]);
    for _ in 0..(3 << 20) / 65_540 {
        body.extend(ng.opt(1, &[b'c'; 65_535]));
    }
    ng.block(6, &body).epb(0, 8, &[5; 10], 10);
    let p = read_ok(ng.bytes());
    assert_eq!(p.len(), 2);
    assert_eq!(p[0].data, vec![9; 4]);
    assert_eq!(p[1].data, vec![5; 10]);
}

// ---------------------------------------------------------------- errors

#[test]
fn empty_short_and_wrong_magic() {
    assert!(matches!(read_err(Vec::new()).1, CaptureError::Empty { .. }));
    let e = read_err(vec![0xd4, 0xc3]).1;
    assert!(
        matches!(
            e,
            CaptureError::TruncatedHeader {
                needed: 4,
                available: 2,
                ..
            }
        ),
        "{e}"
    );
    let e = read_err(b"GET / HTTP/1.1\r\n".to_vec()).1;
    assert_eq!(
        e.to_string(),
        "file test.cap: bad magic 47 45 54 20 at byte 0: not a pcap or pcapng capture"
    );
    let e = read_err(vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0]).1;
    assert_eq!(
        e.to_string(),
        "file test.cap: truncated pcap file header at byte 0: 24 bytes needed, 8 available"
    );
    // A header and nothing else is an empty but valid capture.
    assert!(read_ok(pcap_file(0xa1b2_c3d4, false, 1, &[])).is_empty());
    assert!(read_ok(Ng::new(true).bytes()).is_empty());
}

#[test]
fn pcap_absurd_caplen() {
    let mut bytes = pcap_file(0xa1b2_c3d4, false, 1, &[(T0, 0, &[1; 60], 60)]);
    put32(&mut bytes, false, T0);
    put32(&mut bytes, false, 0);
    put32(&mut bytes, false, 0x0053_fe60);
    put32(&mut bytes, false, 60);
    bytes.extend_from_slice(&[0; 100]);
    let (p, e) = read_err(bytes);
    assert_eq!(p.len(), 1);
    assert_eq!(
        e.to_string(),
        "file test.cap: absurd captured length at byte 100: 5504608 bytes (limit 262144)"
    );
}

#[test]
fn pcap_truncated_record_message() {
    let mut bytes = pcap_file(0xa1b2_c3d4, false, 1, &[(T0, 0, &[1; 1514], 1514)]);
    bytes.truncate(24 + 16 + 800);
    let (p, e) = read_err(bytes);
    assert!(p.is_empty());
    assert_eq!(
        e.to_string(),
        "file test.cap: truncated packet record at byte 24: header says 1514 bytes, 800 available"
    );
}

/// Cuts a capture at every byte: never a panic, the packets of the records
/// wholly before the cut come out, and the error (if the cut is inside a
/// record) names the offset where that record starts. `bounds` are the
/// record starts and the file length; `packet[i]` says whether record `i`
/// holds a packet; the first `header_len` bytes are the file header.
fn check_every_cut(bytes: &[u8], header_len: usize, bounds: &[usize], packet: &[bool]) {
    assert_eq!(bounds.len(), packet.len() + 1);
    assert_eq!(bounds.last(), Some(&bytes.len()));
    let full = read_ok(bytes.to_vec());
    for cut in 0..bytes.len() {
        let res = read_all(bytes[..cut].to_vec());
        if cut < header_len {
            let e = res.expect_err("cut inside the file header must fail to open");
            assert_eq!(e.offset(), 0);
            continue;
        }
        let (p, err) = res.unwrap_or_else(|e| panic!("cut {cut}: {e}"));
        let whole = (0..packet.len())
            .filter(|&i| packet[i] && bounds[i + 1] <= cut)
            .count();
        assert_eq!(p.len(), whole, "cut {cut}");
        assert_eq!(&full[..p.len()], &p[..], "cut {cut}");
        let boundary = bounds.contains(&cut);
        match err {
            None => assert!(boundary, "cut {cut} inside a record gave no error"),
            Some(e) => {
                assert!(!boundary, "cut {cut} at a boundary gave {e}");
                let start = bounds.iter().rev().find(|&&s| s <= cut).copied();
                assert_eq!(Some(e.offset() as usize), start, "cut {cut}: {e}");
                assert!(e.to_string().contains(&format!("at byte {}", e.offset())));
            }
        }
    }
}

#[test]
fn pcap_cut_at_every_byte() {
    let bytes = pcap_file(
        0xa1b2_c3d4,
        true,
        1,
        &[
            (T0, 1, &[1; 60], 60),
            (T0, 2, &[2; 33], 33),
            (T0, 3, &[3; 5], 5),
        ],
    );
    let starts = [24, 24 + 76, 24 + 76 + 49, 24 + 76 + 49 + 21];
    check_every_cut(&bytes, 24, &starts, &[true; 3]);
    // Packets before the cut are returned.
    let (p, _) = read_err(bytes[..starts[2] + 3].to_vec());
    assert_eq!(p.len(), 2);
}

#[test]
fn pcapng_cut_at_every_byte() {
    let mut ng = Ng::new(false);
    ng.idb(1, 0, None, None)
        .epb(0, 1, &[1; 61], 61)
        .block(5, &[0; 12])
        .spb(9, &[2; 9])
        .shb(true)
        .idb(101, 0, None, None)
        .epb(0, 2, &[3; 20], 20);
    let bytes = ng.bytes();
    let mut starts = ng.offsets.clone();
    starts.push(bytes.len());
    let packet = [false, false, true, false, true, false, false, true];
    check_every_cut(&bytes, starts[1], &starts, &packet);
    let (p, e) = read_err(bytes[..starts[4] + 2].to_vec());
    assert_eq!(p.len(), 1);
    assert!(matches!(e, CaptureError::TruncatedHeader { .. }), "{e}");
}

#[test]
fn pcapng_bad_block_lengths() {
    let base = {
        let mut ng = Ng::new(false);
        ng.idb(1, 0, None, None).epb(0, 1, &[1; 20], 20);
        ng
    };
    let at = base.out.len();
    let with_block = |btype: u32, len: u32, trailer: u32, body: usize| {
        let mut b = base.bytes();
        put32(&mut b, false, btype);
        put32(&mut b, false, len);
        b.resize(b.len() + body, 0);
        put32(&mut b, false, trailer);
        b
    };
    for (len, reason) in [
        (8u32, "shorter than the 12 bytes of block framing"),
        (22, "not a multiple of 4"),
        (MAX_BLOCK_LEN + 4, "larger than the 16 MiB limit"),
    ] {
        let (p, e) = read_err(with_block(6, len, len, 12));
        assert_eq!(p.len(), 1);
        match e {
            CaptureError::BadBlockLength {
                offset,
                length,
                reason: r,
                ..
            } => {
                assert_eq!((offset, length, r), (at as u64, len, reason));
            }
            e => panic!("{e}"),
        }
    }
    // Trailer mismatch, for a packet block and for a skipped block.
    for btype in [6u32, 0x4000_0bad] {
        let (_, e) = read_err(with_block(btype, 40, 44, 28));
        assert_eq!(
            e.to_string(),
            format!("file test.cap: pcapng block at byte {at}: leading length 40 and trailing length 44 differ")
        );
    }
    // A skipped block running past the end of the file.
    let mut b = with_block(5, 1000, 1000, 100);
    b.truncate(b.len() - 4);
    let (_, e) = read_err(b);
    assert!(
        matches!(
            e,
            CaptureError::TruncatedRecord {
                needed: 1000,
                available: 108,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn pcapng_caplen_errors_and_unknown_interface() {
    // caplen larger than the block.
    let mut ng = Ng::new(false);
    ng.idb(1, 0, None, None);
    let at = ng.out.len();
    let mut body = Vec::new();
    for v in [0u32, 0, 0, 100, 100] {
        put32(&mut body, false, v);
    }
    body.extend_from_slice(&[0; 40]);
    ng.block(6, &body);
    let e = read_err(ng.bytes()).1;
    assert!(
        matches!(e, CaptureError::CaplenExceedsBlock { caplen: 100, room: 40, offset, .. } if offset == at as u64),
        "{e}"
    );
    // Absurd caplen.
    let mut ng = Ng::new(false);
    ng.idb(1, 0, None, None);
    let mut body = Vec::new();
    for v in [0u32, 0, 0, MAX_CAPLEN + 1, 100] {
        put32(&mut body, false, v);
    }
    ng.block(6, &body);
    assert!(matches!(
        read_err(ng.bytes()).1,
        CaptureError::AbsurdCaplen { .. }
    ));
    // EPB before any IDB; SPB without IDB 0.
    let mut ng = Ng::new(false);
    let at = ng.out.len();
    ng.epb(0, 0, &[1; 4], 4);
    let e = read_err(ng.bytes()).1;
    assert_eq!(
        e.to_string(),
        format!(
            "file test.cap: EPB at byte {at} names interface 0, but the section has 0 interface(s)"
        )
    );
    let mut ng = Ng::new(true);
    ng.spb(4, &[1; 4]);
    assert!(matches!(
        read_err(ng.bytes()).1,
        CaptureError::UnknownInterface { block: "SPB", .. }
    ));
    // A too-short EPB body.
    let mut ng = Ng::new(false);
    ng.idb(1, 0, None, None).block(6, &[0; 8]);
    assert!(matches!(
        read_err(ng.bytes()).1,
        CaptureError::MalformedBlock { block: "EPB", .. }
    ));
}

#[test]
fn pcapng_bad_section_headers() {
    // Bad byte-order magic.
    let mut b = Ng::new(false).bytes();
    b[8..12].copy_from_slice(&[1, 2, 3, 4]);
    let e = read_err(b).1;
    assert!(
        matches!(
            e,
            CaptureError::MalformedBlock {
                block: "SHB",
                offset: 0,
                ..
            }
        ),
        "{e}"
    );
    // Version 2.
    let mut b = Ng::new(false).bytes();
    b[12] = 2;
    assert!(matches!(
        read_err(b).1,
        CaptureError::MalformedBlock { block: "SHB", .. }
    ));
    // Too short for an SHB.
    let mut b = vec![0x0a, 0x0d, 0x0d, 0x0a, 24, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a];
    b.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 24, 0, 0, 0]);
    assert!(matches!(
        read_err(b).1,
        CaptureError::BadBlockLength { length: 24, .. }
    ));
    // A malformed IDB option.
    let mut ng = Ng::new(false);
    let at = ng.out.len();
    ng.block(1, &[1, 0, 0, 0, 0, 0, 0, 0, 9, 0, 2, 0, 6, 6, 0, 0]);
    let e = read_err(ng.bytes()).1;
    assert_eq!(
        e.to_string(),
        format!("file test.cap: malformed pcapng IDB at byte {at}: if_tsresol option is not 1 byte long")
    );
}

#[test]
fn too_many_interfaces() {
    let mut ng = Ng::new(false);
    for _ in 0..MAX_INTERFACES {
        ng.idb(1, 0, None, None);
    }
    ng.epb(4095, 0, &[1], 1);
    assert_eq!(read_ok(ng.bytes()).len(), 1);
    ng.idb(1, 0, None, None);
    assert!(matches!(
        read_err(ng.bytes()).1,
        CaptureError::TooManyInterfaces { .. }
    ));
}

#[test]
fn io_errors_name_the_offset() {
    struct FailAfter(Cursor<Vec<u8>>);
    impl Read for FailAfter {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.read(out)?;
            if n == 0 {
                return Err(std::io::Error::other("cable pulled"));
            }
            Ok(n)
        }
    }
    let bytes = pcap_file(0xa1b2_c3d4, false, 1, &[(T0, 0, &[1; 60], 60)]);
    let mut r = CaptureReader::from_reader("x", FailAfter(Cursor::new(bytes))).unwrap();
    assert!(r.next_packet().unwrap().is_some());
    let e = r.next_packet().unwrap_err();
    assert_eq!(
        e.to_string(),
        "file x: read error at byte 100: cable pulled"
    );
    assert!(r.next_packet().unwrap().is_none());
}

// ---------------------------------------------------------------- corpus

/// Every capture of the suricata-verify corpus reads to its end. Counts were
/// cross-checked with a few lines of Python `struct` parsing.
#[test]
fn suricata_verify_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/suricata-verify");
    let Ok(dirs) = std::fs::read_dir(&root) else {
        eprintln!("corpus not found at {}, skipped", root.display());
        return;
    };
    let mut files = 0;
    let mut counts = std::collections::BTreeMap::new();
    for dir in dirs.flatten() {
        let Ok(entries) = std::fs::read_dir(dir.path()) else {
            continue;
        };
        for f in entries.flatten() {
            let path = f.path();
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            if ext != "pcap" && ext != "pcapng" {
                continue;
            }
            files += 1;
            let mut r = CaptureReader::open(&path).unwrap_or_else(|e| panic!("{e}"));
            let mut bytes = 0u64;
            let res = loop {
                match r.next_packet() {
                    Ok(Some(p)) => bytes += p.data.len() as u64,
                    Ok(None) => break Ok(()),
                    Err(e) => break Err(e),
                }
            };
            let key = path
                .strip_prefix(&root)
                .unwrap_or(&path)
                .display()
                .to_string();
            if key == "bug-6875-01/fuzz.pcap" {
                // A fuzzed capture: its second record claims 5.5 MB. Suricata
                // too processes only the first packet.
                let e = res.expect_err("fuzz.pcap is corrupt");
                assert!(
                    matches!(e, CaptureError::AbsurdCaplen { offset: 228, .. }),
                    "{e}"
                );
                assert_eq!(r.packets_read(), 1);
            } else {
                res.unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(r.offset(), std::fs::metadata(&path).unwrap().len());
            }
            counts.insert(key, (r.packets_read(), bytes));
        }
    }
    assert!(files >= 40, "only {files} captures found");
    for (file, want) in [
        ("bug-5162/input.pcap", (3035, 337_161)),
        ("decode-sll2-02/input.pcap", (159, 2_610_421)),
        (
            "threshold-rule-flow-backoff-single-flow/filecontainer-smb.pcap",
            (7276, 2_638_535),
        ),
        ("decode-chdlc-01/hdlc-http_1tx.pcap", (17, 10_320)),
        ("http-uri-spaces/input.pcap", (14, 1640)),
    ] {
        assert_eq!(counts.get(file), Some(&want), "{file}");
    }
}

// ---------------------------------------------------------------- properties

/// Reads everything, bounded: a reader must end (packets or error) within
/// one step per byte of input.
fn drain(bytes: Vec<u8>) {
    let len = bytes.len();
    if let Ok(mut r) = CaptureReader::from_reader("prop", Cursor::new(bytes)) {
        let mut steps = 0usize;
        loop {
            steps += 1;
            assert!(steps <= len + 2, "reader did not terminate");
            match r.next_packet() {
                Ok(Some(p)) => {
                    assert!(p.data.len() <= MAX_CAPLEN as usize);
                    assert!(r.offset() <= len as u64);
                }
                Ok(None) | Err(_) => break,
            }
        }
        assert!(matches!(r.next_packet(), Ok(None)));
    }
}

fn valid_files() -> Vec<Vec<u8>> {
    let mut ng = Ng::new(false);
    ng.idb(1, 64, Some(9), Some(-3))
        .idb(101, 0, Some(0x80 | 20), None)
        .epb(0, 77, &[1; 33], 33)
        .block(4, &[0; 8])
        .spb(70, &[2; 64])
        .epb(1, 78, &[3; 12], 12)
        .shb(true)
        .idb(113, 0, None, None)
        .pb(0, 79, &[4; 9]);
    vec![
        ng.bytes(),
        pcap_file(
            0xa1b2_c3d4,
            false,
            1,
            &[(T0, 1, &[1; 60], 60), (T0, 2, &[2; 7], 7)],
        ),
        pcap_file(
            0xa1b2_3c4d,
            true,
            113,
            &[(T0, 1, &[1; 20], 20), (T0, 2, &[2; 70], 70)],
        ),
        pcap_file(0xa1b2_cd34, false, 101, &[(T0, 1, &[1; 20], 20)]),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        drain(bytes);
    }

    #[test]
    fn arbitrary_bytes_after_a_magic_never_panic(
        which in 0usize..4,
        rest in proptest::collection::vec(any::<u8>(), 0..2048),
    ) {
        let mut bytes = match which {
            0 => vec![0x0a, 0x0d, 0x0d, 0x0a],
            1 => vec![0xd4, 0xc3, 0xb2, 0xa1],
            2 => vec![0xa1, 0xb2, 0x3c, 0x4d],
            _ => vec![0x34, 0xcd, 0xb2, 0xa1],
        };
        bytes.extend(rest);
        drain(bytes);
    }

    #[test]
    fn mutated_valid_files_never_panic(
        which in 0usize..4,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        do_cut in any::<bool>(),
    ) {
        let files = valid_files();
        let mut bytes = files[which].clone();
        for (at, v) in edits {
            let i = at.index(bytes.len());
            bytes[i] = v;
        }
        if do_cut {
            let n = cut.index(bytes.len() + 1);
            bytes.truncate(n);
        }
        drain(bytes);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Whatever the writer writes, the reader reads back exactly.
    #[test]
    fn pcap_writer_reader_round_trip(
        packets in proptest::collection::vec(
            (any::<u32>(), 0u32..1_000_000, proptest::collection::vec(any::<u8>(), 0..300)),
            0..40,
        ),
        snaplen in prop_oneof![Just(0u32), 1u32..400],
    ) {
        let mut w = PcapWriter::new(Vec::new(), LinkType::Ethernet, snaplen).unwrap();
        let mut want = Vec::new();
        for (secs, micros, data) in &packets {
            let ts = Timestamp::from_secs_micros(i64::from(*secs), *micros);
            w.write_packet(ts, data).unwrap();
            let keep = if snaplen == 0 { data.len() } else { data.len().min(snaplen as usize) };
            want.push(Pkt {
                ts,
                linktype: LinkType::Ethernet,
                data: data[..keep].to_vec(),
                orig_len: data.len() as u32,
                interface: 0,
            });
        }
        prop_assert_eq!(read_ok(w.into_inner()), want);
    }

    /// pcapng of either byte order, any resolution: EPBs come back with
    /// their interface's link type and the exact time.
    #[test]
    fn pcapng_round_trip(
        big in any::<bool>(),
        nanos in any::<bool>(),
        packets in proptest::collection::vec(
            (0u32..2, 0u64..(1u64 << 60), proptest::collection::vec(any::<u8>(), 0..100)),
            0..30,
        ),
    ) {
        let mut ng = Ng::new(big);
        ng.idb(1, 0, None, None).idb(101, 0, Some(if nanos { 9 } else { 6 }), None);
        let mut want = Vec::new();
        for (iface, ts, data) in &packets {
            ng.epb(*iface, *ts, data, data.len() as u32);
            let mult: i128 = if *iface == 1 && nanos { 1 } else { 1000 };
            // Beyond 2262 the time saturates.
            let ns = (i128::from(*ts) * mult).min(i128::from(i64::MAX)) as i64;
            want.push(Pkt {
                ts: Timestamp(ns),
                linktype: if *iface == 0 { LinkType::Ethernet } else { LinkType::Raw },
                data: data.clone(),
                orig_len: data.len() as u32,
                interface: *iface,
            });
        }
        prop_assert_eq!(read_ok(ng.bytes()), want);
    }
}

#[test]
fn valid_files_for_properties_are_valid() {
    let counts: Vec<usize> = valid_files()
        .into_iter()
        .map(|b| read_ok(b).len())
        .collect();
    assert_eq!(counts, vec![4, 2, 2, 1]);
}

#[test]
fn reader_can_move_to_a_worker_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<CaptureReader>();
    let bytes = pcap_file(0xa1b2_c3d4, false, 1, &[(T0, 0, &[1; 60], 60)]);
    let r = CaptureReader::from_reader("x", Cursor::new(bytes)).unwrap();
    let n = std::thread::spawn(move || {
        let mut r = r;
        let mut n = 0;
        while r.next_packet().unwrap().is_some() {
            n += 1;
        }
        n
    })
    .join()
    .unwrap();
    assert_eq!(n, 1);
}
