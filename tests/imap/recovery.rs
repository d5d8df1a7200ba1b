//! `lanceur imap` when things go wrong at the source: a new UIDVALIDITY, a connection cut in the
//! middle of a fetch, `kill -9` at random instants. Each time the next run finishes the job,
//! losing nothing and taking nothing twice.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};

use super::{imap_command, run};
use crate::harness::dovecot::Dovecot;
use crate::harness::mail::pdf_mail;
use crate::harness::proxy::{self, Proxy};
use crate::harness::{kill_loop, names, sha256, Random, TestEnv};

#[test]
fn a_uidvalidity_change_takes_neither_twice_nor_loses() {
    let user = Dovecot::get().user("uidvalidity");
    for n in 0..3 {
        user.deliver(&pdf_mail(70 + n, 2000).0);
    }
    let env = TestEnv::new();
    let args = ["--after", "keep", "--select", "all", "--index", "json"];
    run(&env, &user, &args).expect_code(0);
    assert_eq!(env.cold_visible().len(), 6);
    let before: serde_json::Value =
        serde_json::from_slice(&env.cold_read("facture-0070.pdf.json")).unwrap();
    let old = before["uidvalidity"].as_str().unwrap().to_string();
    // The mailbox is restored or rebuilt: every UID now means something else.
    let new = (old.parse::<u64>().unwrap() + 1000).to_string();
    Dovecot::get().doveadm(&[
        "mailbox",
        "update",
        "-u",
        &user.name,
        "--uid-validity",
        &new,
        "INBOX",
    ]);
    user.deliver(&pdf_mail(73, 2000).0);
    let ran = run(&env, &user, &args);
    ran.expect_code(0);
    let after: serde_json::Value =
        serde_json::from_slice(&env.cold_read("facture-0073.pdf.json")).unwrap();
    assert_eq!(after["uidvalidity"], new.as_str(), "{}", ran.explain());
    let pdfs: Vec<String> = env
        .cold_visible()
        .into_iter()
        .filter(|n| n.ends_with(".pdf"))
        .collect();
    assert_eq!(
        pdfs,
        vec![
            "facture-0070.pdf",
            "facture-0071.pdf",
            "facture-0072.pdf",
            "facture-0073.pdf"
        ],
        "{}",
        ran.explain()
    );
}

#[test]
fn a_connection_cut_mid_fetch_is_a_clean_error_and_the_next_run_finishes() {
    let dovecot = Dovecot::get();
    let user = dovecot.user("cut");
    let mut known = BTreeSet::new();
    for n in 0..5 {
        let (raw, pdf) = pdf_mail(80 + n, 200_000);
        known.insert(sha256(&pdf));
        user.deliver(&raw);
    }
    let env = TestEnv::new();
    // Enough for TLS, login and the listing; the bodies (about 1.3 MB) are cut.
    let proxy = Proxy::cutting_once(dovecot.imaps_port, 400_000);
    let port = proxy.port.to_string();
    let ran = run(&env, &user, &["--port", &port]);
    let forwarded = proxy.forwarded()[0];
    ran.expect_code(4)
        .expect_stderr_contains("the connection was lost while fetching mails")
        .expect_stderr_contains("taken by the next run");
    assert_eq!(forwarded, 400_000, "{}", ran.explain());
    for name in env.cold_names() {
        assert!(
            !name.starts_with('.') || !name.ends_with(".tmp"),
            "temporary file left: {name}"
        );
    }
    for (hash, names) in env.cold_by_hash() {
        assert!(known.contains(&hash), "partial document {names:?}");
    }
    let deposited = env.cold_by_hash().len();
    let seen = user.messages("INBOX").iter().filter(|m| m.seen()).count();
    assert_eq!(seen, deposited, "a mail marked seen must be deposited");
    run(&env, &user, &[]).expect_code(0).expect_quiet();
    let after = env.cold_by_hash();
    assert_eq!(after.len(), 5);
    assert!(after.values().all(|names| names.len() == 1), "{after:?}");
    assert!(user.messages("INBOX").iter().all(|m| m.seen()));
}

#[test]
fn kill_9_at_random_instants_loses_nothing_and_takes_nothing_twice() {
    let user = Dovecot::get().user("kill");
    let mut random = Random::from_time();
    let mut known = BTreeSet::new();
    // Enough mails for two batches (two commits) per capped run, so that kills land between them.
    for n in 0..1500 {
        let size = 1000 + random.below(20_000) as usize;
        let (raw, pdf) = pdf_mail(100 + n, size);
        known.insert(sha256(&pdf));
        user.deliver(&raw);
    }
    let env = TestEnv::new();
    let extra = ["--name", "kill", "--index", "idx", "--max-items", "512"];
    let kills = kill_loop(
        20,
        &mut random,
        800_000,
        || imap_command(&env, &user, "INBOX", &extra),
        || env.cold_count(".pdf"),
        |round| {
            // The COLD only ever shows complete documents.
            for (hash, names) in env.cold_by_hash() {
                assert!(
                    known.contains(&hash),
                    "partial document {names:?} after kill {round}"
                );
            }
        },
    );
    let seen_by_then = user.messages("INBOX").iter().filter(|m| m.seen()).count();
    for _ in 0..10 {
        run(&env, &user, &extra).expect_code(0);
        if user.messages("INBOX").iter().all(|m| m.seen()) {
            break;
        }
    }
    let deposited = env.cold_by_hash();
    let twice: Vec<_> = deposited.values().filter(|n| n.len() > 1).collect();
    assert!(twice.is_empty(), "deposited twice: {twice:?}");
    assert_eq!(deposited.len(), known.len(), "{}", env.listing());
    assert!(
        names(&env.cold).iter().all(|n| !n.starts_with('.')),
        "temporary files left\n{}",
        env.listing()
    );
    assert!(user.messages("INBOX").iter().all(|m| m.seen()));
    eprintln!(
        "{} kills, {} runs finished before their kill, {} killed mid-work, {seen_by_then} mails \
         done by then",
        kills.rounds, kills.finished, kills.mid_work
    );
}

/// Forwards one plaintext connection to `upstream` and cuts it as soon as the client sends
/// `command`. Returns whether it did.
fn proxy_cutting_at(upstream: u16, command: &'static [u8]) -> (u16, std::thread::JoinHandle<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (mut client, _) = listener.accept().unwrap();
        let mut server = TcpStream::connect(("127.0.0.1", upstream)).unwrap();
        let (mut server_in, mut client_out) =
            (server.try_clone().unwrap(), client.try_clone().unwrap());
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut server_in, &mut client_out);
        });
        let mut seen = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            let n = match client.read(&mut buffer) {
                Ok(0) | Err(_) => return false,
                Ok(n) => n,
            };
            seen.extend_from_slice(&buffer[..n]);
            if seen.windows(command.len()).any(|w| w == command) {
                let _ = client.shutdown(Shutdown::Both);
                let _ = server.shutdown(Shutdown::Both);
                return true;
            }
            if server.write_all(&buffer[..n]).is_err() {
                return false;
            }
        }
    });
    (port, handle)
}

#[test]
fn a_connection_lost_while_acknowledging_says_so_once_in_plain_words() {
    // See: issue 16. The batch's line was "source unavailable: source unavailable: … while move
    // mails".
    let dovecot = Dovecot::get();
    let user = dovecot.user("cutack");
    user.folder("Archive");
    for n in 0..2 {
        user.deliver(&pdf_mail(90 + n, 2000).0);
    }
    let env = TestEnv::new();
    let (port, proxy) = proxy_cutting_at(dovecot.imap_port, b"UID MOVE");
    let port = port.to_string();
    let after = [
        "--after",
        "move",
        "--move-to",
        "Archive",
        "--name",
        "cutack",
    ];
    let mut args = vec!["--port", port.as_str(), "--tls", "none"];
    args.extend(after);
    let ran = run(&env, &user, &args);
    assert!(
        proxy.join().unwrap(),
        "the proxy never saw UID MOVE\n{}",
        ran.explain()
    );
    ran.expect_code(4)
        .expect_stderr_contains("the connection was lost while moving mails");
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.explain());
    assert_eq!(
        ran.stderr.matches("source unavailable").count(),
        1,
        "{}",
        ran.explain()
    );
    assert_eq!(
        env.cold_count(".pdf"),
        2,
        "deposited before the acknowledgement"
    );
    // The next run moves them and deposits nothing again.
    run(&env, &user, &after).expect_code(0).expect_quiet();
    assert_eq!(env.cold_count(".pdf"), 2);
    assert!(user.messages("INBOX").is_empty());
    assert_eq!(user.messages("Archive").len(), 2);
}

/// Forwards one plaintext IMAP connection to `upstream`, and puts before every `* SEARCH` answer
/// the notice a server sends when another client changed a mail's flags meanwhile.
fn flag_change_before_searches(upstream: u16) -> u16 {
    proxy::rewriting_lines(upstream, 1, |line| {
        if line.starts_with(b"* SEARCH") {
            [&b"* 1 FETCH (FLAGS (\\Flagged))\r\n"[..], &line].concat()
        } else {
            line
        }
    })
}

#[test]
fn another_clients_flag_change_during_a_search_changes_nothing() {
    // The crate's search failed on this notice ("unexpected parse response"): a run of a busy
    // mailbox then stopped with exit 4.
    let dovecot = Dovecot::get();
    let user = dovecot.user("flagnotice");
    let (raw, pdf) = pdf_mail(97, 2000);
    user.deliver(&raw);
    let env = TestEnv::new();
    let port = flag_change_before_searches(dovecot.imap_port).to_string();
    run(&env, &user, &["--port", port.as_str(), "--tls", "none"])
        .expect_code(0)
        .expect_quiet();
    assert_eq!(env.cold_read("facture-0097.pdf"), pdf);
    assert!(user.messages("INBOX")[0].seen());
}
