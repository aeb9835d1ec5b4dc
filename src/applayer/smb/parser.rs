//! SMB negotiate parsers: the NetBIOS session header (RFC 1002 §4.3.1 /
//! MS-SMB2 §2.1 direct TCP), SMB1 NEGOTIATE (MS-CIFS §2.2.4.52) dialect
//! strings and SMB2 NEGOTIATE (MS-SMB2 §2.2.3, §2.2.4) dialect revisions.

use nom::bytes::complete::{tag, take};
use nom::number::complete::{be_u24, be_u8, le_u16};
use nom::IResult;

/// One NetBIOS session message: (type, payload).
pub fn parse_nbss(i: &[u8]) -> IResult<&[u8], (u8, &[u8])> {
    let (i, typ) = be_u8(i)?;
    let (i, len) = be_u24(i)?;
    let (i, payload) = take(len)(i)?;
    Ok((i, (typ, payload)))
}

/// A negotiate message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Negotiate {
    /// SMB1 NEGOTIATE request: dialect strings.
    Smb1Request(Vec<String>),
    /// SMB1 NEGOTIATE response: index of the chosen dialect.
    Smb1Response(u16),
    /// SMB2 NEGOTIATE request: dialect revisions.
    Smb2Request(Vec<u16>),
    /// SMB2 NEGOTIATE response: chosen revision.
    Smb2Response(u16),
    /// Any other SMB message (protocol version 1 or 2).
    Other(u8),
}

const MAX_DIALECTS: usize = 64;

fn smb1(i: &[u8]) -> IResult<&[u8], Negotiate> {
    let (i, _) = tag(&b"\xffSMB"[..])(i)?;
    let (i, cmd) = be_u8(i)?;
    let (i, hdr) = take(27usize)(i)?; // rest of the 32-byte header
    if cmd != 0x72 {
        return Ok((i, Negotiate::Other(1)));
    }
    let flags = hdr.get(4).copied().unwrap_or(0);
    let (i, wc) = be_u8(i)?;
    let (i, words) = take(usize::from(wc) * 2)(i)?;
    let (i, bc) = le_u16(i)?;
    let (i, bytes) = take(bc)(i)?;
    if flags & 0x80 != 0 {
        let (_, idx) = le_u16(words)?;
        return Ok((i, Negotiate::Smb1Response(idx)));
    }
    let dialects = bytes
        .split(|b| *b == 0)
        .filter_map(|d| d.strip_prefix(b"\x02"))
        .take(MAX_DIALECTS)
        .map(|d| String::from_utf8_lossy(d).into_owned())
        .collect();
    Ok((i, Negotiate::Smb1Request(dialects)))
}

fn smb2(msg: &[u8]) -> IResult<&[u8], Negotiate> {
    let (i, _) = tag(&b"\xfeSMB"[..])(msg)?;
    let (i, _size) = le_u16(i)?;
    let (i, _credit) = le_u16(i)?;
    let (i, _status) = take(4usize)(i)?;
    let (i, cmd) = le_u16(i)?;
    let (i, _credits) = le_u16(i)?;
    let (i, flags) = take(4usize)(i)?;
    let (body, _) = take(64usize - 20)(i)?;
    if cmd != 0 {
        return Ok((body, Negotiate::Other(2)));
    }
    let response = flags.first().is_some_and(|f| f & 1 != 0);
    let (b, _structure) = le_u16(body)?;
    if response {
        let (b, _sec) = le_u16(b)?;
        let (b, dialect) = le_u16(b)?;
        return Ok((b, Negotiate::Smb2Response(dialect)));
    }
    let (b, count) = le_u16(b)?;
    let (b, _) = take(32usize)(b)?; // security mode .. client start time / contexts
    let mut v = Vec::new();
    let mut b = b;
    for _ in 0..count {
        let (r, d) = le_u16(b)?;
        if v.len() < MAX_DIALECTS {
            v.push(d);
        }
        b = r;
    }
    Ok((b, Negotiate::Smb2Request(v)))
}

/// Parses the SMB message inside one NetBIOS session message.
pub fn parse_smb(msg: &[u8]) -> IResult<&[u8], Negotiate> {
    match msg.first() {
        Some(0xff) => smb1(msg),
        _ => smb2(msg),
    }
}

/// Name of an SMB2 dialect revision as Suricata prints it.
pub fn smb2_dialect_name(d: u16) -> String {
    match d {
        0x0202 => "2.02".into(),
        0x0210 => "2.10".into(),
        0x0222 => "2.22".into(),
        0x0224 => "2.24".into(),
        0x02ff => "2.??".into(),
        0x0300 => "3.00".into(),
        0x0302 => "3.02".into(),
        0x0310 => "3.10".into(),
        0x0311 => "3.11".into(),
        _ => format!("0x{d:04x}"),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn smb2_negotiate_request() -> Vec<u8> {
        let mut m = b"\xfeSMB".to_vec();
        m.extend_from_slice(&64u16.to_le_bytes());
        m.extend_from_slice(&[0; 58]);
        m.extend_from_slice(&36u16.to_le_bytes());
        m.extend_from_slice(&3u16.to_le_bytes());
        m.extend_from_slice(&[0; 32]);
        for d in [0x0202u16, 0x0300, 0x0311] {
            m.extend_from_slice(&d.to_le_bytes());
        }
        let mut n = vec![0u8];
        n.extend_from_slice(&(m.len() as u32).to_be_bytes()[1..]);
        n.extend_from_slice(&m);
        n
    }

    pub(crate) fn smb2_negotiate_response() -> Vec<u8> {
        let mut m = b"\xfeSMB".to_vec();
        m.extend_from_slice(&64u16.to_le_bytes());
        m.extend_from_slice(&[0; 10]);
        m.extend_from_slice(&[1, 0, 0, 0]); // flags: response
        m.extend_from_slice(&[0; 44]);
        m.extend_from_slice(&65u16.to_le_bytes());
        m.extend_from_slice(&1u16.to_le_bytes());
        m.extend_from_slice(&0x0311u16.to_le_bytes());
        m.extend_from_slice(&[0; 58]);
        let mut n = vec![0u8];
        n.extend_from_slice(&(m.len() as u32).to_be_bytes()[1..]);
        n.extend_from_slice(&m);
        n
    }

    #[test]
    fn smb2_negotiate() {
        let req = smb2_negotiate_request();
        let (_, (_, msg)) = parse_nbss(&req).unwrap();
        assert_eq!(
            parse_smb(msg).unwrap().1,
            Negotiate::Smb2Request(vec![0x0202, 0x0300, 0x0311])
        );
        let resp = smb2_negotiate_response();
        let (_, (_, msg)) = parse_nbss(&resp).unwrap();
        assert_eq!(parse_smb(msg).unwrap().1, Negotiate::Smb2Response(0x0311));
    }

    #[test]
    fn smb1_negotiate() {
        let mut m = b"\xffSMB\x72".to_vec();
        m.extend_from_slice(&[0; 27]);
        m.push(0);
        let dialects = b"\x02NT LM 0.12\x00\x02SMB 2.002\x00\x02SMB 2.???\x00";
        m.extend_from_slice(&(dialects.len() as u16).to_le_bytes());
        m.extend_from_slice(dialects);
        assert_eq!(
            parse_smb(&m).unwrap().1,
            Negotiate::Smb1Request(vec![
                "NT LM 0.12".into(),
                "SMB 2.002".into(),
                "SMB 2.???".into()
            ])
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = parse_nbss(&data);
            let _ = parse_smb(&data);
        }
    }
}
