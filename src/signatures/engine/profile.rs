//! Per-rule profiling (`zoneguard replay --profile-rules`), after
//! Suricata's rule profiling: for every rule, how often it was checked
//! (became a candidate and was evaluated), how often it matched, and the
//! time its evaluations took.
//!
//! Each worker keeps its own [`RuleProfiler`] in its [`super::Scratch`]
//! (no sharing, no atomics); the replay merges them at the end
//! ([`RuleProfiler::merge`]) and reports ([`RuleProfiler::report`]).
//!
//! Cost. Profiling off (the default, and always in the daemon): each
//! candidate evaluation tests one flag that never changes during a run
//! (a predictable branch when the check starts and one when it ends); no
//! clock is read, nothing is allocated or counted. Profiling on: two
//! monotonic clock reads (`std::time::Instant`, the vDSO
//! `clock_gettime`) per evaluation, about 40-60 ns; figures in
//! docs/performance.md.
//!
//! "matches" counts evaluations in which the rule matched completely,
//! before suppression, `threshold`, `detection_filter` and `rate_filter`
//! (as Suricata's profiling does): for rules without those and without
//! `noalert` or `pass`, matches equal the rule's alerts.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;
use thiserror::Error;

use super::Ruleset;

/// Counters of one rule in one worker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuleCounters {
    /// Evaluations (the rule was a candidate and was checked).
    pub checks: u64,
    /// Evaluations that matched.
    pub matches: u64,
    /// Time of all evaluations (ns).
    pub total_ns: u64,
    /// Time of the matching evaluations (ns).
    pub match_ns: u64,
    /// Longest evaluation (ns).
    pub max_ns: u64,
}

impl RuleCounters {
    fn add(&mut self, o: &RuleCounters) {
        self.checks = self.checks.saturating_add(o.checks);
        self.matches = self.matches.saturating_add(o.matches);
        self.total_ns = self.total_ns.saturating_add(o.total_ns);
        self.match_ns = self.match_ns.saturating_add(o.match_ns);
        self.max_ns = self.max_ns.max(o.max_ns);
    }
}

/// Per-rule counters of one worker, indexed like the ruleset's rules
/// ([`Ruleset::rule`]). Off by default.
#[derive(Debug, Default, Clone)]
pub struct RuleProfiler {
    on: bool,
    counters: Vec<RuleCounters>,
}

impl RuleProfiler {
    /// A profiler that counts, for a ruleset of `rules` rules (allocated
    /// once, here).
    pub fn new(rules: usize) -> Self {
        RuleProfiler {
            on: true,
            counters: vec![RuleCounters::default(); rules],
        }
    }

    /// True when counting.
    pub fn is_on(&self) -> bool {
        self.on
    }

    /// The counters of rule `idx`.
    pub fn counters(&self, idx: u32) -> Option<&RuleCounters> {
        self.counters.get(idx as usize)
    }

    /// Starts the evaluation of rule `rule`; the returned guard records it
    /// when dropped (so every `continue` of the evaluation loop counts).
    #[inline(always)]
    pub(super) fn check(&mut self, rule: u32) -> Check<'_> {
        let start = if self.on { Some(Instant::now()) } else { None };
        Check {
            prof: self,
            rule,
            start,
            matched: false,
        }
    }

    #[cold]
    #[inline(never)]
    fn record(&mut self, rule: u32, took: Duration, matched: bool) {
        let Some(c) = self.counters.get_mut(rule as usize) else {
            return;
        };
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        c.checks = c.checks.saturating_add(1);
        c.total_ns = c.total_ns.saturating_add(ns);
        c.max_ns = c.max_ns.max(ns);
        if matched {
            c.matches = c.matches.saturating_add(1);
            c.match_ns = c.match_ns.saturating_add(ns);
        }
    }

    /// Adds another worker's counters (same ruleset) to these; a profiler
    /// that is off takes the other's size.
    pub fn merge(&mut self, o: &RuleProfiler) {
        if o.counters.len() > self.counters.len() {
            self.counters
                .resize(o.counters.len(), RuleCounters::default());
        }
        self.on |= o.on;
        for (a, b) in self.counters.iter_mut().zip(&o.counters) {
            a.add(b);
        }
    }

    /// The rules that were checked at least once, costliest first (total
    /// time, then checks, then sid).
    pub fn report(&self, rs: &Ruleset) -> Vec<RuleStat> {
        let total: u64 = self
            .counters
            .iter()
            .fold(0u64, |a, c| a.saturating_add(c.total_ns));
        let mut out: Vec<RuleStat> = self
            .counters
            .iter()
            .enumerate()
            .filter(|(_, c)| c.checks > 0)
            .filter_map(|(i, c)| {
                let r = rs.rule(u32::try_from(i).ok()?)?;
                let nomatch = c.checks.saturating_sub(c.matches);
                Some(RuleStat {
                    sid: r.rule.sid,
                    gid: r.rule.gid,
                    rev: r.rule.rev,
                    msg: r.msg.to_string(),
                    checks: c.checks,
                    matches: c.matches,
                    total_ns: c.total_ns,
                    avg_ns: c.total_ns / c.checks,
                    max_ns: c.max_ns,
                    avg_match_ns: c.match_ns.checked_div(c.matches).unwrap_or(0),
                    avg_nomatch_ns: c
                        .total_ns
                        .saturating_sub(c.match_ns)
                        .checked_div(nomatch)
                        .unwrap_or(0),
                    percent: if total == 0 {
                        0.0
                    } else {
                        (c.total_ns as f64 * 1000.0 / total as f64).round() / 10.0
                    },
                })
            })
            .collect();
        out.sort_by(|a, b| {
            b.total_ns
                .cmp(&a.total_ns)
                .then(b.checks.cmp(&a.checks))
                .then(a.sid.cmp(&b.sid))
        });
        out
    }
}

/// An evaluation being timed (see [`RuleProfiler::check`]).
pub(super) struct Check<'a> {
    prof: &'a mut RuleProfiler,
    rule: u32,
    start: Option<Instant>,
    matched: bool,
}

impl Check<'_> {
    /// The rule matched completely.
    #[inline(always)]
    pub(super) fn matched(&mut self) {
        self.matched = true;
    }
}

impl Drop for Check<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        if let Some(s) = self.start {
            self.prof.record(self.rule, s.elapsed(), self.matched);
        }
    }
}

/// One rule's line of the profile (a record of `rule_perf.json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleStat {
    /// sid.
    pub sid: u32,
    /// gid.
    pub gid: u32,
    /// rev.
    pub rev: u32,
    /// msg.
    pub msg: String,
    /// Evaluations.
    pub checks: u64,
    /// Evaluations that matched.
    pub matches: u64,
    /// Time of all evaluations (ns).
    pub total_ns: u64,
    /// Average evaluation (ns).
    pub avg_ns: u64,
    /// Longest evaluation (ns).
    pub max_ns: u64,
    /// Average of the matching evaluations (ns; 0 without a match).
    pub avg_match_ns: u64,
    /// Average of the other evaluations (ns; 0 without one).
    pub avg_nomatch_ns: u64,
    /// Share of the time of all rules (%, one decimal).
    pub percent: f64,
}

/// `rule_perf.json` could not be written.
#[derive(Debug, Error)]
#[error("cannot write rule profile {path}: {source}")]
pub struct ProfileError {
    /// The file.
    pub path: String,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

#[derive(Serialize)]
struct PerfFile<'a> {
    sort: &'static str,
    time_unit: &'static str,
    rules_checked: usize,
    rules: &'a [RuleStat],
}

/// Writes the whole profile as JSON (`{"sort": "total_ns", "time_unit":
/// "ns", "rules_checked": N, "rules": [RuleStat...]}`) to `path`.
pub fn write_json(path: &Path, stats: &[RuleStat]) -> Result<(), ProfileError> {
    let err = |source| ProfileError {
        path: path.display().to_string(),
        source,
    };
    let body = PerfFile {
        sort: "total_ns",
        time_unit: "ns",
        rules_checked: stats.len(),
        rules: stats,
    };
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).map_err(err)?);
    serde_json::to_writer_pretty(&mut f, &body).map_err(|e| err(std::io::Error::other(e)))?;
    f.write_all(b"\n").map_err(err)?;
    f.flush().map_err(err)
}

/// The `top` costliest rules as a text table with a bilingual header, as
/// printed after `replay --profile-rules`.
pub fn render_table(stats: &[RuleStat], top: usize) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "rule profile / 规则性能分析: top {} of {} rules checked / 前 {} 条（共 {} 条被检查）",
        top.min(stats.len()),
        stats.len(),
        top.min(stats.len()),
        stats.len()
    );
    let _ = writeln!(
        s,
        "{:>4} {:>10} {:>4} {:>4} {:>12} {:>10} {:>12} {:>9} {:>10} {:>6}  msg",
        "#", "sid", "gid", "rev", "checks", "matches", "total ms", "avg ns", "max ns", "%"
    );
    let _ = writeln!(
        s,
        "{:>4} {:>10} {:>4} {:>4} {:>12} {:>10} {:>12} {:>9} {:>10} {:>6}  规则",
        "序号",
        "sid",
        "gid",
        "rev",
        "检查次数",
        "匹配次数",
        "总耗时 ms",
        "平均 ns",
        "最大 ns",
        "占比"
    );
    for (n, r) in stats.iter().take(top).enumerate() {
        let msg: String = r.msg.chars().take(60).collect();
        let _ = writeln!(
            s,
            "{:>4} {:>10} {:>4} {:>4} {:>12} {:>10} {:>12.3} {:>9} {:>10} {:>6.1}  {}",
            n + 1,
            r.sid,
            r.gid,
            r.rev,
            r.checks,
            r.matches,
            r.total_ns as f64 / 1e6,
            r.avg_ns,
            r.max_ns,
            r.percent,
            msg
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::signatures::engine::state::DetectState;
    use crate::signatures::engine::{PacketView, Scratch};
    use crate::signatures::{load_rules_str, Classification, Vars};
    use crate::time::Timestamp;

    const RULES: &str = "alert tcp any any -> any any (msg:\"evil\"; content:\"evil\"; sid:1;)\n\
        alert tcp any any -> any any (msg:\"evil bad\"; content:\"evil\"; content:\"bad\"; sid:2;)\n\
        alert tcp any any -> any any (msg:\"never\"; content:\"zzzzqqqq\"; sid:3;)\n\
        alert udp any any -> any any (msg:\"udp\"; content:\"evil\"; sid:4;)";

    fn ruleset() -> Ruleset {
        let vars = Vars::suricata_defaults().resolve();
        let classes = Classification::suricata_default();
        let load = load_rules_str(RULES, "t.rules", &vars, &classes);
        assert!(load.rejected.is_empty(), "{:?}", load.rejected);
        Ruleset::compile(&load, &classes)
    }

    fn pkt(payload: &[u8]) -> PacketView<'_> {
        PacketView {
            stream_sizes: None,
            src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
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
            ts: Timestamp::from_secs_micros(1, 0),
        }
    }

    fn run(rs: &Ruleset, sc: &mut Scratch, payloads: &[&[u8]]) -> usize {
        let mut st = DetectState::default();
        let mut flow = None;
        let mut alerts = 0;
        for p in payloads {
            let mut hits = Vec::new();
            rs.match_packet(&pkt(p), &mut flow, &mut st, sc, &mut hits);
            alerts += hits.len();
        }
        alerts
    }

    fn profiled(rs: &Ruleset) -> Scratch {
        Scratch {
            profile: RuleProfiler::new(rs.len()),
            ..Scratch::default()
        }
    }

    fn sid_stat(stats: &[RuleStat], sid: u32) -> Option<&RuleStat> {
        stats.iter().find(|s| s.sid == sid)
    }

    #[test]
    fn counts_checks_and_matches() {
        let rs = ruleset();
        let mut sc = profiled(&rs);
        let alerts = run(&rs, &mut sc, &[b"evil", b"evil bad", b"nothing", b"EVIL"]);
        let stats = sc.profile.report(&rs);
        let s1 = sid_stat(&stats, 1).expect("sid 1 checked");
        let s2 = sid_stat(&stats, 2).expect("sid 2 checked");
        // "evil" is the fast pattern of both (case-insensitive prefilter):
        // candidates on 3 packets; sid 1 matches 2 (content is
        // case-sensitive), sid 2 one.
        assert_eq!((s1.checks, s1.matches), (3, 2));
        assert_eq!((s2.checks, s2.matches), (3, 1));
        assert_eq!(alerts as u64, s1.matches + s2.matches);
        // never a candidate: absent
        assert!(sid_stat(&stats, 3).is_none());
        assert!(sid_stat(&stats, 4).is_none());
        assert!(s1.max_ns <= s1.total_ns && s1.avg_ns <= s1.max_ns);
        let pct: f64 = stats.iter().map(|s| s.percent).sum();
        assert!((pct - 100.0).abs() < 0.5 || stats.iter().all(|s| s.total_ns == 0));
    }

    #[test]
    fn off_counts_nothing_and_merge_adds() {
        let rs = ruleset();
        let mut off = Scratch::default();
        run(&rs, &mut off, &[b"evil"]);
        assert!(!off.profile.is_on());
        assert!(off.profile.report(&rs).is_empty());
        let mut a = profiled(&rs);
        let mut b = profiled(&rs);
        run(&rs, &mut a, &[b"evil"]);
        run(&rs, &mut b, &[b"evil", b"evil"]);
        let mut merged = RuleProfiler::default();
        merged.merge(&a.profile);
        merged.merge(&b.profile);
        let stats = merged.report(&rs);
        assert_eq!(
            sid_stat(&stats, 1).map(|s| (s.checks, s.matches)),
            Some((3, 3))
        );
    }

    #[test]
    fn table_and_json() {
        let rs = ruleset();
        let mut sc = profiled(&rs);
        run(&rs, &mut sc, &[b"evil bad"]);
        let stats = sc.profile.report(&rs);
        let t = render_table(&stats, 1);
        assert!(t.starts_with("rule profile / 规则性能分析: top 1 of 2 rules checked"));
        assert_eq!(t.lines().count(), 4);
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("rule_perf.json");
        write_json(&p, &stats).expect("written");
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&p).expect("read")).expect("json");
        assert_eq!(v["rules_checked"], 2);
        assert_eq!(v["rules"][0]["checks"], 1);
        let bad = dir.path().join("missing/dir/rule_perf.json");
        let e = write_json(&bad, &stats).expect_err("no such directory");
        assert!(e.to_string().contains("rule_perf.json"));
    }
}
