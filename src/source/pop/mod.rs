//! `lanceur pop`: the mails of a POP3 maildrop, each an item whose documents are its attachments
//! (see `extract::mail`). The wire protocol is `client.rs`; this file maps it onto the `Source`
//! contract.
//!
//! - `list`: `UIDL` and `LIST` for the whole maildrop, two commands whatever its size; no content.
//!   POP3 numbers messages in arrival order, so that order is oldest first. The journal key is
//!   `pop:<uidl>`: a message number means something only within one session, a UIDL for good.
//! - `fetch`: `RETR`, then the shared mail extraction. When the server announces PIPELINING, the
//!   `RETR` commands of the next mails of the batch are sent ahead (`ahead.rs`), so no round trip
//!   is waited for per mail; those mails wait in the socket's buffers. Memory holds one mail (and
//!   what is extracted from it), never the maildrop. Sidecar fields: the shared ones, with the
//!   account as `mailbox`, and the mail's `uidl`.
//! - `acknowledge`, delete mode (the default): `DELE` for the batch (pipelined when the server
//!   says PIPELINING), then `QUIT`. POP3 removes messages only at a successful `QUIT`; until then
//!   a lost connection undoes every `DELE`. And the cycle journals an item as acknowledged as soon
//!   as `acknowledge` returns `Ok`, then never acknowledges it again. So `Ok` is returned only
//!   after the server's `+OK` to `QUIT`, and the next command that needs the server opens a new
//!   session (one reconnection per batch, and one `UIDL` to learn the new message numbers). A run
//!   killed between `DELE` and `QUIT` leaves the mails on the server and the journal at "done":
//!   the next run deletes them again, and never deposits them twice.
//! - `acknowledge`, keep mode (`--keep`): nothing on the server; the date the mail was taken is
//!   noted (durably) in the source's own file (`kept.rs`), and `tidy` deletes kept mails older
//!   than `--delete-after DAYS`, as getmail's `delete_after` does.
//!
//! A mail set aside (it failed `--set-aside-after` runs in a row) stays on the server, since POP3
//! has nowhere else to put it; its raw bytes are kept under the state folder and the journal stops
//! it being downloaded again. A mail none of whose documents pass the filters is left on the
//! server too, never deleted.
//!
//! Errors: a refused login is `Failure::Auth` (exit 3), unless the server says the refusal is
//! temporary (`[IN-USE]`, `[SYS/TEMP]`); a host that does not answer, a TLS failure, a lost
//! connection or an answer that is not POP3 is `Failure::Source` (exit 4). The server's `-ERR`
//! line is quoted verbatim. A mail that the server will not send or that cannot be read is an
//! item failure: it stays on the server and the others go on. So is a mail during which the server
//! drops the connection, when a new session opens (a server that crashes on one mail must not
//! block the maildrop); a timeout, or a new session that does not open, stops the run.

mod ahead;
mod client;
mod kept;
mod login;
mod rules;

pub use login::check_login;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};

use self::ahead::Ahead;
use self::client::{Client, Error as PopError};
use self::kept::Kept;
use super::Source;
use crate::clock::now_unix_seconds;
use crate::exit::Failure;
use crate::extract::mail::{self, Origin};
use crate::item::{Aside, Document, Item, ItemError, ItemKey, Listing, Settled, Skipped};
use crate::names::short_tag;
use crate::oauth::Tokens;
use crate::settings::{Auth, PopAfter, PopConfig};
use crate::tls::{Connector, Stream};

/// Bytes a message may exceed its listed size by before it is refused (servers count line ends
/// differently, and some only estimate).
const SIZE_SLACK: u64 = 16 << 20;

/// Connections the server may drop in the middle of a mail in one run before the run stops.
const MAX_DROPS: u32 = 8;

pub struct PopSource {
    config: PopConfig,
    label: String,
    connector: Connector,
    session: Option<Session>,
    listed: Vec<Listed>,
    /// `STATE_DIR/NAME/pop-kept`, for keep mode.
    kept_path: PathBuf,
    kept: Option<Kept>,
    ahead: Ahead,
    /// Connections dropped in the middle of a mail, in this run.
    drops: u32,
    /// The OAuth tokens of `--oauth`, kept for the reconnections after each batch's QUIT.
    tokens: Option<Tokens>,
    /// Expiry warnings of an OAuth sign-in, for the cycle to report.
    notices: Vec<String>,
}

struct Session {
    client: Client<Stream>,
    /// UIDL → message number, valid for this session only.
    numbers: HashMap<String, u32>,
}

#[derive(Debug, Clone)]
struct Listed {
    uidl: String,
    size: u64,
}

impl PopSource {
    pub fn open(config: PopConfig, state_dir: &Path) -> Result<PopSource> {
        let server = &config.server;
        let label = format!(
            "pop {}@{}:{}",
            server.account, server.tls.host, server.tls.port
        );
        let connector = Connector::new(&server.tls)?;
        let tokens = match &server.auth {
            Auth::OAuth(oauth) => Some(Tokens::open(oauth, state_dir)?),
            _ => None,
        };
        let notices = tokens.as_ref().map(Tokens::warnings).unwrap_or_default();
        let mut source = PopSource {
            label,
            connector,
            session: None,
            listed: Vec::new(),
            kept_path: state_dir.join("pop-kept"),
            kept: None,
            ahead: Ahead::default(),
            drops: 0,
            tokens,
            notices,
            config,
        };
        // Log in now, so that a wrong password or an unreachable server stops the run at once.
        // `list` learns the message numbers.
        let client = source.connect()?;
        source.session = Some(Session {
            client,
            numbers: HashMap::new(),
        });
        Ok(source)
    }

    fn address(&self) -> String {
        self.connector.address()
    }

    /// Forgets the session (without `QUIT`: any `DELE` of it is undone) and the `RETR` commands
    /// sent ahead on it.
    fn drop_session(&mut self) -> Option<Session> {
        self.ahead.in_flight.clear();
        self.session.take()
    }

    /// The session with no `RETR` answer pending, for commands whose answers must come next.
    fn quiet_session(&mut self) -> Result<&mut Session> {
        if !self.ahead.in_flight.is_empty() {
            // Mails sent ahead that nobody fetched (the run is stopping): start afresh rather
            // than read them.
            self.drop_session();
        }
        self.session()
    }

    /// The open session, or a new one (after the `QUIT` of a batch's deletions): connect, STLS if
    /// asked, log in, then `UIDL` to learn the message numbers of this session.
    fn session(&mut self) -> Result<&mut Session> {
        if self.session.is_none() {
            let mut client = self.connect()?;
            let address = self.address();
            let uidls = client
                .uidl()
                .map_err(|err| lost(err, &address, "listing the mails"))?;
            log::debug!(
                "{}: new session, {} mails on the server",
                self.label,
                uidls.len()
            );
            let numbers = uidls.into_iter().map(|(n, uidl)| (uidl, n)).collect();
            self.session = Some(Session { client, numbers });
        }
        Ok(self.session.as_mut().expect("just opened"))
    }

    fn connect(&mut self) -> Result<Client<Stream>> {
        login::connect(&self.connector, &self.config.server, self.tokens.as_mut())
    }

    fn kept(&mut self) -> Result<&mut Kept> {
        if self.kept.is_none() {
            self.kept = Some(Kept::load(&self.kept_path)?);
        }
        Ok(self.kept.as_mut().expect("just loaded"))
    }

    /// Delete mode: `DELE` each item still on the server, then `QUIT`. `Ok` only for what the
    /// server confirmed at `QUIT`.
    fn delete(&mut self, items: &[&Item]) -> Vec<Result<(), ItemError>> {
        let address = self.address();
        let uidls: Vec<String> = items
            .iter()
            .map(|item| self.listed[item.slot].uidl.clone())
            .collect();
        let session = match self.quiet_session() {
            Ok(session) => session,
            Err(err) => return ItemError::for_each(items.len(), &ItemError::from_run(err)),
        };
        // An item no longer on the server was deleted by an earlier, interrupted run: done.
        let numbers: Vec<Option<u32>> = uidls
            .iter()
            .map(|uidl| session.numbers.get(uidl).copied())
            .collect();
        let present: Vec<u32> = numbers.iter().flatten().copied().collect();
        let mut answers = match session.client.dele_all(&present) {
            Ok(answers) => answers.into_iter(),
            Err(err) => {
                self.drop_session();
                let err = ItemError::from_run(lost(err, &address, "deleting mails"));
                return ItemError::for_each(items.len(), &err);
            }
        };
        let mut results: Vec<Result<(), ItemError>> = numbers
            .iter()
            .map(|number| match number {
                None => Ok(()),
                Some(_) => match answers.next() {
                    Some(Ok(())) => Ok(()),
                    Some(Err(err)) => Err(ItemError::failed(anyhow!("{err}"))),
                    None => Err(ItemError::failed(anyhow!("no answer to DELE"))),
                },
            })
            .collect();
        let session = self.drop_session().expect("open");
        if let Err(err) = session.client.quit() {
            let err = match err {
                PopError::Refused { line, .. } => ItemError::failed(anyhow!(
                    "the server did not delete the mails at QUIT: {line}; they stay on the server \
                     and the next run deletes them again"
                )),
                err => ItemError::from_run(lost(
                    err,
                    &address,
                    "ending the session that deletes the mails",
                )),
            };
            results = ItemError::for_each(items.len(), &err);
        } else {
            log::debug!("{}: QUIT deleted {} mails", self.label, present.len());
        }
        results
    }

    /// Keep mode: note when each mail was taken, durably, before saying it is acknowledged.
    fn keep(&mut self, items: &[&Item]) -> Vec<Result<(), ItemError>> {
        let uidls: Vec<String> = items
            .iter()
            .map(|item| self.listed[item.slot].uidl.clone())
            .collect();
        let path = self.kept_path.clone();
        let saved = self.kept().and_then(|kept| {
            if kept.note(uidls.iter().map(String::as_str), now_unix_seconds()) {
                kept.save()?;
            }
            Ok(())
        });
        match saved {
            Ok(()) => items.iter().map(|_| Ok(())).collect(),
            Err(err) => {
                // Not noted: the next run acknowledges these mails again.
                self.kept = None;
                let err = err.context(format!(
                    "cannot note the kept mails in {}; check the state folder",
                    path.display()
                ));
                ItemError::for_each(items.len(), &ItemError::failed(err))
            }
        }
    }
}

impl PopSource {
    /// The connection failed in the middle of one mail. A server that crashes on a mail does that
    /// on every run, so it must not block the others: when a new session opens, this mail fails
    /// alone (it stays on the server, reported) and the run goes on. When none opens, or after
    /// `MAX_DROPS` such failures, the run stops.
    fn dropped_on_one(&mut self, err: anyhow::Error) -> ItemError {
        self.drops += 1;
        if self.drops > MAX_DROPS {
            return ItemError::from_run(err);
        }
        if let Err(again) = self.session() {
            return ItemError::from_run(
                again.context(format!("{err:#}; opening a new session failed")),
            );
        }
        ItemError::failed(anyhow!(
            "the server dropped the connection while sending this mail ({err:#}); the other \
             mails are taken. If this happens on every run, ask the mail administrator to repair \
             or remove it"
        ))
    }
}

impl Source for PopSource {
    fn label(&self) -> &str {
        &self.label
    }

    fn notices(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notices)
    }

    fn expiries(&self) -> Vec<crate::item::Expiry> {
        self.tokens
            .as_ref()
            .map(Tokens::expiries)
            .unwrap_or_default()
    }

    fn list(
        &mut self,
        _wanted: &mut dyn FnMut(&str) -> bool,
        _settled: &Settled<'_>,
    ) -> Result<Listing> {
        let address = self.address();
        let session = self.session()?;
        let uidls = session
            .client
            .uidl()
            .map_err(|err| lost(err, &address, "listing the mails (UIDL)"))?;
        let sizes: HashMap<u32, u64> = session
            .client
            .list()
            .map_err(|err| lost(err, &address, "listing the sizes (LIST)"))?
            .into_iter()
            .collect();
        session.numbers = uidls.iter().map(|(n, uidl)| (uidl.clone(), *n)).collect();
        let mut listing = Listing {
            complete: true,
            ..Listing::default()
        };
        let mut seen: HashSet<&str> = HashSet::new();
        let mut listed = Vec::with_capacity(uidls.len());
        let mut ordered: Vec<&(u32, String)> = uidls.iter().collect();
        ordered.sort_by_key(|(n, _)| *n);
        for (number, uidl) in ordered {
            if !seen.insert(uidl) {
                listing.skipped.push(Skipped::routine(
                    format!("mail {number}"),
                    format!(
                        "its UIDL {uidl} is also another mail's; the server's UIDLs are not \
                         unique, so lanceur cannot tell these mails apart"
                    ),
                ));
                continue;
            }
            let size = sizes.get(number).copied().unwrap_or(0);
            listing.items.push(Item {
                key: ItemKey(format!("pop:{uidl}")),
                label: format!("mail {number} (UIDL {uidl})"),
                name: None,
                size,
                slot: listed.len(),
                aliases: Vec::new(),
            });
            listed.push(Listed {
                uidl: uidl.clone(),
                size,
            });
        }
        self.listed = listed;
        if !self.config.mail.rules.is_empty() {
            self.apply_rules(&mut listing)?;
        }
        log::debug!("{}: {} mails on the server", self.label, self.listed.len());
        Ok(listing)
    }

    fn prefetch(&mut self, upcoming: &[&Item]) -> Result<(), ItemError> {
        if !self.ahead.in_flight.is_empty() {
            self.drop_session();
        }
        self.ahead.upcoming = upcoming.iter().map(|item| item.slot).collect();
        self.ahead.next = 0;
        Ok(())
    }

    fn fetch(&mut self, item: &Item) -> Result<Vec<Document>, ItemError> {
        let address = self.address();
        let Listed { uidl, size } = self.listed[item.slot].clone();
        let gone = || ItemError::not_ready(anyhow!("the mail is no longer on the server"));
        if let Some(session) = &self.session {
            if !session.numbers.contains_key(&uidl) {
                return Err(gone());
            }
        }
        self.send_ahead(item.slot).map_err(ItemError::from_run)?;
        let number = match self.ahead.in_flight.front() {
            Some(&(slot, number)) if slot == item.slot => number,
            _ => return Err(gone()),
        };
        self.ahead.in_flight.pop_front();
        let session = self.session.as_mut().expect("open");
        // The size comes from the server: saturate, or a hostile LIST could overflow the bound.
        let bound = size.saturating_mul(2).saturating_add(SIZE_SLACK);
        let raw = match session.client.read_retr(number, size, bound) {
            Ok(raw) => raw,
            Err(PopError::Refused { line, .. }) => {
                return Err(ItemError::failed(anyhow!(
                    "the server would not send it: {line}"
                )))
            }
            Err(err) => {
                // A server that stopped answering is no crash on this mail: the run stops.
                let timeout = err.is_timeout();
                self.drop_session();
                let err = lost(err, &address, "receiving a mail");
                return Err(if timeout {
                    ItemError::from_run(err)
                } else {
                    self.dropped_on_one(err)
                });
            }
        };
        let origin = Origin {
            mailbox: self.config.server.account.clone(),
            id: short_id(&uidl),
            fields: vec![("uidl".into(), uidl)],
        };
        let label = format!("{}: {}", self.label, item.label);
        mail::documents_noted(raw, &self.config.mail.extract, &origin, &label)
            .map_err(ItemError::failed)
    }

    fn acknowledge(&mut self, items: &[&Item]) -> Vec<Result<(), ItemError>> {
        if items.is_empty() {
            return Vec::new();
        }
        match self.config.after {
            PopAfter::Delete => self.delete(items),
            PopAfter::Keep { .. } => self.keep(items),
        }
    }

    fn set_aside(&mut self, item: &Item, keep: &Path) -> Result<Aside, ItemError> {
        let address = self.address();
        let Listed { uidl, size } = self.listed[item.slot].clone();
        let session = self.quiet_session().map_err(ItemError::from_run)?;
        let how = Aside {
            how: "left on the server, no longer downloaded".into(),
            place: None,
        };
        let Some(&number) = session.numbers.get(&uidl) else {
            return Ok(how);
        };
        let bound = size.saturating_mul(2).saturating_add(SIZE_SLACK);
        match session.client.retr(number, size, bound) {
            Ok(raw) => std::fs::write(keep.join("message.eml"), raw)
                .map_err(|err| ItemError::stop(Failure::Cold, anyhow!(err)))?,
            Err(PopError::Refused { line, .. }) => {
                log::warn!("the server refused to send {} again: {line}", item.label);
            }
            Err(err) => {
                self.drop_session();
                return Err(ItemError::from_run(lost(
                    err,
                    &address,
                    "receiving a mail to keep",
                )));
            }
        }
        Ok(how)
    }

    fn tidy(&mut self) -> Result<()> {
        let PopAfter::Keep {
            delete_after_days: Some(days),
        } = self.config.after
        else {
            return Ok(());
        };
        let on_server: HashSet<String> = self.listed.iter().map(|l| l.uidl.clone()).collect();
        let cutoff = now_unix_seconds().saturating_sub(u64::from(days) * 86_400);
        let kept = self.kept()?;
        let forgot = kept.retain(&on_server.iter().map(String::as_str).collect());
        let expired = kept.taken_before(cutoff);
        if expired.is_empty() {
            if forgot {
                kept.save()?;
            }
            return Ok(());
        }
        let address = self.address();
        let session = self.quiet_session()?;
        let numbers: Vec<u32> = expired
            .iter()
            .filter_map(|uidl| session.numbers.get(uidl).copied())
            .collect();
        let answers = session
            .client
            .dele_all(&numbers)
            .map_err(|err| lost(err, &address, "deleting kept mails"))?;
        for answer in answers.iter().filter_map(|a| a.as_ref().err()) {
            log::warn!("{}: {answer}", self.label);
        }
        let session = self.session.take().expect("open");
        session
            .client
            .quit()
            .map_err(|err| lost(err, &address, "ending the session that deletes kept mails"))?;
        log::info!(
            "{}: deleted {} mail(s) kept more than {days} days",
            self.label,
            numbers.len()
        );
        // Deleted mails leave the file when the next run no longer lists them.
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        // Nothing is pending: deletions were committed by acknowledge. A failed goodbye changes
        // nothing.
        if !self.ahead.in_flight.is_empty() {
            self.drop_session();
        }
        if let Some(session) = self.session.take() {
            if let Err(err) = session.client.quit() {
                log::debug!("{}: QUIT failed: {err}", self.label);
            }
        }
        Ok(())
    }
}

/// A connection or protocol error that stops the run (exit 4).
fn lost(err: PopError, address: &str, doing: &str) -> anyhow::Error {
    let hint = if err.is_timeout() {
        " (raise --timeout if the server is slow)"
    } else {
        ""
    };
    anyhow!("{err}{hint}")
        .context(format!(
            "POP3 session with {address} failed while {doing}; mails not yet acknowledged are \
             taken by the next run"
        ))
        .context(Failure::Source)
}

/// A short identity of the mail for generated file names: `pop-<uidl>` when the UIDL is short
/// and plain, else `pop-<hash of it>`.
fn short_id(uidl: &str) -> String {
    if uidl.len() <= 24 && uidl.chars().all(|c| c.is_ascii_alphanumeric()) {
        format!("pop-{uidl}")
    } else {
        format!("pop-{}", short_tag(uidl))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_are_safe_in_file_names() {
        assert_eq!(short_id("000000017b1e2a4c"), "pop-000000017b1e2a4c");
        let long = short_id("GmailId1234567890abcdef/with:odd<chars>");
        assert!(long.starts_with("pop-"));
        assert!(
            long[4..].chars().all(|c| c.is_ascii_alphanumeric()),
            "{long}"
        );
    }
}
