//! Fuzz target `notify_message`: hostile incident text through the
//! notification formats, and hostile YAML through the `notify:` and
//! `incidents:` config sections.
//!
//! The syslog message must always parse back as strict RFC 5424 (escaping
//! of `"`, `\` and `]`, control characters, any script) and the JSON
//! document must serialize; config reading must never panic. The same
//! properties are proptested in `src/notify/message.rs` and
//! `src/config/{notify,incidents}.rs`.
#![no_main]

use std::path::Path;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use zoneguard::config::Config;
use zoneguard::incident::{Grade, Incident, Severity, Status};
use zoneguard::notify::message::{syslog_message, Notice, SyslogFormat};
use zoneguard::notify::{EventKind, IncidentEvent};
use zoneguard::time::Timestamp;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Config sections: the text as the body of one of them.
    let section = if data.first().is_some_and(|b| b % 2 == 0) {
        "notify"
    } else {
        "incidents"
    };
    let mut doc = format!("name: f\n{section}:\n");
    for line in text.lines() {
        doc.push_str("  ");
        doc.push_str(line);
        doc.push('\n');
    }
    let _ = Config::from_yaml_str(&doc, "fuzz.yaml", Path::new("/etc/zoneguard"));

    // Messages: the text split into the incident's free-text fields.
    let mut parts = text.splitn(4, '\u{1}');
    let mut next = || parts.next().unwrap_or("").to_string();
    let (title, title_zh, unit, category) = (next(), next(), next(), next());
    let inc = Incident {
        id: i64::from(data.len() as u32),
        status: Status::New,
        grade: Grade::ALL[data.len() % 4],
        severity: Severity::High,
        category,
        title,
        title_zh,
        zones: vec![unit.clone()],
        units: vec![unit.clone()],
        unit: Some(unit),
        contact: None,
        assignee: None,
        src_ips: Vec::new(),
        dest_ips: Vec::new(),
        first_seen: Timestamp(0),
        last_seen: Timestamp(0),
        alert_count: 1,
        report_due: None,
    };
    let n = Notice::Event(Arc::new(IncidentEvent {
        kind: EventKind::Opened,
        incident: inc,
    }));
    let f = SyslogFormat {
        facility: 13,
        sd_id: "zoneguard@32473".into(),
        hostname: "fuzz".into(),
        procid: 1,
    };
    let line = syslog_message(&n, &f, Timestamp(0));
    let opts = zoneguard::syslog::ParseOptions {
        strict: true,
        ..zoneguard::syslog::ParseOptions::default()
    };
    assert!(
        zoneguard::syslog::parse(line.as_bytes(), &opts).is_ok(),
        "{line}"
    );
    let _ = n.to_json(Timestamp(0)).to_string();
});
