//! One packet worker: decode → defragment → flow → zone policy → EVE.
//!
//! A worker owns its shard of the flow table, its defragmenter and its EVE
//! buffer; nothing on the per-packet path is shared or locked. Time is the
//! packet's: flows expire when packet time passes their timeout, so a
//! replay gives the same records every time and for any number of workers.

use std::net::IpAddr;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::app::{check_flow_addresses, handle_events, AppFlow, FlowFacts};
use super::rogue::{RogueCandidate, RogueLocal};
use super::Engine;
use crate::alert::{Action, Alert, AlertAddrs, AlertSource, PolicyInfo, PolicyKind};
use crate::applayer::{AppEvent, AppProto, AppState, Direction, Transport};
use crate::decode::defrag::{decode_reassembled, Defragmenter};
use crate::decode::{Decoded, L3, L4};
use crate::flow::stream::{Chunk, StreamStats};
use crate::flow::tcp::{flags, TcpState};
use crate::flow::{Addr, EndReason, Flow, FlowKey, FlowTable, TimeoutClass};
use crate::output::{EveBuf, FlowRecord};
use crate::policy::{dhcp_requested_ip, Claim, Locality};
use crate::signatures::engine::state::{DetectState, FlowDetect};
use crate::signatures::engine::{EngineRule, Hit, PacketView, Scratch};
use crate::time::Timestamp;

/// What the pipeline keeps per flow (inside the flow table's entry).
#[derive(Debug)]
pub struct FlowData {
    /// Zone of the client, looked up once.
    pub client_loc: Locality,
    /// Zone of the server.
    pub server_loc: Locality,
    /// An alert was raised on this flow.
    pub alerted: bool,
    /// Application layer, from the first payload on.
    pub app: Option<Box<AppFlow>>,
    /// Signature state (flowbits, by_flow thresholds), on first use.
    pub detect: Option<Box<FlowDetect>>,
    /// The engine generation the zone lookups and signature state belong
    /// to (a reload starts a new one; see [`Worker::set_engine`]).
    pub gen: u32,
}

impl FlowData {
    fn new() -> Self {
        FlowData {
            client_loc: Locality::Unzoned,
            server_loc: Locality::Unzoned,
            alerted: false,
            app: None,
            detect: None,
            gen: 0,
        }
    }
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
    /// Packets with an invalid IP/TCP/UDP/ICMP checksum (only counted with
    /// `-k all`); like Suricata, they are not processed further.
    pub invalid_checksum: u64,
    /// Application records written, by type.
    pub app_records: FxHashMap<&'static str, u64>,
    /// Flows by detected application protocol.
    pub app_protos: FxHashMap<&'static str, u64>,
    /// TCP reassembly counters.
    pub stream: StreamStats,
    /// Alerts not handed to the incident layer because the buffer was full.
    pub alerts_not_kept: u64,
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
        self.invalid_checksum += o.invalid_checksum;
        for (k, v) in &o.app_records {
            *self.app_records.entry(k).or_default() += v;
        }
        for (k, v) in &o.app_protos {
            *self.app_protos.entry(k).or_default() += v;
        }
        let (a, b) = (&mut self.stream, &o.stream);
        a.in_order += b.in_order;
        a.out_of_order += b.out_of_order;
        a.overlaps += b.overlaps;
        a.gaps += b.gaps;
        a.gap_bytes += b.gap_bytes;
        a.stream_cap_hits += b.stream_cap_hits;
        a.global_cap_hits += b.global_cap_hits;
        a.depth_skipped += b.depth_skipped;
        self.alerts_not_kept += o.alerts_not_kept;
    }

    /// Total alerts.
    pub fn total_alerts(&self) -> u64 {
        self.alerts.values().sum()
    }
}

/// The output side of a worker: its EVE buffer, counters and scratch
/// space, kept apart from the flow table so both can be borrowed at once.
pub struct Out<'w> {
    /// EVE records of this worker.
    pub eve: EveBuf<'w>,
    /// Counters.
    pub stats: WorkerStats,
    /// Scratch list of application events (reused, never shrunk).
    pub events: Vec<AppEvent>,
    /// Out-of-order bytes held by all streams of this worker.
    pub stream_global: usize,
    /// Alerts kept for the incident layer (when it runs), in this worker's
    /// order; at most [`MAX_KEPT_ALERTS`].
    pub kept: Vec<Alert>,
    /// Keep alerts for the incident layer.
    pub keep_alerts: bool,
    /// Signature matching state of this worker.
    pub sig: SigWork,
}

/// A worker's signature matching state: threshold counters and scratch.
#[derive(Debug, Default)]
pub struct SigWork {
    /// threshold / detection_filter counters (not by_flow).
    pub state: DetectState,
    /// Candidate scratch.
    pub scratch: Scratch,
    /// Rules that alert on the current packet or transaction.
    pub hits: Vec<Hit>,
}

/// Most alerts one worker keeps for the incident layer during a replay
/// (beyond: counted in `alerts_not_kept`; they are still in eve.json).
pub const MAX_KEPT_ALERTS: usize = 2_000_000;

impl Out<'_> {
    /// Writes an alert and counts it.
    pub fn emit(&mut self, a: &Alert) {
        let key = match &a.policy {
            Some(p) => format!("policy/{}", p.kind.as_str()),
            None => a.source.as_str().to_string(),
        };
        *self.stats.alerts.entry(key).or_default() += 1;
        self.eve.alert(a);
        if self.keep_alerts {
            if self.kept.len() < MAX_KEPT_ALERTS {
                self.kept.push(a.clone());
            } else {
                self.stats.alerts_not_kept += 1;
            }
        }
    }
}

/// A packet worker.
pub struct Worker<'w> {
    engine: Arc<Engine>,
    flows: FlowTable<FlowData>,
    defrag: Defragmenter,
    out: Out<'w>,
    rogue: RogueLocal,
    last_sweep_secs: i64,
    now: Timestamp,
    gen: u32,
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

fn facts(f: &Flow<FlowData>, ether: Option<(crate::decode::Mac, crate::decode::Mac)>) -> FlowFacts {
    let (client, server) = endpoints(f);
    FlowFacts {
        flow_id: f.id,
        client,
        server,
        proto: f.key.proto,
        locs: (f.data.client_loc, f.data.server_loc),
        ether,
        vlan: f.key.vlan,
    }
}

/// Ends a flow: drains its streams and parser (their last records and
/// alerts are written), then writes the `flow` record.
fn end_flow(engine: &Engine, out: &mut Out<'_>, mut f: Flow<FlowData>, reason: EndReason) {
    out.stats.flows_ended[match reason {
        EndReason::Timeout => 0,
        EndReason::Forced => 1,
        EndReason::Shutdown => 2,
    }] += 1;
    let mut app_proto = None;
    if let Some(mut app) = f.data.app.take() {
        let AppFlow { streams, state, .. } = &mut *app;
        for (i, st) in streams.iter_mut().enumerate() {
            let dir = if i == 0 {
                Direction::ToServer
            } else {
                Direction::ToClient
            };
            let Out {
                events,
                stream_global,
                stats,
                ..
            } = out;
            st.flush(stream_global, &mut stats.stream, &mut |c| match c {
                Chunk::Data(d) => state.on_data(dir, d, f.last, events),
                Chunk::Gap(n) => state.on_gap(dir, u32::try_from(n).unwrap_or(u32::MAX)),
            });
            st.release(stream_global);
        }
        state.on_close(f.last, &mut out.events);
        let fx = facts(&f, None);
        if handle_events(
            engine,
            out,
            &mut app,
            &mut f.data.detect,
            &fx,
            f.last,
            None,
            None,
        ) {
            f.data.alerted = true;
        }
        app_proto = app.app_proto();
        if let Some(p) = app_proto {
            *out.stats.app_protos.entry(p).or_default() += 1;
        }
    }
    let (c, s) = endpoints(&f);
    out.eve.flow(&FlowRecord {
        flow_id: f.id,
        src_ip: c.0,
        src_port: c.1,
        dest_ip: s.0,
        dest_port: s.1,
        proto: f.key.proto,
        vlan: f.key.vlan,
        app_proto,
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

impl<'w> Worker<'w> {
    /// A worker writing to `eve`; `shards` is the number of workers (the
    /// flow capacity is split between them).
    pub fn new(
        engine: Arc<Engine>,
        eve: EveBuf<'w>,
        shards: usize,
        salt: u64,
        keep_alerts: bool,
    ) -> Self {
        let mut fcfg = engine.flow.clone();
        fcfg.max_flows = (fcfg.max_flows / shards.max(1)).max(1024);
        let defrag = Defragmenter::new(engine.defrag);
        Worker {
            flows: FlowTable::new(fcfg, salt),
            defrag,
            out: Out {
                eve,
                stats: WorkerStats::default(),
                events: Vec::with_capacity(16),
                stream_global: 0,
                kept: Vec::new(),
                keep_alerts,
                sig: SigWork {
                    state: DetectState::shared(engine.rules.tracking()),
                    ..SigWork::default()
                },
            },
            rogue: RogueLocal::default(),
            last_sweep_secs: i64::MIN,
            now: Timestamp::default(),
            gen: 0,
            engine,
        }
    }

    /// Switches to a new engine (a reload) without losing flows. Flows
    /// keep their state; their zone lookups and signature state (flowbits
    /// and counters refer to the old ruleset's numbering) are redone on
    /// their next packet, as Suricata resets a flow's detection state when
    /// the detection engine changes. The flow table keeps its size until
    /// a restart. Threshold counters and xbits are the new ruleset's
    /// shared tables: fresh, unless the ruleset took over the old one's
    /// with `Ruleset::keep_tracking`.
    pub fn set_engine(&mut self, engine: Arc<Engine>) {
        self.engine = engine;
        self.gen = self.gen.wrapping_add(1);
        self.out.sig.state = DetectState::shared(self.engine.rules.tracking());
    }

    /// Starts per-rule profiling (`replay --profile-rules`): this worker
    /// counts checks, matches and time of every rule of its engine.
    pub fn enable_rule_profiling(&mut self) {
        self.out.sig.scratch.profile =
            crate::signatures::engine::profile::RuleProfiler::new(self.engine.rules.len());
    }

    /// Takes this worker's rule profile (off and empty unless
    /// [`Worker::enable_rule_profiling`] was called).
    pub fn take_rule_profile(&mut self) -> crate::signatures::engine::profile::RuleProfiler {
        std::mem::take(&mut self.out.sig.scratch.profile)
    }

    /// The engine this worker runs.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Takes the alerts kept so far (daemon: hands them to the incident
    /// layer while the worker runs).
    pub fn take_alerts(&mut self) -> Vec<Alert> {
        std::mem::take(&mut self.out.kept)
    }

    /// Takes the rogue-device candidates found so far.
    pub fn take_rogue(&mut self) -> Vec<crate::pipeline::rogue::RogueCandidate> {
        self.rogue.take_candidates()
    }

    /// Writes buffered EVE records to the shared writer.
    pub fn flush_eve(&mut self) {
        self.out.eve.flush();
    }

    /// The counters so far (flow-table counters included).
    pub fn stats(&self) -> WorkerStats {
        let mut s = self.out.stats.clone();
        s.flow_table = self.flows.stats().clone();
        s
    }

    /// Flows in this worker's table.
    pub fn active_flows(&self) -> usize {
        self.flows.len()
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
            let engine = &*self.engine;
            let out = &mut self.out;
            self.flows
                .expire(now, &mut |f, r| end_flow(engine, out, f, r));
            self.defrag.expire(now);
        }
    }

    /// Processes one decoded packet of this worker's shard.
    pub fn process(&mut self, ts: Timestamp, pcap_cnt: u64, frame_len: usize, d: &Decoded<'_>) {
        self.advance_clock(ts);
        let st = &mut self.out.stats;
        st.packets += 1;
        st.bytes += frame_len as u64;
        for an in d.anomalies.iter() {
            *self.out.stats.anomalies.entry(an.event()).or_default() += 1;
            self.out.eve.anomaly(
                ts,
                Some(pcap_cnt),
                d.src_ip(),
                d.dst_ip(),
                d.ip_proto(),
                an.event(),
                an.layer(),
            );
        }
        if d.checksum_bad {
            // only set when validation was asked for (-k all): such a packet
            // cannot be trusted for flow state or detection, as in Suricata
            self.out.stats.invalid_checksum += 1;
            return;
        }
        if d.frag.is_some() {
            if let Some(datagram) = self.defrag.insert(ts, d) {
                self.out.stats.reassembled += 1;
                let whole = decode_reassembled(d, &datagram, &self.engine.decode);
                self.process_l3(ts, pcap_cnt, frame_len, &whole);
            }
            return;
        }
        self.process_l3(ts, pcap_cnt, frame_len, d);
    }

    fn process_l3(&mut self, ts: Timestamp, pcap_cnt: u64, frame_len: usize, d: &Decoded<'_>) {
        let st = &mut self.out.stats;
        match d.l3 {
            L3::Ipv4(_) => st.ipv4 += 1,
            L3::Ipv6(_) => st.ipv6 += 1,
            L3::Arp(_) => st.arp += 1,
            _ => st.other += 1,
        }
        if self.engine.policy.inventory.any_strict()
            && self.engine.policy.reports(PolicyKind::RogueDevice)
        {
            self.check_rogue(ts, pcap_cnt, d);
        }
        let (Some(src), Some(dst)) = (d.src_ip(), d.dst_ip()) else {
            return;
        };
        let proto = d.ip_proto().unwrap_or(0);
        let mut tcp = None;
        let (sport, dport) = match &d.l4 {
            L4::Tcp(t) => {
                self.out.stats.tcp += 1;
                tcp = Some((t.flags, t.seq, t.ack));
                (t.src_port, t.dst_port)
            }
            L4::Udp(u) => {
                self.out.stats.udp += 1;
                (u.src_port, u.dst_port)
            }
            L4::Icmp(i) => {
                self.out.stats.icmp += 1;
                // Echo request and reply share a flow keyed by the echo id.
                match i.id {
                    Some(id) => (id, id),
                    None => (0, 0),
                }
            }
            _ => (0, 0),
        };
        let tcp_flags = tcp.map(|t| t.0);
        let vlan = innermost_vlan(d).unwrap_or(0);
        let (key, src_is_lo) = FlowKey::new(
            Addr::from_ip(src),
            sport,
            Addr::from_ip(dst),
            dport,
            proto,
            vlan,
        );
        let syn_ack = flags::SYN | flags::ACK;
        let initiator_is_src = tcp_flags.is_none_or(|f| f & syn_ack != syn_ack);
        let engine = &*self.engine;
        let policy = &engine.policy;
        let out = &mut self.out;
        let look = self.flows.lookup_or_create(
            key,
            src_is_lo,
            initiator_is_src,
            ts,
            FlowData::new,
            |f, r| end_flow(engine, out, f, r),
        );
        let Some(flow) = self.flows.get_mut(look.idx) else {
            return;
        };
        if flow.data.gen != self.gen {
            flow.data.gen = self.gen;
            if !look.created {
                // reloaded: zones may have changed, rule numbering has
                let (c, s) = endpoints(flow);
                flow.data.client_loc = policy.locate(c.0);
                flow.data.server_loc = policy.locate(s.0);
                flow.data.detect = None;
            }
        }
        // Suricata flags a packet established from the flow state before
        // the packet (the handshake's last ACK is not; a FIN is).
        let tcp_before = flow.tcp.state;
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
        let ether = d.ether.map(|e| (e.src, e.dst));
        if look.created {
            let (client, server) = if look.to_server {
                (src, dst)
            } else {
                (dst, src)
            };
            let (cport, sport_) = if look.to_server {
                (sport, dport)
            } else {
                (dport, sport)
            };
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
                    let a = policy_alert(
                        engine,
                        ts,
                        Some(pcap_cnt),
                        Some(flow.id),
                        ether,
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
                    );
                    out.emit(&a);
                }
            }
            if check_flow_addresses(engine, out, ts, pcap_cnt, &facts(flow, ether)) {
                flow.data.alerted = true;
            }
        }

        // application layer: TCP through reassembly, UDP datagram by datagram
        let dir = if look.to_server {
            Direction::ToServer
        } else {
            Direction::ToClient
        };
        let payload = d.payload;
        let wants_app = matches!(proto, 6 | 17) && (!payload.is_empty() || flow.data.app.is_some());
        if wants_app {
            let fx = facts(flow, ether);
            let FlowData { app, detect, .. } = &mut flow.data;
            let app = app.get_or_insert_with(|| {
                let server_port = fx.server.1;
                let transport = if proto == 6 {
                    Transport::Tcp
                } else {
                    Transport::Udp
                };
                Box::new(AppFlow::new(AppState::with_config(
                    AppProto::Unknown,
                    transport,
                    server_port,
                    engine.app.clone(),
                )))
            });
            let AppFlow { streams, state, .. } = &mut **app;
            let Out {
                events,
                stream_global,
                stats,
                sig,
                ..
            } = out;
            // Stream inspection: the in-order bytes this packet makes
            // available in its direction.
            let collect = engine.rules.inspects_stream();
            let sw = &mut sig.scratch.stream;
            sw.begin();
            if let Some((fl, seq, ack)) = tcp {
                let i = dir.index();
                let other = 1 - i;
                let odir = if other == 0 {
                    Direction::ToServer
                } else {
                    Direction::ToClient
                };
                if fl & flags::SYN != 0 {
                    if let Some(s) = streams.get_mut(i) {
                        s.on_syn(seq);
                    }
                }
                if fl & flags::ACK != 0 {
                    if let Some(s) = streams.get_mut(other) {
                        s.on_peer_ack(ack, stream_global, &mut stats.stream, &mut |c| match c {
                            Chunk::Data(b) => state.on_data(odir, b, ts, events),
                            Chunk::Gap(n) => {
                                state.on_gap(odir, u32::try_from(n).unwrap_or(u32::MAX))
                            }
                        });
                    }
                }
                if !payload.is_empty() {
                    if let Some(s) = streams.get_mut(i) {
                        s.on_segment(
                            seq,
                            payload,
                            &engine.stream,
                            stream_global,
                            &mut stats.stream,
                            &mut |c| match c {
                                Chunk::Data(b) => {
                                    if collect {
                                        sw.data(b);
                                    }
                                    state.on_data(dir, b, ts, events)
                                }
                                Chunk::Gap(n) => {
                                    if collect {
                                        sw.gap();
                                    }
                                    state.on_gap(dir, u32::try_from(n).unwrap_or(u32::MAX))
                                }
                            },
                        );
                    }
                }
            } else if !payload.is_empty() {
                state.on_data(dir, payload, ts, events);
            }
            if !out.events.is_empty()
                && handle_events(
                    engine,
                    out,
                    app,
                    detect,
                    &fx,
                    ts,
                    Some(pcap_cnt),
                    (proto == 17).then_some(payload),
                )
            {
                flow.data.alerted = true;
            }
        }

        // signatures on the packet
        if !engine.rules.is_empty() {
            let (ttl, tos, ip_id) = match &d.l3 {
                L3::Ipv4(ip) => (ip.ttl, ip.tos, Some(ip.id)),
                L3::Ipv6(ip) => (ip.hop_limit, ip.traffic_class, None),
                _ => (0, 0, None),
            };
            let (tcp_v, icmp_v) = match &d.l4 {
                L4::Tcp(t) => (Some((t.flags, t.window, t.seq, t.ack)), None),
                L4::Icmp(i) => (None, Some((i.itype, i.icode, i.id, i.seq))),
                _ => (None, None),
            };
            // Suricata's default: a flow picked up mid-stream never counts
            // as established.
            let established = if proto == 6 {
                !flow.tcp.midstream
                    && matches!(tcp_before, TcpState::Established | TcpState::FinWait)
            } else {
                let other = usize::from(look.to_server);
                flow.pkts.get(other).copied().unwrap_or(0) > 0
            };
            let (psport, pdport) = if matches!(proto, 6 | 17 | 132) {
                (sport, dport)
            } else {
                (0, 0)
            };
            // stream_size: bytes each side sent (Suricata: next_seq - isn,
            // so the SYN counts one).
            let stream_sizes = match (proto, flow.data.app.as_ref()) {
                (6, Some(app)) if !flow.tcp.midstream => {
                    let [c, s] = &app.streams;
                    Some((c.offset() + 1, s.offset() + 1))
                }
                _ => None,
            };
            let view = PacketView {
                src,
                dst,
                sport: psport,
                dport: pdport,
                proto,
                payload: d.payload,
                ttl,
                tos,
                ip_id,
                tcp: tcp_v,
                icmp: icmp_v,
                to_server: look.to_server,
                established,
                app_proto: flow.data.app.as_ref().and_then(|a| a.app_proto()),
                // Suricata drops a transport layer it cannot decode.
                l4_valid: !d.anomalies.iter().any(|an| {
                    matches!(an.layer(), "tcp" | "udp" | "icmpv4" | "icmpv6")
                        && !an.event().contains("opt_")
                }),
                ts,
                stream_sizes,
            };
            let SigWork {
                state,
                scratch,
                hits,
            } = &mut out.sig;
            hits.clear();
            engine
                .rules
                .match_packet(&view, &mut flow.data.detect, state, scratch, hits);
            if proto == 6 && engine.rules.inspects_stream() {
                engine
                    .rules
                    .match_stream(&view, &mut flow.data.detect, state, scratch, hits);
            }
            if !hits.is_empty() {
                let hits = std::mem::take(&mut out.sig.hits);
                for h in &hits {
                    if let Some(r) = engine.rules.rule(h.rule) {
                        let mut a = signature_alert(
                            r,
                            ts,
                            Some(pcap_cnt),
                            Some(flow.id),
                            ether,
                            vlans_of(d),
                            AlertAddrs {
                                src_ip: Some(src),
                                src_port: psport,
                                dest_ip: Some(dst),
                                dest_port: pdport,
                                proto: Some(proto),
                            },
                            view.app_proto,
                        );
                        a.action = hit_action(h);
                        out.emit(&a);
                    }
                }
                flow.data.alerted = true;
                out.sig.hits = hits;
            }
        }
        self.flows
            .touch(look.idx, ts, look.to_server, frame_len, class);
    }

    /// Checks a frame's sender against the strict inventories.
    fn check_rogue(&mut self, ts: Timestamp, pcap_cnt: u64, d: &Decoded<'_>) {
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
        let Some(seg) =
            policy
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
                flow_id: None,
            },
        );
    }

    /// Writes an alert found outside the worker's own path (the cross-flow
    /// detectors), counts it and keeps it for the incident layer.
    pub fn emit_alert(&mut self, a: &Alert) {
        self.out.emit(a);
    }

    /// Ends the worker: flushes every flow (reason shutdown) and the EVE
    /// buffer, and returns its counters, rogue candidates and kept alerts.
    pub fn finish(mut self) -> (WorkerStats, RogueLocal, Vec<Alert>) {
        let engine = &*self.engine;
        let out = &mut self.out;
        self.flows.flush(|f, r| end_flow(engine, out, f, r));
        self.out.stats.flow_table = self.flows.stats().clone();
        self.out.eve.flush();
        let rogue = std::mem::take(&mut self.rogue);
        let kept = std::mem::take(&mut self.out.kept);
        (std::mem::take(&mut self.out.stats), rogue, kept)
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

/// The EVE action of a signature hit (the rule's, or its rate filter's).
pub fn hit_action(h: &Hit) -> Action {
    if h.blocked {
        Action::Blocked
    } else {
        Action::Allowed
    }
}

/// Builds the alert of a signature (packet or transaction match).
#[allow(clippy::too_many_arguments)]
pub fn signature_alert(
    r: &EngineRule,
    ts: Timestamp,
    pcap_cnt: Option<u64>,
    flow_id: Option<u64>,
    ether: Option<(crate::decode::Mac, crate::decode::Mac)>,
    vlans: Vec<u16>,
    addrs: AlertAddrs,
    app_proto: Option<&'static str>,
) -> Alert {
    Alert {
        ts,
        source: AlertSource::Signature,
        flow_id,
        pcap_cnt,
        addrs,
        ether,
        vlans,
        action: if r.blocked() {
            Action::Blocked
        } else {
            Action::Allowed
        },
        gid: r.rule.gid,
        sid: r.rule.sid,
        rev: r.rule.rev,
        signature: r.msg.clone(),
        category: r.category.clone(),
        severity: r.rule.priority,
        metadata: r.metadata.clone(),
        policy: None,
        app_proto,
        log: None,
    }
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
    let zid = |z: u16| {
        p.zone(z)
            .map(|z| z.id.clone())
            .unwrap_or_else(|| Arc::from("?"))
    };
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
            (
                Arc::from("zoneguard_severity"),
                vec![Arc::from(kind.detection_severity())],
            ),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The memory a flow costs in the table, stated in docs/performance.md:
    /// the slab entry plus the key→index map entry; application state is
    /// allocated only for flows that carry payload.
    #[test]
    fn flow_entry_size_is_bounded() {
        let slab = std::mem::size_of::<Option<Flow<FlowData>>>();
        let map = std::mem::size_of::<(FlowKey, u32)>() + 1;
        let app = std::mem::size_of::<AppFlow>();
        println!(
            "flow entry: slab {slab} B + map {map} B; app layer (when payload) {app} B + buffers"
        );
        assert!(slab + map <= 256, "flow entry grew to {} bytes", slab + map);
    }
}
