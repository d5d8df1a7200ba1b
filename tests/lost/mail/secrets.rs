//! Private state and secrets: the state folder, journal, lock and `--log-file` are owner-only, a
//! readable password file is warned about, and no IMAP or POP3 password reaches a log at any
//! verbosity (the OAuth tokens: `tests/oauth/secrets.rs`; Office 365: `tests/o365/secrets.rs`).

use super::imap_command;
use crate::harness::dovecot::Dovecot;
use crate::harness::mail::pdf_mail;
use crate::harness::secrets::{assert_hidden, verbosities};
use crate::harness::TestEnv;
use crate::pop::pop_command;

#[test]
fn no_verbosity_shows_the_imap_or_pop3_password() {
    let (imap_user, pop_user) = (
        Dovecot::get().user("private"),
        Dovecot::get().user("privpop"),
    );
    let env = TestEnv::new();
    let log = env.root().join("run.jsonl");
    for (n, verbosity) in verbosities().iter().enumerate() {
        for (protocol, user, mut command) in [
            (
                "imap",
                &imap_user,
                imap_command(&env, &imap_user, None, &["--name", "p"]),
            ),
            (
                "pop",
                &pop_user,
                pop_command(&env, &pop_user, &["--name", "p3"]),
            ),
        ] {
            // A mail to take each time, so that each run logs in and works.
            let first = if protocol == "imap" { 100 } else { 200 };
            user.deliver(&pdf_mail(first + n as u64, 2000).0);
            command.arg("--log-file").arg(&log);
            verbosity.apply(&mut command);
            let ran = env.run_command(command);
            ran.expect_code(0);
            if !verbosity.flags.is_empty() || verbosity.rust_log.is_some() {
                assert!(
                    !ran.stderr.is_empty(),
                    "{protocol}, {verbosity}: nothing logged"
                );
            }
            assert_hidden(&ran, &[&user.password], &[&log]);
        }
    }
    // Each mail was taken once, by one of the two.
    assert_eq!(env.cold_visible().len(), 2 * verbosities().len());
}

#[cfg(unix)]
#[test]
fn state_files_are_owner_only_and_a_readable_password_file_is_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let user = Dovecot::get().user("ownonly");
    user.deliver(&pdf_mail(8, 2000).0);
    let env = TestEnv::new();
    let log = env.root().join("run.jsonl");
    let mut command = imap_command(&env, &user, None, &["--name", "p", "--log-file"]);
    command.arg(&log);
    env.run_command(command).expect_code(0).expect_quiet();
    let state = env.state.join("p");
    for (path, mode) in [
        (state.clone(), 0o700),
        (state.join("journal"), 0o600),
        (state.join("lock"), 0o600),
        (log.clone(), 0o600),
    ] {
        let actual = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(actual, mode, "{}", path.display());
    }
    // A password file others can read is warned about, as a launcher file is.
    let password_file = env.root().join("password");
    std::fs::write(&password_file, &user.password).unwrap();
    std::fs::set_permissions(&password_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut command = env.command();
    command
        .args(user.imap_args("INBOX"))
        .arg("--password-file")
        .arg(&password_file)
        .arg("--dest")
        .arg(&env.cold)
        .args(["--name", "p"]);
    let ran = env.run_command(command);
    ran.expect_code(0)
        .expect_stderr_contains("holds a secret but other users can read it");
}
