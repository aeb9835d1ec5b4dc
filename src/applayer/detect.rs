//! Content-based protocol detection. The port is only a hint: it settles
//! ambiguous cases (an FTP and a POP3 client both say `USER`) and the BSD
//! r-services, whose first bytes carry no signature.

use super::{AppProto, Direction, Transport};

/// Outcome of [`detect`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detect {
    /// The protocol is known.
    Found(AppProto),
    /// Too few bytes to decide; call again with more of the same direction.
    NeedMore,
    /// No known protocol matches these bytes.
    NotFound,
}

const HTTP_METHODS: &[&[u8]] = &[
    b"GET ",
    b"POST ",
    b"HEAD ",
    b"PUT ",
    b"DELETE ",
    b"OPTIONS ",
    b"CONNECT ",
    b"TRACE ",
    b"PATCH ",
    b"PROPFIND ",
    b"PROPPATCH ",
    b"MKCOL ",
    b"COPY ",
    b"MOVE ",
    b"LOCK ",
    b"UNLOCK ",
    b"SEARCH ",
    b"REPORT ",
];

/// Names the protocol of the first bytes `data` of one direction of a flow.
/// `data` should hold everything seen so far in that direction.
pub fn detect(
    transport: Transport,
    dir: Direction,
    data: &[u8],
    src_port: u16,
    dst_port: u16,
) -> Detect {
    match transport {
        Transport::Udp => {
            if super::dns::parser::looks_like_dns(data) {
                Detect::Found(AppProto::Dns)
            } else {
                Detect::NotFound
            }
        }
        Transport::Tcp => detect_tcp(dir, data, src_port, dst_port),
    }
}

fn has_port(p: u16, src: u16, dst: u16) -> bool {
    src == p || dst == p
}

/// Compares a possibly short `data` with `pat`: Some(true) full match,
/// Some(false) mismatch, None when `data` is a strict prefix of `pat`.
fn prefix(data: &[u8], pat: &[u8]) -> Option<bool> {
    if data.len() >= pat.len() {
        Some(data.get(..pat.len()) == Some(pat))
    } else if pat.get(..data.len()) == Some(data) {
        None
    } else {
        Some(false)
    }
}

fn detect_tcp(dir: Direction, data: &[u8], sp: u16, dp: u16) -> Detect {
    if data.is_empty() {
        return Detect::NeedMore;
    }
    let mut need_more = false;
    let mut check = |pat: &[u8]| match prefix(data, pat) {
        Some(m) => m,
        None => {
            need_more = true;
            false
        }
    };
    // TLS: handshake record, SSL3/TLS version, ClientHello or ServerHello.
    if let [0x16, 0x03, minor, ..] = data {
        if *minor <= 0x04 {
            return match data.get(5) {
                Some(1) | Some(2) => Detect::Found(AppProto::Tls),
                Some(_) => Detect::NotFound,
                None => Detect::NeedMore,
            };
        }
    }
    if matches!(data, [0x16] | [0x16, 0x03]) {
        return Detect::NeedMore;
    }
    if check(b"SSH-") {
        return Detect::Found(AppProto::Ssh);
    }
    // SMB: NetBIOS session message then "\xffSMB" or "\xfeSMB".
    if data.first() == Some(&0) && data.len() >= 2 {
        match data.get(4..8) {
            Some([0xff | 0xfe, b'S', b'M', b'B']) => return Detect::Found(AppProto::Smb),
            None if data.len() < 8 && (has_port(445, sp, dp) || has_port(139, sp, dp)) => {
                return Detect::NeedMore
            }
            _ => {}
        }
    }
    // Telnet option negotiation: IAC WILL/WONT/DO/DONT.
    if let [0xff, cmd, ..] = data {
        if (251..=254).contains(cmd) {
            return Detect::Found(AppProto::Telnet);
        }
    }
    match dir {
        Direction::ToServer => {
            for m in HTTP_METHODS {
                if check(m) {
                    return Detect::Found(AppProto::Http);
                }
            }
            if has_port(53, sp, dp) && super::dns::parser::looks_like_dns_tcp(data) {
                return Detect::Found(AppProto::Dns);
            }
            if has_port(512, sp, dp) {
                return Detect::Found(AppProto::Rexec);
            }
            if has_port(513, sp, dp) && data.first() == Some(&0) {
                return Detect::Found(AppProto::Rlogin);
            }
            let upper = |pat: &[u8]| {
                data.len() >= pat.len()
                    && data
                        .iter()
                        .zip(pat)
                        .all(|(a, b)| a.to_ascii_uppercase() == *b)
            };
            if upper(b"USER ") || upper(b"PASS ") || upper(b"APOP ") {
                if has_port(21, sp, dp) {
                    return Detect::Found(AppProto::Ftp);
                }
                if has_port(110, sp, dp) || upper(b"APOP ") {
                    return Detect::Found(AppProto::Pop3);
                }
                return Detect::Found(AppProto::Ftp);
            }
            if is_imap_command(data) {
                return Detect::Found(AppProto::Imap);
            }
            if has_port(23, sp, dp) {
                return Detect::Found(AppProto::Telnet);
            }
        }
        Direction::ToClient => {
            if check(b"HTTP/1.") {
                return Detect::Found(AppProto::Http);
            }
            if check(b"+OK") {
                return Detect::Found(AppProto::Pop3);
            }
            if check(b"* OK") || check(b"* PREAUTH") {
                return Detect::Found(AppProto::Imap);
            }
            if check(b"220") {
                let line = data.get(..data.len().min(256)).unwrap_or_default();
                let has = |w: &[u8]| line.windows(w.len()).any(|x| x.eq_ignore_ascii_case(w));
                if has(b"SMTP") || has_port(25, sp, dp) || has_port(587, sp, dp) {
                    return Detect::NotFound;
                }
                if memchr::memchr(b'\n', line).is_none() && !has(b"FTP") {
                    return Detect::NeedMore;
                }
                return Detect::Found(AppProto::Ftp);
            }
            if has_port(23, sp, dp) {
                return Detect::Found(AppProto::Telnet);
            }
        }
    }
    if need_more && data.len() < 16 {
        Detect::NeedMore
    } else {
        Detect::NotFound
    }
}

/// `tag SP (LOGIN|AUTHENTICATE|CAPABILITY|STARTTLS)` as an IMAP client opens.
fn is_imap_command(data: &[u8]) -> bool {
    let Some(sp) = memchr::memchr(b' ', data.get(..data.len().min(64)).unwrap_or_default()) else {
        return false;
    };
    let (tag, rest) = data.split_at(sp);
    if tag.is_empty() || !tag.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'.') {
        return false;
    }
    let rest = rest.get(1..).unwrap_or_default();
    [&b"LOGIN "[..], b"AUTHENTICATE ", b"CAPABILITY", b"STARTTLS"]
        .iter()
        .any(|c| {
            rest.len() >= c.len()
                && rest
                    .get(..c.len())
                    .is_some_and(|x| x.eq_ignore_ascii_case(c))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Direction::*;

    fn tcp(dir: Direction, d: &[u8], dp: u16) -> Detect {
        detect(Transport::Tcp, dir, d, 40000, dp)
    }

    #[test]
    fn content_beats_port() {
        assert_eq!(
            tcp(ToServer, b"GET / HTTP/1.1\r\n", 3128),
            Detect::Found(AppProto::Http)
        );
        assert_eq!(
            tcp(ToServer, b"CONNECT a:443 HTTP/1.1\r\n", 8080),
            Detect::Found(AppProto::Http)
        );
        assert_eq!(
            tcp(ToServer, &[0x16, 3, 1, 0, 200, 1, 0], 8443),
            Detect::Found(AppProto::Tls)
        );
        assert_eq!(
            tcp(ToServer, b"SSH-2.0-OpenSSH_9.6\r\n", 2222),
            Detect::Found(AppProto::Ssh)
        );
        assert_eq!(
            tcp(ToClient, b"HTTP/1.1 200 OK\r\n", 8080),
            Detect::Found(AppProto::Http)
        );
        assert_eq!(
            tcp(ToClient, b"+OK POP3 ready\r\n", 9999),
            Detect::Found(AppProto::Pop3)
        );
        assert_eq!(
            tcp(ToClient, b"* OK IMAP4rev1\r\n", 9999),
            Detect::Found(AppProto::Imap)
        );
        assert_eq!(
            tcp(ToClient, b"220 (vsFTPd 3.0.3)\r\n", 2121),
            Detect::Found(AppProto::Ftp)
        );
        assert_eq!(
            tcp(ToClient, b"220 mx ESMTP Postfix\r\n", 2525),
            Detect::NotFound
        );
        assert_eq!(
            tcp(ToServer, &[0xff, 0xfd, 0x18], 2323),
            Detect::Found(AppProto::Telnet)
        );
        assert_eq!(
            tcp(ToServer, b"a1 LOGIN bob x\r\n", 1143),
            Detect::Found(AppProto::Imap)
        );
        let smb = [0u8, 0, 0, 0x50, 0xfe, b'S', b'M', b'B'];
        assert_eq!(tcp(ToServer, &smb, 4455), Detect::Found(AppProto::Smb));
    }

    #[test]
    fn short_input_asks_for_more() {
        assert_eq!(tcp(ToServer, b"GE", 80), Detect::NeedMore);
        assert_eq!(tcp(ToServer, b"SS", 22), Detect::NeedMore);
        assert_eq!(tcp(ToServer, &[0x16, 3, 1], 443), Detect::NeedMore);
        assert_eq!(tcp(ToServer, &[0x16, 3], 443), Detect::NeedMore);
        assert_eq!(
            tcp(ToServer, b"\x01\x02garbage garbage", 80),
            Detect::NotFound
        );
    }

    #[test]
    fn r_services_by_port() {
        assert_eq!(
            tcp(ToServer, b"0\0bob\0pw\0ls\0", 512),
            Detect::Found(AppProto::Rexec)
        );
        assert_eq!(
            tcp(ToServer, b"\0bob\0bob\0xterm/38400\0", 513),
            Detect::Found(AppProto::Rlogin)
        );
    }
}
