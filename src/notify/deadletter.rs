//! Dead letters: deliveries that failed for good (retries exhausted, a
//! permanent refusal, a full queue, shutdown), kept in the incident store
//! (`notify_dead_letters`, schema migration 2) so nothing acknowledged is
//! lost without a trace; `zoneguard incidents dead-letters` lists them.
//! Also the record of overdue notices already sent (`notify_overdue`).

use std::path::Path;

use rusqlite::{params, Connection};
use serde_json::{json, Value};

use crate::incident::{Incident, Status};
use crate::queue::{self, StoreError};
use crate::time::Timestamp;

/// Longest error text stored.
const MAX_ERROR_LEN: usize = 1024;

/// One dead letter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetter {
    /// Row id (0 before it is stored).
    pub id: i64,
    /// When it was given up.
    pub created: Timestamp,
    /// Destination name.
    pub destination: String,
    /// `webhook` or `syslog`.
    pub kind: String,
    /// `opened`, `grade_raised`, `overdue` or `digest`.
    pub event: String,
    /// The incident, for an incident event.
    pub incident_id: Option<i64>,
    /// Delivery attempts made.
    pub attempts: u32,
    /// Why the last attempt failed (or why none was made).
    pub last_error: String,
    /// The document that was to be sent (JSON for webhooks).
    pub payload: String,
}

impl DeadLetter {
    /// JSON form for `--json`.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "created": self.created.to_string(),
            "destination": self.destination,
            "kind": self.kind,
            "event": self.event,
            "incident_id": self.incident_id,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "payload": serde_json::from_str::<Value>(&self.payload)
                .unwrap_or_else(|_| Value::String(self.payload.clone())),
        })
    }
}

/// Stores one dead letter; returns its id.
pub fn insert(conn: &Connection, d: &DeadLetter) -> Result<i64, StoreError> {
    let err: String = d.last_error.chars().take(MAX_ERROR_LEN).collect();
    conn.execute(
        "INSERT INTO notify_dead_letters
            (created, destination, kind, event, incident_id, attempts, last_error, payload)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            d.created.0,
            d.destination,
            d.kind,
            d.event,
            d.incident_id,
            i64::from(d.attempts),
            err,
            d.payload
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Every dead letter, oldest first (at most `limit`).
pub fn list(conn: &Connection, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
    let mut st = conn.prepare(
        "SELECT id, created, destination, kind, event, incident_id, attempts, last_error, payload
         FROM notify_dead_letters ORDER BY id LIMIT ?1",
    )?;
    let rows = st.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
        Ok(DeadLetter {
            id: r.get(0)?,
            created: Timestamp(r.get(1)?),
            destination: r.get(2)?,
            kind: r.get(3)?,
            event: r.get(4)?,
            incident_id: r.get(5)?,
            attempts: u32::try_from(r.get::<_, i64>(6)?).unwrap_or(u32::MAX),
            last_error: r.get(7)?,
            payload: r.get(8)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// `zoneguard incidents dead-letters --db F [--json]`: a table (bilingual
/// headers) or a JSON array.
pub fn list_cli(db: &Path, json: bool) -> Result<String, StoreError> {
    let conn = queue::open_db(db)?;
    let all = list(&conn, 100_000)?;
    if json {
        return Ok(Value::Array(all.iter().map(DeadLetter::to_json).collect()).to_string());
    }
    let mut out = String::from(
        "ID  时间 created  目的地 destination  类型 kind  事件 event  事件号 incident  尝试 attempts  错误 last error\n",
    );
    for d in &all {
        out.push_str(&format!(
            "{}  {}  {}  {}  {}  {}  {}  {}\n",
            d.id,
            d.created,
            d.destination,
            d.kind,
            d.event,
            d.incident_id
                .map_or_else(|| "-".to_string(), |i| i.to_string()),
            d.attempts,
            d.last_error.replace(['\n', '\r'], " ")
        ));
    }
    if all.is_empty() {
        out.push_str("(none / 无)\n");
    }
    Ok(out)
}

/// Open incidents past their reporting deadline at `now` whose overdue
/// notice has not been sent yet (at most `limit`), marking them as sent.
/// The caller routes what this returns; a notice that then cannot be
/// delivered becomes a dead letter, so marking first loses nothing.
pub fn take_overdue(
    conn: &mut Connection,
    now: Timestamp,
    limit: usize,
) -> Result<Vec<Incident>, StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let ids: Vec<i64> = {
        let mut st = tx.prepare(
            "SELECT id FROM incidents
             WHERE report_due IS NOT NULL AND report_due < ?1
               AND status NOT IN (?2, ?3)
               AND id NOT IN (SELECT incident_id FROM notify_overdue)
             ORDER BY id LIMIT ?4",
        )?;
        let rows = st.query_map(
            params![
                now.0,
                Status::Resolved.as_str(),
                Status::FalsePositive.as_str(),
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            |r| r.get(0),
        )?;
        rows.collect::<Result<Vec<_>, _>>()?
    };
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let inc = queue::load(&tx, id)?;
        tx.execute(
            "INSERT OR IGNORE INTO notify_overdue (incident_id, ts) VALUES (?1, ?2)",
            params![id, now.0],
        )?;
        if inc.overdue(now) {
            out.push(inc);
        }
    }
    tx.commit()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_list_and_cli() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("i.db");
        let conn = queue::open_db(&db).unwrap();
        let d = DeadLetter {
            id: 0,
            created: Timestamp::from_secs_nanos(1_790_000_000, 0),
            destination: "soc".into(),
            kind: "webhook".into(),
            event: "opened".into(),
            incident_id: Some(3),
            attempts: 4,
            last_error: "x".repeat(5000),
            payload: "{\"a\":1}".into(),
        };
        let id = insert(&conn, &d).unwrap();
        let got = list(&conn, 10).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].id, id);
        assert_eq!(got[0].last_error.len(), MAX_ERROR_LEN);
        let j: Value = serde_json::from_str(&list_cli(&db, true).unwrap()).unwrap();
        assert_eq!(j[0]["payload"]["a"], 1);
        assert_eq!(j[0]["incident_id"], 3);
        assert!(list_cli(&db, false).unwrap().contains("soc"));
    }
}
