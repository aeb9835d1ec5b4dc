//! Inspection of one buffer by a rule's list of steps (content, pcre,
//! isdataat, byte_test, byte_jump, byte_extract, bsize, base64_decode),
//! with Suricata's cursor semantics: relative keywords continue after the
//! previous anchor, and a failed relative step makes the previous content
//! try its next occurrence. `byte_extract` variables hold for the rest of
//! the list; transforms are applied to the buffer first ([`Program`]).

use memchr::memmem;

use crate::signatures::buffer::{Buffer, Transform};
use crate::signatures::rule::{
    BufferList, ByteExtract, ByteFormat, ByteJump, ByteOp, ByteTest, Content, Endian, IsDataAt,
    Match, Num,
};
use crate::signatures::transform;

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

/// Values of `byte_extract` variables during one inspection (at most
/// [`crate::signatures::compile::MAX_BYTE_VARS`], looked up by name).
#[derive(Default)]
struct Vars<'s> {
    names: [&'s str; MAX_VARS],
    vals: [i64; MAX_VARS],
    n: usize,
}

const MAX_VARS: usize = crate::signatures::compile::MAX_BYTE_VARS;

impl<'s> Vars<'s> {
    fn get(&self, name: &str) -> Option<i64> {
        let i = self.names.get(..self.n)?.iter().position(|&x| x == name)?;
        self.vals.get(i).copied()
    }

    fn set(&mut self, name: &'s str, v: i64) {
        let i = match self
            .names
            .get(..self.n)
            .and_then(|ns| ns.iter().position(|&x| x == name))
        {
            Some(i) => i,
            None if self.n < MAX_VARS => {
                self.n += 1;
                self.n - 1
            }
            None => return,
        };
        if let (Some(nm), Some(val)) = (self.names.get_mut(i), self.vals.get_mut(i)) {
            *nm = name;
            *val = v;
        }
    }
}

/// State of one inspection: budget, variables, base64 output.
struct Ctx<'s, 'w> {
    budget: Budget,
    vars: Vars<'s>,
    /// Steps of the `base64_data` buffer, run after each `base64_decode`.
    b64_steps: &'s [Step],
    b64: &'w mut Vec<u8>,
}

/// Per-worker scratch of the inspections: transform output and the
/// `base64_decode` output. Reused, so inspection does not allocate once
/// the buffers have grown.
#[derive(Debug, Default)]
pub struct InspectScratch {
    a: Vec<u8>,
    b: Vec<u8>,
    b64: Vec<u8>,
}

/// One buffer list as the engine runs it: the transforms applied to the
/// buffer first, the steps, and (when the list holds a `base64_decode`)
/// the steps of the `base64_data` buffer.
#[derive(Debug, Default)]
pub struct Program {
    /// Transforms, in order.
    pub transforms: Vec<Transform>,
    /// The steps on the (transformed) buffer.
    pub steps: Vec<Step>,
    /// The steps on the decoded data of `base64_decode`.
    pub b64_steps: Vec<Step>,
}

impl Program {
    /// True when the whole list matches `buf` (transforms applied first,
    /// into `sc`).
    pub fn run(&self, buf: &[u8], sc: &mut InspectScratch) -> bool {
        let InspectScratch { a, b, b64 } = sc;
        let data = transform::apply(&self.transforms, buf, a, b);
        let mut ctx = Ctx {
            budget: Budget(MAX_STEPS),
            vars: Vars::default(),
            b64_steps: &self.b64_steps,
            b64,
        };
        run(&self.steps, data, 0, &mut ctx)
    }
}

/// Builds the programs of a rule's buffer lists; `compile` compiles each
/// pcre. The `base64_data` list is attached to the list holding the
/// `base64_decode` before it, as Suricata inspects it: right after the
/// decode, in the same inspection.
pub fn build_programs(
    lists: &[BufferList],
    compile: impl Fn(&crate::signatures::rule::Pcre) -> Result<pcre2::bytes::Regex, String>,
) -> Result<Vec<(Buffer, Program)>, String> {
    let steps_of = |l: &BufferList| -> Result<Vec<Step>, String> {
        l.matches
            .iter()
            .map(|m| {
                let re = match m {
                    Match::Pcre(p) => Some(compile(p)?),
                    _ => None,
                };
                Ok(Step { m: m.clone(), re })
            })
            .collect()
    };
    let mut out: Vec<(Buffer, Program)> = Vec::with_capacity(lists.len());
    let mut b64: Option<Vec<Step>> = None;
    for l in lists {
        if l.buffer == Buffer::Base64Data {
            if b64.is_some() {
                return Err("base64_data used twice".into());
            }
            let steps = steps_of(l)?;
            if steps.iter().any(|s| matches!(s.m, Match::Base64Decode(_))) {
                return Err("base64_decode inside base64_data".into());
            }
            b64 = Some(steps);
            continue;
        }
        out.push((
            l.buffer,
            Program {
                transforms: l.transforms.clone(),
                steps: steps_of(l)?,
                b64_steps: Vec::new(),
            },
        ));
    }
    if let Some(steps) = b64 {
        let host = out.iter_mut().find(|(_, p)| {
            p.steps
                .iter()
                .any(|s| matches!(s.m, Match::Base64Decode(_)))
        });
        match host {
            Some((_, p)) => p.b64_steps = steps,
            None => return Err("base64_data without base64_decode".into()),
        }
    }
    Ok(out)
}

/// Inspects `buf` with `steps` (no transforms, no base64_data); true when
/// every step matches.
pub fn inspect(steps: &[Step], buf: &[u8]) -> bool {
    let mut b64 = Vec::new();
    let mut ctx = Ctx {
        budget: Budget(MAX_STEPS),
        vars: Vars::default(),
        b64_steps: &[],
        b64: &mut b64,
    };
    run(steps, buf, 0, &mut ctx)
}

fn val(n: &Num, vars: &Vars<'_>) -> Option<i64> {
    match n {
        Num::Lit(v) => Some(*v),
        Num::Var(name) => vars.get(name),
    }
}

/// The window `[start, end)` a content may be found in, or None if empty.
fn content_window(
    c: &Content,
    len: usize,
    cursor: usize,
    vars: &Vars<'_>,
) -> Option<(usize, usize)> {
    let len_i = i64::try_from(len).ok()?;
    let cur = i64::try_from(cursor).ok()?;
    let get = |n: &Option<Num>| -> Option<Option<i64>> {
        match n {
            None => Some(None),
            Some(n) => val(n, vars).map(Some),
        }
    };
    // An unknown variable (set in another buffer, or never): no match.
    let (dist, within, off, depth) = (
        get(&c.distance)?,
        get(&c.within)?,
        get(&c.offset)?,
        get(&c.depth)?,
    );
    let (mut start, mut end);
    if c.is_relative() {
        let dist = dist.unwrap_or(0);
        start = cur.saturating_add(dist).max(0);
        end = len_i;
        if let Some(w) = within {
            end = end.min(cur.saturating_add(dist).saturating_add(w));
        }
        if let Some(o) = off {
            start = start.max(cur.saturating_add(o));
        }
        if let Some(d) = depth {
            end = end.min(cur.saturating_add(d));
        }
    } else {
        let off = off.unwrap_or(0).max(0);
        start = off;
        end = len_i;
        if c.startswith {
            end = end.min(i64::try_from(c.pattern.len()).ok()?);
        }
        if let Some(d) = depth {
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

fn run<'s>(steps: &'s [Step], buf: &[u8], cursor: usize, ctx: &mut Ctx<'s, '_>) -> bool {
    let Some((first, rest)) = steps.split_first() else {
        return true;
    };
    if !ctx.budget.take() {
        return false;
    }
    match &first.m {
        Match::Content(c) => {
            let Some((start, end)) = content_window(c, buf.len(), cursor, &ctx.vars) else {
                return c.negated && run(rest, buf, cursor, ctx);
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
                if run(rest, buf, e, ctx) {
                    return true;
                }
                // Only relative followers can profit from a later match.
                if !rest.iter().any(is_relative) || !ctx.budget.take() {
                    return false;
                }
                from = p + 1;
            }
            c.negated && !found_any && run(rest, buf, cursor, ctx)
        }
        Match::Pcre(p) => {
            let Some(re) = &first.re else {
                return false;
            };
            let from = if p.flags.relative { cursor } else { 0 };
            let Some(sub) = buf.get(from..) else {
                return p.negated && run(rest, buf, cursor, ctx);
            };
            match re.find(sub) {
                Ok(Some(m)) if !p.negated => run(rest, buf, from + m.end(), ctx),
                Ok(Some(_)) => false,
                Ok(None) | Err(_) => p.negated && run(rest, buf, cursor, ctx),
            }
        }
        Match::IsDataAt(d) => {
            isdataat(d, buf.len(), cursor, &ctx.vars) && run(rest, buf, cursor, ctx)
        }
        Match::ByteTest(t) => {
            byte_test_vars(t, buf, cursor, &ctx.vars) == Some(true) && run(rest, buf, cursor, ctx)
        }
        Match::ByteJump(j) => match byte_jump_vars(j, buf, cursor, &ctx.vars) {
            Some(c) => run(rest, buf, c, ctx),
            None => false,
        },
        Match::ByteExtract(e) => match byte_extract(e, buf, cursor) {
            Some((v, c)) => {
                ctx.vars.set(&e.name, v);
                run(rest, buf, c, ctx)
            }
            None => false,
        },
        Match::Bsize(cmp) => cmp.matches(buf.len() as u64) && run(rest, buf, cursor, ctx),
        Match::Base64Decode(d) => {
            let start = if d.relative { cursor } else { 0 };
            let Some(src) = buf.get(start..).and_then(|s| s.get(d.offset as usize..)) else {
                return false;
            };
            let src = match d.bytes {
                0 => src,
                n => src.get(..n as usize).unwrap_or(src),
            };
            let mut data = std::mem::take(ctx.b64);
            let ok =
                transform::base64_decode(src, &mut data) > 0 && run(ctx.b64_steps, &data, 0, ctx);
            *ctx.b64 = data;
            ok && run(rest, buf, cursor, ctx)
        }
    }
}

fn is_relative(s: &Step) -> bool {
    match &s.m {
        Match::Content(c) => c.is_relative(),
        Match::Pcre(p) => p.flags.relative,
        Match::IsDataAt(d) => d.relative,
        Match::ByteTest(t) => t.relative,
        Match::ByteJump(j) => j.relative,
        Match::ByteExtract(e) => e.relative,
        Match::Base64Decode(d) => d.relative,
        _ => false,
    }
}

fn isdataat(d: &IsDataAt, len: usize, cursor: usize, vars: &Vars<'_>) -> bool {
    let Some(pos) = val(&d.pos, vars) else {
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

fn start_of(offset: &Num, relative: bool, cursor: usize, vars: &Vars<'_>) -> Option<usize> {
    let off = val(offset, vars)?;
    let base = if relative { cursor as i64 } else { 0 };
    usize::try_from(base.checked_add(off)?).ok()
}

fn masked(v: u64, mask: Option<u32>) -> u64 {
    match mask {
        Some(mask) => {
            let mask = u64::from(mask);
            let v = v & mask;
            if mask != 0 {
                v >> mask.trailing_zeros()
            } else {
                v
            }
        }
        None => v,
    }
}

/// `byte_test`: None when the bytes are not there (no match).
pub fn byte_test(t: &ByteTest, buf: &[u8], cursor: usize) -> Option<bool> {
    byte_test_vars(t, buf, cursor, &Vars::default())
}

fn byte_test_vars(t: &ByteTest, buf: &[u8], cursor: usize, vars: &Vars<'_>) -> Option<bool> {
    let at = start_of(&t.offset, t.relative, cursor, vars)?;
    let v = masked(
        read_num(buf, at, usize::from(t.nbytes), t.endian, t.format)?,
        t.bitmask,
    );
    let want = u64::try_from(val(&t.value, vars)?).ok()?;
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
    byte_jump_vars(j, buf, cursor, &Vars::default())
}

fn byte_jump_vars(j: &ByteJump, buf: &[u8], cursor: usize, vars: &Vars<'_>) -> Option<usize> {
    let at = start_of(&j.offset, j.relative, cursor, vars)?;
    let n = usize::from(j.nbytes);
    let mut v = masked(read_num(buf, at, n, j.endian, j.format)?, j.bitmask);
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

/// `byte_extract`: (value, new cursor after the bytes read), or None when
/// the bytes are not there. Bitmask, multiplier and alignment are applied
/// as Suricata does (mask and shift, multiply, round up to `align`).
pub fn byte_extract(e: &ByteExtract, buf: &[u8], cursor: usize) -> Option<(i64, usize)> {
    let base = if e.relative { cursor as i64 } else { 0 };
    let at = usize::try_from(base.checked_add(i64::from(e.offset))?).ok()?;
    let n = usize::from(e.nbytes);
    let n = if n == 0 && e.format != ByteFormat::Binary {
        // `string` with 0 bytes: the digits present.
        buf.get(at..)?
            .iter()
            .take(23)
            .take_while(|c| c.is_ascii_hexdigit())
            .count()
    } else {
        n
    };
    let mut v = masked(read_num(buf, at, n, e.endian, e.format)?, e.bitmask);
    v = v.checked_mul(u64::from(e.multiplier.max(1)))?;
    if e.align > 1 {
        let a = u64::from(e.align);
        if v % a != 0 {
            v = v.checked_add(a - v % a)?;
        }
    }
    Some((i64::try_from(v).ok()?, at.checked_add(n)?))
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
