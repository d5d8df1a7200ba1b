//! Pastell's metadata files: what its depot (GED) connectors write beside a document's files, and
//! the manifests of its import envelopes, which share the grammar.
//!
//! - XML (`metadata.xml`, `manifest.xml`): `<flux [type]>` holding `<data name value/>` and
//!   `<files name><file content [name_original]/></files>`; `content` is the file's name in the
//!   envelope, `name_original` its original name when Pastell was told to use its own names.
//! - JSON (`metadata.json`): the document's raw data, one object; file fields are arrays of names.
//! - YAML (`metadata.txt`): the same raw data as Symfony's `Yaml::dump` writes it: a flat mapping of
//!   scalars and block lists of scalars. It is read by the strict little parser below rather than a
//!   YAML library: no maintained serde YAML crate remains, a full YAML parser brings anchors and
//!   aliases (the YAML form of an entity bomb) to untrusted input, and the shape Pastell writes is
//!   small. Anything outside that shape is refused with its line number.
//!
//! Keys come out as `pastell_<key>` fields, and the keys the GED cares about (acte nature, number,
//! invoice id, …) also under the envelope type's own field names.

use std::collections::BTreeSet;

use anyhow::{anyhow, Result};

use super::bundle::{Analysis, Class, File};
use super::{actes, xml, Kind};

/// Largest metadata file read, in bytes.
const MAX_METADATA_BYTES: u64 = 16 << 20;

#[derive(Debug, Clone)]
pub struct Metadata {
    /// The metadata file's own name in the envelope.
    pub file: String,
    /// `<flux type="…">` of import manifests (`actes-automatique`, `helios-generique`).
    pub flux_type: Option<String>,
    pub data: Vec<(String, String)>,
    pub files: Vec<Reference>,
}

/// A file the metadata lists under one of its file fields.
#[derive(Debug, Clone)]
pub struct Reference {
    /// The Pastell field (`arrete`, `fichier_pes`, …).
    pub field: String,
    /// The file's name in the envelope.
    pub name: String,
    /// Its original name, when it differs.
    pub original: Option<String>,
}

impl Metadata {
    pub fn reference(&self, name: &str) -> Option<&Reference> {
        self.files.iter().find(|r| r.name == name)
    }

    fn value(&self, key: &str) -> Option<String> {
        self.data
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }

    /// The envelope type this metadata declares, by its flux type or its keys.
    pub fn kind(&self) -> Option<Kind> {
        if let Some(flux) = &self.flux_type {
            let flux = flux.to_lowercase();
            if flux.starts_with("actes") {
                return Some(Kind::ActeNature);
            }
            if flux.contains("helios") || flux.contains("pes") {
                return Some(Kind::Helios);
            }
            if flux.contains("facture") || flux.contains("cpp") || flux.contains("chorus") {
                return Some(Kind::ChorusFact);
            }
        }
        let has = |key: &str| {
            self.data.iter().any(|(k, _)| k == key) || self.files.iter().any(|r| r.field == key)
        };
        if has("acte_nature") || has("numero_de_lacte") {
            Some(Kind::ActeNature)
        } else if has("fichier_pes") {
            Some(Kind::Helios)
        } else if has("id_facture_cpp") {
            Some(Kind::ChorusFact)
        } else {
            None
        }
    }

    /// Names of the files it lists.
    pub fn named_files(&self) -> Vec<String> {
        self.files.iter().map(|r| r.name.clone()).collect()
    }
}

/// Reads a metadata file of class `class`; `Ok(None)` when a JSON file turns out to be something
/// else (a JSON document that merely sits in the envelope). `names`: the envelope's file names,
/// which tell file fields from data in JSON and YAML.
pub fn read(file: &File, class: &Class, names: &BTreeSet<String>) -> Result<Option<Metadata>> {
    let bytes = file.bytes(MAX_METADATA_BYTES)?;
    let name = file.name().to_string();
    match class {
        Class::Flux => from_xml(&name, &bytes).map(Some),
        Class::Json => from_json(&name, &bytes, names),
        Class::Yaml => {
            let text = std::str::from_utf8(&bytes)
                .map_err(|_| anyhow!("the YAML metadata is not UTF-8"))?;
            let pairs = parse_yaml(text)?;
            Ok(Some(from_pairs(&name, pairs, names)))
        }
        _ => Ok(None),
    }
}

pub fn from_xml(name: &str, bytes: &[u8]) -> Result<Metadata> {
    let text = xml::decode(bytes)?;
    let doc = xml::parse(&text)?;
    let root = doc.root_element();
    let mut metadata = Metadata {
        file: name.to_string(),
        flux_type: xml::attr(root, "type").map(str::to_string),
        data: Vec::new(),
        files: Vec::new(),
    };
    for node in root.children().filter(|n| n.is_element()) {
        match node.tag_name().name() {
            "data" => {
                let key = node.attribute("name").unwrap_or_default().to_string();
                let value = node.attribute("value").unwrap_or_default().to_string();
                if !key.is_empty() {
                    metadata.data.push((key, value));
                }
            }
            "files" => {
                let field = node.attribute("name").unwrap_or_default().to_string();
                for file in node.children().filter(|n| n.has_tag_name("file")) {
                    let Some(content) = file.attribute("content").filter(|c| !c.is_empty()) else {
                        continue;
                    };
                    metadata.files.push(Reference {
                        field: field.clone(),
                        name: content.to_string(),
                        original: file
                            .attribute("name_original")
                            .filter(|o| !o.is_empty() && *o != content)
                            .map(str::to_string),
                    });
                }
            }
            // `<param>` only steers Pastell's own import (send automatically, …).
            _ => {}
        }
    }
    Ok(metadata)
}

fn from_json(name: &str, bytes: &[u8], names: &BTreeSet<String>) -> Result<Option<Metadata>> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|err| anyhow!("invalid JSON metadata: {err}"))?;
    let serde_json::Value::Object(object) = value else {
        return Ok(None);
    };
    let pairs = object
        .into_iter()
        .map(|(key, value)| {
            let value = match value {
                serde_json::Value::String(s) => Value::Scalar(s),
                serde_json::Value::Null => Value::Scalar(String::new()),
                serde_json::Value::Array(items) if items.iter().all(|i| i.is_string()) => {
                    Value::List(
                        items
                            .into_iter()
                            .filter_map(|i| i.as_str().map(str::to_string))
                            .collect(),
                    )
                }
                other => Value::Scalar(other.to_string()),
            };
            (key, value)
        })
        .collect();
    let metadata = from_pairs(name, pairs, names);
    // A JSON file named otherwise and naming no file of the envelope is a document, not metadata.
    if !name.to_lowercase().starts_with("metadata") && metadata.files.is_empty() {
        return Ok(None);
    }
    Ok(Some(metadata))
}

/// Raw data to metadata: a list whose items are all files of the envelope, or look like file names
/// (files that have not arrived yet, for loose files), is a file field.
fn from_pairs(name: &str, pairs: Vec<(String, Value)>, names: &BTreeSet<String>) -> Metadata {
    let mut metadata = Metadata {
        file: name.to_string(),
        flux_type: None,
        data: Vec::new(),
        files: Vec::new(),
    };
    for (key, value) in pairs {
        match value {
            Value::List(items)
                if !items.is_empty()
                    && items
                        .iter()
                        .all(|i| names.contains(i) || looks_like_file_name(i)) =>
            {
                for item in items {
                    metadata.files.push(Reference {
                        field: key.clone(),
                        name: item,
                        original: None,
                    });
                }
            }
            Value::List(items) => metadata.data.push((key, items.join(", "))),
            Value::Scalar(value) => metadata.data.push((key, value)),
        }
    }
    metadata
}

/// Whether `text` reads as the name of a file Pastell wrote: a stem and a short extension with a
/// letter (`arrete.pdf`, `annexe 2.odt`), no path, no address. Pastell's raw data holds file fields
/// and plain values side by side; a file field must be recognised before its files are there.
pub fn looks_like_file_name(text: &str) -> bool {
    if text.contains(['/', '\\', '@']) || text.starts_with('.') || text.trim() != text {
        return false;
    }
    let Some((stem, extension)) = text.rsplit_once('.') else {
        return false;
    };
    !stem.is_empty()
        && (1..=5).contains(&extension.len())
        && extension.bytes().all(|b| b.is_ascii_alphanumeric())
        && extension.bytes().any(|b| b.is_ascii_alphabetic())
}

/// Puts the metadata's fields into `analysis`: the type's own field names first, then every key
/// as `pastell_<key>`.
pub fn apply(metadata: &Metadata, kind: Option<Kind>, analysis: &mut Analysis) {
    let get = |key: &str| metadata.value(key);
    let fields = &mut analysis.shared;
    match kind {
        Some(Kind::ActeNature) => {
            if let Some(code) = get("acte_nature") {
                fields.put("acte_nature_code", Some(code.clone()));
                fields.put(
                    "acte_nature",
                    actes::nature_label(&code).map(str::to_string),
                );
            }
            fields.put("acte_number", get("numero_de_lacte"));
            fields.put("acte_date", get("date_de_lacte"));
            fields.put("acte_object", get("objet"));
            fields.put("acte_classification", get("classification"));
        }
        Some(Kind::Helios) => fields.put("pes_object", get("objet")),
        Some(Kind::ChorusFact) => {
            fields.put("chorus_invoice_id", get("id_facture_cpp"));
            fields.put("invoice_number", get("no_facture"));
            fields.put("invoice_status", get("statut_cpp"));
            fields.put("supplier_id", get("fournisseur"));
            fields.put("debtor_siret", get("siret"));
            fields.put("debtor_service", get("service_destinataire"));
        }
        None => fields.put("object", get("objet")),
    }
    if let Some(flux) = &metadata.flux_type {
        fields.put("pastell_flux", Some(flux.clone()));
    }
    for (key, value) in &metadata.data {
        fields.put(&format!("pastell_{}", snake(key)), Some(value.clone()));
    }
}

/// The role of a file from the Pastell field that lists it.
pub fn role_of(field: &str, kind: Option<Kind>) -> &'static str {
    match field {
        "arrete" | "acte" | "acte_tamponne" => "acte",
        "autre_document_attache" | "annexe" | "annexes" | "annexes_tamponnees" => "annexe",
        "aractes" | "ar_actes" => "ar_acte",
        "bordereau" => "bordereau",
        "fichier_pes" => "pes",
        "visuel_pdf" => "visuel",
        "fichier_reponse" => "acquit",
        "fichier_facture" | "fichier_facture_pdf" | "facture" => "facture",
        _ if kind == Some(Kind::ChorusFact) => "pj",
        _ => "document",
    }
}

/// `Numéro de l'acte` → `num_ro_de_l_acte`: lower snake case of ASCII letters and digits.
pub fn snake(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for c in key.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches('_').to_string()
}

#[derive(Debug, PartialEq)]
enum Value {
    Scalar(String),
    List(Vec<String>),
}

/// Parses the flat YAML that Symfony's `Yaml::dump` writes for Pastell's raw data.
fn parse_yaml(text: &str) -> Result<Vec<(String, Value)>> {
    let mut pairs: Vec<(String, Value)> = Vec::new();
    // The key whose block list is being read, if the last key had no inline value.
    let mut open_list = false;
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        let fail = |what: &str| anyhow!("line {number} of the YAML metadata: {what}");
        let line = raw.trim_end();
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || (index == 0 && trimmed == "---") {
            continue;
        }
        let indented = line.len() != trimmed.len();
        if indented {
            let Some(item) = trimmed
                .strip_prefix("- ")
                .or((trimmed == "-").then_some(""))
            else {
                return Err(fail("nested mappings are not part of Pastell's metadata"));
            };
            if !open_list {
                return Err(fail("a list item without its key"));
            }
            let item = scalar(item).map_err(|e| fail(&e))?;
            if let Some((_, Value::List(items))) = pairs.last_mut() {
                items.push(item);
            }
            continue;
        }
        let (key, rest) = split_key(trimmed).map_err(|e| fail(&e))?;
        let rest = rest.trim();
        if rest.is_empty() {
            pairs.push((key, Value::List(Vec::new())));
            open_list = true;
            continue;
        }
        open_list = false;
        let value = if rest.starts_with('[') {
            Value::List(inline_list(rest).map_err(|e| fail(&e))?)
        } else if rest.starts_with('{') {
            if rest
                .trim_start_matches('{')
                .trim_end_matches('}')
                .trim()
                .is_empty()
            {
                Value::List(Vec::new())
            } else {
                return Err(fail("inline mappings are not part of Pastell's metadata"));
            }
        } else {
            Value::Scalar(scalar(rest).map_err(|e| fail(&e))?)
        };
        pairs.push((key, value));
    }
    Ok(pairs)
}

/// `key: rest` → (key, rest); keys may be quoted.
fn split_key(line: &str) -> Result<(String, &str), String> {
    if line.starts_with(['\'', '"']) {
        let (key, used) = quoted(line)?;
        let rest = line[used..]
            .strip_prefix(':')
            .ok_or("a quoted key must be followed by ':'")?;
        return Ok((key, rest));
    }
    let at = line
        .find(": ")
        .or_else(|| line.ends_with(':').then(|| line.len() - 1))
        .ok_or("expected \"key: value\"")?;
    let key = line[..at].trim();
    if key.is_empty() || key.starts_with(['&', '*', '!', '?', '-', '[', '{', '|', '>']) {
        return Err(format!("unsupported key {key:?}"));
    }
    Ok((key.to_string(), &line[at + 1..]))
}

/// One scalar: plain, 'single-quoted' or "double-quoted"; `~` and `null` are empty.
fn scalar(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.starts_with(['\'', '"']) {
        let (value, used) = quoted(text)?;
        let rest = text[used..].trim();
        if !(rest.is_empty() || rest.starts_with('#')) {
            return Err("text after a quoted value".into());
        }
        return Ok(value);
    }
    if text.starts_with(['&', '*', '!', '|', '>', '%', '@', '`']) {
        return Err(format!(
            "{:?} starts an anchor, alias, tag or block scalar, which Pastell never writes",
            text
        ));
    }
    // A plain scalar ends at a comment.
    let text = match text.find(" #") {
        Some(at) => text[..at].trim_end(),
        None => text,
    };
    Ok(match text {
        "~" | "null" | "NULL" | "Null" => String::new(),
        _ => text.to_string(),
    })
}

/// A quoted scalar at the start of `text`: its value and the bytes it used.
fn quoted(text: &str) -> Result<(String, usize), String> {
    let mut chars = text.char_indices();
    let (_, quote) = chars.next().ok_or("empty value")?;
    let mut out = String::new();
    while let Some((at, c)) = chars.next() {
        match (quote, c) {
            ('\'', '\'') => {
                if text[at + 1..].starts_with('\'') {
                    chars.next();
                    out.push('\'');
                } else {
                    return Ok((out, at + 1));
                }
            }
            ('"', '"') => return Ok((out, at + 1)),
            ('"', '\\') => {
                let (_, escape) = chars.next().ok_or("unfinished escape")?;
                let hex = |n: usize, chars: &mut std::str::CharIndices| -> Result<char, String> {
                    let digits: String = chars.by_ref().take(n).map(|(_, c)| c).collect();
                    u32::from_str_radix(&digits, 16)
                        .ok()
                        .and_then(char::from_u32)
                        .ok_or_else(|| format!("bad escape \\{escape}{digits}"))
                };
                out.push(match escape {
                    '0' => '\0',
                    'a' => '\x07',
                    'b' => '\x08',
                    't' | '\t' => '\t',
                    'n' => '\n',
                    'v' => '\x0b',
                    'f' => '\x0c',
                    'r' => '\r',
                    'e' => '\x1b',
                    ' ' => ' ',
                    '"' => '"',
                    '/' => '/',
                    '\\' => '\\',
                    'N' => '\u{85}',
                    '_' => '\u{a0}',
                    'L' => '\u{2028}',
                    'P' => '\u{2029}',
                    'x' => hex(2, &mut chars)?,
                    'u' => hex(4, &mut chars)?,
                    'U' => hex(8, &mut chars)?,
                    other => return Err(format!("unknown escape \\{other}")),
                });
            }
            (_, c) => out.push(c),
        }
    }
    Err("unterminated quoted value".into())
}

/// `[a, 'b', "c"]`: an inline list of scalars, as Symfony writes lists nested deeper.
fn inline_list(text: &str) -> Result<Vec<String>, String> {
    let inner = text
        .strip_prefix('[')
        .and_then(|t| t.trim_end().strip_suffix(']'))
        .ok_or("unterminated inline list")?;
    let mut items = Vec::new();
    let mut rest = inner.trim();
    while !rest.is_empty() {
        let (item, used) = if rest.starts_with(['\'', '"']) {
            quoted(rest)?
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            if rest[..end].contains(['[', '{']) {
                return Err("nested lists are not part of Pastell's metadata".into());
            }
            (scalar(&rest[..end])?, end)
        };
        items.push(item);
        rest = rest[used..].trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_as_pastell_writes_it() {
        let text = "fichier:\n    - foo.txt\n    - 'b''ar.txt'\ntoto: 'Titre de mon document'\n\
                    prenom: Eric\nvide: null\nn: \"a\\tb\\u00e9\"\nl: [x, 'y']\ne: {  }\n";
        let pairs = parse_yaml(text).unwrap();
        assert_eq!(
            pairs,
            vec![
                (
                    "fichier".into(),
                    Value::List(vec!["foo.txt".into(), "b'ar.txt".into()])
                ),
                ("toto".into(), Value::Scalar("Titre de mon document".into())),
                ("prenom".into(), Value::Scalar("Eric".into())),
                ("vide".into(), Value::Scalar(String::new())),
                ("n".into(), Value::Scalar("a\tbé".into())),
                ("l".into(), Value::List(vec!["x".into(), "y".into()])),
                ("e".into(), Value::List(vec![])),
            ]
        );
    }

    #[test]
    fn yaml_outside_pastells_shape_is_refused() {
        for text in [
            "a: &x 1\nb: *x\n",
            "a: !!binary abc\n",
            "a:\n    b: c\n",
            "a: |\n    text\n",
            "- item\n",
            "a: 'unterminated\n",
            "a: {b: c}\n",
        ] {
            assert!(parse_yaml(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn file_names_are_told_from_values() {
        for name in [
            "foo.txt",
            "Délibération n°3.pdf",
            "annexe 2.odt",
            "a.tar.gz",
            "x.PDF",
        ] {
            assert!(looks_like_file_name(name), "{name}");
        }
        for value in [
            "3.2",
            "v1.0",
            "contact@mairie.fr",
            "dossier/a.pdf",
            ".hidden",
            "Titre de mon document",
            "2024-01-02",
            "a.verylongext",
            " a.pdf",
        ] {
            assert!(!looks_like_file_name(value), "{value}");
        }
    }

    #[test]
    fn keys_become_snake_case() {
        assert_eq!(snake("Numéro de l'acte"), "num_ro_de_l_acte");
        assert_eq!(snake("acte_nature"), "acte_nature");
    }
}
