//! `GET /oauth_auth.do`, the login form (`POST /login.do`) and the consent decision
//! (`POST /oauth_auth.do`), following `servicenow-api.md` §1.2.
//!
//! The authorization request travels through the pages as its original query string and is
//! validated again on every step, so a tampered hidden field cannot bypass a check.

use http::{HeaderValue, Response, StatusCode, header};

use super::{OAuthState, pages};
use crate::{
    Settings,
    server::{Incoming, Shared},
    wire::{self, Body, first, form_pairs, html_response, repeated},
};

/// The session cookie of the login and consent pages.
pub(crate) const SESSION_COOKIE: &str = "JSESSIONID";

/// A validated authorization request.
#[derive(Clone, Debug)]
pub(crate) struct AuthorizationRequest {
    pub(crate) client_id: String,
    pub(crate) client_name: String,
    pub(crate) requested_redirect_uri: Option<String>,
    pub(crate) effective_redirect_uri: String,
    pub(crate) state: Option<String>,
    pub(crate) code_challenge: Option<String>,
}

/// `GET /oauth_auth.do`: the login form without a logged-in session, the consent page with one.
pub(crate) fn show(shared: &Shared, request: &Incoming) -> Response<Body> {
    shared
        .counters
        .bump(|counters| &mut counters.authorization_requests);
    let raw_query = request.uri.query().unwrap_or_default();
    let now = shared.clock.now();
    let settings = shared.settings.read().clone();
    let mut oauth = shared.oauth.lock();
    let authorization = match validate(raw_query, &oauth, &settings) {
        Ok(authorization) => authorization,
        Err(message) => return html_response(StatusCode::BAD_REQUEST, pages::error(&message)),
    };
    let session_id = wire::cookie(&request.headers, SESSION_COOKIE);
    let session = session_id
        .as_deref()
        .and_then(|id| oauth.session(id, now).map(|session| (id, session)));
    match session {
        Some((_, session)) if session.user.is_some() => html_response(
            StatusCode::OK,
            pages::consent(
                &session.csrf_token,
                raw_query,
                &authorization.client_name,
                session.user.as_deref().unwrap_or_default(),
                &authorization.effective_redirect_uri,
            ),
        ),
        Some((_, session)) => html_response(
            StatusCode::OK,
            pages::login(
                &session.csrf_token,
                &format!("/oauth_auth.do?{raw_query}"),
                None,
            ),
        ),
        None => {
            let (new_id, session) = oauth.create_session(now);
            let page = pages::login(
                &session.csrf_token,
                &format!("/oauth_auth.do?{raw_query}"),
                None,
            );
            with_session_cookie(html_response(StatusCode::OK, page), &new_id)
        }
    }
}

/// `POST /login.do`: checks the CSRF token and the credentials, then returns to the
/// authorization request under a fresh session id.
pub(crate) fn login(shared: &Shared, request: &Incoming) -> Response<Body> {
    let form = form_pairs(&request.body);
    let goto = safe_goto(first(&form, "sysparm_goto_url").unwrap_or("/"));
    let now = shared.clock.now();
    let mut oauth = shared.oauth.lock();
    let session_id = wire::cookie(&request.headers, SESSION_COOKIE);
    let session = session_id.as_deref().and_then(|id| oauth.session(id, now));
    let presented_csrf = first(&form, "sysparm_ck").unwrap_or_default();
    let (Some(session_id), Some(session)) = (session_id, session) else {
        return fresh_login(
            &mut oauth,
            now,
            &goto,
            "Your session has expired. Please log in again.",
        );
    };
    if !csrf_matches(&session.csrf_token, presented_csrf) {
        return fresh_login(
            &mut oauth,
            now,
            &goto,
            "Invalid security token. Please log in again.",
        );
    }
    let user_name = first(&form, "user_name").unwrap_or_default();
    let password = first(&form, "user_password").unwrap_or_default();
    if !oauth.check_password(user_name, password) {
        shared.counters.bump(|counters| &mut counters.logins_failed);
        let page = pages::login(
            &session.csrf_token,
            &goto,
            Some("User name or password invalid"),
        );
        return html_response(StatusCode::OK, page);
    }
    shared
        .counters
        .bump(|counters| &mut counters.logins_succeeded);
    let new_session_id = oauth.log_in(&session_id, user_name, now);
    match wire::redirect(&goto) {
        Some(response) => with_session_cookie(response, &new_session_id),
        None => html_response(StatusCode::BAD_REQUEST, pages::error("Invalid return URL.")),
    }
}

/// `POST /oauth_auth.do`: Allow or Deny on the consent page.
pub(crate) fn decide(shared: &Shared, request: &Incoming) -> Response<Body> {
    let form = form_pairs(&request.body);
    let now = shared.clock.now();
    let settings = shared.settings.read().clone();
    let mut oauth = shared.oauth.lock();
    let session =
        wire::cookie(&request.headers, SESSION_COOKIE).and_then(|id| oauth.session(&id, now));
    let presented_csrf = first(&form, "sysparm_ck").unwrap_or_default();
    let user = match session {
        Some(session) if csrf_matches(&session.csrf_token, presented_csrf) => session.user,
        _ => None,
    };
    let Some(user) = user else {
        let message =
            "Invalid security token or no logged-in session. Start the authorization again.";
        return html_response(StatusCode::FORBIDDEN, pages::error(message));
    };
    let raw_query = first(&form, "oauth_request").unwrap_or_default();
    let authorization = match validate(raw_query, &oauth, &settings) {
        Ok(authorization) => authorization,
        Err(message) => return html_response(StatusCode::BAD_REQUEST, pages::error(&message)),
    };
    let mut parameters = Vec::new();
    match first(&form, "action") {
        Some("allow") => {
            shared
                .counters
                .bump(|counters| &mut counters.consents_allowed);
            let code = oauth.issue_code(
                &authorization,
                &user,
                now,
                settings.authorization_code_lifetime,
            );
            parameters.push(("code", code));
        }
        Some("deny") => {
            shared
                .counters
                .bump(|counters| &mut counters.consents_denied);
            parameters.push(("error", "access_denied".to_owned()));
        }
        _ => {
            return html_response(
                StatusCode::BAD_REQUEST,
                pages::error("Choose Allow or Deny."),
            );
        }
    }
    if let Some(state) = authorization.state {
        parameters.push(("state", state));
    }
    let location = with_query(&authorization.effective_redirect_uri, &parameters);
    wire::redirect(&location).unwrap_or_else(|| {
        html_response(
            StatusCode::BAD_REQUEST,
            pages::error("The redirect URL is not usable."),
        )
    })
}

/// `GET /`: a home page saying who is logged in.
pub(crate) fn home(shared: &Shared, request: &Incoming) -> Response<Body> {
    let now = shared.clock.now();
    let user = wire::cookie(&request.headers, SESSION_COOKIE)
        .and_then(|id| shared.oauth.lock().session(&id, now))
        .and_then(|session| session.user);
    html_response(StatusCode::OK, pages::home(user.as_deref()))
}

/// Validates an authorization request's query string; `Err` is the error page's message.
pub(crate) fn validate(
    raw_query: &str,
    oauth: &OAuthState,
    settings: &Settings,
) -> Result<AuthorizationRequest, String> {
    let pairs = form_pairs(raw_query.as_bytes());
    for name in [
        "response_type",
        "client_id",
        "redirect_uri",
        "state",
        "code_challenge",
        "code_challenge_method",
    ] {
        if repeated(&pairs, name) {
            return Err(format!("The parameter {name} appears more than once."));
        }
    }
    let client_id = first(&pairs, "client_id").unwrap_or_default();
    let Some(client) = oauth.clients.get(client_id) else {
        return Err(
            "Invalid client_id: no application registry entry has this client id.".to_owned(),
        );
    };
    let requested_redirect_uri = first(&pairs, "redirect_uri").filter(|uri| !uri.is_empty());
    let effective_redirect_uri = match requested_redirect_uri {
        None => client.redirect_uris.first().cloned(),
        Some(requested) => match client.redirect_uris.iter().find(|registered| {
            redirect_matches(registered, requested, settings.loopback_redirect_any_port)
        }) {
            Some(_) => Some(requested.to_owned()),
            None if settings.strict_redirect_uri => {
                return Err(
                    "Invalid redirect_uri: it is not registered for this client.".to_owned(),
                );
            }
            None => client.redirect_uris.first().cloned(),
        },
    };
    let Some(effective_redirect_uri) = effective_redirect_uri else {
        return Err("The client has no registered redirect URL.".to_owned());
    };
    if first(&pairs, "response_type") != Some("code") {
        return Err("Unsupported response_type: only response_type=code is supported.".to_owned());
    }
    let state = first(&pairs, "state").filter(|state| !state.trim().is_empty());
    if state.is_none() && settings.state_required {
        return Err("Missing State parameter in request.".to_owned());
    }
    let code_challenge = first(&pairs, "code_challenge").filter(|challenge| !challenge.is_empty());
    match (code_challenge, first(&pairs, "code_challenge_method")) {
        (None, _) if client.is_public() => {
            return Err(
                "PKCE is required for public clients: send code_challenge with S256.".to_owned(),
            );
        }
        (Some(_), method) if method != Some("S256") => {
            return Err("Unsupported code_challenge_method: only S256 is supported.".to_owned());
        }
        (Some(challenge), _) if !is_s256_challenge(challenge) => {
            return Err("Invalid code_challenge: expected 43 base64url characters.".to_owned());
        }
        _ => (),
    }
    Ok(AuthorizationRequest {
        client_id: client.client_id.clone(),
        client_name: client.display_name.clone(),
        requested_redirect_uri: requested_redirect_uri.map(str::to_owned),
        effective_redirect_uri,
        state: state.map(str::to_owned),
        code_challenge: code_challenge.map(str::to_owned),
    })
}

fn is_s256_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
}

/// Exact match, or (when allowed) a loopback URL that differs from a registered one only in
/// its port (RFC 8252 §7.3).
fn redirect_matches(registered: &str, requested: &str, loopback_any_port: bool) -> bool {
    if registered == requested {
        return true;
    }
    if !loopback_any_port {
        return false;
    }
    let (Ok(registered), Ok(requested)) = (url::Url::parse(registered), url::Url::parse(requested))
    else {
        return false;
    };
    let is_loopback = matches!(
        requested.host_str(),
        Some("127.0.0.1" | "[::1]" | "localhost")
    );
    is_loopback
        && requested.scheme() == "http"
        && registered.scheme() == requested.scheme()
        && registered.host_str() == requested.host_str()
        && registered.path() == requested.path()
        && registered.query() == requested.query()
}

/// Appends query parameters to a redirect URL, keeping any query it already has.
fn with_query(base: &str, parameters: &[(&str, String)]) -> String {
    match url::Url::parse(base) {
        Ok(mut url) => {
            {
                let mut query = url.query_pairs_mut();
                for (name, value) in parameters {
                    query.append_pair(name, value);
                }
            }
            url.to_string()
        }
        Err(_) => {
            let encoded: String = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(
                    parameters
                        .iter()
                        .map(|(name, value)| (*name, value.as_str())),
                )
                .finish();
            let separator = if base.contains('?') { '&' } else { '?' };
            format!("{base}{separator}{encoded}")
        }
    }
}

/// Only relative returns to the authorization endpoint are followed (no open redirect).
fn safe_goto(goto: &str) -> String {
    if goto.starts_with("/oauth_auth.do?") && !goto.contains(['\\', '\r', '\n']) {
        goto.to_owned()
    } else {
        "/".to_owned()
    }
}

fn csrf_matches(expected: &str, presented: &str) -> bool {
    use subtle::ConstantTimeEq;
    !presented.is_empty() && bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
}

fn fresh_login(
    oauth: &mut OAuthState,
    now: std::time::SystemTime,
    goto: &str,
    message: &str,
) -> Response<Body> {
    let (session_id, session) = oauth.create_session(now);
    let page = pages::login(&session.csrf_token, goto, Some(message));
    with_session_cookie(html_response(StatusCode::FORBIDDEN, page), &session_id)
}

fn with_session_cookie(mut response: Response<Body>, session_id: &str) -> Response<Body> {
    let cookie = format!("{SESSION_COOKIE}={session_id}; Path=/; HttpOnly; SameSite=Lax");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}
