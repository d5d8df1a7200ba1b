//! Steps 2 and 3 of a run, shared with `lanceur check`: what the source lists (with the names the
//! filters reject before anything is fetched), and how the journal and the caps sort it. Deciding
//! changes nothing.

use anyhow::{Context, Result};

use crate::filter::Filter;
use crate::item::{total_size, Item, ItemKey, Listing, Traces};
use crate::journal::{Journal, State};
use crate::settings::Launcher;
use crate::source::Source;

/// What the source listed, with the names the filters rejected before anything was fetched.
pub(super) struct Listed {
    pub listing: Listing,
    /// Names the filters rejected, with the reason.
    pub rejected: Vec<(String, String)>,
}

/// Step 2: the source's candidates, the filters asked about every name known before fetching,
/// and the journal (when there is one) about the keys it is done with.
pub(super) fn list(
    source: &mut dyn Source,
    filter: &Filter,
    journal: Option<&Journal>,
) -> Result<Listed> {
    let mut rejected: Vec<(String, String)> = Vec::new();
    let fingerprint = filter.fingerprint();
    let settled = |key: &ItemKey| {
        journal
            .and_then(|journal| journal.state(key))
            .is_some_and(|state| is_settled(state, &fingerprint))
    };
    let listing = source
        .list(
            &mut |name| {
                let verdict = filter.judge(name);
                let keep = verdict.is_keep();
                if !keep {
                    rejected.push((name.to_string(), verdict.reason()));
                }
                keep
            },
            &settled,
        )
        .with_context(|| format!("cannot list {}", source.label()))?;
    Ok(Listed { listing, rejected })
}

/// The states in which `plan` only counts an item: nothing is fetched, deposited or acknowledged.
fn is_settled(state: &State, fingerprint: &str) -> bool {
    match state {
        State::Acked | State::Aside => true,
        State::Unmatched(filters) => **filters == *fingerprint,
        State::Done | State::Staged(_) | State::Failed(..) => false,
    }
}

/// How the journal and the caps sort the listed items. Deciding changes nothing.
#[derive(Default)]
pub(super) struct Plan<'i> {
    /// Deposited and acknowledged by earlier runs: nothing to do.
    pub acked: usize,
    /// Among those, items the journal knows only by an alias (a new UIDVALIDITY), to be recorded
    /// under their new key.
    pub acked_by_alias: Vec<&'i Item>,
    /// Deposited by an earlier run but not acknowledged: acknowledged again, not deposited again.
    pub again: Vec<&'i Item>,
    /// New items this run takes, oldest first.
    pub taken: Vec<&'i Item>,
    /// Items whose documents the current filters all rejected in an earlier run: left alone.
    pub unmatched: usize,
    /// Items set aside by earlier runs: left alone until `lanceur retry`.
    pub aside: usize,
    /// New items left for the next run by `--max-items`/`--max-bytes`.
    pub deferred: usize,
    /// Bytes (as listed) of every new item, taken or deferred.
    pub new_bytes: u64,
}

/// Step 3: skip what is done, cap the rest.
pub(super) fn plan<'i>(launcher: &Launcher, journal: &Journal, items: &'i [Item]) -> Plan<'i> {
    let mut plan = Plan::default();
    let fingerprint = launcher.filter.fingerprint();
    let mut fresh: Vec<&Item> = Vec::new();
    for item in items {
        match known_state(journal, item) {
            Some(State::Acked) => {
                plan.acked += 1;
                if journal.state(&item.key).is_none() {
                    plan.acked_by_alias.push(item);
                }
            }
            Some(State::Done) | Some(State::Staged(_)) => plan.again.push(item),
            Some(State::Unmatched(filters)) if **filters == *fingerprint => plan.unmatched += 1,
            Some(State::Aside) => plan.aside += 1,
            // Judged by other filters, or failed before: a candidate like a new one.
            Some(State::Unmatched(_)) | Some(State::Failed(..)) | None => fresh.push(item),
        }
    }
    plan.new_bytes = total_size(fresh.iter().copied());
    let total = fresh.len();
    let mut bytes = 0u64;
    for item in fresh {
        if launcher
            .max_items
            .is_some_and(|max| plan.taken.len() >= max)
        {
            break;
        }
        if let Some(max) = launcher.max_bytes {
            // The first item is always taken, so one huge item cannot block the queue forever.
            if !plan.taken.is_empty() && bytes.saturating_add(item.size) > max {
                break;
            }
        }
        bytes = bytes.saturating_add(item.size);
        plan.taken.push(item);
    }
    plan.deferred = total - plan.taken.len();
    plan
}

/// The journal's state for the item, under its key or else under one of its aliases.
fn known_state<'j>(journal: &'j Journal, item: &Item) -> Option<&'j State> {
    std::iter::once(&item.key)
        .chain(&item.aliases)
        .find_map(|key| journal.state(key))
}

/// The line for a launcher whose journal is empty although `traces` of an earlier lanceur's work
/// are at its source: it may be starting over under another name, state folder or user.
pub(crate) fn traces_warning(launcher: &Launcher, listed: usize, traces: &Traces) -> String {
    format!(
        "the journal {} is empty, but {} of the {listed} mails listed {}: if this launcher ran \
         before under another name, state folder or user, stop it and give it that --name and \
         --state-dir, or these mails are deposited again",
        launcher.state_dir.join("journal").display(),
        traces.count,
        traces.what
    )
}

/// Why a taken item left nothing in the COLD folder: the filters dropped its documents, or it had
/// none (a mail without attachments, or whose only attachment is a link to a cloud file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Nothing {
    Filtered,
    NoDocument,
}

impl Nothing {
    pub(super) fn of(filtered: usize) -> Nothing {
        if filtered > 0 {
            Nothing::Filtered
        } else {
            Nothing::NoDocument
        }
    }

    pub(super) fn reason(self) -> &'static str {
        match self {
            Nothing::Filtered => "no document passed the filters",
            Nothing::NoDocument => "it holds no document to deposit",
        }
    }
}

/// How the dry-run listing names a document of `item`.
pub(super) fn describe(item: &Item, document: &str) -> String {
    if item.name.as_deref() == Some(document) {
        item.label.clone()
    } else {
        format!("{} / {document}", item.label)
    }
}
