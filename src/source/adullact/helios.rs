//! PES V2 files (collectivity ⇔ treasury, Hélios): `PES_Aller` (the collectivity's bordereaux and
//! their pièces justificatives), `PES_Retour` (the treasury's returns), `PES_ACQUIT` (the
//! acknowledgement of a PES_Aller), `PES_ACQUIT_RETOUR` (the collectivity's acknowledgement of a
//! PES_Retour) and `PES_NonAcquit` (a file refused whole). Values sit in `V` attributes:
//! `<IdColl V="12345678912345"/>`. Files are read as a stream (`stream.rs`): a PES with its PJ
//! runs to hundreds of megabytes.
//!
//! Fields of each PES file (its own): the root (`pes_type`) and file type (`TypFic`), the name it
//! gives itself (`NomFic`), its date, the accounting post, the collectivity id, code, budget code
//! and label, the years and bordereau ids. An acquittement adds each bordereau's state and the
//! reasons of every refusal (`pes_ack_*`), wherever the treasury put them (on the bordereau, a
//! piece or a line). The group is `NomFic`, which an acquittement repeats from the PES_Aller it
//! acknowledges, so that the GED gathers the two.
//!
//! `PES_PJ`: each `PJ` (base64 of the file gzipped, as the schema says; plain base64 is accepted)
//! becomes a document named by its `NomPJ`, with its `IdUnique`, type, description, the piece that
//! refers to it (`PJRef` or `RefCompta`) and the PES's fields. The PES XML itself is kept whole.
//!
//! A PDF beside the PES is its visual ("visuel"), with the PES's fields.

use std::collections::{BTreeSet, HashMap};
use std::io::Cursor;

use anyhow::{anyhow, Context, Result};
use base64::Engine;

use super::bundle::{Analysis, Fields, File};
use super::stream::{self, attribute, Event};
use super::xml;
use crate::extract::archive::{Budget, Data};
use crate::item::{Content, Document};

/// What one `ElementACQUIT` says.
#[derive(Default)]
struct Ack {
    state: Option<String>,
    domain: Option<String>,
    bordereau: Option<String>,
    year: Option<String>,
    pj: Option<String>,
    reasons: Vec<String>,
}

impl Ack {
    fn subject(&self) -> String {
        match (&self.bordereau, &self.year, &self.pj) {
            (Some(bordereau), Some(year), _) => format!("bordereau {year}/{bordereau}"),
            (Some(bordereau), None, _) => format!("bordereau {bordereau}"),
            (None, _, Some(pj)) => format!("PJ {pj}"),
            _ => format!("domaine {}", self.domain.as_deref().unwrap_or("?")),
        }
    }

    fn refused(&self) -> bool {
        self.state.as_deref() == Some("0")
    }
}

/// A `PJ` of a `PES_PJ` being read.
#[derive(Default)]
struct Pj {
    /// Its content as decoded so far (gzip, as the schema says), and the base64 characters left
    /// over that do not make a whole group of four yet: decoding as the text comes keeps only the
    /// decoded bytes in memory, not the base64 too.
    content: Vec<u8>,
    leftover: Vec<u8>,
    corrupt: Option<String>,
    mime: Option<String>,
    id: Option<String>,
    name: Option<String>,
    kind: Option<String>,
    description: Option<String>,
    piece: Option<String>,
    year: Option<String>,
}

impl Pj {
    /// Decodes one more piece of the base64 text.
    fn feed(&mut self, text: &str) -> Result<()> {
        // In slices of 64 KiB (whole groups of four), so that the text is never copied whole.
        const SLICE: usize = 64 << 10;
        for byte in text.bytes().filter(|b| !b.is_ascii_whitespace()) {
            self.leftover.push(byte);
            if self.leftover.len() == SLICE {
                self.decode(SLICE);
            }
        }
        if self.content.len() as u64 > xml::MAX_XML_BYTES {
            return Err(anyhow!("a PJ is larger than the PES may be"));
        }
        Ok(())
    }

    /// Decodes the first `len` leftover characters (whole groups, or the end of the text).
    fn decode(&mut self, len: usize) {
        if len == 0 || self.corrupt.is_some() {
            return;
        }
        let engine = &base64::engine::general_purpose::STANDARD;
        if let Err(err) = engine.decode_vec(&self.leftover[..len], &mut self.content) {
            self.corrupt = Some(err.to_string());
        }
        self.leftover.drain(..len);
    }
}

/// Everything one pass over a PES file collects.
#[derive(Default)]
struct Reading {
    root: String,
    fields: Fields,
    years: Vec<String>,
    bordereaux: Vec<String>,
    states: Vec<String>,
    acks: Vec<Ack>,
    ack: Option<Ack>,
    /// (code, label) of the `Erreur` being read.
    error: (Option<String>, Option<String>),
    /// Where the `Erreur` being read is: piece, line.
    piece: Option<String>,
    line: Option<String>,
    pj: Option<Pj>,
    documents: Vec<(Pj, Data)>,
    /// `IdUnique` → the piece (`IdPce`) whose `PJRef` names it.
    references: HashMap<String, String>,
    current_piece: Option<String>,
    group: Option<String>,
}

fn push_distinct(list: &mut Vec<String>, value: &str) {
    if !list.iter().any(|v| v == value) {
        list.push(value.to_string());
    }
}

pub fn read(file: &File, analysis: &mut Analysis, budget: &mut Budget) -> Result<()> {
    let name = file.name().to_string();
    let mut r = Reading::default();
    stream::walk(file.reader()?, |event, path| {
        match event {
            Event::Start { name, attributes } => {
                if path.len() == 1 {
                    r.root = name.to_string();
                }
                if let Some(v) = attribute(attributes, "V") {
                    value(&mut r, path, name, v);
                }
                if *name == "Fichier" {
                    if let Some(pj) = &mut r.pj {
                        pj.mime = attribute(attributes, "MIMEType").map(Into::into);
                    }
                }
                match *name {
                    "ElementACQUIT" => r.ack = Some(Ack::default()),
                    "PJ" if parent(path) == Some("PES_PJ") => r.pj = Some(Pj::default()),
                    "DetailPiece" => r.piece = None,
                    "DetailLigne" => r.line = None,
                    "Erreur" => r.error = (None, None),
                    "InfoPce" => r.current_piece = None,
                    _ => {}
                }
            }
            Event::Text(text) => {
                if path.last().map(String::as_str) == Some("Fichier") {
                    if let Some(pj) = &mut r.pj {
                        pj.feed(text)?;
                    }
                }
            }
            Event::End { name } => match *name {
                "Erreur" => end_error(&mut r),
                "DetailPiece" => r.piece = None,
                "DetailLigne" => r.line = None,
                "ElementACQUIT" => {
                    if let Some(ack) = r.ack.take() {
                        r.acks.push(ack);
                    }
                }
                "PJ" if parent(path) == Some("PES_PJ") => {
                    if let Some(mut pj) = r.pj.take() {
                        let data = unpack(&mut pj, budget).with_context(|| {
                            format!(
                                "PJ {} ({})",
                                pj.id.as_deref().unwrap_or("?"),
                                pj.name.as_deref().unwrap_or("no NomPJ")
                            )
                        })?;
                        r.documents.push((pj, data));
                    }
                }
                _ => {}
            },
        }
        Ok(())
    })?;

    let kind = r.root.clone();
    analysis.role(
        &name,
        if kind.starts_with("PES_ACQUIT") || kind == "PES_NonAcquit" {
            "acquit"
        } else {
            "pes"
        },
    );
    let fields = &mut r.fields;
    fields.put("pes_type", Some(kind.clone()));
    fields.put("pes_year", joined(&r.years));
    fields.put("pes_bordereau_ids", joined(&r.bordereaux));
    if kind == "PES_ACQUIT" {
        fields.put("pes_ack_state", joined(&r.states));
        ack_fields(&r.acks, fields);
    }
    let own_group = r
        .group
        .clone()
        .or_else(|| r.fields.get("pes_file_name").map(Into::into));
    // The acquittement names the PES it acknowledges; the PES names itself: either way, one group.
    if analysis.group_id.is_none() || analysis.roles.get(&name) == Some(&"pes") {
        if let Some(group) = own_group {
            analysis.group_id = Some(group);
        }
    }
    analysis.describe(&name, &r.fields);
    for (pj, data) in r.documents {
        analysis
            .extra
            .push(pj_document(pj, data, &r.fields, &r.references));
    }
    Ok(())
}

/// The local name of the element above the current one.
fn parent(path: &[String]) -> Option<&str> {
    path.len()
        .checked_sub(2)
        .and_then(|i| path.get(i))
        .map(String::as_str)
}

/// A `V` value at `path` (whose last element is `name`).
fn value(r: &mut Reading, path: &[String], name: &str, v: &str) {
    let under = |names: &[&str]| {
        path.len() > names.len()
            && path[path.len() - 1 - names.len()..path.len() - 1]
                .iter()
                .zip(names)
                .all(|(a, b)| a == b)
    };
    let fields = &mut r.fields;
    if path.len() == 4 && under(&["Enveloppe", "Parametres"]) {
        match name {
            "TypFic" => fields.put("pes_file_type", Some(v.into())),
            "NomFic" => fields.put("pes_file_name", Some(v.into())),
            _ => {}
        }
    }
    if path.len() == 3 && under(&["EnTetePES"]) {
        let field = match name {
            "DteStr" => "pes_date",
            "IdPost" => "pes_post_id",
            "LibellePoste" => "pes_post_label",
            "IdColl" => "pes_collectivity_id",
            "CodCol" | "CodColl" => "pes_collectivity_code",
            "CodBud" => "pes_budget_code",
            "LibelleColBud" => "pes_budget_label",
            _ => "",
        };
        if !field.is_empty() {
            fields.put(field, Some(v.into()));
        }
    }
    match name {
        "Exer" | "ExerciceBord" => push_distinct(&mut r.years, v),
        "IdBord" | "NumBord" => push_distinct(&mut r.bordereaux, v),
        _ => {}
    }
    if let Some(ack) = &mut r.ack {
        match (parent(path), name) {
            (Some("ElementACQUIT"), "EtatAck") => {
                push_distinct(&mut r.states, v);
                ack.state = Some(v.into());
            }
            (Some("ElementACQUIT"), "DomaineAck") => ack.domain = Some(v.into()),
            (Some("ElementACQUIT"), "NumBord") => ack.bordereau = Some(v.into()),
            (Some("ElementACQUIT"), "ExerciceBord") => ack.year = Some(v.into()),
            (Some("ElementACQUIT"), "IdUnique") => ack.pj = Some(v.into()),
            (Some("DetailPiece"), "NumPiece") => r.piece = Some(v.into()),
            (Some("DetailLigne"), "NumLigne") => r.line = Some(v.into()),
            (Some("Erreur"), "NumAnoAck") => r.error.0 = Some(v.into()),
            (Some("Erreur"), "LibelleAnoAck") => r.error.1 = Some(v.into()),
            _ => {}
        }
    }
    match (parent(path), name) {
        (Some("ElementACQUIT_RETOUR"), "NomFichierRetour") => {
            r.fields.put("pes_ack_return_file", Some(v.into()));
            r.group = Some(v.into());
        }
        (Some("ElementACQUIT_RETOUR"), "TypRestit") => {
            r.fields.put("pes_ack_return_type", Some(v.into()))
        }
        (Some("ElementACQUIT_RETOUR"), "DateAcquit") => {
            r.fields.put("pes_ack_date", Some(v.into()))
        }
        (Some("NonAcquit"), "NomFic") => {
            r.fields.put("pes_nack_file", Some(v.into()));
            r.group = Some(v.into());
        }
        (Some("NonAcquit"), "Motif") => r.fields.put("pes_nack_reason", Some(v.into())),
        (Some("InfoPce"), "IdPce") => r.current_piece = Some(v.into()),
        (Some("PJRef"), "IdUnique") => {
            if let Some(piece) = &r.current_piece {
                r.references.insert(v.to_string(), piece.clone());
            }
        }
        _ => {}
    }
    if let Some(pj) = &mut r.pj {
        match (parent(path), name) {
            (Some("PJ"), "IdUnique") => pj.id = Some(v.into()),
            (Some("PJ"), "NomPJ") => pj.name = Some(v.into()),
            (Some("PJ"), "TypePJ") => pj.kind = Some(v.into()),
            (Some("PJ"), "Description") => pj.description = Some(v.into()),
            (Some("RefCompta"), "Identifiant") => pj.piece = Some(v.into()),
            (Some("RefCompta"), "Exercice") => pj.year = Some(v.into()),
            _ => {}
        }
    }
}

/// Records the reason an `Erreur` gives, with where it is.
fn end_error(r: &mut Reading) {
    let Some(ack) = &mut r.ack else { return };
    let (code, label) = std::mem::take(&mut r.error);
    let reason = match (label, code) {
        (Some(label), Some(code)) => format!("{label} ({code})"),
        (Some(text), None) | (None, Some(text)) => text,
        (None, None) => return,
    };
    let mut place = ack.subject();
    if let Some(piece) = &r.piece {
        place.push_str(&format!(", pièce {piece}"));
    }
    if let Some(line) = &r.line {
        place.push_str(&format!(", ligne {line}"));
    }
    ack.reasons.push(format!("{place}: {reason}"));
}

/// The fields of an acquittement: the result, each bordereau's state, every reason of a refusal.
fn ack_fields(acks: &[Ack], fields: &mut Fields) {
    let refused = acks.iter().filter(|a| a.refused()).count();
    let result = match refused {
        0 => "accepted",
        n if n == acks.len() => "refused",
        _ => "partly refused",
    };
    if !acks.is_empty() {
        fields.put("pes_ack_result", Some(result.into()));
    }
    let state = |ack: &Ack| if ack.refused() { "refused" } else { "accepted" };
    let bordereaux: Vec<String> = acks
        .iter()
        .filter(|a| a.bordereau.is_some())
        .map(|a| {
            format!(
                "{} {}",
                a.subject().trim_start_matches("bordereau "),
                state(a)
            )
        })
        .collect();
    fields.put("pes_ack_bordereaux", join(&bordereaux, "; "));
    let reasons: Vec<String> = acks.iter().flat_map(|a| a.reasons.clone()).collect();
    fields.put("pes_ack_reasons", join(&reasons, "; "));
    let pj: Vec<String> = acks
        .iter()
        .filter(|a| a.refused())
        .filter_map(|a| a.pj.clone())
        .collect();
    fields.put("pes_ack_pj_refused", join(&pj, ", "));
}

fn join(items: &[String], separator: &str) -> Option<String> {
    (!items.is_empty()).then(|| items.join(separator))
}

fn joined(values: &[String]) -> Option<String> {
    join(values, ", ")
}

/// A PJ's bytes: base64, then gunzip (bounded by the envelope's budget) when gzipped.
fn unpack(pj: &mut Pj, budget: &mut Budget) -> Result<Data> {
    if pj.name.is_none() {
        return Err(anyhow!("has no NomPJ to name it"));
    }
    pj.decode(pj.leftover.len());
    if let Some(err) = &pj.corrupt {
        return Err(anyhow!(
            "its base64 content does not decode ({err}); the PES is corrupt"
        ));
    }
    let decoded = std::mem::take(&mut pj.content);
    pj.leftover = Vec::new();
    budget.take_entry()?;
    if decoded.starts_with(&[0x1f, 0x8b]) {
        let mut gunzip = flate2::read::MultiGzDecoder::new(Cursor::new(decoded));
        budget
            .read(&mut gunzip)
            .context("its gzip content does not expand")
    } else {
        budget.read(&mut Cursor::new(decoded))
    }
}

fn pj_document(pj: Pj, data: Data, pes: &Fields, references: &HashMap<String, String>) -> Document {
    let name = pj.name.clone().unwrap_or_default();
    let mut fields = Fields::default();
    fields.put("group_id", pes.get("pes_file_name").map(Into::into));
    fields.put("role", Some("pj".into()));
    fields.put("original_name", Some(name.clone()));
    fields.put("pes_pj_id", pj.id.clone());
    fields.put("pes_pj_type", pj.kind);
    fields.put("pes_pj_description", pj.description);
    fields.put("pes_pj_mime_type", pj.mime);
    let piece = pj
        .id
        .as_ref()
        .and_then(|id| references.get(id).cloned())
        .or(pj.piece);
    fields.put("pes_pj_piece", piece);
    fields.put("pes_pj_year", pj.year);
    fields.extend(pes);
    Document {
        name,
        content: match data {
            Data::Bytes(bytes) => Content::Bytes(bytes),
            Data::Temp(temp) => Content::Temp(temp),
        },
        fields: fields.0,
    }
}

/// PDFs without a role are the PES's visual, and carry its fields: those of `X.xml` for `X.pdf`,
/// else those of the envelope's only PES.
pub fn finish(analysis: &mut Analysis, names: &BTreeSet<String>) {
    let pes: Vec<String> = names
        .iter()
        .filter(|n| analysis.roles.get(*n) == Some(&"pes"))
        .cloned()
        .collect();
    for name in names {
        if !name.to_lowercase().ends_with(".pdf") || analysis.roles.contains_key(name) {
            continue;
        }
        analysis.role(name, "visuel");
        let described = pes
            .iter()
            .find(|p| visual_of(p).as_deref() == Some(name.as_str()))
            .or(match pes.as_slice() {
                [only] => Some(only),
                _ => None,
            });
        if let Some(fields) = described.and_then(|p| analysis.own.get(p)).cloned() {
            analysis.describe(name, &fields);
        }
    }
}

/// For grouping loose files: the visual that goes with a PES file, `X.pdf` beside `X.xml`.
pub fn visual_of(name: &str) -> Option<String> {
    let stem = name
        .strip_suffix(".xml")
        .or_else(|| name.strip_suffix(".XML"))?;
    Some(format!("{stem}.pdf"))
}
