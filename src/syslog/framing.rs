//! Syslog over a byte stream: RFC 6587 framing for TCP and TLS (RFC 5425
//! uses the same octet counting).
//!
//! Each frame's method is detected from its first bytes, as rsyslog does:
//! `MSG-LEN SP` (RFC 6587 §3.4.1, octet counting: a non-zero digit, at most
//! nine digits, then a space) or anything else, which is a
//! non-transparent frame ended by LF or NUL (§3.4.2). A frame longer than
//! the maximum message size is cut at that size and flagged as truncated;
//! the rest of it is skipped, so the buffer never grows past the maximum
//! plus one pushed chunk.

/// The default maximum message size (64 KiB).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 * 1024;

/// Digits allowed in MSG-LEN (up to 999 999 999 octets).
const MAX_LEN_DIGITS: usize = 9;

/// How a frame was delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// `MSG-LEN SP SYSLOG-MSG` (RFC 6587 §3.4.1, RFC 5425).
    OctetCounting,
    /// `SYSLOG-MSG` ended by LF or NUL (RFC 6587 §3.4.2).
    NonTransparent,
}

/// One message cut out of the stream; borrows the decoder's buffer until
/// the next call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The message bytes without length prefix or trailer.
    pub data: &'a [u8],
    /// How it was delimited.
    pub framing: Framing,
    /// It was longer than the maximum message size and was cut.
    pub truncated: bool,
}

/// A framing problem; offsets count bytes from the start of the stream.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FramingError {
    /// The stream ended inside a frame.
    #[error("stream ended inside a frame starting at offset {offset} ({pending} bytes pending)")]
    Incomplete {
        /// Stream offset of the frame start.
        offset: u64,
        /// Bytes of the frame that arrived.
        pending: usize,
    },
}

/// How a finished stream ended ([`FrameDecoder::end`]): a diagnostic
/// beside the frames. An empty stream is no error for the daemon (health
/// checks and port probes connect and close); a strict stream parser such
/// as go-syslog's reports it as "found EOF, expecting a MSGLEN".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamEnd {
    /// Not a byte arrived.
    Empty,
    /// Bytes arrived but no message: only stray LF/NUL trailers.
    NoMessage,
    /// Every frame was complete.
    Complete {
        /// Messages returned.
        frames: u64,
    },
    /// The stream ended inside a frame (also returned as
    /// [`FramingError::Incomplete`]).
    Incomplete {
        /// Complete messages returned before it.
        frames: u64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// At a frame boundary.
    Start,
    /// Skipping the rest of an over-long octet-counted frame.
    SkipCount(u64),
    /// Skipping the rest of an over-long non-transparent frame.
    SkipLine,
}

/// Splits one connection's byte stream into syslog messages.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    start: usize,
    max: usize,
    state: State,
    /// Stream offset of `buf[0]`.
    base: u64,
    eof: bool,
    truncated: u64,
    /// Messages returned so far.
    frames: u64,
    /// The stream ended inside a frame.
    cut: bool,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_MESSAGE_SIZE)
    }
}

impl FrameDecoder {
    /// A decoder cutting messages at `max_message_size` bytes (at least 1).
    pub fn new(max_message_size: usize) -> Self {
        FrameDecoder {
            buf: Vec::new(),
            start: 0,
            max: max_message_size.max(1),
            state: State::Start,
            base: 0,
            eof: false,
            truncated: 0,
            frames: 0,
            cut: false,
        }
    }

    /// Append bytes read from the connection.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && (self.start >= self.buf.len() || self.start > self.max) {
            self.buf.drain(..self.start);
            self.base += self.start as u64;
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The peer closed the stream: a partial frame left over becomes a
    /// [`FramingError::Incomplete`] on the next call to [`Self::next_frame`].
    pub fn finish(&mut self) {
        self.eof = true;
    }

    /// Frames cut because they exceeded the maximum size so far.
    pub fn truncated_count(&self) -> u64 {
        self.truncated
    }

    /// Bytes buffered and not yet returned.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// How the stream ended, once [`Self::finish`] was called and
    /// [`Self::next_frame`] returned `None`; `None` before that.
    pub fn end(&self) -> Option<StreamEnd> {
        if !self.eof || self.start < self.buf.len() {
            return None;
        }
        let bytes = self.base + self.buf.len() as u64;
        Some(match (self.cut, self.frames, bytes) {
            (true, frames, _) => StreamEnd::Incomplete { frames },
            (false, _, 0) => StreamEnd::Empty,
            (false, 0, _) => StreamEnd::NoMessage,
            (false, frames, _) => StreamEnd::Complete { frames },
        })
    }

    /// The next complete frame, `None` when more bytes are needed (or the
    /// stream is finished and drained).
    pub fn next_frame(&mut self) -> Option<Result<Frame<'_>, FramingError>> {
        loop {
            let avail = self.buf.get(self.start..).unwrap_or_default();
            match self.state {
                State::SkipCount(left) => {
                    let n = (avail.len() as u64).min(left);
                    self.start += n as usize;
                    if n == left {
                        self.state = State::Start;
                        continue;
                    }
                    self.state = State::SkipCount(left - n);
                    return None;
                }
                State::SkipLine => match memchr::memchr2(b'\n', b'\0', avail) {
                    Some(i) => {
                        self.start += i + 1;
                        self.state = State::Start;
                        continue;
                    }
                    None => {
                        self.start += avail.len();
                        return None;
                    }
                },
                State::Start => {}
            }
            match avail.first() {
                None => return None,
                // A stray trailer between frames (some senders end
                // octet-counted frames with LF too) is no message.
                Some(b'\n' | b'\0') => {
                    self.start += 1;
                    continue;
                }
                Some(_) => {}
            }
            return match octet_header(avail) {
                Header::Count { len, header } => self.octet_frame(len, header),
                Header::NeedMore if !self.eof => None,
                Header::NeedMore | Header::NotCounted => self.line_frame(),
            };
        }
    }

    fn incomplete(&mut self) -> Option<Result<Frame<'_>, FramingError>> {
        let pending = self.buf.len() - self.start;
        let offset = self.base + self.start as u64;
        self.start = self.buf.len();
        self.cut = true;
        Some(Err(FramingError::Incomplete { offset, pending }))
    }

    fn octet_frame(&mut self, len: u64, header: usize) -> Option<Result<Frame<'_>, FramingError>> {
        let avail = self.buf.len() - self.start;
        let want = (len as usize).min(self.max);
        if avail < header + want {
            return if self.eof { self.incomplete() } else { None };
        }
        let from = self.start + header;
        self.start = from + want;
        let truncated = (want as u64) < len;
        self.frames += 1;
        if truncated {
            self.truncated += 1;
            self.state = State::SkipCount(len - want as u64);
        }
        self.buf.get(from..from + want).map(|data| {
            Ok(Frame {
                data,
                framing: Framing::OctetCounting,
                truncated,
            })
        })
    }

    fn line_frame(&mut self) -> Option<Result<Frame<'_>, FramingError>> {
        let avail = self.buf.get(self.start..).unwrap_or_default();
        let window = avail.get(..self.max.saturating_add(1)).unwrap_or(avail);
        let from = self.start;
        match memchr::memchr2(b'\n', b'\0', window) {
            Some(i) if i <= self.max => {
                self.start = from + i + 1;
                self.frames += 1;
                self.buf.get(from..from + i).map(|data| {
                    Ok(Frame {
                        data,
                        framing: Framing::NonTransparent,
                        truncated: false,
                    })
                })
            }
            _ if avail.len() > self.max => {
                self.start = from + self.max;
                self.truncated += 1;
                self.frames += 1;
                self.state = State::SkipLine;
                self.buf.get(from..from + self.max).map(|data| {
                    Ok(Frame {
                        data,
                        framing: Framing::NonTransparent,
                        truncated: true,
                    })
                })
            }
            _ if self.eof => self.incomplete(),
            _ => None,
        }
    }
}

enum Header {
    Count { len: u64, header: usize },
    NeedMore,
    NotCounted,
}

/// `NONZERO-DIGIT *DIGIT SP` at the start of `b`.
fn octet_header(b: &[u8]) -> Header {
    match b.first() {
        Some(b'1'..=b'9') => {}
        _ => return Header::NotCounted,
    }
    let mut len: u64 = 0;
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'0'..=b'9' if i < MAX_LEN_DIGITS => len = len * 10 + u64::from(c - b'0'),
            b' ' => return Header::Count { len, header: i + 1 },
            _ => return Header::NotCounted,
        }
    }
    Header::NeedMore
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(dec: &mut FrameDecoder) -> Vec<Result<(Vec<u8>, bool), FramingError>> {
        let mut out = Vec::new();
        while let Some(r) = dec.next_frame() {
            out.push(r.map(|f| (f.data.to_vec(), f.truncated)));
        }
        out
    }

    #[test]
    fn mixed_framing_and_byte_at_a_time() {
        let stream = b"16 <1>1 - - - - - -<2>1 - x\n17 <3>1 - - - - - - \0";
        let mut whole = FrameDecoder::default();
        whole.push(stream);
        whole.finish();
        let a = split(&mut whole);
        let mut bytewise = FrameDecoder::default();
        let mut b = Vec::new();
        for byte in stream {
            bytewise.push(&[*byte]);
            b.extend(split(&mut bytewise));
        }
        bytewise.finish();
        b.extend(split(&mut bytewise));
        assert_eq!(a, b);
        assert_eq!(
            a,
            vec![
                Ok((b"<1>1 - - - - - -".to_vec(), false)),
                Ok((b"<2>1 - x".to_vec(), false)),
                Ok((b"<3>1 - - - - - - ".to_vec(), false)),
            ]
        );
    }

    #[test]
    fn truncation_is_bounded_and_flagged() {
        let mut d = FrameDecoder::new(8);
        d.push(b"20 0123456789abcdefghij");
        d.push(b"abcdefghijklmnopqrstuvwxyz\nok\n");
        let got = split(&mut d);
        assert_eq!(
            got,
            vec![
                Ok((b"01234567".to_vec(), true)),
                Ok((b"abcdefgh".to_vec(), true)),
                Ok((b"ok".to_vec(), false)),
            ]
        );
        assert_eq!(d.truncated_count(), 2);
        // A huge line pushed in chunks never grows the buffer past max + chunk.
        let mut d = FrameDecoder::new(1024);
        for _ in 0..1000 {
            d.push(&[b'a'; 4096]);
            while let Some(r) = d.next_frame() {
                assert!(r.unwrap().truncated);
            }
            assert!(d.buffered() <= 1024 + 4096);
        }
    }

    #[test]
    fn eof_inside_frame() {
        let mut d = FrameDecoder::default();
        d.push(b"<1>1 - - - - - -\n<2>1");
        d.finish();
        let got = split(&mut d);
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[1],
            Err(FramingError::Incomplete {
                offset: 17,
                pending: 4
            })
        );
    }

    #[test]
    fn end_of_stream_diagnostic() {
        let end = |chunks: &[&[u8]]| {
            let mut d = FrameDecoder::new(16);
            for c in chunks {
                d.push(c);
            }
            assert_eq!(d.end(), None, "not finished yet");
            d.finish();
            let frames = split(&mut d);
            (frames.len(), d.end())
        };
        // A health check: connect, close. No frame, no error.
        assert_eq!(end(&[]), (0, Some(StreamEnd::Empty)));
        assert_eq!(end(&[b""]), (0, Some(StreamEnd::Empty)));
        assert_eq!(end(&[b"\n\0\n"]), (0, Some(StreamEnd::NoMessage)));
        assert_eq!(
            end(&[b"a\n", b"5 hello"]),
            (2, Some(StreamEnd::Complete { frames: 2 }))
        );
        assert_eq!(
            end(&[b"a\n", b"9 hel"]),
            (2, Some(StreamEnd::Incomplete { frames: 1 }))
        );
        // A truncated frame is still a message.
        assert_eq!(
            end(&[&[b'x'; 40][..]]),
            (1, Some(StreamEnd::Complete { frames: 1 }))
        );
        // Frames not yet taken: no verdict.
        let mut d = FrameDecoder::default();
        d.push(b"a\n");
        d.finish();
        assert_eq!(d.end(), None);
        assert!(d.next_frame().is_some());
        assert!(d.next_frame().is_none());
        assert_eq!(d.end(), Some(StreamEnd::Complete { frames: 1 }));
    }

    proptest::proptest! {
        #[test]
        fn chunking_does_not_change_the_split(
            data in proptest::collection::vec(proptest::sample::select(b"0123456789 <>-\n\0ab".to_vec()), 0..400),
            cut in 1usize..50,
        ) {
            let mut whole = FrameDecoder::new(64);
            whole.push(&data);
            whole.finish();
            let a = split(&mut whole);
            let mut parts = FrameDecoder::new(64);
            let mut b = Vec::new();
            for chunk in data.chunks(cut) {
                parts.push(chunk);
                b.extend(split(&mut parts));
                proptest::prop_assert!(parts.buffered() <= 64 + 16 + cut);
            }
            parts.finish();
            b.extend(split(&mut parts));
            proptest::prop_assert_eq!(a, b);
        }
    }
}
