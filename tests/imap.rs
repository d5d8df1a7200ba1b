//! `lanceur imap` against a real Dovecot (see `harness/dovecot.rs`): logins, TLS, what is taken
//! from real-world-shaped mails, post-actions checked on the server, idempotence, crashes, cut
//! connections, damaged mails and UIDVALIDITY changes. See: issue 3.

use std::process::Command;
use std::time::Duration;

use crate::harness::dovecot::{Dovecot, User};
use crate::harness::mail::{damaged_mail, mail, pdf_mail, Part};
use crate::harness::{Ran, TestEnv};

mod corpus;
mod listing;
mod recovery;
mod resilience;

/// `lanceur imap` for `user` on `folder`, password from the environment, plus `extra`.
/// Connection options in `extra` replace the harness's defaults.
pub(crate) fn imap_command(env: &TestEnv, user: &User, folder: &str, extra: &[&str]) -> Command {
    let mut base = user.imap_args(folder);
    for flag in ["--server", "--port", "--ca-file", "--timeout"] {
        if extra.contains(&flag) {
            if let Some(at) = base.iter().position(|a| a == flag) {
                base.drain(at..at + 2);
            }
        }
    }
    let mut command = env.command();
    command
        .env("LANCEUR_PASSWORD", &user.password)
        .args(base)
        .arg("--dest")
        .arg(&env.cold)
        .args(extra);
    command
}

/// `imap_command` through a proxy listening on `port` in front of Dovecot's plaintext port:
/// plaintext on loopback, as to a local tunnel.
pub(crate) fn through_proxy(env: &TestEnv, user: &User, port: u16, extra: &[&str]) -> Command {
    let port = port.to_string();
    let mut args = vec!["--server", "127.0.0.1", "--port", &port, "--tls", "none"];
    args.extend_from_slice(extra);
    imap_command(env, user, "INBOX", &args)
}

fn run(env: &TestEnv, user: &User, extra: &[&str]) -> Ran {
    env.run_command(imap_command(env, user, "INBOX", extra))
}

#[test]
fn a_wrong_password_exits_3_and_takes_nothing() {
    let user = Dovecot::get().user("badpw");
    user.deliver(&pdf_mail(1, 1000).0);
    let env = TestEnv::new();
    let mut command = imap_command(&env, &user, "INBOX", &[]);
    command.env("LANCEUR_PASSWORD", "not the password");
    let ran = env.run_command(command);
    ran.expect_code(3)
        .expect_stderr_contains("refused the login of")
        .expect_stderr_contains("check --account and the password");
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.explain());
    assert!(env.cold_visible().is_empty());
    assert!(!user.messages("INBOX")[0].seen());
}

#[test]
fn a_password_on_the_command_line_is_refused() {
    let user = Dovecot::get().user("cmdline");
    let env = TestEnv::new();
    let mut command = imap_command(&env, &user, "INBOX", &["--password", "secret"]);
    command.env_remove("LANCEUR_PASSWORD");
    env.run_command(command)
        .expect_code(2)
        .expect_stderr_contains("--password on the command line is refused");
    let ran = env.run(&["imap", "--help"]);
    ran.expect_code(0);
    for text in [
        "LANCEUR_PASSWORD",
        "--password-file",
        "ps",
        "crontab",
        "--select",
    ] {
        assert!(ran.stdout.contains(text), "{text}\n{}", ran.explain());
    }
}

#[test]
fn unreachable_server_and_missing_folder_exit_4_with_a_remedy() {
    let user = Dovecot::get().user("unreach");
    let env = TestEnv::new();
    let closed = crate::harness::closed_port();
    run(&env, &user, &["--port", &closed])
        .expect_code(4)
        .expect_stderr_contains("cannot connect to 127.0.0.1:")
        .expect_stderr_contains("check --server, --port");
    let ran = env.run_command(imap_command(&env, &user, "Nulle part", &[]));
    ran.expect_code(4)
        .expect_stderr_contains("cannot open mailbox «Nulle part»")
        .expect_stderr_contains("check --folder");
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.explain());
    run(&env, &user, &["--move-to", "Absent"])
        .expect_code(4)
        .expect_stderr_contains("--move-to mailbox «Absent» does not exist");
}

#[test]
fn the_certificate_is_refused_without_the_ca_and_accepted_with_it() {
    let user = Dovecot::get().user("cert");
    let (raw, pdf) = pdf_mail(2, 5000);
    user.deliver(&raw);
    let env = TestEnv::new();
    let args = user.imap_args_without_ca("INBOX");
    let mut command = env.command();
    command
        .env("LANCEUR_PASSWORD", &user.password)
        .args(&args)
        .arg("--dest")
        .arg(&env.cold);
    env.run_command(command)
        .expect_code(4)
        .expect_stderr_contains("TLS handshake with 127.0.0.1:")
        .expect_stderr_contains("--ca-file");
    assert!(env.cold_visible().is_empty());
    assert!(!user.messages("INBOX")[0].seen());
    // A CA file may be a bundle: the server's CA second, after an unrelated one, still counts.
    let other = env.root().join("other-ca");
    crate::harness::dovecot::self_signed(&other, "other", 1, &[]);
    let bundle = env.root().join("bundle.pem");
    let mut pem = std::fs::read(&other).unwrap();
    pem.extend(std::fs::read(&user.dovecot.ca_file).unwrap());
    std::fs::write(&bundle, pem).unwrap();
    let mut command = env.command();
    command
        .env("LANCEUR_PASSWORD", &user.password)
        .args(&args)
        .arg("--ca-file")
        .arg(&bundle)
        .arg("--dest")
        .arg(&env.cold);
    env.run_command(command).expect_code(0).expect_quiet();
    assert_eq!(env.cold_read("facture-0002.pdf"), pdf);
}

#[test]
fn starttls_is_really_used() {
    // On 127.0.0.2 Dovecot refuses a plaintext login from 127.0.0.1: success proves the upgrade.
    let dovecot = Dovecot::remote();
    let user = dovecot.user("starttls");
    let (raw, pdf) = pdf_mail(3, 3000);
    user.deliver(&raw);
    let env = TestEnv::new();
    let port = dovecot.imap_port.to_string();
    let plain = ["--port", port.as_str(), "--tls", "none"];
    env.run_command(imap_command(&env, &user, "INBOX", &plain))
        .expect_code(3)
        .expect_stderr_contains("will not log in without encryption");
    assert!(env.cold_visible().is_empty());
    let starttls = ["--port", port.as_str(), "--tls", "starttls"];
    env.run_command(imap_command(&env, &user, "INBOX", &starttls))
        .expect_code(0)
        .expect_quiet();
    assert_eq!(env.cold_read("facture-0003.pdf"), pdf);
    assert!(user.messages("INBOX")[0].seen());
}

#[test]
fn take_eml_deposits_each_mail_whole() {
    let user = Dovecot::get().user("eml");
    let (raw, _) = pdf_mail(20, 2000);
    user.deliver(&raw);
    let env = TestEnv::new();
    run(&env, &user, &["--take", "both"]).expect_code(0);
    assert_eq!(
        env.cold_visible(),
        vec!["facture-0020.pdf", "uid-1 Facture 20.eml"]
    );
    assert_eq!(env.cold_read("uid-1 Facture 20.eml"), raw);
}

#[test]
fn move_to_a_folder_with_non_ascii_names() {
    let user = Dovecot::get().user("move");
    let mut pdfs = Vec::new();
    for n in 0..3 {
        let (raw, pdf) = pdf_mail(30 + n, 2000);
        user.deliver_to("Reçus", &raw);
        pdfs.push(pdf);
    }
    user.folder("Archivé");
    let env = TestEnv::new();
    env.run_command(imap_command(
        &env,
        &user,
        "Reçus",
        &["--move-to", "Archivé"],
    ))
    .expect_code(0)
    .expect_quiet();
    assert_eq!(env.cold_visible().len(), 3);
    assert!(user.messages("Reçus").is_empty(), "still in Reçus");
    assert_eq!(user.messages("Archivé").len(), 3);
    env.run_command(imap_command(
        &env,
        &user,
        "Reçus",
        &["--move-to", "Archivé"],
    ))
    .expect_code(0);
    assert_eq!(env.cold_visible().len(), 3);
}

#[test]
fn delete_removes_exactly_the_deposited_mails() {
    let user = Dovecot::get().user("delete");
    for n in 0..3 {
        user.deliver(&pdf_mail(40 + n, 2000).0);
    }
    let env = TestEnv::new();
    run(&env, &user, &["--after", "delete", "--max-items", "2"]).expect_code(0);
    assert_eq!(
        env.cold_visible(),
        vec!["facture-0040.pdf", "facture-0041.pdf"]
    );
    let left = user.messages("INBOX");
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(String::from_utf8_lossy(&left[0].bytes).contains("Facture 42"));
    run(&env, &user, &["--after", "delete"]).expect_code(0);
    assert!(user.messages("INBOX").is_empty());
    assert_eq!(env.cold_visible().len(), 3);
}

#[test]
fn keep_and_select_all_in_a_gmail_style_folder() {
    let user = Dovecot::get().user("keep");
    let folder = "[Gmail]/All Mail";
    for n in 0..2 {
        user.deliver_to(folder, &pdf_mail(50 + n, 2000).0);
    }
    let env = TestEnv::new();
    let args = ["--after", "keep", "--select", "all"];
    env.run_command(imap_command(&env, &user, folder, &args))
        .expect_code(0);
    assert_eq!(env.cold_visible().len(), 2);
    let stored = user.messages(folder);
    assert!(stored.iter().all(|m| !m.seen()), "{stored:?}");
    // Someone reads a new mail in a webmail before the run: --select all still takes it.
    user.deliver_to(folder, &pdf_mail(52, 2000).0);
    for message in user.messages(folder) {
        if message.file.parent().unwrap().ends_with("new") {
            let name = message
                .file
                .file_name()
                .unwrap()
                .to_string_lossy()
                .to_string();
            let cur = message.file.parent().unwrap().with_file_name("cur");
            std::fs::rename(&message.file, cur.join(format!("{name}:2,S"))).unwrap();
        }
    }
    let ran = env.run_command(imap_command(&env, &user, folder, &args));
    ran.expect_code(0).expect_quiet();
    assert_eq!(env.cold_visible().len(), 3, "{}", ran.explain());
    // Idempotent.
    env.run_command(imap_command(&env, &user, folder, &args))
        .expect_code(0);
    assert_eq!(env.cold_visible().len(), 3);
    assert_eq!(user.messages(folder).len(), 3);
}

#[test]
fn a_damaged_mail_is_reported_and_left_while_the_others_go_through() {
    let user = Dovecot::get().user("damaged");
    user.deliver(&pdf_mail(60, 2000).0);
    let damaged = damaged_mail(61);
    user.deliver(&damaged);
    user.deliver(&pdf_mail(62, 2000).0);
    let env = TestEnv::new();
    let ran = run(&env, &user, &[]);
    ran.expect_code(1)
        .expect_stderr_contains("UID 2 «Facture abîmée»")
        .expect_stderr_contains("damaged")
        .expect_stderr_contains("left at the source");
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.explain());
    assert_eq!(
        env.cold_visible(),
        vec!["facture-0060.pdf", "facture-0062.pdf"]
    );
    let stored = user.messages("INBOX");
    let seen: Vec<bool> = stored.iter().map(|m| m.seen()).collect();
    assert_eq!(seen, vec![true, false, true]);
    assert_eq!(stored[1].bytes, damaged, "the damaged mail was changed");
    run(&env, &user, &[]).expect_code(1);
    assert_eq!(env.cold_visible().len(), 2);
}

#[test]
fn since_limits_a_first_run_and_dry_run_changes_nothing() {
    let user = Dovecot::get().user("since");
    let long_ago = std::time::SystemTime::now() - Duration::from_secs(400 * 24 * 3600);
    user.deliver_received(&pdf_mail(90, 2000).0, long_ago);
    user.deliver(&pdf_mail(91, 2000).0);
    let env = TestEnv::new();
    let args = ["--select", "all", "--since", "30d"];
    let mut with_dry_run = args.to_vec();
    with_dry_run.push("--dry-run");
    let ran = run(&env, &user, &with_dry_run);
    ran.expect_code(0);
    assert!(
        ran.stdout.contains("facture-0091.pdf") && !ran.stdout.contains("facture-0090.pdf"),
        "{}",
        ran.explain()
    );
    assert!(env.cold_visible().is_empty());
    assert!(user.messages("INBOX").iter().all(|m| !m.seen()));
    run(&env, &user, &args).expect_code(0).expect_quiet();
    assert_eq!(env.cold_visible(), vec!["facture-0091.pdf"]);
    let seen: Vec<bool> = user.messages("INBOX").iter().map(|m| m.seen()).collect();
    assert_eq!(seen, vec![false, true]);
}

// See: issue 11. Such a mail used to be acknowledged like a deposited one: deleted with
// --after delete.
#[test]
fn a_mail_whose_documents_are_all_filtered_out_is_left_untouched() {
    let user = Dovecot::get().user("filtered");
    user.deliver(&mail(
        "Compte rendu",
        "docx@dupont.example",
        Part::multipart(
            "mixed",
            vec![
                Part::text("ci-joint"),
                Part::base64(
                    &[
                        "Content-Type: application/vnd.openxmlformats-officedocument.wordprocessingml.document; name=\"cr.docx\"",
                        "Content-Disposition: attachment; filename=\"cr.docx\"",
                    ],
                    b"PK\x03\x04 docx",
                ),
            ],
        ),
    ));
    user.deliver(&pdf_mail(95, 2000).0);
    let env = TestEnv::new();
    let ran = run(&env, &user, &["--filter", r"/.*\.pdf$/i", "--json"]);
    ran.expect_code(0);
    assert_eq!(ran.summary()["items_deposited"], 1, "{}", ran.explain());
    assert_eq!(ran.summary()["items_unmatched"], 1, "{}", ran.explain());
    assert_eq!(env.cold_visible(), vec!["facture-0095.pdf"]);
    let seen: Vec<bool> = user.messages("INBOX").iter().map(|m| m.seen()).collect();
    assert_eq!(seen, vec![false, true]);
    // --unmatched seen marks it read, and never more.
    let ran = run(
        &env,
        &user,
        &[
            "--filter",
            r"/.*\.docx$/i",
            "--unmatched",
            "seen",
            "--after",
            "delete",
            "--json",
        ],
    );
    ran.expect_code(0);
    assert_eq!(ran.summary()["items_deposited"], 1, "{}", ran.explain());
    assert!(user.messages("INBOX").is_empty() || user.messages("INBOX").iter().all(|m| m.seen()));
}

#[test]
fn without_move_and_uidplus_a_move_is_copy_delete_expunge() {
    let user = Dovecot::legacy().user("legacy");
    for n in 0..3 {
        user.deliver(&pdf_mail(96 + n, 2000).0);
    }
    user.folder("Archives");
    let env = TestEnv::new();
    run(&env, &user, &["--move-to", "Archives", "-vv"])
        .expect_code(0)
        .expect_stderr_contains("MOVE false, UIDPLUS false");
    assert_eq!(env.cold_visible().len(), 3);
    assert!(
        user.messages("INBOX").is_empty(),
        "{:?}",
        user.messages("INBOX")
    );
    let archived = user.messages("Archives");
    assert_eq!(archived.len(), 3);
    assert!(
        archived.iter().all(|m| !m.flags.contains('T')),
        "{archived:?}"
    );
}
