//! DNS message parser (RFC 1035, RFC 6891 EDNS, RFC 3596 AAAA, RFC 2782 SRV,
//! RFC 8659 CAA). Names are decompressed with loop protection: a compression
//! pointer must point strictly backwards, at most [`MAX_JUMPS`] are followed
//! and a name is at most 255 octets.

use nom::number::complete::{be_u16, be_u32, be_u8};
use nom::IResult;
use std::net::{Ipv4Addr, Ipv6Addr};
use thiserror::Error;

/// Most compression pointers followed while reading one name.
pub const MAX_JUMPS: usize = 32;
/// Longest name in wire octets (RFC 1035 §2.3.4).
pub const MAX_NAME_LEN: usize = 255;

/// Why a DNS message could not be parsed; `offset` is from the message start.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DnsError {
    /// The message ended inside a field.
    #[error("dns: truncated {field} at offset {offset}")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Where it started.
        offset: usize,
    },
    /// A compression pointer pointed forwards or at itself, or too many jumps.
    #[error("dns: compression loop at offset {offset}")]
    PointerLoop {
        /// Offset of the offending pointer.
        offset: usize,
    },
    /// A name exceeded 255 octets.
    #[error("dns: name longer than 255 octets at offset {offset}")]
    NameTooLong {
        /// Where the name started.
        offset: usize,
    },
    /// A label type other than 00 (label) or 11 (pointer).
    #[error("dns: bad label type 0x{byte:02x} at offset {offset}")]
    BadLabel {
        /// The length byte.
        byte: u8,
        /// Its offset.
        offset: usize,
    },
}

/// The fixed 12-byte header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct DnsHeader {
    /// Transaction id.
    pub id: u16,
    /// Flags word (QR, opcode, AA, TC, RD, RA, Z, AD, CD, rcode).
    pub flags: u16,
    /// Question count.
    pub qdcount: u16,
    /// Answer count.
    pub ancount: u16,
    /// Authority count.
    pub nscount: u16,
    /// Additional count.
    pub arcount: u16,
}

impl DnsHeader {
    /// True for a response.
    pub fn qr(&self) -> bool {
        self.flags & 0x8000 != 0
    }
    /// Opcode (0 = QUERY).
    pub fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0xf) as u8
    }
    /// Response code (low 4 bits).
    pub fn rcode(&self) -> u8 {
        (self.flags & 0xf) as u8
    }
}

/// One question.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsQuery {
    /// Queried name, dotted, non-printable bytes escaped as `\xNN`.
    pub name: String,
    /// Record type.
    pub rrtype: u16,
    /// Class.
    pub rrclass: u16,
}

/// Parsed record data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DnsRData {
    /// IPv4 address.
    A(Ipv4Addr),
    /// IPv6 address.
    Aaaa(Ipv6Addr),
    /// CNAME, NS, PTR, DNAME target.
    Name(String),
    /// Mail exchanger.
    Mx {
        /// Preference.
        preference: u16,
        /// Exchange host.
        exchange: String,
    },
    /// TXT / SPF character strings.
    Txt(Vec<String>),
    /// Start of authority.
    Soa {
        /// Primary name server.
        mname: String,
        /// Responsible mailbox.
        rname: String,
        /// Serial.
        serial: u32,
        /// Refresh.
        refresh: u32,
        /// Retry.
        retry: u32,
        /// Expire.
        expire: u32,
        /// Minimum / negative TTL.
        minimum: u32,
    },
    /// Service locator.
    Srv {
        /// Priority.
        priority: u16,
        /// Weight.
        weight: u16,
        /// Port.
        port: u16,
        /// Target host.
        target: String,
    },
    /// Certification authority authorisation.
    Caa {
        /// Flags.
        flags: u8,
        /// Property tag.
        tag: String,
        /// Value.
        value: String,
    },
    /// EDNS OPT pseudo-record options (code, data).
    Opt(Vec<(u16, Vec<u8>)>),
    /// NULL, SVCB/HTTPS and every other type: the raw bytes (bounded).
    Raw(Vec<u8>),
}

/// One resource record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsRecord {
    /// Owner name.
    pub name: String,
    /// Type.
    pub rrtype: u16,
    /// Class (for OPT: the UDP payload size).
    pub rrclass: u16,
    /// TTL (for OPT: extended rcode and flags).
    pub ttl: u32,
    /// Data.
    pub data: DnsRData,
}

/// A parsed message.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct DnsMessage {
    /// Header.
    pub header: DnsHeader,
    /// Questions.
    pub queries: Vec<DnsQuery>,
    /// Answer section.
    pub answers: Vec<DnsRecord>,
    /// Authority section.
    pub authorities: Vec<DnsRecord>,
    /// Additional section.
    pub additionals: Vec<DnsRecord>,
    /// Records beyond the per-section cap, counted and dropped.
    pub dropped_records: u32,
}

/// Most raw rdata bytes kept per record.
const MAX_RAW: usize = 512;

/// Parses the 12-byte header.
pub fn parse_header(i: &[u8]) -> IResult<&[u8], DnsHeader> {
    let (i, id) = be_u16(i)?;
    let (i, flags) = be_u16(i)?;
    let (i, qdcount) = be_u16(i)?;
    let (i, ancount) = be_u16(i)?;
    let (i, nscount) = be_u16(i)?;
    let (i, arcount) = be_u16(i)?;
    Ok((
        i,
        DnsHeader {
            id,
            flags,
            qdcount,
            ancount,
            nscount,
            arcount,
        },
    ))
}

/// Appends one label to `out`, escaping as Suricata does (printable ASCII
/// kept, the rest `\xNN`).
fn push_label(out: &mut String, label: &[u8]) {
    if !out.is_empty() {
        out.push('.');
    }
    for &b in label {
        if b.is_ascii_graphic() {
            out.push(b as char);
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
}

/// Reads the (possibly compressed) name at `start` of `msg` into `out`;
/// returns the offset just after the name at its original position.
pub fn read_name(msg: &[u8], start: usize, out: &mut String) -> Result<usize, DnsError> {
    let mut pos = start;
    let mut end_after: Option<usize> = None;
    let mut jumps = 0usize;
    let mut wire_len = 0usize;
    // lowest offset reached so far: every pointer must go strictly below it.
    let mut floor = start;
    loop {
        let len = *msg.get(pos).ok_or(DnsError::Truncated {
            field: "name",
            offset: pos,
        })?;
        match len & 0xc0 {
            0x00 => {
                if len == 0 {
                    if out.is_empty() {
                        out.push_str("<root>");
                    }
                    return Ok(end_after.unwrap_or(pos.saturating_add(1)));
                }
                let l = usize::from(len);
                wire_len = wire_len.saturating_add(l + 1);
                if wire_len > MAX_NAME_LEN {
                    return Err(DnsError::NameTooLong { offset: start });
                }
                let label = msg.get(pos + 1..pos + 1 + l).ok_or(DnsError::Truncated {
                    field: "label",
                    offset: pos,
                })?;
                push_label(out, label);
                pos += 1 + l;
            }
            0xc0 => {
                let lo = *msg.get(pos + 1).ok_or(DnsError::Truncated {
                    field: "pointer",
                    offset: pos,
                })?;
                let target = (usize::from(len & 0x3f) << 8) | usize::from(lo);
                jumps += 1;
                if target >= floor || jumps > MAX_JUMPS {
                    return Err(DnsError::PointerLoop { offset: pos });
                }
                if end_after.is_none() {
                    end_after = Some(pos + 2);
                }
                floor = target;
                pos = target;
            }
            _ => {
                return Err(DnsError::BadLabel {
                    byte: len,
                    offset: pos,
                })
            }
        }
    }
}

fn trunc(field: &'static str, offset: usize) -> DnsError {
    DnsError::Truncated { field, offset }
}

fn u16_at(msg: &[u8], off: usize, field: &'static str) -> Result<u16, DnsError> {
    let b = msg.get(off..off + 2).ok_or(trunc(field, off))?;
    let r: IResult<&[u8], u16> = be_u16(b);
    r.map(|(_, v)| v).map_err(|_| trunc(field, off))
}

fn u32_at(msg: &[u8], off: usize, field: &'static str) -> Result<u32, DnsError> {
    let b = msg.get(off..off + 4).ok_or(trunc(field, off))?;
    let r: IResult<&[u8], u32> = be_u32(b);
    r.map(|(_, v)| v).map_err(|_| trunc(field, off))
}

fn name_at(msg: &[u8], off: usize) -> Result<(String, usize), DnsError> {
    let mut s = String::new();
    let end = read_name(msg, off, &mut s)?;
    Ok((s, end))
}

/// Character strings (length-prefixed) of a TXT rdata.
fn parse_txt(mut i: &[u8]) -> Vec<String> {
    let mut v = Vec::new();
    while let Ok((rest, len)) = be_u8::<_, nom::error::Error<&[u8]>>(i) {
        let l = usize::from(len);
        let Some(s) = rest.get(..l) else { break };
        v.push(String::from_utf8_lossy(s).into_owned());
        i = rest.get(l..).unwrap_or_default();
        if v.len() >= 64 {
            break;
        }
    }
    v
}

fn parse_rdata(msg: &[u8], rrtype: u16, off: usize, len: usize) -> Result<DnsRData, DnsError> {
    let rd = msg.get(off..off + len).ok_or(trunc("rdata", off))?;
    Ok(match rrtype {
        1 if len == 4 => match <[u8; 4]>::try_from(rd) {
            Ok(a) => DnsRData::A(Ipv4Addr::from(a)),
            Err(_) => DnsRData::Raw(rd.to_vec()),
        },
        28 if len == 16 => match <[u8; 16]>::try_from(rd) {
            Ok(a) => DnsRData::Aaaa(Ipv6Addr::from(a)),
            Err(_) => DnsRData::Raw(rd.to_vec()),
        },
        2 | 5 | 12 | 39 => DnsRData::Name(name_at(msg, off)?.0),
        15 => DnsRData::Mx {
            preference: u16_at(msg, off, "mx preference")?,
            exchange: name_at(msg, off + 2)?.0,
        },
        16 | 99 => DnsRData::Txt(parse_txt(rd)),
        6 => {
            let (mname, o) = name_at(msg, off)?;
            let (rname, o) = name_at(msg, o)?;
            DnsRData::Soa {
                mname,
                rname,
                serial: u32_at(msg, o, "soa serial")?,
                refresh: u32_at(msg, o + 4, "soa refresh")?,
                retry: u32_at(msg, o + 8, "soa retry")?,
                expire: u32_at(msg, o + 12, "soa expire")?,
                minimum: u32_at(msg, o + 16, "soa minimum")?,
            }
        }
        33 => DnsRData::Srv {
            priority: u16_at(msg, off, "srv priority")?,
            weight: u16_at(msg, off + 2, "srv weight")?,
            port: u16_at(msg, off + 4, "srv port")?,
            target: name_at(msg, off + 6)?.0,
        },
        257 if len >= 2 => {
            let (flags, tl, rest) = match rd {
                [f, t, rest @ ..] => (*f, usize::from(*t), rest),
                _ => return Err(trunc("caa", off)),
            };
            let tag = rest.get(..tl).ok_or(trunc("caa tag", off + 2))?;
            let value = rest.get(tl..).unwrap_or_default();
            DnsRData::Caa {
                flags,
                tag: String::from_utf8_lossy(tag).into_owned(),
                value: String::from_utf8_lossy(value).into_owned(),
            }
        }
        41 => {
            let mut opts = Vec::new();
            let mut p = 0usize;
            while p + 4 <= len && opts.len() < 16 {
                let code = u16_at(rd, p, "opt code")?;
                let l = usize::from(u16_at(rd, p + 2, "opt length")?);
                let d = rd.get(p + 4..p + 4 + l).ok_or(trunc("opt data", off + p))?;
                opts.push((
                    code,
                    d.get(..d.len().min(MAX_RAW)).unwrap_or_default().to_vec(),
                ));
                p += 4 + l;
            }
            DnsRData::Opt(opts)
        }
        _ => DnsRData::Raw(rd.get(..len.min(MAX_RAW)).unwrap_or_default().to_vec()),
    })
}

fn parse_record(msg: &[u8], off: usize) -> Result<(DnsRecord, usize), DnsError> {
    let (name, o) = name_at(msg, off)?;
    let rrtype = u16_at(msg, o, "rr type")?;
    let rrclass = u16_at(msg, o + 2, "rr class")?;
    let ttl = u32_at(msg, o + 4, "rr ttl")?;
    let rdlen = usize::from(u16_at(msg, o + 8, "rdlength")?);
    let rd_off = o + 10;
    let data = parse_rdata(msg, rrtype, rd_off, rdlen)?;
    Ok((
        DnsRecord {
            name,
            rrtype,
            rrclass,
            ttl,
            data,
        },
        rd_off + rdlen,
    ))
}

/// Parses a whole DNS message (one UDP payload or one TCP record without its
/// length prefix), keeping at most `max_records` per section.
pub fn parse_message(msg: &[u8], max_records: usize) -> Result<DnsMessage, DnsError> {
    let (_, header) = parse_header(msg).map_err(|_| trunc("header", 0))?;
    let mut m = DnsMessage {
        header,
        ..DnsMessage::default()
    };
    let mut off = 12usize;
    for _ in 0..header.qdcount {
        let (name, o) = name_at(msg, off)?;
        let rrtype = u16_at(msg, o, "qtype")?;
        let rrclass = u16_at(msg, o + 2, "qclass")?;
        off = o + 4;
        if m.queries.len() < max_records {
            m.queries.push(DnsQuery {
                name,
                rrtype,
                rrclass,
            });
        } else {
            m.dropped_records = m.dropped_records.saturating_add(1);
        }
    }
    let sections = [header.ancount, header.nscount, header.arcount];
    for (si, count) in sections.into_iter().enumerate() {
        for _ in 0..count {
            let (rec, o) = parse_record(msg, off)?;
            off = o;
            let sec = match si {
                0 => &mut m.answers,
                1 => &mut m.authorities,
                _ => &mut m.additionals,
            };
            if sec.len() < max_records {
                sec.push(rec);
            } else {
                m.dropped_records = m.dropped_records.saturating_add(1);
            }
        }
    }
    Ok(m)
}

/// Cheap plausibility check for detection: a header with at least one
/// question or answer, opcode at most 6, and a parsable first name.
pub fn looks_like_dns(msg: &[u8]) -> bool {
    let Ok((_, h)) = parse_header(msg) else {
        return false;
    };
    if h.opcode() > 6 || h.qdcount == 0 || h.qdcount > 16 {
        return false;
    }
    let mut s = String::new();
    read_name(msg, 12, &mut s).is_ok()
}

/// As [`looks_like_dns`] for a TCP stream (2-byte length prefix).
pub fn looks_like_dns_tcp(data: &[u8]) -> bool {
    match (data.get(..2), data.get(2..)) {
        (Some([hi, lo]), Some(rest)) => {
            let len = usize::from(u16::from_be_bytes([*hi, *lo]));
            len >= 12 && looks_like_dns(rest.get(..len.min(rest.len())).unwrap_or_default())
        }
        _ => false,
    }
}

/// Suricata's name for a record type; unknown types as their number.
pub fn rrtype_name(t: u16) -> std::borrow::Cow<'static, str> {
    let s = match t {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        10 => "NULL",
        11 => "WKS",
        12 => "PTR",
        13 => "HINFO",
        15 => "MX",
        16 => "TXT",
        17 => "RP",
        18 => "AFSDB",
        24 => "SIG",
        25 => "KEY",
        28 => "AAAA",
        29 => "LOC",
        33 => "SRV",
        35 => "NAPTR",
        37 => "CERT",
        39 => "DNAME",
        41 => "OPT",
        43 => "DS",
        44 => "SSHFP",
        46 => "RRSIG",
        47 => "NSEC",
        48 => "DNSKEY",
        50 => "NSEC3",
        51 => "NSEC3PARAM",
        52 => "TLSA",
        64 => "SVCB",
        65 => "HTTPS",
        99 => "SPF",
        249 => "TKEY",
        250 => "TSIG",
        251 => "IXFR",
        252 => "AXFR",
        255 => "ANY",
        256 => "URI",
        257 => "CAA",
        _ => return std::borrow::Cow::Owned(t.to_string()),
    };
    std::borrow::Cow::Borrowed(s)
}

/// Suricata's name for a response code.
pub fn rcode_name(rcode: u8) -> std::borrow::Cow<'static, str> {
    let s = match rcode {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        _ => return std::borrow::Cow::Owned(rcode.to_string()),
    };
    std::borrow::Cow::Borrowed(s)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Query for www.example.com A, id 0x1234, RD.
    pub(crate) const QUERY: &[u8] = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\
\x03www\x07example\x03com\x00\x00\x01\x00\x01";

    /// Response: CNAME then A via compression pointers, plus an SOA authority.
    pub(crate) fn response() -> Vec<u8> {
        let mut m = b"\x12\x34\x81\x80\x00\x01\x00\x02\x00\x01\x00\x00".to_vec();
        m.extend_from_slice(b"\x03www\x07example\x03com\x00\x00\x01\x00\x01");
        // answer 1: www.example.com CNAME web.example.com
        m.extend_from_slice(b"\xc0\x0c\x00\x05\x00\x01\x00\x00\x0e\x10\x00\x06\x03web\xc0\x10");
        // answer 2: web.example.com (ptr to offset 45) A 93.184.216.34
        m.extend_from_slice(b"\xc0\x2d\x00\x01\x00\x01\x00\x00\x0e\x10\x00\x04\x5d\xb8\xd8\x22");
        // authority: example.com SOA ns.example.com. admin.example.com.
        m.extend_from_slice(b"\xc0\x10\x00\x06\x00\x01\x00\x00\x0e\x10\x00\x1e");
        m.extend_from_slice(b"\x02ns\xc0\x10\x05admin\xc0\x10");
        m.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5]);
        m
    }

    #[test]
    fn parses_query() {
        let m = parse_message(QUERY, 64).unwrap();
        assert_eq!(m.header.id, 0x1234);
        assert!(!m.header.qr());
        assert_eq!(m.queries[0].name, "www.example.com");
        assert_eq!(m.queries[0].rrtype, 1);
        assert!(looks_like_dns(QUERY));
    }

    #[test]
    fn parses_compressed_response() {
        let r = response();
        let m = parse_message(&r, 64).unwrap();
        assert!(m.header.qr());
        assert_eq!(m.answers.len(), 2);
        assert_eq!(m.answers[0].data, DnsRData::Name("web.example.com".into()));
        assert_eq!(m.answers[1].name, "web.example.com");
        assert_eq!(
            m.answers[1].data,
            DnsRData::A(Ipv4Addr::new(93, 184, 216, 34))
        );
        match &m.authorities[0].data {
            DnsRData::Soa {
                mname,
                rname,
                serial,
                minimum,
                ..
            } => {
                assert_eq!(mname, "ns.example.com");
                assert_eq!(rname, "admin.example.com");
                assert_eq!((*serial, *minimum), (1, 5));
            }
            other => panic!("not soa: {other:?}"),
        }
    }

    #[test]
    fn compression_loop_is_rejected() {
        // name at 12 is a pointer to itself
        let mut m = b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00".to_vec();
        m.extend_from_slice(b"\xc0\x0c\x00\x01\x00\x01");
        assert_eq!(
            parse_message(&m, 64),
            Err(DnsError::PointerLoop { offset: 12 })
        );
        // two labels pointing at each other: 12 -> 14 (forward) rejected
        let mut m2 = b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00".to_vec();
        m2.extend_from_slice(b"\x01a\xc0\x0c\x00\x01\x00\x01");
        assert!(matches!(
            parse_message(&m2, 64),
            Err(DnsError::PointerLoop { .. })
        ));
    }

    #[test]
    fn long_name_is_rejected() {
        let mut m = b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00".to_vec();
        for _ in 0..5 {
            m.push(63);
            m.extend_from_slice(&[b'a'; 63]);
        }
        m.extend_from_slice(b"\x00\x00\x01\x00\x01");
        assert_eq!(
            parse_message(&m, 64),
            Err(DnsError::NameTooLong { offset: 12 })
        );
    }

    #[test]
    fn truncation_names_the_field() {
        let r = response();
        let e = parse_message(&r[..r.len() - 3], 64).unwrap_err();
        assert!(matches!(e, DnsError::Truncated { .. }), "{e}");
        assert!(e.to_string().contains("offset"));
    }

    #[test]
    fn record_cap_counts_drops() {
        let mut m = b"\x00\x01\x01\x00\x00\x03\x00\x00\x00\x00\x00\x00".to_vec();
        for _ in 0..3 {
            m.extend_from_slice(b"\x01a\x00\x00\x01\x00\x01");
        }
        let p = parse_message(&m, 2).unwrap();
        assert_eq!(p.queries.len(), 2);
        assert_eq!(p.dropped_records, 1);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let _ = parse_message(&data, 8);
            let _ = looks_like_dns(&data);
            let _ = looks_like_dns_tcp(&data);
        }
    }
}
