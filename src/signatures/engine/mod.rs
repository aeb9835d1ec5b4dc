//! The signature matching engine: a [`Ruleset`] compiled once from a
//! [`LoadResult`] (immutable, shared by workers in an `Arc`), matched
//! against packets ([`Ruleset::match_packet`]) and application
//! transactions ([`Ruleset::match_tx`]).
//!
//! ```text
//! LoadResult ──compile──> Ruleset
//!   packet rules: per IP protocol, direction and port group, a shift-or
//!                 filter (fdr.rs) + trie over the fast patterns (the
//!                 any-port group's share the port group's filter); rules
//!                 without one are always candidates
//!   app rules:    per application (http, dns, tls, ssh) and buffer, the same
//! packet ──prefilter──> candidates ──header, flow, flowbits, steps──> hits
//!        ──threshold / detection_filter, pass──> alerts
//! ```
//!
//! Rules the engine cannot evaluate are rejected by the loader
//! ([`support::check`]); anything else found at compile time (a pcre that
//! does not compile) is listed in [`Ruleset::unsupported`] with the reason,
//! never silently dropped. TCP payload rules also inspect the reassembled
//! stream ([`stream`]).

pub mod apptx;
mod fdr;
pub mod inspect;
mod prefilter;
pub mod profile;
pub mod state;
pub mod stream;
pub mod support;
pub mod thresholds;

use std::net::IpAddr;
use std::sync::Arc;

use self::apptx::{AppKind, TxView};
use self::inspect::{InspectScratch, Program};
pub use self::prefilter::PrefilterStats;
use self::prefilter::{sum_stats, Cands, PortGroups, Prefilter};
use self::state::{
    detection_filter_step, threshold_step, Counter, DetectState, FlowDetect, TrackKey, VarOps,
    MAX_FLOW_THRESHOLDS,
};
use self::thresholds::{CounterKind, NewAction};
pub use self::thresholds::{ThresholdApplied, ThresholdNote};
use super::buffer::Buffer;
use super::classification::Classification;
use super::header::{Action, Direction, Proto};
use super::loader::LoadResult;
use super::rule::{FlagsMode, FlowDir, FlowState, FlowbitCmd, PacketMatch, Rule, UintCmp};
use crate::time::Timestamp;

/// A rule as the engine runs it.
#[derive(Debug)]
pub struct EngineRule {
    /// The compiled rule.
    pub rule: Rule,
    /// Per-buffer programs (transforms, steps, pcre compiled).
    lists: Vec<(Buffer, Program)>,
    /// Flowbits with interned ids.
    flowbits: Vec<(FlowbitCmd, Vec<u16>, bool)>,
    /// xbits and flowints with interned ids.
    vars: VarOps,
    /// How the rule takes part in stream inspection.
    stream: stream::StreamUse,
    /// The application whose transactions the rule inspects (None: packets).
    app: Option<AppKind>,
    /// App rule inspects the response side (header matched server → client).
    to_client: bool,
    /// Application protocol the flow must have (`alert http ...` with
    /// payload content only).
    need_app_proto: Option<&'static str>,
    /// `alert.signature`.
    pub msg: Arc<str>,
    /// `alert.category` (the classtype's description, or empty).
    pub category: Arc<str>,
    /// `alert.metadata`.
    pub metadata: Vec<(Arc<str>, Vec<Arc<str>>)>,
    /// Address suppressions from threshold.config.
    suppress: Vec<thresholds::Suppress>,
    /// threshold.config `rate_filter`.
    rate: Option<thresholds::RateFilter>,
}

impl EngineRule {
    /// The application whose transactions the rule inspects.
    pub fn app(&self) -> Option<AppKind> {
        self.app
    }

    /// The rule inspects the response side (alerts go server → client).
    pub fn to_client(&self) -> bool {
        self.to_client
    }

    /// `drop` / `reject*`: EVE action "blocked".
    pub fn blocked(&self) -> bool {
        !matches!(self.rule.action, Action::Alert | Action::Pass)
    }
}

/// Packet groups by IP protocol.
const G_TCP: usize = 0;
const G_UDP: usize = 1;
const G_ICMP: usize = 2;
const G_OTHER: usize = 3;

/// A rule the engine does not run, and why.
#[derive(Debug, Clone)]
pub struct Unsupported {
    /// File of the rule.
    pub file: Arc<str>,
    /// Line of the rule.
    pub line: usize,
    /// sid.
    pub sid: u32,
    /// Why.
    pub reason: String,
}

/// The compiled, immutable ruleset.
#[derive(Debug, Default)]
pub struct Ruleset {
    rules: Vec<EngineRule>,
    packet: [PortGroups; 4],
    /// (application, buffer) → prefilter over the rules whose fast pattern
    /// is in that buffer; plus per application the rules without one.
    app: Vec<(AppKind, Option<Buffer>, Prefilter)>,
    unsupported: Vec<Unsupported>,
    /// Rules rejected by the loader.
    pub rejected: usize,
    uses_bodies: bool,
    /// Some rule reads HTTP request bodies / response bodies.
    body_sides: [bool; 2],
    /// What stream inspection needs to know of the rules.
    stream: stream::StreamInfo,
    /// Threshold / rate_filter counters and xbits, shared by the workers.
    tracking: Arc<thresholds::Tracking>,
}

/// A packet as the engine sees it.
#[derive(Debug, Clone, Copy)]
pub struct PacketView<'a> {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Source port (ICMP: 0).
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// IP protocol.
    pub proto: u8,
    /// Payload (pkt_data).
    pub payload: &'a [u8],
    /// TTL / hop limit.
    pub ttl: u8,
    /// TOS / traffic class.
    pub tos: u8,
    /// IPv4 identification.
    pub ip_id: Option<u16>,
    /// TCP (flags, window, seq, ack).
    pub tcp: Option<(u8, u16, u32, u32)>,
    /// ICMP (type, code, id, seq).
    pub icmp: Option<(u8, u8, Option<u16>, Option<u16>)>,
    /// The packet goes client → server.
    pub to_server: bool,
    /// The flow is established (TCP handshake done; UDP/other: both
    /// directions seen).
    pub established: bool,
    /// Application protocol of the flow, once detected.
    pub app_proto: Option<&'static str>,
    /// The transport header decoded (false: Suricata drops the layer, so
    /// only `ip` rules see the packet).
    pub l4_valid: bool,
    /// Packet time.
    pub ts: Timestamp,
    /// TCP: bytes each side sent so far (client, server), as
    /// `stream_size` compares them (SYN counted).
    pub stream_sizes: Option<(u64, u64)>,
}

/// A matching rule that alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    /// Index of the rule ([`Ruleset::rule`]).
    pub rule: u32,
    /// The alert's action is "blocked" (the rule's `drop` / `reject`, or
    /// a `rate_filter` with new_action drop / reject while active).
    pub blocked: bool,
}

/// Scratch space of one worker (reused, so matching does not allocate).
#[derive(Debug, Default)]
pub struct Scratch {
    cands: Cands,
    /// Transform and base64 output of the inspections.
    ins: InspectScratch,
    /// Stream data of the current packet (see [`stream`]).
    pub stream: stream::StreamScratch,
    /// Per-rule profiling of this worker (off unless replaced by
    /// [`profile::RuleProfiler::new`]).
    pub profile: profile::RuleProfiler,
}

fn action_rank(a: Action) -> u8 {
    match a {
        Action::Pass => 0,
        Action::Drop => 1,
        Action::Reject | Action::RejectSrc | Action::RejectDst | Action::RejectBoth => 2,
        Action::Alert => 3,
    }
}

/// Flowbit order: rules that only set bits before rules that read them.
fn flowbit_rank(r: &Rule) -> u8 {
    let reads = r
        .flowbits
        .iter()
        .any(|f| matches!(f.cmd, FlowbitCmd::IsSet | FlowbitCmd::IsNotSet));
    let writes = r.flowbits.iter().any(|f| {
        matches!(
            f.cmd,
            FlowbitCmd::Set | FlowbitCmd::Unset | FlowbitCmd::Toggle
        )
    });
    match (writes, reads) {
        (true, false) => 0,
        (false, false) => 1,
        (true, true) => 2,
        (false, true) => 3,
    }
}

pub(crate) fn app_name(p: super::header::AppProto) -> &'static str {
    match p.as_str() {
        "http1" => "http",
        s => s,
    }
}

fn fast_pattern(r: &Rule) -> Option<(Buffer, Vec<u8>)> {
    support::prefilter_pattern(r)
}

fn compile_pcre(p: &super::rule::Pcre) -> Result<pcre2::bytes::Regex, String> {
    let mut pat = String::with_capacity(p.pattern.len() + 8);
    if p.flags.ungreedy {
        pat.push_str("(?U)");
    }
    if p.flags.anchored {
        pat.push_str("\\G(?:");
        pat.push_str(&p.pattern);
        pat.push(')');
    } else {
        pat.push_str(&p.pattern);
    }
    pcre2::bytes::RegexBuilder::new()
        .caseless(p.flags.caseless)
        .dotall(p.flags.dotall)
        .multi_line(p.flags.multiline)
        .extended(p.flags.extended)
        .jit_if_available(true)
        .build(&pat)
        .map_err(|e| format!("pcre does not compile: {e}"))
}

impl Ruleset {
    /// An empty ruleset (matches nothing).
    pub fn empty() -> Self {
        Self::default()
    }

    /// Compiles the loaded rules. `classes` gives `alert.category`.
    pub fn compile(load: &LoadResult, classes: &Classification) -> Ruleset {
        let mut rs = Ruleset {
            rejected: load.rejected.len(),
            ..Ruleset::default()
        };
        let mut bit_names: Vec<Box<str>> = Vec::new();
        let mut var_names = state::Names::default();
        let mut order: Vec<&Rule> = load.rules.iter().collect();
        order.sort_by_key(|r| (action_rank(r.action), flowbit_rank(r), r.priority));
        for r in order {
            let unsupported = |reason: String| Unsupported {
                file: r.file.clone(),
                line: r.line,
                sid: r.sid,
                reason,
            };
            let (app, to_client) = match support::check(r) {
                Ok(v) => v,
                Err(e) => {
                    rs.unsupported.push(unsupported(e.to_string()));
                    continue;
                }
            };
            let lists = match inspect::build_programs(&r.lists, compile_pcre) {
                Ok(l) => l,
                Err(e) => {
                    rs.unsupported.push(unsupported(e));
                    continue;
                }
            };
            let vars = VarOps::new(r, &mut var_names);
            let stream = stream::StreamUse::of(r, app);
            rs.stream
                .add(stream, fast_pattern(r).map_or(0, |(_, p)| p.len()));
            let mut flowbits = Vec::new();
            for f in &r.flowbits {
                let mut ids = Vec::with_capacity(f.names.len());
                for n in &f.names {
                    let id = match bit_names.iter().position(|x| x == n) {
                        Some(i) => i,
                        None => {
                            bit_names.push(n.clone());
                            bit_names.len() - 1
                        }
                    };
                    ids.push(u16::try_from(id).unwrap_or(u16::MAX));
                }
                flowbits.push((f.cmd, ids, f.any));
            }
            if app.is_some_and(|a| a == AppKind::Http) {
                for l in &r.lists {
                    // the side the full inspection reads (`match_tx`)
                    let side = match l.buffer {
                        Buffer::HttpRequestBody => 0,
                        Buffer::HttpResponseBody => 1,
                        Buffer::FileData => usize::from(to_client),
                        _ => continue,
                    };
                    rs.uses_bodies = true;
                    if let Some(s) = rs.body_sides.get_mut(side) {
                        *s = true;
                    }
                }
            }
            let need_app_proto = match (r.proto, app) {
                (Proto::App(p), None) => Some(app_name(p)),
                _ => None,
            };
            let category = r
                .classtype
                .as_deref()
                .and_then(|c| classes.get(c))
                .map(|c| Arc::from(c.description.as_str()))
                .unwrap_or_else(|| Arc::from(""));
            let metadata = r
                .metadata_grouped()
                .into_iter()
                .map(|(k, v)| {
                    let vals = match v {
                        serde_json::Value::Array(a) => {
                            a.iter().filter_map(|x| x.as_str().map(Arc::from)).collect()
                        }
                        _ => Vec::new(),
                    };
                    (Arc::from(k.as_str()), vals)
                })
                .collect::<Vec<(Arc<str>, Vec<Arc<str>>)>>();
            let mut metadata = metadata;
            if !metadata.iter().any(|(k, _)| &**k == "taxonomy") {
                let t = taxonomy_of_classtype(r.classtype.as_deref());
                metadata.insert(0, (Arc::from("taxonomy"), vec![Arc::from(t)]));
            }
            let idx = u32::try_from(rs.rules.len()).unwrap_or(u32::MAX);
            let fp = fast_pattern(r);
            match app {
                None => {
                    let groups: &[usize] = match r.proto {
                        Proto::Ip | Proto::Ipv4 | Proto::Ipv6 => &[G_TCP, G_UDP, G_ICMP, G_OTHER],
                        Proto::Tcp | Proto::TcpPkt | Proto::TcpStream => &[G_TCP],
                        Proto::Udp => &[G_UDP],
                        Proto::Icmp | Proto::Icmpv4 | Proto::Icmpv6 => &[G_ICMP],
                        Proto::Sctp => &[G_OTHER],
                        Proto::App(_) => &[G_TCP, G_UDP],
                    };
                    for &g in groups {
                        if let Some(pg) = rs.packet.get_mut(g) {
                            let by_port = g == G_TCP || g == G_UDP;
                            pg.add(idx, fp.as_ref().map(|(_, p)| &p[..]), r, by_port);
                        }
                    }
                }
                Some(k) => {
                    let buf = fp.as_ref().map(|(b, _)| *b);
                    let pos = rs.app.iter().position(|(a, b, _)| *a == k && *b == buf);
                    let pf = match pos {
                        Some(i) => rs.app.get_mut(i).map(|(_, _, p)| p),
                        None => {
                            rs.app.push((k, buf, Prefilter::default()));
                            rs.app.last_mut().map(|(_, _, p)| p)
                        }
                    };
                    if let Some(pf) = pf {
                        pf.add(idx, fp.as_ref().map(|(_, p)| &p[..]), None);
                    }
                }
            }
            rs.rules.push(EngineRule {
                rule: r.clone(),
                lists,
                flowbits,
                vars,
                stream,
                app,
                to_client,
                need_app_proto,
                msg: Arc::from(r.msg.as_str()),
                category,
                metadata,
                suppress: Vec::new(),
                rate: None,
            });
        }
        let mut errs = Vec::new();
        for pf in rs.packet.iter_mut() {
            if let Err(e) = pf.build() {
                errs.push(e);
            }
        }
        for (_, _, pf) in rs.app.iter_mut() {
            if let Err(e) = pf.build() {
                errs.push(e);
            }
        }
        for e in errs {
            rs.unsupported.push(Unsupported {
                file: Arc::from(""),
                line: 0,
                sid: 0,
                reason: e,
            });
        }
        rs
    }

    /// Rules the engine runs.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// True when no rule is loaded.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Rules loaded but not run, with the reason.
    pub fn unsupported(&self) -> &[Unsupported] {
        &self.unsupported
    }

    /// True when some rule inspects the reassembled TCP stream: the
    /// pipeline then collects each packet's stream data into
    /// [`Scratch::stream`] and calls [`Ruleset::match_stream`].
    pub fn inspects_stream(&self) -> bool {
        self.stream.any
    }

    /// True when some rule reads HTTP bodies (they must be decompressed).
    pub fn uses_bodies(&self) -> bool {
        self.uses_bodies
    }

    /// Which HTTP bodies some rule reads: `[request, response]` (only
    /// those need decompressing; `AppConfig::decompress_sides`).
    pub fn body_sides(&self) -> [bool; 2] {
        self.body_sides
    }

    /// Sizes of the candidate stage: packet groups, then application
    /// buffers (patterns, searchers, their memory).
    pub fn prefilter_stats(&self) -> (PrefilterStats, PrefilterStats) {
        let mut packet = PrefilterStats::default();
        for g in &self.packet {
            packet.add(&g.stats());
        }
        (packet, sum_stats(self.app.iter().map(|(_, _, p)| p)))
    }

    /// The rule at `idx`.
    pub fn rule(&self, idx: u32) -> Option<&EngineRule> {
        self.rules.get(idx as usize)
    }

    /// Matches a packet; appends the alerting rules to `hits` in order.
    /// `flow` holds the flow's flowbits and by_flow counters.
    pub fn match_packet(
        &self,
        p: &PacketView<'_>,
        flow: &mut Option<Box<FlowDetect>>,
        st: &mut DetectState,
        scratch: &mut Scratch,
        hits: &mut Vec<Hit>,
    ) {
        if self.rules.is_empty() {
            return;
        }
        let g = match p.proto {
            6 => G_TCP,
            17 => G_UDP,
            1 | 58 => G_ICMP,
            _ => G_OTHER,
        };
        let Some(pf) = self.packet.get(g) else {
            return;
        };
        let inspect_payload = payload_inspected(p, flow);
        let payload = if inspect_payload { p.payload } else { &[] };
        let Scratch {
            cands,
            ins,
            profile,
            ..
        } = scratch;
        cands.clear();
        pf.candidates(
            payload,
            usize::MAX,
            p.src,
            p.dst,
            p.sport,
            p.dport,
            p.to_server,
            cands,
        );
        cands.finish();
        for &i in &cands.list {
            let Some(r) = self.rules.get(i as usize) else {
                continue;
            };
            if !r.stream.on_packet() {
                continue;
            }
            let mut check = profile.check(i);
            if !packet_header(r, p)
                || !self.packet_checks(r, p)
                || !flowbits_ok(r, flow)
                || !r.vars.check(flow, st, p.src, p.dst, p.ts)
            {
                continue;
            }
            let ok = r.lists.iter().all(|(b, prog)| match b {
                Buffer::Payload => inspect_payload && prog.run(p.payload, ins),
                _ => false,
            });
            if !ok {
                continue;
            }
            check.matched();
            if r.rule.action == Action::Pass {
                apply_flowbits(r, flow);
                hits.clear();
                return;
            }
            self.matched(i, r, flow, st, p.src, p.dst, (p.sport, p.dport), p.ts, hits);
        }
    }

    /// Matches one application transaction; appends the alerting rules.
    #[allow(clippy::too_many_arguments)]
    pub fn match_tx(
        &self,
        tx: &TxView<'_>,
        datagram: Option<&[u8]>,
        client: (IpAddr, u16),
        server: (IpAddr, u16),
        ts: Timestamp,
        flow: &mut Option<Box<FlowDetect>>,
        st: &mut DetectState,
        scratch: &mut Scratch,
        hits: &mut Vec<Hit>,
    ) {
        let kind = tx.kind();
        let Scratch {
            cands,
            ins,
            profile,
            ..
        } = scratch;
        cands.clear();
        for (k, b, pf) in &self.app {
            if *k != kind {
                continue;
            }
            pf.fixed(None, cands);
            if let (Some(b), true) = (b, pf.scans()) {
                // direction-dependent buffers are scanned on both sides
                let sides: &[bool] = if apptx::sided(*b) {
                    &[true, false]
                } else {
                    &[true]
                };
                for &side in sides {
                    tx.each(*b, side, &mut |buf| {
                        pf.scan(buf, cands);
                    });
                }
            }
        }
        cands.finish();
        for &i in &cands.list {
            let mut check = profile.check(i);
            let Some(r) = self.rules.get(i as usize) else {
                continue;
            };
            let (src, dst) = if r.to_client {
                (server, client)
            } else {
                (client, server)
            };
            if !header_addrs(&r.rule, src, dst) {
                continue;
            }
            if let Some(d) = r.rule.flow.dir {
                if (d == FlowDir::ToClient) != r.to_client {
                    continue;
                }
            }
            if r.rule.flow.state == Some(FlowState::NotEstablished) {
                continue;
            }
            if !flowbits_ok(r, flow) || !r.vars.check(flow, st, src.0, dst.0, ts) {
                continue;
            }
            let ok = r.lists.iter().all(|(b, prog)| {
                if *b == Buffer::Payload {
                    return datagram.is_some_and(|d| prog.run(d, ins));
                }
                let mut m = false;
                tx.each(*b, r.to_client, &mut |buf| {
                    if !m && prog.run(buf, ins) {
                        m = true;
                    }
                });
                m
            }) && r.rule.packet.iter().all(|pm| tx_packet_check(pm, tx));
            if !ok {
                continue;
            }
            check.matched();
            if r.rule.action == Action::Pass {
                apply_flowbits(r, flow);
                continue;
            }
            self.matched(i, r, flow, st, src.0, dst.0, (src.1, dst.1), ts, hits);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn matched(
        &self,
        i: u32,
        r: &EngineRule,
        flow: &mut Option<Box<FlowDetect>>,
        st: &mut DetectState,
        src: IpAddr,
        dst: IpAddr,
        ports: (u16, u16),
        ts: Timestamp,
        hits: &mut Vec<Hit>,
    ) {
        apply_flowbits(r, flow);
        r.vars.apply(flow, st, src, dst, ts);
        if r.rule.noalert {
            return;
        }
        if !r.suppress.is_empty() && thresholds::suppressed(&r.suppress, src, dst) {
            return;
        }
        if let Some(df) = &r.rule.detection_filter {
            let kind = (CounterKind::DetectionFilter, Some(df.seconds));
            let pass = with_counter(i, r, kind, df.track, src, dst, ts, flow, st, |c, fresh| {
                detection_filter_step(c, fresh, df, ts, ports)
            });
            if !pass {
                return;
            }
        }
        if let Some(t) = &r.rule.threshold {
            let window = (t.kind != super::rule::ThresholdKind::Backoff).then_some(t.seconds);
            let kind = (CounterKind::Threshold, window);
            let pass = with_counter(i, r, kind, t.track, src, dst, ts, flow, st, |c, fresh| {
                threshold_step(c, fresh, t, ts)
            });
            if !pass {
                return;
            }
        }
        let mut blocked = r.blocked();
        if let Some(rf) = &r.rate {
            match st.tracking.rate_step(&r.rule, rf, src, dst, ts) {
                Some(NewAction::Pass) => return,
                Some(NewAction::Alert) => blocked = false,
                Some(NewAction::Blocked) => blocked = true,
                None => {}
            }
        }
        hits.push(Hit { rule: i, blocked });
    }

    fn packet_checks(&self, r: &EngineRule, p: &PacketView<'_>) -> bool {
        r.rule.packet.iter().all(|m| packet_check(m, p))
            && flow_ok(r, p)
            && r.need_app_proto.is_none_or(|a| p.app_proto == Some(a))
    }
}

/// Runs `f` on the rule's counter of `kind` (with its window in seconds,
/// None for backoff): in the shared tracking tables, or in the flow for
/// `by_flow`.
#[allow(clippy::too_many_arguments)]
fn with_counter(
    i: u32,
    r: &EngineRule,
    kind: (CounterKind, Option<u32>),
    track: super::rule::Track,
    src: IpAddr,
    dst: IpAddr,
    ts: Timestamp,
    flow: &mut Option<Box<FlowDetect>>,
    st: &mut DetectState,
    f: impl FnOnce(&mut Counter, bool) -> bool,
) -> bool {
    let df = kind.0 == CounterKind::DetectionFilter;
    match TrackKey::of(track, src, dst) {
        Some(key) => {
            let key = thresholds::CounterKey::new(&r.rule, kind.0, key);
            st.tracking.step(key, ts, kind.1, f)
        }
        None => {
            let fd = flow.get_or_insert_with(Box::default);
            // by_flow counters of detection filters use the high bit.
            let key = if df { i | 0x8000_0000 } else { i };
            if let Some((_, c)) = fd.thresholds.iter_mut().find(|(k, _)| *k == key) {
                return f(c, false);
            }
            if fd.thresholds.len() >= MAX_FLOW_THRESHOLDS {
                fd.cap_hits = fd.cap_hits.saturating_add(1);
                return true;
            }
            let mut c = Counter::default();
            let r = f(&mut c, true);
            fd.thresholds.push((key, c));
            r
        }
    }
}

fn header_addrs(r: &Rule, src: (IpAddr, u16), dst: (IpAddr, u16)) -> bool {
    let fwd = r.src.contains(src.0)
        && r.dst.contains(dst.0)
        && r.src_ports.contains(src.1)
        && r.dst_ports.contains(dst.1);
    fwd || (r.dir == Direction::Both
        && r.src.contains(dst.0)
        && r.dst.contains(src.0)
        && r.src_ports.contains(dst.1)
        && r.dst_ports.contains(src.1))
}

fn packet_header(r: &EngineRule, p: &PacketView<'_>) -> bool {
    let proto_ok = match r.rule.proto {
        Proto::Ip => true,
        Proto::Ipv4 => p.src.is_ipv4(),
        Proto::Ipv6 => p.src.is_ipv6(),
        Proto::Tcp | Proto::TcpPkt | Proto::TcpStream => p.proto == 6,
        Proto::Udp => p.proto == 17,
        Proto::Icmp => p.proto == 1 || p.proto == 58,
        Proto::Icmpv4 => p.proto == 1,
        Proto::Icmpv6 => p.proto == 58,
        Proto::Sctp => p.proto == 132,
        Proto::App(_) => p.proto == 6 || p.proto == 17,
    } && (p.l4_valid
        || matches!(r.rule.proto, Proto::Ip | Proto::Ipv4 | Proto::Ipv6));
    // Ports only exist for TCP/UDP/SCTP; elsewhere any port list matches.
    let has_ports = matches!(p.proto, 6 | 17 | 132);
    proto_ok
        && if has_ports {
            header_addrs(&r.rule, (p.src, p.sport), (p.dst, p.dport))
        } else {
            let rr = &r.rule;
            (rr.src.contains(p.src) && rr.dst.contains(p.dst))
                || (rr.dir == Direction::Both && rr.src.contains(p.dst) && rr.dst.contains(p.src))
        }
}

/// Largest TLS record (2^14 plus expansion, RFC 5246 §6.2.3).
const MAX_TLS_RECORD: usize = 16384 + 2048;

/// Whether the packet's payload is inspected. As Suricata with its default
/// `app-layer.protocols.tls.encryption-handling: track-only`, a TLS flow's
/// payload is no longer inspected once application data flows: payload
/// rules (content, pcre, …) are not evaluated on it and the payload is not
/// scanned, while header-only rules still run. The switch happens at the
/// first TCP segment of a TLS flow that starts with an application-data
/// record header (Suricata switches when its parser meets the first such
/// record; a record that starts inside a segment is met a segment later
/// here, so zoneguard inspects at most a little more, never less).
fn payload_inspected(p: &PacketView<'_>, flow: &mut Option<Box<FlowDetect>>) -> bool {
    if flow.as_ref().is_some_and(|f| f.no_payload) {
        return false;
    }
    if p.proto == 6 && p.app_proto == Some("tls") && tls_appdata_start(p.payload) {
        flow.get_or_insert_with(Box::default).no_payload = true;
        return false;
    }
    true
}

/// The bytes start with a TLS application-data record header (type 23,
/// version 3.x, a valid length).
fn tls_appdata_start(b: &[u8]) -> bool {
    match b {
        [0x17, 0x03, minor, hi, lo, ..] if *minor <= 4 => {
            let len = usize::from(u16::from_be_bytes([*hi, *lo]));
            (1..=MAX_TLS_RECORD).contains(&len)
        }
        _ => false,
    }
}

fn flow_ok(r: &EngineRule, p: &PacketView<'_>) -> bool {
    let f = &r.rule.flow;
    if let Some(d) = f.dir {
        if (d == FlowDir::ToServer) != p.to_server {
            return false;
        }
    }
    match f.state {
        Some(FlowState::Established) => p.established,
        Some(FlowState::NotEstablished) => !p.established,
        _ => true,
    }
}

fn flowbits_ok(r: &EngineRule, flow: &Option<Box<FlowDetect>>) -> bool {
    let isset = |b: u16| flow.as_ref().is_some_and(|f| f.isset(b));
    r.flowbits.iter().all(|(cmd, ids, any)| match cmd {
        FlowbitCmd::IsSet => {
            if *any {
                ids.iter().any(|&b| isset(b))
            } else {
                ids.iter().all(|&b| isset(b))
            }
        }
        FlowbitCmd::IsNotSet => {
            if *any {
                ids.iter().any(|&b| !isset(b))
            } else {
                ids.iter().all(|&b| !isset(b))
            }
        }
        _ => true,
    })
}

fn apply_flowbits(r: &EngineRule, flow: &mut Option<Box<FlowDetect>>) {
    for (cmd, ids, _) in &r.flowbits {
        if !matches!(
            cmd,
            FlowbitCmd::Set | FlowbitCmd::Unset | FlowbitCmd::Toggle
        ) {
            continue;
        }
        let fd = flow.get_or_insert_with(Box::default);
        for &b in ids {
            match cmd {
                FlowbitCmd::Set => fd.set(b),
                FlowbitCmd::Unset => fd.unset(b),
                _ => fd.toggle(b),
            }
        }
    }
}

fn flags_match(have: u8, want: u8, ignore: u8, mode: FlagsMode) -> bool {
    let have = have & !ignore;
    match mode {
        FlagsMode::Exact => have == want,
        FlagsMode::All => have & want == want,
        FlagsMode::Any => have & want != 0,
        FlagsMode::Not => have & want == 0,
    }
}

fn packet_check(m: &PacketMatch, p: &PacketView<'_>) -> bool {
    let u = |c: &UintCmp, v: u64| c.matches(v);
    match m {
        PacketMatch::Dsize(c) => u(c, p.payload.len() as u64),
        PacketMatch::Ttl(c) => u(c, u64::from(p.ttl)),
        PacketMatch::Itype(c) => p.icmp.is_some_and(|i| u(c, u64::from(i.0))),
        PacketMatch::Icode(c) => p.icmp.is_some_and(|i| u(c, u64::from(i.1))),
        PacketMatch::IcmpId(v) => p.icmp.and_then(|i| i.2) == Some(*v),
        PacketMatch::IcmpSeq(v) => p.icmp.and_then(|i| i.3) == Some(*v),
        PacketMatch::IpProto(c) => u(c, u64::from(p.proto)),
        PacketMatch::Flags(f) => p
            .tcp
            .is_some_and(|t| flags_match(t.0, f.flags, f.ignore, f.mode)),
        PacketMatch::Window { value, negated } => {
            p.tcp.is_some_and(|t| (t.1 == *value) != *negated)
        }
        PacketMatch::SameIp => p.src == p.dst,
        PacketMatch::Id(v) => p.ip_id == Some(*v),
        PacketMatch::Tos { value, negated } => (p.tos == *value) != *negated,
        PacketMatch::Ack(v) => p.tcp.is_some_and(|t| t.3 == *v),
        PacketMatch::Seq(v) => p.tcp.is_some_and(|t| t.2 == *v),
        PacketMatch::AppLayerProtocol { name, negated } => {
            let is = p.app_proto.is_some_and(|a| a.eq_ignore_ascii_case(name));
            is != *negated
        }
        PacketMatch::StreamSize { side, cmp } => stream::stream_size(*side, *cmp, p),
        _ => false,
    }
}

fn tx_packet_check(m: &PacketMatch, tx: &TxView<'_>) -> bool {
    match m {
        PacketMatch::Urilen { cmp, raw } => tx.uri_len(*raw).is_some_and(|l| cmp.matches(l)),
        PacketMatch::AppLayerProtocol { name, negated } => tx.kind().matches_name(name) != *negated,
        _ => false,
    }
}

#[cfg(test)]
mod tests;

/// The incident category (shared/taxonomy.yaml) of a rule without its own
/// `metadata: taxonomy …`, from its Suricata classtype.
pub fn taxonomy_of_classtype(classtype: Option<&str>) -> &'static str {
    match classtype.unwrap_or("") {
        "attempted-recon"
        | "successful-recon-limited"
        | "successful-recon-largescale"
        | "network-scan" => "network_attack/scan",
        "attempted-dos" | "successful-dos" | "denial-of-service" => "network_attack/dos",
        "web-application-attack"
        | "attempted-admin"
        | "attempted-user"
        | "successful-admin"
        | "successful-user"
        | "shellcode-detect"
        | "exploit-kit"
        | "rpc-portmap-decode"
        | "suspicious-filename-detect"
        | "system-call-detect"
        | "unsuccessful-user" => "network_attack/exploit",
        "trojan-activity" => "malware/trojan",
        "command-and-control" | "domain-c2" => "malware/botnet",
        "coin-mining" | "pup-activity" | "targeted-activity" => "malware/other",
        "social-engineering" | "credential-theft" => "network_attack/phishing",
        "default-login-attempt" | "suspicious-login" => "network_attack/brute_force",
        "policy-violation" | "inappropriate-content" => "violation/other",
        "sdf" => "data_security/leakage",
        "protocol-command-decode"
        | "string-detect"
        | "unknown"
        | "non-standard-protocol"
        | "bad-unknown"
        | "misc-activity"
        | "misc-attack"
        | "tcp-connection"
        | "icmp-event"
        | "external-ip-check" => "anomaly/other",
        _ => "other/other",
    }
}
