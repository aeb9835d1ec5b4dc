//! Capped tracking tables and the small fixed-size sets the detectors
//! count with.

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hash};

use rustc_hash::{FxBuildHasher, FxHashMap};

use crate::time::Timestamp;

/// A hash map that never holds more than `cap` entries: inserting into a
/// full table first evicts the oldest entry (first inserted; deterministic
/// for the same input) and counts it. Insertion order is kept in a ring of
/// keys (at most twice the cap; keys of entries that ended are skipped and
/// compacted away), so an eviction is O(1) amortized even when a flood of
/// new keys keeps the table full. Map and ring grow by doubling up to the
/// cap, so the steady state does not allocate.
#[derive(Debug)]
pub(crate) struct Table<K, V> {
    map: FxHashMap<K, V>,
    order: VecDeque<K>,
    cap: usize,
    /// Entries evicted because the table was full.
    pub evicted: u64,
}

impl<K: Hash + Eq + Copy, V> Table<K, V> {
    /// An empty table holding at most `cap` entries (at least 1).
    pub fn new(cap: usize) -> Self {
        let cap = cap.max(1);
        Table {
            map: FxHashMap::with_capacity_and_hasher(cap.min(1024), FxBuildHasher),
            order: VecDeque::with_capacity(cap.min(1024)),
            cap,
            evicted: 0,
        }
    }

    /// The entry of `k`, if tracked.
    pub fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        self.map.get_mut(k)
    }

    /// The entry of `k`, created by `make` if new (evicting one when full).
    pub fn get_or_insert(&mut self, k: K, make: impl FnOnce() -> V) -> &mut V {
        if !self.map.contains_key(&k) {
            if self.map.len() >= self.cap {
                while let Some(old) = self.order.pop_front() {
                    if self.map.remove(&old).is_some() {
                        self.evicted += 1;
                        break;
                    }
                }
            }
            if self.order.len() >= self.cap.saturating_mul(2) {
                let map = &self.map;
                self.order.retain(|k| map.contains_key(k));
            }
            self.order.push_back(k);
        }
        self.map.entry(k).or_insert_with(make)
    }

    /// Keeps only the entries `keep` accepts.
    pub fn retain(&mut self, mut keep: impl FnMut(&V) -> bool) {
        self.map.retain(|_, v| keep(v));
    }

    /// Entries tracked now.
    pub fn len(&self) -> usize {
        self.map.len()
    }
}

/// A 512-bit set of hashed items (ports or addresses): a lower bound on
/// the number of distinct items, exact while they do not collide (the
/// expected error stays under 2 % up to 20 items, the default thresholds).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Bits([u64; 8]);

impl Bits {
    /// Sets bit `i % 512`.
    pub fn set(&mut self, i: u32) {
        let i = (i & 511) as usize;
        if let Some(w) = self.0.get_mut(i / 64) {
            *w |= 1u64 << (i % 64);
        }
    }

    /// Number of bits set here and not in `other`.
    pub fn count_not_in(&self, other: &Bits) -> u32 {
        self.0
            .iter()
            .zip(other.0.iter())
            .map(|(a, b)| (a & !b).count_ones())
            .sum()
    }

    /// Number of bits set.
    pub fn count(&self) -> u32 {
        self.0.iter().map(|w| w.count_ones()).sum()
    }
}

/// The bit of a port.
pub(crate) fn port_bit(port: u16) -> u32 {
    u32::from(port).wrapping_mul(0x9E37_79B1) >> 23
}

/// The bit of any hashable item (an address).
pub(crate) fn item_bit<T: Hash>(x: &T) -> u32 {
    (FxBuildHasher.hash_one(x) >> 55) as u32
}

/// One detector's episode for one key: the counting window, the last
/// activity and when it last alerted.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Episode {
    /// Start of the current counting window.
    pub start: Timestamp,
    /// Last observation.
    pub last: Timestamp,
    /// First observation of the episode.
    pub first: Timestamp,
    /// Last alert of the episode.
    pub alerted: Option<Timestamp>,
}

impl Episode {
    /// A new episode starting at `ts`.
    pub fn new(ts: Timestamp) -> Self {
        Episode {
            start: ts,
            last: ts,
            first: ts,
            alerted: None,
        }
    }

    /// Notes an observation at `ts`; returns true when it starts a new
    /// counting window (the caller then clears its counts).
    pub fn roll(&mut self, ts: Timestamp, window_ns: i64) -> bool {
        if ts > self.last {
            self.last = ts;
        }
        if ts.0.saturating_sub(self.start.0) > window_ns {
            self.start = ts;
            true
        } else {
            false
        }
    }

    /// Whether an alert may be raised at `ts` (first of the episode, or
    /// the repeat interval has passed), and if so records it.
    pub fn try_alert(&mut self, ts: Timestamp, repeat_ns: i64) -> bool {
        let ok = self
            .alerted
            .is_none_or(|a| ts.0.saturating_sub(a.0) >= repeat_ns);
        if ok {
            self.alerted = Some(ts);
        }
        ok
    }

    /// Whether the episode is still alive at `now`: quiet for less than the
    /// window, or — once it alerted — for less than the repeat interval (so
    /// a pulsing attack is one episode, not one per pulse).
    pub fn alive(&self, now: Timestamp, window_ns: i64, repeat_ns: i64) -> bool {
        let quiet = now.0.saturating_sub(self.last.0);
        quiet <= window_ns || (self.alerted.is_some() && quiet <= repeat_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_capped_and_counts_evictions() {
        let mut t: Table<u32, u32> = Table::new(4);
        for i in 0..10 {
            *t.get_or_insert(i, || 0) += 1;
        }
        assert_eq!(t.len(), 4);
        assert_eq!(t.evicted, 6);
        // the oldest went first
        let mut keys: Vec<u32> = t.map.keys().copied().collect();
        keys.sort();
        assert_eq!(keys, vec![6, 7, 8, 9]);
        // entries that ended leave stale keys; the ring stays bounded
        for round in 0..100u32 {
            t.retain(|_| false);
            for i in 0..4 {
                t.get_or_insert(1000 + round * 4 + i, || 0);
            }
            assert!(t.order.len() <= 8);
        }
        // an existing key never evicts
        let k = *t.map.keys().next().unwrap();
        *t.get_or_insert(k, || 0) += 1;
        assert_eq!(t.evicted, 6);
    }

    #[test]
    fn bits_count() {
        let mut a = Bits::default();
        let mut b = Bits::default();
        for p in 1..=20u16 {
            a.set(port_bit(p));
        }
        assert_eq!(a.count(), 20, "ports 1-20 do not collide");
        b.set(port_bit(3));
        assert_eq!(a.count_not_in(&b), 19);
    }

    #[test]
    fn episode_windows_and_repeats() {
        let s = |x: i64| Timestamp::from_secs_nanos(x, 0);
        let w = 60 * Timestamp::NANOS_PER_SEC;
        let r = 600 * Timestamp::NANOS_PER_SEC;
        let mut e = Episode::new(s(0));
        assert!(!e.roll(s(30), w));
        assert!(e.roll(s(61), w));
        assert!(e.try_alert(s(61), r));
        assert!(!e.try_alert(s(100), r));
        assert!(e.try_alert(s(661), r));
        assert!(e.alive(s(61 + 500), w, r));
        assert!(!e.alive(s(61 + 601), w, r));
        let quiet = Episode::new(s(0));
        assert!(!quiet.alive(s(61), w, r));
    }
}
