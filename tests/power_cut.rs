//! What a power cut can leave (issue 17). A kill -9 cannot show it: the page cache outlives the
//! process. What survives a power cut is what was on disk: a file's contents once its
//! `fdatasync` (or `fsync`) returned, or a `syncfs` of its volume begun after its last write
//! (lanceur's way on a quiet disk), a name once its folder's `fsync` returned after the name was
//! made. So these tests trace real runs with strace and check, call by call and across the
//! flushing threads, the order the journal's promises rest on:
//!
//! - before the journal says `staged`, every file it names (temporary files, sidecars, source
//!   files to be moved) was flushed, and the folders holding them were synced after the names
//!   were made: a journal line that survives finds its files whole;
//! - before it says `done`, the renames into place were synced in the COLD folder;
//! - before the source is touched (a file moved to `--archive`, a mail marked seen), the `done`
//!   line itself was flushed.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::harness::dovecot::Dovecot;
use crate::harness::mail::pdf_mail;
use crate::harness::strace::{self, fd_path, Call};
use crate::harness::TestEnv;

const CALLS: &str =
    "openat,write,sendto,fdatasync,fsync,syncfs,rename,renameat,renameat2,link,linkat";

/// A journal line as written, with the write call that carried it.
struct Written<'a> {
    line: Value,
    call: &'a Call,
}

/// strace's rendering of a written buffer back into text (only what JSON lines hold: quotes,
/// backslashes, new lines).
fn unescape(rendered: &str) -> String {
    let mut out = String::new();
    let mut chars = rendered.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

fn journal_lines<'a>(calls: &'a [Call], journal: &Path) -> Vec<Written<'a>> {
    let journal = journal.display().to_string();
    let mut out = Vec::new();
    for call in calls.iter().filter(|c| c.name == "write" && c.ok()) {
        if fd_path(call) != Some(journal.as_str()) {
            continue;
        }
        assert!(
            !call.args.contains("\"...,"),
            "strace cut a journal write short: raise its -s"
        );
        let (Some(open), Some(close)) = (call.args.find(", \""), call.args.rfind("\", ")) else {
            panic!("a journal write strace did not show as text: {}", call.args);
        };
        for text in unescape(&call.args[open + 3..close]).lines() {
            let line: Value = serde_json::from_str(text)
                .unwrap_or_else(|e| panic!("journal line {text:?} is not JSON: {e}"));
            out.push(Written { line, call });
        }
    }
    out
}

/// The quoted paths of a call (`rename("a", "b")`).
fn quoted(call: &Call) -> Vec<&str> {
    call.args.split('"').skip(1).step_by(2).collect()
}

/// Whether `path` was flushed before `deadline`: its own `fdatasync` or `fsync`, or a `syncfs`
/// of its volume that began after the file was last made or written.
fn flushed_before(calls: &[Call], path: &Path, deadline: f64) -> bool {
    let text = path.display().to_string();
    let own = calls.iter().any(|c| {
        (c.name == "fdatasync" || c.name == "fsync")
            && c.ok()
            && fd_path(c) == Some(text.as_str())
            && c.end <= deadline
    });
    let last_touched = calls
        .iter()
        .filter(|c| c.name == "write" && fd_path(c) == Some(text.as_str()))
        .map(|c| c.end)
        .chain(made_at(calls, path))
        .fold(0.0f64, f64::max);
    let volume = |p: &Path| {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(p.parent()?).ok().map(|m| m.dev())
    };
    let whole_volume = calls.iter().any(|c| {
        c.name == "syncfs"
            && c.ok()
            && c.start >= last_touched
            && c.end <= deadline
            && fd_path(c).is_some_and(|fd| volume(Path::new(fd)) == volume(path))
    });
    own || whole_volume
}

/// Whether `folder` was synced in a call that began after `after` and returned before `deadline`.
fn folder_synced_between(calls: &[Call], folder: &Path, after: f64, deadline: f64) -> bool {
    let folder = folder.display().to_string();
    calls.iter().any(|c| {
        c.name == "fsync"
            && c.ok()
            && fd_path(c) == Some(folder.as_str())
            && c.start >= after
            && c.end <= deadline
    })
}

/// When the name `path` was made: created by `openat`, or the target of a rename or link.
fn made_at(calls: &[Call], path: &Path) -> Option<f64> {
    let text = path.display().to_string();
    calls
        .iter()
        .filter(|c| c.ok())
        .filter(|c| match c.name.as_str() {
            "openat" => c.args.contains("O_CREAT") && quoted(c).first() == Some(&text.as_str()),
            "rename" | "renameat" | "renameat2" | "link" | "linkat" => {
                quoted(c).get(1) == Some(&text.as_str())
            }
            _ => false,
        })
        .map(|c| c.end)
        .reduce(f64::max)
}

/// Checks every `staged` and `done` line of the traced run; returns how many of each it checked.
fn check_journal_order(calls: &[Call], cold: &Path, journal: &Path) -> (usize, usize) {
    let lines = journal_lines(calls, journal);
    let (mut staged, mut done) = (0, 0);
    let mut finals: std::collections::HashMap<String, Vec<PathBuf>> = Default::default();
    for Written { line, call } in &lines {
        let key = line["k"].as_str().unwrap().to_string();
        match line["s"].as_str().unwrap() {
            "staged" => {
                staged += 1;
                let mut latest_name = 0.0f64;
                for file in line["f"].as_array().into_iter().flatten() {
                    let mut names = Vec::new();
                    for field in ["tmp", "sidecar_tmp"] {
                        if let Some(tmp) = file[field].as_str().filter(|t| !t.is_empty()) {
                            names.push(cold.join(tmp));
                        }
                    }
                    for path in &names {
                        assert!(
                            flushed_before(calls, path, call.start),
                            "{key}: the journal says staged before {} was flushed",
                            path.display()
                        );
                        let made = made_at(calls, path)
                            .unwrap_or_else(|| panic!("{} was never made", path.display()));
                        latest_name = latest_name.max(made);
                    }
                    if let Some(source) = file["moved_from"].as_str() {
                        let source = Path::new(source);
                        assert!(
                            flushed_before(calls, source, call.start),
                            "{key}: the journal says staged before the source file {} was \
                             flushed",
                            source.display()
                        );
                    }
                    let entry = finals.entry(key.clone()).or_default();
                    entry.push(cold.join(file["name"].as_str().unwrap()));
                    if let Some(sidecar) = file["sidecar"].as_str() {
                        entry.push(cold.join(sidecar));
                    }
                }
                if latest_name > 0.0 {
                    assert!(
                        folder_synced_between(calls, cold, latest_name, call.start),
                        "{key}: the journal says staged before the COLD folder was synced \
                         after its temporary names were made"
                    );
                }
            }
            "done" if finals.contains_key(&key) => {
                done += 1;
                let renamed = finals[&key]
                    .iter()
                    .map(|p| {
                        made_at(calls, p).unwrap_or_else(|| panic!("{} never made", p.display()))
                    })
                    .fold(0.0f64, f64::max);
                assert!(
                    folder_synced_between(calls, cold, renamed, call.start),
                    "{key}: the journal says done before the renames into place were synced"
                );
            }
            _ => {}
        }
    }
    (staged, done)
}

/// When the journal's `done` line for the item whose key starts with `key` was flushed to disk.
fn done_flushed_at(calls: &[Call], journal: &Path, key: &str) -> f64 {
    let written = journal_lines(calls, journal)
        .into_iter()
        .find(|w| w.line["s"] == "done" && w.line["k"].as_str().unwrap().starts_with(key))
        .unwrap_or_else(|| panic!("no done line for {key}"));
    let journal_text = journal.display().to_string();
    calls
        .iter()
        .filter(|c| {
            (c.name == "fdatasync" || c.name == "fsync")
                && fd_path(c) == Some(journal_text.as_str())
                && c.start >= written.call.end
        })
        .map(|c| c.end)
        .reduce(f64::min)
        .unwrap_or_else(|| panic!("the done line for {key} was never flushed"))
}

/// The disk as the run is told it is: lanceur flushes a batch with one `syncfs` when little
/// data waits for the disk, file by file otherwise (its debug build reads the count from
/// `LANCEUR_TEST_MEMINFO`).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Disk {
    Quiet,
    Busy,
}

const DISKS: [Disk; 2] = [Disk::Quiet, Disk::Busy];

fn tell(env: &TestEnv, command: &mut Command, disk: Disk) {
    let (dirty, writeback) = match disk {
        Disk::Quiet => (1024, 0),
        Disk::Busy => (1_500_000, 120_000),
    };
    let path = env.root().join(format!("meminfo-{disk:?}"));
    let text = format!("MemTotal: 8131572 kB\nDirty: {dirty} kB\nWriteback: {writeback} kB\n");
    std::fs::write(&path, text).unwrap();
    command.env("LANCEUR_TEST_MEMINFO", &path);
}

/// Checks that the run flushed its files the way the disk called for: a quiet disk by
/// `syncfs` and no `fdatasync` of a staged file, a busy one without `syncfs`.
fn check_way(calls: &[Call], disk: Disk, cold: &Path) {
    let syncfs = calls
        .iter()
        .filter(|c| c.name == "syncfs" && c.ok())
        .count();
    let cold = cold.display().to_string();
    let own = calls
        .iter()
        .filter(|c| c.name == "fdatasync" && fd_path(c).is_some_and(|p| p.starts_with(&cold)))
        .count();
    match disk {
        Disk::Quiet => assert!(syncfs > 0 && own == 0, "{syncfs} syncfs, {own} fdatasync"),
        Disk::Busy => assert!(syncfs == 0 && own > 0, "{syncfs} syncfs, {own} fdatasync"),
    }
}

fn traced_dir_run(env: &TestEnv, name: &str, extra: &[&str], disk: Disk) -> Vec<Call> {
    let mut args = env.dir_args(&["--name", name, "--index", "idx"]);
    args.extend_from_slice(extra);
    let mut command = env.command();
    command.args(&args);
    tell(env, &mut command, disk);
    let log = env.root().join(format!("{name}.strace"));
    env.run_command(strace::traced(&command, CALLS, &log))
        .expect_code(0)
        .expect_quiet();
    strace::read(&log)
}

// See: issue 17
#[test]
fn moved_and_copied_files_are_on_disk_before_the_journal_names_them() {
    for disk in DISKS {
        moved_and_copied(disk);
    }
}

fn moved_and_copied(disk: Disk) {
    let env = TestEnv::new();
    // More than one batch (256 items), of varied sizes.
    for i in 0..300 {
        let mut content = format!("document {i}\n").into_bytes();
        content.resize(1 + (i * 397) % 40_000, b'x');
        env.source_file(&format!("doc{i:04}.pdf"), &content);
    }
    // Same volume, no archive: each file is flushed where it is, then moved in by one rename.
    let calls = traced_dir_run(&env, "moved", &[], disk);
    check_way(&calls, disk, &env.cold);
    let journal = env.state.join("moved").join("journal");
    let (staged, done) = check_journal_order(&calls, &env.cold, &journal);
    assert_eq!((staged, done), (300, 300));
    assert_eq!(env.cold_count(".pdf"), 300);

    // With --archive the documents are copies, and the source file goes to the archive only once
    // the journal's done line is on disk.
    let archive = env.dir("archive");
    for i in 0..40 {
        env.source_file(&format!("copy{i:04}.pdf"), format!("copy {i}").as_bytes());
    }
    let archive_arg = archive.display().to_string();
    let calls = traced_dir_run(&env, "copied", &["--archive", &archive_arg], disk);
    check_way(&calls, disk, &env.cold);
    let journal = env.state.join("copied").join("journal");
    let (staged, done) = check_journal_order(&calls, &env.cold, &journal);
    assert_eq!((staged, done), (40, 40));
    let archive_text = archive.display().to_string();
    let moves: Vec<&Call> = calls
        .iter()
        .filter(|c| c.name.starts_with("rename") && c.ok())
        .filter(|c| {
            quoted(c)
                .get(1)
                .is_some_and(|t| t.starts_with(&archive_text))
        })
        .collect();
    assert_eq!(moves.len(), 40);
    for moved in moves {
        let source = quoted(moved)[0];
        let flushed = done_flushed_at(&calls, &journal, &format!("dir:{source}:"));
        assert!(
            flushed <= moved.start,
            "{source} left the source before its done line was on disk"
        );
    }
}

// See: issue 17
#[test]
fn mail_documents_and_a_large_attachment_are_on_disk_before_the_journal_names_them() {
    for disk in DISKS {
        mail_documents(disk);
    }
}

fn mail_documents(disk: Disk) {
    let user = Dovecot::get().user(&format!("power-cut-{disk:?}").to_lowercase());
    // Small attachments are written from memory; one over 8 MiB is decoded into a temporary file
    // in the state folder and renamed in.
    for n in 1..=5 {
        user.deliver(&pdf_mail(n, 20_000).0);
    }
    user.deliver(&pdf_mail(6, 9 << 20).0);
    let env = TestEnv::new();
    // Plaintext on loopback, so that strace shows the IMAP commands.
    let mut command = env.command();
    command
        .env("LANCEUR_PASSWORD", &user.password)
        .args(["imap", "--server", &user.dovecot.host, "--port"])
        .arg(user.dovecot.imap_port.to_string())
        .args([
            "--tls",
            "none",
            "--account",
            &user.name,
            "--folder",
            "INBOX",
        ])
        .args(["--name", "mail", "--index", "json", "--dest"])
        .arg(&env.cold);
    tell(&env, &mut command, disk);
    let log = env.root().join("mail.strace");
    env.run_command(strace::traced(&command, CALLS, &log))
        .expect_code(0)
        .expect_quiet();
    let calls = strace::read(&log);
    check_way(&calls, disk, &env.cold);
    let journal = env.state.join("mail").join("journal");
    assert_eq!(check_journal_order(&calls, &env.cold, &journal), (6, 6));
    assert_eq!(env.cold_count(".pdf"), 6);
    // The mails were marked seen only after their done lines were on disk.
    let flushed = done_flushed_at(&calls, &journal, "imap:INBOX:");
    let store = calls
        .iter()
        .find(|c| c.name == "sendto" && c.args.contains("UID STORE"))
        .expect("no UID STORE sent");
    assert!(
        flushed <= store.start,
        "mails marked seen before the journal said done"
    );
    assert!(user.messages("INBOX").iter().all(|m| m.seen()));
}
