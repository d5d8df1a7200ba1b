//! `lanceur check PROTOCOL OPTIONS…`: the options of a run, checked without running.
//!
//! `check` takes exactly the arguments a run of the same launcher takes, after the word `check`, so
//! a launcher is checked by putting `check` in front of its command line (or by expanding a launcher
//! file into that argument list). The protocols are listed again here, rather than by nesting
//! `Command`, because clap builds subcommand trees eagerly: `Command` holding `check` holding
//! `Command` would never end; and because `o365 login` is no launcher to check.

use clap::{Args, Subcommand};

use super::o365::{O365Args, O365Command};
use super::{AdullactArgs, Command, DirArgs, ImapArgs, PopArgs};

pub(super) const ABOUT: &str =
    "Check a launcher: connect, log in, find the source, probe the COLD folder; change nothing";

pub(super) const LONG_ABOUT: &str = "\
Checks a launcher the way the \"Ajouter\" button of the original form did, and says what a run \
would do now. For a launcher file, `lanceur check FILE.toml` checks the launcher that `lanceur run \
FILE.toml` runs (options given with it override the file's, as for run). Otherwise put `check` in \
front of the launcher's command line: `lanceur check imap --server … --dest …` takes the same \
options as `lanceur imap --server … --dest …`.

It connects and logs in, finds the folder or mailbox, lists what is there, tells new items from \
those the journal already knows, probes the COLD folder (a hidden temporary file is created and \
removed at once) and names its volume (the mount and file system on Linux, the drive or share on \
Windows) and its free space. It changes nothing: no \
lock is taken, no state folder is created, no journal line is written, no mail is fetched or \
marked, no file is moved.

The answer is a short report on standard output (one JSON object with --json) and the exit code \
of the first problem found, in the order a run meets them.";

pub(super) const AFTER_HELP: &str = "\
Examples:
  lanceur check /etc/lanceur/factures.toml
  lanceur check /etc/lanceur/factures.toml --json
  lanceur check dir --source /srv/scans --dest /srv/ezged/cold/scans
  LANCEUR_PASSWORD=… lanceur check imap --server imap.gmail.com --account factures@example.fr \\
      --folder INBOX --dest /srv/ezged/cold/mail
  lanceur check o365 --client-id 3f6c…e1 --mailbox me --dest /srv/ezged/cold/mail

Exit codes: 0 the launcher is ready, 2 usage or configuration, 3 authentication refused or a \
login is needed, 4 source unavailable (folder or mailbox missing, server unreachable), 5 COLD or \
state folder not writable.";

const PROTOCOL_AFTER_HELP: &str = "\
The options are those of a run of the same protocol; see `lanceur PROTOCOL --help` for examples.

Exit codes: 0 ready, 2 usage, 3 authentication, 4 source unavailable, 5 COLD or state folder not \
writable.";

/// `lanceur check …`: the launcher to check.
#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(subcommand)]
    pub launcher: Checked,
}

/// The launchers `check` knows: every protocol's run. The options a check has no use for (it is a
/// dry run, deposits nothing, fetches nothing, tidies nothing) are hidden from its help; they are
/// still accepted, so that `check` takes a run's command line or launcher file as it is.
#[derive(Debug, Subcommand)]
pub enum Checked {
    /// Check a folder launcher (the options of `lanceur dir`)
    #[command(
        after_help = PROTOCOL_AFTER_HELP,
        mut_arg("dry_run", hidden),
        mut_arg("index", hidden)
    )]
    Dir(DirArgs),
    /// Check an Adullact launcher (the options of `lanceur adullact`)
    #[command(
        after_help = PROTOCOL_AFTER_HELP,
        mut_arg("dry_run", hidden),
        mut_arg("index", hidden),
        mut_arg("failed", hidden)
    )]
    Adullact(AdullactArgs),
    /// Check an Office 365 launcher (the options of `lanceur o365`, after `login`)
    #[command(
        after_help = PROTOCOL_AFTER_HELP,
        mut_arg("dry_run", hidden),
        mut_arg("index", hidden),
        mut_arg("take", hidden)
    )]
    O365(O365Args),
    /// Check an IMAP launcher (the options of `lanceur imap`)
    #[command(
        after_help = PROTOCOL_AFTER_HELP,
        mut_arg("dry_run", hidden),
        mut_arg("index", hidden),
        mut_arg("take", hidden)
    )]
    Imap(ImapArgs),
    /// Check a POP3 launcher (the options of `lanceur pop`)
    #[command(
        after_help = PROTOCOL_AFTER_HELP,
        mut_arg("dry_run", hidden),
        mut_arg("index", hidden),
        mut_arg("take", hidden),
        mut_arg("delete_after", hidden)
    )]
    Pop(PopArgs),
}

/// `mut_arg`'s change: the option stays, out of the help.
fn hidden(arg: clap::Arg) -> clap::Arg {
    arg.hide(true)
}

pub(super) const RETRY_ABOUT: &str =
    "List the items a launcher set aside, or take some or all of them again";

pub(super) const RETRY_LONG_ABOUT: &str = "\
An item that failed --set-aside-after runs in a row is set aside: flagged or moved at its source, \
its raw bytes kept in STATE_DIR/NAME/set-aside/, and left alone by later runs. Put `retry` in \
front of the launcher's command line (or give its launcher file): without --all or --key, the \
items set aside are listed with their key, their last error and where they are. With --all, or \
--key KEY for one (repeatable), each is put back where the source takes it from (unflagged, or \
moved back from --set-aside-to or --failed), forgotten by the journal, and a run follows at once: \
the item is deposited like a new one, or fails again and is reported (and set aside again after \
--set-aside-after more runs).";

pub(super) const RETRY_AFTER_HELP: &str = "\
Examples:
  lanceur retry /etc/lanceur/factures.toml                  # list what is set aside
  lanceur retry /etc/lanceur/factures.toml --all            # take everything again
  lanceur retry /etc/lanceur/factures.toml --key 'imap:INBOX:1700000000:42'
  lanceur retry --all dir --source /srv/scans --dest /srv/ezged/cold/scans --failed /srv/failed

Exit codes: those of a run (0 done, 1 some items failed again, 2 usage, 3 authentication, \
4 source unavailable, 5 COLD folder not writable, 6 already running, 7 stopped by a signal).";

/// `lanceur retry [--all | --key KEY…] PROTOCOL OPTIONS…`.
#[derive(Debug, Args)]
pub struct RetryArgs {
    /// Take every item set aside again
    #[arg(long, global = true, conflicts_with = "key")]
    pub all: bool,

    /// Take this item again (its key, as listed; repeatable)
    #[arg(long, global = true, value_name = "KEY")]
    pub key: Vec<String>,

    #[command(subcommand)]
    pub launcher: Checked,
}

impl Checked {
    /// The run this stands for (`lanceur retry`'s).
    pub fn into_run(self) -> Command {
        match self {
            Checked::Dir(args) => Command::Dir(args),
            Checked::Adullact(args) => Command::Adullact(args),
            Checked::O365(args) => Command::O365(O365Command::Run(args)),
            Checked::Imap(args) => Command::Imap(crate::cli::ImapCommand::Run(args)),
            Checked::Pop(args) => Command::Pop(crate::cli::PopCommand::Run(args)),
        }
    }

    /// The run this check stands for, marked as a dry run: whatever reads `dry_run` while the
    /// launcher is being built (an Adullact `--failed` folder, say) then leaves things alone too.
    pub fn into_dry_run(self) -> Command {
        match self {
            Checked::Dir(mut args) => {
                args.common.dry_run = true;
                Command::Dir(args)
            }
            Checked::Adullact(mut args) => {
                args.common.dry_run = true;
                Command::Adullact(args)
            }
            Checked::O365(mut args) => {
                args.common.dry_run = true;
                Command::O365(O365Command::Run(args))
            }
            Checked::Imap(mut args) => {
                args.common.dry_run = true;
                Command::Imap(crate::cli::ImapCommand::Run(args))
            }
            Checked::Pop(mut args) => {
                args.common.dry_run = true;
                Command::Pop(crate::cli::PopCommand::Run(args))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::cli::{Cli, Command};
    use clap::Parser;

    #[test]
    fn check_takes_the_options_of_a_run() {
        let run = ["imap", "--server", "h", "--account", "a", "-d", "cold"];
        let mut argv = vec!["lanceur", "check"];
        argv.extend(run);
        let Command::Check(args) = Cli::try_parse_from(argv).unwrap().command else {
            panic!("not a check")
        };
        let Command::Imap(crate::cli::ImapCommand::Run(imap)) = args.launcher.into_dry_run() else {
            panic!("not imap")
        };
        assert_eq!(imap.server.server, "h");
        assert!(imap.common.dry_run);
        // What a run refuses, check refuses too; and there is no login or check to check.
        for bad in [
            &["check", "imap", "-d", "cold"][..],
            &["check", "o365", "login", "--client-id", "c"],
            &["check", "imap", "login", "--server", "h", "--account", "a"],
            &["check", "check", "dir", "-s", "a", "-d", "b"],
            &["check"],
        ] {
            let mut argv = vec!["lanceur"];
            argv.extend_from_slice(bad);
            assert!(Cli::try_parse_from(&argv).is_err(), "{bad:?}");
        }
    }
}
