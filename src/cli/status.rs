//! `lanceur status [DIR]`: every launcher of a folder of launcher files at a glance, for a person
//! or for monitoring (`--json`).

use std::path::PathBuf;

use clap::Args;

pub(super) const LONG_ABOUT: &str = "\
Reads every launcher file (*.toml) of DIR and prints one line per launcher: its last run (when, \
and its exit code), its last deposit, the items it set aside after failing (`lanceur retry` \
takes them again), the next expiry of its sign-in or credentials, and what its watchdogs \
(--expect-within, --expect-pickup-within) would say now. It reads what the runs recorded in each \
launcher's state folder (status.json, set-aside/), and contacts no server.

The exit code is 0 when every launcher is well: its last run ended with 0 (or found the previous \
one still working, 6, or was stopped by a signal, 7), it has run at least once, nothing is set \
aside, no watchdog speaks and its file and state can be read. Otherwise 1; 2 when DIR cannot be \
read. With --json: one JSON object, {\"launchers\": [...]}, the README lists its fields.";

pub(super) const AFTER_HELP: &str = "\
Examples:
  lanceur status
  lanceur status /etc/lanceur --json

crontab line (a daily mail when some launcher needs attention):
  0 7 * * *  lanceur status /etc/lanceur >/dev/null || lanceur status /etc/lanceur";

/// Where launcher files are kept unless told otherwise.
#[cfg(not(windows))]
const DEFAULT_DIR: &str = "/etc/lanceur";
#[cfg(windows)]
const DEFAULT_DIR: &str = r"C:\ProgramData\lanceur";

/// `lanceur status [DIR] [--json]`.
#[derive(Debug, Args, Clone)]
pub struct StatusArgs {
    /// The folder of launcher files (default /etc/lanceur)
    #[arg(value_hint = clap::ValueHint::DirPath, value_name = "DIR", default_value = DEFAULT_DIR)]
    pub dir: PathBuf,

    /// Print one JSON object on standard output instead of the table
    #[arg(long)]
    pub json: bool,
}
