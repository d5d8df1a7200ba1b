//! `lanceur imap` when things go wrong at the source: a new UIDVALIDITY, a connection cut in the
//! middle of a fetch, `kill -9` at random instants. Each time the next run finishes the job,
//! losing nothing and taking nothing twice.

use std::collections::BTreeSet;

use super::{imap_command, run};
use crate::harness::dovecot::Dovecot;
use crate::harness::mail::pdf_mail;
use crate::harness::proxy::Proxy;
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
