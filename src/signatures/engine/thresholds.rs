//! threshold.config applied to a compiled [`Ruleset`], with the semantics
//! of Suricata's "Global-Thresholds", and the tracking tables that
//! thresholds, rate filters and xbits share across workers.
//!
//! - `suppress gen_id G, sig_id S`: the rule no longer alerts (as
//!   `noalert`); its flowbits are still set.
//! - `suppress …, track by_src|by_dst|by_either, ip LIST`: alerts whose
//!   source / destination / either address is in LIST are dropped. Checked
//!   before the rule's own threshold and detection_filter, so a suppressed
//!   alert is not counted by them.
//! - `threshold` / `event_filter` naming one rule replaces that rule's
//!   `threshold` and `detection_filter`; with `sig_id 0` (all rules, or
//!   all of `gen_id` unless it is 0) it applies only to rules without a
//!   threshold or detection_filter of their own.
//! - `rate_filter` (see [`RateFilter`]): once a rule matched more than
//!   `count` times in `seconds` (per source, destination, pair or rule),
//!   its alerts take `new_action` for `timeout` seconds: `drop` / `reject`
//!   record the alert as `"blocked"`, `alert` as `"allowed"`, `pass`
//!   suppresses it. A rule has at most one rate filter: an entry naming
//!   the rule replaces an earlier one; a `sig_id 0` entry applies to rules
//!   without one.
//!
//! Entries that name no loaded rule are reported, never silently ignored.
//!
//! ## Tracking shared by workers
//!
//! Counters of `threshold`, `detection_filter` and `rate_filter` tracked by
//! address or by rule, and `xbits`, live in one [`Tracking`] per ruleset,
//! shared by every worker (as Suricata's global threshold and host
//! tables), so `--workers N` counts the same matches as one worker. The
//! table is sharded ([`SHARDS`] mutexes picked by the key's hash) and is
//! touched only when a rule with such a keyword matches (xbits: when such
//! a rule is evaluated), so the fast path does not change. Memory is
//! bounded: at most [`MAX_TRACKED`] counters and [`MAX_TRACKED_XBITS`]
//! bits; a full shard first drops its expired entries (counted in
//! [`TrackingStats::evicted`]: an expired entry is one whose window or
//! timeout is over, so dropping it changes no outcome), then counts
//! the entry it could not add ([`TrackingStats::cap_hits`]; the alert is
//! then let through, never lost).
//!
//! Keys name rules by (gid, sid, rev) and xbits by name, not by the
//! ruleset's numbering, so a reload may hand the tracking on
//! ([`Ruleset::keep_tracking`]): counters of rules that persist continue,
//! as Suricata's global threshold table does across a rule reload.

use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rustc_hash::{FxBuildHasher, FxHashMap};

use super::super::addr::AddrSet;
use super::super::header::Action;
use super::super::rule::{Rule, Track};
use super::super::threshold::{SuppressTrack, ThresholdConfig, ThresholdEntry};
use super::state::{Counter, TrackKey};
use super::Ruleset;
use crate::time::Timestamp;

/// Mutexes the tracking tables are split into.
pub const SHARDS: usize = 16;
/// Most threshold / detection_filter / rate_filter counters kept (all
/// workers together).
pub const MAX_TRACKED: usize = 65_536;
/// Most xbits kept (all workers together).
pub const MAX_TRACKED_XBITS: usize = 65_536;
/// A `backoff` counter (no window) is dropped this long after its last
/// match once the table is full.
pub const BACKOFF_IDLE_SECS: i64 = 3600;

/// What a counter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum CounterKind {
    /// `threshold` (or a threshold.config threshold / event_filter).
    Threshold,
    /// `detection_filter`.
    DetectionFilter,
    /// threshold.config `rate_filter`.
    Rate,
}

/// The key of a shared counter: the rule by (gid, sid, rev), what is
/// counted, and the tracked address(es).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct CounterKey {
    gid: u32,
    sid: u32,
    rev: u32,
    kind: CounterKind,
    key: TrackKey,
}

impl CounterKey {
    /// The key of `kind` for rule `r` and tracked `key`.
    pub(super) fn new(r: &Rule, kind: CounterKind, key: TrackKey) -> Self {
        CounterKey {
            gid: r.gid,
            sid: r.sid,
            rev: r.rev,
            kind,
            key,
        }
    }
}

#[derive(Debug, Default)]
struct Entry {
    c: Counter,
    /// rate_filter: start of the new action's timeout (None: not active).
    rate_since: Option<i64>,
    /// After this (packet seconds) the entry changes no outcome.
    expires: i64,
}

#[derive(Debug, Default)]
struct Shard {
    counters: FxHashMap<CounterKey, Entry>,
    xbits: FxHashMap<(Arc<str>, TrackKey), i64>,
}

/// Counters of a [`Tracking`] (all workers together).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrackingStats {
    /// Counters held.
    pub counters: usize,
    /// xbits held (expired ones included until purged).
    pub xbits: usize,
    /// Expired entries dropped to make room.
    pub evicted: u64,
    /// Counters not created because the table was full of live entries
    /// (the alert was let through).
    pub cap_hits: u64,
    /// xbits not set because the table was full of live bits.
    pub xbit_cap_hits: u64,
}

/// The tracking tables of thresholds, rate filters and xbits, shared by
/// all workers of a ruleset (see the module documentation).
#[derive(Debug)]
pub struct Tracking {
    shards: [Mutex<Shard>; SHARDS],
    evicted: AtomicU64,
    cap_hits: AtomicU64,
    xbit_cap_hits: AtomicU64,
}

impl Default for Tracking {
    fn default() -> Self {
        Tracking {
            shards: std::array::from_fn(|_| Mutex::new(Shard::default())),
            evicted: AtomicU64::new(0),
            cap_hits: AtomicU64::new(0),
            xbit_cap_hits: AtomicU64::new(0),
        }
    }
}

/// Locks a shard; a poisoned lock (a panic elsewhere while holding it)
/// still yields the data, which every update leaves consistent.
fn lock(m: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Tracking {
    fn shard<K: Hash>(&self, k: &K) -> &Mutex<Shard> {
        let h = FxBuildHasher.hash_one(k) as usize;
        // in range: the array has SHARDS elements
        &self.shards[h % SHARDS]
    }

    /// Counts a match in the counter `key` with `step` (given the counter
    /// and whether it is new); `window` is the counter's window in seconds
    /// (None: backoff, no window). Returns `step`'s verdict, or true (the
    /// alert passes, counted in `cap_hits`) when the table is full.
    pub(super) fn step(
        &self,
        key: CounterKey,
        ts: Timestamp,
        window: Option<u32>,
        step: impl FnOnce(&mut Counter, bool) -> bool,
    ) -> bool {
        let now = ts.secs();
        let mut sh = lock(self.shard(&key));
        let Some((e, fresh)) = self.entry(&mut sh, key, now) else {
            return true;
        };
        let verdict = step(&mut e.c, fresh);
        e.expires = match window {
            Some(s) => e.c.first.saturating_add(i64::from(s)),
            None => now.saturating_add(BACKOFF_IDLE_SECS),
        };
        verdict
    }

    /// The entry of `key`, created (fresh: true) if missing; None when
    /// the shard is full of live entries.
    fn entry<'a>(
        &self,
        sh: &'a mut Shard,
        key: CounterKey,
        now: i64,
    ) -> Option<(&'a mut Entry, bool)> {
        let cap = MAX_TRACKED / SHARDS;
        if sh.counters.len() >= cap && !sh.counters.contains_key(&key) {
            let before = sh.counters.len();
            sh.counters.retain(|_, e| e.expires > now);
            let gone = before.saturating_sub(sh.counters.len()) as u64;
            self.evicted.fetch_add(gone, Ordering::Relaxed);
            if sh.counters.len() >= cap {
                self.cap_hits.fetch_add(1, Ordering::Relaxed);
                return None;
            }
        }
        let mut fresh = false;
        let e = sh.counters.entry(key).or_insert_with(|| {
            fresh = true;
            Entry::default()
        });
        Some((e, fresh))
    }

    /// Counts a match under rate filter `rf`; the new action when the rate
    /// is exceeded (Suricata's `TYPE_RATE`: more than `count` matches
    /// within `seconds` start `timeout` seconds of the new action). None:
    /// the rule's own action (also when the table is full, counted).
    pub(super) fn rate_step(
        &self,
        r: &Rule,
        rf: &RateFilter,
        src: IpAddr,
        dst: IpAddr,
        ts: Timestamp,
    ) -> Option<NewAction> {
        let tk = TrackKey::of(rf.track, src, dst)?;
        let key = CounterKey::new(r, CounterKind::Rate, tk);
        let now = ts.secs();
        let mut sh = lock(self.shard(&key));
        let (e, fresh) = self.entry(&mut sh, key, now)?;
        let out = if fresh {
            e.c.first = now;
            e.c.count = 1;
            // count 0: every match exceeds the rate
            (rf.count == 0).then(|| {
                e.rate_since = Some(now);
                rf.new_action
            })
        } else if e
            .rate_since
            .is_some_and(|t| now.saturating_sub(t) <= i64::from(rf.timeout))
        {
            Some(rf.new_action)
        } else {
            e.rate_since = None;
            if now.saturating_sub(e.c.first) < i64::from(rf.seconds) {
                e.c.count = e.c.count.saturating_add(1);
                if e.c.count > rf.count {
                    e.rate_since = Some(now);
                    Some(rf.new_action)
                } else {
                    None
                }
            } else {
                e.c.first = now;
                e.c.count = 1;
                None
            }
        };
        let window_end = e.c.first.saturating_add(i64::from(rf.seconds));
        let timeout_end = e
            .rate_since
            .map_or(i64::MIN, |t| t.saturating_add(i64::from(rf.timeout)));
        e.expires = window_end.max(timeout_end);
        out
    }

    /// True when xbit `name` of `key` is set and not expired at `now`.
    pub(super) fn xbit_isset(&self, name: &Arc<str>, key: TrackKey, now: i64) -> bool {
        let k = (Arc::clone(name), key);
        let sh = lock(self.shard(&k));
        sh.xbits.get(&k).is_some_and(|&exp| exp > now)
    }

    /// Writes xbit `name` of `key`: `Some(expiry)` sets it, None clears
    /// it; `toggle` first flips the choice when the bit is live (read and
    /// write under one lock).
    pub(super) fn xbit_write(
        &self,
        name: &Arc<str>,
        key: TrackKey,
        now: i64,
        set: Option<i64>,
        toggle: bool,
    ) {
        let k = (Arc::clone(name), key);
        let mut sh = lock(self.shard(&k));
        let set = if toggle {
            let live = sh.xbits.get(&k).is_some_and(|&exp| exp > now);
            if live {
                None
            } else {
                set
            }
        } else {
            set
        };
        let Some(exp) = set else {
            sh.xbits.remove(&k);
            return;
        };
        let cap = MAX_TRACKED_XBITS / SHARDS;
        if sh.xbits.len() >= cap && !sh.xbits.contains_key(&k) {
            let before = sh.xbits.len();
            sh.xbits.retain(|_, e| *e > now);
            let gone = before.saturating_sub(sh.xbits.len()) as u64;
            self.evicted.fetch_add(gone, Ordering::Relaxed);
            if sh.xbits.len() >= cap {
                self.xbit_cap_hits.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        sh.xbits.insert(k, exp);
    }

    /// Sizes and counters, all shards together.
    pub fn stats(&self) -> TrackingStats {
        let mut s = TrackingStats {
            evicted: self.evicted.load(Ordering::Relaxed),
            cap_hits: self.cap_hits.load(Ordering::Relaxed),
            xbit_cap_hits: self.xbit_cap_hits.load(Ordering::Relaxed),
            ..TrackingStats::default()
        };
        for m in self.shards.iter() {
            let sh = lock(m);
            s.counters += sh.counters.len();
            s.xbits += sh.xbits.len();
        }
        s
    }
}

/// What a rate filter turns a rule's alerts into while it is active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewAction {
    /// `new_action alert`: recorded as `"allowed"`.
    Alert,
    /// `new_action drop` / `reject`: recorded as `"blocked"` (zoneguard
    /// is passive: nothing is dropped or reset).
    Blocked,
    /// `new_action pass`: the alert is not written.
    Pass,
}

/// A threshold.config `rate_filter` attached to a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateFilter {
    /// by_src, by_dst, by_rule or by_both.
    pub track: Track,
    /// Matches allowed within `seconds`.
    pub count: u32,
    /// Window.
    pub seconds: u32,
    /// Action while the rate is exceeded.
    pub new_action: NewAction,
    /// How long the new action lasts (seconds).
    pub timeout: u32,
}

impl Ruleset {
    /// The tracking tables of this ruleset, shared by its workers' states
    /// ([`super::state::DetectState::shared`]).
    pub fn tracking(&self) -> &Arc<Tracking> {
        &self.tracking
    }

    /// Takes over `old`'s tracking tables (a reload): counters of rules
    /// with the same gid, sid and rev, and xbits by name, continue; those
    /// of rules that are gone expire. Call before the ruleset is shared.
    pub fn keep_tracking(&mut self, old: &Ruleset) {
        self.tracking = Arc::clone(&old.tracking);
    }
}

/// An address suppression of one rule.
#[derive(Debug, Clone)]
pub(super) struct Suppress {
    track: SuppressTrack,
    addrs: AddrSet,
}

/// True when one of `list` drops an alert from `src` to `dst`.
pub(super) fn suppressed(list: &[Suppress], src: IpAddr, dst: IpAddr) -> bool {
    list.iter().any(|s| match s.track {
        SuppressTrack::BySrc => s.addrs.contains(src),
        SuppressTrack::ByDst => s.addrs.contains(dst),
        SuppressTrack::ByEither => s.addrs.contains(src) || s.addrs.contains(dst),
    })
}

/// A threshold.config entry that changed nothing, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThresholdNote {
    /// Line of the entry in the file.
    pub line: usize,
    /// Why it was not applied.
    pub reason: String,
}

/// What applying a threshold.config did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThresholdApplied {
    /// Rules that no longer alert at all.
    pub suppressed: usize,
    /// Rules with an address suppression.
    pub suppressed_by_addr: usize,
    /// Rules whose threshold was set or replaced.
    pub thresholds: usize,
    /// Rules with a rate filter.
    pub rate_filters: usize,
    /// Entries not applied.
    pub notes: Vec<ThresholdNote>,
}

fn selects(gen_id: u32, sig_id: u32, gid: u32, sid: u32) -> bool {
    (gen_id == 0 || gen_id == gid) && (sig_id == 0 || sig_id == sid)
}

impl Ruleset {
    /// Applies a parsed threshold.config (Suricata's Global-Thresholds
    /// semantics, see the module documentation). Call once, after
    /// [`Ruleset::compile`] and before the ruleset is shared.
    pub fn apply_threshold_config(&mut self, cfg: &ThresholdConfig) -> ThresholdApplied {
        let mut out = ThresholdApplied::default();
        let mut all = vec![false; self.rules.len()];
        let mut by_addr = vec![false; self.rules.len()];
        let mut thr = vec![false; self.rules.len()];
        let mut rate = vec![false; self.rules.len()];
        for (line, e) in &cfg.entries {
            let mut hit = false;
            match e {
                ThresholdEntry::Suppress {
                    gen_id,
                    sig_id,
                    scope,
                } => {
                    for (i, r) in self.rules.iter_mut().enumerate() {
                        if !selects(*gen_id, *sig_id, r.rule.gid, r.rule.sid) {
                            continue;
                        }
                        hit = true;
                        match scope {
                            None => {
                                r.rule.noalert = true;
                                if let Some(a) = all.get_mut(i) {
                                    *a = true;
                                }
                            }
                            Some((track, addrs)) => {
                                r.suppress.push(Suppress {
                                    track: *track,
                                    addrs: addrs.clone(),
                                });
                                if let Some(a) = by_addr.get_mut(i) {
                                    *a = true;
                                }
                            }
                        }
                    }
                }
                ThresholdEntry::Threshold {
                    gen_id,
                    sig_id,
                    threshold,
                } => {
                    let global = *sig_id == 0;
                    for (i, r) in self.rules.iter_mut().enumerate() {
                        if !selects(*gen_id, *sig_id, r.rule.gid, r.rule.sid) {
                            continue;
                        }
                        let own = r.rule.threshold.is_some() || r.rule.detection_filter.is_some();
                        // A global entry leaves rules with their own
                        // threshold alone (and so does a second global
                        // entry: the first one set wins).
                        if global && (own || thr.get(i).copied().unwrap_or(false)) {
                            continue;
                        }
                        hit = true;
                        r.rule.threshold = Some(*threshold);
                        r.rule.detection_filter = None;
                        if let Some(t) = thr.get_mut(i) {
                            *t = true;
                        }
                    }
                }
                ThresholdEntry::RateFilter {
                    gen_id,
                    sig_id,
                    track,
                    count,
                    seconds,
                    new_action,
                    timeout,
                } => {
                    let rf = RateFilter {
                        track: *track,
                        count: *count,
                        seconds: *seconds,
                        new_action: match new_action {
                            Action::Alert => NewAction::Alert,
                            Action::Pass => NewAction::Pass,
                            _ => NewAction::Blocked,
                        },
                        timeout: *timeout,
                    };
                    let global = *sig_id == 0;
                    for (i, r) in self.rules.iter_mut().enumerate() {
                        if !selects(*gen_id, *sig_id, r.rule.gid, r.rule.sid) {
                            continue;
                        }
                        if global && r.rate.is_some() {
                            continue;
                        }
                        hit = true;
                        r.rate = Some(rf);
                        if let Some(t) = rate.get_mut(i) {
                            *t = true;
                        }
                    }
                }
            }
            if !hit {
                out.notes.push(ThresholdNote {
                    line: *line,
                    reason: "no loaded rule matches gen_id/sig_id / 没有匹配的已加载规则"
                        .to_string(),
                });
            }
        }
        out.suppressed = all.iter().filter(|x| **x).count();
        out.suppressed_by_addr = by_addr.iter().filter(|x| **x).count();
        out.thresholds = thr.iter().filter(|x| **x).count();
        out.rate_filters = rate.iter().filter(|x| **x).count();
        out
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::super::state::{Counter, DetectState, TrackKey};
    use super::super::{PacketView, Scratch};
    use super::*;
    use crate::signatures::{load_rules_str, Classification, Vars};
    use crate::time::Timestamp;

    const RULES: &str = "alert tcp any any -> any any (msg:\"a\"; content:\"evil\"; sid:1;)\n\
        alert tcp any any -> any any (msg:\"b\"; content:\"evil\"; flowbits:set,seen; sid:2;)\n\
        alert tcp any any -> any any (msg:\"c\"; content:\"evil\"; threshold:type limit, track by_src, count 1, seconds 60; sid:3;)\n\
        alert tcp any any -> any any (msg:\"d\"; content:\"data\"; flowbits:isset,seen; sid:4;)\n\
        alert tcp any any -> any any (msg:\"e\"; content:\"evil\"; gid:3; sid:5;)";

    fn ruleset(thresholds: &str) -> (Ruleset, ThresholdApplied) {
        let vars = Vars::suricata_defaults().resolve();
        let classes = Classification::suricata_default();
        let load = load_rules_str(RULES, "t.rules", &vars, &classes);
        assert!(load.rejected.is_empty(), "{:?}", load.rejected);
        let mut rs = Ruleset::compile(&load, &classes);
        let cfg = ThresholdConfig::parse(thresholds, "threshold.config", &vars);
        assert!(cfg.errors.is_empty(), "{:?}", cfg.errors);
        let applied = rs.apply_threshold_config(&cfg);
        (rs, applied)
    }

    fn pkt(payload: &[u8], src: [u8; 4], secs: i64) -> PacketView<'_> {
        PacketView {
            stream_sizes: None,
            src: IpAddr::V4(Ipv4Addr::from(src)),
            dst: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            sport: 40000,
            dport: 80,
            proto: 6,
            payload,
            ttl: 64,
            tos: 0,
            ip_id: Some(1),
            tcp: Some((0x18, 1000, 1, 1)),
            icmp: None,
            to_server: true,
            established: true,
            app_proto: None,
            l4_valid: true,
            ts: Timestamp::from_secs_micros(secs, 0),
        }
    }

    /// Sids alerting on each packet, one state for the whole run.
    fn run(rs: &Ruleset, pkts: &[PacketView<'_>]) -> Vec<Vec<u32>> {
        let mut st = DetectState::default();
        let mut sc = Scratch::default();
        let mut flow = None;
        pkts.iter()
            .map(|p| {
                let mut hits = Vec::new();
                rs.match_packet(p, &mut flow, &mut st, &mut sc, &mut hits);
                let mut v: Vec<u32> = hits
                    .iter()
                    .filter_map(|h| rs.rule(h.rule).map(|r| r.rule.sid))
                    .collect();
                v.sort_unstable();
                v
            })
            .collect()
    }

    const A: [u8; 4] = [10, 0, 0, 1];
    const B: [u8; 4] = [10, 0, 0, 2];

    #[test]
    fn no_file_changes_nothing() {
        let (rs, applied) = ruleset("");
        assert_eq!(applied, ThresholdApplied::default());
        let got = run(&rs, &[pkt(b"evil", A, 0), pkt(b"evil", A, 1)]);
        assert_eq!(got, vec![vec![1, 2, 3, 5], vec![1, 2, 5]]);
    }

    #[test]
    fn suppress_silences_but_flowbits_still_set() {
        let (rs, applied) = ruleset("suppress gen_id 1, sig_id 2\n");
        assert_eq!(applied.suppressed, 1);
        let got = run(&rs, &[pkt(b"evil", A, 0), pkt(b"data", A, 1)]);
        assert_eq!(got, vec![vec![1, 3, 5], vec![4]]);
    }

    #[test]
    fn suppress_by_ip_and_by_gid() {
        let (rs, applied) = ruleset(
            "suppress gen_id 1, sig_id 1, track by_src, ip 10.0.0.1\n\
             suppress gen_id 3, sig_id 0, track by_dst, ip [192.0.2.0/24]\n\
             suppress gen_id 1, sig_id 2, track by_either, ip $HOME_NET\n",
        );
        assert_eq!(applied.suppressed_by_addr, 3);
        let got = run(&rs, &[pkt(b"evil", A, 0), pkt(b"evil", B, 0)]);
        // sid 1 only from B; sid 5 (gid 3) never (dst); sid 2 never
        // (both in HOME_NET); sid 3 once per source
        assert_eq!(got, vec![vec![3], vec![1, 3]]);
    }

    #[test]
    fn suppressed_alerts_do_not_count_for_thresholds() {
        let (rs, _) = ruleset("suppress gen_id 1, sig_id 3, track by_src, ip 10.0.0.1\n");
        let got = run(&rs, &[pkt(b"evil", A, 0), pkt(b"evil", B, 0)]);
        assert!(!got[0].contains(&3));
        assert!(got[1].contains(&3));
    }

    #[test]
    fn threshold_replaces_the_rules_own() {
        // sid 3 had limit 1 by_src: now threshold every 2nd by_rule
        let (rs, applied) = ruleset(
            "threshold gen_id 1, sig_id 3, type threshold, track by_rule, count 2, seconds 60\n",
        );
        assert_eq!(applied.thresholds, 1);
        let ps: Vec<_> = (0..4).map(|i| pkt(b"evil", A, i)).collect();
        let n3 = run(&rs, &ps).iter().filter(|v| v.contains(&3)).count();
        assert_eq!(n3, 2);
    }

    #[test]
    fn event_filter_global_spares_rules_with_their_own() {
        let (rs, applied) = ruleset(
            "event_filter gen_id 0, sig_id 0, type limit, track by_src, count 2, seconds 10\n",
        );
        // sids 1, 2, 4, 5: not sid 3 (own threshold)
        assert_eq!(applied.thresholds, 4);
        let ps: Vec<_> = (0..5).map(|i| pkt(b"evil", A, i)).collect();
        let got = run(&rs, &ps);
        let count = |sid| got.iter().filter(|v| v.contains(&sid)).count();
        assert_eq!((count(1), count(2), count(3), count(5)), (2, 2, 1, 2));
        // a new window after 10 s
        let ps: Vec<_> = [0, 1, 2, 11].iter().map(|&s| pkt(b"evil", A, s)).collect();
        let got = run(&rs, &ps);
        assert_eq!(got.iter().filter(|v| v.contains(&1)).count(), 3);
    }

    #[test]
    fn threshold_both_by_src() {
        let (rs, _) =
            ruleset("threshold gen_id 1, sig_id 1, type both, track by_src, count 3, seconds 60\n");
        let ps: Vec<_> = (0..6).map(|i| pkt(b"evil", A, i)).collect();
        let got = run(&rs, &ps);
        let when: Vec<usize> = got
            .iter()
            .enumerate()
            .filter(|(_, v)| v.contains(&1))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(when, vec![2]);
    }

    #[test]
    fn unmatched_entries_are_reported() {
        let (_, applied) = ruleset(
            "suppress gen_id 1, sig_id 999\n\
             rate_filter gen_id 1, sig_id 1, track by_rule, count 10, seconds 60, new_action drop, timeout 30\n\
             rate_filter gen_id 1, sig_id 998, track by_rule, count 10, seconds 60, new_action drop, timeout 30\n",
        );
        let lines: Vec<usize> = applied.notes.iter().map(|n| n.line).collect();
        assert_eq!(lines, vec![1, 3]);
        assert_eq!(applied.rate_filters, 1);
    }

    fn compile(rules: &str, thresholds: &str) -> Ruleset {
        let vars = Vars::suricata_defaults().resolve();
        let classes = Classification::suricata_default();
        let load = load_rules_str(rules, "t.rules", &vars, &classes);
        assert!(load.rejected.is_empty(), "{:?}", load.rejected);
        let mut rs = Ruleset::compile(&load, &classes);
        let cfg = ThresholdConfig::parse(thresholds, "threshold.config", &vars);
        assert!(cfg.errors.is_empty(), "{:?}", cfg.errors);
        let applied = rs.apply_threshold_config(&cfg);
        assert!(applied.notes.is_empty(), "{:?}", applied.notes);
        rs
    }

    /// Per packet: the (sid, blocked) of its hits, on state `st`.
    fn run_on(
        rs: &Ruleset,
        st: &mut DetectState,
        pkts: &[PacketView<'_>],
    ) -> Vec<Vec<(u32, bool)>> {
        let mut sc = Scratch::default();
        let mut flow = None;
        pkts.iter()
            .map(|p| {
                let mut hits = Vec::new();
                rs.match_packet(p, &mut flow, st, &mut sc, &mut hits);
                hits.iter()
                    .filter_map(|h| rs.rule(h.rule).map(|r| (r.rule.sid, h.blocked)))
                    .collect()
            })
            .collect()
    }

    const ONE: &str = "alert tcp any any -> any any (msg:\"a\"; content:\"evil\"; sid:1;)\n\
        drop tcp any any -> any any (msg:\"d\"; content:\"evil\"; sid:2;)";

    fn at(secs: &[i64], src: [u8; 4]) -> Vec<PacketView<'static>> {
        secs.iter().map(|&t| pkt(b"evil", src, t)).collect()
    }

    #[test]
    fn rate_filter_drop_by_rule_then_timeout() {
        let rs = compile(
            ONE,
            "rate_filter gen_id 1, sig_id 1, track by_rule, count 2, seconds 60, new_action drop, timeout 30\n",
        );
        let mut st = DetectState::default();
        let got = run_on(&rs, &mut st, &at(&[0, 1, 2, 3, 33, 34, 70, 71], A));
        let sid1: Vec<bool> = got
            .iter()
            .map(|v| {
                v.iter()
                    .find(|(s, _)| *s == 1)
                    .map(|x| x.1)
                    .unwrap_or(false)
            })
            .collect();
        // 3rd match exceeds 2 in 60 s: blocked for 30 s (to 32); at 33 the
        // timeout is over but the window (from 0) still counts: 5th match
        // exceeds again, blocked until 63 (64 included, Suricata's `>`);
        // 70: timeout over, window over: a new window.
        assert_eq!(sid1, [false, false, true, true, true, true, false, false]);
        // every packet alerts for both rules; sid 2 (drop) stays blocked
        assert!(got.iter().all(|v| v.len() == 2 && v.contains(&(2, true))));
    }

    #[test]
    fn rate_filter_pass_alert_and_tracks() {
        // pass: alerts beyond 1 per source in 10 s are not written
        let rs = compile(
            ONE,
            "rate_filter gen_id 1, sig_id 1, track by_src, count 1, seconds 10, new_action pass, timeout 5\n\
             rate_filter gen_id 1, sig_id 2, track by_both, count 1, seconds 10, new_action alert, timeout 60\n",
        );
        let mut st = DetectState::default();
        let mut ps = at(&[0, 1], A);
        ps.extend(at(&[2], B));
        // B's reply direction: the same pair as A → 192.0.2.1 for by_both
        let mut back = pkt(b"evil", [192, 0, 2, 1], 3);
        back.dst = IpAddr::V4(Ipv4Addr::from(A));
        ps.push(back);
        let mut got = run_on(&rs, &mut st, &ps);
        for v in got.iter_mut() {
            v.sort_unstable();
        }
        let sids = |v: &Vec<(u32, bool)>| v.iter().map(|x| x.0).collect::<Vec<_>>();
        assert_eq!(sids(&got[0]), [1, 2]);
        assert_eq!(sids(&got[1]), [2], "A's second match passes");
        assert_eq!(sids(&got[2]), [1, 2], "B has its own counter");
        // sid 2 (drop): the second match of pair (A, 192.0.2.1) takes
        // new_action alert: recorded as allowed; B's pair is its own
        assert_eq!(got[0][1], (2, true));
        assert_eq!(got[1][0], (2, false));
        assert_eq!(got[2][1], (2, true));
        assert_eq!(got[3].iter().find(|x| x.0 == 2), Some(&(2, false)));
    }

    #[test]
    fn rate_filter_global_entry_spares_rules_with_their_own() {
        let rs = compile(
            ONE,
            "rate_filter gen_id 1, sig_id 1, track by_rule, count 100, seconds 60, new_action drop, timeout 30\n\
             rate_filter gen_id 0, sig_id 0, track by_rule, count 0, seconds 60, new_action pass, timeout 30\n",
        );
        let mut st = DetectState::default();
        let got = run_on(&rs, &mut st, &at(&[0, 1], A));
        // sid 1 keeps its own (count 100); sid 2 takes the global (count
        // 0: every match passes)
        assert_eq!(got, vec![vec![(1, false)], vec![(1, false)]]);
    }

    #[test]
    fn workers_share_counters_and_xbits() {
        let rules = "alert tcp any any -> any any (msg:\"l\"; content:\"evil\"; threshold:type limit, track by_src, count 2, seconds 60; sid:1;)\n\
            alert tcp any any -> any any (msg:\"s\"; content:\"seta\"; xbits:set,x,track ip_src; noalert; sid:2;)\n\
            alert tcp any any -> any any (msg:\"i\"; content:\"evil\"; xbits:isset,x,track ip_src; sid:3;)";
        let rs = compile(rules, "");
        // two workers: states on the ruleset's shared tables
        let mut w1 = DetectState::shared(rs.tracking());
        let mut w2 = DetectState::shared(rs.tracking());
        let a = run_on(&rs, &mut w1, &at(&[0, 1], A));
        let b = run_on(&rs, &mut w2, &at(&[2, 3], A));
        let n1 = |v: &[Vec<(u32, bool)>]| v.iter().filter(|h| h.contains(&(1, false))).count();
        assert_eq!(n1(&a) + n1(&b), 2, "limit 2 by_src over both workers");
        // the bit set by worker 1 is seen by worker 2
        run_on(&rs, &mut w1, &[pkt(b"seta", A, 4)]);
        let c = run_on(&rs, &mut w2, &at(&[5], A));
        assert!(c[0].contains(&(3, false)), "{c:?}");
        let stats = rs.tracking().stats();
        assert_eq!((stats.counters, stats.xbits), (1, 1));
        // a state of its own counts apart
        let mut own = DetectState::default();
        assert_eq!(n1(&run_on(&rs, &mut own, &at(&[6], A))), 1);
        // a reload keeping the tracking: sid 1 (same gid/sid/rev) goes on
        let mut rs2 = compile(rules, "");
        rs2.keep_tracking(&rs);
        let mut w3 = DetectState::shared(rs2.tracking());
        let d = run_on(&rs2, &mut w3, &at(&[7], A));
        assert_eq!(n1(&d), 0, "still limited after the reload");
        assert!(d[0].contains(&(3, false)), "xbit kept by name: {d:?}");
        // without keep_tracking: fresh
        let rs3 = compile(rules, "");
        let mut w4 = DetectState::shared(rs3.tracking());
        assert_eq!(n1(&run_on(&rs3, &mut w4, &at(&[8], A))), 1);
    }

    proptest::proptest! {
        /// Any rate filter over any times never panics; with a window and
        /// timeout longer than the times, exactly the matches beyond
        /// `count` take the new action.
        #[test]
        fn rate_step_counts(
            count in 0u32..20,
            seconds in 0u32..50,
            timeout in 0u32..50,
            times in proptest::collection::vec(-5i64..200, 0..60),
            track in 0u8..4,
        ) {
            let r = load_rules_str(
                "alert ip any any -> any any (msg:\"x\"; sid:9;)",
                "t",
                &Vars::suricata_defaults().resolve(),
                &Classification::suricata_default(),
            )
            .rules
            .into_iter()
            .next()
            .expect("rule");
            let track = match track {
                0 => Track::BySrc,
                1 => Track::ByDst,
                2 => Track::ByRule,
                _ => Track::ByBoth,
            };
            let (a, b) = (IpAddr::V4(Ipv4Addr::from(A)), IpAddr::V4(Ipv4Addr::from(B)));
            let t = Tracking::default();
            let rf = RateFilter { track, count, seconds, new_action: NewAction::Blocked, timeout };
            for &s in &times {
                let _ = t.rate_step(&r, &rf, a, b, Timestamp::from_secs_micros(s, 0));
            }
            let long = RateFilter { seconds: 1000, timeout: 1000, ..rf };
            let t = Tracking::default();
            let mut sorted = times.clone();
            sorted.sort_unstable();
            let n = sorted
                .iter()
                .filter(|&&s| t.rate_step(&r, &long, a, b, Timestamp::from_secs_micros(s, 0)).is_some())
                .count();
            proptest::prop_assert_eq!(n, times.len().saturating_sub(count as usize));
        }
    }

    #[test]
    fn tracking_is_bounded_and_evicts_expired() {
        let t = Tracking::default();
        let r = crate::signatures::rule::Rule {
            sid: 7,
            ..load_rules_str(
                "alert ip any any -> any any (msg:\"x\"; sid:7;)",
                "t",
                &Vars::suricata_defaults().resolve(),
                &Classification::suricata_default(),
            )
            .rules
            .into_iter()
            .next()
            .expect("rule")
        };
        let key = |n: u32| {
            CounterKey::new(
                &r,
                CounterKind::Threshold,
                TrackKey::Addr(IpAddr::V4(Ipv4Addr::from(n))),
            )
        };
        let ts = |s: i64| Timestamp::from_secs_micros(s, 0);
        let step = |c: &mut Counter, fresh: bool| {
            if fresh {
                c.first = 0;
            }
            false
        };
        let n = (MAX_TRACKED + MAX_TRACKED / 2) as u32;
        // windows of 10 s from time 0
        for i in 0..n {
            t.step(key(i), ts(0), Some(10), step);
        }
        let s = t.stats();
        assert!(s.counters <= MAX_TRACKED, "{s:?}");
        assert!(s.cap_hits > 0, "full of live entries: counted {s:?}");
        // later, the expired entries make room
        for i in n..n + 1000 {
            assert!(!t.step(key(i), ts(100), Some(10), |c, fresh| {
                if fresh {
                    c.first = 100;
                }
                false
            }));
        }
        let s2 = t.stats();
        assert!(s2.evicted > 0 && s2.counters <= MAX_TRACKED, "{s2:?}");
        assert_eq!(s2.cap_hits, s.cap_hits);
        // a full table lets the alert through (true), never loses it
        let full = Tracking::default();
        let mut passed = 0;
        for i in 0..n {
            if full.step(key(i), ts(0), Some(3600), step) {
                passed += 1;
            }
        }
        assert_eq!(passed as u64, full.stats().cap_hits);
        // xbits: bounded the same way
        let name: Arc<str> = Arc::from("b");
        for i in 0..(MAX_TRACKED_XBITS + 100) as u32 {
            t.xbit_write(
                &name,
                TrackKey::Addr(IpAddr::V4(Ipv4Addr::from(i))),
                0,
                Some(50),
                false,
            );
        }
        let s3 = t.stats();
        assert!(
            s3.xbits <= MAX_TRACKED_XBITS && s3.xbit_cap_hits > 0,
            "{s3:?}"
        );
    }
}
