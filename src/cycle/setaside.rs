//! What a run does with the items it did not take: a failure counted, said and logged, then set
//! aside once it failed `--set-aside-after` runs in a row (the source puts it out of its way, the
//! store `aside.rs` keeps its bytes, the journal stops offering it); `lanceur retry` puts such items
//! back; and what a source left untaken past its grace period.

use std::time::SystemTime;

use anyhow::{anyhow, Context, Result};

use super::Run;
use crate::aside::{Record, Store};
use crate::exit::{self, Failure};
use crate::item::{Item, ItemError, ItemKey, Skipped};
use crate::source::Source;

impl Run<'_> {
    /// `lanceur retry`: puts the chosen items set aside back at the source and makes the journal
    /// forget them, so that the cycle that follows takes them like new ones. An item the source
    /// cannot put back stays set aside, and is counted as failed.
    pub(super) fn retry(
        &mut self,
        source: &mut dyn Source,
        retry: &crate::settings::Retry,
    ) -> Result<()> {
        let store = Store::new(&self.launcher.state_dir);
        let records = store.list();
        for key in &retry.keys {
            if !records.iter().any(|r| &r.key == key) {
                return Err(anyhow!(
                    "no item set aside has the key {key}; `lanceur retry` without --key or \
                     --all lists them"
                ))
                .context(Failure::Usage);
            }
        }
        let chosen = records
            .into_iter()
            .filter(|r| retry.all || retry.keys.contains(&r.key));
        for record in chosen {
            let key = ItemKey(record.key.clone());
            match source.restore(&key, record.place.as_deref()) {
                Ok(()) => {
                    self.journal.record_retry(&key)?;
                    self.journal.flush(true)?;
                    store.remove(&record)?;
                    self.reporter
                        .output(&format!("retrying {} ({})", record.label, record.key));
                }
                Err(err) => {
                    self.summary.failed += 1;
                    self.reporter.problem(&format!(
                        "{}: cannot be put back at the source ({}); it stays set aside",
                        record.label,
                        exit::message_for(&err)
                    ));
                }
            }
        }
        Ok(())
    }

    /// What becomes of an item that was not taken, as `err` says: the run stops (`Err`, with
    /// `doing` and the item named), or the item is counted, said and logged as it deserves, and
    /// set aside once it failed `--set-aside-after` runs in a row.
    pub(super) fn not_taken(
        &mut self,
        source: &mut dyn Source,
        item: &Item,
        err: ItemError,
        doing: &str,
    ) -> Result<()> {
        match err {
            ItemError::Stop(failure, error) => {
                Err(crate::item::tagged(error, failure).context(format!("{doing} {}", item.label)))
            }
            ItemError::NotReady(error) => {
                self.summary.skipped += 1;
                self.note_skip(&item.label, &exit::message_for(&error));
                Ok(())
            }
            ItemError::Failed(error) if self.launcher.dry_run => {
                self.item_failed(item, &error, "; left at the source for the next run");
                Ok(())
            }
            ItemError::Failed(error) => {
                let message = exit::message_for(&error);
                let failures = self.journal.record_failed(&item.key, &message)?;
                let limit = self.launcher.set_aside_after;
                if limit == 0 || failures < limit {
                    self.item_failed(item, &error, "; left at the source for the next run");
                    return Ok(());
                }
                self.set_aside(source, item, &error, failures)
            }
            ItemError::SetAside(error) if self.launcher.dry_run => {
                self.item_failed(item, &error, "; a run sets it aside");
                Ok(())
            }
            ItemError::SetAside(error) => self.set_aside(source, item, &error, 0),
        }
    }

    /// Sets `item` aside after `failures` runs in a row failed (0: at once): the source puts it
    /// out of its way and keeps its raw bytes in the store, the store records it, the journal stops
    /// offering it. Said in one line, counted as failed. Should the source fail to, the item stays
    /// a plain failure, tried again on the next run.
    pub(super) fn set_aside(
        &mut self,
        source: &mut dyn Source,
        item: &Item,
        err: &anyhow::Error,
        failures: u32,
    ) -> Result<()> {
        let store = Store::new(&self.launcher.state_dir);
        let folder = store.prepare(&item.key)?;
        let aside = match source.set_aside(item, &folder) {
            Ok(aside) => aside,
            Err(why) => {
                let _ = std::fs::remove_dir_all(&folder);
                let why = match why.into_stop() {
                    Ok(stop) => {
                        return Err(stop.context(format!("while setting {} aside", item.label)))
                    }
                    Err(why) => exit::message_for(why.error()),
                };
                let tail = format!(
                    "; it could not be set aside ({why}): left at the source for the next run"
                );
                self.item_failed(item, err, &tail);
                return Ok(());
            }
        };
        let error = exit::message_for(err);
        let mut record = Record {
            key: item.key.0.clone(),
            label: item.label.clone(),
            error: error.clone(),
            failures,
            time: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            how: aside.how.clone(),
            place: aside.place,
            kept: Vec::new(),
            folder,
        };
        store.write(&mut record)?;
        self.journal.record_aside(&item.key)?;
        self.journal.flush(true)?;
        self.summary.failed += 1;
        self.summary.set_aside += 1;
        let why = if failures == 0 {
            String::new()
        } else {
            format!("failed {failures} runs in a row; ")
        };
        let kept = if record.kept.is_empty() {
            "no copy could be kept".to_string()
        } else {
            format!("a copy kept in {}", record.folder.display())
        };
        self.reporter.problem(&format!(
            "{}: {error}; {why}set aside: {}, {kept}; later runs leave it alone until `lanceur \
             retry`",
            item.label, aside.how
        ));
        self.reporter.log_set_aside(item, &error);
        Ok(())
    }

    /// Counts, reports and logs an item that failed; `where_it_is` ends the line.
    pub(super) fn item_failed(&mut self, item: &Item, err: &anyhow::Error, where_it_is: &str) {
        self.summary.failed += 1;
        let error = exit::message_for(err);
        self.reporter
            .problem(&format!("{}: {error}{where_it_is}", item.label));
        self.reporter.log_failed(item, &error);
    }

    /// What the source left untaken for longer than its grace period: said, counted as failed (so
    /// the run exits 1), logged, on every run until someone sees to it.
    pub(super) fn left_untaken(&mut self, skipped: &Skipped) {
        self.summary.failed += 1;
        self.reporter.problem(&format!(
            "{}: {}; left at the source",
            skipped.label, skipped.reason
        ));
        self.reporter.log_not_taken(&skipped.label, &skipped.reason);
    }
}
