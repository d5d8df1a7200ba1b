//! File-system operations that survive a crash or a power cut, shared by the deposit, the journal and
//! the folder source.
//!
//! - `rename_no_replace` never overwrites: a name that is taken is reported as `AlreadyExists`, which
//!   callers answer with another name. Nothing lanceur does may destroy a file it did not create.
//! - `sync_dir` makes a rename or an unlink durable (POSIX: fsync on the directory). Windows has no
//!   such call; NTFS journals its metadata, so there it is a no-op.
//! - `Flusher` (`flush.rs`) makes a batch of files durable, by one `syncfs` per volume when the
//!   disk is quiet (`quiet.rs` decides), each file on its own on a few threads otherwise, and says
//!   when they are all on disk.
//! - `move_file` moves a file to another folder: a rename on the same volume, and across volumes a
//!   copy, fsync, rename into place, then delete of the original.
//! - `same_file` and `volume_of_path` tell files and volumes apart (device and inode on Unix, volume
//!   serial number and file index on Windows).

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::names::numbered;

mod flush;
mod quiet;

pub use flush::Flusher;

/// Renames `from` to `to` unless `to` exists, atomically where the file system allows it.
pub fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(windows)]
    {
        move_no_replace(from, to)
    }
    #[cfg(not(windows))]
    {
        #[cfg(target_os = "linux")]
        {
            use rustix::fs::{renameat_with, RenameFlags, CWD};
            match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
                Ok(()) => return Ok(()),
                Err(rustix::io::Errno::EXIST) => {
                    return Err(io::Error::from(io::ErrorKind::AlreadyExists))
                }
                // Some network and older file systems do not know RENAME_NOREPLACE; fall through.
                Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOSYS) => {}
                Err(errno) => return Err(errno.into()),
            }
        }
        // A hard link fails when the target exists, which gives the same guarantee in two steps. If
        // we are killed between them both names exist, which recovery recognises with `same_file`.
        match fs::hard_link(from, to) {
            Ok(()) => return fs::remove_file(from),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => return Err(err),
            Err(_) => {}
        }
        // File systems without hard links (FAT, some SMB shares): check, then rename. The window
        // between the two only matters if something else writes the same name in the same folder at
        // that instant.
        if fs::symlink_metadata(to).is_ok() {
            return Err(io::Error::from(io::ErrorKind::AlreadyExists));
        }
        fs::rename(from, to)
    }
}

/// Windows' own no-replace move: `MoveFileExW` without `MOVEFILE_REPLACE_EXISTING`, one step that
/// NTFS and SMB servers make atomic, so no instant exists where both names are there. An existing
/// `to` fails with `ERROR_ALREADY_EXISTS` (`AlreadyExists`), another volume with
/// `ERROR_NOT_SAME_DEVICE` (`CrossesDevices`; no `MOVEFILE_COPY_ALLOWED`: callers copy durably
/// themselves). tempfile's `persist_noclobber` is that call behind a safe API.
///
/// Two things of tempfile's to undo: a `TempPath` deletes its file when dropped, so cleanup is
/// turned off and a failed move leaves `from` as it was; and the move first resets the file's
/// attributes to normal (marking it temporary again when it fails), so the attributes are put back
/// on whichever name the file then has. Wine carries the move out as a check then a rename, atomic
/// between Windows programs but not against a Linux program writing the same name.
#[cfg(windows)]
fn move_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    let attributes = fs::symlink_metadata(from)?.permissions();
    let mut path = tempfile::TempPath::try_from_path(from)?;
    path.disable_cleanup(true);
    match path.persist_noclobber(to) {
        Ok(()) => {
            let _ = fs::set_permissions(to, attributes);
            Ok(())
        }
        Err(failed) => {
            let _ = fs::set_permissions(from, attributes);
            Err(failed.error)
        }
    }
}

/// Whether two paths name the same file (same device and inode; on Windows same volume serial
/// number and file index), the paths themselves, links not followed. False when unknowable.
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (identity(a), identity(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// The volume `path` is on, as a number only comparable with another of this function's answers.
pub fn volume_of_path(path: &Path) -> io::Result<u64> {
    identity(path).map(|(volume, _)| volume)
}

/// (volume, file) numbers of `path` itself (not of what a link points to).
#[cfg(unix)]
fn identity(path: &Path) -> io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = fs::symlink_metadata(path)?;
    Ok((meta.dev(), meta.ino()))
}

/// (volume, file) numbers of `path` itself (not of what a link points to). The handle asks for the
/// attributes only, which no program's sharing mode can refuse, so a file held open by its writer
/// still answers.
#[cfg(windows)]
fn identity(path: &Path) -> io::Result<(u64, u64)> {
    use std::os::windows::fs::OpenOptionsExt;
    const FILE_READ_ATTRIBUTES: u32 = 0x80;
    const FILE_SHARE_ALL: u32 = 0x1 | 0x2 | 0x4;
    // Directories open only with backup semantics; a link is opened itself, not its target.
    const FILE_FLAG_BACKUP_SEMANTICS: u32 = 0x0200_0000;
    const FILE_FLAG_OPEN_REPARSE_POINT: u32 = 0x0020_0000;
    let file = fs::OpenOptions::new()
        .access_mode(FILE_READ_ATTRIBUTES)
        .share_mode(FILE_SHARE_ALL)
        .custom_flags(FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OPEN_REPARSE_POINT)
        .open(path)?;
    let info = winapi_util::file::information(&file)?;
    Ok((info.volume_serial_number(), info.file_index()))
}

#[cfg(not(any(unix, windows)))]
fn identity(_path: &Path) -> io::Result<(u64, u64)> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// Makes the entries of `dir` (creations, renames, unlinks) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Opens an existing file so that `Flusher` can flush it: read-only on Unix (a file this user
/// may move but not write can still be flushed), for writing on Windows, whose flush needs it.
pub fn open_for_flush(path: &Path) -> io::Result<File> {
    #[cfg(unix)]
    {
        File::open(path)
    }
    #[cfg(not(unix))]
    {
        fs::OpenOptions::new().write(true).open(path)
    }
}

/// The last component of `path` as text (lossy for names that are not UTF-8); empty for `/` or `..`.
pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Copies `from` into a new file `to` (which must not exist) and fsyncs it. On failure the partial copy
/// is removed. Errors say which side failed, since a read error is the source's problem and a write
/// error the destination's.
pub fn copy_new(from: &Path, to: &Path) -> Result<u64, CopyError> {
    let mut reader = File::open(from).map_err(CopyError::Read)?;
    let mut writer = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)
        .map_err(CopyError::Write)?;
    let result = copy_stream(&mut reader, &mut writer).and_then(|bytes| {
        writer.sync_all().map_err(CopyError::Write)?;
        Ok(bytes)
    });
    if result.is_err() {
        let _ = fs::remove_file(to);
    }
    result
}

/// The two ways a copy can fail.
#[derive(Debug)]
pub enum CopyError {
    Read(io::Error),
    Write(io::Error),
}

impl std::fmt::Display for CopyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CopyError::Read(err) => write!(f, "read failed: {err}"),
            CopyError::Write(err) => write!(f, "write failed: {err}"),
        }
    }
}

impl std::error::Error for CopyError {}

/// Copies a stream, keeping read and write errors apart.
pub fn copy_stream(reader: &mut dyn io::Read, writer: &mut dyn Write) -> Result<u64, CopyError> {
    let mut buffer = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(CopyError::Read(err)),
        };
        writer.write_all(&buffer[..n]).map_err(CopyError::Write)?;
        total += n as u64;
    }
}

/// Moves `from` into `dir` under `name`, or `name_2`, `name_3`… if taken; never overwrites. Returns
/// the new path. The move is durable once this returns: both folders are synced.
pub fn move_file(from: &Path, dir: &Path, name: &str) -> io::Result<PathBuf> {
    for n in 1..=10_000 {
        let target = dir.join(numbered(name, n));
        match rename_no_replace(from, &target) {
            Ok(()) => {
                sync_dir(dir)?;
                if let Some(parent) = from.parent() {
                    sync_dir(parent)?;
                }
                return Ok(target);
            }
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(err) if is_cross_device(&err) => return move_across_volumes(from, dir, name),
            Err(err) => return Err(err),
        }
    }
    Err(io::Error::other(format!(
        "no free name for {name} in {}",
        dir.display()
    )))
}

fn move_across_volumes(from: &Path, dir: &Path, name: &str) -> io::Result<PathBuf> {
    // Copy under a hidden name first so that nobody watching `dir` sees a partial file.
    let staging = dir.join(format!(".{name}.lanceur-move.tmp"));
    let _ = fs::remove_file(&staging);
    copy_new(from, &staging).map_err(|err| match err {
        CopyError::Read(e) | CopyError::Write(e) => e,
    })?;
    for n in 1..=10_000 {
        let target = dir.join(numbered(name, n));
        match rename_no_replace(&staging, &target) {
            Ok(()) => {
                sync_dir(dir)?;
                fs::remove_file(from)?;
                if let Some(parent) = from.parent() {
                    sync_dir(parent)?;
                }
                return Ok(target);
            }
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(err) => {
                let _ = fs::remove_file(&staging);
                return Err(err);
            }
        }
    }
    let _ = fs::remove_file(&staging);
    Err(io::Error::other(format!(
        "no free name for {name} in {}",
        dir.display()
    )))
}

/// Whether an error means "not on the same volume" (EXDEV), where a rename cannot work.
pub fn is_cross_device(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::CrossesDevices
}

/// Whether an error means another program holds the file open without sharing it (Windows: a
/// sharing violation, os error 32, or a locked range, os error 33), as a scanner, a copy or an
/// office program does while it writes. Unix has no such refusal.
pub fn is_in_use(err: &io::Error) -> bool {
    const ERROR_SHARING_VIOLATION: i32 = 32;
    const ERROR_LOCK_VIOLATION: i32 = 33;
    cfg!(windows)
        && matches!(
            err.raw_os_error(),
            Some(ERROR_SHARING_VIOLATION | ERROR_LOCK_VIOLATION)
        )
}

/// Whether an error means the disk (or a quota) is full.
pub fn is_out_of_space(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    )
}

/// What a failed write says about its folder, in words an administrator acts on: a full disk, a
/// file system mounted read-only (EROFS: a permission would not help), or a permission. `None`
/// for anything else, whose own text then says it.
pub fn write_problem(err: &io::Error) -> Option<&'static str> {
    if is_out_of_space(err) {
        Some("the disk is full; free space, then run again")
    } else if err.kind() == io::ErrorKind::ReadOnlyFilesystem {
        Some(
            "it is on a read-only file system: remount it read-write, or give a folder on a \
             writable volume",
        )
    } else if err.kind() == io::ErrorKind::PermissionDenied {
        Some("permission denied; give this user write access")
    } else {
        None
    }
}

/// `what` (`cannot create state folder /x`), with the problem `err` is when it is one of
/// `write_problem`'s; the error itself follows as the cause.
pub fn write_context(what: String, err: &io::Error) -> String {
    match write_problem(err) {
        Some(problem) => format!("{what}: {problem}"),
        None => what,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rename_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs::write(&a, "new").unwrap();
        fs::write(&b, "old").unwrap();
        let err = rename_no_replace(&a, &b).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read_to_string(&b).unwrap(), "old");
        assert_eq!(fs::read_to_string(&a).unwrap(), "new");
        fs::remove_file(&b).unwrap();
        rename_no_replace(&a, &b).unwrap();
        assert!(!a.exists());
        assert_eq!(fs::read_to_string(&b).unwrap(), "new");
    }

    #[test]
    fn move_file_picks_a_free_name() {
        let src = tempfile::tempdir().unwrap();
        let dst = tempfile::tempdir().unwrap();
        fs::write(dst.path().join("x.pdf"), "taken").unwrap();
        let from = src.path().join("x.pdf");
        fs::write(&from, "mine").unwrap();
        let moved = move_file(&from, dst.path(), "x.pdf").unwrap();
        assert_eq!(moved, dst.path().join("x_2.pdf"));
        assert_eq!(fs::read_to_string(&moved).unwrap(), "mine");
        assert_eq!(
            fs::read_to_string(dst.path().join("x.pdf")).unwrap(),
            "taken"
        );
        assert!(!from.exists());
    }

    #[test]
    fn a_failed_or_done_move_keeps_the_files_read_only_flag() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (
            dir.path().join("a"),
            dir.path().join("b"),
            dir.path().join("c"),
        );
        fs::write(&a, "mine").unwrap();
        fs::write(&b, "taken").unwrap();
        let mut readonly = fs::metadata(&a).unwrap().permissions();
        readonly.set_readonly(true);
        fs::set_permissions(&a, readonly).unwrap();
        let err = rename_no_replace(&a, &b).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert!(fs::metadata(&a).unwrap().permissions().readonly());
        #[cfg(windows)]
        {
            use std::os::windows::fs::MetadataExt;
            const FILE_ATTRIBUTE_TEMPORARY: u32 = 0x100;
            let attributes = fs::metadata(&a).unwrap().file_attributes();
            assert_eq!(attributes & FILE_ATTRIBUTE_TEMPORARY, 0, "{attributes:#x}");
        }
        rename_no_replace(&a, &c).unwrap();
        assert!(!a.exists());
        assert_eq!(fs::read_to_string(&c).unwrap(), "mine");
        assert!(fs::metadata(&c).unwrap().permissions().readonly());
        // Windows refuses to delete a read-only file, and so the temporary folder. (The lint is
        // about Unix, where this would make the file writable by everyone.)
        #[cfg(windows)]
        #[allow(clippy::permissions_set_readonly_false)]
        {
            let mut writable = fs::metadata(&c).unwrap().permissions();
            writable.set_readonly(false);
            fs::set_permissions(&c, writable).unwrap();
        }
    }

    #[test]
    fn a_folder_moves_without_replacing_one() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs::create_dir(&a).unwrap();
        fs::write(a.join("inside"), "x").unwrap();
        fs::create_dir(&b).unwrap();
        let err = rename_no_replace(&a, &b).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        fs::remove_dir(&b).unwrap();
        rename_no_replace(&a, &b).unwrap();
        assert_eq!(fs::read_to_string(b.join("inside")).unwrap(), "x");
    }

    // See: issue 14. Two hard links are what a run killed between the link and the unlink of a
    // link-based rename leaves; recovery must see that they are one file.
    #[test]
    fn hard_links_are_the_same_file_and_copies_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (
            dir.path().join("a"),
            dir.path().join("b"),
            dir.path().join("c"),
        );
        fs::write(&a, "same").unwrap();
        fs::hard_link(&a, &b).unwrap();
        fs::write(&c, "same").unwrap();
        assert!(same_file(&a, &b));
        assert!(same_file(&a, &dir.path().join(".").join("a")));
        assert!(!same_file(&a, &c));
        assert!(!same_file(&a, &dir.path().join("missing")));
        assert_eq!(
            volume_of_path(&a).unwrap(),
            volume_of_path(dir.path()).unwrap()
        );
    }

    /// A file opened by another program without sharing deletion (a scanner writing it).
    #[cfg(windows)]
    fn hold_without_sharing_delete(path: &Path) -> File {
        use std::os::windows::fs::OpenOptionsExt;
        const FILE_SHARE_READ: u32 = 0x1;
        fs::OpenOptions::new()
            .read(true)
            .share_mode(FILE_SHARE_READ)
            .open(path)
            .unwrap()
    }

    // See: issue 14. The hard link, then unlink, of the old Windows branch left both names when
    // the unlink failed; Windows' own move either happens or leaves everything as it was.
    #[cfg(windows)]
    #[test]
    fn a_move_that_cannot_happen_leaves_a_single_name() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs::write(&a, "held").unwrap();
        let held = hold_without_sharing_delete(&a);
        let err = rename_no_replace(&a, &b).unwrap_err();
        assert!(is_in_use(&err), "{err:?}");
        assert!(!b.exists(), "a second name was left behind");
        assert!(same_file(&a, &a), "identity works on a file held open");
        drop(held);
        rename_no_replace(&a, &b).unwrap();
        assert!(!a.exists());
    }

    #[test]
    fn only_windows_sharing_refusals_mean_in_use() {
        let sharing = io::Error::from_raw_os_error(32);
        let lock = io::Error::from_raw_os_error(33);
        assert_eq!(is_in_use(&sharing), cfg!(windows));
        assert_eq!(is_in_use(&lock), cfg!(windows));
        assert!(!is_in_use(&io::Error::from(
            io::ErrorKind::PermissionDenied
        )));
    }
}
