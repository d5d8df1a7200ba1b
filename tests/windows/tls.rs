//! SChannel's refusals in lanceur's words, against a real TLS server (`openssl s_server`, started
//! on the Linux side by `scripts/test-windows`: Wine's SChannel cannot serve TLS itself) whose
//! self-signed certificate names `lanceur-test.invalid` only. See: issue 14.

use super::required_env;
use crate::harness::{Ran, TestEnv};

fn port() -> String {
    required_env("LANCEUR_TEST_TLS_PORT")
}

fn imap(env: &TestEnv, extra: &[&str]) -> Ran {
    let (port, cold) = (port(), env.cold.display().to_string());
    let mut command = env.command();
    command
        .env("LANCEUR_PASSWORD", "secret")
        .args(["imap", "--server", "localhost", "--port", &port])
        .args(["--account", "a", "--folder", "INBOX", "--dest", &cold])
        .args(extra);
    let ran = env.run_command(command);
    ran.expect_code(4);
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.explain());
    assert!(
        !ran.stderr.contains("os error"),
        "raw code\n{}",
        ran.explain()
    );
    ran
}

#[test]
fn an_untrusted_certificate_is_said_in_words_with_its_remedy() {
    let env = TestEnv::new();
    let ran = imap(&env, &[]);
    ran.expect_stderr_contains(&format!(
        "TLS handshake with localhost:{} failed: the server's certificate chain ends at a root \
         certificate this machine does not trust (SChannel CERT_E_UNTRUSTEDROOT, 0x800B0109); \
         give a private CA with --ca-file, or add the authority's certificate",
        port()
    ));
}

#[test]
fn a_certificate_for_another_name_is_said_in_words() {
    let env = TestEnv::new();
    let ca = required_env("LANCEUR_TEST_TLS_CA");
    let ran = imap(&env, &["--ca-file", &ca]);
    ran.expect_stderr_contains(
        "the server's certificate does not name localhost (SChannel CERT_E_CN_NO_MATCH, \
         0x800B010F); give the server by a name its certificate holds",
    );
}

// The same words for Microsoft's services (ureq over native-tls), where the usual cause is a
// proxy that inspects TLS with its own authority.
#[test]
fn office_365_behind_an_untrusted_certificate_is_said_in_words() {
    let env = TestEnv::new();
    let url = format!("https://localhost:{}", port());
    let cold = env.cold.display().to_string();
    let mut command = env.command();
    command
        .env("LANCEUR_O365_CLIENT_SECRET", "secret")
        .args(["o365", "--client-id", "c", "--tenant", "example.fr"])
        .args(["--mailbox", "factures@example.fr:inbox", "--dest", &cold])
        .args(["--login-url", &url, "--graph-url", &format!("{url}/v1.0")]);
    let ran = env.run_command(command);
    ran.expect_code(4);
    ran.expect_stderr_contains(&format!(
        "cannot reach Microsoft's sign-in service at {url}: the server's certificate chain ends \
         at a root certificate this machine does not trust (SChannel CERT_E_UNTRUSTEDROOT, \
         0x800B0109); add the authority's certificate (a private CA, or that of a proxy \
         inspecting TLS) to this machine's Trusted Root Certification Authorities"
    ));
    assert!(!ran.stderr.contains("os error"), "{}", ran.explain());
}
