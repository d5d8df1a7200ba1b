//! `lanceur imap` on a corpus of real-world-shaped mails: every document is deposited with exactly
//! the bytes the test put in the mail, under the name its headers give.

use std::collections::{BTreeMap, BTreeSet};

use super::run;
use crate::harness::dovecot::Dovecot;
use crate::harness::mail::{fake_pdf, mail, Part};
use crate::harness::{sha256, TestEnv};

#[test]
fn a_corpus_of_real_world_mails_is_deposited_exactly() {
    let user = Dovecot::get().user("corpus");
    let mut expected: BTreeMap<String, Vec<u8>> = BTreeMap::new();

    // 1. multipart/mixed around alternative + related (an HTML body with a logo), two attachments
    //    with the same name.
    let first = fake_pdf(10, 40_000);
    let second = fake_pdf(11, 30_000);
    let logo = b"\x89PNG\r\n\x1a\n logo bytes".to_vec();
    user.deliver(&mail(
        "Deux factures",
        "two@dupont.example",
        Part::multipart(
            "mixed",
            vec![
                Part::multipart(
                    "alternative",
                    vec![
                        Part::text("Bonjour,\nci-joint nos factures."),
                        Part::multipart(
                            "related",
                            vec![
                                Part::html("<p>Bonjour</p><img src=\"cid:logo@dupont\">"),
                                Part::base64(
                                    &[
                                        "Content-Type: image/png; name=\"logo.png\"",
                                        "Content-ID: <logo@dupont>",
                                        "Content-Disposition: inline; filename=\"logo.png\"",
                                    ],
                                    &logo,
                                ),
                            ],
                        ),
                    ],
                ),
                Part::pdf("facture.pdf", &first),
                Part::pdf("facture.pdf", &second),
            ],
        ),
    ));
    expected.insert("facture.pdf".into(), first);
    expected.insert("facture_2.pdf".into(), second);

    // 2. RFC 2231 name in ISO-8859-1, RFC 2047 name in UTF-8 base64, an inline PDF.
    let releve = fake_pdf(12, 20_000);
    let proces = b"PK\x03\x04 an OpenDocument text".to_vec();
    let inline = fake_pdf(13, 8_000);
    user.deliver(&mail(
        "=?iso-8859-1?q?Relev=E9_d'ao=FBt?=",
        "rfc2231@dupont.example",
        Part::multipart(
            "mixed",
            vec![
                Part::text("Voir pièces jointes."),
                Part::base64(
                    &[
                        "Content-Type: application/pdf",
                        "Content-Disposition: attachment;\r\n filename*=iso-8859-1''relev%E9%20d%27ao%FBt.pdf",
                    ],
                    &releve,
                ),
                Part::base64(
                    &[
                        "Content-Type: application/vnd.oasis.opendocument.text;\r\n name=\"=?utf-8?b?UHJvY8Oocy12ZXJiYWwub2R0?=\"",
                        "Content-Disposition: attachment",
                    ],
                    &proces,
                ),
                Part::base64(
                    &[
                        "Content-Type: application/pdf; name=\"scan-inline.pdf\"",
                        "Content-Disposition: inline; filename=\"scan-inline.pdf\"",
                    ],
                    &inline,
                ),
            ],
        ),
    ));
    expected.insert("relevé d'août.pdf".into(), releve);
    expected.insert("Procès-verbal.odt".into(), proces);
    expected.insert("scan-inline.pdf".into(), inline);

    // 3. An attached mail (itself with an attachment) and a nameless PDF; a quoted-printable CSV
    //    in Windows-1252 that must keep its bytes.
    let inner = mail(
        "Bon de commande",
        "inner@fournisseur.example",
        Part::multipart(
            "mixed",
            vec![
                Part::text("Commande."),
                Part::pdf("commande.pdf", &fake_pdf(14, 5_000)),
            ],
        ),
    );
    let nameless = fake_pdf(15, 6_000);
    let csv = b"nom;montant\r\nCaf\xe9 de la Gare;12,50\r\n".to_vec();
    user.deliver(&mail(
        "TR: commande",
        "fwd@dupont.example",
        Part::multipart(
            "mixed",
            vec![
                Part::text("Pour info."),
                Part::rfc822(&inner, None),
                Part::base64(&["Content-Type: application/pdf"], &nameless),
                Part::quoted_printable(
                    &[
                        "Content-Type: text/csv; charset=windows-1252; name=\"depenses.csv\"",
                        "Content-Disposition: attachment; filename=\"depenses.csv\"",
                    ],
                    &csv,
                ),
            ],
        ),
    ));
    // The attached mail is cut from the outer one, byte for byte (the CRLF before the next
    // boundary belongs to the boundary).
    expected.insert("Bon de commande.eml".into(), inner);
    expected.insert("uid-3-part4.pdf".into(), nameless);
    expected.insert("depenses.csv".into(), csv);

    // 4. A 10 MB attachment.
    let big = fake_pdf(16, 10 << 20);
    user.deliver(&mail(
        "Archive",
        "big@dupont.example",
        Part::multipart(
            "mixed",
            vec![
                Part::text("Archive complète."),
                Part::base64(
                    &[
                        "Content-Type: application/zip; name=\"archive.zip\"",
                        "Content-Disposition: attachment; filename=\"archive.zip\"",
                    ],
                    &big,
                ),
            ],
        ),
    ));
    expected.insert("archive.zip".into(), big);

    let env = TestEnv::new();
    let ran = run(&env, &user, &["--index", "json", "--json"]);
    ran.expect_code(0);
    let summary = ran.summary();
    assert_eq!(summary["items_deposited"], 4, "{}", ran.explain());
    assert_eq!(
        summary["documents_deposited"],
        expected.len(),
        "{}",
        ran.explain()
    );
    let documents: BTreeSet<String> = env
        .cold_visible()
        .into_iter()
        .filter(|n| !n.ends_with(".json"))
        .collect();
    assert_eq!(
        documents,
        expected.keys().cloned().collect::<BTreeSet<_>>(),
        "{}",
        ran.explain()
    );
    for (name, content) in &expected {
        assert_eq!(
            sha256(&env.cold_read(name)),
            sha256(content),
            "{name} differs from what the mail carried"
        );
    }
    // The sidecar names the mail.
    let sidecar: serde_json::Value =
        serde_json::from_slice(&env.cold_read("relevé d'août.pdf.json")).unwrap();
    assert_eq!(sidecar["message_id"], "rfc2231@dupont.example");
    assert_eq!(sidecar["subject"], "Relevé d'août");
    assert_eq!(sidecar["from"], "Société Dupont <factures@dupont.example>");
    assert_eq!(sidecar["to"], "Service courrier <courrier@mairie.example>");
    assert_eq!(sidecar["date"], "2025-03-03T09:15:00+01:00");
    assert_eq!(sidecar["mailbox"], "INBOX");
    assert_eq!(sidecar["uid"], "2");
    assert_eq!(sidecar["attachment_name"], "relevé d'août.pdf");
    assert!(sidecar["uidvalidity"]
        .as_str()
        .is_some_and(|v| !v.is_empty()));
    // Seen on the server, and a second run takes nothing.
    assert!(user.messages("INBOX").iter().all(|m| m.seen()));
    run(&env, &user, &[]).expect_code(0).expect_quiet();
    assert_eq!(documents.len() * 2, env.cold_visible().len());
}
