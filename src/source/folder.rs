//! What every source that reads a local or network folder shares: the rules that keep a launcher
//! from taking a file that is still being written, and the checks on the folders it is given.
//!
//! A scanner, an SMB copy, an FTP upload or a Pastell depot connector writes for a while, and a file
//! taken half-way is a document lost. So a file is passed over when its name says "in progress"
//! (`*.part`, `*.filepart`, `*.crdownload`, `*.tmp`, `~$*`), when it is hidden or system clutter,
//! and when it changed less than `--min-age` ago; and just before it is taken, its size and
//! modification time must still be those seen when it was listed (`Snapshot::check_unchanged`).
//!
//! What such a source cannot take as it stands (a file no envelope names, an envelope waiting for
//! files that never come, a file it cannot read) is never left in silence: `Grace` gives it
//! `--grace-period` to sort itself out, the time for the rest of an envelope to arrive or for a copy
//! to let go of its lock; past that, every run names it as a problem and exits 1.
//!
//! Used by `dir` (one file, one item) and `adullact` (an envelope of files, one item).

use std::fs::{self, FileType, Metadata};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Context, Result};

use crate::exit::Failure;
use crate::item::{ItemError, Pass, Skipped};
pub use crate::names::is_clutter;

/// Checks, before anything is read, that the source folder is there (exit code 4 otherwise: a
/// missing folder is usually a share that is not mounted).
pub fn check_source_folder(folder: &Path) -> Result<()> {
    match fs::metadata(folder) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(anyhow!("{} is not a folder", folder.display())).context(Failure::Source),
        Err(err) => Err(err)
            .with_context(|| {
                format!(
                    "source folder {} is not reachable (is the share mounted?)",
                    folder.display()
                )
            })
            .context(Failure::Source),
    }
}

/// Checks that a folder given as `flag` (`--archive`, `--failed`) exists: lanceur does not create
/// it, since a typo would otherwise scatter files in a folder nobody watches.
pub fn check_target_folder(folder: &Path, flag: &str) -> Result<()> {
    if !folder.is_dir() {
        return Err(anyhow!(
            "{} folder {} does not exist; create it or fix --{}",
            flag,
            folder.display(),
            flag
        ))
        .context(Failure::Usage);
    }
    Ok(())
}

/// Whether `path` is `folder`, comparing real paths so a symlinked spelling is recognised too.
pub fn is_same_folder(folder: &Path, path: &Path) -> bool {
    folder == path || folder.canonicalize().ok().as_deref() == path.canonicalize().ok().as_deref()
}

/// Why a name is passed over without looking at the file, if it is.
pub fn passed_over_by_name(name: &str) -> Option<&'static str> {
    let lower = name.to_lowercase();
    if is_hidden(name) {
        return Some("hidden file");
    }
    if lower.starts_with("~$") {
        return Some("office lock file");
    }
    if is_clutter(&lower) {
        return Some("system file");
    }
    const IN_PROGRESS: [&str; 6] = [
        ".part",
        ".filepart",
        ".crdownload",
        ".tmp",
        ".partial",
        ".download",
    ];
    if IN_PROGRESS.iter().any(|ext| lower.ends_with(ext)) {
        return Some("temporary name of a file still being written");
    }
    None
}

/// Why an entry is refused as a link, if it is one: lanceur never follows a link out of the
/// folders it is given. On Windows that is any reparse point standing for another name (symbolic
/// links, junctions), which the standard library reports as a link; other reparse points
/// (deduplicated, cloud or compressed files) hold the file's own content and are files.
pub fn link_reason(file_type: &FileType) -> Option<&'static str> {
    file_type.is_symlink().then_some(if cfg!(windows) {
        "a link (symbolic link or junction), not a file"
    } else {
        "a symbolic link, not a file"
    })
}

pub fn is_hidden(name: &str) -> bool {
    name.starts_with('.')
}

#[cfg(windows)]
pub fn is_hidden_by_attribute(meta: &Metadata) -> bool {
    use std::os::windows::fs::MetadataExt;
    const FILE_ATTRIBUTE_HIDDEN: u32 = 0x2;
    const FILE_ATTRIBUTE_SYSTEM: u32 = 0x4;
    meta.file_attributes() & (FILE_ATTRIBUTE_HIDDEN | FILE_ATTRIBUTE_SYSTEM) != 0
}

#[cfg(not(windows))]
pub fn is_hidden_by_attribute(_meta: &Metadata) -> bool {
    false
}

/// The reason to leave a file alone that changed at `modified`, if it is younger than `min_age`.
pub fn too_young(now: SystemTime, modified: SystemTime, min_age: Duration) -> Option<String> {
    let age = now.duration_since(modified).unwrap_or(Duration::ZERO);
    (age < min_age).then(|| {
        format!(
            "changed {} ago, less than --min-age {}; may still be written",
            humantime::format_duration(round_to_secs(age)),
            humantime::format_duration(min_age)
        )
    })
}

/// How long something a folder source cannot take may stay unchanged before each run reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grace(pub Duration);

impl Grace {
    /// `label` is not taken because of `reason`, and has not changed since `changed`: waiting while
    /// that is recent, overdue (a problem of the run) once it is older than the grace period.
    pub fn waiting(
        &self,
        now: SystemTime,
        label: &str,
        reason: &str,
        changed: SystemTime,
    ) -> Skipped {
        let age = now.duration_since(changed).unwrap_or(Duration::ZERO);
        if age < self.0 {
            return Skipped {
                label: label.to_string(),
                reason: reason.to_string(),
                pass: Pass::Waiting,
            };
        }
        Skipped {
            label: label.to_string(),
            reason: format!("{reason}; so for {}", self.past(age)),
            pass: Pass::Overdue,
        }
    }

    /// The error for `snapshot`, which cannot be opened for reading: not ready while it changed
    /// recently (a copy may still hold it), failed once it has been so for longer than the grace.
    /// A file another program holds open (Windows' sharing violation) is said to be so, since
    /// closing that program is the remedy.
    pub fn unreadable(
        &self,
        now: SystemTime,
        snapshot: &Snapshot,
        err: std::io::Error,
    ) -> ItemError {
        let age = now
            .duration_since(snapshot.modified)
            .unwrap_or(Duration::ZERO);
        let (what, remedy) = if crate::durable::is_in_use(&err) {
            (
                format!(
                    "{} is open in another program, which may still be writing it ({err})",
                    snapshot.relative
                ),
                "close the program that holds it open",
            )
        } else {
            (
                format!("{} cannot be read ({err})", snapshot.relative),
                "give this user read access, or close what holds it open",
            )
        };
        if age < self.0 {
            return ItemError::not_ready(anyhow!("{what}; left for a later run"));
        }
        ItemError::failed(anyhow!("{what}, and so for {}; {remedy}", self.past(age)))
    }

    fn past(&self, age: Duration) -> String {
        format!(
            "{}, longer than --grace-period {}",
            humantime::format_duration(round_to_secs(age)),
            humantime::format_duration(self.0)
        )
    }
}

/// What listing saw of a file, checked again before the file is taken or removed.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub path: PathBuf,
    /// Path relative to the source folder, `/`-separated, for messages.
    pub relative: String,
    pub size: u64,
    pub modified: SystemTime,
}

impl Snapshot {
    pub fn new(path: PathBuf, relative: String, meta: &Metadata) -> Snapshot {
        Snapshot {
            path,
            relative,
            size: meta.len(),
            modified: meta.modified().unwrap_or(UNIX_EPOCH),
        }
    }

    /// Fails with `NotReady` unless `meta` (taken now) shows the size and time seen at listing.
    pub fn check_unchanged(&self, meta: &Metadata) -> Result<(), ItemError> {
        let modified = meta.modified().unwrap_or(UNIX_EPOCH);
        if meta.len() != self.size || modified != self.modified {
            return Err(ItemError::not_ready(anyhow!(
                "{} changed since it was listed (size {} → {}); it may still be written, left for a later run",
                self.relative,
                self.size,
                meta.len()
            )));
        }
        Ok(())
    }

    /// Stats the file again and checks it; a file gone since listing, or open in another program
    /// that may be writing it, is `NotReady` too.
    pub fn check_still_there(&self) -> Result<(), ItemError> {
        let meta = fs::metadata(&self.path)
            .with_context(|| format!("{} vanished after it was listed", self.relative))
            .map_err(ItemError::not_ready)?;
        self.check_unchanged(&meta)
    }

    /// Checks that the file can be opened for reading, as the deposit will: a file whose
    /// permissions keep this user out, or that another program holds open without sharing it, is
    /// not ready, then failed past the grace period.
    ///
    /// On Windows a program writing a file usually keeps others from writing it too, and a
    /// scanner or a copy may refuse every other access: the file is opened here refusing to share
    /// it with a writer, which fails while anyone has it open for writing (sharing violation, os
    /// error 32; a locked range, 33), so that a file still being written waits for a later run.
    /// Unix has no such thing; size and time tell there.
    pub fn check_readable(&self, grace: &Grace, now: SystemTime) -> Result<(), ItemError> {
        let mut options = fs::OpenOptions::new();
        options.read(true);
        #[cfg(windows)]
        {
            use std::os::windows::fs::OpenOptionsExt;
            const FILE_SHARE_READ: u32 = 0x1;
            options.share_mode(FILE_SHARE_READ);
        }
        match options.open(&self.path) {
            Ok(_) => Ok(()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Err(ItemError::not_ready(
                anyhow!("{} vanished after it was listed", self.relative),
            )),
            Err(err) => Err(grace.unreadable(now, self, err)),
        }
    }

    pub fn name(&self) -> String {
        crate::durable::file_name(&self.path)
    }
}

/// Puts back what a folder source moved to `--failed` when it set an item aside: `place` holds the
/// (where it is now, where it was) pairs its `set_aside` returned. Nothing to do without a place
/// (the item stayed where it was). A file or folder in the way is not replaced: the error says so.
pub fn move_back(place: Option<&str>) -> Result<()> {
    let Some(place) = place else {
        return Ok(());
    };
    let moved: Vec<(PathBuf, PathBuf)> =
        serde_json::from_str(place).context("the set-aside record is damaged")?;
    for (now, was) in moved {
        let folder = was.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(folder)
            .with_context(|| format!("cannot create {}", folder.display()))?;
        match crate::durable::rename_no_replace(&now, &was) {
            Ok(()) => {}
            Err(err) if crate::durable::is_cross_device(&err) && now.is_file() => {
                crate::durable::copy_new(&now, &was)
                    .map_err(|err| anyhow!("cannot copy {} back: {err}", now.display()))?;
                fs::remove_file(&now)
                    .with_context(|| format!("cannot remove {}", now.display()))?;
            }
            Err(err) => {
                return Err(err).with_context(|| {
                    format!("cannot move {} back to {}", now.display(), was.display())
                })
            }
        }
        crate::durable::sync_dir(folder)?;
    }
    Ok(())
}

fn round_to_secs(duration: Duration) -> Duration {
    Duration::from_secs(duration.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_progress_or_clutter_are_passed_over() {
        for name in [
            ".x.pdf",
            "a.pdf.part",
            "a.filepart",
            "a.TMP",
            "~$rapport.docx",
            "Thumbs.db",
            "desktop.ini",
            "b.crdownload",
        ] {
            assert!(passed_over_by_name(name).is_some(), "{name}");
        }
        for name in ["a.pdf", "partie.pdf", "tmp.pdf", "a.db"] {
            assert!(passed_over_by_name(name).is_none(), "{name}");
        }
    }

    #[test]
    fn waiting_becomes_overdue_past_the_grace_period() {
        let now = SystemTime::now();
        let grace = Grace(Duration::from_secs(3600));
        let recent = grace.waiting(
            now,
            "a.xml",
            "waits for b.pdf",
            now - Duration::from_secs(60),
        );
        assert_eq!(recent.pass, Pass::Waiting);
        assert_eq!(recent.reason, "waits for b.pdf");
        let old = grace.waiting(
            now,
            "a.xml",
            "waits for b.pdf",
            now - Duration::from_secs(7300),
        );
        assert_eq!(old.pass, Pass::Overdue);
        assert_eq!(
            old.reason,
            "waits for b.pdf; so for 2h 1m 40s, longer than --grace-period 1h"
        );
    }

    #[test]
    fn young_files_wait() {
        let now = SystemTime::now();
        let min = Duration::from_secs(5);
        assert!(too_young(now, now - Duration::from_secs(1), min).is_some());
        assert!(too_young(now, now - Duration::from_secs(9), min).is_none());
        // A clock set back makes a file look as if from the future: it waits.
        assert!(too_young(now, now + Duration::from_secs(60), min).is_some());
    }

    // See: issue 14. A file a program holds open for writing, sharing it with readers or not, is
    // not ready while it is young, and failed (reported) once past the grace period; one that is
    // only read elsewhere is ready.
    #[cfg(windows)]
    #[test]
    fn a_file_open_for_writing_elsewhere_is_not_ready_then_reported() {
        use std::os::windows::fs::OpenOptionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scan.pdf");
        fs::write(&path, b"%PDF").unwrap();
        let snapshot = Snapshot::new(
            path.clone(),
            "scan.pdf".into(),
            &fs::metadata(&path).unwrap(),
        );
        let now = SystemTime::now();
        let (young, past) = (Grace(Duration::from_secs(3600)), Grace(Duration::ZERO));
        for share in [0, 0x1] {
            let writer = fs::OpenOptions::new()
                .append(true)
                .share_mode(share)
                .open(&path)
                .unwrap();
            snapshot.check_still_there().unwrap();
            let err = snapshot.check_readable(&young, now).unwrap_err();
            assert!(matches!(err, ItemError::NotReady(_)), "{err:?}");
            let message = crate::exit::message_for(err.error());
            assert!(
                message.contains("scan.pdf is open in another program")
                    && message.contains("left for a later run"),
                "{message}"
            );
            let err = snapshot.check_readable(&past, now).unwrap_err();
            assert!(matches!(err, ItemError::Failed(_)), "{err:?}");
            let message = crate::exit::message_for(err.error());
            assert!(
                message.contains("scan.pdf is open in another program")
                    && message.contains("longer than --grace-period 0s")
                    && message.contains("close the program that holds it open"),
                "{message}"
            );
            drop(writer);
        }
        let reader = fs::File::open(&path).unwrap();
        snapshot.check_readable(&past, now).unwrap();
        drop(reader);
    }
}
