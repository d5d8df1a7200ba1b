//! OAuth 2 for IMAP and POP3 end to end: the real binary against the real Dovecot, whose `oauth2`
//! passdb checks every XOAUTH2 and OAUTHBEARER token against the harness's identity fake
//! (introspection), itself the fake Microsoft and Google identity platforms of
//! `harness/graph/`. See: issue 15.
//!
//! - this file: delegated sign-ins (device code) and their runs, rotation across runs, expired or
//!   revoked sign-ins, a revoked access token renewed once, a token for the wrong user, XOAUTH2
//!   where OAUTHBEARER is not offered, the idle-sign-in warning, misconfigurations;
//! - `oauth/app.rs`: app-only with a client secret and with a certificate (IMAP, POP, o365);
//! - `oauth/browser.rs`: the authorization code with PKCE, the test acting as the browser
//!   (Microsoft for IMAP, Google), Google service accounts; the o365 launcher's browser login is
//!   in `o365/browser.rs`, which runs under Wine too;
//! - `oauth/secrets.rs`: no token or client secret in any output at any verbosity.

use std::fs;
use std::process::Command;

use serde_json::Value;

pub use crate::harness::browser::login_in_browser;
use crate::harness::dovecot::{Dovecot, User};
use crate::harness::graph::{FakeGraph, CLIENT_ID};
use crate::harness::mail::pdf_mail;
use crate::harness::{Ran, TestEnv};

mod app;
mod browser;
mod secrets;

const NAME: &str = "box";

/// A Dovecot user, its launcher's folders, and the identity fake it signs in with.
pub struct OAuth {
    pub env: TestEnv,
    pub fake: FakeGraph,
    pub user: User,
}

impl OAuth {
    pub fn new(hint: &str) -> OAuth {
        OAuth::on(Dovecot::get(), hint)
    }

    pub fn on(dovecot: &'static Dovecot, hint: &str) -> OAuth {
        let user = dovecot.user(hint);
        let fake = FakeGraph::start();
        fake.state().signed_in_user = user.name.clone();
        OAuth {
            env: TestEnv::new(),
            fake,
            user,
        }
    }

    /// The server options of `protocol` (imap or pop) for the user, over implicit TLS.
    pub fn server(&self, protocol: &str) -> Vec<String> {
        let dovecot = self.user.dovecot;
        let port = if protocol == "imap" {
            dovecot.imaps_port
        } else {
            dovecot.pop3s_port
        };
        [
            "--server",
            &dovecot.host,
            "--port",
            &port.to_string(),
            "--account",
            &self.user.name,
            "--ca-file",
            &dovecot.ca_file.display().to_string(),
            "--timeout",
            "20s",
            "--name",
            NAME,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// Microsoft delegated OAuth options, the fake as the identity platform.
    pub fn microsoft(&self) -> Vec<String> {
        [
            "--oauth",
            "microsoft",
            "--client-id",
            CLIENT_ID,
            "--login-url",
            &self.fake.login_url(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// `lanceur PROTOCOL [login] <server> <oauth> <extra>` (a run gets `--dest`), with `vars`.
    pub fn command(
        &self,
        protocol: &str,
        login: bool,
        oauth: &[String],
        extra: &[&str],
    ) -> Command {
        let mut command = self.env.command();
        command.arg(protocol);
        if login {
            command.arg("login");
        }
        command.args(self.server(protocol)).args(oauth);
        if !login {
            command.arg("--dest").arg(&self.env.cold);
        }
        command.args(extra);
        command
    }

    pub fn login(&self, protocol: &str, extra: &[&str]) -> Ran {
        let command = self.command(protocol, true, &self.microsoft(), extra);
        self.env.run_command(command)
    }

    pub fn run(&self, protocol: &str, extra: &[&str]) -> Ran {
        let command = self.command(protocol, false, &self.microsoft(), extra);
        self.env.run_command(command)
    }

    /// The form of the first request to a token endpoint.
    pub fn token_form(&self) -> std::collections::HashMap<String, String> {
        self.fake
            .requests()
            .into_iter()
            .find(|r| r.path.ends_with("/token"))
            .expect("a token request")
            .form()
    }

    pub fn cache_path(&self) -> std::path::PathBuf {
        self.env.state.join(NAME).join("oauth-tokens.json")
    }

    pub fn cache(&self) -> Value {
        serde_json::from_str(&fs::read_to_string(self.cache_path()).unwrap()).unwrap()
    }

    /// Dovecot's log lines of this user's successful logins, e.g. `method=OAUTHBEARER`.
    pub fn logins(&self) -> Vec<String> {
        let needle = format!("Login: user=<{}>", self.user.name);
        self.user
            .dovecot
            .log()
            .lines()
            .filter(|l| l.contains(&needle))
            .map(str::to_string)
            .collect()
    }

    /// Checks that no token the fake handed out, and none of `secrets`, is in `ran`'s output or
    /// in one of `files`.
    #[track_caller]
    pub fn assert_no_secret_in(&self, ran: &Ran, secrets: &[&str], files: &[&std::path::Path]) {
        let issued = self.fake.state().issued.clone();
        assert!(!issued.is_empty(), "the fake handed out no token");
        let all: Vec<&str> = issued
            .iter()
            .map(String::as_str)
            .chain(secrets.iter().copied())
            .collect();
        crate::harness::secrets::assert_hidden(ran, &all, files);
    }

    /// The same for `ran`'s output alone.
    #[track_caller]
    pub fn assert_no_secret(&self, ran: &Ran, secrets: &[&str]) {
        self.assert_no_secret_in(ran, secrets, &[]);
    }
}

// ---------------------------------------------------------------------------------------------
// Delegated sign-ins

#[test]
fn imap_login_then_runs_renew_and_rotate_the_tokens_and_log_in_with_oauthbearer() {
    let t = OAuth::new("oaimap");
    // Access tokens shorter than lanceur's margin: every run must refresh.
    t.fake.state().access_expires_in = 60;
    let ran = t.login("imap", &[]);
    ran.expect_code(0);
    assert!(ran.stdout.contains("FAKE1234"), "{}", ran.explain());
    assert!(
        ran.stdout.contains("is ready for its runs"),
        "{}",
        ran.explain()
    );
    let device = t
        .fake
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/devicecode"))
        .expect("a device code request");
    let scope = device.form()["scope"].clone();
    assert!(
        scope.contains("https://outlook.office.com/IMAP.AccessAsUser.All")
            && scope.contains("offline_access"),
        "{scope}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(t.cache_path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "token cache must be private");
    }
    let first = t.cache()["refresh_token"].as_str().unwrap().to_string();
    for n in 1..=3 {
        let (raw, _) = pdf_mail(n, 3000);
        t.user.deliver(&raw);
        t.run("imap", &[]).expect_code(0).expect_quiet();
    }
    let mut names = t.env.cold_visible();
    names.sort();
    assert_eq!(
        names,
        vec!["facture-0001.pdf", "facture-0002.pdf", "facture-0003.pdf"]
    );
    assert!(t.user.messages("INBOX").iter().all(|m| m.seen()));
    let state = t.fake.state();
    assert_eq!(state.refreshes, 3, "one refresh per run");
    assert_eq!(
        state.reused_refresh_tokens, 0,
        "a used refresh token was sent again"
    );
    let saved = t.cache()["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(Some(saved.as_str()), state.latest_refresh_token.as_deref());
    assert_ne!(saved, first);
    drop(state);
    // Dovecot offered OAUTHBEARER, so lanceur used it: the login, then each run.
    let logins = t.logins();
    assert_eq!(logins.len(), 4, "{logins:?}");
    assert!(
        logins.iter().all(|l| l.contains("method=OAUTHBEARER")),
        "{logins:?}"
    );
}

#[test]
fn pop_login_then_runs_delete_the_deposited_mails() {
    let t = OAuth::new("oapop");
    let ran = t.login("pop", &[]);
    ran.expect_code(0);
    let scope = t
        .fake
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/devicecode"))
        .unwrap()
        .form()["scope"]
        .clone();
    assert!(scope.contains("POP.AccessAsUser.All"), "{scope}");
    for n in 1..=2 {
        t.user.deliver(&pdf_mail(n, 2000).0);
    }
    t.run("pop", &[]).expect_code(0).expect_quiet();
    assert_eq!(t.env.cold_visible().len(), 2, "{}", t.env.listing());
    assert!(
        t.user.messages("INBOX").is_empty(),
        "deleted after the deposit"
    );
    // The run opened a second session for the QUIT of its deletions: the access token served both.
    assert_eq!(t.fake.state().refreshes, 0);
    let logins = t.logins();
    assert!(logins.len() >= 2, "{logins:?}");
    assert!(
        logins
            .iter()
            .all(|l| l.contains("pop3-login") && l.contains("method=OAUTHBEARER")),
        "{logins:?}"
    );
}

#[test]
fn a_server_without_oauthbearer_gets_xoauth2() {
    let t = OAuth::on(Dovecot::xoauth2_only(), "oax");
    t.login("imap", &[]).expect_code(0);
    t.user.deliver(&pdf_mail(1, 1000).0);
    t.run("imap", &[]).expect_code(0).expect_quiet();
    let logins = t.logins();
    assert_eq!(logins.len(), 2, "{logins:?}");
    assert!(
        logins.iter().all(|l| l.contains("method=XOAUTH2")),
        "{logins:?}"
    );
    assert_eq!(t.env.cold_visible(), vec!["facture-0001.pdf"]);
}

#[test]
fn an_expired_or_revoked_sign_in_exits_3_with_the_login_command() {
    let t = OAuth::new("oaexp");
    t.fake.state().access_expires_in = 60;
    t.login("imap", &[]).expect_code(0);
    t.user.deliver(&pdf_mail(1, 1000).0);
    t.fake.state().refresh_error = Some(("invalid_grant", 700082));
    let ran = t.run("imap", &[]);
    ran.expect_code(3)
        .expect_stderr_contains("90 days")
        .expect_stderr_contains(&format!(
            "run `lanceur imap login --server 127.0.0.1 --port {} --account {}",
            t.user.dovecot.imaps_port, t.user.name
        ))
        .expect_stderr_contains("--oauth microsoft --client-id")
        // The state folder too, so that the command works from a shell without
        // LANCEUR_STATE_DIR. See: issue 16.
        .expect_stderr_contains(&format!(
            "--name box --state-dir {}`",
            t.env.state.display()
        ));
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.explain());
    assert!(t.env.cold_visible().is_empty());
    assert!(!t.user.messages("INBOX")[0].seen(), "nothing touched");
    // Revoked by an administrator: the same.
    t.fake.state().refresh_error = None;
    t.fake.revoke_refresh_tokens();
    t.run("imap", &[])
        .expect_code(3)
        .expect_stderr_contains("expired or was revoked")
        .expect_stderr_contains("lanceur imap login");
    // A launcher file's runs are told to `lanceur login FILE`.
    let file = t.env.root().join("factures.toml");
    let server = t.server("imap");
    let mut text = String::from("protocol = 'imap'\n");
    for pair in server.chunks(2).chain(t.microsoft().chunks(2)) {
        if pair[0] != "--name" {
            text.push_str(&format!("{} = '{}'\n", &pair[0][2..], pair[1]));
        }
    }
    text.push_str(&format!("dest = '{}'\n", t.env.cold.display()));
    fs::write(&file, text).unwrap();
    let file = file.display().to_string();
    let ran = t.env.run(&["run", &file]);
    ran.expect_code(3)
        .expect_stderr_contains(&format!("run `lanceur login {file}` once"));
    // Which is the login step of that launcher (named after the file), and its runs then work.
    t.env.run(&["login", &file]).expect_code(0);
    t.env.run(&["run", &file]).expect_code(0).expect_quiet();
    assert_eq!(t.env.cold_visible(), vec!["facture-0001.pdf"]);
    assert!(t
        .env
        .state
        .join("factures")
        .join("oauth-tokens.json")
        .exists());
}

#[test]
fn a_revoked_access_token_is_renewed_once_and_the_login_retried() {
    let t = OAuth::new("oarevoke");
    t.login("imap", &[]).expect_code(0);
    t.user.deliver(&pdf_mail(1, 1000).0);
    // The cached access token is still valid by its date, but the server no longer takes it.
    t.fake.revoke_access_tokens();
    t.run("imap", &[]).expect_code(0).expect_quiet();
    assert_eq!(t.env.cold_visible(), vec!["facture-0001.pdf"]);
    assert_eq!(t.fake.state().refreshes, 1);
}

#[test]
fn dovecot_refuses_a_token_for_another_user() {
    let t = OAuth::new("oawrong");
    // Someone signs in as another user than the launcher's --account.
    let other = Dovecot::get().user("oaother");
    t.fake.state().signed_in_user = other.name.clone();
    t.user.deliver(&pdf_mail(1, 1000).0);
    let ran = t.login("imap", &[]);
    ran.expect_code(3)
        .expect_stderr_contains(&format!("refused the OAUTHBEARER login of {}", t.user.name))
        .expect_stderr_contains("--account must be the account that signed in");
    let ran = t.run("imap", &[]);
    ran.expect_code(3);
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.explain());
    assert!(t.env.cold_visible().is_empty());
    assert!(t.logins().is_empty());
    assert!(t
        .user
        .dovecot
        .log()
        .contains(&format!("did not match '{}'", other.name)));
}

#[test]
fn a_sign_in_left_unused_for_long_is_warned_about_before_it_lapses() {
    let t = OAuth::new("oaidle");
    t.login("imap", &[]).expect_code(0);
    let mut cache = t.cache();
    let days_ago = |d: u64| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            - d * 86_400
    };
    cache["renewed_at"] = days_ago(80).into();
    cache["expires_at"] = 0.into();
    fs::write(t.cache_path(), cache.to_string()).unwrap();
    let ran = t.run("imap", &[]);
    ran.expect_code(0).expect_stderr_contains(
        "lanceur: box: the Microsoft sign-in had not been used for 80 days",
    );
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.explain());
    // Renewed by that run: the next one is silent, and a later warning needs --warn-before.
    t.run("imap", &[]).expect_code(0).expect_quiet();
    let mut cache = t.cache();
    cache["renewed_at"] = days_ago(70).into();
    fs::write(t.cache_path(), cache.to_string()).unwrap();
    t.run("imap", &[]).expect_code(0).expect_quiet();
    cache["renewed_at"] = days_ago(70).into();
    fs::write(t.cache_path(), cache.to_string()).unwrap();
    t.run("imap", &["--warn-before", "30"])
        .expect_code(0)
        .expect_stderr_contains("had not been used for 70 days");
}

#[test]
fn oauth_misconfigurations_exit_2_before_any_request() {
    let t = OAuth::new("oamis");
    let mut command = t.command("imap", false, &t.microsoft(), &[]);
    command.env("LANCEUR_PASSWORD", "pw");
    t.env
        .run_command(command)
        .expect_code(2)
        .expect_stderr_contains("leave out the password");
    let no_oauth = vec!["--client-id".to_string(), CLIENT_ID.to_string()];
    t.env
        .run_command(t.command("imap", false, &no_oauth, &[]))
        .expect_code(2)
        .expect_stderr_contains("add --oauth microsoft or --oauth google");
    let google = vec![
        "--oauth".to_string(),
        "google".to_string(),
        "--client-id".into(),
        "x".into(),
    ];
    t.env
        .run_command(t.command("imap", false, &google, &[]))
        .expect_code(2)
        .expect_stderr_contains("needs the OAuth client's secret");
    let mut command = t.command("imap", true, &google, &["--flow", "device"]);
    command.env("LANCEUR_OAUTH_CLIENT_SECRET", "s");
    t.env
        .run_command(command)
        .expect_code(2)
        .expect_stderr_contains("device flow does not allow Gmail");
    let mut command = t.command("pop", true, &t.microsoft(), &["--tenant", "contoso.com"]);
    command.env("LANCEUR_OAUTH_CLIENT_SECRET", "s");
    t.env
        .run_command(command)
        .expect_code(2)
        .expect_stderr_contains("needs no login");
    t.env
        .run_command(t.command(
            "pop",
            false,
            &t.microsoft(),
            &["--client-secret-file", "/nonexistent"],
        ))
        .expect_code(2);
    assert!(t.fake.requests().is_empty(), "no request before the checks");
    // The fake must be called for its drop check.
    t.login("imap", &[]).expect_code(0);
}
