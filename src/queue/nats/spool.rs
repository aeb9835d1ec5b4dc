//! The publisher's spool: alerts that do not fit the memory buffer while
//! NATS is slow or unreachable, and those still unacknowledged when the
//! publisher closes, wait here (SQLite, WAL, `synchronous=FULL`) for the
//! next connection. A row is deleted only after JetStream acknowledged the
//! message; a row re-sent after a crash between acknowledgement and
//! deletion carries its original `Nats-Msg-Id`, so JetStream's duplicate
//! window or the central's ledger drops the copy.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection};

use super::NatsError;

/// One spooled message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spooled {
    /// Row id (for [`Spool::remove`]).
    pub row: i64,
    /// `Nats-Msg-Id`.
    pub msg_id: String,
    /// Subject to publish on.
    pub subject: String,
    /// The wire JSON.
    pub payload: Vec<u8>,
}

/// The spool file.
pub struct Spool {
    conn: Connection,
    path: PathBuf,
    /// Highest row handed out by [`Spool::take`] (rows above it are new).
    cursor: i64,
}

impl Spool {
    fn err(&self, e: impl std::fmt::Display) -> NatsError {
        NatsError::Spool {
            path: self.path.display().to_string(),
            reason: e.to_string(),
        }
    }

    /// Opens (creating) the spool table in `path` (may be the sensor's
    /// incident store: the table is its own).
    pub fn open(path: &Path) -> Result<Spool, NatsError> {
        let err = |e: rusqlite::Error| NatsError::Spool {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        let conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=FULL;
             CREATE TABLE IF NOT EXISTS nats_spool (
                row INTEGER PRIMARY KEY AUTOINCREMENT,
                msg_id TEXT NOT NULL UNIQUE,
                subject TEXT NOT NULL,
                payload BLOB NOT NULL
             );",
        )
        .map_err(err)?;
        Ok(Spool {
            conn,
            path: path.to_path_buf(),
            cursor: 0,
        })
    }

    /// Rows in the spool.
    pub fn len(&self) -> Result<u64, NatsError> {
        let n: i64 = self
            .conn
            .query_row("SELECT count(*) FROM nats_spool", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// True when the spool holds nothing.
    pub fn is_empty(&self) -> Result<bool, NatsError> {
        Ok(self.len()? == 0)
    }

    /// Writes messages in one transaction; returns how many were new.
    pub fn put<'a>(
        &mut self,
        items: impl IntoIterator<Item = (&'a str, &'a str, &'a [u8])>,
    ) -> Result<u64, NatsError> {
        let path = self.path.display().to_string();
        let err = |e: rusqlite::Error| NatsError::Spool {
            path: path.clone(),
            reason: e.to_string(),
        };
        let tx = self.conn.transaction().map_err(err)?;
        let mut n = 0;
        {
            let mut st = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO nats_spool (msg_id, subject, payload) VALUES (?1, ?2, ?3)",
                )
                .map_err(err)?;
            for (id, subject, payload) in items {
                n += st.execute(params![id, subject, payload]).map_err(err)? as u64;
            }
        }
        tx.commit().map_err(err)?;
        Ok(n)
    }

    /// Up to `max` rows not handed out before, oldest first.
    pub fn take(&mut self, max: usize) -> Result<Vec<Spooled>, NatsError> {
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        let rows = {
            let mut st = self
                .conn
                .prepare_cached(
                    "SELECT row, msg_id, subject, payload FROM nats_spool WHERE row > ?1 ORDER BY row LIMIT ?2",
                )
                .map_err(|e| self.err(e))?;
            let it = st
                .query_map(params![self.cursor, max], |r| {
                    Ok(Spooled {
                        row: r.get(0)?,
                        msg_id: r.get(1)?,
                        subject: r.get(2)?,
                        payload: r.get(3)?,
                    })
                })
                .map_err(|e| self.err(e))?;
            it.collect::<Result<Vec<_>, _>>()
        }
        .map_err(|e| self.err(e))?;
        if let Some(last) = rows.last() {
            self.cursor = last.row;
        }
        Ok(rows)
    }

    /// Deletes acknowledged rows in one transaction.
    pub fn remove(&mut self, rows: &[i64]) -> Result<(), NatsError> {
        if rows.is_empty() {
            return Ok(());
        }
        let path = self.path.display().to_string();
        let err = |e: rusqlite::Error| NatsError::Spool {
            path: path.clone(),
            reason: e.to_string(),
        };
        let tx = self.conn.transaction().map_err(err)?;
        {
            let mut st = tx
                .prepare_cached("DELETE FROM nats_spool WHERE row = ?1")
                .map_err(err)?;
            for r in rows {
                st.execute([r]).map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    /// Forgets what was handed out, so rows not removed are taken again
    /// (after a failed send was put back in the spool's order).
    pub fn rewind(&mut self) {
        self.cursor = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_take_remove_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("spool.db");
        let mut s = Spool::open(&p).unwrap();
        assert!(s.is_empty().unwrap());
        let n = s
            .put([
                ("a.r.1", "x.a", &b"one"[..]),
                ("a.r.2", "x.a", &b"two"[..]),
                ("a.r.1", "x.a", &b"one"[..]),
            ])
            .unwrap();
        assert_eq!(n, 2);
        let got = s.take(1).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].payload, b"one");
        let got2 = s.take(10).unwrap();
        assert_eq!(got2.len(), 1);
        assert_eq!(got2[0].msg_id, "a.r.2");
        assert!(s.take(10).unwrap().is_empty());
        s.remove(&[got[0].row]).unwrap();
        drop(s);
        let mut s = Spool::open(&p).unwrap();
        assert_eq!(s.len().unwrap(), 1);
        assert_eq!(s.take(10).unwrap()[0].msg_id, "a.r.2");
    }
}
