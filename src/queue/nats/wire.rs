//! The wire format of an alert on the NATS stream: one JSON object per
//! message, with a version field, carrying every field of
//! [`crate::alert::Alert`] plus the sensor's name and sequence number.
//!
//! A separate type rather than serde on `Alert` itself: `Alert` holds
//! `&'static str` names (application protocol) that a decoder must map back
//! to the known set instead of allocating for ever, and every decoded field
//! is checked here, at the boundary, against limits.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::alert::{Action, Alert, AlertAddrs, AlertSource, LogInfo, PolicyInfo, PolicyKind};
use crate::time::Timestamp;

/// Version written in the `v` field; a decoder rejects newer versions.
pub const WIRE_VERSION: u32 = 1;
/// Largest message accepted (bytes).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// Most metadata keys of one alert.
const MAX_METADATA: usize = 256;
/// Most values of one metadata key.
const MAX_METADATA_VALUES: usize = 256;
/// Most VLAN ids of one alert.
const MAX_VLANS: usize = 16;

/// Application-layer protocol names a sensor may send (Suricata's
/// `app_proto` spellings and the cleartext-login protocols).
const APP_PROTOS: &[&str] = &[
    "unknown",
    "failed",
    "http",
    "http2",
    "tls",
    "ssh",
    "dns",
    "ftp",
    "ftp-data",
    "telnet",
    "pop3",
    "imap",
    "smtp",
    "rexec",
    "rlogin",
    "rsh",
    "smb",
    "dcerpc",
    "nfs",
    "ntp",
    "snmp",
    "sip",
    "rdp",
    "ldap",
    "mysql",
    "pgsql",
    "krb5",
    "dhcp",
    "mqtt",
    "modbus",
    "dnp3",
    "enip",
    "quic",
    "ike",
    "rfb",
    "tftp",
    "bittorrent-dht",
    "websocket",
];

/// Why a message could not be turned into an alert.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// Larger than [`MAX_MESSAGE_BYTES`].
    #[error("message of {0} bytes is larger than the limit of {MAX_MESSAGE_BYTES}")]
    TooLarge(usize),
    /// Not the JSON object of an alert.
    #[error("malformed alert JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Written by a newer zoneguard.
    #[error("wire version {0} is newer than this build understands ({WIRE_VERSION})")]
    Version(u32),
    /// A field has a value outside its set or limit.
    #[error("field {field}: {reason}")]
    Field {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
}

#[derive(Serialize, Deserialize)]
struct WirePolicy<'a> {
    kind: Cow<'a, str>,
    src_zone: Cow<'a, str>,
    dest_zone: Cow<'a, str>,
    level: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unit: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    contact: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    app: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user: Option<Cow<'a, str>>,
}

#[derive(Serialize, Deserialize)]
struct WireLog<'a> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    host: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    program: Option<Cow<'a, str>>,
    message: Cow<'a, str>,
}

/// One alert as sent: `v`, the sensor and its sequence, then the alert.
#[derive(Serialize, Deserialize)]
struct WireAlert<'a> {
    v: u32,
    sensor: Cow<'a, str>,
    seq: u64,
    ts: i64,
    source: Cow<'a, str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    flow_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pcap_cnt: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    src_ip: Option<IpAddr>,
    #[serde(default)]
    src_port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dest_ip: Option<IpAddr>,
    #[serde(default)]
    dest_port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    proto: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ether: Option<([u8; 6], [u8; 6])>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    vlans: Vec<u16>,
    action: Cow<'a, str>,
    gid: u32,
    sid: u32,
    rev: u32,
    signature: Cow<'a, str>,
    category: Cow<'a, str>,
    severity: u8,
    #[serde(default)]
    metadata: Vec<(Cow<'a, str>, Vec<Cow<'a, str>>)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    policy: Option<WirePolicy<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    app_proto: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    log: Option<WireLog<'a>>,
}

/// An alert read from the stream, with where it came from.
#[derive(Clone, Debug)]
pub struct Received {
    /// The sensor that published it.
    pub sensor: String,
    /// The sensor's sequence number of the alert.
    pub seq: u64,
    /// The alert.
    pub alert: Alert,
}

fn cow(s: &str) -> Cow<'_, str> {
    Cow::Borrowed(s)
}

/// Appends the JSON of `alert` from `sensor` (its `seq`-th alert) to `out`.
pub fn encode_into(
    alert: &Alert,
    sensor: &str,
    seq: u64,
    out: &mut Vec<u8>,
) -> Result<(), WireError> {
    let a = alert;
    let w = WireAlert {
        v: WIRE_VERSION,
        sensor: cow(sensor),
        seq,
        ts: a.ts.0,
        source: cow(a.source.as_str()),
        flow_id: a.flow_id,
        pcap_cnt: a.pcap_cnt,
        src_ip: a.addrs.src_ip,
        src_port: a.addrs.src_port,
        dest_ip: a.addrs.dest_ip,
        dest_port: a.addrs.dest_port,
        proto: a.addrs.proto,
        ether: a.ether,
        vlans: a.vlans.clone(),
        action: cow(a.action.as_str()),
        gid: a.gid,
        sid: a.sid,
        rev: a.rev,
        signature: cow(&a.signature),
        category: cow(&a.category),
        severity: a.severity,
        metadata: a
            .metadata
            .iter()
            .map(|(k, v)| (cow(k), v.iter().map(|x| cow(x)).collect()))
            .collect(),
        policy: a.policy.as_ref().map(|p| WirePolicy {
            kind: cow(p.kind.as_str()),
            src_zone: cow(&p.src_zone),
            dest_zone: cow(&p.dest_zone),
            level: p.level,
            unit: p.unit.as_deref().map(cow),
            contact: p.contact.as_deref().map(cow),
            app: p.app.map(cow),
            user: p.user.as_deref().map(cow),
        }),
        app_proto: a.app_proto.map(cow),
        log: a.log.as_ref().map(|l| WireLog {
            host: l.host.as_deref().map(cow),
            program: l.program.as_deref().map(cow),
            message: cow(&l.message),
        }),
    };
    serde_json::to_writer(&mut *out, &w)?;
    if out.len() > MAX_MESSAGE_BYTES {
        return Err(WireError::TooLarge(out.len()));
    }
    Ok(())
}

/// The JSON of `alert` from `sensor`.
pub fn encode(alert: &Alert, sensor: &str, seq: u64) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::with_capacity(512);
    encode_into(alert, sensor, seq, &mut out)?;
    Ok(out)
}

fn field(field: &'static str, reason: impl Into<String>) -> WireError {
    WireError::Field {
        field,
        reason: reason.into(),
    }
}

fn static_name(field_name: &'static str, s: &str) -> Result<&'static str, WireError> {
    APP_PROTOS
        .iter()
        .find(|p| **p == s)
        .copied()
        .ok_or_else(|| field(field_name, format!("unknown protocol '{}'", cut(s))))
}

fn cut(s: &str) -> String {
    s.chars().take(64).collect()
}

fn policy_kind(s: &str) -> Result<PolicyKind, WireError> {
    PolicyKind::ALL
        .iter()
        .find(|k| k.as_str() == s)
        .copied()
        .ok_or_else(|| field("policy.kind", format!("unknown kind '{}'", cut(s))))
}

/// Reads one message; every field is checked.
pub fn decode(payload: &[u8]) -> Result<Received, WireError> {
    if payload.len() > MAX_MESSAGE_BYTES {
        return Err(WireError::TooLarge(payload.len()));
    }
    let w: WireAlert<'_> = serde_json::from_slice(payload)?;
    if w.v > WIRE_VERSION || w.v == 0 {
        return Err(WireError::Version(w.v));
    }
    if !crate::config::valid_nats_token(&w.sensor) {
        return Err(field(
            "sensor",
            format!("'{}' is not a sensor id", cut(&w.sensor)),
        ));
    }
    let source = match &*w.source {
        "policy" => AlertSource::Policy,
        "signature" => AlertSource::Signature,
        "log" => AlertSource::Log,
        other => return Err(field("source", format!("unknown source '{}'", cut(other)))),
    };
    let action = match &*w.action {
        "allowed" => Action::Allowed,
        "blocked" => Action::Blocked,
        other => return Err(field("action", format!("unknown action '{}'", cut(other)))),
    };
    if w.vlans.len() > MAX_VLANS {
        return Err(field("vlans", format!("{} VLAN ids", w.vlans.len())));
    }
    if w.metadata.len() > MAX_METADATA {
        return Err(field("metadata", format!("{} keys", w.metadata.len())));
    }
    if w.metadata
        .iter()
        .any(|(_, v)| v.len() > MAX_METADATA_VALUES)
    {
        return Err(field("metadata", "too many values for one key"));
    }
    if !(1..=4).contains(&w.severity) {
        return Err(field("severity", format!("{} is not 1-4", w.severity)));
    }
    let policy = match w.policy {
        None => None,
        Some(p) => Some(PolicyInfo {
            kind: policy_kind(&p.kind)?,
            src_zone: Arc::from(&*p.src_zone),
            dest_zone: Arc::from(&*p.dest_zone),
            level: p.level,
            unit: p.unit.as_deref().map(Arc::from),
            contact: p.contact.as_deref().map(Arc::from),
            app: p
                .app
                .as_deref()
                .map(|s| static_name("policy.app", s))
                .transpose()?,
            user: p.user.map(Cow::into_owned),
        }),
    };
    let app_proto = w
        .app_proto
        .as_deref()
        .map(|s| static_name("app_proto", s))
        .transpose()?;
    let alert = Alert {
        ts: Timestamp(w.ts),
        source,
        flow_id: w.flow_id,
        pcap_cnt: w.pcap_cnt,
        addrs: AlertAddrs {
            src_ip: w.src_ip,
            src_port: w.src_port,
            dest_ip: w.dest_ip,
            dest_port: w.dest_port,
            proto: w.proto,
        },
        ether: w.ether,
        vlans: w.vlans,
        action,
        gid: w.gid,
        sid: w.sid,
        rev: w.rev,
        signature: Arc::from(&*w.signature),
        category: Arc::from(&*w.category),
        severity: w.severity,
        metadata: w
            .metadata
            .iter()
            .map(|(k, v)| (Arc::from(&**k), v.iter().map(|x| Arc::from(&**x)).collect()))
            .collect(),
        policy,
        app_proto,
        log: w.log.map(|l| LogInfo {
            host: l.host.map(Cow::into_owned),
            program: l.program.map(Cow::into_owned),
            message: l.message.into_owned(),
        }),
    };
    Ok(Received {
        sensor: w.sensor.into_owned(),
        seq: w.seq,
        alert,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A policy alert with every optional part filled.
    pub(crate) fn sample(i: u64) -> Alert {
        Alert {
            ts: Timestamp(1_700_000_000_000_000_000 + i as i64),
            source: AlertSource::Policy,
            flow_id: Some(i),
            pcap_cnt: Some(i + 1),
            addrs: AlertAddrs {
                src_ip: Some("10.1.2.3".parse().unwrap()),
                src_port: 40_000,
                dest_ip: Some("203.0.113.9".parse().unwrap()),
                dest_port: 443,
                proto: Some(6),
            },
            ether: Some(([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])),
            vlans: vec![10],
            action: Action::Allowed,
            gid: 1,
            sid: 1_990_002,
            rev: 1,
            signature: Arc::from("违规外联 / unauthorized outbound connection"),
            category: Arc::from("Policy Violation"),
            severity: 1,
            metadata: vec![(
                Arc::from("taxonomy"),
                vec![Arc::from("violation/unauthorized_outbound")],
            )],
            policy: Some(PolicyInfo {
                kind: PolicyKind::UnauthorizedOutbound,
                src_zone: Arc::from("office"),
                dest_zone: Arc::from("internet"),
                level: 2,
                unit: Some(Arc::from("州大数据局")),
                contact: None,
                app: Some("ftp"),
                user: Some("bob".into()),
            }),
            app_proto: Some("tls"),
            log: Some(LogInfo {
                host: Some("h".into()),
                program: None,
                message: "m \"quoted\"".into(),
            }),
        }
    }

    fn same(a: &Alert, b: &Alert) {
        assert_eq!(a.ts, b.ts);
        assert_eq!(a.source, b.source);
        assert_eq!(a.flow_id, b.flow_id);
        assert_eq!(a.pcap_cnt, b.pcap_cnt);
        assert_eq!(a.addrs, b.addrs);
        assert_eq!(a.ether, b.ether);
        assert_eq!(a.vlans, b.vlans);
        assert_eq!(a.action, b.action);
        assert_eq!((a.gid, a.sid, a.rev), (b.gid, b.sid, b.rev));
        assert_eq!(a.signature, b.signature);
        assert_eq!(a.category, b.category);
        assert_eq!(a.severity, b.severity);
        assert_eq!(a.metadata, b.metadata);
        assert_eq!(a.policy, b.policy);
        assert_eq!(a.app_proto, b.app_proto);
        assert_eq!(a.log, b.log);
    }

    #[test]
    fn round_trip() {
        let a = sample(7);
        let bytes = encode(&a, "dc-1", 42).unwrap();
        let r = decode(&bytes).unwrap();
        assert_eq!(r.sensor, "dc-1");
        assert_eq!(r.seq, 42);
        same(&a, &r.alert);
        assert_eq!(r.alert.taxonomy(), Some("violation/unauthorized_outbound"));
    }

    #[test]
    fn rejects_with_the_field() {
        let good = String::from_utf8(encode(&sample(1), "s", 1).unwrap()).unwrap();
        for (from, to, what) in [
            ("\"v\":1", "\"v\":9", "version"),
            ("\"source\":\"policy\"", "\"source\":\"x\"", "source"),
            ("\"sensor\":\"s\"", "\"sensor\":\"a b\"", "sensor"),
            (
                "\"app_proto\":\"tls\"",
                "\"app_proto\":\"zzz\"",
                "app_proto",
            ),
            ("\"severity\":1", "\"severity\":9", "severity"),
            (
                "\"kind\":\"unauthorized_outbound\"",
                "\"kind\":\"nope\"",
                "policy.kind",
            ),
        ] {
            let bad = good.replace(from, to);
            assert_ne!(bad, good, "{from}");
            let e = decode(bad.as_bytes()).unwrap_err().to_string();
            assert!(e.contains(what), "{what}: {e}");
        }
        assert!(matches!(
            decode(&vec![b' '; MAX_MESSAGE_BYTES + 1]),
            Err(WireError::TooLarge(_))
        ));
        assert!(matches!(decode(b"[1,2"), Err(WireError::Json(_))));
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn mutated_json_never_panics(i in 0usize..400, b in any::<u8>()) {
            let mut bytes = encode(&sample(3), "s", 3).unwrap();
            let n = bytes.len();
            bytes[i % n] = b;
            let _ = decode(&bytes);
        }

        #[test]
        fn strings_round_trip(sig in ".{0,200}", seq in any::<u64>(), ts in any::<i64>()) {
            let mut a = sample(1);
            a.signature = Arc::from(sig.as_str());
            a.ts = Timestamp(ts);
            let r = decode(&encode(&a, "sensor-1", seq).unwrap()).unwrap();
            prop_assert_eq!(r.seq, seq);
            prop_assert_eq!(&*r.alert.signature, sig.as_str());
            prop_assert_eq!(r.alert.ts, Timestamp(ts));
        }
    }
}
