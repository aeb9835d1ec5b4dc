//! Application layer: protocol detection and parsers for DNS, HTTP/1.x, TLS,
//! SSH, cleartext logins (FTP, Telnet, POP3, IMAP, rexec, rlogin) and SMB
//! negotiate, with Suricata-compatible EVE record bodies.
//!
//! The flow stage hands each flow's bytes here, per direction and in order
//! (TCP, in chunks of any size) or as whole datagrams (UDP). [`detect`] names
//! the protocol from content; an [`AppState`] per flow parses it and emits
//! [`AppEvent`]s, whose `write_eve` methods fill the protocol's EVE object.
//!
//! Every protocol folder has the same shape, after Suricata's `rust/src/`:
//! `parser.rs` holds pure parsers with tests beside them, `mod.rs` the
//! per-flow state and transactions, `logger.rs` the EVE output. Memory is
//! bounded per flow by [`AppConfig`]; every cap hit is counted in
//! [`AppCounters`].

pub mod buffer;
#[cfg(test)]
mod conformance_tests;
mod detect;
pub mod dns;
pub mod ftp;
pub mod http;
pub mod login;
pub mod mail;
pub mod rlogin;
pub mod smb;
pub mod ssh;
pub mod telnet;
pub mod tls;

pub use detect::{detect, Detect};

use crate::time::Timestamp;
use serde_json::{Map, Value};

/// An application protocol, named as Suricata names it in `app_proto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AppProto {
    /// Not (yet) detected.
    Unknown,
    /// Detection gave up.
    Failed,
    /// HTTP/1.x.
    Http,
    /// TLS (and SSL 3).
    Tls,
    /// SSH.
    Ssh,
    /// DNS over UDP or TCP.
    Dns,
    /// FTP control channel.
    Ftp,
    /// Telnet.
    Telnet,
    /// POP3.
    Pop3,
    /// IMAP.
    Imap,
    /// BSD rexec (port 512).
    Rexec,
    /// BSD rlogin (port 513).
    Rlogin,
    /// SMB over NetBIOS session service / direct TCP.
    Smb,
}

impl AppProto {
    /// Suricata's `app_proto` string.
    pub fn name(&self) -> &'static str {
        match self {
            AppProto::Unknown => "unknown",
            AppProto::Failed => "failed",
            AppProto::Http => "http",
            AppProto::Tls => "tls",
            AppProto::Ssh => "ssh",
            AppProto::Dns => "dns",
            AppProto::Ftp => "ftp",
            AppProto::Telnet => "telnet",
            AppProto::Pop3 => "pop3",
            AppProto::Imap => "imap",
            AppProto::Rexec => "rexec",
            AppProto::Rlogin => "rlogin",
            AppProto::Smb => "smb",
        }
    }
}

/// Direction of the bytes within a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Client to server.
    ToServer,
    /// Server to client.
    ToClient,
}

impl Direction {
    /// 0 for to-server, 1 for to-client: an index into per-direction arrays.
    pub fn index(self) -> usize {
        match self {
            Direction::ToServer => 0,
            Direction::ToClient => 1,
        }
    }
}

/// Transport the bytes came over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// In-order stream bytes.
    Tcp,
    /// Whole datagrams.
    Udp,
}

/// Per-flow memory bounds of the application layer.
#[derive(Clone, Debug)]
pub struct AppConfig {
    /// Most bytes buffered per direction while waiting for a record to complete.
    pub stream_buf_cap: usize,
    /// Most bytes of each HTTP body kept for signatures (the full length is still counted).
    pub body_keep: usize,
    /// Most bytes produced by decompressing one HTTP body; 0 keeps bodies
    /// as sent (no decompression).
    pub decompress_cap: usize,
    /// Which HTTP bodies are decompressed: `[request, response]` (a body
    /// no rule reads is kept as sent; its length is still counted).
    pub decompress_sides: [bool; 2],
    /// Most open transactions per flow (HTTP pipelining, DNS ids).
    pub max_txs: usize,
    /// Most headers kept per HTTP message.
    pub max_headers: usize,
    /// Most records kept per DNS section.
    pub max_dns_records: usize,
    /// Most bytes buffered for protocol detection per direction.
    pub detect_buf_cap: usize,
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            stream_buf_cap: 64 * 1024,
            body_keep: 16 * 1024,
            decompress_cap: 64 * 1024,
            decompress_sides: [true, true],
            max_txs: 256,
            max_headers: 64,
            max_dns_records: 64,
            detect_buf_cap: 4096,
        }
    }
}

/// Counts of every cap hit and drop in one flow's application layer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppCounters {
    /// A record did not fit the per-direction buffer and was dropped.
    pub buffer_cap_hits: u64,
    /// Transactions dropped because the per-flow table was full.
    pub tx_cap_hits: u64,
    /// Records, headers or list entries dropped by a count cap.
    pub item_cap_hits: u64,
    /// Body or decompression output truncated at its cap.
    pub body_cap_hits: u64,
    /// Malformed records skipped.
    pub parse_errors: u64,
    /// Gaps reported by reassembly.
    pub gaps: u64,
}

/// A login seen in clear text. The password itself is never kept, only
/// whether one was sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginInfo {
    /// Ftp, Telnet, Pop3, Imap, Rexec, Rlogin or Http (Basic authentication).
    pub proto: AppProto,
    /// The user name as typed (lossy UTF-8, bounded).
    pub user: String,
    /// True when a password (or equivalent secret) was sent.
    pub password_seen: bool,
    /// The server's verdict where the protocol shows one (FTP 230/530, POP3 +OK/-ERR, ...).
    pub success: Option<bool>,
}

impl LoginInfo {
    /// Writes `{"credentials": {"protocol", "user", "password", "success"?}}`;
    /// the password is always `"[redacted]"`.
    pub fn write_eve(&self, obj: &mut Map<String, Value>) {
        let mut m = Map::new();
        m.insert("protocol".into(), self.proto.name().into());
        m.insert("user".into(), self.user.clone().into());
        if self.password_seen {
            m.insert("password".into(), "[redacted]".into());
        }
        if let Some(ok) = self.success {
            m.insert("success".into(), ok.into());
        }
        obj.insert("credentials".into(), Value::Object(m));
    }
}

/// What the application layer reports for a flow.
#[derive(Clone, Debug)]
pub enum AppEvent {
    /// A DNS request or response.
    Dns(dns::DnsTransaction),
    /// A completed (or flushed) HTTP request/response pair.
    Http(Box<http::HttpTransaction>),
    /// TLS handshake details, once the handshake's cleartext part is over.
    Tls(Box<tls::TlsInfo>),
    /// SSH banners (and HASSH), once both sides are known.
    Ssh(ssh::SshInfo),
    /// A cleartext login.
    Credentials(LoginInfo),
    /// SMB negotiate: protocol version and dialect.
    Smb(smb::SmbInfo),
    /// A protocol anomaly worth an `anomaly` record (Suricata-like names).
    Anomaly(&'static str),
}

impl AppEvent {
    /// The EVE `event_type` this event is logged under.
    pub fn event_type(&self) -> &'static str {
        match self {
            AppEvent::Dns(_) => "dns",
            AppEvent::Http(_) => "http",
            AppEvent::Tls(_) => "tls",
            AppEvent::Ssh(_) => "ssh",
            AppEvent::Credentials(_) => "credentials",
            AppEvent::Smb(_) => "smb",
            AppEvent::Anomaly(_) => "anomaly",
        }
    }

    /// The record body as a fresh JSON object (`{"dns": {...}}`).
    pub fn eve_object(&self) -> Map<String, Value> {
        let mut m = Map::new();
        self.write_eve(&mut m);
        m
    }

    /// Inserts the record body under its Suricata key (`"dns"`, `"http"`, ...).
    pub fn write_eve(&self, obj: &mut Map<String, Value>) {
        match self {
            AppEvent::Dns(t) => t.write_eve(obj),
            AppEvent::Http(t) => t.write_eve(obj),
            AppEvent::Tls(t) => t.write_eve(obj),
            AppEvent::Ssh(t) => t.write_eve(obj),
            AppEvent::Credentials(t) => t.write_eve(obj),
            AppEvent::Smb(t) => t.write_eve(obj),
            AppEvent::Anomaly(name) => {
                let mut m = Map::new();
                m.insert("type".into(), "applayer".into());
                m.insert("event".into(), (*name).into());
                m.insert("layer".into(), "proto_parser".into());
                obj.insert("anomaly".into(), Value::Object(m));
            }
        }
    }
}

/// Detection in progress: the first bytes of each direction, bounded.
#[derive(Debug)]
struct Detecting {
    bufs: [Vec<u8>; 2],
    /// Order in which (direction, length) chunks arrived, for a faithful replay.
    chunks: Vec<(Direction, usize)>,
}

#[derive(Debug)]
enum Parser {
    Detecting(Box<Detecting>),
    Dns(dns::DnsState),
    Http(Box<http::HttpState>),
    Tls(Box<tls::TlsState>),
    Ssh(Box<ssh::SshState>),
    Ftp(ftp::FtpState),
    Telnet(Box<telnet::TelnetState>),
    Mail(mail::MailState),
    Rlogin(rlogin::RloginState),
    Smb(smb::SmbState),
    Inert,
}

/// Per-flow application-layer state.
#[derive(Debug)]
pub struct AppState {
    proto: AppProto,
    transport: Transport,
    dst_port: u16,
    cfg: AppConfig,
    parser: Parser,
    counters: AppCounters,
}

impl AppState {
    /// State for a flow whose protocol is `proto` (use [`AppProto::Unknown`]
    /// to let the state detect it from the first bytes).
    pub fn new(proto: AppProto, transport: Transport, dst_port: u16) -> Self {
        Self::with_config(proto, transport, dst_port, AppConfig::default())
    }

    /// As [`AppState::new`] with explicit memory bounds.
    pub fn with_config(
        proto: AppProto,
        transport: Transport,
        dst_port: u16,
        cfg: AppConfig,
    ) -> Self {
        let parser = make_parser(proto, transport, &cfg);
        AppState {
            proto,
            transport,
            dst_port,
            cfg,
            parser,
            counters: AppCounters::default(),
        }
    }

    /// The flow's protocol as known now: after a `CONNECT` tunnel, the inner
    /// one once detected (it stays `Http` if the tunnel's content is unknown).
    pub fn proto(&self) -> AppProto {
        self.proto
    }

    /// Cap hits and drops so far.
    pub fn counters(&self) -> &AppCounters {
        &self.counters
    }

    /// Feeds bytes of one direction; completed records become events in `out`.
    pub fn on_data(&mut self, dir: Direction, data: &[u8], ts: Timestamp, out: &mut Vec<AppEvent>) {
        let c = &mut self.counters;
        match &mut self.parser {
            Parser::Detecting(d) => {
                let i = dir.index();
                let Some(buf) = d.bufs.get_mut(i) else { return };
                let room = self.cfg.detect_buf_cap.saturating_sub(buf.len());
                let take = data.len().min(room);
                buf.extend_from_slice(data.get(..take).unwrap_or_default());
                d.chunks.push((dir, take));
                let (sp, dp) = (0, self.dst_port);
                let res = detect(self.transport, dir, buf, sp, dp);
                match res {
                    Detect::Found(p) => {
                        let d = std::mem::replace(&mut self.parser, Parser::Inert);
                        if let Parser::Detecting(d) = d {
                            self.switch_to(p, *d, ts, out);
                        }
                    }
                    Detect::NeedMore if take == data.len() => {}
                    Detect::NeedMore | Detect::NotFound => {
                        // inside a CONNECT tunnel the flow stays HTTP
                        if self.proto == AppProto::Unknown {
                            self.proto = AppProto::Failed;
                        }
                        self.parser = Parser::Inert;
                    }
                }
            }
            Parser::Dns(s) => s.on_data(dir, data, ts, out, c),
            Parser::Http(s) => {
                s.on_data(dir, data, ts, out, c);
                if s.tunnel_open() {
                    self.parser = Parser::Detecting(Box::new(Detecting {
                        bufs: [Vec::new(), Vec::new()],
                        chunks: Vec::new(),
                    }));
                }
            }
            Parser::Tls(s) => s.on_data(dir, data, ts, out, c),
            Parser::Ssh(s) => s.on_data(dir, data, ts, out, c),
            Parser::Ftp(s) => s.on_data(dir, data, ts, out, c),
            Parser::Telnet(s) => s.on_data(dir, data, ts, out, c),
            Parser::Mail(s) => s.on_data(dir, data, ts, out, c),
            Parser::Rlogin(s) => s.on_data(dir, data, ts, out, c),
            Parser::Smb(s) => s.on_data(dir, data, ts, out, c),
            Parser::Inert => {}
        }
    }

    /// `len` bytes of one direction are missing: parsers drop partial records
    /// and resynchronise at the next record boundary they can recognise.
    pub fn on_gap(&mut self, dir: Direction, len: u32) {
        self.counters.gaps = self.counters.gaps.saturating_add(1);
        match &mut self.parser {
            Parser::Detecting(_) => {
                if self.proto == AppProto::Unknown {
                    self.proto = AppProto::Failed;
                }
                self.parser = Parser::Inert;
            }
            Parser::Dns(s) => s.on_gap(dir),
            Parser::Http(s) => s.on_gap(dir, len),
            Parser::Tls(s) => s.on_gap(dir),
            Parser::Ssh(s) => s.on_gap(dir),
            Parser::Ftp(s) => s.on_gap(dir),
            Parser::Telnet(s) => s.on_gap(dir),
            Parser::Mail(s) => s.on_gap(dir),
            Parser::Rlogin(s) => s.on_gap(dir),
            Parser::Smb(s) => s.on_gap(dir),
            Parser::Inert => {}
        }
    }

    /// The flow ended: flushes pending transactions (an HTTP request without
    /// response, a login not yet answered, TLS details seen so far).
    pub fn on_close(&mut self, ts: Timestamp, out: &mut Vec<AppEvent>) {
        match &mut self.parser {
            Parser::Http(s) => s.on_close(ts, out),
            Parser::Tls(s) => s.on_close(ts, out),
            Parser::Ssh(s) => s.on_close(ts, out),
            Parser::Ftp(s) => s.on_close(ts, out),
            Parser::Telnet(s) => s.on_close(ts, out),
            Parser::Mail(s) => s.on_close(ts, out),
            Parser::Rlogin(s) => s.on_close(ts, out),
            Parser::Smb(s) => s.on_close(ts, out),
            Parser::Dns(_) | Parser::Detecting(_) | Parser::Inert => {}
        }
        self.parser = Parser::Inert;
    }

    fn switch_to(&mut self, p: AppProto, d: Detecting, ts: Timestamp, out: &mut Vec<AppEvent>) {
        self.proto = p;
        self.parser = make_parser(p, self.transport, &self.cfg);
        if matches!(self.parser, Parser::Detecting(_)) {
            self.parser = Parser::Inert;
            return;
        }
        // Replay the buffered bytes in arrival order.
        let mut offs = [0usize; 2];
        let Detecting { bufs, chunks } = d;
        for (dir, len) in chunks {
            let i = dir.index();
            let (Some(buf), Some(off)) = (bufs.get(i), offs.get_mut(i)) else {
                continue;
            };
            let end = off.saturating_add(len);
            if let Some(chunk) = buf.get(*off..end) {
                self.on_data(dir, chunk, ts, out);
            }
            *off = end;
        }
    }
}

fn make_parser(proto: AppProto, transport: Transport, cfg: &AppConfig) -> Parser {
    match proto {
        AppProto::Unknown => Parser::Detecting(Box::new(Detecting {
            bufs: [Vec::new(), Vec::new()],
            chunks: Vec::new(),
        })),
        AppProto::Failed => Parser::Inert,
        AppProto::Dns => Parser::Dns(dns::DnsState::new(transport, cfg)),
        AppProto::Http => Parser::Http(Box::new(http::HttpState::new(cfg))),
        AppProto::Tls => Parser::Tls(Box::new(tls::TlsState::new(cfg))),
        AppProto::Ssh => Parser::Ssh(Box::new(ssh::SshState::new(cfg))),
        AppProto::Ftp => Parser::Ftp(ftp::FtpState::new(cfg)),
        AppProto::Telnet => Parser::Telnet(Box::new(telnet::TelnetState::new(cfg))),
        AppProto::Pop3 => Parser::Mail(mail::MailState::new(mail::MailProto::Pop3, cfg)),
        AppProto::Imap => Parser::Mail(mail::MailState::new(mail::MailProto::Imap, cfg)),
        AppProto::Rexec => Parser::Rlogin(rlogin::RloginState::new(rlogin::RKind::Rexec, cfg)),
        AppProto::Rlogin => Parser::Rlogin(rlogin::RloginState::new(rlogin::RKind::Rlogin, cfg)),
        AppProto::Smb => Parser::Smb(smb::SmbState::new(cfg)),
    }
}

/// Lossy UTF-8 of at most `max` bytes: for user names and other short fields.
pub(crate) fn bounded_string(bytes: &[u8], max: usize) -> String {
    let b = bytes.get(..bytes.len().min(max)).unwrap_or_default();
    String::from_utf8_lossy(b).into_owned()
}

/// Adds one to a counter without overflow.
pub(crate) fn bump(c: &mut u64) {
    *c = c.saturating_add(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_flow_detects_then_parses_byte_by_byte() {
        let mut s = AppState::new(AppProto::Unknown, Transport::Tcp, 3128);
        let mut out = Vec::new();
        for b in b"GET /x HTTP/1.1\r\nHost: proxy.example\r\n\r\n" {
            s.on_data(Direction::ToServer, &[*b], Timestamp(0), &mut out);
        }
        for b in b"HTTP/1.1 204 No Content\r\n\r\n" {
            s.on_data(Direction::ToClient, &[*b], Timestamp(0), &mut out);
        }
        assert_eq!(s.proto(), AppProto::Http);
        assert!(
            matches!(&out[..], [AppEvent::Http(t)] if t.host.as_deref() == Some("proxy.example"))
        );
        assert_eq!(AppProto::Http.name(), "http");
        assert_eq!(out[0].event_type(), "http");
    }

    #[test]
    fn unknown_content_fails_and_stays_inert() {
        let mut s = AppState::new(AppProto::Unknown, Transport::Tcp, 9999);
        let mut out = Vec::new();
        s.on_data(
            Direction::ToServer,
            b"\x00\x01\x02\x03 binary junk here",
            Timestamp(0),
            &mut out,
        );
        assert_eq!(s.proto(), AppProto::Failed);
        s.on_data(
            Direction::ToServer,
            b"GET / HTTP/1.1\r\n\r\n",
            Timestamp(0),
            &mut out,
        );
        assert!(out.is_empty());
    }

    #[test]
    fn login_eve_redacts_password() {
        let l = LoginInfo {
            proto: AppProto::Telnet,
            user: "root".into(),
            password_seen: true,
            success: None,
        };
        let o = AppEvent::Credentials(l).eve_object();
        assert_eq!(
            serde_json::Value::Object(o),
            serde_json::json!({"credentials": {"protocol": "telnet", "user": "root", "password": "[redacted]"}})
        );
    }

    fn sample(p: usize) -> (AppProto, Vec<u8>, Vec<u8>) {
        match p % 4 {
            0 => (AppProto::Dns, dns::parser::tests::QUERY.to_vec(), dns::parser::tests::response()),
            1 => (
                AppProto::Tls,
                tls::parser::tests::client_hello_record(),
                tls::parser::tests::client_hello_record(),
            ),
            2 => (
                AppProto::Ssh,
                [&b"SSH-2.0-a\r\n"[..], &ssh::parser::tests::kexinit_packet()].concat(),
                [&b"SSH-2.0-b\r\n"[..], &ssh::parser::tests::kexinit_packet()].concat(),
            ),
            _ => (
                AppProto::Http,
                b"POST /a HTTP/1.1\r\nHost: h\r\nAuthorization: Basic YTpi\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n".to_vec(),
                b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\n\x1f\x8b\x08\x00".to_vec(),
            ),
        }
    }

    proptest::proptest! {
        #[test]
        fn mutated_samples_never_panic(
            p in 0usize..4,
            flips in proptest::collection::vec((0usize..600, proptest::num::u8::ANY), 1..8),
            split in 1usize..40,
        ) {
            let (proto, mut a, mut b) = sample(p);
            for (i, v) in flips {
                let n = a.len();
                if let Some(x) = a.get_mut(i % n.max(1)) { *x = v; }
                let n = b.len();
                if let Some(x) = b.get_mut((i / 2) % n.max(1)) { *x ^= v; }
            }
            for transport in [Transport::Tcp, Transport::Udp] {
                let mut s = AppState::new(proto, transport, 0);
                let mut out = Vec::new();
                for (x, y) in a.chunks(split).zip(b.chunks(split)) {
                    s.on_data(Direction::ToServer, x, Timestamp(0), &mut out);
                    s.on_data(Direction::ToClient, y, Timestamp(0), &mut out);
                }
                s.on_close(Timestamp(1), &mut out);
                for e in &out {
                    let _ = e.eve_object();
                }
            }
        }

        #[test]
        fn any_bytes_any_proto_never_panic(
            data in proptest::collection::vec(proptest::num::u8::ANY, 0..500),
            p in 0usize..13,
            split in 1usize..64,
            gap in proptest::option::of(0u32..100),
        ) {
            let protos = [
                AppProto::Unknown, AppProto::Http, AppProto::Tls, AppProto::Ssh, AppProto::Dns,
                AppProto::Ftp, AppProto::Telnet, AppProto::Pop3, AppProto::Imap, AppProto::Rexec,
                AppProto::Rlogin, AppProto::Smb, AppProto::Failed,
            ];
            for transport in [Transport::Tcp, Transport::Udp] {
                let mut s = AppState::new(protos[p], transport, 0);
                let mut out = Vec::new();
                for (k, c) in data.chunks(split).enumerate() {
                    let dir = if k % 2 == 0 { Direction::ToServer } else { Direction::ToClient };
                    s.on_data(dir, c, Timestamp(0), &mut out);
                    if let (Some(g), 3) = (gap, k) {
                        s.on_gap(dir, g);
                    }
                }
                s.on_close(Timestamp(1), &mut out);
                for e in &out {
                    let _ = e.eve_object();
                }
            }
        }
    }
}

#[cfg(test)]
mod size_report {
    /// Prints the fixed per-flow footprint (run with `--nocapture`); buffers
    /// grow on demand up to the `AppConfig` caps.
    #[test]
    fn per_flow_state_sizes() {
        use super::*;
        let sizes = [
            ("AppState", std::mem::size_of::<AppState>()),
            ("DnsState", std::mem::size_of::<dns::DnsState>()),
            ("HttpState", std::mem::size_of::<http::HttpState>()),
            ("TlsState", std::mem::size_of::<tls::TlsState>()),
            ("SshState", std::mem::size_of::<ssh::SshState>()),
            ("TelnetState", std::mem::size_of::<telnet::TelnetState>()),
            ("FtpState", std::mem::size_of::<ftp::FtpState>()),
        ];
        for (n, s) in sizes {
            eprintln!("{n}: {s} bytes");
        }
        assert!(std::mem::size_of::<AppState>() <= 256);
    }
}
