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

mod actes;
mod chorus;
mod clutter;
mod crash;
mod depot;
mod helios;
mod hostile;
mod invoice;
mod large;
mod messages;
mod untaken;

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

pub(crate) fn put_fixture(env: &TestEnv, relative: &str, fixture_path: &str) {
    put(env, relative, &read_fixture(fixture_path));
}

/// `lanceur adullact --source SOURCE --dest COLD --min-age 0s --index json EXTRA…`
pub(crate) fn run(env: &TestEnv, extra: &[&str]) -> Ran {
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
