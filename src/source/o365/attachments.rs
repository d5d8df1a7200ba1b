//! A mail's attachments as documents, asked for in few requests.
//!
//! The cycle names the mails of its batch (`prefetch`); they are asked for in JSON batches of up
//! to 20 (`batch.rs`), one window at a time, so that memory holds one window's attachments:
//! - a small mail (PR_MESSAGE_SIZE at most `SMALL_MAIL`, 3 MiB, Graph's own bound for attaching
//!   in one request) with `$expand=attachments`: its files come with their bytes (`contentBytes`)
//!   in the same answer, at most `WINDOW_BYTES` of them per batch;
//! - a larger mail, or one whose size Graph did not give, with its attachments listed without
//!   their bytes (`$select`): each is then streamed from `/attachments/{id}/$value` into a
//!   temporary file in the state folder (attachments reach 150 MB; none is held in memory);
//! - attached items (mails, events, contacts) always through `$value`, which gives their MIME
//!   form (`$expand` gives them as JSON).
//!
//! A mail the batch left unanswered (throttled past the retries, a batch refused as a whole) is
//! asked for alone, as it would be without batching; one Graph refused inside the batch fails (or,
//! 404, waits for a later run) exactly as it would alone. 200 mails of one small attachment each
//! take 10 requests instead of 400.

use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;

use super::batch::{Answer, MAX_REQUESTS};
use super::graph::{encode, status_of, GraphError};
use super::message::{describe, person, Message};
use super::{for_item, O365Source};
use crate::item::{Content, Document, Item, ItemError};

/// Largest mail (PR_MESSAGE_SIZE) whose attachments come with their bytes, in a batch.
const SMALL_MAIL: u64 = 3 << 20;
/// Most bytes of small mails (by PR_MESSAGE_SIZE) in one batch.
const WINDOW_BYTES: u64 = 8 << 20;
/// What a listing of attachments asks for: everything but the bytes.
const LISTED: &str = "id,name,contentType,size,isInline";

fn is_small(size: u64) -> bool {
    size > 0 && size <= SMALL_MAIL
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Attachment {
    #[serde(rename = "@odata.type", default)]
    kind: String,
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    content_type: Option<String>,
    #[serde(default)]
    is_inline: bool,
    /// A file's bytes (base64), when the attachment came with its mail.
    #[serde(default)]
    content_bytes: Option<String>,
}

/// A mail with its attachments (`$expand=attachments`).
#[derive(Deserialize)]
struct Expanded {
    #[serde(default)]
    attachments: Vec<Attachment>,
}

/// A mail's attachments listed (`/attachments`).
#[derive(Deserialize)]
struct Listed {
    value: Vec<Attachment>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
}

/// What a batch brought for one mail.
enum Fetched {
    Attachments(Vec<Attachment>),
    Refused(GraphError),
}

/// The mails the cycle is about to fetch, and what their batches brought.
#[derive(Default)]
pub(super) struct Ahead {
    /// Slots not asked for yet, in the cycle's order.
    upcoming: Vec<usize>,
    fetched: HashMap<usize, Fetched>,
}

impl Ahead {
    /// The cycle is about to fetch `items`, in this order.
    pub(super) fn expect(&mut self, items: &[&Item]) {
        self.upcoming = items.iter().map(|item| item.slot).collect();
        self.fetched.clear();
    }
}

impl O365Source {
    /// The documents of the attachments of `message`, the mail of `slot`: from what a batch
    /// brought, or asked for alone.
    pub(super) fn attachment_documents(
        &mut self,
        slot: usize,
        message: &Message,
        documents: &mut Vec<Document>,
    ) -> Result<(), ItemError> {
        let attachments = match self.fetched(slot)? {
            Some(Fetched::Attachments(attachments)) => attachments,
            Some(Fetched::Refused(err)) => return Err(for_item(anyhow::Error::new(err))),
            None => self.list_attachments(message)?,
        };
        let base = format!("{}/attachments", self.message_url(&message.id));
        for attachment in attachments {
            self.attachment(message, &base, attachment, documents)?;
        }
        Ok(())
    }

    /// A mail's attachments asked for alone, without their bytes: they come one attachment at a
    /// time through $value.
    fn list_attachments(&mut self, message: &Message) -> Result<Vec<Attachment>, ItemError> {
        let base = format!("{}/attachments", self.message_url(&message.id));
        let selected = format!("{base}?$select={}", encode(LISTED));
        match self.graph.get_all(&selected) {
            Err(err) if status_of(&err) == Some(400) => {
                log::debug!("attachments with $select refused ({err:#}); asking without");
                self.graph.get_all(&base).map_err(for_item)
            }
            other => other.map_err(for_item),
        }
    }

    /// What the batch brought for the mail of `slot`, asking for its window first if it is one
    /// of the upcoming mails and was not asked for yet. `None`: ask for it alone.
    fn fetched(&mut self, slot: usize) -> Result<Option<Fetched>, ItemError> {
        if !self.ahead.fetched.contains_key(&slot) {
            if let Some(at) = self.ahead.upcoming.iter().position(|&s| s == slot) {
                self.fetch_window(at)?;
            }
        }
        Ok(self.ahead.fetched.remove(&slot))
    }

    /// One batch for the upcoming mails from position `at`: at most 20, and at most
    /// `WINDOW_BYTES` of small mails, whose bytes come in the answer (the first mail always).
    fn fetch_window(&mut self, at: usize) -> Result<(), ItemError> {
        let mut slots = Vec::new();
        let mut bytes = 0u64;
        for &slot in &self.ahead.upcoming[at..] {
            let size = self.messages[slot].size();
            let weight = if is_small(size) { size } else { 0 };
            if slots.len() == MAX_REQUESTS || (!slots.is_empty() && bytes + weight > WINDOW_BYTES) {
                break;
            }
            bytes += weight;
            slots.push(slot);
        }
        self.ahead.upcoming.retain(|s| !slots.contains(s));
        let urls: Vec<String> = slots
            .iter()
            .map(|&slot| {
                let message = &self.messages[slot];
                let url = self.message_url(&message.id);
                if is_small(message.size()) {
                    format!("{url}?$select=id&$expand=attachments")
                } else {
                    format!("{url}/attachments?$select={}", encode(LISTED))
                }
            })
            .collect();
        let answers = match self.graph.batch_get(&urls) {
            Ok(answers) => answers,
            Err(err) => {
                return match for_item(err) {
                    stop @ ItemError::Stop(..) => Err(stop),
                    other => {
                        log::debug!(
                            "a batch of {} mails failed ({other}); asking one by one",
                            slots.len()
                        );
                        Ok(())
                    }
                }
            }
        };
        for (&slot, answer) in slots.iter().zip(answers) {
            let fetched = match answer {
                Answer::Json(body) if is_small(self.messages[slot].size()) => {
                    serde_json::from_value::<Expanded>(body)
                        .map(|e| e.attachments)
                        .ok()
                }
                // A listing in pages is left to `get_all`, which follows them.
                Answer::Json(body) => serde_json::from_value::<Listed>(body)
                    .ok()
                    .filter(|listed| listed.next_link.is_none())
                    .map(|listed| listed.value),
                Answer::Refused(err) => {
                    self.ahead.fetched.insert(slot, Fetched::Refused(err));
                    continue;
                }
                Answer::Unanswered => None,
            };
            if let Some(attachments) = fetched {
                self.ahead
                    .fetched
                    .insert(slot, Fetched::Attachments(attachments));
            }
        }
        Ok(())
    }

    /// One attachment's document, if it has one. Graph names the kind in `@odata.type`; should a
    /// `$select` leave it out, the answer to `$value` tells: 405 for a link, a mail's MIME type
    /// for an attached item.
    fn attachment(
        &mut self,
        message: &Message,
        base: &str,
        attachment: Attachment,
        documents: &mut Vec<Document>,
    ) -> Result<(), ItemError> {
        let name = attachment.name.clone().unwrap_or_default();
        let kind = attachment
            .kind
            .trim_start_matches('#')
            .trim_start_matches("microsoft.graph.");
        let linked = || {
            log::warn!(
                "{}: {}: {name:?} is a link to a cloud file (OneDrive or SharePoint), not an \
                 attached file; it was not deposited",
                self.label,
                describe(message)
            );
            Ok(())
        };
        match kind {
            "fileAttachment" | "itemAttachment" | "" => {}
            "referenceAttachment" => return linked(),
            other => {
                log::warn!(
                    "{}: {}: attachment {name:?} of unknown kind {other:?} was not deposited",
                    self.label,
                    describe(message)
                );
                return Ok(());
            }
        }
        let content_type = attachment
            .content_type
            .as_deref()
            .unwrap_or("")
            .to_ascii_lowercase();
        if attachment.is_inline && content_type.starts_with("image/") {
            log::info!(
                "{}: inline image {name:?} skipped (a logo or a picture of the body)",
                describe(message)
            );
            return Ok(());
        }
        if let Some(base64) = attachment
            .content_bytes
            .as_deref()
            .filter(|_| kind != "itemAttachment")
        {
            // Came with the mail (`$expand`): a small file, kept in memory.
            let bytes = STANDARD.decode(base64).map_err(|err| {
                ItemError::failed(anyhow::anyhow!(
                    "Graph sent attachment {name:?} as invalid base64: {err}"
                ))
            })?;
            let file_name = if name.trim().is_empty() {
                "attachment".to_string()
            } else {
                name.clone()
            };
            documents.push(self.document(message, &file_name, Some(&name), Content::Bytes(bytes)));
            return Ok(());
        }
        let url = format!("{base}/{}/$value", encode(&attachment.id));
        let (path, served_type) = match self.graph.download(&url, &self.temp_dir) {
            Err(err) if kind.is_empty() && status_of(&err) == Some(405) => return linked(),
            other => other
                .map_err(for_item)
                .map_err(|err| err.context(format!("cannot download attachment {name:?}")))?,
        };
        let served_type = served_type.unwrap_or_default().to_ascii_lowercase();
        let item_extension = match served_type.as_str() {
            t if t.starts_with("message/rfc822") => Some("eml"),
            t if t.starts_with("text/calendar") => Some("ics"),
            t if t.starts_with("text/vcard") || t.starts_with("text/x-vcard") => Some("vcf"),
            _ => None,
        };
        let file_name = match (kind, item_extension) {
            ("itemAttachment", extension) | ("", extension @ Some(_)) => {
                let extension = extension.unwrap_or("eml");
                let stem = if name.trim().is_empty() {
                    "attached message"
                } else {
                    name.as_str()
                };
                if stem
                    .to_ascii_lowercase()
                    .ends_with(&format!(".{extension}"))
                {
                    stem.to_string()
                } else {
                    format!("{stem}.{extension}")
                }
            }
            _ if name.trim().is_empty() => "attachment".to_string(),
            _ => name.clone(),
        };
        documents.push(self.document(message, &file_name, Some(&name), Content::Temp(path)));
        Ok(())
    }

    pub(super) fn document(
        &self,
        message: &Message,
        name: &str,
        attachment: Option<&str>,
        content: Content,
    ) -> Document {
        let mut fields = vec![
            (
                "message_id".to_string(),
                message.internet_message_id.clone().unwrap_or_default(),
            ),
            (
                "from".to_string(),
                message.from.as_ref().map(person).unwrap_or_default(),
            ),
            (
                "to".to_string(),
                message
                    .to_recipients
                    .iter()
                    .flatten()
                    .map(person)
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            (
                "subject".to_string(),
                message.subject.clone().unwrap_or_default(),
            ),
            (
                "date".to_string(),
                message.received_date_time.clone().unwrap_or_default(),
            ),
            (
                "mailbox".to_string(),
                format!(
                    "{}:{}",
                    self.config.account.mailbox.display(),
                    self.config.account.folder
                ),
            ),
        ];
        if let Some(attachment) = attachment {
            fields.push(("attachment_name".to_string(), attachment.to_string()));
        }
        fields.push(("graph_id".to_string(), message.id.clone()));
        Document {
            name: name.to_string(),
            content,
            fields,
        }
    }
}
