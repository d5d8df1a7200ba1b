//! The invoice XML a PDF carries: Factur-X (`factur-x.xml`), ZUGFeRD (`zugferd-invoice.xml`,
//! `ZUGFeRD-invoice.xml`), XRechnung (`xrechnung.xml`), embedded as PDF/A-3 associated files.
//!
//! Read with lopdf: it parses the file without rendering anything, is kept up (its recent releases
//! harden it against crafted PDFs, bound the object graph's depth, and bound decompression), and has
//! no native dependency. It has no helper for attachments, so the walk is ours: the catalog's
//! `/Names /EmbeddedFiles` name tree (with its `/Kids`, bounded in depth and count) and the catalog's
//! `/AF` array, where some producers put the invoice only. A file specification names its file by
//! `/UF` or `/F` and keeps the bytes in `/EF /F` (or `/EF /UF`); streams are decompressed within a
//! bound. The invoice is the file with a known name, else the one XML whose `/AFRelationship` is
//! `Data`, `Source` or `Alternative`.

use anyhow::{anyhow, Result};
use lopdf::{Dictionary, Document, LoadOptions, Object};

/// Largest embedded XML read, decompressed.
const MAX_XML: usize = 32 << 20;
/// Deepest name tree followed, and most file specifications looked at.
const MAX_TREE_DEPTH: usize = 16;
const MAX_SPECS: usize = 1000;

/// Names the invoice XML has in the formats that embed one, lower-cased (ZUGFeRD 1.0 writes
/// `ZUGFeRD-invoice.xml`, 2.0 `zugferd-invoice.xml`).
const KNOWN: [&str; 3] = ["factur-x.xml", "zugferd-invoice.xml", "xrechnung.xml"];

/// An embedded invoice XML.
pub struct Embedded {
    /// Its file name in the PDF.
    pub name: String,
    pub bytes: Vec<u8>,
}

/// The invoice XML `pdf` carries, if it carries one.
pub fn invoice_xml(pdf: &[u8]) -> Result<Option<Embedded>> {
    let options = LoadOptions {
        max_decompressed_size: Some(MAX_XML),
        ..LoadOptions::default()
    };
    let doc = Document::load_mem_with_options(pdf, options)
        .map_err(|err| anyhow!("not a readable PDF: {err}"))?;
    let catalog = doc
        .catalog()
        .map_err(|err| anyhow!("no PDF catalog: {err}"))?;
    let mut specs: Vec<&Dictionary> = Vec::new();
    if let Some(tree) = catalog
        .get_deref(b"Names", &doc)
        .and_then(Object::as_dict)
        .ok()
        .and_then(|names| names.get_deref(b"EmbeddedFiles", &doc).ok())
        .and_then(|tree| tree.as_dict().ok())
    {
        name_tree(&doc, tree, 0, &mut specs);
    }
    if let Ok(associated) = catalog.get_deref(b"AF", &doc).and_then(Object::as_array) {
        for spec in associated.iter().take(MAX_SPECS) {
            if let Ok((_, Object::Dictionary(spec))) = doc.dereference(spec) {
                specs.push(spec);
            }
        }
    }
    let described: Vec<(String, Option<Vec<u8>>, &Dictionary)> = specs
        .iter()
        .filter_map(|spec| {
            let name = ["UF", "F"].iter().find_map(|key| {
                spec.get_deref(key.as_bytes(), &doc)
                    .ok()
                    .and_then(|o| lopdf::decode_text_string(o).ok())
            })?;
            let relationship = spec
                .get_deref(b"AFRelationship", &doc)
                .and_then(Object::as_name)
                .ok()
                .map(<[u8]>::to_vec);
            Some((name, relationship, *spec))
        })
        .collect();
    let chosen = described
        .iter()
        .find(|(name, _, _)| KNOWN.contains(&name.to_lowercase().as_str()))
        .or_else(|| {
            let data: Vec<_> = described
                .iter()
                .filter(|(name, relationship, _)| {
                    name.to_lowercase().ends_with(".xml")
                        && relationship
                            .as_deref()
                            .is_some_and(|r| [&b"Data"[..], b"Source", b"Alternative"].contains(&r))
                })
                .collect();
            match data.as_slice() {
                [one] => Some(*one),
                _ => None,
            }
        });
    let Some((name, _, spec)) = chosen else {
        return Ok(None);
    };
    let files = spec
        .get_deref(b"EF", &doc)
        .and_then(Object::as_dict)
        .map_err(|_| anyhow!("{name} has no embedded stream"))?;
    let stream = ["F", "UF"]
        .iter()
        .find_map(|key| files.get_deref(key.as_bytes(), &doc).ok())
        .and_then(|o| o.as_stream().ok())
        .ok_or_else(|| anyhow!("{name} has no embedded stream"))?;
    let bytes = if stream.dict.has(b"Filter") {
        stream
            .decompressed_content_with_limit(MAX_XML)
            .map_err(|err| anyhow!("cannot expand {name}: {err}"))?
    } else {
        stream.content.clone()
    };
    if bytes.len() > MAX_XML {
        return Err(anyhow!("{name} is larger than {MAX_XML} bytes"));
    }
    Ok(Some(Embedded {
        name: name.clone(),
        bytes,
    }))
}

/// The file specifications of a name tree node and its kids.
fn name_tree<'a>(
    doc: &'a Document,
    node: &'a Dictionary,
    depth: usize,
    out: &mut Vec<&'a Dictionary>,
) {
    if depth > MAX_TREE_DEPTH || out.len() >= MAX_SPECS {
        return;
    }
    if let Ok(names) = node.get_deref(b"Names", doc).and_then(Object::as_array) {
        for value in names.iter().skip(1).step_by(2) {
            if out.len() >= MAX_SPECS {
                return;
            }
            if let Ok((_, Object::Dictionary(spec))) = doc.dereference(value) {
                out.push(spec);
            }
        }
    }
    if let Ok(kids) = node.get_deref(b"Kids", doc).and_then(Object::as_array) {
        for kid in kids {
            if let Ok((_, Object::Dictionary(kid))) = doc.dereference(kid) {
                name_tree(doc, kid, depth + 1, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use lopdf::{dictionary, Stream};

    use super::*;

    /// A PDF whose catalog names one embedded `factur-x.xml` with this content and filter.
    fn pdf_with(content: Vec<u8>, filter: Option<&str>) -> Vec<u8> {
        let mut doc = Document::with_version("1.7");
        let mut dict = dictionary! { "Type" => "EmbeddedFile" };
        if let Some(filter) = filter {
            dict.set("Filter", Object::Name(filter.as_bytes().to_vec()));
        }
        let stream = doc.add_object(Stream::new(dict, content));
        let spec = doc.add_object(dictionary! {
            "Type" => "Filespec",
            "F" => Object::string_literal("factur-x.xml"),
            "EF" => dictionary! { "F" => stream },
        });
        let names = dictionary! {
            "EmbeddedFiles" => dictionary! {
                "Names" => vec![Object::string_literal("factur-x.xml"), spec.into()],
            },
        };
        let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Names" => names });
        doc.trailer.set("Root", catalog);
        let mut out = Vec::new();
        doc.save_to(&mut out).unwrap();
        out
    }

    #[test]
    fn an_embedded_file_is_read_compressed_or_not() {
        let xml = b"<rsm:CrossIndustryInvoice/>".to_vec();
        let plain = invoice_xml(&pdf_with(xml.clone(), None)).unwrap().unwrap();
        assert_eq!(
            (plain.name.as_str(), plain.bytes.as_slice()),
            ("factur-x.xml", &xml[..])
        );
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        zlib.write_all(&xml).unwrap();
        let packed = pdf_with(zlib.finish().unwrap(), Some("FlateDecode"));
        assert_eq!(invoice_xml(&packed).unwrap().unwrap().bytes, xml);
    }

    #[test]
    fn a_decompression_bomb_is_refused_not_expanded() {
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..(MAX_XML >> 20) + 8 {
            zlib.write_all(&zeros).unwrap();
        }
        let bomb = pdf_with(zlib.finish().unwrap(), Some("FlateDecode"));
        assert!(bomb.len() < 1 << 20);
        assert!(invoice_xml(&bomb).is_err());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(invoice_xml(b"%PDF-1.4\nnothing else").is_err());
        assert!(invoice_xml(b"").is_err());
    }
}
