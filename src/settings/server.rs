//! A mail server and how to log in to it; shared by `imap` and `pop`.

use crate::secret::Secret;
use crate::tls::TlsConfig;

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub tls: TlsConfig,
    pub account: String,
    pub auth: Auth,
}

#[derive(Debug, Clone)]
pub enum Auth {
    Password(Secret),
    /// An OAuth2 access token, sent with SASL XOAUTH2.
    XOAuth2(Secret),
}
