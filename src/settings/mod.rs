//! What a launcher is, once checked: plain values, ready to run one cycle.
//!
//! `config` builds these from what the user typed (`cli`); the cycle and the protocols read them.
//! Nothing here parses, checks or touches the system: the types only say what each setting means,
//! so that a protocol depends on its own settings and on nothing of the command line.

use std::path::PathBuf;

use crate::filter::Filter;

mod adullact;
mod dir;
mod imap;
mod mail;
pub mod o365;
pub mod oauth;
mod pop;
mod server;

pub use adullact::{AdullactConfig, Kind};
pub use dir::DirConfig;
pub use imap::{ImapAfter, ImapConfig};
pub use mail::{MailSettings, Rules};
pub use pop::{PopAfter, PopConfig};
pub use server::{Auth, ServerConfig};

/// A launcher, ready to run one cycle.
#[derive(Debug, Clone)]
pub struct Launcher {
    /// Keys the state folder, prefixes messages.
    pub name: String,
    /// This launcher's own state folder (lock, journal).
    pub state_dir: PathBuf,
    pub dest: PathBuf,
    pub filter: Filter,
    pub index: IndexFormat,
    pub max_items: Option<usize>,
    pub max_bytes: Option<u64>,
    /// Runs in a row an item may fail before it is set aside; 0 never sets one aside.
    pub set_aside_after: u32,
    /// `--run-timeout`: the longest a run may last.
    pub run_timeout: std::time::Duration,
    /// `--expect-within` and `--expect-pickup-within`: the watchdogs (`watch.rs`).
    pub watch: Watch,
    pub dry_run: bool,
    /// `lanceur check`: take a run's first steps without their effects (implies `dry_run`).
    pub check: bool,
    /// `lanceur retry`: which items set aside to take again before the run.
    pub retry: Option<Retry>,
    pub json: bool,
    pub verbose: u8,
    /// `--log-file`: where each deposited or failed item gets a JSON line.
    pub log_file: Option<PathBuf>,
    pub source: SourceConfig,
}

/// The watchdogs of a launcher: how long it may go without depositing, and how long a deposited
/// document may wait in the COLD folder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Watch {
    pub expect_within: Option<std::time::Duration>,
    pub expect_pickup_within: Option<std::time::Duration>,
}

/// `lanceur retry`: the items set aside to take again; `All` false and no key lists them only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retry {
    pub all: bool,
    pub keys: Vec<String>,
}

/// Whether and how each document gets an index sidecar (`deposit/sidecar.rs` writes them). The
/// command line takes these words as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum IndexFormat {
    /// No sidecar.
    #[default]
    None,
    /// EzGED's `NAME.idx` with `FIELD = value` lines.
    Idx,
    /// `NAME.ext.json`, one JSON object.
    Json,
}

/// The source of a launcher: one variant per protocol.
#[derive(Debug, Clone)]
pub enum SourceConfig {
    Dir(DirConfig),
    Adullact(AdullactConfig),
    O365(o365::O365Config),
    Imap(ImapConfig),
    Pop(PopConfig),
}
