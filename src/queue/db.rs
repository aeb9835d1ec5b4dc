//! Reads and people's actions on the store (CLI, later the API).

use std::net::IpAddr;

use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};

use crate::alert::AlertSource;
use crate::incident::{
    next_status, Action, Evidence, Grade, Incident, Severity, Status, TimelineEntry,
};
use crate::time::Timestamp;

use super::{audit, StoreError};

/// Minimum retention (Cybersecurity Law: six months).
pub const MIN_RETENTION_DAYS: i64 = 180;

/// Which incidents to list. Empty fields match everything.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    /// Status.
    pub status: Option<Status>,
    /// Grade at least this serious (`III` matches I, II and III).
    pub min_grade: Option<Grade>,
    /// Responsible unit or any touched unit.
    pub unit: Option<String>,
    /// Touched zone id.
    pub zone: Option<String>,
    /// Last seen at or after.
    pub since: Option<Timestamp>,
    /// First seen at or before.
    pub until: Option<Timestamp>,
    /// Only open incidents (not resolved or false positive).
    pub open_only: bool,
    /// At most this many (newest first); 0 means no limit.
    pub limit: usize,
}

const COLS: &str =
    "id, status, grade, severity, category, title, title_zh, zones, units, unit, contact,
    assignee, src_ips, dest_ips, first_seen, last_seen, alert_count, report_due";

fn list_col(id: i64, field: &'static str, s: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt {
        id,
        field,
        reason: e.to_string(),
    })
}

fn ip_col(id: i64, field: &'static str, s: &str) -> Result<Vec<IpAddr>, StoreError> {
    list_col(id, field, s)?
        .iter()
        .map(|x| {
            x.parse().map_err(|_| StoreError::Corrupt {
                id,
                field,
                reason: format!("not an address: {x:?}"),
            })
        })
        .collect()
}

fn from_row(r: &Row<'_>) -> Result<Incident, StoreError> {
    let id: i64 = r.get(0)?;
    let status: String = r.get(1)?;
    let grade: i64 = r.get(2)?;
    let severity: String = r.get(3)?;
    let corrupt = |field: &'static str, v: String| StoreError::Corrupt {
        id,
        field,
        reason: format!("unknown value {v:?}"),
    };
    Ok(Incident {
        id,
        status: Status::parse(&status).ok_or_else(|| corrupt("status", status.clone()))?,
        grade: Grade::from_rank(grade).ok_or_else(|| corrupt("grade", grade.to_string()))?,
        severity: Severity::parse(&severity)
            .ok_or_else(|| corrupt("severity", severity.clone()))?,
        category: r.get(4)?,
        title: r.get(5)?,
        title_zh: r.get(6)?,
        zones: list_col(id, "zones", &r.get::<_, String>(7)?)?,
        units: list_col(id, "units", &r.get::<_, String>(8)?)?,
        unit: r.get(9)?,
        contact: r.get(10)?,
        assignee: r.get(11)?,
        src_ips: ip_col(id, "src_ips", &r.get::<_, String>(12)?)?,
        dest_ips: ip_col(id, "dest_ips", &r.get::<_, String>(13)?)?,
        first_seen: Timestamp(r.get(14)?),
        last_seen: Timestamp(r.get(15)?),
        alert_count: u64::try_from(r.get::<_, i64>(16)?).unwrap_or(0),
        report_due: r.get::<_, Option<i64>>(17)?.map(Timestamp),
    })
}

/// One incident.
pub fn load(conn: &Connection, id: i64) -> Result<Incident, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLS} FROM incidents WHERE id = ?1"))?;
    let mut rows = stmt.query([id])?;
    match rows.next()? {
        Some(r) => from_row(r),
        None => Err(StoreError::NotFound(id)),
    }
}

/// The `WHERE` clause (after `WHERE 1=1`) and its arguments for `f`
/// (its `limit` aside).
fn filter_sql(f: &Filter) -> (String, Vec<rusqlite::types::Value>) {
    let mut sql = String::new();
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    if let Some(s) = f.status {
        sql.push_str(" AND status = ?");
        args.push(s.as_str().to_string().into());
    }
    if f.open_only {
        sql.push_str(" AND status NOT IN ('resolved', 'false_positive')");
    }
    if let Some(g) = f.min_grade {
        sql.push_str(" AND grade <= ?");
        args.push(i64::from(g.rank()).into());
    }
    if let Some(u) = &f.unit {
        sql.push_str(" AND (unit = ? OR EXISTS (SELECT 1 FROM json_each(units) WHERE value = ?))");
        args.push(u.clone().into());
        args.push(u.clone().into());
    }
    if let Some(z) = &f.zone {
        sql.push_str(" AND EXISTS (SELECT 1 FROM json_each(zones) WHERE value = ?)");
        args.push(z.clone().into());
    }
    if let Some(t) = f.since {
        sql.push_str(" AND last_seen >= ?");
        args.push(t.0.into());
    }
    if let Some(t) = f.until {
        sql.push_str(" AND first_seen <= ?");
        args.push(t.0.into());
    }
    (sql, args)
}

/// Incidents matching `f`, newest (last seen) first.
pub fn list(conn: &Connection, f: &Filter) -> Result<Vec<Incident>, StoreError> {
    let (clause, args) = filter_sql(f);
    let mut sql = format!("SELECT {COLS} FROM incidents WHERE 1=1{clause}");
    sql.push_str(" ORDER BY last_seen DESC, id DESC");
    if f.limit > 0 {
        sql.push_str(&format!(" LIMIT {}", f.limit));
    }
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(args))?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(from_row(r)?);
    }
    Ok(out)
}

/// Where a page of [`page`] starts: after the incident with this last-seen
/// time and id (the order is last seen, then id, both descending).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    /// Last seen of the previous page's last incident.
    pub last_seen: Timestamp,
    /// Its id.
    pub id: i64,
}

/// What [`page`] selects beyond a [`Filter`] (whose `limit` it ignores).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PageQuery {
    /// Only this taxonomy category.
    pub category: Option<String>,
    /// Only incidents whose responsible or touched units include one of
    /// these (a user's unit scope); `None` for every unit.
    pub scope: Option<Vec<String>>,
    /// Start after this incident (keyset pagination).
    pub after: Option<Cursor>,
    /// Skip this many (offset pagination).
    pub offset: u64,
    /// Page size (at least 1).
    pub limit: u64,
}

/// One page of incidents, newest first, with the number matching the
/// filter and scope (cursor and offset aside).
pub fn page(
    conn: &Connection,
    f: &Filter,
    q: &PageQuery,
) -> Result<(Vec<Incident>, u64), StoreError> {
    let (mut clause, mut args) = filter_sql(f);
    if let Some(c) = &q.category {
        clause.push_str(" AND category = ?");
        args.push(c.clone().into());
    }
    if let Some(units) = &q.scope {
        // An empty scope matches nothing.
        clause.push_str(" AND (unit IN (SELECT value FROM json_each(?)) OR EXISTS (SELECT 1 FROM json_each(units) WHERE value IN (SELECT value FROM json_each(?))))");
        let list = serde_json::Value::from(units.clone()).to_string();
        args.push(list.clone().into());
        args.push(list.into());
    }
    let total: i64 = conn.query_row(
        &format!("SELECT count(*) FROM incidents WHERE 1=1{clause}"),
        rusqlite::params_from_iter(args.iter()),
        |r| r.get(0),
    )?;
    if let Some(c) = q.after {
        clause.push_str(" AND (last_seen < ? OR (last_seen = ? AND id < ?))");
        args.push(c.last_seen.0.into());
        args.push(c.last_seen.0.into());
        args.push(c.id.into());
    }
    let sql = format!(
        "SELECT {COLS} FROM incidents WHERE 1=1{clause} ORDER BY last_seen DESC, id DESC LIMIT {} OFFSET {}",
        q.limit.clamp(1, i64::MAX as u64),
        q.offset.min(i64::MAX as u64)
    );
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(args))?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(from_row(r)?);
    }
    Ok((out, u64::try_from(total).unwrap_or(0)))
}

/// The evidence of an incident, in order.
pub fn evidence(conn: &Connection, id: i64) -> Result<Vec<Evidence>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, ts, source, sid, signature, flow_id, pcap_cnt, log_line
         FROM incident_alerts WHERE incident_id = ?1 ORDER BY seq",
    )?;
    let mut rows = stmt.query([id])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let source: String = r.get(2)?;
        out.push(Evidence {
            seq: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
            ts: Timestamp(r.get(1)?),
            source: match source.as_str() {
                "policy" => AlertSource::Policy,
                "log" => AlertSource::Log,
                "signature" => AlertSource::Signature,
                "sensor" => AlertSource::Sensor,
                other => {
                    return Err(StoreError::Corrupt {
                        id,
                        field: "incident_alerts.source",
                        reason: format!("unknown value {other:?}"),
                    })
                }
            },
            sid: r.get(3)?,
            signature: r.get(4)?,
            flow_id: r.get::<_, Option<i64>>(5)?.map(|v| v as u64),
            pcap_cnt: r.get::<_, Option<i64>>(6)?.map(|v| v as u64),
            log_line: r.get(7)?,
        });
    }
    Ok(out)
}

/// The timeline of an incident, oldest first.
pub fn timeline(conn: &Connection, id: i64) -> Result<Vec<TimelineEntry>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT ts, actor, action, detail FROM timeline WHERE incident_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([id], |r| {
        Ok(TimelineEntry {
            ts: Timestamp(r.get(0)?),
            actor: r.get(1)?,
            action: r.get(2)?,
            detail: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Performs a person's action: checks the transition, updates the
/// incident, appends to the timeline and the audit log, in one
/// transaction. `arg` is the assignee of `assign`, the text of `comment`,
/// optional `new` for `reopen`, an optional note otherwise.
pub fn apply_action(
    conn: &mut Connection,
    id: i64,
    action: Action,
    actor: &str,
    arg: Option<&str>,
    now: Timestamp,
) -> Result<Incident, StoreError> {
    if actor.trim().is_empty() {
        return Err(StoreError::BadArgument(
            "an actor is required / 需要操作人".into(),
        ));
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut inc = load(&tx, id)?;
    let to = next_status(id, inc.status, action, arg)?;
    let detail = match action {
        Action::Assign => {
            let who = arg.filter(|a| !a.trim().is_empty()).ok_or_else(|| {
                StoreError::BadArgument("assign needs a user / 需要指定处置人".into())
            })?;
            tx.execute(
                "UPDATE incidents SET assignee = ?1 WHERE id = ?2",
                params![who, id],
            )?;
            inc.assignee = Some(who.to_string());
            format!("assignee {who}")
        }
        Action::Comment => arg
            .filter(|a| !a.trim().is_empty())
            .ok_or_else(|| StoreError::BadArgument("comment needs text / 需要备注内容".into()))?
            .to_string(),
        _ => arg.unwrap_or("").to_string(),
    };
    let detail = if to != inc.status {
        format!(
            "{} -> {}{}{}",
            inc.status,
            to,
            if detail.is_empty() { "" } else { ": " },
            detail
        )
    } else {
        detail
    };
    if to != inc.status {
        tx.execute(
            "UPDATE incidents SET status = ?1 WHERE id = ?2",
            params![to.as_str(), id],
        )?;
        if to == Status::Acknowledged || to == Status::InProgress {
            tx.execute(
                "UPDATE incidents SET acked_at = coalesce(acked_at, ?1) WHERE id = ?2",
                params![now.0, id],
            )?;
        }
        if to.is_closed() {
            tx.execute(
                "UPDATE incidents SET resolved_at = ?1, acked_at = coalesce(acked_at, ?1) WHERE id = ?2",
                params![now.0, id],
            )?;
        } else if inc.status.is_closed() {
            tx.execute(
                "UPDATE incidents SET resolved_at = NULL WHERE id = ?1",
                [id],
            )?;
        }
        inc.status = to;
    }
    tx.execute(
        "INSERT INTO timeline (incident_id, ts, actor, action, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id, now.0, actor, action.as_str(), detail],
    )?;
    audit::append(
        &tx,
        now.0,
        actor,
        &format!("incident.{}", action.as_str()),
        Some(id),
        &detail,
    )?;
    tx.commit()?;
    Ok(inc)
}

/// The per-unit figures of the periodic performance review.
#[derive(Clone, Debug, PartialEq)]
pub struct UnitSummary {
    /// Unit (`-` for incidents without one).
    pub unit: String,
    /// Incidents not closed.
    pub open: u64,
    /// Open incidents past their reporting deadline.
    pub overdue: u64,
    /// Mean seconds from first seen to acknowledgement, over acknowledged
    /// incidents.
    pub mean_ack_secs: Option<f64>,
    /// Mean seconds from first seen to resolution, over closed incidents.
    pub mean_resolve_secs: Option<f64>,
}

/// Per-unit summary at `now`, ordered by unit.
pub fn unit_summary(conn: &Connection, now: Timestamp) -> Result<Vec<UnitSummary>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT coalesce(unit, '-'),
            sum(status NOT IN ('resolved','false_positive')),
            sum(status NOT IN ('resolved','false_positive') AND report_due IS NOT NULL AND report_due < ?1),
            avg(CASE WHEN acked_at IS NOT NULL THEN (acked_at - first_seen) / 1e9 END),
            avg(CASE WHEN resolved_at IS NOT NULL THEN (resolved_at - first_seen) / 1e9 END)
         FROM incidents GROUP BY coalesce(unit, '-') ORDER BY 1",
    )?;
    let rows = stmt.query_map([now.0], |r| {
        Ok(UnitSummary {
            unit: r.get(0)?,
            open: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
            overdue: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
            mean_ack_secs: r.get(3)?,
            mean_resolve_secs: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Deletes closed (resolved or false-positive) incidents, with their
/// evidence and timeline, last seen before `now - older_than_days`, and the
/// audit records written before it; incidents still open are never pruned. Refuses less than
/// [`MIN_RETENTION_DAYS`] unless `force`. The audit chain stays verifiable
/// (checkpoint) and the prune itself is audited. Returns (incidents, audit
/// records) removed.
pub fn prune(
    conn: &mut Connection,
    older_than_days: i64,
    now: Timestamp,
    force: bool,
    actor: &str,
) -> Result<(u64, u64), StoreError> {
    if older_than_days < MIN_RETENTION_DAYS && !force {
        return Err(StoreError::Retention {
            min_days: MIN_RETENTION_DAYS,
            asked_days: older_than_days,
        });
    }
    let cutoff = now.add_secs(-older_than_days.saturating_mul(86_400)).0;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute(
        "DELETE FROM incident_alerts WHERE incident_id IN (SELECT id FROM incidents WHERE last_seen < ?1 AND status IN ('resolved', 'false_positive'))",
        [cutoff],
    )?;
    tx.execute(
        "DELETE FROM timeline WHERE incident_id IN (SELECT id FROM incidents WHERE last_seen < ?1 AND status IN ('resolved', 'false_positive'))",
        [cutoff],
    )?;
    tx.execute(
        "DELETE FROM correlator_windows WHERE incident_id IN (SELECT id FROM incidents WHERE last_seen < ?1 AND status IN ('resolved', 'false_positive'))",
        [cutoff],
    )?;
    let inc = tx.execute(
        "DELETE FROM incidents WHERE last_seen < ?1 AND status IN ('resolved', 'false_positive')",
        [cutoff],
    )? as u64;
    let aud = audit::prune_before(&tx, cutoff)?;
    audit::append(
        &tx,
        now.0,
        actor,
        "store.prune",
        None,
        &format!(
            "older_than_days {older_than_days} force {force}: {inc} incidents, {aud} audit records"
        ),
    )?;
    tx.commit()?;
    Ok((inc, aud))
}

/// The correlation windows that may still be open: incidents not resolved
/// or dismissed, last seen at most `window_secs` before the latest incident
/// of the store (alert time: the store's own clock), the `limit` most
/// recent, oldest first, with their stored window state. Rows of windows
/// older than that are deleted.
pub fn open_windows(
    conn: &Connection,
    window_secs: i64,
    limit: usize,
) -> Result<Vec<(Incident, String)>, StoreError> {
    let latest: Option<i64> =
        conn.query_row("SELECT max(last_seen) FROM incidents", [], |r| r.get(0))?;
    let Some(latest) = latest else {
        return Ok(Vec::new());
    };
    let cutoff = Timestamp(latest).add_secs(-window_secs).0;
    conn.execute(
        "DELETE FROM correlator_windows WHERE incident_id IN
            (SELECT id FROM incidents WHERE last_seen < ?1 OR status IN ('resolved', 'false_positive'))",
        [cutoff],
    )?;
    let mut stmt = conn.prepare(
        "SELECT id, state FROM (SELECT i.id AS id, w.state AS state, i.last_seen AS seen
            FROM correlator_windows w JOIN incidents i ON i.id = w.incident_id
            ORDER BY i.last_seen DESC LIMIT ?1) ORDER BY seen ASC",
    )?;
    let rows = stmt.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
    })?;
    let found: Vec<(i64, String)> = rows.collect::<Result<_, _>>()?;
    drop(stmt);
    found
        .into_iter()
        .map(|(id, state)| Ok((load(conn, id)?, state)))
        .collect()
}

/// True if an incident exists.
pub fn exists(conn: &Connection, id: i64) -> Result<bool, StoreError> {
    Ok(conn
        .query_row("SELECT 1 FROM incidents WHERE id = ?1", [id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Open incidents by grade and responsible unit (`-` when none), for the
/// `zoneguard_incidents_open{grade, unit}` gauge.
pub fn open_by_grade_unit(conn: &Connection) -> Result<Vec<(Grade, String, u64)>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT grade, coalesce(unit, '-'), count(*) FROM incidents
         WHERE status NOT IN ('resolved', 'false_positive') GROUP BY 1, 2 ORDER BY 1, 2",
    )?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let g: i64 = r.get(0)?;
        let grade = Grade::from_rank(g).ok_or_else(|| StoreError::Corrupt {
            id: 0,
            field: "grade",
            reason: format!("unknown value {g}"),
        })?;
        out.push((
            grade,
            r.get(1)?,
            u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
        ));
    }
    Ok(out)
}

/// Incidents by grade and status, for the `zoneguard_incidents{grade,
/// status}` gauge.
pub fn count_by_grade_status(conn: &Connection) -> Result<Vec<(Grade, String, u64)>, StoreError> {
    let mut stmt =
        conn.prepare("SELECT grade, status, count(*) FROM incidents GROUP BY 1, 2 ORDER BY 1, 2")?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let g: i64 = r.get(0)?;
        let Some(grade) = Grade::from_rank(g) else {
            continue;
        };
        out.push((
            grade,
            r.get(1)?,
            u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
        ));
    }
    Ok(out)
}

/// Open incidents whose reporting deadline is before `now`.
pub fn overdue_count(conn: &Connection, now: Timestamp) -> Result<u64, StoreError> {
    let n: i64 = conn.query_row(
        "SELECT count(*) FROM incidents WHERE report_due IS NOT NULL AND report_due < ?1
         AND status NOT IN ('resolved', 'false_positive')",
        [now.0],
        |r| r.get(0),
    )?;
    Ok(u64::try_from(n).unwrap_or(0))
}
