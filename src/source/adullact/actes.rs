//! ACTES messages (collectivity ⇔ prefecture, namespace `http://www.interieur.gouv.fr/ACTES#…`):
//! the acte's form (`actes:Acte`), its acknowledgement (`actes:ARActe`), the S²LOW envelopes that
//! carry them (`EnveloppeCLMISILL` towards the prefecture, `EnveloppeMISILLCL` back) and the
//! prefecture's letters (`CourrierSimple`, `DemandePieceComplementaire`, `LettreObservations`, …).
//!
//! Fields: the acte's nature (code and label), number, date, object, classification (matières
//! joined with dots: `3.2`) and its version date, the prefecture's acknowledgement date and the
//! acte's id (`034-491011698-20171207-CL20171227_06-DE`), and the SIREN. The acte id is the group:
//! an acknowledgement arriving later is gathered with its acte in the GED.
//!
//! Files named by a form (`NomFichier`) must be in the envelope, except those an acknowledgement
//! recalls (`ActeRecu`), which normally stay with the collectivity.

use std::collections::BTreeSet;

use anyhow::{Context, Result};
use roxmltree::Node;

use super::bundle::{Analysis, File};
use super::xml;

/// Root elements of the ACTES messages, besides anything in their namespace.
const ROOTS: [&str; 16] = [
    "Acte",
    "ARActe",
    "EnveloppeCLMISILL",
    "EnveloppeMISILLCL",
    "CourrierSimple",
    "ReponseCourrierSimple",
    "DemandePieceComplementaire",
    "ReponseDemandePieceComplementaire",
    "RefusPieceComplementaire",
    "LettreObservations",
    "ReponseLettreObservations",
    "RefusLettreObservations",
    "DefereTA",
    "AnnulationActe",
    "ARAnnulation",
    "AnomalieActe",
];

pub fn is_root(local: &str) -> bool {
    ROOTS.contains(&local)
}

/// The label of a nature code (`CodeNatureActe`, Pastell's `acte_nature`).
pub fn nature_label(code: &str) -> Option<&'static str> {
    Some(match code.trim() {
        "1" => "Délibérations",
        "2" => "Actes réglementaires",
        "3" => "Actes individuels",
        "4" => "Contrats, conventions et avenants",
        "5" => "Documents budgétaires et financiers",
        "6" => "Autres",
        _ => return None,
    })
}

/// The nature code that the two letters ending an acte id stand for.
fn nature_of_id_suffix(suffix: &str) -> Option<&'static str> {
    Some(match suffix {
        "DE" => "1",
        "AR" => "2",
        "AI" => "3",
        "CC" => "4",
        "BF" => "5",
        "AU" => "6",
        _ => return None,
    })
}

/// Reads one ACTES message into `analysis`.
pub fn read(file: &File, analysis: &mut Analysis) -> Result<()> {
    let bytes = file.bytes(xml::MAX_XML_BYTES)?;
    let text = xml::decode(&bytes)?;
    let doc = xml::parse(&text)?;
    let root = doc.root_element();
    let name = file.name().to_string();
    let message = root.tag_name().name();
    analysis
        .fields
        .put("actes_message", Some(message.to_string()));
    match message {
        "Acte" => {
            analysis.role(&name, "formulaire");
            read_acte(root, analysis);
            name_files(root, &name, "acte", true, analysis);
        }
        "ARActe" => {
            analysis.role(&name, "ar_acte");
            analysis
                .fields
                .put("acte_id", xml::attr(root, "IDActe").map(Into::into));
            analysis.fields.put(
                "acte_ar_date",
                xml::attr(root, "DateReception").map(Into::into),
            );
            if let Some(acte) = xml::child(root, "ActeRecu") {
                read_acte(acte, analysis);
                // Recalled, not carried: the acte's files are welcome but not required.
                name_files(acte, &name, "acte", false, analysis);
            }
        }
        "EnveloppeCLMISILL" | "EnveloppeMISILLCL" => {
            analysis.role(&name, "enveloppe");
            let siren = xml::path(root, &["Emetteur", "IDCL"])
                .or_else(|| xml::child(root, "Destinataire"))
                .and_then(|n| xml::attr(n, "SIREN"));
            analysis.fields.put("siren", siren.map(Into::into));
            for form in xml::all(root, "Formulaire") {
                if let Some(named) = xml::text_at(form, &["NomFichier"]) {
                    analysis.role(&named, "formulaire");
                    analysis.required.push((named, name.clone()));
                }
            }
        }
        _ => {
            analysis.role(&name, "formulaire");
            analysis
                .fields
                .put("acte_id", xml::attr(root, "IDActe").map(Into::into));
            let date = xml::attr(root, "DateCourrierPref").or_else(|| xml::attr(root, "Date"));
            analysis
                .fields
                .put("actes_message_date", date.map(Into::into));
            name_files(root, &name, "courrier", true, analysis);
        }
    }
    if let Some(id) = acte_id_of_name(&name) {
        analysis.fields.put("acte_id", Some(id));
    }
    Ok(())
}

/// The fields of an `Acte` element (the form, or the copy inside an acknowledgement).
fn read_acte(acte: Node<'_, '_>, analysis: &mut Analysis) {
    let fields = &mut analysis.fields;
    if let Some(code) = xml::attr(acte, "CodeNatureActe") {
        fields.put("acte_nature_code", Some(code.into()));
        fields.put("acte_nature", nature_label(code).map(Into::into));
    }
    fields.put(
        "acte_number",
        xml::attr(acte, "NumeroInterne").map(Into::into),
    );
    fields.put("acte_date", xml::attr(acte, "Date").map(Into::into));
    fields.put("acte_object", xml::text_at(acte, &["Objet"]));
    let matieres: Vec<&str> = (1..=5)
        .map_while(|n| {
            xml::child(acte, &format!("CodeMatiere{n}")).and_then(|m| xml::attr(m, "CodeMatiere"))
        })
        .collect();
    if !matieres.is_empty() {
        fields.put("acte_classification", Some(matieres.join(".")));
    }
    fields.put(
        "acte_classification_date",
        xml::text_at(acte, &["ClassificationDateVersion"]),
    );
}

/// Gives roles to the files a message names: its `Document` (`main_role`) and `Annexes`.
fn name_files(
    message: Node<'_, '_>,
    by: &str,
    main_role: &'static str,
    required: bool,
    analysis: &mut Analysis,
) {
    let documents = xml::child(message, "Document")
        .into_iter()
        .flat_map(|d| xml::all(d, "NomFichier"))
        .map(|n| (n, main_role));
    let annexes = xml::child(message, "Annexes")
        .into_iter()
        .flat_map(|a| xml::all(a, "NomFichier"))
        .map(|n| (n, "annexe"));
    let named: Vec<(String, &'static str)> = documents
        .chain(annexes)
        .filter_map(|(node, role)| xml::text(node).map(|name| (name, role)))
        .collect();
    for (name, role) in named {
        analysis.role(&name, role);
        if required {
            analysis.required.push((name, by.to_string()));
        }
    }
}

/// `034-491011698-20171207-CL20171227_06-DE-1-1_0.xml` → `034-491011698-20171207-CL20171227_06-DE`:
/// ACTES file names start with the acte's id (département, SIREN, date, number, nature).
pub fn acte_id_of_name(name: &str) -> Option<String> {
    let parts: Vec<&str> = name.splitn(6, '-').collect();
    let [dept, siren, date, number, nature, _rest] = parts.as_slice() else {
        return None;
    };
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let valid = digits(dept, 3)
        && digits(siren, 9)
        && digits(date, 8)
        && !number.is_empty()
        && number
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && nature.len() == 2
        && nature.bytes().all(|b| b.is_ascii_uppercase());
    valid.then(|| parts[..5].join("-"))
}

/// Completes the fields once every message is read: what the acte id tells, and the group.
pub fn finish(analysis: &mut Analysis, names: &BTreeSet<String>) {
    if analysis.fields.get("acte_id").is_none() {
        let id = names.iter().find_map(|n| acte_id_of_name(n));
        analysis.fields.put("acte_id", id);
    }
    if let Some(id) = analysis.fields.get("acte_id").map(str::to_string) {
        let parts: Vec<&str> = id.split('-').collect();
        if parts.len() == 5 {
            analysis.fields.put("siren", Some(parts[1].to_string()));
            if analysis.fields.get("acte_nature_code").is_none() {
                if let Some(code) = nature_of_id_suffix(parts[4]) {
                    analysis.fields.put("acte_nature_code", Some(code.into()));
                    analysis
                        .fields
                        .put("acte_nature", nature_label(code).map(Into::into));
                }
            }
        }
        analysis.group_id = Some(id);
    }
}

/// The files an ACTES message names and requires, for grouping loose files: (names, recalled
/// names that join the group only if present).
pub fn named_files(bytes: &[u8]) -> Result<(Vec<String>, Vec<String>)> {
    let text = xml::decode(bytes)?;
    let doc = xml::parse(&text).context("cannot read the ACTES message")?;
    let root = doc.root_element();
    let texts = |node: Node<'_, '_>| -> Vec<String> {
        xml::all(node, "NomFichier").filter_map(xml::text).collect()
    };
    Ok(match root.tag_name().name() {
        "ARActe" => (Vec::new(), texts(root)),
        "AnomalieActe" => (Vec::new(), texts(root)),
        _ => (texts(root), Vec::new()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acte_ids_come_from_file_names() {
        assert_eq!(
            acte_id_of_name("034-491011698-20171207-CL20171227_06-DE-1-1_0.xml").as_deref(),
            Some("034-491011698-20171207-CL20171227_06-DE")
        );
        assert_eq!(
            acte_id_of_name("001-862614864-20150805-20150805B-AI-2-1_1.pdf").as_deref(),
            Some("001-862614864-20150805-20150805B-AI")
        );
        assert_eq!(acte_id_of_name("EACT--214502494--20170717-6.xml"), None);
        assert_eq!(acte_id_of_name("rapport-2024-01-02-xx-yy.pdf"), None);
    }
}
