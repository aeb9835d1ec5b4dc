//! The classic libpcap format: pure parsers for its file header and packet
//! record headers (draft-ietf-opsawg-pcap), plus the time conversion.
//!
//! The reader in `reader.rs` does the I/O; everything here works on byte
//! slices and never panics.

use nom::number::complete::{i32 as nom_i32, u16 as nom_u16, u32 as nom_u32};
use nom::number::Endianness;
use nom::IResult;

use super::LinkType;
use crate::time::Timestamp;

/// Length of the pcap file header.
pub(crate) const FILE_HEADER_LEN: usize = 24;
/// Length of a standard packet record header.
pub(crate) const RECORD_HEADER_LEN: usize = 16;
/// Length of a packet record header in Alexey Kuznetzov's modified format.
pub(crate) const MODIFIED_RECORD_HEADER_LEN: usize = 24;

/// The format a capture's first four bytes announce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Magic {
    /// Classic pcap.
    Pcap {
        /// Byte order of every header field.
        endian: Endianness,
        /// Sub-second field in nanoseconds (else microseconds).
        nanos: bool,
        /// Kuznetzov's modified pcap: 8 more bytes per record header.
        modified: bool,
    },
    /// pcapng (the first block is a section header block).
    Pcapng,
}

/// Recognizes the magic number at the start of a capture.
pub(crate) fn detect(magic: [u8; 4]) -> Option<Magic> {
    let pcap = |endian, nanos, modified| {
        Some(Magic::Pcap {
            endian,
            nanos,
            modified,
        })
    };
    match u32::from_be_bytes(magic) {
        0xa1b2_c3d4 => pcap(Endianness::Big, false, false),
        0xd4c3_b2a1 => pcap(Endianness::Little, false, false),
        0xa1b2_3c4d => pcap(Endianness::Big, true, false),
        0x4d3c_b2a1 => pcap(Endianness::Little, true, false),
        0xa1b2_cd34 => pcap(Endianness::Big, false, true),
        0x34cd_b2a1 => pcap(Endianness::Little, false, true),
        0x0a0d_0d0a => Some(Magic::Pcapng),
        _ => None,
    }
}

/// The pcap file header, after the magic number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FileHeader {
    /// Major version (2 in every capture ever written).
    pub version_major: u16,
    /// Minor version (4).
    pub version_minor: u16,
    /// Snapshot length.
    pub snaplen: u32,
    /// Link type of every packet in the file.
    pub linktype: LinkType,
    /// Bytes of frame check sequence at the end of each packet, when the
    /// header says so (the F bit, 26, and the FCS length in bits 28-31).
    pub fcs_len: Option<u8>,
}

/// Bits of the link-type field that hold the link type proper (libpcap's
/// `LT_LINKTYPE`); above them are the FCS flag and length.
const LINKTYPE_MASK: u32 = 0x03ff_ffff;
/// The F bit: the FCS length field is valid.
const FCS_PRESENT: u32 = 0x0400_0000;

/// Parses the 24-byte file header (magic included; its byte order is given).
pub(crate) fn file_header(endian: Endianness) -> impl Fn(&[u8]) -> IResult<&[u8], FileHeader> {
    move |i| {
        let (i, _magic) = nom::bytes::complete::take(4usize)(i)?;
        let (i, version_major) = nom_u16(endian)(i)?;
        let (i, version_minor) = nom_u16(endian)(i)?;
        let (i, _thiszone) = nom_i32(endian)(i)?;
        let (i, _sigfigs) = nom_u32(endian)(i)?;
        let (i, snaplen) = nom_u32(endian)(i)?;
        let (i, network) = nom_u32(endian)(i)?;
        let fcs_len = if network & FCS_PRESENT != 0 {
            // The field counts 16-bit words.
            Some(((network >> 28) as u8).saturating_mul(2))
        } else {
            None
        };
        Ok((
            i,
            FileHeader {
                version_major,
                version_minor,
                snaplen,
                linktype: LinkType::from_u32(network & LINKTYPE_MASK),
                fcs_len,
            },
        ))
    }
}

/// A packet record header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RecordHeader {
    /// Seconds since the epoch.
    pub ts_sec: u32,
    /// Microseconds or nanoseconds, per the magic.
    pub ts_frac: u32,
    /// Bytes of packet data that follow.
    pub caplen: u32,
    /// Length of the packet on the wire.
    pub orig_len: u32,
}

/// Parses a 16-byte record header (the extra 8 bytes of the modified format
/// are left to the caller to skip).
#[inline]
pub(crate) fn record_header(i: &[u8], endian: Endianness) -> IResult<&[u8], RecordHeader> {
    let (i, ts_sec) = nom_u32(endian)(i)?;
    let (i, ts_frac) = nom_u32(endian)(i)?;
    let (i, caplen) = nom_u32(endian)(i)?;
    let (i, orig_len) = nom_u32(endian)(i)?;
    Ok((
        i,
        RecordHeader {
            ts_sec,
            ts_frac,
            caplen,
            orig_len,
        },
    ))
}

/// The exact time of a record. The seconds field is read as unsigned (as
/// libpcap does, good until 2106); an out-of-range sub-second field (a
/// writer bug) is added as it stands rather than rejected, and cannot
/// overflow an `i64` of nanoseconds.
#[inline]
pub(crate) fn timestamp(ts_sec: u32, ts_frac: u32, nanos: bool) -> Timestamp {
    let frac_ns = if nanos {
        i64::from(ts_frac)
    } else {
        i64::from(ts_frac) * 1000
    };
    Timestamp(i64::from(ts_sec) * Timestamp::NANOS_PER_SEC + frac_ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header_bytes(magic: u32, big: bool, network: u32) -> Vec<u8> {
        let mut v = Vec::new();
        let put16 = |v: &mut Vec<u8>, x: u16| {
            v.extend_from_slice(&if big {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            })
        };
        let put32 = |v: &mut Vec<u8>, x: u32| {
            v.extend_from_slice(&if big {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            })
        };
        put32(&mut v, magic);
        put16(&mut v, 2);
        put16(&mut v, 4);
        put32(&mut v, 0);
        put32(&mut v, 0);
        put32(&mut v, 65535);
        put32(&mut v, network);
        v
    }

    #[test]
    fn detects_every_magic() {
        for (magic, nanos, modified) in [
            (0xa1b2_c3d4u32, false, false),
            (0xa1b2_3c4d, true, false),
            (0xa1b2_cd34, false, true),
        ] {
            assert_eq!(
                detect(magic.to_be_bytes()),
                Some(Magic::Pcap {
                    endian: Endianness::Big,
                    nanos,
                    modified
                })
            );
            assert_eq!(
                detect(magic.to_le_bytes()),
                Some(Magic::Pcap {
                    endian: Endianness::Little,
                    nanos,
                    modified
                })
            );
        }
        assert_eq!(detect([0x0a, 0x0d, 0x0d, 0x0a]), Some(Magic::Pcapng));
        assert_eq!(detect(*b"GET "), None);
        assert_eq!(detect([0; 4]), None);
    }

    #[test]
    fn parses_file_header_both_orders() {
        for big in [false, true] {
            let b = header_bytes(0xa1b2_c3d4, big, 1);
            let e = if big {
                Endianness::Big
            } else {
                Endianness::Little
            };
            let (rest, h) = file_header(e)(&b).unwrap();
            assert!(rest.is_empty());
            assert_eq!(h.version_major, 2);
            assert_eq!(h.version_minor, 4);
            assert_eq!(h.snaplen, 65535);
            assert_eq!(h.linktype, LinkType::Ethernet);
            assert_eq!(h.fcs_len, None);
        }
    }

    #[test]
    fn masks_fcs_bits_of_linktype() {
        // F bit set, FCS length 2 words (4 bytes), Ethernet.
        let network = (2u32 << 28) | FCS_PRESENT | 1;
        let b = header_bytes(0xa1b2_c3d4, false, network);
        let (_, h) = file_header(Endianness::Little)(&b).unwrap();
        assert_eq!(h.linktype, LinkType::Ethernet);
        assert_eq!(h.fcs_len, Some(4));
        // Length bits without the F bit are ignored.
        let b = header_bytes(0xa1b2_c3d4, false, (2u32 << 28) | 113);
        let (_, h) = file_header(Endianness::Little)(&b).unwrap();
        assert_eq!(h.linktype, LinkType::LinuxSll);
        assert_eq!(h.fcs_len, None);
    }

    #[test]
    fn short_header_is_an_error_not_a_panic() {
        let b = header_bytes(0xa1b2_c3d4, false, 1);
        for n in 0..b.len() {
            assert!(file_header(Endianness::Little)(&b[..n]).is_err());
        }
        for n in 0..RECORD_HEADER_LEN {
            assert!(record_header(&b[..n], Endianness::Big).is_err());
        }
    }

    #[test]
    fn record_header_fields() {
        let mut b = Vec::new();
        for x in [1_793_667_635u32, 22_134, 60, 1514] {
            b.extend_from_slice(&x.to_be_bytes());
        }
        let (_, r) = record_header(&b, Endianness::Big).unwrap();
        assert_eq!(
            r,
            RecordHeader {
                ts_sec: 1_793_667_635,
                ts_frac: 22_134,
                caplen: 60,
                orig_len: 1514
            }
        );
    }

    #[test]
    fn timestamps_are_exact() {
        assert_eq!(
            timestamp(1_793_667_635, 22_134, false),
            Timestamp::from_secs_micros(1_793_667_635, 22_134)
        );
        assert_eq!(
            timestamp(1_793_667_635, 22_134_567, true),
            Timestamp::from_secs_nanos(1_793_667_635, 22_134_567)
        );
        // Extremes do not overflow.
        assert_eq!(
            timestamp(u32::MAX, u32::MAX, false).0,
            i64::from(u32::MAX) * 1_000_000_000 + i64::from(u32::MAX) * 1000
        );
    }
}
