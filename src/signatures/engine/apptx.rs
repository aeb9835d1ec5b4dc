//! Application transactions as inspection buffers: which buffer comes
//! from which field of an HTTP, DNS, TLS or SSH transaction.

use crate::applayer::dns::DnsTransaction;
use crate::applayer::http::HttpTransaction;
use crate::applayer::ssh::SshInfo;
use crate::applayer::tls::TlsInfo;
use crate::signatures::buffer::Buffer;
use crate::signatures::rule::FlowDir;

/// Applications whose transactions rules inspect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AppKind {
    /// HTTP/1.
    Http,
    /// DNS.
    Dns,
    /// TLS.
    Tls,
    /// SSH.
    Ssh,
}

impl AppKind {
    /// True if `name` (a rule header or app-layer-protocol name) is this.
    pub fn matches_name(self, name: &str) -> bool {
        let n = name.to_ascii_lowercase();
        match self {
            Self::Http => n == "http" || n == "http1",
            Self::Dns => n == "dns",
            Self::Tls => n == "tls",
            Self::Ssh => n == "ssh",
        }
    }
}

/// The application of `b` and whether it is a response-side (to client)
/// buffer; None for buffers the engine does not fill.
pub fn buffer_kind(b: Buffer, flow_dir: Option<FlowDir>) -> Option<(AppKind, bool)> {
    use Buffer as B;
    Some(match b {
        B::HttpUri
        | B::HttpUriRaw
        | B::HttpMethod
        | B::HttpHost
        | B::HttpHostRaw
        | B::HttpUserAgent
        | B::HttpCookie
        | B::HttpRequestBody
        | B::HttpReferer
        | B::HttpProtocol
        | B::HttpRequestLine => (AppKind::Http, false),
        B::HttpStatCode
        | B::HttpStatMsg
        | B::HttpResponseLine
        | B::HttpResponseBody
        | B::HttpLocation
        | B::HttpServer => (AppKind::Http, true),
        B::HttpAccept | B::HttpAcceptEnc | B::HttpAcceptLang => (AppKind::Http, false),
        B::HttpHeaderNames
        | B::HttpHeaderRaw
        | B::HttpContentType
        | B::HttpContentLen
        | B::HttpStart
        | B::HttpConnection => (AppKind::Http, flow_dir == Some(FlowDir::ToClient)),
        B::Ja3Hash | B::Ja3String | B::Ja4Hash => (AppKind::Tls, false),
        B::Ja3sHash | B::Ja3sString | B::TlsCertFingerprint | B::TlsCerts => (AppKind::Tls, true),
        B::SshHassh | B::SshHasshString => (AppKind::Ssh, false),
        B::SshHasshServer | B::SshHasshServerString => (AppKind::Ssh, true),
        B::FileData => (AppKind::Http, flow_dir != Some(FlowDir::ToServer)),
        B::HttpHeader => (AppKind::Http, flow_dir == Some(FlowDir::ToClient)),
        B::DnsQuery => (AppKind::Dns, false),
        B::TlsSni => (AppKind::Tls, false),
        B::TlsCertSubject | B::TlsCertIssuer | B::TlsCertSerial => (AppKind::Tls, true),
        B::SshProto | B::SshSoftware => (AppKind::Ssh, false),
        _ => return None,
    })
}

/// True for buffers whose content depends on the side inspected
/// (request or response headers, bodies): the prefilter scans both.
pub fn sided(b: Buffer) -> bool {
    use Buffer as B;
    matches!(
        b,
        B::FileData
            | B::HttpHeader
            | B::HttpHeaderNames
            | B::HttpHeaderRaw
            | B::HttpContentType
            | B::HttpContentLen
            | B::HttpStart
            | B::HttpConnection
    )
}

/// One transaction, borrowed.
#[derive(Debug, Clone, Copy)]
pub enum TxView<'a> {
    /// An HTTP request/response pair.
    Http(&'a HttpTransaction),
    /// A DNS message (requests carry the queries rules inspect).
    Dns(&'a DnsTransaction),
    /// A TLS handshake.
    Tls(&'a TlsInfo),
    /// SSH banners.
    Ssh(&'a SshInfo),
}

/// Calls `f` with bytes composed by `build` in a per-thread scratch
/// buffer, so composed buffers (`http.header_names`, `http.start`, ...)
/// do not allocate per transaction once the buffer has grown.
fn composed(build: impl FnOnce(&mut Vec<u8>), f: &mut dyn FnMut(&[u8])) {
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUF.with(|cell| match cell.try_borrow_mut() {
        Ok(mut v) => {
            v.clear();
            build(&mut v);
            f(&v);
        }
        Err(_) => {
            let mut v = Vec::new();
            build(&mut v);
            f(&v);
        }
    });
}

fn header_value<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a [u8]> {
    h.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_bytes())
}

fn side_header<'a>(t: &'a HttpTransaction, to_client: bool, name: &str) -> Option<&'a [u8]> {
    header_value(
        if to_client {
            &t.response_headers
        } else {
            &t.request_headers
        },
        name,
    )
}

fn request_line(t: &HttpTransaction, s: &mut Vec<u8>) {
    s.extend_from_slice(t.method.as_bytes());
    s.push(b' ');
    s.extend_from_slice(t.uri_raw.as_bytes());
    if !t.protocol.is_empty() {
        s.push(b' ');
        s.extend_from_slice(t.protocol.as_bytes());
    }
}

fn push_u16(s: &mut Vec<u8>, v: u16) {
    let mut digits = [0u8; 5];
    let mut n = v;
    let mut i = digits.len();
    loop {
        i -= 1;
        if let Some(d) = digits.get_mut(i) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    s.extend_from_slice(digits.get(i..).unwrap_or_default());
}

impl<'a> TxView<'a> {
    /// The application.
    pub fn kind(&self) -> AppKind {
        match self {
            Self::Http(_) => AppKind::Http,
            Self::Dns(_) => AppKind::Dns,
            Self::Tls(_) => AppKind::Tls,
            Self::Ssh(_) => AppKind::Ssh,
        }
    }

    /// Length of the (normalized or raw) URI.
    pub fn uri_len(&self, raw: bool) -> Option<u64> {
        match self {
            Self::Http(t) => Some(if raw { t.uri_raw.len() } else { t.uri.len() } as u64),
            _ => None,
        }
    }

    /// Calls `f` with each instance of buffer `b` (DNS: one per query;
    /// SSH: client and server side). `to_client` selects the body of
    /// `file.data`.
    pub fn each(&self, b: Buffer, to_client: bool, f: &mut dyn FnMut(&[u8])) {
        use Buffer as B;
        match self {
            Self::Http(t) => {
                let v: Option<&[u8]> = match b {
                    B::HttpUri => Some(t.uri.as_bytes()),
                    B::HttpUriRaw => Some(t.uri_raw.as_bytes()),
                    B::HttpMethod => Some(t.method.as_bytes()),
                    B::HttpHost => t.host.as_deref().map(str::as_bytes),
                    B::HttpHostRaw => header_value(&t.request_headers, "host"),
                    B::HttpUserAgent => t.user_agent.as_deref().map(str::as_bytes),
                    B::HttpCookie => t.cookie.as_deref().map(str::as_bytes),
                    B::HttpReferer => t.referer.as_deref().map(str::as_bytes),
                    B::HttpProtocol => Some(t.protocol.as_bytes()),
                    B::HttpRequestBody => Some(&t.request_body[..]),
                    B::HttpResponseBody => Some(&t.response_body[..]),
                    B::FileData => Some(if to_client {
                        &t.response_body[..]
                    } else {
                        &t.request_body[..]
                    }),
                    B::HttpLocation => t.location.as_deref().map(str::as_bytes),
                    B::HttpStatCode => {
                        if let Some(code) = t.status {
                            composed(|s| push_u16(s, code), f);
                        }
                        None
                    }
                    B::HttpHeader => {
                        // Suricata's http.header: "Name: value\r\n" per
                        // header of the side, without cookies, in order.
                        let hs = if to_client {
                            &t.response_headers
                        } else {
                            &t.request_headers
                        };
                        composed(
                            |s| {
                                for (k, v) in hs {
                                    if k.eq_ignore_ascii_case("cookie")
                                        || k.eq_ignore_ascii_case("set-cookie")
                                    {
                                        continue;
                                    }
                                    s.extend_from_slice(k.as_bytes());
                                    s.extend_from_slice(b": ");
                                    s.extend_from_slice(v.as_bytes());
                                    s.extend_from_slice(b"\r\n");
                                }
                            },
                            f,
                        );
                        None
                    }
                    B::HttpRequestLine => {
                        composed(|s| request_line(t, s), f);
                        None
                    }
                    B::HttpHeaderNames => {
                        // Suricata: "\r\nName1\r\nName2\r\n\r\n".
                        let hs = if to_client {
                            &t.response_headers
                        } else {
                            &t.request_headers
                        };
                        composed(
                            |s| {
                                s.extend_from_slice(b"\r\n");
                                for (k, _) in hs {
                                    s.extend_from_slice(k.as_bytes());
                                    s.extend_from_slice(b"\r\n");
                                }
                                s.extend_from_slice(b"\r\n");
                            },
                            f,
                        );
                        None
                    }
                    B::HttpHeaderRaw => {
                        let raw = if to_client {
                            &t.response_headers_raw
                        } else {
                            &t.request_headers_raw
                        };
                        composed(
                            |s| {
                                s.extend_from_slice(raw);
                                s.extend_from_slice(b"\r\n\r\n");
                            },
                            f,
                        );
                        None
                    }
                    B::HttpStart => {
                        // Request (or response) line and headers, ending
                        // with the empty line.
                        composed(
                            |s| {
                                if to_client {
                                    s.extend_from_slice(
                                        t.response_protocol.as_deref().unwrap_or("").as_bytes(),
                                    );
                                    if let Some(code) = t.status {
                                        s.push(b' ');
                                        push_u16(s, code);
                                    }
                                    s.extend_from_slice(b"\r\n");
                                    s.extend_from_slice(&t.response_headers_raw);
                                } else {
                                    request_line(t, s);
                                    s.extend_from_slice(b"\r\n");
                                    s.extend_from_slice(&t.request_headers_raw);
                                }
                                s.extend_from_slice(b"\r\n\r\n");
                            },
                            f,
                        );
                        None
                    }
                    // The whole header value, as Suricata's buffer.
                    B::HttpContentType => side_header(t, to_client, "content-type"),
                    B::HttpStatMsg => t.status_msg.as_deref().map(str::as_bytes),
                    B::HttpResponseLine => {
                        composed(
                            |s| {
                                s.extend_from_slice(
                                    t.response_protocol.as_deref().unwrap_or("").as_bytes(),
                                );
                                if let Some(code) = t.status {
                                    s.push(b' ');
                                    push_u16(s, code);
                                }
                                if let Some(m) = &t.status_msg {
                                    s.push(b' ');
                                    s.extend_from_slice(m.as_bytes());
                                }
                            },
                            f,
                        );
                        None
                    }
                    B::HttpContentLen => side_header(t, to_client, "content-length"),
                    B::HttpConnection => side_header(t, to_client, "connection"),
                    B::HttpAccept => header_value(&t.request_headers, "accept"),
                    B::HttpAcceptEnc => header_value(&t.request_headers, "accept-encoding"),
                    B::HttpAcceptLang => header_value(&t.request_headers, "accept-language"),
                    B::HttpServer => header_value(&t.response_headers, "server"),
                    _ => None,
                };
                if let Some(v) = v {
                    f(v);
                }
            }
            Self::Dns(t) => {
                if b == B::DnsQuery && matches!(t.tx_type, crate::applayer::dns::DnsTxType::Request)
                {
                    for q in &t.queries {
                        f(q.name.as_bytes());
                    }
                }
            }
            Self::Tls(t) => {
                if b == B::TlsCerts {
                    // One buffer per certificate of the chain.
                    for der in &t.certs {
                        f(der);
                    }
                    return;
                }
                let v = match b {
                    B::TlsSni => t.sni.as_deref(),
                    B::TlsCertSubject => t.cert.as_ref().map(|c| c.subject.as_str()),
                    B::TlsCertIssuer => t.cert.as_ref().map(|c| c.issuer.as_str()),
                    B::TlsCertSerial => t.cert.as_ref().map(|c| c.serial.as_str()),
                    B::TlsCertFingerprint => t.cert.as_ref().map(|c| c.fingerprint.as_str()),
                    B::Ja3Hash => t.ja3.as_ref().map(|j| j.hash.as_str()),
                    B::Ja3String => t.ja3.as_ref().map(|j| j.string.as_str()),
                    B::Ja3sHash => t.ja3s.as_ref().map(|j| j.hash.as_str()),
                    B::Ja3sString => t.ja3s.as_ref().map(|j| j.string.as_str()),
                    B::Ja4Hash => t.ja4.as_deref(),
                    _ => None,
                };
                if let Some(v) = v {
                    f(v.as_bytes());
                }
            }
            Self::Ssh(t) => {
                for side in [&t.client, &t.server].into_iter().flatten() {
                    match b {
                        B::SshProto => f(side.proto_version.as_bytes()),
                        B::SshSoftware => f(side.software_version.as_bytes()),
                        _ => {}
                    }
                }
                let hassh = |side: &'a Option<crate::applayer::ssh::SshSide>| {
                    side.as_ref().and_then(|s| s.hassh.as_ref())
                };
                let v = match b {
                    B::SshHassh => hassh(&t.client).map(|h| h.1.as_str()),
                    B::SshHasshString => hassh(&t.client).map(|h| h.0.as_str()),
                    B::SshHasshServer => hassh(&t.server).map(|h| h.1.as_str()),
                    B::SshHasshServerString => hassh(&t.server).map(|h| h.0.as_str()),
                    _ => None,
                };
                if let Some(v) = v {
                    f(v.as_bytes());
                }
            }
        }
    }
}
