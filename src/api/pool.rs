//! A small, bounded set of SQLite connections used off the async threads:
//! each store access waits for a permit, then runs on tokio's blocking pool
//! with a connection of its own.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::Semaphore;

use super::ApiError;
use crate::queue;

/// The connections of the API.
#[derive(Debug)]
pub struct Pool {
    db: PathBuf,
    busy_timeout: Duration,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
    wait: Duration,
}

impl Pool {
    /// Opens `size` connections to `db` (creating and migrating the store
    /// if needed), each with `busy_timeout`. Accesses wait at most `wait`
    /// for a connection.
    pub fn open(
        db: &Path,
        size: usize,
        busy_timeout: Duration,
        wait: Duration,
    ) -> Result<Pool, ApiError> {
        let size = size.max(1);
        let mut idle = Vec::with_capacity(size);
        for _ in 0..size {
            idle.push(Self::connect(db, busy_timeout).map_err(|e| match e {
                ApiError::Store(s) => ApiError::Open(s),
                other => other,
            })?);
        }
        Ok(Pool {
            db: db.to_path_buf(),
            busy_timeout,
            idle: Mutex::new(idle),
            permits: Arc::new(Semaphore::new(size)),
            wait,
        })
    }

    fn connect(db: &Path, busy_timeout: Duration) -> Result<Connection, ApiError> {
        let conn = queue::open_db(db).map_err(ApiError::Store)?;
        conn.busy_timeout(busy_timeout)
            .map_err(|e| ApiError::Store(e.into()))?;
        Ok(conn)
    }

    /// Runs `f` with a connection on a blocking thread.
    pub async fn run<T, F>(self: &Arc<Self>, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, ApiError> + Send + 'static,
    {
        let permit = tokio::time::timeout(self.wait, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| ApiError::Unavailable("all store connections are busy".into()))?
            .map_err(|_| ApiError::Unavailable("the store is closed".into()))?;
        let pool = Arc::clone(self);
        let job = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let taken = pool.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let mut conn = match taken {
                Some(c) => c,
                // A connection is lost only if a job panicked; replace it.
                None => Self::connect(&pool.db, pool.busy_timeout)?,
            };
            let out = f(&mut conn);
            pool.idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(conn);
            out
        });
        job.await
            .map_err(|e| ApiError::Internal(format!("store task failed: {e}")))?
    }
}
