//! Symmetric flow keys.

use std::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address stored in 16 bytes (IPv4 as IPv4-mapped IPv6), so a key has a
/// fixed size and hashes without branching on the family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Addr(pub [u8; 16]);

impl Addr {
    /// From a standard address.
    pub fn from_ip(ip: IpAddr) -> Addr {
        match ip {
            IpAddr::V4(v4) => Addr(v4.to_ipv6_mapped().octets()),
            IpAddr::V6(v6) => Addr(v6.octets()),
        }
    }

    /// Back to a standard address (IPv4-mapped become IPv4).
    pub fn to_ip(self) -> IpAddr {
        let v6 = Ipv6Addr::from(self.0);
        match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        }
    }

    /// True for an IPv4 address.
    pub fn is_v4(self) -> bool {
        self.0[..10].iter().all(|b| *b == 0) && self.0[10] == 0xff && self.0[11] == 0xff
    }

    /// The IPv4 address, if it is one.
    pub fn v4(self) -> Option<Ipv4Addr> {
        if self.is_v4() {
            Some(Ipv4Addr::new(
                self.0[12], self.0[13], self.0[14], self.0[15],
            ))
        } else {
            None
        }
    }
}

/// A flow's identity, the same for both directions.
///
/// The two endpoints are stored in a canonical order (the smaller
/// address/port pair first); [`FlowKey::new`] says which side the packet came
/// from. VLAN ids take part, as in Suricata (`vlan.use-for-tracking`), so
/// overlapping address plans on different VLANs stay apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowKey {
    /// Lower endpoint address.
    pub lo_addr: Addr,
    /// Higher endpoint address.
    pub hi_addr: Addr,
    /// Port (or ICMP id) of the lower endpoint.
    pub lo_port: u16,
    /// Port (or ICMP id) of the higher endpoint.
    pub hi_port: u16,
    /// IP protocol.
    pub proto: u8,
    /// Innermost VLAN id (0 if untagged).
    pub vlan: u16,
}

impl FlowKey {
    /// Builds the key of a packet and tells whether the packet goes from the
    /// lower endpoint to the higher one.
    pub fn new(
        src: Addr,
        sport: u16,
        dst: Addr,
        dport: u16,
        proto: u8,
        vlan: u16,
    ) -> (FlowKey, bool) {
        let src_is_lo = (src, sport) <= (dst, dport);
        let key = if src_is_lo {
            FlowKey {
                lo_addr: src,
                hi_addr: dst,
                lo_port: sport,
                hi_port: dport,
                proto,
                vlan,
            }
        } else {
            FlowKey {
                lo_addr: dst,
                hi_addr: src,
                lo_port: dport,
                hi_port: sport,
                proto,
                vlan,
            }
        };
        (key, src_is_lo)
    }

    /// A stable 64-bit hash of the key (FNV-1a over its bytes, then mixed);
    /// identical across runs and platforms, so flow ids are reproducible.
    pub fn stable_hash(&self) -> u64 {
        let mut h = Fnv1a::default();
        self.hash(&mut h);
        mix64(h.finish())
    }
}

impl Hash for FlowKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(&self.lo_addr.0);
        state.write(&self.hi_addr.0);
        state.write_u64(
            u64::from(self.lo_port)
                | (u64::from(self.hi_port) << 16)
                | (u64::from(self.proto) << 32)
                | (u64::from(self.vlan) << 40),
        );
    }
}

/// FNV-1a, used where a hash must be the same in every run.
#[derive(Clone, Copy, Debug)]
pub struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv1a {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// A finaliser (splitmix64) that spreads the bits of a hash.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Addr {
        Addr::from_ip(s.parse().unwrap())
    }

    #[test]
    fn key_is_symmetric() {
        let (k1, d1) = FlowKey::new(a("10.0.0.1"), 1234, a("10.0.0.2"), 80, 6, 0);
        let (k2, d2) = FlowKey::new(a("10.0.0.2"), 80, a("10.0.0.1"), 1234, 6, 0);
        assert_eq!(k1, k2);
        assert_ne!(d1, d2);
        assert_eq!(k1.stable_hash(), k2.stable_hash());
    }

    #[test]
    fn same_addr_different_ports() {
        let (k1, d1) = FlowKey::new(a("10.0.0.1"), 1, a("10.0.0.1"), 2, 17, 0);
        let (k2, d2) = FlowKey::new(a("10.0.0.1"), 2, a("10.0.0.1"), 1, 17, 0);
        assert_eq!(k1, k2);
        assert_ne!(d1, d2);
    }

    #[test]
    fn addr_roundtrip() {
        for s in ["10.1.2.3", "::1", "fe80::1", "0.0.0.0", "::ffff:1.2.3.4"] {
            let ip: IpAddr = s.parse().unwrap();
            let back = Addr::from_ip(ip).to_ip();
            match ip {
                IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => {
                    assert_eq!(back, IpAddr::V4(v6.to_ipv4_mapped().unwrap()))
                }
                _ => assert_eq!(back, ip),
            }
        }
        assert!(a("1.2.3.4").is_v4());
        assert!(!a("2001:db8::1").is_v4());
    }
}
