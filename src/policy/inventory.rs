//! Strict asset inventories and rogue-device checks (违规接入).
//!
//! A strict zone lists every MAC/IP pair allowed on its segment. A frame is
//! judged on the segment it was seen on: the VLAN tag names the segment; on
//! untagged segments the inventoried MACs in the frame do (routed frames
//! carry the gateway's MAC, which is inventoried). Only addresses of that
//! segment's own zone are bound to MACs: the far end of a routed flow shows
//! the gateway's MAC with a foreign IP, and that is normal.

use std::net::{IpAddr, Ipv4Addr};

use rustc_hash::FxHashMap;

use super::zones::{Locality, ZoneMap};
use crate::decode::Mac;

/// Inventory of all strict zones, plus the segment map.
#[derive(Clone, Debug, Default)]
pub struct Inventory {
    /// Inventoried MAC → its zone.
    mac_zone: FxHashMap<Mac, u16>,
    /// (zone, IP) → the MAC bound to it.
    binding: FxHashMap<(u16, IpAddr), Mac>,
    /// VLAN id → zone.
    vlan_zone: FxHashMap<u16, u16>,
    /// Zones with a strict inventory.
    strict: Vec<bool>,
    /// Zones whose segment is tagged (their frames are told by VLAN).
    tagged: Vec<bool>,
}

/// What a frame's sender claims to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claim {
    /// Source MAC of the frame.
    pub mac: Mac,
    /// The IP it claims, if any (never 0.0.0.0 or link-local).
    pub ip: Option<IpAddr>,
}

/// A rogue-device finding for one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RogueFinding {
    /// Zone of the segment.
    pub zone: u16,
    /// The device.
    pub claim: Claim,
    /// True if the MAC is inventoried (the IP is not its own).
    pub known_mac: bool,
}

impl Inventory {
    /// Builds the inventory. `zones` yields, per zone index: strict?,
    /// VLAN ids, and the (ip, mac) pairs of its hosts.
    pub fn new<'a>(
        zones: impl IntoIterator<Item = (bool, &'a [u16], Vec<(IpAddr, Option<Mac>)>)>,
    ) -> Self {
        let mut inv = Inventory::default();
        for (i, (strict, vlans, hosts)) in zones.into_iter().enumerate() {
            let z = i as u16;
            inv.strict.push(strict);
            inv.tagged.push(!vlans.is_empty());
            for v in vlans {
                inv.vlan_zone.entry(*v).or_insert(z);
            }
            for (ip, mac) in hosts {
                if let Some(mac) = mac {
                    inv.mac_zone.entry(mac).or_insert(z);
                    inv.binding.insert((z, ip), mac);
                }
            }
        }
        inv
    }

    /// True if any zone has a strict inventory (else the check is skipped).
    pub fn any_strict(&self) -> bool {
        self.strict.iter().any(|s| *s)
    }

    /// The segment (zone) a frame was seen on, if it can be told.
    pub fn segment(
        &self,
        zones: &ZoneMap,
        vlan: Option<u16>,
        src: Mac,
        dst: Mac,
        claim: Option<IpAddr>,
    ) -> Option<u16> {
        if let Some(v) = vlan {
            return self.vlan_zone.get(&v).copied();
        }
        let untagged = |z: &u16| !self.tagged.get(*z as usize).copied().unwrap_or(false);
        if let Some(z) = self.mac_zone.get(&src).filter(|z| untagged(z)) {
            return Some(*z);
        }
        if let Some(z) = self.mac_zone.get(&dst).filter(|z| untagged(z)) {
            return Some(*z);
        }
        match claim.map(|ip| zones.lookup(ip)) {
            Some(Locality::Zone(z)) if untagged(&z) && self.is_strict(z) => Some(z),
            _ => None,
        }
    }

    /// True if zone `z` has a strict inventory.
    pub fn is_strict(&self, z: u16) -> bool {
        self.strict.get(z as usize).copied().unwrap_or(false)
    }

    /// Judges one frame's sender on segment `seg`.
    pub fn check(&self, zones: &ZoneMap, seg: u16, claim: Claim) -> Option<RogueFinding> {
        if !self.is_strict(seg) || claim.mac[0] & 1 == 1 || claim.mac == [0; 6] {
            return None;
        }
        let known = self.mac_zone.get(&claim.mac) == Some(&seg);
        if !known {
            return Some(RogueFinding {
                zone: seg,
                claim,
                known_mac: false,
            });
        }
        // A known MAC: its IP must be its own if the IP belongs to this zone.
        // The common case (its own address) is one probe; only a mismatch
        // pays for the zone lookup.
        let ip = claim.ip?;
        if self.binding.get(&(seg, ip)) == Some(&claim.mac)
            || zones.lookup(ip) != Locality::Zone(seg)
        {
            return None;
        }
        Some(RogueFinding {
            zone: seg,
            claim,
            known_mac: true,
        })
    }
}

/// The IP a DHCP client asks for: option 50 (requested IP address), else a
/// non-zero `ciaddr`. `udp_payload` is the BOOTP message.
pub fn dhcp_requested_ip(udp_payload: &[u8]) -> Option<Ipv4Addr> {
    // op (1 = request), htype, hlen, hops, xid(4), secs(2), flags(2),
    // ciaddr(4) at 12, yiaddr 16, siaddr 20, giaddr 24, chaddr(16) at 28,
    // sname(64), file(128), magic cookie at 236, options at 240.
    if udp_payload.first() != Some(&1) {
        return None;
    }
    let ciaddr = udp_payload.get(12..16)?;
    let ci = Ipv4Addr::new(ciaddr[0], ciaddr[1], ciaddr[2], ciaddr[3]);
    let mut requested = None;
    if udp_payload.get(236..240) == Some(&[99, 130, 83, 99]) {
        let mut opts = udp_payload.get(240..).unwrap_or(&[]);
        while let Some((&code, rest)) = opts.split_first() {
            match code {
                0 => opts = rest,
                255 => break,
                _ => {
                    let (&len, rest) = match rest.split_first() {
                        Some(x) => x,
                        None => break,
                    };
                    let Some(val) = rest.get(..usize::from(len)) else {
                        break;
                    };
                    if code == 50 && len == 4 {
                        requested = Some(Ipv4Addr::new(val[0], val[1], val[2], val[3]));
                    }
                    opts = rest.get(usize::from(len)..).unwrap_or(&[]);
                }
            }
        }
    }
    requested.or((!ci.is_unspecified()).then_some(ci))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GW: Mac = [2, 0x10, 1, 0, 0, 1];
    const WEB: Mac = [2, 0x10, 1, 0, 0, 0x0a];
    const ROGUE: Mac = [0x3c, 0x52, 0x82, 0x7a, 0x11, 0x90];

    fn setup() -> (ZoneMap, Inventory) {
        let zm = ZoneMap::new(
            vec![
                ("10.10.1.0/24".parse().unwrap(), 1),
                ("10.20.0.0/16".parse().unwrap(), 2),
            ],
            Some(0),
        );
        let inv = Inventory::new(vec![
            (false, &[][..], vec![]),
            (
                true,
                &[][..],
                vec![
                    ("10.10.1.1".parse().unwrap(), Some(GW)),
                    ("10.10.1.10".parse().unwrap(), Some(WEB)),
                ],
            ),
            (
                false,
                &[20u16][..],
                vec![("10.20.0.1".parse().unwrap(), None)],
            ),
        ]);
        (zm, inv)
    }

    #[test]
    fn routed_frames_with_gateway_mac_are_fine() {
        let (zm, inv) = setup();
        let ext: IpAddr = "61.158.148.77".parse().unwrap();
        let seg = inv.segment(&zm, None, GW, WEB, Some(ext)).unwrap();
        assert_eq!(seg, 1);
        assert_eq!(
            inv.check(
                &zm,
                seg,
                Claim {
                    mac: GW,
                    ip: Some(ext)
                }
            ),
            None
        );
        let own: IpAddr = "10.10.1.10".parse().unwrap();
        assert_eq!(
            inv.check(
                &zm,
                seg,
                Claim {
                    mac: WEB,
                    ip: Some(own)
                }
            ),
            None
        );
    }

    #[test]
    fn unknown_mac_and_spoofed_ip_are_rogue() {
        let (zm, inv) = setup();
        let ip: IpAddr = "10.10.1.77".parse().unwrap();
        // a rogue ARP announcement: untagged, unknown src, broadcast dst
        let seg = inv.segment(&zm, None, ROGUE, [0xff; 6], Some(ip)).unwrap();
        let f = inv
            .check(
                &zm,
                seg,
                Claim {
                    mac: ROGUE,
                    ip: Some(ip),
                },
            )
            .unwrap();
        assert!(!f.known_mac);
        // a known MAC using an address that is not its own
        let f = inv
            .check(
                &zm,
                1,
                Claim {
                    mac: WEB,
                    ip: Some(ip),
                },
            )
            .unwrap();
        assert!(f.known_mac);
        // open zones are never judged
        assert_eq!(inv.segment(&zm, Some(20), ROGUE, GW, None), Some(2));
        assert_eq!(
            inv.check(
                &zm,
                2,
                Claim {
                    mac: ROGUE,
                    ip: None
                }
            ),
            None
        );
    }

    #[test]
    fn dhcp_option_50() {
        let mut m = vec![0u8; 240];
        m[0] = 1;
        m[236..240].copy_from_slice(&[99, 130, 83, 99]);
        assert_eq!(dhcp_requested_ip(&m), None);
        m.extend_from_slice(&[53, 1, 3, 50, 4, 10, 10, 1, 77, 255]);
        assert_eq!(dhcp_requested_ip(&m), Some(Ipv4Addr::new(10, 10, 1, 77)));
        // truncated option never panics
        let mut t = m.clone();
        t.truncate(246);
        assert_eq!(dhcp_requested_ip(&t), None);
        assert_eq!(dhcp_requested_ip(&[]), None);
    }
}
