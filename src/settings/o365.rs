//! `lanceur o365`: an Office 365 mailbox through Microsoft Graph, and its login step.

use super::oauth::OAuthConfig;
use super::MailSettings;

/// Whose mailbox: the signed-in account's, or another one by address (shared mailboxes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mailbox {
    Me,
    User(String),
}

impl Mailbox {
    /// How the seed writes it: `me` or the address.
    pub fn display(&self) -> &str {
        match self {
            Mailbox::Me => "me",
            Mailbox::User(address) => address,
        }
    }
}

/// Who lanceur signs in as, where, and which folder it reads.
#[derive(Debug, Clone)]
pub struct AccountConfig {
    pub mailbox: Mailbox,
    /// A well-known name (`inbox`) or a `/`-separated path of display names.
    pub folder: String,
    pub client_id: String,
    pub tenant: String,
    /// Without a trailing slash.
    pub login_url: String,
    /// Without a trailing slash, version included.
    pub graph_url: String,
}

#[derive(Debug, Clone)]
pub struct O365Config {
    pub account: AccountConfig,
    /// Delegated (tokens from `lanceur o365 login`) or app-only (secret or certificate).
    pub oauth: Box<OAuthConfig>,
    pub select: Select,
    /// RFC 3339 instant; mails received before it are not considered.
    pub since: Option<String>,
    pub post_action: PostAction,
    pub move_to: Option<String>,
    pub mail: MailSettings,
    /// `--unmatched seen`: mark read a mail none of whose documents passed the filters.
    pub unmatched_read: bool,
    /// `--set-aside-to`: where mails set aside go; `None` gives them a category.
    pub set_aside_to: Option<String>,
}

/// Which mails a run considers. The command line takes these words as they are (with the words of
/// `lanceur imap --select` as aliases).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Select {
    /// Unread mails only
    #[default]
    #[value(alias = "unseen")]
    Unread,
    /// Every mail the journal has not seen, read or not (needs --since)
    All,
}

/// What happens to a mail once its documents are deposited and journaled. The command line takes
/// these words as they are (with the words of `lanceur imap --after` as aliases).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum PostAction {
    /// Mark it read
    #[default]
    #[value(alias = "seen")]
    Read,
    /// Move it to --move-to
    Move,
    /// Delete it (it goes to the recoverable items)
    Delete,
    /// Leave it as it is; the journal remembers it
    #[value(alias = "none")]
    Keep,
}
