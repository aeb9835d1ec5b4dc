//! The zone-based graded protection policy (MLPS 2.0).
//!
//! Compiled once from the config into an immutable [`ZonePolicy`]: the
//! longest-prefix zone map, the allow-list matrix and the strict
//! inventories. The packet path asks it two questions: what a new flow's
//! verdict is ([`ZonePolicy::flow_verdict`], once per flow) and whether a
//! frame's sender is a rogue device ([`Inventory::check`]).

pub mod allow;
pub mod indicators;
pub mod inventory;
pub mod zones;

use std::net::IpAddr;
use std::sync::Arc;

use crate::alert::PolicyKind;
use crate::config::{AssetsMode, Config};
use crate::time::Timestamp;

pub use allow::{AllowEntry, AllowTable};
pub use indicators::{IndicatorHit, Indicators};
pub use inventory::{dhcp_requested_ip, Claim, Inventory, RogueFinding};
pub use zones::{Locality, ZoneMap};

/// What the policy needs to know about a zone, with shared strings so alerts
/// can carry them without copying.
#[derive(Clone, Debug)]
pub struct ZoneInfo {
    /// Zone id.
    pub id: Arc<str>,
    /// Chinese name.
    pub name_zh: Option<Arc<str>>,
    /// English name.
    pub name_en: Option<Arc<str>>,
    /// Protection level (0 for the internet).
    pub level: u8,
    /// Nothing may cross this zone's boundary.
    pub isolated: bool,
    /// The default zone (internet).
    pub is_default: bool,
    /// Strict asset inventory.
    pub strict: bool,
    /// Responsible unit.
    pub unit: Option<Arc<str>>,
    /// Contact of the unit.
    pub contact: Option<Arc<str>>,
}

/// A policy finding for a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The finding.
    pub kind: PolicyKind,
    /// Zone of the initiator.
    pub src_zone: u16,
    /// Zone of the responder.
    pub dst_zone: u16,
}

/// The compiled zone policy.
#[derive(Clone, Debug, Default)]
pub struct ZonePolicy {
    /// Zones, by index.
    pub zones: Vec<ZoneInfo>,
    /// Address → zone.
    pub map: ZoneMap,
    /// Cross-zone allow-list.
    pub allow: AllowTable,
    /// Strict inventories.
    pub inventory: Inventory,
    /// Cleartext logins are banned into or inside zones of at least this
    /// level.
    pub cleartext_min_level: Option<u8>,
    /// Which finding kinds are reported.
    pub enabled: crate::config::PolicyKinds,
}

fn arc(s: &Option<String>) -> Option<Arc<str>> {
    s.as_deref().map(Arc::from)
}

impl ZonePolicy {
    /// Compiles the policy of a (validated) config.
    pub fn from_config(cfg: &Config) -> Self {
        let zones: Vec<ZoneInfo> = cfg
            .zones
            .iter()
            .map(|z| ZoneInfo {
                id: Arc::from(z.id.as_str()),
                name_zh: arc(&z.name_zh),
                name_en: arc(&z.name_en),
                level: z.level,
                isolated: z.isolated,
                is_default: z.default,
                strict: z.assets == AssetsMode::Strict,
                unit: arc(&z.unit),
                contact: arc(&z.contact),
            })
            .collect();
        let default_zone = cfg.zones.iter().position(|z| z.default).map(|i| i as u16);
        let map = ZoneMap::new(
            cfg.zones
                .iter()
                .enumerate()
                .filter(|(_, z)| !z.default)
                .flat_map(|(i, z)| z.cidrs.iter().map(move |c| (*c, i as u16))),
            default_zone,
        );
        let inventory = Inventory::new(cfg.zones.iter().map(|z| {
            (
                z.assets == AssetsMode::Strict,
                z.vlans.as_slice(),
                z.hosts.iter().map(|h| (h.ip, h.mac)).collect(),
            )
        }));
        ZonePolicy {
            zones,
            map,
            allow: AllowTable::from_config(cfg),
            inventory,
            cleartext_min_level: cfg.cleartext_banned_min_level,
            enabled: cfg.policy.enabled,
        }
    }

    /// True if findings of `kind` are reported (config `policy.enabled`).
    pub fn reports(&self, kind: PolicyKind) -> bool {
        let e = &self.enabled;
        match kind {
            PolicyKind::IsolatedBreach => e.isolated_breach,
            PolicyKind::UnauthorizedOutbound => e.unauthorized_outbound,
            PolicyKind::RogueDevice => e.rogue_device,
            PolicyKind::PolicyViolation => e.policy_violation,
            PolicyKind::CleartextCredentials => e.cleartext_credentials,
        }
    }

    /// True if the policy has any zone (without zones nothing is judged).
    pub fn is_active(&self) -> bool {
        !self.zones.is_empty()
    }

    /// The zone of an address.
    pub fn locate(&self, ip: IpAddr) -> Locality {
        self.map.lookup(ip)
    }

    /// A zone's info.
    pub fn zone(&self, z: u16) -> Option<&ZoneInfo> {
        self.zones.get(z as usize)
    }

    /// The boundary verdict of a new flow from `client` to `server`.
    ///
    /// `midstream` is true when the flow was picked up without its opening
    /// (TCP without SYN): then the initiator is unknown, and a flow the
    /// allow-list permits in the reverse direction is taken as allowed.
    #[allow(clippy::too_many_arguments)]
    pub fn flow_verdict(
        &self,
        client: IpAddr,
        client_loc: Locality,
        server: IpAddr,
        server_loc: Locality,
        proto: u8,
        sport: u16,
        dport: u16,
        midstream: bool,
        ts: Timestamp,
    ) -> Option<Verdict> {
        let (Locality::Zone(cz), Locality::Zone(sz)) = (client_loc, server_loc) else {
            return None;
        };
        if cz == sz {
            return None;
        }
        let c = self.zone(cz)?;
        let s = self.zone(sz)?;
        let kind = if c.isolated || s.isolated {
            PolicyKind::IsolatedBreach
        } else {
            let allowed = self
                .allow
                .find(cz, sz, client, server, proto, dport, ts)
                .is_some()
                || (midstream
                    && self
                        .allow
                        .find(sz, cz, server, client, proto, sport, ts)
                        .is_some());
            if allowed {
                return None;
            }
            if s.is_default && !c.is_default {
                PolicyKind::UnauthorizedOutbound
            } else {
                PolicyKind::PolicyViolation
            }
        };
        self.reports(kind).then_some(Verdict {
            kind,
            src_zone: cz,
            dst_zone: sz,
        })
    }

    /// The responsible zone of a finding between two zones: whoever
    /// connects is responsible (谁上网谁负责), so the source's unit, or the
    /// destination's when the source has none (the internet).
    pub fn responsible_zone(&self, src: u16, dst: u16) -> u16 {
        match self.zone(src) {
            Some(z) if z.unit.is_some() => src,
            _ => dst,
        }
    }

    /// True if cleartext logins are banned for a flow touching these zones.
    pub fn cleartext_banned(&self, a: Locality, b: Locality) -> bool {
        let Some(min) = self.cleartext_min_level else {
            return false;
        };
        [a, b].iter().any(|l| match l {
            Locality::Zone(z) => self
                .zone(*z)
                .is_some_and(|z| z.level >= min && !z.is_default),
            _ => false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AllowRule, Host, Service, Zone};

    fn zone(id: &str, level: u8, cidrs: &[&str]) -> Zone {
        Zone {
            id: id.into(),
            name_zh: None,
            name_en: None,
            level,
            default: false,
            isolated: false,
            cidrs: cidrs.iter().map(|c| c.parse().unwrap()).collect(),
            unit: Some(format!("unit-{id}")),
            contact: None,
            assets: AssetsMode::Open,
            vlans: vec![],
            hosts: vec![],
        }
    }

    fn cfg() -> Config {
        let mut internet = zone("internet", 0, &[]);
        internet.default = true;
        internet.unit = None;
        let mut dc = zone("datacenter", 3, &["10.40.0.0/24"]);
        dc.assets = AssetsMode::Strict;
        dc.hosts.push(Host {
            ip: "10.40.0.80".parse().unwrap(),
            name: None,
            mac: Some([2, 0x40, 0, 0, 0, 0x50]),
            role: None,
            gateway: false,
        });
        let mut classified = zone("classified", 4, &["172.16.0.0/16"]);
        classified.isolated = true;
        let office = zone("office", 2, &["10.31.0.0/16"]);
        let mut c = Config::builtin_default();
        c.zones = vec![internet, dc, classified, office];
        c.groups = [("offices".to_string(), vec!["office".to_string()])]
            .into_iter()
            .collect();
        c.allow = vec![
            AllowRule {
                from: vec!["offices".into()],
                to: vec!["datacenter".into()],
                src_hosts: vec![],
                dst_hosts: vec!["10.40.0.80/32".parse().unwrap()],
                services: vec![Service::Tcp { lo: 3128, hi: 3128 }],
                expires: None,
                ticket: None,
                why: None,
            },
            AllowRule {
                from: vec!["datacenter".into()],
                to: vec!["internet".into()],
                src_hosts: vec!["10.40.0.80/32".parse().unwrap()],
                dst_hosts: vec![],
                services: vec![Service::Tcp { lo: 443, hi: 443 }],
                expires: None,
                ticket: None,
                why: None,
            },
            AllowRule {
                from: vec!["office".into()],
                to: vec!["internet".into()],
                src_hosts: vec![],
                dst_hosts: vec![],
                services: vec![Service::Udp { lo: 53, hi: 53 }],
                expires: Some("2026-11-02T01:05:00Z".parse().unwrap()),
                ticket: Some("T-1".into()),
                why: None,
            },
        ];
        c.cleartext_banned_min_level = Some(3);
        c
    }

    fn v(p: &ZonePolicy, c: &str, s: &str, proto: u8, dport: u16, ts: i64) -> Option<PolicyKind> {
        let (c, s): (IpAddr, IpAddr) = (c.parse().unwrap(), s.parse().unwrap());
        p.flow_verdict(
            c,
            p.locate(c),
            s,
            p.locate(s),
            proto,
            40000,
            dport,
            false,
            Timestamp::from_secs_nanos(ts, 0),
        )
        .map(|v| v.kind)
    }

    #[test]
    fn verdicts() {
        let p = ZonePolicy::from_config(&cfg());
        let t0 = 1_793_581_200; // 2026-11-02T01:00:00Z
        assert_eq!(v(&p, "10.31.4.27", "10.40.0.80", 6, 3128, t0), None);
        assert_eq!(v(&p, "10.40.0.80", "1.2.3.4", 6, 443, t0), None);
        assert_eq!(
            v(&p, "10.40.0.10", "1.2.3.4", 6, 443, t0),
            Some(PolicyKind::UnauthorizedOutbound)
        );
        assert_eq!(
            v(&p, "10.31.4.27", "1.2.3.4", 6, 443, t0),
            Some(PolicyKind::UnauthorizedOutbound)
        );
        assert_eq!(
            v(&p, "10.31.4.27", "10.40.0.20", 6, 5432, t0),
            Some(PolicyKind::PolicyViolation)
        );
        assert_eq!(
            v(&p, "61.1.1.1", "10.40.0.20", 6, 22, t0),
            Some(PolicyKind::PolicyViolation)
        );
        assert_eq!(
            v(&p, "172.16.3.9", "10.31.5.5", 6, 445, t0),
            Some(PolicyKind::IsolatedBreach)
        );
        assert_eq!(
            v(&p, "10.31.5.5", "172.16.3.9", 1, 0, t0),
            Some(PolicyKind::IsolatedBreach)
        );
        assert_eq!(v(&p, "172.16.3.9", "172.16.0.1", 6, 445, t0), None);
        assert_eq!(v(&p, "10.31.1.1", "10.31.2.2", 6, 22, t0), None);
        assert_eq!(v(&p, "10.31.1.1", "224.0.0.251", 17, 5353, t0), None);
        // temporary exception: allowed until it expires (packet time)
        assert_eq!(v(&p, "10.31.1.1", "8.8.8.8", 17, 53, t0), None);
        assert_eq!(
            v(&p, "10.31.1.1", "8.8.8.8", 17, 53, t0 + 301),
            Some(PolicyKind::UnauthorizedOutbound)
        );
    }

    #[test]
    fn midstream_reverse_is_allowed() {
        let p = ZonePolicy::from_config(&cfg());
        let (c, s): (IpAddr, IpAddr) =
            ("10.40.0.80".parse().unwrap(), "10.31.4.27".parse().unwrap());
        let ts = Timestamp::from_secs_nanos(1_793_581_200, 0);
        assert!(p
            .flow_verdict(c, p.locate(c), s, p.locate(s), 6, 3128, 50000, true, ts)
            .is_none());
        assert!(p
            .flow_verdict(c, p.locate(c), s, p.locate(s), 6, 3128, 50000, false, ts)
            .is_some());
    }

    #[test]
    fn responsibility_and_cleartext() {
        let p = ZonePolicy::from_config(&cfg());
        assert_eq!(p.responsible_zone(1, 0), 1);
        assert_eq!(p.responsible_zone(0, 1), 1);
        assert!(p.cleartext_banned(Locality::Zone(3), Locality::Zone(1)));
        assert!(!p.cleartext_banned(Locality::Zone(3), Locality::Zone(0)));
    }
}
