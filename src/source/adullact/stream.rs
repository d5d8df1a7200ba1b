//! XML read as a stream of events, for files too large to hold as a tree: a PES V2 file carries its
//! pièces justificatives inside itself (base64 of gzip) and reaches hundreds of megabytes, and an
//! ACTES message has no size bound either. Memory then follows the largest text of one element (one
//! attachment's base64), not the file.
//!
//! The bytes are turned into UTF-8 as they are read (`Utf8Reader`), by the same rules as `xml.rs`:
//! a byte order mark, else the declared encoding, else UTF-8 unless the first bytes are not, in
//! which case Windows-1252. quick-xml then reads events from the text. A DOCTYPE is refused, as in
//! `xml.rs`; quick-xml never expands entities other than the five predefined ones and character
//! references, and never fetches anything.

use std::io::{self, BufReader, Read};

use anyhow::{anyhow, bail, Result};
use encoding_rs::{DecoderResult, Encoding};
use quick_xml::events::Event as XmlEvent;
use quick_xml::XmlVersion;

use super::xml;

/// Deepest element nesting accepted: PES files nest about ten deep; a deeper file is hostile.
const MAX_DEPTH: usize = 256;

/// One event of the stream, with names as local names (namespace prefixes dropped).
pub enum Event<'a> {
    /// An element starts (an empty element gives `Start` then `End`).
    Start {
        name: &'a str,
        attributes: &'a [(String, String)],
    },
    End {
        name: &'a str,
    },
    /// Text inside the current element, in pieces (character references come as their own piece).
    Text(&'a str),
}

/// Reads `input` to its end, calling `on` with each event and the path of element names from the
/// root to the current element (the current one last).
pub fn walk(
    input: impl Read,
    mut on: impl FnMut(&Event<'_>, &[String]) -> Result<()>,
) -> Result<()> {
    let mut reader = quick_xml::Reader::from_reader(BufReader::new(Utf8Reader::new(input)));
    let mut buffer = Vec::new();
    let mut path: Vec<String> = Vec::new();
    let mut attributes: Vec<(String, String)> = Vec::new();
    let mut seen_root = false;
    loop {
        buffer.clear();
        let event = reader
            .read_event_into(&mut buffer)
            .map_err(|err| anyhow!("invalid XML at byte {}: {err}", reader.error_position()))?;
        match event {
            XmlEvent::DocType(_) => bail!(
                "the XML declares a DOCTYPE (DTD); refused, since envelopes never carry one and \
                 DTDs are how entity attacks work"
            ),
            XmlEvent::Start(ref start) | XmlEvent::Empty(ref start) => {
                let empty = matches!(event, XmlEvent::Empty(_));
                if path.is_empty() && seen_root {
                    bail!("invalid XML: a second root element");
                }
                seen_root = true;
                if path.len() >= MAX_DEPTH {
                    bail!("the XML nests elements more than {MAX_DEPTH} deep; refused");
                }
                let name = local(start.name().as_ref());
                attributes.clear();
                for attribute in start.attributes() {
                    let attribute = attribute.map_err(|err| anyhow!("invalid XML: {err}"))?;
                    let value = attribute
                        .normalized_value(XmlVersion::Implicit1_0)
                        .map_err(|err| anyhow!("invalid XML: {err}"))?;
                    attributes.push((local(attribute.key.as_ref()), value.into_owned()));
                }
                path.push(name);
                let name = path.last().map(String::as_str).unwrap_or_default();
                on(
                    &Event::Start {
                        name,
                        attributes: &attributes,
                    },
                    &path,
                )?;
                if empty {
                    on(&Event::End { name }, &path)?;
                    path.pop();
                }
            }
            XmlEvent::End(_) => {
                let name = path.last().map(String::as_str).unwrap_or_default();
                on(&Event::End { name }, &path)?;
                path.pop();
            }
            XmlEvent::Text(text) if !path.is_empty() => {
                on(&Event::Text(&text.xml10_content()), &path)?;
            }
            XmlEvent::CData(data) if !path.is_empty() => {
                on(&Event::Text(&data.xml10_content()), &path)?;
            }
            XmlEvent::GeneralRef(reference) if !path.is_empty() => {
                let text = match reference.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    _ => quick_xml::escape::resolve_predefined_entity(&reference)
                        .ok_or_else(|| anyhow!("invalid XML: unknown entity &{};", &*reference))?
                        .to_string(),
                };
                on(&Event::Text(&text), &path)?;
            }
            XmlEvent::Eof => break,
            _ => {}
        }
    }
    if !path.is_empty() {
        bail!(
            "invalid XML: the file ends inside element {}",
            path.join("/")
        );
    }
    if !seen_root {
        bail!("invalid XML: no root element");
    }
    Ok(())
}

fn local(name: &str) -> String {
    name.rsplit(':').next().unwrap_or(name).to_string()
}

/// The attribute `local` of a start event, if not blank.
pub fn attribute<'a>(attributes: &'a [(String, String)], local: &str) -> Option<&'a str> {
    attributes
        .iter()
        .find(|(name, _)| name == local)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

/// Bytes in the XML's own encoding turned into UTF-8 as they are read.
pub struct Utf8Reader<R> {
    inner: R,
    /// `None` until the first bytes are seen and the encoding chosen.
    decoder: Option<encoding_rs::Decoder>,
    input: Vec<u8>,
    /// Undecoded bytes at `input[start..end]`.
    start: usize,
    end: usize,
    eof: bool,
    finished: bool,
}

impl<R: Read> Utf8Reader<R> {
    pub fn new(inner: R) -> Utf8Reader<R> {
        Utf8Reader {
            inner,
            decoder: None,
            input: vec![0; 64 << 10],
            start: 0,
            end: 0,
            eof: false,
            finished: false,
        }
    }

    /// Fills `input` as far as it goes, keeping the undecoded bytes.
    fn fill(&mut self) -> io::Result<()> {
        if self.start > 0 {
            self.input.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        while !self.eof && self.end < self.input.len() {
            match self.inner.read(&mut self.input[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }

    /// The encoding of the text, from its first bytes (the BOM is skipped).
    fn choose(&mut self) -> io::Result<encoding_rs::Decoder> {
        let head = &self.input[..self.end];
        if let Some((encoding, bom)) = Encoding::for_bom(head) {
            self.start = bom;
            return Ok(encoding.new_decoder_without_bom_handling());
        }
        let encoding = match xml::declared_encoding(head) {
            Some(label) => Encoding::for_label(label.as_bytes()).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("unknown character encoding {label:?}"),
                )
            })?,
            None if looks_utf8(head, self.eof) => encoding_rs::UTF_8,
            None => encoding_rs::WINDOWS_1252,
        };
        Ok(encoding.new_decoder_without_bom_handling())
    }
}

/// Whether `head` is UTF-8, allowing a sequence cut at its end when more follows.
fn looks_utf8(head: &[u8], complete: bool) -> bool {
    match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(err) => !complete && err.error_len().is_none(),
    }
}

impl<R: Read> Read for Utf8Reader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.len() < 4 {
            // encoding_rs needs room for one whole UTF-8 sequence.
            let mut small = [0u8; 4];
            let n = self.read(&mut small)?;
            let n = n.min(out.len());
            out[..n].copy_from_slice(&small[..n]);
            return Ok(n);
        }
        loop {
            if self.finished {
                return Ok(0);
            }
            if self.start == self.end && !self.eof {
                self.fill()?;
            }
            if self.decoder.is_none() {
                let decoder = self.choose()?;
                self.decoder = Some(decoder);
            }
            // At the end of the input, everything left is in `input`.
            let last = self.eof;
            let decoder = self.decoder.as_mut().expect("chosen above");
            let (result, read, written) = decoder.decode_to_utf8_without_replacement(
                &self.input[self.start..self.end],
                out,
                last,
            );
            self.start += read;
            match result {
                DecoderResult::Malformed(_, _) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("the text is not valid {}", decoder.encoding().name()),
                    ))
                }
                DecoderResult::InputEmpty if last => self.finished = true,
                DecoderResult::InputEmpty | DecoderResult::OutputFull => {}
            }
            if written > 0 || self.finished {
                return Ok(written);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(xml: &[u8]) -> Result<Vec<String>> {
        let mut out = Vec::new();
        walk(xml, |event, path| {
            match event {
                Event::Start { name, attributes } => {
                    let v = attribute(attributes, "V").unwrap_or("");
                    out.push(format!("<{name} {v} {}", path.len()));
                }
                Event::End { name } => out.push(format!("</{name}")),
                Event::Text(text) if !text.trim().is_empty() => out.push(text.to_string()),
                Event::Text(_) => {}
            }
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn latin1_is_read_as_text() {
        let xml = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><n:a xmlns:n='x'><b V='sign\xe9'/>caf\xe9 &amp; t&#xE9;</n:a>";
        assert_eq!(
            collect(xml).unwrap(),
            ["<a  1", "<b signé 2", "</b", "café ", "&", " t", "é", "</a"]
        );
    }

    #[test]
    fn undeclared_non_utf8_is_windows_1252() {
        assert_eq!(collect(b"<a>\x80</a>").unwrap(), ["<a  1", "€", "</a"]);
    }

    #[test]
    fn hostile_or_broken_xml_is_refused() {
        for xml in [
            &b"<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>"[..],
            b"<a><b></a>",
            b"<a>&unknown;</a>",
            b"<a/><b/>",
            b"<a>",
            b"",
        ] {
            assert!(collect(xml).is_err(), "{}", String::from_utf8_lossy(xml));
        }
        let deep = "<a>".repeat(MAX_DEPTH + 1);
        assert!(collect(deep.as_bytes()).is_err());
    }

    #[test]
    fn text_crossing_buffer_boundaries_survives() {
        let body = "é".repeat(100_000);
        let xml = format!("<a>{body}</a>");
        let mut text = String::new();
        walk(xml.as_bytes(), |event, _| {
            if let Event::Text(t) = event {
                text.push_str(t);
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(text, body);
    }
}
