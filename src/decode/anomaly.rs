//! Decoder anomalies: what was wrong with a frame, named as Suricata's
//! decoder events (`decoder.<layer>.<event>` without the `decoder.` prefix),
//! kept in a small fixed-capacity set so decoding never allocates.

/// Declares [`Anomaly`] with its layer and Suricata event name per variant.
macro_rules! anomalies {
    ($( $(#[$doc:meta])* $variant:ident => $layer:literal, $name:literal; )*) => {
        /// One thing wrong with a frame, found while decoding it.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Anomaly {
            $( $(#[$doc])* $variant, )*
        }

        impl Anomaly {
            /// Every anomaly, in declaration order.
            pub const ALL: &'static [Anomaly] = &[$(Anomaly::$variant,)*];

            /// Suricata's decoder event name, e.g. `"ipv4.trunc_pkt"`
            /// (EVE `anomaly.event` is this with a `decoder.` prefix).
            pub fn event(&self) -> &'static str {
                match self {
                    $( Anomaly::$variant => concat!($layer, ".", $name), )*
                }
            }

            /// The name as EVE `anomaly.event` prints it for decoder events,
            /// e.g. `"decoder.ipv4.trunc_pkt"` (and `"decoder.too_many_layers"`).
            pub fn eve_event(&self) -> &'static str {
                if self.layer() == "decoder" {
                    return self.event();
                }
                match self {
                    $( Anomaly::$variant => concat!("decoder.", $layer, ".", $name), )*
                }
            }

            /// The layer the anomaly belongs to, e.g. `"ipv4"`.
            pub fn layer(&self) -> &'static str {
                match self {
                    $( Anomaly::$variant => $layer, )*
                }
            }
        }
    };
}

anomalies! {
    /// The link type of the capture is not one the decoder knows.
    UnsupportedLinkType => "decoder", "unsupported_link_type";
    /// More encapsulation layers than the configured cap.
    TooManyLayers => "decoder", "too_many_layers";
    /// Ethernet frame shorter than its 14-byte header.
    EthernetPktTooSmall => "ethernet", "pkt_too_small";
    /// Truncated 802.1Q / 802.1ad tag.
    VlanHeaderTooSmall => "vlan", "header_too_small";
    /// More than two VLAN tags.
    VlanTooManyLayers => "vlan", "too_many_layers";
    /// Linux cooked capture (v1 or v2) header truncated.
    SllPktTooSmall => "sll", "pkt_too_small";
    /// BSD loopback header truncated.
    LtNullPktTooSmall => "ltnull", "pkt_too_small";
    /// BSD loopback address family that is neither IPv4 nor IPv6.
    LtNullUnsupportedType => "ltnull", "unsupported_type";
    /// Raw IP link type whose first nibble is neither 4 nor 6.
    IpRawInvalidIpVersion => "ipraw", "invalid_ip_version";
    /// Cisco HDLC header truncated.
    ChdlcPktTooSmall => "chdlc", "pkt_too_small";
    /// PPP header truncated.
    PppPktTooSmall => "ppp", "pkt_too_small";
    /// PPP protocol that is not a valid protocol number.
    PppWrongType => "ppp", "wrong_type";
    /// Valid PPP protocol the decoder does not handle (VJ compression, ...).
    PppUnsupProto => "ppp", "unsup_proto";
    /// PPPoE session header truncated.
    PppoePktTooSmall => "pppoe", "pkt_too_small";
    /// PPPoE session frame with a non-zero code.
    PppoeWrongCode => "pppoe", "wrong_code";
    /// ARP packet truncated or not Ethernet/IPv4 ARP (zoneguard event).
    ArpPktTooSmall => "arp", "pkt_too_small";
    /// MPLS label stack truncated.
    MplsHeaderTooSmall => "mpls", "header_too_small";
    /// Nothing after the MPLS bottom-of-stack label.
    MplsPktTooSmall => "mpls", "pkt_too_small";
    /// MPLS payload that is neither IP nor Ethernet.
    MplsUnknownPayloadType => "mpls", "unknown_payload_type";
    /// IPv4 packet shorter than 20 bytes.
    Ipv4PktTooSmall => "ipv4", "pkt_too_small";
    /// IPv4 header length field below 20 bytes.
    Ipv4HlenTooSmall => "ipv4", "hlen_too_small";
    /// IPv4 total length below the header length.
    Ipv4IplenSmallerThanHlen => "ipv4", "iplen_smaller_than_hlen";
    /// IPv4 total length beyond the captured bytes.
    Ipv4TruncPkt => "ipv4", "trunc_pkt";
    /// IPv4 version field is not 4.
    Ipv4WrongIpVersion => "ipv4", "wrong_ip_version";
    /// IPv4 option with an invalid length.
    Ipv4OptInvalidLen => "ipv4", "opt_invalid_len";
    /// IPv4 option running past the header.
    Ipv4OptMalformed => "ipv4", "opt_malformed";
    /// IPv4 option that appears twice.
    Ipv4OptDuplicate => "ipv4", "opt_duplicate";
    /// IPv4 carrying ICMPv6.
    Ipv4WithIcmpv6 => "ipv4", "icmpv6";
    /// IPv4 fragment whose end lies beyond 65535 bytes.
    Ipv4FragPktTooLarge => "ipv4", "frag_pkt_too_large";
    /// IPv4 fragments overlap.
    Ipv4FragOverlap => "ipv4", "frag_overlap";
    /// IPv4 fragment dropped by the reassembler (memory or tracker cap).
    Ipv4FragIgnored => "ipv4", "frag_ignored";
    /// IPv6 packet shorter than 40 bytes.
    Ipv6PktTooSmall => "ipv6", "pkt_too_small";
    /// IPv6 payload length beyond the captured bytes.
    Ipv6TruncPkt => "ipv6", "trunc_pkt";
    /// IPv6 extension header truncated.
    Ipv6TruncExthdr => "ipv6", "trunc_exthdr";
    /// IPv6 version field is not 6.
    Ipv6WrongIpVersion => "ipv6", "wrong_ip_version";
    /// Two IPv6 fragment headers.
    Ipv6ExthdrDuplFh => "ipv6", "exthdr_dupl_fh";
    /// IPv6 fragment header with offset 0 and no more fragments.
    Ipv6ExthdrUselessFh => "ipv6", "exthdr_useless_fh";
    /// Two IPv6 routing headers.
    Ipv6ExthdrDuplRh => "ipv6", "exthdr_dupl_rh";
    /// Two IPv6 hop-by-hop headers (or one not first).
    Ipv6ExthdrDuplHh => "ipv6", "exthdr_dupl_hh";
    /// More than two IPv6 destination options headers.
    Ipv6ExthdrDuplDh => "ipv6", "exthdr_dupl_dh";
    /// Two IPv6 authentication headers.
    Ipv6ExthdrDuplAh => "ipv6", "exthdr_dupl_ah";
    /// IPv6 extension option with a length past its header.
    Ipv6ExthdrInvalidOptlen => "ipv6", "exthdr_invalid_optlen";
    /// IPv6 routing header type 0 (deprecated, RFC 5095).
    Ipv6RhType0 => "ipv6", "rh_type_0";
    /// Bytes after an IPv6 "no next header".
    Ipv6DataAfterNoneHeader => "ipv6", "data_after_none_header";
    /// IPv6 carrying ICMP for IPv4.
    Ipv6WithIcmpv4 => "ipv6", "icmpv4";
    /// IPv6 fragment whose end lies beyond 65535 bytes.
    Ipv6FragPktTooLarge => "ipv6", "frag_pkt_too_large";
    /// IPv6 fragments overlap.
    Ipv6FragOverlap => "ipv6", "frag_overlap";
    /// IPv6 non-final fragment whose length is not a multiple of 8.
    Ipv6FragInvalidLength => "ipv6", "frag_invalid_length";
    /// IPv6 fragment dropped by the reassembler (memory or tracker cap).
    Ipv6FragIgnored => "ipv6", "frag_ignored";
    /// IPv4 inside IPv6 too short.
    Ipv4InIpv6TooSmall => "ipv6", "ipv4_in_ipv6_too_small";
    /// IPv6 inside IPv6 too short.
    Ipv6InIpv6TooSmall => "ipv6", "ipv6_in_ipv6_too_small";
    /// TCP segment shorter than 20 bytes.
    TcpPktTooSmall => "tcp", "pkt_too_small";
    /// TCP data offset below 5 words or past the segment.
    TcpHlenTooSmall => "tcp", "hlen_too_small";
    /// TCP option with an invalid length.
    TcpOptInvalidLen => "tcp", "opt_invalid_len";
    /// TCP option that appears twice.
    TcpOptDuplicate => "tcp", "opt_duplicate";
    /// UDP datagram shorter than 8 bytes.
    UdpHlenTooSmall => "udp", "hlen_too_small";
    /// UDP length field beyond the IP payload.
    UdpPktTooSmall => "udp", "pkt_too_small";
    /// UDP length field differs from the IP payload length.
    UdpHlenInvalid => "udp", "hlen_invalid";
    /// UDP length field below 8.
    UdpLenInvalid => "udp", "len_invalid";
    /// ICMPv4 message shorter than its 8-byte header.
    Icmpv4PktTooSmall => "icmpv4", "pkt_too_small";
    /// ICMPv6 message shorter than its 8-byte header.
    Icmpv6PktTooSmall => "icmpv6", "pkt_too_small";
    /// GRE header truncated.
    GrePktTooSmall => "gre", "pkt_too_small";
    /// GRE version other than 0 or 1.
    GreWrongVersion => "gre", "wrong_version";
    /// GRE v0 recursion control set.
    GreVersion0Recur => "gre", "version0_recur";
    /// GRE v0 reserved flags (or unsupported routing) set.
    GreVersion0Flags => "gre", "version0_flags";
    /// GRE v1 without the key (call id) field.
    GreVersion1NoKey => "gre", "version1_no_key";
    /// GRE v1 with a protocol other than PPP.
    GreVersion1WrongProtocol => "gre", "version1_wrong_protocol";
    /// GRE v1 with invalid flags (checksum, routing, recursion).
    GreVersion1Flags => "gre", "version1_flags";
    /// ERSPAN header truncated.
    ErspanHeaderTooSmall => "erspan", "header_too_small";
    /// ERSPAN version other than the one its GRE protocol implies.
    ErspanUnsupportedVersion => "erspan", "unsupported_version";
}

/// How many anomalies one decoded frame keeps; further ones are counted in
/// [`Anomalies::dropped`].
pub const MAX_ANOMALIES: usize = 4;

/// A small set of anomalies (no heap), in the order found, without repeats.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Anomalies {
    items: [Option<Anomaly>; MAX_ANOMALIES],
    len: u8,
    dropped: u8,
}

impl Anomalies {
    /// An empty set.
    pub const fn new() -> Self {
        Anomalies {
            items: [None; MAX_ANOMALIES],
            len: 0,
            dropped: 0,
        }
    }

    /// Adds `a` unless already present; counts it as dropped when full.
    pub fn push(&mut self, a: Anomaly) {
        if self.contains(a) {
            return;
        }
        match self.items.get_mut(usize::from(self.len)) {
            Some(slot) => {
                *slot = Some(a);
                self.len += 1;
            }
            None => self.dropped = self.dropped.saturating_add(1),
        }
    }

    /// Whether `a` is in the set.
    pub fn contains(&self, a: Anomaly) -> bool {
        self.iter().any(|x| x == a)
    }

    /// The anomalies kept, in the order found.
    pub fn iter(&self) -> impl Iterator<Item = Anomaly> + '_ {
        self.items.iter().flatten().copied()
    }

    /// Number of anomalies kept.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether nothing was wrong.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many further anomalies did not fit (saturating at 255).
    pub fn dropped(&self) -> u8 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_layer_dot_event_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for a in Anomaly::ALL {
            let ev = a.event();
            assert!(ev.starts_with(a.layer()), "{ev}");
            assert_eq!(ev.as_bytes().get(a.layer().len()), Some(&b'.'));
            assert!(seen.insert(ev), "duplicate {ev}");
        }
        assert_eq!(Anomaly::Ipv4TruncPkt.event(), "ipv4.trunc_pkt");
        assert_eq!(Anomaly::GreWrongVersion.event(), "gre.wrong_version");
        assert_eq!(Anomaly::TooManyLayers.event(), "decoder.too_many_layers");
        assert_eq!(Anomaly::Ipv4TruncPkt.eve_event(), "decoder.ipv4.trunc_pkt");
        assert_eq!(
            Anomaly::TooManyLayers.eve_event(),
            "decoder.too_many_layers"
        );
    }

    #[test]
    fn set_dedups_and_caps() {
        let mut s = Anomalies::new();
        assert!(s.is_empty());
        s.push(Anomaly::TcpPktTooSmall);
        s.push(Anomaly::TcpPktTooSmall);
        assert_eq!(s.len(), 1);
        for a in Anomaly::ALL.iter().take(6) {
            s.push(*a);
        }
        assert_eq!(s.len(), MAX_ANOMALIES);
        assert_eq!(s.dropped(), 3);
        assert_eq!(s.iter().next(), Some(Anomaly::TcpPktTooSmall));
    }
}
