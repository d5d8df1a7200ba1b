//! One envelope's files, whatever they came in (a folder, an archive, loose files), and their
//! decoding into documents with index fields.
//!
//! Decoding is the same for every container: recognise each file (Pastell metadata, ACTES message,
//! PES file, Chorus Pro flow, plain document) from its first bytes, tell the envelope's type from
//! what is there, let the type's decoder read its XML into fields and roles, check that the files
//! the XML names are there, and make one document per file, plus the attachments a Chorus flow
//! carries inside itself. Every document gets the envelope's fields and its own (`role`,
//! `original_name`, …), and the same `group_id` as the other documents of its acte, PES or invoice,
//! so that the GED can gather them.

use std::collections::{BTreeSet, HashMap};
use std::fs::File as FsFile;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::{actes, chorus, helios, invoice, pastell, xml, Kind};
use crate::extract::archive::{Budget, Data};
use crate::item::{Content, Document};

/// How much of a file is read to recognise it.
const SNIFF_BYTES: usize = 4096;

/// The files of one envelope.
pub struct Bundle {
    /// The envelope's name: its folder, archive or main file.
    pub name: String,
    /// A stable identity of the envelope, used as its group when its content offers none.
    pub identity: String,
    pub files: Vec<File>,
}

pub struct File {
    /// Path inside the envelope, `/`-separated (just the name, but in archives with folders).
    pub path: String,
    pub body: Body,
}

pub enum Body {
    /// A file in the source folder, copied into the COLD folder.
    Disk { path: PathBuf },
    /// A piece of an archive, in memory or in a temporary file.
    Piece(Data),
}

impl File {
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }

    fn head(&self) -> Result<Vec<u8>> {
        let path: &Path = match &self.body {
            Body::Disk { path } => path,
            Body::Piece(Data::Temp(temp)) => temp,
            Body::Piece(Data::Bytes(bytes)) => {
                return Ok(bytes[..bytes.len().min(SNIFF_BYTES)].to_vec())
            }
        };
        let mut head = Vec::with_capacity(SNIFF_BYTES);
        FsFile::open(path)
            .and_then(|f| f.take(SNIFF_BYTES as u64).read_to_end(&mut head))
            .with_context(|| format!("cannot read {}", path.display()))?;
        Ok(head)
    }

    /// The content as a stream.
    pub fn reader(&self) -> Result<Box<dyn Read + '_>> {
        let path: &Path = match &self.body {
            Body::Disk { path } => path,
            Body::Piece(Data::Temp(temp)) => temp,
            Body::Piece(Data::Bytes(bytes)) => return Ok(Box::new(bytes.as_slice())),
        };
        let file = FsFile::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        Ok(Box::new(std::io::BufReader::new(file)))
    }

    /// The whole content, refusing files over `max` bytes.
    pub fn bytes(&self, max: u64) -> Result<Vec<u8>> {
        match &self.body {
            Body::Disk { path } => {
                let len = std::fs::metadata(path)
                    .with_context(|| format!("cannot read {}", path.display()))?
                    .len();
                if len > max {
                    bail!("is larger than {max} bytes");
                }
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
            }
            Body::Piece(data) => data.to_vec(max),
        }
    }

    fn into_content(self) -> Content {
        match self.body {
            Body::Disk { path } => Content::File {
                path,
                movable: false,
            },
            Body::Piece(Data::Bytes(bytes)) => Content::Bytes(bytes),
            Body::Piece(Data::Temp(temp)) => Content::Temp(temp),
        }
    }
}

/// What a file is, from its first bytes and its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Class {
    /// A Pastell metadata file or import manifest in XML (`<flux>`).
    Flux,
    /// A Pastell metadata file in JSON.
    Json,
    /// A Pastell metadata file in YAML (`metadata.txt`).
    Yaml,
    /// An ACTES message (root element's local name).
    Actes(String),
    /// A PES V2 file (root element's local name).
    Pes(String),
    /// A Chorus Pro flow (root element's local name).
    Chorus(String),
    /// An invoice in an EN 16931 syntax, CII or UBL (root element's local name).
    Invoice(String),
    /// Anything else: a document.
    Other,
}

impl Class {
    fn kind(&self) -> Option<Kind> {
        match self {
            Class::Actes(_) => Some(Kind::ActeNature),
            Class::Pes(_) => Some(Kind::Helios),
            Class::Chorus(_) | Class::Invoice(_) => Some(Kind::ChorusFact),
            _ => None,
        }
    }
}

/// Recognises a file from its name and first bytes.
pub fn classify(name: &str, head: &[u8]) -> Class {
    let lower = name.to_lowercase();
    if let Some(root) = xml::sniff_root(head) {
        let text = String::from_utf8_lossy(head);
        if root == "flux" {
            return Class::Flux;
        }
        if text.contains("interieur.gouv.fr/ACTES") || actes::is_root(&root) {
            return Class::Actes(root);
        }
        if root.starts_with("PES_") {
            return Class::Pes(root);
        }
        if matches!(
            root.as_str(),
            "CPPFacturePivot" | "CPPFactureMixte" | "CPPStatut"
        ) {
            return Class::Chorus(root);
        }
        if invoice::is_invoice_root(&root, &text) {
            return Class::Invoice(root);
        }
        return Class::Other;
    }
    if lower.ends_with(".json") && head.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        return Class::Json;
    }
    // Pastell writes its YAML as `metadata.txt` (or a name of the administrator's choosing).
    if lower.starts_with("metadata")
        && (lower.ends_with(".txt") || lower.ends_with(".yml") || lower.ends_with(".yaml"))
    {
        return Class::Yaml;
    }
    Class::Other
}

/// Recognises a file of the bundle.
pub fn classify_file(file: &File) -> Result<Class> {
    Ok(classify(file.name(), &file.head()?))
}

/// Index fields in order; the first value given for a name wins, empty values are dropped.
#[derive(Debug, Default, Clone)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    pub fn put(&mut self, name: &str, value: Option<String>) {
        let Some(value) = value else { return };
        let value = value.trim();
        if value.is_empty() || self.get(name).is_some() {
            return;
        }
        self.0.push((name.to_string(), value.to_string()));
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn extend(&mut self, other: &Fields) {
        for (name, value) in &other.0 {
            self.put(name, Some(value.clone()));
        }
    }
}

/// What decoders learn about an envelope.
///
/// Fields belong to the document they describe: a message's fields go to the message itself and to
/// the files it carries (`own`), never to a neighbour it merely shares an envelope with (the
/// acquittement of a PES keeps its own date, the PES its own bordereaux). What the envelope as a
/// whole says (its Pastell metadata, the acte all its messages are about) is `shared`.
#[derive(Default)]
pub struct Analysis {
    /// Fields every document of the envelope gets, after its own.
    pub shared: Fields,
    /// Each file's own fields, by file name.
    pub own: HashMap<String, Fields>,
    /// Fields for the documents no message describes (a file beside the envelope's only invoice).
    pub fallback: Option<Fields>,
    /// A file's role (`acte`, `annexe`, `pes`, …), by file name.
    pub roles: HashMap<String, &'static str>,
    /// Files an XML names and that must be in the envelope: (name, named by).
    pub required: Vec<(String, String)>,
    /// The identifier shared by the envelope's documents, when its content gives one.
    pub group_id: Option<String>,
    /// Documents made from the content of files (Chorus and PES attachments), with their own fields.
    pub extra: Vec<Document>,
}

impl Analysis {
    /// Gives `name` a role unless it has one.
    pub fn role(&mut self, name: &str, role: &'static str) {
        self.roles.entry(name.to_string()).or_insert(role);
    }

    /// Adds `fields` to the fields of file `name` (those it has already win).
    pub fn describe(&mut self, name: &str, fields: &Fields) {
        self.own.entry(name.to_string()).or_default().extend(fields);
    }
}

/// Decodes `bundle` into documents. `wanted`: the type `--type` demands, if any.
pub fn decode(bundle: Bundle, wanted: Option<Kind>, budget: &mut Budget) -> Result<Vec<Document>> {
    let classes = bundle
        .files
        .iter()
        .map(|file| within(classify_file(file), &bundle, file))
        .collect::<Result<Vec<Class>>>()?;
    let names: BTreeSet<String> = bundle.files.iter().map(|f| f.name().to_string()).collect();

    // Pastell's metadata, if the envelope has some.
    let mut metadata: Option<pastell::Metadata> = None;
    for (file, class) in bundle.files.iter().zip(&classes) {
        let found = match class {
            Class::Flux | Class::Json | Class::Yaml => {
                within(pastell::read(file, class, &names), &bundle, file)?
            }
            _ => None,
        };
        if let Some(found) = found {
            if let Some(first) = &metadata {
                bail!(
                    "holds two Pastell metadata files, {} and {}; which one describes the \
                     envelope is unclear",
                    first.file,
                    found.file
                );
            }
            metadata = Some(found);
        }
    }

    let kind = envelope_kind(&classes, metadata.as_ref(), wanted)?;
    let mut analysis = Analysis::default();
    for (file, class) in bundle.files.iter().zip(&classes) {
        let read = match class {
            Class::Actes(_) => actes::read(file, &mut analysis),
            Class::Pes(_) => helios::read(file, &mut analysis, budget),
            Class::Chorus(_) => chorus::read(file, &mut analysis, budget),
            Class::Invoice(_) => {
                analysis.role(file.name(), "facture");
                Ok(())
            }
            _ => Ok(()),
        };
        within(read, &bundle, file)?;
    }
    if let Some(metadata) = &metadata {
        pastell::apply(metadata, kind, &mut analysis);
        // What the metadata lists is the document's: an envelope without it is incomplete.
        for reference in &metadata.files {
            analysis
                .required
                .push((reference.name.clone(), metadata.file.clone()));
        }
    }
    match kind {
        Some(Kind::ActeNature) => actes::finish(&mut analysis, &names),
        Some(Kind::Helios) => helios::finish(&mut analysis, &names),
        Some(Kind::ChorusFact) | None => {}
    }
    for (name, by) in &analysis.required {
        if !names.contains(name) {
            bail!("{by} names {name}, which the envelope does not hold; it is incomplete");
        }
    }

    let group_id = analysis.group_id.clone().unwrap_or_else(|| {
        format!(
            "{}-{}",
            stem(&bundle.name),
            crate::names::short_tag(&bundle.identity)
        )
    });
    let mut head = Fields::default();
    head.put(
        "envelope_type",
        Some(kind.map_or("generic", Kind::as_str).into()),
    );
    head.put("envelope", Some(bundle.name.clone()));
    head.put("group_id", Some(group_id));

    let mut documents = Vec::with_capacity(bundle.files.len() + analysis.extra.len());
    for file in bundle.files {
        let name = file.name().to_string();
        let reference = metadata.as_ref().and_then(|m| m.reference(&name));
        let role = analysis
            .roles
            .get(&name)
            .copied()
            .or_else(|| reference.map(|r| pastell::role_of(&r.field, kind)))
            .or_else(|| {
                metadata
                    .as_ref()
                    .filter(|m| m.file == name)
                    .map(|_| "metadata")
            })
            .unwrap_or("document");
        let original = reference
            .and_then(|r| r.original.clone())
            .unwrap_or_else(|| name.clone());
        let mut fields = head.clone();
        fields.put("role", Some(role.into()));
        fields.put("original_name", Some(original.clone()));
        if file.path != name {
            fields.put("envelope_path", Some(file.path.clone()));
        }
        fields.put("pastell_field", reference.map(|r| r.field.clone()));
        match (analysis.own.get(&name), &analysis.fallback) {
            (Some(own), _) => fields.extend(own),
            (None, Some(fallback)) => fields.extend(fallback),
            (None, None) => {}
        }
        if kind == Some(Kind::ChorusFact) {
            if let Some(own) = file
                .bytes(invoice::MAX_FILE)
                .ok()
                .as_deref()
                .and_then(invoice::fields_of)
            {
                fields.extend(&own);
            }
        }
        fields.extend(&analysis.shared);
        documents.push(Document {
            name: original,
            content: file.into_content(),
            fields: fields.0,
        });
    }
    for mut extra in analysis.extra {
        // Attachments carry their own group (their invoice's) and fields, before the envelope's.
        let mut fields = Fields::default();
        fields.put("envelope_type", head.get("envelope_type").map(Into::into));
        fields.put("envelope", Some(bundle.name.clone()));
        fields.extend(&Fields(std::mem::take(&mut extra.fields)));
        if kind == Some(Kind::ChorusFact) {
            if let Some(own) = content_bytes(&extra.content)
                .as_deref()
                .and_then(invoice::fields_of)
            {
                fields.extend(&own);
            }
        }
        fields.extend(&head);
        fields.extend(&analysis.shared);
        extra.fields = fields.0;
        documents.push(extra);
    }
    Ok(documents)
}

/// The bytes of an extracted document, for the invoice indexer (`None` past its size bound).
fn content_bytes(content: &Content) -> Option<Vec<u8>> {
    let path: &Path = match content {
        Content::Bytes(bytes) => return Some(bytes.clone()),
        Content::Temp(path) => path,
        Content::File { path, .. } => path,
    };
    let len = std::fs::metadata(path).ok()?.len();
    (len <= invoice::MAX_FILE)
        .then(|| std::fs::read(path).ok())
        .flatten()
}

/// Names the file an error is about, unless the envelope is that file (its label names it).
fn within<T>(result: Result<T>, bundle: &Bundle, file: &File) -> Result<T> {
    if bundle.files.len() == 1 && file.path == bundle.name {
        result
    } else {
        result.with_context(|| file.path.clone())
    }
}

/// The envelope's type from what it holds, checked against `--type`.
fn envelope_kind(
    classes: &[Class],
    metadata: Option<&pastell::Metadata>,
    wanted: Option<Kind>,
) -> Result<Option<Kind>> {
    let mut found: BTreeSet<Kind> = classes.iter().filter_map(Class::kind).collect();
    let declared = metadata.and_then(pastell::Metadata::kind);
    if let Some(declared) = declared {
        found.insert(declared);
    }
    if found.len() > 1 {
        let list: Vec<&str> = found.iter().map(|k| k.as_str()).collect();
        bail!(
            "mixes {} content; lanceur cannot tell which it is (split the envelope)",
            list.join(" and ")
        );
    }
    let seen = found.into_iter().next();
    match (seen, wanted) {
        (Some(seen), Some(wanted)) if seen != wanted => bail!(
            "is a {} envelope, but --type says {}; give it to the launcher of its type or use \
             --type auto",
            seen.as_str(),
            wanted.as_str()
        ),
        // A plain Pastell deposit in a folder the administrator says holds one type is that type.
        (None, wanted) => Ok(wanted),
        (seen, _) => Ok(seen),
    }
}

fn stem(name: &str) -> &str {
    let name = name.trim_end_matches('/');
    for ext in [".tar.gz", ".tgz", ".zip", ".xml", ".json", ".txt"] {
        if name.len() > ext.len() && name.to_lowercase().ends_with(ext) {
            return &name[..name.len() - ext.len()];
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_recognised_by_content() {
        let actes = b"<?xml version='1.0'?><actes:Acte xmlns:actes=\"http://www.interieur.gouv.fr/ACTES#v1.1-20040216\">";
        assert_eq!(classify("x.xml", actes), Class::Actes("Acte".into()));
        assert_eq!(
            classify("p.xml", b"<n:PES_ACQUIT xmlns:n='x'>"),
            Class::Pes("PES_ACQUIT".into())
        );
        assert_eq!(
            classify("f.xml", b"<CPPFacturePivot>"),
            Class::Chorus("CPPFacturePivot".into())
        );
        assert_eq!(classify("metadata.xml", b"<flux>"), Class::Flux);
        assert_eq!(classify("metadata.json", b" {\"a\":1}"), Class::Json);
        assert_eq!(classify("metadata.txt", b"a: b"), Class::Yaml);
        assert_eq!(classify("foo.txt", b"foo"), Class::Other);
        assert_eq!(classify("a.pdf", b"%PDF"), Class::Other);
    }

    #[test]
    fn mixed_or_contradicting_types_are_refused() {
        let classes = [Class::Actes("Acte".into()), Class::Pes("PES_Aller".into())];
        assert!(envelope_kind(&classes, None, None).is_err());
        let classes = [Class::Pes("PES_Aller".into())];
        assert!(envelope_kind(&classes, None, Some(Kind::ActeNature)).is_err());
        assert_eq!(
            envelope_kind(&[Class::Other], None, Some(Kind::Helios)).unwrap(),
            Some(Kind::Helios)
        );
        assert_eq!(envelope_kind(&[Class::Other], None, None).unwrap(), None);
    }

    #[test]
    fn fields_keep_the_first_value() {
        let mut fields = Fields::default();
        fields.put("a", Some("1".into()));
        fields.put("a", Some("2".into()));
        fields.put("b", Some("  ".into()));
        assert_eq!(fields.0, vec![("a".to_string(), "1".to_string())]);
    }
}
