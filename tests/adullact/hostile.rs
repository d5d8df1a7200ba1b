//! Hostile and broken envelopes: each is refused with a clear error naming it, left in place (or
//! moved to `--failed`), nothing is written outside the COLD folder, the other envelopes of the run
//! are still deposited, and the run exits 1. See: issue 6.

use std::fs;
use std::io::{Cursor, Write};
use std::path::Path;

use super::{put, put_fixture, read_fixture, run, tar_gz_of, zip_of};
use crate::harness::{names, TestEnv};

/// A good envelope beside the bad one, to show the run goes on.
fn put_good(env: &TestEnv) {
    put_fixture(env, "good.zip", "depot_format/Titre_de_mon_document.zip");
}

/// A file in the test's own folder for a hostile link or path to aim at: never a real system
/// file, since a link followed by mistake (Wine follows Unix links transparently) would destroy
/// its target. `assert_decoy_intact` checks it afterwards.
fn decoy(env: &TestEnv) -> std::path::PathBuf {
    let path = env.dir("decoy").join("decoy.txt");
    fs::write(&path, DECOY).unwrap();
    path
}

const DECOY: &str = "a decoy a hostile link aims at\n";

#[track_caller]
fn assert_decoy_intact(path: &Path) {
    assert_eq!(
        fs::read_to_string(path).ok().as_deref(),
        Some(DECOY),
        "{} was changed",
        path.display()
    );
}

/// Every file of the test's folders is in the source, COLD, state or failed folder (or is the
/// decoy).
fn assert_nothing_outside(env: &TestEnv) {
    fn walk(dir: &Path, out: &mut Vec<String>) {
        for entry in fs::read_dir(dir).unwrap().flatten() {
            if entry.file_type().unwrap().is_dir() {
                walk(&entry.path(), out);
            } else {
                out.push(entry.path().display().to_string());
            }
        }
    }
    let mut files = Vec::new();
    walk(env.root(), &mut files);
    let allowed = ["source", "cold", "state", "failed", "decoy"].map(|d| env.root().join(d));
    for file in files {
        assert!(
            allowed.iter().any(|a| Path::new(&file).starts_with(a)),
            "{file} written outside the COLD folder\n{}",
            env.listing()
        );
    }
    for name in env.cold_names() {
        assert!(
            !name.contains("evil"),
            "{name} deposited\n{}",
            env.listing()
        );
    }
}

/// Runs with `extra`, expects exit 1 with `reason` in the line naming `bad`, `bad` left in place
/// and `good.zip` deposited.
fn expect_refused(env: &TestEnv, bad: &str, extra: &[&str], reason: &str) {
    let ran = run(env, extra);
    ran.expect_code(1);
    let line = ran
        .stderr
        .lines()
        .find(|l| l.contains(bad))
        .unwrap_or_else(|| panic!("no error names {bad}\n{}", ran.explain()));
    assert!(
        line.contains(reason),
        "{reason:?} not in {line:?}\n{}",
        ran.explain()
    );
    assert!(line.contains("left at the source"), "{}", ran.explain());
    assert!(
        env.source.join(bad).exists(),
        "{bad} not left in place\n{}",
        env.listing()
    );
    assert_eq!(
        names(&env.source),
        vec![bad.to_string()],
        "{}",
        env.listing()
    );
    assert_eq!(
        env.cold_visible(),
        vec!["foo.txt", "foo.txt.json"],
        "{}",
        ran.explain()
    );
    assert_nothing_outside(env);
    // Still there and still reported on the next run; nothing deposited twice.
    run(env, extra).expect_code(1);
    assert_eq!(env.cold_visible().len(), 2);
}

fn refused_zip(entries: &[(&str, &[u8])], reason: &str) {
    let env = TestEnv::new();
    put_good(&env);
    put(&env, "bad.zip", &zip_of(entries));
    expect_refused(&env, "bad.zip", &[], reason);
}

#[test]
fn zip_entry_with_dot_dot_is_refused() {
    refused_zip(
        &[("ok.pdf", b"%PDF"), ("../evil.txt", b"x")],
        "holds \"..\"",
    );
}

#[test]
fn zip_entry_with_backslash_dot_dot_is_refused() {
    refused_zip(&[("docs\\..\\..\\evil.txt", b"x")], "holds \"..\"");
}

#[test]
fn zip_entry_with_absolute_path_is_refused() {
    let env = TestEnv::new();
    let decoy = decoy(&env);
    let target = decoy.display().to_string();
    put_good(&env);
    put(&env, "bad.zip", &zip_of(&[(target.as_str(), b"x")]));
    // C:\… on Windows, /… elsewhere.
    let reason = if cfg!(windows) {
        "drive letter"
    } else {
        "absolute path"
    };
    expect_refused(&env, "bad.zip", &[], reason);
    assert_decoy_intact(&decoy);
}

#[test]
fn zip_symbolic_link_is_refused() {
    let env = TestEnv::new();
    let decoy = decoy(&env);
    put_good(&env);
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    writer.start_file("a.pdf", options).unwrap();
    writer.write_all(b"%PDF").unwrap();
    writer
        .add_symlink("evil", decoy.display().to_string(), options)
        .unwrap();
    put(&env, "bad.zip", &writer.finish().unwrap().into_inner());
    expect_refused(&env, "bad.zip", &[], "symbolic link");
    assert_decoy_intact(&decoy);
}

fn tar_with_link(kind: tar::EntryType, target: &Path) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_size(0);
    builder.append_link(&mut header, "evil", target).unwrap();
    super::gzip(&builder.into_inner().unwrap())
}

#[test]
fn tar_symbolic_link_is_refused() {
    let env = TestEnv::new();
    let decoy = decoy(&env);
    put_good(&env);
    put(
        &env,
        "bad.tar.gz",
        &tar_with_link(tar::EntryType::Symlink, &decoy),
    );
    expect_refused(&env, "bad.tar.gz", &[], "is a link");
    assert_decoy_intact(&decoy);
}

#[test]
fn tar_hard_link_is_refused() {
    let env = TestEnv::new();
    let decoy = decoy(&env);
    put_good(&env);
    put(
        &env,
        "bad.tgz",
        &tar_with_link(tar::EntryType::Link, &decoy),
    );
    expect_refused(&env, "bad.tgz", &[], "is a link");
    assert_decoy_intact(&decoy);
}

#[test]
fn tar_entry_with_dot_dot_is_refused() {
    let env = TestEnv::new();
    put_good(&env);
    put(&env, "bad.tar.gz", &tar_gz_of(&[("../evil.txt", b"x")]));
    expect_refused(&env, "bad.tar.gz", &[], "holds \"..\"");
}

#[test]
fn zip_bomb_past_the_bound_is_refused() {
    let env = TestEnv::new();
    put_good(&env);
    // 8 MiB of zeros deflate to a few kilobytes.
    let zeros = vec![0u8; 8 << 20];
    let bomb = zip_of(&[("a.pdf", &zeros), ("b.pdf", &zeros)]);
    assert!(bomb.len() < 100_000);
    put(&env, "bomb.zip", &bomb);
    expect_refused(
        &env,
        "bomb.zip",
        &["--max-expanded-size", "10M"],
        "zip bomb",
    );
}

#[test]
fn tar_gz_bomb_past_the_bound_is_refused() {
    let env = TestEnv::new();
    put_good(&env);
    let zeros = vec![0u8; 4 << 20];
    put(&env, "bomb.tar.gz", &tar_gz_of(&[("a.pdf", &zeros)]));
    expect_refused(
        &env,
        "bomb.tar.gz",
        &["--max-expanded-size", "1M"],
        "zip bomb",
    );
}

#[test]
fn too_many_entries_are_refused() {
    let env = TestEnv::new();
    put_good(&env);
    let names: Vec<String> = (0..30).map(|i| format!("f{i}.pdf")).collect();
    let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
    put(&env, "many.zip", &zip_of(&entries));
    expect_refused(&env, "many.zip", &["--max-entries", "10"], "--max-entries");
}

#[test]
fn broken_actes_xml_is_refused() {
    let env = TestEnv::new();
    put_good(&env);
    let form = read_fixture("acte_nature/034-491011698-20171207-CL20171227_06-DE-1-1_0.xml");
    put(&env, "cut.xml", &form[..form.len() / 2]);
    expect_refused(&env, "cut.xml", &[], "invalid XML");
}

const BILLION_LAUGHS: &str = r#"<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>"#;

#[test]
fn actes_xml_with_entities_is_refused() {
    let env = TestEnv::new();
    put_good(&env);
    let xml = format!(
        "<?xml version=\"1.0\"?>{BILLION_LAUGHS}<actes:Acte \
         xmlns:actes=\"http://www.interieur.gouv.fr/ACTES#v1.1-20040216\"><actes:Objet>&lol3;\
         </actes:Objet></actes:Acte>"
    );
    put(&env, "lol.xml", xml.as_bytes());
    expect_refused(&env, "lol.xml", &[], "DOCTYPE");
}

#[test]
fn metadata_with_entities_in_a_zip_is_refused() {
    let env = TestEnv::new();
    put_good(&env);
    let xml = format!("{BILLION_LAUGHS}<flux><data name=\"objet\" value=\"&lol3;\"/></flux>");
    put(
        &env,
        "lol.zip",
        &zip_of(&[("metadata.xml", xml.as_bytes()), ("a.pdf", b"%PDF")]),
    );
    expect_refused(&env, "lol.zip", &[], "DOCTYPE");
}

fn pivot_with_bad_base64() -> Vec<u8> {
    let text = String::from_utf8(read_fixture("chorus_fact/facture_1223.xml")).unwrap();
    let start = text.find("<Contenu>").unwrap() + "<Contenu>".len();
    let end = text.find("</Contenu>").unwrap();
    format!("{}!!not*base64 at all{}", &text[..start], &text[end..]).into_bytes()
}

#[test]
fn chorus_attachment_with_bad_base64_is_refused() {
    let env = TestEnv::new();
    put_good(&env);
    put(&env, "facture.xml", &pivot_with_bad_base64());
    expect_refused(&env, "facture.xml", &[], "base64 content does not decode");
}

#[test]
fn pes_attachment_with_bad_base64_is_refused() {
    let env = TestEnv::new();
    put_good(&env);
    let pes = read_fixture("helios/PES_Aller_avec_PES_PJ-handbuilt.xml");
    let text = String::from_utf8_lossy(&pes).replacen("H4sI", "H4sI!not-base64!", 1);
    put(&env, "pes.xml", text.as_bytes());
    expect_refused(&env, "pes.xml", &[], "base64 content does not decode");
}

#[test]
fn failed_option_moves_the_bad_envelope_aside() {
    let env = TestEnv::new();
    let failed = env.dir("failed");
    put_good(&env);
    put(&env, "facture.xml", &pivot_with_bad_base64());
    put(&env, "bad.zip", &zip_of(&[("../evil.txt", b"x")]));
    let ran = run(&env, &["--failed", failed.to_str().unwrap()]);
    ran.expect_code(1);
    for bad in ["facture.xml", "bad.zip"] {
        let line = ran.stderr.lines().find(|l| l.contains(bad)).unwrap();
        assert!(
            line.contains(&format!("moved to {}", failed.join(bad).display())),
            "{line}\n{}",
            ran.explain()
        );
        assert!(!line.contains("left at the source"), "{line}");
    }
    assert_eq!(names(&failed), vec!["bad.zip", "facture.xml"]);
    assert!(names(&env.source).is_empty(), "{}", env.listing());
    assert_eq!(env.cold_visible(), vec!["foo.txt", "foo.txt.json"]);
    assert_nothing_outside(&env);
    // Nothing left to fail: the next run is clean.
    put(&env, "late.zip", &zip_of(&[("../evil.txt", b"x")]));
    let ran = run(&env, &["--failed", failed.to_str().unwrap(), "--dry-run"]);
    ran.expect_code(1);
    assert!(
        env.source.join("late.zip").exists(),
        "a dry run moved it\n{}",
        ran.explain()
    );
    fs::remove_file(env.source.join("late.zip")).unwrap();
    run(&env, &["--failed", failed.to_str().unwrap()])
        .expect_code(0)
        .expect_quiet();
}

#[test]
fn a_folder_envelope_holding_a_link_is_refused() {
    let env = TestEnv::new();
    put_good(&env);
    put(&env, "dossier/a.pdf", b"%PDF");
    put(&env, "dossier/fichier_termine.txt", b"");
    let decoy = decoy(&env);
    #[cfg(unix)]
    std::os::unix::fs::symlink(&decoy, env.source.join("dossier/evil")).unwrap();
    // Wine cannot make a Windows link; a folder is another entry that is not a file.
    #[cfg(not(unix))]
    fs::create_dir(env.source.join("dossier/evil")).unwrap();
    expect_refused(&env, "dossier", &[], "holds evil, which is not a file");
    assert!(env.source.join("dossier/a.pdf").exists());
    assert_decoy_intact(&decoy);
}
