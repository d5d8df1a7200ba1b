//! Actes fixtures: Pastell's import ZIP, loose ACTES forms with their acknowledgement, S²LOW
//! tarballs, a Pastell folder with its completion marker.

use roxmltree::Document;

use super::*;

#[test]
fn pastell_import_zip_of_an_acte() {
    let env = TestEnv::new();
    put_fixture(&env, "acte.zip", "acte_nature/acte.zip");
    run(&env, &[]).expect_code(0).expect_quiet();
    let files = unzip(&read_fixture("acte_nature/acte.zip"));
    let docs = deposited(&env);
    assert_eq!(docs.len(), files.len(), "{}", env.listing());
    for (name, content) in &files {
        assert_eq!(find(&docs, name).sha, sha256(content), "{name}");
    }
    let manifest_text = String::from_utf8(files["manifest.xml"].clone()).unwrap();
    let manifest = Document::parse(&manifest_text).unwrap();
    let acte = find(&docs, "Délibération Libriciel.pdf");
    assert_eq!(acte.field("role"), "acte");
    assert_eq!(acte.field("envelope_type"), "acte_nature");
    assert_eq!(
        acte.field("acte_nature_code"),
        flux_data(&manifest, "acte_nature")
    );
    assert_eq!(acte.field("acte_nature"), "Délibérations");
    assert_eq!(
        acte.field("acte_number"),
        flux_data(&manifest, "numero_de_lacte")
    );
    assert_eq!(
        acte.field("acte_date"),
        flux_data(&manifest, "date_de_lacte")
    );
    assert_eq!(acte.field("acte_object"), flux_data(&manifest, "objet"));
    assert!(acte.field("acte_object").ends_with("accentué"));
    assert_eq!(
        acte.field("acte_classification"),
        flux_data(&manifest, "classification")
    );
    for annexe in [
        "Délibération Libriciel - annexe1.odt",
        "Deuxième annexe de Délibération Libriciel.pdf",
    ] {
        let doc = find(&docs, annexe);
        assert_eq!(doc.field("role"), "annexe");
        assert_eq!(doc.field("pastell_field"), "autre_document_attache");
        assert_eq!(doc.field("group_id"), acte.field("group_id"));
    }
    assert_eq!(find(&docs, "manifest.xml").field("role"), "metadata");
    assert!(names(&env.source).is_empty(), "{}", env.listing());
}

#[test]
fn loose_acte_with_its_pdf_and_acknowledgement_is_one_envelope() {
    let env = TestEnv::new();
    let stem = "034-491011698-20171207-CL20171227_06-DE";
    for suffix in ["-1-1_0.xml", "-1-1_1.pdf", "-1-2.xml"] {
        put_fixture(
            &env,
            &format!("{stem}{suffix}"),
            &format!("acte_nature/{stem}{suffix}"),
        );
    }
    let ran = run(&env, &["--json"]);
    ran.expect_code(0);
    assert_eq!(ran.summary()["items_deposited"], 1, "{}", ran.explain());
    let docs = deposited(&env);
    assert_eq!(docs.len(), 3);
    for suffix in ["-1-1_0.xml", "-1-1_1.pdf", "-1-2.xml"] {
        let name = format!("{stem}{suffix}");
        let expected = sha256(&read_fixture(&format!("acte_nature/{name}")));
        assert_eq!(find(&docs, &name).sha, expected);
    }
    let form_text = xml_text(&read_fixture(&format!("acte_nature/{stem}-1-1_0.xml")));
    let form = Document::parse(&form_text).unwrap();
    let ar_text = xml_text(&read_fixture(&format!("acte_nature/{stem}-1-2.xml")));
    let ar = Document::parse(&ar_text).unwrap();
    let root = form.root_element();
    let pdf = find(&docs, &format!("{stem}-1-1_1.pdf"));
    assert_eq!(pdf.field("role"), "acte");
    assert_eq!(
        pdf.field("acte_number"),
        root.attribute((ACTES, "NumeroInterne")).unwrap()
    );
    assert_eq!(
        pdf.field("acte_date"),
        root.attribute((ACTES, "Date")).unwrap()
    );
    assert_eq!(
        pdf.field("acte_nature_code"),
        root.attribute((ACTES, "CodeNatureActe")).unwrap()
    );
    // ISO-8859-1 in the file, UTF-8 in the index.
    assert_eq!(pdf.field("acte_object"), text_of(&form, "Objet"));
    assert!(pdf.field("acte_object").contains('é'), "{}", pdf.index);
    let matiere = |n: &str| {
        elem(&form, n)
            .attribute((ACTES, "CodeMatiere"))
            .unwrap()
            .to_string()
    };
    assert_eq!(
        pdf.field("acte_classification"),
        format!("{}.{}", matiere("CodeMatiere1"), matiere("CodeMatiere2"))
    );
    assert_eq!(
        pdf.field("acte_classification_date"),
        text_of(&form, "ClassificationDateVersion")
    );
    let ar_root = ar.root_element();
    assert_eq!(
        pdf.field("acte_ar_date"),
        ar_root.attribute((ACTES, "DateReception")).unwrap()
    );
    assert_eq!(
        pdf.field("acte_id"),
        ar_root.attribute((ACTES, "IDActe")).unwrap()
    );
    assert_eq!(pdf.field("siren"), "491011698");
    for doc in &docs {
        assert_eq!(doc.field("group_id"), pdf.field("acte_id"));
    }
    assert_eq!(
        find(&docs, &format!("{stem}-1-2.xml")).field("role"),
        "ar_acte"
    );
    assert_eq!(
        find(&docs, &format!("{stem}-1-1_0.xml")).field("role"),
        "formulaire"
    );
    // Each message keeps its own type; the acte's PDF is the form's document. See: issue 13.
    let message = |suffix: &str| {
        find(&docs, &format!("{stem}{suffix}"))
            .field("actes_message")
            .to_string()
    };
    assert_eq!(message("-1-2.xml"), ar_root.tag_name().name());
    assert_eq!(message("-1-1_0.xml"), root.tag_name().name());
    assert_eq!(message("-1-1_1.pdf"), root.tag_name().name());
    assert!(names(&env.source).is_empty(), "{}", env.listing());
}

#[test]
fn s2low_tarball_with_a_prefecture_letter() {
    let env = TestEnv::new();
    put_fixture(
        &env,
        "courrier.tar.gz",
        "acte_nature/courrier_simple.tar.gz",
    );
    run(&env, &[]).expect_code(0).expect_quiet();
    let files = untar_gz(&read_fixture("acte_nature/courrier_simple.tar.gz"));
    let docs = deposited(&env);
    assert_eq!(docs.len(), files.len());
    for (name, content) in &files {
        assert_eq!(find(&docs, name).sha, sha256(content), "{name}");
    }
    let (letter_name, letter_bytes) = files.iter().find(|(n, _)| n.ends_with("_0.xml")).unwrap();
    let letter_text = xml_text(letter_bytes);
    let letter = Document::parse(&letter_text).unwrap();
    let (envelope_name, envelope_bytes) =
        files.iter().find(|(n, _)| n.starts_with("TACT")).unwrap();
    let envelope_text = xml_text(envelope_bytes);
    let envelope = Document::parse(&envelope_text).unwrap();
    let id = letter.root_element().attribute((ACTES, "IDActe")).unwrap();
    let pdf_name = text_of(&letter, "NomFichier");
    let pdf = find(&docs, &pdf_name);
    assert_eq!(pdf.field("role"), "courrier");
    assert_eq!(pdf.field("acte_id"), id);
    assert_eq!(pdf.field("group_id"), id);
    assert_eq!(
        pdf.field("actes_message_date"),
        letter
            .root_element()
            .attribute((ACTES, "DateCourrierPref"))
            .unwrap()
    );
    assert_eq!(
        pdf.field("siren"),
        elem(&envelope, "Destinataire")
            .attribute((INSEE, "SIREN"))
            .unwrap()
    );
    assert_eq!(find(&docs, envelope_name).field("role"), "enveloppe");
    assert_eq!(find(&docs, letter_name).field("role"), "formulaire");
}

#[test]
fn eact_envelope_and_its_acte_in_a_tarball() {
    let env = TestEnv::new();
    let eact = read_fixture("acte_nature/EACT--214502494--20170717-6.xml");
    let form_name = "045-214502494-20170717-D201717-DE-1-1_0.xml";
    let form_bytes = read_fixture(&format!("acte_nature/{form_name}"));
    let form_text = xml_text(&form_bytes);
    let form = Document::parse(&form_text).unwrap();
    let pdf_name = text_of(&form, "NomFichier");
    let pdf = b"%PDF-1.4 hand-made stand-in for the acte\n".to_vec();
    let tarball = tar_gz_of(&[
        ("EACT--214502494--20170717-6.xml", &eact),
        (form_name, &form_bytes),
        (&pdf_name, &pdf),
    ]);
    put(&env, "SLO-EACT--214502494--20170717-6.tar.gz", &tarball);
    run(&env, &[]).expect_code(0);
    let docs = deposited(&env);
    assert_eq!(docs.len(), 3, "{docs:#?}");
    let acte = find(&docs, &pdf_name);
    assert_eq!(acte.sha, sha256(&pdf));
    assert_eq!(acte.field("role"), "acte");
    let eact_text = xml_text(&eact);
    let eact_doc = Document::parse(&eact_text).unwrap();
    assert_eq!(
        acte.field("siren"),
        elem(&eact_doc, "IDCL").attribute((INSEE, "SIREN")).unwrap()
    );
    let root = form.root_element();
    assert_eq!(
        acte.field("acte_number"),
        root.attribute((ACTES, "NumeroInterne")).unwrap()
    );
    assert_eq!(acte.field("acte_nature_code"), "4");
    assert_eq!(
        acte.field("acte_nature"),
        "Contrats, conventions et avenants"
    );
    assert_eq!(acte.field("acte_object"), text_of(&form, "Objet"));
    assert_eq!(acte.field("group_id"), "045-214502494-20170717-D201717-DE");
}

#[test]
fn loose_envelope_waits_for_the_files_it_names() {
    let env = TestEnv::new();
    put_fixture(
        &env,
        "EACT--214502494--20170717-6.xml",
        "acte_nature/EACT--214502494--20170717-6.xml",
    );
    let form_name = "045-214502494-20170717-D201717-DE-1-1_0.xml";
    put_fixture(&env, form_name, &format!("acte_nature/{form_name}"));
    let ran = run(&env, &["--dry-run"]);
    ran.expect_code(0);
    assert!(
        ran.stdout.contains("waits for the files it names")
            && ran
                .stdout
                .contains("045-214502494-20170717-D201717-DE-1-1_1.pdf"),
        "{}",
        ran.explain()
    );
    run(&env, &[]).expect_code(0).expect_quiet();
    assert!(env.cold_names().is_empty(), "{}", env.listing());
    assert_eq!(names(&env.source).len(), 2);
    put(
        &env,
        "045-214502494-20170717-D201717-DE-1-1_1.pdf",
        b"%PDF-1.4 late",
    );
    run(&env, &[]).expect_code(0);
    assert_eq!(deposited(&env).len(), 3, "{}", env.listing());
    assert!(names(&env.source).is_empty(), "{}", env.listing());
}

#[test]
fn pastell_folder_is_taken_only_with_its_marker() {
    let env = TestEnv::new();
    let manifest = read_fixture("acte_nature/manifest-actes-automatique.xml");
    put(&env, "acte-42/metadata.xml", &manifest);
    for (name, content) in [
        (
            "test-pastell-i-parapheur.pdf",
            &b"%PDF hand-made arrete"[..],
        ),
        ("vide1.pdf", b"%PDF hand-made 1"),
        ("vide2.pdf", b"%PDF hand-made 2"),
    ] {
        put(&env, &format!("acte-42/{name}"), content);
    }
    let ran = run(&env, &["-v"]);
    ran.expect_code(0);
    assert!(
        env.cold_names().is_empty(),
        "taken without its marker\n{}",
        ran.explain()
    );
    assert_eq!(names(&env.source.join("acte-42")).len(), 4);
    let dry = run(&env, &["--dry-run"]);
    assert!(
        dry.stdout
            .contains("acte-42/  (no completion marker fichier_termine.txt"),
        "{}",
        dry.explain()
    );

    put(
        &env,
        "acte-42/fichier_termine.txt",
        b"Le transfert est termin\xc3\xa9",
    );
    run(&env, &[]).expect_code(0).expect_quiet();
    let docs = deposited(&env);
    assert_eq!(
        docs.len(),
        4,
        "the marker is not a document\n{}",
        env.listing()
    );
    let text = String::from_utf8(manifest).unwrap();
    let flux = Document::parse(&text).unwrap();
    let arrete = find(&docs, "test-pastell-i-parapheur.pdf");
    assert_eq!(arrete.field("role"), "acte");
    assert_eq!(arrete.field("envelope"), "acte-42");
    assert_eq!(
        arrete.field("acte_nature_code"),
        flux_data(&flux, "acte_nature")
    );
    assert_eq!(
        arrete.field("acte_number"),
        flux_data(&flux, "numero_de_lacte")
    );
    assert_eq!(
        arrete.field("acte_classification"),
        flux_data(&flux, "classification")
    );
    assert_eq!(
        arrete.field("pastell_type_acte"),
        flux_data(&flux, "type_acte")
    );
    assert_eq!(find(&docs, "vide2.pdf").field("role"), "annexe");
    assert!(!env.source.join("acte-42").exists(), "{}", env.listing());
    assert!(names(&env.source).is_empty(), "{}", env.listing());
}
