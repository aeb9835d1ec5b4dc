//! HTTP/1.x message-head parsers (RFC 9112): request line, status line,
//! header fields, chunk-size lines, and URI normalisation.

use nom::bytes::complete::{tag, take_till1, take_while1};
use nom::character::complete::{space0, space1};
use nom::combinator::rest;
use nom::IResult;
use thiserror::Error;

/// Why a message head could not be parsed; `offset` is within the head.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpError {
    /// The request line is not `METHOD SP URI [SP HTTP/x.y]`.
    #[error("http: bad request line")]
    BadRequestLine,
    /// The status line is not `HTTP/x.y SP code [SP reason]`.
    #[error("http: bad status line")]
    BadStatusLine,
    /// A header line without a colon.
    #[error("http: bad header line at offset {offset}")]
    BadHeader {
        /// Offset of the line in the header block.
        offset: usize,
    },
    /// A chunk-size line that is not hex.
    #[error("http: bad chunk size")]
    BadChunkSize,
}

/// `METHOD SP request-target SP HTTP-version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLine<'a> {
    /// Method token.
    pub method: &'a [u8],
    /// Request target as sent (may contain spaces, as Suricata tolerates).
    pub uri: &'a [u8],
    /// `HTTP/1.1`; empty for HTTP/0.9.
    pub protocol: &'a [u8],
}

/// `HTTP-version SP status-code SP reason-phrase`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusLine<'a> {
    /// `HTTP/1.1`.
    pub protocol: &'a [u8],
    /// Status code.
    pub status: u16,
    /// Reason phrase.
    pub reason: &'a [u8],
}

fn is_token(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// Parses a request line (without its line ending). A URI containing spaces
/// is kept whole: the protocol is the last `HTTP/` word.
pub fn parse_request_line(line: &[u8]) -> Result<RequestLine<'_>, HttpError> {
    let r: IResult<&[u8], &[u8]> = take_while1(is_token)(line);
    let (after, method) = r.map_err(|_| HttpError::BadRequestLine)?;
    let r: IResult<&[u8], &[u8]> = space1(after);
    let (after, _) = r.map_err(|_| HttpError::BadRequestLine)?;
    let after = trim_end(after);
    if after.is_empty() {
        return Err(HttpError::BadRequestLine);
    }
    // protocol = last space-separated word if it starts with HTTP/
    let (uri, protocol) = match memchr::memrchr(b' ', after) {
        Some(p) if after.get(p + 1..).is_some_and(|w| w.starts_with(b"HTTP/")) => (
            trim_end(after.get(..p).unwrap_or_default()),
            after.get(p + 1..).unwrap_or_default(),
        ),
        _ => (after, &b""[..]),
    };
    if uri.is_empty() {
        return Err(HttpError::BadRequestLine);
    }
    Ok(RequestLine {
        method,
        uri,
        protocol,
    })
}

fn trim_end(mut b: &[u8]) -> &[u8] {
    while let [rest @ .., last] = b {
        if *last == b' ' || *last == b'\t' || *last == b'\r' {
            b = rest;
        } else {
            break;
        }
    }
    b
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| *c != b' ' && *c != b'\t')
        .unwrap_or(b.len());
    trim_end(b.get(start..).unwrap_or_default())
}

/// Parses a status line.
pub fn parse_status_line(line: &[u8]) -> Result<StatusLine<'_>, HttpError> {
    let r: IResult<&[u8], StatusLine<'_>> = (|i| {
        let (i, protocol) = take_till1(|c| c == b' ')(i)?;
        let (i, _) = space1(i)?;
        let (i, code) = take_while1(|c: u8| c.is_ascii_digit())(i)?;
        let (i, _) = space0(i)?;
        let (i, reason) = rest(i)?;
        let status = std::str::from_utf8(code)
            .ok()
            .and_then(|s| s.parse::<u16>().ok())
            .unwrap_or(0);
        Ok((
            i,
            StatusLine {
                protocol,
                status,
                reason: trim_end(reason),
            },
        ))
    })(line);
    match r {
        Ok((_, s)) if s.protocol.starts_with(b"HTTP/") && (100..=999).contains(&s.status) => Ok(s),
        _ => Err(HttpError::BadStatusLine),
    }
}

/// Parses `name: value` (value trimmed).
pub fn parse_header_line(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let r: IResult<&[u8], (&[u8], &[u8])> = (|i| {
        let (i, name) = take_while1(|c| c != b':' && c != b'\r' && c != b'\n')(i)?;
        let (i, _) = tag(":")(i)?;
        let (i, value) = rest(i)?;
        Ok((i, (trim(name), trim(value))))
    })(line);
    r.ok().map(|(_, v)| v).filter(|(n, _)| !n.is_empty())
}

/// Parses a chunk-size line (`1a3f;ext=1`): the size, saturating at u64::MAX.
pub fn parse_chunk_size(line: &[u8]) -> Result<u64, HttpError> {
    // chunk extensions after the hex digits are ignored
    let r: IResult<&[u8], &[u8]> = (|i| {
        let (i, _) = space0(i)?;
        take_while1(|c: u8| c.is_ascii_hexdigit())(i)
    })(line);
    let (_, hex) = r.map_err(|_| HttpError::BadChunkSize)?;
    let mut v: u64 = 0;
    for c in hex {
        let d = u64::from((*c as char).to_digit(16).unwrap_or(0));
        v = v.saturating_mul(16).saturating_add(d);
    }
    Ok(v)
}

/// Splits a header block into lines (CRLF or bare LF), without the endings.
pub fn lines(block: &[u8]) -> impl Iterator<Item = &[u8]> {
    block
        .split(|c| *c == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
}

/// Position just after the blank line ending a message head, if present.
pub fn find_head_end(data: &[u8], from: usize) -> Option<usize> {
    let mut pos = from;
    while let Some(rel) = memchr::memchr(b'\n', data.get(pos..)?) {
        let nl = pos + rel;
        match data.get(nl + 1) {
            Some(b'\n') => return Some(nl + 2),
            Some(b'\r') if data.get(nl + 2) == Some(&b'\n') => return Some(nl + 3),
            _ => pos = nl + 1,
        }
    }
    None
}

fn hexval(c: u8) -> Option<u8> {
    (c as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// Normalises a request target the way signature buffers expect: percent
/// escapes of unreserved characters decoded, `\` to `/`, repeated slashes
/// collapsed and dot segments removed (RFC 3986 §5.2.4) in the path.
pub fn normalize_uri(raw: &[u8]) -> String {
    let (path, query) = match memchr::memchr(b'?', raw) {
        Some(q) => (
            raw.get(..q).unwrap_or_default(),
            raw.get(q..).unwrap_or_default(),
        ),
        None => (raw, &b""[..]),
    };
    let mut dec = Vec::with_capacity(path.len());
    let mut i = 0;
    while let Some(&c) = path.get(i) {
        if c == b'%' {
            if let (Some(h), Some(l)) = (
                path.get(i + 1).copied().and_then(hexval),
                path.get(i + 2).copied().and_then(hexval),
            ) {
                let b = h * 16 + l;
                if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
                    dec.push(b);
                    i += 3;
                    continue;
                }
            }
        }
        dec.push(if c == b'\\' { b'/' } else { c });
        i += 1;
    }
    let mut segs: Vec<&[u8]> = Vec::new();
    let absolute = dec.first() == Some(&b'/');
    let trailing = dec.last() == Some(&b'/') || dec.ends_with(b"/.") || dec.ends_with(b"/..");
    for s in dec.split(|c| *c == b'/') {
        match s {
            b"" | b"." => {}
            b".." => {
                segs.pop();
            }
            _ => segs.push(s),
        }
    }
    let mut out = Vec::with_capacity(dec.len() + query.len());
    if absolute {
        out.push(b'/');
    }
    out.extend_from_slice(&segs.join(&b'/'));
    if trailing && !segs.is_empty() {
        out.push(b'/');
    }
    out.extend_from_slice(query);
    String::from_utf8_lossy(&out).into_owned()
}

/// Decodes standard base64 (padding optional); None on a bad character.
pub fn base64_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3 + 3);
    let mut acc = 0u32;
    let mut bits = 0u32;
    for &c in s {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines() {
        let r = parse_request_line(b"GET /a/b?c=1 HTTP/1.1").unwrap();
        assert_eq!(
            (r.method, r.uri, r.protocol),
            (&b"GET"[..], &b"/a/b?c=1"[..], &b"HTTP/1.1"[..])
        );
        let r = parse_request_line(b"GET /a b/c HTTP/1.0").unwrap();
        assert_eq!(r.uri, b"/a b/c");
        let r = parse_request_line(b"GET /old").unwrap();
        assert_eq!(r.protocol, b"");
        assert!(parse_request_line(b"GET").is_err());
        assert!(parse_request_line(b"\x00\x01 x").is_err());
    }

    #[test]
    fn status_lines() {
        let s = parse_status_line(b"HTTP/1.1 404 Not Found").unwrap();
        assert_eq!((s.status, s.reason), (404, &b"Not Found"[..]));
        assert_eq!(parse_status_line(b"HTTP/1.0 200").unwrap().status, 200);
        assert!(parse_status_line(b"HTTP/1.1 abc").is_err());
        assert!(parse_status_line(b"FOO 200 OK").is_err());
    }

    #[test]
    fn headers_and_chunks() {
        assert_eq!(
            parse_header_line(b"Host:  a.b "),
            Some((&b"Host"[..], &b"a.b"[..]))
        );
        assert_eq!(parse_header_line(b"nocolon"), None);
        assert_eq!(parse_chunk_size(b"1a;x=y").unwrap(), 26);
        assert_eq!(
            parse_chunk_size(b"ffffffffffffffffffffff").unwrap(),
            u64::MAX
        );
        assert!(parse_chunk_size(b"zz").is_err());
        assert_eq!(
            find_head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r\nbody", 0),
            Some(24)
        );
        assert_eq!(find_head_end(b"GET / HTTP/1.0\n\nx", 0), Some(16));
        assert_eq!(find_head_end(b"GET / HTTP/1.0\r\nA: b\r\n", 0), None);
    }

    #[test]
    fn uri_normalisation() {
        assert_eq!(
            normalize_uri(b"/a/./b/../c//d%2fe?x=../y"),
            "/a/c/d/e?x=../y"
        );
        assert_eq!(normalize_uri(b"/%41%42%00"), "/AB%00");
        assert_eq!(normalize_uri(b"/../../etc/passwd"), "/etc/passwd");
        assert_eq!(normalize_uri(b"/dir/"), "/dir/");
    }

    #[test]
    fn base64() {
        assert_eq!(
            base64_decode(b"YWxhZGRpbjpvcGVuc2VzYW1l").unwrap(),
            b"aladdin:opensesame"
        );
        assert_eq!(base64_decode(b"YQ==").unwrap(), b"a");
        assert!(base64_decode(b"a!b").is_none());
    }

    proptest::proptest! {
        #[test]
        fn never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = parse_request_line(&data);
            let _ = parse_status_line(&data);
            let _ = parse_header_line(&data);
            let _ = parse_chunk_size(&data);
            let _ = find_head_end(&data, 0);
            let _ = normalize_uri(&data);
            let _ = base64_decode(&data);
        }
    }
}
