//! Exit codes, and the one place that maps an error to one.
//!
//! A whole-run failure is tagged where it is recognised, with `.context(Failure::Auth)` and the like;
//! `code_for` looks for the tag anywhere in the error chain. An untagged error reaching `main` is a bug
//! or an unforeseen case and exits with `SOURCE` rather than pretending to be a usage error.
//!
//! The table is part of the interface: cron wrappers and monitoring test these numbers, so they never
//! change meaning. It is repeated in `--help` (`cli/mod.rs`, `EXIT_CODES`) and in the README.

use std::fmt;

/// The cycle ran to its end; nothing new is also a success.
pub const OK: u8 = 0;
/// The cycle ran to its end but at least one item failed and was left at the source.
pub const ITEM_FAILED: u8 = 1;
/// Bad command line or configuration (clap uses 2 for its own usage errors too).
pub const USAGE: u8 = 2;
/// Authentication refused, or an interactive login is needed.
pub const AUTH: u8 = 3;
/// The source cannot be reached or misbehaves: DNS, connect, TLS, timeout, protocol, missing mailbox.
pub const SOURCE: u8 = 4;
/// The COLD folder or the state folder is missing, not writable or full.
pub const COLD: u8 = 5;
/// Another run of the same launcher holds the lock.
pub const LOCKED: u8 = 6;
/// Stopped by a signal (SIGINT, SIGTERM, SIGHUP; Ctrl-C, Ctrl-Break, console close on Windows).
pub const INTERRUPTED: u8 = 7;
/// The run went well, but nothing was deposited for longer than `--expect-within`.
pub const NOTHING_NEW: u8 = 8;
/// The run went well, but documents deposited earlier are still in the COLD folder after
/// `--expect-pickup-within`: the COLD is not taking them.
pub const COLD_IDLE: u8 = 9;

/// Kinds of whole-run failure. Attach one as context where the failure is recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Usage,
    Auth,
    Source,
    Cold,
    Locked,
    Interrupted,
}

impl Failure {
    pub fn code(self) -> u8 {
        match self {
            Failure::Usage => USAGE,
            Failure::Auth => AUTH,
            Failure::Source => SOURCE,
            Failure::Cold => COLD,
            Failure::Locked => LOCKED,
            Failure::Interrupted => INTERRUPTED,
        }
    }
}

impl fmt::Display for Failure {
    /// The tag reads as a short prefix in the one-line message, e.g. "authentication failed: …".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Failure::Usage => "invalid configuration",
            Failure::Auth => "authentication failed",
            Failure::Source => "source unavailable",
            Failure::Cold => "cannot deposit",
            Failure::Locked => "already running",
            Failure::Interrupted => "interrupted",
        })
    }
}

/// The launcher an error belongs to, attached where its name is known although the launcher is
/// not complete yet (a configuration mistake), so that the error's line starts `lanceur: NAME:`
/// like every other problem of that launcher. It prints nothing in the chain itself.
#[derive(Debug, Clone)]
pub struct Named(pub String);

impl fmt::Display for Named {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        Ok(())
    }
}

/// The launcher `err` was attached to with `Named`, if any.
pub fn launcher_of(err: &anyhow::Error) -> Option<&str> {
    err.downcast_ref::<Named>().map(|named| named.0.as_str())
}

/// The failure kind an error was tagged with, if any. The outermost tag wins.
pub fn failure_of(err: &anyhow::Error) -> Option<Failure> {
    // anyhow's downcast looks through every context layer, outermost first.
    err.downcast_ref::<Failure>().copied()
}

/// Exit code for an error that ended the run.
pub fn code_for(err: &anyhow::Error) -> u8 {
    match failure_of(err) {
        Some(failure) => failure.code(),
        None => SOURCE,
    }
}

/// The one-line message for an error: its causes joined by ": ", as `{:#}` prints them, with a
/// cause that merely repeats the one before it printed once, and silent ones (`Named`) left out.
pub fn message_for(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if !text.is_empty() && parts.last().is_none_or(|last| *last != text) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

/// `message_for` without the failure tags' words ("source unavailable"), for an error that is
/// copied and tagged again.
pub fn message_without_tags(err: &anyhow::Error) -> String {
    // A tag is a context layer, which anyhow's chain shows only as its text.
    let tags: Vec<String> = [
        Failure::Usage,
        Failure::Auth,
        Failure::Source,
        Failure::Cold,
        Failure::Locked,
    ]
    .iter()
    .map(Failure::to_string)
    .collect();
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if !text.is_empty()
            && !tags.contains(&text)
            && parts.last().is_none_or(|last| *last != text)
        {
            parts.push(text);
        }
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::{anyhow, Context};

    #[test]
    fn untagged_errors_map_to_source() {
        assert_eq!(code_for(&anyhow!("boom")), SOURCE);
    }

    #[test]
    fn tag_is_found_below_later_context() {
        let err = Err::<(), _>(anyhow!("connection refused"))
            .context(Failure::Source)
            .context("imap alice@localhost:993")
            .unwrap_err();
        assert_eq!(code_for(&err), SOURCE);
        assert_eq!(
            message_for(&err),
            "imap alice@localhost:993: source unavailable: connection refused"
        );
    }

    #[test]
    fn a_named_error_keeps_its_message_and_tells_its_launcher() {
        let err = Err::<(), _>(anyhow!("invalid filter pattern"))
            .context(Named("factures".into()))
            .context(Failure::Usage)
            .unwrap_err();
        assert_eq!(launcher_of(&err), Some("factures"));
        assert_eq!(
            message_for(&err),
            "invalid configuration: invalid filter pattern"
        );
        assert_eq!(code_for(&err), USAGE);
    }

    #[test]
    fn outermost_tag_wins() {
        let err = Err::<(), _>(anyhow!("denied"))
            .context(Failure::Auth)
            .context(Failure::Cold)
            .unwrap_err();
        assert_eq!(code_for(&err), COLD);
    }

    #[test]
    fn codes_are_distinct_and_stable() {
        let all = [
            Failure::Usage,
            Failure::Auth,
            Failure::Source,
            Failure::Cold,
            Failure::Locked,
            Failure::Interrupted,
        ];
        let codes: Vec<u8> = all.iter().map(|f| f.code()).collect();
        assert_eq!(codes, vec![2, 3, 4, 5, 6, 7]);
    }
}
