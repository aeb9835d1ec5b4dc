//! The cross-zone allow-list, compiled into a matrix of zone pairs.
//!
//! Each allow entry names source and destination zones or groups; compiling
//! expands them into the zone pairs they cover, so checking a flow costs one
//! hash probe for its zone pair and a look at the (usually one or two)
//! entries listed there.

use std::net::IpAddr;

use ipnet::IpNet;
use rustc_hash::FxHashMap;

use crate::config::{Config, Service};
use crate::time::Timestamp;

/// One compiled allow entry.
#[derive(Clone, Debug)]
pub struct AllowEntry {
    /// Position in the config's `allow` list (for messages).
    pub index: usize,
    /// Allowed source hosts (empty: any host of the source zones).
    pub src_hosts: Vec<IpNet>,
    /// Allowed destination hosts (empty: any).
    pub dst_hosts: Vec<IpNet>,
    /// Allowed services.
    pub services: Vec<Service>,
    /// The entry stops allowing at this packet time.
    pub expires: Option<Timestamp>,
    /// Approval ticket of a temporary exception.
    pub ticket: Option<String>,
}

impl AllowEntry {
    fn allows(&self, client: IpAddr, server: IpAddr, proto: u8, dport: u16, ts: Timestamp) -> bool {
        if self.expires.is_some_and(|e| ts >= e) {
            return false;
        }
        (self.src_hosts.is_empty() || self.src_hosts.iter().any(|n| n.contains(&client)))
            && (self.dst_hosts.is_empty() || self.dst_hosts.iter().any(|n| n.contains(&server)))
            && self.services.iter().any(|s| s.matches(proto, dport))
    }
}

/// The allow-list as a zone-pair matrix.
#[derive(Clone, Debug, Default)]
pub struct AllowTable {
    entries: Vec<AllowEntry>,
    pairs: FxHashMap<(u16, u16), Vec<u32>>,
}

impl AllowTable {
    /// Compiles the config's allow-list. Unknown zone names were reported
    /// by config validation; here they simply match nothing.
    pub fn from_config(cfg: &Config) -> Self {
        let mut t = AllowTable::default();
        for (index, rule) in cfg.allow.iter().enumerate() {
            let from: Vec<usize> = rule.from.iter().flat_map(|n| cfg.expand_group(n)).collect();
            let to: Vec<usize> = rule.to.iter().flat_map(|n| cfg.expand_group(n)).collect();
            let id = t.entries.len() as u32;
            t.entries.push(AllowEntry {
                index,
                src_hosts: rule.src_hosts.clone(),
                dst_hosts: rule.dst_hosts.clone(),
                services: rule.services.clone(),
                expires: rule.expires.as_ref().map(Timestamp::from_chrono),
                ticket: rule.ticket.clone(),
            });
            for f in &from {
                for d in &to {
                    let list = t.pairs.entry((*f as u16, *d as u16)).or_default();
                    if !list.contains(&id) {
                        list.push(id);
                    }
                }
            }
        }
        t
    }

    /// The allow entry that permits a flow from `client` in zone `cz` to
    /// `server` in zone `sz`, if any.
    #[allow(clippy::too_many_arguments)]
    pub fn find(
        &self,
        cz: u16,
        sz: u16,
        client: IpAddr,
        server: IpAddr,
        proto: u8,
        dport: u16,
        ts: Timestamp,
    ) -> Option<&AllowEntry> {
        self.pairs.get(&(cz, sz))?.iter().find_map(|i| {
            self.entries
                .get(*i as usize)
                .filter(|e| e.allows(client, server, proto, dport, ts))
        })
    }

    /// Number of compiled entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is allowed across zones.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
