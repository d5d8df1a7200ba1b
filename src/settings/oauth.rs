//! How a launcher signs in with OAuth 2: the identity provider, its endpoints, what is asked for,
//! and with which credential. Shared by `imap`, `pop` and `o365`; used by `crate::oauth`.

use std::path::PathBuf;
use std::time::SystemTime;

use crate::secret::Secret;

/// Whose identity platform issues the tokens; it decides how errors are read and advised on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Provider {
    /// Microsoft Entra ID (Exchange Online, Outlook.com, Microsoft 365)
    Microsoft,
    /// Google (Gmail, Google Workspace)
    Google,
}

impl Provider {
    /// How the token cache records it.
    pub fn key(self) -> &'static str {
        match self {
            Provider::Microsoft => "microsoft",
            Provider::Google => "google",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Provider::Microsoft => "Microsoft",
            Provider::Google => "Google",
        }
    }

    /// How long a refresh token may lie unused before the provider drops it: Microsoft 90 days,
    /// Google six months.
    pub fn idle_limit_days(self) -> u64 {
        match self {
            Provider::Microsoft => 90,
            Provider::Google => 180,
        }
    }
}

/// The provider's URLs, complete.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// Where the browser is sent for the authorization code.
    pub authorize: String,
    pub token: String,
    /// The device authorization endpoint (Microsoft only).
    pub device: Option<String>,
}

/// What a run signs in with.
#[derive(Debug, Clone)]
pub enum Grant {
    /// A person signed in once (`login`); runs renew the access token with the cached refresh
    /// token. Google's installed apps also need their client secret to do so.
    Delegated { client_secret: Option<Secret> },
    /// Microsoft client credentials with a client secret.
    AppSecret {
        secret: Secret,
        /// When the administrator said the secret expires, for the warning.
        expires: Option<SystemTime>,
    },
    /// Microsoft client credentials with a client assertion signed by the app's certificate.
    AppCertificate(Certificate),
    /// A Google Workspace service account with domain-wide delegation, acting for a user.
    ServiceAccount(ServiceAccount),
}

/// An application certificate and its private key, read and checked by `config`.
#[derive(Debug, Clone)]
pub struct Certificate {
    pub path: PathBuf,
    /// SHA-1 thumbprint of the DER certificate, base64url: the assertion's `x5t` header.
    pub thumbprint: String,
    /// The private key, PEM (PKCS#8 or PKCS#1).
    pub key_pem: Secret,
    pub not_after: Option<SystemTime>,
}

/// The fields of a Google service account's JSON key that the assertion needs.
#[derive(Debug, Clone)]
pub struct ServiceAccount {
    pub client_email: String,
    pub private_key_id: String,
    pub private_key: Secret,
    /// The user whose mail the service account reads (domain-wide delegation's `sub`).
    pub subject: String,
}

/// Everything a run or a login needs to get access tokens.
#[derive(Clone)]
pub struct OAuthConfig {
    pub provider: Provider,
    pub client_id: String,
    /// Microsoft's tenant (`organizations`, a domain or an id); empty for Google.
    pub tenant: String,
    /// The identity root as configured; the token cache remembers it.
    pub login_url: String,
    pub endpoints: Endpoints,
    /// Space-separated scopes, as sent.
    pub scope: String,
    pub grant: Grant,
    /// The token cache's file name in the launcher's state folder.
    pub cache_file: &'static str,
    /// The command that signs this launcher in again, for messages.
    pub login_command: String,
    /// Warn this many days before a sign-in or a credential expires.
    pub warn_days: u32,
}

/// The settings, without the login command: it is derived text, and says `lanceur login FILE`
/// for a launcher file where the same options on the command line get the long form.
impl std::fmt::Debug for OAuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthConfig")
            .field("provider", &self.provider)
            .field("client_id", &self.client_id)
            .field("tenant", &self.tenant)
            .field("login_url", &self.login_url)
            .field("endpoints", &self.endpoints)
            .field("scope", &self.scope)
            .field("grant", &self.grant)
            .field("cache_file", &self.cache_file)
            .field("warn_days", &self.warn_days)
            .finish_non_exhaustive()
    }
}

/// How the person signs in at `login`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Flow {
    /// A code to enter at a link, on any device (Microsoft only)
    Device,
    /// A link to open in a browser on this machine, which comes back to http://localhost:PORT
    Browser,
}

/// What `login` needs: the sign-in, where to keep it, and how to check it works.
#[derive(Debug, Clone)]
pub struct LoginConfig {
    pub launcher: String,
    pub state_dir: PathBuf,
    pub oauth: OAuthConfig,
    pub flow: Flow,
    /// The loopback port of the browser flow; 0 lets the system choose.
    pub redirect_port: u16,
    pub target: LoginTarget,
}

/// What is checked once signed in.
#[derive(Debug, Clone)]
pub enum LoginTarget {
    O365(super::o365::AccountConfig),
    Imap {
        server: super::ServerConfig,
        mailbox: String,
    },
    Pop {
        server: super::ServerConfig,
    },
}
