//! IPv4 (with options and fragments) and IPv6 (with extension headers and
//! fragments).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::bytes::{arr, be16, be32, rest, u8_at};
use super::{checksum, transport, Anomaly, Ctx, FragInfo, Ipv4Info, Ipv6Info, Step, L3, L4};

/// IPv6 extension headers followed before giving up.
const MAX_IPV6_EXT_HEADERS: usize = 8;

/// Resets the upper layers when a (new, innermost) IP header is accepted.
fn reset_upper(ctx: &mut Ctx<'_, '_, '_>) {
    ctx.d.l4 = L4::None;
    ctx.d.payload = &[];
    ctx.d.frag = None;
}

/// An IPv4 packet.
pub(crate) fn ipv4<'a>(ctx: &mut Ctx<'a, '_, '_>, b: &'a [u8]) -> Step<'a> {
    let Some(h) = b.first_chunk::<20>() else {
        ctx.anomaly(Anomaly::Ipv4PktTooSmall);
        return Step::Done;
    };
    let [vhl, tos, l0, l1, i0, i1, f0, f1, ttl, proto, _, _, s0, s1, s2, s3, d0, d1, d2, d3] = *h;
    let total = u16::from_be_bytes([l0, l1]);
    let id = u16::from_be_bytes([i0, i1]);
    let frag = u16::from_be_bytes([f0, f1]);
    let (src, dst) = ([s0, s1, s2, s3], [d0, d1, d2, d3]);
    if vhl >> 4 != 4 {
        ctx.anomaly(Anomaly::Ipv4WrongIpVersion);
        return Step::Done;
    }
    let hlen = usize::from(vhl & 0x0F) * 4;
    if hlen < 20 {
        ctx.anomaly(Anomaly::Ipv4HlenTooSmall);
        return Step::Done;
    }
    if usize::from(total) < hlen {
        ctx.anomaly(Anomaly::Ipv4IplenSmallerThanHlen);
        return Step::Done;
    }
    // Trailing bytes beyond the total length (Ethernet padding) are dropped.
    let Some(pkt) = b.get(..usize::from(total)) else {
        ctx.anomaly(Anomaly::Ipv4TruncPkt);
        return Step::Done;
    };
    let Some((header, body)) = pkt.split_at_checked(hlen) else {
        ctx.anomaly(Anomaly::Ipv4TruncPkt);
        return Step::Done;
    };
    if hlen > 20 {
        check_ipv4_options(ctx, rest(header, 20));
    }
    if ctx.opts.validate_checksums && !checksum::verify(header, 0) {
        ctx.d.checksum_bad = true;
    }
    let frag_offset = (frag & 0x1FFF) << 3;
    let more = frag & 0x2000 != 0;
    let info = Ipv4Info {
        src: Ipv4Addr::from(src),
        dst: Ipv4Addr::from(dst),
        proto,
        ttl,
        tos,
        id,
        total_len: total,
        header_len: hlen as u8,
        flags_df: frag & 0x4000 != 0,
        flags_mf: more,
        frag_offset,
    };
    ctx.d.l3 = L3::Ipv4(info);
    reset_upper(ctx);
    if more || frag_offset != 0 {
        ctx.d.frag = Some(FragInfo {
            v6: false,
            id: u32::from(id),
            offset: frag_offset,
            more,
            proto,
            header,
            nh_offset: 0,
            data: body,
        });
        return Step::Done;
    }
    transport::upper(ctx, proto, body, false)
}

/// Validates IPv4 option lengths (RFC 791) and flags duplicates.
fn check_ipv4_options(ctx: &mut Ctx<'_, '_, '_>, opts: &[u8]) {
    let mut seen = [0u64; 4];
    let mut off = 0usize;
    while let Some(&kind) = opts.get(off) {
        match kind {
            0 => return,
            1 => {
                off += 1;
                continue;
            }
            _ => {}
        }
        let Some(len) = opts.get(off + 1).map(|l| usize::from(*l)) else {
            ctx.anomaly(Anomaly::Ipv4OptMalformed);
            return;
        };
        if len < 2 {
            ctx.anomaly(Anomaly::Ipv4OptInvalidLen);
            return;
        }
        if off + len > opts.len() {
            ctx.anomaly(Anomaly::Ipv4OptMalformed);
            return;
        }
        if let Some(word) = seen.get_mut(usize::from(kind >> 6)) {
            let bit = 1u64 << (kind & 63);
            if *word & bit != 0 {
                ctx.anomaly(Anomaly::Ipv4OptDuplicate);
            }
            *word |= bit;
        }
        off += len;
    }
}

/// An IPv6 packet and its extension-header chain.
pub(crate) fn ipv6<'a>(ctx: &mut Ctx<'a, '_, '_>, b: &'a [u8]) -> Step<'a> {
    let (Some(w0), Some(plen), Some(first_nh), Some(hop), Some(src), Some(dst)) = (
        be32(b, 0),
        be16(b, 4),
        u8_at(b, 6),
        u8_at(b, 7),
        arr::<16>(b, 8),
        arr::<16>(b, 24),
    ) else {
        ctx.anomaly(Anomaly::Ipv6PktTooSmall);
        return Step::Done;
    };
    if w0 >> 28 != 6 {
        ctx.anomaly(Anomaly::Ipv6WrongIpVersion);
        return Step::Done;
    }
    let Some(pkt) = b.get(..40 + usize::from(plen)) else {
        ctx.anomaly(Anomaly::Ipv6TruncPkt);
        return Step::Done;
    };
    let mut info = Ipv6Info {
        src: Ipv6Addr::from(src),
        dst: Ipv6Addr::from(dst),
        next_header: first_nh,
        hop_limit: hop,
        flow_label: w0 & 0x000F_FFFF,
        payload_len: plen,
        traffic_class: ((w0 >> 20) & 0xFF) as u8,
        ext_len: 0,
    };
    ctx.d.l3 = L3::Ipv6(info);
    reset_upper(ctx);

    let mut nh = first_nh;
    let mut nh_off = 6usize;
    let mut off = 40usize;
    // Bits: 0 hop-by-hop, 1 routing, 2 fragment, 3 AH, 4 and 5 dest options.
    let mut seen = 0u8;
    let mut count = 0usize;
    loop {
        let bit = match nh {
            0 => 0,
            43 => 1,
            44 => 2,
            51 => 3,
            60 => 4,
            59 => {
                if off < pkt.len() {
                    ctx.anomaly(Anomaly::Ipv6DataAfterNoneHeader);
                }
                set_v6_upper(ctx, &mut info, nh, off);
                return Step::Done;
            }
            _ => break,
        };
        count += 1;
        if count > MAX_IPV6_EXT_HEADERS {
            ctx.anomaly(Anomaly::TooManyLayers);
            return Step::Done;
        }
        let (Some(next), Some(hl)) = (u8_at(pkt, off), u8_at(pkt, off + 1)) else {
            ctx.anomaly(Anomaly::Ipv6TruncExthdr);
            return Step::Done;
        };
        let ext_len = match nh {
            44 => 8,
            51 => (usize::from(hl) + 2) * 4,
            _ => (usize::from(hl) + 1) * 8,
        };
        let Some(ext) = pkt.get(off..off + ext_len) else {
            ctx.anomaly(Anomaly::Ipv6TruncExthdr);
            return Step::Done;
        };
        // Duplicate detection (two destination options headers are allowed).
        let dup = match nh {
            0 => seen & 1 != 0 || count != 1,
            60 => {
                if seen & (1 << 4) != 0 {
                    seen & (1 << 5) != 0 || {
                        seen |= 1 << 5;
                        false
                    }
                } else {
                    false
                }
            }
            _ => seen & (1 << bit) != 0,
        };
        if dup {
            ctx.anomaly(match nh {
                0 => Anomaly::Ipv6ExthdrDuplHh,
                43 => Anomaly::Ipv6ExthdrDuplRh,
                44 => Anomaly::Ipv6ExthdrDuplFh,
                51 => Anomaly::Ipv6ExthdrDuplAh,
                _ => Anomaly::Ipv6ExthdrDuplDh,
            });
        }
        seen |= 1 << bit;
        match nh {
            0 | 60 => check_ipv6_options(ctx, rest(ext, 2)),
            43 if u8_at(ext, 2) == Some(0) => ctx.anomaly(Anomaly::Ipv6RhType0),
            44 => {
                let (Some(fo), Some(id)) = (be16(ext, 2), be32(ext, 4)) else {
                    ctx.anomaly(Anomaly::Ipv6TruncExthdr);
                    return Step::Done;
                };
                let offset = fo & 0xFFF8;
                let more = fo & 1 != 0;
                if offset != 0 || more {
                    let data = rest(pkt, off + 8);
                    if more && data.len() % 8 != 0 {
                        ctx.anomaly(Anomaly::Ipv6FragInvalidLength);
                    }
                    ctx.d.frag = Some(FragInfo {
                        v6: true,
                        id,
                        offset,
                        more,
                        proto: next,
                        header: pkt.get(..off).unwrap_or(&[]),
                        nh_offset: u16::try_from(nh_off).unwrap_or(u16::MAX),
                        data,
                    });
                    set_v6_upper(ctx, &mut info, next, off + 8);
                    return Step::Done;
                }
                ctx.anomaly(Anomaly::Ipv6ExthdrUselessFh);
            }
            _ => {}
        }
        nh_off = off;
        nh = next;
        off += ext_len;
    }
    set_v6_upper(ctx, &mut info, nh, off);
    transport::upper(ctx, nh, rest(pkt, off), true)
}

/// Records the upper-layer protocol and extension-header length.
fn set_v6_upper(ctx: &mut Ctx<'_, '_, '_>, info: &mut Ipv6Info, nh: u8, off: usize) {
    info.next_header = nh;
    info.ext_len = u16::try_from(off.saturating_sub(40)).unwrap_or(u16::MAX);
    ctx.d.l3 = L3::Ipv6(*info);
}

/// Validates the TLV options of a hop-by-hop or destination options header.
fn check_ipv6_options(ctx: &mut Ctx<'_, '_, '_>, opts: &[u8]) {
    let mut off = 0usize;
    while let Some(&t) = opts.get(off) {
        if t == 0 {
            off += 1;
            continue;
        }
        let Some(len) = opts.get(off + 1) else {
            ctx.anomaly(Anomaly::Ipv6ExthdrInvalidOptlen);
            return;
        };
        off += 2 + usize::from(*len);
        if off > opts.len() {
            ctx.anomaly(Anomaly::Ipv6ExthdrInvalidOptlen);
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::*;

    fn o() -> DecodeOptions {
        DecodeOptions::default()
    }

    #[test]
    fn ipv4_fields_and_padding_trimmed() {
        let mut ip = ipv4_udp([10, 1, 2, 3], [10, 4, 5, 6], 1000, 53, b"query");
        ip.extend_from_slice(&[0u8; 6]); // Ethernet padding
        let d = decode(LinkType::Raw, &ip, &o());
        let L3::Ipv4(h) = d.l3 else { panic!() };
        assert_eq!(h.src, Ipv4Addr::new(10, 1, 2, 3));
        assert_eq!(h.proto, IPPROTO_UDP);
        assert_eq!(h.ttl, 64);
        assert_eq!(h.header_len, 20);
        assert!(h.flags_df);
        assert_eq!(d.payload, b"query");
        assert_eq!(d.ttl(), Some(64));
        assert!(d.anomalies.is_empty());
    }

    #[test]
    fn ipv4_every_truncation_point() {
        let f = eth_ipv4_tcp(
            [1, 1, 1, 1],
            [2, 2, 2, 2],
            10,
            20,
            TCP_ACK | TCP_PSH,
            b"hello",
        );
        for cut in 14..f.len() {
            let d = decode(LinkType::Ethernet, &f[..cut], &o());
            let want = if cut < 34 {
                Anomaly::Ipv4PktTooSmall
            } else {
                Anomaly::Ipv4TruncPkt
            };
            assert!(d.anomalies.contains(want), "cut {cut}: {:?}", d.anomalies);
            assert_eq!(d.l3, L3::None, "cut {cut}");
            assert_eq!(d.l4, L4::None);
        }
        let d = decode(LinkType::Ethernet, &f, &o());
        assert!(d.anomalies.is_empty());
        assert_eq!(d.payload, b"hello");
    }

    #[test]
    fn ipv4_header_errors() {
        let base = ipv4_udp([1, 1, 1, 1], [2, 2, 2, 2], 1, 2, b"abcd");
        let mut v = base.clone();
        v[0] = 0x65;
        assert!(decode(LinkType::Ipv4, &v, &o())
            .anomalies
            .contains(Anomaly::Ipv4WrongIpVersion));
        let mut v = base.clone();
        v[0] = 0x44;
        assert!(decode(LinkType::Ipv4, &v, &o())
            .anomalies
            .contains(Anomaly::Ipv4HlenTooSmall));
        let mut v = base.clone();
        v[2..4].copy_from_slice(&10u16.to_be_bytes());
        assert!(decode(LinkType::Ipv4, &v, &o())
            .anomalies
            .contains(Anomaly::Ipv4IplenSmallerThanHlen));
    }

    #[test]
    fn ipv4_options_validated() {
        // Header of 24 bytes: router alert (4 bytes) is fine.
        let ip = ipv4_with_options(&[0x94, 0x04, 0, 0], IPPROTO_UDP, &udp(1, 2, b"z"));
        let d = decode(LinkType::Raw, &ip, &o());
        assert!(d.anomalies.is_empty(), "{:?}", d.anomalies);
        assert_eq!(d.payload, b"z");
        let ip = ipv4_with_options(&[0x94, 0x01, 0, 0], IPPROTO_UDP, &udp(1, 2, b"z"));
        assert!(decode(LinkType::Raw, &ip, &o())
            .anomalies
            .contains(Anomaly::Ipv4OptInvalidLen));
        let ip = ipv4_with_options(&[0x01, 0x01, 0x07, 0x08], IPPROTO_UDP, &udp(1, 2, b"z"));
        assert!(decode(LinkType::Raw, &ip, &o())
            .anomalies
            .contains(Anomaly::Ipv4OptMalformed));
        let ip = ipv4_with_options(&[0x94, 0x02, 0x94, 0x02], IPPROTO_UDP, &udp(1, 2, b"z"));
        assert!(decode(LinkType::Raw, &ip, &o())
            .anomalies
            .contains(Anomaly::Ipv4OptDuplicate));
    }

    #[test]
    fn ipv4_fragment() {
        let frags = ipv4_fragments(
            [10, 0, 0, 1],
            [10, 0, 0, 2],
            77,
            IPPROTO_UDP,
            &udp(1, 2, &[7u8; 100]),
            48,
        );
        let d = decode(LinkType::Raw, &frags[0], &o());
        let fi = d.frag.unwrap();
        assert_eq!(
            (fi.offset, fi.more, fi.id, fi.proto),
            (0, true, 77, IPPROTO_UDP)
        );
        assert_eq!(fi.data.len(), 48);
        assert_eq!(d.l4, L4::None);
        let d = decode(LinkType::Raw, &frags[1], &o());
        assert_eq!(d.frag.unwrap().offset, 48);
    }

    #[test]
    fn ipv6_ext_headers_and_truncation() {
        let up = udp(5, 6, b"v6data");
        // hop-by-hop (PadN 4) then destination options then UDP.
        let ext = [
            (0u8, vec![1u8, 4, 0, 0, 0, 0]),
            (60u8, vec![1u8, 4, 0, 0, 0, 0]),
        ];
        let p = ipv6_with_ext(&ext, IPPROTO_UDP, &up);
        let d = decode(LinkType::Raw, &p, &o());
        assert!(d.anomalies.is_empty(), "{:?}", d.anomalies);
        let L3::Ipv6(h) = d.l3 else { panic!() };
        assert_eq!(h.next_header, IPPROTO_UDP);
        assert_eq!(h.ext_len, 16);
        assert_eq!(d.payload, b"v6data");
        assert_eq!(d.ip_proto(), Some(IPPROTO_UDP));
        for cut in 0..p.len() {
            let d = decode(LinkType::Raw, &p[..cut], &o());
            if cut < 40 {
                assert!(
                    d.anomalies.contains(Anomaly::Ipv6PktTooSmall)
                        || cut == 0
                        || d.anomalies.contains(Anomaly::IpRawInvalidIpVersion)
                );
            } else {
                assert!(d.anomalies.contains(Anomaly::Ipv6TruncPkt), "{cut}");
            }
            assert_eq!(d.l4, L4::None);
        }
        // Truncated extension header inside a consistent payload length.
        let p = ipv6_with_ext(&[], 0, &[17, 3, 0, 0]);
        assert!(decode(LinkType::Raw, &p, &o())
            .anomalies
            .contains(Anomaly::Ipv6TruncExthdr));
        // Duplicate hop-by-hop, routing type 0, bad option length.
        let p = ipv6_with_ext(
            &[(0, vec![1, 4, 0, 0, 0, 0]), (0, vec![1, 4, 0, 0, 0, 0])],
            17,
            &up,
        );
        assert!(decode(LinkType::Raw, &p, &o())
            .anomalies
            .contains(Anomaly::Ipv6ExthdrDuplHh));
        let p = ipv6_with_ext(&[(43, vec![0, 0, 0, 0, 0, 0])], 17, &up);
        assert!(decode(LinkType::Raw, &p, &o())
            .anomalies
            .contains(Anomaly::Ipv6RhType0));
        let p = ipv6_with_ext(&[(60, vec![1, 9, 0, 0, 0, 0])], 17, &up);
        assert!(decode(LinkType::Raw, &p, &o())
            .anomalies
            .contains(Anomaly::Ipv6ExthdrInvalidOptlen));
        // No next header with trailing data.
        let p = ipv6_with_ext(&[], 59, b"junk");
        let d = decode(LinkType::Raw, &p, &o());
        assert!(d.anomalies.contains(Anomaly::Ipv6DataAfterNoneHeader));
        // Chain longer than the cap.
        let many: Vec<(u8, Vec<u8>)> = (0..12).map(|_| (60u8, vec![1, 4, 0, 0, 0, 0])).collect();
        let p = ipv6_with_ext(&many, 17, &up);
        assert!(decode(LinkType::Raw, &p, &o())
            .anomalies
            .contains(Anomaly::TooManyLayers));
    }

    #[test]
    fn ipv6_fragment_header() {
        let frags = ipv6_fragments(0xdeadbeef, IPPROTO_UDP, &udp(1, 2, &[9u8; 60]), 32);
        let d = decode(LinkType::Raw, &frags[0], &o());
        let f = d.frag.unwrap();
        assert!(f.v6 && f.more);
        assert_eq!(
            (f.id, f.offset, f.proto, f.nh_offset),
            (0xdeadbeef, 0, 17, 6)
        );
        assert_eq!(f.header.len(), 40);
        assert_eq!(f.data.len(), 32);
        assert_eq!(d.ip_proto(), Some(17));
        let d = decode(LinkType::Raw, &frags[2], &o());
        assert!(!d.frag.unwrap().more);
        // Atomic fragment: decoded through, flagged useless.
        let mut fh = vec![0u8, 0, 0, 0, 0, 0];
        fh[4] = 1;
        let p = ipv6_with_ext(&[(44, fh)], 17, &udp(1, 2, b"atomic"));
        let d = decode(LinkType::Raw, &p, &o());
        assert!(d.anomalies.contains(Anomaly::Ipv6ExthdrUselessFh));
        assert_eq!(d.payload, b"atomic");
        assert!(d.frag.is_none());
    }
}
