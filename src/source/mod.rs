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
//!   so that it does not inspect files nobody wants. It may ask `settled` whether the journal is
//!   done with an item's key, and list such an item cheaply (IMAP then asks the server for its UID
//!   alone, not for its header fields): still listed, or the journal would take it for gone. Items
//!   it passes over for its own reasons (a file
//!   still being written) go to `Listing::skipped` with the reason, for dry runs and `-v`.
//! - `fetch`: one item's documents, or an `ItemError` that says what became of it: `Stop` ends the
//!   run (the connection is gone, the login expired), `Failed` fails this item only (it is reported
//!   and left as it is at the source, and the run goes on), `NotReady` leaves it for a later run
//!   without counting as a failure (a file that changed since it was listed), `SetAside` is a
//!   failure that trying again cannot mend, which the cycle sets aside at once. A protocol turns
//!   an error of its run-level helpers (connection, login) into `Stop` with `ItemError::from_run`,
//!   never into `Failed`: a forgotten classification must stop the run, not hide behind an item.
//! - `acknowledge`: the post-action for a batch of deposited items: exactly one result per item, in
//!   order (the cycle stops the run if the count is wrong). `Stop` ends the run; any other error
//!   means "deposited, not acknowledged": the next run acknowledges the item again. It may be called
//!   again for an item already acknowledged by a run that was killed before it could note it, so it
//!   must tolerate that (an item already gone is success).
//!
//! Defaulted methods:
//! - `notices`: what the administrator must hear about although the run works (a sign-in or a
//!   credential that expires soon), one line each, taken once after `open`; the cycle reports them.
//! - `prefetch`: a hint with the items about to be fetched, so a protocol can fetch them in one round
//!   trip; `fetch` must work without it. A `Stop` from it ends the run; any other error is only
//!   logged, and `fetch` tries again item by item.
//! - `traces`: what the listed items show of an earlier lanceur's work (IMAP: the `$Lanceur`
//!   keyword set on acknowledged mails; read mails under `--select all` where no keyword can be
//!   set; Office 365: read mails under `--select all`), asked only when the journal is empty. None
//!   by default: a POP3 mail carries no mark, and a folder's or an envelope source's taken files
//!   are gone from the source. An error stops the run.
//! - `expiries`: what expires unless someone acts (a sign-in left unused, a client secret, a
//!   certificate), for `lanceur status`; nothing by default.
//! - `tidy`: the source's own housekeeping of items acknowledged by earlier runs, after this run's
//!   batches (POP3 `--keep --delete-after DAYS` deletes kept mails once old enough). Not called in
//!   dry runs, nor when the run stopped on an error; an error from it stops the run.
//! - `leave_unmatched`: what becomes of items none of whose documents passed the filters (or that
//!   had none): never the post-action of `acknowledge`; by default nothing at all (the journal
//!   remembers them). A mail source may mark them seen when asked (`--unmatched seen`). Exactly
//!   one result per item; `Stop` ends the run, any other error is only logged.
//! - `set_aside`: puts a poison item out of the way in the protocol's own manner (a keyword or a
//!   folder for a mailbox, `--failed` for a folder source) and writes its raw bytes into `keep`,
//!   a fresh owner-only folder under the state folder, as far as it can (a server that will not
//!   send the mail, a file this user cannot read: then nothing is kept, and `how` says so). The
//!   cycle calls it once an item failed `--set-aside-after` runs in a row, or at once for
//!   `ItemError::SetAside`; the journal then keeps it from being taken again. Default: the item
//!   stays where it is and nothing is kept. `Stop` ends the run; any other error leaves the item
//!   a plain failure, tried again on the next run.
//! - `restore`: for `lanceur retry`, puts an item set aside back where `list` finds it, given the
//!   `place` its `set_aside` returned. Default: nothing to do (it never left).
//! - `finish`: orderly goodbye (IMAP LOGOUT, POP3 QUIT, which is what makes POP3 deletions happen).
//!   Not called when the run stopped on an error.

use anyhow::Result;

use std::io::Write;

use std::path::Path;

use crate::item::{Aside, Document, Expiry, Item, ItemError, ItemKey, Listing, Settled, Traces};
use crate::settings::oauth::{LoginConfig, LoginTarget};
use crate::settings::{Launcher, SourceConfig};

pub mod adullact;
pub mod dir;
pub mod folder;
pub mod imap;
pub mod o365;
pub mod pop;

pub trait Source {
    fn label(&self) -> &str;
    fn notices(&mut self) -> Vec<String> {
        Vec::new()
    }
    fn list(
        &mut self,
        wanted: &mut dyn FnMut(&str) -> bool,
        settled: &Settled<'_>,
    ) -> Result<Listing>;
    fn prefetch(&mut self, _upcoming: &[&Item]) -> Result<(), ItemError> {
        Ok(())
    }
    fn fetch(&mut self, item: &Item) -> Result<Vec<Document>, ItemError>;
    fn acknowledge(&mut self, items: &[&Item]) -> Vec<Result<(), ItemError>>;
    fn leave_unmatched(&mut self, items: &[&Item]) -> Vec<Result<(), ItemError>> {
        items.iter().map(|_| Ok(())).collect()
    }
    fn set_aside(&mut self, _item: &Item, _keep: &Path) -> Result<Aside, ItemError> {
        Ok(Aside::left_in_place())
    }
    fn restore(&mut self, _key: &ItemKey, _place: Option<&str>) -> Result<()> {
        Ok(())
    }
    fn tidy(&mut self) -> Result<()> {
        Ok(())
    }
    fn traces(&mut self, _listed: &[Item]) -> Result<Option<Traces>> {
        Ok(None)
    }
    fn expiries(&self) -> Vec<Expiry> {
        Vec::new()
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
            &launcher.state_dir,
            launcher.dry_run,
        )?)),
        SourceConfig::Imap(config) => Ok(Box::new(imap::ImapSource::open(
            config.clone(),
            &launcher.state_dir,
        )?)),
        SourceConfig::Pop(config) => Ok(Box::new(pop::PopSource::open(
            config.clone(),
            &launcher.state_dir,
        )?)),
    }
}

/// `lanceur imap|pop|o365 login`: signs the launcher in (instructions on `out`), saves the tokens,
/// then checks that the mailbox can be reached with them.
pub fn login(config: &LoginConfig, out: &mut dyn Write) -> Result<()> {
    use anyhow::Context;
    let agent = crate::oauth::http::agent(crate::oauth::http::ANSWER_TIMEOUT);
    let path = crate::oauth::login(config, &agent, out)?;
    writeln!(out, "signed in; tokens saved in {}", path.display())
        .context("cannot print to standard output")?;
    let reached = match &config.target {
        LoginTarget::O365(account) => o365::check_login(config, account, agent)?,
        LoginTarget::Imap { server, mailbox } => {
            imap::check_login(server, mailbox, &config.state_dir)?
        }
        LoginTarget::Pop { server } => pop::check_login(server, &config.state_dir)?,
    };
    writeln!(
        out,
        "{reached} is readable; launcher {} is ready for its runs",
        config.launcher
    )
    .context("cannot print to standard output")
}
