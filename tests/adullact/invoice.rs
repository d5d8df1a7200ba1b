//! The any-format indexer: Factur-X and ZUGFeRD PDFs, CII and UBL invoices give their own fields.
//! Expected values are read here from the invoice XML, which poppler's `pdfdetach` takes out of the
//! PDFs where it can: an independent reader. See: issue 13 (point 7).

use std::process::Command;

use roxmltree::{Document, Node};

use super::*;

fn invoice_fixture(name: &str) -> Vec<u8> {
    read_fixture(&format!("invoice/{name}"))
}

/// The embedded file `name` of a PDF, as poppler's pdfdetach saves it.
fn pdfdetach(pdf: &Path, name: &str, out: &Path) -> Vec<u8> {
    let listing = Command::new("pdfdetach")
        .arg("-list")
        .arg(pdf)
        .output()
        .expect("pdfdetach (poppler-utils) must be installed: scripts/test installs it");
    let listing = String::from_utf8_lossy(&listing.stdout);
    let number = listing
        .lines()
        .find_map(|line| {
            let (n, file) = line.split_once(": ")?;
            (file.trim() == name).then(|| n.trim().to_string())
        })
        .unwrap_or_else(|| panic!("pdfdetach lists no {name} in {}: {listing}", pdf.display()));
    let target = out.join(name);
    let status = Command::new("pdfdetach")
        .args(["-save", &number, "-o"])
        .arg(&target)
        .arg(pdf)
        .status()
        .unwrap();
    assert!(status.success(), "pdfdetach failed on {}", pdf.display());
    fs::read(target).unwrap()
}

fn descendant<'a, 'i>(node: Node<'a, 'i>, names: &[&str]) -> Option<Node<'a, 'i>> {
    names.iter().try_fold(node, |node, name| {
        node.children()
            .find(|n| n.is_element() && n.tag_name().name() == *name)
    })
}

fn text_at(node: Node, names: &[&str]) -> String {
    descendant(node, names)
        .and_then(|n| n.text())
        .unwrap_or_else(|| panic!("no {}", names.join("/")))
        .trim()
        .to_string()
}

fn with_scheme(node: Node, element: &str, scheme: &str) -> String {
    node.descendants()
        .find(|n| n.tag_name().name() == element && n.attribute("schemeID") == Some(scheme))
        .and_then(|n| n.text())
        .unwrap_or_else(|| panic!("no {element} with scheme {scheme}"))
        .to_string()
}

/// `20240315` → `2024-03-15`.
fn iso(date: String) -> String {
    format!("{}-{}-{}", &date[..4], &date[4..6], &date[6..])
}

/// What a CII invoice says, by EN 16931's CII binding.
fn cii_expected(xml: &[u8]) -> Vec<(&'static str, String)> {
    let text = String::from_utf8(xml.to_vec()).unwrap();
    let doc = Document::parse(&text).unwrap();
    let root = doc.root_element();
    let agreement = descendant(
        root,
        &[
            "SupplyChainTradeTransaction",
            "ApplicableHeaderTradeAgreement",
        ],
    )
    .unwrap();
    let settlement = descendant(
        root,
        &[
            "SupplyChainTradeTransaction",
            "ApplicableHeaderTradeSettlement",
        ],
    )
    .unwrap();
    let totals = descendant(
        settlement,
        &["SpecifiedTradeSettlementHeaderMonetarySummation"],
    )
    .unwrap();
    let seller = descendant(agreement, &["SellerTradeParty"]).unwrap();
    let buyer = descendant(agreement, &["BuyerTradeParty"]).unwrap();
    let mut expected = vec![
        (
            "einvoice_number",
            text_at(root, &["ExchangedDocument", "ID"]),
        ),
        (
            "einvoice_type",
            text_at(root, &["ExchangedDocument", "TypeCode"]),
        ),
        (
            "einvoice_date",
            iso(text_at(
                root,
                &["ExchangedDocument", "IssueDateTime", "DateTimeString"],
            )),
        ),
        ("einvoice_seller", text_at(seller, &["Name"])),
        ("einvoice_buyer", text_at(buyer, &["Name"])),
        (
            "einvoice_currency",
            text_at(settlement, &["InvoiceCurrencyCode"]),
        ),
        (
            "einvoice_total_ht",
            text_at(totals, &["TaxBasisTotalAmount"]),
        ),
        ("einvoice_total_vat", text_at(totals, &["TaxTotalAmount"])),
        ("einvoice_total_ttc", text_at(totals, &["GrandTotalAmount"])),
        (
            "einvoice_amount_due",
            text_at(totals, &["DuePayableAmount"]),
        ),
        ("einvoice_seller_vat", with_scheme(seller, "ID", "VA")),
    ];
    if text.contains("schemeID=\"0002\"") {
        expected.push(("einvoice_seller_siren", with_scheme(seller, "ID", "0002")));
        expected.push(("einvoice_buyer_siret", with_scheme(buyer, "ID", "0009")));
        expected.push((
            "einvoice_buyer_reference",
            text_at(agreement, &["BuyerReference"]),
        ));
        expected.push((
            "einvoice_order",
            text_at(
                agreement,
                &["BuyerOrderReferencedDocument", "IssuerAssignedID"],
            ),
        ));
    }
    expected
}

/// What a UBL invoice says, by EN 16931's UBL binding.
fn ubl_expected(xml: &[u8]) -> Vec<(&'static str, String)> {
    let text = String::from_utf8(xml.to_vec()).unwrap();
    let doc = Document::parse(&text).unwrap();
    let root = doc.root_element();
    let seller = descendant(root, &["AccountingSupplierParty", "Party"]).unwrap();
    let buyer = descendant(root, &["AccountingCustomerParty", "Party"]).unwrap();
    let mut expected = vec![
        ("einvoice_number", text_at(root, &["ID"])),
        ("einvoice_type", text_at(root, &["InvoiceTypeCode"])),
        ("einvoice_date", text_at(root, &["IssueDate"])),
        (
            "einvoice_seller",
            text_at(seller, &["PartyLegalEntity", "RegistrationName"]),
        ),
        (
            "einvoice_buyer",
            text_at(buyer, &["PartyLegalEntity", "RegistrationName"]),
        ),
        (
            "einvoice_currency",
            text_at(root, &["DocumentCurrencyCode"]),
        ),
        (
            "einvoice_total_ht",
            text_at(root, &["LegalMonetaryTotal", "TaxExclusiveAmount"]),
        ),
        (
            "einvoice_total_vat",
            text_at(root, &["TaxTotal", "TaxAmount"]),
        ),
        (
            "einvoice_total_ttc",
            text_at(root, &["LegalMonetaryTotal", "TaxInclusiveAmount"]),
        ),
        (
            "einvoice_amount_due",
            text_at(root, &["LegalMonetaryTotal", "PayableAmount"]),
        ),
    ];
    if text.contains("schemeID=\"0002\"") {
        expected.push((
            "einvoice_seller_siren",
            with_scheme(seller, "CompanyID", "0002"),
        ));
        expected.push(("einvoice_seller_siret", with_scheme(seller, "ID", "0009")));
        expected.push(("einvoice_buyer_siret", with_scheme(buyer, "ID", "0009")));
    }
    expected
}

#[track_caller]
fn check(doc: &Deposited, expected: &[(&str, String)]) {
    for (field, value) in expected {
        assert_eq!(doc.field(field), value, "{} {field}", doc.name);
    }
}

#[test]
fn cii_and_ubl_invoices_give_their_own_fields() {
    let env = TestEnv::new();
    let files = [
        "CII_example1.xml",
        "factur-x-en16931-fr-handbuilt.xml",
        "ubl-tc434-example1.xml",
        "ubl-invoice-fr-handbuilt.xml",
    ];
    for name in files {
        put(&env, name, &invoice_fixture(name));
    }
    run(&env, &[]).expect_code(0).expect_quiet();
    let docs = deposited(&env);
    assert_eq!(docs.len(), files.len());
    for name in files {
        let bytes = invoice_fixture(name);
        let doc = find(&docs, name);
        assert_eq!(doc.sha, sha256(&bytes));
        assert_eq!(doc.field("envelope_type"), "chorus_fact");
        assert_eq!(doc.field("role"), "facture");
        if name.starts_with("ubl") {
            assert_eq!(doc.field("einvoice_format"), "UBL");
            check(doc, &ubl_expected(&bytes));
        } else {
            assert_eq!(doc.field("einvoice_format"), "CII");
            check(doc, &cii_expected(&bytes));
        }
    }
}

#[test]
#[cfg_attr(windows, ignore = "poppler's pdfdetach as the oracle: Linux only")]
fn factur_x_and_zugferd_pdfs_give_the_invoice_they_carry() {
    let env = TestEnv::new();
    let pdfs = [
        ("facturx-en16931-fr.pdf", "Factur-X", Some("factur-x.xml")),
        (
            "zugferd20-zugferd-invoice.pdf",
            "ZUGFeRD",
            Some("zugferd-invoice.xml"),
        ),
        // pdfdetach cannot save these two (a direct stream; /AF only): lanceur still reads them.
        (
            "pdf-embedded-kids-nametree-uncompressed.pdf",
            "Factur-X",
            None,
        ),
        ("pdf-af-only-no-names.pdf", "Factur-X", None),
        ("base-invoice-no-attachment.pdf", "", None),
    ];
    for (name, _, _) in pdfs {
        put(&env, &format!("factures/{name}"), &invoice_fixture(name));
    }
    put(&env, "factures/fichier_termine.txt", b"");
    run(&env, &["--type", "chorus_fact"])
        .expect_code(0)
        .expect_quiet();
    let docs = deposited(&env);
    assert_eq!(docs.len(), pdfs.len(), "{docs:#?}");
    // Every PDF here carries the same CII: pdfdetach shows it is the hand-built one.
    let built_from = invoice_fixture("factur-x-en16931-fr-handbuilt.xml");
    let work = env.dir("pdfdetach");
    for (name, format, embedded) in pdfs {
        let doc = find(&docs, name);
        assert_eq!(doc.sha, sha256(&invoice_fixture(name)));
        if format.is_empty() {
            assert!(doc.index.get("einvoice_number").is_none(), "{}", doc.index);
            continue;
        }
        let xml = match embedded {
            Some(file) => {
                let xml = pdfdetach(&fixture(&format!("invoice/{name}")), file, &work);
                assert_eq!(xml, built_from, "{name} embeds the hand-built CII");
                assert_eq!(doc.field("einvoice_file"), file);
                xml
            }
            None => built_from.clone(),
        };
        assert_eq!(doc.field("einvoice_format"), format, "{name}");
        check(doc, &cii_expected(&xml));
    }
}

#[test]
#[cfg_attr(windows, ignore = "poppler's pdfdetach as the oracle: Linux only")]
fn the_invoice_inside_a_chorus_flow_is_indexed_by_its_own_content() {
    let env = TestEnv::new();
    let bytes = read_fixture("chorus_fact/CPPFactureMixte-avoir-2PJ-handbuilt.xml");
    put(&env, "avoir.xml", &bytes);
    run(&env, &[]).expect_code(0).expect_quiet();
    let docs = deposited(&env);
    let pdf = find(&docs, "AV-2024-0003.pdf");
    // The flow's fields (what Chorus was told) and the file's own (what the Factur-X says).
    let text = String::from_utf8(bytes).unwrap();
    let flow = Document::parse(&text).unwrap();
    assert_eq!(
        pdf.field("invoice_number"),
        child_text(elem(&flow, "DonneesFacture"), "Id")
    );
    assert_eq!(pdf.field("einvoice_format"), "Factur-X");
    let work = env.dir("pdfdetach");
    let temp = work.join("AV-2024-0003.pdf");
    fs::write(&temp, env.cold_read(&pdf.name)).unwrap();
    check(pdf, &cii_expected(&pdfdetach(&temp, "factur-x.xml", &work)));
    assert_eq!(
        pdf.field("group_id"),
        find(&docs, "avoir.xml").field("group_id")
    );
}
