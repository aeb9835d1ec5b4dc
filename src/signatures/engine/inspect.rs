//! Inspection of one buffer by a rule's list of steps (content, pcre,
//! isdataat, byte_test, byte_jump, bsize), with Suricata's cursor
//! semantics: relative keywords continue after the previous anchor, and a
//! failed relative step makes the previous content try its next occurrence.

use memchr::memmem;

use crate::signatures::rule::{
    ByteFormat, ByteJump, ByteOp, ByteTest, Content, Endian, IsDataAt, Match, Num,
};

/// Most recursion steps one buffer inspection may take (backtracking over
/// content occurrences); beyond, the inspection gives up as "no match".
pub const MAX_STEPS: u32 = 4096;

/// A compiled step: the parsed step plus its compiled regex, if a pcre.
#[derive(Debug)]
pub struct Step {
    /// The parsed step.
    pub m: Match,
    /// The compiled regex of a `pcre` step.
    pub re: Option<pcre2::bytes::Regex>,
}

/// Budget of one inspection.
struct Budget(u32);

impl Budget {
    fn take(&mut self) -> bool {
        if self.0 == 0 {
            return false;
        }
        self.0 -= 1;
        true
    }
}

/// Inspects `buf` with `steps`; true when every step matches.
pub fn inspect(steps: &[Step], buf: &[u8]) -> bool {
    let mut b = Budget(MAX_STEPS);
    run(steps, buf, 0, &mut b)
}

fn lit(n: &Num) -> Option<i64> {
    match n {
        Num::Lit(v) => Some(*v),
        Num::Var(_) => None,
    }
}

fn lit_or(n: Option<&Num>, d: i64) -> i64 {
    n.and_then(lit).unwrap_or(d)
}

/// The window `[start, end)` a content may be found in, or None if empty.
fn content_window(c: &Content, len: usize, cursor: usize) -> Option<(usize, usize)> {
    let len_i = i64::try_from(len).ok()?;
    let cur = i64::try_from(cursor).ok()?;
    let (mut start, mut end);
    if c.is_relative() {
        let dist = lit_or(c.distance.as_ref(), 0);
        start = cur.saturating_add(dist).max(0);
        end = len_i;
        if let Some(w) = c.within.as_ref().and_then(lit) {
            end = end.min(cur.saturating_add(dist).saturating_add(w));
        }
        if let Some(o) = c.offset.as_ref().and_then(lit) {
            start = start.max(cur.saturating_add(o));
        }
        if let Some(d) = c.depth.as_ref().and_then(lit) {
            end = end.min(cur.saturating_add(d));
        }
    } else {
        let off = lit_or(c.offset.as_ref(), 0).max(0);
        start = off;
        end = len_i;
        if c.startswith {
            end = end.min(i64::try_from(c.pattern.len()).ok()?);
        }
        if let Some(d) = c.depth.as_ref().and_then(lit) {
            end = end.min(off.saturating_add(d));
        }
    }
    if start > end || start > len_i {
        return None;
    }
    Some((usize::try_from(start).ok()?, usize::try_from(end).ok()?))
}

/// Next occurrence of `pat` in `hay` from `from`, honouring nocase.
fn find(hay: &[u8], pat: &[u8], from: usize, nocase: bool) -> Option<usize> {
    let h = hay.get(from..)?;
    if pat.is_empty() {
        return Some(from);
    }
    if !nocase {
        return memmem::find(h, pat).map(|p| p + from);
    }
    let n = pat.len();
    if h.len() < n {
        return None;
    }
    (0..=h.len() - n)
        .find(|&i| h.get(i..i + n).is_some_and(|w| w.eq_ignore_ascii_case(pat)))
        .map(|p| p + from)
}

fn run(steps: &[Step], buf: &[u8], cursor: usize, b: &mut Budget) -> bool {
    let Some((first, rest)) = steps.split_first() else {
        return true;
    };
    if !b.take() {
        return false;
    }
    match &first.m {
        Match::Content(c) => {
            let Some((start, end)) = content_window(c, buf.len(), cursor) else {
                return c.negated && run(rest, buf, cursor, b);
            };
            let win = buf.get(..end).unwrap_or(buf);
            let plen = c.pattern.len();
            let mut from = start;
            let mut found_any = false;
            while let Some(p) = find(win, &c.pattern, from, c.nocase) {
                let e = p + plen;
                if c.endswith && e != buf.len() {
                    from = p + 1;
                    continue;
                }
                found_any = true;
                if c.negated {
                    break;
                }
                if run(rest, buf, e, b) {
                    return true;
                }
                // Only relative followers can profit from a later match.
                if !rest.iter().any(is_relative) || !b.take() {
                    return false;
                }
                from = p + 1;
            }
            c.negated && !found_any && run(rest, buf, cursor, b)
        }
        Match::Pcre(p) => {
            let Some(re) = &first.re else {
                return false;
            };
            let from = if p.flags.relative { cursor } else { 0 };
            let Some(sub) = buf.get(from..) else {
                return p.negated && run(rest, buf, cursor, b);
            };
            match re.find(sub) {
                Ok(Some(m)) if !p.negated => run(rest, buf, from + m.end(), b),
                Ok(Some(_)) => false,
                Ok(None) | Err(_) => p.negated && run(rest, buf, cursor, b),
            }
        }
        Match::IsDataAt(d) => isdataat(d, buf.len(), cursor) && run(rest, buf, cursor, b),
        Match::ByteTest(t) => byte_test(t, buf, cursor) == Some(true) && run(rest, buf, cursor, b),
        Match::ByteJump(j) => match byte_jump(j, buf, cursor) {
            Some(c) => run(rest, buf, c, b),
            None => false,
        },
        Match::Bsize(cmp) => cmp.matches(buf.len() as u64) && run(rest, buf, cursor, b),
        // Refused when the ruleset is compiled.
        Match::ByteExtract(_) | Match::Base64Decode(_) => false,
    }
}

fn is_relative(s: &Step) -> bool {
    match &s.m {
        Match::Content(c) => c.is_relative(),
        Match::Pcre(p) => p.flags.relative,
        Match::IsDataAt(d) => d.relative,
        Match::ByteTest(t) => t.relative,
        Match::ByteJump(j) => j.relative,
        _ => false,
    }
}

fn isdataat(d: &IsDataAt, len: usize, cursor: usize) -> bool {
    let Some(pos) = lit(&d.pos) else {
        return false;
    };
    let base = if d.relative { cursor as i64 } else { 0 };
    let at = base.saturating_add(pos);
    let has = at >= 0 && at < len as i64;
    has != d.negated
}

/// Reads `n` bytes at `at` as a number in the given format.
fn read_num(buf: &[u8], at: usize, n: usize, endian: Endian, fmt: ByteFormat) -> Option<u64> {
    let bytes = buf.get(at..at.checked_add(n)?)?;
    match fmt {
        ByteFormat::Binary => {
            if n == 0 || n > 8 {
                return None;
            }
            let mut v: u64 = 0;
            match endian {
                Endian::Little => {
                    for (i, &x) in bytes.iter().enumerate() {
                        v |= u64::from(x) << (8 * i);
                    }
                }
                _ => {
                    for &x in bytes {
                        v = (v << 8) | u64::from(x);
                    }
                }
            }
            Some(v)
        }
        ByteFormat::Dec | ByteFormat::Hex | ByteFormat::Oct => {
            let radix = match fmt {
                ByteFormat::Hex => 16,
                ByteFormat::Oct => 8,
                _ => 10,
            };
            let s = std::str::from_utf8(bytes).ok()?;
            u64::from_str_radix(s.trim(), radix).ok()
        }
    }
}

fn start_of(offset: &Num, relative: bool, cursor: usize) -> Option<usize> {
    let off = lit(offset)?;
    let base = if relative { cursor as i64 } else { 0 };
    usize::try_from(base.checked_add(off)?).ok()
}

/// `byte_test`: None when the bytes are not there (no match).
pub fn byte_test(t: &ByteTest, buf: &[u8], cursor: usize) -> Option<bool> {
    let at = start_of(&t.offset, t.relative, cursor)?;
    let mut v = read_num(buf, at, usize::from(t.nbytes), t.endian, t.format)?;
    if let Some(mask) = t.bitmask {
        let mask = u64::from(mask);
        v &= mask;
        if mask != 0 {
            v >>= mask.trailing_zeros();
        }
    }
    let want = u64::try_from(lit(&t.value)?).ok()?;
    let r = match t.op {
        ByteOp::Lt => v < want,
        ByteOp::Gt => v > want,
        ByteOp::Eq => v == want,
        ByteOp::Le => v <= want,
        ByteOp::Ge => v >= want,
        ByteOp::And => v & want != 0,
        ByteOp::Xor => v ^ want != 0,
    };
    Some(r != t.negated)
}

/// `byte_jump`: the new cursor, or None when out of the buffer.
pub fn byte_jump(j: &ByteJump, buf: &[u8], cursor: usize) -> Option<usize> {
    let at = start_of(&j.offset, j.relative, cursor)?;
    let n = usize::from(j.nbytes);
    let mut v = read_num(buf, at, n, j.endian, j.format)?;
    if let Some(mask) = j.bitmask {
        let mask = u64::from(mask);
        v &= mask;
        if mask != 0 {
            v >>= mask.trailing_zeros();
        }
    }
    v = v.checked_mul(u64::from(j.multiplier.max(1)))?;
    if j.align {
        v = v.checked_add(3)? & !3;
    }
    let base: i64 = if j.from_beginning {
        0
    } else if j.from_end {
        i64::try_from(buf.len()).ok()?
    } else {
        i64::try_from(at.checked_add(n)?).ok()?
    };
    let pos = base
        .checked_add(i64::try_from(v).ok()?)?
        .checked_add(i64::from(j.post_offset))?;
    let pos = usize::try_from(pos).ok()?;
    (pos <= buf.len()).then_some(pos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signatures::rule::Content;

    fn content(p: &[u8]) -> Content {
        Content::new(p.to_vec(), false)
    }

    fn steps(ms: Vec<Match>) -> Vec<Step> {
        ms.into_iter().map(|m| Step { m, re: None }).collect()
    }

    #[test]
    fn plain_and_nocase() {
        let s = steps(vec![Match::Content(content(b"abc"))]);
        assert!(inspect(&s, b"xxabcxx"));
        assert!(!inspect(&s, b"xxABCxx"));
        let mut c = content(b"abc");
        c.nocase = true;
        assert!(inspect(&steps(vec![Match::Content(c)]), b"xxABCxx"));
    }

    #[test]
    fn depth_offset_startswith_endswith() {
        let mut c = content(b"abc");
        c.offset = Some(Num::Lit(2));
        c.depth = Some(Num::Lit(3));
        let s = steps(vec![Match::Content(c)]);
        assert!(inspect(&s, b"xxabc"));
        assert!(!inspect(&s, b"xxxabc"));
        let mut c = content(b"GET");
        c.startswith = true;
        let s = steps(vec![Match::Content(c)]);
        assert!(inspect(&s, b"GET /"));
        assert!(!inspect(&s, b" GET /"));
        let mut c = content(b"end");
        c.endswith = true;
        let s = steps(vec![Match::Content(c)]);
        assert!(inspect(&s, b"end the end"));
        assert!(!inspect(&s, b"the end."));
    }

    #[test]
    fn distance_within_backtracks() {
        // "DullBoy" must follow "Will" by one byte, within 7 (+1).
        let a = content(b"Will");
        let mut b = content(b"DullBoy");
        b.distance = Some(Num::Lit(1));
        b.within = Some(Num::Lit(7));
        let s = steps(vec![Match::Content(a), Match::Content(b)]);
        assert!(inspect(&s, b"Will x Will DullBoy"));
        assert!(!inspect(&s, b"Will  DullBoy"));
    }

    #[test]
    fn negation_and_isdataat() {
        let a = content(b"abc");
        let mut n = content(b"zzz");
        n.negated = true;
        let s = steps(vec![Match::Content(a.clone()), Match::Content(n)]);
        assert!(inspect(&s, b"abc"));
        assert!(!inspect(&s, b"abc zzz"));
        let d = IsDataAt {
            pos: Num::Lit(1),
            negated: true,
            relative: true,
        };
        let s = steps(vec![Match::Content(a), Match::IsDataAt(d)]);
        assert!(inspect(&s, b"xabc"));
        assert!(inspect(&s, b"xabcd"));
        assert!(!inspect(&s, b"xabcde"));
    }

    #[test]
    fn byte_test_and_jump() {
        let t = ByteTest {
            nbytes: 2,
            op: ByteOp::Eq,
            negated: false,
            value: Num::Lit(0x0102),
            offset: Num::Lit(1),
            relative: false,
            endian: Endian::Big,
            format: ByteFormat::Binary,
            bitmask: None,
        };
        assert_eq!(byte_test(&t, &[0, 1, 2], 0), Some(true));
        assert_eq!(byte_test(&t, &[0, 1], 0), None);
        let j = ByteJump {
            nbytes: 1,
            offset: Num::Lit(0),
            relative: false,
            multiplier: 1,
            endian: Endian::Big,
            format: ByteFormat::Binary,
            align: false,
            from_beginning: false,
            from_end: false,
            post_offset: 0,
            bitmask: None,
        };
        assert_eq!(byte_jump(&j, &[2, 9, 9, 7], 0), Some(3));
        assert_eq!(byte_jump(&j, &[200, 9], 0), None);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(buf in proptest::collection::vec(proptest::num::u8::ANY, 0..64),
                        pat in proptest::collection::vec(proptest::num::u8::ANY, 0..4),
                        dist in -8i64..8, within in 0i64..8, off in 0i64..8) {
            let a = content(&pat);
            let mut b = content(&pat);
            b.distance = Some(Num::Lit(dist));
            b.within = Some(Num::Lit(within));
            b.offset = Some(Num::Lit(off));
            let d = IsDataAt { pos: Num::Lit(dist), negated: false, relative: true };
            let s = steps(vec![Match::Content(a), Match::Content(b), Match::IsDataAt(d)]);
            let _ = inspect(&s, &buf);
        }
    }
}
