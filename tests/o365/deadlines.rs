//! Bounded time over HTTP (see: issue 11, point 7): a Graph that trickles its answers a byte a
//! second (through the harness's proxy) ends the run at `--answer-timeout` or `--run-timeout`
//! with exit 4 and a line naming the deadline; a `Retry-After` pause ends at once on SIGTERM or at
//! the run's deadline, without trying again.

use std::time::Duration;

use super::*;
use crate::harness::proxy::Proxy;
#[cfg(unix)]
use crate::harness::run_then_sigterm_when;

/// An app-only run of the shared mailbox (a token asked for on every run, no login step), with
/// `--OPTION` (`--graph-url` or `--login-url`) replaced by `url`.
fn through(t: &O365, option: &str, url: &str, extra: &[&str]) -> Ran {
    let mut args = t.args(
        false,
        &["--tenant", "contoso.com", "--mailbox", "shared@contoso.com"],
    );
    let at = args.iter().position(|a| a == option).unwrap();
    args[at + 1] = url.to_string();
    args.extend(extra.iter().map(|s| s.to_string()));
    let mut command = t.env.command();
    command
        .env("LANCEUR_O365_CLIENT_SECRET", CLIENT_SECRET)
        .args(args);
    t.env.run_command(command)
}

#[test]
fn graph_or_the_sign_in_trickling_a_byte_a_second_ends_the_run_at_either_deadline() {
    let t = O365::new();
    t.fake.add_mailbox("shared@contoso.com", false);
    let id = t.fake.add_mail(
        "shared@contoso.com",
        "inbox",
        Mail::new("lent").file("lent.pdf", "application/pdf", &pdf("lent")),
    );
    // Every byte of every answer a second apart: never silent for long, never done either.
    let proxy = Proxy::trickling(t.fake.port(), 0, Duration::from_secs(1));
    let slow = format!("http://127.0.0.1:{}", proxy.port);
    let graph = format!("{slow}/v1.0");
    let ran = through(
        &t,
        "--graph-url",
        &graph,
        &["--answer-timeout", "3s", "--json"],
    );
    ran.expect_code(4).expect_stderr_contains(
        "Microsoft Graph did not finish its answer within --answer-timeout 3s",
    );
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.explain());
    assert_eq!(ran.summary()["exit_code"], 4);
    assert!(
        proxy.forwarded().iter().any(|&n| n >= 2),
        "Graph's answer did not trickle: {:?}",
        proxy.forwarded()
    );
    through(&t, "--graph-url", &graph, &["--run-timeout", "2s"])
        .expect_code(4)
        .expect_stderr_contains("the run reached --run-timeout 2s");
    // The sign-in service's answers are bounded the same way.
    through(&t, "--login-url", &slow, &["--answer-timeout", "3s"])
        .expect_code(4)
        .expect_stderr_contains(
            "Microsoft's sign-in service did not finish its answer within --answer-timeout 3s",
        );
    through(&t, "--login-url", &slow, &["--run-timeout", "2s"])
        .expect_code(4)
        .expect_stderr_contains("the run reached --run-timeout 2s");
    assert!(t.env.cold_visible().is_empty());
    assert!(!t.fake.mail("shared@contoso.com", &id).unwrap().is_read);
    // Straight to the fake, the next run takes it.
    through(&t, "--graph-url", &t.fake.graph_url(), &[])
        .expect_code(0)
        .expect_quiet();
    assert_eq!(t.env.cold_visible(), vec!["lent.pdf"]);
}

/// The cycle's listings so far.
fn listed(t: &O365) -> usize {
    t.listings().len()
}

/// A signed-in mailbox holding one mail, whose first listing Graph throttles for 100 s: waited
/// out, the run would list again and take the mail.
fn throttled_once() -> O365 {
    let t = O365::new();
    t.login(&[]).expect_code(0);
    t.fake.add_mail(
        "me",
        "inbox",
        Mail::new("x").file("x.pdf", "application/pdf", &pdf("x")),
    );
    t.fake.fail(
        Some("GET"),
        "/mailFolders/inbox/messages",
        429,
        Some(100),
        1,
    );
    t
}

// SIGTERM is a Unix signal; Ctrl-C for lanceur.exe is sent from Linux in tests/wine.rs.
#[cfg(unix)]
#[test]
fn sigterm_ends_a_retry_after_pause_at_once() {
    let t = throttled_once();
    let mut command = t.env.command();
    command.args(t.args(false, &["--name", NAME]));
    let ran = run_then_sigterm_when(command, &mut || listed(&t) > 0);
    ran.expect_code(7)
        .expect_stderr_contains("interrupted: stopped by SIGTERM");
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.explain());
    assert_eq!(
        listed(&t),
        1,
        "the pause was waited out and the listing asked again"
    );
    assert!(t.env.cold_visible().is_empty());
    t.run(&[]).expect_code(0).expect_quiet();
    assert_eq!(t.env.cold_visible(), vec!["x.pdf"]);
}

#[test]
fn the_run_deadline_ends_a_retry_after_pause_at_once() {
    let t = throttled_once();
    t.run(&["--run-timeout", "2s"])
        .expect_code(4)
        .expect_stderr_contains("the run reached --run-timeout 2s");
    assert_eq!(
        listed(&t),
        1,
        "the pause was waited out and the listing asked again"
    );
    t.run(&[]).expect_code(0).expect_quiet();
    assert_eq!(t.env.cold_visible(), vec!["x.pdf"]);
}
