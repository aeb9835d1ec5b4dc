//! The central's ledger of applied messages: one row per alert message
//! (its `Nats-Msg-Id`), written by the store's writer thread in the same
//! transaction as the incident update the alert caused. A message whose id
//! is in the ledger has been applied: a re-delivery (the central died
//! between commit and acknowledgement, or a sensor re-sent after an outage
//! longer than JetStream's duplicate window) is acknowledged and counted as
//! a duplicate, never applied twice.

use rusqlite::{params, Connection, OptionalExtension};

use crate::queue::{CommitHook, StoreError};

/// Creates the ledger table if missing (idempotent; not part of the
/// versioned incident schema, so sensors' stores are unchanged).
pub fn ensure(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS nats_ledger (
            msg_id TEXT PRIMARY KEY,
            sensor TEXT NOT NULL,
            sensor_seq INTEGER NOT NULL,
            stream_seq INTEGER NOT NULL,
            incident_id INTEGER NOT NULL,
            applied_at INTEGER NOT NULL
        ) WITHOUT ROWID",
    )?;
    Ok(())
}

/// True if the message has been applied.
pub fn contains(conn: &Connection, msg_id: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM nats_ledger WHERE msg_id = ?1")?
        .query_row([msg_id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Messages applied so far.
pub fn count(conn: &Connection) -> Result<u64, StoreError> {
    let n: i64 = conn.query_row("SELECT count(*) FROM nats_ledger", [], |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Messages applied per sensor, by sensor name.
pub fn per_sensor(conn: &Connection) -> Result<Vec<(String, u64)>, StoreError> {
    let mut st =
        conn.prepare("SELECT sensor, count(*) FROM nats_ledger GROUP BY sensor ORDER BY sensor")?;
    let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    let mut out = Vec::new();
    for r in rows {
        let (s, n) = r?;
        out.push((s, u64::try_from(n).unwrap_or(0)));
    }
    Ok(out)
}

/// The ledger row of one message, written with its incident update.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// `Nats-Msg-Id` (`SENSOR.RUN.SEQ`).
    pub msg_id: String,
    /// Publishing sensor.
    pub sensor: String,
    /// The sensor's sequence number.
    pub sensor_seq: u64,
    /// JetStream stream sequence of the delivery applied.
    pub stream_seq: u64,
    /// Incident the alert joined.
    pub incident_id: i64,
    /// Wall-clock time of application (ns).
    pub applied_at: i64,
}

impl CommitHook for Entry {
    fn write(&self, conn: &Connection) -> Result<(), StoreError> {
        conn.prepare_cached(
            "INSERT INTO nats_ledger (msg_id, sensor, sensor_seq, stream_seq, incident_id, applied_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            self.msg_id,
            self.sensor,
            i64::try_from(self.sensor_seq).unwrap_or(i64::MAX),
            i64::try_from(self.stream_seq).unwrap_or(i64::MAX),
            self.incident_id,
            self.applied_at,
        ])?;
        Ok(())
    }
}
