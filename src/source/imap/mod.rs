//! `lanceur imap`: the mails of one IMAP mailbox, each an item whose documents are its attachments
//! (see `extract::mail`).
//!
//! Round trips are what make a mail client slow, so everything goes in batches:
//! - `list`: one `UID SEARCH` (unseen, or all; `SINCE` the first-run window), then `UID FETCH` of
//!   size, arrival date, Message-ID and Subject for the found UIDs, in chunks of `LIST_CHUNK`;
//!   no content. Oldest (lowest UID) first.
//! - `prefetch`/`fetch`: `UID FETCH <set> BODY.PEEK[]` for as many upcoming mails as fit in
//!   `PREFETCH_BYTES` (by their listed sizes; a bigger mail comes alone). PEEK: fetching does not
//!   mark a mail seen, only the acknowledgement does, after the deposit. Memory holds one such
//!   chunk (twice, while it is parsed), never the mailbox.
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

mod session;
mod utf7;
mod wire;

use anyhow::{anyhow, Context, Result};
use imap::Session;
use std::collections::{HashMap, HashSet};

use super::Source;
use crate::exit::Failure;
use crate::extract::mail::{self, Origin};
use crate::item::{Document, Item, ItemError, ItemKey, Listing, Skipped};
use crate::settings::{ImapAfter, ImapConfig};
use crate::tls::Connector;
use session::{connect, login, lost};
use wire::{FetchError, Shared};

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
    listed: Vec<Listed>,
    /// Slots of the items the cycle is about to fetch, in order (from `prefetch`).
    upcoming: Vec<usize>,
    /// Raw mails fetched ahead, by UID.
    cache: HashMap<u32, Vec<u8>>,
    /// Mails the server failed on (alone), with its answer: each fails as an item.
    failed: HashMap<u32, String>,
    /// Sessions opened again after a dropped connection, in this run.
    reconnects: u32,
}

/// A logged-in session on the configured mailbox.
struct Opened {
    session: Session<Shared>,
    wire: Shared,
    address: String,
    uidvalidity: u32,
    can_move: bool,
    uidplus: bool,
}

impl Opened {
    fn new(config: &ImapConfig) -> Result<Opened> {
        let server = &config.server;
        let connector = Connector::new(&server.tls)?;
        let address = connector.address();
        let (client, wire) = connect(&connector, server.tls.mode)?;
        let mut session = login(client, &server.account, &server.auth, &address)?;
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
        Ok(Opened {
            session,
            wire,
            address,
            uidvalidity,
            can_move,
            uidplus,
        })
    }
}

/// Mails the server fails on even alone, with its answer.
type Broken = Vec<(u32, String)>;

/// What a listing command gave for one chunk of UIDs.
struct Row {
    uid: u32,
    size: u64,
    headline: Option<mail::Headline>,
    alias: Option<ItemKey>,
}

/// How a command about some mails went wrong.
enum Trouble {
    /// NO or BAD, or a connection the server dropped: try fewer mails (or fewer items).
    Retry(anyhow::Error),
    /// Anything else (a timeout, a TLS failure): the run stops.
    Stop(anyhow::Error),
}

#[derive(Debug, Clone)]
struct Listed {
    uid: u32,
    size: u64,
}

impl ImapSource {
    pub fn open(config: ImapConfig) -> Result<ImapSource> {
        let server = &config.server;
        let label = format!(
            "imap {}@{}:{}/{}",
            server.account, server.tls.host, server.tls.port, config.mailbox
        );
        let opened = Opened::new(&config)?;
        if let ImapAfter::Move(target) = &config.after {
            let mut session = opened.session;
            let pattern = quote(&utf7::encode(target));
            let names = session
                .list(Some(""), Some(&pattern))
                .map_err(|err| lost(err, &opened.address, "looking for the --move-to mailbox"))?;
            if names.is_empty() {
                return Err(anyhow!(
                    "the --move-to mailbox «{target}» does not exist on the server; create it or \
                     fix --move-to"
                ))
                .context(Failure::Source);
            }
            drop(names);
            return Ok(ImapSource::with(
                config,
                label,
                Opened { session, ..opened },
            ));
        }
        Ok(ImapSource::with(config, label, opened))
    }

    fn with(config: ImapConfig, label: String, opened: Opened) -> ImapSource {
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
            listed: Vec::new(),
            upcoming: Vec::new(),
            cache: HashMap::new(),
            failed: HashMap::new(),
            reconnects: 0,
        }
    }

    /// A new session after the server dropped the connection in the middle of a command (Dovecot
    /// crashes on some mails): the same mailbox, which must keep its UIDVALIDITY, or the UIDs
    /// listed mean nothing any more and the run stops.
    fn reconnect(&mut self, why: &anyhow::Error) -> Result<(), ItemError> {
        self.reconnects += 1;
        if self.reconnects > MAX_RECONNECTS {
            return Err(stop(anyhow!(
                "{why:#}; the server dropped the connection {MAX_RECONNECTS} times in this run, \
                 giving up until the next run"
            )));
        }
        log::info!("{}: reconnecting after: {why:#}", self.label);
        let _ = self.session.logout();
        let opened = Opened::new(&self.config).map_err(|err| {
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

    /// Fetches the bodies of `uids` into the cache, in one command when all goes well. When the
    /// server refuses or drops the connection, the chunk is split and fetched again in halves, so
    /// that one mail the server cannot send fails alone (`failed`) and the others are taken.
    fn fetch_bodies(&mut self, uids: &[u32]) -> Result<(), ItemError> {
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
    fn dropped(&mut self) -> bool {
        self.wire.limit(Some(ANSWER_BUDGET));
        self.session.noop().is_err()
    }

    fn fetch_chunk(&mut self, uids: &[u32]) -> Result<(), Trouble> {
        let set = uid_set(uids);
        let wanted: HashSet<u32> = uids.iter().copied().collect();
        let address = self.address();
        let largest = uids
            .iter()
            .filter_map(|uid| self.listed.iter().find(|l| l.uid == *uid))
            .map(|l| l.size)
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

    /// Size, arrival date and (with `headers`) Message-ID, From and Subject of `uids`.
    fn list_chunk(&mut self, uids: &[u32], headers: bool) -> Result<Vec<Row>, Trouble> {
        let address = self.address();
        let wanted: HashSet<u32> = uids.iter().copied().collect();
        let items = if headers {
            "(UID RFC822.SIZE INTERNALDATE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID FROM SUBJECT)])"
        } else {
            "(UID RFC822.SIZE INTERNALDATE)"
        };
        self.wire.limit(Some(ANSWER_BUDGET));
        let fetches = match self.session.uid_fetch(uid_set(uids), items) {
            Ok(fetches) => fetches,
            Err(imap::Error::No(why) | imap::Error::Bad(why)) => {
                return Err(Trouble::Retry(anyhow!(
                    "the server refused to list it: {why}"
                )))
            }
            Err(err) => return Err(trouble(err, &address, "listing the mails")),
        };
        let mailbox = &self.config.mailbox;
        let parser = mail_parser::MessageParser::default();
        let mut rows = Vec::new();
        for fetch in fetches.iter() {
            let Some(uid) = fetch.uid.filter(|uid| wanted.contains(uid)) else {
                continue;
            };
            let header = fetch.header();
            let message_id = header
                .and_then(|h| parser.parse_headers(h))
                .and_then(|h| h.message_id().map(str::to_string));
            let arrival = fetch.internal_date().map(|d| d.timestamp());
            let alias = match (message_id, arrival) {
                (Some(id), Some(arrival)) if !id.is_empty() => {
                    Some(ItemKey(format!("imap:{mailbox}:msgid:{id}:{arrival}")))
                }
                _ => None,
            };
            rows.push(Row {
                uid,
                size: u64::from(fetch.size.unwrap_or(0)),
                headline: headers.then(|| mail::headline(header.unwrap_or_default())),
                alias,
            });
        }
        drop(fetches);
        self.drain_unsolicited();
        Ok(rows)
    }

    /// `list_chunk` over all `uids`, falling back on smaller chunks, then on listing without
    /// header fields, for the mails the server fails on; a mail it cannot even list that way is
    /// returned with the server's answer, to be reported.
    fn list_rows(&mut self, uids: &[u32]) -> Result<(Vec<Row>, Broken)> {
        let mut rows = Vec::new();
        let mut broken = Vec::new();
        let mut queue: Vec<(Vec<u32>, bool)> = uids
            .chunks(LIST_CHUNK)
            .rev()
            .map(|c| (c.to_vec(), true))
            .collect();
        while let Some((chunk, headers)) = queue.pop() {
            match self.list_chunk(&chunk, headers) {
                Ok(found) => rows.extend(found),
                Err(Trouble::Stop(err)) => return Err(err),
                Err(Trouble::Retry(err)) => {
                    if self.dropped() {
                        self.reconnect(&err).map_err(ItemError::into_error)?;
                    }
                    if chunk.len() > 1 {
                        let (first, second) = chunk.split_at(chunk.len() / 2);
                        queue.push((second.to_vec(), headers));
                        queue.push((first.to_vec(), headers));
                    } else if headers {
                        log::debug!(
                            "UID {}: listing without its header fields: {err:#}",
                            chunk[0]
                        );
                        queue.push((chunk, false));
                    } else {
                        broken.push((chunk[0], format!("{err:#}")));
                    }
                }
            }
        }
        rows.sort_by_key(|row| row.uid);
        Ok((rows, broken))
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
    fn post_action(&mut self, set: &str) -> Result<(), ItemError> {
        let address = self.address();
        let after = self.config.after.clone();
        let run =
            |session: &mut Session<Shared>, command: String, what: &str| -> Result<(), ItemError> {
                session
                    .run_command_and_check_ok(&command)
                    .map_err(|err| match err {
                        imap::Error::No(why) | imap::Error::Bad(why) => {
                            ItemError::failed(anyhow!("the server refused to {what}: {why}"))
                        }
                        err => stop(lost(err, &address, what)),
                    })
            };
        match after {
            ImapAfter::Keep => Ok(()),
            ImapAfter::Seen => run(
                &mut self.session,
                format!("UID STORE {set} +FLAGS.SILENT (\\Seen)"),
                "mark mails seen",
            ),
            ImapAfter::Delete => {
                run(
                    &mut self.session,
                    format!("UID STORE {set} +FLAGS.SILENT (\\Deleted)"),
                    "flag mails deleted",
                )?;
                self.expunge(set)
            }
            ImapAfter::Move(target) => {
                let target = quote(&utf7::encode(&target));
                if self.can_move {
                    run(
                        &mut self.session,
                        format!("UID MOVE {set} {target}"),
                        "move mails",
                    )
                } else {
                    run(
                        &mut self.session,
                        format!("UID COPY {set} {target}"),
                        "copy mails",
                    )?;
                    run(
                        &mut self.session,
                        format!("UID STORE {set} +FLAGS.SILENT (\\Deleted)"),
                        "flag moved mails deleted",
                    )?;
                    self.expunge(set)
                }
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

    fn list(&mut self, _wanted: &mut dyn FnMut(&str) -> bool) -> Result<Listing> {
        let address = self.address();
        let query = self.search_query();
        self.wire.limit(Some(ANSWER_BUDGET));
        let found = self
            .session
            .uid_search(&query)
            .map_err(|err| lost(err, &address, "searching the mailbox"))?;
        let mut uids: Vec<u32> = found.into_iter().collect();
        uids.sort_unstable();
        let mut listing = Listing {
            complete: true,
            ..Listing::default()
        };
        self.listed.clear();
        self.cache.clear();
        self.failed.clear();
        self.upcoming.clear();
        let (rows, broken) = self.list_rows(&uids)?;
        let mailbox = self.config.mailbox.clone();
        let rules = self.config.mail.rules.clone();
        let mut items: Vec<(u32, Item)> = Vec::new();
        for row in rows {
            let subject = row
                .headline
                .as_ref()
                .map(|h| h.subject.chars().take(60).collect::<String>())
                .unwrap_or_default();
            let label = if subject.is_empty() {
                format!("UID {}", row.uid)
            } else {
                format!("UID {} «{subject}»", row.uid)
            };
            if !rules.is_empty() {
                let refusal = match &row.headline {
                    Some(h) => rules.refusal(&h.senders, &h.subject),
                    None => Some(
                        "the server could not list its header fields, so --from and --subject \
                         cannot judge it"
                            .to_string(),
                    ),
                };
                if let Some(reason) = refusal {
                    // Not a candidate: left as it is and not journaled; the journal must not
                    // take its absence for a mail gone from the mailbox.
                    listing.complete = false;
                    listing.skipped.push(Skipped { label, reason });
                    continue;
                }
            }
            items.push((
                row.uid,
                Item {
                    key: ItemKey(format!("imap:{mailbox}:{}:{}", self.uidvalidity, row.uid)),
                    label,
                    name: None,
                    size: row.size,
                    slot: 0,
                    aliases: row.alias.into_iter().collect(),
                },
            ));
        }
        for (uid, why) in broken {
            self.failed.insert(uid, why);
            items.push((
                uid,
                Item {
                    key: ItemKey(format!("imap:{mailbox}:{}:{uid}", self.uidvalidity)),
                    label: format!("UID {uid}"),
                    name: None,
                    size: 0,
                    slot: 0,
                    aliases: Vec::new(),
                },
            ));
        }
        items.sort_by_key(|(uid, _)| *uid);
        for (uid, mut item) in items {
            item.slot = self.listed.len();
            self.listed.push(Listed {
                uid,
                size: item.size,
            });
            listing.items.push(item);
        }
        log::debug!(
            "{}: {} candidate mails ({query})",
            self.label,
            listing.items.len()
        );
        Ok(listing)
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
        match self.post_action(&uid_set(&uids)) {
            Ok(()) => items.iter().map(|_| Ok(())).collect(),
            Err(err) => ItemError::for_each(items.len(), &err),
        }
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        // The work is done and journaled; a failed goodbye changes nothing.
        if let Err(err) = self.session.logout() {
            log::debug!("{}: logout failed: {err}", self.label);
        }
        Ok(())
    }
}

/// Sorts an error of a command about some mails: the server refusing or dropping the connection
/// may be about one of them (`Retry`); a timeout or anything else stops the run.
fn trouble(err: imap::Error, address: &str, doing: &str) -> Trouble {
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
