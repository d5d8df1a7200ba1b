//! Every ACTES message of the contrôle de légalité, real (S²LOW, Pastell) and built from the schema,
//! each with its own fields and grouped with its acte. Expected values are read from the messages
//! here. See: issue 13.

use roxmltree::{Document, Node};

use super::*;

fn message_fixture(name: &str) -> Vec<u8> {
    read_fixture(&format!("acte_nature/messages/{name}"))
}

/// An ACTES attribute of `node`, namespaced as the schema qualifies them.
fn actes_attr<'a>(node: Node<'a, '_>, name: &str) -> Option<&'a str> {
    node.attribute((ACTES, name))
}

fn child_elem<'a, 'i>(node: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    node.descendants()
        .find(|n| n.is_element() && n.tag_name().name() == name)
}

fn child_value(node: Node, name: &str) -> Option<String> {
    child_elem(node, name)
        .and_then(|n| n.text())
        .map(|t| t.trim().to_string())
}

/// Every `NomFichier` below `node`, outside what it recalls (`ActeRecu`, `EnveloppeRecue`).
fn carried_files(root: Node) -> Vec<String> {
    root.descendants()
        .filter(|n| n.has_tag_name((ACTES, "NomFichier")))
        .filter(|n| {
            !n.ancestors().any(|a| {
                a.has_tag_name((ACTES, "ActeRecu")) || a.has_tag_name((ACTES, "EnveloppeRecue"))
            })
        })
        .map(|n| n.text().unwrap().trim().to_string())
        .collect()
}

/// The acte id the way the ACTES file names spell it: their first five dash-separated parts.
fn id_of_name(name: &str) -> String {
    name.split('-').take(5).collect::<Vec<_>>().join("-")
}

/// Puts the message fixtures `files` in a source folder, takes them, and checks that every one
/// was deposited and none left behind.
fn take_messages(files: &[&str]) -> (TestEnv, Vec<Deposited>) {
    let env = TestEnv::new();
    for name in files {
        put(&env, name, &message_fixture(name));
    }
    run(&env, &[]).expect_code(0).expect_quiet();
    assert!(names(&env.source).is_empty(), "{}", env.listing());
    let docs = deposited(&env);
    assert_eq!(docs.len(), files.len(), "{docs:#?}");
    (env, docs)
}

const ACTE_034: [&str; 12] = [
    "034-000000000-20170701-20170725A-AI-2-1_0.xml",
    "034-000000000-20170701-20170725A-AI-2-2_0.xml",
    "034-000000000-20170701-20170725A-AI-3-1_0.xml",
    "034-000000000-20170701-20170725A-AI-3-2_0.xml",
    "034-000000000-20170701-20170725A-AI-3-5_0.xml",
    "034-000000000-20170701-20170725A-AI-4-1_0.xml",
    "034-000000000-20170701-20170725A-AI-4-2_0.xml",
    "034-000000000-20170701-20170725A-AI-4-3_0.xml",
    "034-000000000-20170701-20170725A-AI-4-4_0.xml",
    "034-000000000-20170701-20170725A-AI-4-5_0.xml",
    "034-000000000-20170701-20170725A-AI-5-1_0.xml",
    "001-000000000-20170130-TEST42-DE-3-4_0.xml",
];

#[test]
fn every_letter_of_the_controle_de_legalite_has_its_fields_and_its_acte() {
    let env = TestEnv::new();
    let mut carried: Vec<(String, Vec<u8>)> = Vec::new();
    for name in ACTE_034
        .iter()
        .copied()
        .chain(["001-000000000-20170130-TEST42-DE-3-3_0.xml"])
    {
        let bytes = message_fixture(name);
        put(&env, name, &bytes);
        let text = xml_text(&bytes);
        let doc = Document::parse(&text).unwrap();
        for file in carried_files(doc.root_element()) {
            let pdf = format!("%PDF-1.4 stand-in for {file}\n").into_bytes();
            put(&env, &file, &pdf);
            carried.push((file, pdf));
        }
    }
    run(&env, &[]).expect_code(0).expect_quiet();
    assert!(names(&env.source).is_empty(), "{}", env.listing());
    let docs = deposited(&env);
    assert_eq!(docs.len(), 13 + carried.len(), "{docs:#?}");

    for name in ACTE_034
        .iter()
        .copied()
        .chain(["001-000000000-20170130-TEST42-DE-3-3_0.xml"])
    {
        let bytes = message_fixture(name);
        let text = xml_text(&bytes);
        let doc = Document::parse(&text).unwrap();
        let root = doc.root_element();
        let message = find(&docs, name);
        assert_eq!(message.sha, sha256(&bytes), "{name}");
        assert_eq!(message.field("envelope_type"), "acte_nature", "{name}");
        assert_eq!(
            message.field("actes_message"),
            root.tag_name().name(),
            "{name}"
        );
        let answered = child_elem(root, "InfosCourrierPref");
        let id = actes_attr(root, "IDActe")
            .or_else(|| answered.and_then(|a| actes_attr(a, "IDActe")))
            .unwrap();
        assert_eq!(message.field("acte_id"), id, "{name}");
        assert_eq!(message.field("group_id"), id, "{name}");
        let mut expected: Vec<(&str, String)> = Vec::new();
        if let Some(date) = actes_attr(root, "DateCourrierPref") {
            expected.push(("actes_message_date", date.to_string()));
        }
        if let Some(date) = actes_attr(root, "DateReception") {
            expected.push(("actes_reception_date", date.to_string()));
        }
        if let Some(date) = answered.and_then(|a| actes_attr(a, "DateCourrierPref")) {
            expected.push(("actes_answered_letter_date", date.to_string()));
        }
        for (element, field) in [
            ("Motif", "actes_observations"),
            ("DescriptionPieces", "actes_requested_documents"),
            ("NatureIllegalite", "actes_illegality"),
            ("DateDepot", "actes_message_date"),
        ] {
            if let Some(value) = child_value(root, element) {
                expected.push((field, value));
            }
        }
        assert!(
            !expected.is_empty() || root.tag_name().name() == "Annulation",
            "{name}"
        );
        for (field, value) in &expected {
            assert_eq!(message.field(field), value, "{name} {field}");
        }
        // The files a message carries are its documents: its fields, its acte.
        for file in carried_files(root) {
            let doc = find(&docs, &file);
            let (_, content) = carried.iter().find(|(n, _)| *n == file).unwrap();
            assert_eq!(doc.sha, sha256(content), "{file}");
            assert_eq!(doc.field("group_id"), id, "{file}");
            assert_eq!(doc.field("actes_message"), root.tag_name().name(), "{file}");
            for (field, value) in &expected {
                assert_eq!(doc.field(field), value, "{file} {field}");
            }
            let role = doc.field("role");
            assert!(
                ["courrier", "piece_complementaire", "defere"].contains(&role),
                "{file}: {role}"
            );
        }
    }
    // The accented texts of the ISO-8859-1 letters arrive in UTF-8.
    let observations = find(&docs, "034-000000000-20170701-20170725A-AI-4-1_0.xml");
    assert!(observations
        .field("actes_observations")
        .contains("délégation"));
}

#[test]
fn anomalies_and_cancellations_are_grouped_with_their_acte() {
    let files = [
        "999-1234----1-3_0.xml",
        "034-000000000-20170701-20170721D-AI-1-3_0.xml",
        "999-1234----6-1_0.xml",
        "999-1234----6-2_0.xml",
    ];
    let (_env, docs) = take_messages(&files);
    for name in files.iter().take(2) {
        let bytes = message_fixture(name);
        let text = xml_text(&bytes);
        let doc = Document::parse(&text).unwrap();
        let root = doc.root_element();
        let anomaly = find(&docs, name);
        assert_eq!(anomaly.sha, sha256(&bytes));
        assert_eq!(anomaly.field("role"), "anomalie_acte");
        assert_eq!(anomaly.field("actes_message"), "AnomalieActe");
        check_anomaly(anomaly, root);
        let acte = child_elem(root, "ActeRecu").unwrap();
        assert_eq!(
            anomaly.field("acte_number"),
            actes_attr(acte, "NumeroInterne").unwrap()
        );
        assert_eq!(
            anomaly.field("acte_date"),
            actes_attr(acte, "Date").unwrap()
        );
        assert_eq!(
            anomaly.field("acte_object"),
            child_value(acte, "Objet").unwrap()
        );
        assert_eq!(
            anomaly.field("acte_nature_code"),
            actes_attr(acte, "CodeNatureActe").unwrap()
        );
        // No IDActe in an AnomalieActe: the acte's id is in the names of the files.
        let recalled = child_value(acte, "NomFichier").unwrap();
        let by_name = if acte_id_like(name) {
            id_of_name(name)
        } else {
            id_of_name(recalled.split_once('-').unwrap().1)
        };
        assert_eq!(anomaly.field("acte_id"), by_name, "{name}");
        assert_eq!(anomaly.field("group_id"), by_name, "{name}");
    }
    // Character references decode: "t&#xE9;l&#xE9;transmission".
    assert_eq!(
        find(&docs, files[0]).field("acte_object"),
        "test de télétransmission"
    );
    for name in &files[2..] {
        let text = xml_text(&message_fixture(name));
        let doc = Document::parse(&text).unwrap();
        let root = doc.root_element();
        let message = find(&docs, name);
        assert_eq!(message.field("actes_message"), root.tag_name().name());
        assert_eq!(
            message.field("acte_id"),
            actes_attr(root, "IDActe").unwrap()
        );
        if let Some(date) = actes_attr(root, "DateReception") {
            assert_eq!(message.field("actes_reception_date"), date);
        }
    }
}

/// The fields every anomaly message has: its date, nature and detail.
#[track_caller]
fn check_anomaly(doc: &Deposited, root: Node) {
    for (field, element) in [
        ("actes_message_date", "Date"),
        ("actes_anomaly_nature", "Nature"),
        ("actes_anomaly_detail", "Detail"),
    ] {
        let expected = child_value(root, element).unwrap();
        assert_eq!(doc.field(field), expected, "{} {field}", doc.name);
    }
}

fn acte_id_like(name: &str) -> bool {
    name.split('-').nth(1).is_some_and(|siren| siren.len() == 9)
}

#[test]
fn an_envelope_anomaly_is_deposited_alone_with_the_acte_it_recalls() {
    let name = "ANO_EACT--210703385--20170612-2.xml";
    let (_env, docs) = take_messages(&[name]);
    let bytes = message_fixture(name);
    let text = xml_text(&bytes);
    let doc = Document::parse(&text).unwrap();
    let root = doc.root_element();
    let anomaly = &docs[0];
    assert_eq!(anomaly.sha, sha256(&bytes));
    assert_eq!(anomaly.field("role"), "anomalie_enveloppe");
    check_anomaly(anomaly, root);
    assert_eq!(
        anomaly.field("siren"),
        child_elem(root, "IDCL")
            .unwrap()
            .attribute((INSEE, "SIREN"))
            .unwrap()
    );
    let form = child_value(root, "NomFichier").unwrap();
    assert_eq!(anomaly.field("group_id"), id_of_name(&form));
}

#[test]
fn classification_messages_carry_their_date() {
    let files = [
        "999-1234----7-2_1.excerpt.xml",
        "DemandeClassification-7-1-handbuilt.xml",
        "ReponseClassificationSansChangement-7-3-handbuilt.xml",
    ];
    let (_env, docs) = take_messages(&files);
    for name in files {
        let text = xml_text(&message_fixture(name));
        let doc = Document::parse(&text).unwrap();
        let message = find(&docs, name);
        assert_eq!(message.field("role"), "classification");
        assert_eq!(
            message.field("actes_message"),
            doc.root_element().tag_name().name()
        );
        assert_eq!(
            message.field("actes_classification_date"),
            text_of(&doc, "DateClassification")
        );
    }
}

#[test]
fn a_prefecture_tarball_of_observations() {
    let env = TestEnv::new();
    let tarball = message_fixture("lettre_observations-TACT.tar.gz");
    put(
        &env,
        "TACT--SPREF0341-000000000-20170810-9.tar.gz",
        &tarball,
    );
    run(&env, &[]).expect_code(0).expect_quiet();
    let files = untar_gz(&tarball);
    let docs = deposited(&env);
    assert_eq!(docs.len(), files.len());
    let (letter_name, letter) = files.iter().find(|(n, _)| n.ends_with("_0.xml")).unwrap();
    let text = xml_text(letter);
    let doc = Document::parse(&text).unwrap();
    let root = doc.root_element();
    let pdf_name = text_of(&doc, "NomFichier");
    let pdf = find(&docs, &pdf_name);
    assert_eq!(pdf.sha, sha256(&files[&pdf_name]));
    assert_eq!(pdf.field("role"), "courrier");
    assert_eq!(pdf.field("actes_message"), "LettreObservations");
    assert_eq!(pdf.field("actes_observations"), text_of(&doc, "Motif"));
    assert_eq!(pdf.field("group_id"), actes_attr(root, "IDActe").unwrap());
    assert_eq!(find(&docs, letter_name).field("role"), "formulaire");
}
