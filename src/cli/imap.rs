//! `lanceur imap`: which mails of which mailbox, and what happens to them afterwards.

use std::time::Duration;

use clap::Args;

use super::oauth::{LoginHelp, MailLoginArgs, OAuthArgs, WithLogin};
use super::{CommonArgs, MailArgs, PasswordArgs, ServerArgs};

pub(super) const LONG_ABOUT: &str =
    "Deposits the attachments (or whole mails, --take) of new mails of one IMAP \
mailbox into the COLD folder, then marks them seen (or moves or deletes them, --after).

The password comes from the environment variable LANCEUR_PASSWORD or from --password-file, never \
from the command line, where every user of the machine could read it with ps. For Gmail, use an \
app password (Google account > Security > App passwords).

Exchange Online and Gmail without passwords: --oauth microsoft|google. Sign in once with \
`lanceur imap login` (same options); runs then renew their access themselves. Unattended \
servers sign in as the application instead: Microsoft with a client secret or certificate, Google \
with a Workspace service account. A token obtained elsewhere still works with LANCEUR_TOKEN or \
--token-file (XOAUTH2).";

pub(super) const AFTER_HELP: &str = "\
Examples:
  LANCEUR_PASSWORD='abcd efgh ijkl mnop' lanceur imap --server imap.gmail.com \\
      --account factures@example.fr --folder INBOX --dest /srv/ezged/cold/factures \\
      --filter '/.*\\.pdf/i'
  lanceur imap --server mail.example.fr --account scan --password-file /etc/lanceur/scan.pw \\
      --folder 'Reçus' --select all --since 2025-01-01 --after move --move-to Archivé \\
      --dest /srv/cold/in
  lanceur imap login --server outlook.office365.com --account factures@example.fr \\
      --oauth microsoft --client-id 3f6c…e1          # once: device code sign-in
  lanceur imap --server outlook.office365.com --account factures@example.fr \\
      --oauth microsoft --client-id 3f6c…e1 --dest /srv/ezged/cold/factures
  lanceur imap --server outlook.office365.com --account factures@example.fr --oauth microsoft \\
      --tenant example.fr --client-id 3f6c…e1 --client-certificate /etc/lanceur/app.pem \\
      -d /srv/cold

crontab line (every 5 minutes; overlapping runs exit with code 6 and do nothing):
  */5 * * * *  lanceur imap --server imap.gmail.com --account f@example.fr \\
      --password-file /etc/lanceur/f.pw --dest /srv/ezged/cold/factures

Environment: LANCEUR_PASSWORD, LANCEUR_TOKEN, LANCEUR_OAUTH_CLIENT_ID, LANCEUR_OAUTH_TENANT,
LANCEUR_OAUTH_CLIENT_SECRET, LANCEUR_OAUTH_LOGIN_URL, LANCEUR_DEST, LANCEUR_STATE_DIR, RUST_LOG.

Exit codes: 0 done, 1 some mails failed (left on the server), 2 usage, 3 login refused or
`lanceur imap login` needed (the message gives the command), 4 server unreachable, TLS failure or
missing folder, 5 COLD folder not writable, 6 already running.";

/// `lanceur imap …`: a run, or `lanceur imap login …`.
pub type ImapCommand = WithLogin<ImapArgs, ImapLoginArgs>;

/// `lanceur imap login`: the one-time OAuth sign-in of an IMAP launcher.
#[derive(Debug, Args, Clone)]
pub struct ImapLoginArgs {
    /// The mailbox the runs read (checked once signed in; part of the default launcher name)
    #[arg(long, value_name = "MAILBOX", default_value = "INBOX")]
    pub folder: String,

    #[command(flatten)]
    pub login: MailLoginArgs,
}

impl LoginHelp for ImapLoginArgs {
    const ABOUT: &'static str = "Sign in once (OAuth 2) and save the tokens for the runs";
    const LONG_ABOUT: &'static str = LOGIN_LONG_ABOUT;
    const AFTER_HELP: &'static str = LOGIN_AFTER_HELP;
}

/// The login's long help, shared by `imap login` and `pop login`.
pub(super) const LOGIN_LONG_ABOUT: &str = "\
Signs this launcher in with OAuth 2, once, interactively, and saves the tokens in its state \
folder (readable by its owner only); then logs in to the server with them to check. Give the same \
--server, --account, --oauth, --client-id, --tenant, --name and --state-dir as the runs, so that \
both use the same state folder. Run it again whenever a run exits with code 3 and asks for it.

Microsoft: the device code by default (a code and a link: open the link on any device, enter the \
code, sign in with the mailbox's account and accept the permissions), or --flow browser where \
Conditional Access blocks the device code. Scopes: IMAP.AccessAsUser.All or POP.AccessAsUser.All \
and offline_access.

Google: --flow browser always (Google's device flow does not allow Gmail), with the client id and \
secret (LANCEUR_OAUTH_CLIENT_SECRET or --client-secret-file) of your organisation's Desktop app \
OAuth client. An app left in \"Testing\" gets refresh tokens that expire after 7 days: publish it.

Not needed with app-only authentication (client secret, certificate, service account).";

pub(super) const LOGIN_AFTER_HELP: &str = "\
Examples:
  lanceur imap login --server outlook.office365.com --account factures@example.fr \\
      --oauth microsoft --client-id 3f6c…e1
  lanceur imap login --server imap.gmail.com --account factures@example.fr --oauth google \\
      --client-id 1234….apps.googleusercontent.com \\
      --client-secret-file /etc/lanceur/google.secret --flow browser
  lanceur login /etc/lanceur/factures.toml            # the same, from a launcher file

Exit codes: 0 signed in, 2 usage, 3 sign-in refused, declined or timed out, 4 provider or server \
unreachable.";

/// Which mails of the mailbox are candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Select {
    /// Mails not marked seen (read)
    #[default]
    #[value(alias = "unread")]
    Unseen,
    /// Every mail lanceur has not taken yet, read or not
    All,
}

/// What happens to a mail on the server once its documents are deposited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum After {
    /// Mark it seen (read)
    #[value(alias = "read")]
    Seen,
    /// Move it to --move-to
    Move,
    /// Delete it (expunge)
    Delete,
    /// Leave it as it is; the journal remembers it
    #[value(alias = "none")]
    Keep,
}

#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Mailbox options")]
pub struct ImapArgs {
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

    /// Move a mail set aside (see --set-aside-after) to this mailbox, instead of flagging it
    #[arg(
        long,
        value_name = "MAILBOX",
        long_help = "Where a mail that failed --set-aside-after runs in a row goes: into MAILBOX, \
which must exist (e.g. Quarantaine). Without it, the mail stays where it is, flagged with the \
keyword $LanceurSetAside, which mail clients show as a tag. Either way its raw bytes are kept in \
the state folder and `lanceur retry` takes it again (from MAILBOX, it is moved back first)."
    )]
    pub set_aside_to: Option<String>,

    #[command(flatten)]
    pub server: ServerArgs,

    #[command(flatten)]
    pub password: PasswordArgs,

    #[command(flatten)]
    pub oauth: OAuthArgs,

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use crate::cli::{Take, TlsMode};
    use clap::Parser;

    #[test]
    fn imap_flags_parse() {
        let cli = Cli::try_parse_from([
            "lanceur",
            "imap",
            "--server",
            "imap.gmail.com",
            "--account",
            "f@example.fr",
            "--folder",
            "[Gmail]/All Mail",
            "--select",
            "all",
            "--since",
            "2025-01-31",
            "--after",
            "keep",
            "--tls",
            "starttls",
            "--take",
            "both",
            "--timeout",
            "10s",
            "-d",
            "cold",
        ])
        .unwrap();
        let Command::Imap(ImapCommand::Run(args)) = cli.command else {
            panic!("not imap")
        };
        assert_eq!(args.folder, "[Gmail]/All Mail");
        assert_eq!(args.select, Select::All);
        assert_eq!(args.since, Some(Since::Date(2025, 1, 31)));
        assert_eq!(args.after, Some(After::Keep));
        assert_eq!(args.server.tls, TlsMode::Starttls);
        assert_eq!(args.server.timeout, Duration::from_secs(10));
        assert_eq!(args.mail.take, Take::Both);
        assert_eq!(
            parse_since("30d"),
            Ok(Since::Age(Duration::from_secs(30 * 86_400)))
        );
        assert!(parse_since("2025-13-01").is_err());
        assert!(parse_since("soon").is_err());
    }
}
