//! Real-world mail (issue 12): every mail of `tests/fixtures/mail` (see its SOURCES.md: Outlook,
//! Exchange, Apple Mail, Pine, Eudora, Netscape, Lotus Notes, bounces, read receipts, TNEF,
//! Japanese, Chinese and Korean charsets, damaged and cut-off mails…) is delivered to the test
//! Dovecot and taken by lanceur over IMAP and over POP3; what lands in the COLD folder (names and
//! SHA-256) must be what Python's `email` package finds in the same bytes, as
//! `tests/fixtures/mail/oracle.py` reads it in this very run (its points of judgement, J1-J12, are
//! documented at its top). A mail the oracle finds damaged must fail, deposit nothing and stay.
//! See: issue 12.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::dovecot::{Dovecot, User};
use crate::harness::TestEnv;
use crate::imap::imap_command;
use crate::pop::pop_command;

fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mail");
    let mut mails: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    mails.sort();
    assert!(
        mails.len() >= 50,
        "the corpus is missing from {}",
        dir.display()
    );
    mails
}

/// The mail as a server hands it out: every line ending in CRLF.
fn on_the_wire(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 20);
    for (i, &b) in raw.iter().enumerate() {
        if b == b'\n' && (i == 0 || raw[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

/// What the oracle expects of each file: `None` for a mail that must fail, else (name or `None`
/// for a generated one, SHA-256) per document.
type Expected = BTreeMap<String, Option<Vec<(Option<String>, String)>>>;

fn oracle(files: &[PathBuf], unzip: bool) -> Expected {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mail/oracle.py");
    let mut command = Command::new("python3");
    command.arg(&script).arg("--deposits");
    if unzip {
        command.arg("--unzip");
    }
    let output = command
        .args(files)
        .output()
        .expect("python3 is needed (scripts/test installs it)");
    assert!(
        output.status.success(),
        "the oracle failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut expected = Expected::new();
    for mail in answer.as_array().unwrap() {
        let file = mail["file"].as_str().unwrap().to_string();
        let deposits = mail["deposits"].as_array().map(|list| {
            list.iter()
                .map(|d| {
                    (
                        d[0].as_str().map(str::to_string),
                        d[1].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        });
        expected.insert(file, deposits);
    }
    expected
}

/// Differences between the COLD folder of `env` and `expected`, with the exit code.
fn compare(
    what: &str,
    env: &TestEnv,
    code: i32,
    expected: &Option<Vec<(Option<String>, String)>>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut landed: Vec<(String, String)> = env
        .cold_by_hash()
        .into_iter()
        .flat_map(|(hash, names)| names.into_iter().map(move |n| (n, hash.clone())))
        .collect();
    match expected {
        None => {
            if code != 1 || !landed.is_empty() {
                problems.push(format!(
                    "{what}: the oracle finds a damaged document: expected exit 1 and nothing \
                     deposited, got exit {code} and {landed:?}"
                ));
            }
        }
        Some(documents) => {
            if code != 0 {
                problems.push(format!("{what}: exit code {code}"));
            }
            for (name, hash) in documents {
                let found = landed.iter().position(|(n, h)| {
                    h == hash
                        && match name {
                            Some(name) => n == name,
                            None => n.contains("-part"),
                        }
                });
                match found {
                    Some(at) => {
                        landed.remove(at);
                    }
                    None => problems.push(format!("{what}: missing {name:?} ({hash})")),
                }
            }
            for (name, hash) in landed {
                problems.push(format!("{what}: unexpected {name:?} ({hash})"));
            }
        }
    }
    problems
}

fn imap_run(user: &User, extra: &[&str]) -> (TestEnv, i32) {
    let env = TestEnv::new();
    // POP3 marks what it sends as seen: take every mail, seen or not.
    let mut args = vec!["--after", "keep", "--select", "all"];
    args.extend_from_slice(extra);
    let ran = env.run_command(imap_command(&env, user, "INBOX", &args));
    let code = ran.code;
    (env, code)
}

#[test]
fn every_corpus_mail_lands_as_pythons_email_package_finds_it_over_imap_and_pop3() {
    let dovecot = Dovecot::get();
    let wire = TestEnv::new();
    let dir = wire.dir("wire");
    let mut files = Vec::new();
    let mut users = Vec::new();
    for path in corpus() {
        let raw = on_the_wire(&fs::read(&path).unwrap());
        let file = dir.join(path.file_name().unwrap());
        fs::write(&file, &raw).unwrap();
        let user = dovecot.user("corpus12");
        user.deliver(&raw);
        files.push(file);
        users.push(user);
    }
    let expected = oracle(&files, false);
    let unzipped = oracle(&files, true);
    let mut problems = Vec::new();
    let mut failing = 0;
    for (file, user) in files.iter().zip(&users) {
        let key = file.to_str().unwrap();
        let name = file.file_name().unwrap().to_string_lossy();
        let want = &expected[key];
        failing += usize::from(want.is_none());
        let (env, code) = imap_run(user, &[]);
        problems.extend(compare(&format!("{name} over IMAP"), &env, code, want));
        let env = TestEnv::new();
        let ran = env.run_command(pop_command(&env, user, &["--keep"]));
        problems.extend(compare(&format!("{name} over POP3"), &env, ran.code, want));
        if unzipped[key] != *want {
            let (env, code) = imap_run(user, &["--unzip"]);
            problems.extend(compare(
                &format!("{name} over IMAP with --unzip"),
                &env,
                code,
                &unzipped[key],
            ));
        }
        // Everything stays on the server for the other runs, as --after keep and --keep promise.
        assert_eq!(user.messages("INBOX").len(), 1, "{name}");
    }
    assert!(failing >= 1, "the corpus must hold a mail that has to fail");
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
