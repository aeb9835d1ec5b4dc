//! Errors of the capture readers.
//!
//! Every variant names the file and, where there is one, the byte offset of
//! the bad record, so an operator can open the capture in a hex editor (or
//! `editcap`) at the right place.

use std::io;

/// What went wrong reading a pcap or pcapng capture.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    /// The file could not be opened or read.
    #[error("file {file}: read error at byte {offset}: {source}")]
    Io {
        /// Name of the capture.
        file: String,
        /// Byte offset of the record being read.
        offset: u64,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },

    /// The file holds no bytes at all.
    #[error("file {file}: empty file (0 bytes), not a pcap or pcapng capture")]
    Empty {
        /// Name of the capture.
        file: String,
    },

    /// The first four bytes are neither a pcap nor a pcapng magic number.
    #[error(
        "file {file}: bad magic {:02x} {:02x} {:02x} {:02x} at byte 0: not a pcap or pcapng capture",
        magic[0], magic[1], magic[2], magic[3]
    )]
    BadMagic {
        /// Name of the capture.
        file: String,
        /// The four bytes found.
        magic: [u8; 4],
    },

    /// A fixed-size header (file header, record header, block header) is cut
    /// short by the end of the file.
    #[error("file {file}: truncated {what} at byte {offset}: {needed} bytes needed, {available} available")]
    TruncatedHeader {
        /// Name of the capture.
        file: String,
        /// Byte offset where the header starts.
        offset: u64,
        /// Which header (`pcap file header`, `packet record header`, ...).
        what: &'static str,
        /// Bytes the header needs.
        needed: u64,
        /// Bytes left in the file.
        available: u64,
    },

    /// A record (pcap packet record or pcapng block) is longer than what is
    /// left in the file.
    #[error("file {file}: truncated {what} at byte {offset}: header says {needed} bytes, {available} available")]
    TruncatedRecord {
        /// Name of the capture.
        file: String,
        /// Byte offset where the record starts.
        offset: u64,
        /// Which record (`packet record`, `pcapng block`).
        what: &'static str,
        /// Bytes the record's header announces (after the record header).
        needed: u64,
        /// Bytes actually left.
        available: u64,
    },

    /// A packet's captured length is beyond any sane snapshot length.
    #[error(
        "file {file}: absurd captured length at byte {offset}: {caplen} bytes (limit {limit})"
    )]
    AbsurdCaplen {
        /// Name of the capture.
        file: String,
        /// Byte offset of the record.
        offset: u64,
        /// The captured length found.
        caplen: u32,
        /// The largest accepted captured length.
        limit: u32,
    },

    /// A pcapng packet block's captured length does not fit in the block.
    #[error("file {file}: captured length {caplen} at byte {offset} exceeds the {room} bytes of its {block} block")]
    CaplenExceedsBlock {
        /// Name of the capture.
        file: String,
        /// Byte offset of the block.
        offset: u64,
        /// Block kind (`EPB`, `PB`).
        block: &'static str,
        /// The captured length found.
        caplen: u32,
        /// Room for packet data in the block.
        room: u32,
    },

    /// A pcapng block's total length is impossible.
    #[error("file {file}: bad pcapng block length {length} at byte {offset}: {reason}")]
    BadBlockLength {
        /// Name of the capture.
        file: String,
        /// Byte offset of the block.
        offset: u64,
        /// The length found.
        length: u32,
        /// Why it is wrong.
        reason: &'static str,
    },

    /// A pcapng block's trailing length differs from its leading one.
    #[error("file {file}: pcapng block at byte {offset}: leading length {leading} and trailing length {trailing} differ")]
    BlockTrailerMismatch {
        /// Name of the capture.
        file: String,
        /// Byte offset of the block.
        offset: u64,
        /// The block total length at the start of the block.
        leading: u32,
        /// The block total length at the end of the block.
        trailing: u32,
    },

    /// A pcapng block's body is inconsistent (bad option, wrong version, ...).
    #[error("file {file}: malformed pcapng {block} at byte {offset}: {reason}")]
    MalformedBlock {
        /// Name of the capture.
        file: String,
        /// Byte offset of the block.
        offset: u64,
        /// Block kind (`SHB`, `IDB`, ...).
        block: &'static str,
        /// What is wrong.
        reason: &'static str,
    },

    /// A pcapng packet block names an interface no IDB of its section
    /// described.
    #[error("file {file}: {block} at byte {offset} names interface {interface}, but the section has {known} interface(s)")]
    UnknownInterface {
        /// Name of the capture.
        file: String,
        /// Byte offset of the block.
        offset: u64,
        /// Block kind (`EPB`, `SPB`, `PB`).
        block: &'static str,
        /// The interface index named.
        interface: u32,
        /// How many interfaces the section has.
        known: u32,
    },

    /// A pcapng section describes more interfaces than the reader keeps.
    #[error("file {file}: IDB at byte {offset}: more than {limit} interfaces in one section")]
    TooManyInterfaces {
        /// Name of the capture.
        file: String,
        /// Byte offset of the block.
        offset: u64,
        /// The cap.
        limit: u32,
    },
}

impl CaptureError {
    /// The name of the capture the error is about.
    pub fn file(&self) -> &str {
        match self {
            CaptureError::Io { file, .. }
            | CaptureError::Empty { file }
            | CaptureError::BadMagic { file, .. }
            | CaptureError::TruncatedHeader { file, .. }
            | CaptureError::TruncatedRecord { file, .. }
            | CaptureError::AbsurdCaplen { file, .. }
            | CaptureError::CaplenExceedsBlock { file, .. }
            | CaptureError::BadBlockLength { file, .. }
            | CaptureError::BlockTrailerMismatch { file, .. }
            | CaptureError::MalformedBlock { file, .. }
            | CaptureError::UnknownInterface { file, .. }
            | CaptureError::TooManyInterfaces { file, .. } => file,
        }
    }

    /// The byte offset of the bad record (0 for file-level errors).
    pub fn offset(&self) -> u64 {
        match self {
            CaptureError::Empty { .. } | CaptureError::BadMagic { .. } => 0,
            CaptureError::Io { offset, .. }
            | CaptureError::TruncatedHeader { offset, .. }
            | CaptureError::TruncatedRecord { offset, .. }
            | CaptureError::AbsurdCaplen { offset, .. }
            | CaptureError::CaplenExceedsBlock { offset, .. }
            | CaptureError::BadBlockLength { offset, .. }
            | CaptureError::BlockTrailerMismatch { offset, .. }
            | CaptureError::MalformedBlock { offset, .. }
            | CaptureError::UnknownInterface { offset, .. }
            | CaptureError::TooManyInterfaces { offset, .. } => *offset,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_file_and_offset() {
        let e = CaptureError::TruncatedRecord {
            file: "x.pcap".into(),
            offset: 123_456,
            what: "packet record",
            needed: 1514,
            available: 800,
        };
        assert_eq!(
            e.to_string(),
            "file x.pcap: truncated packet record at byte 123456: header says 1514 bytes, 800 available"
        );
        assert_eq!(e.offset(), 123_456);
        assert_eq!(e.file(), "x.pcap");

        let e = CaptureError::BadMagic {
            file: "y".into(),
            magic: [0xde, 0xad, 0xbe, 0xef],
        };
        assert_eq!(
            e.to_string(),
            "file y: bad magic de ad be ef at byte 0: not a pcap or pcapng capture"
        );
        assert_eq!(e.offset(), 0);
    }
}
