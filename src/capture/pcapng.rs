//! pcapng (draft-ietf-opsawg-pcapng): pure parsers for the bodies of the
//! blocks the reader understands, and the timestamp conversion.
//!
//! A block is `type (4) | total length (4) | body | total length (4)`; the
//! reader in `reader.rs` frames blocks and checks both lengths, then hands
//! the body (between the leading and the trailing length) to the parsers
//! here. Everything here works on byte slices and never panics.

use nom::bytes::complete::take;
use nom::number::complete::{i64 as nom_i64, u16 as nom_u16, u32 as nom_u32};
use nom::number::Endianness;
use nom::IResult;

use super::LinkType;
use crate::time::Timestamp;

/// Section Header Block. Its type reads the same in both byte orders.
pub(crate) const SHB_TYPE: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
/// Interface Description Block.
pub(crate) const IDB_TYPE: u32 = 1;
/// The obsolete Packet Block.
pub(crate) const PB_TYPE: u32 = 2;
/// Simple Packet Block.
pub(crate) const SPB_TYPE: u32 = 3;
/// Enhanced Packet Block.
pub(crate) const EPB_TYPE: u32 = 6;

/// Smallest possible block: type, two lengths, empty body.
pub(crate) const MIN_BLOCK_LEN: u32 = 12;
/// Smallest SHB: 12 bytes of framing plus magic, version and section length.
pub(crate) const MIN_SHB_LEN: u32 = 28;

/// The byte order a section header's byte-order magic announces.
pub(crate) fn byte_order(bom: [u8; 4]) -> Option<Endianness> {
    match bom {
        [0x1a, 0x2b, 0x3c, 0x4d] => Some(Endianness::Big),
        [0x4d, 0x3c, 0x2b, 0x1a] => Some(Endianness::Little),
        _ => None,
    }
}

/// Reads a `u32` at `at` of `b` in `endian` order, if there are 4 bytes.
#[inline]
pub(crate) fn u32_at(b: &[u8], at: usize, endian: Endianness) -> Option<u32> {
    let bytes: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(match endian {
        Endianness::Big => u32::from_be_bytes(bytes),
        _ => u32::from_le_bytes(bytes),
    })
}

/// The fixed part of a Section Header Block body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SectionHeader {
    /// Major version; only 1 exists.
    pub major: u16,
    /// Minor version (0).
    pub minor: u16,
}

/// Parses an SHB body (starting with the byte-order magic).
pub(crate) fn section_header(body: &[u8], endian: Endianness) -> IResult<&[u8], SectionHeader> {
    let (i, _bom) = take(4usize)(body)?;
    let (i, major) = nom_u16(endian)(i)?;
    let (i, minor) = nom_u16(endian)(i)?;
    let (i, _section_len) = nom_i64(endian)(i)?;
    Ok((i, SectionHeader { major, minor }))
}

/// How an interface's 64-bit timestamps count time (option `if_tsresol`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TsResol {
    /// Units of 10^-n seconds.
    Pow10(u8),
    /// Units of 2^-n seconds.
    Pow2(u8),
}

impl TsResol {
    /// Microseconds, the default when an IDB has no `if_tsresol`.
    pub const DEFAULT: TsResol = TsResol::Pow10(6);

    /// Decodes the option's single byte: the top bit picks base 2.
    pub fn from_byte(b: u8) -> TsResol {
        if b & 0x80 != 0 {
            TsResol::Pow2(b & 0x7f)
        } else {
            TsResol::Pow10(b)
        }
    }
}

/// The time of a packet: `raw` units of `resol` plus `offset_secs` seconds
/// (`if_tsoffset`), rounded down to the nanosecond and saturated to the
/// range of [`Timestamp`].
#[inline]
pub(crate) fn timestamp(raw: u64, resol: TsResol, offset_secs: i64) -> Timestamp {
    const NS: u128 = 1_000_000_000;
    let ns: u128 = match resol {
        // 2^64 * 10^9 < 2^94: no overflow.
        TsResol::Pow10(k) if k <= 9 => u128::from(raw) * 10u128.pow(u32::from(9 - k)),
        TsResol::Pow10(k) => match 10u128.checked_pow(u32::from(k - 9)) {
            Some(div) => u128::from(raw) / div,
            None => 0,
        },
        // k <= 127, so the shift is always in range.
        TsResol::Pow2(k) => (u128::from(raw) * NS) >> k,
    };
    // ns < 2^94 and |offset| * 10^9 < 2^94: the sum fits an i128.
    let total = ns as i128 + i128::from(offset_secs) * NS as i128;
    Timestamp(total.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
}

/// What the reader keeps of an Interface Description Block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct InterfaceDesc {
    /// Link type of the interface's packets.
    pub linktype: LinkType,
    /// Snapshot length (0: unlimited).
    pub snaplen: u32,
    /// Timestamp resolution.
    pub tsresol: TsResol,
    /// Seconds added to every timestamp.
    pub tsoffset: i64,
}

/// Option codes of an IDB the reader uses.
const OPT_ENDOFOPT: u16 = 0;
const IF_TSRESOL: u16 = 9;
const IF_TSOFFSET: u16 = 14;

/// Parses an IDB body: link type, reserved, snaplen, then options.
pub(crate) fn interface_desc(
    body: &[u8],
    endian: Endianness,
) -> Result<InterfaceDesc, &'static str> {
    let fixed = |i| -> IResult<&[u8], (u16, u32)> {
        let (i, linktype) = nom_u16(endian)(i)?;
        let (i, _reserved) = nom_u16(endian)(i)?;
        let (i, snaplen) = nom_u32(endian)(i)?;
        Ok((i, (linktype, snaplen)))
    };
    let (opts, (linktype, snaplen)) =
        fixed(body).map_err(|_| "block shorter than its fixed fields (8 bytes)")?;
    let mut desc = InterfaceDesc {
        linktype: LinkType::from_u32(u32::from(linktype)),
        snaplen,
        tsresol: TsResol::DEFAULT,
        tsoffset: 0,
    };
    for opt in Options::new(opts, endian) {
        let (code, value) = opt?;
        match code {
            IF_TSRESOL => {
                let b = match value {
                    [b] => *b,
                    _ => return Err("if_tsresol option is not 1 byte long"),
                };
                desc.tsresol = TsResol::from_byte(b);
            }
            IF_TSOFFSET => {
                let bytes: [u8; 8] = value
                    .try_into()
                    .map_err(|_| "if_tsoffset option is not 8 bytes long")?;
                desc.tsoffset = match endian {
                    Endianness::Big => i64::from_be_bytes(bytes),
                    _ => i64::from_le_bytes(bytes),
                };
            }
            _ => {}
        }
    }
    Ok(desc)
}

/// Iterates over the options of a block: `(code, value)` without padding,
/// until `opt_endofopt` or the end of the options area.
struct Options<'a> {
    rest: &'a [u8],
    endian: Endianness,
    done: bool,
}

impl<'a> Options<'a> {
    fn new(rest: &'a [u8], endian: Endianness) -> Self {
        Options {
            rest,
            endian,
            done: false,
        }
    }
}

impl<'a> Iterator for Options<'a> {
    type Item = Result<(u16, &'a [u8]), &'static str>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.rest.is_empty() {
            return None;
        }
        let header = |i| -> IResult<&'a [u8], (u16, u16)> {
            let (i, code) = nom_u16(self.endian)(i)?;
            let (i, len) = nom_u16(self.endian)(i)?;
            Ok((i, (code, len)))
        };
        let Ok((rest, (code, len))) = header(self.rest) else {
            self.done = true;
            return Some(Err("option header cut short by the end of the block"));
        };
        if code == OPT_ENDOFOPT {
            self.done = true;
            return None;
        }
        let len = usize::from(len);
        let padded = (len + 3) & !3;
        match (rest.get(..len), rest.get(padded..)) {
            (Some(value), Some(after)) => {
                self.rest = after;
                Some(Ok((code, value)))
            }
            _ => {
                self.done = true;
                Some(Err("option value runs past the end of the block"))
            }
        }
    }
}

/// The fixed fields of an Enhanced Packet Block (or of the obsolete Packet
/// Block, whose 16-bit interface id and drop count take the same room).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PacketHeader {
    /// Index of the interface in its section.
    pub interface: u32,
    /// Timestamp, in the interface's units.
    pub ts: u64,
    /// Bytes of packet data in the block.
    pub caplen: u32,
    /// Length of the packet on the wire.
    pub orig_len: u32,
}

/// Length of the fixed fields of an EPB or PB body; packet data follow.
pub(crate) const PACKET_FIXED_LEN: usize = 20;

/// Parses the fixed fields of an EPB body.
#[inline]
pub(crate) fn enhanced_packet(body: &[u8], endian: Endianness) -> IResult<&[u8], PacketHeader> {
    let (i, interface) = nom_u32(endian)(body)?;
    packet_rest(i, endian, interface)
}

/// Parses the fixed fields of an obsolete Packet Block body.
pub(crate) fn obsolete_packet(body: &[u8], endian: Endianness) -> IResult<&[u8], PacketHeader> {
    let (i, interface) = nom_u16(endian)(body)?;
    let (i, _drops) = nom_u16(endian)(i)?;
    packet_rest(i, endian, u32::from(interface))
}

#[inline]
fn packet_rest(i: &[u8], endian: Endianness, interface: u32) -> IResult<&[u8], PacketHeader> {
    let (i, ts_high) = nom_u32(endian)(i)?;
    let (i, ts_low) = nom_u32(endian)(i)?;
    let (i, caplen) = nom_u32(endian)(i)?;
    let (i, orig_len) = nom_u32(endian)(i)?;
    Ok((
        i,
        PacketHeader {
            interface,
            ts: (u64::from(ts_high) << 32) | u64::from(ts_low),
            caplen,
            orig_len,
        },
    ))
}

/// Length of the fixed field of a Simple Packet Block body.
pub(crate) const SIMPLE_FIXED_LEN: usize = 4;

/// Parses a Simple Packet Block body: the original length.
#[inline]
pub(crate) fn simple_packet(body: &[u8], endian: Endianness) -> IResult<&[u8], u32> {
    nom_u32(endian)(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opt(code: u16, value: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&code.to_le_bytes());
        v.extend_from_slice(&(value.len() as u16).to_le_bytes());
        v.extend_from_slice(value);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }

    #[test]
    fn byte_order_magic() {
        assert_eq!(byte_order([0x1a, 0x2b, 0x3c, 0x4d]), Some(Endianness::Big));
        assert_eq!(
            byte_order([0x4d, 0x3c, 0x2b, 0x1a]),
            Some(Endianness::Little)
        );
        assert_eq!(byte_order([0; 4]), None);
    }

    #[test]
    fn tsresol_decoding() {
        assert_eq!(TsResol::from_byte(6), TsResol::Pow10(6));
        assert_eq!(TsResol::from_byte(9), TsResol::Pow10(9));
        assert_eq!(TsResol::from_byte(0x80 | 20), TsResol::Pow2(20));
    }

    #[test]
    fn timestamp_conversion_is_exact() {
        let t = 1_793_667_635u64;
        assert_eq!(
            timestamp(t * 1_000_000 + 22_134, TsResol::Pow10(6), 0),
            Timestamp::from_secs_micros(1_793_667_635, 22_134)
        );
        assert_eq!(
            timestamp(t * 1_000_000_000 + 7, TsResol::Pow10(9), 0),
            Timestamp::from_secs_nanos(1_793_667_635, 7)
        );
        // Milliseconds.
        assert_eq!(
            timestamp(t * 1000 + 5, TsResol::Pow10(3), 0),
            Timestamp::from_secs_nanos(1_793_667_635, 5_000_000)
        );
        // Picoseconds round down.
        assert_eq!(
            timestamp(1000 * 1_000_000_000_000 + 1_999, TsResol::Pow10(12), 0),
            Timestamp::from_secs_nanos(1000, 1)
        );
        // 2^-20 s units: half a second is 2^19 units.
        assert_eq!(
            timestamp((t << 20) | (1 << 19), TsResol::Pow2(20), 0),
            Timestamp::from_secs_nanos(1_793_667_635, 500_000_000)
        );
        // Offset in seconds.
        assert_eq!(
            timestamp(5_000_000, TsResol::Pow10(6), 1_000),
            Timestamp::from_secs_nanos(1_005, 0)
        );
        // Negative offset before the epoch.
        assert_eq!(timestamp(0, TsResol::Pow10(6), -2).0, -2_000_000_000);
    }

    #[test]
    fn timestamp_saturates() {
        assert_eq!(timestamp(u64::MAX, TsResol::Pow10(0), 0).0, i64::MAX);
        assert_eq!(timestamp(0, TsResol::Pow10(6), i64::MIN).0, i64::MIN);
        assert_eq!(timestamp(u64::MAX, TsResol::Pow10(127), 0).0, 0);
        assert_eq!(timestamp(u64::MAX, TsResol::Pow2(127), 0).0, 0);
        assert_eq!(timestamp(u64::MAX, TsResol::Pow2(0), i64::MAX).0, i64::MAX);
    }

    #[test]
    fn idb_with_options() {
        let mut body = Vec::new();
        body.extend_from_slice(&113u16.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&262_144u32.to_le_bytes());
        body.extend(opt(2, b"eth0")); // if_name, ignored
        body.extend(opt(IF_TSRESOL, &[9]));
        body.extend(opt(IF_TSOFFSET, &(-5i64).to_le_bytes()));
        body.extend(opt(0, &[]));
        let d = interface_desc(&body, Endianness::Little).unwrap();
        assert_eq!(
            d,
            InterfaceDesc {
                linktype: LinkType::LinuxSll,
                snaplen: 262_144,
                tsresol: TsResol::Pow10(9),
                tsoffset: -5
            }
        );
    }

    #[test]
    fn idb_defaults_and_errors() {
        let mut body = vec![1, 0, 0, 0, 0, 0, 0, 0];
        let d = interface_desc(&body, Endianness::Little).unwrap();
        assert_eq!(d.linktype, LinkType::Ethernet);
        assert_eq!(d.tsresol, TsResol::DEFAULT);
        assert_eq!(d.tsoffset, 0);

        assert!(interface_desc(&body[..7], Endianness::Little).is_err());
        // An option claiming more bytes than the block holds.
        let mut bad = body.clone();
        bad.extend_from_slice(&[9, 0, 40, 0, 6, 0, 0, 0]);
        assert_eq!(
            interface_desc(&bad, Endianness::Little),
            Err("option value runs past the end of the block")
        );
        // tsresol of the wrong size.
        body.extend(opt(IF_TSRESOL, &[6, 6]));
        assert!(interface_desc(&body, Endianness::Little).is_err());
        // A cut option header.
        let mut cut = vec![1, 0, 0, 0, 0, 0, 0, 0];
        cut.extend_from_slice(&[9, 0]);
        assert!(interface_desc(&cut, Endianness::Little).is_err());
    }

    #[test]
    fn packet_headers() {
        let mut body = Vec::new();
        for x in [3u32, 1, 2, 60, 1514] {
            body.extend_from_slice(&x.to_be_bytes());
        }
        let (rest, h) = enhanced_packet(&body, Endianness::Big).unwrap();
        assert!(rest.is_empty());
        assert_eq!(
            h,
            PacketHeader {
                interface: 3,
                ts: (1 << 32) | 2,
                caplen: 60,
                orig_len: 1514
            }
        );
        let mut pb = vec![0, 2, 0, 9];
        pb.extend_from_slice(&body[4..]);
        let (_, h) = obsolete_packet(&pb, Endianness::Big).unwrap();
        assert_eq!(h.interface, 2);
        assert_eq!(h.caplen, 60);
        for n in 0..PACKET_FIXED_LEN {
            assert!(enhanced_packet(&body[..n], Endianness::Big).is_err());
        }
        assert_eq!(
            simple_packet(&[0, 0, 5, 0xdc], Endianness::Big).unwrap().1,
            1500
        );
        assert!(simple_packet(&[0, 0, 5], Endianness::Big).is_err());
    }

    #[test]
    fn section_header_fields() {
        let mut body = vec![0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0];
        body.extend_from_slice(&(-1i64).to_le_bytes());
        let (_, h) = section_header(&body, Endianness::Little).unwrap();
        assert_eq!(h, SectionHeader { major: 1, minor: 0 });
        assert!(section_header(&body[..15], Endianness::Little).is_err());
    }

    #[test]
    fn u32_at_bounds() {
        assert_eq!(u32_at(&[1, 0, 0, 0], 0, Endianness::Little), Some(1));
        assert_eq!(u32_at(&[1, 0, 0, 0], 1, Endianness::Little), None);
        assert_eq!(u32_at(&[], usize::MAX, Endianness::Little), None);
    }
}
