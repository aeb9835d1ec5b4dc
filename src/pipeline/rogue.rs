//! Rogue-device findings across workers.
//!
//! A device's frames are spread over every worker (flows are sharded by
//! address pair), yet it must be reported once per MAC/IP pair per interval
//! of packet time whatever the number of workers. Each worker keeps the
//! first frame of each (MAC, IP, interval bucket) it sees as a *candidate*;
//! the driver merges the candidates of all workers in capture order and
//! keeps the earliest per key. The buckets are aligned to the interval
//! (hour boundaries by default), so the result is exactly the same for any
//! number of workers. A device that never claims an IP is reported by MAC
//! alone — unless it claims one at any point, so a DHCP DISCOVER followed
//! by a REQUEST gives one alert naming the requested address, never
//! 0.0.0.0.

use std::net::IpAddr;

use rustc_hash::FxHashSet;

use crate::decode::Mac;
use crate::time::Timestamp;

/// Most candidates one worker keeps (beyond: counted and dropped).
pub const MAX_CANDIDATES: usize = 100_000;

/// The first frame of a device in one bucket, as seen by one worker.
#[derive(Clone, Debug, PartialEq)]
pub struct RogueCandidate {
    /// Capture position (orders candidates from all workers).
    pub pcap_cnt: u64,
    /// Packet time.
    pub ts: Timestamp,
    /// Segment zone index.
    pub zone: u16,
    /// Device MAC.
    pub mac: Mac,
    /// IP it claims.
    pub ip: Option<IpAddr>,
    /// Destination MAC of the frame.
    pub dst_mac: Mac,
    /// Destination IP of the frame, if any.
    pub dst_ip: Option<IpAddr>,
    /// IP protocol, ports.
    pub proto: Option<u8>,
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// VLAN ids of the frame.
    pub vlans: Vec<u16>,
    /// The MAC is inventoried but the IP is not its own.
    pub known_mac: bool,
    /// Flow id, if the frame belonged to a flow.
    pub flow_id: Option<u64>,
}

/// One worker's candidate list.
#[derive(Debug, Default)]
pub struct RogueLocal {
    seen: FxHashSet<(Mac, Option<IpAddr>, i64)>,
    /// Candidates in this worker's capture order.
    pub candidates: Vec<RogueCandidate>,
    /// Candidates dropped because the list was full.
    pub dropped: u64,
}

impl RogueLocal {
    /// Hands over the candidates found so far (the daemon does this
    /// periodically) and keeps the de-duplication memory, bounded: past
    /// [`MAX_CANDIDATES`] keys it starts afresh, which at worst repeats a
    /// finding once.
    pub fn take_candidates(&mut self) -> Vec<RogueCandidate> {
        if self.seen.len() >= MAX_CANDIDATES {
            self.seen.clear();
        }
        std::mem::take(&mut self.candidates)
    }

    /// Offers a finding; keeps it if it is the first of its key here.
    pub fn offer(&mut self, interval_secs: i64, c: RogueCandidate) {
        let bucket = c.ts.secs().div_euclid(interval_secs.max(1));
        if self.seen.contains(&(c.mac, c.ip, bucket)) {
            return;
        }
        if self.candidates.len() >= MAX_CANDIDATES {
            self.dropped += 1;
            return;
        }
        self.seen.insert((c.mac, c.ip, bucket));
        self.candidates.push(c);
    }
}

/// Merges the candidates of all workers into the findings to report, in
/// capture order.
pub fn merge(interval_secs: i64, lists: Vec<Vec<RogueCandidate>>) -> Vec<RogueCandidate> {
    let mut all: Vec<RogueCandidate> = lists.into_iter().flatten().collect();
    all.sort_by_key(|c| c.pcap_cnt);
    let claimed: FxHashSet<Mac> = all
        .iter()
        .filter(|c| c.ip.is_some())
        .map(|c| c.mac)
        .collect();
    let mut seen = FxHashSet::default();
    all.into_iter()
        .filter(|c| c.ip.is_some() || !claimed.contains(&c.mac))
        .filter(|c| seen.insert((c.mac, c.ip, c.ts.secs().div_euclid(interval_secs.max(1)))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(cnt: u64, secs: i64, mac: u8, ip: Option<&str>) -> RogueCandidate {
        RogueCandidate {
            pcap_cnt: cnt,
            ts: Timestamp::from_secs_nanos(secs, 0),
            zone: 1,
            mac: [2, 0, 0, 0, 0, mac],
            ip: ip.map(|s| s.parse().unwrap()),
            dst_mac: [0xff; 6],
            dst_ip: None,
            proto: None,
            sport: 0,
            dport: 0,
            vlans: vec![],
            known_mac: false,
            flow_id: None,
        }
    }

    #[test]
    fn same_result_for_any_split() {
        let frames = vec![
            cand(1, 10, 1, None),
            cand(2, 11, 1, Some("10.10.1.77")),
            cand(3, 12, 1, Some("10.10.1.77")),
            cand(4, 3700, 1, Some("10.10.1.77")),
            cand(5, 20, 2, None),
            cand(6, 30, 3, Some("10.10.1.78")),
        ];
        let one = {
            let mut l = RogueLocal::default();
            for f in &frames {
                l.offer(3600, f.clone());
            }
            merge(3600, vec![l.candidates])
        };
        for split in 0..(1u32 << frames.len()) {
            let mut a = RogueLocal::default();
            let mut b = RogueLocal::default();
            for (i, f) in frames.iter().enumerate() {
                if split & (1 << i) != 0 {
                    a.offer(3600, f.clone())
                } else {
                    b.offer(3600, f.clone())
                }
            }
            assert_eq!(merge(3600, vec![a.candidates, b.candidates]), one);
        }
        let keys: Vec<_> = one.iter().map(|c| (c.pcap_cnt, c.mac[5])).collect();
        // MAC 1: DHCP-like MAC-only frame dropped, one per hour with its IP;
        // MAC 2 never claims an IP: reported by MAC alone.
        assert_eq!(keys, vec![(2, 1), (4, 1), (5, 2), (6, 3)]);
    }
}
