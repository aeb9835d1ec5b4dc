//! The tamper-evident audit log (MLPS audit protection).
//!
//! Every state change and action appends one record; each record stores
//! `hash = sha256(prev_hash || canonical(record))` in hex, so editing,
//! deleting or reordering any record breaks the chain from that record on.
//! `audit_anchor` keeps the first record's expected `prev_hash` (a
//! checkpoint after pruning) and the head (last id and hash), so deleting
//! the newest records is detected too. [`verify`] walks the chain.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};

use super::StoreError;

/// Why the chain does not verify, and where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("audit record {record}: {reason}")]
pub struct AuditError {
    /// Id of the first bad record (or of the missing one).
    pub record: i64,
    /// What is wrong.
    pub reason: String,
}

/// Errors of [`verify_cli`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyCliError {
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The chain is broken.
    #[error("audit chain broken / 审计链校验失败: {0}")]
    Broken(#[from] AuditError),
}

fn field(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(s.as_bytes());
    out.push(b'|');
}

/// The hash of a record given its predecessor's hash.
pub fn record_hash(
    prev_hash: &str,
    id: i64,
    ts: i64,
    actor: &str,
    action: &str,
    incident_id: Option<i64>,
    detail: &str,
) -> String {
    let mut canon = Vec::with_capacity(64 + actor.len() + action.len() + detail.len());
    field(&mut canon, &id.to_string());
    field(&mut canon, &ts.to_string());
    field(&mut canon, actor);
    field(&mut canon, action);
    field(
        &mut canon,
        &incident_id.map_or(String::new(), |i| i.to_string()),
    );
    field(&mut canon, detail);
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(&canon);
    let d = h.finalize();
    let mut hex = String::with_capacity(64);
    for b in d {
        hex.push_str(&format!("{b:02x}"));
    }
    hex
}

/// Appends one record; the caller holds a write transaction. Returns its id.
pub fn append(
    conn: &Connection,
    ts: i64,
    actor: &str,
    action: &str,
    incident_id: Option<i64>,
    detail: &str,
) -> Result<i64, StoreError> {
    let (head_id, head_hash): (i64, String) = conn
        .prepare_cached("SELECT head_id, head_hash FROM audit_anchor WHERE one = 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let id = head_id
        .checked_add(1)
        .ok_or_else(|| StoreError::Schema("audit id overflow".into()))?;
    let hash = record_hash(&head_hash, id, ts, actor, action, incident_id, detail);
    conn.prepare_cached(
        "INSERT INTO audit (id, ts, actor, action, incident_id, detail, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        id,
        ts,
        actor,
        action,
        incident_id,
        detail,
        head_hash,
        hash
    ])?;
    conn.prepare_cached("UPDATE audit_anchor SET head_id = ?1, head_hash = ?2 WHERE one = 1")?
        .execute(params![id, hash])?;
    Ok(id)
}

/// Walks the whole chain. `Ok(n)`: `n` records, all intact. Otherwise the
/// first bad record and why (edited, deleted, reordered, or the head moved).
pub fn verify(conn: &Connection) -> Result<u64, AuditError> {
    let sql = |e: rusqlite::Error| AuditError {
        record: 0,
        reason: format!("cannot read the audit table: {e}"),
    };
    let (first_id, first_prev, head_id, head_hash): (i64, String, i64, String) = conn
        .query_row(
            "SELECT first_id, first_prev, head_id, head_hash FROM audit_anchor WHERE one = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()
        .map_err(sql)?
        .ok_or(AuditError {
            record: 0,
            reason: "audit anchor missing".into(),
        })?;
    let mut stmt = conn
        .prepare("SELECT id, ts, actor, action, incident_id, detail, prev_hash, hash FROM audit ORDER BY id")
        .map_err(sql)?;
    let mut rows = stmt.query([]).map_err(sql)?;
    let mut expect_id = first_id;
    let mut prev = first_prev;
    let mut n = 0u64;
    while let Some(r) = rows.next().map_err(sql)? {
        let id: i64 = r.get(0).map_err(sql)?;
        let bad = |reason: String| AuditError { record: id, reason };
        if id != expect_id {
            return Err(AuditError {
                record: expect_id,
                reason: format!("record missing (next present is {id})"),
            });
        }
        let ts: i64 = r.get(1).map_err(sql)?;
        let actor: String = r.get(2).map_err(sql)?;
        let action: String = r.get(3).map_err(sql)?;
        let incident: Option<i64> = r.get(4).map_err(sql)?;
        let detail: String = r.get(5).map_err(sql)?;
        let stored_prev: String = r.get(6).map_err(sql)?;
        let stored_hash: String = r.get(7).map_err(sql)?;
        if stored_prev != prev {
            return Err(bad(
                "prev_hash does not match the previous record (reordered or replaced)".into(),
            ));
        }
        let h = record_hash(&prev, id, ts, &actor, &action, incident, &detail);
        if h != stored_hash {
            return Err(bad("content does not match its hash (edited)".into()));
        }
        prev = stored_hash;
        expect_id = id.saturating_add(1);
        n += 1;
    }
    let last = expect_id.saturating_sub(1);
    if last != head_id || (n > 0 && prev != head_hash) {
        return Err(AuditError {
            record: last.saturating_add(1).min(head_id),
            reason: format!(
                "chain ends at {last} but the head is {head_id} (records deleted at the end)"
            ),
        });
    }
    Ok(n)
}

/// `zoneguard audit verify --db FILE`: a bilingual one-line verdict, or the
/// error naming the first bad record.
pub fn verify_cli(db: &Path) -> Result<String, VerifyCliError> {
    let conn = super::open_db(db)?;
    let n = verify(&conn)?;
    Ok(format!(
        "audit chain ok / 审计链完整: {n} records / 条记录 ({})",
        db.display()
    ))
}

/// `zoneguard audit verify --db FILE --json`: `{"ok": true, "records": N}`
/// or `{"ok": false, "record": ID, "reason": "..."}`; errors reading the
/// store are still errors.
pub fn verify_cli_json(db: &Path) -> Result<String, StoreError> {
    let conn = super::open_db(db)?;
    Ok(match verify(&conn) {
        Ok(n) => serde_json::json!({"ok": true, "records": n}),
        Err(e) => serde_json::json!({"ok": false, "record": e.record, "reason": e.reason}),
    }
    .to_string())
}

/// Removes the records older than `cutoff_ns` and anchors the chain at the
/// first record kept; the caller holds a write transaction.
pub(crate) fn prune_before(conn: &Connection, cutoff_ns: i64) -> Result<u64, StoreError> {
    let first_kept: Option<(i64, String)> = conn
        .query_row(
            "SELECT id, prev_hash FROM audit WHERE ts >= ?1 ORDER BY id LIMIT 1",
            [cutoff_ns],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (first_id, first_prev) = match first_kept {
        Some(x) => x,
        None => {
            // Everything is old: the checkpoint is the head itself.
            let (head_id, head_hash): (i64, String) = conn.query_row(
                "SELECT head_id, head_hash FROM audit_anchor WHERE one = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            (head_id.saturating_add(1), head_hash)
        }
    };
    let n = conn.execute("DELETE FROM audit WHERE id < ?1", [first_id])?;
    conn.execute(
        "UPDATE audit_anchor SET first_id = ?1, first_prev = ?2 WHERE one = 1",
        params![first_id, first_prev],
    )?;
    Ok(n as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        super::super::schema::migrate(&mut c).unwrap();
        for i in 0..n {
            append(
                &c,
                1000 + i,
                "alice",
                "ack",
                Some(i),
                &format!("detail {i}"),
            )
            .unwrap();
        }
        c
    }

    #[test]
    fn intact_chain_verifies() {
        assert_eq!(verify(&chain(0)), Ok(0));
        assert_eq!(verify(&chain(10)), Ok(10));
    }

    #[test]
    fn edited_record_is_named() {
        let c = chain(10);
        c.execute(
            "UPDATE audit SET detail = 'nothing happened' WHERE id = 4",
            [],
        )
        .unwrap();
        let e = verify(&c).unwrap_err();
        assert_eq!(e.record, 4);
        assert!(e.reason.contains("edited"));
        assert!(e.to_string().starts_with("audit record 4"));
    }

    #[test]
    fn deleted_record_is_named() {
        let c = chain(10);
        c.execute("DELETE FROM audit WHERE id = 6", []).unwrap();
        let e = verify(&c).unwrap_err();
        assert_eq!(e.record, 6);
        assert!(e.reason.contains("missing"));
    }

    #[test]
    fn deleted_tail_is_detected() {
        let c = chain(10);
        c.execute("DELETE FROM audit WHERE id >= 9", []).unwrap();
        let e = verify(&c).unwrap_err();
        assert_eq!(e.record, 9);
    }

    #[test]
    fn reordered_records_are_named() {
        let c = chain(10);
        // Swap the contents of records 3 and 5 (ids stay in order).
        c.execute_batch(
            "UPDATE audit SET id = -3 WHERE id = 3;
             UPDATE audit SET id = 3 WHERE id = 5;
             UPDATE audit SET id = 5 WHERE id = -3;",
        )
        .unwrap();
        let e = verify(&c).unwrap_err();
        assert_eq!(e.record, 3);
    }

    #[test]
    fn rehash_of_one_record_breaks_the_next() {
        let c = chain(5);
        let prev: String = c
            .query_row("SELECT prev_hash FROM audit WHERE id = 2", [], |r| r.get(0))
            .unwrap();
        let forged = record_hash(&prev, 2, 1001, "mallory", "ack", Some(1), "forged");
        c.execute(
            "UPDATE audit SET actor = 'mallory', detail = 'forged', hash = ?1 WHERE id = 2",
            [forged],
        )
        .unwrap();
        assert_eq!(verify(&c).unwrap_err().record, 3);
    }

    proptest::proptest! {
        /// Any single edit or deletion of any record is found, at that
        /// record.
        #[test]
        fn any_tampered_record_is_named(n in 2i64..40, pick in 0i64..1000, delete in proptest::bool::ANY, col in 0usize..4) {
            let c = chain(n);
            let id = 1 + pick % n;
            if delete {
                c.execute("DELETE FROM audit WHERE id = ?1", [id]).unwrap();
            } else {
                let sql = ["UPDATE audit SET ts = ts + 1 WHERE id = ?1",
                           "UPDATE audit SET actor = 'x' WHERE id = ?1",
                           "UPDATE audit SET incident_id = NULL WHERE id = ?1",
                           "UPDATE audit SET detail = detail || '.' WHERE id = ?1"][col];
                c.execute(sql, [id]).unwrap();
            }
            proptest::prop_assert_eq!(verify(&c).map_err(|e| e.record), Err(id));
        }
    }

    #[test]
    fn pruning_keeps_the_chain_verifiable() {
        let c = chain(10);
        assert_eq!(prune_before(&c, 1004).unwrap(), 4);
        assert_eq!(verify(&c), Ok(6));
        append(&c, 2000, "bob", "comment", None, "after prune").unwrap();
        assert_eq!(verify(&c), Ok(7));
        assert_eq!(prune_before(&c, 9999).unwrap(), 7);
        assert_eq!(verify(&c), Ok(0));
        append(&c, 10_000, "bob", "comment", None, "x").unwrap();
        assert_eq!(verify(&c), Ok(1));
    }
}
