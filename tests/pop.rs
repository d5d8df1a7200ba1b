//! `lanceur pop` against a real Dovecot (`harness/dovecot.rs`) over POP3S, STLS and a real stunnel
//! tunnel (`harness/stunnel.rs`): logins, certificates, dot-stuffed content arriving intact, keep
//! and delete modes checked on the server's Maildir, damaged mails, and kill -9 at random instants.
//! See: issue 4.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use crate::harness::dovecot::{Dovecot, User};
use crate::harness::mail::{base64_lines, damaged_mail, fake_pdf, pdf_mail};
use crate::harness::proxy::Proxy;
use crate::harness::stunnel::Stunnel;
use crate::harness::{kill_loop, sha256, Ran, Random, TestEnv};

mod resilience;

/// `lanceur pop` for `user` over POP3S (implicit TLS), trusting the test CA, password from the
/// environment, then `extra`.
pub(crate) fn pop_command(env: &TestEnv, user: &User, extra: &[&str]) -> Command {
    pop_command_on(env, user, user.dovecot.pop3s_port, extra)
}

/// The same on another port of the user's Dovecot (its plaintext/STLS port).
fn pop_command_on(env: &TestEnv, user: &User, port: u16, extra: &[&str]) -> Command {
    let dovecot = user.dovecot;
    let mut command = env.command();
    command
        .env("LANCEUR_PASSWORD", &user.password)
        .args(["pop", "--server", &dovecot.host, "--port"])
        .arg(port.to_string())
        .args(["--account", &user.name, "--ca-file"])
        .arg(&dovecot.ca_file)
        .args(["--timeout", "20s", "--dest"])
        .arg(&env.cold)
        .args(extra);
    command
}

fn run(env: &TestEnv, user: &User, extra: &[&str]) -> Ran {
    env.run_command(pop_command(env, user, extra))
}

/// The SHA-256 of each mail the server still holds.
fn on_server(user: &User) -> BTreeSet<String> {
    user.messages("INBOX")
        .iter()
        .map(|m| sha256(&m.bytes))
        .collect()
}

#[test]
fn pop3s_deposits_attachments_and_deletes_exactly_the_deposited_mails() {
    let user = Dovecot::get().user("delete");
    let mails: Vec<(Vec<u8>, Vec<u8>)> = (1..=5).map(|n| pdf_mail(n, 5000 + n as usize)).collect();
    for (raw, _) in &mails {
        user.deliver(raw);
    }
    let env = TestEnv::new();
    // Three of five this run: exactly those three leave the server.
    run(&env, &user, &["--max-items", "3", "--index", "json"])
        .expect_code(0)
        .expect_quiet();
    let deposited = env.cold_by_hash();
    assert_eq!(deposited.len(), 3, "{}", env.listing());
    for (raw, pdf) in &mails[..3] {
        assert!(deposited.contains_key(&sha256(pdf)), "{}", env.listing());
        assert!(!on_server(&user).contains(&sha256(raw)));
    }
    let left: BTreeSet<String> = mails[3..].iter().map(|(raw, _)| sha256(raw)).collect();
    assert_eq!(
        on_server(&user),
        left,
        "the server lost or kept the wrong mails"
    );
    // The sidecar names the mail.
    let sidecar = env.cold_read("facture-0001.pdf.json");
    let fields: serde_json::Value = serde_json::from_slice(&sidecar).unwrap();
    assert_eq!(fields["message_id"], "facture-1@dupont.example");
    assert_eq!(fields["attachment_name"], "facture-0001.pdf");
    assert_eq!(fields["mailbox"], user.name.as_str());
    assert!(fields["uidl"].as_str().is_some_and(|u| !u.is_empty()));
    // The rest on the next run; then the maildrop is empty and nothing came twice.
    run(&env, &user, &[]).expect_code(0).expect_quiet();
    assert!(user.messages("INBOX").is_empty());
    let deposited = env.cold_by_hash();
    assert_eq!(deposited.len(), 5);
    assert!(deposited.values().all(|names| names.len() == 1));
    run(&env, &user, &[]).expect_code(0).expect_quiet();
    assert_eq!(env.cold_by_hash().len(), 5);
}

#[test]
fn stls_is_really_used() {
    // On 127.0.0.2 Dovecot refuses a plaintext login from 127.0.0.1: only STLS gets through.
    let dovecot = Dovecot::remote();
    let user = dovecot.user("stls");
    let (raw, pdf) = pdf_mail(10, 3000);
    user.deliver(&raw);
    let env = TestEnv::new();
    let plain =
        |extra: &[&str]| env.run_command(pop_command_on(&env, &user, dovecot.pop3_port, extra));
    plain(&["--tls", "none"])
        .expect_code(3)
        .expect_stderr_contains("Plaintext authentication disallowed")
        .expect_stderr_contains("use --tls implicit or --tls starttls");
    assert_eq!(user.messages("INBOX").len(), 1);
    plain(&["--tls", "starttls"]).expect_code(0).expect_quiet();
    assert_eq!(env.cold_read("facture-0010.pdf"), pdf);
    assert!(user.messages("INBOX").is_empty());
}

#[test]
fn plaintext_through_a_real_stunnel_tunnel() {
    // The EzGED documentation's setup: stunnel in client mode on 127.0.0.1, TLS to the server.
    let dovecot = Dovecot::get();
    let tunnel = Stunnel::client(
        &dovecot.host,
        dovecot.pop3s_port,
        &dovecot.ca_file,
        "localhost",
    );
    let user = dovecot.user("stunnel");
    let (raw, pdf) = pdf_mail(20, 40_000);
    user.deliver(&raw);
    let env = TestEnv::new();
    let port = tunnel.port.to_string();
    let ran = env.run(&[
        "pop",
        "--server",
        "127.0.0.1",
        "--port",
        &port,
        "--tls",
        "none",
        "--account",
        &user.name,
        "--password-file",
        &password_file(&env, &user),
        "--dest",
        env.cold.to_str().unwrap(),
    ]);
    ran.expect_code(0).expect_quiet();
    assert_eq!(env.cold_read("facture-0020.pdf"), pdf);
    assert!(user.messages("INBOX").is_empty());
    // lanceur's session, and the whole mail, went through the tunnel.
    assert!(
        tunnel.connections() >= 1 && tunnel.bytes_to_clients(raw.len() as u64) >= raw.len() as u64,
        "the mail did not go through stunnel; its log:\n{}",
        tunnel.log()
    );
}

fn password_file(env: &TestEnv, user: &User) -> String {
    // Owner-only, as the README says: a readable one is warned about (see: issue 11).
    env.secret_file(
        "password",
        &format!(
            "{}
",
            user.password
        ),
    )
    .display()
    .to_string()
}

#[test]
fn a_wrong_password_exits_3_with_one_line_and_takes_nothing() {
    let user = Dovecot::get().user("wrongpw");
    user.deliver(&pdf_mail(30, 1000).0);
    let env = TestEnv::new();
    let mut command = pop_command(&env, &user, &[]);
    command.env("LANCEUR_PASSWORD", "not the password");
    let ran = env.run_command(command);
    ran.expect_code(3)
        .expect_stderr_contains("-ERR [AUTH] Authentication failed.")
        .expect_stderr_contains("check --account and the password");
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.explain());
    assert!(!ran.stderr.contains("not the password"));
    assert!(env.cold_visible().is_empty());
    assert_eq!(user.messages("INBOX").len(), 1);
}

#[test]
fn the_certificate_is_refused_without_the_ca_and_accepted_with_it() {
    let dovecot = Dovecot::get();
    let user = dovecot.user("cert");
    user.deliver(&pdf_mail(40, 1000).0);
    let env = TestEnv::new();
    let port = dovecot.pop3s_port.to_string();
    let mut command = env.command();
    command.env("LANCEUR_PASSWORD", &user.password).args([
        "pop",
        "--server",
        &dovecot.host,
        "--port",
        &port,
        "--account",
        &user.name,
        "--dest",
        env.cold.to_str().unwrap(),
    ]);
    let ran = env.run_command(command);
    ran.expect_code(4)
        .expect_stderr_contains("TLS handshake")
        .expect_stderr_contains("--ca-file");
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.explain());
    assert_eq!(user.messages("INBOX").len(), 1);
    run(&env, &user, &[]).expect_code(0).expect_quiet();
    assert_eq!(env.cold_visible(), vec!["facture-0040.pdf"]);
}

#[test]
fn dot_stuffed_lines_and_binary_attachments_arrive_intact() {
    let user = Dovecot::get().user("dots");
    // Lines that POP3 must dot-stuff: a lone dot (the end of a response, unstuffed), two dots,
    // a dot first. In the body, in a text attachment sent as is (7bit), and around a PDF.
    // The CRLF before the closing boundary belongs to the boundary, not to notes.txt.
    let notes = b".\r\n..\r\n.hidden\r\n...three\r\n. \r\nlast line".to_vec();
    let pdf = fake_pdf(50, 60_000);
    let mut raw = b"From: Scanner <scan@dupont.example>\r\n\
To: courrier@mairie.example\r\n\
Subject: Points\r\n\
Message-ID: <dots@dupont.example>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\
\r\n\
.A preamble line starting with a dot\r\n\
--b1\r\n\
Content-Type: text/plain; charset=us-ascii\r\n\
\r\n\
.first line of the body\r\n\
.\r\n\
..\r\n\
end\r\n\
--b1\r\n\
Content-Type: application/pdf; name=scan.pdf\r\n\
Content-Disposition: attachment; filename=scan.pdf\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n"
        .to_vec();
    raw.extend_from_slice(&base64_lines(&pdf));
    raw.extend_from_slice(
        b"--b1\r\n\
Content-Type: text/plain; charset=us-ascii; name=notes.txt\r\n\
Content-Disposition: attachment; filename=notes.txt\r\n\
Content-Transfer-Encoding: 7bit\r\n\
\r\n",
    );
    raw.extend_from_slice(&notes);
    raw.extend_from_slice(b"\r\n--b1--\r\n");
    user.deliver(&raw);
    let env = TestEnv::new();
    run(&env, &user, &["--take", "both"])
        .expect_code(0)
        .expect_quiet();
    assert_eq!(sha256(&env.cold_read("scan.pdf")), sha256(&pdf));
    assert_eq!(env.cold_read("notes.txt"), notes);
    // The whole mail, byte for byte as delivered.
    let eml: Vec<String> = env
        .cold_visible()
        .into_iter()
        .filter(|n| n.ends_with(".eml"))
        .collect();
    assert_eq!(eml.len(), 1, "{}", env.listing());
    assert_eq!(sha256(&env.cold_read(&eml[0])), sha256(&raw));
}

#[test]
fn keep_mode_deposits_nothing_on_the_second_run() {
    let user = Dovecot::get().user("keep");
    for n in 60..63 {
        user.deliver(&pdf_mail(n, 2000).0);
    }
    let before = on_server(&user);
    let env = TestEnv::new();
    run(&env, &user, &["--keep"]).expect_code(0).expect_quiet();
    assert_eq!(env.cold_visible().len(), 3);
    assert_eq!(on_server(&user), before, "--keep changed the server");
    let ran = run(&env, &user, &["--keep", "--json"]);
    ran.expect_code(0);
    assert_eq!(ran.summary()["items_deposited"], 0, "{}", ran.explain());
    assert_eq!(env.cold_visible().len(), 3);
    // A new mail is taken, the old ones still not.
    user.deliver(&pdf_mail(63, 2000).0);
    run(&env, &user, &["--keep"]).expect_code(0);
    assert_eq!(env.cold_visible().len(), 4);
    assert_eq!(user.messages("INBOX").len(), 4);
}

#[test]
fn kept_mails_are_deleted_after_the_given_days() {
    let user = Dovecot::get().user("expire");
    let (old, _) = pdf_mail(70, 1000);
    user.deliver(&old);
    let env = TestEnv::new();
    let args = ["--keep", "--delete-after", "3", "--name", "expire"];
    run(&env, &user, &args).expect_code(0).expect_quiet();
    assert_eq!(user.messages("INBOX").len(), 1, "deleted too early");
    // Four days later, as far as lanceur's own note is concerned.
    let kept = env.state.join("expire").join("pop-kept");
    let text = fs::read_to_string(&kept).unwrap();
    let backdated: String = text
        .lines()
        .map(|line| {
            let (secs, uidl) = line.split_once(' ').unwrap();
            format!("{} {uidl}\n", secs.parse::<u64>().unwrap() - 4 * 86_400)
        })
        .collect();
    fs::write(&kept, backdated).unwrap();
    let (new, _) = pdf_mail(71, 1000);
    user.deliver(&new);
    run(&env, &user, &args).expect_code(0).expect_quiet();
    assert_eq!(
        on_server(&user),
        BTreeSet::from([sha256(&new)]),
        "the old kept mail should be gone and the new one kept"
    );
    assert_eq!(env.cold_visible().len(), 2);
}

#[test]
fn a_damaged_mail_is_reported_and_left_while_the_others_go_through() {
    let user = Dovecot::get().user("damaged");
    user.deliver(&pdf_mail(80, 2000).0);
    let damaged = damaged_mail(81);
    user.deliver(&damaged);
    user.deliver(&pdf_mail(82, 2000).0);
    let env = TestEnv::new();
    let ran = run(&env, &user, &[]);
    ran.expect_code(1)
        .expect_stderr_contains("mail 2 (UIDL ")
        .expect_stderr_contains("damaged")
        .expect_stderr_contains("left at the source");
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.explain());
    assert_eq!(
        env.cold_visible(),
        vec!["facture-0080.pdf", "facture-0082.pdf"]
    );
    let stored = user.messages("INBOX");
    assert_eq!(stored.len(), 1, "only the damaged mail stays on the server");
    assert_eq!(stored[0].bytes, damaged, "the damaged mail was changed");
    run(&env, &user, &[]).expect_code(1);
    assert_eq!(env.cold_visible().len(), 2);
}

#[test]
fn a_dry_run_changes_nothing_on_the_server() {
    let user = Dovecot::get().user("dryrun");
    user.deliver(&pdf_mail(90, 1000).0);
    let env = TestEnv::new();
    let ran = run(&env, &user, &["--dry-run"]);
    ran.expect_code(0);
    assert!(ran.stdout.contains("facture-0090.pdf"), "{}", ran.explain());
    assert!(env.cold_visible().is_empty());
    assert_eq!(user.messages("INBOX").len(), 1);
    let ran = run(&env, &user, &["--dry-run", "--keep", "--delete-after", "1"]);
    ran.expect_code(0);
    assert_eq!(user.messages("INBOX").len(), 1);
    assert!(!env.state.exists(), "a dry run created state");
}

/// Kill -9 at random instants in delete mode, then clean runs: every PDF in the COLD exactly
/// once, none lost, no partial file ever visible, and — checked after every kill — no mail gone
/// from the server whose document is not in the COLD folder.
#[test]
fn kill_9_at_random_instants_loses_nothing_and_takes_nothing_twice() {
    let user = Dovecot::get().user("crash");
    let mut random = Random::from_time();
    let mut mails: BTreeMap<String, String> = BTreeMap::new(); // mail hash -> PDF hash
    let mut pdfs = BTreeSet::new();
    // Enough mails for two batches (two commits) per capped run, so that kills land between them.
    for n in 0..2000u64 {
        let size = 1000 + random.below(30_000) as usize;
        let (raw, pdf) = pdf_mail(1000 + n, size);
        mails.insert(sha256(&raw), sha256(&pdf));
        pdfs.insert(sha256(&pdf));
        user.deliver(&raw);
    }
    let env = TestEnv::new();
    let extra = ["--name", "crash", "--index", "idx", "--max-items", "512"];
    let kills = kill_loop(
        30,
        &mut random,
        160_000,
        || pop_command(&env, &user, &extra),
        || env.cold_count(".pdf"),
        |round| {
            let in_cold = env.cold_by_hash();
            for (hash, names) in &in_cold {
                assert!(
                    pdfs.contains(hash),
                    "partial or unknown document {names:?} visible after kill {round}\n{}",
                    env.listing()
                );
            }
            let still = on_server(&user);
            for (mail, pdf) in &mails {
                assert!(
                    still.contains(mail) || in_cold.contains_key(pdf),
                    "a mail left the server before its document was in the COLD (kill {round})\n{}",
                    env.listing()
                );
            }
        },
    );
    let taken_while_killing = mails.len() - user.messages("INBOX").len();
    for _ in 0..20 {
        run(&env, &user, &extra).expect_code(0);
        if user.messages("INBOX").is_empty() {
            break;
        }
    }
    assert!(
        user.messages("INBOX").is_empty(),
        "mails left on the server"
    );
    let deposited = env.cold_by_hash();
    let twice: Vec<_> = deposited.values().filter(|n| n.len() > 1).collect();
    assert!(twice.is_empty(), "deposited more than once: {twice:?}");
    let missing = pdfs.iter().filter(|h| !deposited.contains_key(*h)).count();
    assert_eq!(missing, 0, "{missing} documents lost\n{}", env.listing());
    assert!(
        env.cold_names().iter().all(|n| !n.starts_with('.')),
        "temporary files left\n{}",
        env.listing()
    );
    eprintln!(
        "{} kills, {} runs finished before their kill, {} killed mid-work, \
         {taken_while_killing} mails taken meanwhile",
        kills.rounds, kills.finished, kills.mid_work
    );
}

#[test]
fn a_connection_cut_mid_mail_deposits_no_partial_mail_and_the_next_run_finishes() {
    let dovecot = Dovecot::get();
    let user = dovecot.user("cut");
    let mails: Vec<(Vec<u8>, Vec<u8>)> = (100..105).map(|n| pdf_mail(n, 20_000)).collect();
    for (raw, _) in &mails {
        user.deliver(raw);
    }
    let env = TestEnv::new();
    // Plaintext on loopback (Dovecot allows it there), cut in the middle of the third mail.
    let budget = mails[0].0.len() + mails[1].0.len() + mails[2].0.len() / 2 + 2000;
    let proxy = Proxy::cutting_once(dovecot.pop3_port, budget);
    // One launcher name for both runs: the derived one includes the port.
    let ran = env.run_command(pop_command_on(
        &env,
        &user,
        proxy.port,
        &["--tls", "none", "--name", "cut"],
    ));
    ran.expect_code(4)
        .expect_stderr_contains("closed the connection while receiving message");
    for (hash, names) in env.cold_by_hash() {
        assert!(
            mails.iter().any(|(_, pdf)| sha256(pdf) == hash),
            "partial document {names:?} deposited\n{}",
            ran.explain()
        );
    }
    // Whatever was deposited could not be deleted (the connection is gone): nothing is lost.
    let still = on_server(&user);
    let in_cold = env.cold_by_hash();
    for (raw, pdf) in &mails {
        assert!(still.contains(&sha256(raw)) || in_cold.contains_key(&sha256(pdf)));
    }
    let second = run(&env, &user, &["--name", "cut"]);
    second.expect_code(0).expect_quiet();
    let deposited = env.cold_by_hash();
    assert_eq!(deposited.len(), 5, "{}", env.listing());
    assert!(
        deposited.values().all(|names| names.len() == 1),
        "{}\n{}",
        ran.explain(),
        second.explain()
    );
    assert!(user.messages("INBOX").is_empty());
}

#[test]
fn a_server_that_never_answers_times_out_with_exit_4() {
    // Accepts the connection, then says nothing.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let silent = std::thread::spawn(move || listener.accept().map(|(socket, _)| socket));
    let env = TestEnv::new();
    let started = std::time::Instant::now();
    let mut command = env.command();
    command.env("LANCEUR_PASSWORD", "pw").args([
        "pop",
        "--server",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--tls",
        "none",
        "--account",
        "nobody",
        "--timeout",
        "1s",
        "--dest",
        env.cold.to_str().unwrap(),
    ]);
    let ran = env.run_command(command);
    ran.expect_code(4)
        .expect_stderr_contains("stopped answering while waiting for the greeting")
        .expect_stderr_contains("--timeout");
    assert!(started.elapsed() < Duration::from_secs(20), "no timeout");
    drop(silent.join());
}
