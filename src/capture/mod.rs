//! Capture input: pcap and pcapng files (and, with the daemon, live
//! AF_PACKET sockets), yielding raw frames with their time and link type.
//!
//! [`CaptureReader`] reads classic pcap (micro- and nanosecond, both byte
//! orders, and Kuznetzov's modified variant) and pcapng (several sections of
//! either byte order, several interfaces, EPB, SPB and the obsolete PB;
//! other blocks are skipped), streaming through a 1 MiB window and lending
//! each packet as a [`PacketRef`]. [`PcapWriter`] writes classic pcap.
//!
//! Module layout: `pcap` and `pcapng` hold the pure header parsers, `input`
//! the streaming window, `reader` the reader, `writer` the writer, `error`
//! the error type.

mod error;
mod input;
pub mod live;
mod pcap;
mod pcapng;
mod reader;
mod writer;

pub use error::CaptureError;
pub use reader::{CaptureFormat, CaptureReader, MAX_BLOCK_LEN, MAX_CAPLEN, MAX_INTERFACES};
pub use writer::PcapWriter;

/// One captured packet, borrowed from the reader's buffer until the next
/// call to [`CaptureReader::next_packet`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketRef<'a> {
    /// When the packet was captured.
    pub ts: crate::time::Timestamp,
    /// Link type of `data`.
    pub linktype: LinkType,
    /// The captured bytes (possibly truncated to the snapshot length).
    pub data: &'a [u8],
    /// Length of the packet on the wire.
    pub orig_len: u32,
    /// Index of the capture interface: the IDB index within its pcapng
    /// section, 0 for pcap.
    pub interface: u32,
}

/// The link-layer type of a captured frame (LINKTYPE_* / DLT_* values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkType {
    /// LINKTYPE_NULL (0): BSD loopback, 4-byte address family in host order.
    Null,
    /// LINKTYPE_ETHERNET (1).
    Ethernet,
    /// LINKTYPE_PPP (9): PPP with an optional HDLC-like address/control field.
    Ppp,
    /// LINKTYPE_PPP_HDLC (50): PPP in HDLC-like framing.
    PppHdlc,
    /// LINKTYPE_RAW (101) and DLT_RAW (12 / 14): a bare IPv4 or IPv6 packet.
    Raw,
    /// LINKTYPE_C_HDLC (104): Cisco HDLC.
    CiscoHdlc,
    /// LINKTYPE_LOOP (108): OpenBSD loopback, address family in network order.
    Loop,
    /// LINKTYPE_LINUX_SLL (113): Linux cooked capture v1.
    LinuxSll,
    /// LINKTYPE_IPV4 (228): a bare IPv4 packet.
    Ipv4,
    /// LINKTYPE_IPV6 (229): a bare IPv6 packet.
    Ipv6,
    /// LINKTYPE_LINUX_SLL2 (276): Linux cooked capture v2.
    LinuxSll2,
    /// Any other link type: frames are counted and reported as undecodable.
    Other(u32),
}

impl LinkType {
    /// Maps a LINKTYPE_* number from a pcap or pcapng header.
    pub fn from_u32(v: u32) -> LinkType {
        match v {
            0 => LinkType::Null,
            1 => LinkType::Ethernet,
            9 => LinkType::Ppp,
            50 => LinkType::PppHdlc,
            12 | 14 | 101 => LinkType::Raw,
            104 => LinkType::CiscoHdlc,
            108 => LinkType::Loop,
            113 => LinkType::LinuxSll,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            276 => LinkType::LinuxSll2,
            other => LinkType::Other(other),
        }
    }

    /// The LINKTYPE_* number written in capture headers.
    pub fn to_u32(self) -> u32 {
        match self {
            LinkType::Null => 0,
            LinkType::Ethernet => 1,
            LinkType::Ppp => 9,
            LinkType::PppHdlc => 50,
            LinkType::Raw => 101,
            LinkType::CiscoHdlc => 104,
            LinkType::Loop => 108,
            LinkType::LinuxSll => 113,
            LinkType::Ipv4 => 228,
            LinkType::Ipv6 => 229,
            LinkType::LinuxSll2 => 276,
            LinkType::Other(v) => v,
        }
    }
}
