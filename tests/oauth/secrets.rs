//! No OAuth token or client secret reaches an output or a `--log-file`, at any verbosity, over
//! IMAP and POP3: delegated tokens (signed in with the device code, renewed on every run),
//! app-only tokens got with a client secret, and a fixed token given in `LANCEUR_TOKEN`. See:
//! issue 11, point 8.

use super::OAuth;
use crate::harness::graph::CLIENT_SECRET;
use crate::harness::mail::pdf_mail;
use crate::harness::secrets::verbosities;

#[test]
fn no_verbosity_shows_an_oauth_token_or_client_secret_over_imap_or_pop() {
    for protocol in ["imap", "pop"] {
        let t = OAuth::new(&format!("oasecret{protocol}"));
        // Short-lived tokens: every run renews its access token with the refresh token.
        t.fake.state().access_expires_in = 60;
        // The same service principal may read the mailbox app-only.
        t.fake.state().app_mailbox = Some(t.user.name.clone());
        let fixed = t.fake.mail_token(&t.user.name);
        let log = t.env.root().join("run.jsonl");
        let log_arg = log.display().to_string();
        let mut command = t.command(protocol, true, &t.microsoft(), &[]);
        command.env("RUST_LOG", "trace");
        let ran = t.env.run_command(command);
        ran.expect_code(0);
        t.assert_no_secret(&ran, &[CLIENT_SECRET, "eyJ", "AwABAAAA"]);
        let mut app = t.microsoft();
        app.extend(["--tenant".to_string(), "contoso.com".to_string()]);
        let mut n = 0;
        for verbosity in verbosities() {
            let detailed = verbosity.flags.contains(&"-vv") || verbosity.rust_log.is_some();
            for way in ["delegated", "app-only", "LANCEUR_TOKEN"] {
                n += 1;
                t.user.deliver(&pdf_mail(n, 1000).0);
                let oauth = match way {
                    "delegated" => t.microsoft(),
                    "app-only" => app.clone(),
                    _ => Vec::new(),
                };
                let mut command = t.command(protocol, false, &oauth, &["--log-file", &log_arg]);
                // A client secret makes the sign-in app-only; a token replaces the sign-in.
                match way {
                    "app-only" => command.env("LANCEUR_OAUTH_CLIENT_SECRET", CLIENT_SECRET),
                    "LANCEUR_TOKEN" => command.env("LANCEUR_TOKEN", &fixed),
                    _ => &mut command,
                };
                verbosity.apply(&mut command);
                let ran = t.env.run_command(command);
                ran.expect_code(0);
                if detailed && way == "delegated" {
                    // The refresh token and a new access token went by while logging.
                    ran.expect_stderr_contains("renewing the access token");
                }
                t.assert_no_secret_in(&ran, &[CLIENT_SECRET, "eyJ", "AwABAAAA"], &[&log]);
            }
        }
        // Every run signed in and took its mail.
        assert_eq!(t.env.cold_visible().len(), n as usize, "{protocol}");
    }
}
