//! Trust anchors (issue 17): an idle run must not parse the system's whole CA bundle. The system's
//! roots are looked up in its hashed CA directory, one file for the issuer of the server's chain;
//! with `--ca-file`, that file is the only trust read. strace shows which files the run opened.
//!
//! The Dovecot certificate stands for a public root here: it goes into a hashed directory of the
//! test's own (`openssl rehash`) that `SSL_CERT_DIR` names, as an administrator's private root
//! would go into /etc/ssl/certs.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::dovecot::Dovecot;
use crate::harness::mail::pdf_mail;
use crate::harness::strace::{self, opened};
use crate::harness::TestEnv;

/// The system bundles OpenSSL and native-tls parse whole.
fn is_a_system_bundle(path: &str) -> bool {
    path.ends_with("/cert.pem")
        || path.ends_with("ca-certificates.crt")
        || path.ends_with("ca-bundle.crt")
        || path.ends_with("tls-ca-bundle.pem")
}

/// A hashed CA directory holding `ca` alone; returns it and the name of the hash link.
fn hashed_dir(env: &TestEnv, ca: &Path) -> (PathBuf, String) {
    let dir = env.dir("certs");
    std::fs::copy(ca, dir.join("private-root.pem")).unwrap();
    let made = Command::new("openssl")
        .arg("rehash")
        .arg(&dir)
        .output()
        .expect("openssl is needed to hash the CA directory");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let link = crate::harness::names(&dir)
        .into_iter()
        .find(|n| n.ends_with(".0"))
        .expect("openssl rehash made no hash link");
    (dir, link)
}

/// `lanceur imap` for `user`, without `--ca-file` unless `ca` is given, under strace.
fn traced_run(
    env: &TestEnv,
    user: &crate::harness::dovecot::User,
    ca: Option<&Path>,
    cert_dir: &Path,
) -> (crate::harness::Ran, Vec<String>) {
    let mut args = user.imap_args("INBOX");
    let at = args.iter().position(|a| a == "--ca-file").unwrap();
    args.drain(at..at + 2);
    let mut command = env.command();
    command
        .env("LANCEUR_PASSWORD", &user.password)
        .env("SSL_CERT_DIR", cert_dir)
        .args(&args)
        .arg("--dest")
        .arg(&env.cold);
    if let Some(ca) = ca {
        command.arg("--ca-file").arg(ca);
    }
    let log = env.root().join("strace.log");
    let ran = env.run_command(strace::traced(&command, "openat,open", &log));
    (ran, opened(&strace::read(&log)))
}

// See: issue 17
#[test]
fn the_system_trust_is_looked_up_by_the_issuer_not_parsed_whole() {
    let user = Dovecot::get().user("trust-dir");
    let (raw, pdf) = pdf_mail(1, 4000);
    user.deliver(&raw);
    let env = TestEnv::new();
    let (dir, link) = hashed_dir(&env, &user.dovecot.ca_file);
    let (ran, files) = traced_run(&env, &user, None, &dir);
    ran.expect_code(0).expect_quiet();
    assert_eq!(env.cold_read("facture-0001.pdf"), pdf);
    let hashed = dir.canonicalize().unwrap().join(&link);
    assert!(
        files.iter().any(|f| Path::new(f) == hashed),
        "the issuer was not looked up in {}: {files:#?}",
        dir.display()
    );
    let bundles: Vec<&String> = files.iter().filter(|f| is_a_system_bundle(f)).collect();
    assert!(
        bundles.is_empty(),
        "the run parsed whole bundles: {bundles:?}"
    );
    // Idle now: the same holds for the run that finds nothing new.
    let (ran, files) = traced_run(&env, &user, None, &dir);
    ran.expect_code(0).expect_quiet();
    assert!(!files.iter().any(|f| is_a_system_bundle(f)), "{files:#?}");
}

// See: issue 17
#[test]
fn a_ca_file_is_the_only_trust_read() {
    let user = Dovecot::get().user("trust-file");
    let (raw, pdf) = pdf_mail(2, 4000);
    user.deliver(&raw);
    let env = TestEnv::new();
    let (dir, _) = hashed_dir(&env, &user.dovecot.ca_file);
    let (ran, files) = traced_run(&env, &user, Some(&user.dovecot.ca_file), &dir);
    ran.expect_code(0).expect_quiet();
    assert_eq!(env.cold_read("facture-0002.pdf"), pdf);
    let ca_file = user.dovecot.ca_file.display().to_string();
    let system: Vec<&String> = files
        .iter()
        .filter(|f| **f != ca_file)
        .filter(|f| is_a_system_bundle(f) || f.starts_with("/etc/ssl") || f.contains("/certs/"))
        .collect();
    assert!(
        system.is_empty(),
        "--ca-file given, yet the run read {system:?}"
    );
    // The file replaces the system's trust: a server the hashed directory vouches for is refused
    // when --ca-file names another CA.
    let other = env.root().join("other-ca.pem");
    crate::harness::dovecot::self_signed(&other, "Other", 1, &[]);
    user.deliver(&pdf_mail(3, 4000).0);
    let (ran, _) = traced_run(&env, &user, Some(&other), &dir);
    ran.expect_code(4)
        .expect_stderr_contains("TLS handshake with");
    assert!(!env.cold.join("facture-0003.pdf").exists());
}
