//! Stream inspection: TCP payload rules also match the reassembled
//! stream, so a content split over two segments is found, as Suricata
//! inspects its raw stream.
//!
//! For each TCP packet the pipeline collects the in-order bytes the packet
//! made available in its direction ([`StreamScratch`], per worker). The
//! engine inspects the window *last bytes of the stream before this packet*
//! ([`STREAM_TAIL`], kept per flow and direction in
//! [`FlowDetect::tails`]) + *the new bytes*. A rule alerts from the stream
//! when the window matches but neither the old tail alone (seen by an
//! earlier inspection) nor the packet payload (the packet inspection's
//! job) does: each match is reported once, by the inspection that first
//! sees all of it.
//!
//! Rule semantics ([`StreamUse`]): `flow:only_stream` and `tcp-stream`
//! rules match only the stream; `flow:no_stream`, `tcp-pkt` and rules with
//! `dsize` only packets; other TCP-capable payload rules both. Stream
//! inspection needs an established flow; data after a gap does not join
//! the data before it.

use super::apptx::AppKind;
use super::state::FlowDetect;
use super::{packet_header, DetectState, Hit, PacketView, Ruleset, Scratch, G_TCP};
use crate::signatures::buffer::Buffer;
use crate::signatures::header::Proto;
use crate::signatures::rule::{PacketMatch, Rule, StreamSide, UintCmp};

/// Bytes of each direction's stream kept per flow to join the next
/// segment: a match may start at most this far before the packet.
pub const STREAM_TAIL: usize = 512;
/// Most new stream bytes one packet contributes to the window; beyond,
/// the oldest new bytes are not stream-inspected (counted in
/// [`StreamScratch::truncated`]).
pub const MAX_STREAM_NEW: usize = 64 * 1024;

/// Per-worker collection of the current packet's stream data.
#[derive(Debug, Default)]
pub struct StreamScratch {
    new: Vec<u8>,
    gap: bool,
    win: Vec<u8>,
    prev: Vec<u32>,
    /// Bytes not stream-inspected because a packet released more than
    /// [`MAX_STREAM_NEW`] at once.
    pub truncated: u64,
}

impl StreamScratch {
    /// Starts a packet: forgets what the previous one collected.
    pub fn begin(&mut self) {
        self.new.clear();
        self.gap = false;
    }

    /// In-order bytes of the packet's direction.
    pub fn data(&mut self, b: &[u8]) {
        self.new.extend_from_slice(b);
        if self.new.len() > MAX_STREAM_NEW {
            let cut = self.new.len() - MAX_STREAM_NEW;
            self.truncated += cut as u64;
            self.new.drain(..cut);
        }
    }

    /// A gap was skipped: what came before cannot join what follows.
    pub fn gap(&mut self) {
        self.new.clear();
        self.gap = true;
    }

    /// The new bytes collected for this packet.
    pub fn new_bytes(&self) -> &[u8] {
        &self.new
    }
}

/// What stream inspection needs to know of a ruleset.
#[derive(Debug, Default, Clone, Copy)]
pub struct StreamInfo {
    /// Some rule inspects the stream.
    pub any: bool,
    /// Some rule inspects only the stream (`only_stream`, `tcp-stream`).
    pub stream_only: bool,
    /// Longest prefilter pattern of a stream rule.
    pub max_pattern: usize,
}

impl StreamInfo {
    /// Accounts for a rule with prefilter pattern length `fp_len`.
    pub fn add(&mut self, u: StreamUse, fp_len: usize) {
        if u.stream {
            self.any = true;
            self.stream_only |= !u.packet;
            self.max_pattern = self.max_pattern.max(fp_len);
        }
    }
}

/// How a rule takes part in packet and stream inspection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamUse {
    packet: bool,
    stream: bool,
}

impl StreamUse {
    /// The inspection modes of `r` (an app rule: packets/transactions only).
    pub fn of(r: &Rule, app: Option<AppKind>) -> Self {
        if app.is_some() {
            return Self {
                packet: true,
                stream: false,
            };
        }
        let tcp_capable = matches!(
            r.proto,
            Proto::Tcp | Proto::TcpStream | Proto::App(_) | Proto::Ip | Proto::Ipv4 | Proto::Ipv6
        );
        let payload = r
            .lists
            .iter()
            .any(|l| l.buffer == Buffer::Payload && !l.matches.is_empty());
        let packet_only = r.proto == Proto::TcpPkt
            || r.flow.stream == Some(false)
            || r.packet.iter().any(|p| matches!(p, PacketMatch::Dsize(_)));
        let stream_only = r.proto == Proto::TcpStream || r.flow.stream == Some(true);
        Self {
            packet: !stream_only,
            stream: tcp_capable && payload && !packet_only,
        }
    }

    /// The rule is matched against packets.
    pub fn on_packet(self) -> bool {
        self.packet
    }

    /// The rule is matched against the reassembled stream.
    pub fn on_stream(self) -> bool {
        self.stream
    }
}

/// `stream_size`: bytes sent by the side(s), as in the packet view.
pub fn stream_size(side: StreamSide, cmp: UintCmp, p: &PacketView<'_>) -> bool {
    let Some((c, s)) = p.stream_sizes else {
        return false;
    };
    match side {
        StreamSide::Client => cmp.matches(c),
        StreamSide::Server => cmp.matches(s),
        StreamSide::Both => cmp.matches(c) && cmp.matches(s),
        StreamSide::Either => cmp.matches(c) || cmp.matches(s),
    }
}

impl Ruleset {
    /// Matches the stream data the packet `p` made available (collected
    /// in `scratch.stream` by the pipeline) against the stream rules,
    /// appending alerting rules to `hits` (after the packet's own hits),
    /// then keeps the stream's last bytes in `flow` for the next packet.
    /// Call it right after [`Ruleset::match_packet`] for the same packet
    /// and scratch: it reuses that call's prefilter candidates.
    pub fn match_stream(
        &self,
        p: &PacketView<'_>,
        flow: &mut Option<Box<FlowDetect>>,
        st: &mut DetectState,
        scratch: &mut Scratch,
        hits: &mut Vec<Hit>,
    ) {
        if !self.stream.any || p.proto != 6 {
            scratch.stream.begin();
            return;
        }
        let dir = usize::from(!p.to_server);
        let gap = scratch.stream.gap;
        if scratch.stream.new.is_empty() {
            if gap {
                if let Some(f) = flow.as_mut() {
                    if let Some(t) = f.tails.get_mut(dir) {
                        t.clear();
                    }
                    if let Some(t) = f.tail_cands.get_mut(dir) {
                        t.set(&[]);
                    }
                }
            }
            scratch.stream.begin();
            return;
        }
        if p.established && !gap && self.in_order_known_tail(p, flow, st, scratch, hits) {
            scratch.stream.begin();
            return;
        }
        let mut win = std::mem::take(&mut scratch.stream.win);
        win.clear();
        if !gap {
            if let Some(t) = flow.as_ref().and_then(|f| f.tails.get(dir)) {
                win.extend_from_slice(t);
            }
        }
        let old = win.len();
        win.extend_from_slice(&scratch.stream.new);
        if p.established {
            self.inspect_window(p, &win, old, flow, st, scratch, hits);
        } else if let Some(t) = flow.as_mut().and_then(|f| f.tail_cands.get_mut(dir)) {
            t.forget();
        }
        let fd = flow.get_or_insert_with(Box::default);
        if let Some(t) = fd.tails.get_mut(dir) {
            let from = win.len().saturating_sub(STREAM_TAIL);
            t.clear();
            t.extend_from_slice(win.get(from..).unwrap_or_default());
        }
        scratch.stream.win = win;
        scratch.stream.begin();
    }

    /// The common case, cheaply: an in-order segment of an established flow
    /// whose tail's candidates are known. Only the bytes where a pattern
    /// can cross from the tail into the segment are scanned, and the window
    /// (tail + segment) is built only when some candidate must run over it.
    /// Returns false, having changed nothing, when the case does not apply.
    fn in_order_known_tail(
        &self,
        p: &PacketView<'_>,
        flow: &mut Option<Box<FlowDetect>>,
        st: &mut DetectState,
        scratch: &mut Scratch,
        hits: &mut Vec<Hit>,
    ) -> bool {
        let Some(pf) = self.packet.get(G_TCP) else {
            return false;
        };
        let dir = usize::from(!p.to_server);
        let Some(fd) = flow.as_deref() else {
            return false;
        };
        let (Some(tail), Some(tc)) = (fd.tails.get(dir), fd.tail_cands.get(dir)) else {
            return false;
        };
        let new_len = scratch.stream.new.len();
        if fd.no_payload || !tc.known || tail.is_empty() || scratch.stream.new[..] != *p.payload {
            return false;
        }
        let old = tail.len();
        let reach = self.stream.max_pattern.saturating_sub(1);
        let from = old.saturating_sub(reach);
        let mut edge = std::mem::take(&mut scratch.stream.win);
        edge.clear();
        edge.extend_from_slice(tail.get(from..).unwrap_or_default());
        edge.extend_from_slice(
            scratch
                .stream
                .new
                .get(..reach.min(new_len))
                .unwrap_or_default(),
        );
        // candidates: the packet's, the tail's, and those crossing over
        std::mem::swap(&mut scratch.cands.list, &mut scratch.stream.prev);
        scratch.cands.clear();
        for &r in scratch.stream.prev.iter().chain(&tc.rules) {
            scratch.cands.push(r);
        }
        pf.candidates(
            &edge,
            old - from,
            p.src,
            p.dst,
            p.sport,
            p.dport,
            p.to_server,
            &mut scratch.cands,
        );
        scratch.cands.finish();
        let cand = std::mem::take(&mut scratch.cands.list);
        let needed = cand.iter().any(|&i| {
            self.rules
                .get(i as usize)
                .is_some_and(|r| r.stream.on_stream())
                && !hits.iter().any(|h| h.rule == i)
        });
        if needed {
            edge.clear();
            edge.extend_from_slice(tail);
            edge.extend_from_slice(&scratch.stream.new);
            self.eval_window(p, &edge, old, &cand, flow, st, scratch, hits);
        }
        let fd = flow.get_or_insert_with(Box::default);
        let next: &[u32] = if new_len >= STREAM_TAIL {
            &scratch.stream.prev
        } else {
            &cand
        };
        if let Some(t) = fd.tail_cands.get_mut(dir) {
            t.set(next);
        }
        if let Some(t) = fd.tails.get_mut(dir) {
            let new = &scratch.stream.new;
            if new_len >= STREAM_TAIL {
                t.clear();
                t.extend_from_slice(new.get(new_len - STREAM_TAIL..).unwrap_or_default());
            } else {
                let drop = (t.len() + new_len).saturating_sub(STREAM_TAIL);
                t.drain(..drop.min(t.len()));
                t.extend_from_slice(new);
            }
        }
        scratch.cands.list = cand;
        scratch.stream.win = edge;
        true
    }

    #[allow(clippy::too_many_arguments)]
    fn inspect_window(
        &self,
        p: &PacketView<'_>,
        win: &[u8],
        old: usize,
        flow: &mut Option<Box<FlowDetect>>,
        st: &mut DetectState,
        scratch: &mut Scratch,
        hits: &mut Vec<Hit>,
    ) {
        let Some(pf) = self.packet.get(G_TCP) else {
            return;
        };
        // TLS application data: the flow's payload is no longer inspected
        // (Suricata's encryption-handling track-only), streams included
        if flow.as_ref().is_some_and(|f| f.no_payload) {
            return;
        }
        // In order (the new bytes are this packet's payload): every match
        // inside them was the packet inspection's, so with no old bytes
        // only stream-only rules can add anything, and the candidates are
        // the packet's (its fast patterns are in the payload) plus those
        // whose pattern lies in the old bytes (the tail's candidates, kept
        // from the previous segment, or a scan of the tail) or crosses
        // into the new ones (a scan of the last `max_pattern - 1` old
        // bytes, for patterns starting there).
        let dir = usize::from(!p.to_server);
        let in_order = win.get(old..) == Some(p.payload);
        if in_order && old == 0 && !self.stream.stream_only {
            // the next tail lies in this payload: the packet's candidates
            let fd = flow.get_or_insert_with(Box::default);
            if let Some(t) = fd.tail_cands.get_mut(dir) {
                t.set(&scratch.cands.list);
            }
            return;
        }
        let mut view = *p;
        // The packet's candidates move to `prev` (both vectors keep their
        // capacity: no allocation per packet).
        std::mem::swap(&mut scratch.cands.list, &mut scratch.stream.prev);
        scratch.cands.clear();
        let mut starts_before = usize::MAX;
        if in_order {
            let prev = std::mem::take(&mut scratch.stream.prev);
            for &r in &prev {
                scratch.cands.push(r);
            }
            scratch.stream.prev = prev;
            let reach = self.stream.max_pattern.saturating_sub(1);
            let end = old.saturating_add(reach).min(win.len());
            let tail = flow
                .as_ref()
                .and_then(|f| f.tail_cands.get(dir))
                .filter(|t| t.known && old > 0);
            let from = match tail {
                Some(t) => {
                    for &r in &t.rules {
                        scratch.cands.push(r);
                    }
                    let from = old.saturating_sub(reach);
                    starts_before = old - from;
                    from
                }
                None => 0,
            };
            view.payload = win.get(from..end).unwrap_or(win);
        } else {
            view.payload = win;
        }
        pf.candidates(
            view.payload,
            starts_before,
            view.src,
            view.dst,
            view.sport,
            view.dport,
            view.to_server,
            &mut scratch.cands,
        );
        scratch.cands.finish();
        let cand = std::mem::take(&mut scratch.cands.list);
        self.eval_window(p, win, old, &cand, flow, st, scratch, hits);
        // The candidates of the next tail (the last STREAM_TAIL bytes of
        // this window): the packet's when they lie in its payload, else
        // this window's.
        let next: &[u32] = if in_order && win.len() - old >= STREAM_TAIL {
            &scratch.stream.prev
        } else {
            &cand
        };
        if let Some(t) = flow
            .get_or_insert_with(Box::default)
            .tail_cands
            .get_mut(dir)
        {
            t.set(next);
        }
        scratch.cands.list = cand;
    }
    /// Runs the stream candidates `cand` over the window `win` (the old
    /// bytes `win[..old]`, then this packet's): a rule alerts when the
    /// window matches but neither the old bytes alone nor the packet did.
    #[allow(clippy::too_many_arguments)]
    fn eval_window(
        &self,
        p: &PacketView<'_>,
        win: &[u8],
        old: usize,
        cand: &[u32],
        flow: &mut Option<Box<FlowDetect>>,
        st: &mut DetectState,
        scratch: &mut Scratch,
        hits: &mut Vec<Hit>,
    ) {
        let mut view = *p;
        view.payload = win;
        let tail = win.get(..old).unwrap_or_default();
        for &i in cand {
            let Some(r) = self.rules.get(i as usize) else {
                continue;
            };
            if !r.stream.on_stream() || hits.iter().any(|h| h.rule == i) {
                continue;
            }
            let mut check = scratch.profile.check(i);
            if !packet_header(r, &view)
                || !self.packet_checks(r, &view)
                || !super::flowbits_ok(r, flow)
                || !r.vars.check(flow, st, p.src, p.dst, p.ts)
            {
                continue;
            }
            let ins = &mut scratch.ins;
            let mut all = |buf: &[u8]| {
                r.lists
                    .iter()
                    .all(|(b, prog)| *b == Buffer::Payload && prog.run(buf, ins))
            };
            if !all(win) || (old > 0 && all(tail)) || (r.stream.on_packet() && all(p.payload)) {
                continue;
            }
            check.matched();
            if r.rule.action == crate::signatures::header::Action::Pass {
                super::apply_flowbits(r, flow);
                hits.clear();
                break;
            }
            self.matched(i, r, flow, st, p.src, p.dst, (p.sport, p.dport), p.ts, hits);
        }
    }
}
