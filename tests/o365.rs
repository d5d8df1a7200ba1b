//! `lanceur o365` end to end: the real binary against the fake identity platform and Graph of
//! `harness/graph.rs`. See: issue 5.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;

use serde_json::Value;

use crate::harness::graph::{FakeGraph, Mail, CLIENT_ID, CLIENT_SECRET, USER_CODE};
use crate::harness::{names, sha256, Ran, Random, TestEnv};

mod aside;
mod batches;
mod batching;
mod browser;
mod crash;
mod deadlines;
mod documents;
mod mail;
mod secrets;

const NAME: &str = "box";

struct O365 {
    env: TestEnv,
    fake: FakeGraph,
}

impl O365 {
    fn new() -> O365 {
        O365 {
            env: TestEnv::new(),
            fake: FakeGraph::start(),
        }
    }

    fn endpoints(&self) -> Vec<String> {
        vec![
            "--client-id".into(),
            CLIENT_ID.into(),
            "--login-url".into(),
            self.fake.login_url(),
            "--graph-url".into(),
            self.fake.graph_url(),
            "--name".into(),
            NAME.into(),
        ]
    }

    fn args(&self, login: bool, extra: &[&str]) -> Vec<String> {
        let mut args = vec!["o365".to_string()];
        if login {
            args.push("login".into());
        }
        args.extend(self.endpoints());
        if !login {
            args.extend(["--dest".into(), self.env.cold.display().to_string()]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    }

    fn login(&self, extra: &[&str]) -> Ran {
        let args = self.args(true, extra);
        self.env
            .run(&args.iter().map(String::as_str).collect::<Vec<_>>())
    }

    fn run(&self, extra: &[&str]) -> Ran {
        let args = self.args(false, extra);
        self.env
            .run(&args.iter().map(String::as_str).collect::<Vec<_>>())
    }

    fn run_with_env(&self, extra: &[&str], vars: &[(&str, &str)]) -> Ran {
        let mut command = self.env.command();
        command.args(self.args(false, extra));
        for (key, value) in vars {
            command.env(key, value);
        }
        self.env.run_command(command)
    }

    fn cache_path(&self) -> std::path::PathBuf {
        self.env.state.join(NAME).join("o365-tokens.json")
    }

    fn cache(&self) -> Value {
        serde_json::from_str(&fs::read_to_string(self.cache_path()).unwrap()).unwrap()
    }

    fn graph_requests(&self, method: &str, path_end: &str) -> usize {
        self.fake
            .requests()
            .iter()
            .filter(|r| r.is_graph() && r.method == method && r.path.ends_with(path_end))
            .count()
    }

    /// The cycle's listings (the login's check asks for one mail, unordered).
    fn listings(&self) -> Vec<crate::harness::graph::Request> {
        self.fake
            .requests()
            .into_iter()
            .filter(|r| {
                r.method == "GET" && r.path.ends_with("/messages") && r.param("$orderby").is_some()
            })
            .collect()
    }

    fn json_sidecar(&self, document: &str) -> Value {
        serde_json::from_slice(&self.env.cold_read(&format!("{document}.json"))).unwrap()
    }
}

fn pdf(tag: &str) -> Vec<u8> {
    format!("%PDF-1.4\n% {tag}\n%%EOF\n").into_bytes()
}

// ---------------------------------------------------------------------------------------------
// Login

#[test]
fn device_code_login_waits_for_the_user_then_saves_private_tokens() {
    let t = O365::new();
    {
        let mut state = t.fake.state();
        state.device_interval = 1;
        state.device_script = ["authorization_pending", "authorization_pending"].into();
    }
    let ran = t.login(&[]);
    ran.expect_code(0);
    assert!(ran.stdout.contains(USER_CODE), "{}", ran.explain());
    assert!(
        ran.stdout.contains("https://microsoft.com/devicelogin"),
        "{}",
        ran.explain()
    );
    let polls = t
        .fake
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/token") && r.form()["grant_type"].contains("device_code"))
        .count();
    assert_eq!(polls, 3, "{}", ran.explain());
    assert_eq!(
        t.fake.state().early_polls,
        0,
        "polled faster than the interval"
    );
    let cache = t.cache();
    assert_eq!(
        cache["refresh_token"].as_str(),
        t.fake.state().latest_refresh_token.as_deref()
    );
    assert!(cache["scope"].as_str().unwrap().contains("Mail.ReadWrite"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(t.cache_path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "token cache must be private");
    }
    #[cfg(windows)]
    crate::windows::acl::assert_owner_only(&t.cache_path());
    // The login checked the folder; the run now fetches on its own.
    t.fake.add_mail(
        "me",
        "inbox",
        Mail::new("Invoice").file("f.pdf", "application/pdf", &pdf("f")),
    );
    t.run(&[]).expect_code(0).expect_quiet();
    assert_eq!(t.env.cold_names(), vec!["f.pdf"]);
}

#[test]
fn slow_down_makes_the_login_poll_five_seconds_slower() {
    let t = O365::new();
    t.fake.state().device_script = ["slow_down"].into();
    t.login(&[]).expect_code(0);
    // The fake answers slow_down again to any poll sooner than the interval then in force.
    assert_eq!(t.fake.state().early_polls, 0, "did not slow down by 5 s");
    assert!(t.cache_path().exists());
}

#[test]
fn failed_logins_exit_3_with_a_plain_reason() {
    for (error, says) in [
        ("expired_token", "the code expired"),
        ("authorization_declined", "declined"),
        ("bad_verification_code", "does not know this sign-in code"),
        ("invalid_client", "Allow public client flows"),
    ] {
        let t = O365::new();
        t.fake.state().device_script = ["authorization_pending", error].into();
        let ran = t.login(&[]);
        ran.expect_code(3).expect_stderr_contains(says);
        assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.explain());
        assert!(!t.cache_path().exists(), "{}", ran.explain());
    }
}

#[test]
fn a_short_lived_code_says_its_lifetime_in_seconds() {
    // See: issue 16. "within 0 minutes" told the administrator nothing.
    let t = O365::new();
    {
        let mut state = t.fake.state();
        state.device_expires_in = 45;
        state.device_script = ["expired_token"].into();
    }
    let ran = t.login(&[]);
    ran.expect_code(3)
        .expect_stderr_contains("enter the new code within 45 seconds");
    assert!(!ran.stderr.contains("minutes"), "{}", ran.explain());
}

#[test]
fn a_run_before_any_login_exits_3_and_says_how_to_sign_in() {
    let t = O365::new();
    t.fake.add_mail("me", "inbox", Mail::new("x"));
    let ran = t.run(&[]);
    ran.expect_code(3)
        .expect_stderr_contains("has not signed in")
        .expect_stderr_contains("lanceur o365 login");
    // Nothing reached Graph, but the fake must have been called: a login then works.
    t.login(&[]).expect_code(0);
}

// ---------------------------------------------------------------------------------------------
// Tokens

#[test]
fn refresh_tokens_rotate_and_the_newest_is_always_saved() {
    let t = O365::new();
    // Access tokens shorter than lanceur's margin: every run must refresh.
    t.fake.state().access_expires_in = 60;
    t.login(&[]).expect_code(0);
    let first = t.cache()["refresh_token"].as_str().unwrap().to_string();
    for i in 0..3 {
        t.fake.add_mail(
            "me",
            "inbox",
            Mail::new(&format!("m{i}")).file(
                &format!("{i}.pdf"),
                "application/pdf",
                &pdf(&i.to_string()),
            ),
        );
        t.run(&[]).expect_code(0).expect_quiet();
    }
    assert_eq!(t.env.cold_names(), vec!["0.pdf", "1.pdf", "2.pdf"]);
    let state = t.fake.state();
    assert_eq!(state.refreshes, 3);
    assert_eq!(state.reused_refresh_tokens, 0);
    let saved = t.cache()["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(Some(saved.as_str()), state.latest_refresh_token.as_deref());
    assert_ne!(saved, first);
    drop(state);
    assert_eq!(
        names(&t.env.state.join(NAME))
            .iter()
            .filter(|n| n.contains("tokens"))
            .count(),
        1
    );
    // The fake really rejects an old refresh token: putting the first one back breaks the run.
    let mut cache = t.cache();
    cache["refresh_token"] = Value::String(first);
    fs::write(t.cache_path(), cache.to_string()).unwrap();
    t.run(&[])
        .expect_code(3)
        .expect_stderr_contains("lanceur o365 login");
    assert_eq!(t.fake.state().reused_refresh_tokens, 1);
}

#[test]
fn an_expired_sign_in_exits_3_with_one_line_saying_to_log_in_again() {
    let t = O365::new();
    t.fake.state().access_expires_in = 60;
    t.login(&[]).expect_code(0);
    let id = t.fake.add_mail(
        "me",
        "inbox",
        Mail::new("x").file("x.pdf", "application/pdf", b"x"),
    );
    t.fake.state().refresh_error = Some(("invalid_grant", 700082));
    let ran = t.run(&[]);
    ran.expect_code(3)
        .expect_stderr_contains("run `lanceur o365 login --client-id")
        .expect_stderr_contains("--name box")
        .expect_stderr_contains("90 days");
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.explain());
    assert!(t.env.cold_names().is_empty());
    assert!(!t.fake.mail("me", &id).unwrap().is_read);
}

#[test]
fn the_printed_login_command_signs_in_where_the_runs_look_even_from_another_shell() {
    // See: issue 16. The runs find their state folder in LANCEUR_STATE_DIR; the shell where the
    // administrator pastes the command has no such variable.
    let t = O365::new();
    t.fake.state().access_expires_in = 60;
    t.login(&[]).expect_code(0);
    t.fake.add_mail(
        "me",
        "inbox",
        Mail::new("x").file("x.pdf", "application/pdf", b"%PDF x"),
    );
    t.fake.state().refresh_error = Some(("invalid_grant", 700082));
    let ran = t.run(&[]);
    ran.expect_code(3);
    let command = ran
        .stderr
        .split("run `")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .unwrap_or_else(|| panic!("no login command\n{}", ran.explain()))
        .to_string();
    assert!(
        command.contains(&format!("--state-dir {}", t.env.state.display())),
        "{command}"
    );
    t.fake.state().refresh_error = None;
    let words: Vec<&str> = command.split_whitespace().collect();
    assert_eq!(words[0], "lanceur", "{command}");
    let mut login = t.env.command();
    login
        .env_remove("LANCEUR_STATE_DIR")
        .env("HOME", t.env.dir("elsewhere"))
        .args(&words[1..]);
    t.env.run_command(login).expect_code(0);
    assert!(crate::harness::names(&t.env.dir("elsewhere")).is_empty());
    t.run(&[]).expect_code(0).expect_quiet();
    assert_eq!(t.env.cold_read("x.pdf"), b"%PDF x");
}

#[test]
fn a_rejected_access_token_is_renewed_once_and_the_request_retried() {
    let t = O365::new();
    t.login(&[]).expect_code(0);
    t.fake.add_mail(
        "me",
        "inbox",
        Mail::new("x").file("x.pdf", "application/pdf", b"x"),
    );
    t.fake.expire_access_tokens();
    t.run(&[]).expect_code(0).expect_quiet();
    assert_eq!(t.env.cold_names(), vec!["x.pdf"]);
    assert_eq!(t.fake.state().refreshes, 1);
}

#[test]
fn app_only_needs_no_login_and_takes_its_secret_from_env_or_file() {
    let t = O365::new();
    t.fake.add_mailbox("shared@contoso.com", false);
    t.fake.add_mail(
        "shared@contoso.com",
        "inbox",
        Mail::new("a").file("a.pdf", "application/pdf", &pdf("a")),
    );
    let shared = [
        "--tenant",
        "contoso.com",
        "--mailbox",
        "shared@contoso.com:inbox",
    ];
    t.run_with_env(&shared, &[("LANCEUR_O365_CLIENT_SECRET", CLIENT_SECRET)])
        .expect_code(0)
        .expect_quiet();
    assert_eq!(t.env.cold_names(), vec!["a.pdf"]);
    assert!(!t.cache_path().exists(), "app-only keeps no token cache");
    let requests = t.fake.requests();
    assert!(requests.iter().any(|r| r.path.ends_with("/token")
        && r.form()["grant_type"] == "client_credentials"
        && r.form()["scope"].ends_with("/.default")));
    assert!(t
        .fake
        .routed()
        .iter()
        .all(|r| r.path.starts_with("/v1.0/users/shared@contoso.com/")));

    t.fake.add_mail(
        "shared@contoso.com",
        "inbox",
        Mail::new("b").file("b.pdf", "application/pdf", &pdf("b")),
    );
    let secret = t.env.secret_file("secret", &format!("{CLIENT_SECRET}\n"));
    let mut args = shared.to_vec();
    let secret_arg = secret.display().to_string();
    args.extend(["--client-secret-file", &secret_arg]);
    t.run(&args).expect_code(0);
    assert_eq!(t.env.cold_names(), vec!["a.pdf", "b.pdf"]);

    let ran = t.run_with_env(
        &shared,
        &[("LANCEUR_O365_CLIENT_SECRET", "not-the-secret-42")],
    );
    ran.expect_code(3).expect_stderr_contains("secret is wrong");
    assert!(
        !ran.stderr.contains("not-the-secret-42"),
        "{}",
        ran.explain()
    );
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.explain());
    // App-only has no "me".
    t.run_with_env(
        &["--tenant", "contoso.com"],
        &[("LANCEUR_O365_CLIENT_SECRET", CLIENT_SECRET)],
    )
    .expect_code(2)
    .expect_stderr_contains("no \"me\"");
}

// ---------------------------------------------------------------------------------------------
// Mailboxes, errors, help

#[test]
fn a_shared_mailbox_through_delegation() {
    let t = O365::new();
    t.fake.add_mailbox("shared@contoso.com", true);
    t.fake.add_mail(
        "shared@contoso.com",
        "inbox",
        Mail::new("s").file("s.pdf", "application/pdf", b"s"),
    );
    let shared = ["--mailbox", "shared@contoso.com:inbox"];
    t.login(&shared).expect_code(0);
    assert!(t.cache()["scope"]
        .as_str()
        .unwrap()
        .contains("Mail.ReadWrite.Shared"));
    t.run(&shared).expect_code(0).expect_quiet();
    assert_eq!(t.env.cold_names(), vec!["s.pdf"]);
    assert!(t
        .fake
        .routed()
        .iter()
        .all(|r| r.path.starts_with("/v1.0/users/shared@contoso.com/")));
    // Without Full Access on the mailbox: authentication code, with the remedy.
    t.fake
        .state()
        .mailboxes
        .get_mut("shared@contoso.com")
        .unwrap()
        .delegated_access = false;
    t.run(&shared)
        .expect_code(3)
        .expect_stderr_contains("needs Full Access");
    // The sign-in for "me" does not cover a shared mailbox.
    let t = O365::new();
    t.login(&[]).expect_code(0);
    t.run(&["--mailbox", "shared@contoso.com"])
        .expect_code(3)
        .expect_stderr_contains("without the permissions this mailbox needs");
}

#[test]
fn misconfigurations_are_refused_before_any_request() {
    let t = O365::new();
    let cold = t.env.cold.display().to_string();
    let remote = ["o365", "--client-id", CLIENT_ID, "--dest", &cold];
    let mut args = remote.to_vec();
    args.extend(["--graph-url", "http://graph.example.com/v1.0"]);
    t.env
        .run(&args)
        .expect_code(2)
        .expect_stderr_contains("unencrypted");
    let mut args = remote.to_vec();
    args.extend(["--login-url", "http://10.0.0.1"]);
    t.env
        .run(&args)
        .expect_code(2)
        .expect_stderr_contains("unencrypted");
    t.run(&["--mailbox", "a@b:inbox", "--folder", "inbox"])
        .expect_code(2);
    t.run(&["--select", "all", "--since", "soon"])
        .expect_code(2);
    assert!(t.fake.requests().is_empty());
    // A missing well-known folder is the source's problem.
    t.login(&[]).expect_code(0);
    t.run(&["--folder", "junkemail"])
        .expect_code(4)
        .expect_stderr_contains("not found");
}

#[test]
fn help_teaches_the_login_and_the_cron_line() {
    let t = O365::new();
    let ran = t.env.run(&["o365", "--help"]);
    ran.expect_code(0);
    for text in [
        "lanceur o365 login",
        "crontab",
        "LANCEUR_O365_CLIENT_SECRET",
        "--select",
        "Mail.ReadWrite.Shared",
    ] {
        assert!(ran.stdout.contains(text), "{text}\n{}", ran.explain());
    }
    let ran = t.env.run(&["o365", "login", "--help"]);
    ran.expect_code(0);
    assert!(ran.stdout.contains("device code"), "{}", ran.explain());
    // The fake must be called for its drop check; a login does that.
    t.login(&[]).expect_code(0);
}
