//! Packet decoding: zero-copy views over captured frames, from the link
//! layer through remote-SPAN tunnels (GRE, ERSPAN, VXLAN, IP-in-IP) down to
//! TCP, UDP and ICMP, plus bounded IP defragmentation ([`defrag`]).
//!
//! [`decode`] never fails and never allocates: whatever is malformed is
//! recorded as an [`Anomaly`] (named as Suricata's decoder events) and the
//! layers decoded up to that point are kept. When a tunnel is decapsulated,
//! [`Decoded::l3`], [`Decoded::l4`] and [`Decoded::payload`] describe the
//! innermost packet.
//!
//! A layer whose header is invalid is left out: an IPv4 packet whose header
//! or total length is bad gives `l3 == L3::None`, and a TCP segment whose
//! header is bad gives `l4 == L4::None` while `l3` is kept (so
//! [`Decoded::ip_proto`] still says 6, but [`Decoded::src_port`] is 0). Rules
//! and flows that need ports must therefore look at `l4`, not at the
//! protocol number alone. An IPv4 or IPv6 packet cut short by the capture's
//! snap length is likewise invalid (`ipv4.trunc_pkt`), as in Suricata.
//!
//! Fragments are handed to a [`Defragmenter`]; the datagram it returns is
//! decoded with [`decode_reassembled`]:
//!
//! ```
//! use zoneguard::capture::LinkType;
//! use zoneguard::decode::{decode, decode_reassembled, DecodeOptions, DefragConfig, Defragmenter};
//! use zoneguard::time::Timestamp;
//!
//! let opts = DecodeOptions::default();
//! let mut defrag = Defragmenter::new(DefragConfig::default());
//! # let frames: Vec<(Timestamp, Vec<u8>)> = Vec::new();
//! for (ts, frame) in &frames {
//!     let d = decode(LinkType::Ethernet, frame, &opts);
//!     if d.frag.is_some() {
//!         if let Some(datagram) = defrag.insert(*ts, &d) {
//!             let whole = decode_reassembled(&d, &datagram, &opts);
//!             // ... hand `whole` to the flow table ...
//!             # let _ = whole;
//!         }
//!         continue; // the fragment itself carries no transport layer
//!     }
//!     // ... hand `d` to the flow table ...
//! }
//! ```

mod anomaly;
mod bytes;
pub mod checksum;
pub mod defrag;
mod ip;
mod link;
mod transport;
mod tunnel;

#[cfg(test)]
mod corpus_tests;
#[cfg(test)]
pub(crate) mod testutil;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::capture::LinkType;

pub use anomaly::{Anomalies, Anomaly, MAX_ANOMALIES};
pub use defrag::{
    decode_reassembled, DefragConfig, DefragStats, Defragmenter, DEFAULT_MAX_FRAGMENTS,
};
pub use transport::{
    BadTcpOption, TcpOptions, TCPOPT_EOL, TCPOPT_MSS, TCPOPT_NOP, TCPOPT_SACK,
    TCPOPT_SACK_PERMITTED, TCPOPT_TIMESTAMP, TCPOPT_WSCALE, VXLAN_PORT,
};

/// An Ethernet MAC address.
pub type Mac = [u8; 6];

/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86DD;

/// IP protocol number of ICMP.
pub const IPPROTO_ICMP: u8 = 1;
/// IP protocol number of TCP.
pub const IPPROTO_TCP: u8 = 6;
/// IP protocol number of UDP.
pub const IPPROTO_UDP: u8 = 17;
/// IP protocol number of GRE.
pub const IPPROTO_GRE: u8 = 47;
/// IP protocol number of ICMPv6.
pub const IPPROTO_ICMPV6: u8 = 58;

/// How frames are decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Verify IPv4 header, TCP, UDP, ICMP and ICMPv6 checksums and set
    /// [`Decoded::checksum_bad`] (as Suricata's `-k all`); off by default.
    pub validate_checksums: bool,
    /// How many tunnel encapsulations are decoded before giving up with
    /// [`Anomaly::TooManyLayers`] (default 8).
    pub max_tunnel_depth: u8,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            validate_checksums: false,
            max_tunnel_depth: 8,
        }
    }
}

/// An Ethernet header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EtherInfo {
    /// Source MAC.
    pub src: Mac,
    /// Destination MAC.
    pub dst: Mac,
    /// The EtherType after any VLAN tags (the protocol of the payload).
    pub ethertype: u16,
}

/// An ARP packet (Ethernet hardware, IPv4 protocol addresses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArpInfo {
    /// Operation: 1 request, 2 reply.
    pub op: u16,
    /// Sender hardware address.
    pub sender_mac: Mac,
    /// Sender protocol address (the IP the sender claims).
    pub sender_ip: Ipv4Addr,
    /// Target hardware address.
    pub target_mac: Mac,
    /// Target protocol address.
    pub target_ip: Ipv4Addr,
}

/// An IPv4 header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Info {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Protocol of the payload.
    pub proto: u8,
    /// Time to live.
    pub ttl: u8,
    /// Type of service (DSCP and ECN).
    pub tos: u8,
    /// Identification.
    pub id: u16,
    /// Total length field (header and payload).
    pub total_len: u16,
    /// Header length in bytes (20..=60).
    pub header_len: u8,
    /// Don't-fragment flag.
    pub flags_df: bool,
    /// More-fragments flag.
    pub flags_mf: bool,
    /// Fragment offset in bytes.
    pub frag_offset: u16,
}

/// An IPv6 header and its extension-header chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Info {
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// Upper-layer protocol after the extension headers (for a fragment, the
    /// fragment header's next header).
    pub next_header: u8,
    /// Hop limit.
    pub hop_limit: u8,
    /// Flow label (20 bits).
    pub flow_label: u32,
    /// Payload length field.
    pub payload_len: u16,
    /// Traffic class.
    pub traffic_class: u8,
    /// Bytes of extension headers before the upper layer.
    pub ext_len: u16,
}

/// The network layer of the innermost packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum L3 {
    /// No (valid) network layer.
    #[default]
    None,
    /// ARP.
    Arp(ArpInfo),
    /// IPv4.
    Ipv4(Ipv4Info),
    /// IPv6.
    Ipv6(Ipv6Info),
}

/// TCP flag FIN.
pub const TCP_FIN: u8 = 0x01;
/// TCP flag SYN.
pub const TCP_SYN: u8 = 0x02;
/// TCP flag RST.
pub const TCP_RST: u8 = 0x04;
/// TCP flag PSH.
pub const TCP_PSH: u8 = 0x08;
/// TCP flag ACK.
pub const TCP_ACK: u8 = 0x10;
/// TCP flag URG.
pub const TCP_URG: u8 = 0x20;
/// TCP flag ECE.
pub const TCP_ECE: u8 = 0x40;
/// TCP flag CWR.
pub const TCP_CWR: u8 = 0x80;

/// A TCP header; options are a view parsed lazily by the accessors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpInfo<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// Flags ([`TCP_FIN`] ... [`TCP_CWR`]).
    pub flags: u8,
    /// Window (unscaled).
    pub window: u16,
    /// Header length in bytes (20..=60).
    pub header_len: u8,
    /// The option bytes (header after the first 20 bytes).
    pub options: &'a [u8],
}

/// A UDP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpInfo {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Length field (header and payload).
    pub len: u16,
}

/// An ICMP or ICMPv6 header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IcmpInfo {
    /// ICMPv6 rather than ICMPv4.
    pub v6: bool,
    /// Type.
    pub itype: u8,
    /// Code.
    pub icode: u8,
    /// Identifier, for echo request and reply only.
    pub id: Option<u16>,
    /// Sequence number, for echo request and reply only.
    pub seq: Option<u16>,
}

/// The transport layer of the innermost packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum L4<'a> {
    /// None, not decoded (fragment), or malformed.
    #[default]
    None,
    /// TCP.
    Tcp(TcpInfo<'a>),
    /// UDP.
    Udp(UdpInfo),
    /// ICMP or ICMPv6.
    Icmp(IcmpInfo),
    /// Another IP protocol (the number); also a tunnel whose inner packet
    /// could not be decoded.
    Other(u8),
}

/// A fragment of an IP datagram, as needed to reassemble it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FragInfo<'a> {
    /// IPv6 rather than IPv4.
    pub v6: bool,
    /// Identification (16 bits for IPv4, 32 for IPv6).
    pub id: u32,
    /// Offset of this fragment's data in the datagram payload, in bytes.
    pub offset: u16,
    /// More fragments follow.
    pub more: bool,
    /// Protocol of the reassembled payload.
    pub proto: u8,
    /// The header before the fragment data: the IPv4 header with options, or
    /// the IPv6 header and the extension headers before the fragment header.
    pub header: &'a [u8],
    /// IPv6: offset in `header` of the next-header byte that names the
    /// fragment header (6 when it follows the fixed header). 0 for IPv4.
    pub nh_offset: u16,
    /// The fragment's data, trimmed to the IP length.
    pub data: &'a [u8],
}

/// Encapsulation the frame arrived in (the outermost one seen).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Tunnel {
    /// Not tunnelled.
    #[default]
    None,
    /// GRE (IP, transparent Ethernet bridging, or PPTP's enhanced GRE).
    Gre,
    /// ERSPAN type I, II or III over GRE.
    Erspan,
    /// VXLAN over UDP port 4789.
    Vxlan,
    /// IPv4 inside IP (protocol 4).
    IpInIp,
    /// IPv6 inside IP (protocol 41).
    Ipv6InIp,
    /// PPPoE session.
    Pppoe,
    /// MPLS label stack.
    Mpls,
}

/// A decoded frame: views into the captured bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// The innermost Ethernet header seen.
    pub ether: Option<EtherInfo>,
    /// VLAN ids of the innermost Ethernet header, outermost first.
    pub vlans: [u16; 2],
    /// How many of `vlans` are set (0..=2).
    pub vlan_count: u8,
    /// The innermost network layer.
    pub l3: L3,
    /// The innermost transport layer.
    pub l4: L4<'a>,
    /// Transport payload (TCP/UDP data, ICMP data after 8 bytes), trimmed to
    /// the IP length; for other IP protocols ([`L4::Other`]) the IP payload;
    /// empty when the transport header is malformed.
    pub payload: &'a [u8],
    /// Set when the innermost IP packet is a fragment (then `l4` is None).
    pub frag: Option<FragInfo<'a>>,
    /// The outermost tunnel seen.
    pub tunnel: Tunnel,
    /// What was wrong with the frame.
    pub anomalies: Anomalies,
    /// A checksum was wrong (only computed with `validate_checksums`).
    pub checksum_bad: bool,
}

impl Default for Decoded<'_> {
    fn default() -> Self {
        Decoded::empty()
    }
}

impl<'a> Decoded<'a> {
    /// A frame with nothing decoded.
    pub const fn empty() -> Self {
        Decoded {
            ether: None,
            vlans: [0; 2],
            vlan_count: 0,
            l3: L3::None,
            l4: L4::None,
            payload: &[],
            frag: None,
            tunnel: Tunnel::None,
            anomalies: Anomalies::new(),
            checksum_bad: false,
        }
    }

    /// Source IP of the innermost packet (ARP: the sender's IP).
    pub fn src_ip(&self) -> Option<IpAddr> {
        match &self.l3 {
            L3::Ipv4(h) => Some(IpAddr::V4(h.src)),
            L3::Ipv6(h) => Some(IpAddr::V6(h.src)),
            L3::Arp(a) => Some(IpAddr::V4(a.sender_ip)),
            L3::None => None,
        }
    }

    /// Destination IP of the innermost packet (ARP: the target's IP).
    pub fn dst_ip(&self) -> Option<IpAddr> {
        match &self.l3 {
            L3::Ipv4(h) => Some(IpAddr::V4(h.dst)),
            L3::Ipv6(h) => Some(IpAddr::V6(h.dst)),
            L3::Arp(a) => Some(IpAddr::V4(a.target_ip)),
            L3::None => None,
        }
    }

    /// IP protocol of the innermost packet (IPv6: after extension headers).
    pub fn ip_proto(&self) -> Option<u8> {
        match &self.l3 {
            L3::Ipv4(h) => Some(h.proto),
            L3::Ipv6(h) => Some(h.next_header),
            _ => None,
        }
    }

    /// TTL (IPv4) or hop limit (IPv6) of the innermost packet.
    pub fn ttl(&self) -> Option<u8> {
        match &self.l3 {
            L3::Ipv4(h) => Some(h.ttl),
            L3::Ipv6(h) => Some(h.hop_limit),
            _ => None,
        }
    }

    /// TCP or UDP source port; 0 otherwise.
    pub fn src_port(&self) -> u16 {
        match &self.l4 {
            L4::Tcp(t) => t.src_port,
            L4::Udp(u) => u.src_port,
            _ => 0,
        }
    }

    /// TCP or UDP destination port; 0 otherwise.
    pub fn dst_port(&self) -> u16 {
        match &self.l4 {
            L4::Tcp(t) => t.dst_port,
            L4::Udp(u) => u.dst_port,
            _ => 0,
        }
    }

    /// A hash that is the same for both directions of a conversation: of the
    /// innermost IP addresses only (no ports, so every fragment of a datagram
    /// lands on the same worker), ARP's sender and target IPs, or for other
    /// frames the two MACs. Deterministic across runs and machines.
    pub fn shard_hash(&self) -> u64 {
        let (a, b) = match &self.l3 {
            L3::Ipv4(h) => (u128::from(u32::from(h.src)), u128::from(u32::from(h.dst))),
            L3::Ipv6(h) => (u128::from(h.src), u128::from(h.dst)),
            L3::Arp(a) => (
                u128::from(u32::from(a.sender_ip)),
                u128::from(u32::from(a.target_ip)),
            ),
            L3::None => match &self.ether {
                Some(e) => (mac_u128(&e.src), mac_u128(&e.dst)),
                None => (0, 0),
            },
        };
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        let mut h = mix64((lo as u64) ^ 0x9E37_79B9_7F4A_7C15);
        h = mix64(h ^ (lo >> 64) as u64);
        h = mix64(h ^ hi as u64);
        mix64(h ^ (hi >> 64) as u64)
    }

    /// Whether the frame had any anomaly.
    pub fn has_anomaly(&self) -> bool {
        !self.anomalies.is_empty()
    }
}

fn mac_u128(m: &Mac) -> u128 {
    m.iter().fold(0u128, |acc, b| (acc << 8) | u128::from(*b))
}

/// A 64-bit finaliser (splitmix64's): cheap, well mixed, deterministic.
fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// What to decode next; layer functions return it so the driver loop, not
/// recursion, walks the encapsulations (bounded by [`MAX_STEPS`]).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Step<'a> {
    /// Nothing more.
    Done,
    /// An Ethernet header.
    Ether(&'a [u8]),
    /// A payload of the given EtherType.
    EtherType(u16, &'a [u8]),
    /// A PPP frame (optional FF 03, then a 1- or 2-byte protocol).
    Ppp(&'a [u8]),
    /// An IPv4 packet.
    Ipv4(&'a [u8]),
    /// An IPv6 packet.
    Ipv6(&'a [u8]),
    /// An IP packet of either version (first nibble decides).
    Ip(&'a [u8]),
    /// An MPLS label stack.
    Mpls(&'a [u8]),
}

/// Hard cap on decoding steps per frame (VLAN tags, labels, tunnels...).
const MAX_STEPS: u32 = 64;

/// The decoder's state for one frame.
pub(crate) struct Ctx<'a, 'c, 'o> {
    pub(crate) d: &'c mut Decoded<'a>,
    pub(crate) opts: &'o DecodeOptions,
    /// Tunnel encapsulations decoded so far.
    pub(crate) depth: u8,
    /// VLAN tags seen on the current Ethernet header (including uncounted).
    pub(crate) vlan_layers: u8,
}

impl<'a> Ctx<'a, '_, '_> {
    /// Records an anomaly.
    pub(crate) fn anomaly(&mut self, a: Anomaly) {
        self.d.anomalies.push(a);
    }

    /// Enters a tunnel; false (with [`Anomaly::TooManyLayers`]) when the
    /// depth cap is reached.
    pub(crate) fn enter_tunnel(&mut self, t: Tunnel) -> bool {
        if self.depth >= self.opts.max_tunnel_depth {
            self.anomaly(Anomaly::TooManyLayers);
            return false;
        }
        self.depth += 1;
        if self.d.tunnel == Tunnel::None {
            self.d.tunnel = t;
        }
        true
    }

    fn run(&mut self, first: Step<'a>) {
        let mut step = first;
        let mut n = 0u32;
        loop {
            n += 1;
            if n > MAX_STEPS {
                self.anomaly(Anomaly::TooManyLayers);
                return;
            }
            step = match step {
                Step::Done => return,
                Step::Ether(b) => link::ethernet(self, b),
                Step::EtherType(t, b) => link::ethertype(self, t, b),
                Step::Ppp(b) => link::ppp(self, b),
                Step::Ipv4(b) => ip::ipv4(self, b),
                Step::Ipv6(b) => ip::ipv6(self, b),
                Step::Ip(b) => match b.first().map(|v| v >> 4) {
                    Some(4) => ip::ipv4(self, b),
                    Some(6) => ip::ipv6(self, b),
                    _ => {
                        self.anomaly(Anomaly::IpRawInvalidIpVersion);
                        Step::Done
                    }
                },
                Step::Mpls(b) => link::mpls(self, b),
            };
        }
    }
}

/// Decodes one captured frame. Never fails, never panics, never allocates.
#[inline]
pub fn decode<'a>(linktype: LinkType, frame: &'a [u8], opts: &DecodeOptions) -> Decoded<'a> {
    let mut d = Decoded::empty();
    let mut ctx = Ctx {
        d: &mut d,
        opts,
        depth: 0,
        vlan_layers: 0,
    };
    let first = link::first_step(&mut ctx, linktype, frame);
    ctx.run(first);
    d
}

/// As [`decode`], writing into `out` (which is reset first): saves copying
/// the result where a caller keeps one `Decoded` per packet slot.
pub fn decode_into<'a>(
    linktype: LinkType,
    frame: &'a [u8],
    opts: &DecodeOptions,
    out: &mut Decoded<'a>,
) {
    *out = Decoded::empty();
    let mut ctx = Ctx {
        d: out,
        opts,
        depth: 0,
        vlan_layers: 0,
    };
    let first = link::first_step(&mut ctx, linktype, frame);
    ctx.run(first);
}

/// Decodes a bare IP packet (version from the first nibble), keeping the
/// link-layer and tunnel facts of `outer`. Used for reassembled datagrams.
pub(crate) fn decode_ip_with_outer<'b>(
    outer: &Decoded<'_>,
    packet: &'b [u8],
    opts: &DecodeOptions,
) -> Decoded<'b> {
    let mut d = Decoded::empty();
    d.ether = outer.ether;
    d.vlans = outer.vlans;
    d.vlan_count = outer.vlan_count;
    d.tunnel = outer.tunnel;
    let mut ctx = Ctx {
        d: &mut d,
        opts,
        depth: 0,
        vlan_layers: 0,
    };
    ctx.run(Step::Ip(packet));
    d
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;
    use proptest::prelude::*;

    fn opts() -> DecodeOptions {
        DecodeOptions::default()
    }

    #[test]
    fn shard_hash_is_symmetric_and_port_free() {
        let a = eth_ipv4_tcp([10, 0, 0, 1], [10, 0, 0, 2], 1234, 80, TCP_SYN, b"");
        let b = eth_ipv4_tcp(
            [10, 0, 0, 2],
            [10, 0, 0, 1],
            80,
            1234,
            TCP_SYN | TCP_ACK,
            b"x",
        );
        let c = eth_ipv4_tcp([10, 0, 0, 1], [10, 0, 0, 2], 999, 22, TCP_SYN, b"");
        let o = opts();
        let (da, db, dc) = (
            decode(LinkType::Ethernet, &a, &o),
            decode(LinkType::Ethernet, &b, &o),
            decode(LinkType::Ethernet, &c, &o),
        );
        assert_eq!(da.shard_hash(), db.shard_hash());
        assert_eq!(da.shard_hash(), dc.shard_hash());
        let other = eth_ipv4_tcp([10, 0, 0, 3], [10, 0, 0, 2], 1, 2, 0, b"");
        assert_ne!(
            da.shard_hash(),
            decode(LinkType::Ethernet, &other, &o).shard_hash()
        );
        // Deterministic: a fixed value, the same on every run.
        assert_eq!(da.shard_hash(), da.shard_hash());
    }

    #[test]
    fn decode_into_resets_and_matches_decode() {
        let o = opts();
        let a = eth_ipv4_tcp([10, 0, 0, 1], [10, 0, 0, 2], 1234, 80, TCP_SYN, b"hi");
        let b = eth_arp(1, [10, 0, 0, 9], [10, 0, 0, 1]);
        let mut slot = decode(LinkType::Ethernet, &a, &o);
        decode_into(LinkType::Ethernet, &b, &o, &mut slot);
        assert_eq!(slot, decode(LinkType::Ethernet, &b, &o));
        assert_eq!(slot.l4, L4::None);
    }

    #[test]
    fn accessors_on_empty() {
        let d = Decoded::empty();
        assert_eq!(d.src_ip(), None);
        assert_eq!(d.ip_proto(), None);
        assert_eq!(d.src_port(), 0);
        assert_eq!(d.ttl(), None);
        assert_eq!(d.shard_hash(), Decoded::empty().shard_hash());
    }

    const LINKTYPES: [LinkType; 12] = [
        LinkType::Ethernet,
        LinkType::LinuxSll,
        LinkType::LinuxSll2,
        LinkType::Raw,
        LinkType::Ipv4,
        LinkType::Ipv6,
        LinkType::Null,
        LinkType::Loop,
        LinkType::CiscoHdlc,
        LinkType::Ppp,
        LinkType::PppHdlc,
        LinkType::Other(147),
    ];

    #[test]
    fn every_prefix_of_a_frame_is_flagged() {
        let o = opts();
        for (lt, f) in sample_frames() {
            let full = decode(lt, &f, &o);
            assert!(full.anomalies.is_empty(), "{lt:?} {:?}", full.anomalies);
            assert_ne!(full.l3, L3::None);
            for cut in 0..f.len() {
                let d = decode(lt, &f[..cut], &o);
                assert!(!d.anomalies.is_empty(), "{lt:?} cut {cut} of {}", f.len());
                assert!(d.payload.len() <= cut);
            }
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(lt in 0usize..12, bytes in proptest::collection::vec(any::<u8>(), 0..300), k in any::<bool>()) {
            let o = DecodeOptions { validate_checksums: k, max_tunnel_depth: 8 };
            let lt = LINKTYPES[lt];
            let d = decode(lt, &bytes, &o);
            prop_assert!(d.payload.len() <= bytes.len());
            prop_assert!(usize::from(d.vlan_count) <= 2);
            let _ = d.shard_hash();
        }

        #[test]
        fn mutated_frames_never_panic(idx in 0usize..8, pos in any::<prop::sample::Index>(), val in any::<u8>(), cut in any::<prop::sample::Index>()) {
            let frames = sample_frames();
            let mut f = frames[idx % frames.len()].1.clone();
            let lt = frames[idx % frames.len()].0;
            if !f.is_empty() {
                let p = pos.index(f.len());
                f[p] = val;
                let c = cut.index(f.len() + 1);
                f.truncate(c);
            }
            let o = DecodeOptions { validate_checksums: true, max_tunnel_depth: 8 };
            let _ = decode(lt, &f, &o);
        }
    }
}
