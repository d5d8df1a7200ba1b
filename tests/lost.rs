//! Nothing lost, nothing hidden (see: issue 11): unmatched mails are never deleted, poison items
//! are set aside once and can be retried, a move without MOVE never duplicates mails on the
//! server, a trickling server and a signal end a run cleanly, and state files are owner-only.
//!
//! `folders.rs` runs on every platform (under Wine too); `mail/` needs the real Dovecot (and
//! variants without MOVE), a Linux program.

mod folders;
#[cfg(unix)]
mod mail;
