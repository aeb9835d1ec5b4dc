//! Transport layers: TCP (with lazily parsed options), UDP (with VXLAN
//! detection), ICMP and ICMPv6, and the dispatch on the IP protocol number.

use super::bytes::{be16, be32, rest, u8_at};
use super::{
    checksum, tunnel, Anomaly, Ctx, IcmpInfo, Step, TcpInfo, Tunnel, UdpInfo, IPPROTO_ICMP,
    IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, L3, L4,
};

/// UDP port of VXLAN (RFC 7348).
pub const VXLAN_PORT: u16 = 4789;

/// Decodes the payload of an IP packet of protocol `proto`. `payload` and
/// `l4 = Other(proto)` describe it until a known protocol replaces them.
pub(crate) fn upper<'a>(
    ctx: &mut Ctx<'a, '_, '_>,
    proto: u8,
    body: &'a [u8],
    v6: bool,
) -> Step<'a> {
    ctx.d.l4 = L4::Other(proto);
    ctx.d.payload = body;
    match proto {
        IPPROTO_TCP => tcp(ctx, body),
        IPPROTO_UDP => udp(ctx, body),
        IPPROTO_ICMP => {
            if v6 {
                ctx.anomaly(Anomaly::Ipv6WithIcmpv4);
            }
            icmp(ctx, body, false)
        }
        IPPROTO_ICMPV6 => {
            if !v6 {
                ctx.anomaly(Anomaly::Ipv4WithIcmpv6);
            }
            icmp(ctx, body, true)
        }
        4 => {
            if v6 && body.len() < 20 {
                ctx.anomaly(Anomaly::Ipv4InIpv6TooSmall);
                return Step::Done;
            }
            if ctx.enter_tunnel(Tunnel::IpInIp) {
                Step::Ipv4(body)
            } else {
                Step::Done
            }
        }
        41 => {
            if v6 && body.len() < 40 {
                ctx.anomaly(Anomaly::Ipv6InIpv6TooSmall);
                return Step::Done;
            }
            if ctx.enter_tunnel(Tunnel::Ipv6InIp) {
                Step::Ipv6(body)
            } else {
                Step::Done
            }
        }
        super::IPPROTO_GRE => tunnel::gre(ctx, body),
        _ => Step::Done,
    }
}

/// Drops a malformed transport header: no l4, no payload.
fn invalid(ctx: &mut Ctx<'_, '_, '_>, a: Anomaly) -> Step<'static> {
    ctx.anomaly(a);
    ctx.d.l4 = L4::None;
    ctx.d.payload = &[];
    Step::Done
}

/// The pseudo-header sum of the current innermost IP header.
fn pseudo(ctx: &Ctx<'_, '_, '_>, proto: u8, len: usize) -> Option<u64> {
    match &ctx.d.l3 {
        L3::Ipv4(h) => Some(checksum::pseudo_v4(h.src, h.dst, proto, len)),
        L3::Ipv6(h) => Some(checksum::pseudo_v6(&h.src, &h.dst, proto, len)),
        _ => None,
    }
}

fn tcp<'a>(ctx: &mut Ctx<'a, '_, '_>, b: &'a [u8]) -> Step<'a> {
    let Some(h) = b.first_chunk::<20>() else {
        return invalid(ctx, Anomaly::TcpPktTooSmall);
    };
    let [p0, p1, q0, q1, s0, s1, s2, s3, a0, a1, a2, a3, off, flags, w0, w1, ..] = *h;
    let (sp, dp) = (u16::from_be_bytes([p0, p1]), u16::from_be_bytes([q0, q1]));
    let seq = u32::from_be_bytes([s0, s1, s2, s3]);
    let ack = u32::from_be_bytes([a0, a1, a2, a3]);
    let win = u16::from_be_bytes([w0, w1]);
    let hlen = usize::from(off >> 4) * 4;
    if hlen < 20 || hlen > b.len() {
        return invalid(ctx, Anomaly::TcpHlenTooSmall);
    }
    let options = b.get(20..hlen).unwrap_or(&[]);
    // Most segments carry exactly NOP NOP timestamps: valid, skip the walk.
    let common = options.is_empty() || (options.len() == 12 && options.starts_with(&[1, 1, 8, 10]));
    if !common {
        check_tcp_options(ctx, options);
    }
    if ctx.opts.validate_checksums {
        if let Some(p) = pseudo(ctx, IPPROTO_TCP, b.len()) {
            if !checksum::verify(b, p) {
                ctx.d.checksum_bad = true;
            }
        }
    }
    ctx.d.l4 = L4::Tcp(TcpInfo {
        src_port: sp,
        dst_port: dp,
        seq,
        ack,
        flags,
        window: win,
        header_len: hlen as u8,
        options,
    });
    ctx.d.payload = rest(b, hlen);
    Step::Done
}

/// Validates TCP option lengths and flags duplicates of the common ones.
fn check_tcp_options(ctx: &mut Ctx<'_, '_, '_>, opts: &[u8]) {
    let mut seen = 0u32;
    let mut i = 0usize;
    while let Some(&kind) = opts.get(i) {
        match kind {
            TCPOPT_EOL => return,
            TCPOPT_NOP => {
                i += 1;
                continue;
            }
            _ => {}
        }
        let len = match opts.get(i + 1) {
            Some(&l) if l >= 2 && i + usize::from(l) <= opts.len() => usize::from(l),
            _ => {
                ctx.anomaly(Anomaly::TcpOptInvalidLen);
                return;
            }
        };
        let want = match kind {
            TCPOPT_MSS => 4,
            TCPOPT_WSCALE => 3,
            TCPOPT_SACK_PERMITTED => 2,
            TCPOPT_TIMESTAMP => 10,
            _ => 0,
        };
        if want != 0 {
            if len != want {
                ctx.anomaly(Anomaly::TcpOptInvalidLen);
            }
            let bit = 1u32 << kind;
            if seen & bit != 0 {
                ctx.anomaly(Anomaly::TcpOptDuplicate);
            }
            seen |= bit;
        }
        i += len;
    }
}

fn udp<'a>(ctx: &mut Ctx<'a, '_, '_>, b: &'a [u8]) -> Step<'a> {
    let Some(&[p0, p1, q0, q1, l0, l1, c0, c1]) = b.first_chunk::<8>() else {
        return invalid(ctx, Anomaly::UdpHlenTooSmall);
    };
    let (sp, dp) = (u16::from_be_bytes([p0, p1]), u16::from_be_bytes([q0, q1]));
    let (ulen, csum) = (u16::from_be_bytes([l0, l1]), u16::from_be_bytes([c0, c1]));
    let ul = usize::from(ulen);
    if ul > b.len() {
        return invalid(ctx, Anomaly::UdpPktTooSmall);
    }
    if ul < 8 {
        return invalid(ctx, Anomaly::UdpLenInvalid);
    }
    if ul != b.len() {
        // Trailing bytes inside the IP payload: Suricata rejects these.
        return invalid(ctx, Anomaly::UdpHlenInvalid);
    }
    if ctx.opts.validate_checksums {
        let v6 = matches!(ctx.d.l3, L3::Ipv6(_));
        if csum == 0 {
            // Zero means "no checksum" for IPv4 and is invalid for IPv6.
            if v6 {
                ctx.d.checksum_bad = true;
            }
        } else if let Some(p) = pseudo(ctx, IPPROTO_UDP, b.len()) {
            if !checksum::verify(b, p) {
                ctx.d.checksum_bad = true;
            }
        }
    }
    ctx.d.l4 = L4::Udp(UdpInfo {
        src_port: sp,
        dst_port: dp,
        len: ulen,
    });
    let payload = rest(b, 8);
    ctx.d.payload = payload;
    if dp == VXLAN_PORT {
        return tunnel::vxlan(ctx, payload);
    }
    Step::Done
}

fn icmp<'a>(ctx: &mut Ctx<'a, '_, '_>, b: &'a [u8], v6: bool) -> Step<'a> {
    let (Some(t), Some(c), Some(id), Some(seq)) =
        (u8_at(b, 0), u8_at(b, 1), be16(b, 4), be16(b, 6))
    else {
        return invalid(
            ctx,
            if v6 {
                Anomaly::Icmpv6PktTooSmall
            } else {
                Anomaly::Icmpv4PktTooSmall
            },
        );
    };
    if ctx.opts.validate_checksums {
        let init = if v6 {
            pseudo(ctx, IPPROTO_ICMPV6, b.len())
        } else {
            Some(0)
        };
        if let Some(p) = init {
            if !checksum::verify(b, p) {
                ctx.d.checksum_bad = true;
            }
        }
    }
    let echo = if v6 {
        t == 128 || t == 129
    } else {
        t == 0 || t == 8
    };
    ctx.d.l4 = L4::Icmp(IcmpInfo {
        v6,
        itype: t,
        icode: c,
        id: echo.then_some(id),
        seq: echo.then_some(seq),
    });
    ctx.d.payload = rest(b, 8);
    Step::Done
}

/// TCP option kind: end of list.
pub const TCPOPT_EOL: u8 = 0;
/// TCP option kind: no-operation.
pub const TCPOPT_NOP: u8 = 1;
/// TCP option kind: maximum segment size.
pub const TCPOPT_MSS: u8 = 2;
/// TCP option kind: window scale.
pub const TCPOPT_WSCALE: u8 = 3;
/// TCP option kind: SACK permitted.
pub const TCPOPT_SACK_PERMITTED: u8 = 4;
/// TCP option kind: SACK blocks.
pub const TCPOPT_SACK: u8 = 5;
/// TCP option kind: timestamps.
pub const TCPOPT_TIMESTAMP: u8 = 8;

/// A malformed TCP option: its byte offset within the options.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed TCP option at option byte {offset}")]
pub struct BadTcpOption {
    /// Offset of the bad option within the option bytes.
    pub offset: usize,
}

/// Iterator over TCP options as `(kind, data)`; NOPs are skipped, EOL ends
/// it, and a malformed length yields one error and ends it.
#[derive(Clone, Debug)]
pub struct TcpOptions<'a> {
    buf: &'a [u8],
    off: usize,
    done: bool,
}

impl<'a> TcpOptions<'a> {
    /// Iterates over the option bytes of a TCP header.
    pub fn new(buf: &'a [u8]) -> Self {
        TcpOptions {
            buf,
            off: 0,
            done: false,
        }
    }
}

impl<'a> Iterator for TcpOptions<'a> {
    type Item = Result<(u8, &'a [u8]), BadTcpOption>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            let kind = *self.buf.get(self.off)?;
            match kind {
                TCPOPT_EOL => {
                    self.done = true;
                    return None;
                }
                TCPOPT_NOP => self.off += 1,
                _ => break,
            }
        }
        let at = self.off;
        let kind = *self.buf.get(at)?;
        let len = self.buf.get(at + 1).map(|l| usize::from(*l));
        match len {
            Some(l) if l >= 2 && at + l <= self.buf.len() => {
                self.off = at + l;
                Some(Ok((kind, self.buf.get(at + 2..at + l).unwrap_or(&[]))))
            }
            _ => {
                self.done = true;
                Some(Err(BadTcpOption { offset: at }))
            }
        }
    }
}

impl<'a> TcpInfo<'a> {
    /// The options as `(kind, data)` pairs.
    pub fn options_iter(&self) -> TcpOptions<'a> {
        TcpOptions::new(self.options)
    }

    fn find(&self, kind: u8) -> Option<&'a [u8]> {
        self.options_iter()
            .map_while(Result::ok)
            .find(|(k, _)| *k == kind)
            .map(|(_, d)| d)
    }

    /// Maximum segment size option.
    pub fn mss(&self) -> Option<u16> {
        self.find(TCPOPT_MSS)
            .and_then(|d| be16(d, 0).filter(|_| d.len() == 2))
    }

    /// Window scale shift count.
    pub fn wscale(&self) -> Option<u8> {
        self.find(TCPOPT_WSCALE).and_then(|d| match d {
            [s] => Some(*s),
            _ => None,
        })
    }

    /// Whether SACK is permitted.
    pub fn sack_permitted(&self) -> bool {
        self.find(TCPOPT_SACK_PERMITTED).is_some()
    }

    /// Timestamps option as (value, echo reply).
    pub fn timestamps(&self) -> Option<(u32, u32)> {
        let d = self.find(TCPOPT_TIMESTAMP)?;
        if d.len() != 8 {
            return None;
        }
        Some((be32(d, 0)?, be32(d, 4)?))
    }

    /// Whether a flag bit (e.g. [`super::TCP_SYN`]) is set.
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::*;
    use super::{BadTcpOption, TcpOptions};

    fn o() -> DecodeOptions {
        DecodeOptions::default()
    }

    #[test]
    fn tcp_syn_options() {
        let opts = [
            2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 3, 3, 7,
        ];
        let seg = tcp_seg(40000, 443, TCP_SYN, &opts, b"");
        let ip = ipv4_proto([10, 0, 0, 1], [10, 0, 0, 2], IPPROTO_TCP, &seg);
        let d = decode(LinkType::Raw, &ip, &o());
        let L4::Tcp(t) = d.l4 else {
            panic!("{:?}", d.anomalies)
        };
        assert_eq!(t.header_len, 40);
        assert!(t.has(TCP_SYN) && !t.has(TCP_ACK));
        assert_eq!(t.mss(), Some(1460));
        assert_eq!(t.wscale(), Some(7));
        assert!(t.sack_permitted());
        assert_eq!(t.timestamps(), Some((1, 2)));
        assert_eq!((d.src_port(), d.dst_port()), (40000, 443));
        assert!(d.anomalies.is_empty());
    }

    #[test]
    fn tcp_bad_options_and_header() {
        let seg = tcp_seg(1, 2, TCP_SYN, &[2, 3, 5, 0], b"");
        let d = decode(
            LinkType::Raw,
            leak(ipv4_proto([1; 4], [2; 4], 6, &seg)),
            &o(),
        );
        assert!(d.anomalies.contains(Anomaly::TcpOptInvalidLen));
        let L4::Tcp(t) = d.l4 else { panic!() };
        assert_eq!(t.mss(), None);
        let seg = tcp_seg(1, 2, TCP_SYN, &[2, 4, 5, 0, 2, 4, 5, 0], b"");
        let d = decode(
            LinkType::Raw,
            leak(ipv4_proto([1; 4], [2; 4], 6, &seg)),
            &o(),
        );
        assert!(d.anomalies.contains(Anomaly::TcpOptDuplicate));
        let seg = tcp_seg(1, 2, TCP_SYN, &[8, 40, 0, 0], b"");
        let d = decode(
            LinkType::Raw,
            leak(ipv4_proto([1; 4], [2; 4], 6, &seg)),
            &o(),
        );
        assert!(d.anomalies.contains(Anomaly::TcpOptInvalidLen));
        // Data offset 0 and data offset past the segment.
        let mut seg = tcp_seg(1, 2, TCP_ACK, &[], b"abc");
        seg[12] = 0;
        let d = decode(
            LinkType::Raw,
            leak(ipv4_proto([1; 4], [2; 4], 6, &seg)),
            &o(),
        );
        assert!(d.anomalies.contains(Anomaly::TcpHlenTooSmall));
        assert_eq!(d.l4, L4::None);
        assert!(matches!(d.l3, L3::Ipv4(_)));
        seg[12] = 0xF0;
        let d = decode(
            LinkType::Raw,
            leak(ipv4_proto([1; 4], [2; 4], 6, &seg)),
            &o(),
        );
        assert!(d.anomalies.contains(Anomaly::TcpHlenTooSmall));
        for cut in 0..20 {
            let d = decode(
                LinkType::Raw,
                leak(ipv4_proto([1; 4], [2; 4], 6, &seg[..cut])),
                &o(),
            );
            assert!(d.anomalies.contains(Anomaly::TcpPktTooSmall), "{cut}");
        }
    }

    #[test]
    fn tcp_option_iterator_errors() {
        let v: Vec<_> = TcpOptions::new(&[1, 1, 2, 4, 0, 1, 9]).collect();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0], Ok((2, &[0u8, 1][..])));
        assert_eq!(v[1], Err(BadTcpOption { offset: 6 }));
        assert_eq!(TcpOptions::new(&[0, 2, 4]).count(), 0);
        assert_eq!(
            TcpOptions::new(&[5, 1]).next(),
            Some(Err(BadTcpOption { offset: 0 }))
        );
    }

    #[test]
    fn udp_lengths() {
        let ip = ipv4_udp([1; 4], [2; 4], 1, 2, b"data");
        let d = decode(LinkType::Raw, &ip, &o());
        assert_eq!(
            d.l4,
            L4::Udp(UdpInfo {
                src_port: 1,
                dst_port: 2,
                len: 12
            })
        );
        let mut seg = udp(1, 2, b"data");
        seg[4..6].copy_from_slice(&8u16.to_be_bytes());
        let d = decode(
            LinkType::Raw,
            leak(ipv4_proto([1; 4], [2; 4], 17, &seg)),
            &o(),
        );
        assert!(d.anomalies.contains(Anomaly::UdpHlenInvalid));
        assert_eq!(d.l4, L4::None);
        seg[4..6].copy_from_slice(&99u16.to_be_bytes());
        let d = decode(
            LinkType::Raw,
            leak(ipv4_proto([1; 4], [2; 4], 17, &seg)),
            &o(),
        );
        assert!(d.anomalies.contains(Anomaly::UdpPktTooSmall));
        seg[4..6].copy_from_slice(&3u16.to_be_bytes());
        let d = decode(
            LinkType::Raw,
            leak(ipv4_proto([1; 4], [2; 4], 17, &seg)),
            &o(),
        );
        assert!(d.anomalies.contains(Anomaly::UdpLenInvalid));
        for cut in 0..8 {
            let d = decode(
                LinkType::Raw,
                leak(ipv4_proto([1; 4], [2; 4], 17, &seg[..cut])),
                &o(),
            );
            assert!(d.anomalies.contains(Anomaly::UdpHlenTooSmall));
        }
    }

    #[test]
    fn icmp_echo_both_versions() {
        let m = [8u8, 0, 0, 0, 0x12, 0x34, 0x00, 0x07, b'p', b'i'];
        let d = decode(LinkType::Raw, leak(ipv4_proto([1; 4], [2; 4], 1, &m)), &o());
        assert_eq!(
            d.l4,
            L4::Icmp(IcmpInfo {
                v6: false,
                itype: 8,
                icode: 0,
                id: Some(0x1234),
                seq: Some(7)
            })
        );
        assert_eq!(d.payload, b"pi");
        let mut m6 = m;
        m6[0] = 128;
        let d = decode(LinkType::Raw, leak(ipv6_with_ext(&[], 58, &m6)), &o());
        let L4::Icmp(i) = d.l4 else { panic!() };
        assert!(i.v6 && i.id == Some(0x1234));
        let unreach = [3u8, 1, 0, 0, 0, 0, 0, 0];
        let d = decode(
            LinkType::Raw,
            leak(ipv4_proto([1; 4], [2; 4], 1, &unreach)),
            &o(),
        );
        let L4::Icmp(i) = d.l4 else { panic!() };
        assert_eq!((i.itype, i.icode, i.id), (3, 1, None));
        for cut in 0..8 {
            let d = decode(
                LinkType::Raw,
                leak(ipv4_proto([1; 4], [2; 4], 1, &m[..cut])),
                &o(),
            );
            assert!(d.anomalies.contains(Anomaly::Icmpv4PktTooSmall));
            let d = decode(LinkType::Raw, leak(ipv6_with_ext(&[], 58, &m[..cut])), &o());
            assert!(d.anomalies.contains(Anomaly::Icmpv6PktTooSmall));
        }
        let d = decode(
            LinkType::Raw,
            leak(ipv4_proto([1; 4], [2; 4], 58, &m6)),
            &o(),
        );
        assert!(d.anomalies.contains(Anomaly::Ipv4WithIcmpv6));
    }

    #[test]
    fn checksums_validated_only_when_asked() {
        let on = DecodeOptions {
            validate_checksums: true,
            ..o()
        };
        let good = [
            ipv4_udp([10, 0, 0, 1], [10, 0, 0, 2], 5, 6, b"x"),
            ipv4_tcp([10, 0, 0, 1], [10, 0, 0, 2], 5, 6, TCP_SYN, b"abc"),
            ipv4_proto([1; 4], [2; 4], 1, &icmp_echo(false, b"ping")),
            ipv6_udp(5, 6, b"odd"),
            ipv6_with_ext(&[], 58, &icmp_echo(true, b"ping6")),
        ];
        for p in &good {
            let d = decode(LinkType::Raw, p, &on);
            assert!(!d.checksum_bad, "{:?}", d.l4);
            for i in [10usize, p.len() - 1] {
                let mut bad = p.clone();
                bad[i] ^= 0x10;
                assert!(
                    decode(LinkType::Raw, &bad, &on).checksum_bad,
                    "{:?} byte {i}",
                    d.l4
                );
                assert!(!decode(LinkType::Raw, &bad, &o()).checksum_bad);
            }
        }
        let mut zero = ipv4_udp([10, 0, 0, 1], [10, 0, 0, 2], 5, 6, b"x");
        zero[26] = 0;
        zero[27] = 0;
        assert!(!decode(LinkType::Raw, &zero, &on).checksum_bad);
    }
}
