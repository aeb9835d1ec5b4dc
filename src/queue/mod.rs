//! The durable incident queue: SQLite (WAL, `synchronous=FULL`) with a
//! versioned schema, a dedicated writer thread fed by a bounded channel,
//! the lifecycle operations people perform, and the hash-chained audit log.
//!
//! The packet path never waits on the disk: [`Store::submit`] only ever
//! tries to send; when the channel is full the update is coalesced in
//! memory (latest state of each dirty incident) and sent later. See
//! docs/incidents.md ("When the queue is full").

pub mod audit;
pub mod db;
pub mod nats;
pub mod schema;
pub mod writer;

use std::path::{Path, PathBuf};

use rusqlite::Connection;

pub use db::{
    apply_action, evidence, list, load, open_by_grade_unit, open_windows, page, prune, timeline,
    unit_summary, Cursor, Filter, PageQuery, UnitSummary,
};
pub use writer::{CommitHook, Store, StoreConfig, StoreStats, Submitted};

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite reported an error.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The file could not be opened.
    #[error("{path}: cannot open the incident store: {source}")]
    Open {
        /// The store file.
        path: PathBuf,
        /// Why.
        source: rusqlite::Error,
    },
    /// The schema is unusable (newer than this build, failed migration).
    #[error("schema: {0}")]
    Schema(String),
    /// A stored value is malformed.
    #[error("incident {id}: field {field}: {reason}")]
    Corrupt {
        /// Incident id.
        id: i64,
        /// Column.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// No such incident.
    #[error("incident {0} not found / 未找到事件 {0}")]
    NotFound(i64),
    /// A lifecycle transition was refused.
    #[error(transparent)]
    Transition(#[from] crate::incident::TransitionError),
    /// The argument of an action is missing or invalid.
    #[error("{0}")]
    BadArgument(String),
    /// Pruning below the legal minimum retention without `force`.
    #[error("refusing to prune data younger than {min_days} days (asked {asked_days}) without force / 保留期不少于 {min_days} 天")]
    Retention {
        /// The minimum (180).
        min_days: i64,
        /// What was asked.
        asked_days: i64,
    },
    /// The writer thread is gone.
    #[error("the store writer thread stopped: {0}")]
    WriterGone(String),
}

/// Opens (creating if needed) a store file: pragmas and migrations.
pub fn open_db(path: &Path) -> Result<Connection, StoreError> {
    let mut conn = Connection::open(path).map_err(|source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    schema::configure(&conn)?;
    schema::migrate(&mut conn)?;
    Ok(conn)
}

/// The next free incident id of a store.
pub fn next_id(conn: &Connection) -> Result<i64, StoreError> {
    let max: Option<i64> = conn.query_row("SELECT max(id) FROM incidents", [], |r| r.get(0))?;
    Ok(max.unwrap_or(0).saturating_add(1))
}
