//! Nothing lost, nothing hidden (see: issue 11), for mail: what becomes of what lanceur does not
//! deposit, and how a run ends when it must. Against the real Dovecot (and variants without MOVE)
//! and the fake identity service:
//!
//! - `unmatched.rs`: a mail none of whose documents passes the filters is never deleted;
//! - `aside.rs`: poison mails are set aside once, listed, and retried;
//! - `moves.rs`: kills and cut connections during a move without MOVE leave no duplicate on the
//!   server;
//! - `stops.rs`: signals and deadlines (a trickling server) end a run cleanly;
//! - `secrets.rs`: state files are owner-only, and no secret reaches a log at any verbosity.
//!
//! Office 365's side of the same rules (byte batches, `--max-bytes`, categories) is in
//! `tests/o365/`.

use std::collections::BTreeMap;
use std::process::Command;

use crate::harness::dovecot::User;
use crate::harness::mail::{mail, Part};
use crate::harness::{Ran, TestEnv};

mod aside;
mod moves;
mod secrets;
mod stops;
mod unmatched;

/// `lanceur imap` on the INBOX of `user`, on another `port` of its Dovecot when given.
pub(crate) fn imap_command(
    env: &TestEnv,
    user: &User,
    port: Option<u16>,
    extra: &[&str],
) -> Command {
    let port = port.map(|port| port.to_string());
    let mut args: Vec<&str> = Vec::new();
    if let Some(port) = &port {
        args.extend(["--port", port]);
    }
    args.extend_from_slice(extra);
    crate::imap::imap_command(env, user, "INBOX", &args)
}

pub(crate) fn imap(env: &TestEnv, user: &User, extra: &[&str]) -> Ran {
    env.run_command(imap_command(env, user, None, extra))
}

/// A mail whose only attachment is a `.txt` file, which a PDF filter rejects.
pub(crate) fn text_mail(n: u64) -> Vec<u8> {
    mail(
        &format!("Note {n}"),
        &format!("note-{n}@dupont.example"),
        Part::multipart(
            "mixed",
            vec![
                Part::text("voir la note"),
                Part::base64(
                    &[
                        "Content-Type: text/plain; name=\"note.txt\"",
                        "Content-Disposition: attachment; filename=\"note.txt\"",
                    ],
                    format!("note {n}").as_bytes(),
                ),
            ],
        ),
    )
}

/// Message-IDs of a mailbox's mails, with how many times each is there.
pub(crate) fn message_ids(user: &User, mailbox: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for stored in user.messages(mailbox) {
        let text = String::from_utf8_lossy(&stored.bytes);
        let id = text
            .lines()
            .find_map(|l| l.strip_prefix("Message-ID: "))
            .unwrap_or("?")
            .to_string();
        *out.entry(id).or_default() += 1;
    }
    out
}
