//! A streaming byte window over a capture.
//!
//! Like `BufReader`, but a record can be asked for whole: `fill(n)` makes
//! the next `n` bytes contiguous in one reused buffer (moving the unread
//! tail to the front when needed), so the readers hand out packet data as a
//! borrowed slice with exactly one copy, the one from the kernel. The buffer
//! starts at [`BUF_SIZE`] and only grows while a single record is larger
//! (pcapng blocks, capped at 16 MiB by the reader), shrinking back after, so
//! memory stays a few MiB whatever the size of the capture.

use std::io::{self, Read};
use std::ops::Range;

/// Initial size of the window: 1 MiB, enough for thousands of packets per
/// `read` call.
pub(crate) const BUF_SIZE: usize = 1 << 20;

/// A window over a byte stream, with the stream offset of its first byte.
pub(crate) struct Input {
    src: Box<dyn Read + Send>,
    buf: Vec<u8>,
    /// The size the buffer returns to after holding an oversized record.
    base: usize,
    /// Unread bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    /// Stream offset of `buf[start]`.
    offset: u64,
    eof: bool,
}

impl Input {
    /// A window of `capacity` bytes over `src`.
    pub fn new(src: Box<dyn Read + Send>, capacity: usize) -> Self {
        Input {
            src,
            buf: vec![0; capacity.max(64)],
            base: capacity.max(64),
            start: 0,
            end: 0,
            offset: 0,
            eof: false,
        }
    }

    /// Stream offset of the next unread byte.
    #[inline]
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Position of the next unread byte in the buffer (for [`Input::slice`]).
    #[inline]
    pub fn pos(&self) -> usize {
        self.start
    }

    /// The unread bytes currently buffered.
    #[inline]
    pub fn available(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or_default()
    }

    /// A range of the buffer, valid until the next `fill` or `skip`
    /// (consumed bytes stay in place until then).
    #[inline]
    pub fn slice(&self, range: Range<usize>) -> &[u8] {
        self.buf.get(range).unwrap_or_default()
    }

    /// Makes at least `n` unread bytes contiguous in the buffer, reading as
    /// much as fits. Returns how many are buffered: fewer than `n` only at
    /// the end of the stream.
    #[inline]
    pub fn fill(&mut self, n: usize) -> io::Result<usize> {
        let have = self.end - self.start;
        if have >= n || self.eof {
            return Ok(have);
        }
        self.fill_slow(n)
    }

    #[cold]
    fn fill_slow(&mut self, n: usize) -> io::Result<usize> {
        if self.buf.len() - self.start < n {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.buf.len() < n {
                self.buf.resize(n, 0);
            } else if self.buf.len() > self.base && n <= self.base && self.end <= self.base {
                // The oversized record is gone: give the memory back.
                self.buf.truncate(self.base);
                self.buf.shrink_to_fit();
            }
        }
        while self.end - self.start < n {
            let Some(room) = self.buf.get_mut(self.end..) else {
                break;
            };
            match self.src.read(room) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                // A misbehaving reader cannot claim more than it was given.
                Ok(k) => self.end = self.end.saturating_add(k).min(self.buf.len()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(self.end - self.start)
    }

    /// Marks `n` buffered bytes as read (at most what is buffered).
    #[inline]
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.end - self.start);
        self.start += n;
        self.offset += n as u64;
    }

    /// Reads past `n` bytes without keeping them. Returns how many were
    /// skipped: fewer than `n` only at the end of the stream.
    pub fn skip(&mut self, n: u64) -> io::Result<u64> {
        let mut skipped = 0u64;
        while skipped < n {
            let want = usize::try_from(n - skipped)
                .unwrap_or(usize::MAX)
                .min(self.buf.len());
            let got = self.fill(want)?;
            if got == 0 {
                break;
            }
            let take = got.min(want);
            self.consume(take);
            skipped += take as u64;
        }
        Ok(skipped)
    }

    /// Bytes the buffer currently holds room for.
    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A reader that returns at most `chunk` bytes per call, and an
    /// `Interrupted` error before each chunk.
    struct Trickle {
        data: Vec<u8>,
        pos: usize,
        chunk: usize,
        interrupt: bool,
    }

    impl Read for Trickle {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            self.interrupt = !self.interrupt;
            if self.interrupt {
                return Err(io::ErrorKind::Interrupted.into());
            }
            let n = self.chunk.min(out.len()).min(self.data.len() - self.pos);
            out[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    #[test]
    fn records_straddling_the_buffer_end_come_out_whole() {
        let data: Vec<u8> = (0..1000u32).map(|x| x as u8).collect();
        let src = Trickle {
            data: data.clone(),
            pos: 0,
            chunk: 7,
            interrupt: false,
        };
        let mut input = Input::new(Box::new(src), 64);
        let mut seen = Vec::new();
        // Records of 13 bytes never align with the 64-byte buffer.
        loop {
            let got = input.fill(13).unwrap();
            if got == 0 {
                break;
            }
            let take = got.min(13);
            let at = input.pos();
            assert_eq!(input.offset() as usize, seen.len());
            input.consume(take);
            seen.extend_from_slice(input.slice(at..at + take));
        }
        assert_eq!(seen, data);
        assert_eq!(input.capacity(), 64);
    }

    #[test]
    fn grows_for_a_large_record_only() {
        let data = vec![7u8; 500];
        let mut input = Input::new(Box::new(Cursor::new(data)), 64);
        assert_eq!(input.fill(300).unwrap(), 300.max(input.available().len()));
        assert!(input.available().len() >= 300);
        assert_eq!(input.capacity(), 300);
        input.consume(300);
        assert_eq!(input.offset(), 300);
        assert_eq!(input.fill(1000).unwrap(), 200);
        assert_eq!(input.fill(1000).unwrap(), 200);
    }

    #[test]
    fn shrinks_back_after_a_large_record() {
        let data: Vec<u8> = (0..2000u32).map(|x| x as u8).collect();
        let mut input = Input::new(Box::new(Cursor::new(data.clone())), 64);
        assert_eq!(input.fill(500).unwrap(), 500);
        assert_eq!(input.capacity(), 500);
        input.consume(500);
        let mut at = 500;
        while input.fill(10).unwrap() >= 10 {
            assert_eq!(input.available()[..10], data[at..at + 10]);
            input.consume(10);
            at += 10;
        }
        assert_eq!(at, 2000);
        assert_eq!(input.capacity(), 64);
    }

    #[test]
    fn skip_counts_and_stops_at_eof() {
        let data: Vec<u8> = (0..=255u8).collect();
        let mut input = Input::new(Box::new(Cursor::new(data)), 64);
        assert_eq!(input.skip(200).unwrap(), 200);
        assert_eq!(input.offset(), 200);
        input.fill(1).unwrap();
        assert_eq!(input.available().first(), Some(&200));
        assert_eq!(input.skip(1000).unwrap(), 56);
        assert_eq!(input.offset(), 256);
        assert_eq!(input.fill(4).unwrap(), 0);
    }

    #[test]
    fn consume_is_bounded() {
        let mut input = Input::new(Box::new(Cursor::new(vec![1u8; 10])), 64);
        input.fill(4).unwrap();
        input.consume(1000);
        assert_eq!(input.offset(), 10);
        assert!(input.available().is_empty());
    }

    #[test]
    fn read_errors_surface() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk on fire"))
            }
        }
        let mut input = Input::new(Box::new(Broken), 64);
        assert!(input.fill(1).is_err());
    }
}
