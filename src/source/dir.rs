//! `lanceur dir`: files from a local or network folder.
//!
//! Each regular file is an item and its own single document. The hard part is not taking a file that
//! is still being written: a scanner, an SMB copy or an FTP upload writes for a while, and a file
//! taken half-way is a document lost. So a file is passed over when its name says "in progress"
//! (`*.part`, `*.filepart`, `*.crdownload`, `*.tmp`, `~$*`), when it is hidden or system clutter, and
//! when it changed less than `--min-age` ago; and `fetch` checks again that size and modification time
//! are those seen by `list`. Those rules live in `folder.rs`, shared with `adullact`.
//!
//! The journal key is `dir:<path>:<size>:<mtime ns>`: a file replaced by a new one under the same
//! name is a new item. Acknowledging deletes the file, or moves it to `--archive`. In delete mode the
//! document is `movable`: on the COLD folder's volume the deposit renames the file itself into the
//! COLD folder at commit time, so acknowledging then finds it gone, which is success.
//!
//! A file set aside (it failed `--set-aside-after` runs in a row) is copied into the state folder
//! when it can be read, then moved to `--failed` (subfolders kept) or left where it is; `restore`
//! moves it back for `lanceur retry`.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result};

use super::folder::{self, passed_over_by_name, Grace, Snapshot};
use super::Source;
use crate::clock::unix_nanos;
use crate::durable::{self, file_name};
use crate::exit::Failure;
use crate::item::{Aside, Content, Document, Item, ItemError, ItemKey, Listing, Settled, Skipped};
use crate::settings::DirConfig;

pub struct DirSource {
    config: DirConfig,
    label: String,
    files: Vec<Snapshot>,
}

impl DirSource {
    pub fn open(config: DirConfig) -> Result<DirSource> {
        let label = format!("dir {}", config.folder.display());
        folder::check_source_folder(&config.folder)?;
        if let Some(archive) = &config.archive {
            folder::check_target_folder(archive, "archive")?;
        }
        Ok(DirSource {
            config,
            label,
            files: Vec::new(),
        })
    }

    fn walk(
        &self,
        folder: &Path,
        prefix: &str,
        wanted: &mut dyn FnMut(&str) -> bool,
        now: SystemTime,
        listing: &mut Listing,
        found: &mut Vec<Snapshot>,
    ) -> Result<()> {
        let entries = fs::read_dir(folder)
            .with_context(|| format!("cannot list {}", folder.display()))
            .context(Failure::Source)?;
        for entry in entries {
            let entry = entry
                .with_context(|| format!("cannot list {}", folder.display()))
                .context(Failure::Source)?;
            let os_name = entry.file_name();
            let name = os_name.to_string_lossy();
            let relative = format!("{prefix}{name}");
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            if file_type.is_dir() {
                if self.config.recursive
                    && !folder::is_hidden(&name)
                    && !self.is_archive(&entry.path())
                {
                    self.walk(
                        &entry.path(),
                        &format!("{relative}/"),
                        wanted,
                        now,
                        listing,
                        found,
                    )?;
                }
                continue;
            }
            if let Some(reason) = passed_over_by_name(&name) {
                listing.skipped.push(Skipped::routine(relative, reason));
                continue;
            }
            if !file_type.is_file() {
                let reason = match folder::link_reason(&file_type) {
                    Some(link) => format!("{link}; lanceur takes regular files only"),
                    None => "not a regular file; lanceur takes regular files only".to_string(),
                };
                let changed = fs::symlink_metadata(entry.path())
                    .and_then(|m| m.modified())
                    .unwrap_or(now);
                let grace = Grace(self.config.grace_period);
                listing
                    .skipped
                    .push(grace.waiting(now, &relative, &reason, changed));
                continue;
            }
            // Ask the filter before looking at the file, so unwanted names cost nothing.
            if !wanted(&name) {
                continue;
            }
            let meta = match entry.metadata() {
                Ok(meta) => meta,
                // Gone between readdir and stat: someone else took it.
                Err(_) => continue,
            };
            if folder::is_hidden_by_attribute(&meta) {
                listing
                    .skipped
                    .push(Skipped::routine(relative, "hidden file"));
                continue;
            }
            let snapshot = Snapshot::new(entry.path(), relative, &meta);
            if let Some(reason) = folder::too_young(now, snapshot.modified, self.config.min_age) {
                listing
                    .skipped
                    .push(Skipped::routine(snapshot.relative, reason));
                continue;
            }
            found.push(snapshot);
        }
        Ok(())
    }

    fn is_archive(&self, path: &Path) -> bool {
        self.config
            .archive
            .as_deref()
            .is_some_and(|archive| folder::is_same_folder(archive, path))
    }

    /// The folder under `archive` (or `--failed`) for `file`, its subfolders kept, created.
    fn archive_target(&self, file: &Snapshot, archive: &Path) -> Result<PathBuf> {
        let mut folder = archive.to_path_buf();
        if let Some((subfolders, _)) = file.relative.rsplit_once('/') {
            folder.push(subfolders);
            fs::create_dir_all(&folder)
                .with_context(|| format!("cannot create archive folder {}", folder.display()))?;
        }
        Ok(folder)
    }

    /// The post-action for one file: delete it, or move it to `--archive`.
    fn remove_or_archive(&self, file: &Snapshot) -> Result<()> {
        match &self.config.archive {
            None => fs::remove_file(&file.path)
                .with_context(|| format!("cannot delete {}", file.path.display()))?,
            Some(archive) => {
                let folder = self.archive_target(file, archive)?;
                durable::move_file(&file.path, &folder, &file_name(&file.path)).with_context(
                    || {
                        format!(
                            "cannot move {} to {}",
                            file.path.display(),
                            folder.display()
                        )
                    },
                )?;
            }
        }
        Ok(())
    }
}

impl Source for DirSource {
    fn label(&self) -> &str {
        &self.label
    }

    fn list(
        &mut self,
        wanted: &mut dyn FnMut(&str) -> bool,
        _settled: &Settled<'_>,
    ) -> Result<Listing> {
        let mut listing = Listing {
            complete: true,
            ..Listing::default()
        };
        let mut found = Vec::new();
        let folder = self.config.folder.clone();
        self.walk(
            &folder,
            "",
            wanted,
            SystemTime::now(),
            &mut listing,
            &mut found,
        )?;
        // Oldest first; the name breaks ties so the order is the same on every run.
        found.sort_by(|a, b| {
            a.modified
                .cmp(&b.modified)
                .then_with(|| a.relative.cmp(&b.relative))
        });
        listing.items = found
            .iter()
            .enumerate()
            .map(|(slot, file)| Item {
                key: ItemKey(format!(
                    "dir:{}:{}:{}",
                    file.path.to_string_lossy(),
                    file.size,
                    unix_nanos(file.modified)
                )),
                label: file.relative.clone(),
                name: Some(file_name(&file.path)),
                size: file.size,
                slot,
                aliases: Vec::new(),
            })
            .collect();
        self.files = found;
        Ok(listing)
    }

    fn fetch(&mut self, item: &Item) -> Result<Vec<Document>, ItemError> {
        let file = &self.files[item.slot];
        file.check_still_there()?;
        file.check_readable(&Grace(self.config.grace_period), SystemTime::now())?;
        let fields = vec![
            ("original_name".to_string(), file_name(&file.path)),
            (
                "source_path".to_string(),
                file.path.to_string_lossy().into_owned(),
            ),
            (
                "modified".to_string(),
                humantime::format_rfc3339_seconds(file.modified).to_string(),
            ),
        ];
        Ok(vec![Document {
            name: file_name(&file.path),
            content: Content::File {
                path: file.path.clone(),
                movable: self.config.archive.is_none(),
            },
            fields,
        }])
    }

    fn set_aside(&mut self, item: &Item, keep: &Path) -> Result<Aside, ItemError> {
        let file = &self.files[item.slot];
        if let Err(err) = durable::copy_new(&file.path, &keep.join(file.name())) {
            log::warn!("cannot keep a copy of {}: {err}", file.relative);
        }
        let Some(failed) = &self.config.failed else {
            return Ok(Aside::left_in_place());
        };
        let moved = self.archive_target(file, failed).and_then(|folder| {
            Ok(durable::move_file(
                &file.path,
                &folder,
                &file_name(&file.path),
            )?)
        });
        let to = moved.map_err(|err| {
            ItemError::failed(err.context(format!("cannot move it to {}", failed.display())))
        })?;
        Ok(Aside {
            how: format!("moved to {}", to.display()),
            place: serde_json::to_string(&[(&to, &file.path)]).ok(),
        })
    }

    fn restore(&mut self, _key: &ItemKey, place: Option<&str>) -> Result<()> {
        folder::move_back(place)
    }

    fn acknowledge(&mut self, items: &[&Item]) -> Vec<Result<(), ItemError>> {
        let mut touched: BTreeSet<PathBuf> = BTreeSet::new();
        let results = items
            .iter()
            .map(|item| {
                let file = &self.files[item.slot];
                // A re-acknowledged file (killed before journaling its ack) may be gone: done.
                let Ok(meta) = fs::symlink_metadata(&file.path) else {
                    return Ok(());
                };
                // Never delete or move a file that is no longer the one deposited.
                file.check_unchanged(&meta)
                    .map_err(|err| err.context(format!("{} was not removed", file.relative)))?;
                self.remove_or_archive(file).map_err(ItemError::failed)?;
                if let Some(parent) = file.path.parent() {
                    touched.insert(parent.to_path_buf());
                }
                Ok(())
            })
            .collect();
        // One sync per folder and batch: the deletions must be durable before the journal says so.
        for folder in touched {
            if let Err(err) = durable::sync_dir(&folder) {
                log::warn!("cannot sync {}: {err}", folder.display());
            }
        }
        results
    }
}
