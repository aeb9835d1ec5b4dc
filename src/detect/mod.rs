//! Built-in cross-flow detectors: port scans, SSH brute force, SYN and ICMP
//! floods, DNS tunnels — what the rule language cannot say because it
//! counts across connections.
//!
//! Workers are sharded by flow, so these detectors run beside them: one
//! thread that sees every packet turns each decoded packet into an
//! [`Observation`] (small, `Copy`, no heap) and feeds it to one
//! [`CrossFlow`] state machine. In replay that is worker 0, which already
//! decodes every packet, so the alerts are the same for any `--workers`.
//!
//! Time is packet time. State is bounded: each detector keeps a capped
//! table (config `detect.max_tracked`; evictions are counted) and counts
//! distinct ports or hosts in fixed 512-bit sets; nothing is allocated per
//! packet. Each key (source and target) alerts once per episode and again
//! at most every `detect.repeat_secs` while the episode lasts; the alert
//! carries its evidence counts in `alert.metadata.evidence`. See
//! `docs/detectors.md` for what each detector counts and how to tune it.

mod names;
pub mod observation;
mod table;

use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Arc;

use crate::alert::{Action, Alert, AlertAddrs, AlertSource};
use crate::config::DetectConfig;
use crate::policy::{Locality, ZonePolicy};
use crate::time::Timestamp;

pub use observation::{ObsKind, Observation, QName};

use table::{item_bit, port_bit, Bits, Episode, Table};

/// Most DNS servers remembered (addresses seen answering on port 53); their
/// own (recursive) queries are not attributed to them.
pub const MAX_RESOLVERS: usize = 4096;

/// The built-in detectors, each with a signature id of zoneguard's local
/// range (1990101–1990199, docs/rules.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Detector {
    /// One source, many ports of one host.
    VerticalScan,
    /// One source, one port on many hosts.
    HorizontalScan,
    /// Many new SSH connections from one source to one host.
    SshBruteforce,
    /// A high SYN rate to one destination.
    SynFlood,
    /// A high ICMP echo-request rate to one destination.
    IcmpFlood,
    /// Many long random subdomain queries (or TXT/NULL volume) from one
    /// source under one registered domain.
    DnsTunnel,
}

impl Detector {
    /// Every detector, in sid order.
    pub const ALL: [Detector; 6] = [
        Detector::VerticalScan,
        Detector::HorizontalScan,
        Detector::SshBruteforce,
        Detector::SynFlood,
        Detector::IcmpFlood,
        Detector::DnsTunnel,
    ];

    /// Signature id.
    pub fn sid(self) -> u32 {
        1_990_101 + self as u32
    }

    /// Short name (`alert.metadata.zoneguard_detector`).
    pub fn name(self) -> &'static str {
        match self {
            Detector::VerticalScan => "port_scan_vertical",
            Detector::HorizontalScan => "port_scan_horizontal",
            Detector::SshBruteforce => "ssh_bruteforce",
            Detector::SynFlood => "syn_flood",
            Detector::IcmpFlood => "icmp_flood",
            Detector::DnsTunnel => "dns_tunnel",
        }
    }

    /// Taxonomy id (shared/taxonomy.yaml).
    pub fn taxonomy(self) -> &'static str {
        match self {
            Detector::VerticalScan | Detector::HorizontalScan => "network_attack/scan",
            Detector::SshBruteforce => "network_attack/brute_force",
            Detector::SynFlood | Detector::IcmpFlood => "network_attack/dos",
            Detector::DnsTunnel => "anomaly/covert_channel",
        }
    }

    /// Detection severity (taxonomy.yaml): scans are reconnaissance
    /// (medium); the others are attacks in progress (high).
    pub fn severity(self) -> &'static str {
        match self {
            Detector::VerticalScan | Detector::HorizontalScan => "medium",
            _ => "high",
        }
    }

    /// EVE `alert.severity` (1 high, 2 medium).
    pub fn eve_severity(self) -> u8 {
        if self.severity() == "medium" {
            2
        } else {
            1
        }
    }

    /// `alert.category`: the Suricata classtype description closest to it.
    pub fn category(self) -> &'static str {
        match self {
            Detector::VerticalScan | Detector::HorizontalScan => "Detection of a Network Scan",
            Detector::SshBruteforce => "Attempted Administrator Privilege Gain",
            Detector::SynFlood | Detector::IcmpFlood => "Attempted Denial of Service",
            Detector::DnsTunnel => "Potentially Bad Traffic",
        }
    }

    /// The alert message, in Chinese and English.
    pub fn signature(self) -> &'static str {
        match self {
            Detector::VerticalScan => "ZONEGUARD SCAN 端口扫描(纵向) vertical port scan",
            Detector::HorizontalScan => "ZONEGUARD SCAN 端口扫描(横向) horizontal port scan",
            Detector::SshBruteforce => "ZONEGUARD BRUTE-FORCE SSH 口令暴力破解 SSH brute force",
            Detector::SynFlood => "ZONEGUARD DOS SYN 洪泛 SYN flood",
            Detector::IcmpFlood => "ZONEGUARD DOS ICMP 洪泛 ICMP echo flood",
            Detector::DnsTunnel => "ZONEGUARD DNS 隐蔽信道 DNS tunnel",
        }
    }
}

/// Counters of a [`CrossFlow`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CrossFlowStats {
    /// Observations fed.
    pub observations: u64,
    /// Alerts raised, per detector in [`Detector::ALL`] order.
    pub alerts: [u64; 6],
    /// Tracking entries evicted because a table was full.
    pub evicted: u64,
    /// DNS servers not remembered because the list was full.
    pub resolvers_full: u64,
    /// Queries of known DNS servers not attributed (recursion).
    pub resolver_queries: u64,
}

#[derive(Clone, Copy, Debug)]
struct ScanEntry {
    ep: Episode,
    tried: Bits,
    answered: Bits,
    probes: u32,
    rejected: u32,
}

#[derive(Clone, Copy, Debug)]
struct SshEntry {
    ep: Episode,
    conns: u32,
    last_sport: u16,
}

#[derive(Clone, Copy, Debug)]
struct FloodEntry {
    ep: Episode,
    count: u32,
    answered: u32,
    sources: Bits,
    first_src: IpAddr,
    one_source: bool,
    dport: u16,
}

/// Longest registered domain kept for the alert (longer ones are cut).
const DOMAIN_KEPT: usize = 64;

#[derive(Clone, Copy, Debug)]
struct DnsEntry {
    ep: Episode,
    suspicious: u32,
    txt_null: u32,
    queries: u32,
    longest: u8,
    domain: [u8; DOMAIN_KEPT],
    domain_len: u8,
}

/// Nanoseconds of `secs` seconds.
fn ns(secs: u64) -> i64 {
    i64::try_from(secs)
        .unwrap_or(i64::MAX)
        .saturating_mul(Timestamp::NANOS_PER_SEC)
}

/// The cross-flow state machine: feed it every packet's [`Observation`]
/// in capture order ([`CrossFlow::observe`]) and the packet time
/// ([`CrossFlow::advance`]); it appends alerts to the caller's list.
#[derive(Debug)]
pub struct CrossFlow {
    cfg: DetectConfig,
    policy: Arc<ZonePolicy>,
    vscan: Table<(IpAddr, IpAddr), ScanEntry>,
    hscan: Table<(IpAddr, u16), ScanEntry>,
    ssh: Table<(IpAddr, IpAddr, u16), SshEntry>,
    syn: Table<IpAddr, FloodEntry>,
    icmp: Table<IpAddr, FloodEntry>,
    dns: Table<(IpAddr, u64), DnsEntry>,
    resolvers: Table<IpAddr, ()>,
    repeat_ns: i64,
    last_sweep: i64,
    stats: CrossFlowStats,
}

impl CrossFlow {
    /// Detectors with the thresholds of `cfg`; `policy` names the zones in
    /// the alerts.
    pub fn new(cfg: &DetectConfig, policy: Arc<ZonePolicy>) -> Self {
        let cap = cfg.max_tracked.max(1);
        CrossFlow {
            cfg: cfg.clone(),
            policy,
            vscan: Table::new(cap),
            hscan: Table::new(cap),
            ssh: Table::new(cap),
            syn: Table::new(cap),
            icmp: Table::new(cap),
            dns: Table::new(cap),
            resolvers: Table::new(MAX_RESOLVERS),
            repeat_ns: ns(cfg.repeat_secs),
            last_sweep: i64::MIN,
            stats: CrossFlowStats::default(),
        }
    }

    /// Takes new thresholds and zones (a config reload) and keeps the state
    /// of ongoing episodes; table caps stay as they were built.
    pub fn reconfigure(&mut self, cfg: &DetectConfig, policy: Arc<ZonePolicy>) {
        self.cfg = cfg.clone();
        self.repeat_ns = ns(cfg.repeat_secs);
        self.policy = policy;
    }

    /// Counters so far (evictions summed over the tables).
    pub fn stats(&self) -> CrossFlowStats {
        let mut s = self.stats.clone();
        s.evicted = self.vscan.evicted
            + self.hscan.evicted
            + self.ssh.evicted
            + self.syn.evicted
            + self.icmp.evicted
            + self.dns.evicted;
        s
    }

    /// Entries tracked now, over all tables.
    pub fn tracked(&self) -> usize {
        self.vscan.len()
            + self.hscan.len()
            + self.ssh.len()
            + self.syn.len()
            + self.icmp.len()
            + self.dns.len()
    }

    /// Advances packet time: once per second of it, episodes quiet for
    /// longer than their window (or, once alerted, the repeat interval) end.
    /// No alert is raised here today; the list is for detectors that report
    /// at the end of an episode.
    pub fn advance(&mut self, now: Timestamp, _out: &mut Vec<Alert>) {
        let secs = now.secs();
        if secs == self.last_sweep {
            return;
        }
        self.last_sweep = secs;
        let r = self.repeat_ns;
        let w = ns(self.cfg.port_scan.window_secs);
        self.vscan.retain(|e| e.ep.alive(now, w, r));
        self.hscan.retain(|e| e.ep.alive(now, w, r));
        let w = ns(self.cfg.ssh_bruteforce.window_secs);
        self.ssh.retain(|e| e.ep.alive(now, w, r));
        let w = ns(self.cfg.syn_flood.window_secs);
        self.syn.retain(|e| e.ep.alive(now, w, r));
        let w = ns(self.cfg.icmp_flood.window_secs);
        self.icmp.retain(|e| e.ep.alive(now, w, r));
        let w = ns(self.cfg.dns_tunnel.window_secs);
        self.dns.retain(|e| e.ep.alive(now, w, r));
    }

    /// Feeds one observation; alerts go to `out`.
    pub fn observe(&mut self, o: &Observation, out: &mut Vec<Alert>) {
        if !self.cfg.enabled {
            return;
        }
        self.stats.observations += 1;
        match o.kind {
            ObsKind::Syn => {
                if self.cfg.port_scan.enabled {
                    self.scan_probe(o, o.src, o.dst, o.dport, 6, false, out);
                }
                if self.cfg.ssh_bruteforce.enabled
                    && self.cfg.ssh_bruteforce.ports.contains(&o.dport)
                {
                    self.ssh_syn(o, out);
                }
                if self.cfg.syn_flood.enabled {
                    self.flood(o, false, out);
                }
            }
            ObsKind::SynAck => {
                // o.src:o.sport answered o.dst
                if let Some(e) = self.vscan.get_mut(&(o.dst, o.src)) {
                    e.answered.set(port_bit(o.sport));
                }
                if let Some(e) = self.hscan.get_mut(&(o.dst, o.sport)) {
                    e.answered.set(item_bit(&o.src));
                }
                if let Some(e) = self.syn.get_mut(&o.src) {
                    e.answered = e.answered.saturating_add(1);
                }
            }
            ObsKind::Rst => {
                if let Some(e) = self.vscan.get_mut(&(o.dst, o.src)) {
                    e.rejected = e.rejected.saturating_add(1);
                }
                if let Some(e) = self.hscan.get_mut(&(o.dst, o.sport)) {
                    e.rejected = e.rejected.saturating_add(1);
                }
            }
            ObsKind::PortUnreachable { port } => {
                if self.cfg.port_scan.enabled {
                    // the target (src) refused the prober's (dst) UDP probe
                    self.scan_probe(o, o.dst, o.src, port, 17, true, out);
                }
            }
            ObsKind::EchoRequest => {
                if self.cfg.icmp_flood.enabled {
                    self.flood(o, true, out);
                }
            }
            ObsKind::DnsQuery { qtype, ref name } => {
                if self.cfg.dns_tunnel.enabled {
                    self.dns_query(o, qtype, name, out);
                }
            }
            ObsKind::DnsResponse => {
                if self.resolvers.get_mut(&o.src).is_none() {
                    if self.resolvers.len() >= MAX_RESOLVERS {
                        self.stats.resolvers_full += 1;
                    } else {
                        self.resolvers.get_or_insert(o.src, || ());
                    }
                }
            }
        }
    }

    /// A probe from `scanner` to `target:port` (a SYN, or a UDP probe
    /// refused with port unreachable).
    #[allow(clippy::too_many_arguments)]
    fn scan_probe(
        &mut self,
        o: &Observation,
        scanner: IpAddr,
        target: IpAddr,
        port: u16,
        proto: u8,
        refused: bool,
        out: &mut Vec<Alert>,
    ) {
        let c = &self.cfg.port_scan;
        let window_secs = c.window_secs;
        let w = ns(window_secs);
        let (vmin, hmin) = (c.vertical_ports, c.horizontal_hosts);
        let fresh = || ScanEntry {
            ep: Episode::new(o.ts),
            tried: Bits::default(),
            answered: Bits::default(),
            probes: 0,
            rejected: 0,
        };
        let roll = |e: &mut ScanEntry| {
            if e.ep.roll(o.ts, w) {
                e.tried = Bits::default();
                e.answered = Bits::default();
                e.probes = 0;
                e.rejected = 0;
            }
            e.probes = e.probes.saturating_add(1);
            if refused {
                e.rejected = e.rejected.saturating_add(1);
            }
        };
        let e = self.vscan.get_or_insert((scanner, target), fresh);
        roll(e);
        e.tried.set(port_bit(port));
        let failed = e.tried.count_not_in(&e.answered);
        if failed >= vmin && e.ep.try_alert(o.ts, self.repeat_ns) {
            let ev = vec![
                format!("distinct_ports={}", e.tried.count()),
                format!("unanswered_ports={failed}"),
                format!("probes={}", e.probes),
                format!("rejected={}", e.rejected),
                format!("window_secs={window_secs}"),
                format!("first_seen={}", fmt_ts(e.ep.first)),
            ];
            let a = self.alert(
                Detector::VerticalScan,
                o,
                Some(scanner),
                target,
                (0, 0),
                proto,
                ev,
            );
            out.push(a);
        }
        let e = self.hscan.get_or_insert((scanner, port), fresh);
        roll(e);
        e.tried.set(item_bit(&target));
        let failed = e.tried.count_not_in(&e.answered);
        if failed >= hmin && e.ep.try_alert(o.ts, self.repeat_ns) {
            let ev = vec![
                format!("distinct_hosts={}", e.tried.count()),
                format!("unanswered_hosts={failed}"),
                format!("probes={}", e.probes),
                format!("rejected={}", e.rejected),
                format!("window_secs={window_secs}"),
                format!("first_seen={}", fmt_ts(e.ep.first)),
            ];
            let a = self.alert(
                Detector::HorizontalScan,
                o,
                Some(scanner),
                target,
                (0, port),
                proto,
                ev,
            );
            out.push(a);
        }
    }

    fn ssh_syn(&mut self, o: &Observation, out: &mut Vec<Alert>) {
        let c = &self.cfg.ssh_bruteforce;
        let w = ns(c.window_secs);
        let e = self
            .ssh
            .get_or_insert((o.src, o.dst, o.dport), || SshEntry {
                ep: Episode::new(o.ts),
                conns: 0,
                last_sport: 0,
            });
        if e.ep.roll(o.ts, w) {
            e.conns = 0;
        }
        // a retransmitted SYN (same source port) is the same connection
        if e.conns == 0 || e.last_sport != o.sport {
            e.conns = e.conns.saturating_add(1);
            e.last_sport = o.sport;
        }
        if e.conns >= c.connections && e.ep.try_alert(o.ts, self.repeat_ns) {
            let ev = vec![
                format!("connections={}", e.conns),
                format!("window_secs={}", c.window_secs),
                format!("first_seen={}", fmt_ts(e.ep.first)),
            ];
            let a = self.alert(
                Detector::SshBruteforce,
                o,
                Some(o.src),
                o.dst,
                (0, o.dport),
                6,
                ev,
            );
            out.push(a);
        }
    }

    fn flood(&mut self, o: &Observation, icmp: bool, out: &mut Vec<Alert>) {
        let (c, table, det) = if icmp {
            (&self.cfg.icmp_flood, &mut self.icmp, Detector::IcmpFlood)
        } else {
            (&self.cfg.syn_flood, &mut self.syn, Detector::SynFlood)
        };
        let w = ns(c.window_secs);
        let min = u64::from(c.rate).saturating_mul(c.window_secs);
        let e = table.get_or_insert(o.dst, || FloodEntry {
            ep: Episode::new(o.ts),
            count: 0,
            answered: 0,
            sources: Bits::default(),
            first_src: o.src,
            one_source: true,
            dport: o.dport,
        });
        if e.ep.roll(o.ts, w) {
            e.count = 0;
            e.answered = 0;
            e.sources = Bits::default();
            e.first_src = o.src;
            e.one_source = true;
            e.dport = o.dport;
        }
        e.count = e.count.saturating_add(1);
        e.sources.set(item_bit(&o.src));
        if o.src != e.first_src {
            e.one_source = false;
        }
        if u64::from(e.count) >= min && e.ep.try_alert(o.ts, self.repeat_ns) {
            let secs = o.ts.secs_since(e.ep.start).max(1e-3);
            let mut ev = vec![
                format!("packets={}", e.count),
                format!("rate_per_sec={:.0}", f64::from(e.count) / secs),
                format!("distinct_sources={}", e.sources.count()),
                format!("window_secs={}", c.window_secs),
                format!("first_seen={}", fmt_ts(e.ep.first)),
            ];
            if !icmp {
                ev.push(format!("answered={}", e.answered));
            }
            let src = e.one_source.then_some(e.first_src);
            let (dport, proto) = if icmp { (0, 1) } else { (e.dport, 6) };
            let proto = if icmp && o.dst.is_ipv6() { 58 } else { proto };
            let a = self.alert(det, o, src, o.dst, (0, dport), proto, ev);
            out.push(a);
        }
    }

    fn dns_query(&mut self, o: &Observation, qtype: u16, name: &QName, out: &mut Vec<Alert>) {
        if self.resolvers.get_mut(&o.src).is_some() {
            self.stats.resolver_queries += 1;
            return;
        }
        let c = &self.cfg.dns_tunnel;
        let (sub, reg) = names::split_registered(name.as_bytes());
        if reg.is_empty() {
            return;
        }
        let longest = names::longest_label(sub);
        let suspicious =
            longest >= usize::from(c.min_label_len) && names::entropy(sub) >= c.min_entropy;
        let volume = qtype == observation::qtype::TXT || qtype == observation::qtype::NULL;
        let key = (o.src, rustc_hash::FxBuildHasher.hash_one(reg));
        let w = ns(c.window_secs);
        // ordinary queries never take a table entry
        if !suspicious && !volume && self.dns.get_mut(&key).is_none() {
            return;
        }
        let e = self.dns.get_or_insert(key, || {
            let mut domain = [0u8; DOMAIN_KEPT];
            let n = reg.len().min(DOMAIN_KEPT);
            if let (Some(d), Some(s)) = (domain.get_mut(..n), reg.get(..n)) {
                d.copy_from_slice(s);
            }
            DnsEntry {
                ep: Episode::new(o.ts),
                suspicious: 0,
                txt_null: 0,
                queries: 0,
                longest: 0,
                domain,
                domain_len: u8::try_from(n).unwrap_or(0),
            }
        });
        if e.ep.roll(o.ts, w) {
            e.suspicious = 0;
            e.txt_null = 0;
            e.queries = 0;
            e.longest = 0;
        }
        e.queries = e.queries.saturating_add(1);
        e.suspicious = e.suspicious.saturating_add(u32::from(suspicious));
        e.txt_null = e.txt_null.saturating_add(u32::from(volume));
        e.longest = e.longest.max(u8::try_from(longest).unwrap_or(u8::MAX));
        if (e.suspicious >= c.queries || e.txt_null >= c.txt_null_queries)
            && e.ep.try_alert(o.ts, self.repeat_ns)
        {
            let domain = e
                .domain
                .get(..usize::from(e.domain_len))
                .map(String::from_utf8_lossy)
                .unwrap_or_default()
                .into_owned();
            let ev = vec![
                format!("domain={domain}"),
                format!("suspicious_queries={}", e.suspicious),
                format!("txt_null_queries={}", e.txt_null),
                format!("queries={}", e.queries),
                format!("longest_label={}", e.longest),
                format!("window_secs={}", c.window_secs),
                format!("first_seen={}", fmt_ts(e.ep.first)),
            ];
            let a = self.alert(
                Detector::DnsTunnel,
                o,
                Some(o.src),
                o.dst,
                (o.sport, o.dport),
                17,
                ev,
            );
            out.push(a);
        }
    }

    /// Builds an alert of `det` raised by observation `o`.
    #[allow(clippy::too_many_arguments)]
    fn alert(
        &mut self,
        det: Detector,
        o: &Observation,
        src: Option<IpAddr>,
        dst: IpAddr,
        (sport, dport): (u16, u16),
        proto: u8,
        evidence: Vec<String>,
    ) -> Alert {
        if let Some(n) = Detector::ALL
            .iter()
            .position(|d| *d == det)
            .and_then(|i| self.stats.alerts.get_mut(i))
        {
            *n += 1;
        }
        let mut metadata: Vec<(Arc<str>, Vec<Arc<str>>)> = vec![
            (Arc::from("taxonomy"), vec![Arc::from(det.taxonomy())]),
            (
                Arc::from("zoneguard_severity"),
                vec![Arc::from(det.severity())],
            ),
            (Arc::from("zoneguard_detector"), vec![Arc::from(det.name())]),
            (
                Arc::from("evidence"),
                evidence.iter().map(|s| Arc::from(s.as_str())).collect(),
            ),
        ];
        let zone = |ip: Option<IpAddr>| match ip.map(|ip| self.policy.locate(ip)) {
            Some(Locality::Zone(z)) => self.policy.zone(z).map(|z| Arc::clone(&z.id)),
            _ => None,
        };
        if let Some(z) = zone(src) {
            metadata.push((Arc::from("src_zone"), vec![z]));
        }
        if let Some(z) = zone(Some(dst)) {
            metadata.push((Arc::from("dest_zone"), vec![z]));
        }
        Alert {
            ts: o.ts,
            source: AlertSource::Signature,
            flow_id: None,
            pcap_cnt: (o.pcap_cnt > 0).then_some(o.pcap_cnt),
            addrs: AlertAddrs {
                src_ip: src,
                src_port: sport,
                dest_ip: Some(dst),
                dest_port: dport,
                proto: Some(proto),
            },
            // the frame's MACs only when the frame came from the source
            ether: o.ether.filter(|_| src == Some(o.src)),
            vlans: Vec::new(),
            action: Action::Allowed,
            gid: 1,
            sid: det.sid(),
            rev: 1,
            signature: Arc::from(det.signature()),
            category: Arc::from(det.category()),
            severity: det.eve_severity(),
            metadata,
            policy: None,
            app_proto: None,
            log: None,
        }
    }
}

/// RFC 3339 UTC time with microseconds, for evidence.
fn fmt_ts(t: Timestamp) -> String {
    t.to_chrono().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

#[cfg(test)]
mod tests;
