//! `lanceur o365`: the command line of the Office 365 launcher, as the user types it.
//!
//! Two forms share one set of account options, so that both find the same state folder:
//! `lanceur o365 login …` signs in once, interactively (device code or browser), and `lanceur
//! o365 …` runs one cycle from cron (`cli::oauth::WithLogin`).

use std::path::PathBuf;

use clap::Args;

use super::oauth::{CertificateArgs, ExpiryArgs, FlowArgs, LoginHelp, LoginStateArgs, WithLogin};
use super::{CommonArgs, MailArgs};
pub use crate::settings::o365::{PostAction, Select};

pub const O365_ABOUT: &str = "Deposit the attachments of an Office 365 mailbox (Microsoft Graph)";

pub const O365_LONG_ABOUT: &str = "\
Deposits the attachments (or whole mails) of an Office 365 / Exchange Online mailbox, read through \
Microsoft Graph, into the COLD folder, then marks the mails read (or moves or deletes them).

Sign in once with `lanceur o365 login` (a code and a link are shown: open the link on any device, \
enter the code, sign in with the mailbox's account and accept the permissions); from then on runs \
fetch on their own, renewing their access as they go. A launcher unused for 90 days, or whose \
account changed its password, must sign in again: the run then exits with code 3 and says so. \
Unattended servers can use an application secret or certificate instead (app-only, \
--client-secret-file or --client-certificate), which \
needs no sign-in at all.

Azure setup (Entra ID, App registrations): register an application, note its client id; for \
`login`, enable \"Allow public client flows\" and add the delegated permissions Mail.ReadWrite and, \
for shared mailboxes, Mail.ReadWrite.Shared; for app-only, add a certificate or a client secret \
and the \
application permission Mail.ReadWrite, then grant admin consent. Hosts to allow through a proxy or \
firewall: graph.microsoft.com, login.microsoftonline.com, microsoft.com/devicelogin.";

pub const O365_AFTER_HELP: &str = "\
Examples:
  lanceur o365 login --client-id 3f6c…e1 --mailbox me
  lanceur o365 --client-id 3f6c…e1 --mailbox me --folder inbox --dest /srv/ezged/cold/mail
  lanceur o365 login --client-id 3f6c…e1 --mailbox factures@example.fr:inbox
  lanceur o365 --client-id 3f6c…e1 --mailbox factures@example.fr:inbox -d /srv/cold/factures
  lanceur o365 --client-id 3f6c…e1 --folder Inbox/Factures --after move --move-to archive \\
      -d /srv/cold/factures
  LANCEUR_O365_CLIENT_SECRET=… lanceur o365 --tenant example.fr --client-id 3f6c…e1 \\
      --mailbox factures@example.fr -d /srv/cold/factures

crontab line (every minute; overlapping runs exit with code 6 and do nothing):
  * * * * *  lanceur o365 --client-id 3f6c…e1 --mailbox me -d /srv/ezged/cold/mail

Environment: LANCEUR_O365_CLIENT_ID, LANCEUR_O365_TENANT, LANCEUR_O365_CLIENT_SECRET (app-only; \
never a command-line value), LANCEUR_O365_LOGIN_URL, LANCEUR_O365_GRAPH_URL, LANCEUR_DEST, \
LANCEUR_STATE_DIR, RUST_LOG.

Exit codes: 0 done, 1 some mails failed (left unread), 2 usage, 3 authentication (run \
`lanceur o365 login` again when told to), 4 Graph unreachable or mailbox/folder missing, 5 COLD \
folder not writable, 6 already running.";

const LOGIN_LONG_ABOUT: &str = "\
Signs this launcher in to Microsoft 365 with the device code flow: prints a link and a code, waits \
while you open the link on any device, enter the code, sign in with the mailbox's account and \
accept the permissions, then saves the tokens in the launcher's state folder (readable by its \
owner only). Where Conditional Access blocks the device code, --flow browser prints a link to \
open in a browser on this machine instead, which comes back to http://localhost:PORT. Give the \
same --mailbox, --client-id, --tenant, --name and --state-dir as the runs, so that both use the \
same state folder. Run it again whenever a run exits with code 3 and asks \
for it. Not needed with app-only authentication (client secret or certificate).";

const LOGIN_AFTER_HELP: &str = "\
Example:
  lanceur o365 login --client-id 3f6c…e1 --mailbox factures@example.fr:inbox

Exit codes: 0 signed in, 2 usage, 3 sign-in refused, declined or timed out, 4 Microsoft \
unreachable.";

/// `lanceur o365 …`: a run, or `lanceur o365 login …`.
pub type O365Command = WithLogin<O365Args, O365LoginArgs>;

impl LoginHelp for O365LoginArgs {
    const ABOUT: &'static str = "Sign in once and save the tokens for the runs";
    const LONG_ABOUT: &'static str = LOGIN_LONG_ABOUT;
    const AFTER_HELP: &'static str = LOGIN_AFTER_HELP;
}

/// The account: who signs in, to which tenant, for which mailbox and folder. Login and runs share
/// these, and the launcher's default name is derived from the mailbox and folder.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Account options")]
pub struct AccountArgs {
    /// Mailbox: me, an address, or address:folder for a shared mailbox
    #[arg(
        short = 'm',
        long,
        value_name = "MAILBOX",
        default_value = "me",
        long_help = "Whose mail to read. me (default): the account that signed in. An address \
(factures@example.fr): another mailbox, usually a shared one, which the signed-in account must \
have Full Access to (and the application the Mail.ReadWrite.Shared permission); app-only \
authentication always needs an address. As in the EzGED form, the folder may follow a colon: \
factures@example.fr:inbox."
    )]
    pub mailbox: String,

    /// Folder to read: a well-known name (inbox, archive…) or a path such as Inbox/Factures
    #[arg(
        long,
        value_name = "FOLDER",
        long_help = "The folder to read (\"chemin source\" in the EzGED form). A well-known name, \
the same in every language: inbox (default), archive, junkemail, drafts, sentitems, \
deleteditems. Or a path of display names separated by '/', starting from the top of the mailbox \
or from a well-known folder: Inbox/Factures, Clients/2024. Cannot be combined with a folder given \
in --mailbox."
    )]
    pub folder: Option<String>,

    /// The application (client) id of your Entra ID app registration
    #[arg(
        long,
        value_name = "ID",
        env = "LANCEUR_O365_CLIENT_ID",
        long_help = "The application (client) id of the app registration in Microsoft Entra ID \
(Azure AD) that lanceur signs in as, e.g. 3f6c2b1a-…. See `lanceur o365 --help` for the \
permissions it needs."
    )]
    pub client_id: String,

    /// Tenant: organizations (default), a tenant id or a domain
    #[arg(
        long,
        value_name = "TENANT",
        env = "LANCEUR_O365_TENANT",
        default_value = "organizations",
        long_help = "The Microsoft 365 tenant: organizations (default: any work or school \
account), a tenant id (a GUID) or one of its domains (example.fr). App-only authentication needs a \
tenant id or domain."
    )]
    pub tenant: String,

    /// Sign-in endpoint (national clouds, tests)
    #[arg(
        long,
        value_name = "URL",
        env = "LANCEUR_O365_LOGIN_URL",
        default_value = "https://login.microsoftonline.com",
        long_help = "The Microsoft identity platform's root. Change it for national clouds: \
https://login.microsoftonline.us (US government), https://login.chinacloudapi.cn (China). \
Plain http:// is refused except to this machine (127.0.0.1, ::1, localhost)."
    )]
    pub login_url: String,

    /// Microsoft Graph endpoint (national clouds, tests)
    #[arg(
        long,
        value_name = "URL",
        env = "LANCEUR_O365_GRAPH_URL",
        default_value = "https://graph.microsoft.com/v1.0",
        long_help = "Microsoft Graph's root, version included. National clouds: \
https://graph.microsoft.us/v1.0, https://dod-graph.microsoft.us/v1.0, \
https://microsoftgraph.chinacloudapi.cn/v1.0. Plain http:// is refused except to this machine."
    )]
    pub graph_url: String,
}

#[derive(Debug, Args, Clone)]
pub struct O365LoginArgs {
    #[command(flatten)]
    pub account: AccountArgs,
    #[command(flatten)]
    pub flow: FlowArgs,
    #[command(flatten)]
    pub state: LoginStateArgs,
}

#[derive(Debug, Args, Clone)]
pub struct O365Args {
    #[command(flatten)]
    pub account: AccountArgs,

    /// Application secret for app-only access: a file (or LANCEUR_O365_CLIENT_SECRET)
    #[arg(
        value_hint = clap::ValueHint::FilePath,
        long,
        value_name = "FILE",
        help_heading = "Account options",
        long_help = "Authenticate as the application itself (client credentials), for unattended \
servers: no `login` step, no token expiring after 90 days unused. The secret is read from FILE \
(one line) or from the environment variable LANCEUR_O365_CLIENT_SECRET; never give it on the \
command line, where other users can see it. Needs an address in --mailbox, a tenant id or domain \
in --tenant, and the application permission Mail.ReadWrite with admin consent (restrict it to \
the right mailboxes with an Exchange application access policy)."
    )]
    pub client_secret_file: Option<PathBuf>,

    #[command(flatten)]
    pub certificate: CertificateArgs,

    #[command(flatten)]
    pub expiry: ExpiryArgs,

    /// Which mails to take: unread (default) or all the journal has not seen
    #[arg(
        long,
        value_enum,
        default_value_t = Select::Unread,
        value_name = "WHICH",
        help_heading = "Mail options",
        long_help = "unread (default): only unread mails. Simple, and it matches the EzGED \
launcher, but a mail that someone opens in Outlook before the run is never taken, silently. \
all: every mail of the folder that this launcher's journal has not seen, read or unread; nothing \
is missed, but the first run would take the whole folder, so --since is required to bound it \
(use --since 1900-01-01 to really take everything)."
    )]
    pub select: Select,

    /// Only mails received since this date or for this long (2024-01-31, 30d)
    #[arg(
        long,
        value_name = "WHEN",
        help_heading = "Mail options",
        long_help = "Only consider mails received since WHEN: a date (2024-01-31), a date and time \
(2024-01-31T08:00:00Z), or a duration before now (30d, 12h). Required with --select all, so that \
a first run does not flood the COLD with years of mail."
    )]
    pub since: Option<String>,

    /// After depositing a mail: read (default), move, delete or keep
    #[arg(
        long = "after",
        alias = "post-action",
        value_enum,
        default_value_t = PostAction::Read,
        value_name = "ACTION",
        help_heading = "Mail options",
        long_help = "What to do with a mail once its documents are safely in the COLD folder and \
the journal: read (default) marks it read; move moves it to --move-to; delete deletes it (it \
stays recoverable for a while in Outlook); keep leaves it untouched (the journal keeps it from \
being taken twice). A mail that someone else moved or deleted meanwhile is fine."
    )]
    pub post_action: PostAction,

    /// Folder to move taken mails to, with --after move
    #[arg(
        long,
        value_name = "FOLDER",
        help_heading = "Mail options",
        required_if_eq("post_action", "move"),
        long_help = "Where --after move puts taken mails: a well-known name (archive, \
deleteditems) or a path such as Inbox/Traités, as for --folder. It must exist."
    )]
    pub move_to: Option<String>,

    /// Move a mail set aside (see --set-aside-after) to this folder
    #[arg(
        long,
        value_name = "FOLDER",
        long_help = "Where a mail that failed --set-aside-after runs in a row goes: into FOLDER \
(a well-known name or a path, as for --folder), which must exist. Without it, the mail stays \
where it is, as it is, and only the journal keeps lanceur from taking it again. Either way the \
whole mail is kept in the state folder and `lanceur retry` takes it again (from FOLDER, it is \
moved back first)."
    )]
    pub set_aside_to: Option<String>,

    #[command(flatten)]
    pub mail: MailArgs,

    #[command(flatten)]
    pub common: CommonArgs,
}
