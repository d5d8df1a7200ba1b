//! `lanceur o365` killed with `kill -9` at random instants: nothing lost, nothing twice.

use super::*;
use crate::harness::kill_loop;

// ---------------------------------------------------------------------------------------------
// Crash safety

#[test]
fn kill_9_during_runs_loses_nothing_and_deposits_nothing_twice() {
    let t = O365::new();
    t.fake.state().page_cap = 7;
    t.login(&[]).expect_code(0);
    let mut random = Random::from_time();
    let mut known = BTreeSet::new();
    let mut ids = Vec::new();
    const MAILS: usize = 150;
    const CAP: usize = 10;
    const KILLS: usize = 40;
    for i in 0..MAILS {
        let size = 1 + random.below(100 * 1024) as usize;
        let mut content = format!("document {i}\n").into_bytes();
        content.resize(size.max(content.len()), b'a' + (i % 26) as u8);
        known.insert(sha256(&content));
        ids.push(t.fake.add_mail(
            "me",
            "inbox",
            Mail::new(&format!("mail {i}")).file(
                &format!("doc{i:03}.pdf"),
                "application/pdf",
                &content,
            ),
        ));
    }
    let cap = CAP.to_string();
    let args = t.args(false, &["--index", "idx", "--max-items", &cap]);
    let kills = kill_loop(
        KILLS,
        &mut random,
        120_000,
        || {
            let mut command = t.env.command();
            command.args(&args);
            command
        },
        || t.env.cold_visible().len(),
        |round| {
            for name in t.env.cold_visible() {
                if name.ends_with(".pdf") {
                    assert!(
                        known.contains(&sha256(&t.env.cold_read(&name))),
                        "partial {name} after kill {round}"
                    );
                }
            }
        },
    );
    let during_kills = t
        .env
        .cold_visible()
        .iter()
        .filter(|n| n.ends_with(".pdf"))
        .count();
    for _ in 0..=MAILS / CAP {
        t.run(&["--index", "idx", "--max-items", &CAP.to_string()])
            .expect_code(0);
    }
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for name in t.env.cold_names() {
        assert!(
            !name.starts_with('.'),
            "temporary file {name} left\n{}",
            t.env.listing()
        );
        if name.ends_with(".pdf") {
            seen.entry(sha256(&t.env.cold_read(&name)))
                .or_default()
                .push(name);
        }
    }
    let twice: Vec<_> = seen.values().filter(|n| n.len() > 1).collect();
    assert!(twice.is_empty(), "deposited more than once: {twice:?}");
    assert_eq!(
        seen.len(),
        known.len(),
        "documents lost\n{}",
        t.env.listing()
    );
    let left: Vec<String> = names(&t.env.state.join(NAME))
        .into_iter()
        .filter(|n| n.ends_with(".part") || n.ends_with(".tmp"))
        .collect();
    assert!(
        left.is_empty(),
        "downloads left in the state folder: {left:?}"
    );
    assert!(
        ids.iter().all(|id| t.fake.mail("me", id).unwrap().is_read),
        "mails left unread"
    );
    eprintln!(
        "{} kills, {} runs finished before their kill, {} killed mid-work, {during_kills} \
         documents deposited by killed runs",
        kills.rounds, kills.finished, kills.mid_work
    );
}
