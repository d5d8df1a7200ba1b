//! `lanceur imap`: one mailbox of an IMAP server.

use super::MailSettings;
use super::ServerConfig;

#[derive(Debug, Clone)]
pub struct ImapConfig {
    pub server: ServerConfig,
    /// As the user wrote it (UTF-8); encoded for the wire by the IMAP source.
    pub mailbox: String,
    pub unseen_only: bool,
    /// Only mails received on or after this day (year, month, day).
    pub since: Option<(i32, u32, u32)>,
    pub after: ImapAfter,
    pub mail: MailSettings,
    /// `--unmatched seen`: mark seen a mail none of whose documents passed the filters.
    pub unmatched_seen: bool,
    /// `--set-aside-to`: where mails set aside go; `None` flags them `$LanceurSetAside`.
    pub set_aside_to: Option<String>,
}

/// What happens to a mail once deposited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImapAfter {
    Seen,
    /// To this mailbox (UTF-8, as the user wrote it).
    Move(String),
    Delete,
    Keep,
}
