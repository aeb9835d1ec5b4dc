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
        B::HttpStatCode | B::HttpResponseBody | B::HttpLocation => (AppKind::Http, true),
        B::FileData => (AppKind::Http, flow_dir != Some(FlowDir::ToServer)),
        B::HttpHeader => (AppKind::Http, flow_dir == Some(FlowDir::ToClient)),
        B::DnsQuery => (AppKind::Dns, false),
        B::TlsSni => (AppKind::Tls, false),
        B::TlsCertSubject | B::TlsCertIssuer | B::TlsCertSerial => (AppKind::Tls, true),
        B::SshProto | B::SshSoftware => (AppKind::Ssh, false),
        _ => return None,
    })
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

fn header_value<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a [u8]> {
    h.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_bytes())
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
                        if let Some(s) = t.status {
                            f(s.to_string().as_bytes());
                        }
                        None
                    }
                    B::HttpHeader => {
                        // Suricata's http.header: "Name: value\r\n" per
                        // header of the side, without cookies, in order.
                        let mut s = Vec::new();
                        let hs = if to_client {
                            &t.response_headers
                        } else {
                            &t.request_headers
                        };
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
                        f(&s);
                        None
                    }
                    B::HttpRequestLine => {
                        let s = format!("{} {} {}", t.method, t.uri_raw, t.protocol);
                        f(s.as_bytes());
                        None
                    }
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
                let v = match b {
                    B::TlsSni => t.sni.as_deref(),
                    B::TlsCertSubject => t.cert.as_ref().map(|c| c.subject.as_str()),
                    B::TlsCertIssuer => t.cert.as_ref().map(|c| c.issuer.as_str()),
                    B::TlsCertSerial => t.cert.as_ref().map(|c| c.serial.as_str()),
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
            }
        }
    }
}
