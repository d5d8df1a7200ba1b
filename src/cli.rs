//! The command line, as the user types it: one subcommand per source, sharing the deposit options.
//!
//! This holds raw values only; `config.rs` checks them and turns them into a `Launcher`. Every flag has
//! a one-line help and a long help (`--help`) with its default, its interactions and an example.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::deposit::IndexFormat;
pub use crate::tls::TlsMode;

pub const EXIT_CODES: &str = "\
Exit codes:
  0  the cycle ran to its end (including when there was nothing new)
  1  the cycle ran, but some items failed; they were left at the source for the next run
  2  usage or configuration error (bad option, invalid pattern, unreadable secret file)
  3  authentication refused, or a login is needed
  4  source unavailable: folder missing, DNS, connection, TLS, timeout, protocol error
  5  the COLD folder (or the state folder) is missing, not writable or full
  6  another run of the same launcher is still working; this one did nothing";

const ABOUT_LONG: &str = "\
Fetches new documents from one source, keeps those whose names pass the filters, deposits them \
into the input folder of an EzGED COLD, marks them done at the source, and exits. Run it from cron \
or the Windows Task Scheduler; it is silent unless something needs attention.

Every deposit is atomic (the COLD never sees a partial file), nothing in the COLD folder is ever \
overwritten, and a journal makes a run that was killed half-way finish its work on the next run \
without depositing anything twice.";

#[derive(Debug, Parser)]
#[command(
    name = "lanceur",
    version,
    about = "Feeds documents from folders and mailboxes into an EzGED COLD input folder",
    long_about = ABOUT_LONG,
    after_help = EXIT_CODES,
    propagate_version = true,
    help_expected = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Deposit the files of a local or network folder
    #[command(
        long_about = "Deposits the files of a folder (a scanner's output, an SMB share, an FTP \
upload folder) into the COLD folder, then deletes them or moves them to an archive folder.

A file is taken only when it has not changed for --min-age and does not look like a file still \
being written (*.part, *.filepart, *.crdownload, *.tmp, ~$*, hidden files) or system clutter \
(Thumbs.db, desktop.ini).",
        after_help = DIR_AFTER_HELP
    )]
    Dir(DirArgs),

    /// Deposit the attachments of the mails of an IMAP mailbox (Gmail, Outlook, Dovecot…)
    #[command(
        long_about = "Deposits the attachments (or whole mails, --take) of new mails of one IMAP \
mailbox into the COLD folder, then marks them seen (or moves or deletes them, --after).

The password comes from the environment variable LANCEUR_PASSWORD or from --password-file, never \
from the command line, where every user of the machine could read it with ps. For Gmail, use an \
app password (Google account > Security > App passwords), or an OAuth2 access token with \
LANCEUR_TOKEN or --token-file (XOAUTH2, Gmail and Outlook).",
        after_help = IMAP_AFTER_HELP
    )]
    Imap(ImapArgs),

    /// Deposit the attachments of the mails of a POP3 mailbox (over TLS, STLS or a local stunnel)
    #[command(
        long_about = "Deposits the attachments (or whole mails, --take) of the mails of a POP3 \
mailbox into the COLD folder, then deletes them from the server (or keeps them, --keep).

The password comes from the environment variable LANCEUR_PASSWORD or from --password-file, never \
from the command line, where every user of the machine could read it with ps. An OAuth2 access \
token (Outlook, Gmail) can be given instead with LANCEUR_TOKEN or --token-file (AUTH XOAUTH2).

lanceur speaks TLS itself (port 995 by default, or STLS with --tls starttls). An stunnel tunnel \
set up for older launchers (client = yes, accept = 127.0.0.1:110, connect = pop.gmail.com:995) \
still works: --server 127.0.0.1 --tls none.

Each mail is remembered by its UIDL, so a mail is deposited once even when it stays on the server. \
It is deleted from the server only once its documents are in the COLD folder and journaled. The \
journal belongs to the launcher's name, which by default includes the server and port: give \
--name to keep it when moving from a stunnel tunnel to direct TLS with --keep.",
        after_help = POP_AFTER_HELP
    )]
    Pop(PopArgs),
}

const POP_AFTER_HELP: &str = "\
Examples:
  LANCEUR_PASSWORD='abcd efgh ijkl mnop' lanceur pop --server pop.gmail.com \\
      --account factures@example.fr --dest /srv/ezged/cold/factures --filter '/.*\\.pdf/i'
  lanceur pop --server mail.example.fr --tls starttls --account scan \\
      --password-file /etc/lanceur/scan.pw --keep --delete-after 30 --dest /srv/cold/in
  lanceur pop --server 127.0.0.1 --port 110 --tls none --account f@gmail.com \\
      --password-file /etc/lanceur/f.pw --dest /srv/cold/in        # through a local stunnel

crontab line (every 5 minutes; overlapping runs exit with code 6 and do nothing):
  */5 * * * *  lanceur pop --server pop.gmail.com --account f@example.fr \\
      --password-file /etc/lanceur/f.pw --dest /srv/ezged/cold/factures

Environment: LANCEUR_PASSWORD, LANCEUR_TOKEN, LANCEUR_DEST, LANCEUR_STATE_DIR, RUST_LOG.

Exit codes: 0 done, 1 some mails failed (left on the server), 2 usage, 3 login refused,
4 server unreachable, TLS or protocol failure, 5 COLD folder not writable, 6 already running.";

const IMAP_AFTER_HELP: &str = "\
Examples:
  LANCEUR_PASSWORD='abcd efgh ijkl mnop' lanceur imap --server imap.gmail.com \\
      --account factures@example.fr --folder INBOX --dest /srv/ezged/cold/factures --filter '/.*\\.pdf/i'
  lanceur imap --server mail.example.fr --account scan --password-file /etc/lanceur/scan.pw \\
      --folder 'Reçus' --select all --since 2025-01-01 --after move --move-to Archivé --dest /srv/cold/in

crontab line (every 5 minutes; overlapping runs exit with code 6 and do nothing):
  */5 * * * *  lanceur imap --server imap.gmail.com --account f@example.fr \\
      --password-file /etc/lanceur/f.pw --dest /srv/ezged/cold/factures

Environment: LANCEUR_PASSWORD, LANCEUR_TOKEN, LANCEUR_DEST, LANCEUR_STATE_DIR, RUST_LOG.

Exit codes: 0 done, 1 some mails failed (left on the server), 2 usage, 3 login refused,
4 server unreachable, TLS failure or missing folder, 5 COLD folder not writable, 6 already running.";

const DIR_AFTER_HELP: &str = "\
Examples:
  lanceur dir --source /srv/scans --dest /srv/ezged/cold/scans --filter '/.*\\.pdf/i'
  lanceur dir -s /mnt/share/in -d /srv/cold/in --archive /mnt/share/done --index idx

crontab line (every minute; overlapping runs exit with code 6 and do nothing):
  * * * * *  lanceur dir --source /srv/scans --dest /srv/ezged/cold/scans

Environment: LANCEUR_DEST, LANCEUR_STATE_DIR, RUST_LOG (e.g. RUST_LOG=debug).

Exit codes: 0 done, 1 some items failed, 2 usage, 3 authentication, 4 source unavailable,
5 COLD folder not writable, 6 already running.";

/// Options every launcher has: where to deposit, which names to keep, how to index, run limits.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Deposit options")]
pub struct CommonArgs {
    /// The COLD's input folder, where documents are deposited
    #[arg(
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
        long,
        value_name = "DIR",
        env = "LANCEUR_STATE_DIR",
        long_help = "Where launchers keep their state, one subfolder per launcher name. Default: \
$XDG_STATE_HOME/lanceur or ~/.local/state/lanceur on Linux, %LOCALAPPDATA%\\lanceur on Windows. \
Deleting a launcher's subfolder makes it forget what it has deposited."
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
        long_help = "At the end of the run, print one JSON object on standard output: launcher, \
items seen, deposited, skipped, failed, documents, bytes, duration in milliseconds, exit code, \
and the error that stopped the run, if any. Handy for monitoring; cron mails it to you, so \
redirect it to a log."
    )]
    pub json: bool,

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

/// What to deposit from a mail; defined beside the code that does it.
pub use crate::extract::mail::Take;

/// Options shared by the mail protocols (imap, pop, o365).
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Mail options")]
pub struct MailArgs {
    /// What to deposit from each mail: attachments, eml or both
    #[arg(
        long,
        value_enum,
        default_value_t = Take::Attachments,
        value_name = "WHAT",
        long_help = "attachments (default): each attached file under its decoded name, attached \
mails (message/rfc822) as .eml files, and inline parts only when they are real documents (a PDF \
marked inline is a document, a signature logo is not). eml: the whole mail as one .eml file. \
both: the two. The filters apply to these names. A mail whose documents are all filtered out (or \
that has none) is still acknowledged and journaled, so it is never downloaded again."
    )]
    pub take: Take,
}

/// How to reach a mail server and log in; shared by the mail protocols (imap, pop). The protocol
/// chooses the default port.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Server options")]
pub struct ServerArgs {
    /// The mail server's host name, e.g. imap.gmail.com
    #[arg(
        long,
        value_name = "HOST",
        long_help = "The mail server (\"serveur\" in the EzGED form), e.g. imap.gmail.com, \
outlook.office365.com, pop.gmail.com, or 127.0.0.1 for a local stunnel. With TLS, the server's \
certificate must name this host."
    )]
    pub server: String,

    /// The server's port [default: 993 for IMAP, 995 for POP3; 143/110 with --tls starttls|none]
    #[arg(
        long,
        value_name = "PORT",
        long_help = "The server's port. Default: the protocol's TLS port (IMAP 993, POP3 995), \
or its plaintext port (IMAP 143, POP3 110) with --tls starttls or --tls none."
    )]
    pub port: Option<u16>,

    /// The account to log in as, e.g. factures@example.fr
    #[arg(
        long,
        value_name = "USER",
        long_help = "The account (\"compte\" in the EzGED form): usually the full mail address."
    )]
    pub account: String,

    /// Read the password from this file (or set LANCEUR_PASSWORD; never on the command line)
    #[arg(
        long,
        value_name = "FILE",
        long_help = "Read the password from FILE (one trailing line break is ignored). Make it \
readable by the user running lanceur only (chmod 600). Without it, the password comes from the \
environment variable LANCEUR_PASSWORD. There is deliberately no --password option: a command \
line is visible to every user of the machine (ps) and in the Task Scheduler's history. For Gmail, \
use an app password."
    )]
    pub password_file: Option<PathBuf>,

    /// The password, from LANCEUR_PASSWORD only (a value typed on the command line is refused)
    #[arg(
        long = "password",
        env = "LANCEUR_PASSWORD",
        hide_env_values = true,
        hide = true,
        value_name = "PASSWORD"
    )]
    pub password: Option<String>,

    /// Log in with XOAUTH2, reading the OAuth2 access token from this file (or LANCEUR_TOKEN)
    #[arg(
        long,
        value_name = "FILE",
        long_help = "Log in with SASL XOAUTH2 (Gmail, Outlook) using the OAuth2 access token in \
FILE instead of a password. The environment variable LANCEUR_TOKEN does the same. lanceur does \
not refresh the token: whatever obtains it (a cron job before lanceur) must keep it fresh."
    )]
    pub token_file: Option<PathBuf>,

    /// The OAuth2 token, from LANCEUR_TOKEN only (a value typed on the command line is refused)
    #[arg(
        long = "token",
        env = "LANCEUR_TOKEN",
        hide_env_values = true,
        hide = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,

    /// implicit (TLS from the start, default), starttls, or none (only for a local tunnel)
    #[arg(
        long,
        value_enum,
        default_value_t = TlsMode::Implicit,
        value_name = "MODE",
        long_help = "How the connection is encrypted. implicit (default): TLS from the first byte \
(ports 993, 995). starttls: a plaintext connection upgraded with STARTTLS/STLS before the login \
(ports 143, 110); lanceur stops if the server cannot upgrade. none: no encryption at all, only \
for a tunnel on this machine such as stunnel (accept = 127.0.0.1:110, connect = pop.gmail.com:995); \
lanceur warns when the server is not on loopback."
    )]
    pub tls: TlsMode,

    /// Trust the certificate authority in this PEM file (a private server's CA)
    #[arg(
        long,
        value_name = "FILE",
        long_help = "Also trust the certificate authority (or self-signed certificate) in FILE, \
PEM format, besides the system's store. For servers with a private CA. The certificate must still \
name --server."
    )]
    pub ca_file: Option<PathBuf>,

    /// DANGER: accept any certificate (no verification); warned on every run
    #[arg(
        long,
        long_help = "Accept any certificate and any host name: the connection is encrypted but \
anyone on the network path can pretend to be the server and read the password. Every run warns \
about it. Prefer --ca-file."
    )]
    pub danger_accept_invalid_certs: bool,

    /// Give up on a server that does not answer for this long
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "60s",
        value_parser = parse_duration,
        long_help = "How long to wait for the connection, and for each answer of the server, \
before giving up with exit code 4. Examples: 60s (default), 2m."
    )]
    pub timeout: Duration,
}

/// Which mails of the mailbox are candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Select {
    /// Mails not marked seen (read)
    #[default]
    Unseen,
    /// Every mail lanceur has not taken yet, read or not
    All,
}

/// What happens to a mail on the server once its documents are deposited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum After {
    /// Mark it seen (read)
    Seen,
    /// Move it to --move-to
    Move,
    /// Delete it (expunge)
    Delete,
    /// Leave it as it is; the journal remembers it
    Keep,
}

#[derive(Debug, Args, Clone)]
pub struct ImapArgs {
    #[command(flatten)]
    pub server: ServerArgs,

    /// The mailbox to read, e.g. INBOX, Factures, [Gmail]/All Mail
    #[arg(
        long,
        value_name = "MAILBOX",
        default_value = "INBOX",
        long_help = "The mailbox (\"chemin source\" in the EzGED form), as the server names it, \
with its own hierarchy separator: INBOX (default), Factures, Clients/Reçus (non-ASCII names \
work), [Gmail]/Tous les messages. Names are case-sensitive, except INBOX."
    )]
    pub folder: String,

    /// Which mails to take: unseen (default) or all that lanceur has not taken yet
    #[arg(
        long,
        value_enum,
        default_value_t = Select::Unseen,
        value_name = "WHICH",
        long_help = "unseen (default): mails not marked read. Simple, but a mail that someone \
opens in a webmail or on a phone before the run is never taken, silently. all: every mail that \
the journal says lanceur has not taken, read or not, so nothing is missed; on the first run that \
is the whole mailbox, so give --since as well (and --max-items to spread a big backlog over \
several runs)."
    )]
    pub select: Select,

    /// Only mails received on or after this date (2025-01-31) or within this long (30d)
    #[arg(
        long,
        value_name = "DATE|AGE",
        value_parser = parse_since,
        long_help = "Only consider mails the server received on or after DATE (YYYY-MM-DD), or \
within AGE before the run (e.g. 30d, 2w). Mainly for --select all, so that a first run on an old \
mailbox does not flood the COLD. Dates are whole days, as IMAP searches them."
    )]
    pub since: Option<Since>,

    /// After deposit: seen (default), move (to --move-to), delete, or keep
    #[arg(
        long,
        value_enum,
        value_name = "ACTION",
        long_help = "What happens to a mail once its documents are in the COLD folder and the \
journal: seen (default; move when --move-to is given) marks it read; move puts it into \
--move-to (MOVE, or COPY + delete where the server lacks MOVE); delete removes it for good (on \
Gmail it only leaves the folder); keep leaves it untouched, and the journal alone remembers it. \
A mail whose documents were all filtered out, or that has none, is acknowledged the same way: it \
is never downloaded again."
    )]
    pub after: Option<After>,

    /// The mailbox taken mails are moved to (implies --after move)
    #[arg(
        long,
        value_name = "MAILBOX",
        long_help = "Move each taken mail into MAILBOX, which must exist, e.g. Archives or \
[Gmail]/Corbeille. Implies --after move."
    )]
    pub move_to: Option<String>,

    #[command(flatten)]
    pub mail: MailArgs,

    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args, Clone)]
pub struct PopArgs {
    #[command(flatten)]
    pub server: ServerArgs,

    /// Leave the mails on the server; the journal remembers them by UIDL
    #[arg(
        long,
        long_help = "Leave each mail on the server once its documents are deposited, instead of \
deleting it (the default). lanceur remembers it by its UIDL and never deposits it again. Without \
--delete-after the mailbox grows for ever; with Gmail, its POP settings decide what happens to \
a mail once downloaded."
    )]
    pub keep: bool,

    /// With --keep: delete a kept mail DAYS days after lanceur took it
    #[arg(
        long,
        value_name = "DAYS",
        requires = "keep",
        value_parser = clap::value_parser!(u32).range(1..),
        long_help = "With --keep, delete each mail from the server DAYS days after lanceur \
deposited it, as getmail's delete_after does: the mail stays readable on the server for a \
while, and the mailbox does not grow for ever. The dates are kept in the launcher's state \
folder (pop-kept). Example: --keep --delete-after 30"
    )]
    pub delete_after: Option<u32>,

    #[command(flatten)]
    pub mail: MailArgs,

    #[command(flatten)]
    pub common: CommonArgs,
}

/// The first-run window of `--since`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// A calendar day: year, month, day.
    Date(i32, u32, u32),
    /// A time before the run.
    Age(Duration),
}

fn parse_since(text: &str) -> Result<Since, String> {
    let parts: Vec<&str> = text.trim().split('-').collect();
    if let [y, m, d] = parts.as_slice() {
        if let (Ok(y), Ok(m), Ok(d)) = (y.parse::<i32>(), m.parse::<u32>(), d.parse::<u32>()) {
            if (1970..=9999).contains(&y) && (1..=12).contains(&m) && (1..=31).contains(&d) {
                return Ok(Since::Date(y, m, d));
            }
        }
        return Err(format!("invalid date {text:?} (example: 2025-01-31)"));
    }
    humantime::parse_duration(text)
        .map(Since::Age)
        .map_err(|_| format!("invalid --since {text:?} (examples: 2025-01-31, 30d, 2w)"))
}

#[derive(Debug, Args, Clone)]
pub struct DirArgs {
    /// The folder to take files from
    #[arg(
        short = 's',
        long,
        value_name = "FOLDER",
        long_help = "The folder to take files from (\"chemin source\" in the EzGED form). Only \
regular files directly inside it are taken, unless --recursive."
    )]
    pub source: PathBuf,

    /// Also take files from subfolders
    #[arg(
        short = 'r',
        long,
        long_help = "Also take files from subfolders, at any depth (hidden folders excepted). \
The folders themselves are left in place, even when emptied."
    )]
    pub recursive: bool,

    /// Take a file only once it has not changed for this long
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "5s",
        value_parser = parse_duration,
        long_help = "A file whose modification time is more recent than this is left for a later \
run, because a scanner, a copy or an upload may still be writing it; its size and time are \
checked again just before it is taken. Examples: 5s (default), 1m, 0s to take files at once."
    )]
    pub min_age: Duration,

    /// Move taken files here instead of deleting them
    #[arg(
        long,
        value_name = "FOLDER",
        long_help = "After a file is deposited and journaled, move it to FOLDER instead of \
deleting it (subfolders are recreated with --recursive). A name already present in FOLDER gets \
a number. Moving across volumes is a copy, fsync and delete."
    )]
    pub archive: Option<PathBuf>,

    #[command(flatten)]
    pub common: CommonArgs,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    if text.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(text).map_err(|err| format!("{err} (examples: 5s, 2m, 1h)"))
}

/// `123`, `10K`, `500M`, `2G`, `1.5G` (powers of 1024; a trailing B or iB is accepted).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let upper = trimmed.to_ascii_uppercase();
    let without_b = upper
        .strip_suffix("IB")
        .or_else(|| upper.strip_suffix('B'))
        .unwrap_or(&upper);
    let (number, multiplier) = match without_b.chars().last() {
        Some('K') => (&without_b[..without_b.len() - 1], 1u64 << 10),
        Some('M') => (&without_b[..without_b.len() - 1], 1 << 20),
        Some('G') => (&without_b[..without_b.len() - 1], 1 << 30),
        Some('T') => (&without_b[..without_b.len() - 1], 1 << 40),
        _ => (without_b, 1),
    };
    let invalid = || format!("invalid size {text:?} (examples: 500M, 2G, 1048576)");
    if let Ok(whole) = number.trim().parse::<u64>() {
        return whole.checked_mul(multiplier).ok_or_else(invalid);
    }
    let value: f64 = number.trim().parse().map_err(|_| invalid())?;
    if !(value.is_finite() && value >= 0.0) {
        return Err(invalid());
    }
    // Whole bytes; values beyond u64 saturate, which no disk reaches.
    let bytes = (value * multiplier as f64).round();
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("123"), Ok(123));
        assert_eq!(parse_size("10k"), Ok(10 * 1024));
        assert_eq!(parse_size("500M"), Ok(500 << 20));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("1.5G"), Ok(3 << 29));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("-1M").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn dir_flags_parse() {
        let cli = Cli::try_parse_from([
            "lanceur",
            "dir",
            "-s",
            "in",
            "-d",
            "cold",
            "-f",
            "a",
            "-f",
            "b",
            "-x",
            "c",
            "--index",
            "idx",
            "--max-items",
            "3",
            "--max-bytes",
            "1M",
            "--min-age",
            "0s",
            "-vv",
        ])
        .unwrap();
        let Command::Dir(args) = cli.command else {
            panic!("not dir")
        };
        assert_eq!(args.source, PathBuf::from("in"));
        assert_eq!(args.common.filter, vec!["a", "b"]);
        assert_eq!(args.common.exclude, vec!["c"]);
        assert_eq!(args.common.index, IndexFormat::Idx);
        assert_eq!(args.common.max_items, Some(3));
        assert_eq!(args.common.max_bytes, Some(1 << 20));
        assert_eq!(args.min_age, Duration::ZERO);
        assert_eq!(args.common.verbose, 2);
    }
}
