//! [`PcapWriter`]: writes classic pcap files (little-endian, microsecond
//! timestamps), for tests and tools.

use std::io::{self, Write};

use super::LinkType;
use crate::time::Timestamp;

/// Writes a classic pcap capture: little-endian, microsecond timestamps,
/// one link type.
///
/// Every call writes straight to `W`; wrap a file in a `BufWriter`.
///
/// ```
/// use zoneguard::capture::{LinkType, PcapWriter};
/// use zoneguard::time::Timestamp;
/// let mut w = PcapWriter::new(Vec::new(), LinkType::Ethernet, 65535)?;
/// w.write_packet(Timestamp::from_secs_micros(1, 2), &[0u8; 60])?;
/// assert_eq!(w.into_inner().len(), 24 + 16 + 60);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    w: W,
    snaplen: u32,
    packets: u64,
}

/// The magic of a microsecond pcap, written little-endian.
const MAGIC_MICROS: u32 = 0xa1b2_c3d4;

impl<W: Write> PcapWriter<W> {
    /// Starts a capture on `w` by writing its file header. A `snaplen` of 0
    /// means no truncation (the header then says 262144).
    pub fn new(mut w: W, linktype: LinkType, snaplen: u32) -> io::Result<Self> {
        let mut h = [0u8; 24];
        let fields = [
            &MAGIC_MICROS.to_le_bytes()[..],
            &2u16.to_le_bytes(),
            &4u16.to_le_bytes(),
            &0i32.to_le_bytes(),
            &0u32.to_le_bytes(),
            &(if snaplen == 0 { 262_144 } else { snaplen }).to_le_bytes(),
            &linktype.to_u32().to_le_bytes(),
        ];
        let mut at = 0;
        for f in fields {
            if let Some(dst) = h.get_mut(at..at + f.len()) {
                dst.copy_from_slice(f);
            }
            at += f.len();
        }
        w.write_all(&h)?;
        Ok(PcapWriter {
            w,
            snaplen,
            packets: 0,
        })
    }

    /// Writes one packet, truncated to the snapshot length; its original
    /// length is `data.len()`.
    pub fn write_packet(&mut self, ts: Timestamp, data: &[u8]) -> io::Result<()> {
        let orig = u32::try_from(data.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "packet longer than 4 GiB"))?;
        self.write_packet_with_orig_len(ts, data, orig)
    }

    /// Writes one packet whose original length on the wire was `orig_len`
    /// (for already-truncated data), truncated to the snapshot length.
    ///
    /// Times before 1970 or after 2106 cannot be written in this format and
    /// give an `InvalidInput` error; sub-microsecond digits are dropped.
    pub fn write_packet_with_orig_len(
        &mut self,
        ts: Timestamp,
        data: &[u8],
        orig_len: u32,
    ) -> io::Result<()> {
        let secs = u32::try_from(ts.secs()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "timestamp outside 1970..2106, not representable in pcap",
            )
        })?;
        let mut caplen = data.len();
        if self.snaplen != 0 {
            caplen = caplen.min(self.snaplen as usize);
        }
        let caplen32 = u32::try_from(caplen)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "packet longer than 4 GiB"))?;
        let mut h = [0u8; 16];
        for (i, v) in [secs, ts.subsec_micros(), caplen32, orig_len]
            .into_iter()
            .enumerate()
        {
            if let Some(dst) = h.get_mut(i * 4..i * 4 + 4) {
                dst.copy_from_slice(&v.to_le_bytes());
            }
        }
        self.w.write_all(&h)?;
        self.w.write_all(data.get(..caplen).unwrap_or(data))?;
        self.packets += 1;
        Ok(())
    }

    /// Packets written so far.
    pub fn packets_written(&self) -> u64 {
        self.packets
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }

    /// The underlying writer (not flushed).
    pub fn into_inner(self) -> W {
        self.w
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_record_layout() {
        let mut w = PcapWriter::new(Vec::new(), LinkType::LinuxSll, 100).unwrap();
        w.write_packet(
            Timestamp::from_secs_nanos(1_793_667_635, 22_134_999),
            &[1, 2, 3],
        )
        .unwrap();
        assert_eq!(w.packets_written(), 1);
        let b = w.into_inner();
        assert_eq!(&b[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
        assert_eq!(&b[4..8], &[2, 0, 4, 0]);
        assert_eq!(&b[16..20], &100u32.to_le_bytes());
        assert_eq!(&b[20..24], &113u32.to_le_bytes());
        assert_eq!(&b[24..28], &1_793_667_635u32.to_le_bytes());
        assert_eq!(&b[28..32], &22_134u32.to_le_bytes());
        assert_eq!(&b[32..36], &3u32.to_le_bytes());
        assert_eq!(&b[36..40], &3u32.to_le_bytes());
        assert_eq!(&b[40..], &[1, 2, 3]);
    }

    #[test]
    fn truncates_to_snaplen_and_keeps_orig_len() {
        let mut w = PcapWriter::new(Vec::new(), LinkType::Ethernet, 4).unwrap();
        w.write_packet(Timestamp(0), &[9; 10]).unwrap();
        let b = w.into_inner();
        assert_eq!(&b[32..36], &4u32.to_le_bytes());
        assert_eq!(&b[36..40], &10u32.to_le_bytes());
        assert_eq!(b.len(), 24 + 16 + 4);
    }

    #[test]
    fn rejects_unrepresentable_times() {
        let mut w = PcapWriter::new(Vec::new(), LinkType::Ethernet, 0).unwrap();
        assert!(w.write_packet(Timestamp(-1), &[1]).is_err());
        assert!(w
            .write_packet(Timestamp::from_secs_nanos(1 << 33, 0), &[1])
            .is_err());
        assert_eq!(w.packets_written(), 0);
        assert_eq!(w.into_inner().len(), 24);
    }
}
