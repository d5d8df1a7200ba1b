//! Poison items: set aside once after `--set-aside-after` failed runs, listed by `check` and
//! `retry`, and taken again by `retry` (IMAP, adullact with and without `--failed`).

use super::{imap, imap_command};
use crate::harness::dovecot::Dovecot;
use crate::harness::mail::{damaged_mail, pdf_mail};
use crate::harness::{names, TestEnv};

#[test]
fn a_poison_mail_is_set_aside_once_listed_by_check_and_retried() {
    let user = Dovecot::get().user("poison");
    let damaged = damaged_mail(5);
    user.deliver(&damaged);
    user.deliver(&pdf_mail(6, 2000).0);
    let env = TestEnv::new();
    let args = ["--name", "poison"];
    for run in 1..=2 {
        imap(&env, &user, &args)
            .expect_code(1)
            .expect_stderr_contains("left at the source");
        assert!(
            !env.state.join("poison/set-aside").exists()
                || names(&env.state.join("poison/set-aside")).is_empty(),
            "set aside too early, run {run}"
        );
    }
    let ran = imap(&env, &user, &args);
    ran.expect_code(1)
        .expect_stderr_contains("failed 3 runs in a row; set aside: flagged $LanceurSetAside");
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.explain());
    // The keyword is on the server (Maildir keeps keywords as lowercase flag letters).
    let stored = user.messages("INBOX");
    assert!(
        stored[0].flags.chars().any(|c| c.is_ascii_lowercase()),
        "{stored:?}"
    );
    assert!(!stored[0].seen());
    // The raw mail is kept, byte for byte.
    let aside = env.state.join("poison/set-aside");
    let folder = aside.join(&names(&aside)[0]);
    assert!(
        std::fs::read(folder.join("message.eml")).unwrap() == damaged,
        "kept bytes differ"
    );
    // Later runs are silent.
    imap(&env, &user, &args).expect_code(0).expect_quiet();
    // check and retry list it.
    let mut check = imap_command(&env, &user, None, &args);
    let argv: Vec<_> = check.get_args().map(|a| a.to_owned()).collect();
    check = env.command();
    check
        .env("LANCEUR_PASSWORD", &user.password)
        .arg("check")
        .args(&argv);
    let ran = env.run_command(check);
    ran.expect_code(0);
    assert!(ran.stdout.contains("1 item set aside"), "{}", ran.explain());
    let retry = |extra: &[&str]| {
        let mut command = env.command();
        command
            .env("LANCEUR_PASSWORD", &user.password)
            .arg("retry")
            .args(extra)
            .args(&argv);
        env.run_command(command)
    };
    let ran = retry(&[]);
    ran.expect_code(0);
    assert!(ran.stdout.contains("Facture abîmée"), "{}", ran.explain());
    // Retried: unflagged, taken again, and reported again (it is still damaged).
    let ran = retry(&["--all"]);
    ran.expect_code(1)
        .expect_stderr_contains("left at the source");
    assert!(ran.stdout.contains("retrying"), "{}", ran.explain());
    let stored = user.messages("INBOX");
    assert!(
        !stored[0].flags.chars().any(|c| c.is_ascii_lowercase()),
        "{stored:?}"
    );
    assert!(names(&aside).is_empty());
}
