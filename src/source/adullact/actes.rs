//! ACTES messages (collectivity ⇔ prefecture, namespace `http://www.interieur.gouv.fr/ACTES#…`):
//! the acte's form (`actes:Acte`), every message of the contrôle de légalité that follows it
//! (acknowledgements, anomalies, letters, requests for documents, observations, referral to the
//! administrative court, cancellation, classification), and the S²LOW envelopes that carry them
//! (`EnveloppeCLMISILL` towards the prefecture, `EnveloppeMISILLCL` back).
//!
//! Every message is grouped with its acte by the acte's id (`034-491011698-20171207-CL…-DE`): from
//! its `IDActe` attribute, its `InfosCourrierPref`, its file name, or the names of the files it
//! recalls; so the GED can follow an acte from its sending to its last letter. That id, and the
//! SIREN it holds, are the envelope's shared fields. Each message's own fields (its type, date,
//! reasons, requests) go to the message and to the files it carries (a letter's PDF); what it says
//! about the acte (nature, number, date, object, classification, acknowledgement date) goes to the
//! files it carries or recalls. Field per message: see `read_message`.
//!
//! Files a message carries (`Document`, `Documents`, `Annexes`, `PiecesJointes`) must be in the
//! envelope; those it only recalls (`ActeRecu` of an acknowledgement or anomaly, `EnveloppeRecue` of
//! an envelope anomaly) normally stay with the collectivity and are welcome but not awaited.

use anyhow::{Context, Result};
use roxmltree::Node;

use super::bundle::{Analysis, Fields, File};
use super::stream::{self, Event};
use super::xml;

/// Root elements of the ACTES messages (schema `actesv1_1.xsd`), besides anything in their
/// namespace.
const ROOTS: [&str; 24] = [
    "Acte",
    "ARActe",
    "AnomalieActe",
    "AnomalieEnveloppe",
    "EnveloppeCLMISILL",
    "EnveloppeMISILLCL",
    "CourrierSimple",
    "ReponseCourrierSimple",
    "DemandePieceComplementaire",
    "ARDemandePieceComplementaire",
    "RefusPieceComplementaire",
    "PieceComplementaire",
    "ARPieceComplementaire",
    "LettreObservations",
    "ARLettreObservations",
    "RejetLettreObservations",
    "ReponseLettreObservations",
    "ARReponseRejetLettreObservations",
    "DefereTA",
    "Annulation",
    "ARAnnulation",
    "DemandeClassification",
    "RetourClassification",
    "ReponseClassificationSansChangement",
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

/// How a message relates to the files it names.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Naming {
    /// It carries them: they must be in the envelope, and they are this message's documents.
    Carries,
    /// It recalls files sent earlier (an acknowledgement, an anomaly): welcome, not awaited.
    Recalls,
}

/// What one message says: its own fields, what it says of the acte, the acte's id, and the files it
/// names with their role.
#[derive(Default)]
struct Message {
    own: Fields,
    acte: Fields,
    acte_id: Option<String>,
    siren: Option<String>,
    /// (file, role, carried)
    files: Vec<(String, &'static str, Naming)>,
    role: &'static str,
}

/// Reads one ACTES message into `analysis`.
pub fn read(file: &File, analysis: &mut Analysis) -> Result<()> {
    let bytes = file.bytes(xml::MAX_XML_BYTES)?;
    let text = xml::decode(&bytes)?;
    let doc = xml::parse(&text)?;
    let root = doc.root_element();
    let name = file.name().to_string();
    let message = read_message(root);
    let acte_id = message
        .acte_id
        .clone()
        .or_else(|| acte_id_of_name(&name))
        .or_else(|| {
            message
                .files
                .iter()
                .find_map(|(f, _, _)| acte_id_of_name(f))
        });
    analysis.shared.put("acte_id", acte_id);
    analysis.shared.put("siren", message.siren.clone());
    analysis.role(&name, message.role);
    let mut whole = message.own.clone();
    whole.extend(&message.acte);
    analysis.describe(&name, &whole);
    for (named, role, naming) in &message.files {
        analysis.role(named, role);
        match naming {
            Naming::Carries => {
                analysis.describe(named, &whole);
                analysis.required.push((named.clone(), name.clone()));
            }
            Naming::Recalls => analysis.describe(named, &message.acte),
        }
    }
    Ok(())
}

/// The fields and files of a message, by its root element. Every message gets `actes_message`
/// (its root element); then:
///
/// | message | own fields | files |
/// |---|---|---|
/// | `Acte` | — (the acte's fields) | `Document` (acte), `Annexes` |
/// | `ARActe` | `acte_ar_date` (with the acte's fields, as received) | recalled |
/// | `AnomalieActe`, `AnomalieEnveloppe` | `actes_message_date`, `actes_anomaly_nature`, `actes_anomaly_detail` | recalled |
/// | letters (`CourrierSimple`, `LettreObservations`, `DemandePieceComplementaire`, their answers and refusals) | `actes_message_date`; `actes_observations` (`Motif`), `actes_requested_documents` (`DescriptionPieces`) | `Document`, `Documents` |
/// | `AR…` of a letter, `ARAnnulation` | `actes_reception_date`, `actes_answered_letter_date` | — |
/// | `DefereTA` | `actes_message_date` (`DateDepot`), `actes_illegality` | `PiecesJointes` |
/// | `Annulation` | — | — |
/// | classification messages | `actes_classification_date` | — |
/// | S²LOW envelopes | `siren` (shared) | `FormulairesEnvoyes` |
fn read_message(root: Node<'_, '_>) -> Message {
    let mut message = Message {
        role: "formulaire",
        ..Message::default()
    };
    message
        .own
        .put("actes_message", Some(root.tag_name().name().to_string()));
    message.acte_id = id_at(root);
    let element = |names: &[&str]| xml::text_at(root, names);
    match root.tag_name().name() {
        "Acte" => {
            message.acte = acte_fields(root);
            carried(root, "acte", &mut message);
        }
        "ARActe" => {
            message.role = "ar_acte";
            if let Some(acte) = xml::child(root, "ActeRecu") {
                message.acte = acte_fields(acte);
                recalled(acte, &mut message);
            }
            message.acte.put(
                "acte_ar_date",
                xml::attr(root, "DateReception").map(Into::into),
            );
        }
        "AnomalieActe" | "AnomalieEnveloppe" => {
            let own = &mut message.own;
            own.put("actes_message_date", element(&["Date"]));
            own.put("actes_anomaly_nature", element(&["Nature"]));
            own.put("actes_anomaly_detail", element(&["Detail"]));
            if let Some(acte) = xml::child(root, "ActeRecu") {
                message.acte = acte_fields(acte);
                recalled(acte, &mut message);
            }
            if let Some(sent) = xml::child(root, "EnveloppeRecue") {
                message.role = "anomalie_enveloppe";
                message.siren = xml::path(sent, &["Emetteur", "IDCL"])
                    .and_then(|n| xml::attr(n, "SIREN"))
                    .map(Into::into);
                recalled(sent, &mut message);
            } else {
                message.role = "anomalie_acte";
            }
        }
        "EnveloppeCLMISILL" | "EnveloppeMISILLCL" => {
            message.role = "enveloppe";
            message.siren = xml::path(root, &["Emetteur", "IDCL"])
                .or_else(|| xml::child(root, "Destinataire"))
                .and_then(|n| xml::attr(n, "SIREN"))
                .map(Into::into);
            for form in xml::all(root, "Formulaire") {
                if let Some(named) = xml::text_at(form, &["NomFichier"]) {
                    message.files.push((named, "formulaire", Naming::Carries));
                }
            }
        }
        "DefereTA" => {
            message
                .own
                .put("actes_message_date", element(&["DateDepot"]));
            message
                .own
                .put("actes_illegality", element(&["NatureIllegalite"]));
            for piece in xml::all(root, "PieceJointe") {
                if let Some(named) = xml::text_at(piece, &["NomFichier"]) {
                    message.files.push((named, "defere", Naming::Carries));
                }
            }
        }
        "DemandeClassification"
        | "RetourClassification"
        | "ReponseClassificationSansChangement" => {
            message.role = "classification";
            message.own.put(
                "actes_classification_date",
                element(&["DateClassification"]),
            );
        }
        _ => {
            // Letters, their answers and acknowledgements, cancellations: the same attributes.
            let answered = xml::child(root, "InfosCourrierPref");
            if message.acte_id.is_none() {
                message.acte_id = answered.and_then(id_at);
            }
            let own = &mut message.own;
            own.put(
                "actes_message_date",
                xml::attr(root, "DateCourrierPref").map(Into::into),
            );
            own.put(
                "actes_reception_date",
                xml::attr(root, "DateReception").map(Into::into),
            );
            own.put(
                "actes_answered_letter_date",
                answered
                    .and_then(|a| xml::attr(a, "DateCourrierPref"))
                    .map(Into::into),
            );
            own.put("actes_observations", element(&["Motif"]));
            own.put("actes_requested_documents", element(&["DescriptionPieces"]));
            let role = if root.tag_name().name() == "PieceComplementaire" {
                "piece_complementaire"
            } else {
                "courrier"
            };
            carried(root, role, &mut message);
        }
    }
    message
}

fn id_at(node: Node<'_, '_>) -> Option<String> {
    xml::attr(node, "IDActe").map(str::to_string)
}

/// The fields of an `Acte` element (the form, or the copy inside an acknowledgement).
fn acte_fields(acte: Node<'_, '_>) -> Fields {
    let mut fields = Fields::default();
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
    fields
}

/// The files a message carries: its `Document` or `Documents` (`main_role`) and `Annexes`.
fn carried(message_node: Node<'_, '_>, main_role: &'static str, message: &mut Message) {
    named(message_node, main_role, Naming::Carries, message);
}

/// The files a message recalls (inside `ActeRecu` or `EnveloppeRecue`).
fn recalled(recall: Node<'_, '_>, message: &mut Message) {
    named(recall, "acte", Naming::Recalls, message);
    for form in xml::all(recall, "Formulaire") {
        if let Some(name) = xml::text_at(form, &["NomFichier"]) {
            message.files.push((name, "formulaire", Naming::Recalls));
        }
    }
}

fn named(node: Node<'_, '_>, main_role: &'static str, naming: Naming, message: &mut Message) {
    let documents = ["Document", "Documents"]
        .into_iter()
        .filter_map(|wrapper| xml::child(node, wrapper))
        .flat_map(|d| xml::all(d, "NomFichier"))
        .map(|n| (n, main_role));
    let annexes = xml::child(node, "Annexes")
        .into_iter()
        .flat_map(|a| xml::all(a, "NomFichier"))
        .map(|n| (n, "annexe"));
    for (node, role) in documents.chain(annexes) {
        if let Some(name) = xml::text(node) {
            message.files.push((name, role, naming));
        }
    }
}

/// `034-491011698-20171207-CL20171227_06-DE-1-1_0.xml` → `034-491011698-20171207-CL20171227_06-DE`:
/// ACTES file names start with the acte's id (département, SIREN, date, number, nature), after the
/// type of piece in Pastell's names (`99_AI-034-…`).
pub fn acte_id_of_name(name: &str) -> Option<String> {
    let name = strip_piece_type(name);
    let parts: Vec<&str> = name.splitn(6, '-').collect();
    let [dept, siren, date, number, nature, _rest] = parts.as_slice() else {
        return None;
    };
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let dept_ok = dept.len() == 3 && dept.bytes().all(|b| b.is_ascii_alphanumeric());
    let valid = dept_ok
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

/// `99_AI-034-…` → `034-…`: the two digits, underscore and two letters of a type of piece.
fn strip_piece_type(name: &str) -> &str {
    let b = name.as_bytes();
    let typed = b.len() > 6
        && b[..2].iter().all(u8::is_ascii_digit)
        && b[2] == b'_'
        && b[3..5].iter().all(u8::is_ascii_uppercase)
        && b[5] == b'-';
    if typed {
        &name[6..]
    } else {
        name
    }
}

/// Completes the fields once every message is read: what the acte id tells, and the group.
pub fn finish(analysis: &mut Analysis, names: &std::collections::BTreeSet<String>) {
    if analysis.shared.get("acte_id").is_none() {
        let id = names.iter().find_map(|n| acte_id_of_name(n));
        analysis.shared.put("acte_id", id);
    }
    if let Some(id) = analysis.shared.get("acte_id").map(str::to_string) {
        let parts: Vec<&str> = id.split('-').collect();
        if parts.len() == 5 {
            if parts[1].len() == 9 {
                analysis.shared.put("siren", Some(parts[1].to_string()));
            }
            if let Some(code) = nature_of_id_suffix(parts[4]) {
                analysis.shared.put("acte_nature_code", Some(code.into()));
                analysis
                    .shared
                    .put("acte_nature", nature_label(code).map(Into::into));
            }
        }
        analysis.group_id = Some(id);
    }
}

/// The files an ACTES message names, for grouping loose files: (carried names, which the envelope
/// waits for; recalled names, which join the group only if present). Read as a stream, so that a
/// message of any size is grouped with its files.
pub fn named_files(input: impl std::io::Read) -> Result<(Vec<String>, Vec<String>)> {
    let (mut required, mut optional) = (Vec::new(), Vec::new());
    let mut text: Option<String> = None;
    stream::walk(input, |event, path| {
        match event {
            Event::Start { name, .. } if *name == "NomFichier" => text = Some(String::new()),
            Event::Text(piece) => {
                if let Some(text) = &mut text {
                    text.push_str(piece);
                }
            }
            Event::End { name } if *name == "NomFichier" => {
                let recalled = path
                    .iter()
                    .any(|p| p == "ActeRecu" || p == "EnveloppeRecue");
                if let Some(name) = text.take().map(|t| t.trim().to_string()) {
                    if !name.is_empty() {
                        if recalled {
                            optional.push(name);
                        } else {
                            required.push(name);
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(())
    })
    .context("cannot read the ACTES message")?;
    Ok((required, optional))
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
        assert_eq!(
            acte_id_of_name("99_AI-999-999100057-20190523-201905231006_MR-AI-1-1_1.PDF").as_deref(),
            Some("999-999100057-20190523-201905231006_MR-AI")
        );
        assert_eq!(
            acte_id_of_name("02A-210200000-20240101-D1-DE-1-1_0.xml").as_deref(),
            Some("02A-210200000-20240101-D1-DE")
        );
        assert_eq!(acte_id_of_name("EACT--214502494--20170717-6.xml"), None);
        assert_eq!(acte_id_of_name("rapport-2024-01-02-xx-yy.pdf"), None);
    }

    #[test]
    fn every_schema_message_is_a_root() {
        for root in ["Annulation", "RejetLettreObservations", "AnomalieEnveloppe"] {
            assert!(is_root(root), "{root}");
        }
        for wrong in ["AnnulationActe", "RefusLettreObservations"] {
            assert!(!is_root(wrong), "{wrong}");
        }
    }
}
