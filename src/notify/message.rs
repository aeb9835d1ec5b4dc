//! What is sent: the webhook's JSON document (with its HMAC signature) and
//! the RFC 5424 syslog message, for an incident event or a digest of the
//! events a rate limit held back.

use std::fmt::Write as _;

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use super::IncidentEvent;
use crate::incident::{Grade, Incident};
use crate::time::Timestamp;

/// Incident ids a digest lists at most.
pub const DIGEST_MAX_IDS: usize = 100;
/// Addresses of each list put into a syslog message at most (the JSON
/// document carries them all); keeps messages under 8 KiB, the size RFC
/// 5425 receivers should accept.
pub const SYSLOG_MAX_IPS: usize = 16;

/// Events a rate limit held back, summarized in one message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Digest {
    /// Events held back.
    pub suppressed: u64,
    /// Of those, per grade (I first).
    pub by_grade: [u64; 4],
    /// Their incident ids (the first [`DIGEST_MAX_IDS`]).
    pub incident_ids: Vec<i64>,
    /// Time of the first event held back.
    pub since: Option<Timestamp>,
}

impl Digest {
    /// Counts one held-back event.
    pub fn add(&mut self, ev: &IncidentEvent, now: Timestamp) {
        self.suppressed = self.suppressed.saturating_add(1);
        if let Some(slot) = self
            .by_grade
            .get_mut(usize::from(ev.incident.grade.rank()).saturating_sub(1))
        {
            *slot = slot.saturating_add(1);
        }
        if self.incident_ids.len() < DIGEST_MAX_IDS && !self.incident_ids.contains(&ev.incident.id)
        {
            self.incident_ids.push(ev.incident.id);
        }
        self.since.get_or_insert(now);
    }

    /// Whether anything was held back.
    pub fn is_empty(&self) -> bool {
        self.suppressed == 0
    }

    /// Bilingual one-line title.
    pub fn title(&self) -> String {
        let grades: Vec<String> = Grade::ALL
            .iter()
            .zip(self.by_grade)
            .filter(|(_, n)| *n > 0)
            .map(|(g, n)| format!("{g}:{n}"))
            .collect();
        format!(
            "速率限制汇总：另有 {n} 条事件通知未单独发送 ({g}) | Rate-limit digest: {n} more incident notifications not sent one by one ({g})",
            n = self.suppressed,
            g = grades.join(" ")
        )
    }
}

/// A thing to send: one incident event or a digest.
#[derive(Clone, Debug, PartialEq)]
pub enum Notice {
    /// An incident event.
    Event(std::sync::Arc<IncidentEvent>),
    /// A digest of held-back events.
    Digest(Digest),
}

impl Notice {
    /// `opened`, `grade_raised`, `overdue` or `digest`.
    pub fn event_name(&self) -> &'static str {
        match self {
            Notice::Event(e) => e.kind.as_str(),
            Notice::Digest(_) => "digest",
        }
    }

    /// The incident, for an event.
    pub fn incident(&self) -> Option<&Incident> {
        match self {
            Notice::Event(e) => Some(&e.incident),
            Notice::Digest(_) => None,
        }
    }

    /// A stable id of this delivery (the same on every retry) for the
    /// receiver to drop duplicates: `zoneguard-<id>-<event>-<grade>` for an
    /// event, `zoneguard-digest-<first id>-<count>` for a digest.
    pub fn delivery_id(&self) -> String {
        match self {
            Notice::Event(e) => format!(
                "zoneguard-{}-{}-{}",
                e.incident.id,
                e.kind.as_str(),
                e.incident.grade
            ),
            Notice::Digest(d) => format!(
                "zoneguard-digest-{}-{}",
                d.incident_ids.first().copied().unwrap_or(0),
                d.suppressed
            ),
        }
    }

    /// Bilingual title: what happened and the incident's own titles.
    pub fn title(&self) -> String {
        match self {
            Notice::Event(e) => {
                let i = &e.incident;
                let (zh, en) = e.kind.names();
                format!(
                    "{zh}：[{g} {gzh}] {tzh} | {en}: [{g}] {ten}",
                    g = i.grade,
                    gzh = i.grade.names().0,
                    tzh = i.title_zh,
                    ten = i.title
                )
            }
            Notice::Digest(d) => d.title(),
        }
    }

    /// The webhook's JSON document.
    pub fn to_json(&self, now: Timestamp) -> Value {
        match self {
            Notice::Event(e) => json!({
                "event": e.kind.as_str(),
                "event_zh": e.kind.names().0,
                "delivery_id": self.delivery_id(),
                "title": self.title(),
                "sent_at": now.to_string(),
                "incident": e.incident.to_json(now),
            }),
            Notice::Digest(d) => json!({
                "event": "digest",
                "event_zh": "速率限制汇总",
                "delivery_id": self.delivery_id(),
                "title": d.title(),
                "sent_at": now.to_string(),
                "suppressed": d.suppressed,
                "by_grade": {
                    "I": d.by_grade[0], "II": d.by_grade[1],
                    "III": d.by_grade[2], "IV": d.by_grade[3],
                },
                "incident_ids": d.incident_ids,
                "since": d.since.map(|t| t.to_string()),
            }),
        }
    }
}

/// `sha256=<hex>` of HMAC-SHA256(`secret`, `"<timestamp>.<body>"`): the
/// value of the `X-Zoneguard-Signature` header, `timestamp` being the
/// `X-Zoneguard-Timestamp` header (Unix seconds). Binding the time stops a
/// captured request from being replayed later.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256=");
    for b in tag {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Per-destination settings of syslog messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyslogFormat {
    /// Facility 0–23.
    pub facility: u8,
    /// SD-ID of the structured data (`zoneguard@32473`).
    pub sd_id: String,
    /// HOSTNAME field.
    pub hostname: String,
    /// PROCID field.
    pub procid: u32,
}

/// Syslog severity of a grade: I alert (1), II critical (2), III error
/// (3), IV warning (4).
pub fn syslog_severity(g: Grade) -> u8 {
    g.rank()
}

/// Appends an SD-PARAM, escaping `"`, `\` and `]` (RFC 5424 §6.3.3) and
/// replacing control characters with a space.
fn param(out: &mut String, name: &str, value: &str) {
    out.push(' ');
    out.push_str(name);
    out.push_str("=\"");
    for c in value.chars() {
        match c {
            '"' | '\\' | ']' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn join_ips(ips: &[std::net::IpAddr]) -> String {
    let mut s = String::new();
    for (i, ip) in ips.iter().take(SYSLOG_MAX_IPS).enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{ip}");
    }
    s
}

/// The RFC 5424 message (without framing): `<PRI>1 TIMESTAMP HOSTNAME
/// zoneguard PROCID MSGID [SD-ID param="value" ...] BOM title`.
pub fn syslog_message(n: &Notice, f: &SyslogFormat, now: Timestamp) -> String {
    let grade = n.incident().map_or(Grade::IV, |i| i.grade);
    let pri = u16::from(f.facility.min(23)) * 8 + u16::from(syslog_severity(grade));
    let ts = now
        .to_chrono()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let mut out = String::with_capacity(1024);
    let _ = write!(
        out,
        "<{pri}>1 {ts} {} zoneguard {} {} [{}",
        f.hostname,
        f.procid,
        n.event_name(),
        f.sd_id
    );
    param(&mut out, "event", n.event_name());
    match n {
        Notice::Event(e) => {
            let i = &e.incident;
            param(&mut out, "id", &i.id.to_string());
            param(&mut out, "status", i.status.as_str());
            param(&mut out, "grade", i.grade.as_str());
            param(&mut out, "colour", i.colour().as_str());
            param(&mut out, "severity", i.severity.as_str());
            param(&mut out, "category", &i.category);
            if let Some(u) = &i.unit {
                param(&mut out, "unit", u);
            }
            param(&mut out, "zones", &i.zones.join(","));
            param(&mut out, "units", &i.units.join(","));
            param(&mut out, "src_ips", &join_ips(&i.src_ips));
            param(&mut out, "dest_ips", &join_ips(&i.dest_ips));
            param(&mut out, "first_seen", &i.first_seen.to_string());
            param(&mut out, "last_seen", &i.last_seen.to_string());
            param(&mut out, "alert_count", &i.alert_count.to_string());
            if let Some(d) = i.report_due {
                param(&mut out, "report_due", &d.to_string());
            }
            param(
                &mut out,
                "overdue",
                if i.overdue(now) { "true" } else { "false" },
            );
        }
        Notice::Digest(d) => {
            param(&mut out, "suppressed", &d.suppressed.to_string());
            for (g, c) in Grade::ALL.iter().zip(d.by_grade) {
                param(&mut out, &format!("grade_{g}"), &c.to_string());
            }
            let ids: Vec<String> = d.incident_ids.iter().map(i64::to_string).collect();
            param(&mut out, "incident_ids", &ids.join(","));
        }
    }
    out.push_str("] \u{feff}");
    // The title is free text: keep it on one line.
    out.extend(
        n.title()
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c }),
    );
    out
}

/// The machine's host name for syslog's HOSTNAME (`-` when unknown).
pub fn local_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty() && s.len() <= 255 && s.bytes().all(|b| (33..=126).contains(&b)))
        .unwrap_or_else(|| "-".to_string())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::incident::{Severity, Status};
    use crate::notify::EventKind;
    use std::sync::Arc;

    pub(crate) fn incident() -> Incident {
        Incident {
            id: 7,
            status: Status::New,
            grade: Grade::III,
            severity: Severity::High,
            category: "network_attack/exploit".into(),
            title: "Web attack \"x\" ] on 10.0.0.1".into(),
            title_zh: "网络攻击\n测试".into(),
            zones: vec!["datacenter".into()],
            units: vec!["州大数据中心".into()],
            unit: Some("州大数据中心".into()),
            contact: None,
            assignee: None,
            src_ips: vec!["192.0.2.1".parse().unwrap()],
            dest_ips: (0..40u8)
                .map(|i| std::net::IpAddr::from([10, 0, 0, i]))
                .collect(),
            first_seen: Timestamp::from_secs_nanos(1_790_000_000, 0),
            last_seen: Timestamp::from_secs_nanos(1_790_000_060, 0),
            alert_count: 3,
            report_due: Some(Timestamp::from_secs_nanos(1_790_014_400, 0)),
        }
    }

    #[test]
    fn signature_is_rfc4231_hmac() {
        // RFC 4231 test case 2, with the message split as "<ts>.<body>".
        let sig = signature(b"Jefe", 0, b"what do ya want for nothing?");
        assert_eq!(sig.len(), 7 + 64);
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"0.what do ya want for nothing?");
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(sig, format!("sha256={hex}"));
        // Known answer for "what do ya want for nothing?" alone (RFC 4231 #2).
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn syslog_message_parses_back() {
        let n = Notice::Event(Arc::new(IncidentEvent {
            kind: EventKind::Opened,
            incident: incident(),
        }));
        let f = SyslogFormat {
            facility: 13,
            sd_id: "zoneguard@32473".into(),
            hostname: "sensor-1".into(),
            procid: 42,
        };
        let now = Timestamp::from_secs_nanos(1_790_000_100, 0);
        let line = syslog_message(&n, &f, now);
        let opts = crate::syslog::ParseOptions {
            strict: true,
            tz: chrono_tz::Tz::UTC,
            received: chrono::Utc::now(),
            sender: None,
            ..Default::default()
        };
        let m = crate::syslog::parse(line.as_bytes(), &opts).expect("strict RFC 5424");
        assert_eq!(m.facility, Some(13));
        assert_eq!(m.severity, Some(3));
        assert_eq!(m.msgid.as_deref(), Some("opened"));
        let sd = &m.structured_data[0];
        assert_eq!(sd.id, "zoneguard@32473");
        let get = |k: &str| {
            sd.params
                .iter()
                .find(|p| p.name == k)
                .map(|p| p.value.to_string())
        };
        assert_eq!(get("title"), None);
        assert_eq!(get("id").as_deref(), Some("7"));
        assert_eq!(get("unit").as_deref(), Some("州大数据中心"));
        assert_eq!(
            get("dest_ips").map(|s| s.split(',').count()),
            Some(SYSLOG_MAX_IPS)
        );
        assert!(m.msg.contains("新建事件"));
        assert!(m.msg.contains("Web attack \"x\" ]"));
        assert!(!line.contains('\n'));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// Whatever the titles, unit and category hold (quotes, brackets,
        /// backslashes, control characters, any script), the message is
        /// strict RFC 5424 and the values come back as sent (control
        /// characters as spaces).
        #[test]
        fn any_text_gives_a_strict_rfc5424_message(
            title in "\\PC*|.*",
            title_zh in "\\PC*",
            unit in ".*",
            category in "[\"\\\\\\]a-z/ ]{0,20}",
        ) {
            let mut inc = incident();
            inc.title = title.clone();
            inc.title_zh = title_zh.clone();
            inc.unit = Some(unit.clone());
            inc.category = category.clone();
            let n = Notice::Event(Arc::new(IncidentEvent { kind: EventKind::GradeRaised, incident: inc }));
            let f = SyslogFormat {
                facility: 4,
                sd_id: "zoneguard@32473".into(),
                hostname: "h".into(),
                procid: 1,
            };
            let line = syslog_message(&n, &f, Timestamp(0));
            let opts = crate::syslog::ParseOptions {
                strict: true,
                tz: chrono_tz::Tz::UTC,
                received: chrono::Utc::now(),
                sender: None,
                ..Default::default()
            };
            let m = crate::syslog::parse(line.as_bytes(), &opts);
            proptest::prop_assert!(m.is_ok(), "{:?}: {}", m.err(), line);
            let m = m.unwrap_or_else(|_| unreachable!());
            let get = |k: &str| m.structured_data[0].params.iter().find(|p| p.name == k).map(|p| p.value.to_string());
            let clean = |s: &str| s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>();
            proptest::prop_assert_eq!(get("unit"), Some(clean(&unit)));
            proptest::prop_assert_eq!(get("category"), Some(clean(&category)));
            proptest::prop_assert!(m.msg.contains(&clean(&title_zh)));
            proptest::prop_assert!(!line.contains('\n'));
            // The JSON document carries the same text exactly.
            let v = n.to_json(Timestamp(0));
            proptest::prop_assert_eq!(v["incident"]["title"].as_str(), Some(title.as_str()));
        }
    }

    #[test]
    fn digest_counts() {
        let mut d = Digest::default();
        let ev = IncidentEvent {
            kind: EventKind::Opened,
            incident: incident(),
        };
        for _ in 0..3 {
            d.add(&ev, Timestamp(5));
        }
        assert_eq!(d.suppressed, 3);
        assert_eq!(d.by_grade, [0, 0, 3, 0]);
        assert_eq!(d.incident_ids, vec![7]);
        assert!(d.title().contains("III:3"));
        let v = Notice::Digest(d).to_json(Timestamp(9));
        assert_eq!(v["suppressed"], 3);
        assert_eq!(v["event"], "digest");
    }
}
