//! Chorus Pro flows (collectivity ⇔ supplier): `CPPFacturePivot` and `CPPFactureMixte`, one or more
//! invoices with their attachments inside, and `CPPStatut`, the status of invoices
//! (`CPPFactureStatuts`) or of a whole flow (`CPPFluxStatuts`).
//!
//! Each invoice (`CPPFacturePivotUnitaire`, `CPPFactureMixteUnitaire`) carries its attachments as `PJ/Contenu`: base64 of a ZIP
//! that holds the invoice itself (PDF, UBL or CII) or its annexes. They are decoded, unpacked within
//! the envelope's bounds, and each file becomes a document with the invoice's fields and the
//! invoice's group, `<supplier id>-<invoice number>`, so that the GED gathers all the files of one
//! invoice whatever their format. `TypePJ` `01` is the invoice, anything else an annex (`pj`). An
//! attachment that is not a ZIP is taken as the file `NomPJ` names. Base64 that does not decode is
//! refused, naming the invoice and the attachment.
//!
//! Fields of an invoice (on its attachments, and on the flow when it holds only that invoice):
//! number, type, frame and payment method, supplier (id and its type, name, country), validator,
//! debtor SIRET, name and service, issue and receipt dates, currency and amounts (HT, TTC, net to
//! pay), commitment and contract numbers, the invoice it corrects, the last status of the validation
//! cycle. The flow's own: its id and production date. A status gives each invoice's or flow's code,
//! label, text, comment, time and error lines; several statuses in one file give their values
//! joined by `; `, in order. A flow status is grouped with the flow it is about (`IdFlux`).

use std::io::Cursor;

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use roxmltree::Node;

use std::collections::BTreeSet;

use super::bundle::{Analysis, Fields, File};
use super::xml;
use crate::extract::archive::{self, Budget, Data};
use crate::item::{Content, Document};

pub fn read(file: &File, analysis: &mut Analysis, budget: &mut Budget) -> Result<()> {
    let bytes = file.bytes(xml::MAX_XML_BYTES)?;
    let text = xml::decode(&bytes)?;
    let doc = xml::parse(&text)?;
    let root = doc.root_element();
    let name = file.name().to_string();
    let flow = flow_fields(root);
    match root.tag_name().name() {
        "CPPStatut" => {
            analysis.role(&name, "statut");
            let mut fields = flow;
            let invoices: Vec<Node> = xml::all(root, "CPPFactureStatutUnitaire").collect();
            if let [status] = invoices.as_slice() {
                parties(*status, &mut fields);
            }
            put_each(&mut fields, "invoice_number", each(&invoices, "IdFacture"));
            put_each(&mut fields, "invoice_date", each(&invoices, "DateFacture"));
            statuses(&invoices, "invoice", invoice_status_label, &mut fields);
            if invoices.len() == 1 {
                analysis.group_id = group_of(&fields);
            }

            let flows: Vec<Node> = xml::all(root, "CPPFluxStatutUnitaire").collect();
            statuses(&flows, "flow", flow_status_label, &mut fields);
            let about = each(&flows, "IdFlux");
            let errors = flows.iter().map(|u| flow_errors(*u)).collect();
            put_each(&mut fields, "flow_status_errors", errors);
            // A flow status is about another flow, which is its group when it is about one only.
            let distinct: BTreeSet<&String> = about.iter().flatten().collect();
            if let [only] = distinct.into_iter().collect::<Vec<_>>().as_slice() {
                analysis.group_id = Some((*only).clone());
            } else if !flows.is_empty() {
                analysis.group_id = fields.get("chorus_flow_id").map(Into::into);
            }
            put_each(&mut fields, "flow_status_flow_id", about);
            analysis.describe(&name, &fields);
        }
        _ => {
            analysis.role(&name, "flux");
            let invoices: Vec<Node> = root
                .descendants()
                .filter(|n| {
                    n.is_element()
                        && matches!(
                            n.tag_name().name(),
                            "CPPFacturePivotUnitaire" | "CPPFactureMixteUnitaire"
                        )
                })
                .collect();
            if invoices.is_empty() {
                bail!(
                    "holds no invoice (no CPPFacturePivotUnitaire or CPPFactureMixteUnitaire); \
                     lanceur does not understand this Chorus Pro flow"
                );
            }
            let single = invoices.len() == 1;
            for (index, invoice) in invoices.iter().enumerate() {
                let mut fields = invoice_fields(*invoice);
                let group = group_of(&fields).unwrap_or_else(|| format!("{name}-{}", index + 1));
                fields.put("group_id", Some(group.clone()));
                for (number, pj) in xml::all(*invoice, "PJ").enumerate() {
                    let documents = unpack(pj, &fields, budget).with_context(|| {
                        format!(
                            "attachment {} ({}) of invoice {}",
                            number + 1,
                            xml::text_at(pj, &["NomPJ"]).unwrap_or_default(),
                            fields.get("invoice_number").unwrap_or("?")
                        )
                    })?;
                    analysis.extra.extend(documents);
                }
                // One invoice: the flow itself, and the files beside it, are that invoice's.
                if single {
                    analysis.group_id = Some(group);
                    analysis.describe(&name, &fields);
                    analysis.fallback = Some(fields);
                }
            }
            analysis.describe(&name, &flow);
        }
    }
    Ok(())
}

/// `DonneesStatut/<name>` of each status unit.
fn each(units: &[Node], name: &str) -> Vec<Option<String>> {
    units
        .iter()
        .map(|unit| xml::child(*unit, "DonneesStatut").and_then(|d| xml::text_at(d, &[name])))
        .collect()
}

/// The status fields of invoice or flow status units, under `<prefix>_status_*`: the code and the
/// label the schema gives it, the text, comment and time.
fn statuses(
    units: &[Node],
    prefix: &str,
    label_of: fn(&str) -> Option<&'static str>,
    fields: &mut Fields,
) {
    let codes = each(units, "IdStatut");
    let labels = codes
        .iter()
        .map(|c| c.as_deref().and_then(label_of).map(Into::into))
        .collect();
    put_each(fields, &format!("{prefix}_status_code"), codes);
    put_each(fields, &format!("{prefix}_status_label"), labels);
    for (element, suffix) in [
        ("ComplementStatut", ""),
        ("Commentaire", "_comment"),
        ("Horodatage", "_time"),
    ] {
        put_each(
            fields,
            &format!("{prefix}_status{suffix}"),
            each(units, element),
        );
    }
}

/// Puts one value per unit (status, invoice) under `name`: the value itself for one unit, the
/// units' values joined by `; ` in their order for several (an empty one stays as `-`).
fn put_each(fields: &mut Fields, name: &str, values: Vec<Option<String>>) {
    match values.as_slice() {
        [] => {}
        [one] => fields.put(name, one.clone()),
        _ if values.iter().all(Option::is_none) => {}
        _ => {
            let texts: Vec<&str> = values.iter().map(|v| v.as_deref().unwrap_or("-")).collect();
            fields.put(name, Some(texts.join("; ")));
        }
    }
}

/// The error lines of a flow status: `E001 Service destinataire inconnu: detail (REJET)`.
fn flow_errors(unit: Node<'_, '_>) -> Option<String> {
    let lines: Vec<String> = xml::all(unit, "LigneErreurDetail")
        .map(|line| {
            let get = |n: &str| xml::text_at(line, &[n]);
            let mut text = [get("CodeErreur"), get("LibelleErreur")]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            if let Some(description) = get("DescriptionErreur") {
                text.push_str(&format!(": {description}"));
            }
            if let Some(nature) = get("NatureErreur") {
                text.push_str(&format!(" ({nature})"));
            }
            text
        })
        .collect();
    (!lines.is_empty()).then(|| lines.join(", "))
}

/// Flow statuses of `CPPStatutPivot` (`CPPFluxStatuts`).
fn flow_status_label(code: &str) -> Option<&'static str> {
    Some(match code {
        "90" => "Reçu",
        "91" => "En cours de transmission",
        "92" => "Reçu destinataire final",
        "93" => "Erreur réception",
        "94" => "Erreur réception destinataire final",
        "95" => "Erreur de transmission au destinataire final",
        "96" => "Reçu - intégration partielle",
        _ => return None,
    })
}

/// Invoice statuses of `CPPStatutPivot` (`CPPFactureStatuts`) that the schema names.
fn invoice_status_label(code: &str) -> Option<&'static str> {
    Some(match code {
        "01" => "Déposée",
        "02" => "En cours d'acheminement",
        "03" => "Mise à disposition du destinataire",
        "04" => "Rejetée (erreur dans les données d'acheminement)",
        "05" => "Rejetée (autre motif)",
        "06" => "Suspendue",
        "07" => "Service fait",
        "08" => "Mandatée / DP validée",
        "09" => "Mise à disposition du comptable",
        "10" => "Comptabilisée",
        "11" => "Mise en paiement",
        "12" => "Complétée",
        _ => return None,
    })
}

/// The flow's own fields: its id and production date.
fn flow_fields(root: Node<'_, '_>) -> Fields {
    let mut fields = Fields::default();
    for parameter in xml::all(root, "ParametreIndiv") {
        let value = xml::text_at(parameter, &["Valeurparametre"]);
        match xml::text_at(parameter, &["Code"]).as_deref() {
            Some("IdFlx") => fields.put("chorus_flow_id", value),
            Some("DtPrd") => fields.put("chorus_flow_date", value),
            _ => {}
        }
    }
    fields
}

/// Supplier and debtor of an invoice or a status.
fn parties(node: Node<'_, '_>, fields: &mut Fields) {
    if let Some(supplier) = xml::child(node, "Fournisseur") {
        fields.put("supplier_id", xml::text_at(supplier, &["Identifiant"]));
        fields.put(
            "supplier_id_type",
            xml::text_at(supplier, &["TypeIdentifiant"]),
        );
        fields.put("supplier_name", xml::text_at(supplier, &["RaisonSociale"]));
        fields.put("supplier_country", xml::text_at(supplier, &["CodePays"]));
    }
    if let Some(validator) = xml::child(node, "Valideur") {
        fields.put("validator_id", xml::text_at(validator, &["Identifiant"]));
        fields.put(
            "validator_name",
            xml::text_at(validator, &["RaisonSociale"]),
        );
    }
    if let Some(debtor) = xml::child(node, "Debiteur") {
        fields.put("debtor_siret", xml::text_at(debtor, &["Identifiant"]));
        fields.put("debtor_name", xml::text_at(debtor, &["Nom"]));
        fields.put(
            "debtor_service_code",
            xml::text_at(debtor, &["CodeService"]),
        );
        fields.put("debtor_service", xml::text_at(debtor, &["NomService"]));
    }
}

fn invoice_fields(invoice: Node<'_, '_>) -> Fields {
    let mut fields = Fields::default();
    let data = xml::child(invoice, "DonneesFacture");
    let get = |names: &[&str]| data.and_then(|d| xml::text_at(d, names));
    fields.put("invoice_number", get(&["Id"]));
    let kind = get(&["Type"]);
    fields.put(
        "invoice_type_label",
        kind.as_deref().and_then(type_label).map(Into::into),
    );
    fields.put("invoice_type", kind);
    parties(invoice, &mut fields);
    fields.put("invoice_date", get(&["DateEmissionFacture"]));
    fields.put("receipt_date", get(&["DateReception"]));
    fields.put("invoice_frame", get(&["Cadre"]));
    fields.put("payment_method", get(&["ModePaiement", "Code"]));
    fields.put("currency", get(&["Devise"]));
    fields.put("amount_ht", get(&["Montants", "MontantHT"]));
    fields.put("amount_ttc", get(&["Montants", "MontantTTC"]));
    fields.put("amount_net", get(&["Montants", "MontantNetAPayer"]));
    fields.put(
        "commitment_number",
        get(&["Engagement", "NumeroEngagement"]),
    );
    fields.put("contract_number", get(&["Engagement", "NumeroMarche"]));
    fields.put("original_invoice_number", get(&["IdFactureOrigine"]));
    // The last step of the validation cycle is the invoice's current status.
    if let Some(last) = xml::all(invoice, "ValidationUnitaire").last() {
        fields.put("invoice_status_code", xml::text_at(last, &["CodeStatut"]));
        fields.put("invoice_status", xml::text_at(last, &["ComplementStatut"]));
        fields.put("invoice_status_date", xml::text_at(last, &["DateStatut"]));
    }
    fields
}

/// UNCL 1001 document codes Chorus Pro uses.
fn type_label(code: &str) -> Option<&'static str> {
    Some(match code {
        "380" => "facture",
        "381" => "avoir",
        "384" => "facture rectificative",
        "386" => "facture d'acompte",
        _ => return None,
    })
}

fn group_of(fields: &Fields) -> Option<String> {
    let number = fields.get("invoice_number")?;
    Some(match fields.get("supplier_id") {
        Some(supplier) => format!("{supplier}-{number}"),
        None => number.to_string(),
    })
}

/// The documents of one `PJ`: the files of its ZIP, or its content under `NomPJ`.
fn unpack(pj: Node<'_, '_>, invoice: &Fields, budget: &mut Budget) -> Result<Vec<Document>> {
    let encoded = xml::text_at(pj, &["Contenu"]).ok_or_else(|| anyhow!("has no content"))?;
    let compact: Vec<u8> = encoded
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(&compact)
        .map_err(|err| {
            anyhow!("its base64 content does not decode ({err}); the flow is corrupt")
        })?;
    let pj_name = xml::text_at(pj, &["NomPJ"]);
    let pj_type = xml::text_at(pj, &["TypePJ"]);
    let role = if pj_type.as_deref() == Some("01") {
        "facture"
    } else {
        "pj"
    };
    let pieces = if decoded.starts_with(b"PK\x03\x04") || decoded.starts_with(b"PK\x05\x06") {
        archive::read_zip(Cursor::new(decoded), budget).context("its ZIP")?
    } else {
        let name = pj_name
            .clone()
            .ok_or_else(|| anyhow!("is not a ZIP and has no NomPJ to name it"))?;
        budget.take_entry()?;
        let data = budget.read(&mut Cursor::new(decoded))?;
        vec![archive::Piece { path: name, data }]
    };
    if pieces.is_empty() {
        bail!("its ZIP holds no file");
    }
    Ok(pieces
        .into_iter()
        .map(|piece| {
            let mut fields = Fields::default();
            fields.put("group_id", invoice.get("group_id").map(Into::into));
            fields.put("role", Some(role.into()));
            fields.put("original_name", Some(piece.name().to_string()));
            fields.put("pj_name", pj_name.clone());
            fields.put("pj_type", pj_type.clone());
            fields.put("pj_mime_type", xml::text_at(pj, &["MimeTypePJ"]));
            fields.extend(invoice);
            let name = piece.name().to_string();
            Document {
                name,
                content: match piece.data {
                    Data::Bytes(bytes) => Content::Bytes(bytes),
                    Data::Temp(temp) => Content::Temp(temp),
                },
                fields: fields.0,
            }
        })
        .collect())
}
