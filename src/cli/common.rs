//! The options every launcher has, whatever its protocol: where to deposit, which names to keep,
//! how to index, run limits, state, output and the watchdogs.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{parse_duration, parse_size};
use crate::settings::IndexFormat;

/// Options every launcher has: where to deposit, which names to keep, how to index, run limits.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Deposit options")]
pub struct CommonArgs {
    /// The COLD's input folder, where documents are deposited
    #[arg(
        value_hint = clap::ValueHint::DirPath,
        short = 'd',
        long,
        value_name = "COLD_FOLDER",
        env = "LANCEUR_DEST",
        long_help = "The input (\"wait\") folder of the EzGED COLD that indexes the documents. \
It must exist: lanceur never creates it, because a missing folder usually means a network share \
that is not mounted. Documents appear there atomically, under names made safe for Windows and \
Linux; a name already present gets a number (scan_2.pdf) and nothing is ever overwritten."
    )]
    pub dest: PathBuf,

    /// Keep only names matching this pattern (repeatable: any may match)
    #[arg(
        short = 'f',
        long = "filter",
        value_name = "PATTERN",
        long_help = "Keep only documents whose name matches PATTERN. Patterns are Python regular \
expressions matched like Python's re.match: anchored at the start of the name, not at its end. \
They may be written between slashes with flags after the closing one (i: ignore case). Lookahead \
and lookbehind work. Repeat the option to allow several patterns; without it, every name is kept.

Examples from the EzGED documentation:
  --filter '/.*\\.(?!db).*/'              skip files whose extension starts with db
  --filter '/(?!debut_nom_fichier).*\\..*/'  skip files whose name starts with debut_nom_fichier
  --filter '/.*\\.pdf$/i'                 PDF files only, whatever the case"
    )]
    pub filter: Vec<String>,

    /// Drop names matching this pattern (repeatable), even if --filter keeps them
    #[arg(
        short = 'x',
        long = "exclude",
        value_name = "PATTERN",
        long_help = "Drop documents whose name matches PATTERN, matched like --filter. Applied \
after --filter: a name must match some --filter (if any) and no --exclude.

Example: --exclude '/.*\\.(exe|bat|js)$/i'"
    )]
    pub exclude: Vec<String>,

    /// Write an index sidecar beside each document: idx (EzGED) or json
    #[arg(
        long,
        value_enum,
        default_value_t = IndexFormat::None,
        value_name = "FORMAT",
        long_help = "Write an index file beside each document, after the document, so its presence \
means the document is complete. idx: EzGED's convention, NAME.idx with FIELD = value lines \
(scan.pdf gets scan.idx). json: NAME.ext.json holding one object. The fields depend on the source \
(for a folder: original name, source path, size, modification time, SHA-256, launcher, deposit \
time)."
    )]
    pub index: IndexFormat,

    /// Launcher name: keys its state (lock, journal) and appears in messages
    #[arg(
        short = 'n',
        long,
        value_name = "NAME",
        long_help = "Names this launcher. Its lock and journal live in STATE_DIR/NAME, and every \
message starts with it. Default: derived from the source (e.g. dir-scans-1f3a9c0e), which is \
fine until you move the source; give a name to keep the journal across such changes. Letters, \
digits, '.', '_' and '-' only."
    )]
    pub name: Option<String>,

    /// Folder holding each launcher's lock and journal
    #[arg(
        value_hint = clap::ValueHint::DirPath,
        long,
        value_name = "DIR",
        env = "LANCEUR_STATE_DIR",
        long_help = "Where launchers keep their state, one subfolder per launcher name. Default: \
/var/lib/lanceur for root, system accounts (uid below 1000) and accounts without a home, so that \
a launcher tried as root and run as a service keeps one journal; $XDG_STATE_HOME/lanceur or \
~/.local/state/lanceur for a person's account. On Windows %ProgramData%\\lanceur for service \
accounts, %LOCALAPPDATA%\\lanceur otherwise. Deleting a launcher's subfolder makes it forget what \
it has deposited."
    )]
    pub state_dir: Option<PathBuf>,

    /// Take at most N items in this run; the rest wait for the next run
    #[arg(
        long,
        value_name = "N",
        long_help = "Stop after N new items (files, mails, envelopes). Items are taken oldest \
first, so a backlog drains over several runs instead of one run that lasts all night."
    )]
    pub max_items: Option<usize>,

    /// Take at most this many bytes in this run (e.g. 500M, 2G)
    #[arg(
        long,
        value_name = "SIZE",
        value_parser = parse_size,
        long_help = "Stop taking new items once their sizes add up to SIZE (suffixes K, M, G; \
powers of 1024). One item larger than SIZE is still taken, alone, so it cannot block the queue."
    )]
    pub max_bytes: Option<u64>,

    /// Set an item aside after it failed this many runs in a row (default 3; 0: never)
    #[arg(
        long,
        value_name = "N",
        default_value_t = 3,
        long_help = "An item that fails the same way in N runs in a row (a damaged mail, a file \
this user cannot read, an envelope that cannot be decoded) is set aside, so that cron does not \
report it every run: a mailbox flags it with the keyword $LanceurSetAside or moves it to \
--set-aside-to, POP3 leaves it on the server and stops downloading it, a folder source moves it \
to --failed (or leaves it there). Its raw bytes are kept in STATE_DIR/NAME/set-aside/. The run \
that sets it aside says so in one line and exits 1; later runs say nothing of it. Until then each \
failure is reported as usual. `lanceur check` lists the items set aside, `lanceur retry` takes \
them again. 0 never sets an item aside. Default: 3."
    )]
    pub set_aside_after: u32,

    /// End the run after this long, finishing the batch in progress (default 1h)
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "1h",
        value_parser = parse_duration,
        long_help = "The longest a run may last: past it, the run takes no new item, finishes \
what it has staged (documents and journal), and ends with exit code 4 and a line that says so; \
what it had not taken waits for the next run, so a backlog drains over several runs. A connection \
waiting on a server is cut at this deadline too. It keeps a stuck run from holding the lock for \
ever, making every later cron run exit 6. Examples: 1h (default), 20m, 6h."
    )]
    pub run_timeout: Duration,

    /// Say so, and exit 8, when nothing was deposited for longer than this (e.g. 1d)
    #[arg(
        long,
        value_name = "DURATION",
        value_parser = parse_duration,
        help_heading = "Watchdogs",
        long_help = "A watchdog for a source that silently stops receiving: a mailbox nobody \
writes to any more (a changed address, a forwarding rule removed), a scanner that died. When a run \
goes well but no run has deposited anything for longer than DURATION (counted from the last run \
that deposited, or from this launcher's first run), the run says so in one line and exits with \
code 8 instead of 0. The times are kept in STATE_DIR/NAME/status.json. `lanceur check` and \
`lanceur status` tell the same. Examples: 1d for invoices that arrive daily, 4h, 1w."
    )]
    pub expect_within: Option<Duration>,

    /// Say so, and exit 9, when deposited documents stay in the COLD folder this long (e.g. 1h)
    #[arg(
        long,
        value_name = "DURATION",
        value_parser = parse_duration,
        help_heading = "Watchdogs",
        long_help = "A watchdog for the COLD itself: EzGED takes the documents out of its input \
folder as it indexes them. When documents that earlier runs deposited are still there after \
DURATION, the COLD is not consuming (EzGED stopped, or this launcher deposits into a folder no \
COLD watches): the run says so in one line, with the oldest document, and exits with code 9 \
instead of 0, rather than let documents pile up in silence. Only documents deposited while the \
option is given are watched (their names are kept in STATE_DIR/NAME/status.json). Examples: 1h, \
30m, 1d."
    )]
    pub expect_pickup_within: Option<Duration>,

    /// Show what would be deposited and why the rest is skipped; change nothing
    #[arg(
        long,
        long_help = "Lists each document that would be deposited, with the name it would get, and \
each item that would be skipped, with the reason. Nothing is deposited, acknowledged or \
journaled, and no state folder is created. Mail sources still connect and read (without marking \
anything read)."
    )]
    pub dry_run: bool,

    /// Print a one-line JSON summary on standard output at the end
    #[arg(
        long,
        long_help = "At the end of the run, print one JSON object on standard output. Items (the \
files, mails or envelopes the source lists) and documents (what lands in the COLD folder: a \
mail's attachments, an envelope's files) are counted apart: launcher, items_seen, \
items_deposited, items_skipped, items_failed, items_reacknowledged, documents_deposited, \
documents_filtered, bytes_deposited, duration_ms, dry_run, exit_code, and error (what stopped the \
run, if anything). The README describes each. Handy for monitoring; cron mails it to you, so \
redirect it to a log."
    )]
    pub json: bool,

    /// Append one JSON line per deposited or failed item to FILE
    #[arg(
        value_hint = clap::ValueHint::FilePath,
        long,
        value_name = "FILE",
        env = "LANCEUR_LOG_FILE",
        long_help = "Append to FILE one JSON line per item deposited and per item that failed, for \
monitoring: time (RFC 3339, UTC), launcher, event (deposited, failed, acknowledge_failed), item, \
key (the journal's identity of the item), documents (the names given in the COLD folder), bytes \
and error. The file is created if needed and never truncated; several launchers may share it. A \
file that cannot be opened stops the run before it starts (exit 2). `lanceur check` does not \
write to it.

Example: --log-file /var/log/lanceur/factures.jsonl"
    )]
    pub log_file: Option<PathBuf>,

    /// More detail on standard error: -v each deposit, -vv debugging
    #[arg(
        short = 'v',
        long = "verbose",
        action = clap::ArgAction::Count,
        long_help = "Without it, lanceur prints nothing unless something needs attention, which \
is what cron wants. -v logs each deposited document and skipped item, -vv adds debugging detail. \
RUST_LOG (e.g. RUST_LOG=lanceur=debug) overrides it."
    )]
    pub verbose: u8,
}
