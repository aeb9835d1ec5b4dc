//! A small, bounded DER walker for the X.509 fields Suricata logs: subject
//! and issuer DNs, serial, validity and dNSName SANs (RFC 5280). It reads
//! only what it needs and never recurses deeper than the certificate shape.

use thiserror::Error;

/// Why a certificate could not be read; `offset` is within the DER.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DerError {
    /// A TLV ran past its container.
    #[error("der: truncated {field} at offset {offset}")]
    Truncated {
        /// What was being read.
        field: &'static str,
        /// Where.
        offset: usize,
    },
    /// A tag other than the one the certificate shape requires.
    #[error("der: unexpected tag 0x{tag:02x} for {field} at offset {offset}")]
    UnexpectedTag {
        /// The tag found.
        tag: u8,
        /// The field expected.
        field: &'static str,
        /// Where.
        offset: usize,
    },
}

/// Certificate details as Suricata logs them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertInfo {
    /// Subject DN, `C=.., O=.., CN=..`.
    pub subject: String,
    /// Issuer DN.
    pub issuer: String,
    /// Serial as `XX:XX:..` uppercase hex.
    pub serial: String,
    /// notBefore as `YYYY-MM-DDTHH:MM:SS`.
    pub not_before: String,
    /// notAfter as `YYYY-MM-DDTHH:MM:SS`.
    pub not_after: String,
    /// dNSName subjectAltNames (bounded).
    pub sans: Vec<String>,
    /// SHA-1 of the whole DER certificate, `aa:bb:..` lowercase hex, as
    /// Suricata's `tls.fingerprint`.
    pub fingerprint: String,
}

/// Suricata's certificate fingerprint: SHA-1 of the DER, lowercase hex
/// bytes joined by `:`.
pub fn fingerprint(der: &[u8]) -> String {
    use sha1::{Digest, Sha1};
    let d = Sha1::digest(der);
    let mut s = String::with_capacity(59);
    for (i, b) in d.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// One TLV: tag, content, and the offset of the content in the whole DER.
struct Tlv<'a> {
    tag: u8,
    content: &'a [u8],
    off: usize,
}

/// Reads one TLV at `base + pos` within `buf`; returns it and the next position.
fn tlv<'a>(
    buf: &'a [u8],
    pos: usize,
    base: usize,
    field: &'static str,
) -> Result<(Tlv<'a>, usize), DerError> {
    let t = |o: usize| DerError::Truncated {
        field,
        offset: base + o,
    };
    let tag = *buf.get(pos).ok_or(t(pos))?;
    let l0 = *buf.get(pos + 1).ok_or(t(pos))?;
    let (len, hdr) = if l0 < 0x80 {
        (usize::from(l0), 2)
    } else {
        let n = usize::from(l0 & 0x7f);
        if n == 0 || n > 4 {
            return Err(t(pos));
        }
        let mut len = 0usize;
        for k in 0..n {
            len = (len << 8) | usize::from(*buf.get(pos + 2 + k).ok_or(t(pos))?);
        }
        (len, 2 + n)
    };
    let start = pos + hdr;
    let end = start.checked_add(len).ok_or(t(pos))?;
    let content = buf.get(start..end).ok_or(t(pos))?;
    Ok((
        Tlv {
            tag,
            content,
            off: base + start,
        },
        end,
    ))
}

fn expect_tag<'a>(
    buf: &'a [u8],
    pos: usize,
    base: usize,
    tag: u8,
    field: &'static str,
) -> Result<(Tlv<'a>, usize), DerError> {
    let (t, next) = tlv(buf, pos, base, field)?;
    if t.tag != tag {
        return Err(DerError::UnexpectedTag {
            tag: t.tag,
            field,
            offset: base + pos,
        });
    }
    Ok((t, next))
}

/// Dotted form of an OID's content bytes.
fn oid_string(b: &[u8]) -> String {
    let mut s = String::new();
    let mut v: u64 = 0;
    let mut first = true;
    for &c in b.iter().take(64) {
        v = (v << 7) | u64::from(c & 0x7f);
        if c & 0x80 == 0 {
            if first {
                let (a, b2) = if v < 80 {
                    (v / 40, v % 40)
                } else {
                    (2, v - 80)
                };
                s.push_str(&format!("{a}.{b2}"));
                first = false;
            } else {
                s.push_str(&format!(".{v}"));
            }
            v = 0;
        }
    }
    s
}

fn attr_name(oid: &[u8]) -> String {
    let n = match oid {
        [0x55, 0x04, 0x03] => "CN",
        [0x55, 0x04, 0x06] => "C",
        [0x55, 0x04, 0x07] => "L",
        [0x55, 0x04, 0x08] => "ST",
        [0x55, 0x04, 0x09] => "street",
        [0x55, 0x04, 0x0a] => "O",
        [0x55, 0x04, 0x0b] => "OU",
        [0x55, 0x04, 0x05] => "serialNumber",
        [0x55, 0x04, 0x11] => "postalCode",
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01] => "emailAddress",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19] => "DC",
        _ => return oid_string(oid),
    };
    n.to_string()
}

/// Renders a Name (SEQUENCE OF SET OF AttributeTypeAndValue) as `C=.., CN=..`.
fn name_string(name: &[u8], base: usize) -> Result<String, DerError> {
    let mut out = String::new();
    let mut pos = 0;
    let mut n = 0;
    while pos < name.len() && n < 32 {
        let (set, next) = expect_tag(name, pos, base, 0x31, "rdn set")?;
        pos = next;
        let mut p2 = 0;
        while p2 < set.content.len() && n < 32 {
            let (atv, nx) = expect_tag(set.content, p2, set.off, 0x30, "attribute")?;
            p2 = nx;
            n += 1;
            let (oid, after) = expect_tag(atv.content, 0, atv.off, 0x06, "attribute type")?;
            let (val, _) = tlv(atv.content, after, atv.off, "attribute value")?;
            if !out.is_empty() {
                out.push_str(", ");
            }
            out.push_str(&attr_name(oid.content));
            out.push('=');
            if val.tag == 0x1e {
                // BMPString: UTF-16BE
                let u: Vec<u16> = val
                    .content
                    .chunks_exact(2)
                    .map(|c| {
                        u16::from_be_bytes([
                            c.first().copied().unwrap_or(0),
                            c.get(1).copied().unwrap_or(0),
                        ])
                    })
                    .collect();
                out.push_str(&String::from_utf16_lossy(&u));
            } else {
                out.push_str(&String::from_utf8_lossy(val.content));
            }
        }
    }
    Ok(out)
}

fn time_string(t: &Tlv<'_>) -> String {
    let s = String::from_utf8_lossy(t.content);
    let d: String = s.chars().filter(char::is_ascii_digit).collect();
    let full = match t.tag {
        0x17 if d.len() >= 12 => {
            let yy: u32 = d.get(..2).and_then(|x| x.parse().ok()).unwrap_or(0);
            let century = if yy >= 50 { "19" } else { "20" };
            format!("{century}{d}")
        }
        0x18 if d.len() >= 14 => d,
        _ => return s.into_owned(),
    };
    let g = |a: usize, b: usize| full.get(a..b).unwrap_or("00");
    format!(
        "{}-{}-{}T{}:{}:{}",
        g(0, 4),
        g(4, 6),
        g(6, 8),
        g(8, 10),
        g(10, 12),
        g(12, 14)
    )
}

/// Parses a DER certificate.
pub fn parse_certificate(der: &[u8]) -> Result<CertInfo, DerError> {
    let (cert, _) = expect_tag(der, 0, 0, 0x30, "certificate")?;
    let (tbs, _) = expect_tag(cert.content, 0, cert.off, 0x30, "tbsCertificate")?;
    let b = tbs.content;
    let base = tbs.off;
    let mut pos = 0;
    let (first, next) = tlv(b, pos, base, "version")?;
    if first.tag == 0xa0 {
        pos = next;
    }
    let (serial, next) = expect_tag(b, pos, base, 0x02, "serialNumber")?;
    let (_alg, next) = expect_tag(b, next, base, 0x30, "signature")?;
    let (issuer, next) = expect_tag(b, next, base, 0x30, "issuer")?;
    let (validity, next) = expect_tag(b, next, base, 0x30, "validity")?;
    let (subject, mut pos) = expect_tag(b, next, base, 0x30, "subject")?;
    let (nb, after) = tlv(validity.content, 0, validity.off, "notBefore")?;
    let (na, _) = tlv(validity.content, after, validity.off, "notAfter")?;
    let serial_hex = serial
        .content
        .iter()
        .map(|x| format!("{x:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    let mut info = CertInfo {
        subject: name_string(subject.content, subject.off)?,
        issuer: name_string(issuer.content, issuer.off)?,
        serial: serial_hex,
        not_before: time_string(&nb),
        not_after: time_string(&na),
        sans: Vec::new(),
        fingerprint: fingerprint(der),
    };
    // skip subjectPublicKeyInfo and the optional unique ids; find [3] extensions
    while pos < b.len() {
        let (t, next) = tlv(b, pos, base, "tbs field")?;
        pos = next;
        if t.tag == 0xa3 {
            let (exts, _) = expect_tag(t.content, 0, t.off, 0x30, "extensions")?;
            let mut p = 0;
            while p < exts.content.len() {
                let (ext, nx) = expect_tag(exts.content, p, exts.off, 0x30, "extension")?;
                p = nx;
                let (oid, mut q) = expect_tag(ext.content, 0, ext.off, 0x06, "extnID")?;
                if oid.content != [0x55, 0x1d, 0x11] {
                    continue;
                }
                let (mut v, n2) = tlv(ext.content, q, ext.off, "extnValue")?;
                if v.tag == 0x01 {
                    q = n2;
                    v = tlv(ext.content, q, ext.off, "extnValue")?.0;
                }
                let (names, _) = expect_tag(v.content, 0, v.off, 0x30, "subjectAltName")?;
                let mut r = 0;
                while r < names.content.len() {
                    let (gn, nx) = tlv(names.content, r, names.off, "generalName")?;
                    r = nx;
                    if gn.tag == 0x82 && info.sans.len() < 64 {
                        info.sans
                            .push(String::from_utf8_lossy(gn.content).into_owned());
                    }
                }
            }
        }
    }
    Ok(info)
}

#[cfg(test)]
mod tests {

    #[test]
    fn fingerprint_is_sha1_of_the_der() {
        // SHA-1("abc") = a9993e36 4706816a ba3e2571 7850c26c 9cd0d89d
        assert_eq!(
            fingerprint(b"abc"),
            "a9:99:3e:36:47:06:81:6a:ba:3e:25:71:78:50:c2:6c:9c:d0:d8:9d"
        );
    }

    use super::*;

    fn cert_der() -> Vec<u8> {
        let mut params = rcgen::CertificateParams::new(vec![
            "www.example.com".to_string(),
            "example.com".to_string(),
        ])
        .unwrap();
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CountryName, "CN");
        dn.push(rcgen::DnType::OrganizationName, "Dehong eGov");
        dn.push(rcgen::DnType::CommonName, "www.example.com");
        params.distinguished_name = dn;
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x01, 0xab, 0xcd]));
        params.not_before = rcgen::date_time_ymd(2024, 1, 2);
        params.not_after = rcgen::date_time_ymd(2034, 5, 6);
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn reads_rcgen_certificate() {
        let c = parse_certificate(&cert_der()).unwrap();
        assert_eq!(c.subject, "C=CN, O=Dehong eGov, CN=www.example.com");
        assert_eq!(c.issuer, c.subject);
        assert_eq!(c.serial, "01:AB:CD");
        assert_eq!(c.not_before, "2024-01-02T00:00:00");
        assert_eq!(c.not_after, "2034-05-06T00:00:00");
        assert_eq!(c.sans, ["www.example.com", "example.com"]);
    }

    #[test]
    fn truncation_names_offset() {
        let d = cert_der();
        let e = parse_certificate(&d[..d.len() / 2]).unwrap_err();
        assert!(e.to_string().contains("offset"));
    }

    proptest::proptest! {
        #[test]
        fn never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = parse_certificate(&data);
        }

        #[test]
        fn mutated_cert_never_panics(pos in 0usize..400, byte in proptest::num::u8::ANY) {
            let mut d = cert_der();
            if let Some(b) = d.get_mut(pos) { *b = byte; }
            let _ = parse_certificate(&d);
        }
    }
}
