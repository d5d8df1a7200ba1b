//! Where documents come from: one module per protocol behind the `Source` trait.
//!
//! # The contract
//!
//! A source lists candidate items, turns one item into named documents, and applies the configured
//! post-action ("acknowledge") to items the cycle has deposited and journaled. That is all it does:
//! a source knows nothing of filters, the COLD folder, the journal, the lock or `--dry-run`. The order
//! of the steps, and the rule that acknowledging comes last, belong to `cycle.rs` alone.
//!
//! Required methods:
//! - `label`: names the source in every message, e.g. `imap alice@mail.example:993/INBOX`.
//! - `list`: every candidate item, oldest first, without content. Items the journal knows are still
//!   listed; the cycle skips or re-acknowledges them. A source whose items have names before they are
//!   fetched (a folder's files) asks `wanted` about each name first and leaves out those it rejects,
//!   so that it does not inspect files nobody wants. Items it passes over for its own reasons (a file
//!   still being written) go to `Listing::skipped` with the reason, for dry runs and `-v`.
//! - `fetch`: one item's documents. An error tagged with a `Failure` stops the run (the connection is
//!   gone, the login expired); an untagged error fails this item only: it is reported and left as it
//!   is at the source, and the run goes on. An error tagged `NotReady` (a file that changed since it
//!   was listed) leaves the item for a later run without counting as a failure. An error that is a
//!   `SetAside` is a failure after which the source moved the item away (to a `--failed` folder).
//! - `acknowledge`: the post-action for a batch of deposited items, one result per item, in order. The
//!   same tagged/untagged rule applies. It may be called again for an item already acknowledged by a
//!   run that was killed before it could note it, so it must tolerate that (an item already gone is
//!   success).
//!
//! Defaulted methods:
//! - `prefetch`: a hint with the items about to be fetched, so a protocol can fetch them in one round
//!   trip; `fetch` must work without it.
//! - `tidy`: the source's own housekeeping of items acknowledged by earlier runs, after this run's
//!   batches (POP3 `--keep --delete-after DAYS` deletes kept mails once old enough). Not called in
//!   dry runs, nor when the run stopped on an error; an error from it stops the run.
//! - `finish`: orderly goodbye (IMAP LOGOUT, POP3 QUIT, which is what makes POP3 deletions happen).
//!   Not called when the run stopped on an error.

use std::path::PathBuf;

use anyhow::Result;

use crate::config::{Launcher, SourceConfig};

pub mod adullact;
pub mod dir;
pub mod folder;
pub mod imap;
pub mod o365;
pub mod pop;

/// The source's own identity for an item, stable across runs; what the journal remembers.
/// Forms: `dir:<path>:<size>:<mtime>`, `imap:<mailbox>:<uidvalidity>:<uid>`, `pop:<uidl>`,
/// `o365:<immutable id>`, `adullact:<path>:<size>:<mtime>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ItemKey(pub String);

impl std::fmt::Display for ItemKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
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
    /// Bytes, as the source reports them, for `--max-bytes`.
    pub size: u64,
    /// The source's own index for this item in its listing; opaque to everyone else.
    pub slot: usize,
    /// Other identities of the same item, which the journal may know it by: an IMAP mail by its
    /// Message-ID, should the mailbox's UIDVALIDITY change and its UIDs become new keys. The cycle
    /// takes an item known under any of them as known, and records them all.
    pub aliases: Vec<ItemKey>,
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

#[derive(Debug, Clone)]
pub struct Skipped {
    pub label: String,
    pub reason: String,
}

/// Marks an item error as "not ready yet": the item is left for a later run without being reported
/// as a failure (a file still being written). Attach it with `.context(NotReady)`.
#[derive(Debug, Clone, Copy)]
pub struct NotReady;

impl std::fmt::Display for NotReady {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not ready")
    }
}

/// An item error after which the source moved the item out of its way (an envelope that cannot be
/// decoded, moved to a `--failed` folder so that it is not reported again every run). Still a
/// failure, but not one "left at the source": the message says where the item went.
#[derive(Debug)]
pub struct SetAside {
    pub message: String,
}

impl std::fmt::Display for SetAside {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SetAside {}

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

pub trait Source {
    fn label(&self) -> &str;
    fn list(&mut self, wanted: &mut dyn FnMut(&str) -> bool) -> Result<Listing>;
    fn prefetch(&mut self, _upcoming: &[&Item]) -> Result<()> {
        Ok(())
    }
    fn fetch(&mut self, item: &Item) -> Result<Vec<Document>>;
    fn acknowledge(&mut self, items: &[&Item]) -> Vec<Result<()>>;
    fn tidy(&mut self) -> Result<()> {
        Ok(())
    }
    fn finish(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

/// Connects to (or opens) the configured source. Login and reachability failures are tagged here.
pub fn open(launcher: &Launcher) -> Result<Box<dyn Source>> {
    match &launcher.source {
        SourceConfig::Dir(config) => Ok(Box::new(dir::DirSource::open(config.clone())?)),
        SourceConfig::Adullact(config) => {
            Ok(Box::new(adullact::AdullactSource::open(config.clone())?))
        }
        SourceConfig::O365(config) => Ok(Box::new(o365::O365Source::open(
            config.clone(),
            &launcher.name,
            &launcher.state_dir,
            launcher.dry_run,
        )?)),
        SourceConfig::Imap(config) => Ok(Box::new(imap::ImapSource::open(config.clone())?)),
        SourceConfig::Pop(config) => Ok(Box::new(pop::PopSource::open(
            config.clone(),
            &launcher.state_dir,
        )?)),
    }
}

/// One copy of `err` per item, keeping its `Failure` tag, for a batch that failed as a whole (an
/// IMAP STORE for many UIDs, a POP3 QUIT after many DELEs).
pub fn same_error_for_all(count: usize, err: &anyhow::Error) -> Vec<Result<()>> {
    let tag = crate::exit::failure_of(err);
    let message = crate::exit::message_for(err);
    (0..count)
        .map(|_| {
            let copy = anyhow::anyhow!("{message}");
            match tag {
                Some(tag) => Err(copy.context(tag)),
                None => Err(copy),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::Failure;
    use anyhow::anyhow;

    #[test]
    fn batch_errors_keep_their_tag() {
        let err = anyhow!("gone").context(Failure::Source);
        let results = same_error_for_all(2, &err);
        assert_eq!(results.len(), 2);
        for result in results {
            assert_eq!(
                crate::exit::failure_of(&result.unwrap_err()),
                Some(Failure::Source)
            );
        }
    }
}
