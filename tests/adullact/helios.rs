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
