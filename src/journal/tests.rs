//! The journal against real files: states across reopening, failures counted per item, a torn
//! last line, read-only use, and compaction (also over the open file Windows will not rename
//! over, and when it is refused).

use super::*;

fn key(s: &str) -> ItemKey {
    ItemKey(s.into())
}

#[test]
fn states_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let mut journal = Journal::open(&path, true).unwrap();
    let staged = Staged {
        tmp: ".t".into(),
        moved_from: None,
        name: "a.pdf".into(),
        sidecar_tmp: None,
        sidecar: None,
        bytes: 1,
    };
    journal
        .record_staged(&key("a"), std::slice::from_ref(&staged))
        .unwrap();
    journal.record_staged(&key("b"), &[]).unwrap();
    journal.record_done(&key("b")).unwrap();
    journal.record_staged(&key("c"), &[]).unwrap();
    journal.record_done(&key("c")).unwrap();
    journal.record_acked(&key("c")).unwrap();
    journal.flush(true).unwrap();
    drop(journal);
    let journal = Journal::open(&path, false).unwrap();
    assert_eq!(
        journal.state(&key("a")),
        Some(&State::Staged(vec![staged.clone()].into()))
    );
    assert_eq!(journal.state(&key("b")), Some(&State::Done));
    assert_eq!(journal.state(&key("c")), Some(&State::Acked));
    assert_eq!(journal.unfinished(), vec![(key("a"), vec![staged])]);
}

#[test]
fn failures_count_runs_in_a_row_of_the_same_failure() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let mut journal = Journal::open(&path, true).unwrap();
    let a = key("a");
    assert_eq!(
        journal
            .record_failed(&a, "unreadable, so for 2h 3m")
            .unwrap(),
        1
    );
    assert_eq!(
        journal
            .record_failed(&a, "unreadable, so for 2h 13m")
            .unwrap(),
        2
    );
    // Another failure starts again.
    assert_eq!(journal.record_failed(&a, "the server refused").unwrap(), 1);
    assert_eq!(journal.record_failed(&a, "the server refused").unwrap(), 2);
    journal.record_unmatched(&key("u"), "f1").unwrap();
    journal.record_aside(&key("s")).unwrap();
    journal.record_aside(&key("r")).unwrap();
    journal.record_retry(&key("r")).unwrap();
    journal.flush(true).unwrap();
    drop(journal);
    let mut journal = Journal::open(&path, true).unwrap();
    assert_eq!(
        journal.state(&a),
        Some(&State::Failed(2, "the server refused".into()))
    );
    assert_eq!(
        journal.state(&key("u")),
        Some(&State::Unmatched("f1".into()))
    );
    assert_eq!(journal.state(&key("s")), Some(&State::Aside));
    assert_eq!(journal.state(&key("r")), None);
    assert_eq!(journal.record_failed(&a, "the server refused").unwrap(), 3);
    // Taken at last: the count is gone with the failure.
    journal.record_done(&a).unwrap();
    assert_eq!(journal.record_failed(&a, "the server refused").unwrap(), 1);
}

#[test]
fn a_torn_last_line_is_cut_off_before_appending() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let mut journal = Journal::open(&path, true).unwrap();
    journal.record_done(&key("a")).unwrap();
    journal.flush(true).unwrap();
    drop(journal);
    let mut file = OpenOptions::new().append(true).open(&path).unwrap();
    file.write_all(br#"{"k":"b","s":"do"#).unwrap();
    drop(file);
    let mut journal = Journal::open(&path, true).unwrap();
    assert_eq!(journal.state(&key("b")), None);
    journal.record_done(&key("c")).unwrap();
    journal.flush(true).unwrap();
    drop(journal);
    let journal = Journal::open(&path, false).unwrap();
    assert_eq!(journal.state(&key("a")), Some(&State::Done));
    assert_eq!(journal.state(&key("c")), Some(&State::Done));
    let text = fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
}

#[test]
fn read_only_journal_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let mut journal = Journal::open(&path, false).unwrap();
    journal.record_done(&key("a")).unwrap();
    journal.flush(true).unwrap();
    assert!(!path.exists());
}

#[test]
fn compaction_keeps_live_state_and_forgets_old_unlisted_acks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let old = now() - RETENTION.as_secs() - 10;
    let mut text = String::new();
    for i in 0..6000 {
        text.push_str(&format!(
            "{{\"k\":\"old{i}\",\"s\":\"done\",\"t\":{old}}}\n"
        ));
        text.push_str(&format!(
            "{{\"k\":\"old{i}\",\"s\":\"acked\",\"t\":{old}}}\n"
        ));
    }
    text.push_str(&format!(
        "{{\"k\":\"listed\",\"s\":\"acked\",\"t\":{old}}}\n"
    ));
    text.push_str(&format!(
        "{{\"k\":\"recent\",\"s\":\"acked\",\"t\":{}}}\n",
        now()
    ));
    fs::write(&path, text).unwrap();
    let mut journal = Journal::open(&path, true).unwrap();
    let listed: HashSet<ItemKey> = [key("listed")].into();
    // See: issue 14. Windows refused to rename over the journal this process held open.
    journal.compact(Some(&listed)).unwrap();
    assert!(!path.with_extension("compact.tmp").exists());
    assert_eq!(fs::read_to_string(&path).unwrap().lines().count(), 2);
    // The journal goes on after its compaction, in the new file.
    journal.record_done(&key("after")).unwrap();
    journal.flush(true).unwrap();
    drop(journal);
    let journal = Journal::open(&path, false).unwrap();
    assert_eq!(journal.state(&key("old1")), None);
    assert_eq!(journal.state(&key("listed")), Some(&State::Acked));
    assert_eq!(journal.state(&key("recent")), Some(&State::Acked));
    assert_eq!(journal.state(&key("after")), Some(&State::Done));
    assert_eq!(fs::read_to_string(&path).unwrap().lines().count(), 3);
}

/// A journal with enough superseded lines for `compact` to rewrite it.
fn due_for_compaction(path: &Path) {
    let mut text = String::new();
    for i in 0..4000 {
        for state in ["staged", "done", "acked", "acked"] {
            text.push_str(&format!(
                "{{\"k\":\"k{i}\",\"s\":\"{state}\",\"t\":{}}}\n",
                now()
            ));
        }
    }
    fs::write(path, text).unwrap();
}

// Another program reading the journal (a backup, an editor) without sharing deletion makes the
// rename fail on Windows: the old journal stays whole and this run goes on journaling.
#[cfg(windows)]
#[test]
fn a_compaction_refused_keeps_the_journal_whole_and_usable() {
    use std::os::windows::fs::OpenOptionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    due_for_compaction(&path);
    let before = fs::read(&path).unwrap();
    let mut journal = Journal::open(&path, true).unwrap();
    const FILE_SHARE_READ_WRITE: u32 = 0x1 | 0x2;
    let reader = OpenOptions::new()
        .read(true)
        .share_mode(FILE_SHARE_READ_WRITE)
        .open(&path)
        .unwrap();
    let err = journal.compact(None).unwrap_err();
    assert_eq!(crate::exit::code_for(&err), crate::exit::COLD);
    assert!(
        format!("{err:#}").contains("cannot compact journal"),
        "{err:#}"
    );
    assert!(!path.with_extension("compact.tmp").exists());
    assert_eq!(fs::read(&path).unwrap(), before);
    journal.record_done(&key("after")).unwrap();
    journal.flush(true).unwrap();
    drop((journal, reader));
    let journal = Journal::open(&path, false).unwrap();
    assert_eq!(journal.state(&key("k1")), Some(&State::Acked));
    assert_eq!(journal.state(&key("after")), Some(&State::Done));
}

#[test]
fn a_compaction_that_is_due_rewrites_one_line_per_item() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    due_for_compaction(&path);
    let mut journal = Journal::open(&path, true).unwrap();
    journal.compact(None).unwrap();
    drop(journal);
    assert_eq!(fs::read_to_string(&path).unwrap().lines().count(), 4000);
}
