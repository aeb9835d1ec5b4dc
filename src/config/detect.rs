//! The `detect:` section: thresholds of the built-in cross-flow detectors
//! (port scan, SSH brute force, SYN flood, ICMP flood, DNS tunnel).
//!
//! Every key is optional; the defaults (and the reasoning behind them) are
//! in `docs/configuration.md` and `docs/detectors.md`. The section is read
//! like the rest of the config: unknown keys are rejected and every error
//! names its YAML path (`detect.port_scan.window_secs`).

use serde_yaml_ng::Value;

use super::{describe, obj, ErrorKind, Errs, Obj};

/// Longest detection window accepted (seconds): one hour.
const MAX_WINDOW_SECS: u64 = 3600;
/// Largest tracking table accepted (entries per table).
const MAX_TRACKED: u64 = 4 * 1024 * 1024;

/// Port-scan thresholds (one source probing many ports or many hosts).
#[derive(Debug, Clone, PartialEq)]
pub struct PortScanConfig {
    /// Detector on; default true.
    pub enabled: bool,
    /// Counting window, seconds of packet time; default 60.
    pub window_secs: u64,
    /// Vertical: distinct unanswered destination ports of one host from one
    /// source within the window; default 20.
    pub vertical_ports: u32,
    /// Horizontal: distinct unanswered hosts on one port from one source
    /// within the window; default 20.
    pub horizontal_hosts: u32,
}

impl Default for PortScanConfig {
    fn default() -> Self {
        PortScanConfig {
            enabled: true,
            window_secs: 60,
            vertical_ports: 20,
            horizontal_hosts: 20,
        }
    }
}

/// SSH brute force seen in traffic (many new connections to port 22).
#[derive(Debug, Clone, PartialEq)]
pub struct SshBruteforceConfig {
    /// Detector on; default true.
    pub enabled: bool,
    /// Counting window, seconds; default 60.
    pub window_secs: u64,
    /// New connections from one source to one host's SSH port within the
    /// window; default 10.
    pub connections: u32,
    /// Ports counted as SSH; default `[22]`.
    pub ports: Vec<u16>,
}

impl Default for SshBruteforceConfig {
    fn default() -> Self {
        SshBruteforceConfig {
            enabled: true,
            window_secs: 60,
            connections: 10,
            ports: vec![22],
        }
    }
}

/// A flood: packets of one kind to one destination per second.
#[derive(Debug, Clone, PartialEq)]
pub struct FloodConfig {
    /// Detector on; default true.
    pub enabled: bool,
    /// Measuring window, seconds; default 2.
    pub window_secs: u64,
    /// Packets per second to one destination (averaged over the window)
    /// that make a flood.
    pub rate: u32,
}

/// DNS tunnel thresholds, per source and registered domain.
#[derive(Debug, Clone, PartialEq)]
pub struct DnsTunnelConfig {
    /// Detector on; default true.
    pub enabled: bool,
    /// Counting window, seconds; default 300.
    pub window_secs: u64,
    /// Queries with a long, high-entropy subdomain within the window;
    /// default 20.
    pub queries: u32,
    /// A label this long (or longer) makes the name suspicious when its
    /// entropy is high enough; default 24.
    pub min_label_len: u8,
    /// Shannon entropy (bits per character) of the subdomain part above
    /// which a long name is suspicious; default 3.2.
    pub min_entropy: f64,
    /// TXT or NULL queries within the window, whatever their names;
    /// default 200.
    pub txt_null_queries: u32,
}

impl Default for DnsTunnelConfig {
    fn default() -> Self {
        DnsTunnelConfig {
            enabled: true,
            window_secs: 300,
            queries: 20,
            min_label_len: 24,
            min_entropy: 3.2,
            txt_null_queries: 200,
        }
    }
}

/// The `detect:` section.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectConfig {
    /// All built-in cross-flow detectors on; default true (`-S` switches
    /// them off whatever this says).
    pub enabled: bool,
    /// Entries kept per tracking table (beyond: the oldest-found entry is
    /// evicted and counted); default 65536.
    pub max_tracked: usize,
    /// An ongoing episode alerts again at most once per this many seconds;
    /// default 600.
    pub repeat_secs: u64,
    /// Port scans.
    pub port_scan: PortScanConfig,
    /// SSH brute force.
    pub ssh_bruteforce: SshBruteforceConfig,
    /// SYN flood; default rate 1000/s over 2 s.
    pub syn_flood: FloodConfig,
    /// ICMP echo flood; default rate 500/s over 2 s.
    pub icmp_flood: FloodConfig,
    /// DNS tunnels.
    pub dns_tunnel: DnsTunnelConfig,
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            enabled: true,
            max_tracked: 65_536,
            repeat_secs: 600,
            port_scan: PortScanConfig::default(),
            ssh_bruteforce: SshBruteforceConfig::default(),
            syn_flood: FloodConfig {
                enabled: true,
                window_secs: 2,
                rate: 1000,
            },
            icmp_flood: FloodConfig {
                enabled: true,
                window_secs: 2,
                rate: 500,
            },
            dns_tunnel: DnsTunnelConfig::default(),
        }
    }
}

const TOP: &[&str] = &[
    "enabled",
    "max_tracked",
    "repeat_secs",
    "port_scan",
    "ssh_bruteforce",
    "syn_flood",
    "icmp_flood",
    "dns_tunnel",
];

fn u32_of(o: &Obj<'_>, key: &str, min: u64, max: u64, e: &mut Errs) -> Option<u32> {
    o.uint(key, min, max, e).and_then(|n| u32::try_from(n).ok())
}

/// Reads the `detect:` section (absent: the defaults).
pub(super) fn read_detect(v: Option<&Value>, e: &mut Errs) -> DetectConfig {
    let mut d = DetectConfig::default();
    let Some(v) = v else { return d };
    let Some(o) = obj(v, "detect", TOP, e) else {
        return d;
    };
    d.enabled = o.bool("enabled", d.enabled, e);
    if let Some(n) = o.uint("max_tracked", 64, MAX_TRACKED, e) {
        d.max_tracked = usize::try_from(n).unwrap_or(d.max_tracked);
    }
    if let Some(n) = o.uint("repeat_secs", 1, 86_400, e) {
        d.repeat_secs = n;
    }
    if let Some(v) = o.get("port_scan") {
        let keys = &[
            "enabled",
            "window_secs",
            "vertical_ports",
            "horizontal_hosts",
        ];
        if let Some(p) = obj(v, &o.at("port_scan"), keys, e) {
            let s = &mut d.port_scan;
            s.enabled = p.bool("enabled", s.enabled, e);
            if let Some(n) = p.uint("window_secs", 1, MAX_WINDOW_SECS, e) {
                s.window_secs = n;
            }
            if let Some(n) = u32_of(&p, "vertical_ports", 2, 65_535, e) {
                s.vertical_ports = n;
            }
            if let Some(n) = u32_of(&p, "horizontal_hosts", 2, 1_000_000, e) {
                s.horizontal_hosts = n;
            }
        }
    }
    if let Some(v) = o.get("ssh_bruteforce") {
        let keys = &["enabled", "window_secs", "connections", "ports"];
        if let Some(p) = obj(v, &o.at("ssh_bruteforce"), keys, e) {
            let s = &mut d.ssh_bruteforce;
            s.enabled = p.bool("enabled", s.enabled, e);
            if let Some(n) = p.uint("window_secs", 1, MAX_WINDOW_SECS, e) {
                s.window_secs = n;
            }
            if let Some(n) = u32_of(&p, "connections", 2, 1_000_000, e) {
                s.connections = n;
            }
            if p.get("ports").is_some() {
                let path = p.at("ports");
                let mut ports = Vec::new();
                for (i, item) in p.list("ports", e).iter().enumerate() {
                    match item.as_u64().and_then(|n| u16::try_from(n).ok()) {
                        Some(n) if n > 0 => {
                            if !ports.contains(&n) {
                                ports.push(n);
                            }
                        }
                        _ => e.push(
                            ErrorKind::InvalidValue,
                            format!("{path}[{i}]"),
                            format!("expected a port 1-65535, found {}", describe(item)),
                        ),
                    }
                }
                if ports.is_empty() {
                    e.push(
                        ErrorKind::InvalidValue,
                        path,
                        "at least one port is needed (set enabled: false to switch the detector off)",
                    );
                } else {
                    s.ports = ports;
                }
            }
        }
    }
    for (key, f) in [
        ("syn_flood", &mut d.syn_flood),
        ("icmp_flood", &mut d.icmp_flood),
    ] {
        if let Some(v) = o.get(key) {
            let keys = &["enabled", "window_secs", "rate"];
            if let Some(p) = obj(v, &o.at(key), keys, e) {
                f.enabled = p.bool("enabled", f.enabled, e);
                if let Some(n) = p.uint("window_secs", 1, 60, e) {
                    f.window_secs = n;
                }
                if let Some(n) = u32_of(&p, "rate", 1, 100_000_000, e) {
                    f.rate = n;
                }
            }
        }
    }
    if let Some(v) = o.get("dns_tunnel") {
        let keys = &[
            "enabled",
            "window_secs",
            "queries",
            "min_label_len",
            "min_entropy",
            "txt_null_queries",
        ];
        if let Some(p) = obj(v, &o.at("dns_tunnel"), keys, e) {
            let s = &mut d.dns_tunnel;
            s.enabled = p.bool("enabled", s.enabled, e);
            if let Some(n) = p.uint("window_secs", 1, MAX_WINDOW_SECS, e) {
                s.window_secs = n;
            }
            if let Some(n) = u32_of(&p, "queries", 2, 1_000_000, e) {
                s.queries = n;
            }
            if let Some(n) = p.uint("min_label_len", 8, 63, e) {
                s.min_label_len = u8::try_from(n).unwrap_or(s.min_label_len);
            }
            if let Some(n) = u32_of(&p, "txt_null_queries", 2, 10_000_000, e) {
                s.txt_null_queries = n;
            }
            if let Some(v) = p.get("min_entropy") {
                match v.as_f64() {
                    Some(x) if (0.0..=8.0).contains(&x) => s.min_entropy = x,
                    Some(x) => e.push(
                        ErrorKind::InvalidValue,
                        p.at("min_entropy"),
                        format!("{x} is out of range (bits per character, allowed 0-8)"),
                    ),
                    None => e.push(
                        ErrorKind::WrongType,
                        p.at("min_entropy"),
                        format!("expected a number, found {}", describe(v)),
                    ),
                }
            }
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::path::Path;

    fn load(yaml: &str) -> Result<Config, crate::config::ConfigErrors> {
        Config::from_yaml_str(yaml, "test.yaml", Path::new("."))
    }

    #[test]
    fn absent_section_gives_defaults() {
        let c = load("name: x\n").unwrap();
        assert_eq!(c.detect, DetectConfig::default());
        assert_eq!(Config::builtin_default().detect, DetectConfig::default());
    }

    #[test]
    fn values_are_read() {
        let c = load(
            "name: x\ndetect:\n  repeat_secs: 60\n  port_scan: {vertical_ports: 50, window_secs: 30}\n  ssh_bruteforce: {ports: [22, 2222], connections: 5}\n  syn_flood: {rate: 200}\n  icmp_flood: {enabled: false}\n  dns_tunnel: {min_entropy: 3.5, queries: 10}\n",
        )
        .unwrap();
        let d = &c.detect;
        assert_eq!(d.repeat_secs, 60);
        assert_eq!(d.port_scan.vertical_ports, 50);
        assert_eq!(d.port_scan.window_secs, 30);
        assert_eq!(d.ssh_bruteforce.ports, vec![22, 2222]);
        assert_eq!(d.ssh_bruteforce.connections, 5);
        assert_eq!(d.syn_flood.rate, 200);
        assert!(!d.icmp_flood.enabled);
        assert_eq!(d.dns_tunnel.min_entropy, 3.5);
        assert_eq!(d.dns_tunnel.queries, 10);
    }

    #[test]
    fn errors_name_their_path() {
        let err = load(
            "name: x\ndetect:\n  bogus: 1\n  port_scan: {window_secs: 0}\n  ssh_bruteforce: {ports: [0, x]}\n  dns_tunnel: {min_entropy: nine}\n",
        )
        .unwrap_err();
        let paths: Vec<&str> = err.errors.iter().map(|e| e.path.as_str()).collect();
        for p in [
            "detect.bogus",
            "detect.port_scan.window_secs",
            "detect.ssh_bruteforce.ports[0]",
            "detect.ssh_bruteforce.ports[1]",
            "detect.dns_tunnel.min_entropy",
        ] {
            assert!(paths.contains(&p), "{p} not in {paths:?}");
        }
    }
}
