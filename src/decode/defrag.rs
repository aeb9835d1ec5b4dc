//! IPv4 and IPv6 fragment reassembly with strictly bounded memory.
//!
//! Overlaps follow Suricata's default "bsd" policy: a fragment that starts
//! at or after an earlier one keeps the earlier data where they overlap; a
//! fragment that starts before an earlier one and covers it entirely
//! replaces it; one that starts before and covers it partly yields the
//! overlapped part to it.
//!
//! Memory is counted per stored byte plus a fixed overhead per fragment and
//! per tracker; when a new fragment would exceed [`DefragConfig::max_bytes`]
//! the oldest datagrams are dropped first (counted), and a full tracker table
//! drops its oldest tracker (counted). Time is packet time.

use std::collections::BTreeMap;
use std::net::IpAddr;

use rustc_hash::FxHashMap;

use super::{checksum, decode_ip_with_outer, Anomaly, DecodeOptions, Decoded, FragInfo};
use crate::time::Timestamp;

/// Accounted size of one stored fragment besides its data.
const FRAG_OVERHEAD: usize = 48;
/// Accounted size of one tracker besides its fragments.
const TRACKER_OVERHEAD: usize = 160;
/// Largest IP datagram (IPv4 total length, IPv6 payload length).
const MAX_DATAGRAM: usize = 65535;

/// Limits of the reassembler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DefragConfig {
    /// Bytes held across all datagrams being reassembled (default 32 MiB).
    pub max_bytes: usize,
    /// Datagrams being reassembled at once (default 65536).
    pub max_trackers: usize,
    /// Seconds of packet time without a fragment before a datagram is
    /// dropped (default 60).
    pub timeout_secs: u32,
}

/// Fragments kept per datagram by default; more are dropped (counted as
/// invalid). Bounds the per-fragment overlap and completeness checks.
pub const DEFAULT_MAX_FRAGMENTS: usize = 1024;

impl Default for DefragConfig {
    fn default() -> Self {
        DefragConfig {
            max_bytes: 32 * 1024 * 1024,
            max_trackers: 65536,
            timeout_secs: 60,
        }
    }
}

/// Reassembler counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DefragStats {
    /// Fragments offered.
    pub fragments: u64,
    /// Datagrams reassembled.
    pub reassembled: u64,
    /// Datagrams dropped incomplete after the timeout.
    pub timeouts: u64,
    /// Fragments that overlapped earlier ones.
    pub overlaps: u64,
    /// Fragments or datagrams dropped to stay within `max_bytes`.
    pub memcap_drops: u64,
    /// Datagrams dropped because the tracker table was full.
    pub tracker_drops: u64,
    /// Fragments ending beyond 65535 bytes.
    pub too_large: u64,
    /// Fragments dropped as invalid (empty, bad length, over the per-datagram
    /// fragment cap).
    pub invalid: u64,
}

/// What identifies a datagram: addresses, id, protocol (IPv4), VLANs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    src: u128,
    dst: u128,
    id: u32,
    proto: u8,
    v6: bool,
    vlans: [u16; 2],
}

#[derive(Debug)]
struct Frag {
    offset: usize,
    ltrim: usize,
    skip: bool,
    more: bool,
    data: Vec<u8>,
}

impl Frag {
    fn end(&self) -> usize {
        self.offset + self.data.len()
    }
}

#[derive(Debug)]
struct Tracker {
    /// Header of the offset-0 fragment, once seen.
    header: Option<Vec<u8>>,
    nh_offset: usize,
    proto: u8,
    frags: Vec<Frag>,
    created: Timestamp,
    last_seen: Timestamp,
    seq: u64,
    bytes: usize,
}

/// Reassembles fragmented IPv4 and IPv6 datagrams.
#[derive(Debug)]
pub struct Defragmenter {
    cfg: DefragConfig,
    max_fragments: usize,
    trackers: FxHashMap<Key, Tracker>,
    /// Trackers by creation order (oldest first), for eviction and expiry.
    order: BTreeMap<u64, Key>,
    next_seq: u64,
    bytes: usize,
    stats: DefragStats,
    last_anomaly: Option<Anomaly>,
}

fn addr_u128(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v) => u128::from(u32::from(v)),
        IpAddr::V6(v) => u128::from(v),
    }
}

impl Defragmenter {
    /// A reassembler with the given limits.
    pub fn new(cfg: DefragConfig) -> Self {
        Defragmenter {
            cfg,
            max_fragments: DEFAULT_MAX_FRAGMENTS,
            trackers: FxHashMap::default(),
            order: BTreeMap::new(),
            next_seq: 0,
            bytes: 0,
            stats: DefragStats::default(),
            last_anomaly: None,
        }
    }

    /// Caps the fragments kept per datagram (default
    /// [`DEFAULT_MAX_FRAGMENTS`], at least 1).
    pub fn with_max_fragments(mut self, n: usize) -> Self {
        self.max_fragments = n.max(1);
        self
    }

    /// The counters so far.
    pub fn stats(&self) -> DefragStats {
        self.stats
    }

    /// Bytes currently accounted (never above `max_bytes`).
    pub fn memory_used(&self) -> usize {
        self.bytes
    }

    /// Datagrams currently being reassembled.
    pub fn trackers(&self) -> usize {
        self.trackers.len()
    }

    /// The anomaly raised by the last [`insert`](Self::insert), if any
    /// (overlap, too large, dropped).
    pub fn last_anomaly(&self) -> Option<Anomaly> {
        self.last_anomaly
    }

    fn remove(&mut self, key: &Key) {
        if let Some(t) = self.trackers.remove(key) {
            self.order.remove(&t.seq);
            self.bytes = self.bytes.saturating_sub(t.bytes);
        }
    }

    /// Drops the oldest tracker other than `keep`; false if there is none.
    fn evict_oldest(&mut self, keep: Option<&Key>) -> bool {
        let victim = self.order.values().find(|k| Some(*k) != keep).copied();
        match victim {
            Some(k) => {
                self.remove(&k);
                true
            }
            None => false,
        }
    }

    fn event(&mut self, v6: bool, v4: Anomaly, v6a: Anomaly) {
        self.last_anomaly = Some(if v6 { v6a } else { v4 });
    }

    /// Offers a decoded frame. Returns the reassembled datagram (IP header
    /// with length and fragment fields fixed, then the payload) when this
    /// fragment completes it; `None` for non-fragments and while incomplete.
    pub fn insert(&mut self, ts: Timestamp, d: &Decoded<'_>) -> Option<Vec<u8>> {
        self.last_anomaly = None;
        let f: &FragInfo<'_> = d.frag.as_ref()?;
        let (src, dst) = (d.src_ip()?, d.dst_ip()?);
        self.stats.fragments += 1;
        let v6 = f.v6;
        let offset = usize::from(f.offset);
        let end = offset + f.data.len();
        let unfrag = if v6 {
            f.header.len().saturating_sub(40)
        } else {
            f.header.len()
        };
        if unfrag + end > MAX_DATAGRAM {
            self.stats.too_large += 1;
            self.event(
                v6,
                Anomaly::Ipv4FragPktTooLarge,
                Anomaly::Ipv6FragPktTooLarge,
            );
            return None;
        }
        let bad_nh = v6 && usize::from(f.nh_offset) >= f.header.len();
        if f.data.is_empty() || bad_nh || (v6 && f.more && f.data.len() % 8 != 0) {
            self.stats.invalid += 1;
            if v6 && !f.data.is_empty() {
                self.last_anomaly = Some(Anomaly::Ipv6FragInvalidLength);
            }
            return None;
        }
        let key = Key {
            src: addr_u128(src),
            dst: addr_u128(dst),
            id: f.id,
            proto: if v6 { 0 } else { f.proto },
            v6,
            vlans: d.vlans,
        };
        let timeout = i64::from(self.cfg.timeout_secs);
        if let Some(t) = self.trackers.get(&key) {
            if t.last_seen.add_secs(timeout) <= ts {
                self.stats.timeouts += 1;
                self.remove(&key);
            }
        }
        let header_cost = if offset == 0 { f.header.len() } else { 0 };
        let mut cost = f.data.len() + FRAG_OVERHEAD + header_cost;
        let exists = self.trackers.contains_key(&key);
        if !exists {
            cost += TRACKER_OVERHEAD;
        }
        if cost > self.cfg.max_bytes {
            self.stats.memcap_drops += 1;
            self.event(v6, Anomaly::Ipv4FragIgnored, Anomaly::Ipv6FragIgnored);
            return None;
        }
        if !exists && self.trackers.len() >= self.cfg.max_trackers.max(1) {
            self.evict_oldest(None);
            self.stats.tracker_drops += 1;
        }
        while self.bytes + cost > self.cfg.max_bytes {
            if !self.evict_oldest(Some(&key)) {
                // Only this datagram is left and it would not fit.
                self.stats.memcap_drops += 1;
                self.event(v6, Anomaly::Ipv4FragIgnored, Anomaly::Ipv6FragIgnored);
                return None;
            }
            self.stats.memcap_drops += 1;
        }
        if !self.trackers.contains_key(&key) {
            let seq = self.next_seq;
            self.next_seq += 1;
            self.order.insert(seq, key);
            self.trackers.insert(
                key,
                Tracker {
                    header: None,
                    nh_offset: 0,
                    proto: f.proto,
                    frags: Vec::new(),
                    created: ts,
                    last_seen: ts,
                    seq,
                    bytes: TRACKER_OVERHEAD,
                },
            );
            self.bytes += TRACKER_OVERHEAD;
            cost -= TRACKER_OVERHEAD;
        }
        let max_frags = self.max_fragments;
        let t = self.trackers.get_mut(&key)?;
        t.last_seen = ts;
        if t.frags.len() >= max_frags {
            self.stats.invalid += 1;
            self.event(v6, Anomaly::Ipv4FragIgnored, Anomaly::Ipv6FragIgnored);
            return None;
        }

        // BSD overlap policy against the fragments already held.
        let mut ltrim = 0usize;
        let mut overlap = false;
        for old in t.frags.iter_mut().filter(|o| !o.skip) {
            if offset < old.end() && old.offset < end {
                overlap = true;
                if offset >= old.offset {
                    ltrim = ltrim.max(old.end() - offset);
                } else if end >= old.end() {
                    old.skip = true;
                }
            }
        }
        if overlap {
            self.stats.overlaps += 1;
            self.last_anomaly = Some(if v6 {
                Anomaly::Ipv6FragOverlap
            } else {
                Anomaly::Ipv4FragOverlap
            });
        }
        if ltrim >= f.data.len() {
            // Entirely covered by earlier data; nothing to keep.
            if f.more {
                return None;
            }
        }
        if offset == 0 && t.header.is_none() {
            t.header = Some(f.header.to_vec());
            t.nh_offset = usize::from(f.nh_offset);
            t.proto = f.proto;
        } else {
            cost -= header_cost;
        }
        let pos = t.frags.partition_point(|o| o.offset <= offset);
        t.frags.insert(
            pos,
            Frag {
                offset,
                ltrim: ltrim.min(f.data.len()),
                skip: false,
                more: f.more,
                data: f.data.to_vec(),
            },
        );
        t.bytes += cost;
        self.bytes += cost;

        let total = complete_len(t)?;
        let out = reassemble(t, total, v6);
        self.remove(&key);
        if out.is_some() {
            self.stats.reassembled += 1;
        }
        out
    }

    /// Drops datagrams that saw no fragment for the timeout, as of `now`.
    pub fn expire(&mut self, now: Timestamp) {
        let timeout = i64::from(self.cfg.timeout_secs);
        let mut dead = Vec::new();
        for key in self.order.values() {
            let Some(t) = self.trackers.get(key) else {
                continue;
            };
            if t.created.add_secs(timeout) > now {
                break;
            }
            if t.last_seen.add_secs(timeout) <= now {
                dead.push(*key);
            }
        }
        for k in dead {
            self.stats.timeouts += 1;
            self.remove(&k);
        }
    }
}

/// The datagram payload length if every byte up to the last fragment is
/// present, else `None`.
fn complete_len(t: &Tracker) -> Option<usize> {
    t.header.as_ref()?;
    let mut have = 0usize;
    for f in t.frags.iter().filter(|f| !f.skip) {
        if f.offset > have {
            return None;
        }
        have = have.max(f.end());
        if !f.more {
            return Some(f.end());
        }
    }
    None
}

/// Builds the datagram: header (fixed up) then the fragment data in offset
/// order, later offsets overwriting earlier ones where they overlap.
fn reassemble(t: &Tracker, total: usize, v6: bool) -> Option<Vec<u8>> {
    let header = t.header.as_ref()?;
    let hl = header.len();
    let mut out = vec![0u8; hl.checked_add(total)?];
    out.get_mut(..hl)?.copy_from_slice(header);
    for f in t.frags.iter().filter(|f| !f.skip) {
        let start = f.offset + f.ltrim;
        if start >= total {
            continue;
        }
        let data = f.data.get(f.ltrim..)?;
        let n = data.len().min(total - start);
        out.get_mut(hl + start..hl + start + n)?
            .copy_from_slice(data.get(..n)?);
    }
    if v6 {
        let plen = u16::try_from(hl.saturating_sub(40) + total).ok()?;
        out.get_mut(4..6)?.copy_from_slice(&plen.to_be_bytes());
        *out.get_mut(t.nh_offset)? = t.proto;
    } else {
        let tl = u16::try_from(hl + total).ok()?;
        out.get_mut(2..4)?.copy_from_slice(&tl.to_be_bytes());
        let df = out.get(6).copied().unwrap_or(0) & 0x40;
        out.get_mut(6..8)?.copy_from_slice(&[df, 0]);
        out.get_mut(10..12)?.copy_from_slice(&[0, 0]);
        let c = checksum::compute(out.get(..hl)?, 0);
        out.get_mut(10..12)?.copy_from_slice(&c.to_be_bytes());
    }
    Some(out)
}

/// Decodes a reassembled datagram, keeping `outer`'s Ethernet header, VLANs
/// and tunnel; l3, l4 and payload come from the datagram.
pub fn decode_reassembled<'b>(
    outer: &Decoded<'_>,
    datagram: &'b [u8],
    opts: &DecodeOptions,
) -> Decoded<'b> {
    decode_ip_with_outer(outer, datagram, opts)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::*;
    use super::*;
    use proptest::prelude::*;

    fn o() -> DecodeOptions {
        DecodeOptions::default()
    }

    fn ts(s: i64) -> Timestamp {
        Timestamp::from_secs_nanos(s, 0)
    }

    #[test]
    fn ipv4_in_order_and_reversed() {
        let payload: Vec<u8> = (0..300u16).map(|i| i as u8).collect();
        let dgram = udp(1000, 2000, &payload);
        for rev in [false, true] {
            let mut frags = ipv4_fragments([10, 0, 0, 1], [10, 0, 0, 2], 9, 17, &dgram, 64);
            if rev {
                frags.reverse();
            }
            let mut df = Defragmenter::new(DefragConfig::default());
            let mut got = None;
            for (i, p) in frags.iter().enumerate() {
                let d = decode(LinkType::Raw, p, &o());
                let r = df.insert(ts(1), &d);
                if i + 1 < frags.len() {
                    assert!(r.is_none());
                } else {
                    got = r;
                }
            }
            let out = got.expect("reassembled");
            let outer = decode(LinkType::Raw, &frags[0], &o());
            let k = DecodeOptions {
                validate_checksums: true,
                ..o()
            };
            let d = decode_reassembled(&outer, &out, &k);
            assert!(d.frag.is_none());
            assert!(!d.checksum_bad, "header and UDP checksums valid");
            assert_eq!(d.payload, &payload[..]);
            assert_eq!(d.dst_port(), 2000);
            let L3::Ipv4(h) = d.l3 else { panic!() };
            assert_eq!(usize::from(h.total_len), 20 + 8 + 300);
            assert!(!h.flags_mf);
            let s = df.stats();
            assert_eq!((s.fragments, s.reassembled), (frags.len() as u64, 1));
            assert_eq!(df.memory_used(), 0);
            assert_eq!(df.trackers(), 0);
        }
    }

    #[test]
    fn ipv6_reassembly() {
        let payload = vec![0x41u8; 1000];
        let frags = ipv6_fragments(0x1234_5678, 6, &tcp_seg(1, 80, TCP_ACK, &[], &payload), 256);
        let mut df = Defragmenter::new(DefragConfig::default());
        let mut out = None;
        for p in &frags {
            let d = decode(LinkType::Raw, p, &o());
            out = df.insert(ts(5), &d);
        }
        let out = out.expect("complete");
        let d = decode_reassembled(
            &decode(LinkType::Raw, &frags[0], &o()),
            &out,
            &DecodeOptions {
                validate_checksums: true,
                ..o()
            },
        );
        assert_eq!(d.payload.len(), 1000);
        assert!(!d.checksum_bad);
        let L3::Ipv6(h) = d.l3 else { panic!() };
        assert_eq!(h.next_header, 6);
        assert_eq!(usize::from(h.payload_len), 20 + 1000);
    }

    #[test]
    fn ipv6_with_hop_by_hop_before_fragment_header() {
        let dgram = udp(7, 8, &[0x5A; 100]);
        let mut frags = Vec::new();
        for (off, chunk) in [(0usize, &dgram[..64]), (64, &dgram[64..])] {
            let more = off == 0;
            let mut p = vec![0x60, 0, 0, 0];
            p.extend_from_slice(&((8 + 8 + chunk.len()) as u16).to_be_bytes());
            p.extend_from_slice(&[0, 64]); // hop-by-hop first
            p.extend_from_slice(&V6_SRC);
            p.extend_from_slice(&V6_DST);
            p.extend_from_slice(&[44, 0, 1, 4, 0, 0, 0, 0]);
            p.extend_from_slice(&[17, 0]);
            p.extend_from_slice(&((off as u16) | u16::from(more)).to_be_bytes());
            p.extend_from_slice(&42u32.to_be_bytes());
            p.extend_from_slice(chunk);
            frags.push(p);
        }
        let first = decode(LinkType::Raw, &frags[0], &o());
        assert_eq!(first.frag.unwrap().nh_offset, 40);
        let mut df = Defragmenter::new(DefragConfig::default());
        assert!(df.insert(ts(1), &first).is_none());
        let second = decode(LinkType::Raw, &frags[1], &o());
        let out = df.insert(ts(1), &second).expect("complete");
        assert_eq!(out.len(), 40 + 8 + dgram.len());
        assert_eq!(out[40], 17, "hop-by-hop now names UDP");
        let d = decode_reassembled(&second, &out, &o());
        assert!(d.anomalies.is_empty(), "{:?}", d.anomalies);
        assert_eq!(d.payload, &[0x5A; 100][..]);
        let L3::Ipv6(h) = d.l3 else { panic!() };
        assert_eq!((h.next_header, h.ext_len), (17, 8));
    }

    /// Fragments built by hand: (offset, more, data).
    fn v4_frag(id: u16, offset: usize, more: bool, data: &[u8]) -> Vec<u8> {
        let mut p = ipv4_proto([10, 0, 0, 1], [10, 0, 0, 2], 17, &[]);
        let fo = (offset / 8) as u16 | if more { 0x2000 } else { 0 };
        p[4..6].copy_from_slice(&id.to_be_bytes());
        p[6..8].copy_from_slice(&fo.to_be_bytes());
        p[2..4].copy_from_slice(&((20 + data.len()) as u16).to_be_bytes());
        p.extend_from_slice(data);
        p
    }

    #[test]
    fn bsd_overlap_policy() {
        let mut df = Defragmenter::new(DefragConfig::default());
        let pieces = [
            v4_frag(1, 0, true, &[b'A'; 16]),
            // Starts inside the first: the earlier data wins where they overlap.
            v4_frag(1, 8, true, &[b'B'; 16]),
            // Starts before and covers [24,32) entirely: replaces it.
            v4_frag(1, 32, true, &[b'C'; 8]),
            v4_frag(1, 24, true, &[b'D'; 16]),
            v4_frag(1, 40, false, &[b'E'; 8]),
        ];
        let mut out = None;
        for p in &pieces {
            out = df.insert(ts(1), &decode(LinkType::Raw, p, &o()));
        }
        let out = out.expect("complete");
        let body = &out[20..];
        assert_eq!(&body[..16], &[b'A'; 16]);
        assert_eq!(&body[16..24], &[b'B'; 8]);
        assert_eq!(&body[24..40], &[b'D'; 16]);
        assert_eq!(&body[40..48], &[b'E'; 8]);
        assert_eq!(df.stats().overlaps, 2);
    }

    #[test]
    fn too_large_timeout_and_caps() {
        let mut df = Defragmenter::new(DefragConfig {
            timeout_secs: 10,
            ..Default::default()
        });
        // Offset 65528 + 16 bytes ends past 65535.
        let p = v4_frag(2, 65528, false, &[0; 16]);
        assert!(df.insert(ts(1), &decode(LinkType::Raw, &p, &o())).is_none());
        assert_eq!(df.stats().too_large, 1);
        assert_eq!(df.last_anomaly(), Some(Anomaly::Ipv4FragPktTooLarge));

        let p = v4_frag(3, 0, true, &[0; 16]);
        df.insert(ts(1), &decode(LinkType::Raw, &p, &o()));
        assert_eq!(df.trackers(), 1);
        df.expire(ts(5));
        assert_eq!(df.trackers(), 1);
        df.expire(ts(11));
        assert_eq!(df.trackers(), 0);
        assert_eq!(df.stats().timeouts, 1);
        assert_eq!(df.memory_used(), 0);

        let mut df = Defragmenter::new(DefragConfig {
            max_trackers: 2,
            ..Default::default()
        });
        for id in 0..5 {
            let p = v4_frag(id, 0, true, &[0; 8]);
            df.insert(ts(1), &decode(LinkType::Raw, &p, &o()));
        }
        assert_eq!(df.trackers(), 2);
        assert_eq!(df.stats().tracker_drops, 3);

        let mut df = Defragmenter::new(DefragConfig {
            max_bytes: 2000,
            ..Default::default()
        });
        for id in 0..10 {
            let p = v4_frag(id, 0, true, &[0; 400]);
            df.insert(ts(1), &decode(LinkType::Raw, &p, &o()));
            assert!(df.memory_used() <= 2000);
        }
        assert!(df.stats().memcap_drops > 0);
        let p = v4_frag(99, 0, true, &[0; 4000]);
        assert!(df.insert(ts(1), &decode(LinkType::Raw, &p, &o())).is_none());
        assert_eq!(df.last_anomaly(), Some(Anomaly::Ipv4FragIgnored));
    }

    #[test]
    fn max_size_datagram_reassembles() {
        // 20-byte header + 65515 bytes of payload = 65535 exactly.
        let payload = vec![7u8; 65515 - 8];
        let frags = ipv4_fragments(
            [10, 0, 0, 1],
            [10, 0, 0, 2],
            4,
            17,
            &udp(1, 2, &payload),
            1480,
        );
        let mut df = Defragmenter::new(DefragConfig::default());
        let mut out = None;
        for p in &frags {
            out = df.insert(ts(1), &decode(LinkType::Raw, p, &o()));
        }
        let out = out.expect("complete");
        assert_eq!(out.len(), 65535);
        let d = decode_reassembled(&Decoded::empty(), &out, &o());
        assert_eq!(d.payload.len(), 65507);
    }

    proptest! {
        #[test]
        fn arbitrary_fragments_stay_within_memory(
            frags in proptest::collection::vec((0u16..4, 0usize..8200, 1usize..1500, any::<bool>(), any::<bool>()), 1..120),
            max_bytes in 0usize..20_000,
        ) {
            let cfg = DefragConfig { max_bytes, max_trackers: 3, timeout_secs: 60 };
            let mut df = Defragmenter::new(cfg).with_max_fragments(16);
            for (i, (id, off8, len, more, v6)) in frags.into_iter().enumerate() {
                let p = if v6 {
                    let mut p = ipv6_fragments(u32::from(id), 17, &vec![1u8; len], len.max(8))[0].clone();
                    let fo = ((off8 * 8) as u16 & 0xFFF8) | u16::from(more);
                    p[42..44].copy_from_slice(&fo.to_be_bytes());
                    p
                } else {
                    v4_frag(id, (off8 * 8) % 65536, more, &vec![2u8; len])
                };
                let d = decode(LinkType::Raw, &p, &o());
                if let Some(out) = df.insert(ts(i as i64 / 10), &d) {
                    prop_assert!(out.len() <= 65535 + 40);
                    let _ = decode_reassembled(&d, &out, &o());
                }
                prop_assert!(df.memory_used() <= max_bytes);
                prop_assert!(df.trackers() <= 3);
            }
        }
    }
}
