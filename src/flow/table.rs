//! The bidirectional flow table of one worker.
//!
//! Flows live in a slab (`Vec`) addressed by index and are found through a
//! hash map from [`FlowKey`] to index. Every flow also sits in one of a few
//! intrusive least-recently-used lists, one per *timeout class* (TCP new,
//! TCP established, UDP new, …). All flows of a class share one timeout, so
//! the oldest flow of each class is at the head of its list and expiry costs
//! O(expired flows), never a scan of the table. Everything is driven by packet
//! time, so a replay expires the same flows at the same moments every time.
//!
//! Capacity is hard: when the table is full the oldest flow is evicted
//! (counted, reason `forced`) and the table switches to the shorter emergency
//! timeouts until it has drained below the recovery mark.

use rustc_hash::FxHashMap;

use super::key::FlowKey;
use super::tcp::TcpTracker;
use crate::time::Timestamp;

const NIL: u32 = u32::MAX;

/// Timeout class of a flow: which expiry list it is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum TimeoutClass {
    /// TCP before the handshake completes.
    TcpNew = 0,
    /// Established TCP.
    TcpEstablished = 1,
    /// TCP after FIN/RST.
    TcpClosed = 2,
    /// UDP seen in one direction only.
    UdpNew = 3,
    /// UDP seen both ways.
    UdpEstablished = 4,
    /// ICMP seen one way.
    IcmpNew = 5,
    /// ICMP seen both ways.
    IcmpEstablished = 6,
    /// Other IP protocols, one way.
    OtherNew = 7,
    /// Other IP protocols, both ways.
    OtherEstablished = 8,
}

const N_CLASSES: usize = 9;

/// Timeouts in seconds per class, normal and emergency.
#[derive(Clone, Debug)]
pub struct FlowTimeouts {
    /// Normal timeouts, indexed by [`TimeoutClass`].
    pub normal: [u32; N_CLASSES],
    /// Timeouts while the table is in emergency mode.
    pub emergency: [u32; N_CLASSES],
}

impl Default for FlowTimeouts {
    /// Suricata's defaults (flow-timeouts in suricata.yaml).
    fn default() -> Self {
        FlowTimeouts {
            normal: [60, 600, 60, 30, 300, 30, 300, 30, 300],
            emergency: [5, 100, 10, 10, 100, 10, 100, 10, 100],
        }
    }
}

/// Settings of a flow table.
#[derive(Clone, Debug)]
pub struct FlowTableConfig {
    /// Hard maximum number of flows.
    pub max_flows: usize,
    /// Timeouts.
    pub timeouts: FlowTimeouts,
    /// Leave emergency mode once usage is below `100 - this` percent.
    pub emergency_recovery_percent: u8,
}

impl Default for FlowTableConfig {
    fn default() -> Self {
        FlowTableConfig {
            max_flows: 262_144,
            timeouts: FlowTimeouts::default(),
            emergency_recovery_percent: 30,
        }
    }
}

/// Why a flow ended (EVE `flow.reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// Idle past its timeout.
    Timeout,
    /// Evicted because the table was full.
    Forced,
    /// The capture ended or the daemon stopped.
    Shutdown,
}

impl EndReason {
    /// Suricata's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Timeout => "timeout",
            EndReason::Forced => "forced",
            EndReason::Shutdown => "shutdown",
        }
    }
}

/// One flow. `T` is the pipeline's own per-flow state (zone cache, policy
/// verdict, application parser); the table does not look into it.
#[derive(Debug)]
pub struct Flow<T> {
    /// The flow's key.
    pub key: FlowKey,
    /// Flow id as written in EVE (stable across runs).
    pub id: u64,
    /// Time of the first packet.
    pub start: Timestamp,
    /// Time of the last packet.
    pub last: Timestamp,
    /// True if the lower endpoint of the key is the client (initiator).
    pub client_is_lo: bool,
    /// Packets to the server and to the client.
    pub pkts: [u64; 2],
    /// Bytes (whole frames) to the server and to the client.
    pub bytes: [u64; 2],
    /// TCP state (unused for other protocols).
    pub tcp: TcpTracker,
    /// Pipeline state.
    pub data: T,
    class: TimeoutClass,
    prev: u32,
    next: u32,
}

impl<T> Flow<T> {
    /// The flow's timeout class.
    pub fn class(&self) -> TimeoutClass {
        self.class
    }

    /// True once both directions have been seen.
    pub fn is_bidirectional(&self) -> bool {
        self.pkts[0] > 0 && self.pkts[1] > 0
    }

    /// EVE `flow.state`: `new`, `established` or `closed`.
    pub fn eve_state(&self) -> &'static str {
        match self.class {
            TimeoutClass::TcpNew
            | TimeoutClass::UdpNew
            | TimeoutClass::IcmpNew
            | TimeoutClass::OtherNew => "new",
            TimeoutClass::TcpClosed => "closed",
            _ => "established",
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct List {
    head: u32,
    tail: u32,
}

/// Counters of a flow table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlowStats {
    /// Flows created.
    pub created: u64,
    /// Flows ended by timeout.
    pub timed_out: u64,
    /// Flows evicted because the table was full.
    pub evicted: u64,
    /// Times the table entered emergency mode.
    pub emergency_entered: u64,
    /// Flows ended at shutdown.
    pub shutdown: u64,
    /// Highest number of flows held at once.
    pub peak: u64,
}

/// Where a packet landed in the table.
#[derive(Clone, Copy, Debug)]
pub struct Lookup {
    /// Slab index of the flow (valid until the next call that may evict).
    pub idx: u32,
    /// The flow was created by this packet.
    pub created: bool,
    /// The packet goes from client to server.
    pub to_server: bool,
}

/// A bounded, packet-time-driven flow table.
#[derive(Debug)]
pub struct FlowTable<T> {
    map: FxHashMap<FlowKey, u32>,
    slab: Vec<Option<Flow<T>>>,
    free: Vec<u32>,
    lists: [List; N_CLASSES],
    cfg: FlowTableConfig,
    emergency: bool,
    stats: FlowStats,
    id_salt: u64,
}

impl<T> FlowTable<T> {
    /// An empty table. `id_salt` makes flow ids differ between sensors while
    /// staying reproducible for one configuration.
    pub fn new(cfg: FlowTableConfig, id_salt: u64) -> Self {
        let cap = cfg.max_flows.clamp(16, 1 << 20);
        FlowTable {
            map: FxHashMap::with_capacity_and_hasher(cap / 4, Default::default()),
            slab: Vec::with_capacity(cap / 4),
            free: Vec::new(),
            lists: [List {
                head: NIL,
                tail: NIL,
            }; N_CLASSES],
            cfg,
            emergency: false,
            stats: FlowStats::default(),
            id_salt,
        }
    }

    /// Number of flows held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when no flow is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Counters.
    pub fn stats(&self) -> &FlowStats {
        &self.stats
    }

    /// True while the table is in emergency mode.
    pub fn in_emergency(&self) -> bool {
        self.emergency
    }

    /// The flow at `idx`.
    pub fn get(&self, idx: u32) -> Option<&Flow<T>> {
        self.slab.get(idx as usize).and_then(|f| f.as_ref())
    }

    /// The flow at `idx`, mutably.
    pub fn get_mut(&mut self, idx: u32) -> Option<&mut Flow<T>> {
        self.slab.get_mut(idx as usize).and_then(|f| f.as_mut())
    }

    fn timeout_of(&self, class: TimeoutClass) -> i64 {
        let t = if self.emergency {
            &self.cfg.timeouts.emergency
        } else {
            &self.cfg.timeouts.normal
        };
        i64::from(t[class as usize])
    }

    /// Finds the flow of a packet, or creates it.
    ///
    /// `src_is_lo` comes from [`FlowKey::new`]; `initiator_is_src` says, for
    /// a new flow, whether the packet's source is the client (false for a
    /// TCP SYN-ACK seen first). A found flow idle past its timeout is ended
    /// (reason timeout) through `on_end` and replaced by a new one.
    pub fn lookup_or_create(
        &mut self,
        key: FlowKey,
        src_is_lo: bool,
        initiator_is_src: bool,
        ts: Timestamp,
        new_data: impl FnOnce() -> T,
        mut on_end: impl FnMut(Flow<T>, EndReason),
    ) -> Lookup {
        if let Some(&idx) = self.map.get(&key) {
            let (expired, client_is_lo) = match self.get(idx) {
                Some(f) => (
                    ts.0.saturating_sub(f.last.0)
                        > self
                            .timeout_of(f.class)
                            .saturating_mul(Timestamp::NANOS_PER_SEC),
                    f.client_is_lo,
                ),
                None => (true, true),
            };
            if !expired {
                return Lookup {
                    idx,
                    created: false,
                    to_server: src_is_lo == client_is_lo,
                };
            }
            if let Some(f) = self.remove(idx) {
                self.stats.timed_out += 1;
                on_end(f, EndReason::Timeout);
            }
        }
        if self.map.len() >= self.cfg.max_flows.max(1) {
            if !self.emergency {
                self.emergency = true;
                self.stats.emergency_entered += 1;
            }
            // Expire what the (now shorter) timeouts allow, then evict the
            // oldest flow if that was not enough.
            self.expire(ts, &mut on_end);
            if self.map.len() >= self.cfg.max_flows.max(1) {
                if let Some(victim) = self.oldest() {
                    if let Some(f) = self.remove(victim) {
                        self.stats.evicted += 1;
                        on_end(f, EndReason::Forced);
                    }
                }
            }
        }
        let client_is_lo = src_is_lo == initiator_is_src;
        let class = initial_class(key.proto);
        let id = (key.stable_hash() ^ crate::flow::key::mix64(ts.0 as u64 ^ self.id_salt))
            & 0x000f_ffff_ffff_ffff;
        let flow = Flow {
            key,
            id,
            start: ts,
            last: ts,
            client_is_lo,
            pkts: [0; 2],
            bytes: [0; 2],
            tcp: TcpTracker::default(),
            data: new_data(),
            class,
            prev: NIL,
            next: NIL,
        };
        let idx = match self.free.pop() {
            Some(i) => {
                if let Some(slot) = self.slab.get_mut(i as usize) {
                    *slot = Some(flow);
                }
                i
            }
            None => {
                self.slab.push(Some(flow));
                (self.slab.len() - 1) as u32
            }
        };
        self.map.insert(key, idx);
        self.push_tail(class, idx);
        self.stats.created += 1;
        self.stats.peak = self.stats.peak.max(self.map.len() as u64);
        Lookup {
            idx,
            created: true,
            to_server: initiator_is_src,
        }
    }

    /// Records a packet on a flow: counters, last-seen, and the timeout
    /// class (which the caller derives from the protocol state).
    pub fn touch(
        &mut self,
        idx: u32,
        ts: Timestamp,
        to_server: bool,
        frame_len: usize,
        class: TimeoutClass,
    ) {
        let dir = usize::from(!to_server);
        let old_class = match self.get_mut(idx) {
            Some(f) => {
                if ts > f.last {
                    f.last = ts;
                }
                if let Some(p) = f.pkts.get_mut(dir) {
                    *p += 1;
                }
                if let Some(b) = f.bytes.get_mut(dir) {
                    *b += frame_len as u64;
                }
                let old = f.class;
                f.class = class;
                old
            }
            None => return,
        };
        self.unlink(old_class, idx);
        self.push_tail(class, idx);
    }

    /// Ends every flow idle past its timeout at packet time `now`.
    pub fn expire(&mut self, now: Timestamp, on_end: &mut impl FnMut(Flow<T>, EndReason)) {
        for c in 0..N_CLASSES {
            loop {
                let head = self.lists[c].head;
                if head == NIL {
                    break;
                }
                let (last, class) = match self.get(head) {
                    Some(f) => (f.last, f.class),
                    None => break,
                };
                let timeout = self
                    .timeout_of(class)
                    .saturating_mul(Timestamp::NANOS_PER_SEC);
                if now.0.saturating_sub(last.0) <= timeout {
                    break;
                }
                if let Some(f) = self.remove(head) {
                    self.stats.timed_out += 1;
                    on_end(f, EndReason::Timeout);
                }
            }
        }
        if self.emergency {
            let limit = self.cfg.max_flows
                * usize::from(100u8.saturating_sub(self.cfg.emergency_recovery_percent))
                / 100;
            if self.map.len() < limit {
                self.emergency = false;
            }
        }
    }

    /// Ends every flow (reason shutdown), oldest first.
    pub fn flush(&mut self, mut on_end: impl FnMut(Flow<T>, EndReason)) {
        while let Some(idx) = self.oldest() {
            match self.remove(idx) {
                Some(f) => {
                    self.stats.shutdown += 1;
                    on_end(f, EndReason::Shutdown);
                }
                None => break,
            }
        }
    }

    fn oldest(&self) -> Option<u32> {
        let mut best: Option<(Timestamp, u32)> = None;
        for l in &self.lists {
            if l.head == NIL {
                continue;
            }
            if let Some(f) = self.get(l.head) {
                if best.is_none_or(|(t, _)| f.last < t) {
                    best = Some((f.last, l.head));
                }
            }
        }
        best.map(|(_, i)| i)
    }

    fn remove(&mut self, idx: u32) -> Option<Flow<T>> {
        let class = self.get(idx)?.class;
        self.unlink(class, idx);
        let f = self.slab.get_mut(idx as usize)?.take()?;
        self.map.remove(&f.key);
        self.free.push(idx);
        Some(f)
    }

    fn links(&mut self, idx: u32) -> Option<(&mut u32, &mut u32)> {
        self.slab
            .get_mut(idx as usize)
            .and_then(|f| f.as_mut())
            .map(|f| (&mut f.prev, &mut f.next))
    }

    fn push_tail(&mut self, class: TimeoutClass, idx: u32) {
        let c = class as usize;
        let tail = self.lists[c].tail;
        if let Some((p, n)) = self.links(idx) {
            *p = tail;
            *n = NIL;
        }
        if tail == NIL {
            self.lists[c].head = idx;
        } else if let Some((_, n)) = self.links(tail) {
            *n = idx;
        }
        self.lists[c].tail = idx;
    }

    fn unlink(&mut self, class: TimeoutClass, idx: u32) {
        let c = class as usize;
        let (prev, next) = match self.links(idx) {
            Some((p, n)) => {
                let r = (*p, *n);
                *p = NIL;
                *n = NIL;
                r
            }
            None => return,
        };
        if prev == NIL {
            self.lists[c].head = next;
        } else if let Some((_, n)) = self.links(prev) {
            *n = next;
        }
        if next == NIL {
            self.lists[c].tail = prev;
        } else if let Some((p, _)) = self.links(next) {
            *p = prev;
        }
    }
}

/// The class a new flow of `proto` starts in.
pub fn initial_class(proto: u8) -> TimeoutClass {
    match proto {
        6 => TimeoutClass::TcpNew,
        17 => TimeoutClass::UdpNew,
        1 | 58 => TimeoutClass::IcmpNew,
        _ => TimeoutClass::OtherNew,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::key::Addr;

    fn key(i: u32, proto: u8) -> (FlowKey, bool) {
        let a = Addr::from_ip(std::net::Ipv4Addr::from(0x0a00_0000 + i).into());
        let b = Addr::from_ip(std::net::Ipv4Addr::new(192, 0, 2, 1).into());
        FlowKey::new(a, 40000, b, 80, proto, 0)
    }

    fn t(s: i64) -> Timestamp {
        Timestamp::from_secs_nanos(s, 0)
    }

    #[test]
    fn create_find_and_directions() {
        let mut ft: FlowTable<()> = FlowTable::new(FlowTableConfig::default(), 0);
        let (k, lo) = key(1, 6);
        let l = ft.lookup_or_create(k, lo, true, t(0), || (), |_, _| panic!());
        assert!(l.created && l.to_server);
        ft.touch(l.idx, t(0), true, 60, TimeoutClass::TcpNew);
        let l2 = ft.lookup_or_create(k, !lo, true, t(1), || (), |_, _| panic!());
        assert!(!l2.created && !l2.to_server);
        assert_eq!(l.idx, l2.idx);
        ft.touch(l2.idx, t(1), false, 60, TimeoutClass::TcpEstablished);
        let f = ft.get(l.idx).unwrap();
        assert_eq!(f.pkts, [1, 1]);
        assert_eq!(f.bytes, [60, 60]);
        assert_eq!(f.eve_state(), "established");
    }

    #[test]
    fn expiry_per_class_is_exact() {
        let mut ft: FlowTable<u32> = FlowTable::new(FlowTableConfig::default(), 0);
        let (ku, lu) = key(1, 17);
        let (kt, lt) = key(2, 6);
        let u = ft.lookup_or_create(ku, lu, true, t(0), || 1, |_, _| {}).idx;
        ft.touch(u, t(0), true, 100, TimeoutClass::UdpNew);
        let tc = ft.lookup_or_create(kt, lt, true, t(0), || 2, |_, _| {}).idx;
        ft.touch(tc, t(0), true, 100, TimeoutClass::TcpEstablished);
        let mut ended = Vec::new();
        ft.expire(t(30), &mut |f, r| ended.push((f.data, r)));
        assert!(ended.is_empty(), "timeout is inclusive of 30 s");
        ft.expire(t(31), &mut |f, r| ended.push((f.data, r)));
        assert_eq!(ended, vec![(1, EndReason::Timeout)]);
        ft.expire(t(601), &mut |f, r| ended.push((f.data, r)));
        assert_eq!(ended.len(), 2);
        assert!(ft.is_empty());
    }

    #[test]
    fn stale_flow_is_replaced_on_lookup() {
        let mut ft: FlowTable<u32> = FlowTable::new(FlowTableConfig::default(), 0);
        let (k, lo) = key(1, 17);
        let a = ft.lookup_or_create(k, lo, true, t(0), || 1, |_, _| {});
        ft.touch(a.idx, t(0), true, 10, TimeoutClass::UdpNew);
        let mut ended = 0;
        let b = ft.lookup_or_create(
            k,
            !lo,
            true,
            t(100),
            || 2,
            |f, r| {
                assert_eq!((f.data, r), (1, EndReason::Timeout));
                ended += 1;
            },
        );
        assert!(b.created);
        assert_eq!(ended, 1);
        // the reply seen first after expiry is now the initiator of a new flow
        assert!(b.to_server);
    }

    #[test]
    fn capacity_is_hard_and_evictions_counted() {
        let cfg = FlowTableConfig {
            max_flows: 100,
            ..Default::default()
        };
        let mut ft: FlowTable<u32> = FlowTable::new(cfg, 0);
        let mut forced = 0;
        for i in 0..1000u32 {
            let (k, lo) = key(i, 6);
            let l = ft.lookup_or_create(
                k,
                lo,
                true,
                t(i64::from(i) / 100),
                || i,
                |_, r| {
                    if r == EndReason::Forced {
                        forced += 1
                    }
                },
            );
            ft.touch(l.idx, t(i64::from(i) / 100), true, 60, TimeoutClass::TcpNew);
            assert!(ft.len() <= 100);
        }
        assert_eq!(forced, 900);
        assert_eq!(ft.stats().evicted, 900);
        assert!(ft.in_emergency());
        assert!(ft.stats().emergency_entered >= 1);
        let mut n = 0;
        ft.flush(|_, r| {
            assert_eq!(r, EndReason::Shutdown);
            n += 1
        });
        assert_eq!(n, 100);
        // the slab is reused: no growth past the cap
        assert!(ft.slab.len() <= 100);
    }

    #[test]
    fn lru_lists_stay_consistent_under_random_ops() {
        use proptest::prelude::*;
        proptest!(|(ops in proptest::collection::vec((0u32..50, 0u8..3, 0i64..2000), 1..400))| {
            let cfg = FlowTableConfig { max_flows: 20, ..Default::default() };
            let mut ft: FlowTable<()> = FlowTable::new(cfg, 7);
            let mut now = 0i64;
            for (i, c, dt) in ops {
                now += dt;
                let proto = [6u8, 17, 1][c as usize];
                let (k, lo) = key(i, proto);
                let l = ft.lookup_or_create(k, lo, true, t(now / 10), || (), |_, _| {});
                ft.touch(l.idx, t(now / 10), l.to_server, 64, initial_class(proto));
                prop_assert!(ft.len() <= 20);
                if now % 7 == 0 { ft.expire(t(now / 10), &mut |_, _| {}); }
                // every list walks to exactly the flows it holds
                let mut total = 0;
                for list in &ft.lists {
                    let mut cur = list.head;
                    let mut prev = NIL;
                    while cur != NIL {
                        let f = ft.get(cur).unwrap();
                        prop_assert_eq!(f.prev, prev);
                        prev = cur;
                        cur = f.next;
                        total += 1;
                    }
                    prop_assert_eq!(list.tail, prev);
                }
                prop_assert_eq!(total, ft.len());
            }
        });
    }
}
