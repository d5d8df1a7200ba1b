//! `lanceur check` on mail launchers, against the harness's Dovecot: wrong password, missing
//! mailbox, counts, and the mails and their flags untouched.

use std::process::Command;

use super::{check_json, run_changing_nothing};
use crate::harness::dovecot::{Dovecot, Stored, User};
use crate::harness::mail::pdf_mail;
use crate::harness::{sha256, Ran, TestEnv};
use crate::imap::imap_command;
use crate::pop::pop_command;

/// What the server holds: each mail's flags and bytes, in delivery order.
fn mailbox(user: &User) -> Vec<(String, String)> {
    user.messages("INBOX")
        .iter()
        .map(|m: &Stored| (m.flags.clone(), sha256(&m.bytes)))
        .collect()
}

fn imap_check(env: &TestEnv, user: &User, folder: &str, extra: &[&str]) -> Command {
    env.check_of(&imap_command(env, user, folder, extra))
}

/// Runs `command` and asserts that neither the files of the test nor the mailbox changed.
#[track_caller]
fn run_changing_nothing_on(env: &TestEnv, user: &User, command: Command) -> Ran {
    let before = mailbox(user);
    let ran = run_changing_nothing(env, command);
    assert_eq!(
        before,
        mailbox(user),
        "check changed the mailbox\n{}",
        ran.explain()
    );
    ran
}

#[test]
fn imap_wrong_password_exits_3() {
    let user = Dovecot::get().user("checkpw");
    user.deliver(&pdf_mail(1, 2000).0);
    let env = TestEnv::new();
    let mut command = imap_check(&env, &user, "INBOX", &[]);
    command.env("LANCEUR_PASSWORD", "not the password");
    let ran = run_changing_nothing_on(&env, &user, command);
    ran.expect_code(3);
    assert!(
        ran.stdout
            .contains("source   FAILED: authentication failed")
            && ran.stdout.contains("check --account and the password"),
        "{}",
        ran.explain()
    );
    assert!(!env.state.exists());
}

#[test]
fn imap_missing_mailbox_exits_4() {
    let user = Dovecot::get().user("checkbox");
    let env = TestEnv::new();
    let ran = run_changing_nothing_on(&env, &user, imap_check(&env, &user, "Nulle part", &[]));
    ran.expect_code(4);
    assert!(
        ran.stdout.contains("cannot open mailbox «Nulle part»"),
        "{}",
        ran.explain()
    );
}

#[test]
fn imap_ready_launcher_counts_and_leaves_the_mailbox_alone() {
    let user = Dovecot::get().user("checkok");
    let env = TestEnv::new();
    let keep = ["--select", "all", "--after", "keep", "--name", "courrier"];
    // One mail taken by an earlier run and kept on the server: the journal knows it.
    user.deliver(&pdf_mail(1, 2000).0);
    let mut run = env.command();
    run.env("LANCEUR_PASSWORD", &user.password)
        .args(user.imap_args("INBOX"))
        .arg("--dest")
        .arg(&env.cold)
        .args(keep);
    env.run_command(run).expect_code(0).expect_quiet();
    assert_eq!(env.cold_visible(), vec!["facture-0001.pdf"]);
    let (second, third) = (pdf_mail(2, 2000).0, pdf_mail(3, 2000).0);
    user.deliver(&second);
    user.deliver(&third);

    let ran = run_changing_nothing_on(
        &env,
        &user,
        imap_check(&env, &user, "INBOX", &[&keep[..], &["--json"]].concat()),
    );
    ran.expect_code(0);
    let report = check_json(&ran);
    let source = &report["source"];
    assert_eq!(source["listed"], 3, "{report:#}");
    assert_eq!(source["new"], 2);
    assert_eq!(
        source["new_bytes"],
        (second.len() + third.len()) as u64,
        "sizes as the server lists them"
    );
    assert_eq!(source["already_done"], 1);
    // The mail's UID and its Message-ID alias.
    assert_eq!(report["state"]["journal_entries"], 2);
    assert!(report["cold"].get("same_volume_as_source").is_none());
    assert!(user.messages("INBOX").iter().all(|m| !m.seen()));

    let ran = run_changing_nothing_on(&env, &user, imap_check(&env, &user, "INBOX", &keep));
    ran.expect_code(0);
    assert!(
        ran.stdout.contains("launcher courrier: ready")
            && ran
                .stdout
                .contains(&format!("imap {}@127.0.0.1:", user.name))
            && ran.stdout.contains("2 new items (")
            && ran.stdout.contains("1 already deposited"),
        "{}",
        ran.explain()
    );
}

// --- POP3 ---

fn pop_check(env: &TestEnv, user: &User, extra: &[&str]) -> Command {
    env.check_of(&pop_command(env, user, extra))
}

#[test]
fn pop_check_counts_and_deletes_nothing() {
    let user = Dovecot::get().user("checkpop");
    let (first, second) = (pdf_mail(4, 2000).0, pdf_mail(5, 2000).0);
    user.deliver(&first);
    user.deliver(&second);
    let env = TestEnv::new();
    let ran = run_changing_nothing_on(&env, &user, pop_check(&env, &user, &["--json"]));
    ran.expect_code(0);
    let report = check_json(&ran);
    assert_eq!(report["source"]["new"], 2, "{report:#}");
    assert_eq!(
        report["source"]["new_bytes"],
        (first.len() + second.len()) as u64
    );
    assert_eq!(user.messages("INBOX").len(), 2);
    assert!(!env.state.exists());

    let mut command = pop_check(&env, &user, &[]);
    command.env("LANCEUR_PASSWORD", "wrong");
    let ran = run_changing_nothing_on(&env, &user, command);
    ran.expect_code(3);
    assert!(
        ran.stdout
            .contains("source   FAILED: authentication failed"),
        "{}",
        ran.explain()
    );
}
