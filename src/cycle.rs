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
//!
//! Beside this file: `prepare.rs` (the steps before the source opens), `plan.rs` (listing and
//! caps), `setaside.rs` (failures, items set aside, `lanceur retry`), `inspect.rs` (`check`). After
//! a run that held the lock, `watch.rs` records it and judges the watchdogs.

use std::collections::HashSet;
use std::time::{Instant, SystemTime};

use anyhow::{anyhow, Context, Result};

use crate::deposit::{Deposit, Staged};
use crate::exit::{self, Failure};
use crate::item::{total_size, Item, ItemError, ItemKey, Pass};
use crate::journal::Journal;
use crate::report::{Reporter, Summary};
use crate::settings::Launcher;
use crate::source::{self, Source};

mod inspect;
mod plan;
mod prepare;
mod setaside;
#[cfg(test)]
mod tests;

pub use inspect::{check, Inspection, SurveyPlan};
use plan::{describe, list, plan, Listed, Nothing, Plan};
use prepare::prepare;

/// Most items in one batch.
const BATCH_ITEMS: usize = 256;
/// Most bytes (as listed) in one batch.
const BATCH_BYTES: u64 = 64 << 20;

/// What a run ended with: its summary (empty when it stopped before listing anything), and the
/// error that stopped it early, if one did. `main` turns it into a message and an exit code.
pub struct Outcome {
    pub summary: Summary,
    pub error: Option<anyhow::Error>,
    /// A watchdog's exit code (`watch.rs`), for a run that otherwise went well.
    pub watchdog: Option<u8>,
}

impl Outcome {
    /// The code of a run that ended with `error` and `summary`, before the watchdogs' verdicts.
    fn code_without_watchdogs(error: &Option<anyhow::Error>, summary: &Summary) -> u8 {
        match error {
            Some(err) => exit::code_for(err),
            None if summary.failed > 0 => exit::ITEM_FAILED,
            None => exit::OK,
        }
    }

    pub fn exit_code(&self) -> u8 {
        match Outcome::code_without_watchdogs(&self.error, &self.summary) {
            exit::OK => self.watchdog.unwrap_or(exit::OK),
            code => code,
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
    let started_at = SystemTime::now();
    crate::stop::start_run(launcher.run_timeout);
    let mut summary = Summary::new(&launcher.name, launcher.dry_run);
    let mut watchdog = None;
    let error = match prepare(launcher, reporter) {
        Ok((lock, journal, deposit)) => {
            reporter.progress_status("connecting");
            let mut deposited = Vec::new();
            let mut expiries = Vec::new();
            let error = match open(launcher) {
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
                        deposited: Vec::new(),
                    };
                    let mut error = match &launcher.retry {
                        Some(retry) => run.retry(source.as_mut(), retry).err(),
                        None => None,
                    };
                    if error.is_none() {
                        error = run.cycle(source.as_mut()).err();
                    }
                    expiries = source.expiries();
                    if error.is_none() {
                        error = source.finish().err();
                    }
                    summary = run.summary;
                    deposited = run.deposited;
                    error
                }
                Err(err) => Some(err),
            };
            let error = interrupted(error);
            if !launcher.dry_run {
                // While the lock is held: the status is this run's to write.
                let record = crate::watch::Record {
                    started: started_at,
                    error: error.as_ref().map(exit::message_for),
                    code: Outcome::code_without_watchdogs(&error, &summary),
                    summary: &summary,
                    deposited: &deposited,
                    expiries,
                };
                watchdog = crate::watch::after_run(launcher, record, reporter);
            }
            drop(lock);
            error
        }
        Err(err) => interrupted(Some(err)),
    };
    summary.set_duration(started.elapsed());
    Outcome {
        summary,
        error,
        watchdog,
    }
}

/// Whatever a signal or the deadline interrupted (a read, a fetch), the run ends for that reason,
/// said as such.
fn interrupted(error: Option<anyhow::Error>) -> Option<anyhow::Error> {
    match (error, crate::stop::reason()) {
        (Some(err), Some(reason)) => {
            log::debug!("interrupted while: {err:#}");
            Some(reason.error())
        }
        (error, _) => error,
    }
}

struct Run<'a> {
    launcher: &'a Launcher,
    reporter: &'a Reporter,
    journal: Journal,
    deposit: Deposit,
    summary: Summary,
    /// The names this run gave documents in the COLD folder, for `--expect-pickup-within`.
    deposited: Vec<String>,
}

/// An item whose documents are staged, waiting for the batch's commit.
struct Pending<'i> {
    item: &'i Item,
    staged: Vec<Staged>,
}

impl Run<'_> {
    fn cycle(&mut self, source: &mut dyn Source) -> Result<()> {
        self.reporter
            .progress_status(&format!("listing {}", source.label()));
        let Listed { listing, rejected } =
            list(source, &self.launcher.filter, Some(&self.journal))?;
        if self.journal.len() == 0 {
            if let Some(traces) = source.traces(&listing.items)? {
                self.reporter.problem(&plan::traces_warning(
                    self.launcher,
                    listing.items.len(),
                    &traces,
                ));
            }
        }
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
        let mut unmatched: Vec<(&Item, Nothing)> = Vec::new();
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
                Ok(Some((staged, filtered))) if staged.is_empty() => {
                    unmatched.push((item, Nothing::of(filtered)));
                }
                Ok(Some((staged, _))) => pending.push(Pending { item, staged }),
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
            let items: Vec<&Item> = unmatched.iter().map(|(item, _)| *item).collect();
            let left = self.leave_unmatched(source, &items);
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

    /// Fetches one item and stages its kept documents, with how many the filters dropped.
    /// `Ok(None)`: the item failed or is not ready and stays at the source. `Ok(Some((empty, _)))`:
    /// none of its documents was kept.
    fn take(
        &mut self,
        source: &mut dyn Source,
        item: &Item,
    ) -> Result<Option<(Vec<Staged>, usize)>> {
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
        let mut filtered = 0usize;
        for document in documents {
            let verdict = self.launcher.filter.judge(&document.name);
            if !verdict.is_keep() {
                filtered += 1;
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
                    "unmatched {}  ({}; left at the source{})",
                    item.label,
                    Nothing::of(filtered).reason(),
                    self.unmatched_mark()
                ));
            } else {
                self.summary.deposited += 1;
                self.summary.documents += kept;
            }
        }
        Ok(Some((staged, filtered)))
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
    fn commit(&mut self, pending: &mut [Pending], unmatched: &[(&Item, Nothing)]) -> Result<()> {
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
            if self.launcher.watch.expect_pickup_within.is_some() {
                self.deposited
                    .extend(p.staged.iter().map(|staged| staged.name.clone()));
            }
        }
        let fingerprint = self.launcher.filter.fingerprint();
        for (item, nothing) in unmatched {
            for key in std::iter::once(&item.key).chain(&item.aliases) {
                self.journal.record_unmatched(key, &fingerprint)?;
            }
            self.summary.unmatched += 1;
            log::info!(
                "left {} at the source{}: {}",
                crate::report::printable(&item.label),
                self.unmatched_mark(),
                nothing.reason()
            );
        }
        self.journal.flush(true)?;
        // Logged once the journal says done: a line in the log means the documents are there.
        for p in pending.iter() {
            self.reporter
                .log_deposited(&p.item.label, &p.item.key.0, &p.staged);
        }
        for (item, _) in unmatched {
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
