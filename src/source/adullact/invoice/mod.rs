//! The any-format indexer: an invoice file's own fields, whatever its format. Chorus Pro hands the
//! collectivity an invoice as a PDF, a Factur-X or ZUGFeRD PDF (PDF/A-3 carrying a CII XML), a UBL
//! or a CII XML; the flow's fields say what Chorus was told, these say what the file itself says, so
//! that an invoice reaching the GED alone (or disagreeing with its flow) is still indexed.
//!
//! Fields, all `einvoice_*`: the format (`Factur-X`, `ZUGFeRD`, `XRechnung`, `CII`, `UBL`) and, in
//! a PDF, the embedded file's name; the profile; the number, type, issue and due dates (ISO
//! `YYYY-MM-DD`); the seller's and buyer's names, SIREN (ISO 6523 scheme `0002`), SIRET (`0009`)
//! and the seller's VAT number; the buyer reference (the Chorus service code), order (engagement)
//! and contract; the currency and the totals (HT, VAT, TTC, amount due); the invoice a credit note
//! corrects. Paths follow EN 16931's syntax bindings (CII D16B, UBL 2.1).
//!
//! Reading is best effort: a PDF lanceur cannot read or an XML of another kind gives no fields,
//! never an error, since the file is deposited either way.

mod pdf;

use roxmltree::Node;

use super::bundle::Fields;
use super::xml;

/// Largest file looked into.
pub const MAX_FILE: u64 = 64 << 20;

/// The invoice fields of a file's content, if it is an invoice lanceur can read.
pub fn fields_of(bytes: &[u8]) -> Option<Fields> {
    if looks_like_pdf(bytes) {
        let embedded = match pdf::invoice_xml(bytes) {
            Ok(Some(embedded)) => embedded,
            Ok(None) => return None,
            Err(err) => {
                log::debug!("no embedded invoice read: {err:#}");
                return None;
            }
        };
        let lower = embedded.name.to_lowercase();
        let format = if lower == "factur-x.xml" {
            "Factur-X"
        } else if lower == "xrechnung.xml" {
            "XRechnung"
        } else if lower.starts_with("zugferd") {
            "ZUGFeRD"
        } else {
            "PDF"
        };
        let mut fields = Fields::default();
        fields.put("einvoice_format", Some(format.into()));
        fields.put("einvoice_file", Some(embedded.name.clone()));
        fields.extend(&xml_fields(&embedded.bytes)?);
        return Some(fields);
    }
    let mut fields = xml_fields(bytes)?;
    let mut out = Fields::default();
    out.put("einvoice_format", fields.get("syntax").map(Into::into));
    fields.0.retain(|(name, _)| name != "syntax");
    out.extend(&fields);
    Some(out)
}

/// Whether the content starts like a PDF (`%PDF-` within the first KiB, as readers allow).
pub fn looks_like_pdf(bytes: &[u8]) -> bool {
    bytes[..bytes.len().min(1024)]
        .windows(5)
        .any(|w| w == b"%PDF-")
}

/// Whether the first bytes of a file are a CII or UBL invoice (root element's local name).
pub fn is_invoice_root(root: &str, head: &str) -> bool {
    match root {
        "CrossIndustryInvoice" | "CrossIndustryDocument" => true,
        "Invoice" | "CreditNote" => head.contains("urn:oasis:names:specification:ubl:schema:xsd"),
        _ => false,
    }
}

/// The fields of a CII or UBL XML, with `syntax` saying which.
fn xml_fields(bytes: &[u8]) -> Option<Fields> {
    let text = xml::decode(bytes).ok()?;
    let doc = xml::parse(&text).ok()?;
    let root = doc.root_element();
    let mut fields = Fields::default();
    match root.tag_name().name() {
        "CrossIndustryInvoice" => {
            fields.put("syntax", Some("CII".into()));
            cii(root, &mut fields);
        }
        "CrossIndustryDocument" => {
            fields.put("syntax", Some("CII".into()));
            zugferd1(root, &mut fields);
        }
        "Invoice" | "CreditNote"
            if root
                .tag_name()
                .namespace()
                .is_some_and(|ns| ns.starts_with("urn:oasis:names:specification:ubl")) =>
        {
            fields.put("syntax", Some("UBL".into()));
            ubl(root, &mut fields);
        }
        _ => return None,
    }
    Some(fields)
}

/// The text at a path of local names.
fn at(node: Node<'_, '_>, names: &[&str]) -> Option<String> {
    xml::text_at(node, names)
}

/// The text of the first element named `id` below `node` whose `schemeID` is `scheme`.
fn scheme_id(node: Option<Node<'_, '_>>, id: &str, scheme: &str) -> Option<String> {
    node?
        .descendants()
        .filter(|n| n.is_element() && n.tag_name().name() == id)
        .find(|n| n.attribute("schemeID") == Some(scheme))
        .and_then(xml::text)
}

/// A CII party's VAT number (`SpecifiedTaxRegistration/ID` with scheme `VA`).
fn vat_number(party: Option<Node<'_, '_>>) -> Option<String> {
    scheme_id(
        party.and_then(|p| xml::child(p, "SpecifiedTaxRegistration")),
        "ID",
        "VA",
    )
}

/// `20240315` (CII's format 102) → `2024-03-15`; other forms are kept as written.
fn iso_date(text: Option<String>) -> Option<String> {
    let text = text?;
    if text.len() == 8 && text.bytes().all(|b| b.is_ascii_digit()) {
        return Some(format!("{}-{}-{}", &text[..4], &text[4..6], &text[6..]));
    }
    Some(text)
}

fn cii(root: Node<'_, '_>, fields: &mut Fields) {
    let document = xml::child(root, "ExchangedDocument");
    let transaction = xml::child(root, "SupplyChainTradeTransaction");
    let agreement = transaction.and_then(|t| xml::child(t, "ApplicableHeaderTradeAgreement"));
    let settlement = transaction.and_then(|t| xml::child(t, "ApplicableHeaderTradeSettlement"));
    let seller = agreement.and_then(|a| xml::child(a, "SellerTradeParty"));
    let buyer = agreement.and_then(|a| xml::child(a, "BuyerTradeParty"));
    let totals =
        settlement.and_then(|s| xml::child(s, "SpecifiedTradeSettlementHeaderMonetarySummation"));
    let get = |node: Option<Node<'_, '_>>, names: &[&str]| node.and_then(|n| at(n, names));
    fields.put(
        "einvoice_profile",
        at(
            root,
            &[
                "ExchangedDocumentContext",
                "GuidelineSpecifiedDocumentContextParameter",
                "ID",
            ],
        ),
    );
    fields.put("einvoice_number", get(document, &["ID"]));
    fields.put("einvoice_type", get(document, &["TypeCode"]));
    fields.put(
        "einvoice_date",
        iso_date(get(document, &["IssueDateTime", "DateTimeString"])),
    );
    fields.put(
        "einvoice_due_date",
        iso_date(get(
            settlement,
            &[
                "SpecifiedTradePaymentTerms",
                "DueDateDateTime",
                "DateTimeString",
            ],
        )),
    );
    parties_cii(seller, "seller", fields);
    parties_cii(buyer, "buyer", fields);
    fields.put("einvoice_seller_vat", vat_number(seller));
    fields.put(
        "einvoice_buyer_reference",
        get(agreement, &["BuyerReference"]),
    );
    fields.put(
        "einvoice_order",
        get(
            agreement,
            &["BuyerOrderReferencedDocument", "IssuerAssignedID"],
        ),
    );
    fields.put(
        "einvoice_contract",
        get(
            agreement,
            &["ContractReferencedDocument", "IssuerAssignedID"],
        ),
    );
    fields.put(
        "einvoice_currency",
        get(settlement, &["InvoiceCurrencyCode"]),
    );
    fields.put("einvoice_total_ht", get(totals, &["TaxBasisTotalAmount"]));
    fields.put("einvoice_total_vat", get(totals, &["TaxTotalAmount"]));
    fields.put("einvoice_total_ttc", get(totals, &["GrandTotalAmount"]));
    fields.put("einvoice_amount_due", get(totals, &["DuePayableAmount"]));
    fields.put(
        "einvoice_credited_invoice",
        get(
            settlement,
            &["InvoiceReferencedDocument", "IssuerAssignedID"],
        ),
    );
}

fn parties_cii(party: Option<Node<'_, '_>>, role: &str, fields: &mut Fields) {
    let Some(party) = party else { return };
    fields.put(&format!("einvoice_{role}"), at(party, &["Name"]));
    let legal = xml::child(party, "SpecifiedLegalOrganization");
    fields.put(
        &format!("einvoice_{role}_siren"),
        scheme_id(legal, "ID", "0002"),
    );
    let siret = scheme_id(legal, "ID", "0009").or_else(|| {
        party
            .children()
            .filter(|n| n.is_element() && n.tag_name().name() == "GlobalID")
            .find(|n| n.attribute("schemeID") == Some("0009"))
            .and_then(xml::text)
    });
    fields.put(&format!("einvoice_{role}_siret"), siret);
}

/// ZUGFeRD 1.0 (`CrossIndustryDocument`): the header fields it shares with CII under older names.
fn zugferd1(root: Node<'_, '_>, fields: &mut Fields) {
    fields.put(
        "einvoice_profile",
        at(
            root,
            &[
                "SpecifiedExchangedDocumentContext",
                "GuidelineSpecifiedDocumentContextParameter",
                "ID",
            ],
        ),
    );
    fields.put(
        "einvoice_number",
        at(root, &["HeaderExchangedDocument", "ID"]),
    );
    fields.put(
        "einvoice_type",
        at(root, &["HeaderExchangedDocument", "TypeCode"]),
    );
    fields.put(
        "einvoice_date",
        iso_date(at(
            root,
            &["HeaderExchangedDocument", "IssueDateTime", "DateTimeString"],
        )),
    );
    let agreement = xml::path(
        root,
        &[
            "SpecifiedSupplyChainTradeTransaction",
            "ApplicableSupplyChainTradeAgreement",
        ],
    );
    let seller = agreement.and_then(|a| xml::child(a, "SellerTradeParty"));
    let buyer = agreement.and_then(|a| xml::child(a, "BuyerTradeParty"));
    fields.put("einvoice_seller", seller.and_then(|s| at(s, &["Name"])));
    fields.put("einvoice_buyer", buyer.and_then(|b| at(b, &["Name"])));
    fields.put("einvoice_seller_vat", vat_number(seller));
}

fn ubl(root: Node<'_, '_>, fields: &mut Fields) {
    let get = |names: &[&str]| at(root, names);
    fields.put("einvoice_profile", get(&["CustomizationID"]));
    fields.put("einvoice_number", get(&["ID"]));
    fields.put(
        "einvoice_type",
        get(&["InvoiceTypeCode"]).or_else(|| get(&["CreditNoteTypeCode"])),
    );
    fields.put("einvoice_date", get(&["IssueDate"]));
    fields.put(
        "einvoice_due_date",
        get(&["DueDate"]).or_else(|| get(&["PaymentMeans", "PaymentDueDate"])),
    );
    for (role, element) in [
        ("seller", "AccountingSupplierParty"),
        ("buyer", "AccountingCustomerParty"),
    ] {
        let Some(party) = xml::path(root, &[element, "Party"]) else {
            continue;
        };
        let legal = xml::child(party, "PartyLegalEntity");
        fields.put(
            &format!("einvoice_{role}"),
            legal
                .and_then(|l| at(l, &["RegistrationName"]))
                .or_else(|| at(party, &["PartyName", "Name"])),
        );
        fields.put(
            &format!("einvoice_{role}_siren"),
            scheme_id(legal, "CompanyID", "0002"),
        );
        let siret = party
            .children()
            .filter(|n| n.is_element() && n.tag_name().name() == "PartyIdentification")
            .find_map(|p| scheme_id(Some(p), "ID", "0009"))
            .or_else(|| scheme_id(legal, "CompanyID", "0009"))
            .or_else(|| {
                xml::child(party, "EndpointID")
                    .filter(|e| e.attribute("schemeID") == Some("0009"))
                    .and_then(xml::text)
            });
        fields.put(&format!("einvoice_{role}_siret"), siret);
        if role == "seller" {
            fields.put(
                "einvoice_seller_vat",
                xml::child(party, "PartyTaxScheme").and_then(|t| at(t, &["CompanyID"])),
            );
        }
    }
    fields.put("einvoice_buyer_reference", get(&["BuyerReference"]));
    fields.put("einvoice_order", get(&["OrderReference", "ID"]));
    fields.put(
        "einvoice_contract",
        get(&["ContractDocumentReference", "ID"]),
    );
    fields.put("einvoice_currency", get(&["DocumentCurrencyCode"]));
    fields.put(
        "einvoice_total_ht",
        get(&["LegalMonetaryTotal", "TaxExclusiveAmount"]),
    );
    fields.put("einvoice_total_vat", get(&["TaxTotal", "TaxAmount"]));
    fields.put(
        "einvoice_total_ttc",
        get(&["LegalMonetaryTotal", "TaxInclusiveAmount"]),
    );
    fields.put(
        "einvoice_amount_due",
        get(&["LegalMonetaryTotal", "PayableAmount"]),
    );
    fields.put(
        "einvoice_credited_invoice",
        get(&["BillingReference", "InvoiceDocumentReference", "ID"]),
    );
}
