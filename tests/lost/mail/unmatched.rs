//! A filter never destroys a mail: unmatched mails are counted apart, never deleted or moved,
//! not downloaded again until the filters change (IMAP, POP3).

use super::{imap, message_ids, text_mail};
use crate::harness::dovecot::Dovecot;
use crate::harness::mail::pdf_mail;
use crate::harness::TestEnv;

#[test]
fn a_filter_typo_deletes_nothing_and_fixing_it_takes_the_mails() {
    let user = Dovecot::get().user("unmatched");
    user.deliver(&pdf_mail(1, 2000).0);
    user.deliver(&text_mail(2));
    let env = TestEnv::new();
    let log = env.root().join("run.jsonl");
    let log_arg = log.to_str().unwrap();
    // The typo: .PDF without /i, and --after delete.
    let typo = ["--filter", r"/.*\.PDF$/", "--after", "delete"];
    let dry: Vec<&str> = typo.iter().copied().chain(["--dry-run"]).collect();
    let ran = imap(&env, &user, &dry);
    ran.expect_code(0);
    assert_eq!(
        ran.stdout
            .lines()
            .filter(|l| l.starts_with("unmatched"))
            .count(),
        2,
        "{}",
        ran.explain()
    );
    let mut args: Vec<&str> = typo.to_vec();
    args.extend(["--json", "--log-file", log_arg]);
    let ran = imap(&env, &user, &args);
    ran.expect_code(0);
    let summary = ran.summary();
    assert_eq!(
        (
            summary["items_deposited"].as_u64(),
            summary["items_unmatched"].as_u64()
        ),
        (Some(0), Some(2))
    );
    assert_eq!(user.messages("INBOX").len(), 2, "a mail was deleted");
    assert!(user.messages("INBOX").iter().all(|m| !m.seen()));
    let logged = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        logged.matches("\"event\":\"unmatched\"").count(),
        2,
        "{logged}"
    );
    // Not downloaded again while the filters stay the same.
    let ran = imap(&env, &user, &args);
    assert_eq!(ran.summary()["items_unmatched"], 0, "{}", ran.explain());
    // The typo fixed: the invoice is taken (and deleted), the note stays.
    let fixed = ["--filter", r"/.*\.pdf$/i", "--after", "delete", "--json"];
    let ran = imap(&env, &user, &fixed);
    ran.expect_code(0);
    assert_eq!(ran.summary()["items_deposited"], 1, "{}", ran.explain());
    assert_eq!(env.cold_visible(), vec!["facture-0001.pdf"]);
    let left = message_ids(&user, "INBOX");
    assert_eq!(
        left.keys().collect::<Vec<_>>(),
        vec!["<note-2@dupont.example>"]
    );
}

#[test]
fn pop_leaves_unmatched_mails_on_the_server_and_does_not_download_them_again() {
    let user = Dovecot::get().user("popunmatched");
    user.deliver(&pdf_mail(3, 2000).0);
    user.deliver(&text_mail(4));
    let env = TestEnv::new();
    let dovecot = user.dovecot;
    let run = |extra: &[&str]| {
        let mut command = env.command();
        command
            .env("LANCEUR_PASSWORD", &user.password)
            .args(["pop", "--server", &dovecot.host, "--port"])
            .arg(dovecot.pop3s_port.to_string())
            .args(["--account", &user.name, "--ca-file"])
            .arg(&dovecot.ca_file)
            .arg("--dest")
            .arg(&env.cold)
            .args(["--filter", r"/.*\.pdf$/i", "--json"])
            .args(extra);
        env.run_command(command)
    };
    let ran = run(&[]);
    ran.expect_code(0);
    assert_eq!(ran.summary()["items_unmatched"], 1, "{}", ran.explain());
    let left = message_ids(&user, "INBOX");
    assert_eq!(
        left.keys().collect::<Vec<_>>(),
        vec!["<note-4@dupont.example>"]
    );
    let ran = run(&[]);
    ran.expect_code(0);
    assert_eq!(
        ran.summary()["items_unmatched"],
        0,
        "downloaded again\n{}",
        ran.explain()
    );
    assert_eq!(message_ids(&user, "INBOX").len(), 1);
    run(&["--unmatched", "seen"]).expect_code(2);
}
