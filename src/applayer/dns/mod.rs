//! DNS over UDP and TCP: per-flow state and transactions. A query and its
//! response are matched by id in a bounded table; both are reported (as
//! Suricata logs both `type: request` and `type: response`).

pub mod logger;
pub mod parser;

use super::buffer::StreamBuf;
use super::{bump, AppConfig, AppCounters, AppEvent, Direction, Transport};
use crate::time::Timestamp;
use parser::{DnsHeader, DnsQuery, DnsRecord};
use rustc_hash::FxHashMap;

/// Request or response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DnsTxType {
    /// A query (QR = 0).
    Request,
    /// A response (QR = 1).
    Response,
}

/// One DNS message as a transaction record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsTransaction {
    /// Request or response.
    pub tx_type: DnsTxType,
    /// Header (id, flags, counts).
    pub header: DnsHeader,
    /// Questions.
    pub queries: Vec<DnsQuery>,
    /// Answers.
    pub answers: Vec<DnsRecord>,
    /// Authorities.
    pub authorities: Vec<DnsRecord>,
    /// Additionals (EDNS OPT among them).
    pub additionals: Vec<DnsRecord>,
    /// Time of the message.
    pub ts: Timestamp,
    /// For a response: the time of the matching request, if one was seen.
    pub request_ts: Option<Timestamp>,
}

/// Per-flow DNS state.
#[derive(Debug)]
pub struct DnsState {
    transport: Transport,
    bufs: [StreamBuf; 2],
    pending: FxHashMap<u16, Timestamp>,
    max_txs: usize,
    max_records: usize,
    /// Responses seen with no matching request.
    pub unmatched_responses: u64,
}

impl DnsState {
    /// New state for a flow over `transport`.
    pub fn new(transport: Transport, cfg: &AppConfig) -> Self {
        DnsState {
            transport,
            bufs: [
                StreamBuf::new(cfg.stream_buf_cap.min(65_537)),
                StreamBuf::new(cfg.stream_buf_cap.min(65_537)),
            ],
            pending: FxHashMap::default(),
            max_txs: cfg.max_txs,
            max_records: cfg.max_dns_records,
            unmatched_responses: 0,
        }
    }

    /// Feeds a datagram (UDP) or stream bytes (TCP).
    pub fn on_data(
        &mut self,
        dir: Direction,
        data: &[u8],
        ts: Timestamp,
        out: &mut Vec<AppEvent>,
        c: &mut AppCounters,
    ) {
        match self.transport {
            Transport::Udp => self.message(data, ts, out, c),
            Transport::Tcp => {
                let Some(buf) = self.bufs.get_mut(dir.index()) else {
                    return;
                };
                // The buffer and the transaction table are separate borrows.
                let pending = &mut self.pending;
                let (max_txs, max_records) = (self.max_txs, self.max_records);
                let mut unmatched = 0u64;
                let r = buf.feed(data, |d| {
                    let mut off = 0usize;
                    while let Some([hi, lo]) = d.get(off..off + 2) {
                        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
                        let Some(m) = d.get(off + 2..off + 2 + len) else {
                            break;
                        };
                        handle(m, ts, out, c, pending, max_txs, max_records, &mut unmatched);
                        off += 2 + len;
                    }
                    off
                });
                self.unmatched_responses = self.unmatched_responses.saturating_add(unmatched);
                if r.is_err() {
                    bump(&mut c.buffer_cap_hits);
                }
            }
        }
    }

    fn message(&mut self, m: &[u8], ts: Timestamp, out: &mut Vec<AppEvent>, c: &mut AppCounters) {
        let mut unmatched = 0u64;
        handle(
            m,
            ts,
            out,
            c,
            &mut self.pending,
            self.max_txs,
            self.max_records,
            &mut unmatched,
        );
        self.unmatched_responses = self.unmatched_responses.saturating_add(unmatched);
    }

    /// A gap: drop the partial record; TCP DNS cannot resync inside a stream.
    pub fn on_gap(&mut self, dir: Direction) {
        if let Some(b) = self.bufs.get_mut(dir.index()) {
            b.clear();
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn handle(
    m: &[u8],
    ts: Timestamp,
    out: &mut Vec<AppEvent>,
    c: &mut AppCounters,
    pending: &mut FxHashMap<u16, Timestamp>,
    max_txs: usize,
    max_records: usize,
    unmatched: &mut u64,
) {
    let msg = match parser::parse_message(m, max_records) {
        Ok(msg) => msg,
        Err(_) => {
            bump(&mut c.parse_errors);
            out.push(AppEvent::Anomaly("dns.malformed_data"));
            return;
        }
    };
    if msg.dropped_records > 0 {
        c.item_cap_hits = c
            .item_cap_hits
            .saturating_add(u64::from(msg.dropped_records));
    }
    let id = msg.header.id;
    let (tx_type, request_ts) = if msg.header.qr() {
        let r = pending.remove(&id);
        if r.is_none() {
            *unmatched = unmatched.saturating_add(1);
        }
        (DnsTxType::Response, r)
    } else {
        if pending.len() >= max_txs && !pending.contains_key(&id) {
            // Evict the oldest outstanding query.
            if let Some((&old, _)) = pending.iter().min_by_key(|(_, t)| **t) {
                pending.remove(&old);
            }
            bump(&mut c.tx_cap_hits);
        }
        pending.insert(id, ts);
        (DnsTxType::Request, None)
    };
    out.push(AppEvent::Dns(DnsTransaction {
        tx_type,
        header: msg.header,
        queries: msg.queries,
        answers: msg.answers,
        authorities: msg.authorities,
        additionals: msg.additionals,
        ts,
        request_ts,
    }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::applayer::{AppProto, AppState};

    fn dns_events(out: &[AppEvent]) -> Vec<&DnsTransaction> {
        out.iter()
            .filter_map(|e| match e {
                AppEvent::Dns(t) => Some(t),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn udp_request_and_matched_response() {
        let mut s = AppState::new(AppProto::Dns, Transport::Udp, 53);
        let mut out = Vec::new();
        s.on_data(
            Direction::ToServer,
            parser::tests::QUERY,
            Timestamp(1),
            &mut out,
        );
        s.on_data(
            Direction::ToClient,
            &parser::tests::response(),
            Timestamp(2),
            &mut out,
        );
        let ev = dns_events(&out);
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[0].tx_type, DnsTxType::Request);
        assert_eq!(ev[1].tx_type, DnsTxType::Response);
        assert_eq!(ev[1].request_ts, Some(Timestamp(1)));
    }

    #[test]
    fn tcp_byte_by_byte_equals_whole() {
        let mut stream = Vec::new();
        for m in [parser::tests::QUERY.to_vec(), parser::tests::QUERY.to_vec()] {
            stream.extend_from_slice(&(m.len() as u16).to_be_bytes());
            stream.extend_from_slice(&m);
        }
        let mut whole = AppState::new(AppProto::Dns, Transport::Tcp, 53);
        let mut a = Vec::new();
        whole.on_data(Direction::ToServer, &stream, Timestamp(1), &mut a);
        let mut bytes = AppState::new(AppProto::Dns, Transport::Tcp, 53);
        let mut b = Vec::new();
        for x in stream.chunks(1) {
            bytes.on_data(Direction::ToServer, x, Timestamp(1), &mut b);
        }
        assert_eq!(dns_events(&a).len(), 2);
        assert_eq!(dns_events(&a), dns_events(&b));
    }

    #[test]
    fn pending_table_is_bounded() {
        let cfg = AppConfig {
            max_txs: 4,
            ..AppConfig::default()
        };
        let mut s = DnsState::new(Transport::Udp, &cfg);
        let mut c = AppCounters::default();
        let mut out = Vec::new();
        for id in 0u16..10 {
            let mut q = parser::tests::QUERY.to_vec();
            q[..2].copy_from_slice(&id.to_be_bytes());
            s.on_data(
                Direction::ToServer,
                &q,
                Timestamp(i64::from(id)),
                &mut out,
                &mut c,
            );
        }
        assert_eq!(s.pending.len(), 4);
        assert_eq!(c.tx_cap_hits, 6);
    }

    #[test]
    fn malformed_is_counted() {
        let mut s = DnsState::new(Transport::Udp, &AppConfig::default());
        let mut c = AppCounters::default();
        let mut out = Vec::new();
        s.on_data(
            Direction::ToServer,
            b"\x00\x01\x01",
            Timestamp(0),
            &mut out,
            &mut c,
        );
        assert_eq!(c.parse_errors, 1);
    }
}
