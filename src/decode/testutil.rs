//! Frame builders for the decoder's tests (test builds only).

use super::checksum;
use crate::capture::LinkType;

/// Source MAC of built frames.
pub const SRC_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];
/// Destination MAC of built frames.
pub const DST_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02];
/// IPv6 source of built packets (2001:db8::1).
pub const V6_SRC: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
/// IPv6 destination of built packets (2001:db8::2).
pub const V6_DST: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

/// An Ethernet frame with VLAN tags `(tpid, vid)`, outermost first.
pub fn eth(vlans: &[(u16, u16)], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + 4 * vlans.len() + payload.len());
    f.extend_from_slice(&DST_MAC);
    f.extend_from_slice(&SRC_MAC);
    for (tpid, vid) in vlans {
        f.extend_from_slice(&tpid.to_be_bytes());
        f.extend_from_slice(&vid.to_be_bytes());
    }
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// Offset of the checksum field of an upper-layer protocol.
fn csum_offset(proto: u8) -> Option<usize> {
    match proto {
        1 | 58 => Some(2),
        6 => Some(16),
        17 => Some(6),
        _ => None,
    }
}

/// Fills in the upper-layer checksum (pseudo-header sum `init`).
fn fix_l4(proto: u8, seg: &mut [u8], init: u64) {
    let Some(off) = csum_offset(proto) else {
        return;
    };
    if seg.len() < off + 2 {
        return;
    }
    seg[off] = 0;
    seg[off + 1] = 0;
    let mut c = checksum::compute(seg, init);
    if proto == 17 && c == 0 {
        c = 0xFFFF;
    }
    seg[off..off + 2].copy_from_slice(&c.to_be_bytes());
}

/// An IPv4 header with `opts` (length a multiple of 4) and checksum.
fn ipv4_header(
    src: [u8; 4],
    dst: [u8; 4],
    proto: u8,
    opts: &[u8],
    payload_len: usize,
    frag: u16,
    id: u16,
) -> Vec<u8> {
    let hlen = 20 + opts.len();
    let total = u16::try_from(hlen + payload_len).expect("test packet fits");
    let mut h = vec![0x40 | (hlen / 4) as u8, 0];
    h.extend_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&id.to_be_bytes());
    h.extend_from_slice(&frag.to_be_bytes());
    h.extend_from_slice(&[64, proto, 0, 0]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    h.extend_from_slice(opts);
    let c = checksum::compute(&h, 0);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h
}

/// An IPv4 packet (DF set) with header options; fixes the L4 checksum.
pub fn ipv4_with_options(opts: &[u8], proto: u8, payload: &[u8]) -> Vec<u8> {
    let (src, dst) = ([192, 0, 2, 1], [192, 0, 2, 2]);
    let mut seg = payload.to_vec();
    let init = if proto == 1 {
        0
    } else {
        checksum::pseudo_v4(src.into(), dst.into(), proto, seg.len())
    };
    fix_l4(proto, &mut seg, init);
    let mut p = ipv4_header(src, dst, proto, opts, seg.len(), 0x4000, 0x1234);
    p.extend_from_slice(&seg);
    p
}

/// An IPv4 packet (DF set, TTL 64); fixes the L4 checksum.
pub fn ipv4_proto(src: [u8; 4], dst: [u8; 4], proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut seg = payload.to_vec();
    let init = if proto == 1 {
        0
    } else {
        checksum::pseudo_v4(src.into(), dst.into(), proto, seg.len())
    };
    fix_l4(proto, &mut seg, init);
    let mut p = ipv4_header(src, dst, proto, &[], seg.len(), 0x4000, 0x1234);
    p.extend_from_slice(&seg);
    p
}

/// A UDP datagram (checksum left 0).
pub fn udp(sp: u16, dp: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::with_capacity(8 + payload.len());
    u.extend_from_slice(&sp.to_be_bytes());
    u.extend_from_slice(&dp.to_be_bytes());
    u.extend_from_slice(
        &u16::try_from(8 + payload.len())
            .expect("fits")
            .to_be_bytes(),
    );
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

/// A TCP segment with options (padded to 4 bytes; checksum left 0).
pub fn tcp_seg(sp: u16, dp: u16, flags: u8, opts: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut o = opts.to_vec();
    while o.len() % 4 != 0 {
        o.push(0);
    }
    let hlen = 20 + o.len();
    let mut t = Vec::with_capacity(hlen + payload.len());
    t.extend_from_slice(&sp.to_be_bytes());
    t.extend_from_slice(&dp.to_be_bytes());
    t.extend_from_slice(&1000u32.to_be_bytes());
    t.extend_from_slice(&2000u32.to_be_bytes());
    t.push(((hlen / 4) as u8) << 4);
    t.push(flags);
    t.extend_from_slice(&65535u16.to_be_bytes());
    t.extend_from_slice(&[0, 0, 0, 0]);
    t.extend_from_slice(&o);
    t.extend_from_slice(payload);
    t
}

/// An ICMP (or ICMPv6) echo request, id 0x1234 seq 1 (checksum left 0).
pub fn icmp_echo(v6: bool, payload: &[u8]) -> Vec<u8> {
    let mut m = vec![if v6 { 128 } else { 8 }, 0, 0, 0, 0x12, 0x34, 0, 1];
    m.extend_from_slice(payload);
    m
}

/// IPv4/UDP with valid checksums.
pub fn ipv4_udp(src: [u8; 4], dst: [u8; 4], sp: u16, dp: u16, payload: &[u8]) -> Vec<u8> {
    ipv4_proto(src, dst, 17, &udp(sp, dp, payload))
}

/// IPv4/TCP with valid checksums.
pub fn ipv4_tcp(
    src: [u8; 4],
    dst: [u8; 4],
    sp: u16,
    dp: u16,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    ipv4_proto(src, dst, 6, &tcp_seg(sp, dp, flags, &[], payload))
}

/// Ethernet/IPv4/TCP.
pub fn eth_ipv4_tcp(
    src: [u8; 4],
    dst: [u8; 4],
    sp: u16,
    dp: u16,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    eth(&[], 0x0800, &ipv4_tcp(src, dst, sp, dp, flags, payload))
}

/// Ethernet/IPv4 carrying `payload` as protocol `proto`.
pub fn eth_ipv4_proto(src: [u8; 4], dst: [u8; 4], proto: u8, payload: &[u8]) -> Vec<u8> {
    eth(&[], 0x0800, &ipv4_proto(src, dst, proto, payload))
}

/// Ethernet/ARP from SRC_MAC.
pub fn eth_arp(op: u16, sender_ip: [u8; 4], target_ip: [u8; 4]) -> Vec<u8> {
    let mut a = vec![0, 1, 0x08, 0x00, 6, 4];
    a.extend_from_slice(&op.to_be_bytes());
    a.extend_from_slice(&SRC_MAC);
    a.extend_from_slice(&sender_ip);
    a.extend_from_slice(&[0; 6]);
    a.extend_from_slice(&target_ip);
    eth(&[], 0x0806, &a)
}

/// IPv4 fragments (raw packets) of a datagram payload, `size` data bytes
/// each (a multiple of 8).
pub fn ipv4_fragments(
    src: [u8; 4],
    dst: [u8; 4],
    id: u16,
    proto: u8,
    payload: &[u8],
    size: usize,
) -> Vec<Vec<u8>> {
    let mut seg = payload.to_vec();
    let init = if proto == 1 {
        0
    } else {
        checksum::pseudo_v4(src.into(), dst.into(), proto, seg.len())
    };
    fix_l4(proto, &mut seg, init);
    seg.chunks(size)
        .enumerate()
        .map(|(i, chunk)| {
            let off = i * size;
            let more = off + chunk.len() < seg.len();
            let frag = ((off / 8) as u16) | if more { 0x2000 } else { 0 };
            let mut p = ipv4_header(src, dst, proto, &[], chunk.len(), frag, id);
            p.extend_from_slice(chunk);
            p
        })
        .collect()
}

/// An IPv6 packet with extension headers `(kind, body after the two
/// leading bytes)`; fixes the upper-layer checksum when there are none.
pub fn ipv6_with_ext(ext: &[(u8, Vec<u8>)], proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut seg = payload.to_vec();
    if ext.is_empty() {
        let init = checksum::pseudo_v6(&V6_SRC.into(), &V6_DST.into(), proto, seg.len());
        fix_l4(proto, &mut seg, init);
    }
    let mut body = Vec::new();
    for (i, (_, content)) in ext.iter().enumerate() {
        let next = ext.get(i + 1).map(|e| e.0).unwrap_or(proto);
        body.push(next);
        body.push(((2 + content.len()) / 8).saturating_sub(1) as u8);
        body.extend_from_slice(content);
    }
    body.extend_from_slice(&seg);
    let first = ext.first().map(|e| e.0).unwrap_or(proto);
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&u16::try_from(body.len()).expect("fits").to_be_bytes());
    p.push(first);
    p.push(64);
    p.extend_from_slice(&V6_SRC);
    p.extend_from_slice(&V6_DST);
    p.extend_from_slice(&body);
    p
}

/// IPv6/UDP with a valid checksum.
pub fn ipv6_udp(sp: u16, dp: u16, payload: &[u8]) -> Vec<u8> {
    ipv6_with_ext(&[], 17, &udp(sp, dp, payload))
}

/// IPv6 fragments (raw packets) of an upper-layer payload.
pub fn ipv6_fragments(id: u32, proto: u8, payload: &[u8], size: usize) -> Vec<Vec<u8>> {
    let mut seg = payload.to_vec();
    let init = checksum::pseudo_v6(&V6_SRC.into(), &V6_DST.into(), proto, seg.len());
    fix_l4(proto, &mut seg, init);
    seg.chunks(size)
        .enumerate()
        .map(|(i, chunk)| {
            let off = i * size;
            let more = off + chunk.len() < seg.len();
            let fo = (off as u16) | u16::from(more);
            let mut content = fo.to_be_bytes().to_vec();
            content.extend_from_slice(&id.to_be_bytes());
            let mut p = vec![0x60, 0, 0, 0];
            p.extend_from_slice(&u16::try_from(8 + chunk.len()).expect("fits").to_be_bytes());
            p.extend_from_slice(&[44, 64]);
            p.extend_from_slice(&V6_SRC);
            p.extend_from_slice(&V6_DST);
            p.extend_from_slice(&[proto, 0]);
            p.extend_from_slice(&content);
            p.extend_from_slice(chunk);
            p
        })
        .collect()
}

/// A GRE header (4 bytes per C, K, S and A flag set) and payload.
pub fn gre_hdr(flags: u16, proto: u16, payload: &[u8]) -> Vec<u8> {
    let mut g = flags.to_be_bytes().to_vec();
    g.extend_from_slice(&proto.to_be_bytes());
    for bit in [0x8000u16, 0x2000, 0x1000, 0x0080] {
        if flags & bit != 0 {
            g.extend_from_slice(&[0, 0, 0, 0]);
        }
    }
    g.extend_from_slice(payload);
    g
}

/// Well-formed frames of many kinds, for mutation tests.
pub fn sample_frames() -> Vec<(LinkType, Vec<u8>)> {
    let tcp = ipv4_tcp(
        [10, 0, 0, 1],
        [10, 0, 0, 2],
        1234,
        80,
        0x18,
        b"GET / HTTP/1.1\r\n",
    );
    let mut erspan = vec![0x10, 0x64, 0x00, 0x01, 0, 0, 0, 0];
    erspan.extend_from_slice(&eth(&[], 0x0800, &tcp));
    let mut vx = vec![0x08, 0, 0, 0, 0, 0, 1, 0];
    vx.extend_from_slice(&eth(&[(0x8100, 5)], 0x0800, &tcp));
    let v6 = ipv6_with_ext(&[(0, vec![1, 4, 0, 0, 0, 0])], 17, &udp(1, 53, b"dns"));
    vec![
        (LinkType::Ethernet, eth(&[], 0x0800, &tcp)),
        (
            LinkType::Ethernet,
            eth(&[(0x88A8, 1), (0x8100, 2)], 0x86DD, &v6),
        ),
        (
            LinkType::Ethernet,
            eth_ipv4_proto([1; 4], [2; 4], 47, &gre_hdr(0x1000, 0x88BE, &erspan)),
        ),
        (
            LinkType::Ethernet,
            eth_ipv4_proto([1; 4], [2; 4], 17, &udp(9, 4789, &vx)),
        ),
        (LinkType::Ethernet, eth_arp(2, [10, 0, 0, 1], [10, 0, 0, 2])),
        (
            LinkType::Raw,
            ipv6_fragments(7, 17, &udp(1, 2, &[0u8; 40]), 16)[0].clone(),
        ),
        (
            LinkType::Ppp,
            [vec![0xFF, 0x03, 0x00, 0x21], tcp.clone()].concat(),
        ),
        (
            LinkType::Raw,
            ipv4_with_options(&[0x94, 0x04, 0, 0], 1, &icmp_echo(false, b"x")),
        ),
    ]
}

/// Keeps a built frame alive for the rest of the test run, so a decoded
/// view of it can outlive the statement that built it.
pub fn leak(v: Vec<u8>) -> &'static [u8] {
    Box::leak(v.into_boxed_slice())
}
