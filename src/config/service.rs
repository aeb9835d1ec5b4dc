//! Services of the allow-list and the cleartext ban: `tcp/80`,
//! `udp/10000-20000`, `icmp`, `any`, `ip/47`.

use std::fmt;
use std::str::FromStr;

/// IP protocol number of ICMP.
const PROTO_ICMP: u8 = 1;
/// IP protocol number of TCP.
const PROTO_TCP: u8 = 6;
/// IP protocol number of UDP.
const PROTO_UDP: u8 = 17;
/// IP protocol number of ICMPv6.
const PROTO_ICMPV6: u8 = 58;

/// A network service a flow can be matched against.
///
/// Written in the config as `any`, `icmp` (ICMP and ICMPv6), `tcp/N`,
/// `tcp/LO-HI`, `tcp` (every port), the same for `udp`, or `ip/P` for a bare
/// IP protocol number (`ip/47` is GRE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// Every protocol and port.
    Any,
    /// ICMP over IPv4 and ICMPv6.
    Icmp,
    /// TCP with a destination port in `lo..=hi`.
    Tcp {
        /// Lowest destination port, inclusive.
        lo: u16,
        /// Highest destination port, inclusive.
        hi: u16,
    },
    /// UDP with a destination port in `lo..=hi`.
    Udp {
        /// Lowest destination port, inclusive.
        lo: u16,
        /// Highest destination port, inclusive.
        hi: u16,
    },
    /// Any packet of this IP protocol number.
    IpProto(u8),
}

impl Service {
    /// Whether a flow of IP protocol `proto` to destination port `dport`
    /// (ignored for protocols without ports) is this service.
    #[inline]
    pub fn matches(&self, proto: u8, dport: u16) -> bool {
        match *self {
            Service::Any => true,
            Service::Icmp => proto == PROTO_ICMP || proto == PROTO_ICMPV6,
            Service::Tcp { lo, hi } => proto == PROTO_TCP && lo <= dport && dport <= hi,
            Service::Udp { lo, hi } => proto == PROTO_UDP && lo <= dport && dport <= hi,
            Service::IpProto(p) => proto == p,
        }
    }
}

/// Why a service string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The protocol part is none of `any`, `icmp`, `tcp`, `udp`, `ip`.
    #[error("unknown protocol '{0}' (expected any, icmp, tcp/PORT, udp/PORT or ip/NUMBER)")]
    UnknownProtocol(String),
    /// A port is not a number in 0..=65535.
    #[error("malformed port '{0}' (expected a number 0-65535)")]
    BadPort(String),
    /// A port range runs backwards.
    #[error("port range {lo}-{hi} is empty (low end above high end)")]
    EmptyRange {
        /// Low end as written.
        lo: u16,
        /// High end as written.
        hi: u16,
    },
    /// The protocol number after `ip/` is not in 0..=255.
    #[error("malformed IP protocol number '{0}' (expected 0-255)")]
    BadProtocolNumber(String),
    /// `any` or `icmp` was given a port.
    #[error("'{0}' takes no port")]
    UnexpectedPort(String),
}

fn parse_port(text: &str) -> Result<u16, ServiceError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ServiceError::BadPort(text.to_string()));
    }
    text.parse::<u16>()
        .map_err(|_| ServiceError::BadPort(text.to_string()))
}

fn parse_ports(text: &str) -> Result<(u16, u16), ServiceError> {
    match text.split_once('-') {
        Some((lo, hi)) => {
            let lo = parse_port(lo.trim())?;
            let hi = parse_port(hi.trim())?;
            if lo > hi {
                return Err(ServiceError::EmptyRange { lo, hi });
            }
            Ok((lo, hi))
        }
        None => {
            let p = parse_port(text.trim())?;
            Ok((p, p))
        }
    }
}

impl FromStr for Service {
    type Err = ServiceError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let (proto, rest) = match text.split_once('/') {
            Some((p, r)) => (p.trim(), Some(r.trim())),
            None => (text, None),
        };
        let lower = proto.to_ascii_lowercase();
        match (lower.as_str(), rest) {
            ("any", None) => Ok(Service::Any),
            ("icmp", None) => Ok(Service::Icmp),
            ("tcp", None) => Ok(Service::Tcp {
                lo: 0,
                hi: u16::MAX,
            }),
            ("udp", None) => Ok(Service::Udp {
                lo: 0,
                hi: u16::MAX,
            }),
            ("any" | "icmp", Some(_)) => Err(ServiceError::UnexpectedPort(lower)),
            ("tcp", Some(ports)) => parse_ports(ports).map(|(lo, hi)| Service::Tcp { lo, hi }),
            ("udp", Some(ports)) => parse_ports(ports).map(|(lo, hi)| Service::Udp { lo, hi }),
            ("ip", Some(num)) => {
                if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(ServiceError::BadProtocolNumber(num.to_string()));
                }
                num.parse::<u8>()
                    .map(Service::IpProto)
                    .map_err(|_| ServiceError::BadProtocolNumber(num.to_string()))
            }
            _ => Err(ServiceError::UnknownProtocol(proto.to_string())),
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Service::Any => f.write_str("any"),
            Service::Icmp => f.write_str("icmp"),
            Service::Tcp {
                lo: 0,
                hi: u16::MAX,
            } => f.write_str("tcp"),
            Service::Udp {
                lo: 0,
                hi: u16::MAX,
            } => f.write_str("udp"),
            Service::Tcp { lo, hi } if lo == hi => write!(f, "tcp/{lo}"),
            Service::Udp { lo, hi } if lo == hi => write!(f, "udp/{lo}"),
            Service::Tcp { lo, hi } => write!(f, "tcp/{lo}-{hi}"),
            Service::Udp { lo, hi } => write!(f, "udp/{lo}-{hi}"),
            Service::IpProto(p) => write!(f, "ip/{p}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_every_form() {
        assert_eq!("any".parse(), Ok(Service::Any));
        assert_eq!("ICMP".parse(), Ok(Service::Icmp));
        assert_eq!("tcp/80".parse(), Ok(Service::Tcp { lo: 80, hi: 80 }));
        assert_eq!(
            "udp/10000-20000".parse(),
            Ok(Service::Udp {
                lo: 10000,
                hi: 20000
            })
        );
        assert_eq!("tcp".parse(), Ok(Service::Tcp { lo: 0, hi: 65535 }));
        assert_eq!("ip/47".parse(), Ok(Service::IpProto(47)));
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!(
            "tcp/65536".parse::<Service>(),
            Err(ServiceError::BadPort("65536".into()))
        );
        assert_eq!(
            "udp/20-10".parse::<Service>(),
            Err(ServiceError::EmptyRange { lo: 20, hi: 10 })
        );
        assert!(matches!(
            "sctp/80".parse::<Service>(),
            Err(ServiceError::UnknownProtocol(_))
        ));
        assert!(matches!(
            "ip/300".parse::<Service>(),
            Err(ServiceError::BadProtocolNumber(_))
        ));
        assert!(matches!(
            "icmp/8".parse::<Service>(),
            Err(ServiceError::UnexpectedPort(_))
        ));
        assert!(matches!(
            "tcp/".parse::<Service>(),
            Err(ServiceError::BadPort(_))
        ));
        assert!(matches!(
            "tcp/+80".parse::<Service>(),
            Err(ServiceError::BadPort(_))
        ));
        assert!("".parse::<Service>().is_err());
    }

    #[test]
    fn matching() {
        let web = Service::Tcp { lo: 80, hi: 80 };
        assert!(web.matches(6, 80));
        assert!(!web.matches(6, 81));
        assert!(!web.matches(17, 80));
        let rtp = Service::Udp {
            lo: 10000,
            hi: 20000,
        };
        assert!(rtp.matches(17, 10000) && rtp.matches(17, 20000));
        assert!(!rtp.matches(17, 9999) && !rtp.matches(17, 20001));
        assert!(Service::Icmp.matches(1, 0) && Service::Icmp.matches(58, 0));
        assert!(!Service::Icmp.matches(6, 0));
        assert!(Service::Any.matches(132, 9));
        assert!(Service::IpProto(47).matches(47, 0));
        assert!(!Service::IpProto(47).matches(6, 0));
    }

    proptest! {
        #[test]
        fn display_round_trips(proto in 0u8..5, a: u16, b: u16, p: u8) {
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            let s = match proto {
                0 => Service::Any,
                1 => Service::Icmp,
                2 => Service::Tcp { lo, hi },
                3 => Service::Udp { lo, hi },
                _ => Service::IpProto(p),
            };
            prop_assert_eq!(s.to_string().parse::<Service>(), Ok(s));
        }

        #[test]
        fn never_panics(text in ".{0,24}") {
            let _ = text.parse::<Service>();
        }
    }
}
