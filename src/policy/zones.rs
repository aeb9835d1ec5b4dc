//! Address → zone lookup by longest prefix.
//!
//! A handful of zones carry a few dozen prefixes at most, so the map keeps
//! one hash table per prefix length present and probes them longest first:
//! a lookup costs as many hash probes as there are distinct prefix lengths
//! (four in the reference network). The pipeline looks a flow's endpoints up
//! once, when the flow is created, and caches the answer in the flow.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use rustc_hash::{FxHashMap, FxHashSet};

/// Where an address belongs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Locality {
    /// A zone, by index into the policy's zone list (the default zone for
    /// every routable address outside the others).
    Zone(u16),
    /// Link-local, multicast, broadcast, loopback or unspecified: traffic to
    /// or from it stays on the segment it was seen on and never crosses a
    /// zone boundary.
    Local,
    /// Outside every zone, and the configuration has no default zone.
    Unzoned,
}

/// Longest-prefix map from addresses to zone indices.
#[derive(Clone, Debug, Default)]
pub struct ZoneMap {
    v4: Vec<(u8, FxHashMap<u32, u16>)>,
    v6: Vec<(u8, FxHashMap<u128, u16>)>,
    broadcast_v4: FxHashSet<u32>,
    default_zone: Option<u16>,
}

fn mask4(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len.min(32)))
    }
}

fn mask6(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len.min(128)))
    }
}

impl ZoneMap {
    /// Builds the map from `(cidr, zone index)` pairs. Later duplicates of
    /// the same prefix are ignored (config validation reports overlaps).
    pub fn new(
        prefixes: impl IntoIterator<Item = (IpNet, u16)>,
        default_zone: Option<u16>,
    ) -> Self {
        let mut m = ZoneMap {
            default_zone,
            ..Default::default()
        };
        for (net, zone) in prefixes {
            match net {
                IpNet::V4(n) => {
                    let len = n.prefix_len();
                    let key = u32::from(n.network()) & mask4(len);
                    let slot = match m.v4.iter().position(|(l, _)| *l == len) {
                        Some(i) => i,
                        None => {
                            m.v4.push((len, FxHashMap::default()));
                            m.v4.len() - 1
                        }
                    };
                    m.v4[slot].1.entry(key).or_insert(zone);
                    if len <= 30 {
                        m.broadcast_v4.insert(u32::from(n.broadcast()));
                    }
                }
                IpNet::V6(n) => {
                    let len = n.prefix_len();
                    let key = u128::from(n.network()) & mask6(len);
                    let slot = match m.v6.iter().position(|(l, _)| *l == len) {
                        Some(i) => i,
                        None => {
                            m.v6.push((len, FxHashMap::default()));
                            m.v6.len() - 1
                        }
                    };
                    m.v6[slot].1.entry(key).or_insert(zone);
                }
            }
        }
        m.v4.sort_by_key(|e| std::cmp::Reverse(e.0));
        m.v6.sort_by_key(|e| std::cmp::Reverse(e.0));
        m
    }

    /// The zone of an address.
    pub fn lookup(&self, ip: IpAddr) -> Locality {
        match ip {
            IpAddr::V4(v4) => self.lookup_v4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => self.lookup_v4(v4),
                None => self.lookup_v6(v6),
            },
        }
    }

    fn lookup_v4(&self, ip: Ipv4Addr) -> Locality {
        if is_local_v4(ip) {
            return Locality::Local;
        }
        let a = u32::from(ip);
        if self.broadcast_v4.contains(&a) {
            return Locality::Local;
        }
        for (len, table) in &self.v4 {
            if let Some(z) = table.get(&(a & mask4(*len))) {
                return Locality::Zone(*z);
            }
        }
        self.default_zone.map_or(Locality::Unzoned, Locality::Zone)
    }

    fn lookup_v6(&self, ip: Ipv6Addr) -> Locality {
        if is_local_v6(ip) {
            return Locality::Local;
        }
        let a = u128::from(ip);
        for (len, table) in &self.v6 {
            if let Some(z) = table.get(&(a & mask6(*len))) {
                return Locality::Zone(*z);
            }
        }
        self.default_zone.map_or(Locality::Unzoned, Locality::Zone)
    }
}

/// IPv4 addresses that never leave their segment: 0.0.0.0/8 (this host,
/// DHCP), loopback, link-local 169.254/16, multicast 224/4 and the limited
/// broadcast.
pub fn is_local_v4(ip: Ipv4Addr) -> bool {
    ip.is_unspecified()
        || ip.octets()[0] == 0
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
}

/// IPv6 addresses that never leave their segment: unspecified (DAD),
/// loopback, link-local fe80::/10 and multicast ff00::/8.
pub fn is_local_v6(ip: Ipv6Addr) -> bool {
    let seg0 = ip.segments()[0];
    ip.is_unspecified()
        || ip.is_loopback()
        || (seg0 & 0xffc0) == 0xfe80
        || (seg0 & 0xff00) == 0xff00
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> ZoneMap {
        let p = |s: &str, z| (s.parse::<IpNet>().unwrap(), z);
        ZoneMap::new(
            vec![
                p("10.20.0.0/16", 1),
                p("10.40.0.0/24", 2),
                p("10.0.0.0/8", 3),
                p("172.16.0.0/16", 4),
                p("2001:db8:40::/48", 2),
                p("2001:db8::/32", 3),
            ],
            Some(0),
        )
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn longest_prefix_wins() {
        let m = map();
        assert_eq!(m.lookup(ip("10.40.0.10")), Locality::Zone(2));
        assert_eq!(m.lookup(ip("10.40.1.10")), Locality::Zone(3));
        assert_eq!(m.lookup(ip("10.20.3.4")), Locality::Zone(1));
        assert_eq!(m.lookup(ip("8.8.8.8")), Locality::Zone(0));
        assert_eq!(m.lookup(ip("2001:db8:40::1")), Locality::Zone(2));
        assert_eq!(m.lookup(ip("2001:db8:41::1")), Locality::Zone(3));
        assert_eq!(m.lookup(ip("2400:cb00::1")), Locality::Zone(0));
        assert_eq!(m.lookup(ip("::ffff:10.40.0.10")), Locality::Zone(2));
    }

    #[test]
    fn segment_local_addresses_are_never_internet() {
        let m = map();
        for s in [
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.251",
            "239.255.255.250",
            "169.254.1.1",
            "127.0.0.1",
            "10.40.0.255",
            "10.20.255.255",
            "fe80::1",
            "ff02::1:3",
            "::",
            "::1",
        ] {
            assert_eq!(m.lookup(ip(s)), Locality::Local, "{s}");
        }
    }

    #[test]
    fn no_default_zone_means_unzoned() {
        let m = ZoneMap::new(vec![("10.0.0.0/8".parse().unwrap(), 0)], None);
        assert_eq!(m.lookup(ip("8.8.8.8")), Locality::Unzoned);
        assert_eq!(m.lookup(ip("10.1.1.1")), Locality::Zone(0));
    }
}
