//! Launcher state that cannot fork: where a launcher's journal is when nothing says, what the
//! examples pin down, and what a launcher says when its journal is empty but its source holds what
//! an earlier lanceur took. See: issue 16.

use std::process::Command;

use crate::harness::dovecot::{Dovecot, User};
use crate::harness::graph::{FakeGraph, Mail, CLIENT_ID};
use crate::harness::mail::pdf_mail;
use crate::harness::proxy;
use crate::harness::{Ran, TestEnv};

/// `lanceur dir --dry-run` for launcher `scans`, with the environment `env` gives it but no
/// `LANCEUR_STATE_DIR`, and HOME as given: the state folder the run would use.
fn state_folder(env: &TestEnv, home: Option<&std::path::Path>) -> String {
    let mut command = env.command();
    command.env_remove("LANCEUR_STATE_DIR");
    if let Some(home) = home {
        command.env("HOME", home);
    }
    command
        .args(["dir", "--dry-run", "--name", "scans", "--source"])
        .arg(&env.source)
        .arg("--dest")
        .arg(&env.cold);
    let ran = env.run_command(command);
    ran.expect_code(0);
    let line = ran.stdout.lines().next().unwrap_or_default().to_string();
    line.strip_prefix("dry run of launcher scans (state in ")
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_else(|| panic!("no state folder in\n{}", ran.explain()))
        .to_string()
}

fn uid() -> u32 {
    let output = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn root_and_service_accounts_use_the_system_wide_state_folder() {
    let env = TestEnv::new();
    // A service manager that gives no HOME: the system-wide folder, whoever runs it.
    assert_eq!(state_folder(&env, None), "/var/lib/lanceur/scans");
    // With a home: root and system accounts still share the system-wide folder; a person's own
    // account keeps its state in its home.
    let home = env.dir("home");
    let expected = if uid() < 1000 {
        "/var/lib/lanceur/scans".to_string()
    } else {
        home.join(".local/state/lanceur/scans")
            .display()
            .to_string()
    };
    assert_eq!(state_folder(&env, Some(&home)), expected);
    // A dry run created nothing, there or anywhere.
    assert!(crate::harness::names(&home).is_empty());
    // --state-dir wins.
    let ran = env.run(&[
        "dir",
        "--dry-run",
        "--name",
        "scans",
        "--state-dir",
        "/srv/lanceur-state",
        "--source",
        env.source.to_str().unwrap(),
        "--dest",
        env.cold.to_str().unwrap(),
    ]);
    ran.expect_stdout_contains("(state in /srv/lanceur-state/scans)");
}

/// `lanceur imap` for `user` with the harness's connection options, then `extra`.
fn imap(env: &TestEnv, user: &User, extra: &[&str]) -> Ran {
    let mut command = env.command();
    command
        .env("LANCEUR_PASSWORD", &user.password)
        .args(user.imap_args("INBOX"))
        .arg("--dest")
        .arg(&env.cold)
        .args(extra);
    env.run_command(command)
}

#[test]
fn an_empty_journal_before_mails_lanceur_took_says_so_in_one_line_and_in_check() {
    let user = Dovecot::get().user("traces");
    for n in 0..2 {
        user.deliver(&pdf_mail(60 + n, 1500).0);
    }
    let env = TestEnv::new();
    let keep = [
        "--after",
        "keep",
        "--select",
        "all",
        "--since",
        "2000-01-01",
    ];
    let first = env.dir("state-as-root");
    let first = ["--name", "factures", "--state-dir", first.to_str().unwrap()];
    imap(&env, &user, &[&keep[..], &first].concat())
        .expect_code(0)
        .expect_quiet();
    // Kept on the server, and marked: Dovecot stores a keyword as a letter of the file's flags.
    let marked = user.messages("INBOX");
    assert!(
        marked
            .iter()
            .all(|m| m.flags.chars().any(|c| c.is_ascii_lowercase())),
        "{:?}",
        marked.iter().map(|m| &m.flags).collect::<Vec<_>>()
    );
    let keywords = std::fs::read_to_string(user.folder("INBOX").join("dovecot-keywords")).unwrap();
    assert!(keywords.contains("$Lanceur"), "{keywords}");

    // The same launcher under another state folder (scheduled as a service account).
    let other = env.dir("state-as-service");
    let other = ["--name", "factures", "--state-dir", other.to_str().unwrap()];
    let said =
        format!(
        "the journal {} is empty, but 2 of the 2 mails listed carry the keyword $Lanceur, which \
         lanceur sets on the mails it takes: if this launcher ran before under another name, \
         state folder or user, stop it and give it that --name and --state-dir",
        env.root().join("state-as-service/factures/journal").display()
    );
    let connection = user.imap_args("INBOX");
    let mut check = vec!["check"];
    check.extend(connection.iter().map(String::as_str));
    let cold = env.cold.display().to_string();
    check.extend(["--dest", &cold]);
    check.extend(keep);
    check.extend(other);
    let mut command = env.command();
    command.env("LANCEUR_PASSWORD", &user.password).args(&check);
    let ran = env.run_command(command);
    ran.expect_code(0)
        .expect_stdout_contains(&format!("warning: {said}"));
    let ran = imap(&env, &user, &[&keep[..], &other].concat());
    ran.expect_code(0)
        .expect_stderr_contains(&format!("lanceur: factures: {said}"));
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.explain());
    // Said once: the journal is no longer empty.
    imap(&env, &user, &[&keep[..], &other].concat())
        .expect_code(0)
        .expect_quiet();
}

/// Forwards one plaintext IMAP connection to `upstream`, taking `\*` out of PERMANENTFLAGS: a
/// mailbox that takes no keyword of the client's.
fn without_keywords(upstream: u16) -> u16 {
    proxy::rewriting_lines(upstream, 3, |line| {
        if line.starts_with(b"* OK [PERMANENTFLAGS") {
            String::from_utf8_lossy(&line)
                .replace(" \\*)]", ")]")
                .into_bytes()
        } else {
            line
        }
    })
}

#[test]
fn where_no_keyword_can_be_set_read_mails_under_select_all_are_the_trace() {
    let dovecot = Dovecot::get();
    let user = dovecot.user("notraces");
    user.deliver(&pdf_mail(66, 1500).0);
    let env = TestEnv::new();
    let proxy = without_keywords(dovecot.imap_port).to_string();
    let through = [
        "--port",
        proxy.as_str(),
        "--tls",
        "none",
        "--name",
        "courrier",
    ];
    let select = ["--select", "all", "--since", "2000-01-01"];
    let first = env.dir("first");
    imap(
        &env,
        &user,
        &[
            &through[..],
            &select,
            &["--state-dir", first.to_str().unwrap()],
        ]
        .concat(),
    )
    .expect_code(0)
    .expect_quiet();
    let after = user.messages("INBOX");
    assert!(after[0].seen(), "acknowledged");
    assert!(
        !after[0].flags.chars().any(|c| c.is_ascii_lowercase()),
        "no keyword where the mailbox takes none: {}",
        after[0].flags
    );
    let second = env.dir("second");
    let ran = imap(
        &env,
        &user,
        &[
            &through[..],
            &select,
            &["--state-dir", second.to_str().unwrap(), "--dry-run"],
        ]
        .concat(),
    );
    ran.expect_code(0).expect_stderr_contains(
        "1 of the 1 mails listed are already read, as lanceur leaves the mails it takes (this \
         mailbox takes no keyword lanceur could mark them with)",
    );
}

#[test]
fn office_365_under_select_all_counts_read_mails_as_traces() {
    let fake = FakeGraph::start();
    let env = TestEnv::new();
    let endpoints = [
        "--client-id",
        CLIENT_ID,
        "--login-url",
        &fake.login_url(),
        "--graph-url",
        &fake.graph_url(),
        "--name",
        "box",
    ]
    .map(str::to_string);
    let mut login = vec!["o365".to_string(), "login".into()];
    login.extend(endpoints.iter().cloned());
    env.run(&login.iter().map(String::as_str).collect::<Vec<_>>())
        .expect_code(0);
    fake.add_mail("me", "inbox", Mail::new("read").read());
    fake.add_mail("me", "inbox", Mail::new("unread"));
    let mut check = vec!["check".to_string(), "o365".into()];
    check.extend(endpoints.iter().cloned());
    check.extend(
        [
            "--dest",
            env.cold.to_str().unwrap(),
            "--select",
            "all",
            "--since",
            "2000-01-01",
        ]
        .map(str::to_string),
    );
    let ran = env.run(&check.iter().map(String::as_str).collect::<Vec<_>>());
    ran.expect_code(0).expect_stdout_contains(
        "is empty, but 1 of the 2 mails listed are already read, as lanceur leaves the mails it \
         takes with --after read",
    );
    // Without --select all, a read mail is not taken: nothing to say.
    check.truncate(check.len() - 4);
    let ran = env.run(&check.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!ran.stdout.contains("already read"), "{}", ran.explain());
}
