//! Incidents: alerts with one cause, graded and routed to the unit that
//! answers for them.
//!
//! An alert is one observation; an incident is what the on-duty officer
//! acts on. The [`Correlator`] joins alerts of the same category, source and
//! target (host, or zone for scans and floods) within a quiet window into one
//! [`Incident`]; [`grade`] gives its preliminary grade (I–IV) from detection
//! severity × the highest protection level touched; [`route`] finds the
//! responsible unit (谁上网谁负责). The [`Manager`] feeds the durable queue
//! in [`crate::queue`]; [`cli`] holds the `zoneguard incidents …` commands.
//! See docs/incidents.md.

pub mod cli;
pub mod correlate;
pub mod grade;
pub mod lifecycle;
pub mod manager;
pub mod route;

use std::net::IpAddr;

use serde_json::{json, Value};

use crate::alert::AlertSource;
use crate::time::Timestamp;

pub use correlate::{Correlator, CorrelatorConfig, CorrelatorStats, Outcome, RestoreError};
pub use grade::{Categories, Colour, Grade, GradeMatrix, LevelBand, Severity};
pub use lifecycle::{next_status, Action, Status, TransitionError};
pub use manager::{Manager, Summary};

/// Upper bound of addresses listed per incident (`src_ips`, `dest_ips`).
pub const MAX_IPS: usize = 64;

/// One incident's state (without its evidence and timeline).
#[derive(Clone, Debug, PartialEq)]
pub struct Incident {
    /// Store-wide id.
    pub id: i64,
    /// Lifecycle status.
    pub status: Status,
    /// Preliminary grade (only rises automatically).
    pub grade: Grade,
    /// Highest detection severity of its alerts.
    pub severity: Severity,
    /// Taxonomy id (`violation/unauthorized_outbound`).
    pub category: String,
    /// English title.
    pub title: String,
    /// Chinese title.
    pub title_zh: String,
    /// Ids of the zones touched.
    pub zones: Vec<String>,
    /// Units of the zones touched.
    pub units: Vec<String>,
    /// The responsible unit.
    pub unit: Option<String>,
    /// Its contact.
    pub contact: Option<String>,
    /// Person handling it.
    pub assignee: Option<String>,
    /// Source addresses (at most [`MAX_IPS`]).
    pub src_ips: Vec<IpAddr>,
    /// Destination addresses (at most [`MAX_IPS`]).
    pub dest_ips: Vec<IpAddr>,
    /// Time of the first alert.
    pub first_seen: Timestamp,
    /// Time of the latest alert.
    pub last_seen: Timestamp,
    /// Alerts joined.
    pub alert_count: u64,
    /// Reporting deadline (grades III and above).
    pub report_due: Option<Timestamp>,
}

impl Incident {
    /// Warning colour of the grade.
    pub fn colour(&self) -> Colour {
        self.grade.colour()
    }

    /// True if the reporting deadline has passed at `now` while the
    /// incident is still open.
    pub fn overdue(&self, now: Timestamp) -> bool {
        !self.status.is_closed() && self.report_due.is_some_and(|d| now > d)
    }

    /// The JSON object of `incidents list --json` (CONTRACT.md fields and
    /// more).
    pub fn to_json(&self, now: Timestamp) -> Value {
        json!({
            "id": self.id,
            "status": self.status.as_str(),
            "grade": self.grade.as_str(),
            "grade_zh": self.grade.names().0,
            "colour": self.colour().as_str(),
            "severity": self.severity.as_str(),
            "category": self.category,
            "title": self.title,
            "title_zh": self.title_zh,
            "zones": self.zones,
            "units": self.units,
            "unit": self.unit,
            "contact": self.contact,
            "assignee": self.assignee,
            "src_ips": self.src_ips.iter().map(|i| i.to_string()).collect::<Vec<_>>(),
            "dest_ips": self.dest_ips.iter().map(|i| i.to_string()).collect::<Vec<_>>(),
            "first_seen": self.first_seen.to_string(),
            "last_seen": self.last_seen.to_string(),
            "alert_count": self.alert_count,
            "report_due": self.report_due.map(|t| t.to_string()),
            "overdue": self.overdue(now),
        })
    }
}

/// One piece of evidence: a summary of an alert that joined the incident.
#[derive(Clone, Debug, PartialEq)]
pub struct Evidence {
    /// 0-based index of the alert within the incident.
    pub seq: u64,
    /// Alert time.
    pub ts: Timestamp,
    /// Detector.
    pub source: AlertSource,
    /// Signature id.
    pub sid: u32,
    /// Signature message.
    pub signature: String,
    /// Flow id of a traffic alert.
    pub flow_id: Option<u64>,
    /// Packet index in the capture.
    pub pcap_cnt: Option<u64>,
    /// Log line of a log alert (truncated).
    pub log_line: Option<String>,
}

impl Evidence {
    /// JSON form.
    pub fn to_json(&self) -> Value {
        json!({
            "seq": self.seq,
            "timestamp": self.ts.to_string(),
            "source": self.source.as_str(),
            "sid": self.sid,
            "signature": self.signature,
            "flow_id": self.flow_id,
            "pcap_cnt": self.pcap_cnt,
            "log": self.log_line,
        })
    }
}

/// One entry of an incident's append-only timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct TimelineEntry {
    /// When (alert time for the correlator's entries, wall clock for
    /// people's).
    pub ts: Timestamp,
    /// Who (`zoneguard` for the correlator).
    pub actor: String,
    /// What (`opened`, `grade_raised`, `ack`, `comment`, …).
    pub action: String,
    /// Details.
    pub detail: String,
}

impl TimelineEntry {
    /// JSON form.
    pub fn to_json(&self) -> Value {
        json!({
            "timestamp": self.ts.to_string(),
            "actor": self.actor,
            "action": self.action,
            "detail": self.detail,
        })
    }
}

/// What the correlator hands to the store after an alert: the incident's
/// latest state and what was appended since the previous update. Updates of
/// one incident coalesce with [`IncidentUpdate::merge`].
#[derive(Clone, Debug, PartialEq)]
pub struct IncidentUpdate {
    /// Latest state.
    pub incident: Incident,
    /// Evidence added since the previous update.
    pub evidence: Vec<Evidence>,
    /// Timeline entries added since the previous update.
    pub timeline: Vec<TimelineEntry>,
    /// The correlator's window of the incident (its key and links, opaque
    /// JSON), kept so that a restart goes on correlating; `None` leaves the
    /// stored window as it is.
    pub window: Option<String>,
}

impl IncidentUpdate {
    /// Folds a later update of the same incident into this one.
    pub fn merge(&mut self, later: IncidentUpdate) {
        self.incident = later.incident;
        self.evidence.extend(later.evidence);
        self.timeline.extend(later.timeline);
        if later.window.is_some() {
            self.window = later.window;
        }
    }
}

/// Current wall-clock time (for people's actions, never for detection).
pub fn wall_now() -> Timestamp {
    Timestamp::from_chrono(&chrono::Utc::now())
}
