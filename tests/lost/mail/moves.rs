//! No duplicates on the server: `--after move` on servers without MOVE (COPY, `\\Deleted`,
//! EXPUNGE), killed and cut at every step, leaves each mail once in the target.

use std::collections::BTreeSet;

use super::{imap, imap_command, message_ids, text_mail};
use crate::harness::dovecot::Dovecot;
use crate::harness::mail::pdf_mail;
use crate::harness::proxy::Proxy;
use crate::harness::{kill_loop, names, sha256, Random, TestEnv};

/// Kills and cuts a `--after move` run on a server without MOVE at every step; returns the
/// (trials, lost, duplicated in the COLD, duplicated on the server) figures.
fn move_without_move(dovecot: &'static Dovecot, hint: &str) -> (usize, usize, usize, usize) {
    let user = dovecot.user(hint);
    let mut random = Random::from_time();
    let mut invoices = BTreeSet::new();
    // 300 mails for the kills, 300 more for the cuts, and a note that no filter keeps every ten.
    let mut deliver = |from: u64, random: &mut Random| {
        for n in from..from + 300 {
            let (raw, pdf) = pdf_mail(1000 + n, 1000 + random.below(4000) as usize);
            invoices.insert(sha256(&pdf));
            user.deliver(&raw);
            if n % 10 == 0 {
                user.deliver(&text_mail(n));
            }
        }
    };
    deliver(0, &mut random);
    user.folder("Archives");
    let env = TestEnv::new();
    let extra = [
        "--name",
        "mv",
        "--move-to",
        "Archives",
        "--filter",
        r"/.*\.pdf$/i",
        "--max-items",
        "60",
    ];
    // kill -9, aimed at the moment documents land (between deposit and the move) and at random.
    let kills = kill_loop(
        12,
        &mut random,
        600_000,
        || imap_command(&env, &user, None, &extra),
        || env.cold_count(".pdf"),
        |_| {},
    );
    // Cut connections: the server's answers stop after a random number of bytes.
    deliver(300, &mut random);
    let limits: Vec<usize> = (0..12)
        .map(|_| 2000 + random.below(150_000) as usize)
        .collect();
    let cuts = limits.len();
    let proxy = Proxy::cutting(dovecot.imaps_port, limits.clone());
    let before_cuts = env.cold_count(".pdf");
    for _ in 0..cuts {
        let ran = env.run_command(imap_command(&env, &user, Some(proxy.port), &extra));
        assert!(matches!(ran.code, 0 | 4), "{}", ran.explain());
    }
    // A run reconnects after a cut and may still end well; what proves the loop is connections
    // that really were cut (the server had more to say) while the runs took mails.
    let cut = proxy
        .forwarded()
        .iter()
        .zip(&limits)
        .filter(|(forwarded, limit)| forwarded == limit)
        .count();
    assert!(cut > 0, "no connection was cut: {:?}", proxy.forwarded());
    assert!(
        env.cold_count(".pdf") > before_cuts,
        "the runs with cuts took nothing"
    );
    for _ in 0..10 {
        imap(&env, &user, &extra).expect_code(0);
    }
    let deposited = env.cold_by_hash();
    let lost = invoices
        .iter()
        .filter(|h| !deposited.contains_key(*h))
        .count();
    let twice_cold = deposited.values().filter(|n| n.len() > 1).count();
    let archived = message_ids(&user, "Archives");
    let twice_server = archived.values().filter(|n| **n > 1).count();
    // Every invoice moved exactly once; every note left in INBOX, never moved.
    assert_eq!(archived.len(), invoices.len(), "{}", env.listing());
    assert!(archived.keys().all(|id| id.contains("facture")));
    let inbox = message_ids(&user, "INBOX");
    assert_eq!(inbox.len(), 60, "{inbox:?}");
    assert!(inbox.keys().all(|id| id.contains("note")), "{inbox:?}");
    assert!(
        names(&env.cold).iter().all(|n| !n.starts_with('.')),
        "temporary files left"
    );
    let trials = kills.rounds + cuts;
    eprintln!(
        "{hint}: {trials} trials ({} kills, {} mid-work; {cuts} runs through the cutting proxy, \
         {cut} connections cut): {lost} lost, {twice_cold} twice in the COLD, {twice_server} \
         twice on the server",
        kills.rounds, kills.mid_work
    );
    (trials, lost, twice_cold, twice_server)
}

#[test]
fn kills_and_cuts_during_a_move_without_move_leave_no_duplicate_on_the_server() {
    for (dovecot, hint) in [
        (Dovecot::no_move(), "nomove"),
        (Dovecot::legacy(), "legacymove"),
    ] {
        let (_, lost, twice_cold, twice_server) = move_without_move(dovecot, hint);
        assert_eq!((lost, twice_cold, twice_server), (0, 0, 0), "{hint}");
    }
}
