//! The integration suite: one binary (it links once), one module per topic.
//!
//! Every test drives the real `lanceur` binary against real folders (and, for the mail protocols, a
//! real Dovecot started by the harness). A test that needs a server it cannot start fails loudly.

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
mod imap;
mod launcher_file;
mod lost;
mod mail_corpus;
mod mail_rules;
mod o365;
mod oauth;
mod pop;
mod power_cut;
mod progress;
mod run_log;
mod tls;
mod unreadable;
