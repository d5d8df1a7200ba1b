//! The steps of a run before its source is opened: the state folder, the lock, the journal, the
//! COLD folder, and the work an interrupted run left (committed, then its temporary files swept).

use std::collections::HashSet;

use anyhow::Result;

use crate::deposit::{Deposit, Staged};
use crate::exit::Failure;
use crate::item::ItemKey;
use crate::journal::Journal;
use crate::lock;
use crate::report::Reporter;
use crate::settings::Launcher;

/// The steps before the source is opened: state folder, lock, journal, COLD folder, and the work an
/// interrupted run left. A dry run takes no lock and changes nothing.
pub(super) fn prepare(
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
        let exposed = match crate::private::create_dir(&launcher.state_dir) {
            Ok(exposed) => exposed,
            Err(err) => {
                let what = format!(
                    "cannot create state folder {}",
                    launcher.state_dir.display()
                );
                let message = match crate::durable::write_problem(&err) {
                    Some(_) => crate::durable::write_context(what, &err),
                    None => format!("{what}; give --state-dir a writable folder"),
                };
                return Err(anyhow::Error::new(err)
                    .context(message)
                    .context(Failure::Cold));
            }
        };
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
