//! App-only sign-ins for unattended servers: Microsoft's client credentials with a client secret
//! and with a certificate (a client assertion whose signature the fake checks with openssl
//! against the certificate uploaded to it), for IMAP, POP3 and the o365 launcher; expiry warnings
//! of secrets and certificates. See: issue 15.

use std::fs;
use std::path::Path;

use super::OAuth;
use crate::harness::graph::oauth::make_certificate;
use crate::harness::graph::{Mail, CLIENT_SECRET};
use crate::harness::mail::pdf_mail;

/// App-only OAuth options for tenant contoso.com, plus `extra`.
fn app(t: &OAuth, extra: &[&str]) -> Vec<String> {
    let mut args = t.microsoft();
    args.extend(["--tenant".to_string(), "contoso.com".to_string()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// App-only with the certificate `cert` and its key `key`.
fn with_certificate(t: &OAuth, cert: &Path, key: &Path) -> Vec<String> {
    app(
        t,
        &[
            "--client-certificate",
            cert.to_str().unwrap(),
            "--client-key",
            key.to_str().unwrap(),
        ],
    )
}

#[test]
fn a_client_secret_signs_in_as_the_application_and_a_wrong_one_exits_3() {
    let t = OAuth::new("oasecret");
    // Exchange: the service principal was given FullAccess to this mailbox.
    t.fake.state().app_mailbox = Some(t.user.name.clone());
    t.user.deliver(&pdf_mail(1, 1000).0);
    let mut command = t.command("imap", false, &app(&t, &[]), &[]);
    command.env("LANCEUR_OAUTH_CLIENT_SECRET", CLIENT_SECRET);
    t.env.run_command(command).expect_code(0).expect_quiet();
    assert_eq!(t.env.cold_visible(), vec!["facture-0001.pdf"]);
    assert!(!t.cache_path().exists(), "app-only keeps no token cache");
    let form = t.token_form();
    assert_eq!(form["grant_type"], "client_credentials");
    assert_eq!(form["scope"], "https://outlook.office365.com/.default");
    // From a file too, over POP3; the secret's expiry date, when given, is warned about.
    t.user.deliver(&pdf_mail(2, 1000).0);
    let secret = t.env.root().join("secret");
    fs::write(&secret, format!("{CLIENT_SECRET}\n")).unwrap();
    // Owner-only, as the README says: a readable one is warned about (see: issue 11).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).unwrap();
    }
    let soon = humantime::format_rfc3339_seconds(
        std::time::SystemTime::now() + std::time::Duration::from_secs(5 * 86_400),
    )
    .to_string();
    let args = app(
        &t,
        &[
            "--client-secret-file",
            secret.to_str().unwrap(),
            "--client-secret-expires",
            &soon[..10],
        ],
    );
    let ran = t
        .env
        .run_command(t.command("pop", false, &args, &["--name", "pop"]));
    ran.expect_code(0)
        .expect_stderr_contains("the client secret expires on");
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.explain());
    assert!(t.user.messages("INBOX").is_empty(), "{}", ran.explain());
    // A wrong secret: exit 3, the advice, and the secret never shown.
    t.user.deliver(&pdf_mail(3, 1000).0);
    let mut command = t.command("imap", false, &app(&t, &[]), &["-vv"]);
    command
        .env("LANCEUR_OAUTH_CLIENT_SECRET", "not-the-secret-42")
        .env("RUST_LOG", "trace");
    let ran = t.env.run_command(command);
    ran.expect_code(3)
        .expect_stderr_contains("the client secret is wrong");
    t.assert_no_secret(&ran, &["not-the-secret-42", CLIENT_SECRET]);
    // A mailbox the service principal has no permission on: Dovecot refuses, with the remedy.
    t.fake.state().app_mailbox = Some("someone-else".into());
    let mut command = t.command("imap", false, &app(&t, &[]), &[]);
    command.env("LANCEUR_OAUTH_CLIENT_SECRET", CLIENT_SECRET);
    t.env
        .run_command(command)
        .expect_code(3)
        .expect_stderr_contains("Add-MailboxPermission");
}

#[test]
fn a_certificate_signs_the_client_assertion_and_a_bad_one_exits_3() {
    let t = OAuth::new("oacert");
    t.fake.state().app_mailbox = Some(t.user.name.clone());
    let dir = t.env.dir("keys");
    let (cert, key) = make_certificate(&dir, "lanceur-app", 365);
    t.fake.state().certificates.push(cert.clone());
    t.user.deliver(&pdf_mail(1, 1000).0);
    t.env
        .run_command(t.command("imap", false, &with_certificate(&t, &cert, &key), &[]))
        .expect_code(0)
        .expect_quiet();
    assert_eq!(t.env.cold_visible(), vec!["facture-0001.pdf"]);
    let form = t.token_form();
    assert!(!form.contains_key("client_secret"));
    assert!(form["client_assertion"].starts_with("eyJ"));
    // Key and certificate in one file, over POP3.
    let both = dir.join("both.pem");
    fs::write(
        &both,
        [fs::read(&cert).unwrap(), fs::read(&key).unwrap()].concat(),
    )
    .unwrap();
    t.user.deliver(&pdf_mail(2, 1000).0);
    let args = app(&t, &["--client-certificate", both.to_str().unwrap()]);
    t.env
        .run_command(t.command("pop", false, &args, &["--name", "pop"]))
        .expect_code(0)
        .expect_quiet();
    assert!(t.user.messages("INBOX").is_empty());
    // A certificate the app registration does not know: the fake refuses its assertion.
    let (stranger, stranger_key) = make_certificate(&dir, "stranger", 365);
    t.user.deliver(&pdf_mail(3, 1000).0);
    let args = with_certificate(&t, &stranger, &stranger_key);
    let ran = t.env.run_command(t.command("imap", false, &args, &[]));
    ran.expect_code(3)
        .expect_stderr_contains("AADSTS700027")
        .expect_stderr_contains("upload this certificate");
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.explain());
    // A key that is not the certificate's: refused before any request.
    let before = t.fake.requests().len();
    let args = with_certificate(&t, &cert, &stranger_key);
    t.env
        .run_command(t.command("imap", false, &args, &[]))
        .expect_code(2)
        .expect_stderr_contains("does not belong to the certificate");
    assert_eq!(t.fake.requests().len(), before);
    // A certificate about to expire is warned about, while it still works.
    let (short, short_key) = make_certificate(&dir, "short", 5);
    t.fake.state().certificates.push(short.clone());
    let args = with_certificate(&t, &short, &short_key);
    // `lanceur check` says it too, in its report.
    let mut command = t.env.command();
    command
        .args(["check", "imap"])
        .args(t.server("imap"))
        .args(&args)
        .arg("--dest")
        .arg(&t.env.cold);
    let ran = t.env.run_command(command);
    ran.expect_code(0);
    assert!(
        ran.stdout.contains("warning: the certificate") && ran.stdout.contains("short.crt.pem"),
        "{}",
        ran.explain()
    );
    let ran = t.env.run_command(t.command("imap", false, &args, &[]));
    ran.expect_code(0)
        .expect_stderr_contains("short.crt.pem expires on")
        .expect_stderr_contains("in 4 days");
    assert!(
        t.env
            .cold_visible()
            .contains(&"facture-0003.pdf".to_string()),
        "{}",
        t.env.listing()
    );
}

#[test]
fn the_o365_launcher_signs_in_with_a_certificate_too() {
    let t = OAuth::new("oa365cert");
    let dir = t.env.dir("keys");
    let (cert, key) = make_certificate(&dir, "graph-app", 365);
    t.fake.state().certificates.push(cert.clone());
    t.fake.add_mailbox("shared@contoso.com", false);
    t.fake.add_mail(
        "shared@contoso.com",
        "inbox",
        Mail::new("a").file("a.pdf", "application/pdf", b"%PDF-1.4 a"),
    );
    let cold = t.env.cold.display().to_string();
    let ran = t.env.run(&[
        "o365",
        "--client-id",
        crate::harness::graph::CLIENT_ID,
        "--tenant",
        "contoso.com",
        "--mailbox",
        "shared@contoso.com",
        "--login-url",
        &t.fake.login_url(),
        "--graph-url",
        &t.fake.graph_url(),
        "--client-certificate",
        cert.to_str().unwrap(),
        "--client-key",
        key.to_str().unwrap(),
        "--dest",
        &cold,
    ]);
    ran.expect_code(0).expect_quiet();
    assert_eq!(t.env.cold_visible(), vec!["a.pdf"]);
    let form = t.token_form();
    assert_eq!(form["scope"], format!("{}/.default", t.fake.login_url()));
    assert!(form.contains_key("client_assertion"));
}
