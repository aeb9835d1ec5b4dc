//! SSH transport-layer parsers (RFC 4253): the identification banner, the
//! binary packet framing and SSH_MSG_KEXINIT, with HASSH fingerprints.

use md5::{Digest, Md5};
use nom::bytes::complete::take;
use nom::multi::length_data;
use nom::number::complete::{be_u32, be_u8};
use nom::IResult;
use thiserror::Error;

/// Why an SSH message could not be parsed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SshError {
    /// The banner is not `SSH-<proto>-<software>`.
    #[error("ssh: bad banner")]
    BadBanner,
    /// KEXINIT ended inside a field.
    #[error("ssh: truncated kexinit field {field}")]
    Truncated {
        /// The field being read.
        field: &'static str,
    },
}

/// `SSH-protoversion-softwareversion [SP comments]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Banner<'a> {
    /// `2.0`.
    pub proto_version: &'a [u8],
    /// Everything after the second dash, comments included.
    pub software_version: &'a [u8],
}

/// Parses a banner line (without CR LF).
pub fn parse_banner(line: &[u8]) -> Result<Banner<'_>, SshError> {
    let rest = line.strip_prefix(b"SSH-").ok_or(SshError::BadBanner)?;
    let dash = memchr::memchr(b'-', rest).ok_or(SshError::BadBanner)?;
    let proto_version = rest.get(..dash).ok_or(SshError::BadBanner)?;
    let software_version = rest.get(dash + 1..).unwrap_or_default();
    if proto_version.is_empty()
        || !proto_version
            .iter()
            .all(|c| c.is_ascii_digit() || *c == b'.')
    {
        return Err(SshError::BadBanner);
    }
    Ok(Banner {
        proto_version,
        software_version,
    })
}

/// One binary packet: `(payload)`; padding and MAC are not needed before NEWKEYS.
pub fn parse_packet(i: &[u8]) -> IResult<&[u8], &[u8]> {
    let (i, len) = be_u32(i)?;
    let (rest, pkt) = take(len)(i)?;
    let (pkt, pad) = be_u8(pkt)?;
    let plen = pkt.len().saturating_sub(usize::from(pad));
    Ok((rest, pkt.get(..plen).unwrap_or_default()))
}

/// Name-lists of a KEXINIT used by HASSH.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KexInit {
    /// kex_algorithms.
    pub kex: String,
    /// server_host_key_algorithms.
    pub host_key: String,
    /// encryption client→server.
    pub enc_cs: String,
    /// encryption server→client.
    pub enc_sc: String,
    /// mac client→server.
    pub mac_cs: String,
    /// mac server→client.
    pub mac_sc: String,
    /// compression client→server.
    pub comp_cs: String,
    /// compression server→client.
    pub comp_sc: String,
}

impl KexInit {
    /// HASSH string and MD5 of a client KEXINIT.
    pub fn hassh(&self) -> (String, String) {
        let s = format!(
            "{};{};{};{}",
            self.kex, self.enc_cs, self.mac_cs, self.comp_cs
        );
        let h = super::super::tls::parser::hex(&Md5::digest(s.as_bytes()));
        (s, h)
    }
    /// HASSH-server string and MD5 of a server KEXINIT.
    pub fn hassh_server(&self) -> (String, String) {
        let s = format!(
            "{};{};{};{}",
            self.kex, self.enc_sc, self.mac_sc, self.comp_sc
        );
        let h = super::super::tls::parser::hex(&Md5::digest(s.as_bytes()));
        (s, h)
    }
}

/// Parses a KEXINIT payload (message type byte included).
pub fn parse_kexinit(p: &[u8]) -> Result<KexInit, SshError> {
    let t = |field| move |_: nom::Err<nom::error::Error<&[u8]>>| SshError::Truncated { field };
    let (i, typ) = be_u8(p).map_err(t("type"))?;
    if typ != 20 {
        return Err(SshError::Truncated { field: "type" });
    }
    let (i, _cookie) = take(16usize)(i).map_err(t("cookie"))?;
    let mut lists: [String; 8] = Default::default();
    let names = [
        "kex", "host_key", "enc_cs", "enc_sc", "mac_cs", "mac_sc", "comp_cs", "comp_sc",
    ];
    let mut i = i;
    for (slot, name) in lists.iter_mut().zip(names) {
        let (r, l) = length_data(be_u32)(i).map_err(t(name))?;
        *slot =
            String::from_utf8_lossy(l.get(..l.len().min(4096)).unwrap_or_default()).into_owned();
        i = r;
    }
    let [kex, host_key, enc_cs, enc_sc, mac_cs, mac_sc, comp_cs, comp_sc] = lists;
    Ok(KexInit {
        kex,
        host_key,
        enc_cs,
        enc_sc,
        mac_cs,
        mac_sc,
        comp_cs,
        comp_sc,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn kexinit_packet() -> Vec<u8> {
        let mut p = vec![20u8];
        p.extend_from_slice(&[7; 16]);
        for l in [
            "curve25519-sha256,diffie-hellman-group14-sha256",
            "ssh-ed25519",
            "aes128-ctr",
            "aes128-ctr",
            "hmac-sha2-256",
            "hmac-sha2-256",
            "none",
            "none",
            "",
            "",
        ] {
            p.extend_from_slice(&(l.len() as u32).to_be_bytes());
            p.extend_from_slice(l.as_bytes());
        }
        p.extend_from_slice(&[0, 0, 0, 0, 0]);
        let pad = 4u8;
        let mut pkt = ((p.len() + 1 + usize::from(pad)) as u32)
            .to_be_bytes()
            .to_vec();
        pkt.push(pad);
        pkt.extend_from_slice(&p);
        pkt.extend_from_slice(&[0; 4]);
        pkt
    }

    #[test]
    fn banner() {
        let b = parse_banner(b"SSH-2.0-OpenSSH_8.9p1 Ubuntu-3").unwrap();
        assert_eq!(b.proto_version, b"2.0");
        assert_eq!(b.software_version, b"OpenSSH_8.9p1 Ubuntu-3");
        assert!(parse_banner(b"SSH-x-y").is_err());
        assert!(parse_banner(b"HTTP/1.1").is_err());
    }

    #[test]
    fn kexinit_and_hassh() {
        let pkt = kexinit_packet();
        let (rest, payload) = parse_packet(&pkt).unwrap();
        assert!(rest.is_empty());
        let k = parse_kexinit(payload).unwrap();
        let (s, h) = k.hassh();
        assert_eq!(
            s,
            "curve25519-sha256,diffie-hellman-group14-sha256;aes128-ctr;hmac-sha2-256;none"
        );
        assert_eq!(h.len(), 32);
        assert!(parse_kexinit(&payload[..30]).is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = parse_banner(&data);
            let _ = parse_packet(&data);
            let _ = parse_kexinit(&data);
        }
    }
}
