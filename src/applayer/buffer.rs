//! Bounded per-direction stream buffer shared by the TCP parsers.
//!
//! Parsers first try to work on the caller's slice directly (zero copy); only
//! the unconsumed tail of a record split across calls is copied here, and
//! never more than the configured cap.

/// The buffer would have grown past its cap; the caller drops the data and
/// counts the hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow;

/// Bytes whose `Debug` output shows only their length: stream buffers may
/// hold a password in transit, which must never reach a log.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Opaque(pub Vec<u8>);

impl std::fmt::Debug for Opaque {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<{} bytes>", self.0.len())
    }
}

impl std::ops::Deref for Opaque {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.0
    }
}

impl std::ops::DerefMut for Opaque {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }
}

/// A byte buffer that refuses to grow past `cap`; its `Debug` output shows
/// sizes only.
#[derive(Clone)]
pub struct StreamBuf {
    buf: Vec<u8>,
    cap: usize,
}

impl std::fmt::Debug for StreamBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StreamBuf({}/{} bytes)", self.buf.len(), self.cap)
    }
}

impl StreamBuf {
    /// An empty buffer that holds at most `cap` bytes.
    pub fn new(cap: usize) -> Self {
        StreamBuf {
            buf: Vec::new(),
            cap,
        }
    }

    /// Bytes currently held.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True when nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Drops everything buffered (after a gap or a parse error).
    pub fn clear(&mut self) {
        self.buf.clear();
    }

    /// Feeds `data` to `parse`, which returns how many bytes of the slice it
    /// consumed (whole records only). Unconsumed bytes are kept for the next
    /// call. When buffering would exceed the cap, the buffer is cleared and
    /// `Err(Overflow)` returned.
    pub fn feed<F>(&mut self, data: &[u8], mut parse: F) -> Result<(), Overflow>
    where
        F: FnMut(&[u8]) -> usize,
    {
        if self.buf.is_empty() {
            let used = parse(data).min(data.len());
            let rest = data.get(used..).unwrap_or_default();
            if rest.len() > self.cap {
                return Err(Overflow);
            }
            self.buf.extend_from_slice(rest);
            return Ok(());
        }
        if self.buf.len().saturating_add(data.len()) > self.cap {
            self.buf.clear();
            return Err(Overflow);
        }
        self.buf.extend_from_slice(data);
        let used = parse(&self.buf).min(self.buf.len());
        self.buf.drain(..used);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_partial_records_and_respects_cap() {
        let mut b = StreamBuf::new(4);
        // consume whole 2-byte records only
        let rec = |d: &[u8]| d.len() / 2 * 2;
        assert!(b.feed(b"abc", rec).is_ok());
        assert_eq!(b.len(), 1);
        assert!(b.feed(b"d", rec).is_ok());
        assert!(b.is_empty());
        assert_eq!(b.feed(b"123456789", |_| 0), Err(Overflow));
        assert!(b.is_empty());
        assert!(b.feed(b"12", |_| 0).is_ok());
        assert_eq!(b.feed(b"345", |_| 0), Err(Overflow));
        assert!(b.is_empty());
    }
}
