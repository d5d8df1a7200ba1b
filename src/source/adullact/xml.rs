//! XML as envelopes carry it: bytes in UTF-8 or ISO-8859-1 turned into text, parsed without DTDs,
//! and a few helpers to read the documents of Adullact's formats, whose values sit in attributes
//! (`<IdColl V="…"/>`, `actes:Date="…"`) as often as in text.
//!
//! Hostile XML: a DOCTYPE is refused outright, before parsing (envelopes never carry one, and a DTD
//! is where entity bombs and external entities live); roxmltree refuses DTDs too, never fetches
//! anything, and a node limit bounds memory.

use std::borrow::Cow;

use anyhow::{anyhow, bail, Result};
use roxmltree::{Document, Node, ParsingOptions};

/// Largest XML file parsed, in bytes. A PES with its embedded attachments can be large; a tree of
/// this size still fits in memory comfortably.
pub const MAX_XML_BYTES: u64 = 512 << 20;

/// Most nodes in one XML document.
const MAX_NODES: u32 = 20_000_000;

/// The text of an XML file, decoded by its byte order mark or its `encoding="…"` declaration.
/// Without either, XML is UTF-8; bytes that are not are read as Windows-1252, which is what a
/// producer that forgot its declaration usually wrote. ISO-8859-1 is read as Windows-1252 too, as
/// browsers do: the two differ only on 0x80–0x9F, which are invisible controls in ISO-8859-1 and
/// `€`, `œ`, `’`… in what such files really hold.
pub fn decode(bytes: &[u8]) -> Result<Cow<'_, str>> {
    if let Some((encoding, _)) = encoding_rs::Encoding::for_bom(bytes) {
        let (text, _) = encoding.decode_with_bom_removal(bytes);
        return Ok(text);
    }
    match declared_encoding(bytes) {
        Some(label) => {
            let encoding = encoding_rs::Encoding::for_label(label.as_bytes())
                .ok_or_else(|| anyhow!("unknown character encoding {label:?}"))?;
            let (text, _, had_errors) = encoding.decode(bytes);
            if had_errors {
                bail!("the text is not valid {}", encoding.name());
            }
            Ok(text)
        }
        None => match std::str::from_utf8(bytes) {
            Ok(text) => Ok(Cow::Borrowed(text)),
            Err(_) => Ok(encoding_rs::WINDOWS_1252.decode(bytes).0),
        },
    }
}

/// The `encoding` of an `<?xml …?>` declaration, if there is one.
pub(super) fn declared_encoding(bytes: &[u8]) -> Option<String> {
    let head = &bytes[..bytes.len().min(200)];
    let head = String::from_utf8_lossy(head);
    let decl = head.trim_start().strip_prefix("<?xml")?;
    let decl = &decl[..decl.find("?>")?];
    let at = decl.find("encoding")?;
    let rest = decl[at + "encoding".len()..]
        .trim_start()
        .strip_prefix('=')?;
    let rest = rest.trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value = &rest[1..];
    Some(value[..value.find(quote)?].to_string())
}

/// Parses XML text, refusing any DOCTYPE.
pub fn parse(text: &str) -> Result<Document<'_>> {
    if has_doctype(text) {
        bail!(
            "the XML declares a DOCTYPE (DTD); refused, since envelopes never carry one and DTDs \
             are how entity attacks work"
        );
    }
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
        ..ParsingOptions::default()
    };
    Document::parse_with_options(text, options).map_err(|err| anyhow!("invalid XML: {err}"))
}

/// Whether the prolog (everything before the root element) holds a `<!DOCTYPE`.
fn has_doctype(text: &str) -> bool {
    let mut rest = text;
    loop {
        let Some(at) = rest.find('<') else {
            return false;
        };
        rest = &rest[at..];
        if rest.starts_with("<?") {
            match rest.find("?>") {
                Some(end) => rest = &rest[end + 2..],
                None => return false,
            }
        } else if rest.starts_with("<!--") {
            match rest.find("-->") {
                Some(end) => rest = &rest[end + 3..],
                None => return false,
            }
        } else {
            return rest
                .get(..9)
                .is_some_and(|s| s.eq_ignore_ascii_case("<!DOCTYPE"));
        }
    }
}

/// The local name of the root element, read from the first bytes of a file without parsing it
/// whole; enough to tell an ACTES message from a PES file or a Pastell manifest. `None` when the
/// bytes do not look like XML.
pub fn sniff_root(head: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(head);
    let mut rest = text.trim_start_matches('\u{feff}').trim_start();
    if !rest.starts_with('<') {
        return None;
    }
    loop {
        let at = rest.find('<')?;
        rest = &rest[at..];
        if rest.starts_with("<?") {
            rest = &rest[rest.find("?>")? + 2..];
        } else if rest.starts_with("<!--") {
            rest = &rest[rest.find("-->")? + 3..];
        } else if rest.starts_with("<!") {
            rest = &rest[rest.find('>')? + 1..];
        } else {
            let name: String = rest[1..]
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '>' && *c != '/')
                .collect();
            let local = name.rsplit(':').next().unwrap_or(&name).to_string();
            return (!local.is_empty()).then_some(local);
        }
    }
}

/// An attribute by its local name, whatever its namespace (`actes:Date` and `Date` alike).
pub fn attr<'a>(node: Node<'a, '_>, local: &str) -> Option<&'a str> {
    node.attributes()
        .find(|a| a.name() == local)
        .map(|a| a.value())
        .filter(|v| !v.trim().is_empty())
}

/// The first child element with this local name.
pub fn child<'a, 'i>(node: Node<'a, 'i>, local: &str) -> Option<Node<'a, 'i>> {
    node.children()
        .find(|n| n.is_element() && n.tag_name().name() == local)
}

/// The element at this path of local names below `node`.
pub fn path<'a, 'i>(node: Node<'a, 'i>, names: &[&str]) -> Option<Node<'a, 'i>> {
    names.iter().try_fold(node, |node, name| child(node, name))
}

/// The trimmed text of the element at `names` below `node`, if not empty.
pub fn text_at(node: Node<'_, '_>, names: &[&str]) -> Option<String> {
    path(node, names).and_then(text)
}

/// The trimmed text of an element, if not empty.
pub fn text(node: Node<'_, '_>) -> Option<String> {
    let text: String = node
        .descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect();
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// Every element below `node` with this local name.
pub fn all<'a, 'i>(node: Node<'a, 'i>, local: &'a str) -> impl Iterator<Item = Node<'a, 'i>> + 'a
where
    'i: 'a,
{
    node.descendants()
        .filter(move |n| n.is_element() && n.tag_name().name() == local)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin1_declared_is_decoded() {
        let bytes = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>sign\xe9</a>";
        let text = decode(bytes).unwrap();
        let doc = parse(&text).unwrap();
        assert_eq!(text_at(doc.root(), &["a"]).as_deref(), Some("signé"));
    }

    #[test]
    fn undeclared_non_utf8_falls_back_to_windows_1252() {
        assert_eq!(decode(b"<a>\x80</a>").unwrap(), "<a>€</a>");
        assert_eq!(decode("<a>é</a>".as_bytes()).unwrap(), "<a>é</a>");
    }

    #[test]
    fn doctype_is_refused_even_empty() {
        for xml in [
            "<!DOCTYPE a><a/>",
            "<?xml version=\"1.0\"?>\n<!-- c --><!doctype a [<!ENTITY x \"y\">]><a>&x;</a>",
        ] {
            let err = parse(xml).unwrap_err();
            assert!(format!("{err}").contains("DOCTYPE"), "{xml}");
        }
        assert!(parse("<a>&unknown;</a>").is_err());
    }

    #[test]
    fn root_is_sniffed() {
        let head = b"\xef\xbb\xbf<?xml version='1.0'?>\n<!-- x -->\n<n:PES_Aller xmlns:n='u'>";
        assert_eq!(sniff_root(head).as_deref(), Some("PES_Aller"));
        assert_eq!(sniff_root(b"<flux type='x'>").as_deref(), Some("flux"));
        assert_eq!(sniff_root(b"%PDF-1.4"), None);
    }
}
