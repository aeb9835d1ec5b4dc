//! A shift-or filter over many patterns at once, after Hyperscan's FDR:
//! where in a buffer some pattern of a set may start, found without
//! following an automaton byte by byte.
//!
//! ```text
//! pattern "evil" in bucket k:  lane 0 ("ev"), lane 1 ("vi"), lane 2 ("il")
//! reach[dom(a, b)] : u32 = 4 lanes × 8 buckets, bit 0 = "may match here"
//! state = state << 8 | reach[dom(hay[t], hay[t + 1])]      (per position)
//! lane 3 of state at t: bucket k may start at t - 3 when its bit is 0
//! ```
//!
//! Each position costs one load from a 32 KiB table (independent of the
//! previous position's, so the loop runs at the processor's throughput,
//! not at the latency of a chain of transitions), a shift and an or; one
//! test covers four positions. A bucket reports a position only when the
//! two-byte windows at four consecutive offsets (the pattern's first five
//! bytes) all fit some pattern of that bucket, so on text the verification
//! (an anchored trie walk, in the caller) is rare even for thousands of
//! patterns.
//!
//! Case: the table is filled for both ASCII cases of every letter, so the
//! filter runs on the bytes as they are (no lowercased copy); the caller's
//! trie is case-insensitive too.
//!
//! Exactness: every pattern's windows clear their bits, and hashing two
//! bytes into the table's domain only makes more positions report, so a
//! position where a pattern occurs is always reported ([`Filter::scan`]
//! equals the position-by-position [`Filter::scan_scalar`], proptested,
//! and the prefilter as a whole is proptested against a naive search).

/// Bits of the table index.
const DOMAIN_BITS: u32 = 13;
/// Entries of the table.
const DOMAIN: usize = 1 << DOMAIN_BITS;
/// Two-byte windows checked per pattern (its first `LANES + 1` bytes).
pub(super) const LANES: usize = 4;
/// Buckets: sets of patterns told apart by the filter.
pub(super) const BUCKETS: usize = 8;
/// Bits of the confirmation bitmap's index.
const CONFIRM_BITS: u32 = 18;
/// Patterns are confirmed by up to this many of their first bytes.
const CONFIRM_LEN: usize = 4;

/// Index into the confirmation bitmap of the first `min(len, 4)` bytes
/// of a pattern of length `len` (`1 < len`), read from `w`. Every byte
/// has bit 5 set first, so both ASCII cases of a letter give the same
/// index (other bytes may collide, which only costs a walk); the length
/// class salts the hash, so a two-byte key never stands for a four-byte
/// one.
#[inline(always)]
fn confirm_index(w: &[u8], len: usize) -> Option<usize> {
    let (v, mul) = match (len, w) {
        (4.., &[a, b, c, d, ..]) => (u32::from_le_bytes([a, b, c, d]), 0x9E37_79B1u32),
        (3, &[a, b, c, ..]) => (u32::from_le_bytes([a, b, c, 0]), 0x85EB_CA77),
        (2, &[a, b, ..]) => (u32::from_le_bytes([a, b, 0, 0]), 0xC2B2_AE3D),
        _ => return None,
    };
    let v = v | 0x2020_2020;
    Some((v.wrapping_mul(mul) >> (32 - CONFIRM_BITS)) as usize)
}

/// Lanes 3..=6 of the 64-bit state: the four start positions one test
/// covers.
const CHECK: u64 = 0x00FF_FFFF_FF00_0000;

/// Table index of the two bytes `a b`: the 16-bit window `v = a | b << 8`
/// folded to [`DOMAIN_BITS`] as `v ^ v >> 3`. The fold is linear, so the
/// indices of four consecutive windows come from one 64-bit load `w` as
/// the bytes of `w ^ w >> 3` ([`Filter::run`]).
#[inline(always)]
fn dom(a: u8, b: u8) -> usize {
    let v = usize::from(a) | usize::from(b) << 8;
    (v ^ (v >> 3)) & (DOMAIN - 1)
}

/// Both ASCII cases of `b` (one byte when it is no letter).
fn cases(b: u8) -> ([u8; 2], usize) {
    if b.is_ascii_alphabetic() {
        ([b.to_ascii_lowercase(), b.to_ascii_uppercase()], 2)
    } else {
        ([b, b], 1)
    }
}

/// Two-byte windows of `pat` the filter checks (a one-byte pattern: its
/// byte followed by anything, one lane).
fn lanes_of(pat: &[u8]) -> usize {
    pat.len().saturating_sub(1).clamp(1, LANES)
}

/// The filter of one pattern set, its patterns spread over [`BUCKETS`]
/// buckets.
#[derive(Debug, Clone)]
pub(super) struct Filter {
    /// Bit `lane * 8 + bucket` is 0 where some pattern of the bucket has,
    /// at offset `lane`, a two-byte window that maps to this entry.
    reach: Box<[u32; DOMAIN]>,
    /// Lanes each bucket checks: the fewest of its patterns (the others
    /// are "anything" for the bucket). 0: an empty bucket.
    lanes: [usize; BUCKETS],
    /// The value of a window past the end of the buffer: anything, for
    /// the buckets that have patterns.
    pad: u32,
    /// Second stage: the bit [`confirm_index`] of the first bytes of
    /// every pattern (up to four). The shift-or stage tells apart only
    /// eight buckets of hundreds of patterns each; this one drops most of
    /// the positions it reports before the caller walks a trie there.
    confirm: Box<[u64]>,
    /// Per length class (1, 2, 3, 4 or more bytes): the buckets holding a
    /// pattern of that class. One-byte patterns are not confirmed.
    by_len: [u8; CONFIRM_LEN],
}

impl Default for Filter {
    fn default() -> Self {
        Filter::new()
    }
}

impl Filter {
    /// A filter that reports nothing.
    pub(super) fn new() -> Filter {
        Filter {
            reach: Box::new([u32::MAX; DOMAIN]),
            lanes: [0; BUCKETS],
            pad: u32::MAX,
            confirm: vec![0u64; (1 << CONFIRM_BITS) / 64].into_boxed_slice(),
            by_len: [0; CONFIRM_LEN],
        }
    }

    /// Heap bytes of the filter.
    pub(super) fn bytes() -> usize {
        DOMAIN * 4 + (1 << CONFIRM_BITS) / 8
    }

    /// The buckets of `mask` that may start a pattern at `s`: those of
    /// one-byte patterns, and the others only where the bytes at `s` are
    /// the (case-folded) start of one of their length class.
    /// The second stage, which the caller of [`Filter::scan`] applies to a
    /// report once its own cheaper checks have passed.
    #[inline(always)]
    pub(super) fn confirmed(&self, hay: &[u8], s: usize, mask: u8) -> u8 {
        let w = hay.get(s..).unwrap_or_default();
        let [b1, b2, b3, b4] = self.by_len;
        let mut out = mask & b1;
        for (len, b) in [(4, b4), (3, b3), (2, b2)] {
            if mask & b & !out != 0 && self.hit(confirm_index(w, len)) {
                out |= mask & b;
            }
        }
        out
    }

    /// True when bit `i` of the confirmation bitmap is set.
    #[inline(always)]
    fn hit(&self, i: Option<usize>) -> bool {
        i.and_then(|i| self.confirm.get(i / 64).map(|w| w & (1 << (i % 64)) != 0))
            .unwrap_or(false)
    }

    fn clear(&mut self, a: u8, b: u8, lane: usize, bucket: usize) {
        if let Some(e) = self.reach.get_mut(dom(a, b)) {
            *e &= !(1u32 << (lane * 8 + bucket));
        }
    }

    /// Adds `pat` (any case; matched ignoring ASCII case) to `bucket`.
    /// Call [`Filter::finish`] after the last pattern.
    pub(super) fn add(&mut self, pat: &[u8], bucket: usize) {
        if pat.is_empty() || bucket >= BUCKETS {
            return;
        }
        let n = lanes_of(pat);
        let class = pat.len().min(CONFIRM_LEN);
        if let Some(m) = self.by_len.get_mut(class - 1) {
            *m |= 1 << bucket;
        }
        if let Some(i) = confirm_index(pat, pat.len()) {
            if let Some(w) = self.confirm.get_mut(i / 64) {
                *w |= 1 << (i % 64);
            }
        }
        if let Some(l) = self.lanes.get_mut(bucket) {
            *l = if *l == 0 { n } else { (*l).min(n) };
        }
        if let [b0] = pat {
            let (xs, nx) = cases(*b0);
            for &x in xs.iter().take(nx) {
                for y in 0..=255u8 {
                    self.clear(x, y, 0, bucket);
                }
            }
            return;
        }
        for (lane, w) in pat.windows(2).take(LANES).enumerate() {
            let ((xs, nx), (ys, ny)) = (cases(w[0]), cases(w[1]));
            for &x in xs.iter().take(nx) {
                for &y in ys.iter().take(ny) {
                    self.clear(x, y, lane, bucket);
                }
            }
        }
    }

    /// Makes the lanes a bucket does not check match anything.
    pub(super) fn finish(&mut self) {
        let mut any = 0u32;
        self.pad = u32::MAX;
        for (bucket, &n) in self.lanes.iter().enumerate() {
            if n == 0 {
                continue;
            }
            for lane in 0..LANES {
                self.pad &= !(1 << (lane * 8 + bucket));
            }
            for lane in n..LANES {
                any |= 1 << (lane * 8 + bucket);
            }
        }
        for e in self.reach.iter_mut() {
            *e &= !any;
        }
    }

    /// Calls `f(position, buckets)` for every position of `hay` where a
    /// pattern of one of `buckets` (bit `k`: bucket `k`) may start, in
    /// increasing order, until `f` returns false.
    #[inline]
    pub(super) fn scan(&self, hay: &[u8], f: &mut impl FnMut(usize, u8) -> bool) {
        let n = hay.len();
        if n == 0 {
            return;
        }
        let r = &*self.reach;
        let mut st: u64 = u64::MAX;
        let mut t = 0usize;
        // Four positions at a time while eight bytes can be loaded.
        loop {
            let (at, state, hit) = self.run(hay, t, st);
            (t, st) = (at, state);
            if !hit {
                break;
            }
            // lanes 6..=3 are the starts t - 3 ..= t
            for m in (3..=6usize).rev() {
                let lane = (st >> (8 * m)) as u8;
                if lane != 0xff {
                    let Some(s) = (t + 3).checked_sub(m) else {
                        continue;
                    };
                    if !f(s, !lane) {
                        return;
                    }
                }
            }
            t += 4;
        }
        // Then while the four windows are in `hay`.
        while let Some(w) = hay.get(t..t + 5) {
            let w: [u8; 5] = match w.try_into() {
                Ok(w) => w,
                Err(_) => break,
            };
            let v = (u64::from(r[dom(w[0], w[1])]) << 24)
                | (u64::from(r[dom(w[1], w[2])]) << 16)
                | (u64::from(r[dom(w[2], w[3])]) << 8)
                | u64::from(r[dom(w[3], w[4])]);
            st = (st << 32) | v;
            if st | !CHECK != u64::MAX {
                for m in (3..=6usize).rev() {
                    let lane = (st >> (8 * m)) as u8;
                    if lane != 0xff {
                        let Some(s) = (t + 3).checked_sub(m) else {
                            continue;
                        };
                        if !f(s, !lane) {
                            return;
                        }
                    }
                }
            }
            t += 4;
        }
        // The rest one at a time; windows past the end match anything
        // (a pattern that fits the buffer never needs them).
        loop {
            let v = match (hay.get(t), hay.get(t + 1)) {
                (Some(&a), Some(&b)) => r[dom(a, b)],
                _ => self.pad,
            };
            st = (st << 8) | u64::from(v);
            if let Some(s) = t.checked_sub(3) {
                if s >= n {
                    return;
                }
                let lane = (st >> 24) as u8;
                if lane != 0xff && !f(s, !lane) {
                    return;
                }
            }
            t += 1;
        }
    }

    /// The shift-or loop: from `t` with state `st`, four positions per
    /// step while eight bytes can be loaded at `t`, until a step leaves
    /// some start position reported (returns its `t`, the state and true)
    /// or the bytes run out (false). Kept out of line and small, so its
    /// state stays in registers.
    ///
    /// Four shift-ors in one: the loads and their combination are
    /// independent of `st`, so only one shift and one or per four
    /// positions wait on the previous step.
    #[inline(never)]
    fn run(&self, hay: &[u8], mut t: usize, mut st: u64) -> (usize, u64, bool) {
        let r = &*self.reach;
        const M: u64 = (DOMAIN - 1) as u64;
        // Four positions' reach from the eight bytes `b` at `t`.
        let quad = |b: [u8; 8]| {
            let w = u64::from_le_bytes(b);
            let x = w ^ (w >> 3);
            (u64::from(r[(x & M) as usize]) << 24)
                | (u64::from(r[((x >> 8) & M) as usize]) << 16)
                | (u64::from(r[((x >> 16) & M) as usize]) << 8)
                | u64::from(r[((x >> 24) & M) as usize])
        };
        // Eight positions per step, one test for both halves.
        while let Some(b) = hay.get(t..t + 12) {
            let (Ok(lo), Ok(hi)) = (
                <[u8; 8]>::try_from(b.get(..8).unwrap_or_default()),
                <[u8; 8]>::try_from(b.get(4..12).unwrap_or_default()),
            ) else {
                break;
            };
            let first = (st << 32) | quad(lo);
            let second = (first << 32) | quad(hi);
            if (first | !CHECK) & (second | !CHECK) != u64::MAX {
                if first | !CHECK != u64::MAX {
                    return (t, first, true);
                }
                return (t + 4, second, true);
            }
            st = second;
            t += 8;
        }
        while let Some(b) = hay.get(t..t + 8) {
            let Ok(b) = <[u8; 8]>::try_from(b) else {
                break;
            };
            st = (st << 32) | quad(b);
            if st | !CHECK != u64::MAX {
                return (t, st, true);
            }
            t += 4;
        }
        (t, st, false)
    }

    /// [`Filter::scan`] position by position, without the four-at-a-time
    /// state: the definition it is tested against.
    #[cfg(test)]
    pub(super) fn scan_scalar(&self, hay: &[u8], f: &mut impl FnMut(usize, u8) -> bool) {
        for s in 0..hay.len() {
            let mut lanes = 0u8;
            for j in 0..LANES {
                let v = match (hay.get(s + j), hay.get(s + j + 1)) {
                    (Some(&a), Some(&b)) => self.reach.get(dom(a, b)).copied().unwrap_or(0),
                    _ => self.pad,
                };
                lanes |= (v >> (8 * j)) as u8;
            }
            if lanes == 0xff {
                continue;
            }
            if !f(s, !lanes) {
                return;
            }
        }
    }
}

/// Bucket (within `first..first + count`) of each of `pats`: patterns
/// grouped by how many windows the filter can check (a short pattern in a
/// bucket makes the others' later windows unchecked), then in byte order
/// (patterns that share their first bytes share bits), the buckets shared
/// out by the groups' sizes.
pub(super) fn assign(pats: &[&[u8]], first: usize, count: usize) -> Vec<usize> {
    let class = |p: &[u8]| if p.len() <= 1 { 0 } else { lanes_of(p) };
    let mut order: Vec<usize> = (0..pats.len()).collect();
    order.sort_by(|&a, &b| {
        let (pa, pb) = (pats.get(a).copied(), pats.get(b).copied());
        let (pa, pb) = (pa.unwrap_or_default(), pb.unwrap_or_default());
        (class(pa), pa).cmp(&(class(pb), pb))
    });
    // (class, patterns) in order; the shortest merged while more classes
    // than buckets.
    let mut classes: Vec<(usize, usize)> = Vec::new();
    for &i in &order {
        let c = class(pats.get(i).copied().unwrap_or_default());
        match classes.last_mut() {
            Some((lc, n)) if *lc == c => *n += 1,
            _ => classes.push((c, 1)),
        }
    }
    let count = count.max(1);
    while classes.len() > count {
        let (_, n0) = classes.remove(0);
        if let Some((_, n1)) = classes.first_mut() {
            *n1 += n0;
        }
    }
    let mut alloc = vec![1usize; classes.len()];
    for _ in classes.len()..count {
        let best = (0..classes.len()).max_by(|&a, &b| {
            let fa = classes.get(a).map_or(0, |c| c.1) * alloc.get(b).copied().unwrap_or(1);
            let fb = classes.get(b).map_or(0, |c| c.1) * alloc.get(a).copied().unwrap_or(1);
            fa.cmp(&fb)
        });
        if let Some(a) = best.and_then(|b| alloc.get_mut(b)) {
            *a += 1;
        }
    }
    let mut out = vec![first; pats.len()];
    let (mut at, mut bucket) = (0usize, first);
    for (ci, &(_, n)) in classes.iter().enumerate() {
        let q = alloc.get(ci).copied().unwrap_or(1).min(n.max(1));
        for (k, &i) in order.iter().skip(at).take(n).enumerate() {
            if let Some(o) = out.get_mut(i) {
                *o = bucket + k * q / n;
            }
        }
        at += n;
        bucket += alloc.get(ci).copied().unwrap_or(1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn positions(f: &Filter, hay: &[u8], scalar: bool) -> Vec<(usize, u8)> {
        let mut v = Vec::new();
        let mut push = |s: usize, b: u8| {
            v.push((s, b));
            true
        };
        if scalar {
            f.scan_scalar(hay, &mut push);
        } else {
            f.scan(hay, &mut push);
        }
        v
    }

    fn filter_of(pats: &[Vec<u8>]) -> Filter {
        let refs: Vec<&[u8]> = pats.iter().map(|p| &p[..]).collect();
        let buckets = assign(&refs, 0, BUCKETS);
        let mut f = Filter::new();
        for (p, &b) in pats.iter().zip(&buckets) {
            f.add(p, b);
        }
        f.finish();
        f
    }

    #[test]
    fn reports_each_occurrence_in_its_bucket_and_nothing_for_no_pattern() {
        let f = filter_of(&[b"evil".to_vec(), b"x".to_vec(), b"attack!".to_vec()]);
        let hay = b"an EVIL attACK! here, and evil at the end: evil";
        let got = positions(&f, hay, false);
        for (i, _) in hay.iter().enumerate() {
            let rest = hay[i..].to_ascii_lowercase();
            let occurs =
                rest.starts_with(b"evil") || rest.starts_with(b"x") || rest.starts_with(b"attack!");
            if occurs {
                assert!(got.iter().any(|&(s, _)| s == i), "missed {i}");
            }
        }
        assert!(positions(&Filter::new(), hay, false).is_empty());
        assert!(positions(&f, b"", false).is_empty());
    }

    #[test]
    fn confirmation_keeps_pattern_starts_and_drops_near_misses() {
        let f = filter_of(&[b"evil".to_vec(), b"ab".to_vec(), b"q".to_vec()]);
        let all = u8::MAX;
        // a pattern's first bytes, in any case: kept
        assert_ne!(f.confirmed(b"xx EviL!", 3, all), 0);
        assert_ne!(f.confirmed(b"AB", 0, all), 0);
        // same first byte, other bytes: dropped (for these fixed hashes)
        assert_eq!(f.confirmed(b"evix", 0, all) & !f.by_len[0], 0);
        assert_eq!(f.confirmed(b"ax", 0, all) & !f.by_len[0], 0);
        // four bytes cannot fit at the end: no four-byte pattern there
        assert_eq!(f.confirmed(b"evi", 0, all) & f.by_len[3] & !f.by_len[1], 0);
        // one-byte patterns' buckets are never dropped
        assert_eq!(f.confirmed(b"zzzz", 0, all) & f.by_len[0], f.by_len[0]);
    }

    #[test]
    fn buckets_separate_lengths() {
        let pats: Vec<&[u8]> = vec![b"a", b"bb", b"ccc", b"dddd", b"eeeee", b"ffffff"];
        let b = assign(&pats, 4, 4);
        assert!(b.iter().all(|&x| (4..8).contains(&x)));
        // the one-byte pattern shares its bucket with no five-byte one
        assert_ne!(b[0], b[4]);
        assert_eq!(assign(&pats, 0, 8).len(), 6);
    }

    proptest! {
        #[test]
        fn scan_equals_scalar(
            pats in proptest::collection::vec(
                proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'B'), Just(0u8), any::<u8>()], 1..7),
                1..60),
            hay in proptest::collection::vec(prop_oneof![Just(b'A'), Just(b'b'), Just(0u8), any::<u8>()], 0..200),
        ) {
            let f = filter_of(&pats);
            prop_assert_eq!(positions(&f, &hay, false), positions(&f, &hay, true));
            // every occurrence is reported, in the pattern's bucket
            let refs: Vec<&[u8]> = pats.iter().map(|p| &p[..]).collect();
            let buckets = assign(&refs, 0, BUCKETS);
            let got = positions(&f, &hay, false);
            let low = hay.to_ascii_lowercase();
            for (p, &b) in pats.iter().zip(&buckets) {
                let p = p.to_ascii_lowercase();
                for s in 0..low.len() {
                    if low[s..].starts_with(&p) {
                        // reported in its bucket, and confirmed there
                        prop_assert!(got.iter().any(|&(x, m)| x == s
                            && m & (1 << b) != 0
                            && f.confirmed(&hay, s, m) & (1 << b) != 0));
                    }
                }
            }
        }
    }
}
