//! One mail (raw RFC 5322 bytes, as IMAP `BODY[]` or POP3 `RETR` give it) → the documents to deposit.
//! Shared by every mail protocol, so that they agree on what is taken, how it is named and which
//! sidecar fields it gets.
//!
//! The MIME structure is read from the raw bytes (`mime`), header values decoded in any charset
//! (`header`), parts decoded into memory or, when large, into temporary files (`decode`), so that a
//! 200 MB attachment costs the mail itself and a buffer, not three copies. Which parts are
//! documents (`walk`):
//! - a named part or a part marked `attachment`, whatever its type, Content-ID or not;
//! - an attached mail (`message/rfc822`), as the `.eml` it is, byte for byte, not taken apart;
//!   named after its file name or its subject, where a `/` is the subject's and not a folder;
//! - the files inside Outlook's `winmail.dat` (TNEF), under their real names;
//! - uuencoded files, in an `x-uuencode` part or as `begin 644 name` blocks in a plain-text body;
//! - a nameless inline part that is not text or an image (a PDF a mail client marked inline).
//!
//! Not documents: the body texts; images the mail's own HTML shows (`cid:` logos, even when
//! marked as attachments); nameless inline images; machine reports (every part of a
//! `multipart/report`: bounces, read receipts, abuse reports, the returned original),
//! `message/partial` fragments and `message/external-body` pointers; S/MIME and PGP signatures;
//! Mac resource forks (`application/applefile`).
//!
//! Names: RFC 2047/2231 decoded in any charset, raw 8-bit bytes as UTF-8 or else Windows-1252,
//! and in Unicode composed form (NFC: macOS writes `é` as `e` + accent). A part without a name
//! gets `<id>-part<N>.<ext>` (`<id>` is the caller's short identity of the mail, such as
//! `uid-42`). A text attachment keeps its bytes as sent (a CSV in Windows-1252 stays so): only the
//! transfer encoding is undone, never the charset.
//!
//! `Take::Eml` deposits the whole mail, byte for byte, as `<id> <subject>.eml`.
//!
//! Sidecar fields, the same names for every protocol: `message_id`, `from`, `to`, `subject`,
//! `date` (RFC 3339), `mailbox`, then the protocol's own (`Origin::fields`: IMAP's `uid`,
//! `uidvalidity`), then `attachment_name` for attachments.
//!
//! Damage is judged per part: a document whose encoding is broken, or that the mail's end cut
//! short (judged by its format when the mail gives cause to doubt it), fails the whole mail with
//! an untagged error naming the part; the cycle reports it and leaves the mail at the source.
//! Depositing the intact documents and acknowledging the mail would lose the damaged one without
//! a trace. An empty attachment is not deposited and is told in `Mail::notes`, as is a
//! `winmail.dat` that cannot be read (deposited as it is).

mod decode;
mod header;
mod mime;
mod tnef;
mod walk;

use anyhow::{anyhow, Context, Result};
use mail_parser::{Message, MessageParser};
use unicode_normalization::UnicodeNormalization;

pub use decode::Spool;

use crate::extract::archive::{self, Budget, Data, Limits};
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

/// How mails become documents; shared by every mail protocol.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub take: Take,
    /// `--unzip`: ZIP attachments are replaced by their files, read within these bounds.
    pub unzip: Option<Limits>,
    pub spool: Spool,
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

/// What a mail gave.
#[derive(Debug, Default)]
pub struct Mail {
    /// In MIME order, the whole mail last.
    pub documents: Vec<Document>,
    /// What was found and not deposited, for the administrator (an empty attachment).
    pub notes: Vec<String>,
}

/// The documents of one mail. An error fails this mail only; the cycle names the mail when it
/// reports it.
pub fn documents(raw: Vec<u8>, options: &Options, origin: &Origin) -> Result<Mail> {
    let text = mime::skip_leading_space(&raw);
    let top = mime::Entity::parse(text);
    if top.fields.is_empty() {
        return Err(anyhow!("not a mail: no header could be read"));
    }
    let header_block = &text[..text.len() - top.body.len()];
    let parsed = MessageParser::default().parse_headers(header_block);
    let subject = top
        .field("subject")
        .map(|s| header::decode_words(s).nfc().collect::<String>());
    let common = common_fields(parsed.as_ref(), subject.as_deref(), origin);
    let mut mail = Mail::default();
    if options.take != Take::Eml {
        let mut walker = walk::Walker::new(&origin.id, &options.spool);
        walker.mail(top)?;
        mail.notes = walker.notes;
        for walk::Found { name, data } in walker.found {
            let mut fields = common.clone();
            fields.push(("attachment_name".into(), name.clone()));
            mail.documents.push(Document {
                name,
                content: content(data),
                fields,
            });
        }
        if let Some(limits) = &options.unzip {
            mail.documents = unzip(std::mem::take(&mut mail.documents), limits)?;
        }
    }
    if options.take != Take::Attachments {
        mail.documents.push(Document {
            name: eml_name_for(subject.as_deref(), &origin.id),
            content: Content::Bytes(raw),
            fields: common,
        });
    }
    Ok(mail)
}

/// `documents`, with the notes logged as warnings naming `label` (the source and the mail): what
/// a mail source deposits.
pub fn documents_noted(
    raw: Vec<u8>,
    options: &Options,
    origin: &Origin,
    label: &str,
) -> Result<Vec<Document>> {
    let mail = documents(raw, options, origin)?;
    for note in &mail.notes {
        log::warn!("{label}: {note}");
    }
    Ok(mail.documents)
}

pub fn content(data: Data) -> Content {
    match data {
        Data::Bytes(bytes) => Content::Bytes(bytes),
        Data::Temp(path) => Content::Temp(path),
    }
}

/// `--unzip`: each ZIP attachment (named `.zip`, starting as a ZIP does) replaced by its files,
/// named by their own names, with the attachment's sidecar fields; the archive is read within
/// `limits` (no entry out of its folder, no links, bounded size and count). An archive that
/// cannot be read so fails the mail: nothing of it is guessed. ZIPs inside stay ZIPs.
pub fn unzip(documents: Vec<Document>, limits: &Limits) -> Result<Vec<Document>> {
    let mut out = Vec::with_capacity(documents.len());
    let mut budget = Budget::new(limits.clone());
    for document in documents {
        if !is_zip(&document) {
            out.push(document);
            continue;
        }
        let pieces = read_zip(&document.content, &mut budget).with_context(|| {
            format!(
                "--unzip: «{}» cannot be unpacked (take it as it is without --unzip)",
                document.name
            )
        })?;
        for piece in pieces {
            let name = piece.name().nfc().collect::<String>();
            let mut fields = document.fields.clone();
            match fields.iter_mut().find(|(k, _)| k == "attachment_name") {
                Some((_, value)) => *value = name.clone(),
                None => fields.push(("attachment_name".into(), name.clone())),
            }
            fields.push(("archive_name".into(), document.name.clone()));
            out.push(Document {
                name,
                content: content(piece.data),
                fields,
            });
        }
    }
    Ok(out)
}

fn read_zip(content: &Content, budget: &mut Budget) -> Result<Vec<archive::Piece>> {
    match content {
        Content::Bytes(bytes) => archive::read_zip(std::io::Cursor::new(bytes.as_slice()), budget),
        Content::Temp(path) => archive::read_zip(
            std::fs::File::open(path).context("cannot read a temporary file")?,
            budget,
        ),
        Content::File { path, .. } => archive::read_zip(
            std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?,
            budget,
        ),
    }
}

/// Named `.zip` and starting as a ZIP does (a DOCX is a ZIP too, and is no archive to unpack).
fn is_zip(document: &Document) -> bool {
    use std::io::Read;
    let by_name = document
        .name
        .rsplit_once('.')
        .is_some_and(|(_, ext)| ext.eq_ignore_ascii_case("zip"));
    if !by_name {
        return false;
    }
    let mut head = [0u8; 4];
    let read = match &document.content {
        Content::Bytes(bytes) => bytes.get(..4).map(|h| head.copy_from_slice(h)).is_some(),
        Content::Temp(path) => std::fs::File::open(path)
            .and_then(|mut f| f.read_exact(&mut head))
            .is_ok(),
        Content::File { path, .. } => std::fs::File::open(path)
            .and_then(|mut f| f.read_exact(&mut head))
            .is_ok(),
    };
    read && head == *b"PK\x03\x04"
}

fn common_fields(
    message: Option<&Message<'_>>,
    subject: Option<&str>,
    origin: &Origin,
) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut push = |name: &str, value: Option<String>| {
        fields.push((name.to_string(), value.unwrap_or_default()));
    };
    push(
        "message_id",
        message.and_then(|m| m.message_id()).map(str::to_string),
    );
    push("from", message.and_then(|m| m.from()).map(addresses));
    push("to", message.and_then(|m| m.to()).map(addresses));
    push("subject", subject.map(str::to_string));
    push(
        "date",
        message
            .and_then(|m| m.date())
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

/// What `--from` and `--subject` judge a mail by, from its header block alone (IMAP's listing of
/// header fields, POP3's `TOP n 0`), decoded as for sidecars.
#[derive(Debug, Default)]
pub struct Headline {
    /// Each sender's address, then its full form `Name <address>` when it has a name.
    pub senders: Vec<String>,
    pub subject: String,
}

pub fn headline(header_block: &[u8]) -> Headline {
    let text = mime::skip_leading_space(header_block);
    let entity = mime::Entity::parse(text);
    let subject = entity
        .field("subject")
        .map(|s| header::decode_words(s).nfc().collect())
        .unwrap_or_default();
    let mut senders = Vec::new();
    if let Some(from) = MessageParser::default()
        .parse_headers(text)
        .as_ref()
        .and_then(|m| m.from())
    {
        for addr in from.iter() {
            if let Some(address) = addr.address() {
                senders.push(address.to_string());
            }
            if let (Some(name), Some(address)) = (addr.name(), addr.address()) {
                senders.push(format!("{name} <{address}>"));
            }
        }
    }
    if senders.is_empty() {
        if let Some(raw) = entity.field("from") {
            senders.push(header::decode_words(raw));
        }
    }
    Headline { senders, subject }
}

fn eml_name_for(subject: Option<&str>, id: &str) -> String {
    let subject = subject.map(short).unwrap_or_default();
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

#[cfg(test)]
mod tests;
