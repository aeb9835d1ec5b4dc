//! Telnet (RFC 854) option-negotiation stripper: an incremental state
//! machine that removes IAC commands and subnegotiations from the data
//! stream, however the bytes are split across segments.

/// IAC.
pub const IAC: u8 = 255;
const SB: u8 = 250;
const SE: u8 = 240;
const WILL: u8 = 251;
const DONT: u8 = 254;

/// Longest subnegotiation skipped before giving up on it.
pub const MAX_SUBNEG: u32 = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum St {
    #[default]
    Data,
    Iac,
    Opt,
    Sub(u32),
    SubIac(u32),
}

/// Strips Telnet commands from one direction's byte stream.
#[derive(Debug, Clone, Default)]
pub struct Stripper {
    st: St,
    /// Subnegotiations cut at [`MAX_SUBNEG`].
    pub overlong_subneg: u64,
}

impl Stripper {
    /// Calls `f` with each data byte of `input`, commands removed.
    pub fn feed(&mut self, input: &[u8], mut f: impl FnMut(u8)) {
        for &b in input {
            self.st = match (self.st, b) {
                (St::Data, IAC) => St::Iac,
                (St::Data, _) => {
                    f(b);
                    St::Data
                }
                (St::Iac, IAC) => {
                    f(IAC);
                    St::Data
                }
                (St::Iac, WILL..=DONT) => St::Opt,
                (St::Iac, SB) => St::Sub(0),
                (St::Iac, _) => St::Data,
                (St::Opt, _) => St::Data,
                (St::Sub(n), IAC) => St::SubIac(n),
                (St::Sub(n), _) if n >= MAX_SUBNEG => {
                    self.overlong_subneg = self.overlong_subneg.saturating_add(1);
                    St::Data
                }
                (St::Sub(n), _) => St::Sub(n + 1),
                (St::SubIac(_), SE) => St::Data,
                (St::SubIac(n), _) => St::Sub(n + 1),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strip(chunks: &[&[u8]]) -> Vec<u8> {
        let mut s = Stripper::default();
        let mut v = Vec::new();
        for c in chunks {
            s.feed(c, |b| v.push(b));
        }
        v
    }

    #[test]
    fn strips_negotiation_and_subneg() {
        let raw = b"\xff\xfd\x18\xff\xfb\x01log\xff\xfa\x18\x00xterm\xff\xf0in:\xff\xff";
        assert_eq!(strip(&[raw]), b"login:\xff");
        let parts: Vec<&[u8]> = raw.chunks(1).collect();
        assert_eq!(strip(&parts), b"login:\xff");
    }

    proptest::proptest! {
        #[test]
        fn split_invariant(data in proptest::collection::vec(proptest::num::u8::ANY, 0..300), at in 0usize..300) {
            let at = at.min(data.len());
            let (a, b) = data.split_at(at);
            proptest::prop_assert_eq!(strip(&[&data]), strip(&[a, b]));
        }
    }
}
