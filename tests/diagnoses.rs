//! Diagnoses that point at the real cause: a mail server reached on the wrong port or in the
//! wrong TLS mode, a server that knows only TLS 1.0, a reset in the middle of the handshake, an
//! untrusted certificate (with OpenSSL's reason said once). Real servers on loopback: the
//! harness's Dovecot (plain and implicit-TLS ports for IMAP and POP3), `openssl s_server -tls1`
//! and a listener that resets. See: issue 16.

use std::process::Command;

use crate::harness::dovecot::Dovecot;
use crate::harness::tls_faults::{ResetServer, Tls10Server};
use crate::harness::{with_private_tmpfs, Ran, TestEnv};

/// `lanceur PROTOCOL` to the Dovecot's host on `port`, trusting its CA, plus `extra`.
fn reach(env: &TestEnv, protocol: &str, port: u16, extra: &[&str]) -> Ran {
    let dovecot = Dovecot::get();
    let user = dovecot.user("diag");
    let mut command: Command = env.command();
    command
        .env("LANCEUR_PASSWORD", &user.password)
        .args([protocol, "--server", &dovecot.host, "--port"])
        .arg(port.to_string())
        .args(["--account", &user.name, "--ca-file"])
        .arg(&dovecot.ca_file)
        .arg("--dest")
        .arg(&env.cold)
        .args(extra);
    let ran = env.run_command(command);
    ran.expect_code(4);
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.explain());
    ran
}

#[track_caller]
fn says(ran: &Ran, text: &str) {
    ran.expect_stderr_contains(text);
    assert!(
        !ran.stderr.contains("certificate"),
        "blamed on the certificate\n{}",
        ran.explain()
    );
}

#[test]
fn the_plain_imap_port_with_implicit_tls_says_to_use_starttls_or_993() {
    let dovecot = Dovecot::get();
    let env = TestEnv::new();
    let ran = reach(&env, "imap", dovecot.imap_port, &[]);
    says(
        &ran,
        &format!(
            "port {} speaks plain IMAP, not TLS: use --tls starttls, or port 993",
            dovecot.imap_port
        ),
    );
    let ran = reach(&env, "pop", dovecot.pop3_port, &[]);
    says(
        &ran,
        &format!(
            "port {} speaks plain POP3, not TLS: use --tls starttls, or port 995",
            dovecot.pop3_port
        ),
    );
}

#[test]
fn starttls_on_an_implicit_tls_port_says_so_instead_of_a_lost_connection() {
    let dovecot = Dovecot::get();
    let env = TestEnv::new();
    for (protocol, port, plain) in [
        ("imap", dovecot.imaps_port, 143),
        ("pop", dovecot.pop3s_port, 110),
    ] {
        let ran = reach(
            &env,
            protocol,
            port,
            &["--tls", "starttls", "--timeout", "2s"],
        );
        says(
            &ran,
            "no greeting within 2s: this port looks like an implicit-TLS port",
        );
        ran.expect_stderr_contains(
            "leave out --tls starttls (implicit TLS is the default, port 99",
        )
        .expect_stderr_contains(&format!("or use port {plain} for --tls starttls"));
        assert!(
            !ran.stderr.contains("lost before STARTTLS"),
            "{}",
            ran.explain()
        );
    }
}

#[test]
fn the_other_protocols_port_is_named() {
    let dovecot = Dovecot::get();
    let env = TestEnv::new();
    for port in [dovecot.pop3_port, dovecot.pop3s_port] {
        let ran = reach(&env, "imap", port, &[]);
        says(
            &ran,
            &format!("port {port} speaks POP3, not IMAP: use `lanceur pop` for it"),
        );
    }
    for port in [dovecot.imap_port, dovecot.imaps_port] {
        let ran = reach(&env, "pop", port, &[]);
        says(
            &ran,
            &format!("port {port} speaks IMAP, not POP3: use `lanceur imap` for it"),
        );
    }
    // The same in plaintext, where the greeting comes before any TLS.
    let ran = reach(&env, "imap", dovecot.pop3_port, &["--tls", "starttls"]);
    says(&ran, "speaks POP3, not IMAP");
}

#[test]
fn a_tls_1_0_server_is_not_blamed_on_the_certificate() {
    let server = Tls10Server::start();
    let env = TestEnv::new();
    let ran = reach(&env, "imap", server.port, &[]);
    says(
        &ran,
        "the server offers only TLS versions older than 1.2 (TLS 1.0 or 1.1), which lanceur refuses",
    );
    assert_eq!(
        ran.stderr.matches("protocol version").count(),
        1,
        "the OpenSSL error once\n{}",
        ran.explain()
    );
    assert!(
        !ran.stderr.contains(".c:"),
        "OpenSSL's source lines\n{}",
        ran.explain()
    );
}

#[test]
fn a_reset_during_the_handshake_is_not_blamed_on_the_certificate() {
    let server = ResetServer::start();
    let env = TestEnv::new();
    let ran = reach(&env, "pop", server.port, &[]);
    assert!(server.reached(), "the client never started its handshake");
    says(
        &ran,
        "the server closed the connection during the TLS handshake",
    );
}

#[test]
fn an_untrusted_certificate_says_why_once() {
    let dovecot = Dovecot::get();
    let user = dovecot.user("untrusted");
    let env = TestEnv::new();
    let mut command = env.command();
    command
        .env("LANCEUR_PASSWORD", &user.password)
        .args(user.imap_args_without_ca("INBOX"))
        .arg("--dest")
        .arg(&env.cold);
    let ran = env.run_command(command);
    ran.expect_code(4)
        .expect_stderr_contains("give it with --ca-file")
        .expect_stderr_contains("certificate verify failed (self-signed certificate)");
    assert_eq!(
        ran.stderr.matches("certificate verify failed").count(),
        1,
        "{}",
        ran.explain()
    );
}

#[test]
fn a_read_only_cold_or_state_folder_says_read_only_file_system() {
    let env = TestEnv::new();
    env.source_file("a.pdf", b"%PDF");
    std::fs::create_dir_all(&env.state).unwrap();
    let args = |check: bool| {
        let mut args = vec![];
        if check {
            args.push("check");
        }
        args.extend([
            "dir",
            "--source",
            env.source.to_str().unwrap(),
            "--dest",
            env.cold.to_str().unwrap(),
            "--min-age",
            "0s",
        ]);
        args
    };
    for (folder, says) in [
        (&env.cold, "COLD folder "),
        (&env.state, "cannot create state folder "),
    ] {
        for check in [false, true] {
            let ran = env.run_command(with_private_tmpfs(
                &env,
                folder,
                "ro,size=1m",
                None,
                &args(check),
            ));
            ran.expect_code(5);
            let text = if check { &ran.stdout } else { &ran.stderr };
            assert!(
                text.contains(says)
                    && text.contains("it is on a read-only file system: remount it"),
                "{}",
                ran.explain()
            );
            for wrong in ["write access", "by this user"] {
                assert!(!text.contains(wrong), "{wrong}\n{}", ran.explain());
            }
        }
    }
    assert_eq!(crate::harness::names(&env.source), vec!["a.pdf"]);
}
