//! `--from` and `--subject` (issue 12, class 12): a mail that does not match is not taken, left
//! untouched at the source and not journaled, so a later run without the rule takes it. Over IMAP
//! (decided from the listing's header fields) and POP3 (from `TOP n 0`). See: issue 12.

use crate::harness::dovecot::Dovecot;
use crate::harness::dovecot::User;
use crate::harness::mail::{fake_pdf, mail, Part};
use crate::harness::{sha256, TestEnv};
use crate::imap::imap_command;
use crate::pop::pop_command;

/// Three mails: (dupont, "Facture 7"), (dupont, newsletter), (someone else, "Facture 9"); the
/// PDF of each.
fn deliver_three(user: &User) -> [Vec<u8>; 3] {
    let shapes = [
        (
            "=?utf-8?q?Soci=C3=A9t=C3=A9_Dupont?= <factures@dupont.example>",
            "Facture 7",
            7,
        ),
        (
            "Dupont <lettre@dupont.example>",
            "=?utf-8?q?Lettre_d'information_de_mars?=",
            8,
        ),
        ("Martin <compta@martin.example>", "Facture 9", 9),
    ];
    shapes.map(|(from, subject, n)| {
        let pdf = fake_pdf(n, 3000);
        let raw = mail(
            subject,
            &format!("rules-{n}@example.test"),
            Part::multipart(
                "mixed",
                vec![
                    Part::text("ci-joint"),
                    Part::pdf(&format!("doc-{n}.pdf"), &pdf),
                ],
            ),
        );
        let raw = String::from_utf8(raw).unwrap().replace(
            "From: =?utf-8?q?Soci=C3=A9t=C3=A9_Dupont?= <factures@dupont.example>",
            &format!("From: {from}"),
        );
        user.deliver(raw.as_bytes());
        pdf
    })
}

const RULES: [&str; 4] = [
    "--from",
    r"/.*@dupont\.example/i",
    "--subject",
    "/factures?/i",
];

#[test]
fn imap_takes_only_the_mails_the_rules_match_and_leaves_the_others_unseen() {
    let user = Dovecot::get().user("rulesimap");
    let pdfs = deliver_three(&user);
    let env = TestEnv::new();
    env.run_command(imap_command(&env, &user, "INBOX", &RULES))
        .expect_code(0)
        .expect_quiet();
    let landed = env.cold_by_hash();
    assert_eq!(landed.len(), 1, "{landed:?}");
    assert!(landed.contains_key(&sha256(&pdfs[0])));
    let seen: Vec<bool> = user.messages("INBOX").iter().map(|m| m.seen()).collect();
    assert_eq!(seen, vec![true, false, false]);
    // A dry run says why the others are not taken.
    let mut dry = RULES.to_vec();
    dry.push("--dry-run");
    let ran = env.run_command(imap_command(&env, &user, "INBOX", &dry));
    ran.expect_code(0);
    let said = format!("{}{}", ran.stdout, ran.stderr);
    assert!(
        said.contains("matches no --subject pattern"),
        "{}",
        ran.explain()
    );
    assert!(
        said.contains("matches no --from pattern"),
        "{}",
        ran.explain()
    );
    // Not journaled: without the rules, the next run takes them.
    env.run_command(imap_command(&env, &user, "INBOX", &[]))
        .expect_code(0);
    assert_eq!(env.cold_by_hash().len(), 3);
    assert!(user.messages("INBOX").iter().all(|m| m.seen()));
}

#[test]
fn pop3_judges_the_rules_on_the_headers_and_leaves_the_others_on_the_server() {
    let user = Dovecot::get().user("rulespop");
    let pdfs = deliver_three(&user);
    let env = TestEnv::new();
    env.run_command(pop_command(&env, &user, &RULES))
        .expect_code(0)
        .expect_quiet();
    let landed = env.cold_by_hash();
    assert_eq!(landed.len(), 1, "{landed:?}");
    assert!(landed.contains_key(&sha256(&pdfs[0])));
    assert_eq!(
        user.messages("INBOX").len(),
        2,
        "only the matching mail is deleted"
    );
    env.run_command(pop_command(&env, &user, &[]))
        .expect_code(0);
    assert_eq!(env.cold_by_hash().len(), 3);
    assert!(user.messages("INBOX").is_empty());
}
