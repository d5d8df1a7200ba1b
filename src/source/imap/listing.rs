//! Listing an IMAP mailbox: `UID SEARCH`, then size, arrival date and the Message-ID, From and
//! Subject header fields of the found mails, in chunks; `--from` and `--subject` judged there.
//! Mails the journal is done with (under this UIDVALIDITY) are listed by their UID alone: an idle
//! run of a mailbox of 50,000 read mails under `--select all` asks the server for nothing more.
//!
//! One mail can make a server fail a listing command (Dovecot 2.3 drops the connection on a
//! 50 MB header line): the chunk is then listed again in halves, down to that one mail, which is
//! listed without its header fields; a mail the server cannot list even so is still an item,
//! which fails when fetched, so that it is reported on every run while the others are taken.

use std::collections::HashSet;

use anyhow::{anyhow, Result};

use super::fetching::{trouble, Trouble};
use super::session::lost;
use super::{uid_set, ImapSource, Listed, ANSWER_BUDGET, LIST_CHUNK, TAKEN};
use crate::extract::mail;
use crate::item::{Item, ItemError, ItemKey, Listing, Settled, Skipped, Traces};

/// Mails the server fails on even alone, with its answer.
type Broken = Vec<(u32, String)>;

/// What a listing command gave for one chunk of UIDs.
struct Row {
    uid: u32,
    size: u64,
    headline: Option<mail::Headline>,
    alias: Option<ItemKey>,
}

impl ImapSource {
    /// `Source::list`: the candidates, with `--from` and `--subject` applied.
    pub(super) fn listing(&mut self, settled: &Settled<'_>) -> Result<Listing> {
        let query = self.search_query();
        let found = self.search(&query)?;
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
        let mailbox = self.config.mailbox.clone();
        let uidvalidity = self.uidvalidity;
        let key = |uid: u32| ItemKey(format!("imap:{mailbox}:{uidvalidity}:{uid}"));
        let item = |key: ItemKey, label: String, size: u64, alias: Option<ItemKey>| Item {
            key,
            label,
            name: None,
            size,
            slot: 0,
            aliases: alias.into_iter().collect(),
        };
        // What the journal is done with is an item as it is, neither listed further nor judged
        // by the rules. Under a new UIDVALIDITY no key is known: every mail is listed in full,
        // and its Message-ID alias lets the journal recognise what was taken before.
        let mut items: Vec<(u32, Item)> = Vec::new();
        let mut new = Vec::new();
        for uid in uids {
            let key = key(uid);
            if settled(&key) {
                items.push((uid, item(key, format!("UID {uid}"), 0, None)));
            } else {
                new.push(uid);
            }
        }
        let (rows, broken) = self.list_rows(&new)?;
        let rules = self.config.mail.rules.clone();
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
                let Some(headline) = &row.headline else {
                    // The rules cannot judge it: a failure to report on every run, not a mail
                    // to take or to pass over in silence.
                    self.failed.insert(
                        row.uid,
                        "the server fails when asked for its header fields, so --from and \
                         --subject cannot judge it"
                            .to_string(),
                    );
                    listing.complete = false;
                    items.push((row.uid, item(key(row.uid), label, row.size, None)));
                    continue;
                };
                if let Some(reason) = rules.refusal(&headline.senders, &headline.subject) {
                    // Not a candidate: left as it is and not journaled; the journal must not
                    // take its absence for a mail gone from the mailbox.
                    listing.complete = false;
                    listing.skipped.push(Skipped::routine(label, reason));
                    continue;
                }
            }
            items.push((row.uid, item(key(row.uid), label, row.size, row.alias)));
        }
        for (uid, why) in broken {
            self.failed.insert(uid, why);
            items.push((uid, item(key(uid), format!("UID {uid}"), 0, None)));
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

    /// `Source::traces`: the listed mails that carry `TAKEN`; where the mailbox takes no keyword
    /// and `--select all` lists read mails too, the listed mails already read.
    pub(super) fn taken_traces(&mut self, listed: &[Item]) -> Result<Option<Traces>> {
        if listed.is_empty() {
            return Ok(None);
        }
        let (query, what) = if self.can_mark {
            (
                format!("KEYWORD {TAKEN}"),
                format!("carry the keyword {TAKEN}, which lanceur sets on the mails it takes"),
            )
        } else if !self.config.unseen_only {
            (
                "SEEN".to_string(),
                "are already read, as lanceur leaves the mails it takes (this mailbox takes no \
                 keyword lanceur could mark them with)"
                    .to_string(),
            )
        } else {
            return Ok(None);
        };
        let found = self.search(&query)?;
        let listed: HashSet<u32> = listed.iter().map(|i| self.listed[i.slot].uid).collect();
        let count = found.intersection(&listed).count();
        Ok((count > 0).then_some(Traces { count, what }))
    }

    /// `UID SEARCH query`: the UIDs found. Read by hand rather than by the crate's search, which
    /// fails on any untagged answer it does not expect among the results: another client's flag
    /// change (`* 3 FETCH (FLAGS …)`), or the FLAGS and PERMANENTFLAGS update Dovecot sends when a
    /// search names a keyword the mailbox does not know yet.
    fn search(&mut self, query: &str) -> Result<HashSet<u32>> {
        let address = self.address();
        self.wire.limit(Some(ANSWER_BUDGET));
        let answer = self
            .session
            .run_command_and_read_response(format!("UID SEARCH {query}"))
            .map_err(|err| lost(err, &address, "searching the mailbox"))?;
        self.drain_unsolicited();
        Ok(String::from_utf8_lossy(&answer)
            .lines()
            .filter_map(|line| line.strip_prefix("* SEARCH"))
            .flat_map(|numbers| numbers.split_whitespace().filter_map(|n| n.parse().ok()))
            .collect())
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
}
