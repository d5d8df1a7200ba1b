//! Fetching IMAP mail bodies in bulk (`wire`), and what to do when the server fails on one: the
//! chunk is fetched again in halves, after a new session if the server dropped the connection,
//! so that the one mail it cannot send fails alone and the others are taken.

use std::collections::HashSet;
use std::path::Path;

use anyhow::{anyhow, Context, Result};
use imap::Session;

use super::session::{self, lost};
use super::wire::{self, FetchError, Shared};
use super::{stop, uid_set, utf7, ImapSource, ANSWER_BUDGET, MAX_RECONNECTS, SIZE_SLACK};
use crate::exit::Failure;
use crate::item::ItemError;
use crate::settings::ImapConfig;

/// A logged-in session on the configured mailbox.
pub(super) struct Opened {
    pub(super) session: Session<Shared>,
    pub(super) wire: Shared,
    pub(super) notices: Vec<String>,
    pub(super) expiries: Vec<crate::item::Expiry>,
    pub(super) address: String,
    pub(super) uidvalidity: u32,
    pub(super) can_move: bool,
    pub(super) uidplus: bool,
    /// The mailbox lets clients set keywords of their own (`\*` in PERMANENTFLAGS), so that
    /// acknowledged mails can carry `TAKEN`.
    pub(super) can_mark: bool,
}

impl Opened {
    /// Logs in (password or OAuth, `session::open`) and selects the configured mailbox.
    pub(super) fn new(config: &ImapConfig, state_dir: &Path) -> Result<Opened> {
        let server = &config.server;
        let address = format!("{}:{}", server.tls.host, server.tls.port);
        let session::Opened {
            mut session,
            wire,
            notices,
            expiries,
        } = session::open(server, state_dir, false)?;
        wire.limit(Some(ANSWER_BUDGET));
        let capabilities = session
            .capabilities()
            .map_err(|err| lost(err, &address, "reading its capabilities"))?;
        let can_move = capabilities.has_str("MOVE");
        let uidplus = capabilities.has_str("UIDPLUS");
        drop(capabilities);
        // `select` quotes the name itself.
        wire.limit(Some(ANSWER_BUDGET));
        let mailbox = match session.select(utf7::encode(&config.mailbox)) {
            Ok(mailbox) => mailbox,
            Err(imap::Error::No(why) | imap::Error::Bad(why)) => {
                return Err(anyhow!(
                    "cannot open mailbox «{}» ({why}); check --folder: names are \
                     case-sensitive (except INBOX) and use the server's separator, e.g. \
                     [Gmail]/All Mail",
                    config.mailbox
                ))
                .context(Failure::Source)
            }
            Err(err) => return Err(lost(err, &address, "opening the mailbox")),
        };
        let uidvalidity = mailbox.uid_validity.unwrap_or_else(|| {
            log::warn!("the server gave no UIDVALIDITY for {}", config.mailbox);
            0
        });
        let can_mark = mailbox
            .permanent_flags
            .iter()
            .any(|flag| matches!(flag, imap::types::Flag::MayCreate));
        Ok(Opened {
            session,
            wire,
            notices,
            expiries,
            address,
            uidvalidity,
            can_move,
            uidplus,
            can_mark,
        })
    }
}

/// How a command about some mails went wrong.
pub(super) enum Trouble {
    /// NO or BAD, or a connection the server dropped: try fewer mails (or fewer items).
    Retry(anyhow::Error),
    /// Anything else (a timeout, a TLS failure): the run stops.
    Stop(anyhow::Error),
}

impl ImapSource {
    /// A new session after the server dropped the connection in the middle of a command (Dovecot
    /// crashes on some mails): the same mailbox, which must keep its UIDVALIDITY, or the UIDs
    /// listed mean nothing any more and the run stops.
    pub(super) fn reconnect(&mut self, why: &anyhow::Error) -> Result<(), ItemError> {
        self.reconnects += 1;
        if self.reconnects > MAX_RECONNECTS {
            return Err(stop(anyhow!(
                "{why:#}; the server dropped the connection {MAX_RECONNECTS} times in this run, \
                 giving up until the next run"
            )));
        }
        log::info!("{}: reconnecting after: {why:#}", self.label);
        let _ = self.session.logout();
        let opened = Opened::new(&self.config, &self.state_dir).map_err(|err| {
            ItemError::from_run(err.context(format!("{why:#}; opening a new session failed")))
        })?;
        if opened.uidvalidity != self.uidvalidity {
            return Err(stop(anyhow!(
                "the mailbox changed its UIDVALIDITY while lanceur was reading it; the next run \
                 lists it again"
            )));
        }
        self.session = opened.session;
        self.wire = opened.wire;
        Ok(())
    }

    /// Fetches the bodies of `uids` into the cache, in one command when all goes well. When the
    /// server refuses or drops the connection, the chunk is split and fetched again in halves, so
    /// that one mail the server cannot send fails alone (`failed`) and the others are taken.
    pub(super) fn fetch_bodies(&mut self, uids: &[u32]) -> Result<(), ItemError> {
        let mut queue = vec![uids.to_vec()];
        while let Some(chunk) = queue.pop() {
            match self.fetch_chunk(&chunk) {
                Ok(()) => {}
                Err(Trouble::Stop(err)) => return Err(stop(err)),
                Err(Trouble::Retry(err)) => {
                    if self.dropped() {
                        self.reconnect(&err)?;
                    }
                    if chunk.len() == 1 {
                        log::debug!("UID {}: {err:#}", chunk[0]);
                        self.failed.insert(chunk[0], format!("{err:#}"));
                    } else {
                        let (first, second) = chunk.split_at(chunk.len() / 2);
                        queue.push(second.to_vec());
                        queue.push(first.to_vec());
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether the connection is gone (the server closed it after a failed command).
    pub(super) fn dropped(&mut self) -> bool {
        self.wire.limit(Some(ANSWER_BUDGET));
        self.session.noop().is_err()
    }

    fn fetch_chunk(&mut self, uids: &[u32]) -> Result<(), Trouble> {
        let set = uid_set(uids);
        let wanted: HashSet<u32> = uids.iter().copied().collect();
        let address = self.address();
        let largest = uids
            .iter()
            // `listed` is in UID order (the listing sorts it): a search, not a scan per mail,
            // which made a full run of a large mailbox quadratic.
            .filter_map(|uid| {
                let at = self.listed.binary_search_by_key(uid, |l| l.uid).ok()?;
                Some(self.listed[at].size)
            })
            .max()
            .unwrap_or(0);
        let max_literal = largest.saturating_mul(2).saturating_add(SIZE_SLACK);
        self.wire_tag += 1;
        let tag = format!("L{}", self.wire_tag);
        match wire::fetch_bodies(&self.wire, &tag, &set, &wanted, max_literal) {
            Ok(bodies) => self.cache.extend(bodies),
            Err(FetchError::Refused(why)) => {
                // Some mails were expunged meanwhile, say: the others are fetched below.
                log::debug!("bulk fetch of {set} refused: {why}");
            }
            Err(FetchError::Io(err)) => {
                return Err(trouble(imap::Error::Io(err), &address, "fetching mails"))
            }
        }
        let missing: Vec<u32> = uids
            .iter()
            .copied()
            .filter(|uid| !self.cache.contains_key(uid))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        self.wire.limit(Some(
            max_literal
                .saturating_mul(missing.len() as u64)
                .saturating_add(ANSWER_BUDGET),
        ));
        let fetches = match self
            .session
            .uid_fetch(uid_set(&missing), "(UID BODY.PEEK[])")
        {
            Ok(fetches) => fetches,
            Err(imap::Error::No(why) | imap::Error::Bad(why)) => {
                return Err(Trouble::Retry(anyhow!(
                    "the server refused to send it: {why}"
                )))
            }
            Err(err) => return Err(trouble(err, &address, "fetching mails")),
        };
        for fetch in fetches.iter() {
            if let (Some(uid), Some(body)) = (fetch.uid, fetch.body()) {
                if wanted.contains(&uid) {
                    self.cache.insert(uid, body.to_vec());
                }
            }
        }
        drop(fetches);
        self.drain_unsolicited();
        Ok(())
    }
}

/// Sorts an error of a command about some mails: the server refusing or dropping the connection
/// may be about one of them (`Retry`); a timeout or anything else stops the run.
pub(super) fn trouble(err: imap::Error, address: &str, doing: &str) -> Trouble {
    let retry = match &err {
        imap::Error::No(_) | imap::Error::Bad(_) | imap::Error::ConnectionLost => true,
        imap::Error::Io(io) => matches!(
            io.kind(),
            std::io::ErrorKind::UnexpectedEof
                | std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::ConnectionAborted
                | std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::InvalidData
        ),
        imap::Error::Parse(_) => true,
        _ => false,
    };
    let err = lost(err, address, doing);
    if retry {
        Trouble::Retry(err)
    } else {
        Trouble::Stop(err)
    }
}
