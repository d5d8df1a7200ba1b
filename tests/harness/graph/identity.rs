//! The fake's routing and its identity platform: `devicecode` and `token` (device code polling with
//! interval checks, refresh-token rotation, client credentials with a secret or a certificate
//! assertion, the authorization code with PKCE); `oauth.rs` has the rest.

use super::http::*;
use super::mail::graph;
use super::oauth::{
    authorize, check_client_assertion, exchange_code, google_token, introspect, issue_code,
    register,
};
use super::*;

pub(super) fn route(state: &Arc<Mutex<State>>, request: &Request) -> Response {
    route_locked(&mut lock(state), request)
}

/// `route` with the state held: a batch routes each of its requests through it.
pub(super) fn route_locked(state: &mut State, request: &Request) -> Response {
    let fault = state.faults.iter_mut().find(|f| {
        f.times > 0
            && request.path.contains(&f.path)
            && f.method.as_deref().is_none_or(|m| m == request.method)
    });
    if let Some(fault) = fault {
        fault.times -= 1;
        let (status, retry_after) = (fault.status, fault.retry_after);
        let code = match status {
            429 => "TooManyRequests",
            503 => "ServiceNotAvailable",
            404 => "ErrorItemNotFound",
            _ => "InternalServerError",
        };
        let mut response = graph_error(status, code, "Scripted failure of the fake.");
        if let Some(seconds) = retry_after {
            response
                .headers
                .push(("Retry-After".into(), seconds.to_string()));
        }
        return response;
    }
    if request.method == "POST" && request.path == "/v1.0/$batch" {
        return super::batch::serve(state, request);
    }
    if let Some(rest) = request.path.strip_prefix("/v1.0/") {
        let rest = rest.to_string();
        return graph(state, request, &rest);
    }
    let segments: Vec<&str> = request.path.trim_start_matches('/').split('/').collect();
    match (request.method.as_str(), segments.as_slice()) {
        ("POST", [_tenant, "oauth2", "v2.0", "devicecode"]) => device_code(state, request),
        ("POST", [_tenant, "oauth2", "v2.0", "token"]) => token(state, request),
        ("GET", [_tenant, "oauth2", "v2.0", "authorize"]) => authorize(state, request, false),
        ("GET", ["o", "oauth2", "v2", "auth"]) => authorize(state, request, true),
        ("POST", ["token"]) => google_token(state, request),
        ("POST", ["introspect"]) => introspect(request),
        _ => graph_error(404, "NotFound", "No such endpoint on the fake."),
    }
}

pub(super) fn device_code(state: &mut State, request: &Request) -> Response {
    let form = request.form();
    if form.get("client_id").map(String::as_str) != Some(CLIENT_ID) {
        return identity_error(
            "invalid_client",
            700016,
            "Application not found in the directory.",
        );
    }
    let scope = form.get("scope").cloned().unwrap_or_default();
    assert!(
        scope.contains("offline_access"),
        "device code without offline_access: {scope}"
    );
    state.counter += 1;
    let code = format!(
        "GMMhmHCXhWEzkobqIHGG_EnNYYsAkukHspeYUk9E8-{}",
        state.counter
    );
    state.device_code = Some((code.clone(), scope));
    state.poll_interval = state.device_interval;
    state.last_poll = None;
    Response::json(
        200,
        json!({
            "device_code": code,
            "user_code": USER_CODE,
            "verification_uri": "https://microsoft.com/devicelogin",
            "expires_in": state.device_expires_in,
            "interval": state.device_interval,
            "message": format!("To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code {USER_CODE} to authenticate.")
        }),
    )
}

pub(super) fn issue(state: &mut State, scope: &str, app_only: bool) -> Value {
    let user = if app_only {
        state.app_mailbox.clone().unwrap_or_default()
    } else {
        state.signed_in_user.clone()
    };
    issue_for(state, scope, app_only, &user)
}

/// Tokens for `user`, registered for introspection.
pub(super) fn issue_for(state: &mut State, scope: &str, app_only: bool, user: &str) -> Value {
    state.counter += 1;
    let access = format!("eyJ0.access.{}.{}", state.addr.port(), state.counter);
    state.access.insert(
        access.clone(),
        Grant {
            app_only,
            scope: scope.to_string(),
        },
    );
    register(&access, user, scope);
    state.issued.push(access.clone());
    if app_only {
        return json!({"token_type": "Bearer", "expires_in": state.access_expires_in, "access_token": access});
    }
    let refresh = format!("AwABAAAA.refresh.{}.{}", state.addr.port(), state.counter);
    state
        .refresh
        .insert(refresh.clone(), (scope.to_string(), user.to_string()));
    state.issued.push(refresh.clone());
    state.latest_refresh_token = Some(refresh.clone());
    json!({"token_type": "Bearer", "scope": scope, "expires_in": state.access_expires_in,
           "access_token": access, "refresh_token": refresh})
}

pub(super) fn token(state: &mut State, request: &Request) -> Response {
    let form = request.form();
    if form.get("client_id").map(String::as_str) != Some(CLIENT_ID) {
        return identity_error(
            "invalid_client",
            700016,
            "Application not found in the directory.",
        );
    }
    match form.get("grant_type").map(String::as_str) {
        Some("urn:ietf:params:oauth:grant-type:device_code") => {
            let Some((code, scope)) = state.device_code.clone() else {
                return identity_error(
                    "bad_verification_code",
                    70019,
                    "Verification code invalid.",
                );
            };
            if form.get("device_code") != Some(&code) {
                return identity_error(
                    "bad_verification_code",
                    70019,
                    "Verification code invalid.",
                );
            }
            let now = request.at;
            if let Some(last) = state.last_poll {
                if now.duration_since(last) < Duration::from_secs(state.poll_interval) {
                    state.early_polls += 1;
                    state.last_poll = Some(now);
                    state.poll_interval += 5;
                    return identity_error("slow_down", 70016, "Polling too fast.");
                }
            }
            state.last_poll = Some(now);
            match state.device_script.pop_front() {
                Some(error) => {
                    if error == "slow_down" {
                        state.poll_interval += 5;
                    }
                    let code = match error {
                        "authorization_pending" | "slow_down" => 70016,
                        "expired_token" => 70020,
                        "invalid_client" => 7000218,
                        _ => 70000,
                    };
                    identity_error(error, code, &format!("The fake says {error}."))
                }
                None => {
                    state.device_code = None;
                    Response::json(200, issue(state, &scope, false))
                }
            }
        }
        Some("refresh_token") => {
            state.refreshes += 1;
            if let Some((error, code)) = state.refresh_error {
                return identity_error(
                    error,
                    code,
                    "The refresh token has expired due to inactivity.",
                );
            }
            let token = form.get("refresh_token").cloned().unwrap_or_default();
            if state.used_refresh.contains(&token) {
                state.reused_refresh_tokens += 1;
                return identity_error(
                    "invalid_grant",
                    70000,
                    "The refresh token was already used.",
                );
            }
            let Some((scope, user)) = state.refresh.remove(&token) else {
                return identity_error(
                    "invalid_grant",
                    9002313,
                    "Invalid request. Malformed refresh token.",
                );
            };
            state.used_refresh.insert(token);
            Response::json(200, issue_for(state, &scope, false, &user))
        }
        Some("authorization_code") => match exchange_code(state, &form) {
            Ok(pending) => issue_code(state, pending),
            Err(response) => response,
        },
        Some("client_credentials") => {
            if form.contains_key("client_assertion") {
                if let Err(response) = check_client_assertion(state, request) {
                    return response;
                }
            } else if form.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET) {
                return identity_error(
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided.",
                );
            }
            let scope = form.get("scope").cloned().unwrap_or_default();
            if !scope.ends_with("/.default") {
                return identity_error(
                    "invalid_scope",
                    70011,
                    "The scope must end with /.default.",
                );
            }
            Response::json(200, issue(state, &scope, true))
        }
        _ => identity_error("unsupported_grant_type", 70003, "Unsupported grant type."),
    }
}
