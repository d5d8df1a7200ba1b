//! The vocabulary every part of lanceur shares: what a source lists (`Item`, `Listing`), what an
//! item becomes (`Document`, `Content`), and how taking one can go wrong (`ItemError`).
//!
//! This module sits at the bottom: it imports nothing of the crate but the exit codes' `Failure`,
//! so that the cycle, the deposit, the journal, the extraction and every protocol can use these
//! words without depending on one another.

use std::fmt;
use std::path::PathBuf;

use crate::exit::{self, Failure};

/// The source's own identity for an item, stable across runs; what the journal remembers.
/// Forms: `dir:<path>:<size>:<mtime>`, `imap:<mailbox>:<uidvalidity>:<uid>`, `pop:<uidl>`,
/// `o365:<immutable id>`, `adullact:<path>:<size>:<mtime>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ItemKey(pub String);

/// Sets and maps of keys can be asked about a key's text.
impl std::borrow::Borrow<str> for ItemKey {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ItemKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A candidate found by `Source::list`. It carries no content.
#[derive(Debug, Clone)]
pub struct Item {
    pub key: ItemKey,
    /// How messages name the item: a file's path, "UID 42 «Invoice»".
    pub label: String,
    /// A name the filter can judge before anything is fetched (a folder's file). `None` for items
    /// whose documents are only known once fetched (a mail's attachments), which the cycle then
    /// acknowledges even when the filter keeps none of their documents.
    pub name: Option<String>,
    /// Bytes, as the source reports them, for `--max-bytes`. A server may announce anything here:
    /// add such sizes with `total_size`, never with `+`.
    pub size: u64,
    /// The source's own index for this item in its listing; opaque to everyone else.
    pub slot: usize,
    /// Other identities of the same item, which the journal may know it by: an IMAP mail by its
    /// Message-ID, should the mailbox's UIDVALIDITY change and its UIDs become new keys. The cycle
    /// takes an item known under any of them as known, and records them all.
    pub aliases: Vec<ItemKey>,
}

/// The sum of the items' listed sizes, saturating: a hostile server's sizes must not overflow.
pub fn total_size<'a>(items: impl IntoIterator<Item = &'a Item>) -> u64 {
    items
        .into_iter()
        .fold(0u64, |total, item| total.saturating_add(item.size))
}

/// What `Source::list` found.
#[derive(Debug, Default)]
pub struct Listing {
    pub items: Vec<Item>,
    /// Items passed over by the source itself, with the reason (not the filter's rejections).
    pub skipped: Vec<Skipped>,
    /// Whether `items` is everything the source holds that a later run could take. When true, the
    /// journal may forget acknowledged items that are no longer listed.
    pub complete: bool,
}

/// The journal's answer to "is there nothing left to do with the item under this key?" (deposited
/// and acknowledged, set aside, or found without a document the current filters want), asked by a
/// source while it lists: such an item must still be listed, so that the journal keeps it, but
/// needs nothing that only an item to take needs (its size, its label's subject, the header
/// fields `--from` and `--subject` judge). Only the item's own key counts, never an alias.
pub type Settled<'a> = dyn Fn(&ItemKey) -> bool + 'a;

/// What a source shows of an earlier lanceur's work among the items it listed: mails carrying the
/// keyword lanceur sets on what it takes, or, where no such mark can be set, mails a run with
/// `--select all` would take although they are already read. Asked only when the journal is empty,
/// so that a launcher that is starting over by mistake (another name, state folder or user than
/// the runs before) says so before depositing everything again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Traces {
    pub count: usize,
    /// What those items show, after their count: "carry the keyword $Lanceur, which lanceur sets
    /// on the mails it takes".
    pub what: String,
}

/// A date after which a launcher stops working unless someone acts: a sign-in left unused, a
/// client secret, a certificate. Recorded after each run for `lanceur status`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Expiry {
    /// What expires: "the Microsoft sign-in, unless a run uses it", "the client secret".
    pub what: String,
    /// When (RFC 3339, UTC).
    pub at: String,
}

#[derive(Debug, Clone)]
pub struct Skipped {
    pub label: String,
    pub reason: String,
    pub pass: Pass,
}

impl Skipped {
    /// Passed over by the source's routine rules.
    pub fn routine(label: impl Into<String>, reason: impl Into<String>) -> Skipped {
        Skipped {
            label: label.into(),
            reason: reason.into(),
            pass: Pass::Routine,
        }
    }
}

/// What passing an item over means. Whatever is not taken is named: `Routine` and `Waiting` in the
/// log (`-v`) and in dry runs, `Overdue` as a problem of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// By design: a name that says "in progress", a hidden or system file, a file that changed too
    /// recently to be taken.
    Routine,
    /// The item cannot be taken as it stands (it lacks files it names, nothing names it, it cannot
    /// be read, it is not understood), but it changed recently enough to be still arriving.
    Waiting,
    /// The same, for longer than the source's grace period: the cycle reports it and the run
    /// exits 1, on every run until someone sees to it.
    Overdue,
}

/// What a source did with an item the cycle set aside (`Source::set_aside`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aside {
    /// In words, for the one line that says so: "flagged $LanceurSetAside", "moved to /srv/failed".
    pub how: String,
    /// Where the source put it, for `Source::restore`; opaque to everyone else.
    pub place: Option<String>,
}

impl Aside {
    /// The item stays where it is; only the journal keeps it from being taken again.
    pub fn left_in_place() -> Aside {
        Aside {
            how: "left where it is".into(),
            place: None,
        }
    }
}

/// One document extracted from an item.
#[derive(Debug)]
pub struct Document {
    /// The name as the source gives it, before it is made safe for the COLD folder. The filter judges
    /// this name.
    pub name: String,
    pub content: Content,
    /// Index fields for the sidecar, in the order they should be written.
    pub fields: Vec<(String, String)>,
}

/// Where a document's bytes are.
#[derive(Debug)]
pub enum Content {
    Bytes(Vec<u8>),
    /// A file of the source. With `movable`, acknowledging the item removes it anyway (a folder
    /// source in delete mode), so the deposit may move it into the COLD folder itself, which on one
    /// volume is a rename instead of a copy; acknowledging then finds it gone, which is success.
    /// Otherwise the COLD folder gets its own copy and the file stays until acknowledged.
    File {
        path: PathBuf,
        movable: bool,
    },
    /// A file the source wrote for this document (a large attachment streamed to disk); removed when
    /// the value is dropped.
    Temp(tempfile::TempPath),
}

/// A document written by the deposit under a temporary name in the COLD folder, waiting to be
/// committed to its final name. The journal records it between staging and committing, and the run
/// log names the final names.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Staged {
    /// Temporary file name inside the COLD folder; empty when the document is `moved_from` a source
    /// file.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tmp: String,
    /// A complete source file on the COLD folder's volume, moved straight to its final name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moved_from: Option<String>,
    /// Final file name inside the COLD folder.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sidecar_tmp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sidecar: Option<String>,
    /// The document's bytes, for the summary.
    #[serde(default)]
    pub bytes: u64,
}

/// Why an item was not taken, or not acknowledged, by this run. Each variant is a different promise
/// to the administrator, so the source says which it means and the compiler holds it to one:
///
/// | variant    | the item                                  | the run              | counted as |
/// |------------|-------------------------------------------|----------------------|------------|
/// | `Stop`     | stays at the source                       | stops (exit code of the `Failure`) | — |
/// | `Failed`   | stays at the source, untouched, reported  | goes on              | failed     |
/// | `NotReady` | stays for a later run, not reported       | goes on              | skipped    |
/// | `SetAside` | is set aside at once (`Source::set_aside`) | goes on             | failed     |
///
/// In `acknowledge`, only `Stop` differs: every other variant means "deposited, but the post-action
/// did not happen; the next run applies it again".
#[derive(Debug)]
pub enum ItemError {
    /// Nothing more can be done in this run: the connection is gone, the login expired, the COLD
    /// folder is full. The cycle finishes what the batch already staged, then stops.
    Stop(Failure, anyhow::Error),
    /// This item cannot be taken (a damaged mail, a corrupt envelope, a server that will not send
    /// it). It stays as it is at the source; the run goes on with the others.
    Failed(anyhow::Error),
    /// Not ready yet: a file still being written, a mail that left the folder since it was listed.
    /// Left for a later run without being reported as a failure.
    NotReady(anyhow::Error),
    /// A failure that trying again cannot mend (an envelope that cannot be decoded): the cycle sets
    /// the item aside at once, without waiting for `--set-aside-after` failed runs, so that it is
    /// not reported again on every run.
    SetAside(anyhow::Error),
}

impl ItemError {
    /// A run-stopping error. `error` keeps its own causes; the failure decides the exit code.
    pub fn stop(failure: Failure, error: impl Into<anyhow::Error>) -> ItemError {
        ItemError::Stop(failure, error.into())
    }

    /// An error of a run-level step (connecting, logging in, a connection lost mid-way) met while
    /// taking an item: it stops the run, with the failure it was tagged with where it was
    /// recognised, or `Source` when it carries none. Never an item failure, so that an unclassified
    /// problem cannot hide behind one item.
    pub fn from_run(error: anyhow::Error) -> ItemError {
        let failure = exit::failure_of(&error).unwrap_or(Failure::Source);
        ItemError::Stop(failure, error)
    }

    pub fn failed(error: impl Into<anyhow::Error>) -> ItemError {
        ItemError::Failed(error.into())
    }

    pub fn not_ready(error: impl Into<anyhow::Error>) -> ItemError {
        ItemError::NotReady(error.into())
    }

    /// The error, whatever the variant.
    pub fn error(&self) -> &anyhow::Error {
        match self {
            ItemError::Stop(_, error)
            | ItemError::Failed(error)
            | ItemError::NotReady(error)
            | ItemError::SetAside(error) => error,
        }
    }

    /// Adds context to the error, keeping the variant.
    pub fn context(self, context: impl fmt::Display + Send + Sync + 'static) -> ItemError {
        match self {
            ItemError::Stop(failure, error) => ItemError::Stop(failure, error.context(context)),
            ItemError::Failed(error) => ItemError::Failed(error.context(context)),
            ItemError::NotReady(error) => ItemError::NotReady(error.context(context)),
            ItemError::SetAside(error) => ItemError::SetAside(error.context(context)),
        }
    }

    /// The error as a plain one, for a caller that only reports it (tagged with its failure for
    /// `Stop`, so that it still stops the run if it reaches `main`).
    pub fn into_error(self) -> anyhow::Error {
        match self {
            ItemError::Stop(failure, error) => tagged(error, failure),
            ItemError::Failed(error) | ItemError::NotReady(error) | ItemError::SetAside(error) => {
                error
            }
        }
    }

    /// For `Stop`, the error as the run ends with it: tagged with its failure, so that `main` finds
    /// the exit code. `None` for the variants that do not stop the run.
    pub fn into_stop(self) -> Result<anyhow::Error, ItemError> {
        match self {
            ItemError::Stop(failure, error) => Ok(tagged(error, failure)),
            other => Err(other),
        }
    }

    /// One error per item for a batch that failed as a whole (an IMAP STORE for many UIDs, a POP3
    /// QUIT after many DELEs): the same variant and message for each.
    pub fn for_each(count: usize, error: &ItemError) -> Vec<Result<(), ItemError>> {
        // Copied without its failure tag's words: `into_stop` tags the copy again, and the run's
        // last line then says "source unavailable" once.
        let message = exit::message_without_tags(error.error());
        (0..count)
            .map(|_| {
                let copy = anyhow::anyhow!("{message}");
                Err(match error {
                    ItemError::Stop(failure, _) => ItemError::Stop(*failure, copy),
                    ItemError::Failed(_) => ItemError::Failed(copy),
                    ItemError::NotReady(_) => ItemError::NotReady(copy),
                    ItemError::SetAside(_) => ItemError::SetAside(copy),
                })
            })
            .collect()
    }
}

impl fmt::Display for ItemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.error())
    }
}

/// `error` tagged with `failure` unless that is already its tag, so the message says it once.
pub fn tagged(error: anyhow::Error, failure: Failure) -> anyhow::Error {
    if exit::failure_of(&error) == Some(failure) {
        error
    } else {
        error.context(failure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::anyhow;

    #[test]
    fn a_stop_ends_the_run_with_its_failure_said_once() {
        let err = ItemError::stop(Failure::Source, anyhow!("reset").context(Failure::Source))
            .into_stop()
            .unwrap();
        assert_eq!(exit::code_for(&err), exit::SOURCE);
        assert_eq!(exit::message_for(&err), "source unavailable: reset");
        let err = ItemError::stop(Failure::Cold, anyhow!("disk full"))
            .into_stop()
            .unwrap();
        assert_eq!(exit::code_for(&err), exit::COLD);
    }

    #[test]
    fn a_run_level_error_stops_with_its_tag_or_as_a_source_problem() {
        let tagged = ItemError::from_run(anyhow!("refused").context(Failure::Auth));
        assert!(matches!(tagged, ItemError::Stop(Failure::Auth, _)));
        let untagged = ItemError::from_run(anyhow!("reset"));
        assert!(matches!(untagged, ItemError::Stop(Failure::Source, _)));
    }

    #[test]
    fn only_stop_stops() {
        for error in [
            ItemError::failed(anyhow!("damaged")),
            ItemError::not_ready(anyhow!("still written")),
            ItemError::SetAside(anyhow!("moved to /failed")),
        ] {
            assert!(error.into_stop().is_err());
        }
    }

    #[test]
    fn context_keeps_the_variant() {
        let error = ItemError::not_ready(anyhow!("changed")).context("scan.pdf");
        assert!(matches!(error, ItemError::NotReady(_)));
        assert_eq!(error.to_string(), "scan.pdf: changed");
    }

    #[test]
    fn a_batch_error_is_copied_per_item_with_its_variant() {
        let results = ItemError::for_each(3, &ItemError::stop(Failure::Auth, anyhow!("expired")));
        assert_eq!(results.len(), 3);
        for result in results {
            let Err(ItemError::Stop(Failure::Auth, error)) = result else {
                panic!("not a stop")
            };
            assert_eq!(error.to_string(), "expired");
        }
        let results = ItemError::for_each(2, &ItemError::failed(anyhow!("refused")));
        assert!(results
            .iter()
            .all(|r| matches!(r, Err(ItemError::Failed(_)))));
    }

    #[test]
    fn a_stop_copied_per_item_says_its_failure_once() {
        // See: issue 16. "source unavailable: source unavailable: …" was the batch's last line.
        let lost = anyhow!("reset")
            .context("the connection was lost while moving mails")
            .context(Failure::Source);
        let results = ItemError::for_each(2, &ItemError::stop(Failure::Source, lost));
        for result in results {
            let err = result.unwrap_err().into_stop().unwrap();
            assert_eq!(exit::code_for(&err), exit::SOURCE);
            assert_eq!(
                exit::message_for(&err),
                "source unavailable: the connection was lost while moving mails: reset"
            );
        }
    }

    #[test]
    fn sizes_saturate() {
        let item = |size| Item {
            key: ItemKey("k".into()),
            label: String::new(),
            name: None,
            size,
            slot: 0,
            aliases: Vec::new(),
        };
        let items = [item(u64::MAX), item(7)];
        assert_eq!(total_size(&items), u64::MAX);
        assert_eq!(total_size(&[item(1), item(2)]), 3);
    }
}
