//! PES V2 fixtures: bare PES files, a Pastell import ZIP with its visual, a Pastell folder with an
//! acquittement.

use roxmltree::Document;

use super::*;

#[test]
fn pastell_folder_with_pes_acquittement_and_manifest() {
    let env = TestEnv::new();
    let aller = read_fixture("helios/HELIOS_SIMU_ALR2_1496987735_826268894.xml");
    put(&env, "pes/PESALR2_49101169800000_171227_2045.xml", &aller);
    put_fixture(
        &env,
        "pes/ACQUIT_PESALR2_49101169800000_171227_2045.xml",
        "helios/ACQUIT_PESALR2_49101169800000_171227_2045.xml",
    );
    put_fixture(
        &env,
        "pes/manifest.xml",
        "helios/manifest-helios-automatique.xml",
    );
    put(&env, "pes/fichier_termine.txt", b"ok");
    run(&env, &["--type", "helios"])
        .expect_code(0)
        .expect_quiet();
    let docs = deposited(&env);
    assert_eq!(docs.len(), 3);
    let aller_text = xml_text(&aller);
    let aller_doc = Document::parse(&aller_text).unwrap();
    let pes = find(&docs, "PESALR2_49101169800000_171227_2045.xml");
    assert_eq!(pes.sha, sha256(&aller));
    assert_eq!(pes.field("role"), "pes");
    assert_eq!(pes.field("pastell_field"), "fichier_pes");
    assert_eq!(pes.field("group_id"), v_of(&aller_doc, "NomFic"));
    let ack = find(&docs, "ACQUIT_PESALR2_49101169800000_171227_2045.xml");
    assert_eq!(ack.field("role"), "acquit");
    assert_eq!(ack.field("pastell_field"), "fichier_reponse");
    assert_eq!(ack.field("pes_ack_state"), "1");
    assert_eq!(ack.field("envelope_type"), "helios");
}

#[test]
fn pastell_import_zip_of_a_pes_with_its_visual() {
    let env = TestEnv::new();
    put_fixture(&env, "pes.zip", "helios/test.zip");
    run(&env, &[]).expect_code(0);
    let files = unzip(&read_fixture("helios/test.zip"));
    let docs = deposited(&env);
    assert_eq!(docs.len(), files.len());
    for (name, content) in &files {
        assert_eq!(find(&docs, name).sha, sha256(content), "{name}");
    }
    let text = xml_text(&files["pes.xml"]);
    let pes = Document::parse(&text).unwrap();
    let visual = find(&docs, "pes.pdf");
    assert_eq!(visual.field("role"), "visuel");
    for doc in [visual, find(&docs, "pes.xml")] {
        assert_eq!(doc.field("envelope_type"), "helios");
        assert_eq!(doc.field("pes_type"), "PES_Aller");
        assert_eq!(doc.field("pes_file_type"), v_of(&pes, "TypFic"));
        assert_eq!(doc.field("pes_collectivity_id"), v_of(&pes, "IdColl"));
        assert_eq!(doc.field("pes_budget_code"), v_of(&pes, "CodBud"));
        assert_eq!(doc.field("pes_budget_label"), v_of(&pes, "LibelleColBud"));
        assert_eq!(doc.field("pes_year"), v_of(&pes, "Exer"));
        assert_eq!(doc.field("pes_bordereau_ids"), v_of(&pes, "IdBord"));
        assert_eq!(doc.field("group_id"), v_of(&pes, "NomFic"));
    }
}

#[test]
fn bare_pes_files_each_an_envelope() {
    let env = TestEnv::new();
    let files = [
        "ACQUIT_PESALR2_49101169800000_171227_2045.xml",
        "HELIOS_SIMU_ALR2_1496987735_826268894.xml",
        "HELIOS_SIMU_RETOUR_1565181244_184723364.xml",
    ];
    for name in files {
        put_fixture(&env, name, &format!("helios/{name}"));
    }
    let ran = run(&env, &["--json"]);
    ran.expect_code(0);
    assert_eq!(ran.summary()["items_deposited"], 3);
    let docs = deposited(&env);
    for name in files {
        let bytes = read_fixture(&format!("helios/{name}"));
        let text = xml_text(&bytes);
        let pes = Document::parse(&text).unwrap();
        let doc = find(&docs, name);
        assert_eq!(doc.sha, sha256(&bytes));
        assert_eq!(doc.field("pes_type"), pes.root_element().tag_name().name());
        assert_eq!(doc.field("pes_file_type"), v_of(&pes, "TypFic"));
        assert_eq!(doc.field("pes_collectivity_id"), v_of(&pes, "IdColl"));
        assert_eq!(doc.field("pes_date"), v_of(&pes, "DteStr"));
        assert_eq!(doc.field("group_id"), v_of(&pes, "NomFic"));
    }
    let ack_text = xml_text(&read_fixture(&format!("helios/{}", files[0])));
    let ack = Document::parse(&ack_text).unwrap();
    let doc = find(&docs, files[0]);
    assert_eq!(doc.field("pes_bordereau_ids"), v_of(&ack, "NumBord"));
    assert_eq!(doc.field("pes_year"), v_of(&ack, "ExerciceBord"));
    assert_eq!(doc.field("pes_ack_state"), v_of(&ack, "EtatAck"));
    let retour = find(&docs, files[2]);
    assert_eq!(retour.field("pes_post_label"), "CORBARIEU");
}

/// The `V` of every element named `local`, in document order.
fn v_all(doc: &Document, local: &str) -> Vec<String> {
    doc.descendants()
        .filter(|n| n.is_element() && n.tag_name().name() == local)
        .filter_map(|n| n.attribute("V"))
        .map(str::to_string)
        .collect()
}

fn v_child(node: roxmltree::Node, local: &str) -> Option<String> {
    node.children()
        .find(|n| n.is_element() && n.tag_name().name() == local)
        .and_then(|n| n.attribute("V"))
        .map(str::to_string)
}

/// The PJ of a PES_PJ as the schema defines them: base64 of the gzipped file.
fn pes_pj(pj: roxmltree::Node) -> Vec<u8> {
    let fichier = pj
        .descendants()
        .find(|n| n.has_tag_name("Fichier"))
        .unwrap();
    let encoded: String = fichier
        .text()
        .unwrap()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let gz = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(gz.as_slice())
        .read_to_end(&mut out)
        .unwrap();
    out
}

// See: issue 13 (points 2 and 4).
#[test]
fn pes_pj_attachments_are_documents_and_the_acquittement_keeps_its_own_fields() {
    let env = TestEnv::new();
    let aller = read_fixture("helios/PES_Aller_avec_PES_PJ-handbuilt.xml");
    let acquit = read_fixture("helios/ACQUIT_rejet_bordereau_et_PJ-handbuilt.xml");
    let zip = zip_of(&[
        ("PESALR2_21340172200017_240402_0001.xml", &aller),
        ("ACQUIT_PESALR2_21340172200017_240402_0001.xml", &acquit),
    ]);
    put(&env, "helios-42.zip", &zip);
    run(&env, &[]).expect_code(0).expect_quiet();
    let docs = deposited(&env);
    assert_eq!(docs.len(), 4, "{docs:#?}");
    let aller_text = xml_text(&aller);
    let pes = Document::parse(&aller_text).unwrap();
    let acquit_text = xml_text(&acquit);
    let ack = Document::parse(&acquit_text).unwrap();

    let pes_doc = find(&docs, "PESALR2_21340172200017_240402_0001.xml");
    assert_eq!(pes_doc.sha, sha256(&aller), "the PES is kept whole");
    let ack_doc = find(&docs, "ACQUIT_PESALR2_21340172200017_240402_0001.xml");
    assert_eq!(ack_doc.sha, sha256(&acquit));

    // Each PJ: its bytes, named by NomPJ, with its IdUnique, the piece that refers to it, and the
    // collectivity.
    let pjs: Vec<roxmltree::Node> = pes
        .descendants()
        .filter(|n| n.has_tag_name("PJ") && n.parent().unwrap().has_tag_name("PES_PJ"))
        .collect();
    assert_eq!(pjs.len(), 2);
    for pj in &pjs {
        let name = v_child(*pj, "NomPJ").unwrap();
        let doc = find(&docs, &name);
        assert_eq!(doc.sha, sha256(&pes_pj(*pj)), "{name}");
        assert_eq!(doc.field("role"), "pj");
        assert_eq!(doc.field("pes_pj_id"), v_child(*pj, "IdUnique").unwrap());
        assert_eq!(doc.field("pes_pj_type"), v_child(*pj, "TypePJ").unwrap());
        assert_eq!(
            doc.field("pes_pj_description"),
            v_child(*pj, "Description").unwrap()
        );
        assert_eq!(doc.field("pes_collectivity_id"), v_of(&pes, "IdColl"));
        assert_eq!(doc.field("pes_budget_code"), v_of(&pes, "CodBud"));
        assert_eq!(doc.field("group_id"), v_of(&pes, "NomFic"));
        assert_eq!(doc.field("pes_pj_piece"), v_of(&pes, "IdPce"));
    }
    assert_eq!(
        find(&docs, "facture-fournitures-2024-77.pdf").sha,
        sha256(&read_fixture("helios/PJ-facture-fournitures-2024-77.pdf"))
    );

    // Fields belong to the document they describe: the acquittement's date is its own, not the
    // PES's, and the PES does not carry the acquittement's verdict.
    let dates = (v_of(&pes, "DteStr"), v_of(&ack, "DteStr"));
    assert_ne!(dates.0, dates.1, "the fixtures differ in date");
    assert_eq!(pes_doc.field("pes_date"), dates.0);
    assert_eq!(ack_doc.field("pes_date"), dates.1);
    assert!(
        pes_doc.index.get("pes_ack_result").is_none(),
        "{}",
        pes_doc.index
    );
    assert_eq!(pes_doc.field("pes_type"), "PES_Aller");
    assert_eq!(ack_doc.field("pes_type"), "PES_ACQUIT");
    assert_eq!(ack_doc.field("group_id"), pes_doc.field("group_id"));

    // Each bordereau's state, and every reason given for a refusal.
    let elements: Vec<roxmltree::Node> = ack
        .descendants()
        .filter(|n| n.has_tag_name("ElementACQUIT"))
        .collect();
    let bordereau = elements
        .iter()
        .find(|e| v_child(**e, "NumBord").is_some())
        .unwrap();
    assert_eq!(v_child(*bordereau, "EtatAck").as_deref(), Some("0"));
    assert_eq!(
        ack_doc.field("pes_ack_bordereaux"),
        format!(
            "{}/{} refused",
            v_child(*bordereau, "ExerciceBord").unwrap(),
            v_child(*bordereau, "NumBord").unwrap()
        )
    );
    assert_eq!(ack_doc.field("pes_ack_result"), "partly refused");
    let reasons = ack_doc.field("pes_ack_reasons");
    for label in v_all(&ack, "LibelleAnoAck")
        .into_iter()
        .chain(v_all(&ack, "NumAnoAck"))
    {
        assert!(reasons.contains(&label), "{label} not in {reasons}");
    }
    assert!(reasons.contains(&format!("pièce {}", v_of(&ack, "NumPiece"))));
    let refused_pj: Vec<String> = elements
        .iter()
        .filter(|e| v_child(**e, "EtatAck").as_deref() == Some("0"))
        .filter_map(|e| v_child(*e, "IdUnique"))
        .collect();
    assert_eq!(ack_doc.field("pes_ack_pj_refused"), refused_pj.join(", "));
}

#[test]
fn a_refusal_given_at_line_level_is_told() {
    let env = TestEnv::new();
    let bytes = read_fixture("helios/pes_acquit_no_ack.xml");
    put(&env, "pes_acquit_no_ack.xml", &bytes);
    run(&env, &[]).expect_code(0).expect_quiet();
    let docs = deposited(&env);
    let text = xml_text(&bytes);
    let ack = Document::parse(&text).unwrap();
    let doc = find(&docs, "pes_acquit_no_ack.xml");
    assert_eq!(doc.field("pes_ack_result"), "partly refused");
    assert_eq!(
        doc.field("pes_ack_bordereaux"),
        format!(
            "{}/{} refused",
            v_of(&ack, "ExerciceBord"),
            v_of(&ack, "NumBord")
        )
    );
    let reasons = doc.field("pes_ack_reasons");
    for part in [
        v_of(&ack, "LibelleAnoAck"),
        v_of(&ack, "NumAnoAck"),
        format!("pièce {}", v_of(&ack, "NumPiece")),
        format!("ligne {}", v_of(&ack, "NumLigne")),
    ] {
        assert!(reasons.contains(&part), "{part} not in {reasons}");
    }
    assert!(
        reasons.contains("Domiciliation erronée"),
        "ISO-8859-1: {reasons}"
    );
    assert_eq!(doc.field("group_id"), v_of(&ack, "NomFic"));
}

#[test]
fn acknowledgements_of_returns_and_whole_refusals() {
    let env = TestEnv::new();
    for name in ["PES_ACQUIT_RETOUR.xml", "PES_Exemple_NAck.xml"] {
        put_fixture(&env, name, &format!("helios/{name}"));
    }
    run(&env, &[]).expect_code(0).expect_quiet();
    let docs = deposited(&env);
    let text = xml_text(&read_fixture("helios/PES_ACQUIT_RETOUR.xml"));
    let retour = Document::parse(&text).unwrap();
    let doc = find(&docs, "PES_ACQUIT_RETOUR.xml");
    assert_eq!(doc.field("role"), "acquit");
    assert_eq!(doc.field("pes_type"), "PES_ACQUIT_RETOUR");
    assert_eq!(doc.field("pes_ack_date"), v_of(&retour, "DateAcquit"));
    assert_eq!(
        doc.field("pes_ack_return_file"),
        v_of(&retour, "NomFichierRetour")
    );
    assert_eq!(doc.field("group_id"), v_of(&retour, "NomFichierRetour"));
    assert_eq!(doc.field("pes_collectivity_code"), v_of(&retour, "CodColl"));
    let text = xml_text(&read_fixture("helios/PES_Exemple_NAck.xml"));
    let nack = Document::parse(&text).unwrap();
    let doc = find(&docs, "PES_Exemple_NAck.xml");
    assert_eq!(doc.field("pes_type"), "PES_NonAcquit");
    let refusal = elem(&nack, "NonAcquit");
    assert_eq!(
        doc.field("pes_nack_reason"),
        v_child(refusal, "Motif").unwrap()
    );
    assert_eq!(
        doc.field("pes_nack_file"),
        v_child(refusal, "NomFic").unwrap()
    );
}
