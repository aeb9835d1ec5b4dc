//! Remote-SPAN encapsulations: GRE (RFC 2784/2890 version 0, PPTP's
//! enhanced GRE version 1), ERSPAN types I, II and III, and VXLAN.

use super::bytes::{be16, rest, u8_at};
use super::{link, Anomaly, Ctx, Step, Tunnel};

/// GRE flag: checksum present.
const GRE_C: u16 = 0x8000;
/// GRE flag: routing present (RFC 1701).
const GRE_R: u16 = 0x4000;
/// GRE flag: key present.
const GRE_K: u16 = 0x2000;
/// GRE flag: sequence number present.
const GRE_S: u16 = 0x1000;
/// GRE recursion control bits.
const GRE_RECUR: u16 = 0x0700;
/// GRE v1 flag: acknowledgement number present.
const GRE_A: u16 = 0x0080;

/// GRE protocol of ERSPAN type I and II.
const ERSPAN_II: u16 = 0x88BE;
/// GRE protocol of ERSPAN type III.
const ERSPAN_III: u16 = 0x22EB;

/// A GRE packet.
pub(crate) fn gre<'a>(ctx: &mut Ctx<'a, '_, '_>, b: &'a [u8]) -> Step<'a> {
    let (Some(flags), Some(proto)) = (be16(b, 0), be16(b, 2)) else {
        ctx.anomaly(Anomaly::GrePktTooSmall);
        return Step::Done;
    };
    let hlen = match flags & 0x0007 {
        0 => {
            if flags & GRE_RECUR != 0 {
                ctx.anomaly(Anomaly::GreVersion0Recur);
                return Step::Done;
            }
            if flags & (GRE_R | 0x00F8) != 0 {
                ctx.anomaly(Anomaly::GreVersion0Flags);
                return Step::Done;
            }
            4 + [GRE_C, GRE_K, GRE_S]
                .iter()
                .filter(|f| flags & **f != 0)
                .count()
                * 4
        }
        1 => {
            if flags & (GRE_C | GRE_R | GRE_RECUR | 0x0078) != 0 {
                ctx.anomaly(Anomaly::GreVersion1Flags);
                return Step::Done;
            }
            if flags & GRE_K == 0 {
                ctx.anomaly(Anomaly::GreVersion1NoKey);
                return Step::Done;
            }
            if proto != 0x880B {
                ctx.anomaly(Anomaly::GreVersion1WrongProtocol);
                return Step::Done;
            }
            8 + [GRE_S, GRE_A].iter().filter(|f| flags & **f != 0).count() * 4
        }
        _ => {
            ctx.anomaly(Anomaly::GreWrongVersion);
            return Step::Done;
        }
    };
    if b.len() < hlen {
        ctx.anomaly(Anomaly::GrePktTooSmall);
        return Step::Done;
    }
    let body = rest(b, hlen);
    match proto {
        ERSPAN_II => {
            if !ctx.enter_tunnel(Tunnel::Erspan) {
                return Step::Done;
            }
            if flags & GRE_S == 0 {
                // Type I: no ERSPAN header, the mirrored frame follows.
                return Step::Ether(body);
            }
            erspan(ctx, body, 1, 8)
        }
        ERSPAN_III => {
            if !ctx.enter_tunnel(Tunnel::Erspan) {
                return Step::Done;
            }
            // 12 bytes, plus an 8-byte platform sub-header when O is set.
            let extra = match u8_at(body, 11) {
                Some(b11) if b11 & 1 != 0 => 8,
                _ => 0,
            };
            erspan(ctx, body, 2, 12 + extra)
        }
        _ => {
            if !ctx.enter_tunnel(Tunnel::Gre) {
                return Step::Done;
            }
            link::ethertype(ctx, proto, body)
        }
    }
}

/// An ERSPAN header of `len` bytes and version `want`, then Ethernet.
fn erspan<'a>(ctx: &mut Ctx<'a, '_, '_>, b: &'a [u8], want: u8, len: usize) -> Step<'a> {
    let Some(ver) = u8_at(b, 0).map(|v| v >> 4) else {
        ctx.anomaly(Anomaly::ErspanHeaderTooSmall);
        return Step::Done;
    };
    if ver != want {
        ctx.anomaly(Anomaly::ErspanUnsupportedVersion);
        return Step::Done;
    }
    if b.len() < len {
        ctx.anomaly(Anomaly::ErspanHeaderTooSmall);
        return Step::Done;
    }
    Step::Ether(rest(b, len))
}

/// A UDP payload to the VXLAN port: an 8-byte header with the I flag, then
/// Ethernet. Anything else stays plain UDP.
pub(crate) fn vxlan<'a>(ctx: &mut Ctx<'a, '_, '_>, b: &'a [u8]) -> Step<'a> {
    match u8_at(b, 0) {
        Some(f) if f & 0x08 != 0 && b.len() >= 8 + 14 => {
            if ctx.enter_tunnel(Tunnel::Vxlan) {
                Step::Ether(rest(b, 8))
            } else {
                Step::Done
            }
        }
        _ => Step::Done,
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::*;

    fn o() -> DecodeOptions {
        DecodeOptions::default()
    }

    const OUT_SRC: [u8; 4] = [172, 16, 0, 1];
    const OUT_DST: [u8; 4] = [172, 16, 0, 2];
    const IN_SRC: [u8; 4] = [10, 9, 8, 7];

    fn inner_frame() -> Vec<u8> {
        eth_ipv4_tcp(IN_SRC, [10, 9, 8, 6], 3333, 22, TCP_ACK, b"SSH-2.0")
    }

    fn check_inner(d: &Decoded<'_>) {
        assert_eq!(d.src_ip(), Some(IpAddr::from(IN_SRC)), "{:?}", d.anomalies);
        assert_eq!(d.dst_port(), 22);
        assert_eq!(d.payload, b"SSH-2.0");
        assert_eq!(d.ether.unwrap().src, SRC_MAC);
    }

    #[test]
    fn gre_ip_and_teb_with_flags() {
        let inner = ipv4_tcp(IN_SRC, [10, 9, 8, 6], 3333, 22, TCP_ACK, b"SSH-2.0");
        for flags in [0x0000u16, 0x8000, 0x2000, 0x1000, 0xB000] {
            let g = gre_hdr(flags, 0x0800, &inner);
            let f = eth_ipv4_proto(OUT_SRC, OUT_DST, 47, &g);
            let d = decode(LinkType::Ethernet, &f, &o());
            assert_eq!(d.tunnel, Tunnel::Gre);
            assert_eq!(d.src_ip(), Some(IpAddr::from(IN_SRC)), "flags {flags:x}");
            assert_eq!(d.payload, b"SSH-2.0");
            assert!(d.anomalies.is_empty());
        }
        let g = gre_hdr(0x2000, 0x6558, &inner_frame());
        let d = decode(
            LinkType::Ethernet,
            leak(eth_ipv4_proto(OUT_SRC, OUT_DST, 47, &g)),
            &o(),
        );
        check_inner(&d);
    }

    #[test]
    fn erspan_types() {
        // Type II: GRE with sequence, 8-byte ERSPAN header version 1.
        let mut e2 = vec![0x10, 0x64, 0x00, 0x01, 0, 0, 0, 0];
        e2.extend_from_slice(&inner_frame());
        let g = gre_hdr(0x1000, 0x88BE, &e2);
        let outer = eth_ipv4_proto(OUT_SRC, OUT_DST, 47, &g);
        let d = decode(LinkType::Ethernet, &outer, &o());
        assert_eq!(d.tunnel, Tunnel::Erspan);
        check_inner(&d);
        // Truncations of the outer frame never panic and name a layer.
        for cut in 0..outer.len() {
            let d = decode(LinkType::Ethernet, &outer[..cut], &o());
            assert!(!d.anomalies.is_empty(), "cut {cut}");
        }
        // Type I: no sequence, no ERSPAN header.
        let g = gre_hdr(0x0000, 0x88BE, &inner_frame());
        check_inner(&decode(
            LinkType::Ethernet,
            leak(eth_ipv4_proto(OUT_SRC, OUT_DST, 47, &g)),
            &o(),
        ));
        // Type III with and without the platform sub-header.
        for o_bit in [0u8, 1] {
            let mut e3 = vec![0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, o_bit];
            if o_bit == 1 {
                e3.extend_from_slice(&[0u8; 8]);
            }
            e3.extend_from_slice(&inner_frame());
            let g = gre_hdr(0x1000, 0x22EB, &e3);
            check_inner(&decode(
                LinkType::Ethernet,
                leak(eth_ipv4_proto(OUT_SRC, OUT_DST, 47, &g)),
                &o(),
            ));
        }
        // Outer VLAN tags give way to the mirrored frame's own.
        let mut tagged = vec![0x10, 0x64, 0x00, 0x01, 0, 0, 0, 0];
        let inner_ip = ipv4_tcp(IN_SRC, [10, 9, 8, 6], 3333, 22, TCP_ACK, b"SSH-2.0");
        tagged.extend_from_slice(&eth(&[(0x8100, 5)], 0x0800, &inner_ip));
        let g = gre_hdr(0x1000, 0x88BE, &tagged);
        let f = eth(
            &[(0x8100, 100), (0x8100, 200)],
            0x0800,
            &ipv4_proto(OUT_SRC, OUT_DST, 47, &g),
        );
        let d = decode(LinkType::Ethernet, &f, &o());
        check_inner(&d);
        assert_eq!((d.vlan_count, d.vlans), (1, [5, 0]));
        // Wrong version.
        e2[0] = 0x30;
        let g = gre_hdr(0x1000, 0x88BE, &e2);
        let d = decode(
            LinkType::Ethernet,
            leak(eth_ipv4_proto(OUT_SRC, OUT_DST, 47, &g)),
            &o(),
        );
        assert!(d.anomalies.contains(Anomaly::ErspanUnsupportedVersion));
        assert_eq!(d.src_ip(), Some(IpAddr::from(OUT_SRC)));
        assert_eq!(d.l4, L4::Other(47));
    }

    #[test]
    fn gre_errors() {
        let inner = ipv4_udp(IN_SRC, [1; 4], 1, 2, b"x");
        for (flags, proto, want) in [
            (0x0002u16, 0x0800u16, Anomaly::GreWrongVersion),
            (0x0100, 0x0800, Anomaly::GreVersion0Recur),
            (0x4000, 0x0800, Anomaly::GreVersion0Flags),
            (0x0001, 0x880B, Anomaly::GreVersion1NoKey),
            (0x2001, 0x0800, Anomaly::GreVersion1WrongProtocol),
            (0xA001, 0x880B, Anomaly::GreVersion1Flags),
        ] {
            let g = gre_hdr(flags, proto, &inner);
            let d = decode(
                LinkType::Ethernet,
                leak(eth_ipv4_proto(OUT_SRC, OUT_DST, 47, &g)),
                &o(),
            );
            assert!(d.anomalies.contains(want), "{flags:x}: {:?}", d.anomalies);
        }
        let d = decode(
            LinkType::Ethernet,
            leak(eth_ipv4_proto(OUT_SRC, OUT_DST, 47, &[0x20, 0, 8, 0, 1])),
            &o(),
        );
        assert!(d.anomalies.contains(Anomaly::GrePktTooSmall));
    }

    #[test]
    fn pptp_gre_v1_ppp() {
        let inner = ipv4_udp(IN_SRC, [1; 4], 7, 8, b"pptp");
        let mut ppp = vec![0xFF, 0x03, 0x00, 0x21];
        ppp.extend_from_slice(&inner);
        // Key (payload length + call id) and sequence number present.
        let g = gre_hdr(0x3001, 0x880B, &ppp);
        let d = decode(
            LinkType::Ethernet,
            leak(eth_ipv4_proto(OUT_SRC, OUT_DST, 47, &g)),
            &o(),
        );
        assert_eq!(d.payload, b"pptp");
        assert_eq!(d.tunnel, Tunnel::Gre);
    }

    #[test]
    fn vxlan_and_ip_in_ip() {
        let mut vx = vec![0x08, 0, 0, 0, 0, 0, 0x64, 0];
        vx.extend_from_slice(&inner_frame());
        let u = udp(50000, 4789, &vx);
        let f = eth_ipv4_proto(OUT_SRC, OUT_DST, 17, &u);
        let d = decode(LinkType::Ethernet, &f, &o());
        assert_eq!(d.tunnel, Tunnel::Vxlan);
        check_inner(&d);
        // Port 4789 without the I flag stays UDP.
        vx[0] = 0;
        let d = decode(
            LinkType::Ethernet,
            leak(eth_ipv4_proto(OUT_SRC, OUT_DST, 17, &udp(1, 4789, &vx))),
            &o(),
        );
        assert_eq!(d.tunnel, Tunnel::None);
        assert_eq!(d.dst_port(), 4789);

        let inner = ipv4_udp(IN_SRC, [1; 4], 1, 2, b"4in4");
        let d = decode(
            LinkType::Ethernet,
            leak(eth_ipv4_proto(OUT_SRC, OUT_DST, 4, &inner)),
            &o(),
        );
        assert_eq!(d.tunnel, Tunnel::IpInIp);
        assert_eq!(d.payload, b"4in4");
        let inner6 = ipv6_udp(1, 2, b"6in4");
        let d = decode(
            LinkType::Ethernet,
            leak(eth_ipv4_proto(OUT_SRC, OUT_DST, 41, &inner6)),
            &o(),
        );
        assert_eq!(d.tunnel, Tunnel::Ipv6InIp);
        assert_eq!(d.payload, b"6in4");
    }

    #[test]
    fn tunnel_depth_capped() {
        let mut p = ipv4_udp(IN_SRC, [1; 4], 1, 2, b"deep");
        for _ in 0..20 {
            p = ipv4_proto(OUT_SRC, OUT_DST, 4, &p);
        }
        let d = decode(LinkType::Raw, &p, &o());
        assert!(d.anomalies.contains(Anomaly::TooManyLayers));
        let o2 = DecodeOptions {
            max_tunnel_depth: 30,
            ..o()
        };
        let d = decode(LinkType::Raw, &p, &o2);
        assert_eq!(d.payload, b"deep");
        let o0 = DecodeOptions {
            max_tunnel_depth: 0,
            ..o()
        };
        let d = decode(LinkType::Raw, &p, &o0);
        assert_eq!(d.l4, L4::Other(4));
    }
}
