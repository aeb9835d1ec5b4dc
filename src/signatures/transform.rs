//! Transforms applied to a sticky buffer before its contents are matched
//! (Suricata's "transformations": `dotprefix`, `to_lowercase`, `xor`,
//! `to_sha256`, ...), and the base64 decoder of `base64_decode`.
//!
//! Output goes into caller-owned scratch vectors that keep their capacity,
//! so a worker allocates only while its buffers grow to the largest input
//! seen; a rule without transforms inspects the original bytes directly.

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::buffer::Transform;

/// Largest output a transform chain or a base64 decode produces; input
/// beyond it is not transformed (bounded memory per worker).
pub const MAX_TRANSFORMED: usize = 1 << 20;

/// Applies `ts` in order to `input`. Returns the transformed bytes, which
/// live in `a` or `b` (the two scratch buffers alternate); with no
/// transform, `input` itself.
pub fn apply<'a>(
    ts: &[Transform],
    input: &'a [u8],
    a: &'a mut Vec<u8>,
    b: &'a mut Vec<u8>,
) -> &'a [u8] {
    if ts.is_empty() {
        return input;
    }
    let input = input.get(..MAX_TRANSFORMED).unwrap_or(input);
    // `cur` says where the current bytes are: 0 = input, 1 = a, 2 = b.
    let mut cur = 0u8;
    for t in ts {
        let (src, dst): (&[u8], &mut Vec<u8>) = match cur {
            0 => (input, &mut *a),
            1 => (a.as_slice(), &mut *b),
            _ => (b.as_slice(), &mut *a),
        };
        dst.clear();
        one(t, src, dst);
        cur = match cur {
            0 | 2 => 1,
            _ => 2,
        };
    }
    match cur {
        1 => a.as_slice(),
        _ => b.as_slice(),
    }
}

fn one(t: &Transform, src: &[u8], out: &mut Vec<u8>) {
    match t {
        Transform::DotPrefix => {
            out.push(b'.');
            out.extend_from_slice(src);
        }
        Transform::ToLowercase => out.extend(src.iter().map(u8::to_ascii_lowercase)),
        Transform::ToUppercase => out.extend(src.iter().map(u8::to_ascii_uppercase)),
        Transform::StripWhitespace => out.extend(src.iter().copied().filter(|c| !is_space(*c))),
        Transform::CompressWhitespace => {
            let mut prev_space = false;
            for &c in src {
                if is_space(c) {
                    if !prev_space {
                        out.push(b' ');
                    }
                    prev_space = true;
                } else {
                    out.push(c);
                    prev_space = false;
                }
            }
        }
        Transform::UrlDecode => url_decode(src, out),
        Transform::Xor(key) => {
            if key.is_empty() {
                out.extend_from_slice(src);
            } else {
                out.extend(src.iter().zip(key.iter().cycle()).map(|(x, k)| x ^ k));
            }
        }
        Transform::ToMd5 => out.extend_from_slice(&Md5::digest(src)),
        Transform::ToSha1 => out.extend_from_slice(&Sha1::digest(src)),
        Transform::ToSha256 => out.extend_from_slice(&Sha256::digest(src)),
        Transform::HeaderLowercase => {
            // "Name: value\r\n" lines: the names (up to ':') lowercased.
            let mut in_name = true;
            for &c in src {
                if c == b'\n' {
                    in_name = true;
                } else if c == b':' {
                    in_name = false;
                }
                out.push(if in_name { c.to_ascii_lowercase() } else { c });
            }
        }
        Transform::StripPseudoHeaders => {
            // Drops header lines whose name starts with ':' (HTTP/2).
            for line in src.split_inclusive(|&c| c == b'\n') {
                if line.first() != Some(&b':') {
                    out.extend_from_slice(line);
                }
            }
        }
    }
}

/// C `isspace`: space, \t, \n, \v, \f, \r.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// `url_decode`: `%XX` decoded and `+` made a space; an invalid escape is
/// kept as it is (Suricata's behaviour).
fn url_decode(src: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while let Some(&c) = src.get(i) {
        match c {
            b'%' => {
                let h = src.get(i + 1).copied().and_then(hex);
                let l = src.get(i + 2).copied().and_then(hex);
                if let (Some(h), Some(l)) = (h, l) {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                out.push(c);
            }
            b'+' => out.push(b' '),
            _ => out.push(c),
        }
        i += 1;
    }
}

fn b64_value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Decodes base64 (RFC 4648 alphabet) from the start of `src` into `out`
/// (cleared first), as Suricata's `base64_decode` does: decoding stops at
/// the first byte outside the alphabet or at padding; a final partial
/// group yields the whole bytes it holds. Returns the bytes decoded.
pub fn base64_decode(src: &[u8], out: &mut Vec<u8>) -> usize {
    out.clear();
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &c in src {
        let Some(v) = b64_value(c) else {
            break;
        };
        if out.len() >= MAX_TRANSFORMED {
            break;
        }
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(ts: &[Transform], input: &[u8]) -> Vec<u8> {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        apply(ts, input, &mut a, &mut b).to_vec()
    }

    #[test]
    fn each_transform() {
        assert_eq!(run(&[Transform::DotPrefix], b"evil.com"), b".evil.com");
        assert_eq!(run(&[Transform::ToLowercase], b"AbC"), b"abc");
        assert_eq!(run(&[Transform::ToUppercase], b"AbC"), b"ABC");
        assert_eq!(run(&[Transform::StripWhitespace], b" a b\t\r\nc "), b"abc");
        assert_eq!(
            run(&[Transform::CompressWhitespace], b"a  b\t\r\nc"),
            b"a b c"
        );
        assert_eq!(
            run(&[Transform::UrlDecode], b"%2e%2E/a+b%zz%4"),
            b"../a b%zz%4"
        );
        assert_eq!(
            run(&[Transform::Xor(vec![0x0d, 0x0a].into())], b"\x0d\x0a\x0d"),
            [0, 0, 0]
        );
        assert_eq!(run(&[Transform::ToMd5], b"").len(), 16);
        assert_eq!(
            run(&[Transform::ToSha1], b"abc"),
            [
                0xa9, 0x99, 0x3e, 0x36, 0x47, 0x06, 0x81, 0x6a, 0xba, 0x3e, 0x25, 0x71, 0x78, 0x50,
                0xc2, 0x6c, 0x9c, 0xd0, 0xd8, 0x9d
            ]
        );
        assert_eq!(run(&[Transform::ToSha256], b"abc").len(), 32);
        assert_eq!(
            run(&[Transform::HeaderLowercase], b"Host: A\r\nX-Y: B\r\n"),
            b"host: A\r\nx-y: B\r\n"
        );
        assert_eq!(
            run(&[Transform::StripPseudoHeaders], b":path: /\r\nHost: a\r\n"),
            b"Host: a\r\n"
        );
    }

    #[test]
    fn chains_alternate_buffers() {
        let ts = [
            Transform::StripWhitespace,
            Transform::ToLowercase,
            Transform::DotPrefix,
        ];
        assert_eq!(run(&ts, b"EVIL .Com"), b".evil.com");
        assert_eq!(run(&[], b"x"), b"x");
    }

    #[test]
    fn base64_as_suricata() {
        let mut out = Vec::new();
        assert_eq!(base64_decode(b"aGVsbG8gd29ybGQ=", &mut out), 11);
        assert_eq!(out, b"hello world");
        // Stops at the first byte outside the alphabet.
        base64_decode(b"aGVsbG8*garbage", &mut out);
        assert_eq!(out, b"hello");
        assert_eq!(base64_decode(b"", &mut out), 0);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(input in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let all = [
                Transform::DotPrefix, Transform::UrlDecode, Transform::CompressWhitespace,
                Transform::HeaderLowercase, Transform::StripPseudoHeaders,
                Transform::Xor(vec![1, 2, 3].into()), Transform::ToSha256,
            ];
            let _ = run(&all, &input);
            let mut out = Vec::new();
            let n = base64_decode(&input, &mut out);
            proptest::prop_assert!(n <= input.len());
        }
    }
}
