//! One run per launcher at a time.
//!
//! cron starts a launcher every few minutes whether or not the previous run is over; a first run on a
//! big mailbox can take longer than that. The lock is an advisory lock (`flock` on Unix, `LockFileEx`
//! on Windows) on a file in the launcher's state folder. The operating system releases it when the
//! process ends in any way, `kill -9` and power cuts included, so a stale lock cannot exist and no
//! "remove the lock file" step is ever needed. The file holds the holder's pid and start time, only so
//! the second run can say who holds it.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::time::SystemTime;

use anyhow::{anyhow, Context, Result};

use crate::exit::Failure;

/// Held for the whole run; dropping it releases the lock.
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

/// Takes the lock of the launcher whose state folder is `state_dir`, or fails at once with
/// `Failure::Locked`.
pub fn acquire(state_dir: &Path) -> Result<Lock> {
    let path = state_dir.join("lock");
    let mut file = crate::private::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|err| {
            let message = crate::durable::write_context(
                format!("cannot open lock file {}", path.display()),
                &err,
            );
            anyhow::Error::new(err).context(message)
        })
        .context(Failure::Cold)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let who = if holder.is_empty() {
                String::new()
            } else {
                format!(" ({holder})")
            };
            return Err(anyhow!(
                "another run of this launcher is still working{who}; this run does nothing"
            ))
            .context(Failure::Locked);
        }
        Err(std::fs::TryLockError::Error(err)) => {
            return Err(err)
                .with_context(|| format!("cannot lock {}", path.display()))
                .context(Failure::Cold)
        }
    }
    // Informational only: not synced, and a failure to write it does not matter.
    let started = humantime::format_rfc3339_seconds(SystemTime::now());
    let _ = file.set_len(0);
    let _ = write!(file, "pid {} since {started}", std::process::id());
    Ok(Lock { _file: file })
}

/// Whether a run of the launcher whose state folder is `state_dir` holds its lock now, and who
/// (`pid 4242 since …`), for `lanceur check`: asked with a shared lock, taken and let go at once,
/// on the lock file opened read-only, so that asking creates and changes nothing.
pub fn holder(state_dir: &Path) -> Option<String> {
    let mut file = File::open(state_dir.join("lock")).ok()?;
    match file.try_lock_shared() {
        Ok(()) => None,
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            Some(if holder.is_empty() {
                "another run".to_string()
            } else {
                holder.to_string()
            })
        }
        Err(std::fs::TryLockError::Error(err)) => {
            log::debug!("cannot tell whether a run holds the lock: {err}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = acquire(dir.path()).unwrap();
        let err = acquire(dir.path()).unwrap_err();
        assert_eq!(crate::exit::code_for(&err), crate::exit::LOCKED);
        assert!(format!("{err:#}").contains(&format!("pid {}", std::process::id())));
        let held = holder(dir.path()).expect("the lock is held");
        assert!(
            held.starts_with(&format!("pid {} since ", std::process::id())),
            "{held}"
        );
        drop(first);
        assert_eq!(holder(dir.path()), None);
        acquire(dir.path()).unwrap();
    }
}
