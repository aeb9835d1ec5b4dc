//! threshold.config applied to a compiled [`Ruleset`], with the semantics
//! of Suricata's "Global-Thresholds":
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
//! - `rate_filter` is parsed but not applied (reported).
//!
//! Entries that name no loaded rule are reported, never silently ignored.

use super::super::addr::AddrSet;
use super::super::threshold::{SuppressTrack, ThresholdConfig, ThresholdEntry};
use super::Ruleset;
use std::net::IpAddr;

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
                ThresholdEntry::RateFilter { .. } => {
                    out.notes.push(ThresholdNote {
                        line: *line,
                        reason: "rate_filter is not applied by zoneguard (passive sensor) / rate_filter 未应用"
                            .to_string(),
                    });
                    continue;
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
        out
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::super::state::DetectState;
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
    fn unmatched_and_rate_filter_entries_are_reported() {
        let (_, applied) = ruleset(
            "suppress gen_id 1, sig_id 999\n\
             rate_filter gen_id 1, sig_id 1, track by_rule, count 10, seconds 60, new_action drop, timeout 30\n",
        );
        let lines: Vec<usize> = applied.notes.iter().map(|n| n.line).collect();
        assert_eq!(lines, vec![1, 2]);
    }
}
