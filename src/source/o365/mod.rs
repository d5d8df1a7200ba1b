//! `lanceur o365`: mails of an Office 365 mailbox, through Microsoft Graph.
//!
//! Each mail of the folder is an item, keyed `o365:<immutable id>`: every request asks for immutable
//! ids (`graph.rs`), so a mail moved to another folder and back, by us or by someone in Outlook,
//! keeps its key and is never deposited twice. `list` takes the folder's mails oldest first (unread
//! ones by default, or all since `--since`), following every page; `fetch` turns one mail into
//! documents; `acknowledge` marks it read, moves or deletes it.
//!
//! Documents from a mail (`--take`):
//! - file attachments, their bytes streamed from `/attachments/{id}/$value` into a temporary file in
//!   the state folder (attachments reach 150 MB; none is held in memory);
//! - attached mails (item attachments) as `.eml` (events and contacts as `.ics`/`.vcf`, as Graph
//!   gives them);
//! - inline attachments only when they are documents: an inline image is a signature logo or a
//!   picture of the body, an inline PDF is a document;
//! - reference attachments (links to OneDrive/SharePoint files) cannot be downloaded as mail: they
//!   are reported and skipped;
//! - with `--take eml` or `both`, the whole mail from `/messages/{id}/$value`.
//!
//! Sidecar fields are those of every mail protocol (`message_id`, `from`, `to`, `subject`, `date`,
//! `mailbox`, `attachment_name`) plus `graph_id`.
//!
//! Errors: authentication problems are `Failure::Auth` and network or throttling problems
//! `Failure::Source` (both stop the run); a problem with one mail (an attachment Graph cannot
//! serve) fails that mail only, which stays unread for the next run.
//!
//! Nothing lost, nothing hidden: a mail none of whose documents passes the filters is never
//! acknowledged, and a mail failing run after run is set aside, moved or given an Outlook
//! category (`aside.rs`). Listed sizes are PR_MESSAGE_SIZE, so that the cycle's batches and
//! `--max-bytes` count real bytes.
//!
//! Files: `message.rs` a listed mail and how it is named; `documents.rs` its documents;
//! `aside.rs` mails not deposited; `graph.rs` HTTP, retries and paging; `select.rs` the
//! `--from`/`--subject` rules; `login.rs` what the login step checks once signed in; `folder.rs`
//! folder names and paths. Sign-in itself (tokens, cache, renewal, advice) is
//! `crate::oauth`'s, shared with IMAP and POP3.

mod aside;
mod attachments;
mod batch;
mod folder;
mod graph;
mod login;
mod message;
mod select;

pub use login::check_login;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::json;

use self::folder::{resolve, resolve_folder};
use self::graph::{encode, status_of, Graph, GraphError, Method};
use self::message::{describe, eml_stem, Message};
use super::Source;
use crate::exit::Failure;
use crate::extract::mail::{self, Take};
use crate::item::{Aside, Content, Document, Item, ItemError, ItemKey, Listing, Settled, Traces};
use crate::oauth::{cache, Tokens};
use crate::settings::o365::{AccountConfig, Mailbox, O365Config, PostAction, Select};

/// Mails per listing page; their few selected fields are small.
const PAGE_SIZE: u32 = 100;

pub struct O365Source {
    config: O365Config,
    label: String,
    graph: Graph,
    /// `{graph}/me` or `{graph}/users/{address}`.
    root: String,
    /// The folder's path segment: a well-known name or an id.
    folder: String,
    /// Where `--after move` puts mails.
    move_to: Option<String>,
    /// Where `--set-aside-to` puts mails set aside.
    set_aside_to: Option<String>,
    /// Where large attachments are written before the deposit takes them.
    temp_dir: PathBuf,
    messages: Vec<Message>,
    /// The mails the cycle is about to fetch, and their attachments fetched ahead.
    ahead: attachments::Ahead,
    /// Expiry warnings of the sign-in, for the cycle to report.
    notices: Vec<String>,
}

impl O365Source {
    /// `state_dir` holds the token cache and, unless `dry_run`, the downloads in progress.
    pub fn open(config: O365Config, state_dir: &Path, dry_run: bool) -> Result<O365Source> {
        let label = format!(
            "o365 {}:{}",
            config.account.mailbox.display(),
            config.account.folder
        );
        let agent = graph::agent(config.answer_timeout);
        let tokens = Tokens::open(&config.oauth, state_dir)?;
        let notices = tokens.warnings();
        let mut graph = Graph::new(agent, &config.account.graph_url, tokens);
        // Sign in first, so that an expired login is told as such before anything else.
        graph.authenticate()?;
        let root = root(&graph, &config.account.mailbox);
        let folder = resolve_folder(&mut graph, &root, &config.account)?;
        let move_to = match &config.move_to {
            Some(path) => Some(
                resolve(&mut graph, &root, &config.account, path)
                    .context("the --move-to folder")?,
            ),
            None => None,
        };
        let set_aside_to = match &config.set_aside_to {
            Some(path) => Some(
                resolve(&mut graph, &root, &config.account, path)
                    .context("the --set-aside-to folder")?,
            ),
            None => None,
        };
        // A dry run has no state folder; the system's temporary folder does then.
        // A dry run leaves the state folder alone (a real run may be downloading there).
        let temp_dir = if dry_run || !state_dir.is_dir() {
            std::env::temp_dir()
        } else {
            sweep_downloads(state_dir, config.oauth.cache_file);
            state_dir.to_path_buf()
        };
        Ok(O365Source {
            config,
            label,
            graph,
            root,
            folder,
            move_to,
            set_aside_to,
            temp_dir,
            messages: Vec::new(),
            ahead: attachments::Ahead::default(),
            notices,
        })
    }

    fn message_url(&self, id: &str) -> String {
        format!("{}/messages/{}", self.root, encode(id))
    }

    fn acknowledge_one(&mut self, message: &Message) -> Result<(), ItemError> {
        let url = self.message_url(&message.id);
        let result = match self.config.post_action {
            PostAction::Keep => return Ok(()),
            PostAction::Read => self
                .graph
                .call(Method::Patch, &url, Some(&json!({ "isRead": true })))
                .context("cannot mark it read"),
            PostAction::Move => {
                let destination = self.move_to.clone().unwrap_or_default();
                self.graph
                    .call(
                        Method::Post,
                        &format!("{url}/move"),
                        Some(&json!({ "destinationId": destination })),
                    )
                    .with_context(|| {
                        format!(
                            "cannot move it to {}",
                            self.config.move_to.as_deref().unwrap_or("")
                        )
                    })
            }
            PostAction::Delete => self
                .graph
                .call(Method::Delete, &url, None)
                .context("cannot delete it"),
        };
        match result {
            // Someone moved or deleted it meanwhile, or a killed run already did: done.
            Err(err) if status_of(&err) == Some(404) => {
                log::info!("{} was already gone from the folder", describe(message));
                Ok(())
            }
            other => other.map_err(for_item),
        }
    }
}

impl Source for O365Source {
    fn label(&self) -> &str {
        &self.label
    }

    fn notices(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notices)
    }

    fn expiries(&self) -> Vec<crate::item::Expiry> {
        self.graph.tokens().expiries()
    }

    fn list(
        &mut self,
        _wanted: &mut dyn FnMut(&str) -> bool,
        _settled: &Settled<'_>,
    ) -> Result<Listing> {
        // Graph wants the $orderby property first in $filter, or answers InefficientFilter.
        let since = self
            .config
            .since
            .clone()
            .unwrap_or_else(|| "1900-01-01T00:00:00Z".to_string());
        let mut filter = format!("receivedDateTime ge {since}");
        if self.config.select == Select::Unread {
            filter.push_str(" and isRead eq false");
        }
        // The size is no property of the message resource: it is MAPI's PR_MESSAGE_SIZE, asked
        // for as an extended property, so that batches and --max-bytes count real bytes.
        let url = format!(
            "{}/mailFolders/{}/messages?$filter={}&$select={}&$expand={}&$top={PAGE_SIZE}&$orderby={}",
            self.root,
            encode(&self.folder),
            encode(&filter),
            encode("id,subject,receivedDateTime,internetMessageId,from,toRecipients,isRead"),
            encode("singleValueExtendedProperties($filter=id eq 'Integer 0x0E08')"),
            encode("receivedDateTime asc"),
        );
        let messages: Vec<Message> = self
            .graph
            .get_all(&url)
            .map_err(|err| whole_run(err, &self.config.account))?;
        let (kept, skipped) = select::by_rules(messages, &self.config.mail.rules);
        let items = kept
            .iter()
            .enumerate()
            .map(|(slot, message)| Item {
                key: ItemKey(format!("o365:{}", message.id)),
                label: describe(message),
                name: None,
                size: message.size(),
                slot,
                aliases: Vec::new(),
            })
            .collect();
        self.messages = kept;
        self.ahead = attachments::Ahead::default();
        Ok(Listing {
            items,
            complete: skipped.is_empty(),
            skipped,
        })
    }

    /// Under `--select all`, the listed mails already read: Graph keeps no mark of lanceur's own
    /// (a category would rewrite the mail's), and `--after read` leaves the mails it takes read.
    fn traces(&mut self, listed: &[Item]) -> Result<Option<Traces>> {
        if self.config.select != Select::All {
            return Ok(None);
        }
        let count = listed
            .iter()
            .filter(|item| self.messages[item.slot].is_read == Some(true))
            .count();
        Ok((count > 0).then(|| Traces {
            count,
            what: "are already read, as lanceur leaves the mails it takes with --after read"
                .to_string(),
        }))
    }

    /// The attachments of `upcoming` come in batches (`attachments.rs`), as `fetch` needs them.
    fn prefetch(&mut self, upcoming: &[&Item]) -> Result<(), ItemError> {
        if self.config.mail.extract.take != Take::Eml {
            self.ahead.expect(upcoming);
        }
        Ok(())
    }

    fn fetch(&mut self, item: &Item) -> Result<Vec<Document>, ItemError> {
        let message = self.messages[item.slot].clone();
        let mut documents = Vec::new();
        if self.config.mail.extract.take != Take::Eml {
            self.attachment_documents(item.slot, &message, &mut documents)?;
            if let Some(limits) = &self.config.mail.extract.unzip {
                documents = mail::unzip(documents, limits).map_err(ItemError::failed)?;
            }
        }
        if self.config.mail.extract.take != Take::Attachments {
            let url = format!("{}/$value", self.message_url(&message.id));
            let (path, _) = self
                .graph
                .download(&url, &self.temp_dir)
                .map_err(for_item)
                .map_err(|err| err.context("cannot download the mail"))?;
            let name = format!("{}.eml", eml_stem(&message));
            documents.push(self.document(&message, &name, None, Content::Temp(path)));
        }
        Ok(documents)
    }

    fn acknowledge(&mut self, items: &[&Item]) -> Vec<Result<(), ItemError>> {
        items
            .iter()
            .map(|item| {
                let message = self.messages[item.slot].clone();
                self.acknowledge_one(&message)
            })
            .collect()
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
}

pub(super) fn root(graph: &Graph, mailbox: &Mailbox) -> String {
    match mailbox {
        Mailbox::Me => graph.url("/me"),
        Mailbox::User(address) => graph.url(&format!("/users/{}", encode(address))),
    }
}

/// Removes what a killed run left in the state folder: downloads (the cycle holds the launcher's
/// lock, so none is in use) and token cache drafts older than a minute (a login, which takes no
/// lock, may be writing a fresh one).
fn sweep_downloads(dir: &Path, cache_file: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let download =
            name.starts_with(graph::DOWNLOAD_PREFIX) && name.ends_with(graph::DOWNLOAD_SUFFIX);
        let draft = cache::is_draft(&name, cache_file)
            && entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age.as_secs() > 60));
        if download || draft {
            log::debug!("removing {name}, left by an interrupted run");
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// What a Graph error met while taking or acknowledging one mail means for it. Graph's own answer
/// about that mail (a `GraphError`: 4xx, 5xx) concerns the mail only, and 404 means it left the
/// folder since it was listed (not a failure). Anything else (no answer, a refused token,
/// throttling past its bound, a temporary file that cannot be written) concerns the whole run:
/// `graph.rs` tags those where it recognises them, and they may hold a `GraphError` too (a second
/// 401), so the tag is looked at first.
fn for_item(err: anyhow::Error) -> ItemError {
    if crate::exit::failure_of(&err).is_some() {
        return ItemError::from_run(err);
    }
    match status_of(&err) {
        Some(404) => {
            ItemError::not_ready(err.context("the mail left the folder since it was listed"))
        }
        Some(_) => ItemError::failed(err),
        None => ItemError::from_run(err),
    }
}

/// A Graph error met while reaching the mailbox or folder stops the run, tagged with its kind and
/// an explanation the administrator can act on.
pub(super) fn whole_run(err: anyhow::Error, account: &AccountConfig) -> anyhow::Error {
    if crate::exit::failure_of(&err).is_some() {
        return err;
    }
    let Some(graph_error) = err.downcast_ref::<GraphError>().cloned() else {
        return err.context(Failure::Source);
    };
    let mailbox = account.mailbox.display();
    match graph_error.status {
        403 => {
            let advice = match account.mailbox {
                Mailbox::Me => {
                    "the application needs the Mail.ReadWrite permission, granted at login"
                        .to_string()
                }
                Mailbox::User(_) => format!(
                    "the signed-in account needs Full Access to {mailbox} and the application \
                     Mail.ReadWrite.Shared (or, app-only, Mail.ReadWrite with no access policy \
                     excluding this mailbox)"
                ),
            };
            err.context(format!("access to {mailbox} denied: {advice}"))
                .context(Failure::Auth)
        }
        404 => err
            .context(format!(
                "mailbox {mailbox} or folder {:?} not found",
                account.folder
            ))
            .context(Failure::Source),
        _ => err.context(Failure::Source),
    }
}
