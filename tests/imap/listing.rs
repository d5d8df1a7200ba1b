//! What a run asks the server while it lists: the mails the journal is done with are listed by
//! their UID alone, without their size or header fields, so that an idle run of a big mailbox
//! under `--select all` costs one search (issue 17); they are still listed, so that the journal
//! keeps them, and the mails the rules refused are judged again. See: issue 17.

use std::collections::BTreeSet;

use super::through_proxy;
use crate::harness::dovecot::{Dovecot, User};
use crate::harness::imap_proxy::{set_holds, Behaviour, Proxy};
use crate::harness::mail::{mail, pdf_mail, Part};
use crate::harness::{sha256, Ran, TestEnv};

/// lanceur (or `lanceur check`, with `check`) through `proxy`, plaintext on loopback.
fn through(env: &TestEnv, user: &User, proxy: &Proxy, check: bool, extra: &[&str]) -> Ran {
    let command = through_proxy(env, user, proxy.port, extra);
    env.run_command(if check {
        env.check_of(&command)
    } else {
        command
    })
}

/// The UIDs (below 100) named by the `UID FETCH` commands sent since `from` whose items contain
/// `what`.
fn fetched(proxy: &Proxy, from: usize, what: &str) -> BTreeSet<u32> {
    let commands = proxy.commands.lock().unwrap();
    let mut uids = BTreeSet::new();
    for line in &commands[from..] {
        let upper = line.to_ascii_uppercase();
        let words: Vec<&str> = upper.split_whitespace().collect();
        if words.len() >= 4 && words[1] == "UID" && words[2] == "FETCH" && upper.contains(what) {
            uids.extend((1..100).filter(|&uid| set_holds(words[3], uid)));
        }
    }
    uids
}

fn sent(proxy: &Proxy) -> usize {
    proxy.commands.lock().unwrap().len()
}

#[test]
fn mails_already_taken_are_listed_by_uid_alone_and_still_known() {
    let dovecot = Dovecot::get();
    let user = dovecot.user("settled");
    let proxy = Proxy::start(dovecot.imap_port, Behaviour::default());
    let env = TestEnv::new();
    // Every mail a candidate, read or not; only subjects starting "Facture 6" or "Facture 7".
    let args = ["--select", "all", "--subject", "/Facture [67]/"];
    let mut pdfs = BTreeSet::new();
    for n in 600..612 {
        let (raw, pdf) = pdf_mail(n, 20_000);
        user.deliver(&raw);
        pdfs.insert(sha256(&pdf));
    }
    through(&env, &user, &proxy, false, &args)
        .expect_code(0)
        .expect_quiet();
    let first = fetched(&proxy, 0, "BODY.PEEK[]");
    assert_eq!(first.len(), 12, "{:?}", proxy.commands.lock().unwrap());
    assert_eq!(fetched(&proxy, 0, "HEADER.FIELDS"), first);

    // Two new invoices, and a mail the rules refuse.
    for n in [700, 701] {
        let (raw, pdf) = pdf_mail(n, 20_000);
        user.deliver(&raw);
        pdfs.insert(sha256(&pdf));
    }
    user.deliver(&mail(
        "Relance 800",
        "relance-800@dupont.example",
        Part::multipart(
            "mixed",
            vec![
                Part::text("Voir la pièce jointe."),
                Part::pdf("relance.pdf", b"%PDF-1.4\n% relance\n"),
            ],
        ),
    ));
    let mark = sent(&proxy);
    through(&env, &user, &proxy, false, &args)
        .expect_code(0)
        .expect_quiet();
    let listed = fetched(&proxy, mark, "HEADER.FIELDS");
    let taken = fetched(&proxy, mark, "BODY.PEEK[]");
    assert!(
        listed.is_disjoint(&first),
        "header fields asked again for mails already taken: {listed:?}"
    );
    assert_eq!(listed.len(), 3, "the three new mails: {listed:?}");
    assert_eq!(taken.len(), 2, "the two new invoices: {taken:?}");
    assert!(taken.is_subset(&listed));
    let refused: Vec<u32> = listed.difference(&taken).copied().collect();

    // The journal still knows the twelve: `check` counts them as deposited, an idle run takes
    // nothing again, and the refused mail is judged (so asked for its header fields) again.
    let mark = sent(&proxy);
    let ran = through(&env, &user, &proxy, true, &args);
    ran.expect_code(0);
    assert!(
        ran.stdout.contains("14 already deposited"),
        "{}",
        ran.explain()
    );
    assert_eq!(
        fetched(&proxy, mark, "HEADER.FIELDS")
            .into_iter()
            .collect::<Vec<_>>(),
        refused
    );
    let mark = sent(&proxy);
    through(&env, &user, &proxy, false, &args)
        .expect_code(0)
        .expect_quiet();
    assert!(fetched(&proxy, mark, "BODY.PEEK[]").is_empty());
    let cold = env.cold_by_hash();
    assert_eq!(cold.keys().cloned().collect::<BTreeSet<_>>(), pdfs);
    assert!(cold.values().all(|names| names.len() == 1), "{cold:?}");
}
