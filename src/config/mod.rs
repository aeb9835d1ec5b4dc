//! The YAML config: zones, groups, the cross-zone allow-list, inventory,
//! indicators, rule variables and engine settings, with validation that
//! reports every problem at once and where it is.
//!
//! One YAML document; unknown keys are rejected at every level. Relative
//! paths in `rules` are resolved against the directory of the config file
//! (so `config/dehong-egov.yaml` says `../rules`). See
//! `docs/configuration.md` for every key.

mod api;
mod build;
mod capture;
mod daemon;
mod error;
mod incidents;
mod lines;
mod notify;
mod queue;
mod service;
mod syslog;
mod vars;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

pub use api::{ApiClient, ApiConfig, ApiLimits, ApiRole, ApiTls, ApiToken, DEFAULT_API_LISTEN};
pub use build::detect::{
    DetectConfig, DnsTunnelConfig, FloodConfig, PortScanConfig, SshBruteforceConfig,
};
pub use capture::{CaptureConfig, CaptureInterface, DEFAULT_SILENCE_SECS};
pub use daemon::DaemonConfig;
pub use error::{check_errors_json, check_report, ConfigError, ConfigErrors, ErrorKind};
pub use incidents::{IncidentsConfig, MIN_RETENTION_DAYS};
pub use lines::LineIndex;
pub use notify::{
    NotifyConfig, RetryPolicy, Route, SyslogForwardConfig, SyslogTls, WebhookConfig, DEFAULT_SD_ID,
};
pub use queue::{valid_token as valid_nats_token, NatsConfig, NatsTls, QueueBackend, QueueConfig};
pub use service::{Service, ServiceError};
pub use syslog::{ExpectedSender, SenderId, SyslogConfig};
pub use vars::Vars;

/// Largest config file read (bytes); anything bigger is refused.
pub const MAX_CONFIG_BYTES: u64 = 16 * 1024 * 1024;

/// Most errors reported for one file; the rest are summarized.
pub const MAX_ERRORS: usize = 1000;

/// A validated zoneguard configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Name of the deployment (`dehong-egov`).
    pub name: String,
    /// Local timezone for log lines without an offset; default UTC.
    pub timezone: chrono_tz::Tz,
    /// The protected networks; `HOME_NET` unless `vars` sets it.
    pub home_nets: Vec<ipnet::IpNet>,
    /// Rule variables.
    pub vars: Vars,
    /// Protection zones; exactly one is the default (`internet`) when any
    /// zone is given.
    pub zones: Vec<Zone>,
    /// Zone groups: group name -> zone ids or other group names.
    pub groups: BTreeMap<String, Vec<String>>,
    /// Cross-zone allow-list (default deny).
    pub allow: Vec<AllowRule>,
    /// Zones of at least this level must not carry cleartext credentials.
    pub cleartext_banned_min_level: Option<u8>,
    /// Services that carry credentials in clear (ftp, telnet, ...).
    pub cleartext_services: Vec<Service>,
    /// Whether HTTP Basic authentication counts as cleartext credentials.
    pub cleartext_http_basic_auth: bool,
    /// Known-bad domains and addresses.
    pub indicators: Indicators,
    /// Accounts allowed to administer servers.
    pub admins: Vec<String>,
    /// Where rules come from.
    pub rules: RulesConfig,
    /// Flow table settings.
    pub flow: FlowConfig,
    /// IP fragment reassembly settings.
    pub defrag: DefragSettings,
    /// Zone policy settings.
    pub policy: PolicySettings,
    /// Output settings.
    pub outputs: Outputs,
    /// Live daemon settings (`zoneguard run`).
    pub daemon: DaemonConfig,
    /// Live capture interfaces (`capture:`).
    pub capture: CaptureConfig,
    /// Syslog listeners and expected senders (`syslog:`).
    pub syslog: SyslogConfig,
    /// The REST API (`api:`).
    pub api: ApiConfig,
    /// Built-in cross-flow detectors (`detect:`).
    pub detect: DetectConfig,
    /// Where alerts are queued: the local store, or also NATS JetStream.
    pub queue: QueueConfig,
    /// Incident correlation, grading, deadlines and retention.
    pub incidents: IncidentsConfig,
    /// Where incidents are sent (webhooks, syslog to a SIEM).
    pub notify: NotifyConfig,
}

/// Whether every device of a zone must be in its inventory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AssetsMode {
    /// Every MAC/IP seen in the zone must be listed in `hosts`.
    Strict,
    /// Office DHCP zone: any device may appear.
    #[default]
    Open,
}

/// A protection zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    /// Stable id (`datacenter`).
    pub id: String,
    /// Chinese name.
    pub name_zh: Option<String>,
    /// English name.
    pub name_en: Option<String>,
    /// Protection level 0..=5 (0 for the internet).
    pub level: u8,
    /// The default zone: every routable address outside the other zones.
    pub default: bool,
    /// No packet may cross this zone's boundary.
    pub isolated: bool,
    /// IPv4 and IPv6 networks of the zone.
    pub cidrs: Vec<ipnet::IpNet>,
    /// Responsible unit.
    pub unit: Option<String>,
    /// Contact of the responsible unit.
    pub contact: Option<String>,
    /// Inventory mode.
    pub assets: AssetsMode,
    /// VLAN ids of the zone's segments.
    pub vlans: Vec<u16>,
    /// Inventoried hosts.
    pub hosts: Vec<Host>,
}

impl Zone {
    /// Whether `ip` is inside one of the zone's CIDRs.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.cidrs.iter().any(|c| c.contains(&ip))
    }
}

/// An inventoried host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// Its address.
    pub ip: IpAddr,
    /// Host name.
    pub name: Option<String>,
    /// Its MAC address.
    pub mac: Option<[u8; 6]>,
    /// What it does.
    pub role: Option<String>,
    /// Whether it routes for the segment (routed frames carry its MAC).
    pub gateway: bool,
}

/// One entry of the cross-zone allow-list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowRule {
    /// Initiating zones or groups.
    pub from: Vec<String>,
    /// Responding zones or groups.
    pub to: Vec<String>,
    /// If not empty, only these initiators.
    pub src_hosts: Vec<ipnet::IpNet>,
    /// If not empty, only these responders.
    pub dst_hosts: Vec<ipnet::IpNet>,
    /// Allowed services (never empty once validated).
    pub services: Vec<Service>,
    /// A temporary exception stops allowing at this time.
    pub expires: Option<chrono::DateTime<chrono::FixedOffset>>,
    /// Approval number of a temporary exception.
    pub ticket: Option<String>,
    /// Why the entry exists.
    pub why: Option<String>,
}

/// A known-bad domain.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Indicator {
    /// Lower-cased domain name, without a trailing dot.
    pub value: String,
    /// Taxonomy id (`malware/botnet`) a hit means.
    pub category: String,
}

/// A known-bad address or network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpIndicator {
    /// Network (a bare IP is a /32 or /128).
    pub value: ipnet::IpNet,
    /// Taxonomy id a hit means.
    pub category: String,
}

/// Threat-intelligence indicators.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Indicators {
    /// Bad domains.
    pub domains: Vec<Indicator>,
    /// Bad addresses.
    pub ips: Vec<IpIndicator>,
}

/// Where rules come from. Relative paths are resolved against the
/// directory of the config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulesConfig {
    /// Directories whose `*.rules` files are loaded (default `rules`).
    pub directories: Vec<PathBuf>,
    /// Extra rule files.
    pub files: Vec<PathBuf>,
    /// Suricata classification.config.
    pub classification_file: Option<PathBuf>,
    /// Suricata threshold.config.
    pub threshold_file: Option<PathBuf>,
    /// Directories of Sigma rules.
    pub sigma_directories: Vec<PathBuf>,
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            directories: vec![PathBuf::from("rules")],
            files: Vec::new(),
            classification_file: None,
            threshold_file: None,
            sigma_directories: Vec::new(),
        }
    }
}

/// Flow timeouts of one protocol, in seconds (Suricata's `flow-timeouts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtoTimeouts {
    /// Before the flow is established.
    pub new: u64,
    /// Once established.
    pub established: u64,
    /// After close (TCP FIN/RST).
    pub closed: u64,
    /// `new` in emergency mode.
    pub emergency_new: u64,
    /// `established` in emergency mode.
    pub emergency_established: u64,
    /// `closed` in emergency mode.
    pub emergency_closed: u64,
}

/// Flow timeouts per protocol; Suricata's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowTimeouts {
    /// TCP: 60 / 600 / 60, emergency 5 / 100 / 10.
    pub tcp: ProtoTimeouts,
    /// UDP: 30 / 300 / 0, emergency 10 / 100 / 0.
    pub udp: ProtoTimeouts,
    /// ICMP: 30 / 300 / 0, emergency 10 / 100 / 0.
    pub icmp: ProtoTimeouts,
    /// Other protocols: 30 / 300 / 0, emergency 10 / 100 / 0.
    pub other: ProtoTimeouts,
}

impl Default for FlowTimeouts {
    fn default() -> Self {
        let connless = ProtoTimeouts {
            new: 30,
            established: 300,
            closed: 0,
            emergency_new: 10,
            emergency_established: 100,
            emergency_closed: 0,
        };
        FlowTimeouts {
            tcp: ProtoTimeouts {
                new: 60,
                established: 600,
                closed: 60,
                emergency_new: 5,
                emergency_established: 100,
                emergency_closed: 10,
            },
            udp: connless,
            icmp: connless,
            other: connless,
        }
    }
}

/// Flow table settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowConfig {
    /// Hard capacity of the flow table (all workers together); default 262144.
    pub max_flows: usize,
    /// Timeouts per protocol and state.
    pub timeouts: FlowTimeouts,
    /// Emergency mode ends when the table is below this percentage of
    /// `max_flows` (Suricata's `emergency-recovery`); default 30.
    pub emergency_recovery_percent: u8,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            max_flows: 262_144,
            timeouts: FlowTimeouts::default(),
            emergency_recovery_percent: 30,
        }
    }
}

/// IP fragment reassembly settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefragSettings {
    /// Bytes held for reassembly at most; default 32 MiB.
    pub max_bytes: usize,
    /// Datagrams being reassembled at most; default 65536.
    pub max_trackers: usize,
    /// Seconds an incomplete datagram is kept; default 60.
    pub timeout_secs: u64,
}

impl Default for DefragSettings {
    fn default() -> Self {
        DefragSettings {
            max_bytes: 32 * 1024 * 1024,
            max_trackers: 65_536,
            timeout_secs: 60,
        }
    }
}

/// Which policy kinds raise alerts (all by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyKinds {
    /// 违规外联.
    pub unauthorized_outbound: bool,
    /// Isolated zone boundary crossed.
    pub isolated_breach: bool,
    /// 违规接入.
    pub rogue_device: bool,
    /// Cross-zone flow outside the allow-list.
    pub policy_violation: bool,
    /// Credentials in clear inside a high-level zone.
    pub cleartext_credentials: bool,
}

impl Default for PolicyKinds {
    fn default() -> Self {
        PolicyKinds {
            unauthorized_outbound: true,
            isolated_breach: true,
            rogue_device: true,
            policy_violation: true,
            cleartext_credentials: true,
        }
    }
}

/// Zone policy settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicySettings {
    /// A rogue device (MAC/IP pair) is reported at most once per this many
    /// seconds of packet time; default 3600.
    pub rogue_alert_interval_secs: u64,
    /// Enabled kinds.
    pub enabled: PolicyKinds,
}

impl Default for PolicySettings {
    fn default() -> Self {
        PolicySettings {
            rogue_alert_interval_secs: 3600,
            enabled: PolicyKinds::default(),
        }
    }
}

/// EVE record types zoneguard writes.
pub const EVE_TYPES: &[&str] = &[
    "alert", "anomaly", "dns", "flow", "http", "ssh", "stats", "tls",
];

/// The EVE JSON output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EveOutput {
    /// Record types written (default: all of [`EVE_TYPES`]).
    pub types: Vec<String>,
    /// File name inside the log directory; default `eve.json`.
    pub filename: String,
}

impl Default for EveOutput {
    fn default() -> Self {
        EveOutput {
            types: EVE_TYPES.iter().map(|t| (*t).to_string()).collect(),
            filename: "eve.json".to_string(),
        }
    }
}

/// Output settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outputs {
    /// EVE JSON.
    pub eve: EveOutput,
}

impl Config {
    /// Reads and validates a config file (past `expires` measured against
    /// the wall clock). Every problem is reported at once.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        Config::load_at(path, chrono::Utc::now())
    }

    /// As [`Config::load`], with expiry judged at `now`.
    pub fn load_at(
        path: &Path,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Config, ConfigErrors> {
        let origin = path.display().to_string();
        let text = build::read_capped(path, &origin)?;
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Config::validate_at(&text, &origin, &base, now)
    }

    /// Parses and validates config text. `origin` names it in errors;
    /// relative rule paths are resolved against `base_dir`. Expiry is
    /// judged against the wall clock.
    pub fn from_yaml_str(
        text: &str,
        origin: &str,
        base_dir: &Path,
    ) -> Result<Config, ConfigErrors> {
        Config::validate_at(text, origin, base_dir, chrono::Utc::now())
    }

    /// As [`Config::from_yaml_str`], with allow entries whose `expires` is
    /// before `now` reported as errors.
    pub fn validate_at(
        text: &str,
        origin: &str,
        base_dir: &Path,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Config, ConfigErrors> {
        build::build(text, origin, base_dir, now)
    }

    /// No zones, Suricata's default variables, UTC, rules from `rules`.
    pub fn builtin_default() -> Config {
        Config {
            name: "builtin".to_string(),
            timezone: chrono_tz::Tz::UTC,
            home_nets: Vec::new(),
            vars: Vars::suricata_defaults(),
            zones: Vec::new(),
            groups: BTreeMap::new(),
            allow: Vec::new(),
            cleartext_banned_min_level: None,
            cleartext_services: Vec::new(),
            cleartext_http_basic_auth: false,
            indicators: Indicators::default(),
            admins: Vec::new(),
            rules: RulesConfig {
                sigma_directories: vec![PathBuf::from("rules/sigma")],
                ..RulesConfig::default()
            },
            flow: FlowConfig::default(),
            defrag: DefragSettings::default(),
            policy: PolicySettings::default(),
            outputs: Outputs::default(),
            daemon: DaemonConfig::default(),
            capture: CaptureConfig::default(),
            syslog: SyslogConfig::default(),
            api: ApiConfig::default(),
            detect: DetectConfig::default(),
            queue: QueueConfig::default(),
            incidents: IncidentsConfig::default(),
            notify: NotifyConfig::default(),
        }
    }

    /// Index of the zone with this id.
    pub fn zone_index(&self, id: &str) -> Option<usize> {
        self.zones.iter().position(|z| z.id == id)
    }

    /// Index of the default zone, if any.
    pub fn default_zone(&self) -> Option<usize> {
        self.zones.iter().position(|z| z.default)
    }

    /// Zone indices of a zone id or a (nested) group, sorted, without
    /// duplicates; empty for an unknown name. Cycles are cut.
    pub fn expand_group(&self, name: &str) -> Vec<usize> {
        build::expand(&self.zones, &self.groups, name)
    }
}

#[cfg(test)]
mod tests;
