//! HTTP/1.0 and 1.1: per-flow state, pipelined transactions, bounded bodies
//! (Content-Length, chunked, until-close), bounded gzip/deflate decoding,
//! `CONNECT` tunnels and Basic authentication.

pub mod logger;
pub mod parser;

use super::buffer::Opaque;
use super::{
    bounded_string, bump, AppConfig, AppCounters, AppEvent, AppProto, Direction, LoginInfo,
};
use crate::time::Timestamp;
use std::collections::VecDeque;
use std::io::Read;

/// One request and (when seen) its response, as exposed to signatures.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpTransaction {
    /// Request method (`GET`).
    pub method: String,
    /// Request target as sent.
    pub uri_raw: String,
    /// Normalised request target (see [`parser::normalize_uri`]).
    pub uri: String,
    /// Request protocol (`HTTP/1.1`; empty for HTTP/0.9).
    pub protocol: String,
    /// `Host` header without port.
    pub host: Option<String>,
    /// Port given in the `Host` header, if any.
    pub host_port: Option<u16>,
    /// `User-Agent`.
    pub user_agent: Option<String>,
    /// `Referer`.
    pub referer: Option<String>,
    /// `Cookie`.
    pub cookie: Option<String>,
    /// Request `Content-Type`.
    pub request_content_type: Option<String>,
    /// User of `Authorization: Basic` (the password is never kept).
    pub basic_auth_user: Option<String>,
    /// True when that Basic credential carried a non-empty password.
    pub basic_auth_password: bool,
    /// Request headers in order (bounded).
    pub request_headers: Vec<(String, String)>,
    /// Raw request header block (without the request line), bounded.
    pub request_headers_raw: Vec<u8>,
    /// First bytes of the request body (decoded, decompressed; bounded).
    pub request_body: Vec<u8>,
    /// Full request body length on the wire.
    pub request_body_len: u64,
    /// Response status code.
    pub status: Option<u16>,
    /// Response protocol.
    pub response_protocol: Option<String>,
    /// Response reason phrase (`OK`), bounded.
    pub status_msg: Option<String>,
    /// Response `Content-Type`.
    pub content_type: Option<String>,
    /// Response `Location`.
    pub location: Option<String>,
    /// Response headers in order (bounded).
    pub response_headers: Vec<(String, String)>,
    /// Raw response header block, bounded.
    pub response_headers_raw: Vec<u8>,
    /// First bytes of the response body (decoded, decompressed; bounded).
    pub response_body: Vec<u8>,
    /// Full response body length on the wire.
    pub response_body_len: u64,
    /// Time of the request head.
    pub request_ts: Timestamp,
    /// Time the response completed.
    pub response_ts: Option<Timestamp>,
}

impl HttpTransaction {
    /// Request header names in order (for `http.header_names`).
    pub fn header_names(&self) -> impl Iterator<Item = &str> {
        self.request_headers.iter().map(|(n, _)| n.as_str())
    }

    /// First request header of that name (case-insensitive).
    pub fn request_header(&self, name: &str) -> Option<&str> {
        self.request_headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chunk {
    Size,
    Data(u64),
    DataEnd,
    Trailer,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Body {
    Length(u64),
    Chunked(Chunk),
    UntilClose,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Head,
    Body(Body),
    /// After a gap we could not skip: wait for a new message start.
    Resync,
    /// Direction abandoned (garbage or cap hit).
    Dead,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
enum Encoding {
    #[default]
    Identity,
    Gzip,
    Deflate,
}

#[derive(Debug)]
struct Side {
    phase: Phase,
    head: Opaque,
    body: Vec<u8>,
    body_len: u64,
    encoding: Encoding,
    /// Bytes of a chunk-size or trailer line being assembled.
    line: Opaque,
}

impl Side {
    fn new() -> Self {
        Side {
            phase: Phase::Head,
            head: Opaque::default(),
            body: Vec::new(),
            body_len: 0,
            encoding: Encoding::Identity,
            line: Opaque::default(),
        }
    }
}

/// Per-flow HTTP state.
#[derive(Debug)]
pub struct HttpState {
    sides: [Side; 2],
    /// Requests in flight, oldest first; `resp_idx` is the one being answered.
    txs: VecDeque<HttpTransaction>,
    /// Requests whose body is complete, counted from the front of `txs`.
    resp_idx: usize,
    head_cap: usize,
    body_keep: usize,
    decompress_cap: usize,
    /// Decompress request bodies / response bodies.
    decompress_sides: [bool; 2],
    max_txs: usize,
    max_headers: usize,
    tunnel: bool,
}

const MAX_LINE: usize = 1024;

impl HttpState {
    /// New state with the bounds of `cfg`.
    pub fn new(cfg: &AppConfig) -> Self {
        HttpState {
            sides: [Side::new(), Side::new()],
            txs: VecDeque::new(),
            resp_idx: 0,
            head_cap: cfg.stream_buf_cap,
            body_keep: cfg.body_keep,
            decompress_cap: cfg.decompress_cap,
            decompress_sides: cfg.decompress_sides,
            max_txs: cfg.max_txs,
            max_headers: cfg.max_headers,
            tunnel: false,
        }
    }

    /// True once a `CONNECT` was answered with 2xx: the rest of the flow is
    /// the tunnelled protocol.
    pub fn tunnel_open(&self) -> bool {
        self.tunnel
    }

    /// Feeds in-order bytes of one direction.
    pub fn on_data(
        &mut self,
        dir: Direction,
        mut data: &[u8],
        ts: Timestamp,
        out: &mut Vec<AppEvent>,
        c: &mut AppCounters,
    ) {
        let i = dir.index();
        while !data.is_empty() && !self.tunnel {
            let Some(side) = self.sides.get_mut(i) else {
                return;
            };
            match side.phase {
                Phase::Dead => return,
                Phase::Resync => {
                    let ok = match dir {
                        Direction::ToServer => parser::parse_request_line(
                            data.get(..data.len().min(64)).unwrap_or_default(),
                        )
                        .is_ok_and(|r| r.method.iter().all(u8::is_ascii_uppercase)),
                        Direction::ToClient => data.starts_with(b"HTTP/"),
                    };
                    if !ok {
                        return;
                    }
                    side.phase = Phase::Head;
                }
                Phase::Head => {
                    // skip blank lines between messages
                    if side.head.is_empty() {
                        let skip = data
                            .iter()
                            .take_while(|b| **b == b'\r' || **b == b'\n')
                            .count();
                        data = data.get(skip..).unwrap_or_default();
                        if data.is_empty() {
                            return;
                        }
                    }
                    let old = side.head.len();
                    let (end, from_buf) = if old == 0 {
                        match parser::find_head_end(data, 0) {
                            Some(e) => (e, false),
                            None => (0, false),
                        }
                    } else {
                        (0, true)
                    };
                    if !from_buf && end > 0 {
                        let (head, rest) = data.split_at(end);
                        data = rest;
                        self.on_head(dir, head, ts, out, c);
                        continue;
                    }
                    if side.head.len().saturating_add(data.len()) > self.head_cap {
                        bump(&mut c.buffer_cap_hits);
                        out.push(AppEvent::Anomaly("http.request_header_too_long"));
                        side.head.clear();
                        side.phase = Phase::Dead;
                        return;
                    }
                    side.head.extend_from_slice(data);
                    match parser::find_head_end(&side.head, old.saturating_sub(3)) {
                        Some(e) => {
                            let head = std::mem::take(&mut side.head);
                            let used = e.saturating_sub(old);
                            data = data.get(used..).unwrap_or_default();
                            self.on_head(dir, head.get(..e).unwrap_or_default(), ts, out, c);
                            if let Some(s) = self.sides.get_mut(i) {
                                let mut h = head;
                                h.clear();
                                s.head = h; // keep the allocation
                            }
                        }
                        None => return,
                    }
                }
                Phase::Body(b) => {
                    let used = self.on_body(dir, b, data, ts, out, c);
                    data = data.get(used..).unwrap_or_default();
                }
            }
        }
    }

    /// Parses one complete message head and sets up the body phase.
    fn on_head(
        &mut self,
        dir: Direction,
        head: &[u8],
        ts: Timestamp,
        out: &mut Vec<AppEvent>,
        c: &mut AppCounters,
    ) {
        let mut it = parser::lines(head);
        let first = it.next().unwrap_or_default();
        let hdr_start = first.len().saturating_add(1).min(head.len());
        let raw_block = head.get(hdr_start..).unwrap_or_default();
        let mut headers: Vec<(String, String)> = Vec::new();
        let mut content_length: Option<u64> = None;
        let mut chunked = false;
        let mut encoding = Encoding::Identity;
        let mut has_auth = false;
        let mut basic: Option<(String, bool)> = None;
        for line in it {
            if line.is_empty() {
                continue;
            }
            let Some((n, v)) = parser::parse_header_line(line) else {
                bump(&mut c.parse_errors);
                continue;
            };
            if n.eq_ignore_ascii_case(b"content-length") {
                content_length = std::str::from_utf8(v)
                    .ok()
                    .and_then(|s| s.trim().parse().ok());
                if content_length.is_none() {
                    out.push(AppEvent::Anomaly("http.invalid_content_length"));
                }
            } else if n.eq_ignore_ascii_case(b"transfer-encoding") {
                chunked = v.to_ascii_lowercase().windows(7).any(|w| w == b"chunked");
            } else if n.eq_ignore_ascii_case(b"content-encoding") {
                let l = v.to_ascii_lowercase();
                encoding = if l.starts_with(b"gzip") || l.starts_with(b"x-gzip") {
                    Encoding::Gzip
                } else if l.starts_with(b"deflate") {
                    Encoding::Deflate
                } else {
                    Encoding::Identity
                };
            }
            let is_auth = n.eq_ignore_ascii_case(b"authorization")
                || n.eq_ignore_ascii_case(b"proxy-authorization");
            let value = if is_auth {
                has_auth = true;
                if basic.is_none() {
                    basic = basic_credentials(v);
                }
                redact_credentials(v)
            } else {
                bounded_string(v, 8192)
            };
            if headers.len() < self.max_headers {
                headers.push((bounded_string(n, 256), value));
            } else {
                bump(&mut c.item_cap_hits);
            }
        }
        let raw_src = raw_block
            .get(..raw_block.len().min(self.head_cap))
            .unwrap_or_default();
        let raw = if has_auth {
            // never keep credentials, not even in the raw header buffer
            let mut r = Vec::with_capacity(raw_src.len());
            for line in parser::lines(raw_src) {
                match parser::parse_header_line(line) {
                    Some((n, v))
                        if n.eq_ignore_ascii_case(b"authorization")
                            || n.eq_ignore_ascii_case(b"proxy-authorization") =>
                    {
                        r.extend_from_slice(n);
                        r.extend_from_slice(b": ");
                        r.extend_from_slice(redact_credentials(v).as_bytes());
                    }
                    _ => r.extend_from_slice(line),
                }
                r.extend_from_slice(b"\r\n");
            }
            r.truncate(r.len().saturating_sub(2));
            while r.ends_with(b"\r\n") {
                r.truncate(r.len() - 2);
            }
            r
        } else {
            raw_src.to_vec()
        };
        let body = match dir {
            Direction::ToServer => {
                let Ok(rl) = parser::parse_request_line(first) else {
                    bump(&mut c.parse_errors);
                    out.push(AppEvent::Anomaly("http.request_line_invalid"));
                    if let Some(s) = self.sides.get_mut(0) {
                        s.phase = Phase::Resync;
                    }
                    return;
                };
                let mut tx = HttpTransaction {
                    method: bounded_string(rl.method, 64),
                    uri_raw: bounded_string(rl.uri, 8192),
                    uri: parser::normalize_uri(
                        rl.uri.get(..rl.uri.len().min(8192)).unwrap_or_default(),
                    ),
                    protocol: bounded_string(rl.protocol, 32),
                    request_headers_raw: raw,
                    request_ts: ts,
                    ..HttpTransaction::default()
                };
                fill_request_fields(&mut tx, &headers, basic);
                tx.request_headers = headers;
                if self.txs.len() >= self.max_txs {
                    // drop the oldest unanswered request
                    self.txs.pop_front();
                    self.resp_idx = self.resp_idx.saturating_sub(1);
                    bump(&mut c.tx_cap_hits);
                }
                self.txs.push_back(tx);
                if chunked {
                    Some(Body::Chunked(Chunk::Size))
                } else {
                    content_length.filter(|l| *l > 0).map(Body::Length)
                }
            }
            Direction::ToClient => {
                let Ok(sl) = parser::parse_status_line(first) else {
                    bump(&mut c.parse_errors);
                    out.push(AppEvent::Anomaly("http.response_line_invalid"));
                    if let Some(s) = self.sides.get_mut(1) {
                        s.phase = Phase::Resync;
                    }
                    return;
                };
                if (100..200).contains(&sl.status) && sl.status != 101 {
                    return; // interim response: the real one follows
                }
                if self.resp_idx >= self.txs.len() {
                    // response without a request seen
                    self.txs.push_back(HttpTransaction {
                        request_ts: ts,
                        ..HttpTransaction::default()
                    });
                    out.push(AppEvent::Anomaly("http.unsolicited_response"));
                }
                let Some(tx) = self.txs.get_mut(self.resp_idx) else {
                    return;
                };
                tx.status = Some(sl.status);
                tx.response_protocol = Some(bounded_string(sl.protocol, 32));
                tx.status_msg = Some(bounded_string(sl.reason, 256));
                for (n, v) in &headers {
                    if n.eq_ignore_ascii_case("content-type") {
                        let ct = v.split(';').next().unwrap_or_default().trim();
                        tx.content_type = Some(ct.to_string());
                    } else if n.eq_ignore_ascii_case("location") {
                        tx.location = Some(v.clone());
                    }
                }
                tx.response_headers = headers;
                tx.response_headers_raw = raw;
                let is_connect = tx.method.eq_ignore_ascii_case("CONNECT");
                let no_body = tx.method.eq_ignore_ascii_case("HEAD")
                    || sl.status == 204
                    || sl.status == 304
                    || (is_connect && (200..300).contains(&sl.status));
                if is_connect && (200..300).contains(&sl.status) {
                    self.tunnel = true;
                }
                if no_body {
                    None
                } else if chunked {
                    Some(Body::Chunked(Chunk::Size))
                } else {
                    match content_length {
                        Some(0) => None,
                        Some(l) => Some(Body::Length(l)),
                        None => Some(Body::UntilClose),
                    }
                }
            }
        };
        let i = dir.index();
        if let Some(side) = self.sides.get_mut(i) {
            side.body.clear();
            side.body_len = 0;
            side.encoding = encoding;
            side.line.clear();
        }
        match body {
            Some(b) => {
                if let Some(side) = self.sides.get_mut(i) {
                    side.phase = Phase::Body(b);
                }
            }
            None => self.finish(dir, ts, out, c),
        }
    }

    /// Consumes body bytes; returns how many of `data` were used.
    fn on_body(
        &mut self,
        dir: Direction,
        b: Body,
        data: &[u8],
        ts: Timestamp,
        out: &mut Vec<AppEvent>,
        c: &mut AppCounters,
    ) -> usize {
        let keep = self.body_keep;
        let Some(side) = self.sides.get_mut(dir.index()) else {
            return data.len();
        };
        let take_body = |side: &mut Side, chunk: &[u8], c: &mut AppCounters| {
            side.body_len = side.body_len.saturating_add(chunk.len() as u64);
            let room = keep.saturating_sub(side.body.len());
            if chunk.len() > room && room > 0 {
                bump(&mut c.body_cap_hits);
            }
            side.body
                .extend_from_slice(chunk.get(..chunk.len().min(room)).unwrap_or_default());
        };
        match b {
            Body::UntilClose => {
                take_body(side, data, c);
                data.len()
            }
            Body::Length(rem) => {
                let n = usize::try_from(rem).unwrap_or(usize::MAX).min(data.len());
                take_body(side, data.get(..n).unwrap_or_default(), c);
                let left = rem.saturating_sub(n as u64);
                if left == 0 {
                    self.finish(dir, ts, out, c);
                } else {
                    side.phase = Phase::Body(Body::Length(left));
                }
                n
            }
            Body::Chunked(Chunk::Data(rem)) => {
                let n = usize::try_from(rem).unwrap_or(usize::MAX).min(data.len());
                take_body(side, data.get(..n).unwrap_or_default(), c);
                let left = rem.saturating_sub(n as u64);
                side.phase = Phase::Body(Body::Chunked(if left == 0 {
                    Chunk::DataEnd
                } else {
                    Chunk::Data(left)
                }));
                n
            }
            Body::Chunked(state) => {
                // line-based states: size line, CRLF after data, trailers
                let Some(nl) = memchr::memchr(b'\n', data) else {
                    if side.line.len().saturating_add(data.len()) > MAX_LINE {
                        bump(&mut c.buffer_cap_hits);
                        out.push(AppEvent::Anomaly("http.invalid_chunk_len"));
                        side.phase = Phase::Dead;
                    } else {
                        side.line.extend_from_slice(data);
                    }
                    return data.len();
                };
                if side.line.len().saturating_add(nl) > MAX_LINE {
                    bump(&mut c.buffer_cap_hits);
                    side.phase = Phase::Dead;
                    return data.len();
                }
                side.line
                    .extend_from_slice(data.get(..nl).unwrap_or_default());
                let line = std::mem::take(&mut side.line);
                let line_t = line.strip_suffix(b"\r").unwrap_or(&line);
                match state {
                    Chunk::Size => match parser::parse_chunk_size(line_t) {
                        Ok(0) => side.phase = Phase::Body(Body::Chunked(Chunk::Trailer)),
                        Ok(n) => side.phase = Phase::Body(Body::Chunked(Chunk::Data(n))),
                        Err(_) => {
                            bump(&mut c.parse_errors);
                            out.push(AppEvent::Anomaly("http.invalid_chunk_len"));
                            side.phase = Phase::Resync;
                            self.finish(dir, ts, out, c);
                            return nl + 1;
                        }
                    },
                    Chunk::DataEnd => side.phase = Phase::Body(Body::Chunked(Chunk::Size)),
                    Chunk::Trailer => {
                        if line_t.is_empty() {
                            self.finish(dir, ts, out, c);
                        }
                    }
                    Chunk::Data(_) => {}
                }
                nl + 1
            }
        }
    }

    /// A message of `dir` is complete.
    fn finish(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        out: &mut Vec<AppEvent>,
        c: &mut AppCounters,
    ) {
        let i = dir.index();
        let (body, len, enc) = match self.sides.get_mut(i) {
            Some(s) => {
                if s.phase != Phase::Resync {
                    s.phase = Phase::Head;
                }
                (std::mem::take(&mut s.body), s.body_len, s.encoding)
            }
            None => return,
        };
        // only the sides some rule reads are decompressed
        let cap = match self.decompress_sides.get(i) {
            Some(true) => self.decompress_cap,
            _ => 0,
        };
        let body = decode(body, enc, cap, c);
        match dir {
            Direction::ToServer => {
                if let Some(tx) = self.txs.back_mut() {
                    tx.request_body = body;
                    tx.request_body_len = len;
                }
            }
            Direction::ToClient => {
                if let Some(tx) = self.txs.get_mut(self.resp_idx) {
                    tx.response_body = body;
                    tx.response_body_len = len;
                    tx.response_ts = Some(ts);
                }
                if self.resp_idx < self.txs.len() {
                    // complete: hand over the oldest transaction
                    if let Some(tx) = self.txs.remove(self.resp_idx) {
                        push_tx(tx, out);
                    }
                }
            }
        }
    }

    /// Bytes missing: skip them inside a Content-Length body, otherwise
    /// wait for the next message start.
    pub fn on_gap(&mut self, dir: Direction, len: u32) {
        let Some(side) = self.sides.get_mut(dir.index()) else {
            return;
        };
        side.head.clear();
        side.line.clear();
        match side.phase {
            Phase::Body(Body::Length(rem)) if u64::from(len) < rem => {
                side.body_len = side.body_len.saturating_add(u64::from(len));
                side.phase = Phase::Body(Body::Length(rem - u64::from(len)));
            }
            Phase::Body(Body::UntilClose) => {
                side.body_len = side.body_len.saturating_add(u64::from(len));
            }
            Phase::Dead => {}
            _ => side.phase = Phase::Resync,
        }
    }

    /// Flushes a response delimited by the close, then every request still
    /// waiting for its response.
    pub fn on_close(&mut self, ts: Timestamp, out: &mut Vec<AppEvent>) {
        let mut c = AppCounters::default();
        // A head cut short by the close (no blank line) still counts, as in
        // Suricata: parse what arrived.
        for dir in [Direction::ToServer, Direction::ToClient] {
            let head = match self.sides.get_mut(dir.index()) {
                Some(s) if s.phase == Phase::Head && !s.head.is_empty() => {
                    std::mem::take(&mut s.head)
                }
                _ => continue,
            };
            if self.tunnel {
                break;
            }
            self.on_head(dir, &head, ts, out, &mut c);
        }
        if let Some(Side {
            phase: Phase::Body(_),
            ..
        }) = self.sides.get(1)
        {
            self.finish(Direction::ToClient, ts, out, &mut c);
        }
        for tx in self.txs.drain(..) {
            push_tx(tx, out);
        }
        self.resp_idx = 0;
    }
}

/// Emits a finished transaction, preceded by its Basic-auth login (if any)
/// with the verdict the status shows: 401/403/407 failed, other final
/// statuses succeeded, no response unknown.
fn push_tx(tx: HttpTransaction, out: &mut Vec<AppEvent>) {
    if let Some(user) = &tx.basic_auth_user {
        out.push(AppEvent::Credentials(LoginInfo {
            proto: AppProto::Http,
            user: user.clone(),
            password_seen: tx.basic_auth_password,
            success: tx.status.map(|s| !matches!(s, 401 | 403 | 407)),
        }));
    }
    out.push(AppEvent::Http(Box::new(tx)));
}

/// Request fields signatures and logs use, and the Basic-auth user.
fn fill_request_fields(
    tx: &mut HttpTransaction,
    headers: &[(String, String)],
    basic: Option<(String, bool)>,
) {
    for (n, v) in headers {
        let n = n.as_str();
        if n.eq_ignore_ascii_case("host") && tx.host.is_none() {
            let (h, p) = split_host_port(v);
            tx.host = Some(h.to_ascii_lowercase());
            tx.host_port = p;
        } else if n.eq_ignore_ascii_case("user-agent") {
            tx.user_agent = Some(v.clone());
        } else if n.eq_ignore_ascii_case("referer") {
            tx.referer = Some(v.clone());
        } else if n.eq_ignore_ascii_case("cookie") {
            tx.cookie = Some(v.clone());
        } else if n.eq_ignore_ascii_case("content-type") {
            tx.request_content_type = Some(v.clone());
        }
    }
    if let Some((user, password_seen)) = basic {
        tx.basic_auth_user = Some(user);
        tx.basic_auth_password = password_seen;
    }
    if tx.method.eq_ignore_ascii_case("CONNECT") && tx.host.is_none() {
        let (h, p) = split_host_port(&tx.uri_raw);
        tx.host = Some(h.to_ascii_lowercase());
        tx.host_port = p;
    }
}

/// The user of `Basic <base64(user:password)>` and whether a password was
/// present; the password is dropped here.
fn basic_credentials(v: &[u8]) -> Option<(String, bool)> {
    let scheme_ok = v
        .get(..6)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"basic "));
    let rest = v.get(6..).filter(|_| scheme_ok)?;
    let dec = parser::base64_decode(rest.trim_ascii())?;
    let (user, pass) = match memchr::memchr(b':', &dec) {
        Some(p) => (
            dec.get(..p).unwrap_or_default(),
            dec.get(p + 1..).unwrap_or_default(),
        ),
        None => (&dec[..], &b""[..]),
    };
    Some((bounded_string(user, 256), !pass.is_empty()))
}

/// `Basic dXNlcjpwdw==` → `Basic [redacted]`.
fn redact_credentials(v: &[u8]) -> String {
    let scheme = v.split(|c| *c == b' ').next().unwrap_or_default();
    format!("{} [redacted]", bounded_string(scheme, 32))
}

/// `example.com:8080` → (`example.com`, Some(8080)); IPv6 literals kept in brackets.
fn split_host_port(v: &str) -> (&str, Option<u16>) {
    let v = v.trim();
    if let Some(end) = v.rfind(']') {
        let host = v.get(..=end).unwrap_or(v);
        let port = v
            .get(end + 1..)
            .and_then(|r| r.strip_prefix(':'))
            .and_then(|p| p.parse().ok());
        return (host, port);
    }
    match v.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, p.parse().ok()),
        _ => (v, None),
    }
}

/// Decompresses a kept body with a bound; a body cut by the keep limit
/// decodes as far as it goes.
fn decode(body: Vec<u8>, enc: Encoding, cap: usize, c: &mut AppCounters) -> Vec<u8> {
    if cap == 0 {
        // decompression switched off: nothing inspects decoded bodies
        return body;
    }
    let mut outbuf = Vec::new();
    let mut buf = [0u8; 4096];
    let mut read_all = |r: &mut dyn Read| loop {
        match r.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = cap.saturating_sub(outbuf.len());
                if n > room {
                    outbuf.extend_from_slice(buf.get(..room).unwrap_or_default());
                    bump(&mut c.body_cap_hits);
                    break;
                }
                outbuf.extend_from_slice(buf.get(..n).unwrap_or_default());
            }
        }
    };
    match enc {
        Encoding::Identity => return body,
        Encoding::Gzip => read_all(&mut flate2::read::GzDecoder::new(&body[..])),
        Encoding::Deflate => {
            // "deflate" is zlib-wrapped per the RFC, raw deflate in practice too
            if body.first().is_some_and(|b| b & 0x0f == 8) {
                read_all(&mut flate2::read::ZlibDecoder::new(&body[..]));
            } else {
                read_all(&mut flate2::read::DeflateDecoder::new(&body[..]));
            }
        }
    }
    if outbuf.is_empty() && !body.is_empty() {
        return body; // not actually compressed: keep what was sent
    }
    outbuf
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::applayer::{AppState, Transport};
    use std::io::Write;

    pub(crate) const REQ: &[u8] = b"GET /index.html?q=1 HTTP/1.1\r\nHost: www.example.com:8080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\nCookie: a=b\r\nReferer: http://x/\r\n\r\n";
    pub(crate) const RESP: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 5\r\n\r\nhello";

    fn run(chunks: &[(Direction, &[u8])], split: usize) -> Vec<AppEvent> {
        let mut s = AppState::new(AppProto::Http, Transport::Tcp, 80);
        let mut out = Vec::new();
        for (d, data) in chunks {
            for piece in data.chunks(split.max(1)) {
                s.on_data(*d, piece, Timestamp(1), &mut out);
            }
        }
        s.on_close(Timestamp(2), &mut out);
        out
    }

    fn http(ev: &[AppEvent]) -> Vec<&HttpTransaction> {
        ev.iter()
            .filter_map(|e| match e {
                AppEvent::Http(t) => Some(&**t),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn request_response() {
        let ev = run(
            &[(Direction::ToServer, REQ), (Direction::ToClient, RESP)],
            10_000,
        );
        let t = http(&ev);
        assert_eq!(t.len(), 1);
        let t = t[0];
        assert_eq!(t.method, "GET");
        assert_eq!(t.host.as_deref(), Some("www.example.com"));
        assert_eq!(t.host_port, Some(8080));
        assert_eq!(t.user_agent.as_deref(), Some("curl/8.5.0"));
        assert_eq!(t.status, Some(200));
        assert_eq!(t.content_type.as_deref(), Some("text/html"));
        assert_eq!(t.response_body, b"hello");
        assert_eq!(t.response_body_len, 5);
        assert_eq!(
            t.header_names().collect::<Vec<_>>(),
            ["Host", "User-Agent", "Accept", "Cookie", "Referer"]
        );
    }

    #[test]
    fn any_split_gives_same_events() {
        let whole = run(
            &[(Direction::ToServer, REQ), (Direction::ToClient, RESP)],
            10_000,
        );
        for split in [1, 2, 3, 7, 50] {
            let ev = run(
                &[(Direction::ToServer, REQ), (Direction::ToClient, RESP)],
                split,
            );
            assert_eq!(http(&ev), http(&whole), "split {split}");
        }
    }

    #[test]
    fn pipelining_and_chunked() {
        let reqs = [
            REQ,
            b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc".as_slice(),
        ]
        .concat();
        let resps = [
            RESP,
            b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3;x\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n".as_slice(),
        ]
        .concat();
        for split in [1, 5, 10_000] {
            let ev = run(
                &[(Direction::ToServer, &reqs), (Direction::ToClient, &resps)],
                split,
            );
            let t = http(&ev);
            assert_eq!(t.len(), 2);
            assert_eq!(t[1].method, "POST");
            assert_eq!(t[1].request_body, b"abc");
            assert_eq!(t[1].status, Some(201));
            assert_eq!(t[1].response_body, b"abcde");
            assert_eq!(t[1].response_body_len, 5);
        }
    }

    #[test]
    fn huge_content_length_stays_bounded() {
        let mut s = HttpState::new(&AppConfig::default());
        let mut c = AppCounters::default();
        let mut out = Vec::new();
        s.on_data(Direction::ToServer, REQ, Timestamp(0), &mut out, &mut c);
        s.on_data(
            Direction::ToClient,
            b"HTTP/1.1 200 OK\r\nContent-Length: 4294967296\r\n\r\n",
            Timestamp(0),
            &mut out,
            &mut c,
        );
        let block = vec![b'x'; 65536];
        for _ in 0..64 {
            s.on_data(Direction::ToClient, &block, Timestamp(0), &mut out, &mut c);
        }
        let side = &s.sides[1];
        assert!(side.body.len() <= 16 * 1024);
        assert_eq!(side.body_len, 64 * 65536);
        assert!(c.body_cap_hits >= 1);
        s.on_close(Timestamp(1), &mut out);
        let t = http(&out);
        assert_eq!(t[0].response_body_len, 64 * 65536);
    }

    #[test]
    fn only_the_sides_asked_for_are_decompressed() {
        let gz = |text: &[u8]| {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(text).unwrap();
            enc.finish().unwrap()
        };
        let (req_gz, resp_gz) = (gz(b"user=admin&pw=1' or 1=1--"), gz(b"<html>ok</html>"));
        let mut req = format!(
            "POST /login HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
            req_gz.len()
        )
        .into_bytes();
        req.extend_from_slice(&req_gz);
        let mut resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
            resp_gz.len()
        )
        .into_bytes();
        resp.extend_from_slice(&resp_gz);
        for sides in [[true, false], [false, true], [true, true], [false, false]] {
            let cfg = AppConfig {
                decompress_sides: sides,
                ..AppConfig::default()
            };
            let mut s = AppState::with_config(AppProto::Http, Transport::Tcp, 80, cfg);
            let mut out = Vec::new();
            s.on_data(Direction::ToServer, &req, Timestamp(1), &mut out);
            s.on_data(Direction::ToClient, &resp, Timestamp(1), &mut out);
            let t = http(&out);
            assert_eq!(t.len(), 1, "{sides:?}");
            let want_req: &[u8] = if sides[0] {
                b"user=admin&pw=1' or 1=1--"
            } else {
                &req_gz
            };
            let want_resp: &[u8] = if sides[1] {
                b"<html>ok</html>"
            } else {
                &resp_gz
            };
            assert_eq!(t[0].request_body, want_req, "{sides:?}");
            assert_eq!(t[0].response_body, want_resp, "{sides:?}");
            assert_eq!(t[0].response_body_len, resp_gz.len() as u64);
        }
    }

    #[test]
    fn gzip_body_decoded_with_bound() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&vec![b'A'; 1_000_000]).unwrap();
        let gz = enc.finish().unwrap();
        let mut resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
            gz.len()
        )
        .into_bytes();
        resp.extend_from_slice(&gz);
        let ev = run(
            &[(Direction::ToServer, REQ), (Direction::ToClient, &resp)],
            10_000,
        );
        let t = http(&ev);
        assert_eq!(t[0].response_body.len(), 64 * 1024);
        assert!(t[0].response_body.iter().all(|b| *b == b'A'));
        assert_eq!(t[0].response_body_len, gz.len() as u64);
    }

    #[test]
    fn basic_auth_yields_login_without_password() {
        let req = b"GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Basic YWxpY2U6czNjcjN0\r\n\r\n";
        let ev = run(&[(Direction::ToServer, req)], 3);
        let l = ev
            .iter()
            .find_map(|e| match e {
                AppEvent::Credentials(l) => Some(l),
                _ => None,
            })
            .unwrap();
        assert_eq!(
            (l.proto, l.user.as_str(), l.password_seen),
            (AppProto::Http, "alice", true)
        );
        assert!(!format!("{ev:?}").contains("s3cr3t"));
        assert!(!format!("{ev:?}").contains("YWxpY2U6czNjcjN0"));
        let t = http(&ev);
        assert_eq!(
            t[0].request_header("authorization"),
            Some("Basic [redacted]")
        );
        assert!(t[0]
            .request_headers_raw
            .ends_with(b"Authorization: Basic [redacted]"));
    }

    #[test]
    fn basic_auth_verdict_from_status() {
        let req = b"GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Basic YWxpY2U6czNjcjN0\r\n\r\n";
        let resp = b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n";
        let ev = run(
            &[(Direction::ToServer, req), (Direction::ToClient, resp)],
            5,
        );
        assert!(
            matches!(&ev[..], [AppEvent::Credentials(l), AppEvent::Http(_)] if l.success == Some(false))
        );
    }

    #[test]
    fn connect_tunnel_switches_to_tls() {
        let mut s = AppState::new(AppProto::Http, Transport::Tcp, 3128);
        let mut out = Vec::new();
        s.on_data(
            Direction::ToServer,
            b"CONNECT bad.example.org:443 HTTP/1.1\r\nHost: bad.example.org:443\r\n\r\n",
            Timestamp(0),
            &mut out,
        );
        s.on_data(
            Direction::ToClient,
            b"HTTP/1.1 200 Connection established\r\n\r\n",
            Timestamp(0),
            &mut out,
        );
        assert_eq!(http(&out)[0].host.as_deref(), Some("bad.example.org"));
        let ch = crate::applayer::tls::parser::tests::client_hello_record();
        for b in ch.chunks(7) {
            s.on_data(Direction::ToServer, b, Timestamp(1), &mut out);
        }
        s.on_close(Timestamp(2), &mut out);
        assert_eq!(s.proto(), AppProto::Tls);
        let tls = out.iter().find_map(|e| match e {
            AppEvent::Tls(t) => Some(t),
            _ => None,
        });
        assert_eq!(tls.unwrap().sni.as_deref(), Some("www.example.com"));
    }

    #[test]
    fn gap_inside_content_length_body_keeps_sync() {
        let mut s = AppState::new(AppProto::Http, Transport::Tcp, 80);
        let mut out = Vec::new();
        let resp2 = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        s.on_data(
            Direction::ToServer,
            &[REQ, REQ].concat(),
            Timestamp(0),
            &mut out,
        );
        s.on_data(
            Direction::ToClient,
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab",
            Timestamp(0),
            &mut out,
        );
        s.on_gap(Direction::ToClient, 5);
        s.on_data(Direction::ToClient, b"xyz", Timestamp(0), &mut out);
        s.on_data(Direction::ToClient, resp2, Timestamp(0), &mut out);
        let t = http(&out);
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].response_body_len, 10);
        assert_eq!(t[1].response_body, b"ok");
    }

    #[test]
    fn gap_in_headers_resyncs_on_next_message() {
        let mut s = AppState::new(AppProto::Http, Transport::Tcp, 80);
        let mut out = Vec::new();
        s.on_data(
            Direction::ToServer,
            b"GET /a HTTP/1.1\r\nHo",
            Timestamp(0),
            &mut out,
        );
        s.on_gap(Direction::ToServer, 100);
        s.on_data(
            Direction::ToServer,
            b"garbage tail\r\n\r\n",
            Timestamp(0),
            &mut out,
        );
        s.on_data(Direction::ToServer, REQ, Timestamp(0), &mut out);
        s.on_data(Direction::ToClient, RESP, Timestamp(0), &mut out);
        let t = http(&out);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].uri_raw, "/index.html?q=1");
    }

    #[test]
    fn head_cut_by_close_is_parsed() {
        let ev = run(
            &[
                (Direction::ToServer, REQ),
                (Direction::ToClient, b"HTTP/1.0 200 OK\nServer:ng1nx\r\n"),
            ],
            4,
        );
        let t = http(&ev);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].status, Some(200));
        assert_eq!(
            t[0].response_headers,
            [("Server".to_string(), "ng1nx".to_string())]
        );
    }

    #[test]
    fn garbage_request_line_is_an_anomaly() {
        let ev = run(&[(Direction::ToServer, b"\x01\x02\x03 \r\n\r\n")], 10_000);
        assert!(ev.iter().any(|e| matches!(e, AppEvent::Anomaly(_))));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_streams_never_panic(
            a in proptest::collection::vec(proptest::num::u8::ANY, 0..400),
            b in proptest::collection::vec(proptest::num::u8::ANY, 0..400),
            split in 1usize..50,
        ) {
            let mut req = REQ.to_vec();
            req.extend_from_slice(&a);
            let mut resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            resp.extend_from_slice(&b);
            let _ = run(&[(Direction::ToServer, &req), (Direction::ToClient, &resp), (Direction::ToServer, &b)], split);
        }
    }
}
