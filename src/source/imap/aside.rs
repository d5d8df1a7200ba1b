//! What the IMAP source does with mails it does not deposit: an unmatched mail is left alone or
//! marked seen (`--unmatched seen`), never moved or deleted; a mail set aside (it failed
//! `--set-aside-after` runs in a row) has its raw bytes kept under the state folder, then is
//! flagged with the keyword `$LanceurSetAside`, or moved to `--set-aside-to`; `restore` undoes
//! that for `lanceur retry`, finding a moved mail in its new mailbox by its Message-ID.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::{lost, quote, stop, uid_set, utf7, ImapSource};
use crate::item::{Aside, Item, ItemError, ItemKey};

/// The keyword of a mail set aside where it is.
pub const KEYWORD: &str = "$LanceurSetAside";

/// Where a moved mail went, for `restore`.
#[derive(Serialize, Deserialize)]
struct Moved {
    mailbox: String,
    message_id: String,
}

impl ImapSource {
    /// Runs `command`; a refusal fails the item(s), a lost connection stops the run.
    pub(super) fn command(
        &mut self,
        command: &str,
        (what, doing): (&str, &str),
    ) -> Result<(), ItemError> {
        let address = self.address();
        self.session
            .run_command_and_check_ok(command)
            .map_err(|err| match err {
                imap::Error::No(why) | imap::Error::Bad(why) => {
                    ItemError::failed(anyhow!("the server refused to {what}: {why}"))
                }
                err => stop(lost(err, &address, doing)),
            })
    }

    /// Moves `uids` (of the selected mailbox) to `target`: MOVE, or, without it, COPY, `\Deleted`
    /// and an expunge of those mails. Three commands that a kill or a cut connection can separate:
    /// a run stopped after the COPY leaves the mails in both mailboxes, and the next run would copy
    /// them again. So before copying, the target is looked into (`already_in`), and a mail found
    /// there by its Message-ID and arrival time (which COPY keeps) is not copied again.
    /// `selected` is the mailbox the UIDs are of.
    pub(super) fn move_to(
        &mut self,
        uids: &[u32],
        selected: &str,
        target: &str,
    ) -> Result<(), ItemError> {
        let set = uid_set(uids);
        let quoted = quote(&utf7::encode(target));
        if self.can_move {
            return self.command(
                &format!("UID MOVE {set} {quoted}"),
                ("move mails", "moving mails"),
            );
        }
        let present = self.already_in(uids, selected, target)?;
        let to_copy: Vec<u32> = uids
            .iter()
            .copied()
            .filter(|uid| !present.contains(uid))
            .collect();
        if !present.is_empty() {
            log::info!(
                "{} mail(s) already in «{target}» (copied by an interrupted run): not copied again",
                present.len()
            );
        }
        if !to_copy.is_empty() {
            let copy = format!("UID COPY {} {quoted}", uid_set(&to_copy));
            self.command(&copy, ("copy mails", "copying mails"))?;
        }
        self.command(
            &format!("UID STORE {set} +FLAGS.SILENT (\\Deleted)"),
            ("flag moved mails deleted", "flagging moved mails deleted"),
        )?;
        self.expunge(&set)
    }

    /// The UIDs among `uids` whose mail is already in `target`, told by Message-ID and arrival
    /// time. The target is examined (read only), then the mailbox selected again; mails without a
    /// Message-ID cannot be told and are never among them.
    fn already_in(
        &mut self,
        uids: &[u32],
        selected: &str,
        target: &str,
    ) -> Result<HashSet<u32>, ItemError> {
        let address = self.address();
        let lost_here = |err, what: &str| stop(lost(err, &address, what));
        let ours = self
            .identities(&uid_set(uids))
            .map_err(|err| lost_here(err, "reading the mails to move"))?;
        if ours.is_empty() {
            return Ok(HashSet::new());
        }
        self.session
            .examine(utf7::encode(target))
            .map_err(|err| lost_here(err, "looking into the --move-to mailbox"))?;
        let mut theirs: HashSet<(String, i64)> = HashSet::new();
        let ids: Vec<&String> = ours.values().map(|(id, _)| id).collect();
        for chunk in ids.chunks(50) {
            let mut query = String::new();
            for (n, id) in chunk.iter().enumerate() {
                if n + 1 < chunk.len() {
                    query.push_str("OR ");
                }
                query.push_str(&format!("HEADER Message-ID {} ", quote(id)));
            }
            let found = self
                .session
                .uid_search(query.trim_end())
                .map_err(|err| lost_here(err, "looking into the --move-to mailbox"))?;
            if found.is_empty() {
                continue;
            }
            let found: Vec<u32> = found.into_iter().collect();
            let identities = self
                .identities(&uid_set(&found))
                .map_err(|err| lost_here(err, "looking into the --move-to mailbox"))?;
            theirs.extend(identities.into_values());
        }
        self.session
            .select(utf7::encode(selected))
            .map_err(|err| lost_here(err, "opening the mailbox again"))?;
        self.drain_unsolicited();
        Ok(ours
            .into_iter()
            .filter(|(_, identity)| theirs.contains(identity))
            .map(|(uid, _)| uid)
            .collect())
    }

    /// Message-ID and arrival time of the mails of `set` in the selected mailbox that have both.
    fn identities(&mut self, set: &str) -> imap::error::Result<HashMap<u32, (String, i64)>> {
        let parser = mail_parser::MessageParser::default();
        let fetches = self.session.uid_fetch(
            set,
            "(UID INTERNALDATE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])",
        )?;
        let mut out = HashMap::new();
        for fetch in fetches.iter() {
            let id = fetch
                .header()
                .and_then(|h| parser.parse_headers(h))
                .and_then(|h| h.message_id().map(str::to_string));
            if let (Some(uid), Some(id), Some(date)) = (fetch.uid, id, fetch.internal_date()) {
                if !id.is_empty() {
                    out.insert(uid, (id, date.timestamp()));
                }
            }
        }
        drop(fetches);
        self.drain_unsolicited();
        Ok(out)
    }

    pub(super) fn mark_unmatched(&mut self, items: &[&Item]) -> Vec<Result<(), ItemError>> {
        if !self.config.unmatched_seen || items.is_empty() {
            return items.iter().map(|_| Ok(())).collect();
        }
        let uids: Vec<u32> = items.iter().map(|i| self.listed[i.slot].uid).collect();
        let command = format!("UID STORE {} +FLAGS.SILENT (\\Seen)", uid_set(&uids));
        match self.command(&command, ("mark mails seen", "marking mails seen")) {
            Ok(()) => items.iter().map(|_| Ok(())).collect(),
            Err(err) => ItemError::for_each(items.len(), &err),
        }
    }

    pub(super) fn set_mail_aside(&mut self, item: &Item, keep: &Path) -> Result<Aside, ItemError> {
        let uid = self.listed[item.slot].uid;
        let address = self.address();
        let raw = match self.cache.remove(&uid) {
            Some(raw) => Some(raw),
            None => match self.session.uid_fetch(uid.to_string(), "(UID BODY.PEEK[])") {
                Ok(fetches) => fetches.iter().find_map(|f| f.body().map(<[u8]>::to_vec)),
                Err(imap::Error::No(why)) => {
                    log::warn!("the server refused to send {} again: {why}", item.label);
                    None
                }
                Err(err) => return Err(stop(lost(err, &address, "fetching a mail to keep"))),
            },
        };
        self.drain_unsolicited();
        if let Some(raw) = raw {
            std::fs::write(keep.join("message.eml"), raw)
                .with_context(|| format!("cannot keep the mail in {}", keep.display()))
                .map_err(|err| ItemError::stop(crate::exit::Failure::Cold, err))?;
        }
        let Some(target) = self.config.set_aside_to.clone() else {
            self.command(
                &format!("UID STORE {uid} +FLAGS.SILENT ({KEYWORD})"),
                ("flag the mail", "flagging the mail"),
            )?;
            return Ok(Aside {
                how: format!("flagged {KEYWORD}"),
                place: None,
            });
        };
        let message_id = message_id(item);
        let mailbox = self.config.mailbox.clone();
        self.move_to(&[uid], &mailbox, &target)?;
        Ok(Aside {
            how: format!("moved to mailbox «{target}»"),
            place: message_id.and_then(|message_id| {
                serde_json::to_string(&Moved {
                    mailbox: target,
                    message_id,
                })
                .ok()
            }),
        })
    }

    /// Unflags a mail set aside where it is, or moves it back from `--set-aside-to`.
    pub(super) fn restore_mail(&mut self, key: &ItemKey, place: Option<&str>) -> Result<()> {
        let address = self.address();
        let Some(place) = place else {
            let uid = self.uid_of(key)?;
            return self
                .command(
                    &format!("UID STORE {uid} -FLAGS.SILENT ({KEYWORD})"),
                    ("unflag the mail", "unflagging the mail"),
                )
                .map_err(ItemError::into_error);
        };
        let moved: Moved =
            serde_json::from_str(place).context("the set-aside record is damaged")?;
        self.session
            .select(utf7::encode(&moved.mailbox))
            .map_err(|err| lost(err, &address, "opening the set-aside mailbox"))?;
        let query = format!("HEADER Message-ID {}", quote(&moved.message_id));
        let found = self.session.uid_search(&query);
        let result = match found {
            Ok(uids) if uids.is_empty() => Err(anyhow!(
                "no mail with Message-ID {} in «{}»: it was moved or deleted",
                moved.message_id,
                moved.mailbox
            )),
            Ok(uids) => {
                let uids: Vec<u32> = uids.into_iter().collect();
                let mailbox = self.config.mailbox.clone();
                self.move_to(&uids, &moved.mailbox, &mailbox)
                    .map_err(ItemError::into_error)
            }
            Err(err) => Err(lost(err, &address, "looking for the mail")),
        };
        self.session
            .select(utf7::encode(&self.config.mailbox))
            .map_err(|err| lost(err, &address, "opening the mailbox again"))?;
        result
    }

    /// The UID in `key` (`imap:<mailbox>:<uidvalidity>:<uid>`), if it is of this mailbox as it is.
    fn uid_of(&self, key: &ItemKey) -> Result<u32> {
        let mut parts = key.0.rsplitn(3, ':');
        let uid = parts.next().and_then(|u| u.parse::<u32>().ok());
        let validity = parts.next().and_then(|v| v.parse::<u32>().ok());
        match (uid, validity) {
            (Some(uid), Some(validity)) if validity == self.uidvalidity => Ok(uid),
            (Some(_), Some(_)) => bail!(
                "the mailbox was rebuilt since (new UIDVALIDITY): remove the keyword {KEYWORD} \
                 from the mail by hand; lanceur takes it then"
            ),
            _ => bail!("{key} is not a mail of this mailbox"),
        }
    }
}

/// The Message-ID in an item's alias (`imap:<mailbox>:msgid:<id>:<arrival>`).
fn message_id(item: &Item) -> Option<String> {
    item.aliases.iter().find_map(|alias| {
        let (_, rest) = alias.0.split_once(":msgid:")?;
        let (id, _arrival) = rest.rsplit_once(':')?;
        Some(id.to_string())
    })
}
