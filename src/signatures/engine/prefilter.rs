//! Candidate selection (Suricata's "multi pattern matcher" stage): which
//! rules of a group could match a buffer, found without running them.
//!
//! ```text
//! rule fast patterns ──lowercase, dedupe──> distinct patterns ──> rule lists
//! per group:  0 patterns               -> no scan
//!             1 pattern, no letter     -> memchr::memmem (SIMD substring search)
//!             otherwise                -> shift-or filter (fdr.rs) over the
//!                                         raw bytes, anchored walk of a
//!                                         case-insensitive trie where it hits
//! port groups: the any-port group's patterns share the port group's filter
//!              (buckets 0-3 and 4-7), so a packet is scanned once
//! buffer ──filter──> positions ──walk──> pattern bitmap ──> rule lists
//!        ──> candidate bitmap (no allocation per packet)
//! ```
//!
//! Filter and trie ignore ASCII case, so one searcher serves `nocase` and
//! case-sensitive contents alike without a lowercased copy of the buffer:
//! a superset of the candidates, and the full inspection then honours each
//! content's own case. A candidate is only a candidate: every rule is
//! still checked in full afterwards, so the prefilter can only cost time,
//! never change a verdict, as long as it never misses a rule whose fast
//! pattern occurs.

use std::net::IpAddr;

use aho_corasick::automaton::Automaton;
use aho_corasick::nfa::contiguous::NFA;
use aho_corasick::{Anchored, MatchKind};
use memchr::memmem::Finder;
use rustc_hash::FxHashMap;

use super::super::addr::{AddrSet, PortSet};
use super::super::header::Direction;
use super::super::rule::{FlowDir, Rule};
use super::fdr::{assign, Filter, BUCKETS, LANES};

/// The searcher of one group, chosen by its patterns.
#[derive(Debug)]
enum Searcher {
    /// No pattern: nothing to scan.
    None,
    /// One pattern without ASCII letters (case cannot matter): a SIMD
    /// substring search; one hit is enough.
    One(Box<Finder<'static>>),
    /// The shift-or filter over the group's patterns; the trie
    /// ([`Prefilter::nfa`]) is walked where it reports a position.
    Filtered(Filter),
    /// The group's own filter was dropped because every scan goes
    /// through a filter shared with the any-port group.
    Merged,
}

/// Sizes of one prefilter, for `Ruleset::stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrefilterStats {
    /// Prefilters (groups × directions × buffers) with a searcher.
    pub searchers: usize,
    /// Distinct fast patterns over all prefilters.
    pub patterns: usize,
    /// The largest pattern set of one prefilter.
    pub largest: usize,
    /// Rule entries behind the patterns (a rule in several groups counts
    /// in each).
    pub pattern_rules: usize,
    /// Rules always evaluated (no fast pattern, not indexed by address).
    pub always: usize,
    /// Heap bytes of the searchers.
    pub searcher_bytes: usize,
}

impl PrefilterStats {
    /// Adds `o` to these sums.
    pub fn add(&mut self, o: &PrefilterStats) {
        self.searchers += o.searchers;
        self.patterns += o.patterns;
        self.largest = self.largest.max(o.largest);
        self.pattern_rules += o.pattern_rules;
        self.always += o.always;
        self.searcher_bytes += o.searcher_bytes;
    }
}

/// Candidate rules of one group: a searcher over the distinct fast
/// patterns, the rules behind each pattern, and the rules that have none.
#[derive(Debug)]
pub(super) struct Prefilter {
    /// Rules without a fast pattern, not indexed by address.
    pub(super) always: Vec<u32>,
    searcher: Searcher,
    /// Build time: lowercased pattern → rules.
    pending: FxHashMap<Box<[u8]>, Vec<u32>>,
    /// The distinct patterns (lowercased) by id.
    pats: Vec<Box<[u8]>>,
    /// Case-insensitive trie over `pats` (anchored walks where a filter
    /// hits; one unanchored scan when the walk budget is spent).
    nfa: Option<NFA>,
    /// Pattern id → `pat_rules[pat_start[id]..pat_start[id + 1]]`.
    pat_start: Vec<u32>,
    pat_rules: Vec<u32>,
    /// Rules without a fast pattern whose header names a small IPv4 set
    /// (IP-list rules): found by address instead of tried on every packet.
    by_src: AddrIndex,
    by_dst: AddrIndex,
    /// Unique among all prefilters built by this process (the key of its
    /// walks in [`WalkCache`], which outlives a reloaded ruleset).
    uid: u64,
}

/// Source of [`Prefilter::uid`].
static NEXT_UID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl Default for Prefilter {
    fn default() -> Self {
        Prefilter {
            always: Vec::new(),
            searcher: Searcher::None,
            pending: FxHashMap::default(),
            pats: Vec::new(),
            nfa: None,
            pat_start: Vec::new(),
            pat_rules: Vec::new(),
            by_src: AddrIndex::default(),
            by_dst: AddrIndex::default(),
            uid: 0,
        }
    }
}

/// Candidate marks; kept in the worker's `Scratch` and reused, so a scan
/// never allocates once the vectors have grown to the largest ruleset.
#[derive(Debug, Default)]
pub(super) struct Cands {
    /// Candidate rules, in the order found.
    pub(super) list: Vec<u32>,
    /// One bit per rule: already a candidate.
    seen: Vec<u64>,
    /// Patterns found by the current scan.
    pats: Vec<u32>,
    /// One bit per pattern of the current scan: already found.
    pat_seen: Vec<u64>,
    /// Results of recent trie walks (see [`WalkCache`]).
    walks: WalkCache,
}

/// Recent trie walks and what they found, by the bytes they read: an
/// anchored walk that ended at a dead state within [`WALK_CACHE_LEN`]
/// bytes depends on those bytes and the trie only, so the same bytes at
/// another position, or in another packet, find the same patterns. Text
/// repeats its words ("class=", "function", "<a href="), and each
/// repetition cost a walk through a trie too large for the cache (a cache
/// miss per step); a hit here costs two probes of this table.
#[derive(Debug)]
struct WalkCache {
    slots: Box<[WalkSlot]>,
}

/// Slots of [`WalkCache`] (direct-mapped, two probes).
const WALK_CACHE_SLOTS: usize = 2048;
/// Longest walk remembered.
const WALK_CACHE_LEN: usize = 16;
/// Most patterns one remembered walk found.
const WALK_CACHE_PATS: usize = 3;

/// One remembered walk.
#[derive(Debug, Clone, Copy, Default)]
struct WalkSlot {
    /// [`Prefilter::uid`] of the trie walked; 0: empty (uids start at 1).
    owner: u64,
    /// Bytes the walk read (its last one led to the dead state).
    len: u8,
    /// Patterns found (ids in the trie).
    n: u8,
    bytes: [u8; WALK_CACHE_LEN],
    pats: [u32; WALK_CACHE_PATS],
}

impl Default for WalkCache {
    fn default() -> Self {
        WalkCache {
            slots: vec![WalkSlot::default(); WALK_CACHE_SLOTS].into_boxed_slice(),
        }
    }
}

impl WalkCache {
    /// Slot of `owner`'s walk from `rest`, keyed by its first `k` bytes
    /// (walks of 8 bytes or more by 8, shorter ones by 4).
    #[inline]
    fn slot(owner: u64, rest: &[u8], k: usize) -> usize {
        let mut w = [0u8; 8];
        for (d, s) in w.iter_mut().zip(rest.iter().take(k)) {
            *d = *s;
        }
        let h = (u64::from_le_bytes(w) ^ owner.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ k as u64)
            .wrapping_mul(0xD6E8_FEB8_6659_FD93);
        (h >> 40) as usize % WALK_CACHE_SLOTS
    }

    /// The remembered walk of `owner` whose bytes start `rest`.
    #[inline]
    fn lookup(&self, owner: u64, rest: &[u8]) -> Option<WalkSlot> {
        for k in [8, 4] {
            if rest.len() < k {
                continue;
            }
            if let Some(e) = self.slots.get(Self::slot(owner, rest, k)) {
                let n = usize::from(e.len);
                if e.owner == owner
                    && (k == 8) == (n >= 8)
                    && rest.get(..n).is_some_and(|r| Some(r) == e.bytes.get(..n))
                {
                    return Some(*e);
                }
            }
        }
        None
    }

    /// Remembers a walk of `owner` that read `rest[..len]` and found
    /// `pats` (when it fits).
    #[inline]
    fn record(&mut self, owner: u64, rest: &[u8], len: usize, pats: &[u32]) {
        if !(4..=WALK_CACHE_LEN).contains(&len) || pats.len() > WALK_CACHE_PATS {
            return;
        }
        let k = if len >= 8 { 8 } else { 4 };
        let i = Self::slot(owner, rest, k);
        let (Some(e), Some(b)) = (self.slots.get_mut(i), rest.get(..len)) else {
            return;
        };
        e.owner = owner;
        e.len = len as u8;
        e.n = pats.len() as u8;
        if let Some(d) = e.bytes.get_mut(..len) {
            d.copy_from_slice(b);
        }
        for (d, p) in e.pats.iter_mut().zip(pats) {
            *d = *p;
        }
    }
}

impl Cands {
    /// Adds rule `r` once.
    #[inline]
    pub(super) fn push(&mut self, r: u32) {
        let (w, b) = ((r / 64) as usize, r % 64);
        if self.seen.len() <= w {
            self.seen.resize(w + 1, 0);
        }
        if let Some(word) = self.seen.get_mut(w) {
            if *word & (1 << b) == 0 {
                *word |= 1 << b;
                self.list.push(r);
            }
        }
    }

    /// Starts a new candidate set.
    pub(super) fn clear(&mut self) {
        self.list.clear();
    }

    /// Sorts the candidates into evaluation order and clears the marks.
    pub(super) fn finish(&mut self) {
        for &r in &self.list {
            if let Some(word) = self.seen.get_mut((r / 64) as usize) {
                *word = 0;
            }
        }
        self.list.sort_unstable();
    }

    #[inline]
    fn push_pat(&mut self, p: u32) {
        let (w, b) = ((p / 64) as usize, p % 64);
        if self.pat_seen.len() <= w {
            self.pat_seen.resize(w + 1, 0);
        }
        if let Some(word) = self.pat_seen.get_mut(w) {
            if *word & (1 << b) == 0 {
                *word |= 1 << b;
                self.pats.push(p);
            }
        }
    }
}

/// One prefilter's share of a filter scan: the buckets its patterns are
/// in, and the offset of its pattern ids in [`Cands::pats`].
#[derive(Clone, Copy)]
struct Part<'a> {
    pf: &'a Prefilter,
    buckets: u8,
    base: u32,
}

impl Prefilter {
    /// Registers rule `idx` with fast pattern `fp` (any case), or, without
    /// one, by the addresses of `index_by` or as always evaluated.
    pub(super) fn add(&mut self, idx: u32, fp: Option<&[u8]>, index_by: Option<&Rule>) {
        match fp {
            Some(p) if !p.is_empty() => {
                let key: Box<[u8]> = p.to_ascii_lowercase().into_boxed_slice();
                let rules = self.pending.entry(key).or_default();
                if rules.last() != Some(&idx) {
                    rules.push(idx);
                }
            }
            _ => {
                if let Some(r) = index_by {
                    let both = r.dir == Direction::Both;
                    if let Some(rs) = small_v4(&r.src) {
                        for &(lo, hi) in rs {
                            self.by_src.pending.push((lo, hi, idx));
                            if both {
                                self.by_dst.pending.push((lo, hi, idx));
                            }
                        }
                        return;
                    }
                    if let Some(rs) = small_v4(&r.dst) {
                        for &(lo, hi) in rs {
                            self.by_dst.pending.push((lo, hi, idx));
                            if both {
                                self.by_src.pending.push((lo, hi, idx));
                            }
                        }
                        return;
                    }
                }
                self.always.push(idx)
            }
        }
    }

    /// Builds the searcher over the distinct patterns.
    pub(super) fn build(&mut self) -> Result<(), String> {
        self.uid = NEXT_UID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.by_src.build();
        self.by_dst.build();
        let mut pats: Vec<(Box<[u8]>, Vec<u32>)> =
            std::mem::take(&mut self.pending).into_iter().collect();
        // Deterministic pattern ids.
        pats.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        self.pat_start = Vec::with_capacity(pats.len() + 1);
        self.pat_rules = Vec::new();
        for (_, rules) in &pats {
            self.pat_start
                .push(u32::try_from(self.pat_rules.len()).unwrap_or(u32::MAX));
            self.pat_rules.extend_from_slice(rules);
        }
        self.pat_start
            .push(u32::try_from(self.pat_rules.len()).unwrap_or(u32::MAX));
        self.pats = pats.into_iter().map(|(p, _)| p).collect();
        if self.pats.is_empty() {
            self.searcher = Searcher::None;
            return Ok(());
        }
        let nfa = NFA::builder()
            .match_kind(MatchKind::Standard)
            .ascii_case_insensitive(true)
            .prefilter(false)
            .build(self.pats.iter().map(|p| &p[..]))
            .map_err(|e| format!("prefilter: {e}"))?;
        self.nfa = Some(nfa);
        self.searcher = match self.pats.as_slice() {
            [p] if !p.iter().any(u8::is_ascii_alphabetic) => {
                Searcher::One(Box::new(Finder::new(&p[..]).into_owned()))
            }
            _ => Searcher::Filtered(self.filter_with(None, 0, BUCKETS)),
        };
        Ok(())
    }

    /// A filter over `other`'s patterns in buckets `0..split` (when
    /// given) and this prefilter's in `split..split + count`.
    fn filter_with(&self, other: Option<&Prefilter>, split: usize, count: usize) -> Filter {
        let mut f = Filter::new();
        let mut put = |pats: &[Box<[u8]>], first: usize, count: usize| {
            let refs: Vec<&[u8]> = pats.iter().map(|p| &p[..]).collect();
            for (p, b) in refs.iter().zip(assign(&refs, first, count)) {
                f.add(p, b);
            }
        };
        if let Some(o) = other {
            put(&o.pats, 0, split);
        }
        put(&self.pats, split, count);
        f.finish();
        f
    }

    /// Number of distinct patterns.
    fn npats(&self) -> u32 {
        u32::try_from(self.pats.len()).unwrap_or(u32::MAX)
    }

    /// True when a scan of the buffer can add candidates.
    #[inline]
    pub(super) fn scans(&self) -> bool {
        !matches!(self.searcher, Searcher::None)
    }

    /// Adds the rules that need no scan: the always-evaluated ones and,
    /// for packets, those indexed by the addresses.
    #[inline]
    pub(super) fn fixed(&self, addrs: Option<(IpAddr, IpAddr)>, c: &mut Cands) {
        for &r in &self.always {
            c.push(r);
        }
        if let Some((src, dst)) = addrs {
            for &r in self.by_src.lookup(src) {
                c.push(r);
            }
            for &r in self.by_dst.lookup(dst) {
                c.push(r);
            }
        }
    }

    /// Scans `hay` (any case) and adds the rules of every pattern that
    /// occurs, each once.
    pub(super) fn scan(&self, hay: &[u8], c: &mut Cands) {
        self.scan_before(hay, usize::MAX, c);
    }

    /// [`Prefilter::scan`] for the patterns that start before offset
    /// `limit` (they may end after it); later starts may be reported too.
    pub(super) fn scan_before(&self, hay: &[u8], limit: usize, c: &mut Cands) {
        if hay.is_empty() {
            return;
        }
        match &self.searcher {
            Searcher::None | Searcher::Merged => {}
            Searcher::One(f) => {
                if f.find(hay).is_some_and(|at| at < limit) {
                    self.push_rules(0, c);
                }
            }
            Searcher::Filtered(filter) => {
                let part = Part {
                    pf: self,
                    buckets: u8::MAX,
                    base: 0,
                };
                scan_parts(filter, &[part], hay, limit, c);
            }
        }
    }

    #[inline]
    fn push_rules(&self, pat: u32, c: &mut Cands) {
        let p = pat as usize;
        let (Some(&a), Some(&b)) = (self.pat_start.get(p), self.pat_start.get(p + 1)) else {
            return;
        };
        if let Some(rules) = self.pat_rules.get(a as usize..b as usize) {
            for &r in rules {
                c.push(r);
            }
        }
    }

    /// This prefilter's sizes.
    pub(super) fn stats(&self) -> PrefilterStats {
        let patterns = self.pat_start.len().saturating_sub(1);
        let searcher_bytes = match &self.searcher {
            Searcher::None | Searcher::Merged => 0,
            Searcher::One(_) => 64,
            Searcher::Filtered(_) => Filter::bytes(),
        } + self.nfa.as_ref().map_or(0, |n| n.memory_usage())
            + self.pats.iter().map(|p| p.len() + 16).sum::<usize>();
        PrefilterStats {
            searchers: usize::from(self.scans()),
            patterns,
            largest: patterns,
            pattern_rules: self.pat_rules.len(),
            always: self.always.len(),
            searcher_bytes: searcher_bytes
                + self.pat_rules.len() * 4
                + self.pat_start.len() * 4
                + self.by_src.bytes()
                + self.by_dst.bytes(),
        }
    }
}

/// Runs `filter` over `hay`; where it reports a position for a part's
/// buckets, walks that part's trie from there; then adds the rules of
/// every pattern found.
/// Only positions before `limit` are reported (the filter reads no
/// further than the windows of those positions need); the walks from them
/// read on to the end of `hay`.
fn scan_parts(filter: &Filter, parts: &[Part<'_>], hay: &[u8], limit: usize, c: &mut Cands) {
    c.pats.clear();
    let filtered = hay.get(..limit.saturating_add(LANES)).unwrap_or(hay);
    // Walks revisit bytes (a run of zeros against patterns of zeros walks
    // deep from every position): past this budget the rest of the buffer
    // is scanned once, unanchored, so hostile input costs O(length).
    let mut budget = hay.len().saturating_mul(WALK_BUDGET).saturating_add(256);
    let mut rest_from = None;
    // Per part: positions before this need no walk (inside a run of one
    // byte, a walk that stayed in the run repeats the previous one).
    let mut skip = [0usize; 2];
    filter.scan(filtered, &mut |s, buckets| {
        if s >= limit {
            return false;
        }
        // parts inside a run they walked already drop out first; the rest
        // go through the filter's confirmation
        let mut buckets = buckets;
        for (i, part) in parts.iter().enumerate() {
            if skip.get(i).is_some_and(|&k| s < k) {
                buckets &= !part.buckets;
            }
        }
        if buckets == 0 {
            return true;
        }
        let buckets = filter.confirmed(hay, s, buckets);
        let rest = hay.get(s..).unwrap_or_default();
        for (i, part) in parts.iter().enumerate() {
            if buckets & part.buckets == 0 {
                continue;
            }
            let Some(nfa) = &part.pf.nfa else {
                continue;
            };
            let steps = match c.walks.lookup(part.pf.uid, rest) {
                Some(e) => {
                    for &p in e.pats.iter().take(usize::from(e.n)) {
                        c.push_pat(part.base.saturating_add(p));
                    }
                    usize::from(e.len)
                }
                None => {
                    let w = walk(nfa, rest, part.base, c);
                    // only walks that ended at the dead state, with all
                    // they found remembered
                    if let (true, Some(found)) = (w.dead, w.found.get(..w.n)) {
                        c.walks.record(part.pf.uid, rest, w.steps, found);
                    }
                    w.steps
                }
            };
            budget = budget.saturating_sub(steps);
            if let (Some(&x), Some(walked), Some(after)) =
                (rest.first(), rest.get(..steps), rest.get(steps..))
            {
                if steps >= 2 && walked.iter().all(|&b| b == x) {
                    // From any s' with s' + steps <= the run's end, the
                    // walk reads the same bytes: same states, same
                    // patterns, already found.
                    let run_end = s + steps + after.iter().take_while(|&&b| b == x).count();
                    if let Some(k) = skip.get_mut(i) {
                        *k = run_end + 1 - steps;
                    }
                }
            }
        }
        if budget == 0 {
            rest_from = Some(s);
            return false;
        }
        true
    });
    if let Some(s) = rest_from {
        // Occurrences starting before `s` were found by the walks; every
        // one starting at `s` or later lies within `rest` (a superset when
        // a limit is set).
        let rest = hay.get(s..).unwrap_or_default();
        for part in parts {
            if let Some(nfa) = &part.pf.nfa {
                scan_unanchored(nfa, rest, part.base, c);
            }
        }
    }
    // The rules of the patterns found; their marks cleared.
    let mut pats = std::mem::take(&mut c.pats);
    for &p in &pats {
        if let Some(w) = c.pat_seen.get_mut((p / 64) as usize) {
            *w = 0;
        }
        let part = parts
            .iter()
            .rev()
            .find(|part| p >= part.base && p - part.base < part.pf.npats());
        if let Some(part) = part {
            part.pf.push_rules(p - part.base, c);
        }
    }
    pats.clear();
    c.pats = pats;
}

/// Trie-walk steps allowed per buffer byte before falling back to one
/// unanchored scan.
const WALK_BUDGET: usize = 4;

/// Every pattern of `nfa` that occurs in `hay` (unanchored, overlapping),
/// into `c.pats` (ids offset by `base`).
fn scan_unanchored(nfa: &NFA, hay: &[u8], base: u32, c: &mut Cands) {
    let Ok(mut sid) = nfa.start_state(Anchored::No) else {
        return;
    };
    for &b in hay {
        sid = nfa.next_state(Anchored::No, sid, b);
        if nfa.is_match(sid) {
            for i in 0..nfa.match_len(sid) {
                c.push_pat(base.saturating_add(nfa.match_pattern(sid, i).as_u32()));
            }
        }
    }
}

/// The patterns that start at `hay[0]` (and any suffix patterns the
/// states passed through carry: occurrences too), into `c.pats` (ids
/// offset by `base`). Returns the steps taken.
#[inline]
fn walk(nfa: &NFA, hay: &[u8], base: u32, c: &mut Cands) -> Walk {
    let mut w = Walk {
        steps: hay.len(),
        dead: false,
        found: [0; WALK_CACHE_PATS],
        n: 0,
    };
    let Ok(mut sid) = nfa.start_state(Anchored::Yes) else {
        return w;
    };
    let mut seen = 0usize;
    for (n, &b) in hay.iter().enumerate() {
        sid = nfa.next_state(Anchored::Yes, sid, b);
        if nfa.is_special(sid) {
            if nfa.is_dead(sid) {
                w.steps = n + 1;
                w.dead = true;
                w.n = if seen > WALK_CACHE_PATS {
                    usize::MAX
                } else {
                    seen
                };
                return w;
            }
            if nfa.is_match(sid) {
                for i in 0..nfa.match_len(sid) {
                    let p = nfa.match_pattern(sid, i).as_u32();
                    if let Some(f) = w.found.get_mut(seen) {
                        *f = p;
                    }
                    seen += 1;
                    c.push_pat(base.saturating_add(p));
                }
            }
        }
    }
    w.n = if seen > WALK_CACHE_PATS {
        usize::MAX
    } else {
        seen
    };
    w
}

/// What one anchored walk read and found.
struct Walk {
    /// Bytes read.
    steps: usize,
    /// It ended at the dead state (not at the end of the buffer): the
    /// result depends on the bytes read only.
    dead: bool,
    /// The patterns found (ids in the trie), when at most
    /// [`WALK_CACHE_PATS`]; `n` is `usize::MAX` when there were more.
    found: [u32; WALK_CACHE_PATS],
    n: usize,
}

/// Most ports a rule's port set may name to be grouped by port.
const MAX_GROUPED_PORTS: u32 = 32;

/// The ports of `p` when it names a few.
fn few_ports(p: &PortSet) -> Option<Vec<u16>> {
    if p.is_any() {
        return None;
    }
    let n: u32 = p
        .ranges()
        .iter()
        .map(|&(lo, hi)| u32::from(hi.saturating_sub(lo)) + 1)
        .sum();
    if n > MAX_GROUPED_PORTS {
        return None;
    }
    Some(p.ranges().iter().flat_map(|&(lo, hi)| lo..=hi).collect())
}

/// Index of the direction half: to_server, to_client.
fn dirs_of(r: &Rule) -> &'static [usize] {
    match r.flow.dir {
        Some(FlowDir::ToServer) => &[0],
        Some(FlowDir::ToClient) => &[1],
        None => &[0, 1],
    }
}

/// Most port groups (× direction) that get a filter shared with the
/// any-port group (64 KiB each).
const MAX_MERGED: usize = 1024;

/// Buckets of a shared filter given to the any-port group's patterns.
const ANY_BUCKETS: usize = BUCKETS / 2;

/// The rules of one port and direction, and the filter they share with
/// the any-port group of the direction.
#[derive(Debug, Default)]
struct PortGroup {
    own: Prefilter,
    /// Buckets `0..ANY_BUCKETS`: the any-port group's patterns; the rest:
    /// `own`'s. One pass over the payload serves both (Suricata's
    /// per-port "signature group head" merges the rule lists likewise).
    with_any: Option<Filter>,
}

/// The packet rules of one IP protocol, split by flow direction (a rule
/// with `flow:to_server` is never a candidate for a to_client packet) and
/// by port as Suricata's port groups: a packet scans only the patterns of
/// rules its direction and ports can match.
#[derive(Debug, Default)]
pub(super) struct PortGroups {
    /// Rules with no (small) port restriction, per direction.
    any: [Prefilter; 2],
    /// `-> ... PORTS` rules, by destination port.
    by_dport: FxHashMap<u16, [PortGroup; 2]>,
    /// `PORTS -> ... any` rules, by source port.
    by_sport: FxHashMap<u16, [PortGroup; 2]>,
}

impl PortGroups {
    /// Registers rule `idx` (fast pattern `fp`) of header `r`.
    pub(super) fn add(&mut self, idx: u32, fp: Option<&[u8]>, r: &Rule, by_port: bool) {
        let dirs = dirs_of(r);
        let put = |pf: &mut [Prefilter; 2]| {
            for &d in dirs {
                if let Some(p) = pf.get_mut(d) {
                    p.add(idx, fp, Some(r));
                }
            }
        };
        let put_g = |g: &mut [PortGroup; 2]| {
            for &d in dirs {
                if let Some(p) = g.get_mut(d) {
                    p.own.add(idx, fp, Some(r));
                }
            }
        };
        if by_port && r.dir == Direction::Forward {
            if let Some(ports) = few_ports(&r.dst_ports) {
                for p in ports {
                    put_g(self.by_dport.entry(p).or_default());
                }
                return;
            }
            if r.dst_ports.is_any() {
                if let Some(ports) = few_ports(&r.src_ports) {
                    for p in ports {
                        put_g(self.by_sport.entry(p).or_default());
                    }
                    return;
                }
            }
        }
        put(&mut self.any);
    }

    /// Builds every searcher, and the filters port groups share with the
    /// any-port group (destination-port groups then drop their own: a
    /// packet with both a destination- and a source-port group scans the
    /// destination's shared filter and the source group's own).
    pub(super) fn build(&mut self) -> Result<(), String> {
        for pf in self.any.iter_mut() {
            pf.build()?;
        }
        let mut merged = 0usize;
        let mut ports: Vec<u16> = self.by_dport.keys().copied().collect();
        ports.sort_unstable();
        let mut sports: Vec<u16> = self.by_sport.keys().copied().collect();
        sports.sort_unstable();
        let groups = ports
            .iter()
            .map(|p| (true, *p))
            .chain(sports.iter().map(|p| (false, *p)));
        for (is_dport, port) in groups {
            let map = if is_dport {
                &mut self.by_dport
            } else {
                &mut self.by_sport
            };
            let Some(g) = map.get_mut(&port) else {
                continue;
            };
            for (d, pg) in g.iter_mut().enumerate() {
                pg.own.build()?;
                let Some(any) = self.any.get(d) else {
                    continue;
                };
                if merged >= MAX_MERGED || any.pats.is_empty() || pg.own.pats.is_empty() {
                    continue;
                }
                merged += 1;
                pg.with_any = Some(pg.own.filter_with(
                    Some(any),
                    ANY_BUCKETS,
                    BUCKETS - ANY_BUCKETS,
                ));
                if is_dport {
                    pg.own.searcher = Searcher::Merged;
                }
            }
        }
        Ok(())
    }

    /// Adds the candidates of a packet: its direction's rules for any
    /// port, its destination port and its source port. The payload is
    /// scanned once where the port group shares a filter with the any-port
    /// group.
    ///
    /// Patterns are looked for where they start before `starts_before`
    /// (`usize::MAX`: anywhere); later ones may be reported too.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn candidates(
        &self,
        payload: &[u8],
        starts_before: usize,
        src: IpAddr,
        dst: IpAddr,
        sport: u16,
        dport: u16,
        to_server: bool,
        c: &mut Cands,
    ) {
        let d = usize::from(!to_server);
        let any = self.any.get(d);
        let dg = self.by_dport.get(&dport).and_then(|g| g.get(d));
        let sg = self.by_sport.get(&sport).and_then(|g| g.get(d));
        let addrs = Some((src, dst));
        for pf in [any, dg.map(|g| &g.own), sg.map(|g| &g.own)]
            .into_iter()
            .flatten()
        {
            pf.fixed(addrs, c);
        }
        if payload.is_empty() {
            return;
        }
        let mut any_done = false;
        for g in [dg, sg].into_iter().flatten() {
            match (&g.with_any, any) {
                (Some(f), Some(any)) if !any_done => {
                    let parts = [
                        Part {
                            pf: any,
                            buckets: (1 << ANY_BUCKETS) - 1,
                            base: 0,
                        },
                        Part {
                            pf: &g.own,
                            buckets: !((1 << ANY_BUCKETS) - 1),
                            base: any.npats(),
                        },
                    ];
                    scan_parts(f, &parts, payload, starts_before, c);
                    any_done = true;
                }
                _ => g.own.scan_before(payload, starts_before, c),
            }
        }
        if !any_done {
            if let Some(any) = any {
                any.scan_before(payload, starts_before, c);
            }
        }
    }

    /// Sizes over every group.
    pub(super) fn stats(&self) -> PrefilterStats {
        let mut s = PrefilterStats::default();
        for pf in self.any.iter() {
            s.add(&pf.stats());
        }
        for g in self.by_dport.values().chain(self.by_sport.values()) {
            for pg in g {
                s.add(&pg.own.stats());
                if pg.with_any.is_some() {
                    s.searcher_bytes += Filter::bytes();
                }
            }
        }
        s
    }
}

/// Sums prefilter stats.
pub(super) fn sum_stats<'a>(it: impl Iterator<Item = &'a Prefilter>) -> PrefilterStats {
    let mut s = PrefilterStats::default();
    for pf in it {
        s.add(&pf.stats());
    }
    s
}

/// Largest IPv4 set (addresses) a rule may have to be indexed by it.
const MAX_INDEXED_ADDRS: u64 = 1 << 20;

/// Rules by IPv4 address: elementary segments and the rules covering each.
#[derive(Debug, Default)]
struct AddrIndex {
    pending: Vec<(u32, u32, u32)>,
    starts: Vec<u32>,
    lists: Vec<Vec<u32>>,
    /// For a large index: `top[h]` = segments starting below `h << 16`
    /// (65 537 entries), so a lookup searches only the segments of its
    /// /16 instead of all of them (ET Open's address lists have
    /// thousands, looked up for every packet).
    top: Vec<u32>,
}

/// Segments above which an [`AddrIndex`] gets its /16 table.
const TOP_MIN_SEGMENTS: usize = 64;

impl AddrIndex {
    fn build(&mut self) {
        let mut pts: Vec<u32> = Vec::with_capacity(self.pending.len() * 2);
        for &(lo, hi, _) in &self.pending {
            pts.push(lo);
            if let Some(e) = hi.checked_add(1) {
                pts.push(e);
            }
        }
        pts.sort_unstable();
        pts.dedup();
        let mut lists = vec![Vec::new(); pts.len()];
        for &(lo, hi, r) in &self.pending {
            let a = pts.partition_point(|&p| p < lo);
            let b = pts.partition_point(|&p| p <= hi);
            for l in lists.iter_mut().take(b).skip(a) {
                if l.last() != Some(&r) {
                    l.push(r);
                }
            }
        }
        self.top = Vec::new();
        if pts.len() > TOP_MIN_SEGMENTS {
            self.top = (0..=1u32 << 16)
                .map(|h| {
                    let below = pts.partition_point(|&p| u64::from(p) < u64::from(h) << 16);
                    u32::try_from(below).unwrap_or(u32::MAX)
                })
                .collect();
        }
        self.starts = pts;
        self.lists = lists;
        self.pending = Vec::new();
    }

    fn lookup(&self, ip: IpAddr) -> &[u32] {
        let IpAddr::V4(v4) = ip else {
            return &[];
        };
        let ip = u32::from(v4);
        let h = (ip >> 16) as usize;
        let i = match (self.top.get(h), self.top.get(h + 1)) {
            (Some(&a), Some(&b)) => {
                let (a, b) = (a as usize, b as usize);
                match self.starts.get(a..b) {
                    Some(seg) => a + seg.partition_point(|&p| p <= ip),
                    None => self.starts.partition_point(|&p| p <= ip),
                }
            }
            _ => self.starts.partition_point(|&p| p <= ip),
        };
        match i.checked_sub(1).and_then(|i| self.lists.get(i)) {
            Some(l) => l,
            None => &[],
        }
    }

    fn bytes(&self) -> usize {
        self.top.len() * 4
            + self.starts.len() * 4
            + self
                .lists
                .iter()
                .map(|l| l.capacity() * 4 + 24)
                .sum::<usize>()
    }
}

/// The IPv4 ranges of `a` when it is small and has no IPv6 part.
fn small_v4(a: &AddrSet) -> Option<&[(u32, u32)]> {
    if a.is_any() || !a.v6_ranges().is_empty() {
        return None;
    }
    let n: u64 = a
        .v4_ranges()
        .iter()
        .map(|&(lo, hi)| u64::from(hi.saturating_sub(lo)) + 1)
        .sum();
    (n <= MAX_INDEXED_ADDRS).then_some(a.v4_ranges())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The rules the prefilter proposes for `hay`, sorted.
    fn found(pf: &Prefilter, hay: &[u8]) -> Vec<u32> {
        let mut c = Cands::default();
        c.clear();
        pf.scan(hay, &mut c);
        c.finish();
        c.list.clone()
    }

    /// Rule `i` has pattern `pats[i]`; the rules whose pattern occurs in
    /// `hay`, ignoring ASCII case.
    fn naive(pats: &[Vec<u8>], hay: &[u8]) -> Vec<u32> {
        let hay = hay.to_ascii_lowercase();
        let mut v: Vec<u32> = pats
            .iter()
            .enumerate()
            .filter(|(_, p)| {
                let p = p.to_ascii_lowercase();
                !p.is_empty() && hay.windows(p.len()).any(|w| w == &p[..])
            })
            .map(|(i, _)| i as u32)
            .collect();
        v.sort_unstable();
        v
    }

    fn build(pats: &[Vec<u8>]) -> Prefilter {
        let mut pf = Prefilter::default();
        for (i, p) in pats.iter().enumerate() {
            pf.add(i as u32, Some(p), None);
        }
        pf.build().map(|()| pf).unwrap_or_default()
    }

    #[test]
    fn each_searcher_kind_finds_exactly_the_occurring_patterns() {
        let hay = b"GET /Index.PHP?id=1 HTTP/1.1\r\nHost: x\r\n\x00\x01\x02evil";
        let cases: Vec<Vec<Vec<u8>>> = vec![
            vec![b"index.php".to_vec()],
            vec![b"INDEX".to_vec(), b"host:".to_vec(), b"nothere".to_vec()],
            (0..200)
                .map(|i| format!("pat{i}").into_bytes())
                .chain([b"\x00\x01".to_vec(), b"l".to_vec(), b"Evil".to_vec()])
                .collect(),
        ];
        for pats in cases {
            let pf = build(&pats);
            assert!(pf.scans());
            assert_eq!(found(&pf, hay), naive(&pats, hay), "{pats:?}");
        }
        // shared patterns: one pattern, two rules
        let pf = build(&[b"evil".to_vec(), b"EVIL".to_vec()]);
        assert_eq!(pf.stats().patterns, 1);
        assert_eq!(found(&pf, hay), vec![0, 1]);
        assert!(found(&pf, b"").is_empty());
    }

    #[test]
    fn runs_that_walk_deep_fall_back_to_one_scan_and_stay_exact() {
        // 60 patterns of zeros (lengths 2..62) plus others: a run of zeros
        // walks deep from every position until the budget is spent.
        let pats: Vec<Vec<u8>> = (2..62)
            .map(|n| vec![0u8; n])
            .chain([b"\x00\x00x".to_vec(), b"tail".to_vec(), b"absent".to_vec()])
            .collect();
        let pf = build(&pats);
        let mut hay = vec![0u8; 1400];
        hay.extend_from_slice(b"\x00\x00x tail");
        assert_eq!(found(&pf, &hay), naive(&pats, &hay));
        let short = vec![0u8; 10];
        assert_eq!(found(&pf, &short), naive(&pats, &short));
        // a period of two bytes is no run: the budget bounds those walks
        let pats: Vec<Vec<u8>> = (1..40)
            .map(|n| b"ab".repeat(n))
            .chain([b"abx".to_vec(), b"bab!".to_vec()])
            .collect();
        let pf = build(&pats);
        let mut hay = b"ab".repeat(700);
        hay.extend_from_slice(b"bab!");
        assert_eq!(found(&pf, &hay), naive(&pats, &hay));
    }

    /// The rules found by one scan of a filter shared by `a` (rules
    /// `0..`) and `b` (rules numbered after `a`'s).
    fn found_merged(a: &Prefilter, b: &Prefilter, hay: &[u8]) -> Vec<u32> {
        let f = b.filter_with(Some(a), ANY_BUCKETS, BUCKETS - ANY_BUCKETS);
        let parts = [
            Part {
                pf: a,
                buckets: (1 << ANY_BUCKETS) - 1,
                base: 0,
            },
            Part {
                pf: b,
                buckets: !((1 << ANY_BUCKETS) - 1),
                base: a.npats(),
            },
        ];
        let mut c = Cands::default();
        scan_parts(&f, &parts, hay, usize::MAX, &mut c);
        c.finish();
        c.list.clone()
    }

    #[test]
    fn a_shared_filter_finds_both_groups_patterns() {
        let a_pats = [b"GET /".to_vec(), b"x".to_vec(), b"user-agent".to_vec()];
        let b_pats = [b"cmd.exe".to_vec(), b"\x00\x01".to_vec()];
        let a = build(&a_pats);
        let mut b = Prefilter::default();
        for (i, p) in b_pats.iter().enumerate() {
            b.add(100 + i as u32, Some(p), None);
        }
        assert!(b.build().is_ok());
        let hay = b"GET /a/CMD.EXE HTTP/1.1\r\nUser-Agent: x\r\n";
        assert_eq!(found_merged(&a, &b, hay), vec![0, 1, 2, 100]);
        assert_eq!(found_merged(&a, &b, b"\x00\x01"), vec![101]);
        assert!(found_merged(&a, &b, b"").is_empty());
    }

    proptest! {
        #[test]
        fn shared_filter_equals_naive_search(
            a_pats in proptest::collection::vec(
                proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'B'), Just(0u8), any::<u8>()], 1..6),
                1..40),
            b_pats in proptest::collection::vec(
                proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'c'), Just(0u8), any::<u8>()], 1..6),
                1..40),
            hay in proptest::collection::vec(prop_oneof![Just(b'A'), Just(b'b'), Just(0u8), Just(b'C'), any::<u8>()], 0..300),
        ) {
            let a = build(&a_pats);
            let mut b = Prefilter::default();
            for (i, p) in b_pats.iter().enumerate() {
                b.add(1000 + i as u32, Some(p), None);
            }
            prop_assert!(b.build().is_ok());
            let mut want = naive(&a_pats, &hay);
            want.extend(naive(&b_pats, &hay).into_iter().map(|r| r + 1000));
            prop_assert_eq!(found_merged(&a, &b, &hay), want);
        }

        #[test]
        fn prefilter_equals_naive_search(
            pats in proptest::collection::vec(
                proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'B'), Just(0u8), Just(b'c'), any::<u8>()], 1..5),
                1..120),
            hay in proptest::collection::vec(prop_oneof![Just(b'A'), Just(b'b'), Just(0u8), Just(b'C'), any::<u8>()], 0..300),
        ) {
            let pf = build(&pats);
            prop_assert_eq!(found(&pf, &hay), naive(&pats, &hay));
        }

        #[test]
        fn walk_cache_across_scans_and_prefilters_changes_nothing(
            a_pats in proptest::collection::vec(
                proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b'c')], 1..10),
                1..30),
            b_pats in proptest::collection::vec(
                proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b'c')], 1..10),
                1..30),
            hays in proptest::collection::vec(
                proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'B'), Just(b'c'), Just(b' ')], 0..120),
                1..8),
        ) {
            // one scratch for every scan, as a worker has: walks remembered
            // from one buffer or one prefilter must not leak into another
            let (a, b) = (build(&a_pats), build(&b_pats));
            let mut c = Cands::default();
            for hay in &hays {
                for (pf, pats) in [(&a, &a_pats), (&b, &b_pats)] {
                    c.clear();
                    pf.scan(hay, &mut c);
                    c.finish();
                    prop_assert_eq!(&c.list, &naive(pats, hay));
                }
            }
        }

        #[test]
        fn scan_before_finds_every_pattern_starting_before_the_limit(
            pats in proptest::collection::vec(
                proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'B'), Just(0u8), Just(b'c'), any::<u8>()], 1..9),
                1..60),
            hay in proptest::collection::vec(prop_oneof![Just(b'A'), Just(b'b'), Just(0u8), Just(b'C'), any::<u8>()], 0..300),
            limit in 0usize..320,
        ) {
            let pf = build(&pats);
            let mut c = Cands::default();
            c.clear();
            pf.scan_before(&hay, limit, &mut c);
            c.finish();
            // patterns starting before the limit (and ending anywhere)
            let low = hay.to_ascii_lowercase();
            let mut want: Vec<u32> = pats
                .iter()
                .enumerate()
                .filter(|(_, p)| {
                    let p = p.to_ascii_lowercase();
                    (0..low.len().min(limit)).any(|s| low[s..].starts_with(&p))
                })
                .map(|(i, _)| i as u32)
                .collect();
            want.sort_unstable();
            for r in &want {
                prop_assert!(c.list.contains(r), "missed rule {}", r);
            }
            // and nothing that does not occur at all
            let all = naive(&pats, &hay);
            for r in &c.list {
                prop_assert!(all.contains(r));
            }
        }
    }
}
