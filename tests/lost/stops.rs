//! How a run ends before its work is done: a server trickling its answers meets
//! `--answer-timeout` or `--run-timeout` (exit 4), SIGTERM ends it cleanly (exit 7), and the next
//! run finishes the job.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{imap, imap_command};
use crate::harness::dovecot::Dovecot;
use crate::harness::mail::pdf_mail;
use crate::harness::proxy::Proxy;
use crate::harness::{names, sha256, TestEnv};

#[test]
fn a_trickling_server_ends_the_run_with_exit_4_at_the_answer_deadline() {
    let dovecot = Dovecot::get();
    let user = dovecot.user("trickle");
    user.deliver(&pdf_mail(7, 50_000).0);
    let env = TestEnv::new();
    // Login and listing at full speed, then a byte every 20 ms: never silent for --timeout.
    let proxy = Proxy::trickling(dovecot.imaps_port, 12_000, Duration::from_millis(20));
    let ran = env.run_command(imap_command(
        &env,
        &user,
        Some(proxy.port),
        &["--timeout", "5s", "--answer-timeout", "3s", "--json"],
    ));
    ran.expect_code(4)
        .expect_stderr_contains("did not finish its answer within --answer-timeout 3s");
    assert_eq!(ran.summary()["exit_code"], 4);
    assert!(env.cold_visible().is_empty());
    assert!(!user.messages("INBOX")[0].seen());
    // The whole run is bounded too.
    let ran = env.run_command(imap_command(
        &env,
        &user,
        Some(proxy.port),
        &["--timeout", "5s", "--run-timeout", "2s"],
    ));
    ran.expect_code(4)
        .expect_stderr_contains("the run reached --run-timeout 2s");
}

#[test]
fn sigterm_ends_a_run_cleanly_with_exit_7_and_the_next_run_finishes() {
    let user = Dovecot::get().user("sigterm");
    let mut known = BTreeSet::new();
    for n in 0..600 {
        let (raw, pdf) = pdf_mail(2000 + n, 20_000);
        known.insert(sha256(&pdf));
        user.deliver(&raw);
    }
    let env = TestEnv::new();
    let mut command = imap_command(&env, &user, None, &["--name", "term", "--json"]);
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once documents land, the run is mid-work.
    while env.cold_count(".pdf") == 0 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before the signal"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(7), "{stderr}");
    assert!(
        stderr.contains("lanceur: term: interrupted: stopped by SIGTERM"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let summary: serde_json::Value = serde_json::from_str(
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(summary["exit_code"], 7);
    let interrupted = env.cold_count(".pdf");
    assert!(interrupted < known.len(), "the signal interrupted nothing");
    assert!(
        names(&env.cold).iter().all(|n| !n.starts_with('.')),
        "temporary file left"
    );
    let seen = user.messages("INBOX").iter().filter(|m| m.seen()).count();
    assert_eq!(
        seen, interrupted,
        "a mail marked seen must be deposited, and only those"
    );
    imap(&env, &user, &["--name", "term"])
        .expect_code(0)
        .expect_quiet();
    let deposited = env.cold_by_hash();
    assert_eq!(deposited.len(), known.len());
    assert!(deposited.values().all(|n| n.len() == 1));
}
