//! Inspection buffers (sticky buffers and legacy content modifiers) and the
//! transforms that may be applied to them.

use super::header::AppProto;

/// A buffer a content, pcre or byte keyword inspects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)]
pub enum Buffer {
    /// The packet payload or reassembled stream (the default; `pkt_data`).
    Payload,
    HttpUri,
    HttpUriRaw,
    HttpMethod,
    HttpHost,
    HttpHostRaw,
    HttpUserAgent,
    HttpHeader,
    HttpHeaderRaw,
    HttpHeaderNames,
    HttpCookie,
    HttpContentType,
    HttpContentLen,
    HttpRequestBody,
    HttpStatCode,
    HttpStatMsg,
    HttpResponseBody,
    HttpRequestLine,
    HttpResponseLine,
    HttpProtocol,
    HttpStart,
    HttpReferer,
    HttpAccept,
    HttpAcceptEnc,
    HttpAcceptLang,
    HttpConnection,
    HttpLocation,
    HttpServer,
    /// `file.data` / `file_data`.
    FileData,
    DnsQuery,
    TlsSni,
    TlsCertSubject,
    TlsCertIssuer,
    TlsCertSerial,
    TlsCertFingerprint,
    TlsCerts,
    Ja3Hash,
    Ja3String,
    Ja3sHash,
    Ja3sString,
    Ja4Hash,
    SshProto,
    SshSoftware,
    SshHassh,
    SshHasshString,
    SshHasshServer,
    SshHasshServerString,
    /// `base64_data`: the output of the previous `base64_decode`.
    Base64Data,
    SmtpHelo,
    SmtpMailFrom,
    SmtpRcptTo,
}

/// Sticky buffer keywords (current and legacy names).
const STICKY: &[(&str, Buffer)] = &[
    ("pkt_data", Buffer::Payload),
    ("http.uri", Buffer::HttpUri),
    ("http.uri.raw", Buffer::HttpUriRaw),
    ("http.method", Buffer::HttpMethod),
    ("http.host", Buffer::HttpHost),
    ("http.host.raw", Buffer::HttpHostRaw),
    ("http.user_agent", Buffer::HttpUserAgent),
    ("http.header", Buffer::HttpHeader),
    ("http.header.raw", Buffer::HttpHeaderRaw),
    ("http.header_names", Buffer::HttpHeaderNames),
    ("http.cookie", Buffer::HttpCookie),
    ("http.content_type", Buffer::HttpContentType),
    ("http.content_len", Buffer::HttpContentLen),
    ("http.request_body", Buffer::HttpRequestBody),
    ("http_request_body", Buffer::HttpRequestBody),
    ("http.stat_code", Buffer::HttpStatCode),
    ("http.stat_msg", Buffer::HttpStatMsg),
    ("http.response_body", Buffer::HttpResponseBody),
    ("http_response_body", Buffer::HttpResponseBody),
    ("http.request_line", Buffer::HttpRequestLine),
    ("http_request_line", Buffer::HttpRequestLine),
    ("http.response_line", Buffer::HttpResponseLine),
    ("http_response_line", Buffer::HttpResponseLine),
    ("http.protocol", Buffer::HttpProtocol),
    ("http.start", Buffer::HttpStart),
    ("http.referer", Buffer::HttpReferer),
    ("http.accept", Buffer::HttpAccept),
    ("http.accept_enc", Buffer::HttpAcceptEnc),
    ("http.accept_lang", Buffer::HttpAcceptLang),
    ("http.connection", Buffer::HttpConnection),
    ("http.location", Buffer::HttpLocation),
    ("http.server", Buffer::HttpServer),
    ("file.data", Buffer::FileData),
    ("file_data", Buffer::FileData),
    ("dns.query", Buffer::DnsQuery),
    ("dns_query", Buffer::DnsQuery),
    ("tls.sni", Buffer::TlsSni),
    ("tls_sni", Buffer::TlsSni),
    ("tls.cert_subject", Buffer::TlsCertSubject),
    ("tls.cert_issuer", Buffer::TlsCertIssuer),
    ("tls.cert_serial", Buffer::TlsCertSerial),
    ("tls.cert_fingerprint", Buffer::TlsCertFingerprint),
    ("tls.certs", Buffer::TlsCerts),
    ("ja3.hash", Buffer::Ja3Hash),
    ("ja3_hash", Buffer::Ja3Hash),
    ("ja3.string", Buffer::Ja3String),
    ("ja3s.hash", Buffer::Ja3sHash),
    ("ja3s.string", Buffer::Ja3sString),
    ("ja4.hash", Buffer::Ja4Hash),
    ("ssh.proto", Buffer::SshProto),
    ("ssh_proto", Buffer::SshProto),
    ("ssh.software", Buffer::SshSoftware),
    ("ssh_software", Buffer::SshSoftware),
    ("ssh.hassh", Buffer::SshHassh),
    ("ssh.hassh.string", Buffer::SshHasshString),
    ("ssh.hassh.server", Buffer::SshHasshServer),
    ("ssh.hassh.server.string", Buffer::SshHasshServerString),
    ("base64_data", Buffer::Base64Data),
    // Suricata 4-6 names of the sticky buffers above.
    ("http_accept", Buffer::HttpAccept),
    ("http_accept_enc", Buffer::HttpAcceptEnc),
    ("http_accept_lang", Buffer::HttpAcceptLang),
    ("http_connection", Buffer::HttpConnection),
    ("http_content_len", Buffer::HttpContentLen),
    ("http_content_type", Buffer::HttpContentType),
    ("http_header_names", Buffer::HttpHeaderNames),
    ("http_protocol", Buffer::HttpProtocol),
    ("http_referer", Buffer::HttpReferer),
    ("http_start", Buffer::HttpStart),
    ("tls_cert_subject", Buffer::TlsCertSubject),
    ("tls_cert_issuer", Buffer::TlsCertIssuer),
    ("tls_cert_serial", Buffer::TlsCertSerial),
    ("tls_cert_fingerprint", Buffer::TlsCertFingerprint),
    ("ja3s_hash", Buffer::Ja3sHash),
    ("smtp.helo", Buffer::SmtpHelo),
    ("smtp.mail_from", Buffer::SmtpMailFrom),
    ("smtp.rcpt_to", Buffer::SmtpRcptTo),
];

/// Legacy content modifiers: they move the preceding content to a buffer.
const LEGACY: &[(&str, Buffer)] = &[
    ("http_uri", Buffer::HttpUri),
    ("http_raw_uri", Buffer::HttpUriRaw),
    ("http_header", Buffer::HttpHeader),
    ("http_raw_header", Buffer::HttpHeaderRaw),
    ("http_method", Buffer::HttpMethod),
    ("http_user_agent", Buffer::HttpUserAgent),
    ("http_host", Buffer::HttpHost),
    ("http_raw_host", Buffer::HttpHostRaw),
    ("http_cookie", Buffer::HttpCookie),
    ("http_client_body", Buffer::HttpRequestBody),
    ("http_server_body", Buffer::HttpResponseBody),
    ("http_stat_code", Buffer::HttpStatCode),
    ("http_stat_msg", Buffer::HttpStatMsg),
];

impl Buffer {
    /// The buffer a sticky-buffer keyword selects.
    pub fn from_sticky(keyword: &str) -> Option<Self> {
        STICKY.iter().find(|(n, _)| *n == keyword).map(|&(_, b)| b)
    }

    /// The buffer a legacy content modifier (`http_uri`, ...) moves to.
    pub fn from_legacy_modifier(keyword: &str) -> Option<Self> {
        LEGACY.iter().find(|(n, _)| *n == keyword).map(|&(_, b)| b)
    }

    /// The buffer a pcre buffer flag selects (`U`, `H`, `P`, ...).
    pub fn from_pcre_flag(flag: char) -> Option<Self> {
        Some(match flag {
            'U' => Self::HttpUri,
            'I' => Self::HttpUriRaw,
            'V' => Self::HttpUserAgent,
            'W' => Self::HttpHost,
            'Z' => Self::HttpHostRaw,
            'H' => Self::HttpHeader,
            'D' => Self::HttpHeaderRaw,
            'M' => Self::HttpMethod,
            'C' => Self::HttpCookie,
            'P' => Self::HttpRequestBody,
            'Q' => Self::FileData,
            'S' => Self::HttpStatCode,
            'Y' => Self::HttpStatMsg,
            _ => return None,
        })
    }

    /// The application protocol the buffer belongs to, when it has exactly
    /// one (`file.data`, `pkt_data` and `base64_data` have none).
    pub fn app_proto(self) -> Option<AppProto> {
        use Buffer as B;
        Some(match self {
            B::Payload | B::FileData | B::Base64Data => return None,
            B::DnsQuery => AppProto::Dns,
            B::TlsSni
            | B::TlsCertSubject
            | B::TlsCertIssuer
            | B::TlsCertSerial
            | B::TlsCertFingerprint
            | B::TlsCerts
            | B::Ja3Hash
            | B::Ja3String
            | B::Ja3sHash
            | B::Ja3sString
            | B::Ja4Hash => AppProto::Tls,
            B::SshProto
            | B::SshSoftware
            | B::SshHassh
            | B::SshHasshString
            | B::SshHasshServer
            | B::SshHasshServerString => AppProto::Ssh,
            B::SmtpHelo | B::SmtpMailFrom | B::SmtpRcptTo => AppProto::Smtp,
            _ => AppProto::Http,
        })
    }

    /// The canonical (Suricata 8) keyword of the buffer.
    pub fn name(self) -> &'static str {
        if self == Self::Payload {
            return "payload";
        }
        STICKY
            .iter()
            .find(|&&(_, b)| b == self)
            .map_or("unknown", |&(n, _)| n)
    }
}

/// A transform applied to a sticky buffer before inspection.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Transform {
    /// `dotprefix`: prepend a `.`.
    DotPrefix,
    /// `to_lowercase`.
    ToLowercase,
    /// `to_uppercase`.
    ToUppercase,
    /// `strip_whitespace`.
    StripWhitespace,
    /// `compress_whitespace`.
    CompressWhitespace,
    /// `url_decode`.
    UrlDecode,
    /// `to_md5`.
    ToMd5,
    /// `to_sha1`.
    ToSha1,
    /// `to_sha256`.
    ToSha256,
    /// `header_lowercase`.
    HeaderLowercase,
    /// `strip_pseudo_headers`.
    StripPseudoHeaders,
    /// `xor:"key"` with the decoded key.
    Xor(Box<[u8]>),
}

impl Transform {
    /// The transform named by a keyword that takes no value.
    pub fn from_keyword(keyword: &str) -> Option<Self> {
        Some(match keyword {
            "dotprefix" => Self::DotPrefix,
            "to_lowercase" => Self::ToLowercase,
            "to_uppercase" => Self::ToUppercase,
            "strip_whitespace" => Self::StripWhitespace,
            "compress_whitespace" => Self::CompressWhitespace,
            "url_decode" => Self::UrlDecode,
            "to_md5" => Self::ToMd5,
            "to_sha1" => Self::ToSha1,
            "to_sha256" => Self::ToSha256,
            "header_lowercase" => Self::HeaderLowercase,
            "strip_pseudo_headers" => Self::StripPseudoHeaders,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        assert_eq!(Buffer::from_sticky("http.uri"), Some(Buffer::HttpUri));
        assert_eq!(Buffer::from_sticky("file_data"), Some(Buffer::FileData));
        assert_eq!(
            Buffer::from_legacy_modifier("http_client_body"),
            Some(Buffer::HttpRequestBody)
        );
        assert_eq!(Buffer::from_pcre_flag('U'), Some(Buffer::HttpUri));
        assert_eq!(Buffer::from_pcre_flag('i'), None);
        assert_eq!(Buffer::DnsQuery.name(), "dns.query");
        assert_eq!(
            Transform::from_keyword("dotprefix"),
            Some(Transform::DotPrefix)
        );
    }
}
