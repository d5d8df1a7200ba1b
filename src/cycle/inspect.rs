//! `lanceur check`'s half of the cycle: a run's first steps, in a run's order, with none of their
//! effects. It lives beside the cycle because it runs the cycle's own `list` and `plan`.

use anyhow::Result;

use super::plan::{list, plan, Listed};
use crate::deposit::Deposit;
use crate::item::{Pass, Skipped};
use crate::journal::Journal;
use crate::settings::Launcher;
use crate::source;

/// What `lanceur check` learns by taking a run's first steps, in a run's order, without their
/// effects: no lock, no state folder, no journal line, no recovery of an interrupted run, nothing
/// fetched or acknowledged. Each step is tried even when an earlier one failed, so that one check
/// tells every problem at once.
pub struct Inspection {
    /// The journal, read only: entries (keys) remembered, items an interrupted run left unfinished.
    pub journal: Result<(usize, usize)>,
    /// The COLD folder's probe: a hidden temporary file created and removed.
    pub cold: Result<()>,
    pub source: Result<Survey>,
}

/// The source, opened, listed and sorted as a run would.
pub struct Survey {
    pub label: String,
    /// Items the source listed, whatever becomes of them.
    pub listed: usize,
    /// Passed over by the source's routine rules (still being written, temporary names…).
    pub passed_over: usize,
    /// What the source cannot take as it stands (nothing names it, it waits for files, it cannot
    /// be read…): what a run logs, or reports once overdue.
    pub not_taken: Vec<Skipped>,
    /// Rejected by the filters by name, before fetching.
    pub filtered: usize,
    /// How the journal sorts the rest; `None` when the journal could not be read.
    pub plan: Option<SurveyPlan>,
    /// What a run would warn about (a sign-in or credential that expires soon).
    pub notices: Vec<String>,
}

pub struct SurveyPlan {
    pub new: usize,
    pub new_bytes: u64,
    /// What the next run takes of the new items, under the caps.
    pub taken: usize,
    pub taken_bytes: u64,
    pub acked: usize,
    pub unacknowledged: usize,
}

pub fn check(launcher: &Launcher) -> Inspection {
    debug_assert!(launcher.dry_run, "a check is a dry run");
    let journal = Journal::open(&launcher.state_dir.join("journal"), false);
    let cold = Deposit::open(&launcher.dest, launcher.index, &launcher.name, false).map(|_| ());
    let source = survey(launcher, journal.as_ref().ok());
    Inspection {
        journal: journal.map(|j| (j.len(), j.unfinished().len())),
        cold,
        source,
    }
}

fn survey(launcher: &Launcher, journal: Option<&Journal>) -> Result<Survey> {
    let mut source = source::open(launcher)?;
    let mut notices = source.notices();
    let label = source.label().to_string();
    let Listed { listing, rejected } = list(source.as_mut(), &launcher.filter, journal)?;
    if journal.is_some_and(|journal| journal.len() == 0) {
        if let Some(traces) = source.traces(&listing.items)? {
            notices.push(super::plan::traces_warning(
                launcher,
                listing.items.len(),
                &traces,
            ));
        }
    }
    let plan = journal.map(|journal| {
        let plan = plan(launcher, journal, &listing.items);
        SurveyPlan {
            new: plan.taken.len() + plan.deferred,
            new_bytes: plan.new_bytes,
            taken: plan.taken.len(),
            taken_bytes: crate::item::total_size(plan.taken.iter().copied()),
            acked: plan.acked,
            unacknowledged: plan.again.len(),
        }
    });
    source.finish()?;
    Ok(Survey {
        label,
        listed: listing.items.len() + listing.skipped.len() + rejected.len(),
        passed_over: listing
            .skipped
            .iter()
            .filter(|s| s.pass == Pass::Routine)
            .count(),
        not_taken: listing
            .skipped
            .into_iter()
            .filter(|s| s.pass != Pass::Routine)
            .collect(),
        filtered: rejected.len(),
        plan,
        notices,
    })
}
