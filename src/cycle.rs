//! One run: lock → recover → list → skip what is done → cap → fetch → filter → deposit → journal →
//! acknowledge. This is the only place that knows the order of the steps, and the order is what makes
//! lanceur safe:
//!
//! 1. A document is durable under a temporary name before the journal says `staged`.
//! 2. The journal says `staged` (durably) before any file gets its final name, so a run killed during
//!    the renames is finished by the next one instead of being deposited again.
//! 3. The journal says `done` (durably) before the source is told anything, so an item deleted or
//!    marked read at the source is always in the COLD folder first.
//!
//! Work goes in batches (`BATCH_ITEMS`, `BATCH_BYTES`) so that each of those syncs is paid once per
//! batch rather than once per document, and so that a protocol can fetch and acknowledge many items
//! in one round trip. What becomes of an item that is not taken is the `ItemError` the source (or
//! the deposit) returns, checked by the compiler: `Failed` is reported and left at the source while
//! the run goes on, `NotReady` waits silently for a later run; what the source passed over at
//! listing is logged, except what it says is overdue (left untaken past its grace period), which is
//! reported and counted as failed, like an item. `Stop` ends the run after the items already staged
//! in the current batch are finished, so that no fetched work is thrown away.
//!
//! Nothing lost, nothing hidden:
//! - An item none of whose documents the filters keep (or that has none) is *unmatched*: never
//!   acknowledged (a typo in a filter must not delete invoices), but handed to
//!   `Source::leave_unmatched`, counted, logged, and journaled with the filters' fingerprint, so
//!   that it is not fetched again until the filters change.
//! - A failure is journaled with a count of runs in a row (`Journal::record_failed`); at
//!   `--set-aside-after`, or at once for `ItemError::SetAside`, the item is set aside: the source
//!   puts it out of its way and keeps its raw bytes in the set-aside store (`aside.rs`), the
//!   journal stops offering it, and the one line that says so is the last: later runs are silent
//!   about it until `lanceur retry` (`retry`) puts it back.
//!
//! `check` (for `lanceur check`) takes the same steps up to the listing and the journal's verdict,
//! with none of their effects, and says what it found instead of going on.

use std::collections::HashSet;
use std::time::{Instant, SystemTime};

use anyhow::{anyhow, Context, Result};

use crate::aside::{Record, Store};
use crate::deposit::{Deposit, Staged};
use crate::exit::{self, Failure};
use crate::item::{total_size, Item, ItemError, ItemKey, Pass, Skipped};
use crate::journal::Journal;
use crate::lock;
use crate::report::{Reporter, Summary};
use crate::settings::Launcher;
use crate::source::{self, Source};

mod inspect;
mod plan;
#[cfg(test)]
mod tests;

pub use inspect::{check, Inspection, SurveyPlan};
use plan::{list, plan, Listed, Plan};

/// Most items in one batch.
const BATCH_ITEMS: usize = 256;
/// Most bytes (as listed) in one batch.
const BATCH_BYTES: u64 = 64 << 20;

/// What a run ended with: its summary (empty when it stopped before listing anything), and the
/// error that stopped it early, if one did. `main` turns it into a message and an exit code.
pub struct Outcome {
    pub summary: Summary,
    pub error: Option<anyhow::Error>,
}

impl Outcome {
    pub fn exit_code(&self) -> u8 {
        match &self.error {
            Some(err) => exit::code_for(err),
            None if self.summary.failed > 0 => exit::ITEM_FAILED,
            None => exit::OK,
        }
    }
}

/// Runs one cycle on the launcher's source. Whatever stops it (the lock, the COLD folder, the login,
/// a connection lost half-way) comes back inside the `Outcome`, with what was done until then.
pub fn run(launcher: &Launcher, reporter: &Reporter) -> Outcome {
    run_with(launcher, reporter, source::open)
}

/// `run`, with the source opened by `open` once the lock is held and interrupted work finished.
fn run_with(
    launcher: &Launcher,
    reporter: &Reporter,
    open: impl FnOnce(&Launcher) -> Result<Box<dyn Source>>,
) -> Outcome {
    let started = Instant::now();
    crate::stop::start_run(launcher.run_timeout);
    let mut summary = Summary::new(&launcher.name, launcher.dry_run);
    let error = match prepare(launcher, reporter) {
        Ok((lock, journal, deposit)) => {
            reporter.progress_status("connecting");
            match open(launcher) {
                Ok(mut source) => {
                    for notice in source.notices() {
                        reporter.problem(&notice);
                    }
                    let mut run = Run {
                        launcher,
                        reporter,
                        journal,
                        deposit,
                        summary,
                    };
                    let mut error = match &launcher.retry {
                        Some(retry) => run.retry(source.as_mut(), retry).err(),
                        None => None,
                    };
                    if error.is_none() {
                        error = run.cycle(source.as_mut()).err();
                    }
                    if error.is_none() {
                        error = source.finish().err();
                    }
                    summary = run.summary;
                    drop(lock);
                    error
                }
                Err(err) => Some(err),
            }
        }
        Err(err) => Some(err),
    };
    // Whatever a signal or the deadline interrupted (a read, a fetch), the run ends for that
    // reason, said as such.
    let error = match (error, crate::stop::reason()) {
        (Some(err), Some(reason)) => {
            log::debug!("interrupted while: {err:#}");
            Some(reason.error())
        }
        (error, _) => error,
    };
    summary.set_duration(started.elapsed());
    Outcome { summary, error }
}

/// The steps before the source is opened: state folder, lock, journal, COLD folder, and the work an
/// interrupted run left. A dry run takes no lock and changes nothing.
fn prepare(
    launcher: &Launcher,
    reporter: &Reporter,
) -> Result<(Option<lock::Lock>, Journal, Deposit)> {
    let dry_run = launcher.dry_run;
    // A dry run creates nothing, not even the state folder, and takes no lock.
    let lock = if dry_run {
        None
    } else {
        // The journal, the lock and a token cache are nobody else's business: a state folder
        // created here is readable by its owner only, and so is everything put in it.
        let exposed = crate::private::create_dir(&launcher.state_dir)
            .with_context(|| {
                format!(
                    "cannot create state folder {}; give --state-dir a writable folder",
                    launcher.state_dir.display()
                )
            })
            .context(Failure::Cold)?;
        if let Some(err) = exposed {
            reporter.problem(&format!(
                "state folder {} could not be made readable by this account only ({err}); {}",
                launcher.state_dir.display(),
                crate::private::remedy(&launcher.state_dir)
            ));
        }
        Some(lock::acquire(&launcher.state_dir)?)
    };
    let mut journal = Journal::open(&launcher.state_dir.join("journal"), !dry_run)?;
    let mut deposit = Deposit::open(&launcher.dest, launcher.index, &launcher.name, dry_run)?;
    if dry_run {
        reporter.output(&format!(
            "dry run of launcher {} (state in {}); nothing will change",
            launcher.name,
            launcher.state_dir.display()
        ));
        let unfinished = journal.unfinished().len();
        if unfinished > 0 {
            reporter.output(&format!(
                "an interrupted run left {unfinished} item(s) to finish; the next run completes them"
            ));
        }
    } else {
        finish_interrupted(&mut journal, &mut deposit, reporter)?;
    }
    Ok((lock, journal, deposit))
}

/// Commits what an interrupted run staged and journaled, then removes temporary files nobody knows.
fn finish_interrupted(
    journal: &mut Journal,
    deposit: &mut Deposit,
    reporter: &Reporter,
) -> Result<()> {
    let unfinished = journal.unfinished();
    if !unfinished.is_empty() {
        finish_staged(journal, deposit, unfinished, reporter)?;
    }
    let removed = deposit.sweep(&HashSet::new())?;
    if removed > 0 {
        log::info!("removed {removed} temporary file(s) left by an interrupted run");
    }
    Ok(())
}

fn finish_staged(
    journal: &mut Journal,
    deposit: &mut Deposit,
    unfinished: Vec<(ItemKey, Vec<Staged>)>,
    reporter: &Reporter,
) -> Result<()> {
    let mut finished = Vec::with_capacity(unfinished.len());
    for (key, mut files) in unfinished {
        log::info!("finishing {key}, staged by an interrupted run");
        for staged in &mut files {
            deposit.commit(staged)?;
        }
        journal.record_done(&key)?;
        finished.push((key, files));
    }
    deposit.finish_commit()?;
    journal.flush(true)?;
    // The interrupted run never knew the item's label: its key stands in.
    for (key, files) in &finished {
        reporter.log_deposited(&key.0, &key.0, files);
    }
    Ok(())
}

struct Run<'a> {
    launcher: &'a Launcher,
    reporter: &'a Reporter,
    journal: Journal,
    deposit: Deposit,
    summary: Summary,
}

/// An item whose documents are staged, waiting for the batch's commit.
struct Pending<'i> {
    item: &'i Item,
    staged: Vec<Staged>,
}

impl Run<'_> {
    /// `lanceur retry`: puts the chosen items set aside back at the source and makes the journal
    /// forget them, so that the cycle that follows takes them like new ones. An item the source
    /// cannot put back stays set aside, and is counted as failed.
    fn retry(&mut self, source: &mut dyn Source, retry: &crate::settings::Retry) -> Result<()> {
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

    fn cycle(&mut self, source: &mut dyn Source) -> Result<()> {
        self.reporter
            .progress_status(&format!("listing {}", source.label()));
        let Listed { listing, rejected } = list(source, &self.launcher.filter)?;
        self.summary.seen = listing.items.len() + listing.skipped.len() + rejected.len();
        self.summary.skipped = rejected.len();
        for (name, reason) in &rejected {
            self.note_skip(name, reason);
        }
        for skipped in &listing.skipped {
            match skipped.pass {
                Pass::Overdue => self.left_untaken(skipped),
                Pass::Routine | Pass::Waiting => {
                    self.summary.skipped += 1;
                    self.note_skip(&skipped.label, &skipped.reason);
                }
            }
        }

        let Plan {
            acked_by_alias,
            again: to_reacknowledge,
            taken,
            deferred,
            ..
        } = plan(self.launcher, &self.journal, &listing.items);
        if !self.launcher.dry_run {
            // Known only by an alias (new UIDVALIDITY): remember it under its new key too.
            for item in acked_by_alias {
                self.record_acked(item)?;
            }
        }
        self.summary.skipped += deferred;
        if deferred > 0 {
            log::info!("{deferred} item(s) left for the next run by --max-items/--max-bytes");
        }

        if !self.launcher.dry_run && !to_reacknowledge.is_empty() {
            for chunk in to_reacknowledge.chunks(BATCH_ITEMS) {
                self.acknowledge(source, chunk, true)?;
            }
        }

        self.reporter
            .progress_start(taken.len(), total_size(taken.iter().copied()));
        let mut start = 0;
        while start < taken.len() {
            if let Some(reason) = crate::stop::reason() {
                return Err(reason.error());
            }
            let mut end = start;
            let mut bytes = 0u64;
            while end < taken.len()
                && end - start < BATCH_ITEMS
                && (end == start || bytes < BATCH_BYTES)
            {
                bytes = bytes.saturating_add(taken[end].size);
                end += 1;
            }
            self.batch(source, &taken[start..end])?;
            start = end;
        }

        if !self.launcher.dry_run {
            source
                .tidy()
                .with_context(|| format!("while tidying {}", source.label()))?;
        }

        if !self.launcher.dry_run {
            let listed: HashSet<ItemKey> = listing
                .items
                .iter()
                .flat_map(|i| std::iter::once(&i.key).chain(&i.aliases))
                .cloned()
                .collect();
            self.journal.compact(listing.complete.then_some(&listed))?;
        }
        Ok(())
    }

    /// Fetches, filters and stages a batch, then journals, commits and acknowledges it.
    fn batch(&mut self, source: &mut dyn Source, items: &[&Item]) -> Result<()> {
        if let Err(err) = source.prefetch(items) {
            match err.into_stop() {
                Ok(stop) => {
                    return Err(stop.context(format!("while fetching from {}", source.label())))
                }
                Err(err) => log::debug!("prefetch failed, fetching one by one: {err}"),
            }
        }
        let mut pending: Vec<Pending> = Vec::new();
        let mut unmatched: Vec<&Item> = Vec::new();
        let mut stop: Option<anyhow::Error> = None;
        for item in items {
            // A signal or the deadline: no new item, but what the batch staged is finished.
            if let Some(reason) = crate::stop::reason() {
                stop = Some(reason.error());
                break;
            }
            let taken = self.take(source, item);
            self.reporter.progress_advance(item.size);
            match taken {
                Ok(Some(staged)) if staged.is_empty() => unmatched.push(item),
                Ok(Some(staged)) => pending.push(Pending { item, staged }),
                Ok(None) => {}
                Err(err) => {
                    stop = Some(err);
                    break;
                }
            }
        }
        if self.launcher.dry_run {
            return stop.map_or(Ok(()), Err);
        }
        if let Err(err) = self.commit(&mut pending, &unmatched) {
            if let Some(first) = stop {
                log::debug!("the run was already stopping: {first:#}");
            }
            return Err(err);
        }
        let done: Vec<&Item> = pending.iter().map(|p| p.item).collect();
        if !done.is_empty() {
            // If the run is stopping anyway, still try: the source may be fine (COLD folder full).
            let acknowledged = self.acknowledge(source, &done, false);
            if stop.is_none() {
                acknowledged?;
            }
        }
        if !unmatched.is_empty() {
            let left = self.leave_unmatched(source, &unmatched);
            if stop.is_none() {
                left?;
            }
        }
        stop.map_or(Ok(()), Err)
    }

    /// Hands the unmatched items of a batch to the source, which leaves them as they are (or marks
    /// them seen). Only a `Stop` matters; anything else is said in the log.
    fn leave_unmatched(&mut self, source: &mut dyn Source, items: &[&Item]) -> Result<()> {
        let results = source.leave_unmatched(items);
        for (item, result) in items.iter().zip(results) {
            match result.map_err(ItemError::into_stop) {
                Ok(()) => {}
                Err(Ok(stop)) => return Err(stop),
                Err(Err(err)) => log::warn!(
                    "{}: left at the source unmatched, but {}",
                    crate::report::printable(&item.label),
                    exit::message_for(err.error())
                ),
            }
        }
        Ok(())
    }

    /// Fetches one item and stages its kept documents. `Ok(None)`: the item failed or is not ready and
    /// stays at the source. `Ok(Some(empty))`: the item is taken but none of its documents was kept.
    fn take(&mut self, source: &mut dyn Source, item: &Item) -> Result<Option<Vec<Staged>>> {
        let documents = match source.fetch(item) {
            Ok(documents) => documents,
            Err(err) => {
                self.not_taken(source, item, err, "while fetching")?;
                return Ok(None);
            }
        };
        let common_fields = self.common_fields(item);
        let mut staged: Vec<Staged> = Vec::new();
        let mut kept = 0usize;
        for document in documents {
            let verdict = self.launcher.filter.judge(&document.name);
            if !verdict.is_keep() {
                self.summary.documents_filtered += 1;
                self.note_skip(
                    &format!("{} / {}", item.label, document.name),
                    &verdict.reason(),
                );
                continue;
            }
            kept += 1;
            if self.launcher.dry_run {
                let (name, sidecar) = self.deposit.plan(&document.name);
                let sidecar = sidecar.map(|s| format!(" (+ {s})")).unwrap_or_default();
                self.reporter.output(&format!(
                    "deposit  {}  ->  {name}{sidecar}",
                    describe(item, &document.name)
                ));
                continue;
            }
            // The document's own fields first: they are what a person reading the sidecar looks for.
            let mut fields = document.fields.clone();
            fields.extend(common_fields.iter().cloned());
            let raw_name = document.name.clone();
            match self.deposit.stage(document, fields) {
                Ok(one) => {
                    log::debug!("staged {} as {}", raw_name, one.tmp);
                    staged.push(one);
                }
                Err(err) => {
                    for done in &staged {
                        self.deposit.discard(done);
                    }
                    self.not_taken(source, item, err, "while depositing")?;
                    return Ok(None);
                }
            }
        }
        if self.launcher.dry_run {
            if kept == 0 {
                self.summary.unmatched += 1;
                self.reporter.output(&format!(
                    "unmatched {}  (no document passed the filters; left at the source{})",
                    item.label,
                    self.unmatched_mark()
                ));
            } else {
                self.summary.deposited += 1;
                self.summary.documents += kept;
            }
        }
        Ok(Some(staged))
    }

    /// What `--unmatched` does besides leaving the item, for messages.
    fn unmatched_mark(&self) -> &'static str {
        use crate::settings::SourceConfig;
        match &self.launcher.source {
            SourceConfig::Imap(config) if config.unmatched_seen => ", marked seen",
            SourceConfig::O365(config) if config.unmatched_read => ", marked read",
            _ => ", untouched",
        }
    }

    /// Makes the batch's staged documents visible and journals every item of the batch as done,
    /// or as unmatched.
    fn commit(&mut self, pending: &mut [Pending], unmatched: &[&Item]) -> Result<()> {
        if !pending.is_empty() {
            if let Err(err) = self.deposit.sync() {
                for p in pending.iter() {
                    p.staged.iter().for_each(|s| self.deposit.discard(s));
                }
                return Err(err);
            }
            for p in pending.iter() {
                self.journal.record_staged(&p.item.key, &p.staged)?;
            }
            self.journal.flush(true)?;
            for p in pending.iter_mut() {
                for staged in &mut p.staged {
                    self.deposit.commit(staged)?;
                }
            }
            self.deposit.finish_commit()?;
        }
        for p in pending.iter() {
            self.record_done(p.item)?;
            self.summary.deposited += 1;
            self.summary.documents += p.staged.len();
            self.summary.bytes = p
                .staged
                .iter()
                .fold(self.summary.bytes, |total, s| total.saturating_add(s.bytes));
            for staged in &p.staged {
                log::info!("deposited {} as {}", p.item.label, staged.name);
            }
        }
        let fingerprint = self.launcher.filter.fingerprint();
        for item in unmatched {
            for key in std::iter::once(&item.key).chain(&item.aliases) {
                self.journal.record_unmatched(key, &fingerprint)?;
            }
            self.summary.unmatched += 1;
            log::info!(
                "left {} at the source{}: no document passed the filters",
                crate::report::printable(&item.label),
                self.unmatched_mark()
            );
        }
        self.journal.flush(true)?;
        // Logged once the journal says done: a line in the log means the documents are there.
        for p in pending.iter() {
            self.reporter
                .log_deposited(&p.item.label, &p.item.key.0, &p.staged);
        }
        for item in unmatched {
            self.reporter.log_unmatched(item);
        }
        Ok(())
    }

    /// Applies the post-action to items that are done, and journals those it succeeded for.
    fn acknowledge(&mut self, source: &mut dyn Source, items: &[&Item], again: bool) -> Result<()> {
        let results = source.acknowledge(items);
        if results.len() != items.len() {
            // A source bug: which items were acknowledged is unknown, so none is journaled as such.
            // They are journaled as done, so the next run acknowledges them again, never deposits.
            return Err(anyhow!(
                "{} answered {} acknowledgement result(s) for {} item(s); this is a bug in \
                 lanceur, please report it; the items are deposited and the next run \
                 acknowledges them again",
                source.label(),
                results.len(),
                items.len()
            ))
            .context(Failure::Source);
        }
        let mut stop = None;
        for (item, result) in items.iter().zip(results) {
            match result.map_err(ItemError::into_stop) {
                Ok(()) => {
                    self.record_acked(item)?;
                    if again {
                        self.summary.reacknowledged += 1;
                    }
                }
                Err(Ok(err)) => {
                    stop.get_or_insert(err);
                }
                Err(Err(err)) => {
                    self.summary.failed += 1;
                    let error = exit::message_for(err.error());
                    self.reporter.problem(&format!(
                        "{}: deposited, but {error}; it will be acknowledged on the next run, not deposited again",
                        item.label
                    ));
                    self.reporter.log_acknowledge_failed(item, &error);
                }
            }
        }
        // Losing these lines only means acknowledging again: no need to wait for the disk.
        self.journal.flush(false)?;
        stop.map_or(Ok(()), Err)
    }

    fn record_done(&mut self, item: &Item) -> Result<()> {
        for key in std::iter::once(&item.key).chain(&item.aliases) {
            self.journal.record_done(key)?;
        }
        Ok(())
    }

    fn record_acked(&mut self, item: &Item) -> Result<()> {
        for key in std::iter::once(&item.key).chain(&item.aliases) {
            self.journal.record_acked(key)?;
        }
        Ok(())
    }

    /// What becomes of an item that was not taken, as `err` says: the run stops (`Err`, with
    /// `doing` and the item named), or the item is counted, said and logged as it deserves, and
    /// set aside once it failed `--set-aside-after` runs in a row.
    fn not_taken(
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
    fn set_aside(
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
    fn item_failed(&mut self, item: &Item, err: &anyhow::Error, where_it_is: &str) {
        self.summary.failed += 1;
        let error = exit::message_for(err);
        self.reporter
            .problem(&format!("{}: {error}{where_it_is}", item.label));
        self.reporter.log_failed(item, &error);
    }

    /// What the source left untaken for longer than its grace period: said, counted as failed (so
    /// the run exits 1), logged, on every run until someone sees to it.
    fn left_untaken(&mut self, skipped: &Skipped) {
        self.summary.failed += 1;
        self.reporter.problem(&format!(
            "{}: {}; left at the source",
            skipped.label, skipped.reason
        ));
        self.reporter.log_not_taken(&skipped.label, &skipped.reason);
    }

    fn common_fields(&self, item: &Item) -> Vec<(String, String)> {
        vec![
            ("launcher".to_string(), self.launcher.name.clone()),
            ("source_item".to_string(), item.key.0.clone()),
            (
                "deposit_time".to_string(),
                humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            ),
        ]
    }

    fn note_skip(&self, label: &str, reason: &str) {
        if self.launcher.dry_run {
            self.reporter
                .output(&format!("skip     {label}  ({reason})"));
        } else {
            log::info!("skipped {}: {reason}", crate::report::printable(label));
        }
    }
}

fn describe(item: &Item, document: &str) -> String {
    if item.name.as_deref() == Some(document) {
        item.label.clone()
    } else {
        format!("{} / {document}", item.label)
    }
}
