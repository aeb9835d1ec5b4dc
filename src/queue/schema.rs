//! Versioned schema of the incident store.
//!
//! `schema_version` holds one row with the version applied; migration `n`
//! moves the store from version `n - 1` to `n` inside one transaction, so a
//! crash during a migration leaves the previous version intact.

use rusqlite::Connection;

use super::StoreError;

/// Migrations, in order; index 0 is migration 1.
const MIGRATIONS: &[&str] = &[
    // 1: everything.
    "
    CREATE TABLE incidents (
        id          INTEGER PRIMARY KEY,
        status      TEXT    NOT NULL,
        grade       INTEGER NOT NULL,
        severity    TEXT    NOT NULL,
        category    TEXT    NOT NULL,
        title       TEXT    NOT NULL,
        title_zh    TEXT    NOT NULL,
        zones       TEXT    NOT NULL,
        units       TEXT    NOT NULL,
        unit        TEXT,
        contact     TEXT,
        assignee    TEXT,
        src_ips     TEXT    NOT NULL,
        dest_ips    TEXT    NOT NULL,
        first_seen  INTEGER NOT NULL,
        last_seen   INTEGER NOT NULL,
        alert_count INTEGER NOT NULL,
        report_due  INTEGER,
        acked_at    INTEGER,
        resolved_at INTEGER
    );
    CREATE INDEX incidents_unit ON incidents(unit);
    CREATE INDEX incidents_status ON incidents(status);
    CREATE INDEX incidents_last_seen ON incidents(last_seen);
    CREATE TABLE incident_alerts (
        incident_id INTEGER NOT NULL,
        seq         INTEGER NOT NULL,
        ts          INTEGER NOT NULL,
        source      TEXT    NOT NULL,
        sid         INTEGER NOT NULL,
        signature   TEXT    NOT NULL,
        flow_id     INTEGER,
        pcap_cnt    INTEGER,
        log_line    TEXT,
        PRIMARY KEY (incident_id, seq)
    );
    CREATE TABLE timeline (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        incident_id INTEGER NOT NULL,
        ts          INTEGER NOT NULL,
        actor       TEXT    NOT NULL,
        action      TEXT    NOT NULL,
        detail      TEXT    NOT NULL
    );
    CREATE INDEX timeline_incident ON timeline(incident_id);
    CREATE TABLE audit (
        id          INTEGER PRIMARY KEY,
        ts          INTEGER NOT NULL,
        actor       TEXT    NOT NULL,
        action      TEXT    NOT NULL,
        incident_id INTEGER,
        detail      TEXT    NOT NULL,
        prev_hash   TEXT    NOT NULL,
        hash        TEXT    NOT NULL
    );
    CREATE TABLE audit_anchor (
        one         INTEGER PRIMARY KEY CHECK (one = 1),
        first_id    INTEGER NOT NULL,
        first_prev  TEXT    NOT NULL,
        head_id     INTEGER NOT NULL,
        head_hash   TEXT    NOT NULL
    );
    INSERT INTO audit_anchor VALUES (1, 1, '0000000000000000000000000000000000000000000000000000000000000000', 0,
        '0000000000000000000000000000000000000000000000000000000000000000');
    ",
    // 2: notifications (src/notify): deliveries that failed for good, and
    // the incidents whose overdue notice was sent.
    "
    CREATE TABLE notify_dead_letters (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        created     INTEGER NOT NULL,
        destination TEXT    NOT NULL,
        kind        TEXT    NOT NULL,
        event       TEXT    NOT NULL,
        incident_id INTEGER,
        attempts    INTEGER NOT NULL,
        last_error  TEXT    NOT NULL,
        payload     TEXT    NOT NULL
    );
    CREATE TABLE notify_overdue (
        incident_id INTEGER PRIMARY KEY,
        ts          INTEGER NOT NULL
    );
    ",
    // 3: the correlation windows of the incidents still open, so a
    // restarted sensor or central goes on joining alerts to them.
    "
    CREATE TABLE correlator_windows (
        incident_id INTEGER PRIMARY KEY,
        state       TEXT    NOT NULL
    );
    ",
];

/// The version this build writes.
pub const CURRENT_VERSION: i64 = MIGRATIONS.len() as i64;

/// Sets the connection's pragmas: WAL, `synchronous=FULL`, foreign keys,
/// a busy timeout so the CLI and the writer thread can share the file.
pub fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Schema(format!(
            "journal_mode is {mode}, WAL required"
        )));
    }
    conn.execute_batch("PRAGMA synchronous=FULL;")?;
    Ok(())
}

/// The schema version of a store (0 for an empty file).
pub fn version(conn: &Connection) -> Result<i64, StoreError> {
    let exists: i64 = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='schema_version'",
        [],
        |r| r.get(0),
    )?;
    if exists == 0 {
        return Ok(0);
    }
    Ok(conn
        .query_row("SELECT max(version) FROM schema_version", [], |r| {
            r.get::<_, Option<i64>>(0)
        })?
        .unwrap_or(0))
}

/// Applies every migration the store lacks. A store newer than this build
/// is refused.
pub fn migrate(conn: &mut Connection) -> Result<i64, StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")?;
    let have = version(&tx)?;
    if have > CURRENT_VERSION {
        return Err(StoreError::Schema(format!(
            "store schema version {have} is newer than this build's {CURRENT_VERSION}"
        )));
    }
    for (i, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(have).unwrap_or(0))
    {
        tx.execute_batch(sql)
            .map_err(|e| StoreError::Schema(format!("migration {}: {e}", i + 1)))?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES (?1)",
            [i as i64 + 1],
        )?;
    }
    tx.commit()?;
    Ok(CURRENT_VERSION)
}
