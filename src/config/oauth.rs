//! OAuth 2 options checked into an `OAuthConfig`: the provider's endpoints, the scopes of the
//! protocol, the credential (files read, certificate and key checked), the login command to give
//! in messages, and the login step's own settings. Shared by `imap`, `pop` and `o365`.

use std::path::Path;

use anyhow::{bail, Context, Result};

use super::check_url;
use crate::cli::file::FileSecrets;
use crate::cli::oauth::{CertificateArgs, ExpiryArgs, FlowArgs, OAuthArgs};
use crate::oauth::assertion::{load_certificate, load_service_account};
use crate::oauth::http::encode;
use crate::secret::{self, Secret};
use crate::settings::oauth::{Endpoints, Flow, Grant, OAuthConfig, Provider};

pub const MICROSOFT_LOGIN: &str = "https://login.microsoftonline.com";
const GOOGLE_AUTHORIZE: &str = "https://accounts.google.com/o/oauth2/v2/auth";
const GOOGLE_TOKEN: &str = "https://oauth2.googleapis.com/token";
pub const GOOGLE_SCOPE: &str = "https://mail.google.com/";
/// The token cache of IMAP and POP3 launchers (Office 365 ones keep `o365-tokens.json`).
pub const MAIL_CACHE: &str = "oauth-tokens.json";

/// Microsoft's endpoints under `login_url` for `tenant`.
pub fn microsoft_endpoints(login_url: &str, tenant: &str) -> Endpoints {
    let base = format!("{login_url}/{}/oauth2/v2.0", encode(tenant));
    Endpoints {
        authorize: format!("{base}/authorize"),
        token: format!("{base}/token"),
        device: Some(format!("{base}/devicecode")),
    }
}

fn is_common_tenant(tenant: &str) -> bool {
    matches!(
        tenant.to_ascii_lowercase().as_str(),
        "organizations" | "common" | "consumers"
    )
}

/// Checks a tenant: organizations, a tenant id or a domain.
pub fn check_tenant(tenant: &str) -> Result<String> {
    let tenant = tenant.trim().to_string();
    if tenant.is_empty()
        || tenant.contains(|c: char| !c.is_ascii_alphanumeric() && !".-_".contains(c))
    {
        bail!("invalid --tenant {tenant:?}: give organizations, a tenant id or a domain");
    }
    Ok(tenant)
}

/// Microsoft's app-only credential (secret or certificate), or `None` for a delegated sign-in.
pub fn microsoft_app_grant(
    secret: Option<Secret>,
    certificate: &CertificateArgs,
    expiry: &ExpiryArgs,
    tenant: &str,
) -> Result<Option<Grant>> {
    let grant = match (secret, &certificate.client_certificate) {
        (Some(_), Some(_)) => {
            bail!("give a client secret or a certificate (--client-certificate), not both")
        }
        (Some(secret), None) => Grant::AppSecret {
            secret,
            expires: expiry.client_secret_expires,
        },
        (None, Some(path)) => Grant::AppCertificate(
            load_certificate(&super::absolute(path)?, certificate.client_key.as_deref())
                .context("--client-certificate")?,
        ),
        (None, None) => {
            if expiry.client_secret_expires.is_some() {
                bail!("--client-secret-expires goes with a client secret, and none is given");
            }
            return Ok(None);
        }
    };
    if is_common_tenant(tenant) {
        bail!("app-only authentication needs your tenant id or domain in --tenant, not {tenant:?}");
    }
    Ok(Some(grant))
}

/// What `--oauth` gives a mail protocol.
pub struct MailOAuth<'a> {
    pub args: &'a OAuthArgs,
    pub secrets: &'a FileSecrets,
    pub account: &'a str,
    /// `IMAP` or `POP`.
    pub protocol: &'static str,
}

impl MailOAuth<'_> {
    /// The OAuth settings, or `None` without `--oauth`. `login_command` is filled in later, once
    /// the launcher's name is known.
    pub fn config(&self) -> Result<Option<OAuthConfig>> {
        let args = self.args;
        let Some(provider) = args.oauth else {
            let stray = [
                ("--client-id", args.client_id.is_some()),
                ("--tenant", args.tenant.is_some()),
                ("--login-url", args.login_url.is_some()),
                ("--client-secret-file", args.client_secret_file.is_some()),
                ("--service-account", args.service_account.is_some()),
                (
                    "--client-certificate",
                    args.certificate.client_certificate.is_some(),
                ),
                (
                    "--client-secret-expires",
                    args.expiry.client_secret_expires.is_some(),
                ),
            ];
            if let Some((flag, _)) = stray.iter().find(|(_, given)| *given) {
                bail!("{flag} is an OAuth option: add --oauth microsoft or --oauth google");
            }
            return Ok(None);
        };
        if args.client_secret.is_some()
            && std::env::var("LANCEUR_OAUTH_CLIENT_SECRET").ok() != args.client_secret
        {
            bail!(
                "--client-secret on the command line is refused: every user of this machine can \
                 read it with ps; set LANCEUR_OAUTH_CLIENT_SECRET or use --client-secret-file"
            );
        }
        let secret = secret::resolve(
            args.client_secret_file.as_deref(),
            args.client_secret.as_deref(),
            "LANCEUR_OAUTH_CLIENT_SECRET",
            "give the client secret in LANCEUR_OAUTH_CLIENT_SECRET or with --client-secret-file",
        )?
        .or_else(|| self.secrets.client_secret.clone());
        let login_url = args
            .login_url
            .as_deref()
            .map(|url| check_url(url, "--login-url"))
            .transpose()?;
        let client_id = || -> Result<String> {
            let id = args.client_id.as_deref().unwrap_or("").trim().to_string();
            if id.is_empty() || id.contains(char::is_whitespace) {
                bail!(
                    "--oauth needs --client-id (or LANCEUR_OAUTH_CLIENT_ID): the id of your app \
                     registration or OAuth client"
                );
            }
            Ok(id)
        };
        let warn_days = args.expiry.warn_before;
        let config = match provider {
            Provider::Microsoft => {
                if args.service_account.is_some() {
                    bail!("--service-account is Google's; Microsoft's app-only uses a secret or --client-certificate");
                }
                let tenant = check_tenant(args.tenant.as_deref().unwrap_or("organizations"))?;
                let grant = microsoft_app_grant(secret, &args.certificate, &args.expiry, &tenant)?;
                let login_url = login_url.unwrap_or_else(|| MICROSOFT_LOGIN.to_string());
                let scope = match &grant {
                    Some(_) => "https://outlook.office365.com/.default".to_string(),
                    None => format!(
                        "https://outlook.office.com/{}.AccessAsUser.All offline_access",
                        self.protocol
                    ),
                };
                OAuthConfig {
                    provider,
                    client_id: client_id()?,
                    endpoints: microsoft_endpoints(&login_url, &tenant),
                    tenant,
                    login_url,
                    scope,
                    grant: grant.unwrap_or(Grant::Delegated {
                        client_secret: None,
                    }),
                    cache_file: MAIL_CACHE,
                    login_command: String::new(),
                    warn_days,
                }
            }
            Provider::Google => {
                if args.tenant.is_some() {
                    bail!("--tenant is Microsoft's; Google needs none");
                }
                if args.certificate.client_certificate.is_some() {
                    bail!("--client-certificate is Microsoft's; Google's app-only sign-in is --service-account");
                }
                if args.expiry.client_secret_expires.is_some() {
                    bail!("--client-secret-expires is for Microsoft's client secrets");
                }
                let endpoints = |token: &str| match &login_url {
                    Some(url) => Endpoints {
                        authorize: format!("{url}/o/oauth2/v2/auth"),
                        token: format!("{url}/token"),
                        device: None,
                    },
                    None => Endpoints {
                        authorize: GOOGLE_AUTHORIZE.to_string(),
                        token: token.to_string(),
                        device: None,
                    },
                };
                let (grant, endpoints, client_id) = match &args.service_account {
                    Some(path) => {
                        if secret.is_some() {
                            bail!("give --service-account or a client secret, not both");
                        }
                        let (account, token_uri) =
                            load_service_account(&super::absolute(path)?, self.account)
                                .context("--service-account")?;
                        let token_uri = check_url(&token_uri, "the key's token_uri")?;
                        let id = account.client_email.clone();
                        (Grant::ServiceAccount(account), endpoints(&token_uri), id)
                    }
                    None => {
                        let Some(secret) = secret else {
                            bail!(
                                "Google's sign-in needs the OAuth client's secret too: set \
                                 LANCEUR_OAUTH_CLIENT_SECRET or give --client-secret-file (or a \
                                 Workspace service account with --service-account)"
                            );
                        };
                        (
                            Grant::Delegated {
                                client_secret: Some(secret),
                            },
                            endpoints(GOOGLE_TOKEN),
                            client_id()?,
                        )
                    }
                };
                OAuthConfig {
                    provider,
                    client_id,
                    tenant: String::new(),
                    login_url: login_url.unwrap_or_else(|| "https://accounts.google.com".into()),
                    endpoints,
                    scope: GOOGLE_SCOPE.to_string(),
                    grant,
                    cache_file: MAIL_CACHE,
                    login_command: String::new(),
                    warn_days,
                }
            }
        };
        Ok(Some(config))
    }
}

/// The login flow asked for, checked against the provider.
pub fn flow(args: &FlowArgs, provider: Provider) -> Result<(Flow, u16)> {
    let flow = match (args.flow, provider) {
        (Some(Flow::Device), Provider::Google) => bail!(
            "Google's device flow does not allow Gmail's scope; use --flow browser (the default \
             for Google)"
        ),
        (Some(flow), _) => flow,
        (None, Provider::Google) => Flow::Browser,
        (None, Provider::Microsoft) => Flow::Device,
    };
    Ok((flow, args.redirect_port.unwrap_or(0)))
}

/// The command that signs a launcher in again: `lanceur login FILE` for a launcher file, else
/// `lanceur` with `words` (each quoted as a shell needs).
pub fn login_command(file: Option<&Path>, words: &[String]) -> String {
    if let Some(file) = file {
        return format!("lanceur login {}", quoted(&file.display().to_string()));
    }
    let mut command = String::from("lanceur");
    for word in words {
        command.push(' ');
        command.push_str(&quoted(word));
    }
    command
}

/// A value as a shell would need it: a POSIX shell's single quotes on Unix; on Windows, where the
/// command is pasted into cmd or PowerShell, a path's backslashes as they are and double quotes
/// around anything else (what both shells and `CommandLineToArgvW` read as one word).
pub fn quoted(value: &str) -> String {
    let plain = if cfg!(windows) {
        "@._-:/=\\"
    } else {
        "@._-:/="
    };
    if !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || plain.contains(c))
    {
        value.to_string()
    } else if cfg!(windows) {
        format!("\"{}\"", value.replace('"', "\\\""))
    } else {
        format!("'{}'", value.replace('\'', "'\\''"))
    }
}

/// The options of `args` a login must repeat, as words.
pub fn oauth_words(args: &OAuthArgs, config: &OAuthConfig) -> Vec<String> {
    let mut words = vec!["--oauth".to_string(), config.provider.key().to_string()];
    if let Some(id) = &args.client_id {
        words.extend(["--client-id".to_string(), id.clone()]);
    }
    if let Some(tenant) = &args.tenant {
        words.extend(["--tenant".to_string(), tenant.clone()]);
    }
    if let Some(url) = &args.login_url {
        words.extend(["--login-url".to_string(), url.clone()]);
    }
    if let Some(file) = &args.client_secret_file {
        words.extend([
            "--client-secret-file".to_string(),
            file.display().to_string(),
        ]);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_word_is_quoted_for_the_shell_of_its_platform() {
        assert_eq!(quoted("me@example.fr"), "me@example.fr");
        if cfg!(windows) {
            let state = r"C:\ProgramData\lanceur";
            assert_eq!(quoted(state), state);
            assert_eq!(
                quoted(r"C:\Program Files\lanceur"),
                r#""C:\Program Files\lanceur""#
            );
        } else {
            assert_eq!(quoted("/var/lib/lanceur"), "/var/lib/lanceur");
            assert_eq!(quoted("/srv/a b"), "'/srv/a b'");
            assert_eq!(quoted("it's"), r"'it'\''s'");
        }
    }

    #[test]
    fn login_commands_quote_what_a_shell_would_split() {
        let words: Vec<String> = ["imap", "login", "--folder", "L'été", "--name", "box"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        // A POSIX shell's quoting; cmd's and PowerShell's on Windows.
        let (folder, file) = if cfg!(windows) {
            (r#""L'été""#, r#""/etc/lanceur/a b.toml""#)
        } else {
            (r"'L'\''été'", "'/etc/lanceur/a b.toml'")
        };
        assert_eq!(
            login_command(None, &words),
            format!("lanceur imap login --folder {folder} --name box")
        );
        assert_eq!(
            login_command(Some(Path::new("/etc/lanceur/a b.toml")), &words),
            format!("lanceur login {file}")
        );
    }

    #[test]
    fn google_refuses_the_device_flow() {
        let args = FlowArgs {
            flow: Some(Flow::Device),
            redirect_port: None,
        };
        assert!(flow(&args, Provider::Google).is_err());
        let none = FlowArgs {
            flow: None,
            redirect_port: None,
        };
        assert_eq!(flow(&none, Provider::Google).unwrap(), (Flow::Browser, 0));
        assert_eq!(flow(&none, Provider::Microsoft).unwrap(), (Flow::Device, 0));
    }
}
