//! Signed JWT assertions (RFC 7523) and the credentials behind them.
//!
//! - Microsoft's certificate credential: a client assertion signed RS256 with the app's private
//!   key, whose `x5t` header is the base64url SHA-1 thumbprint of the certificate uploaded to the
//!   app registration, `aud` the token endpoint, `iss` and `sub` the client id, a unique `jti`,
//!   valid ten minutes (Microsoft's "certificate credentials" page).
//! - Google's service accounts with domain-wide delegation: an assertion signed RS256 with the
//!   account's key (`kid` its key id), `iss` the account's address, `sub` the user acted for,
//!   `scope`, `aud` the token endpoint, valid one hour.
//!
//! Keys and certificates are read and checked once, by `config`, so that a wrong file exits 2
//! before any request: PEM certificates and PKCS#8 or PKCS#1 RSA keys, in one file or two, and
//! a key must belong to its certificate. JWTs are made and signed by `jsonwebtoken` (ring).

use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::signature::{KeyPair, RsaKeyPair};
use serde::{Deserialize, Serialize};
use x509_cert::der::Decode;

use crate::clock::now_unix_seconds;
use crate::secret::Secret;
use crate::settings::oauth::{Certificate, ServiceAccount};

/// base64url without padding, as JWTs and PKCE write it.
pub fn base64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `bytes` random bytes from the system's generator, base64url.
pub fn random(bytes: usize) -> Result<String> {
    let mut buffer = vec![0u8; bytes];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut buffer)
        .map_err(|_| anyhow!("the system's random generator failed"))?;
    Ok(base64url(&buffer))
}

/// The PEM blocks of a file: label and DER.
fn pem_blocks(text: &str) -> Vec<(String, Vec<u8>)> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start..];
        let Some(end) = after.find("-----END ") else {
            break;
        };
        let Some(close) = after[end + 9..].find("-----") else {
            break;
        };
        let block = &after[..end + 9 + close + 5];
        if let Ok((label, der)) = x509_cert::der::pem::decode_vec(block.as_bytes()) {
            blocks.push((label.to_string(), der));
        }
        rest = &after[end + 9 + close + 5..];
    }
    blocks
}

/// Reads the app's certificate (PEM) and its private key (PEM, in `key_path` or in the same file).
pub fn load_certificate(cert_path: &Path, key_path: Option<&Path>) -> Result<Certificate> {
    let read = |path: &Path| {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
    };
    let cert_text = read(cert_path)?;
    let blocks = pem_blocks(&cert_text);
    let Some((_, der)) = blocks.iter().find(|(label, _)| label == "CERTIFICATE") else {
        bail!(
            "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----); convert a .pfx with \
             `openssl pkcs12 -in app.pfx -out app.pem -nodes`",
            cert_path.display()
        );
    };
    let certificate = x509_cert::Certificate::from_der(der).map_err(|err| {
        anyhow!(
            "{} is not a valid X.509 certificate: {err}",
            cert_path.display()
        )
    })?;
    let key_blocks = match key_path {
        Some(path) => pem_blocks(&read(path)?),
        None => blocks.clone(),
    };
    let key_file = key_path.unwrap_or(cert_path);
    if key_blocks
        .iter()
        .any(|(label, _)| label == "ENCRYPTED PRIVATE KEY")
    {
        bail!(
            "the private key in {} is encrypted; lanceur runs unattended, so give it decrypted \
             (`openssl pkcs8 -in key.pem -out key-plain.pem`) in a file only this account can read",
            key_file.display()
        );
    }
    let Some((label, key_der)) = key_blocks
        .iter()
        .find(|(label, _)| label == "PRIVATE KEY" || label == "RSA PRIVATE KEY")
    else {
        bail!(
            "{} holds no private key (-----BEGIN PRIVATE KEY-----); give it with --client-key",
            key_file.display()
        );
    };
    let pair = if label == "PRIVATE KEY" {
        RsaKeyPair::from_pkcs8(key_der)
    } else {
        RsaKeyPair::from_der(key_der)
    }
    .map_err(|err| {
        anyhow!(
            "the private key in {} is not a usable RSA key ({err}); Microsoft's certificate \
             credentials are RSA",
            key_file.display()
        )
    })?;
    let spki = certificate.tbs_certificate().subject_public_key_info();
    if spki.subject_public_key.raw_bytes() != pair.public_key().as_ref() {
        bail!(
            "the private key in {} does not belong to the certificate {}",
            key_file.display(),
            cert_path.display()
        );
    }
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der);
    let not_after = certificate
        .tbs_certificate()
        .validity()
        .not_after
        .to_system_time();
    let pem = pem_text(label, key_der);
    Ok(Certificate {
        path: cert_path.to_path_buf(),
        thumbprint: base64url(digest.as_ref()),
        key_pem: Secret::new(pem),
        not_after: Some(not_after),
    })
}

fn pem_text(label: &str, der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut text = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        text.push_str(&String::from_utf8_lossy(line));
        text.push('\n');
    }
    text.push_str(&format!("-----END {label}-----\n"));
    text
}

/// A Google service account's JSON key, as the Cloud console downloads it.
#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    client_email: String,
    #[serde(default)]
    private_key_id: String,
    #[serde(default)]
    private_key: String,
    #[serde(default)]
    token_uri: String,
}

/// Reads a service account key acting for `subject`; returns it with the token endpoint it names.
pub fn load_service_account(path: &Path, subject: &str) -> Result<(ServiceAccount, String)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the service account key {}", path.display()))?;
    let key: KeyFile = serde_json::from_str(&text).map_err(|err| {
        anyhow!(
            "{} is not a service account's JSON key (line {}, column {})",
            path.display(),
            err.line(),
            err.column()
        )
    })?;
    if key.kind != "service_account" || key.client_email.is_empty() || key.private_key.is_empty() {
        bail!(
            "{} is not a service account's JSON key (Google Cloud console > IAM > Service \
             accounts > Keys > Add key > JSON)",
            path.display()
        );
    }
    EncodingKey::from_rsa_pem(key.private_key.as_bytes()).map_err(|err| {
        anyhow!(
            "the private key in {} cannot be used: {err}",
            path.display()
        )
    })?;
    let token_uri = if key.token_uri.is_empty() {
        "https://oauth2.googleapis.com/token".to_string()
    } else {
        key.token_uri
    };
    Ok((
        ServiceAccount {
            client_email: key.client_email,
            private_key_id: key.private_key_id,
            private_key: Secret::new(key.private_key),
            subject: subject.to_string(),
        },
        token_uri,
    ))
}

#[derive(Serialize)]
struct ClientClaims<'a> {
    aud: &'a str,
    iss: &'a str,
    sub: &'a str,
    jti: String,
    nbf: u64,
    iat: u64,
    exp: u64,
}

/// Microsoft's client assertion for `client_id`, to be sent to `audience` (the token endpoint).
pub fn client_assertion(
    certificate: &Certificate,
    client_id: &str,
    audience: &str,
) -> Result<Secret> {
    let now = now_unix_seconds();
    let mut header = Header::new(Algorithm::RS256);
    header.x5t = Some(certificate.thumbprint.clone());
    let claims = ClientClaims {
        aud: audience,
        iss: client_id,
        sub: client_id,
        jti: random(16)?,
        nbf: now,
        iat: now,
        exp: now + 600,
    };
    sign(&header, &claims, &certificate.key_pem)
}

#[derive(Serialize)]
struct ServiceClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

/// Google's assertion for a service account acting for its subject.
pub fn service_account_assertion(
    account: &ServiceAccount,
    scope: &str,
    audience: &str,
) -> Result<Secret> {
    let now = now_unix_seconds();
    let mut header = Header::new(Algorithm::RS256);
    if !account.private_key_id.is_empty() {
        header.kid = Some(account.private_key_id.clone());
    }
    let claims = ServiceClaims {
        iss: &account.client_email,
        sub: &account.subject,
        scope,
        aud: audience,
        iat: now,
        exp: now + 3600,
    };
    sign(&header, &claims, &account.private_key)
}

fn sign(header: &Header, claims: &impl Serialize, key_pem: &Secret) -> Result<Secret> {
    let key = EncodingKey::from_rsa_pem(key_pem.expose().as_bytes())
        .map_err(|err| anyhow!("the private key cannot be used: {err}"))?;
    jsonwebtoken::encode(header, claims, &key)
        .map(Secret::new)
        .map_err(|err| anyhow!("cannot sign the assertion: {err}"))
}

/// Days from now until `when`, rounded down; negative once past.
pub fn days_until(when: SystemTime) -> i64 {
    let now = SystemTime::now();
    let days = |d: Duration| i64::try_from(d.as_secs() / 86_400).unwrap_or(i64::MAX);
    match when.duration_since(now) {
        Ok(ahead) => days(ahead),
        Err(past) => -days(past.duration()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_blocks_are_found_among_other_text() {
        let text = "Bag Attributes\n-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n\
                    junk\n-----BEGIN PRIVATE KEY-----\nAwQF\n-----END PRIVATE KEY-----\n";
        let blocks = pem_blocks(text);
        assert_eq!(
            blocks,
            vec![
                ("CERTIFICATE".to_string(), vec![0, 1, 2]),
                ("PRIVATE KEY".to_string(), vec![3, 4, 5])
            ]
        );
    }

    #[test]
    fn random_values_differ_and_are_url_safe() {
        let (a, b) = (random(32).unwrap(), random(32).unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }
}
