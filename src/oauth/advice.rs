//! The identity platforms' error answers as one line an administrator can act on: Microsoft's
//! AADSTS sentence without its trace lines, Google's description, and advice for the codes met
//! in practice.

use super::http::TokenError;
use crate::settings::oauth::{Grant, OAuthConfig, Provider};

/// The error as one line: `error (first line of the description); advice`.
pub fn describe(provider: Provider, error: &TokenError) -> String {
    let first = error
        .error_description
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .trim_end_matches('.');
    let mut text = if first.is_empty() {
        error.error.clone()
    } else {
        format!("{} ({first})", error.error)
    };
    let advice = match provider {
        Provider::Microsoft => error.error_codes.iter().find_map(|&code| microsoft(code)),
        Provider::Google => google(&error.error, &error.error_description),
    };
    if let Some(advice) = advice {
        text.push_str("; ");
        text.push_str(advice);
    }
    text
}

/// Whether the error means the refresh token is dead and a person must sign in again.
pub fn needs_login(error: &TokenError) -> bool {
    matches!(
        error.error.as_str(),
        "invalid_grant" | "interaction_required" | "consent_required"
    )
}

/// What to check when a mail server refuses a token the provider issued.
pub fn server_refusal(oauth: &OAuthConfig, protocol: &str) -> String {
    match (&oauth.grant, oauth.provider) {
        (Grant::Delegated { .. }, _) => format!(
            "--account must be the account that signed in, with {protocol} enabled for it; or \
             sign in again with `{}` as that account",
            oauth.login_command
        ),
        (_, Provider::Microsoft) => format!(
            "the application's service principal needs to be registered in Exchange Online \
             (New-ServicePrincipal) with FullAccess on --account's mailbox \
             (Add-MailboxPermission), and the {protocol}.AccessAsApp permission with admin consent"
        ),
        (_, Provider::Google) => format!(
            "the service account needs domain-wide delegation with the scope \
             https://mail.google.com/, and --account must be a user of the domain with \
             {protocol} enabled"
        ),
    }
}

/// Plain advice for the AADSTS codes an administrator meets.
fn microsoft(code: u64) -> Option<&'static str> {
    Some(match code {
        7000218 => {
            "enable \"Allow public client flows\" in the app registration (Entra ID > App \
             registrations > Authentication), or use app-only authentication with a client secret \
             or certificate"
        }
        65001 => {
            "the permissions were never granted: sign in and accept them, or have an administrator \
             grant admin consent (App registrations > API permissions)"
        }
        50076 | 50079 => "multi-factor authentication is now required: sign in again",
        53003 => {
            "a Conditional Access policy blocks this sign-in; ask the tenant's administrator to \
             allow it (location, device) or use app-only authentication"
        }
        50199 | 50097 => "the sign-in needs a compliant device; use app-only authentication",
        700082 => "the sign-in expired after 90 days without use: sign in again",
        70043 | 70044 => "the sign-in expired (session lifetime policy): sign in again",
        50173 | 50133 => "the account's password changed since the sign-in: sign in again",
        700016 => {
            "no application with this client id in this tenant: check --client-id and --tenant"
        }
        90002 => "no such tenant: check --tenant",
        7000215 => "the client secret is wrong: check the secret (its value, not its id)",
        7000222 => "the client secret has expired: create a new one in the app registration",
        700027 => {
            "the certificate's signature was refused: upload this certificate (its .cer, public \
             part) under Certificates & secrets and give its own private key"
        }
        700024 => "the client assertion is outside its validity: check this machine's clock",
        50011 | 500113 => {
            "the redirect URI is not registered: add http://localhost under Authentication > \
             Mobile and desktop applications"
        }
        500011 => "the resource is unknown in this cloud: check --login-url",
        70011 => "Microsoft refused the permissions asked for (invalid scope)",
        50059 | 90009 => "give your tenant id or domain with --tenant",
        50034 | 50126 => "unknown account or wrong password",
        50057 => "the account is disabled",
        _ => return None,
    })
}

/// Advice for Google's answers, which carry no codes.
fn google(error: &str, description: &str) -> Option<&'static str> {
    let description = description.to_ascii_lowercase();
    Some(match error {
        "invalid_grant" if description.contains("expired or revoked") => {
            "the sign-in was revoked, or it expired: an OAuth app whose publishing status is \
             \"Testing\" gets refresh tokens that expire after 7 days; publish it (OAuth consent \
             screen > Publish app) and sign in again"
        }
        "invalid_grant" if description.contains("invalid email or user id") => {
            "the account is not a user of the Workspace domain: check --account"
        }
        "invalid_client" => {
            "the OAuth client id or its secret is wrong: copy both from Google Cloud console > \
             APIs & Services > Credentials"
        }
        "unauthorized_client" => {
            "the service account's client id is not allowed this scope: in the Admin console, \
             Security > API controls > Domain-wide delegation, add it with the scope \
             https://mail.google.com/"
        }
        "access_denied" => {
            "the permissions were refused in the browser: sign in again and allow them"
        }
        "admin_policy_enforced" => "the Workspace administrator blocks this app or this scope",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_as_one_line_with_advice() {
        let error = TokenError {
            error: "invalid_client".into(),
            error_description: "AADSTS7000218: The request body must contain the following \
                parameter: 'client_assertion' or 'client_secret'.\r\nTrace ID: x\r\nCorrelation ID: y"
                .into(),
            error_codes: vec![7000218],
        };
        let text = describe(Provider::Microsoft, &error);
        assert!(!text.contains("Trace ID"), "{text}");
        assert!(
            text.starts_with("invalid_client (AADSTS7000218: "),
            "{text}"
        );
        assert!(text.contains("Allow public client flows"), "{text}");
    }

    #[test]
    fn google_testing_apps_are_named_when_a_refresh_token_dies() {
        let error = TokenError {
            error: "invalid_grant".into(),
            error_description: "Token has been expired or revoked.".into(),
            error_codes: Vec::new(),
        };
        let text = describe(Provider::Google, &error);
        assert!(text.contains("7 days"), "{text}");
        assert!(needs_login(&error));
    }
}
