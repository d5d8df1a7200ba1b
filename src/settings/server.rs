//! A mail server and how to log in to it; shared by `imap` and `pop`.

use super::oauth::OAuthConfig;
use crate::secret::Secret;
use crate::tls::TlsConfig;

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub tls: TlsConfig,
    pub account: String,
    pub auth: Auth,
}

#[derive(Debug, Clone)]
#[allow(clippy::enum_variant_names)] // OAuth is the protocol's name, not a repeat of "Auth"
pub enum Auth {
    Password(Secret),
    /// An OAuth2 access token obtained elsewhere, sent with SASL XOAUTH2.
    XOAuth2(Secret),
    /// OAuth 2 tokens that lanceur obtains and renews itself, sent with OAUTHBEARER where the
    /// server offers it, XOAUTH2 otherwise.
    OAuth(Box<OAuthConfig>),
}
