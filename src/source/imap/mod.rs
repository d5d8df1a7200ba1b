//! `lanceur imap`: the mails of one IMAP mailbox, each an item whose documents are its attachments
//! (see `extract::mail`).
//!
//! Round trips are what make a mail client slow, so everything goes in batches:
//! - `list` (`listing.rs`): one `UID SEARCH` (unseen, or all; `SINCE` the first-run window), then
//!   `UID FETCH` of size, arrival date, Message-ID, From and Subject for the found UIDs, in chunks
//!   of `LIST_CHUNK`; no content. Oldest (lowest UID) first. `--from` and `--subject` are judged
//!   there: a mail that does not match is no candidate.
//! - `prefetch`/`fetch`: `UID FETCH <set> BODY.PEEK[]` for as many upcoming mails as fit in
//!   `PREFETCH_BYTES` (by their listed sizes; a bigger mail comes alone). PEEK: fetching does not
//!   mark a mail seen, only the acknowledgement does, after the deposit. Memory holds one such
//!   chunk, never the mailbox; a large attachment is decoded into a temporary file.
//!   (`fetching.rs`).
//! - One mail the server fails on (a refusal, or the connection dropped: Dovecot 2.3 crashes on
//!   some mails) never blocks the mailbox: the command is repeated on halves of its chunk, after a
//!   new session when needed, down to that one mail, which fails alone and is reported.
//! - `acknowledge`: one command for the whole batch: `UID STORE +FLAGS.SILENT (\Seen)`, `UID MOVE`
//!   (or, without MOVE, `UID COPY` + `\Deleted` + `UID EXPUNGE`, or plain `EXPUNGE` without
//!   UIDPLUS), or `\Deleted` + expunge.
//!
//! The journal key is `imap:<mailbox>:<uidvalidity>:<uid>`, the identity RFC 3501 guarantees. When
//! a mailbox is recreated or restored the server changes its UIDVALIDITY and every UID means
//! something else: the old keys no longer match, which is right (an old UID 7 is not the new
//! UID 7), but every mail would look new, and with `--select all` be deposited again. So each item
//! also carries an alias, `imap:<mailbox>:msgid:<Message-ID>:<arrival time>`, which the cycle
//! journals beside the key: after a UIDVALIDITY change a mail already taken is recognised by it
//! and not taken again, while a mail that was never taken has no journaled alias and is taken.
//! The arrival time (INTERNALDATE, kept by servers and migration tools) keeps apart two mails that
//! reuse one Message-ID; a mail without a Message-ID has no alias and may come twice after such a
//! change, never be lost.
//!
//! Errors: a refused login is `Failure::Auth` (exit 3); a host that does not answer, a TLS
//! failure, a missing mailbox or a connection lost mid-way is `Failure::Source` (exit 4) and stops
//! the run, leaving every mail not yet acknowledged for the next run. A mail that cannot be read is
//! an item failure: it stays on the server, unseen, and the others go on.

mod aside;
mod fetching;
mod listing;
mod session;
mod utf7;
mod wire;

use anyhow::{anyhow, Context, Result};
use imap::Session;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::Source;
use crate::exit::Failure;
use crate::extract::mail::{self, Origin};
use crate::item::{Aside, Document, Expiry, Item, ItemError, ItemKey, Listing, Settled, Traces};
use crate::settings::{ImapAfter, ImapConfig, ServerConfig};
use fetching::Opened;
use session::lost;
use wire::Shared;

/// The keyword an acknowledgement leaves on a mail that stays in the mailbox (`--after seen` or
/// `keep`), where the mailbox allows keywords: a launcher that starts with an empty journal (another
/// name, state folder or user than the runs before) then finds what an earlier run took and says
/// so (`Source::traces`).
pub const TAKEN: &str = "$Lanceur";

/// UIDs per listing `UID FETCH`, to keep command lines short.
const LIST_CHUNK: usize = 2000;
/// Bytes of mail (by listed size) fetched in one `UID FETCH … BODY.PEEK[]`.
const PREFETCH_BYTES: u64 = 8 << 20;
/// Most mails in one body fetch.
const PREFETCH_ITEMS: usize = 128;
/// Bytes any one command through the `imap` crate may read (a listing of 2000 mails' header
/// fields is a few megabytes): a bound on what a hostile server can make lanceur hold.
const ANSWER_BUDGET: u64 = 64 << 20;
/// Sessions opened again in one run after the server dropped the connection.
const MAX_RECONNECTS: u32 = 24;
/// Bytes a mail may exceed its listed size by (servers count line ends differently).
const SIZE_SLACK: u64 = 16 << 20;

pub struct ImapSource {
    config: ImapConfig,
    label: String,
    session: Session<Shared>,
    /// The same connection, for bulk body fetches (`wire`).
    wire: Shared,
    /// Numbers the tags of `wire`'s commands.
    wire_tag: u32,
    uidvalidity: u32,
    can_move: bool,
    uidplus: bool,
    /// Whether acknowledged mails get the `TAKEN` keyword (the mailbox allows keywords).
    can_mark: bool,
    listed: Vec<Listed>,
    /// Slots of the items the cycle is about to fetch, in order (from `prefetch`).
    upcoming: Vec<usize>,
    /// Raw mails fetched ahead, by UID.
    cache: HashMap<u32, Vec<u8>>,
    /// Mails the server failed on (alone), with its answer: each fails as an item.
    failed: HashMap<u32, String>,
    /// Sessions opened again after a dropped connection, in this run.
    reconnects: u32,
    /// Where the OAuth token cache is, for new sessions.
    state_dir: PathBuf,
    /// Expiry warnings of an OAuth sign-in, for the cycle to report.
    notices: Vec<String>,
    /// What of the sign-in expires, for `lanceur status`.
    expiries: Vec<Expiry>,
}

#[derive(Debug, Clone)]
struct Listed {
    uid: u32,
    size: u64,
}

impl ImapSource {
    /// `state_dir` holds the OAuth token cache of a delegated sign-in.
    pub fn open(config: ImapConfig, state_dir: &Path) -> Result<ImapSource> {
        let server = &config.server;
        let label = format!(
            "imap {}@{}:{}/{}",
            server.account, server.tls.host, server.tls.port, config.mailbox
        );
        let mut opened = Opened::new(&config, state_dir)?;
        let targets = [
            match &config.after {
                ImapAfter::Move(target) => Some((target, "--move-to")),
                _ => None,
            },
            config.set_aside_to.as_ref().map(|t| (t, "--set-aside-to")),
        ];
        for (target, option) in targets.into_iter().flatten() {
            let pattern = quote(&utf7::encode(target));
            let names = opened
                .session
                .list(Some(""), Some(&pattern))
                .map_err(|err| {
                    lost(
                        err,
                        &opened.address,
                        &format!("looking for the {option} mailbox"),
                    )
                })?;
            if names.is_empty() {
                return Err(anyhow!(
                    "the {option} mailbox «{target}» does not exist on the server; create it or \
                     fix {option}"
                ))
                .context(Failure::Source);
            }
        }
        Ok(ImapSource::with(config, label, opened, state_dir))
    }

    fn with(config: ImapConfig, label: String, opened: Opened, state_dir: &Path) -> ImapSource {
        log::debug!(
            "{label}: UIDVALIDITY {}, MOVE {}, UIDPLUS {}",
            opened.uidvalidity,
            opened.can_move,
            opened.uidplus
        );
        ImapSource {
            config,
            label,
            session: opened.session,
            wire: opened.wire,
            wire_tag: 0,
            uidvalidity: opened.uidvalidity,
            can_move: opened.can_move,
            uidplus: opened.uidplus,
            can_mark: opened.can_mark,
            listed: Vec::new(),
            upcoming: Vec::new(),
            cache: HashMap::new(),
            failed: HashMap::new(),
            reconnects: 0,
            state_dir: state_dir.to_path_buf(),
            notices: opened.notices,
            expiries: opened.expiries,
        }
    }

    fn address(&self) -> String {
        format!(
            "{}:{}",
            self.config.server.tls.host, self.config.server.tls.port
        )
    }

    fn search_query(&self) -> String {
        let mut query = String::from(if self.config.unseen_only {
            "UNSEEN"
        } else {
            "ALL"
        });
        if let Some((year, month, day)) = self.config.since {
            const MONTHS: [&str; 12] = [
                "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
            ];
            let month = MONTHS[(month.clamp(1, 12) - 1) as usize];
            query.push_str(&format!(" SINCE {day}-{month}-{year}"));
        }
        query
    }

    /// The next chunk of upcoming mails from `position`, bounded in bytes and count.
    fn chunk_from(&self, position: usize) -> Vec<u32> {
        let mut uids = Vec::new();
        let mut bytes = 0u64;
        for &slot in &self.upcoming[position..] {
            let listed = &self.listed[slot];
            if !uids.is_empty()
                && (bytes.saturating_add(listed.size) > PREFETCH_BYTES
                    || uids.len() >= PREFETCH_ITEMS)
            {
                break;
            }
            if !self.cache.contains_key(&listed.uid) {
                uids.push(listed.uid);
                bytes = bytes.saturating_add(listed.size);
            }
        }
        uids
    }

    fn drain_unsolicited(&mut self) {
        while self.session.unsolicited_responses.try_recv().is_ok() {}
    }

    /// Runs the post-action on `uids`. A refusal fails the batch's acknowledgement (the next run
    /// tries again); a lost connection stops the run.
    fn post_action(&mut self, uids: &[u32]) -> Result<(), ItemError> {
        let set = &uid_set(uids);
        let after = self.config.after.clone();
        // A mail that stays in the mailbox carries `TAKEN` too, in the same command.
        let taken = if self.can_mark {
            format!(" {TAKEN}")
        } else {
            String::new()
        };
        match after {
            ImapAfter::Keep if taken.is_empty() => Ok(()),
            ImapAfter::Keep => self.command(
                &format!("UID STORE {set} +FLAGS.SILENT ({})", taken.trim_start()),
                ("mark mails taken", "marking mails taken"),
            ),
            ImapAfter::Seen => self.command(
                &format!("UID STORE {set} +FLAGS.SILENT (\\Seen{taken})"),
                ("mark mails seen", "marking mails seen"),
            ),
            ImapAfter::Delete => {
                self.command(
                    &format!("UID STORE {set} +FLAGS.SILENT (\\Deleted)"),
                    ("flag mails deleted", "flagging mails deleted"),
                )?;
                self.expunge(set)
            }
            ImapAfter::Move(target) => {
                let mailbox = self.config.mailbox.clone();
                self.move_to(uids, &mailbox, &target)
            }
        }
    }

    /// Removes the mails flagged deleted: only ours with UIDPLUS; without it, `EXPUNGE` also removes
    /// any other mail someone flagged deleted in this mailbox, which a mail client would do too.
    fn expunge(&mut self, set: &str) -> Result<(), ItemError> {
        let address = self.address();
        let result = if self.uidplus {
            self.session.uid_expunge(set).map(|_| ())
        } else {
            self.session.expunge().map(|_| ())
        };
        self.drain_unsolicited();
        result.map_err(|err| match err {
            imap::Error::No(why) | imap::Error::Bad(why) => {
                ItemError::failed(anyhow!("the server refused to expunge: {why}"))
            }
            err => stop(lost(err, &address, "expunging mails")),
        })
    }
}

impl Source for ImapSource {
    fn label(&self) -> &str {
        &self.label
    }

    fn notices(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notices)
    }

    fn list(
        &mut self,
        _wanted: &mut dyn FnMut(&str) -> bool,
        settled: &Settled<'_>,
    ) -> Result<Listing> {
        self.listing(settled)
    }

    fn prefetch(&mut self, upcoming: &[&Item]) -> Result<(), ItemError> {
        self.cache.clear();
        self.upcoming = upcoming.iter().map(|item| item.slot).collect();
        let uids = self.chunk_from(0);
        if uids.is_empty() {
            return Ok(());
        }
        self.fetch_bodies(&uids)
    }

    fn fetch(&mut self, item: &Item) -> Result<Vec<Document>, ItemError> {
        let uid = self.listed[item.slot].uid;
        if let Some(why) = self.failed.get(&uid) {
            return Err(ItemError::failed(anyhow!(
                "the server fails when asked for this mail ({why}); the other mails are taken. \
                 Ask the mail administrator to repair or remove it"
            )));
        }
        if !self.cache.contains_key(&uid) {
            let chunk = match self.upcoming.iter().position(|&slot| slot == item.slot) {
                Some(position) => self.chunk_from(position),
                None => vec![uid],
            };
            self.fetch_bodies(&chunk)?;
            if let Some(why) = self.failed.get(&uid) {
                return Err(ItemError::failed(anyhow!(
                    "the server fails when asked for this mail ({why}); the other mails are \
                     taken. Ask the mail administrator to repair or remove it"
                )));
            }
        }
        let raw = self.cache.remove(&uid).ok_or_else(|| {
            ItemError::not_ready(anyhow!(
                "the mail is no longer in the mailbox (moved or deleted since it was listed)"
            ))
        })?;
        let origin = Origin {
            mailbox: self.config.mailbox.clone(),
            id: format!("uid-{uid}"),
            fields: vec![
                ("uid".into(), uid.to_string()),
                ("uidvalidity".into(), self.uidvalidity.to_string()),
            ],
        };
        let label = format!("{}: {}", self.label, item.label);
        mail::documents_noted(raw, &self.config.mail.extract, &origin, &label)
            .map_err(ItemError::failed)
    }

    fn acknowledge(&mut self, items: &[&Item]) -> Vec<Result<(), ItemError>> {
        if items.is_empty() {
            return Vec::new();
        }
        let uids: Vec<u32> = items.iter().map(|i| self.listed[i.slot].uid).collect();
        match self.post_action(&uids) {
            Ok(()) => items.iter().map(|_| Ok(())).collect(),
            Err(err) => ItemError::for_each(items.len(), &err),
        }
    }

    fn leave_unmatched(&mut self, items: &[&Item]) -> Vec<Result<(), ItemError>> {
        self.mark_unmatched(items)
    }

    fn set_aside(&mut self, item: &Item, keep: &Path) -> Result<Aside, ItemError> {
        self.set_mail_aside(item, keep)
    }

    fn restore(&mut self, key: &ItemKey, place: Option<&str>) -> Result<()> {
        self.restore_mail(key, place)
    }

    fn traces(&mut self, listed: &[Item]) -> Result<Option<Traces>> {
        self.taken_traces(listed)
    }

    fn expiries(&self) -> Vec<Expiry> {
        self.expiries.clone()
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        // The work is done and journaled; a failed goodbye changes nothing.
        if let Err(err) = self.session.logout() {
            log::debug!("{}: logout failed: {err}", self.label);
        }
        Ok(())
    }
}

/// What `lanceur imap login` checks once signed in: a login with the new tokens, and the mailbox.
pub fn check_login(server: &ServerConfig, mailbox: &str, state_dir: &Path) -> Result<String> {
    let address = format!("{}:{}", server.tls.host, server.tls.port);
    let mut opened = session::open(server, state_dir, true)?;
    if let Err(err) = opened.session.examine(utf7::encode(mailbox)) {
        return Err(match err {
            imap::Error::No(why) | imap::Error::Bad(why) => {
                anyhow!("signed in, but cannot open mailbox «{mailbox}» ({why}); check --folder")
                    .context(Failure::Source)
            }
            err => lost(err, &address, "opening the mailbox"),
        });
    }
    let _ = opened.session.logout();
    Ok(format!("mailbox {mailbox} of {}@{address}", server.account))
}

/// A connection or protocol error (from `lost`) met while taking or acknowledging mails.
fn stop(err: anyhow::Error) -> ItemError {
    ItemError::stop(Failure::Source, err)
}

/// An IMAP quoted string.
fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `1:3,7,9:10` for the sorted or unsorted `uids`.
fn uid_set(uids: &[u32]) -> String {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = String::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_are_compact() {
        assert_eq!(uid_set(&[3, 1, 2, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(uid_set(&[5]), "5");
        assert_eq!(uid_set(&[5, 5]), "5");
    }

    #[test]
    fn quoting() {
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
    }
}
