use super::*;

fn doc(name: &str, bytes: &[u8]) -> Document {
    Document {
        name: name.into(),
        content: Content::Bytes(bytes.to_vec()),
        fields: Vec::new(),
    }
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn staged_files_are_hidden_until_committed() {
    let cold = tempfile::tempdir().unwrap();
    let mut deposit = Deposit::open(cold.path(), IndexFormat::Idx, "t", false).unwrap();
    let mut staged = deposit
        .stage(doc("scan.pdf", b"%PDF"), vec![("a".into(), "b".into())])
        .unwrap();
    assert!(listing(cold.path())
        .iter()
        .all(|n| n.starts_with(".lanceur-")));
    deposit.sync().unwrap();
    deposit.commit(&mut staged).unwrap();
    deposit.finish_commit().unwrap();
    assert_eq!(listing(cold.path()), vec!["scan.idx", "scan.pdf"]);
    let idx = fs::read_to_string(cold.path().join("scan.idx")).unwrap();
    assert!(idx.starts_with("A = b\nSIZE = 4\nSHA256 = "), "{idx}");
}

#[cfg(unix)]
#[test]
fn a_temporary_file_deposited_gets_ordinary_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let cold = tempfile::tempdir().unwrap();
    let mut deposit = Deposit::open(cold.path(), IndexFormat::None, "t", false).unwrap();
    let temp = tempfile::NamedTempFile::new_in(cold.path()).unwrap();
    fs::write(temp.path(), b"attachment").unwrap();
    let reference = deposit.create_tmp().unwrap().0;
    let document = Document {
        name: "a.pdf".into(),
        content: Content::Temp(temp.into_temp_path()),
        fields: vec![],
    };
    let mut staged = deposit.stage(document, vec![]).unwrap();
    deposit.commit(&mut staged).unwrap();
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&cold.path().join("a.pdf")), mode(&reference));
}

// See: issue 14. Off Linux (and on a busy disk) each staged file is flushed on its own; an
// attachment or an envelope's piece streamed to a temporary file was flushed through a read-only
// handle, which Windows refuses ("access denied"), so every such document stopped the run with
// exit code 5.
#[test]
fn a_temporary_file_is_flushed_on_its_own_and_committed() {
    let cold = tempfile::tempdir().unwrap();
    let mut deposit = Deposit::open(cold.path(), IndexFormat::Json, "t", false).unwrap();
    let temp = tempfile::NamedTempFile::new_in(cold.path()).unwrap();
    fs::write(temp.path(), b"attachment").unwrap();
    let document = Document {
        name: "a.pdf".into(),
        content: Content::Temp(temp.into_temp_path()),
        fields: vec![],
    };
    let mut staged = deposit.stage(document, vec![]).unwrap();
    deposit.sync().unwrap();
    deposit.commit(&mut staged).unwrap();
    deposit.finish_commit().unwrap();
    assert_eq!(listing(cold.path()), vec!["a.pdf", "a.pdf.json"]);
    assert_eq!(fs::read(cold.path().join("a.pdf")).unwrap(), b"attachment");
}

// A temporary file made elsewhere (the state folder, the temporary folder) moves into the COLD
// folder on Unix, where its mode is then reset; on Windows it is copied, so that the document
// takes the COLD folder's ACL rather than keeping the one of the folder it was made in. A hard
// link left beside it tells which happened: a moved file is still that file.
#[test]
fn a_temporary_file_is_moved_in_on_unix_and_copied_on_windows() {
    let cold = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir_in(cold.path().parent().unwrap()).unwrap();
    let mut deposit = Deposit::open(cold.path(), IndexFormat::None, "t", false).unwrap();
    let temp = tempfile::NamedTempFile::new_in(elsewhere.path()).unwrap();
    fs::write(temp.path(), b"attachment").unwrap();
    let witness = elsewhere.path().join("witness");
    fs::hard_link(temp.path(), &witness).unwrap();
    let document = Document {
        name: "a.pdf".into(),
        content: Content::Temp(temp.into_temp_path()),
        fields: vec![],
    };
    let mut staged = deposit.stage(document, vec![]).unwrap();
    let moved = durable::same_file(&witness, &cold.path().join(&staged.tmp));
    assert_eq!(moved, cfg!(unix));
    deposit.commit(&mut staged).unwrap();
    assert_eq!(fs::read(cold.path().join("a.pdf")).unwrap(), b"attachment");
    assert_eq!(listing(elsewhere.path()), vec!["witness"]);
}

#[test]
fn same_names_get_numbers_and_nothing_is_overwritten() {
    let cold = tempfile::tempdir().unwrap();
    fs::write(cold.path().join("scan.pdf"), "already there").unwrap();
    let mut deposit = Deposit::open(cold.path(), IndexFormat::None, "t", false).unwrap();
    let mut first = deposit.stage(doc("scan.pdf", b"1"), vec![]).unwrap();
    let mut second = deposit.stage(doc("scan.pdf", b"2"), vec![]).unwrap();
    deposit.commit(&mut first).unwrap();
    deposit.commit(&mut second).unwrap();
    let read = |name: &str| fs::read_to_string(cold.path().join(name)).unwrap();
    assert_eq!(read("scan.pdf"), "already there");
    let mut names = vec![first.name.clone(), second.name.clone()];
    names.sort();
    assert_eq!(names, vec!["scan_2.pdf", "scan_3.pdf"]);
    assert_eq!(read(&first.name), "1");
    assert_eq!(read(&second.name), "2");
}

#[test]
fn names_differing_only_in_case_are_kept_apart() {
    // A COLD folder on an SMB share ignores case: Scan.pdf would replace scan.pdf there.
    let cold = tempfile::tempdir().unwrap();
    let mut deposit = Deposit::open(cold.path(), IndexFormat::Idx, "t", false).unwrap();
    let lower = deposit.stage(doc("scan.pdf", b"1"), vec![]).unwrap();
    let upper = deposit.stage(doc("SCAN.PDF", b"2"), vec![]).unwrap();
    assert_eq!(lower.name, "scan.pdf");
    assert_eq!(upper.name, "SCAN_2.PDF");
    assert_eq!(upper.sidecar.as_deref(), Some("SCAN_2.idx"));
}

#[test]
fn a_name_taken_after_staging_is_not_replaced() {
    let cold = tempfile::tempdir().unwrap();
    let mut deposit = Deposit::open(cold.path(), IndexFormat::Json, "t", false).unwrap();
    let mut staged = deposit.stage(doc("a.pdf", b"mine"), vec![]).unwrap();
    fs::write(cold.path().join("a.pdf"), "theirs").unwrap();
    deposit.commit(&mut staged).unwrap();
    assert_eq!(staged.name, "a_2.pdf");
    assert_eq!(staged.sidecar.as_deref(), Some("a_2.pdf.json"));
    assert_eq!(
        fs::read_to_string(cold.path().join("a.pdf")).unwrap(),
        "theirs"
    );
    assert_eq!(
        fs::read_to_string(cold.path().join("a_2.pdf")).unwrap(),
        "mine"
    );
    assert!(cold.path().join("a_2.pdf.json").exists());
}

#[test]
fn sweep_removes_only_this_launchers_unknown_tmp_files() {
    let cold = tempfile::tempdir().unwrap();
    let mut mine = Deposit::open(cold.path(), IndexFormat::None, "mine", false).unwrap();
    let mut other = Deposit::open(cold.path(), IndexFormat::None, "other", false).unwrap();
    let kept = mine.stage(doc("k.pdf", b"k"), vec![]).unwrap();
    let _lost = mine.stage(doc("l.pdf", b"l"), vec![]).unwrap();
    let theirs = other.stage(doc("o.pdf", b"o"), vec![]).unwrap();
    let keep: HashSet<String> = [kept.tmp.clone()].into();
    assert_eq!(mine.sweep(&keep).unwrap(), 1);
    let left = listing(cold.path());
    assert!(left.contains(&kept.tmp) && left.contains(&theirs.tmp));
    assert_eq!(left.len(), 2);
}
