//! Link layers: Ethernet with VLAN stacks, ARP, Linux cooked captures (v1,
//! v2), BSD loopback, Cisco HDLC, PPP, PPPoE sessions and MPLS.

use std::net::Ipv4Addr;

use super::bytes::{arr, be16, be32, rest, u8_at};
use super::{Anomaly, ArpInfo, Ctx, EtherInfo, Step, Tunnel, ETHERTYPE_ARP, L3, L4};
use crate::capture::LinkType;

/// VLAN tags decoded on one Ethernet header before giving up.
const MAX_VLAN_LAYERS: u8 = 8;
/// MPLS labels decoded before giving up.
const MAX_MPLS_LABELS: usize = 8;

/// The first decoding step for a frame of `linktype`.
pub(crate) fn first_step<'a>(
    ctx: &mut Ctx<'a, '_, '_>,
    linktype: LinkType,
    f: &'a [u8],
) -> Step<'a> {
    match linktype {
        LinkType::Ethernet => Step::Ether(f),
        LinkType::Raw => Step::Ip(f),
        LinkType::Ipv4 => Step::Ipv4(f),
        LinkType::Ipv6 => Step::Ipv6(f),
        LinkType::Ppp | LinkType::PppHdlc => Step::Ppp(f),
        LinkType::LinuxSll => match be16(f, 14) {
            Some(proto) if f.len() >= 16 => Step::EtherType(proto, rest(f, 16)),
            _ => {
                ctx.anomaly(Anomaly::SllPktTooSmall);
                Step::Done
            }
        },
        LinkType::LinuxSll2 => match be16(f, 0) {
            Some(proto) if f.len() >= 20 => Step::EtherType(proto, rest(f, 20)),
            _ => {
                ctx.anomaly(Anomaly::SllPktTooSmall);
                Step::Done
            }
        },
        LinkType::Null | LinkType::Loop => {
            let Some(fam) = arr::<4>(f, 0) else {
                ctx.anomaly(Anomaly::LtNullPktTooSmall);
                return Step::Done;
            };
            // DLT_NULL is in the capturing host's order: accept either.
            let be = u32::from_be_bytes(fam);
            let le = u32::from_le_bytes(fam);
            let fam = if linktype == LinkType::Loop || le > 0xFFFF {
                be
            } else {
                le
            };
            match fam {
                2 => Step::Ipv4(rest(f, 4)),
                24 | 28 | 30 => Step::Ipv6(rest(f, 4)),
                _ => {
                    ctx.anomaly(Anomaly::LtNullUnsupportedType);
                    Step::Done
                }
            }
        }
        LinkType::CiscoHdlc => match be16(f, 2) {
            // SLARP and CDP carry no traffic to decode.
            Some(0x8035) | Some(0x2000) => Step::Done,
            Some(proto) => Step::EtherType(proto, rest(f, 4)),
            None => {
                ctx.anomaly(Anomaly::ChdlcPktTooSmall);
                Step::Done
            }
        },
        LinkType::Other(_) => {
            ctx.anomaly(Anomaly::UnsupportedLinkType);
            Step::Done
        }
    }
}

/// An Ethernet II header; starts a new innermost link layer.
pub(crate) fn ethernet<'a>(ctx: &mut Ctx<'a, '_, '_>, b: &'a [u8]) -> Step<'a> {
    let Some((h, body)) = b.split_first_chunk::<14>() else {
        ctx.anomaly(Anomaly::EthernetPktTooSmall);
        return Step::Done;
    };
    let [d0, d1, d2, d3, d4, d5, s0, s1, s2, s3, s4, s5, t0, t1] = *h;
    let ethertype = u16::from_be_bytes([t0, t1]);
    ctx.d.ether = Some(EtherInfo {
        src: [s0, s1, s2, s3, s4, s5],
        dst: [d0, d1, d2, d3, d4, d5],
        ethertype,
    });
    ctx.d.vlans = [0; 2];
    ctx.d.vlan_count = 0;
    ctx.vlan_layers = 0;
    if ethertype < 0x0600 {
        // IEEE 802.3 length field: LLC/SNAP (STP, CDP, ...), nothing to decode.
        return Step::Done;
    }
    Step::EtherType(ethertype, body)
}

/// Dispatches a payload by EtherType.
pub(crate) fn ethertype<'a>(ctx: &mut Ctx<'a, '_, '_>, t: u16, b: &'a [u8]) -> Step<'a> {
    match t {
        0x0800 => Step::Ipv4(b),
        0x86DD => Step::Ipv6(b),
        ETHERTYPE_ARP => arp(ctx, b),
        0x8100 | 0x88A8 | 0x9100 => vlan(ctx, b),
        0x8864 => pppoe_session(ctx, b),
        0x8847 | 0x8848 => {
            if ctx.enter_tunnel(Tunnel::Mpls) {
                Step::Mpls(b)
            } else {
                Step::Done
            }
        }
        0x6558 => Step::Ether(b),
        0x880B => Step::Ppp(b),
        _ => Step::Done,
    }
}

/// One 802.1Q / 802.1ad / 0x9100 tag.
fn vlan<'a>(ctx: &mut Ctx<'a, '_, '_>, b: &'a [u8]) -> Step<'a> {
    let (Some(tci), Some(inner)) = (be16(b, 0), be16(b, 2)) else {
        ctx.anomaly(Anomaly::VlanHeaderTooSmall);
        return Step::Done;
    };
    ctx.vlan_layers = ctx.vlan_layers.saturating_add(1);
    if let Some(slot) = ctx.d.vlans.get_mut(usize::from(ctx.d.vlan_count)) {
        *slot = tci & 0x0FFF;
        ctx.d.vlan_count += 1;
    } else {
        ctx.anomaly(Anomaly::VlanTooManyLayers);
    }
    if ctx.vlan_layers > MAX_VLAN_LAYERS {
        ctx.anomaly(Anomaly::TooManyLayers);
        return Step::Done;
    }
    if let Some(e) = ctx.d.ether.as_mut() {
        e.ethertype = inner;
    }
    Step::EtherType(inner, rest(b, 4))
}

/// ARP for Ethernet hardware and IPv4 protocol addresses.
fn arp<'a>(ctx: &mut Ctx<'a, '_, '_>, b: &'a [u8]) -> Step<'a> {
    // Fixed part: hardware type, protocol type, address lengths, operation.
    let (Some(htype), Some(ptype), Some(hlen), Some(plen), Some(op)) =
        (be16(b, 0), be16(b, 2), u8_at(b, 4), u8_at(b, 5), be16(b, 6))
    else {
        ctx.anomaly(Anomaly::ArpPktTooSmall);
        return Step::Done;
    };
    if (htype, ptype, hlen, plen) != (1, 0x0800, 6, 4) {
        // Other hardware or protocol types: nothing we track.
        return Step::Done;
    }
    match (
        arr::<6>(b, 8),
        arr::<4>(b, 14),
        arr::<6>(b, 18),
        arr::<4>(b, 24),
    ) {
        (Some(sm), Some(si), Some(tm), Some(ti)) => {
            ctx.d.l3 = L3::Arp(ArpInfo {
                op,
                sender_mac: sm,
                sender_ip: Ipv4Addr::from(si),
                target_mac: tm,
                target_ip: Ipv4Addr::from(ti),
            });
            // ARP inside a tunnel replaces the outer packet's upper layers.
            ctx.d.l4 = L4::None;
            ctx.d.payload = &[];
            ctx.d.frag = None;
        }
        _ => ctx.anomaly(Anomaly::ArpPktTooSmall),
    }
    Step::Done
}

/// A PPPoE session header (RFC 2516), then PPP.
fn pppoe_session<'a>(ctx: &mut Ctx<'a, '_, '_>, b: &'a [u8]) -> Step<'a> {
    let (Some(code), Some(len)) = (u8_at(b, 1), be16(b, 4)) else {
        ctx.anomaly(Anomaly::PppoePktTooSmall);
        return Step::Done;
    };
    if code != 0 {
        ctx.anomaly(Anomaly::PppoeWrongCode);
        return Step::Done;
    }
    let body = rest(b, 6);
    let body = match body.get(..usize::from(len)) {
        Some(s) => s,
        None => {
            ctx.anomaly(Anomaly::PppoePktTooSmall);
            body
        }
    };
    if body.len() < 2 {
        ctx.anomaly(Anomaly::PppoePktTooSmall);
        return Step::Done;
    }
    if !ctx.enter_tunnel(Tunnel::Pppoe) {
        return Step::Done;
    }
    Step::Ppp(body)
}

/// A PPP frame: optional `FF 03` address/control, then a 1- or 2-byte
/// protocol field.
pub(crate) fn ppp<'a>(ctx: &mut Ctx<'a, '_, '_>, b: &'a [u8]) -> Step<'a> {
    let b = match b {
        [0xFF, 0x03, tail @ ..] => tail,
        _ => b,
    };
    let (proto, body) = match b {
        [p, tail @ ..] if p & 1 == 1 => (u16::from(*p), tail),
        [hi, lo, tail @ ..] => (u16::from_be_bytes([*hi, *lo]), tail),
        _ => {
            ctx.anomaly(Anomaly::PppPktTooSmall);
            return Step::Done;
        }
    };
    match proto {
        0x0021 => Step::Ipv4(body),
        0x0057 => Step::Ipv6(body),
        // Valid protocol numbers have an odd low byte and an even high byte.
        p if p & 0x0001 == 0 || p & 0x0100 != 0 => {
            ctx.anomaly(Anomaly::PppWrongType);
            Step::Done
        }
        // Link and network control protocols (LCP, IPCP, PAP, CHAP, ...).
        p if p >= 0x8000 => Step::Done,
        _ => {
            ctx.anomaly(Anomaly::PppUnsupProto);
            Step::Done
        }
    }
}

/// An MPLS label stack, then IPv4, IPv6 or Ethernet (pseudowire with a
/// control word).
pub(crate) fn mpls<'a>(ctx: &mut Ctx<'a, '_, '_>, b: &'a [u8]) -> Step<'a> {
    let mut off = 0usize;
    for _ in 0..MAX_MPLS_LABELS {
        let Some(entry) = be32(b, off) else {
            ctx.anomaly(Anomaly::MplsHeaderTooSmall);
            return Step::Done;
        };
        off += 4;
        if entry & 0x100 == 0 {
            continue;
        }
        let body = rest(b, off);
        let Some(first) = body.first() else {
            ctx.anomaly(Anomaly::MplsPktTooSmall);
            return Step::Done;
        };
        return match (entry >> 12, first >> 4) {
            (0, _) | (_, 4) => Step::Ipv4(body),
            (2, _) | (_, 6) => Step::Ipv6(body),
            (_, 0) => Step::Ether(rest(body, 4)),
            _ => {
                ctx.anomaly(Anomaly::MplsUnknownPayloadType);
                Step::Done
            }
        };
    }
    ctx.anomaly(Anomaly::TooManyLayers);
    Step::Done
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::*;

    fn o() -> DecodeOptions {
        DecodeOptions::default()
    }

    #[test]
    fn ethernet_header_and_truncation() {
        let f = eth_ipv4_tcp([1, 2, 3, 4], [5, 6, 7, 8], 1, 2, TCP_SYN, b"");
        let d = decode(LinkType::Ethernet, &f, &o());
        let e = d.ether.unwrap();
        assert_eq!(e.dst, DST_MAC);
        assert_eq!(e.src, SRC_MAC);
        assert_eq!(e.ethertype, 0x0800);
        for cut in 0..14 {
            let d = decode(LinkType::Ethernet, &f[..cut], &o());
            assert!(d.anomalies.contains(Anomaly::EthernetPktTooSmall), "{cut}");
            assert_eq!(d.ether, None);
        }
    }

    #[test]
    fn vlan_and_qinq() {
        let inner = ipv4_tcp([1, 2, 3, 4], [5, 6, 7, 8], 1, 2, TCP_SYN, b"");
        let f = eth(&[(0x88A8, 100), (0x8100, 20)], 0x0800, &inner);
        let d = decode(LinkType::Ethernet, &f, &o());
        assert_eq!(d.vlan_count, 2);
        assert_eq!(d.vlans, [100, 20]);
        assert_eq!(d.ether.unwrap().ethertype, 0x0800);
        assert!(matches!(d.l4, L4::Tcp(_)));
        assert!(d.anomalies.is_empty());

        let f3 = eth(&[(0x8100, 1), (0x8100, 2), (0x9100, 3)], 0x0800, &inner);
        let d = decode(LinkType::Ethernet, &f3, &o());
        assert_eq!(d.vlans, [1, 2]);
        assert!(d.anomalies.contains(Anomaly::VlanTooManyLayers));
        assert!(matches!(d.l4, L4::Tcp(_)));

        let many: Vec<(u16, u16)> = (0..20).map(|i| (0x8100, i)).collect();
        let d = decode(LinkType::Ethernet, leak(eth(&many, 0x0800, &inner)), &o());
        assert!(d.anomalies.contains(Anomaly::TooManyLayers));
        assert_eq!(d.l3, L3::None);

        let f = eth(&[(0x8100, 7)], 0x0800, &inner);
        for cut in 14..18 {
            let d = decode(LinkType::Ethernet, &f[..cut], &o());
            assert!(d.anomalies.contains(Anomaly::VlanHeaderTooSmall), "{cut}");
        }
    }

    #[test]
    fn arp_request() {
        let f = eth_arp(1, [192, 168, 1, 5], [192, 168, 1, 1]);
        let d = decode(LinkType::Ethernet, &f, &o());
        let L3::Arp(a) = d.l3 else {
            panic!("{:?}", d.l3)
        };
        assert_eq!(a.op, 1);
        assert_eq!(a.sender_mac, SRC_MAC);
        assert_eq!(a.sender_ip, Ipv4Addr::new(192, 168, 1, 5));
        assert_eq!(a.target_ip, Ipv4Addr::new(192, 168, 1, 1));
        assert_eq!(d.src_ip(), Some("192.168.1.5".parse().unwrap()));
        for cut in 14..42 {
            let d = decode(LinkType::Ethernet, &f[..cut], &o());
            assert!(d.anomalies.contains(Anomaly::ArpPktTooSmall), "{cut}");
            assert_eq!(d.l3, L3::None);
        }
    }

    #[test]
    fn cooked_captures() {
        let ip = ipv4_udp([10, 0, 0, 1], [10, 0, 0, 2], 53, 5353, b"dns");
        let mut sll = vec![0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00];
        sll.extend_from_slice(&ip);
        let d = decode(LinkType::LinuxSll, &sll, &o());
        assert_eq!(d.payload, b"dns");
        let mut sll2 = vec![
            0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0,
        ];
        sll2.extend_from_slice(&ip);
        let d = decode(LinkType::LinuxSll2, &sll2, &o());
        assert_eq!(d.dst_port(), 5353);
        for cut in 0..16 {
            let d = decode(LinkType::LinuxSll, &sll[..cut], &o());
            assert!(d.anomalies.contains(Anomaly::SllPktTooSmall));
        }
        for cut in 0..20 {
            let d = decode(LinkType::LinuxSll2, &sll2[..cut], &o());
            assert!(d.anomalies.contains(Anomaly::SllPktTooSmall));
        }
    }

    #[test]
    fn null_loop_raw_chdlc_ppp() {
        let ip = ipv4_udp([10, 0, 0, 1], [10, 0, 0, 2], 1, 2, b"x");
        let ip6 = ipv6_udp(1, 2, b"y");
        for (lt, hdr, body) in [
            (LinkType::Null, vec![2u8, 0, 0, 0], &ip),
            (LinkType::Null, vec![0, 0, 0, 2], &ip),
            (LinkType::Null, vec![30, 0, 0, 0], &ip6),
            (LinkType::Null, vec![0, 0, 0, 24], &ip6),
            (LinkType::Loop, vec![0, 0, 0, 2], &ip),
            (LinkType::Loop, vec![0, 0, 0, 28], &ip6),
            (LinkType::Raw, vec![], &ip),
            (LinkType::Raw, vec![], &ip6),
            (LinkType::Ipv4, vec![], &ip),
            (LinkType::Ipv6, vec![], &ip6),
            (LinkType::CiscoHdlc, vec![0x0F, 0, 0x08, 0x00], &ip),
            (LinkType::CiscoHdlc, vec![0x8F, 0, 0x86, 0xDD], &ip6),
            (LinkType::Ppp, vec![0xFF, 0x03, 0x00, 0x21], &ip),
            (LinkType::Ppp, vec![0x21], &ip),
            (LinkType::PppHdlc, vec![0xFF, 0x03, 0x57], &ip6),
            (LinkType::Ppp, vec![0x00, 0x57], &ip6),
        ] {
            let mut f = hdr.clone();
            f.extend_from_slice(body);
            let d = decode(lt, &f, &o());
            assert!(d.anomalies.is_empty(), "{lt:?} {hdr:?} {:?}", d.anomalies);
            assert!(matches!(d.l4, L4::Udp(_)), "{lt:?} {hdr:?}");
        }
        let d = decode(LinkType::Null, &[7, 0, 0, 0, 0x45], &o());
        assert!(d.anomalies.contains(Anomaly::LtNullUnsupportedType));
        let d = decode(LinkType::Null, &[2, 0], &o());
        assert!(d.anomalies.contains(Anomaly::LtNullPktTooSmall));
        let d = decode(LinkType::Raw, &[0x55, 0], &o());
        assert!(d.anomalies.contains(Anomaly::IpRawInvalidIpVersion));
        let d = decode(LinkType::CiscoHdlc, &[0x0F, 0, 0x80], &o());
        assert!(d.anomalies.contains(Anomaly::ChdlcPktTooSmall));
        let d = decode(LinkType::CiscoHdlc, &[0x8F, 0, 0x80, 0x35, 1, 2], &o());
        assert!(d.anomalies.is_empty());
        let d = decode(LinkType::Ppp, &[0xFF, 0x03], &o());
        assert!(d.anomalies.contains(Anomaly::PppPktTooSmall));
        let d = decode(LinkType::Ppp, &[0xC0, 0x21, 1, 1, 0, 4], &o());
        assert!(d.anomalies.is_empty(), "LCP is silent");
        let d = decode(LinkType::Ppp, &[0x00, 0x2D, 1], &o());
        assert!(d.anomalies.contains(Anomaly::PppUnsupProto));
        let d = decode(LinkType::Ppp, &[0x00, 0x22, 1], &o());
        assert!(d.anomalies.contains(Anomaly::PppWrongType));
        let d = decode(LinkType::Other(147), &ip, &o());
        assert!(d.anomalies.contains(Anomaly::UnsupportedLinkType));
    }

    #[test]
    fn pppoe_and_mpls() {
        let ip = ipv4_udp([10, 0, 0, 1], [10, 0, 0, 2], 1, 2, b"pp");
        let mut body = vec![0x11, 0x00, 0x12, 0x34];
        body.extend_from_slice(&u16::try_from(ip.len() + 2).unwrap().to_be_bytes());
        body.extend_from_slice(&[0x00, 0x21]);
        body.extend_from_slice(&ip);
        let d = decode(LinkType::Ethernet, leak(eth(&[], 0x8864, &body)), &o());
        assert_eq!(d.payload, b"pp");
        assert_eq!(d.tunnel, Tunnel::Pppoe);
        let mut wrong = body.clone();
        wrong[1] = 9;
        let d = decode(LinkType::Ethernet, leak(eth(&[], 0x8864, &wrong)), &o());
        assert!(d.anomalies.contains(Anomaly::PppoeWrongCode));
        let d = decode(LinkType::Ethernet, leak(eth(&[], 0x8864, &body[..5])), &o());
        assert!(d.anomalies.contains(Anomaly::PppoePktTooSmall));

        // Two labels, bottom of stack on the second, then IPv4.
        let mut m = vec![0x00, 0x01, 0x00, 0x40, 0x00, 0x02, 0x01, 0x40];
        m.extend_from_slice(&ip);
        let d = decode(LinkType::Ethernet, leak(eth(&[], 0x8847, &m)), &o());
        assert_eq!(d.payload, b"pp");
        let d = decode(LinkType::Ethernet, leak(eth(&[], 0x8847, &m[..6])), &o());
        assert!(d.anomalies.contains(Anomaly::MplsHeaderTooSmall));
        let d = decode(LinkType::Ethernet, leak(eth(&[], 0x8847, &m[..8])), &o());
        assert!(d.anomalies.contains(Anomaly::MplsPktTooSmall));
    }
}
