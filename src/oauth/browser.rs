//! The authorization code login with PKCE (RFC 7636) and a loopback redirect (RFC 8252 §7.3), for
//! tenants that block the device code (Microsoft advises blocking it with Conditional Access) and
//! for Google, whose device flow does not allow Gmail's scope.
//!
//! lanceur listens on the loopback interface (127.0.0.1, and ::1 where there is one, since a
//! browser may resolve `localhost` to either) before it prints the link, so the redirect URI names
//! a real port: `http://localhost:PORT` for Microsoft (registered as `http://localhost` under
//! "Mobile and desktop applications"; Microsoft ignores the port of a loopback redirect), and
//! `http://127.0.0.1:PORT` for Google's desktop clients. The browser comes back with the code and
//! the `state` lanceur chose; the code is exchanged with the PKCE verifier that never left this
//! process. Any other request to the listener (a favicon, a stray probe) gets a 404 and is ignored.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use sha2::{Digest, Sha256};
use ureq::Agent;

use super::advice::describe;
use super::assertion::{base64url, random};
use super::http::{encode, post_form, TokenError, TokenReply};
use crate::exit::Failure;
use crate::settings::oauth::{Grant, OAuthConfig, Provider};

/// How long the browser has to come back.
const WAIT: Duration = Duration::from_secs(600);

/// Prints the link to open on `out`, waits for the browser's redirect, exchanges the code.
pub fn sign_in(
    agent: &Agent,
    config: &OAuthConfig,
    port: u16,
    out: &mut dyn Write,
) -> Result<TokenReply> {
    let listener = TcpListener::bind(("127.0.0.1", port))
        .with_context(|| format!("cannot listen on 127.0.0.1:{port} for the browser's return"))
        .context(Failure::Usage)?;
    let port = listener
        .local_addr()
        .context("the loopback listener")?
        .port();
    let mut listeners = vec![listener];
    if config.provider == Provider::Microsoft {
        // `localhost` may be ::1 to the browser; without IPv6 the IPv4 listener serves alone.
        listeners.extend(TcpListener::bind(("::1", port)).ok());
    }
    for listener in &listeners {
        listener
            .set_nonblocking(true)
            .context("the loopback listener")?;
    }
    let redirect = match config.provider {
        Provider::Microsoft => format!("http://localhost:{port}"),
        Provider::Google => format!("http://127.0.0.1:{port}"),
    };
    let verifier = random(32)?;
    let challenge = base64url(&Sha256::digest(verifier.as_bytes()));
    let state = random(16)?;
    let mut url = format!(
        "{}?client_id={}&response_type=code&redirect_uri={}&scope={}&state={state}\
         &code_challenge={challenge}&code_challenge_method=S256",
        config.endpoints.authorize,
        encode(&config.client_id),
        encode(&redirect),
        encode(&config.scope),
    );
    url.push_str(match config.provider {
        Provider::Microsoft => "&prompt=select_account",
        // A refresh token, and a fresh one at each login.
        Provider::Google => "&access_type=offline&prompt=consent",
    });
    writeln!(
        out,
        "Open this link in a web browser on this machine, sign in with the mailbox's account and \
         accept the permissions:\n\n  {url}\n\nWaiting up to {} minutes for the browser to come \
         back to {redirect} …",
        WAIT.as_secs() / 60
    )
    .and_then(|()| out.flush())
    .context("cannot print the sign-in instructions")?;
    let code = wait_for_code(&listeners, &state, config)?;
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("client_id", config.client_id.as_str()),
        ("code", code.as_str()),
        ("redirect_uri", redirect.as_str()),
        ("code_verifier", verifier.as_str()),
    ];
    if config.provider == Provider::Microsoft {
        form.push(("scope", config.scope.as_str()));
    }
    if let Grant::Delegated {
        client_secret: Some(secret),
    } = &config.grant
    {
        form.push(("client_secret", secret.expose()));
    }
    let provider = config.provider.name();
    post_form(agent, provider, &config.endpoints.token, &form)?.map_err(|(_, error)| {
        anyhow!(
            "{provider} refused the sign-in's code: {}",
            describe(config.provider, &error)
        )
        .context(Failure::Auth)
    })
}

/// Accepts connections until one brings the code (or the provider's error) with our `state`.
fn wait_for_code(listeners: &[TcpListener], state: &str, config: &OAuthConfig) -> Result<String> {
    let deadline = Instant::now() + WAIT;
    loop {
        let mut accepted = None;
        for listener in listeners {
            match listener.accept() {
                Ok((stream, _)) => {
                    accepted = Some(stream);
                    break;
                }
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(err) => return Err(err).context("the loopback listener"),
            }
        }
        let Some(stream) = accepted else {
            if Instant::now() > deadline {
                return Err(anyhow!(
                    "the browser did not come back within {} minutes; run the login again",
                    WAIT.as_secs() / 60
                ))
                .context(Failure::Auth);
            }
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        if let Some(code) = answer(stream, state, config)? {
            return Ok(code);
        }
    }
}

/// Reads one request; `Some(code)` when it is the redirect with our state.
fn answer(stream: TcpStream, state: &str, config: &OAuthConfig) -> Result<Option<String>> {
    stream.set_nonblocking(false).ok();
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut writer = stream.try_clone().context("the browser's connection")?;
    let mut reader = BufReader::new(stream).take(16 << 10);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return Ok(None);
    }
    // The rest of the head is read so the browser is not cut off before our answer.
    loop {
        let mut header = String::new();
        match reader.read_line(&mut header) {
            Ok(0) | Err(_) => break,
            Ok(_) if header.trim().is_empty() => break,
            Ok(_) => {}
        }
    }
    let target = line.split_whitespace().nth(1).unwrap_or("");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let params: Vec<(String, String)> = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect();
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let code = param("code");
    let error = param("error");
    if path != "/" || (code.is_none() && error.is_none()) {
        respond(&mut writer, 404, "Not the sign-in's address.");
        return Ok(None);
    }
    if param("state") != Some(state) {
        respond(&mut writer, 400, "This answer belongs to another sign-in.");
        return Err(anyhow!(
            "the browser came back with another sign-in's answer (state mismatch); run the login \
             again"
        ))
        .context(Failure::Auth);
    }
    if let Some(error) = error {
        respond(&mut writer, 200, "The sign-in failed; see the terminal.");
        let error = TokenError {
            error: error.to_string(),
            error_description: param("error_description").unwrap_or("").to_string(),
            error_codes: Vec::new(),
        };
        return Err(anyhow!(
            "the sign-in failed in the browser: {}",
            describe(config.provider, &error)
        ))
        .context(Failure::Auth);
    }
    respond(
        &mut writer,
        200,
        "Signed in. You may close this tab and go back to the terminal.",
    );
    Ok(code.map(str::to_string))
}

fn respond(writer: &mut TcpStream, status: u16, text: &str) {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        _ => "Not Found",
    };
    let body = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>lanceur</title></head>\
         <body><p>lanceur: {text}</p></body></html>"
    );
    let _ = write!(
        writer,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = writer.flush();
}

/// Percent-decoding of a query component, `+` as a space.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                if let Some(byte) = hex {
                    out.push(byte);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b'+' => out.push(b' '),
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_components_decode() {
        assert_eq!(
            decode("AADSTS65004%3A+User+declined"),
            "AADSTS65004: User declined"
        );
        assert_eq!(decode("a%2"), "a%2");
    }

    #[test]
    fn pkce_challenge_is_the_rfc_example() {
        // RFC 7636, appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(
            base64url(&Sha256::digest(verifier.as_bytes())),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
