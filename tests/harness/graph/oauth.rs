//! The fake's OAuth endpoints beyond the device code: the authorization code with PKCE (the
//! browser's `authorize` answered with a redirect, as the identity platforms do once the person
//! has signed in), client assertions checked with the registered certificate, Google's endpoints
//! (installed-app code, refresh, service-account assertions), and the introspection endpoint
//! Dovecot's `oauth2` passdb asks about each IMAP or POP3 token.
//!
//! Signatures are checked with the `openssl` command, not with lanceur's own crates: the
//! assertion's signing input and signature go to files, `openssl x509 -pubkey` takes the public
//! key out of the certificate uploaded to the fake, `openssl dgst -sha256 -verify` judges. The
//! `x5t` thumbprint is compared with `openssl x509 -fingerprint -sha1`.
//!
//! Every access token the fakes hand out is recorded in one process-wide registry with the user it
//! is for, so that the one introspection fake Dovecot is configured with (`introspection_url`)
//! knows the tokens of every test's own fake.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use base64::Engine;
use sha2::{Digest, Sha256};

use super::http::*;
use super::identity::{issue, issue_for};
use super::*;

pub const GOOGLE_CLIENT_ID: &str = "1234567890-fake.apps.googleusercontent.com";
pub const GOOGLE_CLIENT_SECRET: &str = "GOCSPX-fake-secret";

/// An access token as introspection sees it.
#[derive(Debug, Clone)]
pub struct Issued {
    pub user: String,
    pub scope: String,
}

static REGISTRY: OnceLock<Mutex<HashMap<String, Issued>>> = OnceLock::new();
static INTROSPECTION: OnceLock<FakeGraph> = OnceLock::new();

fn registry() -> MutexGuard<'static, HashMap<String, Issued>> {
    lock(REGISTRY.get_or_init(Default::default))
}

/// Records an access token for introspection.
pub fn register(token: &str, user: &str, scope: &str) {
    registry().insert(
        token.to_string(),
        Issued {
            user: user.to_string(),
            scope: scope.to_string(),
        },
    );
}

/// Makes a token fail introspection from now on, as a revocation would.
pub fn revoke(token: &str) {
    registry().remove(token);
}

/// The introspection endpoint Dovecot's oauth2 passdb is configured with, started once.
pub fn introspection_url() -> String {
    let fake = INTROSPECTION.get_or_init(FakeGraph::start);
    format!("{}/introspect", fake.login_url())
}

/// Whether a scope lets its token into a mailbox over IMAP or POP3.
fn mail_scope(scope: &str) -> bool {
    [
        "IMAP.AccessAsUser.All",
        "POP.AccessAsUser.All",
        "outlook.office365.com/.default",
        "https://mail.google.com/",
    ]
    .iter()
    .any(|s| scope.contains(s))
}

/// RFC 7662 introspection, as Dovecot's `introspection_mode = post` asks it.
pub(super) fn introspect(request: &Request) -> Response {
    let form = request.form();
    let token = form.get("token").cloned().unwrap_or_default();
    match registry().get(&token) {
        Some(issued) if mail_scope(&issued.scope) => Response::json(
            200,
            json!({"active": true, "username": issued.user, "scope": issued.scope,
                   "token_type": "Bearer"}),
        ),
        _ => Response::json(200, json!({"active": false})),
    }
}

/// A code waiting for its exchange.
#[derive(Debug, Clone)]
pub(super) struct Code {
    challenge: String,
    redirect_uri: String,
    scope: String,
    user: String,
}

/// `authorize` (Microsoft's and Google's): the person signs in at once, as `signed_in_user`,
/// and the browser is sent back to the redirect URI with a code.
pub(super) fn authorize(state: &mut State, request: &Request, google: bool) -> Response {
    let (client, expected) = if google {
        (request.param("client_id"), GOOGLE_CLIENT_ID)
    } else {
        (request.param("client_id"), CLIENT_ID)
    };
    if client != Some(expected) {
        return Response::empty(400);
    }
    let redirect = request.param("redirect_uri").unwrap_or("").to_string();
    let loopback = if google {
        redirect.starts_with("http://127.0.0.1:")
    } else {
        redirect.starts_with("http://localhost:")
    };
    assert!(loopback, "redirect URI {redirect:?} is not a loopback one");
    assert_eq!(request.param("response_type"), Some("code"));
    assert_eq!(request.param("code_challenge_method"), Some("S256"));
    if google {
        assert_eq!(request.param("access_type"), Some("offline"));
    }
    let state_param = encode(request.param("state").unwrap_or(""));
    if let Some(error) = state.browser_error {
        let mut response = Response::empty(302);
        let description = encode("AADSTS65004: User declined to consent to access the app.");
        response.headers.push((
            "Location".into(),
            format!(
                "{redirect}/?error={error}&error_description={description}&state={state_param}"
            ),
        ));
        return response;
    }
    let scope = request.param("scope").unwrap_or("").to_string();
    state.counter += 1;
    let code = format!("M.C{}-fakecode", state.counter);
    state.codes.insert(
        code.clone(),
        Code {
            challenge: request.param("code_challenge").unwrap_or("").to_string(),
            redirect_uri: redirect.clone(),
            scope,
            user: state.signed_in_user.clone(),
        },
    );
    let mut response = Response::empty(302);
    response.headers.push((
        "Location".into(),
        format!("{redirect}/?code={code}&state={state_param}"),
    ));
    response
}

/// The code exchange: same redirect URI, and the verifier whose SHA-256 is the challenge.
pub(super) fn exchange_code(
    state: &mut State,
    form: &HashMap<String, String>,
) -> Result<Code, Response> {
    let code = form.get("code").cloned().unwrap_or_default();
    let Some(pending) = state.codes.remove(&code) else {
        return Err(identity_error(
            "invalid_grant",
            70008,
            "The provided authorization code is invalid.",
        ));
    };
    if form.get("redirect_uri") != Some(&pending.redirect_uri) {
        return Err(identity_error(
            "invalid_grant",
            50148,
            "The redirect URI does not match.",
        ));
    }
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    let digest = base64url(&Sha256::digest(verifier.as_bytes()));
    if digest != pending.challenge {
        return Err(identity_error(
            "invalid_grant",
            501481,
            "The code_verifier does not match the code_challenge.",
        ));
    }
    Ok(pending)
}

pub(super) fn issue_code(state: &mut State, pending: Code) -> Response {
    let saved = std::mem::replace(&mut state.signed_in_user, pending.user);
    let response = Response::json(200, issue(state, &pending.scope, false));
    state.signed_in_user = saved;
    response
}

fn base64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unbase64url(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()
}

/// An RSA key and its self-signed certificate, made with openssl in `dir`: (certificate, key).
pub fn make_certificate(dir: &Path, name: &str, days: u32) -> (PathBuf, PathBuf) {
    let cert = dir.join(format!("{name}.crt.pem"));
    let key = dir.join(format!("{name}.key.pem"));
    let output = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days"])
        .arg(days.to_string())
        .args(["-subj", &format!("/CN={name}"), "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("cannot run openssl");
    assert!(
        output.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    (cert, key)
}

/// `openssl x509 -fingerprint -sha1` of a certificate, as base64url (the `x5t` header).
fn thumbprint(cert: &Path) -> String {
    let output = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha1", "-in"])
        .arg(cert)
        .output()
        .expect("cannot run openssl");
    let text = String::from_utf8_lossy(&output.stdout);
    let hex = text
        .trim()
        .rsplit('=')
        .next()
        .unwrap_or("")
        .replace(':', "");
    let bytes: Vec<u8> = (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    base64url(&bytes)
}

/// Checks a JWT's RS256 signature against `cert`'s public key with openssl. Returns the header
/// and the claims.
pub fn verify_jwt(jwt: &str, cert: &Path) -> Result<(Value, Value), String> {
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header, claims, signature] = parts.as_slice() else {
        return Err("not a JWT".into());
    };
    let decode = |part: &str| -> Result<Value, String> {
        let bytes = unbase64url(part).ok_or("bad base64url")?;
        serde_json::from_slice(&bytes).map_err(|e| e.to_string())
    };
    let (header_json, claims_json) = (decode(header)?, decode(claims)?);
    if header_json["alg"] != "RS256" {
        return Err(format!("alg {}", header_json["alg"]));
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let sig = dir.path().join("sig");
    let public = dir.path().join("public.pem");
    fs_write(&data, format!("{header}.{claims}").as_bytes());
    fs_write(
        &sig,
        &unbase64url(signature).ok_or("bad signature encoding")?,
    );
    let output = Command::new("openssl")
        .args(["x509", "-pubkey", "-noout", "-in"])
        .arg(cert)
        .output()
        .expect("cannot run openssl");
    fs_write(&public, &output.stdout);
    let output = Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(&public)
        .arg("-signature")
        .arg(&sig)
        .arg(&data)
        .output()
        .expect("cannot run openssl");
    if !output.status.success() {
        return Err("invalid signature".into());
    }
    Ok((header_json, claims_json))
}

fn fs_write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Microsoft's client assertion: a registered certificate (by `x5t`), its signature, and the
/// claims the certificate credentials page lists.
pub(super) fn check_client_assertion(state: &State, request: &Request) -> Result<(), Response> {
    let form = request.form();
    let refuse = |code: u64, text: &str| Err(identity_error("invalid_client", code, text));
    if form.get("client_assertion_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    {
        return refuse(700025, "Invalid client assertion type.");
    }
    let jwt = form.get("client_assertion").cloned().unwrap_or_default();
    let header = jwt
        .split('.')
        .next()
        .and_then(unbase64url)
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .unwrap_or_default();
    let x5t = header["x5t"].as_str().unwrap_or("");
    let Some(cert) = state.certificates.iter().find(|c| thumbprint(c) == x5t) else {
        return refuse(700027, "The certificate with identifier used to sign the client assertion is not registered on application.");
    };
    let Ok((_, claims)) = verify_jwt(&jwt, cert) else {
        return refuse(700027, "Client assertion contains an invalid signature.");
    };
    let audience = format!("http://{}{}", state.addr, request.path);
    let exp = claims["exp"].as_u64().unwrap_or(0);
    let fresh = exp > now()
        && exp <= now() + 3600
        && claims["nbf"].as_u64().unwrap_or(u64::MAX) <= now() + 60;
    if claims["aud"] != audience.as_str()
        || !fresh
        || claims["jti"].as_str().unwrap_or("").is_empty()
    {
        return refuse(
            700024,
            "Client assertion is not within its valid time range or audience.",
        );
    }
    if claims["iss"] != CLIENT_ID || claims["sub"] != CLIENT_ID {
        return refuse(
            700021,
            "Client assertion application identifier doesn't match.",
        );
    }
    Ok(())
}

/// Google's token endpoint: installed-app code exchange and refresh (with the client secret;
/// Google does not rotate refresh tokens), and service-account assertions (RFC 7523).
pub(super) fn google_token(state: &mut State, request: &Request) -> Response {
    let form = request.form();
    let google_error = |error: &str, text: &str| {
        Response::json(400, json!({"error": error, "error_description": text}))
    };
    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code" | "refresh_token")
            if form.get("client_id").map(String::as_str) != Some(GOOGLE_CLIENT_ID)
                || form.get("client_secret").map(String::as_str) != Some(GOOGLE_CLIENT_SECRET) =>
        {
            Response::json(
                401,
                json!({"error": "invalid_client", "error_description": "Unauthorized"}),
            )
        }
        Some("authorization_code") => match exchange_code(state, &form) {
            Ok(pending) => issue_code(state, pending),
            Err(_) => google_error("invalid_grant", "Bad Request"),
        },
        Some("refresh_token") => {
            state.refreshes += 1;
            let token = form.get("refresh_token").cloned().unwrap_or_default();
            if state.refresh_error.is_some() {
                return google_error("invalid_grant", "Token has been expired or revoked.");
            }
            let Some((scope, user)) = state.refresh.get(&token).cloned() else {
                return google_error("invalid_grant", "Token has been expired or revoked.");
            };
            let mut reply = issue_for(state, &scope, false, &user);
            // Google keeps the refresh token: none comes back, the old one stays good.
            if let Some(object) = reply.as_object_mut() {
                if let Some(Value::String(new)) = object.remove("refresh_token") {
                    state.refresh.remove(&new);
                }
            }
            Response::json(200, reply)
        }
        Some("urn:ietf:params:oauth:grant-type:jwt-bearer") => {
            let jwt = form.get("assertion").cloned().unwrap_or_default();
            let Some((email, cert)) = state.service_account.clone() else {
                return google_error("invalid_grant", "Invalid JWT Signature.");
            };
            let Ok((_, claims)) = verify_jwt(&jwt, &cert) else {
                return google_error("invalid_grant", "Invalid JWT Signature.");
            };
            let audience = format!("http://{}{}", state.addr, request.path);
            if claims["iss"] != email.as_str() || claims["aud"] != audience.as_str() {
                return google_error("invalid_grant", "Invalid JWT: bad issuer or audience.");
            }
            if claims["scope"] != "https://mail.google.com/" || !state.delegation_granted {
                return google_error("unauthorized_client", "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.");
            }
            let user = claims["sub"].as_str().unwrap_or("").to_string();
            let reply = issue_for(state, "https://mail.google.com/", true, &user);
            Response::json(200, reply)
        }
        _ => google_error("unsupported_grant_type", "Invalid grant_type."),
    }
}
