//! Files on Windows: sharing, renames, the journal's own file, line ends, reparse points.

use std::fs;
use std::path::PathBuf;

use super::{hold_for_writing, FILE_SHARE_READ};
use crate::adullact::{self, put_fixture};
use crate::harness::{names, TestEnv};

// See: issue 14, bug 4. A scanner or a copy still writing a file keeps it open; lanceur left it
// as a failure (exit 1, "cannot read … os error 32") instead of waiting for it.
#[test]
fn a_file_held_open_by_its_writer_waits_silently_then_goes() {
    let env = TestEnv::new();
    let held = env.source_file("scan-en-cours.pdf", b"%PDF half");
    env.source_file("done.pdf", b"%PDF whole");
    for share in [FILE_SHARE_READ, 0] {
        let writer = hold_for_writing(&held, share);
        env.run_dir(&[]).expect_code(0).expect_quiet();
        assert!(held.exists(), "taken while held\n{}", env.listing());
        assert!(!env.cold_names().contains(&"scan-en-cours.pdf".to_string()));
        drop(writer);
    }
    assert_eq!(env.cold_visible(), vec!["done.pdf"]);
    // The dry run says why it is not taken.
    let writer = hold_for_writing(&held, FILE_SHARE_READ);
    let ran = env.run_dir(&["--dry-run"]);
    ran.expect_code(0);
    assert!(
        ran.stdout.contains(
            "scan-en-cours.pdf is open in another program, which may still be writing it"
        ),
        "{}",
        ran.explain()
    );
    drop(writer);
    env.run_dir(&[]).expect_code(0).expect_quiet();
    assert_eq!(env.cold_visible(), vec!["done.pdf", "scan-en-cours.pdf"]);
    assert_eq!(env.cold_read("scan-en-cours.pdf"), b"%PDF half");
    assert!(names(&env.source).is_empty(), "{}", env.listing());
}

// A program that never lets go of a file is not waited for in silence: once the file is older
// than --grace-period, each run names it, with the remedy, and exits 1; closed, it is taken. The
// Unix side (permissions) is tests/unreadable.rs. See: issue 11 (point 3).
#[test]
fn a_file_held_open_past_the_grace_period_is_reported_until_it_is_closed() {
    let env = TestEnv::new();
    let held = env.source_file("scan-0043.pdf", b"%PDF held");
    for share in [FILE_SHARE_READ, 0] {
        let writer = hold_for_writing(&held, share);
        let ran = env.run_dir(&["--grace-period", "30s"]);
        ran.expect_code(1);
        let lines: Vec<&str> = ran.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{}", ran.explain());
        for part in [
            "scan-0043.pdf is open in another program",
            "longer than --grace-period 30s",
            "close the program that holds it open",
        ] {
            assert!(lines[0].contains(part), "{part}\n{}", ran.explain());
        }
        assert_eq!(names(&env.source), vec!["scan-0043.pdf"]);
        assert!(env.cold_names().is_empty(), "{}", env.listing());
        drop(writer);
    }
    env.run_dir(&["--grace-period", "30s"])
        .expect_code(0)
        .expect_quiet();
    assert_eq!(env.cold_visible(), vec!["scan-0043.pdf"]);
    assert_eq!(env.cold_read("scan-0043.pdf"), b"%PDF held");
}

// An Adullact envelope whose ZIP Pastell's connector is still writing waits the same way.
#[test]
fn an_envelope_held_open_waits_too() {
    let env = TestEnv::new();
    put_fixture(
        &env,
        "envelope.zip",
        "depot_format/Titre_de_mon_document.zip",
    );
    let zip = env.source.join("envelope.zip");
    let writer = hold_for_writing(&zip, FILE_SHARE_READ);
    adullact::run(&env, &[]).expect_code(0).expect_quiet();
    assert!(
        zip.exists() && env.cold_names().is_empty(),
        "{}",
        env.listing()
    );
    drop(writer);
    adullact::run(&env, &[]).expect_code(0).expect_quiet();
    assert!(!zip.exists(), "{}", env.listing());
    assert!(!env.cold_visible().is_empty(), "{}", env.listing());
}

/// The launcher's journal lines, as text.
fn journal_lines(env: &TestEnv, name: &str) -> Vec<String> {
    fs::read_to_string(env.state.join(name).join("journal"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

// See: issue 14, bug 3. The link-then-unlink rename of earlier Windows builds, killed between its
// two steps, left the staged file and the final name as two links to one file; recovery did not
// see that they were the same file and deposited the document a second time as one_2.pdf.
#[test]
fn a_rename_interrupted_between_link_and_unlink_is_not_deposited_twice() {
    let env = TestEnv::new();
    let archive = env.dir("archive");
    let source = env.source_file("one.pdf", b"%PDF one");
    let archive_arg = archive.display().to_string();
    let run = || env.run_dir(&["--name", "links", "--archive", &archive_arg]);
    run().expect_code(0).expect_quiet();
    // Back to the instant after the link: the staged line alone in the journal, the source file
    // where it was (moved back from the archive, same size and time, so the same journal key),
    // and the temporary name linked to the final one.
    let lines = journal_lines(&env, "links");
    let staged = lines
        .iter()
        .find(|l| l.contains(r#""s":"staged""#))
        .expect("a staged line");
    let entry: serde_json::Value = serde_json::from_str(staged).unwrap();
    let tmp = entry["f"][0]["tmp"].as_str().unwrap().to_string();
    assert_eq!(entry["f"][0]["name"], "one.pdf");
    fs::write(
        env.state.join("links").join("journal"),
        format!("{staged}\n"),
    )
    .unwrap();
    fs::rename(archive.join("one.pdf"), &source).unwrap();
    fs::hard_link(env.cold.join("one.pdf"), env.cold.join(&tmp)).unwrap();

    run().expect_code(0).expect_quiet();
    assert_eq!(env.cold_names(), vec!["one.pdf"], "{}", env.listing());
    assert_eq!(env.cold_read("one.pdf"), b"%PDF one");
    assert_eq!(names(&archive), vec!["one.pdf"]);
    assert!(!source.exists());
}

// See: issue 14, bug 2. Once due, compaction renamed the new journal over the open one, which
// Windows refuses: every run then failed with exit 5 and left journal.compact.tmp.
#[test]
fn a_journal_due_for_compaction_is_compacted_by_a_run() {
    let env = TestEnv::new();
    let state = env.state.join("busy");
    fs::create_dir_all(&state).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut text = String::new();
    for i in 0..4000 {
        for step in ["staged", "done", "acked", "acked"] {
            text.push_str(&format!(
                "{{\"k\":\"dir:gone{i}:1:1\",\"s\":\"{step}\",\"t\":{now}}}\n"
            ));
        }
    }
    fs::write(state.join("journal"), text).unwrap();
    env.source_file("new.pdf", b"%PDF new");
    env.run_dir(&["--name", "busy"])
        .expect_code(0)
        .expect_quiet();
    assert_eq!(env.cold_visible(), vec!["new.pdf"]);
    let lines = journal_lines(&env, "busy");
    assert_eq!(lines.len(), 4001, "one line per item after compaction");
    assert!(!state.join("journal.compact.tmp").exists());
    // The next run appends to the new journal.
    env.source_file("next.pdf", b"%PDF next");
    env.run_dir(&["--name", "busy"])
        .expect_code(0)
        .expect_quiet();
    assert!(journal_lines(&env, "busy").len() > 4001);
    assert_eq!(env.cold_visible(), vec!["new.pdf", "next.pdf"]);
}

// `.idx` sidecars are the same bytes whatever system writes them: LF line ends (README, "Index
// sidecars"), which every Windows reader takes.
#[test]
fn idx_sidecars_keep_lf_line_ends_on_windows() {
    let env = TestEnv::new();
    env.source_file("facture.pdf", b"%PDF");
    env.run_dir(&["--index", "idx"])
        .expect_code(0)
        .expect_quiet();
    let idx = env.cold_read("facture.idx");
    assert!(idx.ends_with(b"\n") && !idx.contains(&b'\r'), "{idx:?}");
    assert!(String::from_utf8(idx)
        .unwrap()
        .contains("ORIGINAL_NAME = facture.pdf\n"));
}

/// A junction (`mklink /J`, which needs no privilege) and a file symbolic link (which needs
/// Developer Mode or an administrator), both aiming at decoys in the test's own folder.
fn make_links(env: &TestEnv) -> (PathBuf, PathBuf) {
    let decoys = env.dir("decoys");
    let decoy_file = decoys.join("decoy.pdf");
    fs::write(&decoy_file, b"%PDF decoy").unwrap();
    let decoy_folder = env.dir("decoys/folder");
    fs::write(decoy_folder.join("inside.pdf"), b"%PDF inside").unwrap();
    let junction = env.source.join("junction");
    let status = std::process::Command::new("cmd")
        .args(["/c", "mklink", "/J"])
        .arg(&junction)
        .arg(&decoy_folder)
        .status()
        .expect("cmd /c mklink /J");
    assert!(status.success(), "mklink /J failed: {status}");
    std::os::windows::fs::symlink_file(&decoy_file, env.source.join("link.pdf")).expect(
        "cannot create a file symbolic link: turn on Developer Mode, or run as an administrator",
    );
    (decoy_file, decoy_folder)
}

// Reparse points standing for another name are refused as links are on Linux, and what they
// point at is never touched. Wine cannot create them: this runs on a real Windows machine only.
#[test]
#[ignore = "Wine cannot create reparse points: run with --ignored on a real Windows machine"]
fn links_and_junctions_in_a_source_folder_are_refused() {
    let env = TestEnv::new();
    let (decoy_file, decoy_folder) = make_links(&env);
    env.source_file("real.pdf", b"%PDF real");
    let ran = env.run_dir(&["--recursive", "--dry-run"]);
    ran.expect_code(0);
    assert!(
        ran.stdout
            .contains("a link (symbolic link or junction), not a file"),
        "{}",
        ran.explain()
    );
    env.run_dir(&["--recursive"]).expect_code(0).expect_quiet();
    assert_eq!(env.cold_visible(), vec!["real.pdf"], "{}", env.listing());
    assert_eq!(fs::read(&decoy_file).unwrap(), b"%PDF decoy");
    assert_eq!(names(&decoy_folder), vec!["inside.pdf"]);
    assert!(env.source.join("link.pdf").exists() && env.source.join("junction").exists());
}
