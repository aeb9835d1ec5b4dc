//! Detection state: flowbits, flowints and `track by_flow` counters kept
//! per flow; the counters of `threshold` / `detection_filter` tracked by
//! address or rule, and xbits, kept in the [`Tracking`] tables shared by
//! all workers of a ruleset. Every table is capped; cap hits are counted.

use std::net::IpAddr;
use std::sync::Arc;

use super::thresholds::Tracking;

use crate::signatures::rule::{
    DetectionFilter, FlowbitCmd, FlowintOp, Num, Rule, Threshold, ThresholdKind, Track, UniqueOn,
    XbitTrack,
};
use crate::time::Timestamp;

/// Most flowbits one flow holds.
pub const MAX_FLOWBITS: usize = 256;
/// Most `by_flow` threshold entries one flow holds.
pub const MAX_FLOW_THRESHOLDS: usize = 64;
/// Most distinct ports a `detection_filter ... unique_on` entry remembers.
pub const MAX_UNIQUE: usize = 4096;

/// Per-flow detection state, allocated on first use.
#[derive(Debug, Default)]
pub struct FlowDetect {
    /// Flowbits set, by id (small, unsorted).
    pub bits: Vec<u16>,
    /// `track by_flow` counters, by rule index.
    pub thresholds: Vec<(u32, Counter)>,
    /// Flowbits or counters not kept because a cap was hit.
    pub cap_hits: u32,
    /// `flowint` counters: (interned name, value).
    pub ints: Vec<(u16, u64)>,
    /// Last bytes of each direction's reassembled stream ([to server, to
    /// client]), for stream inspection across segments.
    pub tails: [Vec<u8>; 2],
    /// Per direction: rules that may have a fast pattern in `tails`
    /// (a superset), when known (see `stream.rs`): the next segment then
    /// rescans only where a pattern can cross into it, not the whole tail.
    pub tail_cands: [TailCands; 2],
    /// The flow's payload is no longer inspected (TLS application data
    /// seen: Suricata's `encryption-handling: track-only` default).
    pub no_payload: bool,
}

/// Most candidates kept for a stream tail; beyond, the next segment scans
/// the whole tail again.
pub const MAX_TAIL_CANDS: usize = 256;

/// Candidate rules of a stream tail (see [`FlowDetect::tail_cands`]).
#[derive(Debug, Default)]
pub struct TailCands {
    /// The rules, when `known`.
    pub rules: Vec<u32>,
    /// `rules` covers every fast pattern of the current tail.
    pub known: bool,
}

impl TailCands {
    /// The tail's candidates are `rules` (forgotten when there are more
    /// than [`MAX_TAIL_CANDS`]).
    pub fn set(&mut self, rules: &[u32]) {
        self.rules.clear();
        self.known = rules.len() <= MAX_TAIL_CANDS;
        if self.known {
            self.rules.extend_from_slice(rules);
        }
    }

    /// The tail changed without a scan: candidates unknown.
    pub fn forget(&mut self) {
        self.rules.clear();
        self.known = false;
    }
}

impl FlowDetect {
    /// Whether bit `b` is set.
    pub fn isset(&self, b: u16) -> bool {
        self.bits.contains(&b)
    }

    /// Sets bit `b`.
    pub fn set(&mut self, b: u16) {
        if !self.isset(b) {
            if self.bits.len() >= MAX_FLOWBITS {
                self.cap_hits = self.cap_hits.saturating_add(1);
                return;
            }
            self.bits.push(b);
        }
    }

    /// Clears bit `b`.
    pub fn unset(&mut self, b: u16) {
        self.bits.retain(|&x| x != b);
    }

    /// Flips bit `b`.
    pub fn toggle(&mut self, b: u16) {
        if self.isset(b) {
            self.unset(b);
        } else {
            self.set(b);
        }
    }
}

/// One threshold / detection_filter counter.
#[derive(Debug, Clone, Default)]
pub struct Counter {
    /// Start of the current window (seconds).
    pub first: i64,
    /// Matches counted in the window.
    pub count: u32,
    /// Backoff: next count that alerts.
    pub next: u64,
    /// unique_on: distinct ports seen in the window.
    pub ports: Vec<u16>,
}

/// What a threshold is counted by, besides the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrackKey {
    /// by_rule.
    Rule,
    /// by_src / by_dst: one address.
    Addr(IpAddr),
    /// by_both: the pair.
    Pair(IpAddr, IpAddr),
}

impl TrackKey {
    /// The key of `track` for a packet from `src` to `dst` (None: by_flow).
    /// `by_both` is the unordered pair: as Suricata's documentation says,
    /// packets in opposite directions between the same addresses are
    /// tracked as the same pair.
    pub fn of(track: Track, src: IpAddr, dst: IpAddr) -> Option<Self> {
        Some(match track {
            Track::BySrc => Self::Addr(src),
            Track::ByDst => Self::Addr(dst),
            Track::ByRule => Self::Rule,
            Track::ByBoth if src <= dst => Self::Pair(src, dst),
            Track::ByBoth => Self::Pair(dst, src),
            Track::ByFlow => return None,
        })
    }
}

/// A worker's handle on the detection state that is not per flow:
/// threshold, detection_filter and rate_filter counters tracked by address
/// or rule, and xbits. `default()` gives a state of its own (tests, one
/// engine); workers of one ruleset use [`DetectState::shared`] so their
/// counts add up as with one worker.
#[derive(Debug, Default, Clone)]
pub struct DetectState {
    /// The tables (shared between the workers of a ruleset).
    pub tracking: Arc<Tracking>,
}

impl DetectState {
    /// A state on the shared `tracking` (usually [`super::Ruleset::tracking`]).
    pub fn shared(tracking: &Arc<Tracking>) -> Self {
        DetectState {
            tracking: Arc::clone(tracking),
        }
    }
}
/// Most `flowint` counters one flow holds.
pub const MAX_FLOWINTS: usize = 64;
/// Expiry of an `xbits` bit set without `expire` (Suricata's default).
pub const XBIT_DEFAULT_EXPIRE: u32 = 30;

/// Interned names of flowints, shared by the rules of a ruleset (xbits
/// are keyed by name in the shared [`Tracking`]).
#[derive(Debug, Default)]
pub struct Names {
    ints: Vec<Box<str>>,
}

fn intern(v: &mut Vec<Box<str>>, name: &str) -> u16 {
    let i = match v.iter().position(|x| &**x == name) {
        Some(i) => i,
        None => {
            v.push(name.into());
            v.len() - 1
        }
    };
    u16::try_from(i).unwrap_or(u16::MAX)
}

/// A flowint operand: a number or another counter.
#[derive(Debug, Clone, Copy)]
enum IntArg {
    Lit(u64),
    Var(u16),
}

/// A rule's `xbits` and `flowint` keywords with interned names.
#[derive(Debug, Default)]
pub struct VarOps {
    xbits: Vec<(FlowbitCmd, Arc<str>, XbitTrack, u32)>,
    ints: Vec<(u16, FlowintOp, Option<IntArg>)>,
}

/// The key of an xbit for a packet from `src` to `dst`: hosts for
/// `ip_src` / `ip_dst` (so a bit set on a source is seen when that host
/// is a destination), the unordered pair for `ip_pair`.
fn xbit_key(track: XbitTrack, src: IpAddr, dst: IpAddr) -> TrackKey {
    match track {
        XbitTrack::IpSrc | XbitTrack::Tx => TrackKey::Addr(src),
        XbitTrack::IpDst => TrackKey::Addr(dst),
        XbitTrack::IpPair => {
            if src <= dst {
                TrackKey::Pair(src, dst)
            } else {
                TrackKey::Pair(dst, src)
            }
        }
    }
}

impl VarOps {
    /// Interns the names of `r`'s xbits and flowints.
    pub fn new(r: &Rule, names: &mut Names) -> Self {
        let xbits = r
            .xbits
            .iter()
            .map(|x| (x.cmd, Arc::from(&*x.name), x.track, x.expire))
            .collect();
        let ints = r
            .flowints
            .iter()
            .map(|f| {
                let arg = f.value.as_ref().map(|v| match v {
                    Num::Lit(n) => IntArg::Lit(u64::try_from(*n).unwrap_or(0)),
                    Num::Var(name) => IntArg::Var(intern(&mut names.ints, name)),
                });
                (intern(&mut names.ints, &f.name), f.op, arg)
            })
            .collect();
        VarOps { xbits, ints }
    }

    /// True when the rule has neither xbits nor flowints.
    pub fn is_empty(&self) -> bool {
        self.xbits.is_empty() && self.ints.is_empty()
    }

    /// The read conditions (`isset`, `isnotset`, flowint comparisons) hold.
    pub fn check(
        &self,
        flow: &Option<Box<FlowDetect>>,
        st: &DetectState,
        src: IpAddr,
        dst: IpAddr,
        ts: Timestamp,
    ) -> bool {
        let now = ts.secs();
        for (cmd, bit, track, _) in &self.xbits {
            if !matches!(cmd, FlowbitCmd::IsSet | FlowbitCmd::IsNotSet) {
                continue;
            }
            let live = st.tracking.xbit_isset(bit, xbit_key(*track, src, dst), now);
            match cmd {
                FlowbitCmd::IsSet if !live => return false,
                FlowbitCmd::IsNotSet if live => return false,
                _ => {}
            }
        }
        let get = |id: u16| {
            flow.as_ref()
                .and_then(|f| f.ints.iter().find(|(k, _)| *k == id).map(|&(_, v)| v))
        };
        for &(id, op, arg) in &self.ints {
            let v = get(id);
            let want = match arg {
                Some(IntArg::Lit(n)) => Some(n),
                Some(IntArg::Var(o)) => get(o),
                None => None,
            };
            let ok = match op {
                FlowintOp::IsSet => v.is_some(),
                FlowintOp::NotSet => v.is_none(),
                FlowintOp::Set | FlowintOp::Add | FlowintOp::Sub => {
                    // A counter operand must exist to modify by it.
                    !matches!(arg, Some(IntArg::Var(_))) || want.is_some()
                }
                _ => match (v, want) {
                    (Some(v), Some(w)) => match op {
                        FlowintOp::Eq => v == w,
                        FlowintOp::Ne => v != w,
                        FlowintOp::Lt => v < w,
                        FlowintOp::Le => v <= w,
                        FlowintOp::Gt => v > w,
                        _ => v >= w,
                    },
                    _ => false,
                },
            };
            if !ok {
                return false;
            }
        }
        true
    }

    /// Applies the writes (xbits set/unset/toggle, flowint =, +, -) of a
    /// matching rule.
    pub fn apply(
        &self,
        flow: &mut Option<Box<FlowDetect>>,
        st: &mut DetectState,
        src: IpAddr,
        dst: IpAddr,
        ts: Timestamp,
    ) {
        let now = ts.secs();
        for (cmd, bit, track, expire) in &self.xbits {
            let key = xbit_key(*track, src, dst);
            let e = if *expire == 0 {
                XBIT_DEFAULT_EXPIRE
            } else {
                *expire
            };
            let until = Some(now.saturating_add(i64::from(e)));
            match cmd {
                FlowbitCmd::Set => st.tracking.xbit_write(bit, key, now, until, false),
                FlowbitCmd::Toggle => st.tracking.xbit_write(bit, key, now, until, true),
                FlowbitCmd::Unset => st.tracking.xbit_write(bit, key, now, None, false),
                _ => {}
            }
        }
        for &(id, op, arg) in &self.ints {
            if !matches!(op, FlowintOp::Set | FlowintOp::Add | FlowintOp::Sub) {
                continue;
            }
            let fd = flow.get_or_insert_with(Box::default);
            let operand = match arg {
                Some(IntArg::Lit(n)) => n,
                Some(IntArg::Var(o)) => match fd.ints.iter().find(|(k, _)| *k == o) {
                    Some(&(_, v)) => v,
                    None => continue,
                },
                None => continue,
            };
            let slot = match fd.ints.iter().position(|(k, _)| *k == id) {
                Some(i) => fd.ints.get_mut(i).map(|(_, v)| v),
                None if fd.ints.len() < MAX_FLOWINTS => {
                    fd.ints.push((id, 0));
                    fd.ints.last_mut().map(|(_, v)| v)
                }
                None => {
                    fd.cap_hits = fd.cap_hits.saturating_add(1);
                    None
                }
            };
            if let Some(v) = slot {
                *v = match op {
                    FlowintOp::Set => operand,
                    FlowintOp::Add => v.saturating_add(operand),
                    _ => v.saturating_sub(operand),
                };
            }
        }
    }
}

/// Counts a match in a fresh or existing counter under `threshold`;
/// true when the match alerts (Suricata's detect-engine-threshold logic).
pub fn threshold_step(c: &mut Counter, fresh: bool, t: &Threshold, ts: Timestamp) -> bool {
    let now = ts.secs();
    if fresh {
        c.first = now;
        c.count = 1;
        return match t.kind {
            ThresholdKind::Limit => true,
            ThresholdKind::Threshold | ThresholdKind::Both => t.count == 1,
            ThresholdKind::Backoff => {
                // Alerts when the count reaches `count`, then `count *
                // multiplier`, ... (count 1: on the first match).
                c.next = u64::from(t.count);
                if c.next <= 1 {
                    c.next = c.next.max(1).saturating_mul(u64::from(t.multiplier.max(2)));
                    true
                } else {
                    false
                }
            }
        };
    }
    let in_window = now.saturating_sub(c.first) < i64::from(t.seconds);
    match t.kind {
        ThresholdKind::Limit => {
            if in_window {
                c.count = c.count.saturating_add(1);
                c.count <= t.count
            } else {
                c.first = now;
                c.count = 1;
                true
            }
        }
        ThresholdKind::Threshold => {
            if in_window {
                c.count = c.count.saturating_add(1);
                if c.count >= t.count {
                    c.count = 0;
                    true
                } else {
                    false
                }
            } else {
                c.first = now;
                c.count = 1;
                t.count == 1
            }
        }
        ThresholdKind::Both => {
            if in_window {
                c.count = c.count.saturating_add(1);
                c.count == t.count
            } else {
                c.first = now;
                c.count = 1;
                t.count == 1
            }
        }
        ThresholdKind::Backoff => {
            c.count = c.count.saturating_add(1);
            if u64::from(c.count) >= c.next {
                c.next = c.next.saturating_mul(u64::from(t.multiplier.max(2)));
                true
            } else {
                false
            }
        }
    }
}

/// Counts a match under `detection_filter`; true once more than `count`
/// matches (or distinct ports) were seen within `seconds`.
pub fn detection_filter_step(
    c: &mut Counter,
    fresh: bool,
    f: &DetectionFilter,
    ts: Timestamp,
    ports: (u16, u16),
) -> bool {
    let now = ts.secs();
    let port = match f.unique_on {
        Some(UniqueOn::SrcPort) => Some(ports.0),
        Some(UniqueOn::DstPort) => Some(ports.1),
        None => None,
    };
    if fresh || now.saturating_sub(c.first) >= i64::from(f.seconds) {
        c.first = now;
        c.count = 0;
        c.ports.clear();
    }
    match port {
        Some(p) => {
            if !c.ports.contains(&p) && c.ports.len() < MAX_UNIQUE {
                c.ports.push(p);
            }
            c.ports.len() > f.count as usize
        }
        None => {
            c.count = c.count.saturating_add(1);
            c.count > f.count
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(kind: ThresholdKind, count: u32, seconds: u32) -> Threshold {
        Threshold {
            kind,
            track: Track::BySrc,
            count,
            seconds,
            multiplier: 2,
        }
    }

    fn run(th: &Threshold, times: &[i64]) -> Vec<bool> {
        let mut c = Counter::default();
        times
            .iter()
            .enumerate()
            .map(|(i, &s)| threshold_step(&mut c, i == 0, th, Timestamp::from_secs_micros(s, 0)))
            .collect()
    }

    #[test]
    fn limit_threshold_both_backoff() {
        let tl = t(ThresholdKind::Limit, 2, 60);
        assert_eq!(run(&tl, &[0, 1, 2, 3]), [true, true, false, false]);
        assert_eq!(run(&tl, &[0, 1, 2, 61]), [true, true, false, true]);
        let tt = t(ThresholdKind::Threshold, 3, 60);
        assert_eq!(
            run(&tt, &[0, 1, 2, 3, 4, 5]),
            [false, false, true, false, false, true]
        );
        let tb = t(ThresholdKind::Both, 2, 60);
        assert_eq!(run(&tb, &[0, 1, 2, 3]), [false, true, false, false]);
        let bo = t(ThresholdKind::Backoff, 2, 0);
        assert_eq!(
            run(&bo, &[0, 0, 0, 0, 0]),
            [false, true, false, true, false]
        );
        let bo1 = t(ThresholdKind::Backoff, 1, 0);
        assert_eq!(
            run(&bo1, &[0, 0, 0, 0, 0]),
            [true, true, false, true, false]
        );
    }

    #[test]
    fn detection_filter_counts_and_unique() {
        let f = DetectionFilter {
            track: Track::BySrc,
            count: 2,
            seconds: 60,
            unique_on: None,
        };
        let mut c = Counter::default();
        let ts = Timestamp::from_secs_micros(5, 0);
        let r: Vec<bool> = (0..4)
            .map(|i| detection_filter_step(&mut c, i == 0, &f, ts, (1, 2)))
            .collect();
        assert_eq!(r, [false, false, true, true]);
        let f = DetectionFilter {
            unique_on: Some(UniqueOn::DstPort),
            ..f
        };
        let mut c = Counter::default();
        let r: Vec<bool> = [80, 80, 81, 81, 82]
            .iter()
            .enumerate()
            .map(|(i, &p)| detection_filter_step(&mut c, i == 0, &f, ts, (1, p)))
            .collect();
        assert_eq!(r, [false, false, false, false, true]);
    }

    fn rule(opts: &str) -> Rule {
        let vars = crate::signatures::Vars::suricata_defaults().resolve();
        let classes = crate::signatures::Classification::suricata_default();
        let text = format!("alert ip any any -> any any (msg:\"x\"; {opts} sid:1;)");
        let load = crate::signatures::load_rules_str(&text, "t", &vars, &classes);
        load.rules.into_iter().next().expect("rule compiles")
    }

    #[test]
    fn xbits_track_hosts_and_expire() {
        let mut names = Names::default();
        let set = VarOps::new(&rule("xbits:set,b,track ip_src,expire 10;"), &mut names);
        let isset = VarOps::new(&rule("xbits:isset,b,track ip_dst;"), &mut names);
        let notset = VarOps::new(&rule("xbits:isnotset,b,track ip_src;"), &mut names);
        let unset = VarOps::new(&rule("xbits:unset,b,track ip_src;"), &mut names);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let t0 = Timestamp::from_secs_micros(100, 0);
        let (mut st, mut f) = (DetectState::default(), None);
        assert!(!isset.check(&f, &st, b, a, t0));
        set.apply(&mut f, &mut st, a, b, t0);
        // Set on A as source, seen with A as destination.
        assert!(isset.check(&f, &st, b, a, t0));
        assert!(!isset.check(&f, &st, a, b, t0));
        assert!(!notset.check(&f, &st, a, b, t0));
        // Expired after 10 s.
        let t1 = Timestamp::from_secs_micros(111, 0);
        assert!(!isset.check(&f, &st, b, a, t1));
        set.apply(&mut f, &mut st, a, b, t1);
        unset.apply(&mut f, &mut st, a, b, t1);
        assert!(notset.check(&f, &st, a, b, t1));
        let pair = VarOps::new(&rule("xbits:set,p,track ip_pair;"), &mut names);
        let pair_is = VarOps::new(&rule("xbits:isset,p,track ip_pair;"), &mut names);
        pair.apply(&mut f, &mut st, a, b, t0);
        assert!(pair_is.check(&f, &st, b, a, t0));
        assert!(!pair_is.check(&f, &st, a, a, t0));
    }

    #[test]
    fn flowint_counts() {
        let mut names = Names::default();
        let add = VarOps::new(&rule("flowint:n,+,2;"), &mut names);
        let gt = VarOps::new(&rule("flowint:n,>,3;"), &mut names);
        let unset = VarOps::new(&rule("flowint:n,notset;"), &mut names);
        let copy = VarOps::new(&rule("flowint:m,=,n;"), &mut names);
        let eq = VarOps::new(&rule("flowint:m,==,4;"), &mut names);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let t = Timestamp::from_secs_micros(1, 0);
        let (mut st, mut f) = (DetectState::default(), None);
        assert!(unset.check(&f, &st, a, b, t));
        assert!(!gt.check(&f, &st, a, b, t));
        assert!(!copy.check(&f, &st, a, b, t));
        add.apply(&mut f, &mut st, a, b, t);
        add.apply(&mut f, &mut st, a, b, t);
        assert!(gt.check(&f, &st, a, b, t) && !unset.check(&f, &st, a, b, t));
        copy.apply(&mut f, &mut st, a, b, t);
        assert!(eq.check(&f, &st, a, b, t));
    }

    #[test]
    fn flowbits_cap() {
        let mut f = FlowDetect::default();
        for b in 0..300u16 {
            f.set(b);
        }
        assert_eq!(f.bits.len(), MAX_FLOWBITS);
        assert!(f.cap_hits > 0);
        f.toggle(1);
        assert!(!f.isset(1));
    }
}
