//! Routing (谁上网谁负责): which zones an alert touches, the highest
//! protection level among them, and the responsible unit.

use std::net::IpAddr;

use crate::alert::Alert;
use crate::policy::{Locality, ZoneInfo, ZonePolicy};

use super::grade::LevelBand;

/// The zones of an alert and who answers for them.
#[derive(Clone, Copy, Debug, Default)]
pub struct Route<'p> {
    /// Zone of the source (the initiator), if known.
    pub src_zone: Option<(u16, &'p ZoneInfo)>,
    /// Zone of the destination, if known.
    pub dest_zone: Option<(u16, &'p ZoneInfo)>,
    /// Highest protection level touched (0 when no zone is known).
    pub level: u8,
    /// True if an isolated zone is touched.
    pub isolated: bool,
}

impl<'p> Route<'p> {
    /// Column of the grade matrix.
    pub fn band(&self) -> LevelBand {
        LevelBand::of(self.level, self.isolated)
    }

    /// The responsible zone: the source's when it names a unit, else the
    /// destination's.
    pub fn responsible(&self) -> Option<&'p ZoneInfo> {
        match (self.src_zone, self.dest_zone) {
            (Some((_, s)), _) if s.unit.is_some() => Some(s),
            (_, Some((_, d))) if d.unit.is_some() => Some(d),
            (Some((_, s)), _) => Some(s),
            (_, d) => d.map(|(_, z)| z),
        }
    }

    /// The touched zones, source first, without duplicates.
    pub fn zones(&self) -> impl Iterator<Item = &'p ZoneInfo> + '_ {
        let d = match (self.src_zone, self.dest_zone) {
            (Some((a, _)), Some((b, _))) if a == b => None,
            (_, d) => d,
        };
        self.src_zone.into_iter().chain(d).map(|(_, z)| z)
    }
}

fn zone_of(policy: &ZonePolicy, ip: Option<IpAddr>) -> Option<(u16, &ZoneInfo)> {
    match policy.locate(ip?) {
        Locality::Zone(z) => policy.zone(z).map(|info| (z, info)),
        Locality::Local | Locality::Unzoned => None,
    }
}

fn zone_by_id<'p>(policy: &'p ZonePolicy, id: &str) -> Option<(u16, &'p ZoneInfo)> {
    policy
        .zones
        .iter()
        .enumerate()
        .find(|(_, z)| &*z.id == id)
        .and_then(|(i, z)| u16::try_from(i).ok().map(|i| (i, z)))
}

/// The destination address the alert is about: its `dest_ip`, or for a log
/// alert without one, the logging host when that is an address.
pub fn target_ip(a: &Alert) -> Option<IpAddr> {
    a.addrs.dest_ip.or_else(|| {
        a.log
            .as_ref()
            .and_then(|l| l.host.as_deref())
            .and_then(|h| h.parse().ok())
    })
}

/// Routes an alert: zones from the policy object of a zone-policy alert,
/// else from the alert's addresses (for a log alert, the logging host).
pub fn route<'p>(policy: &'p ZonePolicy, a: &Alert) -> Route<'p> {
    let (src_zone, dest_zone) = match &a.policy {
        Some(p) => (
            zone_by_id(policy, &p.src_zone).or_else(|| zone_of(policy, a.addrs.src_ip)),
            zone_by_id(policy, &p.dest_zone).or_else(|| zone_of(policy, target_ip(a))),
        ),
        None => (
            zone_of(policy, a.addrs.src_ip),
            zone_of(policy, target_ip(a)),
        ),
    };
    let mut r = Route {
        src_zone,
        dest_zone,
        level: 0,
        isolated: false,
    };
    for (_, z) in src_zone.iter().chain(dest_zone.iter()) {
        r.level = r.level.max(z.level);
        r.isolated |= z.isolated;
    }
    if let Some(p) = &a.policy {
        r.level = r.level.max(p.level);
    }
    r
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::policy::ZoneMap;
    use std::sync::Arc;

    fn zone(
        id: &str,
        zh: &str,
        level: u8,
        unit: Option<&str>,
        isolated: bool,
        default: bool,
    ) -> ZoneInfo {
        ZoneInfo {
            id: Arc::from(id),
            name_zh: Some(Arc::from(zh)),
            name_en: None,
            level,
            isolated,
            is_default: default,
            strict: false,
            unit: unit.map(Arc::from),
            contact: unit.map(|u| Arc::from(format!("{u}-duty@example.gov.cn"))),
        }
    }

    /// A small policy of the reference network: internet (0), mangshi (1,
    /// level 2), datacenter (2, level 3), classified (3, isolated level 4).
    pub(crate) fn policy() -> ZonePolicy {
        let zones = vec![
            zone("internet", "互联网", 0, None, false, true),
            zone(
                "county-mangshi",
                "芒市政务外网",
                2,
                Some("芒市大数据中心"),
                false,
                false,
            ),
            zone(
                "datacenter",
                "州政务数据中心",
                3,
                Some("州大数据中心"),
                false,
                false,
            ),
            zone("classified", "涉密内网", 4, Some("州保密办"), true, false),
        ];
        let map = ZoneMap::new(
            [
                ("10.31.0.0/16".parse().unwrap(), 1u16),
                ("10.10.0.0/16".parse().unwrap(), 2),
                ("10.99.0.0/16".parse().unwrap(), 3),
            ],
            Some(0),
        );
        ZonePolicy {
            zones,
            map,
            ..Default::default()
        }
    }

    fn alert(src: &str, dst: &str) -> Alert {
        crate::incident::correlate::tests::alert_at(0, "network_attack/exploit", src, dst, 1000, 2)
    }

    #[test]
    fn source_unit_first_then_destination() {
        let p = policy();
        let r = route(&p, &alert("10.31.4.27", "10.10.1.1"));
        assert_eq!(r.responsible().map(|z| &*z.id), Some("county-mangshi"));
        assert_eq!(r.level, 3);
        assert_eq!(r.band(), LevelBand::Three);
        // From the internet (no unit): the destination's unit.
        let r = route(&p, &alert("47.100.23.45", "10.31.4.27"));
        assert_eq!(r.responsible().map(|z| &*z.id), Some("county-mangshi"));
        assert_eq!(r.zones().count(), 2);
    }

    #[test]
    fn isolated_zone_is_top_band() {
        let p = policy();
        let r = route(&p, &alert("10.99.0.5", "47.1.1.1"));
        assert!(r.isolated);
        assert_eq!(r.band(), LevelBand::FourOrIsolated);
    }

    #[test]
    fn log_alert_routes_to_logging_host() {
        let p = policy();
        let mut a = alert("47.100.23.45", "10.10.1.1");
        a.addrs.dest_ip = None;
        a.log = Some(crate::alert::LogInfo {
            host: Some("10.10.3.3".into()),
            program: Some("sshd".into()),
            message: "Failed password".into(),
        });
        let r = route(&p, &a);
        assert_eq!(r.dest_zone.map(|(_, z)| &*z.id), Some("datacenter"));
        assert_eq!(
            r.responsible().and_then(|z| z.unit.as_deref()),
            Some("州大数据中心")
        );
    }

    #[test]
    fn same_zone_listed_once() {
        let p = policy();
        let r = route(&p, &alert("10.31.1.1", "10.31.1.2"));
        assert_eq!(r.zones().count(), 1);
    }
}
