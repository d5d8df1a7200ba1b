//! Which parts of a mail are documents, under which names, and whether each is whole: the rules
//! listed in `extract::mail`, applied to the tree `mime` reads.
//!
//! The walk has two passes: the first lists the leaves of the tree (parts that are not
//! multiparts) with what their place in it says (inside a `multipart/report`; last part of a
//! multipart whose closing delimiter never came), and the `cid:` references of the mail's own HTML
//! bodies; the second judges each leaf. Attached mails are leaves: what is inside them is theirs.

use std::collections::HashSet;

use anyhow::{anyhow, Result};
use unicode_normalization::UnicodeNormalization;

use super::decode::{self, Decoded, Spool, Transfer};
use super::header::{self, Structured};
use super::mime::{self, Entity};
use super::tnef;
use crate::extract::archive::Data;

/// Deeper nesting than this is no mail a person wrote; its inner parts are left unread.
const MAX_DEPTH: usize = 40;

/// One document found.
#[derive(Debug)]
pub struct Found {
    pub name: String,
    pub data: Data,
}

struct Leaf<'a> {
    entity: Entity<'a>,
    content_type: Structured,
    /// Its number in the mail, counting every entity in order (the mail itself is 1).
    number: usize,
    /// Inside a `multipart/report`.
    report: bool,
    /// The mail may end inside it: it is the last part of a multipart never closed.
    open: bool,
}

pub struct Walker<'a> {
    id: &'a str,
    spool: &'a Spool,
    number: usize,
    pub found: Vec<Found>,
    pub notes: Vec<String>,
}

impl<'a> Walker<'a> {
    pub fn new(id: &'a str, spool: &'a Spool) -> Walker<'a> {
        Walker {
            id,
            spool,
            number: 0,
            found: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Finds the documents of the mail `top`.
    pub fn mail(&mut self, top: Entity<'_>) -> Result<()> {
        let mut leaves = Vec::new();
        self.leaves(top, false, false, 0, &mut leaves);
        let cids = html_references(&leaves);
        for leaf in leaves {
            self.leaf(leaf, &cids)?;
        }
        Ok(())
    }

    fn leaves<'m>(
        &mut self,
        entity: Entity<'m>,
        report: bool,
        open: bool,
        depth: usize,
        out: &mut Vec<Leaf<'m>>,
    ) {
        self.number += 1;
        let number = self.number;
        let content_type = content_type(&entity);
        let boundary = content_type
            .param("boundary")
            .filter(|b| !b.is_empty())
            .map(|b| b.as_bytes().to_vec());
        match boundary {
            Some(boundary) if content_type.value.starts_with("multipart/") && depth < MAX_DEPTH => {
                let report = report || content_type.value == "multipart/report";
                let split = mime::split(entity.body, &boundary);
                let last = split.parts.len().saturating_sub(1);
                for (index, part) in split.parts.iter().enumerate() {
                    let open = index == last && (!split.closed || open);
                    self.leaves(Entity::parse(part), report, open, depth + 1, out);
                }
            }
            _ if content_type.value.starts_with("multipart/") => {
                // A multipart without a boundary (or nested past reason) has no parts to read.
            }
            _ => out.push(Leaf {
                entity,
                content_type,
                number,
                report,
                open,
            }),
        }
    }

    fn leaf(&mut self, leaf: Leaf<'_>, cids: &HashSet<String>) -> Result<()> {
        let ctype = leaf.content_type.value.as_str();
        let disposition = leaf
            .entity
            .field("content-disposition")
            .map(header::structured)
            .unwrap_or_default();
        let name = disposition
            .param("filename")
            .or_else(|| leaf.content_type.param("name"))
            .map(|n| n.trim().nfc().collect::<String>())
            .filter(|n| !n.is_empty());
        let attached = disposition.value == "attachment";
        let transfer = Transfer::of(leaf.entity.field("content-transfer-encoding"));
        if leaf.report
            || matches!(ctype, "message/partial" | "message/external-body")
            || SKIPPED.contains(&ctype)
            || (name.is_none() && REPORTS.contains(&ctype))
        {
            log::debug!("part {} ({ctype}) is not a document", leaf.number);
            return Ok(());
        }
        if matches!(ctype, "message/rfc822" | "message/global") {
            return self.attached_mail(&leaf, name, transfer);
        }
        let tnef_part = TNEF_TYPES.contains(&ctype)
            || name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case("winmail.dat"));
        if ctype.starts_with("image/") {
            let cid = leaf
                .entity
                .field("content-id")
                .map(|c| normal_cid(&String::from_utf8_lossy(c)));
            if cid.is_some_and(|c| cids.contains(&c)) {
                log::debug!("part {} is an image the HTML body shows", leaf.number);
                return Ok(());
            }
            if name.is_none() && !attached {
                return Ok(()); // a nameless inline picture: decoration
            }
        }
        if ctype.starts_with("text/") && name.is_none() && !attached {
            // A body. Old mailers put files in it as uuencoded blocks.
            if ctype == "text/plain" && memchr::memmem::find(leaf.entity.body, b"begin ").is_some()
            {
                let decoded = decode::decode(leaf.entity.body, transfer, self.spool)?;
                let text = decoded.data.to_vec(u64::MAX)?;
                for block in decode::uu_blocks(&text, self.spool)? {
                    let name = header::raw8(&block.name).nfc().collect::<String>();
                    if !block.complete {
                        return Err(damaged(
                            leaf.number,
                            Some(&name),
                            "its uuencoded block has no end line (the mail was cut off)",
                        ));
                    }
                    self.document(leaf.number, Some(name), None, block.data);
                }
            }
            return Ok(());
        }
        let decoded = decode::decode(leaf.entity.body, transfer, self.spool)?;
        if tnef_part {
            return self.tnef(&leaf, name, decoded, transfer);
        }
        let data = whole(&leaf, name.as_deref(), decoded, transfer)?;
        self.document(leaf.number, name, Some(ctype), data);
        Ok(())
    }

    fn attached_mail(
        &mut self,
        leaf: &Leaf<'_>,
        name: Option<String>,
        transfer: Transfer,
    ) -> Result<()> {
        // RFC 2046 forbids encoding a message/rfc822, and some webmails do it anyway.
        let data = match transfer {
            Transfer::Base64 | Transfer::QuotedPrintable => whole(
                leaf,
                name.as_deref(),
                decode::decode(leaf.entity.body, transfer, self.spool)?,
                transfer,
            )?,
            _ => decode::copy(leaf.entity.body, self.spool)?,
        };
        let name = match name {
            Some(name) if has_extension(&name, "eml") => name,
            Some(name) => format!("{name}.eml"),
            None => {
                let head = data.to_vec(64 << 10).unwrap_or_default();
                let inner = Entity::parse(mime::skip_leading_space(&head));
                let subject = inner
                    .field("subject")
                    .map(|s| super::short(&header::decode_words(s).nfc().collect::<String>()))
                    .unwrap_or_default();
                if subject.is_empty() {
                    generated(self.id, leaf.number, "eml")
                } else {
                    format!("{subject}.eml")
                }
            }
        };
        // The name is a subject: a `/` in it is text, not a folder to cut away.
        let name = name.replace(['/', '\\'], "_");
        if is_empty(&data) {
            self.notes.push(format!(
                "the attached mail «{name}» is empty; not deposited"
            ));
            return Ok(());
        }
        self.found.push(Found { name, data });
        Ok(())
    }

    fn tnef(
        &mut self,
        leaf: &Leaf<'_>,
        name: Option<String>,
        decoded: Decoded,
        transfer: Transfer,
    ) -> Result<()> {
        let shown = name.clone().unwrap_or_else(|| "winmail.dat".into());
        let data = whole(leaf, Some(&shown), decoded, transfer)?;
        let bytes = data.to_vec(u64::MAX)?;
        match tnef::files(&bytes) {
            Ok(files) => {
                for file in files {
                    let inner = file.name.map(|n| n.trim().nfc().collect::<String>());
                    let data = decode::copy(file.data, self.spool)?;
                    self.document(leaf.number, inner, None, data);
                }
            }
            Err(err) => {
                self.notes.push(format!(
                    "«{shown}» (Outlook's TNEF) cannot be read ({err:#}); deposited as it is"
                ));
                self.document(leaf.number, Some(shown), Some("application/ms-tnef"), data);
            }
        }
        Ok(())
    }

    fn document(&mut self, number: usize, name: Option<String>, ctype: Option<&str>, data: Data) {
        let name = document_name(
            name,
            ctype.unwrap_or("application/octet-stream"),
            self.id,
            number,
        );
        if is_empty(&data) {
            self.notes.push(format!(
                "the attachment «{name}» is empty (0 bytes); not deposited"
            ));
            return;
        }
        self.found.push(Found { name, data });
    }
}

/// Types that are never documents, whatever their name.
const SKIPPED: [&str; 5] = [
    "application/pkcs7-signature",
    "application/x-pkcs7-signature",
    "application/pgp-signature",
    "application/pgp-keys",
    "application/applefile",
];

/// Machine reports: not documents when nameless, even outside a `multipart/report`.
const REPORTS: [&str; 7] = [
    "message/delivery-status",
    "message/global-delivery-status",
    "message/feedback-report",
    "message/disposition-notification",
    "message/global-disposition-notification",
    "text/rfc822-headers",
    "message/rfc822-headers",
];

const TNEF_TYPES: [&str; 2] = ["application/ms-tnef", "application/vnd.ms-tnef"];

fn content_type(entity: &Entity<'_>) -> Structured {
    match entity.field("content-type").map(header::structured) {
        Some(ct) if ct.value.contains('/') => ct,
        _ => Structured {
            value: "text/plain".into(),
            ..Structured::default()
        },
    }
}

/// The decoded content, if it is whole; else the error that fails the mail.
fn whole(
    leaf: &Leaf<'_>,
    name: Option<&str>,
    decoded: Decoded,
    transfer: Transfer,
) -> Result<Data> {
    if let Some(why) = decoded.damage {
        return Err(damaged(leaf.number, name, &why));
    }
    if decoded.suspect || leaf.open {
        match decode::complete(&decoded.data)? {
            Some(true) => {}
            Some(false) => {
                return Err(damaged(
                    leaf.number,
                    name,
                    "its content is cut short (the mail was cut off in transit)",
                ))
            }
            None if leaf.open
                && transfer == Transfer::Base64
                && !ends_cleanly(leaf.entity.body) =>
            {
                return Err(damaged(
                    leaf.number,
                    name,
                    "the mail ends inside it and nothing shows that it is complete",
                ))
            }
            None => {}
        }
    }
    Ok(decoded.data)
}

/// Whether base64 text ends as an encoder ends it: with padding, or with a line shorter than the
/// lines before it.
fn ends_cleanly(body: &[u8]) -> bool {
    let lines: Vec<&[u8]> = mime::lines(body)
        .map(|(s, e)| mime::trim(&body[s..e]))
        .filter(|l| !l.is_empty())
        .collect();
    match lines.as_slice() {
        [] => true,
        [only] => only.ends_with(b"="),
        [.., before, last] => last.ends_with(b"=") || last.len() < before.len(),
    }
}

fn damaged(number: usize, name: Option<&str>, why: &str) -> anyhow::Error {
    let what = name.map_or_else(String::new, |n| format!(" («{n}»)"));
    anyhow!("part {number}{what} is damaged: {why}")
}

fn is_empty(data: &Data) -> bool {
    data.len().is_ok_and(|len| len == 0)
}

/// `cid:` references of the mail's own HTML parts, normalised like Content-IDs.
fn html_references(leaves: &[Leaf<'_>]) -> HashSet<String> {
    let mut cids = HashSet::new();
    for leaf in leaves {
        if leaf.content_type.value != "text/html" {
            continue;
        }
        let transfer = Transfer::of(leaf.entity.field("content-transfer-encoding"));
        let spool = Spool::default();
        let Ok(decoded) = decode::decode(leaf.entity.body, transfer, &spool) else {
            continue;
        };
        let Ok(html) = decoded.data.to_vec(u64::MAX) else {
            continue;
        };
        let lower = html.to_ascii_lowercase();
        for at in memchr::memmem::find_iter(&lower, b"cid:") {
            let rest = &html[at + 4..];
            let end = rest
                .iter()
                .position(|b| matches!(b, b'"' | b'\'' | b'>' | b')') || b.is_ascii_whitespace())
                .unwrap_or(rest.len());
            let reference =
                String::from_utf8_lossy(&header::percent_decode(&rest[..end])).into_owned();
            cids.insert(normal_cid(&reference));
        }
    }
    cids
}

fn normal_cid(cid: &str) -> String {
    cid.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_lowercase()
}

fn has_extension(name: &str, wanted: &str) -> bool {
    extension(name).is_some_and(|e| e.eq_ignore_ascii_case(wanted))
}

fn extension(name: &str) -> Option<&str> {
    let (stem, ext) = name.rsplit_once('.')?;
    (!stem.is_empty() && !ext.is_empty() && ext.len() <= 8 && !ext.contains(' ')).then_some(ext)
}

/// A document's name: its own, with the extension of its type when it has none (so the COLD
/// recognises it), or a generated one.
fn document_name(name: Option<String>, ctype: &str, id: &str, number: usize) -> String {
    match name {
        Some(name) if extension(&name).is_none() && ctype != "application/octet-stream" => {
            match extension_for(ctype) {
                "bin" => name,
                ext => format!("{name}.{ext}"),
            }
        }
        Some(name) => name,
        None => generated(id, number, extension_for(ctype)),
    }
}

fn generated(id: &str, number: usize, ext: &str) -> String {
    if id.is_empty() {
        format!("part{number}.{ext}")
    } else {
        format!("{id}-part{number}.{ext}")
    }
}

/// Extensions for generated names, by MIME type.
const EXTENSIONS: [(&str, &str); 30] = [
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
    ("text/plain", "txt"),
    ("text/html", "html"),
    ("text/calendar", "ics"),
    ("image/jpeg", "jpg"),
    ("image/png", "png"),
    ("image/gif", "gif"),
    ("image/webp", "webp"),
    ("message/rfc822", "eml"),
];

fn extension_for(ctype: &str) -> &'static str {
    EXTENSIONS
        .iter()
        .find(|(t, _)| *t == ctype)
        .map_or("bin", |(_, ext)| ext)
}
