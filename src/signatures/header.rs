//! The rule header: `action proto src sport dir dst dport`.

use std::fmt;

/// What a rule does when it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `alert`.
    Alert,
    /// `pass`: stop inspecting the packet/flow.
    Pass,
    /// `drop` (in passive mode: alert and record the action).
    Drop,
    /// `reject`.
    Reject,
    /// `rejectsrc`.
    RejectSrc,
    /// `rejectdst`.
    RejectDst,
    /// `rejectboth`.
    RejectBoth,
}

impl Action {
    /// Parses the action keyword.
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "alert" => Self::Alert,
            "pass" => Self::Pass,
            "drop" => Self::Drop,
            "reject" => Self::Reject,
            "rejectsrc" => Self::RejectSrc,
            "rejectdst" => Self::RejectDst,
            "rejectboth" => Self::RejectBoth,
            _ => return None,
        })
    }

    /// The keyword as written in rules.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Alert => "alert",
            Self::Pass => "pass",
            Self::Drop => "drop",
            Self::Reject => "reject",
            Self::RejectSrc => "rejectsrc",
            Self::RejectDst => "rejectdst",
            Self::RejectBoth => "rejectboth",
        }
    }
}

/// Application-layer protocols a rule header may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum AppProto {
    Http,
    Http1,
    Http2,
    Dns,
    Tls,
    Ssh,
    Ftp,
    FtpData,
    Smtp,
    Imap,
    Pop3,
    Smb,
    Dcerpc,
    Krb5,
    Dhcp,
    Snmp,
    Sip,
    Nfs,
    Ntp,
    Tftp,
    Ike,
    Modbus,
    Dnp3,
    Enip,
    Rfb,
    Mqtt,
    Rdp,
    Quic,
    Websocket,
    Ldap,
    Pgsql,
    Telnet,
    BittorrentDht,
    Doh2,
}

impl AppProto {
    /// Suricata's names, each with its protocol.
    const NAMES: &'static [(&'static str, AppProto)] = &[
        ("http", Self::Http),
        ("http1", Self::Http1),
        ("http2", Self::Http2),
        ("dns", Self::Dns),
        ("tls", Self::Tls),
        ("ssh", Self::Ssh),
        ("ftp", Self::Ftp),
        ("ftp-data", Self::FtpData),
        ("smtp", Self::Smtp),
        ("imap", Self::Imap),
        ("pop3", Self::Pop3),
        ("smb", Self::Smb),
        ("dcerpc", Self::Dcerpc),
        ("krb5", Self::Krb5),
        ("dhcp", Self::Dhcp),
        ("snmp", Self::Snmp),
        ("sip", Self::Sip),
        ("nfs", Self::Nfs),
        ("ntp", Self::Ntp),
        ("tftp", Self::Tftp),
        ("ike", Self::Ike),
        ("ikev2", Self::Ike),
        ("modbus", Self::Modbus),
        ("dnp3", Self::Dnp3),
        ("enip", Self::Enip),
        ("rfb", Self::Rfb),
        ("mqtt", Self::Mqtt),
        ("rdp", Self::Rdp),
        ("quic", Self::Quic),
        ("websocket", Self::Websocket),
        ("ldap", Self::Ldap),
        ("pgsql", Self::Pgsql),
        ("telnet", Self::Telnet),
        ("bittorrent-dht", Self::BittorrentDht),
        ("doh2", Self::Doh2),
    ];

    /// Parses a protocol name of a rule header or `app-layer-protocol`.
    pub fn from_name(s: &str) -> Option<Self> {
        Self::NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(s))
            .map(|&(_, p)| p)
    }

    /// True when a rule on `self` may use keywords of `other` (HTTP/1 and
    /// HTTP/2 share the `http.*` buffers; JA3/JA4 also exist for QUIC).
    pub fn compatible_with(self, other: AppProto) -> bool {
        use AppProto as A;
        self == other
            || matches!(
                (self, other),
                (A::Http1 | A::Http2, A::Http)
                    | (A::Quic, A::Tls)
                    | (A::Smtp | A::Imap | A::Pop3, A::Tls)
            )
    }

    /// Suricata's name of the protocol.
    pub fn as_str(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|&&(_, p)| p == self)
            .map_or("unknown", |&(n, _)| n)
    }
}

/// The protocol field of a rule header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proto {
    /// `ip` (or `pkthdr`): any packet.
    Ip,
    /// `ipv4` / `ip4`.
    Ipv4,
    /// `ipv6` / `ip6`.
    Ipv6,
    /// `tcp`: packets and reassembled stream.
    Tcp,
    /// `tcp-pkt`: TCP packets only.
    TcpPkt,
    /// `tcp-stream`: reassembled TCP stream only.
    TcpStream,
    /// `udp`.
    Udp,
    /// `icmp`: ICMPv4 and ICMPv6.
    Icmp,
    /// `icmpv4`.
    Icmpv4,
    /// `icmpv6`.
    Icmpv6,
    /// `sctp`.
    Sctp,
    /// An application-layer protocol.
    App(AppProto),
}

impl Proto {
    /// Parses the protocol field.
    pub fn from_name(s: &str) -> Option<Self> {
        let lower = s.to_ascii_lowercase();
        Some(match lower.as_str() {
            "ip" | "pkthdr" => Self::Ip,
            "ipv4" | "ip4" => Self::Ipv4,
            "ipv6" | "ip6" => Self::Ipv6,
            "tcp" => Self::Tcp,
            "tcp-pkt" => Self::TcpPkt,
            "tcp-stream" => Self::TcpStream,
            "udp" => Self::Udp,
            "icmp" => Self::Icmp,
            "icmpv4" => Self::Icmpv4,
            "icmpv6" => Self::Icmpv6,
            "sctp" => Self::Sctp,
            other => Self::App(AppProto::from_name(other)?),
        })
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Self::Ip => "ip",
            Self::Ipv4 => "ipv4",
            Self::Ipv6 => "ipv6",
            Self::Tcp => "tcp",
            Self::TcpPkt => "tcp-pkt",
            Self::TcpStream => "tcp-stream",
            Self::Udp => "udp",
            Self::Icmp => "icmp",
            Self::Icmpv4 => "icmpv4",
            Self::Icmpv6 => "icmpv6",
            Self::Sctp => "sctp",
            Self::App(a) => a.as_str(),
        };
        f.write_str(s)
    }
}

/// The direction of a rule header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `->`: source to destination.
    Forward,
    /// `<>`: either way.
    Both,
}

/// The header split into its seven fields, borrowed from the rule text,
/// plus the option text between the outer parentheses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawHeader<'a> {
    /// Action field.
    pub action: &'a str,
    /// Protocol field.
    pub proto: &'a str,
    /// Source address expression.
    pub src: &'a str,
    /// Source port expression.
    pub src_ports: &'a str,
    /// Direction field.
    pub dir: &'a str,
    /// Destination address expression.
    pub dst: &'a str,
    /// Destination port expression.
    pub dst_ports: &'a str,
    /// Options, without the outer parentheses.
    pub options: &'a str,
}

/// Takes one header field: up to whitespace outside `[...]`.
fn field(s: &str) -> Result<(&str, &str), &'static str> {
    let s = s.trim_start();
    let mut depth: usize = 0;
    for (i, b) in s.bytes().enumerate() {
        match b {
            b'[' => depth += 1,
            b']' => depth = depth.checked_sub(1).ok_or("unbalanced ']'")?,
            b'(' if depth == 0 => {
                return if i == 0 {
                    Err("header is missing fields before '('")
                } else {
                    Ok(s.split_at(i))
                };
            }
            b if b.is_ascii_whitespace() && depth == 0 => {
                return Ok(s.split_at(i));
            }
            _ => {}
        }
    }
    if depth > 0 {
        return Err("unbalanced '['");
    }
    if s.is_empty() {
        return Err("header is incomplete");
    }
    Ok((s, ""))
}

/// Splits a rule into header fields and option text.
pub fn split_rule(rule: &str) -> Result<RawHeader<'_>, &'static str> {
    let (action, rest) = field(rule)?;
    let (proto, rest) = field(rest)?;
    let (src, rest) = field(rest)?;
    let (src_ports, rest) = field(rest)?;
    let (dir, rest) = field(rest)?;
    let (dst, rest) = field(rest)?;
    let (dst_ports, rest) = field(rest)?;
    let rest = rest.trim();
    let options = rest
        .strip_prefix('(')
        .ok_or("expected '(' after the header")?
        .strip_suffix(')')
        .ok_or("options must end with ')'")?;
    Ok(RawHeader {
        action,
        proto,
        src,
        src_ports,
        dir,
        dst,
        dst_ports,
        options,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_with_spaced_lists() {
        let h = split_rule(
            "alert tcp [1.1.1.1, 2.2.2.2] any -> $HOME_NET [80, 443] (msg:\"x\"; sid:1;)",
        )
        .unwrap();
        assert_eq!(h.src, "[1.1.1.1, 2.2.2.2]");
        assert_eq!(h.dst_ports, "[80, 443]");
        assert_eq!(h.options, "msg:\"x\"; sid:1;");
        assert!(split_rule("alert tcp any any -> any any").is_err());
        assert!(split_rule("alert tcp any any -> any any (sid:1;").is_err());
        assert!(split_rule("alert tcp [any any -> any any (sid:1;)").is_err());
        assert!(split_rule("alert (sid:1;)").is_err());
    }

    #[test]
    fn names() {
        assert_eq!(Proto::from_name("tcp-pkt"), Some(Proto::TcpPkt));
        assert_eq!(Proto::from_name("HTTP"), Some(Proto::App(AppProto::Http)));
        assert_eq!(Proto::from_name("ikev2"), Some(Proto::App(AppProto::Ike)));
        assert_eq!(Proto::from_name("bogus"), None);
        assert_eq!(Action::from_name("rejectboth"), Some(Action::RejectBoth));
        assert_eq!(Action::from_name("log"), None);
    }
}
