//! Putting documents into the COLD folder so that the COLD never sees a partial file and nothing is
//! ever overwritten.
//!
//! A deposit happens in two steps, with the journal in between (see `cycle.rs`):
//!
//! 1. `stage` writes the document, and its sidecar, under hidden temporary names *inside* the COLD
//!    folder (same volume, so the final rename is atomic), and hands each file, once written, to a
//!    `Flusher`, which makes the batch durable by one `syncfs` per volume when the disk is quiet,
//!    and otherwise flushes each file on its own, on threads, while the next documents are
//!    fetched, so that a run never waits for other programs' writes (see `durable::flush`).
//!    `sync` waits for the batch's flushes, then syncs the folders holding the batch's files, so
//!    that their names survive a power cut too. A complete source file that leaves the source
//!    anyway (`Content::File` with `movable`) on the COLD folder's volume is not copied at all: it
//!    is flushed where it is, and moved to its final name at commit time, in one rename.
//! 2. `commit` renames each staged (or movable) file to its final name, the document before its
//!    sidecar, without ever replacing an existing file; `finish_commit` syncs the folders so the
//!    renames survive a power cut.
//!
//! The cycle journals the staged names between the two steps, so a run killed anywhere can be
//! finished by the next one (`commit` again what is still staged) without depositing twice, and
//! temporary files that no journal entry knows are removed (`sweep`).
//!
//! Temporary names look like `.lanceur-<tag>-<pid>-<n>.tmp`: hidden, with an extension every
//! watcher ignores, and a tag per launcher so two launchers sharing a COLD folder never touch each
//! other's files.

pub mod sidecar;

use std::collections::{BTreeSet, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use sha2::{Digest, Sha256};

use crate::durable::{self, file_name, CopyError};
use crate::exit::Failure;
use crate::item::{Content, Document, ItemError};
use crate::names::{self, hex, short_tag};
pub use sidecar::IndexFormat;

pub use crate::item::Staged;

/// Whether a source file that leaves the source anyway is moved into the COLD folder by one
/// rename when both are on one volume, rather than copied: on Linux only. Elsewhere each file is
/// flushed on its own, which for a moved file would mean flushing the source's too; and on Windows
/// a moved file keeps the ACL of the folder it comes from, which the COLD's own account may not be
/// allowed to read, where a copy takes the COLD folder's.
pub const MOVES_ON_ONE_VOLUME: bool = cfg!(target_os = "linux");

pub struct Deposit {
    cold: PathBuf,
    format: IndexFormat,
    tmp_prefix: String,
    pid: u32,
    next_tmp: u64,
    /// Names handed out in this run, lower-cased: COLD folders on SMB shares ignore case.
    reserved: HashSet<String>,
    /// Makes staged files durable, by volume or file by file; `sync` waits for it.
    flusher: durable::Flusher,
    /// Folders that gained (or hold, for movable files) a staged file since the last `sync`.
    staged_in: BTreeSet<PathBuf>,
    /// What a file created in the COLD folder gets (the umask's choice), for files moved in.
    fresh_permissions: Option<fs::Permissions>,
    /// Folders that files were moved out of since the last `finish_commit`.
    moved_out_of: BTreeSet<PathBuf>,
    /// The COLD folder's device, to recognise source files on the same volume.
    #[cfg(unix)]
    device: u64,
}

impl Deposit {
    /// Opens the COLD folder `cold`, checking that it exists and, unless `read_only`, that a file can
    /// be created in it. The folder is never created: a missing COLD folder usually means a network
    /// share that is not mounted, and writing into the mount point would hide documents from EzGED.
    pub fn open(
        cold: &Path,
        format: IndexFormat,
        launcher: &str,
        read_only: bool,
    ) -> Result<Deposit> {
        let metadata = fs::metadata(cold)
            .with_context(|| {
                format!(
                    "COLD folder {} is not reachable (is the share mounted? lanceur never creates it)",
                    cold.display()
                )
            })
            .context(Failure::Cold)?;
        if !metadata.is_dir() {
            return Err(anyhow!("COLD folder {} is not a folder", cold.display()))
                .context(Failure::Cold);
        }
        let mut deposit = Deposit {
            cold: cold.to_path_buf(),
            format,
            tmp_prefix: format!(".lanceur-{}-", short_tag(launcher)),
            pid: std::process::id(),
            next_tmp: 0,
            reserved: HashSet::new(),
            flusher: durable::Flusher::new(),
            staged_in: BTreeSet::new(),
            fresh_permissions: None,
            moved_out_of: BTreeSet::new(),
            #[cfg(unix)]
            device: std::os::unix::fs::MetadataExt::dev(&metadata),
        };
        if !read_only {
            let (probe, file) = match deposit.create_tmp() {
                Ok(created) => created,
                Err(err) => {
                    let what = format!("COLD folder {} is not writable", deposit.cold.display());
                    let message = match err.root_cause().downcast_ref::<io::Error>() {
                        Some(io) if durable::write_problem(io).is_some() => {
                            durable::write_context(what, io)
                        }
                        _ => format!("{what} by this user"),
                    };
                    return Err(err.context(message));
                }
            };
            deposit.fresh_permissions = file.metadata().ok().map(|m| m.permissions());
            let _ = fs::remove_file(&probe);
        }
        Ok(deposit)
    }

    /// Chooses the name `raw` would be deposited under, and reserves it for this run. Used for dry
    /// runs, where it is the name a real run would choose now.
    pub fn plan(&mut self, raw: &str) -> (String, Option<String>) {
        let safe = names::safe_name(raw);
        self.allocate(&safe, true)
    }

    /// Writes `document` under a temporary name, with its sidecar holding `fields` plus the size and,
    /// when there is a sidecar, the SHA-256. A failure to read the document fails this item only
    /// (`ItemError::Failed`); a failure to write stops the run (`ItemError::Stop` with
    /// `Failure::Cold`). Nothing is left behind on error.
    pub fn stage(
        &mut self,
        document: Document,
        mut fields: Vec<(String, String)>,
    ) -> Result<Staged, ItemError> {
        let safe = names::safe_name(&document.name);
        // Without a sidecar, a name already taken on disk is found by the no-replace rename at commit
        // time, which saves a lookup per document. A sidecar must be free together with its document
        // (they are paired by name), so then both are checked now.
        let with_sidecar = self.format != IndexFormat::None;
        let (name, sidecar) = self.allocate(&safe, with_sidecar);
        let (placed, bytes, digest) = self
            .write_document(document.content, with_sidecar)
            .map_err(|err| err.context(format!("cannot deposit {safe}")))?;
        let (tmp, moved_from) = match placed {
            Placed::Staged(tmp) => (tmp, None),
            Placed::Movable(path) => (PathBuf::new(), path.to_str().map(String::from)),
        };
        let mut staged = Staged {
            tmp: file_name(&tmp),
            moved_from,
            name,
            sidecar_tmp: None,
            sidecar,
            bytes,
        };
        if with_sidecar {
            fields.push(("size".into(), bytes.to_string()));
            if let Some(digest) = digest {
                fields.push(("sha256".into(), digest));
            }
            let text = sidecar::render(self.format, &fields);
            match self.write_new_tmp(&text) {
                Ok(path) => staged.sidecar_tmp = Some(file_name(&path)),
                Err(err) => {
                    let _ = fs::remove_file(&tmp);
                    return Err(cold(err));
                }
            }
        }
        Ok(staged)
    }

    /// Makes every file staged since the last call durable: its contents (flushed by the
    /// `Flusher` as it was written) and its name (the folders holding them are synced).
    pub fn sync(&mut self) -> Result<()> {
        if let Err((path, err)) = self.flusher.wait() {
            self.staged_in.clear();
            let what = format!("cannot flush {} to disk", file_name(&path));
            return Err(self.write_error(err, &what));
        }
        for folder in std::mem::take(&mut self.staged_in) {
            let synced = durable::sync_dir(&folder);
            if folder == self.cold {
                synced
                    .map_err(|err| self.write_error(err, "cannot flush the COLD folder to disk"))?;
            } else {
                synced
                    .with_context(|| format!("cannot flush source folder {}", folder.display()))
                    .context(Failure::Source)?;
            }
        }
        Ok(())
    }

    /// Renames a staged document, then its sidecar, to their final names. A final name taken since it
    /// was chosen (another program writing into the COLD folder) gets a number; nothing is replaced.
    /// A staged file that is gone was committed by an earlier, interrupted run. Updates `staged` with
    /// the names actually used.
    pub fn commit(&mut self, staged: &mut Staged) -> Result<()> {
        let from = match &staged.moved_from {
            Some(path) => {
                let path = PathBuf::from(path);
                if let Some(parent) = path.parent() {
                    self.moved_out_of.insert(parent.to_path_buf());
                }
                path
            }
            None => self.cold.join(&staged.tmp),
        };
        if let Some(final_name) = self.rename_into_place(&from, &staged.name)? {
            if final_name != staged.name {
                staged.sidecar = sidecar::sidecar_name(self.format, &final_name);
                staged.name = final_name;
            }
        }
        if let (Some(sidecar_tmp), Some(sidecar_name)) = (&staged.sidecar_tmp, &staged.sidecar) {
            let tmp = self.cold.join(sidecar_tmp);
            if let Some(used) = self.rename_into_place(&tmp, sidecar_name)? {
                staged.sidecar = Some(used);
            }
        }
        Ok(())
    }

    /// Makes the renames of `commit` durable, in the COLD folder and in the folders files were moved
    /// out of.
    pub fn finish_commit(&mut self) -> Result<()> {
        durable::sync_dir(&self.cold)
            .map_err(|err| self.write_error(err, "cannot flush the COLD folder to disk"))?;
        for folder in std::mem::take(&mut self.moved_out_of) {
            durable::sync_dir(&folder)
                .with_context(|| format!("cannot flush source folder {}", folder.display()))
                .context(Failure::Source)?;
        }
        Ok(())
    }

    /// Removes the temporary files of a staged document that will not be committed. A movable source
    /// file is left alone: it was never copied.
    pub fn discard(&self, staged: &Staged) {
        if !staged.tmp.is_empty() {
            let _ = fs::remove_file(self.cold.join(&staged.tmp));
        }
        if let Some(tmp) = &staged.sidecar_tmp {
            let _ = fs::remove_file(self.cold.join(tmp));
        }
    }

    /// Removes this launcher's temporary files that no journal entry refers to: leftovers of a run
    /// killed while it was writing them. `keep` holds the temporary names still journaled.
    pub fn sweep(&self, keep: &HashSet<String>) -> Result<usize> {
        let mut removed = 0;
        let entries = fs::read_dir(&self.cold)
            .with_context(|| format!("cannot list COLD folder {}", self.cold.display()))
            .context(Failure::Cold)?;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with(&self.tmp_prefix) && name.ends_with(".tmp") && !keep.contains(name)
            {
                log::debug!("removing leftover temporary file {name}");
                if fs::remove_file(entry.path()).is_ok() {
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    /// The first of `safe`, `safe_2`, … free for a document and its sidecar: not handed out in this
    /// run and, if `check_disk`, not present in the COLD folder.
    fn allocate(&mut self, safe: &str, check_disk: bool) -> (String, Option<String>) {
        for n in 1..=u32::MAX {
            let name = names::numbered(safe, n);
            let sidecar = sidecar::sidecar_name(self.format, &name);
            let free = |candidate: &str| {
                let handed_out = self.reserved.contains(&candidate.to_lowercase());
                let on_disk =
                    || check_disk && fs::symlink_metadata(self.cold.join(candidate)).is_ok();
                !handed_out && !on_disk()
            };
            if free(&name) && sidecar.as_deref().is_none_or(free) {
                self.reserved.insert(name.to_lowercase());
                if let Some(s) = &sidecar {
                    self.reserved.insert(s.to_lowercase());
                }
                return (name, sidecar);
            }
        }
        unreachable!("four billion documents with the same name")
    }

    /// Renames `tmp` to `wanted`, or to a free variant of it. `None` when `tmp` no longer exists:
    /// an earlier, interrupted run committed it already.
    fn rename_into_place(&mut self, tmp: &Path, wanted: &str) -> Result<Option<String>> {
        let mut name = wanted.to_string();
        loop {
            let target = self.cold.join(&name);
            match durable::rename_no_replace(tmp, &target) {
                Ok(()) => return Ok(Some(name)),
                Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
                // Killed between the two steps of a link-based rename: both names are the same file.
                Err(err)
                    if err.kind() == io::ErrorKind::AlreadyExists
                        && durable::same_file(tmp, &target) =>
                {
                    let _ = fs::remove_file(tmp);
                    return Ok(Some(name));
                }
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
                    log::debug!("{name} is taken in the COLD folder; choosing another name");
                    let (other, _) = self.allocate(&names::safe_name(wanted), true);
                    name = other;
                }
                Err(err) => {
                    return Err(self.write_error(err, &format!("cannot rename {name} into place")))
                }
            }
        }
    }

    /// A fresh temporary path in the COLD folder (not created).
    fn next_tmp_path(&mut self) -> PathBuf {
        self.next_tmp += 1;
        self.cold.join(format!(
            "{}{}-{}.tmp",
            self.tmp_prefix, self.pid, self.next_tmp
        ))
    }

    fn create_tmp(&mut self) -> Result<(PathBuf, File)> {
        loop {
            let path = self.next_tmp_path();
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => return Ok((path, file)),
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(err) => return Err(self.write_error(err, "cannot create a file")),
            }
        }
    }

    fn write_new_tmp(&mut self, bytes: &[u8]) -> Result<PathBuf> {
        let (path, mut file) = self.create_tmp()?;
        match file.write_all(bytes) {
            Ok(()) => {
                self.flush_later(file, &path);
                Ok(path)
            }
            Err(err) => {
                let _ = fs::remove_file(&path);
                Err(self.write_error(err, "cannot write a sidecar"))
            }
        }
    }

    /// Hands a staged file, fully written, to the flusher; `sync` waits for it and syncs its
    /// folder.
    fn flush_later(&mut self, file: File, path: &Path) {
        if let Some(folder) = path.parent() {
            self.staged_in.insert(folder.to_path_buf());
        }
        self.flusher.submit(file, path.to_path_buf());
    }

    /// Places `content` for commit: written to a new temporary file, or, for a movable source file on
    /// this volume, left where it is to be moved at commit. Returns where, the size and, if
    /// `hashing`, the SHA-256.
    fn write_document(
        &mut self,
        content: Content,
        hashing: bool,
    ) -> Result<(Placed, u64, Option<String>), ItemError> {
        let copy_from = match content {
            Content::Bytes(bytes) => {
                let tmp = self.write_new_tmp(&bytes).map_err(cold)?;
                let digest = hashing.then(|| hex(&Sha256::digest(&bytes)));
                return Ok((Placed::Staged(tmp), bytes.len() as u64, digest));
            }
            Content::File { path, movable } => {
                if movable {
                    if let Some(size) = self.on_this_volume(&path) {
                        // Reading the source file: its failure is the item's.
                        let digest = if hashing {
                            Some(hash_file(&path).map_err(ItemError::failed)?)
                        } else {
                            None
                        };
                        // Whoever wrote it may not have flushed it; it is ours to make durable
                        // before the journal says it is staged.
                        let file = durable::open_for_flush(&path)
                            .with_context(|| format!("cannot read {}", path.display()))
                            .map_err(ItemError::failed)?;
                        self.flush_later(file, &path);
                        return Ok((Placed::Movable(path), size, digest));
                    }
                }
                CopyFrom::Kept(path)
            }
            Content::Temp(temp) => {
                // On the same volume the temporary file just moves in. A temporary file is private
                // (0600); the document gets the permissions of a file created here, as copied ones
                // do, or the COLD's own user (often another account) could not read it. A file
                // moved on Windows keeps the ACL of the folder it was made in (the state folder, the
                // user's temporary folder), which no mode can reset: there it is copied.
                let tmp = self.next_tmp_path();
                if cfg!(unix) && durable::rename_no_replace(&temp, &tmp).is_ok() {
                    if let Some(permissions) = self.fresh_permissions.clone() {
                        if let Err(err) = fs::set_permissions(&tmp, permissions) {
                            let _ = fs::remove_file(&tmp);
                            return Err(cold(self.write_error(err, "cannot write")));
                        }
                    }
                    match durable::open_for_flush(&tmp) {
                        Ok(file) => self.flush_later(file, &tmp),
                        Err(err) => {
                            let _ = fs::remove_file(&tmp);
                            return Err(cold(self.write_error(err, "cannot write")));
                        }
                    }
                    let (bytes, digest) = self
                        .describe(&tmp, hashing)
                        .inspect_err(|_| {
                            let _ = fs::remove_file(&tmp);
                        })
                        .map_err(cold)?;
                    return Ok((Placed::Staged(tmp), bytes, digest));
                }
                CopyFrom::Temp(temp)
            }
        };
        let from: &Path = match &copy_from {
            CopyFrom::Kept(path) => path,
            CopyFrom::Temp(temp) => temp,
        };
        let (tmp, mut file) = self.create_tmp().map_err(cold)?;
        match self.copy_into(from, &mut file, hashing) {
            Ok((bytes, digest)) => {
                self.flush_later(file, &tmp);
                Ok((Placed::Staged(tmp), bytes, digest))
            }
            Err(err) => {
                let _ = fs::remove_file(&tmp);
                Err(err)
            }
        }
    }

    /// The size of `path` if it can be moved into the COLD folder by a rename: same volume, and a
    /// name the journal can record exactly (UTF-8).
    fn on_this_volume(&self, path: &Path) -> Option<u64> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            path.to_str()?;
            let meta = fs::metadata(path).ok()?;
            (meta.dev() == self.device).then_some(meta.len())
        }
        #[cfg(not(unix))]
        {
            let _ = path;
            None
        }
    }

    /// Size and, if `hashing`, digest of a file already in place.
    fn describe(&self, path: &Path, hashing: bool) -> Result<(u64, Option<String>)> {
        let meta = fs::metadata(path)
            .map_err(|err| self.write_error(err, "cannot check a staged file"))?;
        let digest = if hashing {
            Some(hash_file(path)?)
        } else {
            None
        };
        Ok((meta.len(), digest))
    }

    fn copy_into(
        &self,
        source: &Path,
        file: &mut File,
        hashing: bool,
    ) -> Result<(u64, Option<String>), ItemError> {
        let mut reader = File::open(source).map_err(|err| {
            // A writer that opened it since the source looked (Windows' sharing refusal).
            let in_use = durable::is_in_use(&err);
            let err = anyhow::Error::new(err).context(format!("cannot read {}", source.display()));
            if in_use {
                ItemError::not_ready(err.context("open in another program; left for a later run"))
            } else {
                ItemError::failed(err)
            }
        })?;
        let mut hasher = hashing.then(Sha256::new);
        let mut sink = HashingWriter {
            inner: file,
            hasher: hasher.as_mut(),
        };
        match durable::copy_stream(&mut reader, &mut sink) {
            Ok(bytes) => Ok((bytes, hasher.map(|h| hex(&h.finalize())))),
            Err(CopyError::Read(err)) => Err(ItemError::failed(
                anyhow::Error::new(err).context(format!("cannot read {}", source.display())),
            )),
            Err(CopyError::Write(err)) => Err(cold(self.write_error(err, "cannot write"))),
        }
    }

    /// A write-side error, tagged so that it stops the run, with a remedy when the disk is full.
    fn write_error(&self, err: io::Error, what: &str) -> anyhow::Error {
        let message = durable::write_context(
            format!("{what} in COLD folder {}", self.cold.display()),
            &err,
        );
        anyhow::Error::new(err)
            .context(message)
            .context(Failure::Cold)
    }
}

/// A write-side error (from `write_error`): it stops the run.
fn cold(err: anyhow::Error) -> ItemError {
    ItemError::stop(Failure::Cold, err)
}

/// Where `write_document` put a document.
enum Placed {
    /// A temporary file in the COLD folder.
    Staged(PathBuf),
    /// A source file to be moved in at commit.
    Movable(PathBuf),
}

/// The bytes to copy when a document cannot be moved into the COLD folder.
enum CopyFrom {
    /// A file that stays where it is.
    Kept(PathBuf),
    /// A temporary file, removed once copied (when dropped).
    Temp(tempfile::TempPath),
}

struct HashingWriter<'a> {
    inner: &'a mut File,
    hasher: Option<&'a mut Sha256>,
}

impl Write for HashingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        if let Some(hasher) = self.hasher.as_mut() {
            hasher.update(&buf[..n]);
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn hash_file(path: &Path) -> Result<String> {
    let mut file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let n = file
            .read(&mut buffer)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            return Ok(hex(&hasher.finalize()));
        }
        hasher.update(&buffer[..n]);
    }
}

#[cfg(test)]
mod tests;
