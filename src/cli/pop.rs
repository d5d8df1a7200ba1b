//! `lanceur pop`: keep or delete the mails of a POP3 mailbox.

use clap::Args;

use super::imap::{LOGIN_AFTER_HELP, LOGIN_LONG_ABOUT};
use super::oauth::{LoginHelp, MailLoginArgs, OAuthArgs, WithLogin};
use super::{CommonArgs, MailArgs, PasswordArgs, ServerArgs};

pub(super) const LONG_ABOUT: &str =
    "Deposits the attachments (or whole mails, --take) of the mails of a POP3 \
mailbox into the COLD folder, then deletes them from the server (or keeps them, --keep).

The password comes from the environment variable LANCEUR_PASSWORD or from --password-file, never \
from the command line, where every user of the machine could read it with ps. Exchange Online \
and Gmail without passwords: --oauth microsoft|google, with `lanceur pop login` once (or app-only \
credentials, which need no login); runs renew their access themselves. A token obtained \
elsewhere still works with LANCEUR_TOKEN or --token-file (AUTH XOAUTH2).

lanceur speaks TLS itself (port 995 by default, or STLS with --tls starttls). An stunnel tunnel \
set up for older launchers (client = yes, accept = 127.0.0.1:110, connect = pop.gmail.com:995) \
still works: --server 127.0.0.1 --tls none.

Each mail is remembered by its UIDL, so a mail is deposited once even when it stays on the server. \
It is deleted from the server only once its documents are in the COLD folder and journaled. The \
journal belongs to the launcher's name, which by default includes the server and port: give \
--name to keep it when moving from a stunnel tunnel to direct TLS with --keep.";

pub(super) const AFTER_HELP: &str = "\
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

Environment: LANCEUR_PASSWORD, LANCEUR_TOKEN, LANCEUR_OAUTH_CLIENT_ID, LANCEUR_OAUTH_TENANT,
LANCEUR_OAUTH_CLIENT_SECRET, LANCEUR_OAUTH_LOGIN_URL, LANCEUR_DEST, LANCEUR_STATE_DIR, RUST_LOG.

Exit codes: 0 done, 1 some mails failed (left on the server), 2 usage, 3 login refused or
`lanceur pop login` needed (the message gives the command), 4 server unreachable, TLS or protocol
failure, 5 COLD folder not writable, 6 already running.";

/// `lanceur pop …`: a run, or `lanceur pop login …`.
pub type PopCommand = WithLogin<PopArgs, PopLoginArgs>;

/// `lanceur pop login`: the one-time OAuth sign-in of a POP3 launcher.
#[derive(Debug, Args, Clone)]
pub struct PopLoginArgs {
    #[command(flatten)]
    pub login: MailLoginArgs,
}

impl LoginHelp for PopLoginArgs {
    const ABOUT: &'static str = "Sign in once (OAuth 2) and save the tokens for the runs";
    const LONG_ABOUT: &'static str = LOGIN_LONG_ABOUT;
    const AFTER_HELP: &'static str = LOGIN_AFTER_HELP;
}

#[derive(Debug, Args, Clone)]
pub struct PopArgs {
    #[command(flatten)]
    pub server: ServerArgs,

    #[command(flatten)]
    pub password: PasswordArgs,

    #[command(flatten)]
    pub oauth: OAuthArgs,

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

#[cfg(test)]
mod tests {
    use crate::cli::{Cli, Command};
    use clap::Parser;

    #[test]
    fn pop_flags_parse() {
        let base = [
            "lanceur",
            "pop",
            "--server",
            "pop.test",
            "--account",
            "a",
            "-d",
            "cold",
        ];
        let parse = |extra: &[&str]| {
            let mut args = base.to_vec();
            args.extend_from_slice(extra);
            Cli::try_parse_from(args)
        };
        let Command::Pop(crate::cli::pop::PopCommand::Run(args)) =
            parse(&["--keep", "--delete-after", "30"]).unwrap().command
        else {
            panic!("not pop")
        };
        assert!(args.keep);
        assert_eq!(args.delete_after, Some(30));
        // --delete-after means nothing without --keep, and 0 days is refused.
        assert!(parse(&["--delete-after", "30"]).is_err());
        assert!(parse(&["--keep", "--delete-after", "0"]).is_err());
    }
}
