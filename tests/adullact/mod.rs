//! `lanceur adullact` end to end: the shared Adullact fixtures in every envelope shape, decoded by
//! the real binary. Expected contents and index values are read from the fixtures themselves here
//! (unzipping, untarring, parsing the XML), never from what lanceur produced. See: issue 6.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use roxmltree::Document;

use crate::harness::{names, sha256, write_old, Ran, TestEnv};

const ACTES: &str = "http://www.interieur.gouv.fr/ACTES#v1.1-20040216";
const INSEE: &str = "http://xml.insee.fr/schema";

fn fixture(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/adullact")
        .join(relative)
}

fn read_fixture(relative: &str) -> Vec<u8> {
    fs::read(fixture(relative)).unwrap_or_else(|e| panic!("fixture {relative}: {e}"))
}

/// Writes `bytes` at `relative` in the source folder, old enough to be taken.
fn put(env: &TestEnv, relative: &str, bytes: &[u8]) {
    write_old(&env.source.join(relative), bytes);
}

fn put_fixture(env: &TestEnv, relative: &str, fixture_path: &str) {
    put(env, relative, &read_fixture(fixture_path));
}

/// `lanceur adullact --source SOURCE --dest COLD --min-age 0s --index json EXTRA…`
fn run(env: &TestEnv, extra: &[&str]) -> Ran {
    let mut args = vec![
        "adullact",
        "--source",
        env.source.to_str().unwrap(),
        "--dest",
        env.cold.to_str().unwrap(),
        "--min-age",
        "0s",
        "--index",
        "json",
    ];
    args.extend_from_slice(extra);
    env.run(&args)
}

/// A document in the COLD folder with its JSON sidecar.
#[derive(Debug)]
struct Deposited {
    name: String,
    sha: String,
    index: serde_json::Value,
}

impl Deposited {
    #[track_caller]
    fn field(&self, name: &str) -> &str {
        self.index[name]
            .as_str()
            .unwrap_or_else(|| panic!("{} has no field {name}: {}", self.name, self.index))
    }
}

fn deposited(env: &TestEnv) -> Vec<Deposited> {
    let names = env.cold_visible();
    names
        .iter()
        .filter(|n| !n.ends_with(".json") || !names.contains(&n[..n.len() - 5].to_string()))
        .map(|name| {
            let sidecar = env.cold.join(format!("{name}.json"));
            let index = serde_json::from_slice(
                &fs::read(&sidecar)
                    .unwrap_or_else(|e| panic!("no sidecar for {name}: {e}\n{}", env.listing())),
            )
            .unwrap();
            Deposited {
                name: name.clone(),
                sha: sha256(&env.cold_read(name)),
                index,
            }
        })
        .collect()
}

#[track_caller]
fn find<'a>(docs: &'a [Deposited], original: &str) -> &'a Deposited {
    docs.iter()
        .find(|d| d.index["original_name"] == original)
        .unwrap_or_else(|| panic!("{original} not deposited: {docs:#?}"))
}

/// The files of a ZIP, read with the zip crate: name → bytes.
fn unzip(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    let mut out = BTreeMap::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).unwrap();
        let mut content = Vec::new();
        file.read_to_end(&mut content).unwrap();
        out.insert(file.name().unwrap().to_string(), content);
    }
    out
}

fn untar_gz(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let mut out = BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        out.insert(name, content);
    }
    out
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, content) in entries {
        writer.start_file(*name, options).unwrap();
        writer.write_all(content).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

/// A tar.gz of regular files; `name` bytes are written as they are, `..` included.
fn tar_gz_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, content) in entries {
        let mut header = tar::Header::new_gnu();
        raw_name(&mut header, name);
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append(&header, *content).unwrap();
    }
    gzip(&builder.into_inner().unwrap())
}

fn raw_name(header: &mut tar::Header, name: &str) {
    let field = &mut header.as_gnu_mut().unwrap().name;
    field.fill(0);
    field[..name.len()].copy_from_slice(name.as_bytes());
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Text of an ISO-8859-1 (or UTF-8) XML fixture, as a reader of the file would see it.
fn xml_text(bytes: &[u8]) -> String {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(100)]).to_lowercase();
    if head.contains("iso-8859-1") {
        encoding_rs::WINDOWS_1252.decode(bytes).0.into_owned()
    } else {
        String::from_utf8(bytes.to_vec()).unwrap()
    }
}

fn elem<'a, 'i>(doc: &'a Document<'i>, local: &str) -> roxmltree::Node<'a, 'i> {
    doc.descendants()
        .find(|n| n.is_element() && n.tag_name().name() == local)
        .unwrap_or_else(|| panic!("no element {local}"))
}

fn text_of(doc: &Document, local: &str) -> String {
    elem(doc, local).text().unwrap_or("").trim().to_string()
}

/// The text of `node`'s child element `name`.
fn child_text(node: roxmltree::Node, name: &str) -> String {
    node.children()
        .find(|n| n.has_tag_name(name))
        .and_then(|n| n.text())
        .unwrap_or_else(|| panic!("no {name}"))
        .trim()
        .to_string()
}

fn v_of(doc: &Document, local: &str) -> String {
    elem(doc, local).attribute("V").unwrap().to_string()
}

/// `<data name value/>` of a Pastell `<flux>`.
fn flux_data(doc: &Document, name: &str) -> String {
    doc.descendants()
        .find(|n| n.has_tag_name("data") && n.attribute("name") == Some(name))
        .and_then(|n| n.attribute("value"))
        .unwrap_or_else(|| panic!("no data {name}"))
        .to_string()
}

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
    assert_eq!(ran.summary()["deposited"], 1, "{}", ran.explain());
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

#[test]
fn custom_marker_name() {
    let env = TestEnv::new();
    put(&env, "doc/a.pdf", b"%PDF a");
    put(&env, "doc/FIN", b"");
    run(&env, &[]).expect_code(0);
    assert!(env.cold_names().is_empty());
    run(&env, &["--marker", "FIN"]).expect_code(0);
    assert_eq!(deposited(&env).len(), 1);
    assert_eq!(deposited(&env)[0].field("envelope_type"), "generic");
}

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
    assert_eq!(ran.summary()["deposited"], 3);
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

#[test]
fn pastell_depot_zip_without_metadata() {
    let env = TestEnv::new();
    put_fixture(
        &env,
        "Titre de mon document.zip",
        "depot_format/Titre_de_mon_document.zip",
    );
    run(&env, &[]).expect_code(0);
    let files = unzip(&read_fixture("depot_format/Titre_de_mon_document.zip"));
    let docs = deposited(&env);
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].sha, sha256(&files["foo.txt"]));
    assert_eq!(docs[0].field("envelope_type"), "generic");
    assert_eq!(docs[0].field("envelope"), "Titre de mon document.zip");
}

/// foo.txt and bar.txt as the depot fixtures name them.
fn depot_files() -> [(&'static str, Vec<u8>); 2] {
    let zip = unzip(&read_fixture("depot_format/Titre_de_mon_document.zip"));
    [
        ("foo.txt", zip["foo.txt"].clone()),
        ("bar.txt", b"bar, hand-made\n".to_vec()),
    ]
}

fn check_depot_fields(docs: &[Deposited], metadata_data: &[(&str, &str)]) {
    for (name, field) in [("foo.txt", "fichier"), ("bar.txt", "fichier_simple")] {
        let doc = find(docs, name);
        assert_eq!(doc.field("pastell_field"), field, "{name}");
        for (key, value) in metadata_data {
            assert_eq!(doc.field(&format!("pastell_{key}")), *value, "{name}");
        }
    }
}

#[test]
fn pastell_depot_metadata_in_xml_json_and_yaml() {
    let xml_bytes = read_fixture("depot_format/metadata.xml");
    let text = String::from_utf8(xml_bytes.clone()).unwrap();
    let flux = Document::parse(&text).unwrap();
    let data: Vec<(&str, String)> = ["toto", "prenom"]
        .iter()
        .map(|k| (*k, flux_data(&flux, k)))
        .collect();
    let data: Vec<(&str, &str)> = data.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let json: serde_json::Value =
        serde_json::from_slice(&read_fixture("depot_format/metadata.json")).unwrap();
    assert_eq!(
        json["toto"], data[0].1,
        "the fixtures describe the same document"
    );

    for (shape, metadata_name, fixture_name) in [
        ("folder", "metadata.xml", "depot_format/metadata.xml"),
        ("loose", "metadata.json", "depot_format/metadata.json"),
        ("zip", "metadata.txt", "depot_format/metadata.yml"),
    ] {
        let env = TestEnv::new();
        let metadata = read_fixture(fixture_name);
        let mut entries: Vec<(&str, Vec<u8>)> = depot_files().into_iter().collect();
        entries.push((metadata_name, metadata));
        match shape {
            "folder" => {
                for (name, content) in &entries {
                    put(&env, &format!("Titre/{name}"), content);
                }
                put(&env, "Titre/fichier_termine.txt", b"fin");
            }
            "loose" => {
                for (name, content) in &entries {
                    put(&env, name, content);
                }
            }
            _ => {
                let refs: Vec<(&str, &[u8])> =
                    entries.iter().map(|(n, c)| (*n, c.as_slice())).collect();
                put(&env, "Titre.zip", &zip_of(&refs));
            }
        }
        let ran = run(&env, &["--json"]);
        ran.expect_code(0);
        assert_eq!(ran.summary()["deposited"], 1, "{shape}\n{}", ran.explain());
        let docs = deposited(&env);
        assert_eq!(docs.len(), 3, "{shape}: {docs:#?}");
        for (name, content) in &entries {
            assert_eq!(find(&docs, name).sha, sha256(content), "{shape} {name}");
        }
        check_depot_fields(&docs, &data);
        assert_eq!(find(&docs, metadata_name).field("role"), "metadata");
        let group = docs[0].field("group_id");
        assert!(docs.iter().all(|d| d.field("group_id") == group), "{shape}");
        assert!(names(&env.source).is_empty(), "{shape}\n{}", env.listing());
    }
}

#[test]
fn pastell_names_are_replaced_by_original_names() {
    let env = TestEnv::new();
    put_fixture(
        &env,
        "metadata.xml",
        "depot_format/metadata-pastell-name.xml",
    );
    put(&env, "aaaa.yml_fichier_0", b"foo content");
    put(&env, "aaaa.yml_fichier_simple_0", b"bar content");
    put(&env, "unrelated.pdf", b"%PDF nobody names me");
    let ran = run(&env, &["-v"]);
    ran.expect_code(0);
    let docs = deposited(&env);
    assert_eq!(docs.len(), 3, "{docs:#?}");
    assert_eq!(find(&docs, "foo.txt").sha, sha256(b"foo content"));
    assert_eq!(find(&docs, "bar.txt").sha, sha256(b"bar content"));
    assert!(env.cold.join("foo.txt").exists() && env.cold.join("bar.txt").exists());
    // A file no envelope names stays.
    assert_eq!(names(&env.source), vec!["unrelated.pdf"]);
    assert!(
        ran.stderr.contains("not named by any envelope"),
        "{}",
        ran.explain()
    );
}

#[test]
fn archive_option_keeps_the_envelopes() {
    let env = TestEnv::new();
    let archive = env.dir("archive");
    put_fixture(&env, "acte.zip", "acte_nature/acte.zip");
    put(&env, "dossier/a.pdf", b"%PDF a");
    put(&env, "dossier/fichier_termine.txt", b"");
    put_fixture(
        &env,
        "EACT.xml",
        "acte_nature/EACT--214502494--20170717-6.xml",
    );
    let form = "045-214502494-20170717-D201717-DE-1-1_0.xml";
    put_fixture(&env, form, &format!("acte_nature/{form}"));
    put(
        &env,
        "045-214502494-20170717-D201717-DE-1-1_1.pdf",
        b"%PDF stand-in",
    );
    run(&env, &["--archive", archive.to_str().unwrap()]).expect_code(0);
    assert!(names(&env.source).is_empty(), "{}", env.listing());
    assert_eq!(
        names(&archive),
        vec![
            "045-214502494-20170717-D201717-DE-1-1_0.xml",
            "045-214502494-20170717-D201717-DE-1-1_1.pdf",
            "EACT.xml",
            "acte.zip",
            "dossier"
        ]
    );
    assert_eq!(
        fs::read(archive.join("acte.zip")).unwrap(),
        read_fixture("acte_nature/acte.zip")
    );
    assert_eq!(
        names(&archive.join("dossier")),
        vec!["a.pdf", "fichier_termine.txt"]
    );
    assert_eq!(deposited(&env).len(), 4 + 1 + 3);
}

#[test]
fn type_option_refuses_other_types() {
    let env = TestEnv::new();
    put_fixture(&env, "pes.zip", "helios/test.zip");
    put_fixture(&env, "acte.zip", "acte_nature/acte.zip");
    let ran = run(&env, &["--type", "acte_nature"]);
    ran.expect_code(1)
        .expect_stderr_contains("pes.zip: is a helios envelope, but --type says acte_nature");
    assert_eq!(names(&env.source), vec!["pes.zip"]);
    assert_eq!(deposited(&env).len(), 4);
}

#[test]
fn help_explains_the_protocol() {
    let env = TestEnv::new();
    let ran = env.run(&["adullact", "--help"]);
    ran.expect_code(0);
    for text in [
        "crontab",
        "fichier_termine.txt",
        "--max-expanded-size",
        "--failed",
        "acte_nature",
        "chorus_fact",
        "GROUP_ID",
        "LANCEUR_STATE_DIR",
    ] {
        assert!(ran.stdout.contains(text), "{text}\n{}", ran.explain());
    }
}
