//! `lanceur adullact`: envelopes from Libriciel/Adullact platforms (Pastell deposits, S²LOW
//! tarballs, bare ACTES, PES V2 and Chorus Pro XML) decoded into documents with their index.
//!
//! One item is one envelope (`scan.rs` finds them): a folder with its completion marker, a ZIP, a
//! tar.gz, or a group of loose files around the file that names them. `fetch` reads the envelope's
//! files (archives within the bounds of `--max-expanded-size` and `--max-entries`) and decodes them
//! (`bundle.rs`, with `actes.rs`, `helios.rs`, `chorus.rs`, `pastell.rs`; `invoice/` reads an
//! invoice file's own fields whatever its format; `stream.rs` reads large XML as a stream). The item
//! key is `adullact:<path>:<total size>:<newest mtime ns>`. What `scan` cannot make an envelope of
//! is passed over with the reason, and reported once older than `--grace-period`
//! (`folder::Grace`).
//!
//! An envelope that cannot be decoded fails as an item (`ItemError::Failed`): it stays where it is,
//! or with `--failed` the cycle sets it aside at once (`ItemError::SetAside`), so that cron does not
//! report it every minute: `set_aside` keeps a copy of its files under the state folder and moves
//! it to `--failed`, and `restore` (`lanceur retry`) moves it back. Files that changed since listing
//! are `ItemError::NotReady`.
//!
//! Acknowledging removes the whole envelope, or moves it to `--archive`, in a way a crash cannot
//! leave half-done where the next run would see a smaller envelope and deposit it again: a folder
//! goes in one rename; loose files are first gathered, by renames, into a hidden
//! `.lanceur-ack-<tag>` folder whose manifest (written first) names the envelope's key and files,
//! so a run killed half-way finds them there, lists them under the same key, and finishes.

mod actes;
mod bundle;
mod chorus;
mod helios;
mod invoice;
mod pastell;
mod scan;
mod stream;
mod xml;

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{anyhow, Context, Result};
use serde::{Deserialize, Serialize};

use super::folder::{self, Grace, Snapshot};
use super::Source;
use crate::durable;
use crate::extract::archive::{self, Budget};
use crate::item::{Aside, Document, Item, ItemError, ItemKey, Listing, Settled};
use crate::names::{numbered, short_tag};
use crate::settings::{AdullactConfig, Kind};
use bundle::{Body, Bundle};

/// Hidden folders in the source folder that hold an envelope while it is being acknowledged.
const STAGING_PREFIX: &str = ".lanceur-ack-";

/// An envelope found by `scan`.
#[derive(Debug, Clone)]
pub struct Envelope {
    shape: Shape,
    /// Folder, archive or head file name.
    name: String,
    key: String,
    size: u64,
    newest: SystemTime,
}

#[derive(Debug, Clone)]
enum Shape {
    Folder {
        folder: PathBuf,
        files: Vec<Snapshot>,
        marker: Snapshot,
        /// Entries that are neither files nor the marker (subfolders, links).
        odd: Vec<String>,
    },
    Archive {
        file: Snapshot,
        tar: bool,
    },
    Loose {
        /// The head first.
        files: Vec<Snapshot>,
        /// The `.lanceur-ack-*` folder of an interrupted acknowledgement.
        staging: Option<PathBuf>,
    },
}

impl Envelope {
    fn label(&self) -> String {
        match &self.shape {
            Shape::Folder { .. } => format!("{}/", self.name),
            Shape::Loose { files, .. } if files.len() > 1 => {
                format!("{} (+{} file(s))", self.name, files.len() - 1)
            }
            _ => self.name.clone(),
        }
    }

    fn snapshots(&self) -> Vec<&Snapshot> {
        match &self.shape {
            Shape::Folder { files, marker, .. } => files.iter().chain([marker]).collect(),
            Shape::Archive { file, .. } => vec![file],
            Shape::Loose { files, .. } => files.iter().collect(),
        }
    }
}

/// What a `.lanceur-ack-*` folder says about the envelope it holds.
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    key: String,
    members: Vec<String>,
}

impl Manifest {
    const FILE: &'static str = "manifest.json";

    fn read(staging: &Path) -> Option<Manifest> {
        let text = fs::read(staging.join(Self::FILE)).ok()?;
        serde_json::from_slice(&text).ok()
    }

    fn write(&self, staging: &Path) -> io::Result<()> {
        let mut file = fs::File::create(staging.join(Self::FILE))?;
        file.write_all(&serde_json::to_vec(self).map_err(io::Error::other)?)?;
        file.sync_all()?;
        durable::sync_dir(staging)
    }
}

pub struct AdullactSource {
    config: AdullactConfig,
    label: String,
    envelopes: Vec<Envelope>,
}

impl AdullactSource {
    pub fn open(config: AdullactConfig) -> Result<AdullactSource> {
        folder::check_source_folder(&config.folder)?;
        if let Some(archive) = &config.archive {
            folder::check_target_folder(archive, "archive")?;
        }
        if let Some(failed) = &config.failed {
            folder::check_target_folder(failed, "failed")?;
        }
        Ok(AdullactSource {
            label: format!("adullact {}", config.folder.display()),
            config,
            envelopes: Vec::new(),
        })
    }

    /// The envelope's documents. Only the checks that its files are still those listed, and can
    /// be read, are `NotReady` (a file that stays unreadable past `--grace-period` fails);
    /// anything else fails the envelope.
    fn read(&self, envelope: &Envelope) -> Result<Vec<Document>, ItemError> {
        let (grace, now) = (Grace(self.config.grace_period), SystemTime::now());
        for snapshot in envelope.snapshots() {
            snapshot.check_still_there()?;
            snapshot.check_readable(&grace, now)?;
        }
        self.decode(envelope).map_err(ItemError::failed)
    }

    fn decode(&self, envelope: &Envelope) -> Result<Vec<Document>> {
        let mut budget = Budget::new(self.config.limits.clone());
        // Never `movable`: an envelope is acknowledged as a whole, so its files must all stay where
        // they are until then, or a run killed in between would find half an envelope.
        let disk = |snapshot: &Snapshot, path: String| bundle::File {
            path,
            body: Body::Disk {
                path: snapshot.path.clone(),
            },
        };
        let files = match &envelope.shape {
            Shape::Folder { files, odd, .. } => {
                if let Some(first) = odd.first() {
                    return Err(anyhow!(
                        "holds {first}, which is not a file; a Pastell envelope folder holds \
                         files only"
                    ));
                }
                files.iter().map(|f| disk(f, f.name())).collect()
            }
            Shape::Archive { file, tar } => {
                let reader = fs::File::open(&file.path)
                    .with_context(|| format!("cannot read {}", file.path.display()))?;
                let pieces = if *tar {
                    archive::read_tar_gz(io::BufReader::new(reader), &mut budget)?
                } else {
                    archive::read_zip(io::BufReader::new(reader), &mut budget)?
                };
                pieces
                    .into_iter()
                    .map(|piece| bundle::File {
                        path: piece.path,
                        body: Body::Piece(piece.data),
                    })
                    .collect()
            }
            Shape::Loose { files, .. } => files.iter().map(|f| disk(f, f.name())).collect(),
        };
        let bundle = Bundle {
            name: envelope.name.clone(),
            identity: envelope.key.clone(),
            files,
        };
        bundle::decode(bundle, self.config.kind, &mut budget)
    }

    /// Moves an envelope's files into `target` (a folder envelope as a folder). Returns where it
    /// went, and each (new place, old place) pair for `restore`.
    fn move_envelope(
        &self,
        envelope: &Envelope,
        target: &Path,
    ) -> Result<(PathBuf, Vec<(PathBuf, PathBuf)>)> {
        match &envelope.shape {
            Shape::Folder { folder, .. } => {
                let to = move_folder(folder, target, &envelope.name)?;
                Ok((to.clone(), vec![(to, folder.clone())]))
            }
            Shape::Archive { file, .. } => {
                let to = durable::move_file(&file.path, target, &file.name())?;
                Ok((to.clone(), vec![(to, file.path.clone())]))
            }
            Shape::Loose { files, .. } => {
                let mut moved = Vec::new();
                for file in files {
                    let to = durable::move_file(&file.path, target, &file.name())
                        .with_context(|| format!("cannot move {}", file.path.display()))?;
                    moved.push((to, file.path.clone()));
                }
                let shown = match moved.as_slice() {
                    [(one, _)] => one.clone(),
                    _ => target.to_path_buf(),
                };
                Ok((shown, moved))
            }
        }
    }

    fn acknowledge_one(&self, envelope: &Envelope) -> Result<()> {
        match &envelope.shape {
            Shape::Folder { folder, .. } => {
                if !folder.exists() {
                    return Ok(());
                }
                for snapshot in envelope.snapshots() {
                    if let Ok(meta) = fs::metadata(&snapshot.path) {
                        snapshot
                            .check_unchanged(&meta)
                            .map_err(ItemError::into_error)?;
                    }
                }
                match &self.config.archive {
                    Some(archive) => move_folder(folder, archive, &envelope.name).map(|_| ()),
                    None => {
                        // One rename takes the whole envelope out of sight, then it is deleted.
                        let staging = self.staging_for(envelope);
                        durable::rename_no_replace(folder, &staging)
                            .with_context(|| format!("cannot remove {}", folder.display()))?;
                        durable::sync_dir(&self.config.folder)?;
                        fs::remove_dir_all(&staging)
                            .with_context(|| format!("cannot delete {}", staging.display()))
                    }
                }
            }
            Shape::Archive { file, .. } => self.finish_file(file, &self.config.folder),
            Shape::Loose { files, .. } if files.len() == 1 => {
                self.finish_file(&files[0], &self.config.folder)
            }
            Shape::Loose { files, staging } => {
                let staging = staging
                    .clone()
                    .unwrap_or_else(|| self.staging_for(envelope));
                fs::create_dir_all(&staging)
                    .with_context(|| format!("cannot create {}", staging.display()))?;
                let manifest = Manifest {
                    key: envelope.key.clone(),
                    members: files.iter().map(|f| f.relative.clone()).collect(),
                };
                manifest
                    .write(&staging)
                    .with_context(|| format!("cannot write {}", staging.display()))?;
                durable::sync_dir(&self.config.folder)?;
                for file in files {
                    let inside = staging.join(&file.relative);
                    if file.path != inside {
                        if let Ok(meta) = fs::metadata(&file.path) {
                            file.check_unchanged(&meta).map_err(ItemError::into_error)?;
                            fs::rename(&file.path, &inside).with_context(|| {
                                format!("cannot move {} aside", file.path.display())
                            })?;
                        }
                    }
                }
                durable::sync_dir(&staging)?;
                durable::sync_dir(&self.config.folder)?;
                self.finish_staging(&staging)
            }
        }
    }

    /// Deletes a single file, or moves it to `--archive`. A file already gone is done.
    fn finish_file(&self, file: &Snapshot, parent: &Path) -> Result<()> {
        let Ok(meta) = fs::symlink_metadata(&file.path) else {
            return Ok(());
        };
        file.check_unchanged(&meta)
            .map_err(ItemError::into_error)
            .with_context(|| format!("{} was not removed", file.relative))?;
        match &self.config.archive {
            None => {
                fs::remove_file(&file.path)
                    .with_context(|| format!("cannot delete {}", file.path.display()))?;
                durable::sync_dir(parent)?;
            }
            Some(archive) => {
                durable::move_file(&file.path, archive, &file.name()).with_context(|| {
                    format!(
                        "cannot move {} to {}",
                        file.path.display(),
                        archive.display()
                    )
                })?;
            }
        }
        Ok(())
    }

    /// Deletes a `.lanceur-ack-*` folder, or moves its files (not its manifest) to `--archive`.
    fn finish_staging(&self, staging: &Path) -> Result<()> {
        if let Some(archive) = &self.config.archive {
            let entries = fs::read_dir(staging)
                .with_context(|| format!("cannot list {}", staging.display()))?;
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name != Manifest::FILE {
                    durable::move_file(&entry.path(), archive, &name).with_context(|| {
                        format!("cannot move {} to {}", name, archive.display())
                    })?;
                }
            }
        }
        fs::remove_dir_all(staging)
            .with_context(|| format!("cannot delete {}", staging.display()))?;
        durable::sync_dir(&self.config.folder)?;
        Ok(())
    }

    fn staging_for(&self, envelope: &Envelope) -> PathBuf {
        self.config
            .folder
            .join(format!("{STAGING_PREFIX}{}", short_tag(&envelope.key)))
    }

    /// Finishes acknowledgements that a killed run left in `.lanceur-ack-*` folders and that no
    /// listed envelope stands for any more (a deleted folder envelope, loose files all moved in).
    fn sweep(&self) {
        let listed: Vec<&Path> = self
            .envelopes
            .iter()
            .filter_map(|e| match &e.shape {
                Shape::Loose {
                    staging: Some(s), ..
                } => Some(s.as_path()),
                _ => None,
            })
            .collect();
        for staging in scan::staging_folders(&self.config.folder) {
            if listed.contains(&staging.as_path()) {
                continue;
            }
            if let Err(err) = self.finish_staging(&staging) {
                log::warn!("cannot finish {}: {err:#}", staging.display());
            }
        }
    }
}

impl Source for AdullactSource {
    fn label(&self) -> &str {
        &self.label
    }

    fn list(
        &mut self,
        _wanted: &mut dyn FnMut(&str) -> bool,
        _settled: &Settled<'_>,
    ) -> Result<Listing> {
        // Envelopes have no name the filter could judge: their documents do, once decoded.
        let (envelopes, skipped) = scan::scan(&self.config, SystemTime::now())?;
        let items = envelopes
            .iter()
            .enumerate()
            .map(|(slot, envelope)| Item {
                key: ItemKey(envelope.key.clone()),
                label: envelope.label(),
                name: None,
                size: envelope.size,
                slot,
                aliases: Vec::new(),
            })
            .collect();
        self.envelopes = envelopes;
        Ok(Listing {
            items,
            skipped,
            complete: true,
        })
    }

    fn fetch(&mut self, item: &Item) -> Result<Vec<Document>, ItemError> {
        let envelope = &self.envelopes[item.slot];
        match self.read(envelope) {
            // Not worth trying again: with --failed it goes there at once.
            Err(ItemError::Failed(err)) if self.config.failed.is_some() => {
                Err(ItemError::SetAside(err))
            }
            other => other,
        }
    }

    fn set_aside(&mut self, item: &Item, keep: &Path) -> Result<Aside, ItemError> {
        let envelope = &self.envelopes[item.slot];
        for snapshot in envelope.snapshots() {
            let name = snapshot.relative.replace('/', "_");
            if let Err(err) = durable::copy_new(&snapshot.path, &keep.join(&name)) {
                log::warn!("cannot keep a copy of {}: {err}", snapshot.relative);
            }
        }
        let Some(failed) = &self.config.failed else {
            return Ok(Aside::left_in_place());
        };
        let (shown, moved) = self
            .move_envelope(envelope, failed)
            .map_err(|err| ItemError::failed(err.context("cannot move it to --failed")))?;
        Ok(Aside {
            how: format!("moved to {}", shown.display()),
            place: serde_json::to_string(&moved).ok(),
        })
    }

    fn restore(&mut self, _key: &ItemKey, place: Option<&str>) -> Result<()> {
        folder::move_back(place)
    }

    fn acknowledge(&mut self, items: &[&Item]) -> Vec<Result<(), ItemError>> {
        self.sweep();
        items
            .iter()
            .map(|item| {
                self.acknowledge_one(&self.envelopes[item.slot])
                    .map_err(ItemError::failed)
            })
            .collect()
    }
}

/// Moves folder `from` into `dir` as `name` (or `name_2`…): one rename on the same volume; across
/// volumes a copy under a hidden name in `dir`, renamed into place, then the original deleted.
fn move_folder(from: &Path, dir: &Path, name: &str) -> Result<PathBuf> {
    for n in 1..=10_000 {
        let target = dir.join(numbered(name, n));
        match durable::rename_no_replace(from, &target) {
            Ok(()) => {
                durable::sync_dir(dir)?;
                if let Some(parent) = from.parent() {
                    durable::sync_dir(parent)?;
                }
                return Ok(target);
            }
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(err) if durable::is_cross_device(&err) => {
                return copy_folder_across(from, dir, name)
            }
            Err(err) => {
                return Err(err).with_context(|| {
                    format!("cannot move {} to {}", from.display(), dir.display())
                })
            }
        }
    }
    Err(anyhow!("no free name for {name} in {}", dir.display()))
}

fn copy_folder_across(from: &Path, dir: &Path, name: &str) -> Result<PathBuf> {
    let staging = dir.join(format!(".{name}.lanceur-move.tmp"));
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir(&staging).with_context(|| format!("cannot create {}", staging.display()))?;
    for entry in fs::read_dir(from)?.flatten() {
        let target = staging.join(entry.file_name());
        durable::copy_new(&entry.path(), &target)
            .map_err(|err| anyhow!("cannot copy {}: {err}", entry.path().display()))?;
    }
    durable::sync_dir(&staging)?;
    let target = move_folder(&staging, dir, name)?;
    fs::remove_dir_all(from).with_context(|| format!("cannot delete {}", from.display()))?;
    Ok(target)
}
