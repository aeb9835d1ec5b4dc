//! An append-only log file that rotates by size and age and reopens on
//! request (after logrotate moved it), for the daemon's `eve.json`.
//!
//! Rotation renames `eve.json` to `eve.json.<UTC time>` and starts a new
//! file; at most `keep` rotated files are kept. A failed write (disk full)
//! is returned to the caller, which counts the records it carried; the
//! next write tries again, so output resumes by itself once space is
//! freed.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// When to rotate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RotatePolicy {
    /// Rotate past this many bytes (0: never).
    pub max_bytes: u64,
    /// Rotate when the file is this old (zero: never).
    pub max_age: Duration,
    /// Rotated files kept.
    pub keep: u32,
}

/// Shared controls of a [`RotatingFile`]: ask it to reopen its path, and
/// read how often it rotated.
#[derive(Debug, Default)]
pub struct RotateControl {
    reopen: AtomicBool,
    rotations: AtomicU64,
    reopens: AtomicU64,
    discarded_bytes: AtomicU64,
}

impl RotateControl {
    /// Asks the file to close and reopen its path before the next write
    /// (SIGHUP after logrotate).
    pub fn request_reopen(&self) {
        self.reopen.store(true, Ordering::Release);
    }

    /// Rotations so far.
    pub fn rotations(&self) -> u64 {
        self.rotations.load(Ordering::Relaxed)
    }

    /// Reopens so far.
    pub fn reopens(&self) -> u64 {
        self.reopens.load(Ordering::Relaxed)
    }

    /// Buffered bytes thrown away after a failed write (disk full).
    pub fn discarded_bytes(&self) -> u64 {
        self.discarded_bytes.load(Ordering::Relaxed)
    }
}

/// A file written through a buffer that rotates by [`RotatePolicy`].
#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    out: Option<BufWriter<File>>,
    written: u64,
    opened: Instant,
    policy: RotatePolicy,
    control: Arc<RotateControl>,
}

impl RotatingFile {
    /// Drops the buffer after a failed write: its bytes are lost (and
    /// counted), and the file is reopened before the next write so that a
    /// half-written buffer is never appended after newer records.
    fn fail(&mut self, e: io::Error) -> io::Error {
        if let Some(o) = self.out.take() {
            let (_file, buf) = o.into_parts();
            let n = buf.map_or_else(|p| p.into_inner().len(), |b| b.len());
            self.control
                .discarded_bytes
                .fetch_add(n as u64, Ordering::Relaxed);
        }
        e
    }
}

fn open_append(path: &Path) -> io::Result<(BufWriter<File>, u64)> {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(path)?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    // A line cut short by an earlier failed write (disk full) is ended, so
    // the next record starts on its own line and readers can skip the bad
    // one.
    if len > 0 && !ends_with_newline(&mut f, len) {
        f.write_all(b"\n")?;
    }
    Ok((BufWriter::with_capacity(1 << 20, f), len))
}

fn ends_with_newline(f: &mut File, len: u64) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let mut last = [0u8; 1];
    let ok = f.seek(SeekFrom::Start(len - 1)).is_ok() && f.read_exact(&mut last).is_ok();
    // not a regular file (a pipe, /dev/full): nothing to repair
    !ok || last[0] == b'\n'
}

impl RotatingFile {
    /// Opens `path` for appending (an existing file is continued, never
    /// truncated: a restart must not erase records).
    pub fn open(path: &Path, policy: RotatePolicy) -> io::Result<(Self, Arc<RotateControl>)> {
        let (out, written) = open_append(path)?;
        let control = Arc::new(RotateControl::default());
        Ok((
            RotatingFile {
                path: path.to_path_buf(),
                out: Some(out),
                written,
                opened: Instant::now(),
                policy,
                control: Arc::clone(&control),
            },
            control,
        ))
    }

    fn due(&self) -> bool {
        (self.policy.max_bytes > 0 && self.written >= self.policy.max_bytes)
            || (!self.policy.max_age.is_zero() && self.opened.elapsed() >= self.policy.max_age)
    }

    fn reopen(&mut self) -> io::Result<()> {
        if let Some(mut o) = self.out.take() {
            // a failure to flush the old file is reported; its buffer is
            // dropped with it
            o.flush()?;
        }
        let (out, written) = open_append(&self.path)?;
        self.out = Some(out);
        self.written = written;
        self.opened = Instant::now();
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        if let Some(o) = self.out.as_mut() {
            o.flush()?;
        }
        self.out = None;
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "eve.json".to_string());
        let rotated = self.path.with_file_name(format!("{name}.{stamp}"));
        std::fs::rename(&self.path, &rotated)?;
        self.control.rotations.fetch_add(1, Ordering::Relaxed);
        self.prune(&name);
        self.reopen()
    }

    /// Deletes the oldest rotated files beyond `keep`.
    fn prune(&self, name: &str) {
        let Some(dir) = self.path.parent() else {
            return;
        };
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let prefix = format!("{name}.");
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        let mut old: Vec<PathBuf> = rd
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&prefix))
            })
            .collect();
        // the time stamps sort as text
        old.sort();
        let excess = old.len().saturating_sub(self.policy.keep as usize);
        for p in old.into_iter().take(excess) {
            if let Err(e) = std::fs::remove_file(&p) {
                tracing::warn!("cannot delete rotated file {}: {e}", p.display());
            }
        }
    }
}

impl RotatingFile {
    fn try_write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.control.reopen.swap(false, Ordering::AcqRel) {
            self.control.reopens.fetch_add(1, Ordering::Relaxed);
            self.reopen()?;
        } else if self.due() {
            self.rotate()?;
        }
        if self.out.is_none() {
            self.reopen()?;
        }
        let out = self
            .out
            .as_mut()
            .ok_or_else(|| io::Error::other("file not open"))?;
        let n = out.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.try_write(buf).map_err(|e| self.fail(e))
    }

    fn flush(&mut self) -> io::Result<()> {
        let r = match self.out.as_mut() {
            Some(o) => o.flush(),
            None => Ok(()),
        };
        r.map_err(|e| self.fail(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(p: &Path) -> usize {
        std::fs::read_to_string(p).map_or(0, |s| s.lines().count())
    }

    #[test]
    fn rotates_by_size_and_keeps_n() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("eve.json");
        let (mut f, ctl) = RotatingFile::open(
            &path,
            RotatePolicy {
                max_bytes: 100,
                max_age: Duration::ZERO,
                keep: 2,
            },
        )
        .unwrap();
        for i in 0..50 {
            writeln!(f, "{{\"n\":{i:04}}}").unwrap();
            // rotated names carry milliseconds: keep them distinct
            std::thread::sleep(Duration::from_millis(2));
        }
        f.flush().unwrap();
        assert!(ctl.rotations() >= 5, "rotations {}", ctl.rotations());
        let rotated: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("eve.json."))
            .collect();
        assert_eq!(rotated.len(), 2);
        assert!(lines(&path) > 0);
    }

    #[test]
    fn reopen_follows_logrotate_and_append_never_truncates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("eve.json");
        std::fs::write(&path, "old\n").unwrap();
        let (mut f, ctl) = RotatingFile::open(&path, RotatePolicy::default()).unwrap();
        writeln!(f, "a").unwrap();
        f.flush().unwrap();
        assert_eq!(lines(&path), 2, "existing records kept");
        // logrotate moves the file away, then sends SIGHUP
        let moved = dir.path().join("eve.json.1");
        std::fs::rename(&path, &moved).unwrap();
        writeln!(f, "b").unwrap();
        f.flush().unwrap();
        assert_eq!(lines(&moved), 3, "written to the moved file until reopen");
        ctl.request_reopen();
        writeln!(f, "c").unwrap();
        f.flush().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "c\n");
        assert_eq!(ctl.reopens(), 1);
    }

    #[test]
    fn full_disk_errors_then_recovers() {
        // /dev/full: every write fails with ENOSPC
        if !Path::new("/dev/full").exists() {
            return;
        }
        let (mut f, _ctl) =
            RotatingFile::open(Path::new("/dev/full"), RotatePolicy::default()).unwrap();
        // buffered, then the flush fails: the buffer is dropped and counted
        f.write_all(b"{\"n\":1}\n").unwrap();
        assert!(f.flush().is_err());
        assert_eq!(_ctl.discarded_bytes(), 8);
        // the next write opens the file again and tries again
        f.write_all(b"{\"n\":2}\n").unwrap();
        assert!(f.flush().is_err());
        assert_eq!(_ctl.discarded_bytes(), 16);
    }
}
