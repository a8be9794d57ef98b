//! One run at a time per tracking database and target: a lock file next to the
//! tracking database, locked by the OS for as long as the run's process lives (a
//! killed run's lock is released with it), holding who took it (command, pid,
//! start time) so that a second run can say who is working.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Who holds a lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    /// The command (`upload`, `verify`, ...).
    pub command: String,
    /// Its process id.
    pub pid: u32,
    /// When it took the lock.
    pub started_at: DateTime<Utc>,
    /// The target it works on.
    pub target: String,
}

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` (pid {}) since {}",
            self.command,
            self.pid,
            self.started_at.format("%Y-%m-%d %H:%M:%S UTC")
        )
    }
}

/// A held lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
}

/// The lock file of `target` for the tracking database at `tracking`:
/// `.{file name}.fitsbak-{tag}.lock` beside it, the tag a CRC32C of the target.
pub fn lock_path(tracking: &Path, target: &str) -> PathBuf {
    let name = tracking
        .file_name()
        .map_or_else(|| "fitsbak".into(), |n| n.to_string_lossy().into_owned());
    let tag = crate::checksum::crc32c(target.as_bytes());
    tracking
        .parent()
        .unwrap_or(Path::new("."))
        .join(format!(".{name}.fitsbak-{tag:08x}.lock"))
}

fn read_holder(file: &mut File) -> Option<LockHolder> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

impl RunLock {
    /// Takes the lock at `path` for `holder`; when another run holds it, waits up
    /// to `wait` (not at all when `None`), then fails with [`Error::Locked`] naming
    /// that run.
    pub fn acquire(path: &Path, holder: &LockHolder, wait: Option<Duration>) -> Result<Self> {
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| Error::io(path.to_owned(), e))?;
        let deadline = wait.map(|w| std::time::Instant::now() + w);
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) => {
                    if deadline.is_some_and(|d| std::time::Instant::now() < d) {
                        std::thread::sleep(Duration::from_millis(200));
                        continue;
                    }
                    let other = read_holder(&mut file).map_or_else(
                        || "a run that has not said who it is".into(),
                        |h| h.to_string(),
                    );
                    return Err(Error::Locked {
                        target: holder.target.clone(),
                        holder: other,
                        path: path.to_owned(),
                    });
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(path.to_owned(), e)),
            }
        }
        if let Some(stale) = read_holder(&mut file) {
            tracing::info!(
                "a run that ended without releasing its lock left {}: {stale}",
                path.display()
            );
        }
        let text = serde_json::to_string(holder).expect("a holder serialises");
        let written = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(text.as_bytes()))
            .and_then(|()| file.flush());
        written.map_err(|e| Error::io(path.to_owned(), e))?;
        Ok(Self {
            file,
            path: path.to_owned(),
        })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Said who held it, now says nobody does; the OS releases the lock itself.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(command: &str) -> LockHolder {
        LockHolder {
            command: command.into(),
            pid: std::process::id(),
            started_at: crate::time::now(),
            target: "s3://b".into(),
        }
    }

    #[test]
    fn a_second_run_is_told_who_holds_the_lock_and_gets_it_once_released() {
        let dir = tempfile::tempdir().unwrap();
        let path = lock_path(&dir.path().join("fits_catalog.db"), "s3://b");
        let first = RunLock::acquire(&path, &holder("upload"), None).unwrap();
        let err = RunLock::acquire(&path, &holder("verify"), None).unwrap_err();
        match &err {
            Error::Locked { holder, .. } => assert!(holder.contains("`upload` (pid"), "{err}"),
            other => panic!("{other:?}"),
        }
        drop(first);
        let again = RunLock::acquire(&path, &holder("verify"), None).unwrap();
        assert_eq!(again.path(), path);
    }

    #[test]
    fn locks_of_other_targets_do_not_meet() {
        let db = Path::new("/data/fits_catalog.db");
        assert_ne!(lock_path(db, "s3://a"), lock_path(db, "local:/x"));
        assert!(lock_path(db, "s3://a").starts_with("/data"));
    }

    #[test]
    fn a_waiting_run_gets_the_lock_when_the_first_ends() {
        let dir = tempfile::tempdir().unwrap();
        let path = lock_path(&dir.path().join("db"), "t");
        let first = RunLock::acquire(&path, &holder("upload"), None).unwrap();
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            drop(first);
        });
        RunLock::acquire(&path, &holder("upload"), Some(Duration::from_secs(10))).unwrap();
        release.join().unwrap();
    }
}
