//! The command line, as the user types it: one subcommand per source, sharing the deposit options.
//!
//! This holds raw values only; `config` checks them and turns them into a `Launcher`. Every flag has
//! a one-line help and a long help (`--help`) with its default, its interactions and an example.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

mod adullact;
pub mod check;
mod common;
mod dir;
pub mod file;
#[cfg(test)]
mod help_examples;
pub mod imap;
pub mod o365;
pub mod oauth;
pub mod pop;
mod server;
pub mod status;

pub use crate::tls::TlsMode;
pub use adullact::{AdullactArgs, EnvelopeType};
pub use common::CommonArgs;
pub use dir::DirArgs;
pub use imap::{After, ImapArgs, ImapCommand, Select, Since};
pub use pop::{PopArgs, PopCommand};
pub use server::{PasswordArgs, ServerArgs};

pub const EXIT_CODES: &str = "\
Exit codes:
  0  the cycle ran to its end (including when there was nothing new)
  1  the cycle ran, but some items failed, or files stayed untaken past --grace-period;
     each was named on standard error and left at the source
  2  usage or configuration error (bad option, invalid pattern, unreadable secret file)
  3  authentication refused, or a login is needed
  4  source unavailable: folder missing, DNS, connection, TLS, timeout, protocol error,
     or --run-timeout / --answer-timeout reached
  5  the COLD folder (or the state folder) is missing, not writable or full
  6  another run of the same launcher is still working; this one did nothing
  7  stopped by a signal (SIGINT, SIGTERM, SIGHUP, Ctrl-C); the batch in progress was finished
  8  the cycle ran, but nothing was deposited for longer than --expect-within
  9  the cycle ran, but documents deposited earlier are still in the COLD folder after
     --expect-pickup-within: the COLD is not taking them";

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
    version = env!("LANCEUR_VERSION"),
    about = "Feeds documents from folders, mailboxes and Adullact envelopes into an EzGED COLD input folder",
    long_about = ABOUT_LONG,
    after_help = EXIT_CODES,
    propagate_version = true,
    args_override_self = true,
    help_expected = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands, in the order `lanceur --help` lists them: what cron and the Task Scheduler run
/// first, then checking, then each protocol.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the launcher described in a TOML launcher file (what cron and the Task Scheduler run)
    #[command(
        long_about = file::RUN_LONG_ABOUT,
        after_help = file::RUN_AFTER_HELP,
        override_usage = "lanceur run FILE.toml [OPTIONS…]"
    )]
    Run(RunArgs),

    /// Sign a launcher file's launcher in, once (o365, and imap or pop with --oauth)
    #[command(
        long_about = file::LOGIN_LONG_ABOUT,
        after_help = file::LOGIN_AFTER_HELP,
        override_usage = "lanceur login FILE.toml"
    )]
    Login(LoginArgs),

    #[command(
        about = check::ABOUT,
        long_about = check::LONG_ABOUT,
        after_help = check::AFTER_HELP,
        override_usage = "lanceur check FILE.toml [OPTIONS…]\n       lanceur check PROTOCOL OPTIONS…"
    )]
    Check(check::CheckArgs),

    #[command(
        about = check::RETRY_ABOUT,
        long_about = check::RETRY_LONG_ABOUT,
        after_help = check::RETRY_AFTER_HELP
    )]
    Retry(check::RetryArgs),

    /// One line per launcher file of a folder: last run, last deposit, set-aside items, next expiry
    #[command(
        long_about = status::LONG_ABOUT,
        after_help = status::AFTER_HELP,
    )]
    Status(status::StatusArgs),

    /// Deposit the files of a local or network folder
    #[command(
        long_about = "Deposits the files of a folder (a scanner's output, an SMB share, an FTP \
upload folder) into the COLD folder, then deletes them or moves them to an archive folder.

A file is taken only when it has not changed for --min-age and does not look like a file still \
being written (*.part, *.filepart, *.crdownload, *.tmp, ~$*, hidden files) or system clutter \
(Thumbs.db, desktop.ini).",
        after_help = dir::AFTER_HELP
    )]
    Dir(DirArgs),

    /// Deposit the attachments of the mails of an IMAP mailbox (Gmail, Outlook, Dovecot…)
    #[command(
        long_about = imap::LONG_ABOUT,
        after_help = imap::AFTER_HELP
    )]
    Imap(ImapCommand),

    /// Deposit the attachments of the mails of a POP3 mailbox (over TLS, STLS or a local stunnel)
    #[command(long_about = pop::LONG_ABOUT, after_help = pop::AFTER_HELP)]
    Pop(PopCommand),

    #[command(
        about = o365::O365_ABOUT,
        long_about = o365::O365_LONG_ABOUT,
        after_help = o365::O365_AFTER_HELP
    )]
    O365(o365::O365Command),

    /// Deposit the documents of Adullact envelopes: Actes, PES V2 (Hélios), Chorus Pro
    #[command(
        long_about = "Deposits the documents of the envelopes that a Libriciel/Adullact platform \
(Pastell, S²LOW) drops into a folder, each with an index of the envelope's fields, then deletes \
the envelopes or moves them to an archive folder.

Envelopes understood: Pastell deposits (a folder per document, taken once its completion marker \
is there; a ZIP per document; loose files grouped by their metadata.xml, metadata.json or YAML \
metadata.txt), S²LOW ACTES tarballs (.tar.gz), bare ACTES XML (actes:Acte, ARActe, EACT/TACT \
envelopes, prefecture letters) with the files they name, PES V2 files (PES_Aller, PES_Retour, \
PES_ACQUIT) with the PDF of the same name, and Chorus Pro CPPFacturePivot flows, whose attached \
ZIPs are unpacked so that every file of an invoice is deposited with the same GROUP_ID.

Every document gets the envelope's fields (ENVELOPE_TYPE, ENVELOPE, GROUP_ID, ROLE: acte, \
annexe, ar_acte, formulaire, pes, visuel, acquit, flux, facture, pj, metadata, document…) and its \
type's: ACTE_NATURE, ACTE_NUMBER, ACTE_DATE, ACTE_OBJECT, ACTE_CLASSIFICATION, ACTE_AR_DATE, \
ACTE_ID, SIREN; PES_FILE_TYPE, PES_COLLECTIVITY_ID, PES_BUDGET_CODE, PES_BUDGET_LABEL, PES_YEAR, \
PES_BORDEREAU_IDS, PES_ACK_STATE; INVOICE_NUMBER, INVOICE_TYPE, SUPPLIER_ID, SUPPLIER_NAME, \
DEBTOR_SIRET, DEBTOR_SERVICE, INVOICE_DATE, RECEIPT_DATE, AMOUNT_HT, AMOUNT_TTC, AMOUNT_NET, \
COMMITMENT_NUMBER, CONTRACT_NUMBER, INVOICE_STATUS; and Pastell's metadata as PASTELL_<KEY>. \
Use --index idx or json to write them.

An envelope that cannot be decoded (corrupt, incomplete, hostile: archive entries with .. or \
absolute paths or links, archives that expand past the bounds, XML with a DTD, bad base64) is \
reported and left where it is, or moved to --failed; the other envelopes go on.",
        after_help = adullact::AFTER_HELP
    )]
    Adullact(AdullactArgs),
}

/// `lanceur run FILE [OPTIONS…]`. `main` expands the file before clap sees the arguments
/// (`file::parse`), so this is only reached for `lanceur run --help` and mistakes.
#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// The launcher file (TOML)
    #[arg(value_hint = clap::ValueHint::FilePath, value_name = "FILE")]
    pub file: PathBuf,

    /// Options overriding the file's, as on the protocol's command line
    #[arg(
        value_name = "OPTIONS",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub overrides: Vec<std::ffi::OsString>,
}

/// `lanceur login FILE`. Like `run`, expanded before clap sees the arguments; this is only reached
/// for `lanceur login --help` and mistakes.
#[derive(Debug, Args, Clone)]
pub struct LoginArgs {
    /// The launcher file (TOML) of an o365 launcher, or of an imap or pop one with --oauth
    #[arg(value_hint = clap::ValueHint::FilePath, value_name = "FILE.toml")]
    pub file: PathBuf,
}

/// The long help of `--grace-period`.
const GRACE_PERIOD_HELP: &str = "What lanceur cannot take as it stands is left where \
it is: a file that no envelope names, an envelope waiting for files it names, a flow it does not \
understand, a folder envelope without its marker, a file this user cannot read (permissions, or \
another program holding it open). While it changed less than this long ago it may still be \
arriving, and is only logged (-v, --dry-run); after that, every run reports it on standard error, \
one line naming the file and what is missing or unknown, and exits with code 1, until someone \
sees to it. Examples: 1h (default), 30m, 2h, 0s to report at once.";

/// `--grace-period`, shared by the folder sources (`dir`, `adullact`).
#[derive(Debug, Args, Clone)]
pub struct GraceArgs {
    /// Report a file that cannot be taken for longer than this (default 1h)
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "1h",
        value_parser = parse_duration,
        long_help = GRACE_PERIOD_HELP
    )]
    pub grace_period: Duration,
}

/// What to deposit from a mail; defined beside the code that does it.
pub use crate::extract::mail::Take;

/// What becomes of a mail none of whose documents passed the filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Unmatched {
    /// Leave it untouched (still unread); the journal remembers it
    #[default]
    #[value(alias = "none")]
    Keep,
    /// Mark it seen (read); never moved or deleted
    #[value(alias = "read")]
    Seen,
}

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
that has none) is not deposited nor acknowledged: see --unmatched. Machine \
reports (bounces, read receipts) hold no document. A mail with a damaged or cut-off document \
fails whole: nothing of it is deposited, it stays at the source and is reported on each run \
(take it with --take eml if need be). An empty attachment is reported, not deposited."
    )]
    pub take: Take,

    /// Replace each ZIP attachment by the files inside it
    #[arg(
        long,
        long_help = "Each attachment named *.zip is replaced by the files inside it, each judged \
by --filter/--exclude under its own name and deposited like an attachment (ZIPs inside the ZIP \
stay ZIPs). The archive is read with the same bounds as Adullact envelopes: an entry that would \
leave its folder (../, an absolute path), a link, more than 10000 files or more than 2 GiB \
expanded fails the mail, which stays at the source and is reported; nothing of it is deposited. \
Without --unzip (the default) a ZIP is deposited as it is. Example: --unzip --filter '/.*\\.pdf$/i'"
    )]
    pub unzip: bool,

    /// Take only mails whose sender matches this pattern (repeatable)
    #[arg(
        long = "from",
        value_name = "PATTERN",
        long_help = "Take only the mails whose sender matches PATTERN, in the language of \
--filter (matched from the start, like Python's re.match; /…/i ignores case). The pattern is \
tried on the sender's address (factures@dupont.example) and on its full form (Société Dupont \
<factures@dupont.example>); either is enough. Repeat --from for several senders: one match \
suffices. A mail that does not match is not taken: it stays at the source as it is (not marked \
read, moved or deleted) and lanceur does not remember it, so changing the rule later takes it. \
Default: every sender. Example: --from '/.*@dupont\\.example$/i'"
    )]
    pub from: Vec<String>,

    /// Take only mails whose subject matches this pattern (repeatable)
    #[arg(
        long = "subject",
        value_name = "PATTERN",
        long_help = "Take only the mails whose subject (decoded) matches PATTERN, in the \
language of --filter (matched from the start, like Python's re.match). Repeat it for several: \
one match suffices. With --from too, a mail must match both. A mail that does not match is left \
untouched at the source and not remembered. Default: every subject. Example: \
--subject '/.*facture/i'"
    )]
    pub subject: Vec<String>,

    /// A mail whose documents the filters all reject: keep it untouched (default) or mark it seen
    #[arg(
        long,
        value_enum,
        default_value_t = Unmatched::Keep,
        value_name = "ACTION",
        long_help = "What becomes of a mail none of whose documents passed --filter/--exclude, or \
that has none: such a mail is never deleted or moved by --after, so that a typo in a filter \
(.pdf for .PDF) cannot destroy invoices. keep (default): it is left untouched (unread); seen: it is \
marked seen (read), nothing more (IMAP and Office 365; POP3 has no such mark). Either way the \
journal remembers it as unmatched, so it is not downloaded again while the filters stay the same; \
once they change, the next run judges it again by the new ones (with --select unseen, only if it \
is still unread). Such mails are counted as unmatched in --json, logged as unmatched in \
--log-file, and shown by --dry-run."
    )]
    pub unmatched: Unmatched,
}

pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
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
    fn mail_protocols_accept_each_others_words() {
        // An administrator moving a launcher from IMAP to Office 365 keeps the same options.
        let imap = Cli::try_parse_from([
            "lanceur",
            "imap",
            "--server",
            "h",
            "--account",
            "a",
            "-d",
            "c",
            "--select",
            "unread",
            "--after",
            "read",
        ])
        .unwrap();
        let Command::Imap(ImapCommand::Run(args)) = imap.command else {
            panic!("not imap")
        };
        assert_eq!(
            (args.select, args.after),
            (Select::Unseen, Some(After::Seen))
        );
        let o365 = Cli::try_parse_from([
            "lanceur",
            "o365",
            "--client-id",
            "c",
            "-d",
            "c",
            "--select",
            "unseen",
            "--after",
            "seen",
        ])
        .unwrap();
        let Command::O365(o365::O365Command::Run(args)) = o365.command else {
            panic!("not an o365 run")
        };
        assert_eq!(args.select, o365::Select::Unread);
        assert_eq!(args.post_action, o365::PostAction::Read);
        for (protocol, keep) in [("imap", "none"), ("o365", "none")] {
            let mut argv = vec!["lanceur", protocol, "-d", "c", "--after", keep];
            argv.extend(if protocol == "imap" {
                ["--server", "h", "--account", "a"]
            } else {
                ["--client-id", "c", "--tenant", "t"]
            });
            assert!(
                Cli::try_parse_from(argv).is_ok(),
                "{protocol} --after {keep}"
            );
        }
    }

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
}
