//! Chorus Pro fixtures: attachments unpacked from base64 ZIPs and grouped by invoice, status flows.

use roxmltree::Document;

use super::*;

#[test]
fn chorus_pivot_attachment_is_unpacked_and_grouped() {
    let env = TestEnv::new();
    put_fixture(&env, "facture-pivot.xml", "chorus_fact/facture-pivot.xml");
    run(&env, &[]).expect_code(0).expect_quiet();
    let docs = deposited(&env);
    assert_eq!(docs.len(), 2, "{docs:#?}");
    let pivot_bytes = read_fixture("chorus_fact/facture-pivot.xml");
    let text = String::from_utf8(pivot_bytes.clone()).unwrap();
    let pivot = Document::parse(&text).unwrap();
    let pj_name = text_of(&pivot, "NomPJ");
    let invoice = find(&docs, &pj_name);
    // The PDF inside the base64 ZIP is the fixture's Facture-PDF.pdf.
    assert_eq!(
        invoice.sha,
        sha256(&read_fixture("chorus_fact/Facture-PDF.pdf"))
    );
    assert_eq!(invoice.field("role"), "facture");
    let flow = find(&docs, "facture-pivot.xml");
    assert_eq!(flow.sha, sha256(&pivot_bytes));
    assert_eq!(flow.field("role"), "flux");
    let supplier = elem(&pivot, "Fournisseur");
    let debtor = elem(&pivot, "Debiteur");
    let child = child_text;
    let number = child(elem(&pivot, "DonneesFacture"), "Id");
    let supplier_id = child(supplier, "Identifiant");
    for doc in [invoice, flow] {
        assert_eq!(doc.field("envelope_type"), "chorus_fact");
        assert_eq!(doc.field("invoice_number"), number);
        assert_eq!(doc.field("group_id"), format!("{supplier_id}-{number}"));
        assert_eq!(doc.field("supplier_id"), supplier_id);
        assert_eq!(doc.field("supplier_name"), child(supplier, "RaisonSociale"));
        assert_eq!(doc.field("debtor_siret"), child(debtor, "Identifiant"));
        assert_eq!(doc.field("debtor_service"), child(debtor, "NomService"));
        assert_eq!(doc.field("invoice_type"), text_of(&pivot, "Type"));
        assert_eq!(
            doc.field("invoice_date"),
            text_of(&pivot, "DateEmissionFacture")
        );
        assert_eq!(doc.field("receipt_date"), text_of(&pivot, "DateReception"));
        assert_eq!(doc.field("amount_ttc"), text_of(&pivot, "MontantTTC"));
        assert_eq!(doc.field("amount_net"), text_of(&pivot, "MontantNetAPayer"));
        assert_eq!(
            doc.field("commitment_number"),
            text_of(&pivot, "NumeroEngagement")
        );
        assert_eq!(
            doc.field("contract_number"),
            text_of(&pivot, "NumeroMarche")
        );
    }
    assert_eq!(
        invoice.field("amount_ht"),
        child(elem(&pivot, "Montants"), "MontantHT")
    );
}

#[test]
fn chorus_ubl_invoice_and_status_flow() {
    let env = TestEnv::new();
    put_fixture(&env, "facture_1223.xml", "chorus_fact/facture_1223.xml");
    put_fixture(
        &env,
        "statut.xml",
        "chorus_fact/Example01-FactureStatut-ok.xml",
    );
    run(&env, &[]).expect_code(0);
    let docs = deposited(&env);
    assert_eq!(docs.len(), 3, "{docs:#?}");
    let text = String::from_utf8(read_fixture("chorus_fact/facture_1223.xml")).unwrap();
    let pivot = Document::parse(&text).unwrap();
    let encoded: String = text_of(&pivot, "Contenu")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let zip = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    let inner = unzip(&zip);
    let (ubl_name, ubl) = inner.iter().next().unwrap();
    let doc = find(&docs, ubl_name);
    assert_eq!(doc.sha, sha256(ubl));
    assert_eq!(
        doc.field("invoice_number"),
        child_text(elem(&pivot, "DonneesFacture"), "Id")
    );
    assert_eq!(doc.field("pj_type"), text_of(&pivot, "TypePJ"));
    // The current status is the last step of the validation cycle; UTF-8 accents survive.
    assert_eq!(
        doc.field("invoice_status"),
        text_of(&pivot, "ComplementStatut")
    );
    assert_eq!(doc.field("invoice_status"), "Déposée");

    let status_text =
        String::from_utf8(read_fixture("chorus_fact/Example01-FactureStatut-ok.xml")).unwrap();
    let status = Document::parse(&status_text).unwrap();
    let doc = find(&docs, "statut.xml");
    assert_eq!(doc.field("role"), "statut");
    assert_eq!(doc.field("invoice_number"), text_of(&status, "IdFacture"));
    assert_eq!(
        doc.field("invoice_status_code"),
        text_of(&status, "IdStatut")
    );
    assert_eq!(
        doc.field("invoice_status"),
        text_of(&status, "ComplementStatut")
    );
    assert_eq!(doc.field("supplier_id"), text_of(&status, "Identifiant"));
}

/// The files of every `PJ` of a Chorus flow, as the test reads them: (NomPJ, TypePJ, path, bytes).
fn pj_files(flow: &Document) -> Vec<(String, String, String, Vec<u8>)> {
    let mut out = Vec::new();
    for pj in flow.descendants().filter(|n| n.has_tag_name("PJ")) {
        let encoded: String = child_text(pj, "Contenu")
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let zip = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap();
        for (path, bytes) in unzip(&zip) {
            out.push((
                child_text(pj, "NomPJ"),
                child_text(pj, "TypePJ"),
                path,
                bytes,
            ));
        }
    }
    out
}

fn check_invoice_fields(doc: &Deposited, flow: &Document) {
    let invoice = elem(flow, "DonneesFacture");
    let supplier = elem(flow, "Fournisseur");
    let debtor = elem(flow, "Debiteur");
    let number = child_text(invoice, "Id");
    let supplier_id = child_text(supplier, "Identifiant");
    assert_eq!(doc.field("envelope_type"), "chorus_fact");
    assert_eq!(doc.field("invoice_number"), number);
    assert_eq!(doc.field("group_id"), format!("{supplier_id}-{number}"));
    assert_eq!(doc.field("supplier_id"), supplier_id);
    assert_eq!(
        doc.field("supplier_id_type"),
        child_text(supplier, "TypeIdentifiant")
    );
    assert_eq!(
        doc.field("supplier_name"),
        child_text(supplier, "RaisonSociale")
    );
    assert_eq!(doc.field("debtor_siret"), child_text(debtor, "Identifiant"));
    assert_eq!(doc.field("invoice_type"), child_text(invoice, "Type"));
    assert_eq!(
        doc.field("invoice_date"),
        child_text(invoice, "DateEmissionFacture")
    );
    let amounts = elem(flow, "Montants");
    assert_eq!(doc.field("amount_ht"), child_text(amounts, "MontantHT"));
    assert_eq!(doc.field("amount_ttc"), child_text(amounts, "MontantTTC"));
    assert_eq!(
        doc.field("amount_net"),
        child_text(amounts, "MontantNetAPayer")
    );
    assert_eq!(
        doc.field("payment_method"),
        child_text(elem(flow, "ModePaiement"), "Code")
    );
}

// See: issue 13 (point 1).
#[test]
fn a_real_cpp_facture_mixte_is_decoded_like_a_pivot() {
    let env = TestEnv::new();
    let bytes = read_fixture("chorus_fact/Facture-IN_DP_E2_CPP_FACTURE_MIN.xml");
    put(&env, "Facture-IN_DP_E2_CPP_FACTURE_MIN.xml", &bytes);
    run(&env, &[]).expect_code(0).expect_quiet();
    let docs = deposited(&env);
    let text = String::from_utf8(bytes.clone()).unwrap();
    let flow = Document::parse(&text).unwrap();
    assert_eq!(flow.root_element().tag_name().name(), "CPPFactureMixte");
    let pjs = pj_files(&flow);
    assert_eq!(docs.len(), 1 + pjs.len(), "{docs:#?}");
    for (_, kind, path, content) in &pjs {
        let doc = find(&docs, path);
        assert_eq!(doc.sha, sha256(content));
        assert_eq!(
            doc.field("role"),
            if kind == "01" { "facture" } else { "pj" }
        );
        check_invoice_fields(doc, &flow);
    }
    // The invoice PDF inside is the one the shared fixtures hold.
    assert_eq!(
        find(&docs, &pjs[0].2).sha,
        sha256(&read_fixture("chorus_fact/Facture-PDF.pdf"))
    );
    let flow_doc = find(&docs, "Facture-IN_DP_E2_CPP_FACTURE_MIN.xml");
    assert_eq!(flow_doc.sha, sha256(&bytes));
    assert_eq!(flow_doc.field("role"), "flux");
    check_invoice_fields(flow_doc, &flow);
}

#[test]
fn a_credit_note_with_two_attachment_zips_keeps_every_file_together() {
    let env = TestEnv::new();
    let bytes = read_fixture("chorus_fact/CPPFactureMixte-avoir-2PJ-handbuilt.xml");
    put(&env, "avoir.xml", &bytes);
    run(&env, &[]).expect_code(0).expect_quiet();
    let docs = deposited(&env);
    let text = String::from_utf8(bytes).unwrap();
    let flow = Document::parse(&text).unwrap();
    let pjs = pj_files(&flow);
    assert_eq!(pjs.len(), 3, "two ZIPs, three files");
    assert_eq!(docs.len(), 4, "{docs:#?}");
    let group = find(&docs, "avoir.xml").field("group_id").to_string();
    for (pj_name, kind, path, content) in &pjs {
        let name = path.rsplit('/').next().unwrap();
        let doc = find(&docs, name);
        assert_eq!(doc.sha, sha256(content), "{path}");
        assert_eq!(doc.field("group_id"), group);
        assert_eq!(doc.field("pj_name"), pj_name);
        assert_eq!(doc.field("pj_type"), kind);
        check_invoice_fields(doc, &flow);
        assert_eq!(
            doc.field("original_invoice_number"),
            text_of(&flow, "IdFactureOrigine")
        );
        assert_eq!(doc.field("invoice_type_label"), "avoir");
        assert_eq!(
            doc.field("validator_id"),
            child_text(elem(&flow, "Valideur"), "Identifiant")
        );
        assert_eq!(
            doc.field("commitment_number"),
            text_of(&flow, "NumeroEngagement")
        );
    }
}

#[test]
fn flow_statuses_carry_their_code_and_text() {
    let env = TestEnv::new();
    for name in [
        "Example04-FactureStatut-ko.xml",
        "CPPFluxStatuts-erreur-handbuilt.xml",
    ] {
        put_fixture(&env, name, &format!("chorus_fact/{name}"));
    }
    run(&env, &[]).expect_code(0).expect_quiet();
    let docs = deposited(&env);
    assert_eq!(docs.len(), 2);

    let text =
        String::from_utf8(read_fixture("chorus_fact/Example04-FactureStatut-ko.xml")).unwrap();
    let status = Document::parse(&text).unwrap();
    let doc = find(&docs, "Example04-FactureStatut-ko.xml");
    assert_eq!(doc.field("role"), "statut");
    for (field, element) in [
        ("flow_status_code", "IdStatut"),
        ("flow_status", "ComplementStatut"),
        ("flow_status_comment", "Commentaire"),
        ("flow_status_time", "Horodatage"),
        ("flow_status_flow_id", "IdFlux"),
    ] {
        assert_eq!(doc.field(field), text_of(&status, element), "{field}");
    }
    assert_eq!(doc.field("group_id"), text_of(&status, "IdFlux"));
    assert_eq!(doc.field("flow_status_label"), "Reçu destinataire final");

    // Two statuses in one file: each one's values, in order.
    let text = String::from_utf8(read_fixture(
        "chorus_fact/CPPFluxStatuts-erreur-handbuilt.xml",
    ))
    .unwrap();
    let status = Document::parse(&text).unwrap();
    let units: Vec<roxmltree::Node> = status
        .descendants()
        .filter(|n| n.has_tag_name("CPPFluxStatutUnitaire"))
        .collect();
    assert_eq!(units.len(), 2);
    let each = |name: &str| -> String {
        units
            .iter()
            .map(|u| {
                u.descendants()
                    .find(|n| n.has_tag_name(name))
                    .map_or("-".to_string(), |n| n.text().unwrap().trim().to_string())
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let doc = find(&docs, "CPPFluxStatuts-erreur-handbuilt.xml");
    assert_eq!(doc.field("flow_status_code"), each("IdStatut"));
    assert_eq!(doc.field("flow_status"), each("ComplementStatut"));
    assert_eq!(doc.field("flow_status_flow_id"), each("IdFlux"));
    let errors = doc.field("flow_status_errors");
    for line in status
        .descendants()
        .filter(|n| n.has_tag_name("LigneErreurDetail"))
    {
        for part in ["CodeErreur", "LibelleErreur", "NatureErreur"] {
            let value = child_text(line, part);
            assert!(errors.contains(&value), "{value} not in {errors}");
        }
    }
    // About two flows: grouped under its own flow id.
    let own_id = status
        .descendants()
        .find(|n| {
            n.has_tag_name("Valeurparametre")
                && n.prev_sibling_element()
                    .is_some_and(|p| p.text() == Some("IdFlx"))
        })
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(doc.field("group_id"), own_id);
}
