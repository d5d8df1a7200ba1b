//! The authorization code with PKCE and a loopback redirect, the test acting as the browser:
//! Microsoft (IMAP, where Conditional Access blocks the device code; o365's is in
//! `o365/browser.rs`) and Google's installed apps (Gmail allows no device code); Google Workspace
//! service accounts. See: issue 15.

use std::fs;

use super::{login_in_browser, OAuth};
use crate::harness::graph::oauth::{make_certificate, GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET};
use crate::harness::mail::pdf_mail;

#[test]
fn microsoft_browser_login_comes_back_to_localhost_and_the_runs_use_it() {
    let t = OAuth::new("oabrowser");
    let mut command = t.command("imap", true, &t.microsoft(), &["--flow", "browser"]);
    command.env("RUST_LOG", "trace");
    let ran = login_in_browser(command);
    ran.expect_code(0);
    assert!(
        ran.stdout.contains("is ready for its runs"),
        "{}",
        ran.explain()
    );
    t.assert_no_secret(&ran, &[]);
    // The code was exchanged with its PKCE verifier, for the redirect URI it was issued to.
    let exchange = t.token_form();
    assert_eq!(exchange["grant_type"], "authorization_code");
    assert!(exchange["redirect_uri"].starts_with("http://localhost:"));
    assert!(exchange["code_verifier"].len() >= 43);
    assert!(!ran.stdout.contains(&exchange["code_verifier"]));
    t.user.deliver(&pdf_mail(1, 1000).0);
    t.run("imap", &[]).expect_code(0).expect_quiet();
    assert_eq!(t.env.cold_visible(), vec!["facture-0001.pdf"]);
    // Declined in the browser: exit 3, Microsoft's reason, and the saved sign-in is kept.
    let saved = t.cache();
    t.fake.state().browser_error = Some("access_denied");
    let command = t.command("imap", true, &t.microsoft(), &["--flow", "browser"]);
    let ran = login_in_browser(command);
    ran.expect_code(3)
        .expect_stderr_contains("the sign-in failed in the browser: access_denied (AADSTS65004");
    assert_eq!(t.cache(), saved);
}

fn google(t: &OAuth) -> Vec<String> {
    [
        "--oauth",
        "google",
        "--client-id",
        GOOGLE_CLIENT_ID,
        "--login-url",
        &t.fake.login_url(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[test]
fn google_installed_app_login_warns_about_testing_apps_and_runs_keep_the_refresh_token() {
    let t = OAuth::new("oagoogle");
    t.fake.state().access_expires_in = 60;
    let mut command = t.command("imap", true, &google(&t), &[]);
    command.env("LANCEUR_OAUTH_CLIENT_SECRET", GOOGLE_CLIENT_SECRET);
    let ran = login_in_browser(command);
    ran.expect_code(0);
    assert!(
        ran.stdout.contains("expire after 7 days"),
        "{}",
        ran.explain()
    );
    assert!(
        ran.stdout.contains("/o/oauth2/v2/auth?"),
        "{}",
        ran.explain()
    );
    t.assert_no_secret(&ran, &[GOOGLE_CLIENT_SECRET]);
    let refresh = t.cache()["refresh_token"].as_str().unwrap().to_string();
    for n in 1..=2 {
        t.user.deliver(&pdf_mail(n, 1000).0);
        let mut command = t.command("imap", false, &google(&t), &[]);
        command.env("LANCEUR_OAUTH_CLIENT_SECRET", GOOGLE_CLIENT_SECRET);
        t.env.run_command(command).expect_code(0).expect_quiet();
    }
    assert_eq!(t.env.cold_visible().len(), 2);
    assert_eq!(t.fake.state().refreshes, 2);
    assert_eq!(
        t.cache()["refresh_token"],
        refresh.as_str(),
        "Google does not rotate"
    );
    // Revoked (or a Testing app's 7 days over): exit 3, the login to run, and why it may be.
    t.fake.state().refresh_error = Some(("invalid_grant", 0));
    let mut command = t.command("imap", false, &google(&t), &[]);
    command.env("LANCEUR_OAUTH_CLIENT_SECRET", GOOGLE_CLIENT_SECRET);
    t.env
        .run_command(command)
        .expect_code(3)
        .expect_stderr_contains("\"Testing\"")
        .expect_stderr_contains("lanceur imap login");
}

#[test]
fn a_workspace_service_account_acts_for_the_user_with_domain_wide_delegation() {
    let t = OAuth::new("oasa");
    let dir = t.env.dir("keys");
    let (cert, key) = make_certificate(&dir, "sa", 365);
    let email = "lanceur@ezged-123.iam.gserviceaccount.com";
    t.fake.state().service_account = Some((email.to_string(), cert));
    let key_file = dir.join("sa.json");
    let json = serde_json::json!({
        "type": "service_account",
        "project_id": "ezged-123",
        "private_key_id": "0123abcd",
        "private_key": fs::read_to_string(&key).unwrap(),
        "client_email": email,
        "client_id": "1122334455",
        "token_uri": format!("{}/token", t.fake.login_url()),
    });
    fs::write(&key_file, json.to_string()).unwrap();
    t.user.deliver(&pdf_mail(1, 1000).0);
    let args: Vec<String> = [
        "--oauth",
        "google",
        "--service-account",
        key_file.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut command = t.command("pop", false, &args, &["-vv"]);
    command.env("RUST_LOG", "trace");
    let ran = t.env.run_command(command);
    ran.expect_code(0);
    t.assert_no_secret(&ran, &["PRIVATE KEY", "eyJ"]);
    assert_eq!(t.env.cold_visible(), vec!["facture-0001.pdf"]);
    assert!(t.user.messages("INBOX").is_empty());
    // Without the administrator's delegation: exit 3 and where to grant it.
    t.fake.state().delegation_granted = false;
    t.user.deliver(&pdf_mail(2, 1000).0);
    t.env
        .run_command(t.command("imap", false, &args, &[]))
        .expect_code(3)
        .expect_stderr_contains("Domain-wide delegation");
}
