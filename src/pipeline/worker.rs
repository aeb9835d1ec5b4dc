//! One packet worker: decode → defragment → flow → zone policy → EVE.
//!
//! A worker owns its shard of the flow table, its defragmenter and its EVE
//! buffer; nothing on the per-packet path is shared or locked. Time is the
//! packet's: flows expire when packet time passes their timeout, so a
//! replay gives the same records every time and for any number of workers.

use std::net::IpAddr;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::rogue::{RogueCandidate, RogueLocal};
use super::Engine;
use crate::alert::{Action, Alert, AlertAddrs, AlertSource, PolicyInfo, PolicyKind};
use crate::decode::defrag::{decode_reassembled, Defragmenter};
use crate::decode::{Decoded, L3, L4};
use crate::flow::tcp::flags;
use crate::flow::{Addr, EndReason, Flow, FlowKey, FlowTable, TimeoutClass};
use crate::output::{EveBuf, FlowRecord};
use crate::policy::{dhcp_requested_ip, Claim, Locality};
use crate::time::Timestamp;

/// What the pipeline keeps per flow (inside the flow table's entry).
#[derive(Clone, Copy, Debug)]
pub struct FlowData {
    /// Zone of the client, looked up once.
    pub client_loc: Locality,
    /// Zone of the server.
    pub server_loc: Locality,
    /// An alert was raised on this flow.
    pub alerted: bool,
}

/// Counters of one worker (summed over workers for the summary).
#[derive(Clone, Debug, Default)]
pub struct WorkerStats {
    /// Packets processed by this worker.
    pub packets: u64,
    /// Bytes (captured frame lengths).
    pub bytes: u64,
    /// IPv4 packets.
    pub ipv4: u64,
    /// IPv6 packets.
    pub ipv6: u64,
    /// TCP packets.
    pub tcp: u64,
    /// UDP packets.
    pub udp: u64,
    /// ICMP and ICMPv6 packets.
    pub icmp: u64,
    /// ARP frames.
    pub arp: u64,
    /// Frames with no IP or ARP layer.
    pub other: u64,
    /// Decoder anomalies by event name.
    pub anomalies: FxHashMap<&'static str, u64>,
    /// Alerts by source and policy kind (`policy/isolated_breach`, …).
    pub alerts: FxHashMap<String, u64>,
    /// Flows ended, by reason.
    pub flows_ended: [u64; 3],
    /// Flow table counters.
    pub flow_table: crate::flow::FlowStats,
    /// Datagrams rebuilt from fragments.
    pub reassembled: u64,
}

impl WorkerStats {
    /// Adds another worker's counters.
    pub fn merge(&mut self, o: &WorkerStats) {
        self.packets += o.packets;
        self.bytes += o.bytes;
        self.ipv4 += o.ipv4;
        self.ipv6 += o.ipv6;
        self.tcp += o.tcp;
        self.udp += o.udp;
        self.icmp += o.icmp;
        self.arp += o.arp;
        self.other += o.other;
        for (k, v) in &o.anomalies {
            *self.anomalies.entry(k).or_default() += v;
        }
        for (k, v) in &o.alerts {
            *self.alerts.entry(k.clone()).or_default() += v;
        }
        for i in 0..3 {
            self.flows_ended[i] += o.flows_ended[i];
        }
        let (a, b) = (&mut self.flow_table, &o.flow_table);
        a.created += b.created;
        a.timed_out += b.timed_out;
        a.evicted += b.evicted;
        a.emergency_entered += b.emergency_entered;
        a.shutdown += b.shutdown;
        a.peak += b.peak;
        self.reassembled += o.reassembled;
    }

    /// Total alerts.
    pub fn total_alerts(&self) -> u64 {
        self.alerts.values().sum()
    }
}

/// A packet worker.
pub struct Worker<'w> {
    engine: Arc<Engine>,
    flows: FlowTable<FlowData>,
    defrag: Defragmenter,
    eve: EveBuf<'w>,
    stats: WorkerStats,
    rogue: RogueLocal,
    last_sweep_secs: i64,
    now: Timestamp,
}

/// Writes a flow's end-of-flow record.
fn write_flow(eve: &mut EveBuf<'_>, stats: &mut WorkerStats, f: &Flow<FlowData>, reason: EndReason) {
    stats.flows_ended[match reason {
        EndReason::Timeout => 0,
        EndReason::Forced => 1,
        EndReason::Shutdown => 2,
    }] += 1;
    let (c, s) = endpoints(f);
    eve.flow(&FlowRecord {
        flow_id: f.id,
        src_ip: c.0,
        src_port: c.1,
        dest_ip: s.0,
        dest_port: s.1,
        proto: f.key.proto,
        vlan: f.key.vlan,
        app_proto: None,
        pkts_toserver: f.pkts[0],
        pkts_toclient: f.pkts[1],
        bytes_toserver: f.bytes[0],
        bytes_toclient: f.bytes[1],
        start: f.start,
        end: f.last,
        state: f.eve_state(),
        reason: reason.as_str(),
        alerted: f.data.alerted,
        tcp: (f.key.proto == 6).then_some((f.tcp.flags_ts, f.tcp.flags_tc, f.tcp.state.as_str())),
    });
}

/// (client, server) address and port of a flow.
fn endpoints<T>(f: &Flow<T>) -> ((IpAddr, u16), (IpAddr, u16)) {
    let lo = (f.key.lo_addr.to_ip(), f.key.lo_port);
    let hi = (f.key.hi_addr.to_ip(), f.key.hi_port);
    if f.client_is_lo {
        (lo, hi)
    } else {
        (hi, lo)
    }
}

impl<'w> Worker<'w> {
    /// A worker writing to `eve`; `shards` is the number of workers (the
    /// flow capacity is split between them).
    pub fn new(engine: Arc<Engine>, eve: EveBuf<'w>, shards: usize, salt: u64) -> Self {
        let mut fcfg = engine.flow.clone();
        fcfg.max_flows = (fcfg.max_flows / shards.max(1)).max(1024);
        let defrag = Defragmenter::new(engine.defrag.clone());
        Worker {
            flows: FlowTable::new(fcfg, salt),
            defrag,
            eve,
            stats: WorkerStats::default(),
            rogue: RogueLocal::default(),
            last_sweep_secs: i64::MIN,
            now: Timestamp::default(),
            engine,
        }
    }

    /// Advances packet time (also for packets another worker handles), and
    /// sweeps idle flows once per second of packet time.
    pub fn advance_clock(&mut self, ts: Timestamp) {
        if ts > self.now {
            self.now = ts;
        }
        let secs = self.now.secs();
        if secs != self.last_sweep_secs {
            self.last_sweep_secs = secs;
            let now = self.now;
            let (flows, eve, stats) = (&mut self.flows, &mut self.eve, &mut self.stats);
            flows.expire(now, &mut |f, r| write_flow(eve, stats, &f, r));
            self.defrag.expire(self.now);
        }
    }

    /// Processes one decoded packet of this worker's shard.
    pub fn process(&mut self, ts: Timestamp, pcap_cnt: u64, frame_len: usize, d: &Decoded<'_>) {
        self.advance_clock(ts);
        self.stats.packets += 1;
        self.stats.bytes += frame_len as u64;
        for an in d.anomalies.iter() {
            *self.stats.anomalies.entry(an.event()).or_default() += 1;
            self.eve.anomaly(
                ts,
                Some(pcap_cnt),
                d.src_ip(),
                d.dst_ip(),
                d.ip_proto(),
                an.event(),
                an.layer(),
            );
        }
        if d.frag.is_some() {
            if let Some(datagram) = self.defrag.insert(ts, d) {
                self.stats.reassembled += 1;
                let whole = decode_reassembled(d, &datagram, &self.engine.decode);
                self.process_l3(ts, pcap_cnt, frame_len, &whole);
            }
            return;
        }
        self.process_l3(ts, pcap_cnt, frame_len, d);
    }

    fn process_l3(&mut self, ts: Timestamp, pcap_cnt: u64, frame_len: usize, d: &Decoded<'_>) {
        match d.l3 {
            L3::Ipv4(_) => self.stats.ipv4 += 1,
            L3::Ipv6(_) => self.stats.ipv6 += 1,
            L3::Arp(_) => self.stats.arp += 1,
            _ => self.stats.other += 1,
        }
        if self.engine.policy.inventory.any_strict() && self.engine.policy.reports(PolicyKind::RogueDevice) {
            self.check_rogue(ts, pcap_cnt, d, None);
        }
        let (Some(src), Some(dst)) = (d.src_ip(), d.dst_ip()) else {
            return;
        };
        let proto = d.ip_proto().unwrap_or(0);
        let mut tcp_flags = None;
        let (sport, dport) = match &d.l4 {
            L4::Tcp(t) => {
                self.stats.tcp += 1;
                tcp_flags = Some(t.flags);
                (t.src_port, t.dst_port)
            }
            L4::Udp(u) => {
                self.stats.udp += 1;
                (u.src_port, u.dst_port)
            }
            L4::Icmp(i) => {
                self.stats.icmp += 1;
                // Echo request and reply share a flow keyed by the echo id.
                match i.id {
                    Some(id) => (id, id),
                    None => (0, 0),
                }
            }
            _ => (0, 0),
        };
        let vlan = innermost_vlan(d).unwrap_or(0);
        let (key, src_is_lo) = FlowKey::new(Addr::from_ip(src), sport, Addr::from_ip(dst), dport, proto, vlan);
        let syn_ack = flags::SYN | flags::ACK;
        let initiator_is_src = tcp_flags.is_none_or(|f| f & syn_ack != syn_ack);
        let engine = &self.engine;
        let policy = &engine.policy;
        let flows = &mut self.flows;
        let eve = &mut self.eve;
        let stats = &mut self.stats;
        let look = flows.lookup_or_create(
            key,
            src_is_lo,
            initiator_is_src,
            ts,
            || FlowData {
                client_loc: Locality::Unzoned,
                server_loc: Locality::Unzoned,
                alerted: false,
            },
            |f, r| write_flow(eve, stats, &f, r),
        );
        let Some(flow) = flows.get_mut(look.idx) else {
            return;
        };
        let class = if let Some(fl) = tcp_flags {
            flow.tcp.update(look.to_server, fl);
            flow.tcp.timeout_class()
        } else {
            let other = usize::from(look.to_server);
            let bidir = flow.pkts.get(other).copied().unwrap_or(0) > 0;
            match (proto, bidir) {
                (17, false) => TimeoutClass::UdpNew,
                (17, true) => TimeoutClass::UdpEstablished,
                (1 | 58, false) => TimeoutClass::IcmpNew,
                (1 | 58, true) => TimeoutClass::IcmpEstablished,
                (_, false) => TimeoutClass::OtherNew,
                (_, true) => TimeoutClass::OtherEstablished,
            }
        };
        let mut alert = None;
        if look.created {
            let (client, server) = if look.to_server { (src, dst) } else { (dst, src) };
            let (cport, sport_) = if look.to_server { (sport, dport) } else { (dport, sport) };
            flow.data.client_loc = policy.locate(client);
            flow.data.server_loc = policy.locate(server);
            let midstream = tcp_flags.is_some_and(|f| f & flags::SYN == 0);
            if policy.is_active() {
                if let Some(v) = policy.flow_verdict(
                    client,
                    flow.data.client_loc,
                    server,
                    flow.data.server_loc,
                    proto,
                    cport,
                    sport_,
                    midstream,
                    ts,
                ) {
                    flow.data.alerted = true;
                    alert = Some(policy_alert(
                        engine,
                        ts,
                        Some(pcap_cnt),
                        Some(flow.id),
                        d.ether.map(|e| (e.src, e.dst)),
                        vlans_of(d),
                        v.kind,
                        (v.src_zone, v.dst_zone),
                        AlertAddrs {
                            src_ip: Some(client),
                            src_port: cport,
                            dest_ip: Some(server),
                            dest_port: sport_,
                            proto: Some(proto),
                        },
                    ));
                }
            }
        }
        flows.touch(look.idx, ts, look.to_server, frame_len, class);
        if let Some(a) = alert {
            self.emit(&a);
        }
    }

    fn emit(&mut self, a: &Alert) {
        let key = match &a.policy {
            Some(p) => format!("policy/{}", p.kind.as_str()),
            None => a.source.as_str().to_string(),
        };
        *self.stats.alerts.entry(key).or_default() += 1;
        self.eve.alert(a);
    }

    /// Checks a frame's sender against the strict inventories.
    fn check_rogue(&mut self, ts: Timestamp, pcap_cnt: u64, d: &Decoded<'_>, flow_id: Option<u64>) {
        let Some(eth) = d.ether else {
            return;
        };
        let claim_ip: Option<IpAddr> = match &d.l3 {
            L3::Arp(a) => {
                if !a.sender_ip.is_unspecified() {
                    Some(IpAddr::V4(a.sender_ip))
                } else if a.op == 1 && !a.target_ip.is_unspecified() {
                    // an ARP probe (RFC 5227) names the address it wants
                    Some(IpAddr::V4(a.target_ip))
                } else {
                    None
                }
            }
            L3::Ipv4(ip) => {
                if ip.src.is_unspecified() {
                    match &d.l4 {
                        L4::Udp(u) if u.src_port == 68 && u.dst_port == 67 => {
                            dhcp_requested_ip(d.payload).map(IpAddr::V4)
                        }
                        _ => None,
                    }
                } else if ip.src.is_link_local() {
                    None
                } else {
                    Some(IpAddr::V4(ip.src))
                }
            }
            L3::Ipv6(ip) => {
                let s0 = ip.src.segments()[0];
                if ip.src.is_unspecified() || (s0 & 0xffc0) == 0xfe80 {
                    None
                } else {
                    Some(IpAddr::V6(ip.src))
                }
            }
            _ => None,
        };
        let policy = &self.engine.policy;
        let Some(seg) = policy
            .inventory
            .segment(&policy.map, innermost_vlan(d), eth.src, eth.dst, claim_ip)
        else {
            return;
        };
        let Some(finding) = policy.inventory.check(
            &policy.map,
            seg,
            Claim {
                mac: eth.src,
                ip: claim_ip,
            },
        ) else {
            return;
        };
        let (sport, dport) = (d.src_port(), d.dst_port());
        let dst_ip = match &d.l3 {
            L3::Arp(a) => Some(IpAddr::V4(a.target_ip)),
            _ => d.dst_ip(),
        };
        self.rogue.offer(
            self.engine.rogue_interval_secs,
            RogueCandidate {
                pcap_cnt,
                ts,
                zone: finding.zone,
                mac: finding.claim.mac,
                ip: finding.claim.ip,
                dst_mac: eth.dst,
                dst_ip,
                proto: d.ip_proto(),
                sport,
                dport,
                vlans: vlans_of(d),
                known_mac: finding.known_mac,
                flow_id,
            },
        );
    }

    /// Ends the worker: flushes every flow (reason shutdown) and the EVE
    /// buffer, and returns its counters and rogue candidates.
    pub fn finish(mut self) -> (WorkerStats, RogueLocal) {
        let (flows, eve, stats) = (&mut self.flows, &mut self.eve, &mut self.stats);
        flows.flush(|f, r| write_flow(eve, stats, &f, r));
        self.stats.flow_table = self.flows.stats().clone();
        self.eve.flush();
        let rogue = std::mem::take(&mut self.rogue);
        (std::mem::take(&mut self.stats), rogue)
    }
}

/// The innermost VLAN id of a frame.
pub fn innermost_vlan(d: &Decoded<'_>) -> Option<u16> {
    let n = usize::from(d.vlan_count).min(d.vlans.len());
    if n == 0 {
        None
    } else {
        d.vlans.get(n - 1).copied()
    }
}

fn vlans_of(d: &Decoded<'_>) -> Vec<u16> {
    let n = usize::from(d.vlan_count).min(d.vlans.len());
    d.vlans.get(..n).map(|v| v.to_vec()).unwrap_or_default()
}

/// Builds a zone-policy alert (shared by the worker and the rogue merge).
#[allow(clippy::too_many_arguments)]
pub fn policy_alert(
    engine: &Engine,
    ts: Timestamp,
    pcap_cnt: Option<u64>,
    flow_id: Option<u64>,
    ether: Option<(crate::decode::Mac, crate::decode::Mac)>,
    vlans: Vec<u16>,
    kind: PolicyKind,
    (src_zone, dst_zone): (u16, u16),
    addrs: AlertAddrs,
) -> Alert {
    let p = &engine.policy;
    let zid = |z: u16| p.zone(z).map(|z| z.id.clone()).unwrap_or_else(|| Arc::from("?"));
    let level = [src_zone, dst_zone]
        .iter()
        .filter_map(|z| p.zone(*z))
        .map(|z| z.level)
        .max()
        .unwrap_or(0);
    let resp = p.zone(p.responsible_zone(src_zone, dst_zone));
    let (zh, en) = kind.names();
    Alert {
        ts,
        source: AlertSource::Policy,
        flow_id,
        pcap_cnt,
        addrs,
        ether,
        vlans,
        action: Action::Allowed,
        gid: 1,
        sid: kind.sid(),
        rev: 1,
        signature: Arc::from(format!("ZONEGUARD POLICY {zh} {en}").as_str()),
        category: Arc::from("Zone Policy Violation"),
        severity: kind.eve_severity(),
        metadata: vec![
            (Arc::from("taxonomy"), vec![Arc::from(kind.taxonomy())]),
            (Arc::from("zoneguard_severity"), vec![Arc::from(kind.detection_severity())]),
        ],
        policy: Some(PolicyInfo {
            kind,
            src_zone: zid(src_zone),
            dest_zone: zid(dst_zone),
            level,
            unit: resp.and_then(|z| z.unit.clone()),
            contact: resp.and_then(|z| z.contact.clone()),
            app: None,
            user: None,
        }),
        app_proto: None,
        log: None,
    }
}
