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

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::names::numbered;

mod flush;
mod quiet;

pub use flush::Flusher;

/// Renames `from` to `to` unless `to` exists, atomically where the file system allows it.
pub fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
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
    // A hard link fails when the target exists, which gives the same guarantee in two steps. If we
    // are killed between them both names exist, which recovery recognises with `same_file`.
    match fs::hard_link(from, to) {
        Ok(()) => return fs::remove_file(from),
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => return Err(err),
        Err(_) => {}
    }
    // File systems without hard links (FAT, some SMB shares): check, then rename. The window between
    // the two only matters if something else writes the same name in the same folder at that instant.
    if fs::symlink_metadata(to).is_ok() {
        return Err(io::Error::from(io::ErrorKind::AlreadyExists));
    }
    fs::rename(from, to)
}

/// Whether two paths name the same file (same inode). False when unknowable.
pub fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (fs::symlink_metadata(a), fs::symlink_metadata(b)) {
            (Ok(ma), Ok(mb)) => ma.dev() == mb.dev() && ma.ino() == mb.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (a, b);
        false
    }
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

/// Creates folder `dir` (and those above it) unless it exists; the folder itself, when created
/// here, is readable by its owner only (0700 on Unix): state folders hold attachment names,
/// Message-IDs and raw mails. A folder that exists is left as it is.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        fs::create_dir_all(parent)?;
    }
    let mut builder = fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    match builder.create(dir) {
        Ok(()) => Ok(()),
        // Another run created it at the same instant.
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(err) => Err(err),
    }
}

/// Options that create a file readable by its owner only (0600 on Unix); an existing file keeps
/// its mode.
pub fn private_options() -> fs::OpenOptions {
    let mut options = fs::OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

/// Creates (or truncates) `path` for writing, owner-only when created.
pub fn create_private_file(path: &Path) -> io::Result<File> {
    private_options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
}

/// Whether an error means "not on the same volume" (EXDEV), where a rename cannot work.
pub fn is_cross_device(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::CrossesDevices
}

/// Whether an error means the disk (or a quota) is full.
pub fn is_out_of_space(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    )
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
}
