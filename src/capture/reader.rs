//! [`CaptureReader`]: one streaming reader for pcap and pcapng captures.

use std::fs::File;
use std::io::Read;
use std::ops::Range;
use std::path::Path;

use nom::number::Endianness;

use super::input::{Input, BUF_SIZE};
use super::pcap::{self, Magic};
use super::pcapng::{self, InterfaceDesc};
use super::{CaptureError, LinkType, PacketRef};
use crate::time::Timestamp;

/// Largest captured length accepted for one packet: 256 KiB, libpcap's
/// largest snapshot length. Anything longer is a corrupt header.
pub const MAX_CAPLEN: u32 = 256 * 1024;

/// Largest pcapng block accepted: 16 MiB (as Wireshark's limit).
pub const MAX_BLOCK_LEN: u32 = 16 * 1024 * 1024;

/// Most interfaces one pcapng section may describe.
pub const MAX_INTERFACES: usize = 4096;

/// The format of a capture file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CaptureFormat {
    /// Classic pcap with microsecond timestamps.
    PcapMicros,
    /// Classic pcap with nanosecond timestamps.
    PcapNanos,
    /// Kuznetzov's modified pcap (microseconds, longer record headers).
    PcapModified,
    /// pcapng.
    Pcapng,
}

/// Reads packets one at a time from a pcap or pcapng capture.
///
/// The format is told by the magic number; the input is read through a
/// 1 MiB window, never whole, and each packet is handed out as a
/// [`PacketRef`] borrowing that window (no allocation per packet).
///
/// After an error, [`CaptureReader::next_packet`] returns `Ok(None)`: the
/// caller keeps what it got before and reports the error.
///
/// pcapng specifics: `PacketRef::interface` is the index of the IDB within
/// its section (a new section forgets the previous interfaces); a Simple
/// Packet Block carries no time and gets that of the previous packet (the
/// epoch before any); blocks other than SHB, IDB, EPB, SPB and PB (name
/// resolution, statistics, decryption secrets, custom) are skipped unread.
///
/// ```no_run
/// # use zoneguard::capture::CaptureReader;
/// let mut r = CaptureReader::open(std::path::Path::new("in.pcap"))?;
/// while let Some(p) = r.next_packet()? {
///     println!("{} {} bytes", p.ts, p.data.len());
/// }
/// # Ok::<(), zoneguard::capture::CaptureError>(())
/// ```
pub struct CaptureReader {
    name: String,
    input: Input,
    format: Format,
    packets: u64,
    finished: bool,
}

enum Format {
    Pcap(PcapFile),
    Pcapng(Section),
}

/// What a pcap file header fixes for all its records.
struct PcapFile {
    endian: Endianness,
    nanos: bool,
    record_header_len: usize,
    linktype: LinkType,
    fcs_len: Option<u8>,
    modified: bool,
}

/// The state of the current pcapng section.
struct Section {
    endian: Endianness,
    interfaces: Vec<InterfaceDesc>,
    /// Time of the last timestamped packet, given to Simple Packet Blocks
    /// (which carry none).
    last_ts: Timestamp,
}

/// A packet found in the buffer, before it is lent out.
struct Found {
    range: Range<usize>,
    ts: Timestamp,
    linktype: LinkType,
    orig_len: u32,
    interface: u32,
}

impl std::fmt::Debug for CaptureReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureReader")
            .field("name", &self.name)
            .field("format", &self.format())
            .field("offset", &self.offset())
            .field("packets", &self.packets)
            .finish()
    }
}

impl CaptureReader {
    /// Opens a capture file; the reader's name is the path as given.
    pub fn open(path: &Path) -> Result<Self, CaptureError> {
        let name = path.display().to_string();
        match File::open(path) {
            Ok(f) => Self::from_reader(name, f),
            Err(source) => Err(CaptureError::Io {
                file: name,
                offset: 0,
                source,
            }),
        }
    }

    /// Reads a capture from any byte stream; `name` is used in errors.
    /// Reads and checks the file header (pcap) or first section header
    /// (pcapng).
    pub fn from_reader(
        name: impl Into<String>,
        r: impl Read + Send + 'static,
    ) -> Result<Self, CaptureError> {
        let name = name.into();
        let mut input = Input::new(Box::new(r), BUF_SIZE);
        let io_err = |name: &str, source| CaptureError::Io {
            file: name.to_owned(),
            offset: 0,
            source,
        };
        let have = input.fill(4).map_err(|e| io_err(&name, e))?;
        if have == 0 {
            return Err(CaptureError::Empty { file: name });
        }
        let magic: [u8; 4] = match input.available().get(..4).map(<[u8; 4]>::try_from) {
            Some(Ok(m)) => m,
            _ => {
                return Err(CaptureError::TruncatedHeader {
                    file: name,
                    offset: 0,
                    what: "file magic",
                    needed: 4,
                    available: have as u64,
                })
            }
        };
        let format = match pcap::detect(magic) {
            None => return Err(CaptureError::BadMagic { file: name, magic }),
            Some(Magic::Pcap {
                endian,
                nanos,
                modified,
            }) => {
                let have = input
                    .fill(pcap::FILE_HEADER_LEN)
                    .map_err(|e| io_err(&name, e))?;
                let Ok((_, h)) = pcap::file_header(endian)(input.available()) else {
                    return Err(CaptureError::TruncatedHeader {
                        file: name,
                        offset: 0,
                        what: "pcap file header",
                        needed: pcap::FILE_HEADER_LEN as u64,
                        available: have as u64,
                    });
                };
                input.consume(pcap::FILE_HEADER_LEN);
                Format::Pcap(PcapFile {
                    endian,
                    nanos,
                    record_header_len: if modified {
                        pcap::MODIFIED_RECORD_HEADER_LEN
                    } else {
                        pcap::RECORD_HEADER_LEN
                    },
                    linktype: h.linktype,
                    fcs_len: h.fcs_len,
                    modified,
                })
            }
            Some(Magic::Pcapng) => {
                let mut section = Section {
                    endian: Endianness::Little,
                    interfaces: Vec::new(),
                    last_ts: Timestamp::default(),
                };
                read_section_header(&mut input, &mut section, &name)?;
                Format::Pcapng(section)
            }
        };
        Ok(CaptureReader {
            name,
            input,
            format,
            packets: 0,
            finished: false,
        })
    }

    /// The next packet, `Ok(None)` at the clean end of the capture (and
    /// after an error). The packet borrows the reader until the next call.
    #[inline]
    pub fn next_packet(&mut self) -> Result<Option<PacketRef<'_>>, CaptureError> {
        if self.finished {
            return Ok(None);
        }
        let found = match &mut self.format {
            Format::Pcap(f) => next_pcap(&mut self.input, f, &self.name),
            Format::Pcapng(s) => next_pcapng(&mut self.input, s, &self.name),
        };
        match found {
            Ok(Some(p)) => {
                self.packets += 1;
                Ok(Some(PacketRef {
                    ts: p.ts,
                    linktype: p.linktype,
                    data: self.input.slice(p.range),
                    orig_len: p.orig_len,
                    interface: p.interface,
                }))
            }
            Ok(None) => {
                self.finished = true;
                Ok(None)
            }
            Err(e) => {
                self.finished = true;
                Err(e)
            }
        }
    }

    /// Byte offset of the next record in the capture.
    pub fn offset(&self) -> u64 {
        self.input.offset()
    }

    /// Packets returned so far.
    pub fn packets_read(&self) -> u64 {
        self.packets
    }

    /// The capture's name (its path, for [`CaptureReader::open`]).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The capture's format.
    pub fn format(&self) -> CaptureFormat {
        match &self.format {
            Format::Pcap(f) if f.modified => CaptureFormat::PcapModified,
            Format::Pcap(f) if f.nanos => CaptureFormat::PcapNanos,
            Format::Pcap(_) => CaptureFormat::PcapMicros,
            Format::Pcapng(_) => CaptureFormat::Pcapng,
        }
    }

    /// For a pcap file whose header says its frames end in a frame check
    /// sequence, that sequence's length in bytes (the decoder strips it).
    pub fn fcs_len(&self) -> Option<u8> {
        match &self.format {
            Format::Pcap(f) => f.fcs_len,
            Format::Pcapng(_) => None,
        }
    }
}

fn io_error(name: &str, offset: u64) -> impl FnOnce(std::io::Error) -> CaptureError + '_ {
    move |source| CaptureError::Io {
        file: name.to_owned(),
        offset,
        source,
    }
}

/// The next record of a pcap file.
#[inline]
fn next_pcap(input: &mut Input, f: &PcapFile, name: &str) -> Result<Option<Found>, CaptureError> {
    let offset = input.offset();
    let hlen = f.record_header_len;
    let have = input.fill(hlen).map_err(io_error(name, offset))?;
    if have == 0 {
        return Ok(None);
    }
    let truncated_header = || CaptureError::TruncatedHeader {
        file: name.to_owned(),
        offset,
        what: "packet record header",
        needed: hlen as u64,
        available: have as u64,
    };
    if have < hlen {
        return Err(truncated_header());
    }
    let (_, h) =
        pcap::record_header(input.available(), f.endian).map_err(|_| truncated_header())?;
    if h.caplen > MAX_CAPLEN {
        return Err(CaptureError::AbsurdCaplen {
            file: name.to_owned(),
            offset,
            caplen: h.caplen,
            limit: MAX_CAPLEN,
        });
    }
    // caplen <= 256 KiB: no overflow.
    let caplen = h.caplen as usize;
    let total = hlen + caplen;
    let have = input.fill(total).map_err(io_error(name, offset))?;
    if have < total {
        return Err(CaptureError::TruncatedRecord {
            file: name.to_owned(),
            offset,
            what: "packet record",
            needed: caplen as u64,
            available: have.saturating_sub(hlen) as u64,
        });
    }
    let start = input.pos() + hlen;
    input.consume(total);
    Ok(Some(Found {
        range: start..start + caplen,
        ts: pcap::timestamp(h.ts_sec, h.ts_frac, f.nanos),
        linktype: f.linktype,
        orig_len: h.orig_len,
        interface: 0,
    }))
}

/// The next packet of a pcapng stream, reading past the blocks before it.
fn next_pcapng(
    input: &mut Input,
    s: &mut Section,
    name: &str,
) -> Result<Option<Found>, CaptureError> {
    loop {
        let offset = input.offset();
        let have = input.fill(8).map_err(io_error(name, offset))?;
        if have == 0 {
            return Ok(None);
        }
        if have < 8 {
            return Err(CaptureError::TruncatedHeader {
                file: name.to_owned(),
                offset,
                what: "pcapng block header",
                needed: 8,
                available: have as u64,
            });
        }
        let head = input.available();
        if head.get(..4) == Some(&pcapng::SHB_TYPE[..]) {
            read_section_header(input, s, name)?;
            continue;
        }
        let btype = pcapng::u32_at(head, 0, s.endian).unwrap_or_default();
        let blen = pcapng::u32_at(head, 4, s.endian).unwrap_or_default();
        check_block_len(blen, offset, name)?;
        match btype {
            pcapng::EPB_TYPE | pcapng::PB_TYPE | pcapng::SPB_TYPE => {
                let body = read_block(input, blen, s.endian, name)?;
                let found = packet_block(input, s, btype, body, name, offset)?;
                input.consume(blen as usize);
                return Ok(Some(found));
            }
            pcapng::IDB_TYPE => {
                let body = read_block(input, blen, s.endian, name)?;
                let desc =
                    pcapng::interface_desc(input.slice(body), s.endian).map_err(|reason| {
                        CaptureError::MalformedBlock {
                            file: name.to_owned(),
                            offset,
                            block: "IDB",
                            reason,
                        }
                    })?;
                if s.interfaces.len() >= MAX_INTERFACES {
                    return Err(CaptureError::TooManyInterfaces {
                        file: name.to_owned(),
                        offset,
                        limit: MAX_INTERFACES as u32,
                    });
                }
                s.interfaces.push(desc);
                input.consume(blen as usize);
            }
            _ => skip_block(input, blen, s.endian, name)?,
        }
    }
}

/// Checks a block's total length before anything is read on its word.
fn check_block_len(blen: u32, offset: u64, name: &str) -> Result<(), CaptureError> {
    let reason = if blen < pcapng::MIN_BLOCK_LEN {
        "shorter than the 12 bytes of block framing"
    } else if blen % 4 != 0 {
        "not a multiple of 4"
    } else if blen > MAX_BLOCK_LEN {
        "larger than the 16 MiB limit"
    } else {
        return Ok(());
    };
    Err(CaptureError::BadBlockLength {
        file: name.to_owned(),
        offset,
        length: blen,
        reason,
    })
}

/// Buffers a whole block (length already checked), checks its trailing
/// length, and returns where its body lies in the buffer. Does not consume.
fn read_block(
    input: &mut Input,
    blen: u32,
    endian: Endianness,
    name: &str,
) -> Result<Range<usize>, CaptureError> {
    let offset = input.offset();
    let len = blen as usize;
    let have = input.fill(len).map_err(io_error(name, offset))?;
    if have < len {
        return Err(CaptureError::TruncatedRecord {
            file: name.to_owned(),
            offset,
            what: "pcapng block",
            needed: u64::from(blen),
            available: have as u64,
        });
    }
    let block = input.available();
    check_trailer(block, len - 4, blen, offset, name, endian)?;
    let start = input.pos();
    Ok(start + 8..start + len - 4)
}

fn check_trailer(
    block: &[u8],
    at: usize,
    blen: u32,
    offset: u64,
    name: &str,
    endian: Endianness,
) -> Result<(), CaptureError> {
    let trailing = pcapng::u32_at(block, at, endian).unwrap_or_default();
    if trailing == blen {
        Ok(())
    } else {
        Err(CaptureError::BlockTrailerMismatch {
            file: name.to_owned(),
            offset,
            leading: blen,
            trailing,
        })
    }
}

/// Reads past a block the reader has no use for, without buffering it.
fn skip_block(
    input: &mut Input,
    blen: u32,
    endian: Endianness,
    name: &str,
) -> Result<(), CaptureError> {
    let offset = input.offset();
    let truncated = |available: u64| CaptureError::TruncatedRecord {
        file: name.to_owned(),
        offset,
        what: "pcapng block",
        needed: u64::from(blen),
        available,
    };
    input.consume(8);
    let body = u64::from(blen) - 12;
    let skipped = input.skip(body).map_err(io_error(name, offset))?;
    if skipped < body {
        return Err(truncated(8 + skipped));
    }
    let have = input.fill(4).map_err(io_error(name, offset))?;
    if have < 4 {
        return Err(truncated(8 + body + have as u64));
    }
    check_trailer(input.available(), 0, blen, offset, name, endian)?;
    input.consume(4);
    Ok(())
}

/// Reads a Section Header Block at the current offset: learns the byte
/// order, checks the version and forgets the previous section's interfaces.
fn read_section_header(input: &mut Input, s: &mut Section, name: &str) -> Result<(), CaptureError> {
    let offset = input.offset();
    let have = input.fill(12).map_err(io_error(name, offset))?;
    let head = input.available();
    let bom: Option<[u8; 4]> = head.get(8..12).and_then(|b| b.try_into().ok());
    let Some(bom) = bom else {
        return Err(CaptureError::TruncatedHeader {
            file: name.to_owned(),
            offset,
            what: "pcapng section header",
            needed: 12,
            available: have as u64,
        });
    };
    let malformed = |reason| CaptureError::MalformedBlock {
        file: name.to_owned(),
        offset,
        block: "SHB",
        reason,
    };
    let endian = pcapng::byte_order(bom)
        .ok_or_else(|| malformed("byte-order magic is neither 1a2b3c4d nor 4d3c2b1a"))?;
    let blen = pcapng::u32_at(head, 4, endian).unwrap_or_default();
    check_block_len(blen, offset, name)?;
    if blen < pcapng::MIN_SHB_LEN {
        return Err(CaptureError::BadBlockLength {
            file: name.to_owned(),
            offset,
            length: blen,
            reason: "shorter than a section header block (28 bytes)",
        });
    }
    let body = read_block(input, blen, endian, name)?;
    let (_, h) = pcapng::section_header(input.slice(body), endian)
        .map_err(|_| malformed("body shorter than its fixed fields"))?;
    if h.major != 1 {
        return Err(malformed("unsupported major version (only 1 exists)"));
    }
    s.endian = endian;
    s.interfaces.clear();
    input.consume(blen as usize);
    Ok(())
}

/// Decodes an EPB, PB or SPB whose body is `body` in the buffer.
fn packet_block(
    input: &Input,
    s: &mut Section,
    btype: u32,
    body: Range<usize>,
    name: &str,
    offset: u64,
) -> Result<Found, CaptureError> {
    let bytes = input.slice(body.clone());
    let known = s.interfaces.len() as u32;
    let unknown = |block, interface| CaptureError::UnknownInterface {
        file: name.to_owned(),
        offset,
        block,
        interface,
        known,
    };
    let malformed = |block| CaptureError::MalformedBlock {
        file: name.to_owned(),
        offset,
        block,
        reason: "body shorter than its fixed fields",
    };
    let absurd = |caplen| CaptureError::AbsurdCaplen {
        file: name.to_owned(),
        offset,
        caplen,
        limit: MAX_CAPLEN,
    };
    if btype == pcapng::SPB_TYPE {
        let (_, orig_len) = pcapng::simple_packet(bytes, s.endian).map_err(|_| malformed("SPB"))?;
        let iface = s.interfaces.first().ok_or_else(|| unknown("SPB", 0))?;
        let room = bytes.len().saturating_sub(pcapng::SIMPLE_FIXED_LEN) as u32;
        let mut caplen = orig_len.min(room);
        if iface.snaplen != 0 {
            caplen = caplen.min(iface.snaplen);
        }
        if caplen > MAX_CAPLEN {
            return Err(absurd(caplen));
        }
        let start = body.start + pcapng::SIMPLE_FIXED_LEN;
        return Ok(Found {
            range: start..start + caplen as usize,
            ts: s.last_ts,
            linktype: iface.linktype,
            orig_len,
            interface: 0,
        });
    }
    let (block, parsed) = if btype == pcapng::EPB_TYPE {
        ("EPB", pcapng::enhanced_packet(bytes, s.endian))
    } else {
        ("PB", pcapng::obsolete_packet(bytes, s.endian))
    };
    let (_, h) = parsed.map_err(|_| malformed(block))?;
    let iface = s
        .interfaces
        .get(h.interface as usize)
        .ok_or_else(|| unknown(block, h.interface))?;
    if h.caplen > MAX_CAPLEN {
        return Err(absurd(h.caplen));
    }
    let room = bytes.len().saturating_sub(pcapng::PACKET_FIXED_LEN) as u32;
    if h.caplen > room {
        return Err(CaptureError::CaplenExceedsBlock {
            file: name.to_owned(),
            offset,
            block,
            caplen: h.caplen,
            room,
        });
    }
    let ts = pcapng::timestamp(h.ts, iface.tsresol, iface.tsoffset);
    s.last_ts = ts;
    let start = body.start + pcapng::PACKET_FIXED_LEN;
    Ok(Found {
        range: start..start + h.caplen as usize,
        ts,
        linktype: iface.linktype,
        orig_len: h.orig_len,
        interface: h.interface,
    })
}

#[cfg(test)]
mod tests;
