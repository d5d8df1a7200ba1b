//! What `lanceur check` judges by permissions alone, so that checking creates nothing: the state
//! folder (there and writable, or creatable by this user) and the `--log-file` (can be appended
//! to). On Windows, where permissions are ACLs that only the system weighs, by trying instead: a
//! temporary file created in the folder and removed at once, a log file opened for appending and
//! closed without a byte written.

use std::path::Path;

use anyhow::{anyhow, Result};

use super::{Problem, StateSection};
use crate::exit::Failure;
use crate::lock;
use crate::settings::Launcher;

/// The state folder: there and writable, or creatable by this user. Judged by permissions, so that
/// checking creates nothing.
pub(super) fn state_section(launcher: &Launcher) -> StateSection {
    let path = &launcher.state_dir;
    let exists = path.is_dir();
    // "not writable by this user" would send the administrator to chmod; a read-only file system
    // needs a remount instead.
    let why = |err: &anyhow::Error, fallback: String| match err
        .downcast_ref::<std::io::Error>()
        .and_then(crate::durable::write_problem)
    {
        Some(problem) => problem.to_string(),
        None => fallback,
    };
    let error = if exists {
        writable_folder(path).map_err(|err| {
            let why = why(&err, format!("it is not writable by this user ({err})"));
            anyhow!(
                "state folder {}: {why}; give --state-dir a writable folder",
                path.display()
            )
        })
    } else {
        let ancestor = path.ancestors().skip(1).find(|p| p.exists());
        match ancestor {
            Some(ancestor) => writable_folder(ancestor).map_err(|err| {
                let why = why(
                    &err,
                    format!(
                        "{} is not writable by this user ({err})",
                        ancestor.display()
                    ),
                );
                anyhow!(
                    "cannot create state folder {}: {why}; give --state-dir a writable folder",
                    path.display()
                )
            }),
            None => Err(anyhow!("no folder above state folder {}", path.display())),
        }
    };
    StateSection {
        path: path.clone(),
        exists,
        journal_entries: None,
        unfinished: None,
        run_in_progress: exists.then(|| lock::holder(path)).flatten(),
        error: error
            .map_err(|err| err.context(Failure::Cold))
            .err()
            .map(|err| Problem::new(&err)),
    }
}

/// Whether a run could open `path` for appending (it exists and is writable, or its folder lets it
/// be created), without opening it.
pub(super) fn may_append(path: &Path) -> Result<()> {
    let verdict = if path.exists() {
        if path.is_dir() {
            Err(anyhow!("it is a folder"))
        } else {
            writable(path)
        }
    } else {
        match path.parent().filter(|p| p.is_dir()) {
            Some(folder) => writable_folder(folder),
            None => Err(anyhow!("its folder does not exist")),
        }
    };
    verdict.map_err(|err| {
        anyhow!(
            "cannot open --log-file {} for appending ({err}); give a file in a folder this user \
             can write to",
            path.display()
        )
        .context(Failure::Usage)
    })
}

#[cfg(unix)]
fn writable(path: &Path) -> Result<()> {
    use rustix::fs::{access, Access};
    Ok(access(path, Access::WRITE_OK).map_err(std::io::Error::from)?)
}

#[cfg(unix)]
fn writable_folder(path: &Path) -> Result<()> {
    use rustix::fs::{access, Access};
    Ok(access(path, Access::WRITE_OK | Access::EXEC_OK).map_err(std::io::Error::from)?)
}

// By trying (see the module's opening): permissions there are ACLs that only the system weighs.
#[cfg(not(unix))]
fn writable(path: &Path) -> Result<()> {
    std::fs::OpenOptions::new().append(true).open(path)?;
    Ok(())
}

#[cfg(not(unix))]
fn writable_folder(path: &Path) -> Result<()> {
    let modified = std::fs::metadata(path)?.modified().ok();
    // Removed when dropped.
    tempfile::Builder::new()
        .prefix(".lanceur-check-")
        .suffix(".tmp")
        .tempfile_in(path)?;
    // A file created and removed moves the folder's time, which a check must not change: it is
    // put back when this user may.
    #[cfg(windows)]
    if let Some(modified) = modified {
        use std::os::windows::fs::OpenOptionsExt;
        const FILE_WRITE_ATTRIBUTES: u32 = 0x100;
        const FILE_FLAG_BACKUP_SEMANTICS: u32 = 0x0200_0000;
        let folder = std::fs::OpenOptions::new()
            .access_mode(FILE_WRITE_ATTRIBUTES)
            .custom_flags(FILE_FLAG_BACKUP_SEMANTICS)
            .open(path);
        if let Ok(folder) = folder {
            let _ = folder.set_modified(modified);
        }
    }
    #[cfg(not(windows))]
    let _ = modified;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit;

    #[test]
    fn a_log_file_is_judged_without_being_created() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = dir.path().join("run.jsonl");
        may_append(&fresh).unwrap();
        assert!(!fresh.exists());
        let err = may_append(&dir.path().join("missing/run.jsonl")).unwrap_err();
        assert_eq!(exit::code_for(&err), exit::USAGE);
        assert!(may_append(dir.path()).is_err(), "a folder is no log file");
    }
}
