//! The journal: what this launcher has deposited and acknowledged, so that no run deposits an item
//! twice and a killed run can be finished by the next.
//!
//! It is an append-only file of JSON lines, one per state change of an item, keyed by the source's own
//! identity of the item (`ItemKey`):
//!
//! - `staged`: the item's documents are durable under temporary names in the COLD folder (the names are
//!   recorded); not yet visible to the COLD.
//! - `done`: the documents have their final names. From here on the item is never deposited again.
//! - `acked`: the source's post-action (delete, move, mark seen) has been applied.
//!
//! Items that are not deposited have states of their own:
//!
//! - `unmatched`: fetched, but the filters kept none of its documents; left at the source. The line
//!   holds the filters' fingerprint (`f`): while the filters stay the same the item is not fetched
//!   again, and once they change (a typo fixed) it is a candidate again.
//! - `failed`: failed in `n` runs in a row, the last time with error `e`; a candidate again.
//! - `aside`: set aside after failing too often (see `cycle`); no longer a candidate, until
//!   `lanceur retry` writes `retry`, which forgets the item.
//!
//! `staged` and `done` are fsynced before the cycle goes on; `acked` need not be, because losing it
//! only means acknowledging the item once more. A line torn by a crash can only be the last one; it is
//! ignored, and cut off before anything is appended.
//!
//! The journal is compacted (rewritten with one line per item, atomically) when superseded lines
//! outnumber live ones; acknowledged items that the source no longer lists are forgotten after
//! `RETENTION`, so the file does not grow forever.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::durable;
use crate::exit::Failure;
use crate::item::{ItemKey, Staged};

/// How long an acknowledged item that the source no longer lists is remembered.
pub const RETENTION: Duration = Duration::from_secs(60 * 24 * 3600);

/// Below this many superseded lines the journal is never rewritten.
const COMPACT_MIN_SUPERSEDED: usize = 5000;

/// What the journal knows of an item. Most items of a big journal are `Acked` or `Done`, so the
/// variants with a payload keep it boxed: an entry takes 48 bytes in the table, plus its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Staged(Box<[Staged]>),
    Done,
    Acked,
    /// None of its documents passed the filters whose fingerprint this is.
    Unmatched(Box<str>),
    /// Failed in this many runs in a row, the last time with this error.
    Failed(u32, Box<str>),
    /// Set aside: not a candidate until `lanceur retry`.
    Aside,
}

#[derive(Debug, Clone)]
struct Entry {
    state: State,
    /// Seconds since the epoch of the last change.
    time: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Line {
    #[serde(rename = "k")]
    key: String,
    #[serde(rename = "s")]
    state: Tag,
    #[serde(rename = "t")]
    time: u64,
    #[serde(rename = "f", default, skip_serializing_if = "Vec::is_empty")]
    files: Vec<Staged>,
    /// `unmatched`: the filters' fingerprint; `failed`: the last error.
    #[serde(rename = "e", default, skip_serializing_if = "String::is_empty")]
    note: String,
    /// `failed`: runs in a row.
    #[serde(rename = "n", default, skip_serializing_if = "is_zero")]
    count: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Tag {
    Staged,
    Done,
    Acked,
    Unmatched,
    Failed,
    Aside,
    /// Forgets the item (`lanceur retry`).
    Retry,
}

pub struct Journal {
    path: PathBuf,
    /// By key (`ItemKey`'s text: a boxed `str` is two words, a `String` three).
    entries: HashMap<Box<str>, Entry>,
    /// Lines in the file, live or superseded.
    lines: usize,
    /// Lines recorded since the last flush.
    pending: Vec<u8>,
    /// Whether lines were written since the last sync.
    unsynced: bool,
    file: Option<File>,
}

impl Journal {
    /// Loads the journal at `path` (absent means empty). `writable` opens it for appending, cutting off
    /// a line torn by a crash; a read-only journal (dry runs) changes nothing on disk.
    pub fn open(path: &Path, writable: bool) -> Result<Journal> {
        let mut journal = Journal {
            path: path.to_path_buf(),
            entries: HashMap::new(),
            lines: 0,
            pending: Vec::new(),
            unsynced: false,
            file: None,
        };
        let good_length = match File::open(path) {
            Ok(file) => journal.load(file)?,
            Err(err) if err.kind() == io::ErrorKind::NotFound => 0,
            Err(err) => {
                return Err(err)
                    .with_context(|| format!("cannot read journal {}", path.display()))
                    .context(Failure::Cold)
            }
        };
        if writable {
            // Owner-only: it names attachments and Message-IDs.
            let mut file = crate::private::options()
                .create(true)
                .read(true)
                .write(true)
                .truncate(false)
                .open(path)
                .map_err(|err| {
                    let what = format!("cannot open journal {} for writing", path.display());
                    let message = crate::durable::write_context(what, &err);
                    anyhow::Error::new(err).context(message)
                })
                .context(Failure::Cold)?;
            let length = file.metadata().map(|m| m.len()).unwrap_or(0);
            if length != good_length {
                log::warn!(
                    "journal {}: dropping {} bytes of a line torn by an interrupted run",
                    path.display(),
                    length - good_length
                );
                file.set_len(good_length)
                    .context("cannot repair the journal")
                    .context(Failure::Cold)?;
            }
            file.seek(SeekFrom::End(0))
                .context("cannot open the journal")
                .context(Failure::Cold)?;
            journal.file = Some(file);
        }
        Ok(journal)
    }

    /// Reads every line; returns the length of the file up to the last complete, valid line.
    fn load(&mut self, file: File) -> Result<u64> {
        let mut reader = BufReader::new(file);
        let mut line = Vec::new();
        let mut offset = 0u64;
        let mut good = 0u64;
        loop {
            line.clear();
            let n = reader
                .read_until(b'\n', &mut line)
                .with_context(|| format!("cannot read journal {}", self.path.display()))
                .context(Failure::Cold)?;
            if n == 0 {
                return Ok(good);
            }
            offset += n as u64;
            if line.last() != Some(&b'\n') {
                // Torn final line: the crash happened while it was being written.
                return Ok(good);
            }
            match serde_json::from_slice::<Line>(&line) {
                Ok(parsed) => {
                    self.apply(parsed);
                    good = offset;
                }
                Err(err) => {
                    // A bad line in the middle is not a crash artefact. Keep going: dropping the
                    // journal would deposit everything again.
                    log::warn!(
                        "journal {}: ignoring an unreadable line: {err}",
                        self.path.display()
                    );
                    good = offset;
                }
            }
        }
    }

    fn apply(&mut self, line: Line) {
        self.lines += 1;
        let state = match line.state {
            Tag::Staged => State::Staged(line.files.into()),
            Tag::Done => State::Done,
            Tag::Acked => State::Acked,
            Tag::Unmatched => State::Unmatched(line.note.into()),
            Tag::Failed => State::Failed(line.count.max(1), line.note.into()),
            Tag::Aside => State::Aside,
            Tag::Retry => {
                self.entries.remove(line.key.as_str());
                return;
            }
        };
        self.entries.insert(
            line.key.into(),
            Entry {
                state,
                time: line.time,
            },
        );
    }

    pub fn state(&self, key: &ItemKey) -> Option<&State> {
        self.entries.get(key.0.as_str()).map(|e| &e.state)
    }

    /// How many keys the journal remembers, in any state (an item may be known under several).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Items staged by an interrupted run and not yet done, with their staged files.
    pub fn unfinished(&self) -> Vec<(ItemKey, Vec<Staged>)> {
        let mut out: Vec<(ItemKey, Vec<Staged>)> = self
            .entries
            .iter()
            .filter_map(|(key, entry)| match &entry.state {
                State::Staged(files) => Some((ItemKey(key.to_string()), files.to_vec())),
                _ => None,
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    pub fn record_staged(&mut self, key: &ItemKey, files: &[Staged]) -> Result<()> {
        self.record(key, Tag::Staged, files.to_vec())
    }

    pub fn record_done(&mut self, key: &ItemKey) -> Result<()> {
        self.record(key, Tag::Done, Vec::new())
    }

    pub fn record_acked(&mut self, key: &ItemKey) -> Result<()> {
        self.record(key, Tag::Acked, Vec::new())
    }

    /// None of the item's documents passed the filters of fingerprint `filters`.
    pub fn record_unmatched(&mut self, key: &ItemKey, filters: &str) -> Result<()> {
        self.record_line(key, Tag::Unmatched, Vec::new(), filters.to_string(), 0)
    }

    /// The item failed again in this run with `error`; returns how many runs in a row it has
    /// failed the same way (digits aside: a count or a duration in a message changes from run to
    /// run while the failure stays the same).
    pub fn record_failed(&mut self, key: &ItemKey, error: &str) -> Result<u32> {
        let count = match self.state(key) {
            Some(State::Failed(count, last)) if same_way(last, error) => count.saturating_add(1),
            _ => 1,
        };
        self.record_line(key, Tag::Failed, Vec::new(), error.to_string(), count)?;
        Ok(count)
    }

    /// The item is set aside: no longer a candidate.
    pub fn record_aside(&mut self, key: &ItemKey) -> Result<()> {
        self.record(key, Tag::Aside, Vec::new())
    }

    /// Forgets the item, for `lanceur retry`: the next run takes it as new.
    pub fn record_retry(&mut self, key: &ItemKey) -> Result<()> {
        self.record(key, Tag::Retry, Vec::new())
    }

    fn record(&mut self, key: &ItemKey, state: Tag, files: Vec<Staged>) -> Result<()> {
        self.record_line(key, state, files, String::new(), 0)
    }

    fn record_line(
        &mut self,
        key: &ItemKey,
        state: Tag,
        files: Vec<Staged>,
        note: String,
        count: u32,
    ) -> Result<()> {
        let line = Line {
            key: key.0.clone(),
            state,
            time: now(),
            files,
            note,
            count,
        };
        serde_json::to_writer(&mut self.pending, &line).context("cannot encode a journal line")?;
        self.pending.push(b'\n');
        self.apply(line);
        Ok(())
    }

    /// Writes the recorded lines; with `durable`, waits until they are on disk.
    pub fn flush(&mut self, durable: bool) -> Result<()> {
        let Some(file) = self.file.as_mut() else {
            self.pending.clear();
            return Ok(());
        };
        if !self.pending.is_empty() {
            file.write_all(&self.pending)
                .with_context(|| format!("cannot write journal {}", self.path.display()))
                .context(Failure::Cold)?;
            self.pending.clear();
            self.unsynced = true;
        }
        if durable && self.unsynced {
            file.sync_data()
                .with_context(|| format!("cannot sync journal {}", self.path.display()))
                .context(Failure::Cold)?;
            self.unsynced = false;
        }
        Ok(())
    }

    /// Forgets acknowledged items that are absent from `listed` and older than `RETENTION`, and
    /// rewrites the file when it holds mostly superseded lines. `listed` must be the source's whole
    /// listing, or nothing may be forgotten: pass `None` then.
    pub fn compact(&mut self, listed: Option<&HashSet<ItemKey>>) -> Result<()> {
        if self.file.is_none() {
            return Ok(());
        }
        self.flush(true)?;
        if let Some(listed) = listed {
            let horizon = now().saturating_sub(RETENTION.as_secs());
            // An item the source no longer holds is forgotten once old, whatever became of it,
            // except what is set aside (`lanceur retry` may bring it back) and unfinished work.
            self.entries.retain(|key, entry| {
                let forgettable = matches!(
                    entry.state,
                    State::Acked | State::Unmatched(_) | State::Failed(..)
                );
                !(forgettable && entry.time < horizon && !listed.contains(&**key))
            });
        }
        // Each item takes three lines over its life; rewrite only when superseded lines clearly
        // dominate, so that a busy launcher does not pay a rewrite and two fsyncs on every run.
        let superseded = self.lines.saturating_sub(self.entries.len());
        if superseded <= self.entries.len().max(COMPACT_MIN_SUPERSEDED) * 2 {
            return Ok(());
        }
        let mut keys: Vec<&Box<str>> = self.entries.keys().collect();
        keys.sort();
        let mut text = Vec::new();
        for key in keys {
            let entry = &self.entries[key];
            let (state, files, note, count) = match &entry.state {
                State::Staged(files) => (Tag::Staged, files.to_vec(), String::new(), 0),
                State::Done => (Tag::Done, Vec::new(), String::new(), 0),
                State::Acked => (Tag::Acked, Vec::new(), String::new(), 0),
                State::Unmatched(filters) => (Tag::Unmatched, Vec::new(), filters.to_string(), 0),
                State::Failed(count, error) => (Tag::Failed, Vec::new(), error.to_string(), *count),
                State::Aside => (Tag::Aside, Vec::new(), String::new(), 0),
            };
            let line = Line {
                key: key.to_string(),
                state,
                time: entry.time,
                files,
                note,
                count,
            };
            serde_json::to_writer(&mut text, &line).context("cannot encode a journal line")?;
            text.push(b'\n');
        }
        let fresh = self.path.with_extension("compact.tmp");
        // Windows refuses to rename over a file that is open, and this journal holds its own file
        // open: it is closed for the rename and opened again after it, or after a failure (the
        // old file is then intact), so that the run can go on journaling either way.
        self.file = None;
        let replaced = write_then_replace(&fresh, &text, &self.path);
        if replaced.is_err() {
            let _ = fs::remove_file(&fresh);
        }
        let reopen = || -> io::Result<File> {
            let mut file = OpenOptions::new().append(true).open(&self.path)?;
            file.seek(SeekFrom::End(0))?;
            Ok(file)
        };
        let reopened = reopen()
            .with_context(|| format!("cannot reopen journal {}", self.path.display()))
            .context(Failure::Cold)?;
        self.file = Some(reopened);
        replaced
            .with_context(|| format!("cannot compact journal {}", self.path.display()))
            .context(Failure::Cold)?;
        log::debug!(
            "journal compacted from {} to {} lines",
            self.lines,
            self.entries.len()
        );
        self.lines = self.entries.len();
        Ok(())
    }
}

/// Writes `text` to the new file `fresh`, makes it durable, and renames it over `path`.
fn write_then_replace(fresh: &Path, text: &[u8], path: &Path) -> io::Result<()> {
    let mut file = crate::private::create_file(fresh)?;
    file.write_all(text)?;
    file.sync_all()?;
    drop(file);
    fs::rename(fresh, path)?;
    match path.parent() {
        Some(parent) => durable::sync_dir(parent),
        None => Ok(()),
    }
}

fn now() -> u64 {
    crate::clock::now_unix_seconds()
}

/// Whether two error messages tell the same failure: equal once every run of digits is one `#`.
fn same_way(a: &str, b: &str) -> bool {
    fn shape(text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        for c in text.chars() {
            if c.is_ascii_digit() {
                if !out.ends_with('#') {
                    out.push('#');
                }
            } else {
                out.push(c);
            }
        }
        out
    }
    shape(a) == shape(b)
}

#[cfg(test)]
mod tests;
