//! The integration suite: one binary (it links once), one module per topic.
//!
//! Every test drives the real `lanceur` binary against real folders (and, for the mail protocols, a
//! real Dovecot started by the harness). A test that needs a server it cannot start fails loudly.
//!
//! The same suite is cross-built for Windows and run under Wine (`scripts/test-windows`): what
//! needs a Linux program (Dovecot, stunnel, unshare, script, python3, git, systemd-analyze) is
//! left out of that build or marked ignored there, with the reason.

// Tests build data with small casts whose range is obvious where they are written.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap
)]

mod harness;

mod adullact;

mod check;
mod cli;
mod crash;
mod dir;
mod examples;
mod filter;
// Against the harness's Dovecot, a Linux program.
#[cfg(unix)]
mod imap;
mod launcher_file;
mod o365;
#[cfg(unix)]
mod pop;
// On a real terminal, through script(1).
#[cfg(unix)]
mod progress;
mod run_log;
// What only Windows does: sharing violations, ACLs, SChannel, volumes by drive letter.
#[cfg(windows)]
mod windows;
