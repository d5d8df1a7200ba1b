//! No Office 365 access token, refresh token or client secret reaches an output or a
//! `--log-file`, at any verbosity: delegated (signed in with the device code, the access token
//! renewed on every run) and app-only with a client secret. See: issue 11, point 8.

use super::*;
use crate::harness::secrets::{assert_hidden, verbosities};

#[test]
fn no_verbosity_shows_an_o365_token_or_the_client_secret() {
    let t = O365::new();
    // Short-lived tokens: every delegated run renews its access token with the refresh token.
    t.fake.state().access_expires_in = 60;
    t.fake.add_mailbox("shared@contoso.com", false);
    let log = t.env.root().join("run.jsonl");
    let log_arg = log.display().to_string();
    let mut command = t.env.command();
    command.args(t.args(true, &[])).env("RUST_LOG", "trace");
    let ran = t.env.run_command(command);
    ran.expect_code(0);
    let hidden = |ran: &Ran, files: &[&std::path::Path]| {
        let issued = t.fake.state().issued.clone();
        assert!(!issued.is_empty(), "the fake handed out no token");
        let mut secrets: Vec<&str> = issued.iter().map(String::as_str).collect();
        secrets.extend([CLIENT_SECRET, "eyJ", "AwABAAAA"]);
        assert_hidden(ran, &secrets, files);
    };
    hidden(&ran, &[]);
    let app = [
        "--tenant",
        "contoso.com",
        "--mailbox",
        "shared@contoso.com",
        "--log-file",
        &log_arg,
    ];
    let mut n = 0;
    for verbosity in verbosities() {
        let detailed = verbosity.flags.contains(&"-vv") || verbosity.rust_log.is_some();
        for (mailbox, extra) in [("me", &app[4..]), ("shared@contoso.com", &app[..])] {
            n += 1;
            let name = format!("doc-{n}.pdf");
            t.fake.add_mail(
                mailbox,
                "inbox",
                Mail::new("x").file(&name, "application/pdf", &pdf(&name)),
            );
            let mut command = t.env.command();
            command.args(t.args(false, extra));
            // A client secret makes the sign-in app-only.
            if mailbox != "me" {
                command.env("LANCEUR_O365_CLIENT_SECRET", CLIENT_SECRET);
            }
            verbosity.apply(&mut command);
            let ran = t.env.run_command(command);
            ran.expect_code(0);
            if detailed && mailbox == "me" {
                // The refresh token and a new access token went by while logging.
                ran.expect_stderr_contains("renewing the access token");
            }
            hidden(&ran, &[&log]);
        }
    }
    // Every run signed in and took its mail.
    assert_eq!(t.env.cold_visible().len(), n);
}
