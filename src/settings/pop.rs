//! `lanceur pop`: a POP3 maildrop.

use super::MailSettings;
use super::ServerConfig;

#[derive(Debug, Clone)]
pub struct PopConfig {
    pub server: ServerConfig,
    pub after: PopAfter,
    pub mail: MailSettings,
}

/// What happens to a POP3 mail once deposited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PopAfter {
    /// `DELE`, committed by `QUIT`.
    Delete,
    /// Left on the server; with a number of days, deleted that long after it was taken.
    Keep { delete_after_days: Option<u32> },
}
