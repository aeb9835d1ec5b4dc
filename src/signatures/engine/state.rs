//! Detection state: flowbits kept per flow, and the counters of
//! `threshold` / `detection_filter` kept per worker (or per flow for
//! `track by_flow`). Every table is capped; cap hits are counted.

use std::net::IpAddr;

use rustc_hash::FxHashMap;

use crate::signatures::rule::{DetectionFilter, Threshold, ThresholdKind, Track, UniqueOn};
use crate::time::Timestamp;

/// Most flowbits one flow holds.
pub const MAX_FLOWBITS: usize = 256;
/// Most `by_flow` threshold entries one flow holds.
pub const MAX_FLOW_THRESHOLDS: usize = 64;
/// Most threshold entries one worker holds (by_src, by_dst, ...).
pub const MAX_THRESHOLDS: usize = 65_536;
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
    /// The flow's payload is no longer inspected (TLS application data
    /// seen: Suricata's `encryption-handling: track-only` default).
    pub no_payload: bool,
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
    pub fn of(track: Track, src: IpAddr, dst: IpAddr) -> Option<Self> {
        Some(match track {
            Track::BySrc => Self::Addr(src),
            Track::ByDst => Self::Addr(dst),
            Track::ByRule => Self::Rule,
            Track::ByBoth => Self::Pair(src, dst),
            Track::ByFlow => return None,
        })
    }
}

/// Per-worker counters (threshold and detection_filter not tracked by flow).
#[derive(Debug, Default)]
pub struct DetectState {
    /// (rule index, is detection_filter, key) → counter.
    pub table: FxHashMap<(u32, bool, TrackKey), Counter>,
    /// Entries not created because the table was full.
    pub cap_hits: u64,
}

impl DetectState {
    /// The counter for (rule, kind, key), or None when the table is full.
    pub fn counter(&mut self, rule: u32, df: bool, key: TrackKey) -> Option<&mut Counter> {
        let full = self.table.len() >= MAX_THRESHOLDS;
        let k = (rule, df, key);
        if full && !self.table.contains_key(&k) {
            self.cap_hits += 1;
            return None;
        }
        Some(self.table.entry(k).or_default())
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
