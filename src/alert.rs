//! Alerts: the one shape every detector produces.
//!
//! The zone policy, the signature engine and the log rules all emit an
//! [`Alert`]; the EVE writer turns it into Suricata's `alert` record and the
//! incident layer groups alerts into incidents. Keeping one type means the
//! people reading `eve.json` (and EveBox, Elastic, jq scripts) see the same
//! fields whichever detector fired.

use std::net::IpAddr;
use std::sync::Arc;

use crate::decode::Mac;
use crate::time::Timestamp;

/// What the sensor did with the packet. zoneguard is passive, so `drop` and
/// `reject` rules are recorded as `blocked` would be by an IPS but nothing is
/// dropped; the action is kept so reviewers can see the rule's intent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// The traffic was allowed (every alert of a passive sensor).
    Allowed,
    /// A `drop`/`reject` rule matched (recorded, not enforced).
    Blocked,
}

impl Action {
    /// Suricata's EVE spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allowed => "allowed",
            Action::Blocked => "blocked",
        }
    }
}

/// Which detector raised the alert (the `source` label of
/// `zoneguard_alerts_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AlertSource {
    /// The zone policy (graded protection rules).
    Policy,
    /// A Suricata-format signature or a built-in traffic detector.
    Signature,
    /// A log rule (Sigma) over syslog.
    Log,
    /// The sensor about itself (a silent interface or log sender).
    Sensor,
}

impl AlertSource {
    /// Label value used in metrics and summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertSource::Policy => "policy",
            AlertSource::Signature => "signature",
            AlertSource::Log => "log",
            AlertSource::Sensor => "sensor",
        }
    }
}

/// The five zone-policy findings (CONTRACT.md `policy.kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PolicyKind {
    /// Any packet crossing the boundary of an isolated (classified) zone.
    IsolatedBreach,
    /// A host of a managed zone initiating to the internet outside the
    /// allow-list (违规外联).
    UnauthorizedOutbound,
    /// A MAC or IP not in a strict zone's inventory (违规接入).
    RogueDevice,
    /// A cross-zone flow initiated outside the allow-list.
    PolicyViolation,
    /// A login in clear text into or inside a zone where it is banned.
    CleartextCredentials,
}

impl PolicyKind {
    /// Every kind, in order of precedence for one flow.
    pub const ALL: [PolicyKind; 5] = [
        PolicyKind::IsolatedBreach,
        PolicyKind::UnauthorizedOutbound,
        PolicyKind::RogueDevice,
        PolicyKind::PolicyViolation,
        PolicyKind::CleartextCredentials,
    ];

    /// The `policy.kind` string of CONTRACT.md.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyKind::IsolatedBreach => "isolated_breach",
            PolicyKind::UnauthorizedOutbound => "unauthorized_outbound",
            PolicyKind::RogueDevice => "rogue_device",
            PolicyKind::PolicyViolation => "policy_violation",
            PolicyKind::CleartextCredentials => "cleartext_credentials",
        }
    }

    /// Taxonomy id (shared/taxonomy.yaml) of this kind.
    pub fn taxonomy(self) -> &'static str {
        match self {
            PolicyKind::IsolatedBreach => "violation/isolation_breach",
            PolicyKind::UnauthorizedOutbound => "violation/unauthorized_outbound",
            PolicyKind::RogueDevice => "violation/rogue_device",
            PolicyKind::PolicyViolation => "violation/boundary_access",
            PolicyKind::CleartextCredentials => "hazard/cleartext_credentials",
        }
    }

    /// Detection severity of the kind (taxonomy.yaml `policy_severity`).
    pub fn detection_severity(self) -> &'static str {
        match self {
            PolicyKind::IsolatedBreach => "critical",
            PolicyKind::UnauthorizedOutbound | PolicyKind::RogueDevice => "high",
            PolicyKind::PolicyViolation | PolicyKind::CleartextCredentials => "medium",
        }
    }

    /// EVE `alert.severity` (1 high … 3 low), from the detection severity.
    pub fn eve_severity(self) -> u8 {
        match self.detection_severity() {
            "critical" | "high" => 1,
            "medium" => 2,
            _ => 3,
        }
    }

    /// The signature id zoneguard reserves for this kind (local range
    /// 1990001–1990099, see docs/rules.md).
    pub fn sid(self) -> u32 {
        match self {
            PolicyKind::IsolatedBreach => 1_990_001,
            PolicyKind::UnauthorizedOutbound => 1_990_002,
            PolicyKind::RogueDevice => 1_990_003,
            PolicyKind::PolicyViolation => 1_990_004,
            PolicyKind::CleartextCredentials => 1_990_005,
        }
    }

    /// Chinese and English name, for titles people read.
    pub fn names(self) -> (&'static str, &'static str) {
        match self {
            PolicyKind::IsolatedBreach => ("涉密网络违规连接", "isolated zone breach"),
            PolicyKind::UnauthorizedOutbound => ("违规外联", "unauthorized outbound connection"),
            PolicyKind::RogueDevice => ("违规接入", "unauthorized device"),
            PolicyKind::PolicyViolation => {
                ("违规跨区访问", "cross-zone access not in the allow-list")
            }
            PolicyKind::CleartextCredentials => ("明文传输口令", "cleartext credentials"),
        }
    }
}

/// The `policy` object of a zone-policy alert (CONTRACT.md).
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyInfo {
    /// Which finding.
    pub kind: PolicyKind,
    /// Zone id of the source (the initiator, or the segment of a device).
    pub src_zone: Arc<str>,
    /// Zone id of the destination.
    pub dest_zone: Arc<str>,
    /// Highest protection level touched.
    pub level: u8,
    /// The responsible unit (谁主管谁负责), if the zone names one.
    pub unit: Option<Arc<str>>,
    /// The unit's contact, if any.
    pub contact: Option<Arc<str>>,
    /// Protocol of a cleartext login (`ftp`, `telnet`, …).
    pub app: Option<&'static str>,
    /// User name of a cleartext login (never the password).
    pub user: Option<String>,
}

/// The traffic tuple an alert is about.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AlertAddrs {
    /// Source address (for a rogue device: the IP it claims, never 0.0.0.0).
    pub src_ip: Option<IpAddr>,
    /// Source port (0 where not TCP/UDP).
    pub src_port: u16,
    /// Destination address.
    pub dest_ip: Option<IpAddr>,
    /// Destination port.
    pub dest_port: u16,
    /// IP protocol number, if the alert is about IP traffic.
    pub proto: Option<u8>,
}

/// One alert.
#[derive(Clone, Debug)]
pub struct Alert {
    /// Packet or log time of the observation.
    pub ts: Timestamp,
    /// Which detector.
    pub source: AlertSource,
    /// Flow id, for traffic alerts.
    pub flow_id: Option<u64>,
    /// 1-based index of the packet in the capture.
    pub pcap_cnt: Option<u64>,
    /// Addresses and ports.
    pub addrs: AlertAddrs,
    /// Ethernet source and destination, where the frame had them.
    pub ether: Option<(Mac, Mac)>,
    /// VLAN ids of the frame.
    pub vlans: Vec<u16>,
    /// Passive-mode action.
    pub action: Action,
    /// Generator id (1 for rules and policy).
    pub gid: u32,
    /// Signature id.
    pub sid: u32,
    /// Rule revision.
    pub rev: u32,
    /// The signature message (bilingual for zoneguard's own detectors).
    pub signature: Arc<str>,
    /// The classtype's description (Suricata's `alert.category`).
    pub category: Arc<str>,
    /// 1 (high) … 4 (low), as Suricata's `alert.severity`.
    pub severity: u8,
    /// Rule metadata, grouped by key (`taxonomy` always present).
    pub metadata: Vec<(Arc<str>, Vec<Arc<str>>)>,
    /// Zone-policy details, for policy alerts.
    pub policy: Option<PolicyInfo>,
    /// Application protocol of the flow, if known.
    pub app_proto: Option<&'static str>,
    /// Log details (`host`, `program`, `message`), for log alerts.
    pub log: Option<LogInfo>,
}

/// The `log` object of an alert raised from a log line.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LogInfo {
    /// Host that logged the line.
    pub host: Option<String>,
    /// Program (app-name / tag).
    pub program: Option<String>,
    /// The message.
    pub message: String,
}

impl Alert {
    /// The taxonomy id of the alert (first `taxonomy` metadata value).
    pub fn taxonomy(&self) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(k, _)| &**k == "taxonomy")
            .and_then(|(_, v)| v.first())
            .map(|s| &**s)
    }
}
