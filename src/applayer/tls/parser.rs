//! TLS record and handshake parsers (RFC 8446, RFC 5246): ClientHello and
//! ServerHello with their extensions, and the JA3, JA3S and JA4 client
//! fingerprints computed from them.

use md5::{Digest, Md5};
use nom::bytes::complete::take;
use nom::multi::length_data;
use nom::number::complete::{be_u16, be_u24, be_u8};
use nom::IResult;
use sha2::Sha256;
use std::fmt::Write as _;
use thiserror::Error;

/// Why a handshake message could not be parsed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsError {
    /// A field ran past the end of its message.
    #[error("tls: truncated {field} in {msg}")]
    Truncated {
        /// Message being parsed (`client_hello`, ...).
        msg: &'static str,
        /// Field being read.
        field: &'static str,
    },
}

/// Most list entries kept (cipher suites, extensions, groups...).
pub const MAX_LIST: usize = 256;

/// Record content types.
pub mod content {
    /// change_cipher_spec.
    pub const CCS: u8 = 20;
    /// alert.
    pub const ALERT: u8 = 21;
    /// handshake.
    pub const HANDSHAKE: u8 = 22;
    /// application_data.
    pub const APPDATA: u8 = 23;
}

/// A record header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    /// Content type.
    pub content_type: u8,
    /// Record-layer version.
    pub version: u16,
    /// Payload length.
    pub len: u16,
}

/// Parses the 5-byte record header.
pub fn parse_record_header(i: &[u8]) -> IResult<&[u8], RecordHeader> {
    let (i, content_type) = be_u8(i)?;
    let (i, version) = be_u16(i)?;
    let (i, len) = be_u16(i)?;
    Ok((
        i,
        RecordHeader {
            content_type,
            version,
            len,
        },
    ))
}

/// Splits one handshake message `(type, body)` off the front.
pub fn parse_handshake(i: &[u8]) -> IResult<&[u8], (u8, &[u8])> {
    let (i, t) = be_u8(i)?;
    let (i, body) = length_data(be_u24)(i)?;
    Ok((i, (t, body)))
}

/// ClientHello fields used for logging and fingerprints (GREASE kept; the
/// fingerprints drop it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientHello {
    /// legacy_version.
    pub version: u16,
    /// Cipher suites in order.
    pub ciphers: Vec<u16>,
    /// Extension types in order.
    pub extensions: Vec<u16>,
    /// server_name (host_name) value.
    pub sni: Option<String>,
    /// ALPN protocol names.
    pub alpns: Vec<String>,
    /// supported_groups.
    pub groups: Vec<u16>,
    /// ec_point_formats.
    pub point_formats: Vec<u8>,
    /// signature_algorithms in order.
    pub sig_algs: Vec<u16>,
    /// supported_versions.
    pub supported_versions: Vec<u16>,
}

/// ServerHello fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerHello {
    /// legacy_version.
    pub version: u16,
    /// Chosen cipher suite.
    pub cipher: u16,
    /// Extension types in order.
    pub extensions: Vec<u16>,
    /// supported_versions (the negotiated version for TLS 1.3).
    pub selected_version: Option<u16>,
    /// ALPN chosen.
    pub alpn: Option<String>,
}

impl ServerHello {
    /// The negotiated protocol version.
    pub fn negotiated(&self) -> u16 {
        self.selected_version.unwrap_or(self.version)
    }
}

/// GREASE values (RFC 8701): 0x?a?a with equal bytes.
pub fn is_grease(v: u16) -> bool {
    (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff)
}

fn tr(
    msg: &'static str,
    field: &'static str,
) -> impl Fn(nom::Err<nom::error::Error<&[u8]>>) -> TlsError {
    move |_| TlsError::Truncated { msg, field }
}

/// The body of a vector with a 1-byte length.
fn lv8(i: &[u8]) -> Option<&[u8]> {
    length_data::<_, _, nom::error::Error<&[u8]>, _>(be_u8)(i)
        .ok()
        .map(|(_, l)| l)
}

/// The body of a vector with a 2-byte length.
fn lv16(i: &[u8]) -> Option<&[u8]> {
    length_data::<_, _, nom::error::Error<&[u8]>, _>(be_u16)(i)
        .ok()
        .map(|(_, l)| l)
}

fn u16_list(mut i: &[u8]) -> Vec<u16> {
    let mut v = Vec::new();
    while let Ok((rest, x)) = be_u16::<_, nom::error::Error<&[u8]>>(i) {
        if v.len() < MAX_LIST {
            v.push(x);
        }
        i = rest;
    }
    v
}

/// Parses the body of a ClientHello handshake message.
pub fn parse_client_hello(i: &[u8]) -> Result<ClientHello, TlsError> {
    const M: &str = "client_hello";
    let (i, version) = be_u16(i).map_err(tr(M, "version"))?;
    let (i, _random) = take(32usize)(i).map_err(tr(M, "random"))?;
    let (i, _sid) = length_data(be_u8)(i).map_err(tr(M, "session_id"))?;
    let (i, ciphers) = length_data(be_u16)(i).map_err(tr(M, "cipher_suites"))?;
    let (i, _comp) = length_data(be_u8)(i).map_err(tr(M, "compression_methods"))?;
    let mut ch = ClientHello {
        version,
        ciphers: u16_list(ciphers),
        ..ClientHello::default()
    };
    if i.is_empty() {
        return Ok(ch);
    }
    let (_, mut exts) = length_data(be_u16)(i).map_err(tr(M, "extensions"))?;
    while !exts.is_empty() {
        let (r, typ) = be_u16(exts).map_err(tr(M, "extension type"))?;
        let (r, data) = length_data(be_u16)(r).map_err(tr(M, "extension data"))?;
        exts = r;
        if ch.extensions.len() < MAX_LIST {
            ch.extensions.push(typ);
        }
        match typ {
            0 => ch.sni = parse_sni(data),
            10 => ch.groups = lv16(data).map(u16_list).unwrap_or_default(),
            11 => {
                ch.point_formats = lv8(data)
                    .map(|l| l.get(..l.len().min(MAX_LIST)).unwrap_or_default().to_vec())
                    .unwrap_or_default()
            }
            13 => ch.sig_algs = lv16(data).map(u16_list).unwrap_or_default(),
            16 => ch.alpns = parse_alpn(data),
            43 => ch.supported_versions = lv8(data).map(u16_list).unwrap_or_default(),
            _ => {}
        }
    }
    Ok(ch)
}

fn parse_sni(data: &[u8]) -> Option<String> {
    let (_, mut list) = length_data::<_, _, nom::error::Error<&[u8]>, _>(be_u16)(data).ok()?;
    while !list.is_empty() {
        let (r, t) = be_u8::<_, nom::error::Error<&[u8]>>(list).ok()?;
        let (r, name) = length_data::<_, _, nom::error::Error<&[u8]>, _>(be_u16)(r).ok()?;
        if t == 0 {
            return Some(
                String::from_utf8_lossy(name.get(..name.len().min(255)).unwrap_or_default())
                    .into_owned(),
            );
        }
        list = r;
    }
    None
}

fn parse_alpn(data: &[u8]) -> Vec<String> {
    let mut v = Vec::new();
    let Ok((_, mut list)) = length_data::<_, _, nom::error::Error<&[u8]>, _>(be_u16)(data) else {
        return v;
    };
    while let Ok((r, p)) = length_data::<_, _, nom::error::Error<&[u8]>, _>(be_u8)(list) {
        if v.len() < 32 {
            v.push(String::from_utf8_lossy(p).into_owned());
        }
        list = r;
    }
    v
}

/// Parses the body of a ServerHello handshake message.
pub fn parse_server_hello(i: &[u8]) -> Result<ServerHello, TlsError> {
    const M: &str = "server_hello";
    let (i, version) = be_u16(i).map_err(tr(M, "version"))?;
    let (i, _random) = take(32usize)(i).map_err(tr(M, "random"))?;
    let (i, _sid) = length_data(be_u8)(i).map_err(tr(M, "session_id"))?;
    let (i, cipher) = be_u16(i).map_err(tr(M, "cipher_suite"))?;
    let (i, _comp) = be_u8(i).map_err(tr(M, "compression_method"))?;
    let mut sh = ServerHello {
        version,
        cipher,
        ..ServerHello::default()
    };
    if i.is_empty() {
        return Ok(sh);
    }
    let (_, mut exts) = length_data(be_u16)(i).map_err(tr(M, "extensions"))?;
    while !exts.is_empty() {
        let (r, typ) = be_u16(exts).map_err(tr(M, "extension type"))?;
        let (r, data) = length_data(be_u16)(r).map_err(tr(M, "extension data"))?;
        exts = r;
        if sh.extensions.len() < MAX_LIST {
            sh.extensions.push(typ);
        }
        match typ {
            43 => {
                sh.selected_version = be_u16::<_, nom::error::Error<&[u8]>>(data)
                    .ok()
                    .map(|(_, v)| v)
            }
            16 => sh.alpn = parse_alpn(data).into_iter().next(),
            _ => {}
        }
    }
    Ok(sh)
}

fn join<T: std::fmt::Display>(s: &mut String, v: impl Iterator<Item = T>) {
    for (k, x) in v.enumerate() {
        if k > 0 {
            s.push('-');
        }
        let _ = write!(s, "{x}");
    }
}

fn md5_hex(s: &str) -> String {
    hex(&Md5::digest(s.as_bytes()))
}

/// Lowercase hex of bytes.
pub fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

/// JA3 string and MD5 hash of a ClientHello.
pub fn ja3(ch: &ClientHello) -> (String, String) {
    let mut s = String::with_capacity(256);
    let _ = write!(s, "{},", ch.version);
    join(&mut s, ch.ciphers.iter().filter(|c| !is_grease(**c)));
    s.push(',');
    join(&mut s, ch.extensions.iter().filter(|c| !is_grease(**c)));
    s.push(',');
    join(&mut s, ch.groups.iter().filter(|c| !is_grease(**c)));
    s.push(',');
    join(&mut s, ch.point_formats.iter());
    let h = md5_hex(&s);
    (s, h)
}

/// JA3S string and MD5 hash of a ServerHello.
pub fn ja3s(sh: &ServerHello) -> (String, String) {
    let mut s = String::with_capacity(64);
    let _ = write!(s, "{},{},", sh.version, sh.cipher);
    join(&mut s, sh.extensions.iter().filter(|c| !is_grease(**c)));
    let h = md5_hex(&s);
    (s, h)
}

fn sha256_12(s: &str) -> String {
    let mut h = hex(&Sha256::digest(s.as_bytes()));
    h.truncate(12);
    h
}

fn ja4_version(v: u16) -> &'static str {
    match v {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0002 => "s2",
        0xfeff => "d1",
        0xfefd => "d2",
        0xfefc => "d3",
        _ => "00",
    }
}

/// JA4 (FoxIO) of a ClientHello over TCP:
/// `t{ver}{d|i}{ciphers:02}{exts:02}{alpn}_{sha256(sorted ciphers)[..12]}_{sha256(sorted exts without SNI/ALPN "_" sigalgs)[..12]}`.
pub fn ja4(ch: &ClientHello) -> String {
    let version = ch
        .supported_versions
        .iter()
        .copied()
        .filter(|v| !is_grease(*v))
        .max()
        .unwrap_or(ch.version);
    let ciphers: Vec<u16> = ch
        .ciphers
        .iter()
        .copied()
        .filter(|c| !is_grease(*c))
        .collect();
    let exts: Vec<u16> = ch
        .extensions
        .iter()
        .copied()
        .filter(|c| !is_grease(*c))
        .collect();
    let alpn = match ch.alpns.first().map(|a| a.as_bytes()) {
        Some([f, .., l]) | Some([f @ l]) => {
            if f.is_ascii_alphanumeric() && l.is_ascii_alphanumeric() {
                format!("{}{}", *f as char, *l as char)
            } else {
                let fh = hex(&[*f]);
                let lh = hex(&[*l]);
                format!(
                    "{}{}",
                    fh.get(..1).unwrap_or("0"),
                    lh.get(1..).unwrap_or("0")
                )
            }
        }
        _ => "00".to_string(),
    };
    let mut a = String::with_capacity(10);
    let _ = write!(
        a,
        "t{}{}{:02}{:02}{}",
        ja4_version(version),
        if ch.sni.is_some() { 'd' } else { 'i' },
        ciphers.len().min(99),
        exts.len().min(99),
        alpn
    );
    let list = |v: &[u16]| {
        let mut s = String::new();
        for (k, x) in v.iter().enumerate() {
            if k > 0 {
                s.push(',');
            }
            let _ = write!(s, "{x:04x}");
        }
        s
    };
    let mut sc = ciphers.clone();
    sc.sort_unstable();
    let b = if sc.is_empty() {
        "000000000000".to_string()
    } else {
        sha256_12(&list(&sc))
    };
    let mut se: Vec<u16> = exts
        .iter()
        .copied()
        .filter(|e| *e != 0 && *e != 16)
        .collect();
    se.sort_unstable();
    let c = if se.is_empty() {
        "000000000000".to_string()
    } else {
        let sigs: Vec<u16> = ch
            .sig_algs
            .iter()
            .copied()
            .filter(|c| !is_grease(*c))
            .collect();
        let mut s = list(&se);
        if !sigs.is_empty() {
            s.push('_');
            s.push_str(&list(&sigs));
        }
        sha256_12(&s)
    };
    format!("{a}_{b}_{c}")
}

/// Suricata's name of a protocol version.
pub fn version_name(v: u16) -> &'static str {
    match v {
        0x0002 => "SSLv2",
        0x0300 => "SSLv3",
        0x0301 => "TLSv1",
        0x0302 => "TLS 1.1",
        0x0303 => "TLS 1.2",
        0x0304 => "TLS 1.3",
        _ => "UNDETERMINED",
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds a ClientHello body with GREASE, SNI www.example.com, ALPN h2/http1.1.
    pub(crate) fn client_hello_body() -> Vec<u8> {
        let mut b = vec![0x03, 0x03];
        b.extend_from_slice(&[0x11; 32]);
        b.push(0); // session id
        let ciphers: [u16; 4] = [0x0a0a, 0x1301, 0xc02f, 0x009c];
        b.extend_from_slice(&((ciphers.len() * 2) as u16).to_be_bytes());
        for c in ciphers {
            b.extend_from_slice(&c.to_be_bytes());
        }
        b.extend_from_slice(&[1, 0]); // compression: null
        let mut ext = Vec::new();
        let mut add = |t: u16, d: &[u8]| {
            ext.extend_from_slice(&t.to_be_bytes());
            ext.extend_from_slice(&(d.len() as u16).to_be_bytes());
            ext.extend_from_slice(d);
        };
        add(0x1a1a, &[]);
        let name = b"www.example.com";
        let mut sni = ((name.len() + 3) as u16).to_be_bytes().to_vec();
        sni.push(0);
        sni.extend_from_slice(&(name.len() as u16).to_be_bytes());
        sni.extend_from_slice(name);
        add(0, &sni);
        add(10, &[0, 6, 0x2a, 0x2a, 0, 0x1d, 0, 0x17]);
        add(11, &[1, 0]);
        add(13, &[0, 4, 0x04, 0x03, 0x08, 0x04]);
        add(
            16,
            &[
                0, 12, 2, b'h', b'2', 8, b'h', b't', b't', b'p', b'/', b'1', b'.', b'1',
            ],
        );
        add(43, &[4, 0x03, 0x04, 0x03, 0x03]);
        b.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        b.extend_from_slice(&ext);
        b
    }

    /// The ClientHello wrapped in a handshake header and one record.
    pub(crate) fn client_hello_record() -> Vec<u8> {
        let body = client_hello_body();
        let mut hs = vec![1u8];
        hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        hs.extend_from_slice(&body);
        let mut r = vec![22, 3, 1];
        r.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        r.extend_from_slice(&hs);
        r
    }

    #[test]
    fn client_hello_fields() {
        let ch = parse_client_hello(&client_hello_body()).unwrap();
        assert_eq!(ch.sni.as_deref(), Some("www.example.com"));
        assert_eq!(ch.alpns, ["h2", "http/1.1"]);
        assert_eq!(ch.supported_versions, [0x0304, 0x0303]);
        assert_eq!(ch.extensions, [0x1a1a, 0, 10, 11, 13, 16, 43]);
    }

    #[test]
    fn ja3_drops_grease() {
        let ch = parse_client_hello(&client_hello_body()).unwrap();
        let (s, h) = ja3(&ch);
        assert_eq!(s, "771,4865-49199-156,0-10-11-13-16-43,29-23,0");
        assert_eq!(h, md5_hex("771,4865-49199-156,0-10-11-13-16-43,29-23,0"));
        assert_eq!(h.len(), 32);
    }

    #[test]
    fn ja4_parts() {
        let ch = parse_client_hello(&client_hello_body()).unwrap();
        let j = ja4(&ch);
        assert!(j.starts_with("t13d0306h2_"), "{j}");
        let b = sha256_12("009c,1301,c02f");
        let c = sha256_12("000a,000b,000d,002b_0403,0804");
        assert_eq!(j, format!("t13d0306h2_{b}_{c}"));
    }

    #[test]
    fn ja4_reference_vector() {
        // FoxIO's documented example: the sorted cipher list
        // 002f,0035,009c,...  hashes to 8daaf6152771 for Chrome's list.
        let ciphers = "002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9";
        assert_eq!(sha256_12(ciphers), "8daaf6152771");
        let exts = "0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_0403,0804,0401,0503,0805,0501,0806,0601";
        assert_eq!(sha256_12(exts), "e5627efa2ab1");
    }

    #[test]
    fn server_hello_and_ja3s() {
        let mut b = vec![0x03, 0x03];
        b.extend_from_slice(&[0x22; 32]);
        b.push(0);
        b.extend_from_slice(&[0x13, 0x01, 0]);
        b.extend_from_slice(&[0, 6, 0, 43, 0, 2, 3, 4]);
        let sh = parse_server_hello(&b).unwrap();
        assert_eq!(sh.negotiated(), 0x0304);
        assert_eq!(ja3s(&sh).0, "771,4865,43");
    }

    #[test]
    fn truncated_is_an_error() {
        let body = client_hello_body();
        assert!(matches!(
            parse_client_hello(&body[..40]),
            Err(TlsError::Truncated { .. })
        ));
    }

    proptest::proptest! {
        #[test]
        fn never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            if let Ok(ch) = parse_client_hello(&data) { let _ = ja3(&ch); let _ = ja4(&ch); }
            if let Ok(sh) = parse_server_hello(&data) { let _ = ja3s(&sh); }
            let _ = parse_handshake(&data);
        }
    }
}
