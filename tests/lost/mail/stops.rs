//! How a run ends before its work is done: a mail server or a sign-in service trickling its
//! answers meets `--answer-timeout` or `--run-timeout` (exit 4), SIGTERM ends a run cleanly (exit
//! 7), and the next run finishes the job. Graph's side is `tests/o365/deadlines.rs`.

use std::collections::BTreeSet;
use std::time::Duration;

use super::{imap, imap_command};
use crate::harness::dovecot::Dovecot;
use crate::harness::graph::CLIENT_SECRET;
use crate::harness::mail::pdf_mail;
use crate::harness::proxy::Proxy;
use crate::harness::{names, run_then_sigterm_when, sha256, TestEnv};
use crate::oauth::OAuth;

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
    let command = imap_command(&env, &user, None, &["--name", "term", "--json"]);
    // Once documents land, the run is mid-work.
    let ran = run_then_sigterm_when(command, &mut || env.cold_count(".pdf") > 0);
    ran.expect_code(7)
        .expect_stderr_contains("lanceur: term: interrupted: stopped by SIGTERM");
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.explain());
    assert_eq!(ran.summary()["exit_code"], 7);
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

#[test]
fn a_trickling_sign_in_service_ends_imap_and_pop_runs_at_the_answer_deadline() {
    let t = OAuth::new("slowsignin");
    // App-only: a token is asked for on every run. The service principal may read this mailbox.
    t.fake.state().app_mailbox = Some(t.user.name.clone());
    t.user.deliver(&pdf_mail(9, 2000).0);
    // The token's answer a byte a second: never silent for long, never done either.
    let proxy = Proxy::trickling(t.fake.port(), 0, Duration::from_secs(1));
    let app = |login_url: &str| {
        let mut oauth = t.microsoft();
        let at = oauth.iter().position(|a| a == "--login-url").unwrap();
        oauth[at + 1] = login_url.to_string();
        oauth.extend(["--tenant".to_string(), "contoso.com".to_string()]);
        oauth
    };
    let slow = app(&format!("http://127.0.0.1:{}", proxy.port));
    for protocol in ["imap", "pop"] {
        let mut command = t.command(protocol, false, &slow, &["--answer-timeout", "3s"]);
        command.env("LANCEUR_OAUTH_CLIENT_SECRET", CLIENT_SECRET);
        let ran = t.env.run_command(command);
        ran.expect_code(4).expect_stderr_contains(
            "Microsoft's sign-in service did not finish its answer within --answer-timeout 3s",
        );
        assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.explain());
    }
    assert!(
        proxy.forwarded().iter().all(|&n| n >= 2),
        "nothing trickled: {:?}",
        proxy.forwarded()
    );
    assert!(t.env.cold_visible().is_empty());
    let mut command = t.command("imap", false, &app(&t.fake.login_url()), &[]);
    command.env("LANCEUR_OAUTH_CLIENT_SECRET", CLIENT_SECRET);
    t.env.run_command(command).expect_code(0).expect_quiet();
    assert_eq!(t.env.cold_visible(), vec!["facture-0009.pdf"]);
}
