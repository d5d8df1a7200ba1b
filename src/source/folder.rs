//! What every source that reads a local or network folder shares: the rules that keep a launcher
//! from taking a file that is still being written, and the checks on the folders it is given.
//!
//! A scanner, an SMB copy, an FTP upload or a Pastell depot connector writes for a while, and a file
//! taken half-way is a document lost. So a file is passed over when its name says "in progress"
//! (`*.part`, `*.filepart`, `*.crdownload`, `*.tmp`, `~$*`), when it is hidden or system clutter,
//! and when it changed less than `--min-age` ago; and just before it is taken, its size and
//! modification time must still be those seen when it was listed (`Snapshot::check_unchanged`).
//!
//! Used by `dir` (one file, one item) and `adullact` (an envelope of files, one item).

use std::fs::{self, FileType, Metadata};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Context, Result};

use crate::exit::Failure;
use crate::item::ItemError;

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

/// Files that operating systems drop into folders on their own (`name` lower-cased).
pub fn is_clutter(lower: &str) -> bool {
    lower == "thumbs.db" || lower == "desktop.ini" || lower == ".ds_store"
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
        self.check_unchanged(&meta)?;
        self.check_not_in_use()
    }

    /// On Windows a program writing a file usually keeps others from writing it too, and a
    /// scanner or a copy may refuse every other access: opening the file while refusing to share
    /// it with a writer fails then (sharing violation, os error 32; a locked range, 33), and the
    /// file is left for a later run. Unix has no such thing; size and time tell there.
    #[cfg(windows)]
    fn check_not_in_use(&self) -> Result<(), ItemError> {
        use std::os::windows::fs::OpenOptionsExt;
        const FILE_SHARE_READ: u32 = 0x1;
        match fs::OpenOptions::new()
            .read(true)
            .share_mode(FILE_SHARE_READ)
            .open(&self.path)
        {
            Err(err) if crate::durable::is_in_use(&err) => Err(ItemError::not_ready(
                anyhow::Error::new(err).context(format!(
                    "{} is open in another program, which may still be writing it; left for a \
                     later run",
                    self.relative
                )),
            )),
            // Any other problem is met, and reported, when the file is read.
            _ => Ok(()),
        }
    }

    #[cfg(not(windows))]
    fn check_not_in_use(&self) -> Result<(), ItemError> {
        Ok(())
    }

    pub fn name(&self) -> String {
        crate::durable::file_name(&self.path)
    }
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
    fn young_files_wait() {
        let now = SystemTime::now();
        let min = Duration::from_secs(5);
        assert!(too_young(now, now - Duration::from_secs(1), min).is_some());
        assert!(too_young(now, now - Duration::from_secs(9), min).is_none());
        // A clock set back makes a file look as if from the future: it waits.
        assert!(too_young(now, now + Duration::from_secs(60), min).is_some());
    }

    // See: issue 14. A file a program holds open for writing, sharing it with readers or not, is
    // not ready; one that is only read elsewhere is.
    #[cfg(windows)]
    #[test]
    fn a_file_open_for_writing_elsewhere_is_not_ready() {
        use std::os::windows::fs::OpenOptionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scan.pdf");
        fs::write(&path, b"%PDF").unwrap();
        let snapshot = Snapshot::new(
            path.clone(),
            "scan.pdf".into(),
            &fs::metadata(&path).unwrap(),
        );
        for share in [0, 0x1] {
            let writer = fs::OpenOptions::new()
                .append(true)
                .share_mode(share)
                .open(&path)
                .unwrap();
            let err = snapshot.check_still_there().unwrap_err();
            assert!(matches!(err, ItemError::NotReady(_)), "{err:?}");
            let message = crate::exit::message_for(err.error());
            assert!(
                message.contains("scan.pdf is open in another program"),
                "{message}"
            );
            drop(writer);
        }
        let reader = fs::File::open(&path).unwrap();
        snapshot.check_still_there().unwrap();
        drop(reader);
    }
}
