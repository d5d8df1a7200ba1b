//! Private state and secrets: the state folder, journal, lock and `--log-file` are owner-only, a
//! readable password file is warned about, and no secret reaches a log at any verbosity.

use super::imap_command;
use crate::harness::dovecot::Dovecot;
use crate::harness::mail::pdf_mail;
use crate::harness::TestEnv;

#[cfg(unix)]
#[test]
fn state_files_are_owner_only_and_no_log_level_shows_the_password() {
    use std::os::unix::fs::PermissionsExt;
    let user = Dovecot::get().user("private");
    user.deliver(&pdf_mail(8, 2000).0);
    let env = TestEnv::new();
    let log = env.root().join("run.jsonl");
    for level in ["", "-v", "-vv"] {
        let mut command = imap_command(&env, &user, None, &["--name", "p", "--log-file"]);
        command
            .arg(&log)
            .args([level].iter().filter(|l| !l.is_empty()));
        let ran = env.run_command(command);
        assert!(!ran.stderr.contains(&user.password), "{}", ran.explain());
    }
    for rust_log in ["trace", "debug", "imap=trace,native_tls=trace"] {
        let mut command = imap_command(&env, &user, None, &["--name", "p", "--select", "all"]);
        command.env("RUST_LOG", rust_log);
        let ran = env.run_command(command);
        ran.expect_code(0);
        assert!(
            !ran.stderr.contains(&user.password),
            "RUST_LOG={rust_log}\n{}",
            ran.explain()
        );
    }
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
