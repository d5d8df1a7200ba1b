//! The POP3 source's own small state for `--keep`: when each kept mail was first taken, so that
//! `--delete-after DAYS` can delete it from the server that many days later (getmail's
//! `delete_after`, which counts from its `oldmail` record).
//!
//! Why not the journal: the journal belongs to the cycle and no source reads it. It says whether a
//! key is done, not since when, and it forgets what the server no longer lists. So the source notes
//! the date itself, in `STATE_DIR/NAME/pop-kept`, when it acknowledges a mail in keep mode, which
//! the cycle does only once the mail's documents are durable in the COLD folder and journaled. A
//! mail the file names is therefore always safe to delete.
//!
//! The file is rewritten whole (temporary file, fsync, rename, fsync of the folder) before
//! `acknowledge` returns: were the write lost after the journal said "acknowledged", the mail would
//! never be acknowledged again and so never expire. Format: one `<unix seconds> <uidl>` line per
//! kept mail (a UIDL holds no spaces, RFC 1939). Entries whose mail left the server are dropped.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::durable;

pub struct Kept {
    path: PathBuf,
    first_taken: HashMap<String, u64>,
}

impl Kept {
    /// Reads the file; a missing one is empty, an unreadable line is ignored (that mail is then
    /// counted from now, which only delays its deletion).
    pub fn load(path: &Path) -> Result<Kept> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(err) => return Err(err).with_context(|| format!("cannot read {}", path.display())),
        };
        let mut first_taken = HashMap::new();
        for line in text.lines() {
            let parsed = line
                .split_once(' ')
                .and_then(|(secs, uidl)| Some((secs.parse::<u64>().ok()?, uidl)));
            match parsed {
                Some((secs, uidl)) if !uidl.is_empty() && !uidl.contains(' ') => {
                    first_taken.insert(uidl.to_string(), secs);
                }
                _ => log::warn!("ignoring a damaged line in {}: {line:?}", path.display()),
            }
        }
        Ok(Kept {
            path: path.to_path_buf(),
            first_taken,
        })
    }

    /// Notes `uidls` as taken at `now` unless already noted. Whether anything changed.
    pub fn note<'a>(&mut self, uidls: impl IntoIterator<Item = &'a str>, now: u64) -> bool {
        let mut changed = false;
        for uidl in uidls {
            if !self.first_taken.contains_key(uidl) {
                self.first_taken.insert(uidl.to_string(), now);
                changed = true;
            }
        }
        changed
    }

    /// The noted mails taken at or before `cutoff`.
    pub fn taken_before(&self, cutoff: u64) -> Vec<String> {
        let mut old: Vec<String> = self
            .first_taken
            .iter()
            .filter(|(_, &secs)| secs <= cutoff)
            .map(|(uidl, _)| uidl.clone())
            .collect();
        old.sort();
        old
    }

    /// Keeps only the mails in `present`. Whether anything changed.
    pub fn retain(&mut self, present: &HashSet<&str>) -> bool {
        let before = self.first_taken.len();
        self.first_taken
            .retain(|uidl, _| present.contains(uidl.as_str()));
        self.first_taken.len() != before
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.first_taken.len()
    }

    /// Replaces the file, durably.
    pub fn save(&self) -> Result<()> {
        let folder = self.path.parent().unwrap_or(Path::new("."));
        let write = || -> std::io::Result<()> {
            let mut lines: Vec<(&String, &u64)> = self.first_taken.iter().collect();
            lines.sort();
            let mut text = String::new();
            for (uidl, secs) in lines {
                text.push_str(&format!("{secs} {uidl}\n"));
            }
            let mut file = tempfile::Builder::new()
                .prefix(".pop-kept.")
                .tempfile_in(folder)?;
            file.write_all(text.as_bytes())?;
            file.as_file().sync_all()?;
            file.persist(&self.path).map_err(|e| e.error)?;
            durable::sync_dir(folder)
        };
        write().with_context(|| format!("cannot write {}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_survive_a_reload_and_keep_their_first_date() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pop-kept");
        let mut kept = Kept::load(&path).unwrap();
        assert_eq!(kept.len(), 0);
        assert!(kept.note(["a", "b"], 100));
        assert!(!kept.note(["a"], 200));
        kept.save().unwrap();
        std::fs::write(&path, std::fs::read_to_string(&path).unwrap() + "garbage\n").unwrap();
        let mut kept = Kept::load(&path).unwrap();
        assert_eq!(kept.len(), 2);
        assert!(kept.note(["c"], 300));
        assert_eq!(kept.taken_before(250), vec!["a", "b"]);
        assert!(kept.retain(&HashSet::from(["b", "c"])));
        assert_eq!(kept.taken_before(1000), vec!["b", "c"]);
    }
}
