//! What the cross-flow detectors need from one packet, taken from the
//! decoded packet alone: small, `Copy`, no heap.
//!
//! The detectors span flows, but workers are sharded by flow; so the worker
//! that sees every packet (worker 0 in replay; a channel in the daemon)
//! extracts an [`Observation`] from each decoded packet and feeds the
//! [`super::CrossFlow`] state machine. Only the packets a detector counts
//! become observations: TCP SYN, SYN-ACK and RST, ICMP echo requests, ICMP
//! port unreachables about UDP probes, and DNS queries and answers on
//! UDP port 53. Everything else gives `None`.

use std::fmt;
use std::net::IpAddr;

use crate::decode::{Decoded, Mac, L3, L4, TCP_ACK, TCP_RST, TCP_SYN};
use crate::time::Timestamp;

/// Longest DNS name kept (RFC 1035: 255 octets on the wire, 253 as text).
pub const MAX_QNAME: usize = 253;

/// A DNS query name in a fixed inline buffer: lower-cased ASCII labels
/// joined by dots, without the root dot.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct QName {
    len: u8,
    buf: [u8; MAX_QNAME],
}

impl QName {
    /// The empty name (the root).
    pub const fn empty() -> Self {
        QName {
            len: 0,
            buf: [0; MAX_QNAME],
        }
    }

    /// The name's bytes (`a.example.org`).
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// Builds a name from text (for tests and benches); `None` when it is
    /// longer than [`MAX_QNAME`].
    pub fn from_text(s: &str) -> Option<Self> {
        let b = s.trim_end_matches('.').as_bytes();
        if b.len() > MAX_QNAME {
            return None;
        }
        let mut q = QName::empty();
        for (d, s) in q.buf.iter_mut().zip(b) {
            *d = s.to_ascii_lowercase();
        }
        q.len = u8::try_from(b.len()).ok()?;
        Some(q)
    }
}

impl fmt::Debug for QName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "QName({:?})", String::from_utf8_lossy(self.as_bytes()))
    }
}

/// DNS query types the tunnel detector counts by volume.
pub mod qtype {
    /// TXT.
    pub const TXT: u16 = 16;
    /// NULL.
    pub const NULL: u16 = 10;
}

/// What a packet shows.
// The DNS name is inline on purpose: an observation is `Copy` and never
// touches the heap, so every variant is as large as the name buffer.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObsKind {
    /// TCP SYN without ACK: a connection attempt from `src` to `dst:dport`.
    Syn,
    /// TCP SYN-ACK: `src:sport` answered `dst`.
    SynAck,
    /// TCP RST: `src` refused or tore down a connection with `dst`.
    Rst,
    /// ICMP or ICMPv6 echo request from `src` to `dst`.
    EchoRequest,
    /// ICMP port unreachable: `src` (the target) says nothing listens on
    /// UDP `port`, probed by `dst`.
    PortUnreachable {
        /// The probed UDP port (from the quoted datagram).
        port: u16,
    },
    /// A DNS query over UDP from `src` to `dst:53`.
    DnsQuery {
        /// Query type of the first question.
        qtype: u16,
        /// The first question's name.
        name: QName,
    },
    /// A DNS response from `src:53`: `src` serves DNS.
    DnsResponse,
}

/// One observation, extracted from a decoded packet alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Observation {
    /// Packet time.
    pub ts: Timestamp,
    /// 1-based position of the packet in the capture (0 when unknown).
    pub pcap_cnt: u64,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Source port (0 for ICMP).
    pub sport: u16,
    /// Destination port (0 for ICMP).
    pub dport: u16,
    /// Ethernet source and destination, when the frame had them.
    pub ether: Option<(Mac, Mac)>,
    /// What the packet shows.
    pub kind: ObsKind,
}

impl Observation {
    /// The observation a decoded packet gives, if any. Never panics and
    /// never allocates, whatever the packet holds.
    pub fn from_decoded(ts: Timestamp, pcap_cnt: u64, d: &Decoded<'_>) -> Option<Observation> {
        if d.frag.is_some() || d.checksum_bad {
            return None;
        }
        // most packets show nothing: decide on the transport layer first
        match &d.l4 {
            L4::Tcp(t) if t.flags & (TCP_SYN | TCP_RST) != 0 => {}
            L4::Icmp(_) => {}
            L4::Udp(u) if u.dst_port == 53 || u.src_port == 53 => {}
            _ => return None,
        }
        let (src, dst) = match &d.l3 {
            L3::Ipv4(h) => (IpAddr::V4(h.src), IpAddr::V4(h.dst)),
            L3::Ipv6(h) => (IpAddr::V6(h.src), IpAddr::V6(h.dst)),
            _ => return None,
        };
        let ether = d.ether.map(|e| (e.src, e.dst));
        let mk = |sport, dport, kind| {
            Some(Observation {
                ts,
                pcap_cnt,
                src,
                dst,
                sport,
                dport,
                ether,
                kind,
            })
        };
        match &d.l4 {
            L4::Tcp(t) => {
                let f = t.flags;
                let kind = if f & TCP_RST != 0 {
                    ObsKind::Rst
                } else if f & (TCP_SYN | TCP_ACK) == TCP_SYN {
                    ObsKind::Syn
                } else if f & (TCP_SYN | TCP_ACK) == TCP_SYN | TCP_ACK {
                    ObsKind::SynAck
                } else {
                    return None;
                };
                mk(t.src_port, t.dst_port, kind)
            }
            L4::Icmp(i) => {
                let echo_req = if i.v6 { 128 } else { 8 };
                if i.itype == echo_req && i.icode == 0 {
                    return mk(0, 0, ObsKind::EchoRequest);
                }
                let unreach = if i.v6 {
                    i.itype == 1 && i.icode == 4
                } else {
                    i.itype == 3 && i.icode == 3
                };
                if unreach {
                    let port = quoted_udp_dport(d.payload, i.v6)?;
                    return mk(0, 0, ObsKind::PortUnreachable { port });
                }
                None
            }
            L4::Udp(u) if u.dst_port == 53 || u.src_port == 53 => {
                let p = d.payload;
                let flags = *p.get(2)?;
                let is_response = flags & 0x80 != 0;
                if is_response {
                    if u.src_port == 53 {
                        mk(u.src_port, u.dst_port, ObsKind::DnsResponse)
                    } else {
                        None
                    }
                } else if u.dst_port == 53 {
                    let (name, qtype) = parse_question(p)?;
                    mk(u.src_port, u.dst_port, ObsKind::DnsQuery { qtype, name })
                } else {
                    None
                }
            }
            _ => None,
        }
    }
}

/// The destination port of the UDP datagram quoted in an ICMP error
/// (`payload` starts at the quoted IP header).
fn quoted_udp_dport(payload: &[u8], v6: bool) -> Option<u16> {
    let off = if v6 {
        // fixed IPv6 header; extension headers are not followed
        if *payload.get(6)? != 17 {
            return None;
        }
        40
    } else {
        let b0 = *payload.first()?;
        if b0 >> 4 != 4 || *payload.get(9)? != 17 {
            return None;
        }
        usize::from(b0 & 0x0f) * 4
    };
    let hi = *payload.get(off + 2)?;
    let lo = *payload.get(off + 3)?;
    Some(u16::from_be_bytes([hi, lo]))
}

/// The first question of a DNS query message: its name and type. Bounded:
/// at most [`MAX_QNAME`] bytes and 127 labels; compression pointers (not
/// valid in a query's first name) and any malformation give `None`.
pub fn parse_question(msg: &[u8]) -> Option<(QName, u16)> {
    let qdcount = u16::from_be_bytes([*msg.get(4)?, *msg.get(5)?]);
    if qdcount == 0 {
        return None;
    }
    let mut q = QName::empty();
    let mut pos = 12usize;
    let mut out = 0usize;
    for _ in 0..128 {
        let len = usize::from(*msg.get(pos)?);
        pos += 1;
        if len == 0 {
            let t = u16::from_be_bytes([*msg.get(pos)?, *msg.get(pos + 1)?]);
            q.len = u8::try_from(out).ok()?;
            return Some((q, t));
        }
        if len > 63 {
            return None;
        }
        let label = msg.get(pos..pos + len)?;
        pos += len;
        let need = if out == 0 { len } else { len + 1 };
        if out + need > MAX_QNAME {
            return None;
        }
        if out > 0 {
            *q.buf.get_mut(out)? = b'.';
            out += 1;
        }
        for &c in label {
            *q.buf.get_mut(out)? = c.to_ascii_lowercase();
            out += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for l in name.split('.') {
            m.push(l.len() as u8);
            m.extend_from_slice(l.as_bytes());
        }
        m.push(0);
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&[0, 1]);
        m
    }

    #[test]
    fn question_is_parsed_lowercased() {
        let (n, t) = parse_question(&query("AbC.Example.ORG", 16)).unwrap();
        assert_eq!(n.as_bytes(), b"abc.example.org");
        assert_eq!(t, 16);
    }

    #[test]
    fn malformed_questions_are_refused() {
        assert!(parse_question(&[]).is_none());
        let mut m = query("a.example", 1);
        m.truncate(m.len() - 3);
        assert!(parse_question(&m).is_none());
        // compression pointer in a query name
        let mut m = vec![0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1];
        assert!(parse_question(&m).is_none());
        m[4] = 0;
        m[5] = 0;
        assert!(parse_question(&m).is_none());
        // a name longer than 253 characters
        let long = vec!["a".repeat(63); 5].join(".");
        assert!(parse_question(&query(&long, 1)).is_none());
        // exactly 253 is fine
        let max = format!(
            "{}.{}.{}.{}",
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(61)
        );
        assert_eq!(
            parse_question(&query(&max, 1)).unwrap().0.as_bytes().len(),
            253
        );
    }

    #[test]
    fn quoted_udp_port() {
        let mut p = vec![
            0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        p.extend_from_slice(&[0x30, 0x39, 0x00, 0xa1, 0, 8, 0, 0]);
        assert_eq!(quoted_udp_dport(&p, false), Some(161));
        p[9] = 6;
        assert_eq!(quoted_udp_dport(&p, false), None);
        assert_eq!(quoted_udp_dport(&p[..5], false), None);
    }

    #[test]
    fn qname_from_text() {
        assert_eq!(
            QName::from_text("A.Example.").unwrap().as_bytes(),
            b"a.example"
        );
        assert!(QName::from_text(&"x".repeat(300)).is_none());
    }
}
