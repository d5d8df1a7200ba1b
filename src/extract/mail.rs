//! One mail (raw RFC 5322 bytes, as IMAP `BODY[]` or POP3 `RETR` give it) → the documents to deposit.
//! Shared by every mail protocol, so that they agree on what is taken, how it is named and which
//! sidecar fields it gets.
//!
//! What counts as a document (`Take::Attachments`):
//! - a part marked `Content-Disposition: attachment`, whatever its type (signatures excepted);
//! - an attached mail (`message/rfc822`), as the `.eml` it is, not taken apart: a forwarded mail is
//!   one document;
//! - an inline part only when it is a real document: a PDF or office file that a mail client
//!   marked inline, or a named picture without a `Content-ID` (a photo pasted into the mail). A
//!   part with a `Content-ID` that is not a document type is a resource the HTML body shows (a
//!   signature logo) and is left out, as are the body texts themselves and S/MIME or PGP
//!   signatures.
//!
//! Names come decoded by `mail-parser` (RFC 2047 encoded words, RFC 2231 parameters, any charset).
//! A part without a name gets `<id>-part<N>.<ext>` with the extension of its MIME type (`<id>` is
//! the caller's short identity of the mail, such as `uid-42`); an attached mail without a name is
//! named after its subject. A text attachment keeps its bytes as sent (a CSV in Windows-1252 stays
//! so): only the transfer encoding is undone, never the charset.
//!
//! `Take::Eml` deposits the whole mail, byte for byte, as `<id> <subject>.eml`.
//!
//! Sidecar fields, the same names for every protocol: `message_id`, `from`, `to`, `subject`,
//! `date` (RFC 3339), `mailbox`, then the protocol's own (`Origin::fields`: IMAP's `uid`,
//! `uidvalidity`), then `attachment_name` for attachments.
//!
//! A mail that cannot be read (no header at all, or a document part whose base64 or
//! quoted-printable is broken or cut off) is an untagged error naming the mail: the cycle reports
//! it, leaves the mail at the source and goes on with the others. Depositing a damaged PDF would
//! be worse than depositing nothing.

use std::borrow::Cow;

use anyhow::{anyhow, Result};
use mail_parser::parsers::MessageStream;
use mail_parser::{Encoding, Message, MessageParser, MessagePart, MimeHeaders, PartType};

use crate::item::{Content, Document};

/// What to deposit from a mail; shared by every mail protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Take {
    /// The files attached to the mail, under their own names
    #[default]
    Attachments,
    /// The whole mail, as one .eml file
    Eml,
    /// Both the attachments and the whole mail
    Both,
}

/// Where a mail comes from, for names and sidecar fields.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// The mailbox or account the mail was in (`INBOX`, `[Gmail]/Tous les messages`).
    pub mailbox: String,
    /// A short identity of the mail within the mailbox, safe in a file name: `uid-42`.
    pub id: String,
    /// The protocol's own fields, written after the common ones (`uid`, `uidvalidity`).
    pub fields: Vec<(String, String)>,
}

/// The documents of one mail, in MIME order, the whole mail last. An error fails this mail only; the
/// cycle names the mail when it reports it.
pub fn documents(raw: Vec<u8>, take: Take, origin: &Origin) -> Result<Vec<Document>> {
    let parser = MessageParser::default();
    let mut documents = Vec::new();
    let eml_name;
    let common;
    {
        let message = parser
            .parse(&raw)
            .filter(|m| !m.parts.is_empty() && !m.parts[0].headers.is_empty())
            .ok_or_else(|| anyhow!("not a mail: no header could be read"))?;
        common = common_fields(&message, origin);
        eml_name = eml_name_for(&message, &origin.id);
        if take != Take::Eml {
            for (name, bytes) in attachments(&message, &raw, &origin.id)? {
                let mut fields = common.clone();
                fields.push(("attachment_name".into(), name.clone()));
                documents.push(Document {
                    name,
                    content: Content::Bytes(bytes),
                    fields,
                });
            }
        }
    }
    if take != Take::Attachments {
        documents.push(Document {
            name: eml_name,
            content: Content::Bytes(raw),
            fields: common,
        });
    }
    Ok(documents)
}

fn common_fields(message: &Message<'_>, origin: &Origin) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut push = |name: &str, value: Option<String>| {
        fields.push((name.to_string(), value.unwrap_or_default()));
    };
    push("message_id", message.message_id().map(str::to_string));
    push("from", message.from().map(addresses));
    push("to", message.to().map(addresses));
    push("subject", message.subject().map(str::to_string));
    push(
        "date",
        message
            .date()
            .filter(|d| d.is_valid())
            .map(|d| d.to_rfc3339()),
    );
    push("mailbox", Some(origin.mailbox.clone()));
    fields.extend(origin.fields.iter().cloned());
    fields
}

fn addresses(address: &mail_parser::Address<'_>) -> String {
    address
        .iter()
        .map(|addr| match (addr.name(), addr.address()) {
            (Some(name), Some(mail)) => format!("{name} <{mail}>"),
            (None, Some(mail)) => mail.to_string(),
            (Some(name), None) => name.to_string(),
            (None, None) => String::new(),
        })
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}

fn eml_name_for(message: &Message<'_>, id: &str) -> String {
    let subject = message.subject().map(short).unwrap_or_default();
    let stem = match (id.is_empty(), subject.is_empty()) {
        (false, false) => format!("{id} {subject}"),
        (false, true) => id.to_string(),
        (true, false) => subject,
        (true, true) => "mail".to_string(),
    };
    format!("{stem}.eml")
}

/// The first 80 characters of a subject, on one line.
fn short(text: &str) -> String {
    let one_line: String = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(80)
        .collect();
    one_line.trim().to_string()
}

#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Skip,
    Document,
    Mail,
}

/// `(name, bytes)` of each document part, in MIME order.
fn attachments(message: &Message<'_>, raw: &[u8], id: &str) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    for (index, part) in message.parts.iter().enumerate() {
        let kind = classify(part);
        if kind == Kind::Skip {
            continue;
        }
        let number = index + 1;
        if part.is_encoding_problem && kind == Kind::Document {
            return Err(anyhow!(
                "part {number} ({}) is damaged: its {} encoding is broken or cut off",
                part.attachment_name()
                    .map(|n| format!("«{n}»"))
                    .unwrap_or_else(|| mime_type(part)),
                encoding_name(part)
            ));
        }
        let name = match kind {
            Kind::Mail => mail_name(part, id, number),
            _ => document_name(part, id, number),
        };
        let bytes = match kind {
            Kind::Mail => attached_mail_bytes(part, raw),
            _ => document_bytes(part, raw)?,
        };
        out.push((name, bytes));
    }
    Ok(out)
}

/// `type/subtype`, lower case; `text/plain` when absent, as RFC 2045 says.
fn mime_type(part: &MessagePart<'_>) -> String {
    match part.content_type() {
        Some(ct) => match &ct.c_subtype {
            Some(sub) => format!("{}/{}", ct.c_type, sub).to_ascii_lowercase(),
            None => ct.c_type.to_ascii_lowercase(),
        },
        None => "text/plain".to_string(),
    }
}

fn encoding_name(part: &MessagePart<'_>) -> &'static str {
    match part
        .content_transfer_encoding()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("base64") => "base64",
        Some("quoted-printable") => "quoted-printable",
        _ => "MIME",
    }
}

fn classify(part: &MessagePart<'_>) -> Kind {
    if part.is_multipart() {
        return Kind::Skip;
    }
    let ctype = mime_type(part);
    if ctype.starts_with("multipart/") {
        return Kind::Skip;
    }
    if part.is_message() || ctype == "message/rfc822" || ctype == "message/global" {
        return Kind::Mail;
    }
    if SIGNATURES.contains(&ctype.as_str()) {
        return Kind::Skip;
    }
    let name = part.attachment_name().filter(|n| !n.trim().is_empty());
    let attached = part
        .content_disposition()
        .is_some_and(|d| d.c_type.eq_ignore_ascii_case("attachment"));
    if attached {
        return Kind::Document;
    }
    let document_type = is_document_type(&ctype, name);
    if part.content_id().is_some() && !document_type {
        // A resource the HTML body shows (cid:…): a logo, a banner.
        return Kind::Skip;
    }
    if ctype.starts_with("text/") && name.is_none() {
        return Kind::Skip; // a body, or a footer a list added
    }
    if document_type || name.is_some() {
        return Kind::Document;
    }
    // A nameless inline part that is no document type: an image without a name is decoration.
    if ctype.starts_with("image/") {
        return Kind::Skip;
    }
    Kind::Document
}

const SIGNATURES: [&str; 4] = [
    "application/pkcs7-signature",
    "application/x-pkcs7-signature",
    "application/pgp-signature",
    "application/pgp-keys",
];

/// MIME types and extensions of documents a GED wants even when a mail client marked them inline.
const DOCUMENT_TYPES: [(&str, &str); 22] = [
    ("application/pdf", "pdf"),
    ("application/msword", "doc"),
    (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "docx",
    ),
    ("application/vnd.ms-excel", "xls"),
    (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "xlsx",
    ),
    ("application/vnd.ms-powerpoint", "ppt"),
    (
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "pptx",
    ),
    ("application/vnd.oasis.opendocument.text", "odt"),
    ("application/vnd.oasis.opendocument.spreadsheet", "ods"),
    ("application/vnd.oasis.opendocument.presentation", "odp"),
    ("application/rtf", "rtf"),
    ("text/rtf", "rtf"),
    ("application/zip", "zip"),
    ("application/x-zip-compressed", "zip"),
    ("application/xml", "xml"),
    ("text/xml", "xml"),
    ("text/csv", "csv"),
    ("image/tiff", "tif"),
    ("application/vnd.ms-outlook", "msg"),
    ("application/x-tar", "tar"),
    ("application/gzip", "gz"),
    ("application/json", "json"),
];

/// Extensions for generated names of other common types.
const OTHER_TYPES: [(&str, &str); 8] = [
    ("text/plain", "txt"),
    ("text/html", "html"),
    ("text/calendar", "ics"),
    ("image/jpeg", "jpg"),
    ("image/png", "png"),
    ("image/gif", "gif"),
    ("image/webp", "webp"),
    ("message/rfc822", "eml"),
];

const DOCUMENT_EXTENSIONS: [&str; 16] = [
    "pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "odt", "ods", "odp", "rtf", "zip", "xml",
    "csv", "tif", "tiff",
];

fn is_document_type(ctype: &str, name: Option<&str>) -> bool {
    DOCUMENT_TYPES.iter().any(|(t, _)| *t == ctype)
        || name.and_then(extension).is_some_and(|ext| {
            DOCUMENT_EXTENSIONS
                .iter()
                .any(|known| known.eq_ignore_ascii_case(ext))
        })
}

fn extension(name: &str) -> Option<&str> {
    let (stem, ext) = name.rsplit_once('.')?;
    (!stem.is_empty() && !ext.is_empty() && ext.len() <= 8 && !ext.contains(' ')).then_some(ext)
}

fn extension_for(ctype: &str) -> &'static str {
    DOCUMENT_TYPES
        .iter()
        .chain(OTHER_TYPES.iter())
        .find(|(t, _)| *t == ctype)
        .map_or("bin", |(_, ext)| ext)
}

fn document_name(part: &MessagePart<'_>, id: &str, number: usize) -> String {
    let ctype = mime_type(part);
    match part
        .attachment_name()
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        // A name without an extension gets the one of its type, so the COLD recognises it.
        Some(name) if extension(name).is_none() && ctype != "application/octet-stream" => {
            format!("{name}.{}", extension_for(&ctype))
        }
        Some(name) => name.to_string(),
        None => generated(id, number, extension_for(&ctype)),
    }
}

fn mail_name(part: &MessagePart<'_>, id: &str, number: usize) -> String {
    if let Some(name) = part
        .attachment_name()
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        return if extension(name).is_some_and(|e| e.eq_ignore_ascii_case("eml")) {
            name.to_string()
        } else {
            format!("{name}.eml")
        };
    }
    match part.message().and_then(|m| m.subject()).map(short) {
        Some(subject) if !subject.is_empty() => format!("{subject}.eml"),
        _ => generated(id, number, "eml"),
    }
}

fn generated(id: &str, number: usize, ext: &str) -> String {
    if id.is_empty() {
        format!("part{number}.{ext}")
    } else {
        format!("{id}-part{number}.{ext}")
    }
}

/// The attached mail as it was sent. `mail-parser` keeps the whole outer mail as the raw bytes of
/// a nested one that was not transfer-encoded, so take its slice of the outer mail instead.
fn attached_mail_bytes(part: &MessagePart<'_>, raw: &[u8]) -> Vec<u8> {
    let (start, end) = (part.offset_body as usize, part.offset_end as usize);
    if part.encoding == Encoding::None && start < end && end <= raw.len() {
        return raw[start..end].to_vec();
    }
    part.contents().to_vec()
}

/// The part's bytes as sent, transfer encoding undone. Binary parts come decoded from the parser;
/// text parts were converted to UTF-8 by it, so decode those again from the raw mail.
fn document_bytes(part: &MessagePart<'_>, raw: &[u8]) -> Result<Vec<u8>> {
    if !matches!(part.body, PartType::Text(_) | PartType::Html(_)) {
        return Ok(part.contents().to_vec());
    }
    let (start, end) = (part.offset_body as usize, part.offset_end as usize);
    let Some(body) = raw.get(start..end) else {
        return Ok(part.contents().to_vec());
    };
    let decoded: Cow<'_, [u8]> = match part.encoding {
        Encoding::None => Cow::Borrowed(body),
        Encoding::Base64 => {
            let (offset, bytes) = MessageStream::new(body).decode_base64_mime(b"");
            if offset == usize::MAX {
                return Err(anyhow!("a text attachment has broken base64"));
            }
            bytes
        }
        Encoding::QuotedPrintable => {
            let (offset, bytes) = MessageStream::new(body).decode_quoted_printable_mime(b"");
            if offset == usize::MAX {
                return Err(anyhow!("a text attachment has broken quoted-printable"));
            }
            bytes
        }
    };
    Ok(decoded.into_owned())
}

#[cfg(test)]
mod tests;
