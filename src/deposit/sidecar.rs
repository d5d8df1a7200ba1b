//! Index sidecars: the fields describing a deposited document, in a file beside it.
//!
//! `idx` is EzGED's convention: a file named after the document's base name (`scan.pdf` → `scan.idx`)
//! holding one `FIELD = value` line per field, UTF-8, LF line ends. `json` is one JSON object in
//! `scan.pdf.json`; a field given more than once becomes an array. The sidecar is made durable and
//! renamed into place after its document, so its presence means the document is complete.

use std::fmt::Write as _;

pub use crate::settings::IndexFormat;

/// The sidecar's file name for a document deposited as `document`, or `None` without sidecars.
pub fn sidecar_name(format: IndexFormat, document: &str) -> Option<String> {
    match format {
        IndexFormat::None => None,
        IndexFormat::Idx => {
            let (stem, ext) = crate::names::split_extension(document);
            // A document that is itself an `.idx` keeps its full name, or the two would be one file.
            if ext.is_some_and(|e| e.eq_ignore_ascii_case("idx")) {
                Some(format!("{document}.idx"))
            } else {
                Some(format!("{stem}.idx"))
            }
        }
        IndexFormat::Json => Some(format!("{document}.json")),
    }
}

/// The sidecar's bytes.
pub fn render(format: IndexFormat, fields: &[(String, String)]) -> Vec<u8> {
    match format {
        IndexFormat::None => Vec::new(),
        IndexFormat::Idx => render_idx(fields).into_bytes(),
        IndexFormat::Json => render_json(fields).into_bytes(),
    }
}

fn render_idx(fields: &[(String, String)]) -> String {
    let mut out = String::new();
    for (name, value) in fields {
        let _ = writeln!(out, "{} = {}", idx_field_name(name), one_line(value));
    }
    out
}

/// `original_name` → `ORIGINAL_NAME`; anything but ASCII letters and digits becomes `_`.
fn idx_field_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// A value on one line: line breaks and other controls become spaces, runs of spaces one space.
fn one_line(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        let c = if c.is_control() { ' ' } else { c };
        if c == ' ' && (out.is_empty() || out.ends_with(' ')) {
            continue;
        }
        out.push(c);
    }
    out.trim_end().to_string()
}

fn render_json(fields: &[(String, String)]) -> String {
    // Keep the fields' order (serde_json's `preserve_order`), and turn repeated names into arrays.
    let mut names: Vec<&str> = Vec::new();
    for (name, _) in fields {
        if !names.contains(&name.as_str()) {
            names.push(name);
        }
    }
    let mut object = serde_json::Map::new();
    for name in names {
        let values: Vec<&str> = fields
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect();
        let value = match values.as_slice() {
            [one] => serde_json::Value::from(*one),
            many => serde_json::Value::from(many.to_vec()),
        };
        object.insert(name.to_string(), value);
    }
    let mut text = serde_json::Value::Object(object).to_string();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn idx_lines() {
        let text = render_idx(&fields(&[
            ("original_name", "scan.pdf"),
            ("subject", "Facture\r\n  n° 42 "),
        ]));
        assert_eq!(text, "ORIGINAL_NAME = scan.pdf\nSUBJECT = Facture n° 42\n");
    }

    #[test]
    fn names() {
        assert_eq!(
            sidecar_name(IndexFormat::Idx, "scan.pdf").as_deref(),
            Some("scan.idx")
        );
        assert_eq!(
            sidecar_name(IndexFormat::Idx, "old.idx").as_deref(),
            Some("old.idx.idx")
        );
        assert_eq!(
            sidecar_name(IndexFormat::Json, "scan.pdf").as_deref(),
            Some("scan.pdf.json")
        );
        assert_eq!(sidecar_name(IndexFormat::None, "scan.pdf"), None);
    }

    #[test]
    fn json_keeps_order_and_groups_repeats() {
        let text = render_json(&fields(&[("b", "1"), ("a", "x\"y"), ("b", "2")]));
        assert_eq!(text, "{\"b\":[\"1\",\"2\"],\"a\":\"x\\\"y\"}\n");
    }
}
