//! Threat-intelligence indicators: bad domains and addresses from the
//! config, checked with one set lookup per record.
//!
//! Domains match exactly or as a parent: an indicator `evil.example`
//! matches `evil.example` and `a.b.evil.example`, checked by walking the
//! name's label suffixes (one hash probe per label), never by scanning the
//! list. Addresses match by exact host or by prefix.

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use rustc_hash::FxHashMap;

use crate::config::Config;

/// One indicator hit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndicatorHit {
    /// The indicator as configured (domain or address/prefix).
    pub value: Arc<str>,
    /// Its taxonomy category.
    pub category: Arc<str>,
}

/// Compiled indicator sets.
#[derive(Clone, Debug, Default)]
pub struct Indicators {
    domains: FxHashMap<Box<str>, IndicatorHit>,
    hosts: FxHashMap<IpAddr, IndicatorHit>,
    nets: Vec<(IpNet, IndicatorHit)>,
}

impl Indicators {
    /// Compiles the config's indicator lists.
    pub fn from_config(cfg: &Config) -> Self {
        let mut s = Indicators::default();
        for d in &cfg.indicators.domains {
            let name = d.value.trim_end_matches('.').to_ascii_lowercase();
            s.domains
                .entry(name.clone().into_boxed_str())
                .or_insert(IndicatorHit {
                    value: Arc::from(name.as_str()),
                    category: Arc::from(d.category.as_str()),
                });
        }
        for i in &cfg.indicators.ips {
            let hit = IndicatorHit {
                value: Arc::from(i.value.to_string().as_str()),
                category: Arc::from(i.category.as_str()),
            };
            if i.value.prefix_len() == i.value.max_prefix_len() {
                s.hosts.entry(i.value.addr()).or_insert(hit);
            } else {
                s.nets.push((i.value, hit));
            }
        }
        s
    }

    /// True when there is nothing to check.
    pub fn is_empty(&self) -> bool {
        self.domains.is_empty() && self.hosts.is_empty() && self.nets.is_empty()
    }

    /// The indicator a domain name hits, if any (case-insensitive, a
    /// trailing dot ignored, parents match).
    pub fn domain(&self, name: &str) -> Option<&IndicatorHit> {
        if self.domains.is_empty() || name.is_empty() || name.len() > 255 {
            return None;
        }
        let lower;
        let name = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            lower = name.to_ascii_lowercase();
            lower.as_str()
        } else {
            name
        };
        let mut n = name.trim_end_matches('.');
        loop {
            if let Some(h) = self.domains.get(n) {
                return Some(h);
            }
            match n.find('.') {
                Some(i) => n = n.get(i + 1..).unwrap_or(""),
                None => return None,
            }
            if n.is_empty() {
                return None;
            }
        }
    }

    /// The indicator an address hits, if any.
    pub fn ip(&self, ip: IpAddr) -> Option<&IndicatorHit> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.hosts.get(&ip).or_else(|| {
            self.nets
                .iter()
                .find(|(n, _)| n.contains(&ip))
                .map(|(_, h)| h)
        })
    }

    /// The indicator a host string (`name`, `1.2.3.4`, `[::1]`, with or
    /// without `:port`) hits, if any: as an address when it is one, else as
    /// a domain.
    pub fn host(&self, host: &str) -> Option<&IndicatorHit> {
        let h = host.trim();
        let bare = if let Some(rest) = h.strip_prefix('[') {
            rest.split(']').next().unwrap_or(rest)
        } else if h.matches(':').count() == 1 {
            h.split(':').next().unwrap_or(h)
        } else {
            h
        };
        match bare.parse::<IpAddr>() {
            Ok(ip) => self.ip(ip),
            Err(_) => self.domain(bare),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Indicator, IpIndicator};

    fn set() -> Indicators {
        let mut c = Config::builtin_default();
        c.indicators.domains = vec![
            Indicator {
                value: "update.evil-c2.example".into(),
                category: "malware/botnet".into(),
            },
            Indicator {
                value: "xn--80ak6aa92e.example".into(),
                category: "network_attack/phishing".into(),
            },
        ];
        c.indicators.ips = vec![
            IpIndicator {
                value: "203.0.113.66/32".parse().unwrap(),
                category: "malware/botnet".into(),
            },
            IpIndicator {
                value: "198.51.100.0/24".parse().unwrap(),
                category: "malware/botnet".into(),
            },
        ];
        Indicators::from_config(&c)
    }

    #[test]
    fn domains_match_exactly_and_as_parent() {
        let s = set();
        assert!(s.domain("update.evil-c2.example").is_some());
        assert!(s.domain("UPDATE.Evil-C2.example.").is_some());
        assert!(s.domain("a.b.update.evil-c2.example").is_some());
        assert!(s.domain("evil-c2.example").is_none());
        assert!(s.domain("notupdate.evil-c2.example").is_none());
        assert_eq!(
            s.domain("xn--80ak6aa92e.example")
                .unwrap()
                .category
                .as_ref(),
            "network_attack/phishing"
        );
        assert!(s.domain("").is_none() && s.domain(".").is_none() && s.domain("..").is_none());
    }

    #[test]
    fn addresses_and_host_strings() {
        let s = set();
        assert!(s.ip("203.0.113.66".parse().unwrap()).is_some());
        assert!(s.ip("198.51.100.200".parse().unwrap()).is_some());
        assert!(s.ip("::ffff:203.0.113.66".parse().unwrap()).is_some());
        assert!(s.ip("203.0.113.67".parse().unwrap()).is_none());
        assert!(s.host("203.0.113.66:443").is_some());
        assert!(s.host("update.evil-c2.example:443").is_some());
        assert!(s.host("[2001:db8::1]:443").is_none());
        assert!(s.host("www.dh.gov.example").is_none());
    }
}
