//! `pcre` values: delimiters and Suricata's flags, and a structural check
//! of the PCRE2 pattern (groups, classes, quantifiers, escapes).
//!
//! The pattern is not compiled here (no PCRE2 binding yet); the check
//! catches what PCRE2 would refuse in practice so a broken rule is rejected
//! at load time, not silently ignored at match time.

use super::buffer::Buffer;
use super::rule::{Pcre, PcreFlags};

/// Deepest group nesting accepted.
pub const MAX_GROUP_DEPTH: usize = 64;
/// Longest pattern accepted.
pub const MAX_PATTERN_LEN: usize = 16_384;

/// Parses a pcre value (with its quotes): `"[!]/pattern/flags"`.
/// Returns the pcre and the buffer its flags select, if any.
pub fn parse_pcre(value: &str) -> Result<(Pcre, Option<Buffer>), String> {
    let mut v = value.trim();
    let mut negated = false;
    if let Some(rest) = v.strip_prefix('!') {
        negated = true;
        v = rest.trim_start();
    }
    let v = v
        .strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .ok_or("value must be enclosed in double quotes")?;
    let (delim, body) = if let Some(rest) = v.strip_prefix('/') {
        ('/', rest)
    } else if let Some(rest) = v.strip_prefix('m') {
        let mut chars = rest.chars();
        let d = chars.next().ok_or("missing delimiter after 'm'")?;
        if d.is_alphanumeric() || d == '\\' || d.is_whitespace() {
            return Err(format!("invalid delimiter '{d}'"));
        }
        (d, chars.as_str())
    } else {
        return Err("pattern must start with '/'".to_string());
    };
    let end = body
        .rfind(delim)
        .ok_or_else(|| format!("missing closing '{delim}'"))?;
    let pattern = body.get(..end).unwrap_or("");
    let flag_text = body.get(end + delim.len_utf8()..).unwrap_or("");
    if pattern.len() > MAX_PATTERN_LEN {
        return Err(format!("pattern longer than {MAX_PATTERN_LEN} bytes"));
    }
    let mut flags = PcreFlags::default();
    let mut buffer: Option<Buffer> = None;
    for f in flag_text.chars() {
        let seen = match f {
            'i' => std::mem::replace(&mut flags.caseless, true),
            's' => std::mem::replace(&mut flags.dotall, true),
            'm' => std::mem::replace(&mut flags.multiline, true),
            'x' => std::mem::replace(&mut flags.extended, true),
            'A' => std::mem::replace(&mut flags.anchored, true),
            'E' => std::mem::replace(&mut flags.dollar_endonly, true),
            'G' => std::mem::replace(&mut flags.ungreedy, true),
            'R' => std::mem::replace(&mut flags.relative, true),
            'O' => std::mem::replace(&mut flags.override_limits, true),
            'B' => std::mem::replace(&mut flags.rawbytes, true),
            other => match Buffer::from_pcre_flag(other) {
                Some(b) => {
                    if let Some(prev) = buffer {
                        return Err(format!(
                            "flag '{other}' selects {} but another flag already selected {}",
                            b.name(),
                            prev.name()
                        ));
                    }
                    buffer = Some(b);
                    false
                }
                None => return Err(format!("unknown flag '{other}'")),
            },
        };
        if seen {
            return Err(format!("flag '{f}' given twice"));
        }
    }
    check_pattern(pattern, flags.extended)?;
    Ok((
        Pcre {
            pattern: pattern.into(),
            negated,
            flags,
        },
        buffer,
    ))
}

/// What precedes a position, for quantifier checks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Prev {
    /// Start of pattern, after `(` or `|`: nothing to repeat.
    Nothing,
    /// An atom that may be quantified.
    Atom,
    /// A quantifier (may be followed by one `?` or `+`).
    Quant,
    /// A quantifier with its lazy/possessive suffix.
    QuantDone,
}

/// Structural check of a PCRE2 pattern.
pub fn check_pattern(p: &str, extended: bool) -> Result<(), String> {
    let b = p.as_bytes();
    let mut i = 0;
    let mut depth: usize = 0;
    let mut prev = Prev::Nothing;
    while let Some(&c) = b.get(i) {
        match c {
            b'\\' => {
                let n = *b
                    .get(i + 1)
                    .ok_or_else(|| format!("trailing backslash at offset {i}"))?;
                if n == b'Q' {
                    // \Q...\E quotes literally.
                    let rest = p.get(i + 2..).unwrap_or("");
                    i = match rest.find("\\E") {
                        Some(e) => i + 2 + e + 2,
                        None => b.len(),
                    };
                    prev = Prev::Atom;
                    continue;
                }
                if n == b'x' && b.get(i + 2) == Some(&b'{') {
                    let close = p
                        .get(i + 3..)
                        .and_then(|r| r.find('}'))
                        .ok_or_else(|| format!("unterminated \\x{{ at offset {i}"))?;
                    i += 3 + close + 1;
                    prev = Prev::Atom;
                    continue;
                }
                prev = Prev::Atom;
                i += 2;
            }
            b'[' => {
                i = class_end(b, i)?;
                prev = Prev::Atom;
            }
            b'(' => {
                depth += 1;
                if depth > MAX_GROUP_DEPTH {
                    return Err(format!("groups nest deeper than {MAX_GROUP_DEPTH}"));
                }
                if b.get(i + 1) == Some(&b'*') {
                    return Err(format!("verb '(*' at offset {i} is not supported"));
                }
                if b.get(i + 1) == Some(&b'?') && b.get(i + 2) == Some(&b'#') {
                    // Comment group: skip to ')'.
                    let close = p
                        .get(i..)
                        .and_then(|r| r.find(')'))
                        .ok_or_else(|| format!("unterminated comment at offset {i}"))?;
                    i += close + 1;
                    depth -= 1;
                    continue;
                }
                i += 1;
                prev = Prev::Nothing;
            }
            b')' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("unmatched ')' at offset {i}"))?;
                i += 1;
                prev = Prev::Atom;
            }
            b'|' => {
                i += 1;
                prev = Prev::Nothing;
            }
            b'^' | b'$' => {
                i += 1;
                prev = Prev::Nothing;
            }
            b'*' | b'+' | b'?' => {
                prev = match (prev, c) {
                    (Prev::Atom, _) => Prev::Quant,
                    (Prev::Quant, b'?' | b'+') => Prev::QuantDone,
                    // After `(` a `?` introduces a group option.
                    (Prev::Nothing, b'?') if i > 0 && b.get(i - 1) == Some(&b'(') => {
                        i += 1;
                        continue;
                    }
                    _ => {
                        return Err(format!(
                            "quantifier '{}' at offset {i} has nothing to repeat",
                            c as char
                        ))
                    }
                };
                i += 1;
            }
            b'{' => match quantifier(p, i) {
                Some((lo, hi, len)) => {
                    if let Some(hi) = hi {
                        if lo > hi {
                            return Err(format!(
                                "quantifier {{{lo},{hi}}} out of order at offset {i}"
                            ));
                        }
                    }
                    if prev != Prev::Atom {
                        return Err(format!("quantifier at offset {i} has nothing to repeat"));
                    }
                    prev = Prev::Quant;
                    i += len;
                }
                None => {
                    prev = Prev::Atom;
                    i += 1;
                }
            },
            b'#' if extended => {
                while b.get(i).is_some_and(|&x| x != b'\n') {
                    i += 1;
                }
            }
            c if extended && c.is_ascii_whitespace() => i += 1,
            _ => {
                i += 1;
                prev = Prev::Atom;
            }
        }
    }
    if depth > 0 {
        return Err("unclosed '('".to_string());
    }
    Ok(())
}

/// Finds the end of a character class starting at `start` (`[`); returns the
/// index after its closing `]`.
fn class_end(b: &[u8], start: usize) -> Result<usize, String> {
    let mut i = start + 1;
    if b.get(i) == Some(&b'^') {
        i += 1;
    }
    if b.get(i) == Some(&b']') {
        i += 1;
    }
    while let Some(&c) = b.get(i) {
        match c {
            b'\\' => i += 2,
            b'[' if b.get(i + 1) == Some(&b':') => {
                // POSIX class [:name:]
                let mut j = i + 2;
                while b.get(j).is_some_and(|x| x.is_ascii_alphabetic()) {
                    j += 1;
                }
                if b.get(j) == Some(&b':') && b.get(j + 1) == Some(&b']') {
                    i = j + 2;
                } else {
                    i += 1;
                }
            }
            b']' => return Ok(i + 1),
            _ => i += 1,
        }
    }
    Err(format!("unterminated character class at offset {start}"))
}

/// Reads `{n}`, `{n,}` or `{n,m}` at `i`; None when it is a literal `{`.
fn quantifier(p: &str, i: usize) -> Option<(u32, Option<u32>, usize)> {
    let rest = p.get(i + 1..)?;
    let close = rest.find('}')?;
    let inner = rest.get(..close)?;
    let (lo, hi) = match inner.split_once(',') {
        None => {
            let n = parse_count(inner)?;
            (n, Some(n))
        }
        Some((a, b)) => {
            let lo = if a.is_empty() { 0 } else { parse_count(a)? };
            let hi = if b.is_empty() {
                None
            } else {
                Some(parse_count(b)?)
            };
            if a.is_empty() && b.is_empty() {
                return None;
            }
            (lo, hi)
        }
    };
    Some((lo, hi, close + 2))
}

fn parse_count(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u32>().ok().filter(|&n| n <= 65_535)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_buffers() {
        let (p, b) = parse_pcre(r#""/^\/foo\.php\?id=\d+/Ui""#).unwrap();
        assert_eq!(&*p.pattern, r"^\/foo\.php\?id=\d+");
        assert!(p.flags.caseless);
        assert_eq!(b, Some(Buffer::HttpUri));
        let (p, b) = parse_pcre(r#"!"/abc/smR""#).unwrap();
        assert!(p.negated && p.flags.relative && p.flags.dotall && p.flags.multiline);
        assert_eq!(b, None);
        assert!(parse_pcre(r#""/a/UH""#).is_err());
        assert!(parse_pcre(r#""/a/q""#).is_err());
        assert!(parse_pcre(r#""/a/ii""#).is_err());
        assert!(parse_pcre(r#""abc""#).is_err());
        assert!(parse_pcre(r#""/abc""#).is_err());
        assert!(parse_pcre("/abc/").is_err());
        // ET Open has an unescaped quote inside a pattern.
        assert!(parse_pcre(r#""/a"b/i""#).is_ok());
        assert!(parse_pcre(r#""m#a/b#i""#).is_ok());
    }

    #[test]
    fn pattern_structure() {
        for ok in [
            r"a(b|c)*d",
            r"[a-z\]]+",
            r"[]a]",
            r"[[:alpha:]]{2,5}",
            r"(?i)abc(?:def)?",
            r"(?P<name>x)(?=y)(?!z)(?<=w)",
            r"a{,3}",
            r"x{abc}",
            r"\Q(*+\E",
            r"a+?b*+c??",
            r"\x{41}",
            r"(?#comment (with paren)x",
        ] {
            assert!(check_pattern(ok, false).is_ok(), "{ok}");
        }
        for bad in [
            r"(abc", r"abc)", r"[abc", r"*a", r"a**", r"a{3,2}", r"(|+)", r"a\", r"(*UTF)x",
        ] {
            assert!(check_pattern(bad, false).is_err(), "{bad}");
        }
        assert!(check_pattern("a # (comment\n b", true).is_ok());
        let deep = "(".repeat(100) + &")".repeat(100);
        assert!(check_pattern(&deep, false).is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,64}", x in proptest::bool::ANY) {
            let _ = check_pattern(&s, x);
            let _ = parse_pcre(&format!("\"/{s}\""));
        }
    }
}
