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
