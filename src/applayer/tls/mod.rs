//! TLS: per-flow state. Records are reassembled across TCP segments and
//! handshake messages across records (both bounded); the ClientHello,
//! ServerHello and (TLS ≤ 1.2) the server certificate are parsed, and one
//! [`TlsInfo`] is emitted when the cleartext part of the handshake is over.

pub mod logger;
pub mod parser;
pub mod x509;

use super::buffer::StreamBuf;
use super::{bump, AppConfig, AppCounters, AppEvent, Direction};
use crate::time::Timestamp;
use nom::multi::length_data;
use nom::number::complete::be_u24;
use parser::content;

/// A fingerprint: the string and its hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    /// Hash (MD5 hex for JA3/JA3S).
    pub hash: String,
    /// The fingerprinted string.
    pub string: String,
}

/// What a TLS handshake showed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsInfo {
    /// Negotiated version (ServerHello, supported_versions honoured); the
    /// ClientHello's when no ServerHello was seen.
    pub version: Option<u16>,
    /// Server name indication.
    pub sni: Option<String>,
    /// ALPN offered by the client.
    pub client_alpns: Vec<String>,
    /// ALPN chosen by the server.
    pub server_alpns: Vec<String>,
    /// Client cipher suites (GREASE included).
    pub client_ciphers: Vec<u16>,
    /// Client extension types in order.
    pub client_extensions: Vec<u16>,
    /// Client supported_versions.
    pub supported_versions: Vec<u16>,
    /// Client supported_groups (elliptic curves).
    pub groups: Vec<u16>,
    /// Client ec_point_formats.
    pub point_formats: Vec<u8>,
    /// Client signature_algorithms in order.
    pub sig_algs: Vec<u16>,
    /// Cipher suite chosen by the server.
    pub server_cipher: Option<u16>,
    /// JA3 of the ClientHello.
    pub ja3: Option<Fingerprint>,
    /// JA3S of the ServerHello.
    pub ja3s: Option<Fingerprint>,
    /// JA4 of the ClientHello.
    pub ja4: Option<String>,
    /// Server (leaf) certificate, when sent in clear.
    pub cert: Option<x509::CertInfo>,
    /// DER of the certificates the server sent, in order (the
    /// `tls.certs` rule buffer); at most [`MAX_CERTS`].
    pub certs: Vec<Vec<u8>>,
    /// Time of the ClientHello (or first record).
    pub ts: Timestamp,
}

#[derive(Debug)]
struct Inner {
    info: TlsInfo,
    seen_client_hello: bool,
    seen_server_hello: bool,
    logged: bool,
    /// Handshake bytes awaiting a complete message, per direction.
    hs: [Vec<u8>; 2],
    /// Direction switched to encrypted records (after CCS or TLS 1.3 SH).
    encrypted: [bool; 2],
    dead: [bool; 2],
    hs_cap: usize,
}

/// Per-flow TLS state.
#[derive(Debug)]
pub struct TlsState {
    recs: [StreamBuf; 2],
    inner: Inner,
}

/// Most certificates of a chain kept for `tls.certs`.
pub const MAX_CERTS: usize = 10;

/// Largest record accepted (2^14 plus expansion, RFC 5246 §6.2.3).
const MAX_RECORD: usize = 16384 + 2048;

impl TlsState {
    /// New state with the bounds of `cfg`.
    pub fn new(cfg: &AppConfig) -> Self {
        let cap = cfg.stream_buf_cap.max(MAX_RECORD + 5);
        TlsState {
            recs: [StreamBuf::new(cap), StreamBuf::new(cap)],
            inner: Inner {
                info: TlsInfo::default(),
                seen_client_hello: false,
                seen_server_hello: false,
                logged: false,
                hs: [Vec::new(), Vec::new()],
                encrypted: [false, false],
                dead: [false, false],
                hs_cap: cfg.stream_buf_cap,
            },
        }
    }

    /// Feeds in-order bytes of one direction.
    pub fn on_data(
        &mut self,
        dir: Direction,
        data: &[u8],
        ts: Timestamp,
        out: &mut Vec<AppEvent>,
        c: &mut AppCounters,
    ) {
        let i = dir.index();
        if self.inner.logged || self.inner.dead.get(i).copied().unwrap_or(true) {
            return;
        }
        let Some(buf) = self.recs.get_mut(i) else {
            return;
        };
        let inner = &mut self.inner;
        let r = buf.feed(data, |d| {
            let mut off = 0usize;
            while let Some(hdr) = d.get(off..off + 5) {
                let Ok((_, h)) = parser::parse_record_header(hdr) else {
                    break;
                };
                let len = usize::from(h.len);
                if h.version >> 8 != 3 || len > MAX_RECORD {
                    out.push(AppEvent::Anomaly("tls.invalid_record_length"));
                    bump(&mut c.parse_errors);
                    if let Some(dd) = inner.dead.get_mut(i) {
                        *dd = true;
                    }
                    return d.len();
                }
                let Some(payload) = d.get(off + 5..off + 5 + len) else {
                    break;
                };
                off += 5 + len;
                inner.record(dir, h.content_type, payload, ts, out, c);
                if inner.logged || inner.dead.get(i).copied().unwrap_or(true) {
                    return d.len();
                }
            }
            off
        });
        if r.is_err() {
            bump(&mut c.buffer_cap_hits);
        }
    }

    /// A gap: the handshake cannot be followed further in that direction.
    pub fn on_gap(&mut self, dir: Direction) {
        let i = dir.index();
        if let Some(b) = self.recs.get_mut(i) {
            b.clear();
        }
        if let Some(h) = self.inner.hs.get_mut(i) {
            h.clear();
        }
        if let Some(d) = self.inner.dead.get_mut(i) {
            *d = true;
        }
    }

    /// Emits what was seen if it was not logged yet.
    pub fn on_close(&mut self, _ts: Timestamp, out: &mut Vec<AppEvent>) {
        if !self.inner.logged && self.inner.seen_client_hello {
            self.inner.emit(out);
        }
    }
}

impl Inner {
    fn emit(&mut self, out: &mut Vec<AppEvent>) {
        self.logged = true;
        out.push(AppEvent::Tls(Box::new(std::mem::take(&mut self.info))));
        self.hs = [Vec::new(), Vec::new()];
    }

    fn record(
        &mut self,
        dir: Direction,
        ct: u8,
        payload: &[u8],
        ts: Timestamp,
        out: &mut Vec<AppEvent>,
        c: &mut AppCounters,
    ) {
        let i = dir.index();
        let encrypted = self.encrypted.get(i).copied().unwrap_or(true);
        match ct {
            content::CCS => {
                if let Some(e) = self.encrypted.get_mut(i) {
                    *e = true;
                }
                if self.seen_server_hello && self.encrypted.iter().all(|e| *e) {
                    self.emit(out);
                }
            }
            content::APPDATA => {
                if self.seen_client_hello {
                    self.emit(out);
                }
            }
            content::HANDSHAKE if !encrypted => {
                let Some(hs) = self.hs.get_mut(i) else { return };
                if hs.len().saturating_add(payload.len()) > self.hs_cap {
                    bump(&mut c.buffer_cap_hits);
                    hs.clear();
                    if let Some(d) = self.dead.get_mut(i) {
                        *d = true;
                    }
                    return;
                }
                // zero-copy when the record holds whole messages
                let mut owned = std::mem::take(hs);
                let used = if owned.is_empty() {
                    let n = self.messages(dir, payload, ts, out, c);
                    owned.extend_from_slice(payload.get(n..).unwrap_or_default());
                    0
                } else {
                    owned.extend_from_slice(payload);
                    self.messages(dir, &owned, ts, out, c)
                };
                owned.drain(..used.min(owned.len()));
                if !self.logged {
                    if let Some(hs) = self.hs.get_mut(i) {
                        *hs = owned;
                    }
                }
            }
            content::ALERT | content::HANDSHAKE => {}
            _ => {
                bump(&mut c.parse_errors);
                out.push(AppEvent::Anomaly("tls.invalid_record_type"));
            }
        }
    }

    /// Handles whole handshake messages at the front of `d`; returns bytes used.
    fn messages(
        &mut self,
        dir: Direction,
        d: &[u8],
        ts: Timestamp,
        out: &mut Vec<AppEvent>,
        c: &mut AppCounters,
    ) -> usize {
        let mut off = 0;
        while let Some(rest) = d.get(off..) {
            let Some(&typ) = rest.first() else { break };
            let Ok((_, body)) = length_data::<_, _, nom::error::Error<&[u8]>, _>(be_u24)(
                rest.get(1..).unwrap_or_default(),
            ) else {
                break;
            };
            off += 4 + body.len();
            self.message(dir, typ, body, ts, out, c);
            if self.logged {
                return d.len();
            }
        }
        off
    }

    fn message(
        &mut self,
        dir: Direction,
        typ: u8,
        body: &[u8],
        ts: Timestamp,
        out: &mut Vec<AppEvent>,
        c: &mut AppCounters,
    ) {
        match (dir, typ) {
            (Direction::ToServer, 1) if !self.seen_client_hello => {
                match parser::parse_client_hello(body) {
                    Ok(ch) => {
                        self.seen_client_hello = true;
                        let (s, h) = parser::ja3(&ch);
                        let info = &mut self.info;
                        info.ts = ts;
                        info.ja3 = Some(Fingerprint { hash: h, string: s });
                        info.ja4 = Some(parser::ja4(&ch));
                        info.version = Some(ch.version);
                        info.sni = ch.sni;
                        info.client_alpns = ch.alpns;
                        info.client_ciphers = ch.ciphers;
                        info.client_extensions = ch.extensions;
                        info.supported_versions = ch.supported_versions;
                        info.groups = ch.groups;
                        info.point_formats = ch.point_formats;
                        info.sig_algs = ch.sig_algs;
                    }
                    Err(_) => {
                        bump(&mut c.parse_errors);
                        out.push(AppEvent::Anomaly("tls.invalid_handshake_message"));
                    }
                }
            }
            (Direction::ToClient, 2) if !self.seen_server_hello => {
                match parser::parse_server_hello(body) {
                    Ok(sh) => {
                        self.seen_server_hello = true;
                        let (s, h) = parser::ja3s(&sh);
                        let info = &mut self.info;
                        info.ja3s = Some(Fingerprint { hash: h, string: s });
                        info.version = Some(sh.negotiated());
                        info.server_cipher = Some(sh.cipher);
                        info.server_alpns = sh.alpn.into_iter().collect();
                        if sh.selected_version == Some(0x0304) {
                            // TLS 1.3: everything after the ServerHello is encrypted
                            self.emit(out);
                        }
                    }
                    Err(_) => {
                        bump(&mut c.parse_errors);
                        out.push(AppEvent::Anomaly("tls.invalid_handshake_message"));
                    }
                }
            }
            (Direction::ToClient, 11) if self.info.cert.is_none() => {
                // certificate_list<3>: first entry is the leaf
                let leaf = length_data::<_, _, nom::error::Error<&[u8]>, _>(be_u24)(body)
                    .and_then(|(_, list)| length_data(be_u24)(list))
                    .map(|(_, der)| der);
                // every entry, for `tls.certs`
                if let Ok((_, mut list)) =
                    length_data::<_, _, nom::error::Error<&[u8]>, _>(be_u24)(body)
                {
                    while self.info.certs.len() < MAX_CERTS {
                        match length_data::<_, _, nom::error::Error<&[u8]>, _>(be_u24)(list) {
                            Ok((rest, der)) => {
                                self.info.certs.push(der.to_vec());
                                list = rest;
                            }
                            Err(_) => break,
                        }
                    }
                }
                match leaf.ok().map(x509::parse_certificate) {
                    Some(Ok(cert)) => self.info.cert = Some(cert),
                    _ => {
                        bump(&mut c.parse_errors);
                        out.push(AppEvent::Anomaly("tls.invalid_certificate"));
                    }
                }
            }
            // ServerHelloDone: the server's cleartext part is over
            (Direction::ToClient, 14) if self.seen_client_hello => self.emit(out),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::applayer::{AppProto, AppState, Transport};

    fn server_flight(cert: &[u8]) -> Vec<u8> {
        let mut sh = vec![0x03, 0x03];
        sh.extend_from_slice(&[0x22; 32]);
        sh.push(0);
        sh.extend_from_slice(&[0xc0, 0x2f, 0]);
        sh.extend_from_slice(&[0, 4, 0xff, 0x01, 0, 0]);
        let mut hs = Vec::new();
        let mut add = |t: u8, b: &[u8]| {
            hs.push(t);
            hs.extend_from_slice(&(b.len() as u32).to_be_bytes()[1..]);
            hs.extend_from_slice(b);
        };
        add(2, &sh);
        let mut list = (cert.len() as u32).to_be_bytes()[1..].to_vec();
        list.extend_from_slice(cert);
        let mut cm = (list.len() as u32).to_be_bytes()[1..].to_vec();
        cm.extend_from_slice(&list);
        add(11, &cm);
        add(14, &[]);
        // split the handshake over records of at most 100 bytes
        let mut out = Vec::new();
        for part in hs.chunks(100) {
            out.extend_from_slice(&[22, 3, 3]);
            out.extend_from_slice(&(part.len() as u16).to_be_bytes());
            out.extend_from_slice(part);
        }
        out
    }

    fn cert() -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["srv.example.com".to_string()]).unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    fn run(split: usize, cert: &[u8]) -> Vec<AppEvent> {
        let mut s = AppState::new(AppProto::Tls, Transport::Tcp, 443);
        let mut out = Vec::new();
        for p in parser::tests::client_hello_record().chunks(split) {
            s.on_data(Direction::ToServer, p, Timestamp(1), &mut out);
        }
        for p in server_flight(cert).chunks(split) {
            s.on_data(Direction::ToClient, p, Timestamp(2), &mut out);
        }
        s.on_close(Timestamp(3), &mut out);
        out
    }

    #[test]
    fn full_tls12_handshake_any_split() {
        let cert = cert();
        let whole = run(100_000, &cert);
        assert_eq!(whole.len(), 1, "{whole:?}");
        let AppEvent::Tls(t) = &whole[0] else {
            panic!("{whole:?}")
        };
        assert_eq!(t.sni.as_deref(), Some("www.example.com"));
        assert_eq!(t.version, Some(0x0303));
        assert_eq!(t.ja3s.as_ref().unwrap().string, "771,49199,65281");
        assert_eq!(t.groups, [0x2a2a, 0x1d, 0x17]);
        assert_eq!(t.sig_algs, [0x0403, 0x0804]);
        assert_eq!(t.point_formats, [0]);
        assert_eq!(t.client_alpns, ["h2", "http/1.1"]);
        let c = t.cert.as_ref().unwrap();
        assert_eq!(c.sans, ["srv.example.com"]);
        assert_eq!(t.certs.len(), 1);
        assert_eq!(t.certs[0], cert);
        for split in [1, 3, 64, 1000] {
            let ev = run(split, &cert);
            assert_eq!(format!("{ev:?}"), format!("{whole:?}"), "split {split}");
        }
    }

    #[test]
    fn client_hello_only_flushes_on_close() {
        let mut s = TlsState::new(&AppConfig::default());
        let mut c = AppCounters::default();
        let mut out = Vec::new();
        s.on_data(
            Direction::ToServer,
            &parser::tests::client_hello_record(),
            Timestamp(0),
            &mut out,
            &mut c,
        );
        assert!(out.is_empty());
        s.on_close(Timestamp(1), &mut out);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn oversized_record_is_rejected() {
        let mut s = TlsState::new(&AppConfig::default());
        let mut c = AppCounters::default();
        let mut out = Vec::new();
        s.on_data(
            Direction::ToServer,
            &[22, 3, 1, 0xff, 0xff, 1],
            Timestamp(0),
            &mut out,
            &mut c,
        );
        assert_eq!(c.parse_errors, 1);
        assert!(matches!(
            out[0],
            AppEvent::Anomaly("tls.invalid_record_length")
        ));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_records_never_panic(
            data in proptest::collection::vec(proptest::num::u8::ANY, 0..600),
            split in 1usize..64,
        ) {
            let mut s = TlsState::new(&AppConfig::default());
            let mut c = AppCounters::default();
            let mut out = Vec::new();
            let mut stream = vec![22, 3, 1];
            stream.extend_from_slice(&(data.len() as u16).to_be_bytes());
            stream.extend_from_slice(&data);
            for p in stream.chunks(split) {
                s.on_data(Direction::ToServer, p, Timestamp(0), &mut out, &mut c);
                s.on_data(Direction::ToClient, p, Timestamp(0), &mut out, &mut c);
            }
            s.on_close(Timestamp(1), &mut out);
        }
    }
}
