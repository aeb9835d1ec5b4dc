//! Candidate selection (Suricata's "multi pattern matcher" stage): which
//! rules of a group could match a buffer, found without running them.
//!
//! ```text
//! rule fast patterns ──lowercase, dedupe──> distinct patterns ──> rule lists
//! per group:  0 patterns  -> no scan
//!             1 pattern   -> memchr::memmem (SIMD substring search)
//!             2+ patterns -> aho-corasick DFA, overlapping (every pattern that
//!                            occurs), Teddy (packed SIMD) as its prefilter
//!                            when the set is small
//! buffer ──lowercase once into Scratch──> each searcher ──> pattern bitmap
//!        ──> rule lists ──> candidate bitmap (no allocation per packet)
//! ```
//!
//! Patterns and haystack are both ASCII-lowercased, so one case-sensitive
//! automaton serves `nocase` and case-sensitive contents alike: a superset
//! of the candidates, and the full inspection then honours each content's
//! own case. A candidate is only a candidate: every rule is still checked
//! in full afterwards, so the prefilter can only cost time, never change a
//! verdict, as long as it never misses a rule whose fast pattern occurs.

use std::net::IpAddr;

use aho_corasick::automaton::{Automaton, OverlappingState, StateID};
use aho_corasick::dfa::DFA;
use aho_corasick::nfa::contiguous::NFA;
use aho_corasick::{Anchored, Input, MatchKind, StartKind};
use memchr::memmem::Finder;
use rustc_hash::FxHashMap;

use super::super::addr::{AddrSet, PortSet};
use super::super::header::Direction;
use super::super::rule::{FlowDir, Rule};

/// The searcher of one group, chosen by its number of distinct patterns.
#[derive(Debug)]
enum Searcher {
    /// No pattern: nothing to scan.
    None,
    /// One pattern: a SIMD substring search; one hit is enough.
    One(Finder<'static>),
    /// A few: a DFA whose own prefilter (Teddy, rare bytes) skips to the
    /// places where a pattern may start.
    Few(DFA),
    /// Many: a bitmap of the patterns' first two bytes is tested at every
    /// position (independent loads from an 8 KiB table, so the loop runs
    /// at the processor's throughput instead of waiting on one transition
    /// after another); only where it hits, an anchored walk of the
    /// pattern trie from that position.
    Many {
        /// Bit `b0 << 8 | b1`: some pattern starts with `b0 b1` (a
        /// one-byte pattern `b0` sets all of `b0`'s row).
        bigrams: Box<[u64; 1024]>,
        /// The same for the patterns shorter than four bytes only.
        short: Box<[u64; 1024]>,
        /// Bit [`quad_hash`] of the first four bytes of each longer
        /// pattern: where only long patterns start with the bigram, the
        /// walk happens only if this second filter hits too.
        quads: Box<[u64]>,
        /// The pattern trie (a contiguous NFA: a fraction of a DFA's
        /// memory and build time; walked only where the filters hit).
        nfa: NFA,
    },
}

/// Most patterns for which the DFA's own prefilter is used.
const MAX_PREFILTERED: usize = 48;

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
    /// Pattern id → `pat_rules[pat_start[id]..pat_start[id + 1]]`.
    pat_start: Vec<u32>,
    pat_rules: Vec<u32>,
    /// Rules without a fast pattern whose header names a small IPv4 set
    /// (IP-list rules): found by address instead of tried on every packet.
    by_src: AddrIndex,
    by_dst: AddrIndex,
}

impl Default for Prefilter {
    fn default() -> Self {
        Prefilter {
            always: Vec::new(),
            searcher: Searcher::None,
            pending: FxHashMap::default(),
            pat_start: Vec::new(),
            pat_rules: Vec::new(),
            by_src: AddrIndex::default(),
            by_dst: AddrIndex::default(),
        }
    }
}

/// Candidate marks and the lowercased copy of the buffer being scanned;
/// kept in the worker's `Scratch` and reused, so a scan never allocates
/// once the vectors have grown to the largest ruleset and buffer.
#[derive(Debug, Default)]
pub(super) struct Cands {
    /// Candidate rules, in the order found.
    pub(super) list: Vec<u32>,
    /// One bit per rule: already a candidate.
    seen: Vec<u64>,
    /// Patterns found by the current scan.
    pats: Vec<u32>,
    /// One bit per pattern of the current prefilter: already found.
    pat_seen: Vec<u64>,
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

/// Copies `hay` into `out`, ASCII-lowercased (one pass; vectorised by the
/// compiler).
pub(super) fn lowercase_into(hay: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.extend(hay.iter().map(u8::to_ascii_lowercase));
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
        self.searcher = match pats.as_slice() {
            [] => Searcher::None,
            [(p, _)] => Searcher::One(Finder::new(&p[..]).into_owned()),
            _ => {
                let few = pats.len() <= MAX_PREFILTERED;
                if few {
                    let dfa = DFA::builder()
                        .match_kind(MatchKind::Standard)
                        .byte_classes(true)
                        .prefilter(true)
                        .start_kind(StartKind::Unanchored)
                        .build(pats.iter().map(|(p, _)| &p[..]))
                        .map_err(|e| format!("prefilter: {e}"))?;
                    Searcher::Few(dfa)
                } else {
                    let nfa = NFA::builder()
                        .match_kind(MatchKind::Standard)
                        .prefilter(false)
                        .build(pats.iter().map(|(p, _)| &p[..]))
                        .map_err(|e| format!("prefilter: {e}"))?;
                    let mut bigrams = Box::new([0u64; 1024]);
                    let mut short = Box::new([0u64; 1024]);
                    let mut quads = vec![0u64; QUAD_BITS / 64].into_boxed_slice();
                    for (p, _) in &pats {
                        let b0 = usize::from(p.first().copied().unwrap_or(0)) << 8;
                        let range = match p.get(1) {
                            Some(&b1) => b0 | usize::from(b1)..=b0 | usize::from(b1),
                            None => b0..=b0 | 0xff,
                        };
                        let q = p.get(..4).map(quad_hash);
                        for k in range {
                            set_bit(&mut bigrams[..], k);
                            if q.is_none() {
                                set_bit(&mut short[..], k);
                            }
                        }
                        if let Some(q) = q {
                            set_bit(&mut quads, q);
                        }
                    }
                    Searcher::Many {
                        bigrams,
                        short,
                        quads,
                        nfa,
                    }
                }
            }
        };
        Ok(())
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

    /// Scans `lower` (the buffer, already ASCII-lowercased) and adds the
    /// rules of every pattern that occurs, each once.
    pub(super) fn scan(&self, lower: &[u8], c: &mut Cands) {
        match &self.searcher {
            Searcher::None => {}
            Searcher::One(f) => {
                if f.find(lower).is_some() {
                    self.push_rules(0, c);
                }
            }
            Searcher::Few(dfa) => {
                c.pats.clear();
                let input = Input::new(lower);
                let mut st = OverlappingState::start();
                while let Ok(()) = dfa.try_find_overlapping(&input, &mut st) {
                    match st.get_match() {
                        Some(m) => c.push_pat(m.pattern().as_u32()),
                        None => break,
                    }
                }
                self.expand(c);
            }
            Searcher::Many {
                bigrams,
                short,
                quads,
                nfa,
            } => {
                c.pats.clear();
                scan_grams(bigrams, short, quads, nfa, lower, c);
                self.expand(c);
            }
        }
    }

    /// Adds the rules of the patterns found and clears their marks.
    fn expand(&self, c: &mut Cands) {
        let mut pats = std::mem::take(&mut c.pats);
        for &p in &pats {
            if let Some(w) = c.pat_seen.get_mut((p / 64) as usize) {
                *w = 0;
            }
            self.push_rules(p, c);
        }
        pats.clear();
        c.pats = pats;
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
            Searcher::None => 0,
            Searcher::One(_) => 64,
            Searcher::Few(d) => d.memory_usage(),
            Searcher::Many { nfa, .. } => nfa.memory_usage() + 2 * 8192 + QUAD_BITS / 8,
        };
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

/// Bits of the four-byte filter of a [`Searcher::Many`] (32 KiB).
const QUAD_BITS: usize = 1 << 18;

/// Hash of four bytes into `0..QUAD_BITS`.
#[inline(always)]
fn quad_hash(q: &[u8]) -> usize {
    let v = match q {
        [a, b, c, d, ..] => u32::from_le_bytes([*a, *b, *c, *d]),
        _ => 0,
    };
    (v.wrapping_mul(0x9E37_79B1) >> (32 - 18)) as usize
}

fn set_bit(bits: &mut [u64], k: usize) {
    if let Some(w) = bits.get_mut(k >> 6) {
        *w |= 1 << (k & 63);
    }
}

#[inline(always)]
fn bit(bits: &[u64], k: usize) -> bool {
    bits.get(k >> 6).is_some_and(|w| w & (1 << (k & 63)) != 0)
}

/// Every pattern of `dfa` (anchored) that occurs in `hay`, into
/// `c.pats`: the bigram test at each position; where it hits and only
/// patterns of four bytes or more start with that bigram, the four-byte
/// test; the anchored trie walk where both hit.
fn scan_grams(
    bigrams: &[u64; 1024],
    short: &[u64; 1024],
    quads: &[u64],
    nfa: &NFA,
    hay: &[u8],
    c: &mut Cands,
) {
    let Ok(start) = nfa.start_state(Anchored::Yes) else {
        return;
    };
    // Walks revisit bytes (a run of zeros against patterns of zeros walks
    // deep from every position): past this budget the rest of the buffer
    // is scanned once, unanchored, so hostile input costs O(length).
    let mut budget = hay.len().saturating_mul(WALK_BUDGET).saturating_add(256);
    for (at, w) in hay.windows(2).enumerate() {
        let k = (usize::from(w[0]) << 8) | usize::from(w[1]);
        if bigrams[k >> 6] & (1 << (k & 63)) == 0 {
            continue;
        }
        let rest = hay.get(at..).unwrap_or_default();
        if short[k >> 6] & (1 << (k & 63)) == 0 {
            match rest.get(..4) {
                Some(q) if bit(quads, quad_hash(q)) => {}
                _ => continue,
            }
        }
        let steps = walk(nfa, start, rest, c);
        budget = budget.saturating_sub(steps);
        if budget == 0 {
            // Occurrences starting before `at` were found by the walks;
            // every one starting at `at` or later lies within `rest`.
            scan_unanchored(nfa, rest, c);
            return;
        }
    }
    // A one-byte pattern in the last byte (no bigram there).
    if let Some(last) = hay.len().checked_sub(1) {
        walk(nfa, start, hay.get(last..).unwrap_or_default(), c);
    }
}

/// Trie-walk steps allowed per buffer byte before falling back to one
/// unanchored scan.
const WALK_BUDGET: usize = 4;

/// Every pattern of `nfa` that occurs in `hay` (unanchored, overlapping),
/// into `c.pats`.
fn scan_unanchored(nfa: &NFA, hay: &[u8], c: &mut Cands) {
    let Ok(mut sid) = nfa.start_state(Anchored::No) else {
        return;
    };
    for &b in hay {
        sid = nfa.next_state(Anchored::No, sid, b);
        if nfa.is_match(sid) {
            for i in 0..nfa.match_len(sid) {
                c.push_pat(nfa.match_pattern(sid, i).as_u32());
            }
        }
    }
}

/// The patterns that start at `hay[0]` (and any suffix patterns the
/// states passed through carry: occurrences too), into `c.pats`.
#[inline]
/// Returns the steps taken.
fn walk(nfa: &NFA, start: StateID, hay: &[u8], c: &mut Cands) -> usize {
    let mut sid = start;
    for (n, &b) in hay.iter().enumerate() {
        sid = nfa.next_state(Anchored::Yes, sid, b);
        if nfa.is_special(sid) {
            if nfa.is_dead(sid) {
                return n + 1;
            }
            if nfa.is_match(sid) {
                for i in 0..nfa.match_len(sid) {
                    c.push_pat(nfa.match_pattern(sid, i).as_u32());
                }
            }
        }
    }
    hay.len()
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

/// The packet rules of one IP protocol, split by flow direction (a rule
/// with `flow:to_server` is never a candidate for a to_client packet) and
/// by port as Suricata's port groups: a packet scans only the patterns of
/// rules its direction and ports can match.
#[derive(Debug, Default)]
pub(super) struct PortGroups {
    /// Rules with no (small) port restriction, per direction.
    any: [Prefilter; 2],
    /// `-> ... PORTS` rules, by destination port.
    by_dport: FxHashMap<u16, [Prefilter; 2]>,
    /// `PORTS -> ... any` rules, by source port.
    by_sport: FxHashMap<u16, [Prefilter; 2]>,
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
        if by_port && r.dir == Direction::Forward {
            if let Some(ports) = few_ports(&r.dst_ports) {
                for p in ports {
                    put(self.by_dport.entry(p).or_default());
                }
                return;
            }
            if r.dst_ports.is_any() {
                if let Some(ports) = few_ports(&r.src_ports) {
                    for p in ports {
                        put(self.by_sport.entry(p).or_default());
                    }
                    return;
                }
            }
        }
        put(&mut self.any);
    }

    /// Builds every searcher.
    pub(super) fn build(&mut self) -> Result<(), String> {
        let all = self
            .any
            .iter_mut()
            .chain(self.by_dport.values_mut().flatten())
            .chain(self.by_sport.values_mut().flatten());
        for pf in all {
            pf.build()?;
        }
        Ok(())
    }

    /// Adds the candidates of a packet: its direction's rules for any
    /// port, its destination port and its source port. The payload is
    /// lowercased once, and only when some group has patterns to scan.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn candidates(
        &self,
        payload: &[u8],
        src: IpAddr,
        dst: IpAddr,
        sport: u16,
        dport: u16,
        to_server: bool,
        lower: &mut Vec<u8>,
        c: &mut Cands,
    ) {
        let d = usize::from(!to_server);
        let groups = [
            self.any.get(d),
            self.by_dport.get(&dport).and_then(|g| g.get(d)),
            self.by_sport.get(&sport).and_then(|g| g.get(d)),
        ];
        let addrs = Some((src, dst));
        let mut lowered = false;
        for pf in groups.into_iter().flatten() {
            pf.fixed(addrs, c);
            if payload.is_empty() || !pf.scans() {
                continue;
            }
            if !lowered {
                lowercase_into(payload, lower);
                lowered = true;
            }
            pf.scan(lower, c);
        }
    }

    /// Sizes over every group.
    pub(super) fn stats(&self) -> PrefilterStats {
        let mut s = PrefilterStats::default();
        for pf in self
            .any
            .iter()
            .chain(self.by_dport.values().flatten())
            .chain(self.by_sport.values().flatten())
        {
            s.add(&pf.stats());
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
}

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
        self.starts = pts;
        self.lists = lists;
        self.pending = Vec::new();
    }

    fn lookup(&self, ip: IpAddr) -> &[u32] {
        let IpAddr::V4(v4) = ip else {
            return &[];
        };
        let ip = u32::from(v4);
        let i = self.starts.partition_point(|&p| p <= ip);
        match i.checked_sub(1).and_then(|i| self.lists.get(i)) {
            Some(l) => l,
            None => &[],
        }
    }

    fn bytes(&self) -> usize {
        self.starts.len() * 4
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
        let mut lower = Vec::new();
        lowercase_into(hay, &mut lower);
        c.clear();
        pf.scan(&lower, &mut c);
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
    }

    proptest! {
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
    }
}
