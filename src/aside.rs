//! The set-aside store: what lanceur knows of the items it set aside, kept under the launcher's
//! state folder, `STATE_DIR/NAME/set-aside/<tag>/`, one folder per item.
//!
//! An item that fails too many runs in a row (`--set-aside-after`), or that its source says is not
//! worth trying again (an envelope that cannot be decoded), is set aside by the cycle: the source
//! puts it out of its way and writes the item's raw bytes into the item's folder here, then the
//! cycle writes `item.json` (which item, what failed, how often, where the source put it) and
//! journals the item as `aside`. `lanceur check` lists these folders; `lanceur retry` puts an item
//! back at its source and removes its folder.
//!
//! The folders are owner-only: a mail's raw bytes are as private as the mailbox.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::durable;
use crate::exit::Failure;
use crate::item::ItemKey;

/// The folder of the store inside a launcher's state folder.
const FOLDER: &str = "set-aside";
const RECORD: &str = "item.json";

/// What the store says about one item set aside.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Record {
    /// The journal key.
    pub key: String,
    /// How messages named the item.
    pub label: String,
    /// The last error.
    pub error: String,
    /// Runs in a row it failed (0: set aside at once by its source).
    pub failures: u32,
    /// When it was set aside (RFC 3339).
    pub time: String,
    /// How the source put it out of the way, in words.
    pub how: String,
    /// Where the source put it, for putting it back; opaque to all but the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<String>,
    /// The files of the raw bytes kept beside this record.
    #[serde(default)]
    pub kept: Vec<String>,
    /// The item's folder in the store (not written: it is where the record is).
    #[serde(skip)]
    pub folder: PathBuf,
}

/// The store of one launcher.
pub struct Store {
    root: PathBuf,
}

impl Store {
    pub fn new(state_dir: &Path) -> Store {
        Store {
            root: state_dir.join(FOLDER),
        }
    }

    /// The item's folder, created empty (owner-only), for the source to keep the raw bytes in.
    pub fn prepare(&self, key: &ItemKey) -> Result<PathBuf> {
        let folder = self.root.join(crate::names::short_tag(&key.0));
        // A folder that cannot be made private is on a file system that keeps no permissions,
        // which the state folder's own creation already reported.
        let private = |dir: &Path| -> std::io::Result<()> {
            if let Some(err) = crate::private::create_dir(dir)? {
                log::warn!("{} could not be made owner-only: {err}", dir.display());
            }
            Ok(())
        };
        let create = || -> std::io::Result<()> {
            private(&self.root)?;
            if folder.exists() {
                fs::remove_dir_all(&folder)?;
            }
            private(&folder)
        };
        create()
            .with_context(|| format!("cannot create {}", folder.display()))
            .context(Failure::Cold)?;
        Ok(folder)
    }

    /// Writes `record` into its folder, durably, naming the files the source kept there.
    pub fn write(&self, record: &mut Record) -> Result<()> {
        record.kept = list_files(&record.folder);
        let text = serde_json::to_vec_pretty(record).context("cannot encode a set-aside record")?;
        let path = record.folder.join(RECORD);
        let write = || -> std::io::Result<()> {
            let mut file = crate::private::create_file(&path)?;
            file.write_all(&text)?;
            file.sync_all()?;
            durable::sync_dir(&record.folder)?;
            durable::sync_dir(&self.root)
        };
        write()
            .with_context(|| format!("cannot write {}", path.display()))
            .context(Failure::Cold)
    }

    /// Every record, oldest first. A folder without a readable record (a run killed while setting
    /// an item aside) is not listed: its item was not journaled as set aside, so it is still
    /// taken, and set aside again if it fails again.
    pub fn list(&self) -> Vec<Record> {
        let Ok(entries) = fs::read_dir(&self.root) else {
            return Vec::new();
        };
        let mut records: Vec<Record> = entries
            .flatten()
            .filter_map(|entry| {
                let text = fs::read(entry.path().join(RECORD)).ok()?;
                let mut record: Record = serde_json::from_slice(&text).ok()?;
                record.folder = entry.path();
                Some(record)
            })
            .collect();
        records.sort_by(|a, b| a.time.cmp(&b.time).then_with(|| a.key.cmp(&b.key)));
        records
    }

    /// Removes an item's folder, once it is back at its source.
    pub fn remove(&self, record: &Record) -> Result<()> {
        fs::remove_dir_all(&record.folder)
            .with_context(|| format!("cannot remove {}", record.folder.display()))?;
        Ok(durable::sync_dir(&self.root)?)
    }
}

fn list_files(folder: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(folder)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name != RECORD)
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_listed_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        // A state folder others may read still keeps the raw bytes set aside from them.
        crate::private::tests::open_to_everyone(dir.path());
        let store = Store::new(dir.path());
        assert!(store.list().is_empty());
        let key = ItemKey("pop:abc".into());
        let folder = store.prepare(&key).unwrap();
        fs::write(folder.join("message.eml"), b"raw").unwrap();
        let mut record = Record {
            key: key.0.clone(),
            label: "mail 1".into(),
            error: "damaged".into(),
            failures: 3,
            time: "2025-01-01T00:00:00Z".into(),
            how: "left on the server".into(),
            place: None,
            kept: Vec::new(),
            folder,
        };
        store.write(&mut record).unwrap();
        // A folder a killed run left without its record is not an item set aside.
        store.prepare(&ItemKey("pop:half".into())).unwrap();
        let listed = store.list();
        assert_eq!(listed, vec![record.clone()]);
        assert_eq!(listed[0].kept, vec!["message.eml"]);
        for folder in [&store.root, &record.folder] {
            assert!(
                !crate::private::readable_by_others(folder).unwrap(),
                "{}",
                folder.display()
            );
        }
        store.remove(&listed[0]).unwrap();
        assert!(store.list().is_empty());
    }
}
