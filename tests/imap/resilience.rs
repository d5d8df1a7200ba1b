//! What real servers do that a careful client must survive (issue 12, classes 13 and 14): another
//! client changing the mailbox while lanceur fetches, unsolicited responses anywhere (a proxy
//! injects them between lanceur and Dovecot), hostile answers, and a server that fails on one
//! mail. See: issue 12.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;

use super::{imap_command, through_proxy};
use crate::harness::dovecot::{Dovecot, User};
use crate::harness::imap_proxy::{Behaviour, Proxy};
use crate::harness::mail::pdf_mail;
use crate::harness::{sha256, Ran, TestEnv};

/// lanceur through `proxy` (plaintext on loopback, as to a local tunnel).
fn through(env: &TestEnv, user: &User, proxy: &Proxy, extra: &[&str]) -> Ran {
    env.run_command(through_proxy(env, user, proxy.port, extra))
}

fn deliver(user: &User, first: u64, count: u64) -> BTreeSet<String> {
    (first..first + count)
        .map(|n| {
            let (raw, pdf) = pdf_mail(n, 30_000);
            user.deliver(&raw);
            sha256(&pdf)
        })
        .collect()
}

#[test]
fn unsolicited_responses_anywhere_lose_nothing() {
    let dovecot = Dovecot::get();
    let user = dovecot.user("unsolicited");
    let pdfs = deliver(&user, 400, 30);
    let proxy = Proxy::start(
        dovecot.imap_port,
        Behaviour {
            inject: true,
            ..Behaviour::default()
        },
    );
    let env = TestEnv::new();
    through(&env, &user, &proxy, &[])
        .expect_code(0)
        .expect_quiet();
    assert!(
        proxy.injected.load(Ordering::SeqCst) > 30,
        "the proxy injected nothing"
    );
    let landed: BTreeSet<String> = env.cold_by_hash().into_keys().collect();
    assert_eq!(landed, pdfs);
    assert!(user.messages("INBOX").iter().all(|m| m.seen()));
}

#[test]
fn one_mail_the_server_fails_on_is_reported_and_the_others_are_taken() {
    let dovecot = Dovecot::get();
    let user = dovecot.user("crashon");
    let pdfs: Vec<String> = deliver(&user, 500, 6).into_iter().collect();
    // UID 4: the server "crashes" (drops the connection) whenever its body is asked for.
    let proxy = Proxy::start(
        dovecot.imap_port,
        Behaviour {
            crash_on_uid: Some(4),
            ..Behaviour::default()
        },
    );
    let env = TestEnv::new();
    let ran = through(&env, &user, &proxy, &[]);
    ran.expect_code(1)
        .expect_stderr_contains("UID 4")
        .expect_stderr_contains("the server fails when asked for this mail");
    assert!(proxy.crashes.load(Ordering::SeqCst) >= 1);
    assert_eq!(env.cold_by_hash().len(), 5, "{}", ran.explain());
    let seen: Vec<bool> = user.messages("INBOX").iter().map(|m| m.seen()).collect();
    assert_eq!(
        seen.iter().filter(|s| !**s).count(),
        1,
        "only the bad mail stays unseen"
    );
    // Once the server is fixed, the next run takes it.
    drop(proxy);
    super::run(&env, &user, &[]).expect_code(0);
    let landed: BTreeSet<String> = env.cold_by_hash().into_keys().collect();
    assert_eq!(landed, pdfs.into_iter().collect());
}

#[test]
fn a_mail_whose_header_fields_the_server_fails_on_is_listed_without_them() {
    let dovecot = Dovecot::get();
    let user = dovecot.user("crashlist");
    let pdfs = deliver(&user, 550, 9);
    let proxy = Proxy::start(
        dovecot.imap_port,
        Behaviour {
            crash_on_header_of: Some(6),
            ..Behaviour::default()
        },
    );
    let env = TestEnv::new();
    through(&env, &user, &proxy, &[])
        .expect_code(0)
        .expect_quiet();
    assert!(
        proxy.crashes.load(Ordering::SeqCst) >= 2,
        "smaller chunks, down to UID 6"
    );
    let landed: BTreeSet<String> = env.cold_by_hash().into_keys().collect();
    assert_eq!(landed, pdfs);
    // With --subject the rules cannot judge that mail: it fails, reported, and the others are
    // taken.
    let user = dovecot.user("crashlist2");
    deliver(&user, 560, 9);
    let env = TestEnv::new();
    through(&env, &user, &proxy, &["--subject", "Facture"])
        .expect_code(1)
        .expect_stderr_contains("UID 6")
        .expect_stderr_contains("--from and --subject cannot judge it");
    assert_eq!(env.cold_by_hash().len(), 8);
    let unseen = user.messages("INBOX").iter().filter(|m| !m.seen()).count();
    assert_eq!(unseen, 1);
}

#[test]
fn a_hostile_server_cannot_make_lanceur_allocate_gigabytes() {
    let dovecot = Dovecot::get();
    let user = dovecot.user("hostile");
    deliver(&user, 600, 2);
    let proxy = Proxy::start(
        dovecot.imap_port,
        Behaviour {
            huge_literal: Some(8_000_000_000),
            ..Behaviour::default()
        },
    );
    let env = TestEnv::new();
    // With 1 GiB of address space, allocating what the server announces would abort the process.
    let port = proxy.port.to_string();
    let inner = imap_command(
        &env,
        &user,
        "INBOX",
        &["--server", "127.0.0.1", "--port", &port, "--tls", "none"],
    );
    let mut command = std::process::Command::new("sh");
    command
        .arg("-c")
        .arg("ulimit -v 1048576 && exec \"$@\"")
        .arg("sh")
        .arg(inner.get_program())
        .args(inner.get_args());
    command.env_clear();
    for (key, value) in inner.get_envs() {
        if let Some(value) = value {
            command.env(key, value);
        }
    }
    let ran = env.run_command(command);
    ran.expect_code(1)
        .expect_stderr_contains("announced 8000000000 bytes");
    assert!(env.cold_by_hash().is_empty());
    assert!(user.messages("INBOX").iter().all(|m| !m.seen()));
}

/// A second IMAP client that appends, flags and expunges in `user`'s INBOX until told to stop,
/// counting its rounds.
fn busy_client(user: &User, rounds: usize) -> std::thread::JoinHandle<usize> {
    let port = user.dovecot.imap_port;
    let (name, password) = (user.name.clone(), user.password.clone());
    std::thread::spawn(move || {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        let mut tag = 0;
        let mut command = |text: &str, literal: Option<&[u8]>| {
            tag += 1;
            let t = format!("c{tag}");
            match literal {
                Some(bytes) => {
                    writer
                        .write_all(format!("{t} {text} {{{}}}\r\n", bytes.len()).as_bytes())
                        .unwrap();
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    assert!(line.starts_with('+'), "{line}");
                    writer.write_all(bytes).unwrap();
                    writer.write_all(b"\r\n").unwrap();
                }
                None => writer
                    .write_all(format!("{t} {text}\r\n").as_bytes())
                    .unwrap(),
            }
            loop {
                let mut line = String::new();
                assert!(reader.read_line(&mut line).unwrap() > 0);
                if line.starts_with(&format!("{t} ")) {
                    assert!(line.contains("OK"), "{text}: {line}");
                    break;
                }
            }
        };
        let mut greeting = String::new();
        BufReader::new(TcpStream::connect(("127.0.0.1", port)).unwrap())
            .read_line(&mut greeting)
            .unwrap();
        command(&format!("LOGIN {name} {password}"), None);
        command("SELECT INBOX", None);
        for round in 0..rounds {
            let raw = format!(
                "From: other@example.test\r\nSubject: note {round}\r\nMessage-ID: <note{round}@x>\r\n\r\njust a note\r\n"
            );
            command("APPEND INBOX (\\Deleted)", Some(raw.as_bytes()));
            command("STORE 1:* +FLAGS (\\Flagged)", None);
            command("UID EXPUNGE 1:*", None);
        }
        command("LOGOUT", None);
        rounds
    })
}

#[test]
fn another_client_appending_flagging_and_expunging_meanwhile_changes_nothing_taken() {
    let dovecot = Dovecot::get();
    let user = dovecot.user("busy");
    let pdfs = deliver(&user, 700, 200);
    let other = busy_client(&user, 150);
    let env = TestEnv::new();
    super::run(&env, &user, &[]).expect_code(0).expect_quiet();
    assert_eq!(other.join().unwrap(), 150);
    let landed: BTreeSet<String> = env.cold_by_hash().into_keys().collect();
    assert_eq!(landed, pdfs);
    let mails = user.messages("INBOX");
    assert_eq!(
        mails.len(),
        200,
        "the other client removed only its own mails"
    );
    assert!(mails.iter().all(|m| m.seen()));
}
