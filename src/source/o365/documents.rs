//! A mail's documents: its file attachments streamed from `$value` into temporary files, attached
//! mails (item attachments) as `.eml` (events and contacts as Graph gives them), inline parts only
//! when they are documents, links to cloud files reported and skipped; and the sidecar fields of
//! each document.

use serde::Deserialize;

use super::graph::{encode, status_of};
use super::message::{describe, person, Message};
use super::{for_item, O365Source};
use crate::item::{Content, Document, ItemError};

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Attachment {
    #[serde(rename = "@odata.type", default)]
    pub(super) kind: String,
    pub(super) id: String,
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) content_type: Option<String>,
    #[serde(default)]
    pub(super) is_inline: bool,
}

impl O365Source {
    /// The documents of a mail's attachments.
    pub(super) fn attachments(
        &mut self,
        message: &Message,
        documents: &mut Vec<Document>,
    ) -> Result<(), ItemError> {
        let base = format!("{}/attachments", self.message_url(&message.id));
        // Without the bytes: they come one attachment at a time through $value.
        let selected = format!(
            "{base}?$select={}",
            encode("id,name,contentType,size,isInline")
        );
        let attachments: Vec<Attachment> = match self.graph.get_all(&selected) {
            Err(err) if status_of(&err) == Some(400) => {
                log::debug!("attachments with $select refused ({err:#}); asking without");
                self.graph.get_all(&base).map_err(for_item)?
            }
            other => other.map_err(for_item)?,
        };
        for attachment in attachments {
            self.attachment(message, &base, attachment, documents)?;
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
        documents.push(self.document(message, &file_name, Some(&name), path));
        Ok(())
    }

    pub(super) fn document(
        &self,
        message: &Message,
        name: &str,
        attachment: Option<&str>,
        path: tempfile::TempPath,
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
            content: Content::Temp(path),
            fields,
        }
    }
}
