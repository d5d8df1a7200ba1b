//! PES V2 files (collectivity ⇔ treasury, Hélios): `PES_Aller` (the collectivity's bordereaux),
//! `PES_Retour` (the treasury's returns) and `PES_ACQUIT` (the acknowledgement of a PES_Aller).
//! Values sit in `V` attributes: `<IdColl V="12345678912345"/>`.
//!
//! Fields: the root (`pes_type`) and file type (`TypFic`: `PESALR2`, `PESRETOUR_DEP`…), the file
//! name the PES gives itself (`NomFic`), its date, the accounting post, the collectivity id, code and
//! budget code and label, the years and bordereau ids (comma-separated when several), and for an
//! acquittement its states (`EtatAck`). The group is `NomFic`, which an acquittement repeats from the
//! PES_Aller it acknowledges, so that the GED gathers the two.
//!
//! A PDF beside the PES is its visual ("visuel"): in a bundle every PDF without another role is.

use std::collections::BTreeSet;

use anyhow::Result;
use roxmltree::Node;

use super::bundle::{Analysis, File};
use super::xml;

pub fn read(file: &File, analysis: &mut Analysis) -> Result<()> {
    let bytes = file.bytes(xml::MAX_XML_BYTES)?;
    let text = xml::decode(&bytes)?;
    let doc = xml::parse(&text)?;
    let root = doc.root_element();
    let kind = root.tag_name().name();
    let name = file.name().to_string();
    analysis.role(
        &name,
        if kind == "PES_ACQUIT" {
            "acquit"
        } else {
            "pes"
        },
    );

    let fields = &mut analysis.fields;
    fields.put("pes_type", Some(kind.to_string()));
    fields.put(
        "pes_file_type",
        xml::v_at(root, &["Enveloppe", "Parametres", "TypFic"]),
    );
    let own_name = xml::v_at(root, &["Enveloppe", "Parametres", "NomFic"]);
    fields.put("pes_file_name", own_name.clone());
    let header = xml::child(root, "EnTetePES");
    let v = |names: &[&str]| header.and_then(|h| names.iter().find_map(|n| xml::v_at(h, &[n])));
    fields.put("pes_date", v(&["DteStr"]));
    fields.put("pes_post_id", v(&["IdPost"]));
    fields.put("pes_post_label", v(&["LibellePoste"]));
    fields.put("pes_collectivity_id", v(&["IdColl"]));
    fields.put("pes_collectivity_code", v(&["CodCol", "CodColl"]));
    fields.put("pes_budget_code", v(&["CodBud"]));
    fields.put("pes_budget_label", v(&["LibelleColBud"]));
    fields.put("pes_year", joined(root, &["Exer", "ExerciceBord"]));
    fields.put("pes_bordereau_ids", joined(root, &["IdBord", "NumBord"]));
    if kind == "PES_ACQUIT" {
        fields.put("pes_ack_state", joined(root, &["EtatAck"]));
    }
    // The acquittement names the PES it acknowledges; the PES names itself: either way, one group.
    if analysis.group_id.is_none() || kind != "PES_ACQUIT" {
        if let Some(own) = own_name {
            analysis.group_id = Some(own);
        }
    }
    Ok(())
}

/// The distinct `V` values of every element with one of these local names, in order, joined.
fn joined(root: Node<'_, '_>, names: &[&str]) -> Option<String> {
    let mut seen: Vec<String> = Vec::new();
    for node in root.descendants().filter(|n| n.is_element()) {
        if names.contains(&node.tag_name().name()) {
            if let Some(value) = xml::attr(node, "V") {
                let value = value.trim().to_string();
                if !seen.contains(&value) {
                    seen.push(value);
                }
            }
        }
    }
    (!seen.is_empty()).then(|| seen.join(", "))
}

/// PDFs without a role are the PES's visual.
pub fn finish(analysis: &mut Analysis, names: &BTreeSet<String>) {
    for name in names {
        if name.to_lowercase().ends_with(".pdf") {
            analysis.role(name, "visuel");
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
