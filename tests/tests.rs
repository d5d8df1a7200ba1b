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
// Against the harness's Dovecot, a Linux program.
#[cfg(unix)]
mod cron;
// Against Dovecot and openssl s_server (TLS 1.0, resets), and tmpfs for read-only folders.
#[cfg(unix)]
mod diagnoses;
mod dir;
mod examples;
mod filter;
// Against the harness's Dovecot, a Linux program.
#[cfg(unix)]
mod imap;
// kubernetes-validate in a Python venv that scripts/test installs.
#[cfg(unix)]
mod kubernetes;
mod launcher_file;
// The folder sources' poison items everywhere; its mail part against Dovecot.
mod lost;
// Mail delivered to Dovecot and judged by Python's email package.
#[cfg(unix)]
mod mail_corpus;
#[cfg(unix)]
mod mail_rules;
mod o365;
// OAuth for IMAP and POP3, against Dovecot's oauth2 passdb.
#[cfg(unix)]
mod oauth;
#[cfg(unix)]
mod pop;
// strace(1) watching the order of a run's flushes, against a power cut.
#[cfg(unix)]
mod power_cut;
// On a real terminal, through script(1).
#[cfg(unix)]
mod progress;
mod run_log;
// Trust anchors read on demand: strace(1) and the Dovecot.
#[cfg(unix)]
mod tls;
// Permissions that keep the service account out, through setpriv(1). Windows' own way of keeping
// a file from lanceur (another program holding it open) is in `windows`.
#[cfg(unix)]
mod unreadable;
// Linux accounts and HOME, and a Dovecot for the traces of earlier runs; the Windows default
// (%ProgramData%) is unit-tested in config/state.rs.
#[cfg(unix)]
mod state;
mod watchdogs;
// What only Windows does: sharing violations, ACLs, SChannel, volumes by drive letter.
#[cfg(windows)]
mod windows;
// lanceur.exe under Wine, signalled from Linux (scripts/test-windows runs it).
#[cfg(unix)]
mod wine;
