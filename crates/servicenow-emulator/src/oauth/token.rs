//! `POST /oauth_token.do`, following `servicenow-api.md` §1.3–§1.8: form body only, client
//! authentication in the body (HTTP Basic as an emulator convenience), five grants (the JWT
//! bearer grant per `servicenow-api-more.md` §5), and
//! ServiceNow's generic `401 access_denied/server_error` for every failure by default.

use http::{HeaderValue, Method, Response, StatusCode, header};

use super::{
    CodeProblem, IssuedTokens,
    jwt::{self, JwtProblem},
};
use crate::{
    ClientRegistration, TokenOutcome,
    server::{Incoming, Shared},
    wire::{self, Body, first, form_pairs, json_response},
};

/// ServiceNow's body for (almost) every token endpoint failure, byte for byte.
pub(crate) const SERVICENOW_FAILURE_BODY: &str =
    r#"{"error_description":"access_denied","error":"server_error"}"#;

/// Why a token request failed, kept for the RFC 6749 mode.
#[derive(Clone, Copy, Debug)]
enum Failure {
    InvalidRequest(&'static str),
    InvalidClient,
    InvalidGrant(&'static str),
    UnauthorizedClient(&'static str),
    UnsupportedGrantType,
}

pub(crate) fn handle(shared: &Shared, request: &Incoming) -> Response<Body> {
    let form = if request.method == Method::POST
        && wire::media_type(&request.headers).as_deref()
            == Some("application/x-www-form-urlencoded")
    {
        Some(form_pairs(&request.body))
    } else {
        None
    };
    let grant_type = form
        .as_deref()
        .and_then(|form| first(form, "grant_type"))
        .unwrap_or_default();
    let outcome = match (&form, request.uri.query()) {
        (None, _) => Err(Failure::InvalidRequest(
            "the body must be application/x-www-form-urlencoded",
        )),
        (Some(_), Some(query)) if !query.is_empty() => Err(Failure::InvalidRequest(
            "parameters are accepted in the POST body only",
        )),
        (Some(form), _) => grant(shared, request, form, grant_type),
    };
    let rfc6749 = shared.settings.read().rfc6749_errors;
    match outcome {
        Ok(tokens) => {
            shared
                .counters
                .token_request(grant_type, TokenOutcome::Issued);
            success(&tokens)
        }
        Err(failure) => {
            shared
                .counters
                .token_request(grant_type, TokenOutcome::Rejected);
            tracing::debug!(?failure, grant_type, "token request refused");
            failure_response(failure, rfc6749)
        }
    }
}

fn grant(
    shared: &Shared,
    request: &Incoming,
    form: &[(String, String)],
    grant_type: &str,
) -> Result<IssuedTokens, Failure> {
    let settings = shared.settings.read().clone();
    let now = shared.clock.now();
    let mut oauth = shared.oauth.lock();
    let client = authenticate_client(
        &oauth.clients,
        request,
        form,
        settings.basic_client_authentication,
    )?;
    match grant_type {
        "authorization_code" => {
            let code = first(form, "code").ok_or(Failure::InvalidRequest("code is missing"))?;
            let redeemed = oauth.redeem_code(
                code,
                &client.client_id,
                first(form, "redirect_uri"),
                first(form, "code_verifier"),
                now,
            );
            let (user, grant_id) = redeemed.map_err(|problem| {
                Failure::InvalidGrant(match problem {
                    CodeProblem::Unknown => "unknown authorization code",
                    CodeProblem::Expired => "the authorization code has expired",
                    CodeProblem::Replayed => "the authorization code was already used",
                    CodeProblem::WrongClient => {
                        "the authorization code was issued to another client"
                    }
                    CodeProblem::RedirectUriMismatch => {
                        "redirect_uri does not match the authorization request"
                    }
                    CodeProblem::PkceMismatch => "code_verifier does not match the code_challenge",
                })
            })?;
            Ok(oauth.issue_tokens(&client, &user, Some(grant_id), true, now))
        }
        "refresh_token" => {
            if client.is_public() && !settings.public_clients_may_refresh {
                return Err(Failure::UnauthorizedClient(
                    "public clients may not refresh",
                ));
            }
            let refresh_token = first(form, "refresh_token")
                .ok_or(Failure::InvalidRequest("refresh_token is missing"))?;
            oauth
                .refresh(&client, refresh_token, settings.rotate_refresh_tokens, now)
                .ok_or(Failure::InvalidGrant(
                    "the refresh token is unknown, expired or revoked",
                ))
        }
        "password" => {
            let user_name = first(form, "username").unwrap_or_default();
            let password = first(form, "password").unwrap_or_default();
            if !oauth.check_password(user_name, password) {
                return Err(Failure::InvalidGrant("wrong user name or password"));
            }
            Ok(oauth.issue_tokens(&client, user_name, None, true, now))
        }
        "client_credentials" => {
            if !settings.client_credentials_enabled {
                return Err(Failure::UnsupportedGrantType);
            }
            if client.is_public() {
                return Err(Failure::UnauthorizedClient(
                    "public clients cannot use client_credentials",
                ));
            }
            Ok(oauth.issue_tokens(&client, &client.application_user.clone(), None, false, now))
        }
        JWT_BEARER => {
            let endpoint = client.jwt.clone().ok_or(Failure::UnauthorizedClient(
                "the client has no JWT verifier (no OAuth JWT API endpoint)",
            ))?;
            let assertion =
                first(form, "assertion").ok_or(Failure::InvalidRequest("assertion is missing"))?;
            let token_endpoint = format!("{}/oauth_token.do", shared.link_origin());
            let verified = jwt::verify(
                &endpoint,
                &client.client_id,
                &token_endpoint,
                assertion,
                now,
            )
            .map_err(|problem| Failure::InvalidGrant(problem.description()))?;
            let user = oauth
                .jwt_user(endpoint.user_field, &verified.subject)
                .ok_or(Failure::InvalidGrant(JwtProblem::UnknownUser.description()))?;
            if let Some(jti) = &verified.jti {
                if endpoint.jti_verification
                    && !oauth.remember_jwt_id(jti, verified.expires_at, now)
                {
                    return Err(Failure::InvalidGrant(JwtProblem::Replayed.description()));
                }
            }
            // "The inbound JWT grant type doesn't include refresh tokens."
            Ok(oauth.issue_tokens(&client, &user, None, false, now))
        }
        _ => Err(Failure::UnsupportedGrantType),
    }
}

/// The `grant_type` of the JWT bearer grant (RFC 7523 §2.1).
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Finds the client and checks its secret (body, or HTTP Basic when allowed).
fn authenticate_client(
    clients: &std::collections::BTreeMap<String, ClientRegistration>,
    request: &Incoming,
    form: &[(String, String)],
    basic_allowed: bool,
) -> Result<ClientRegistration, Failure> {
    let basic = if basic_allowed {
        basic_client_credentials(request)
    } else {
        None
    };
    let body_id = first(form, "client_id");
    let (client_id, secret) = match (&basic, body_id) {
        (Some((basic_id, _)), Some(body_id)) if basic_id != body_id => {
            return Err(Failure::InvalidClient);
        }
        (Some((basic_id, basic_secret)), _) => (basic_id.as_str(), Some(basic_secret.as_str())),
        (None, Some(body_id)) => (body_id, first(form, "client_secret")),
        (None, None) => return Err(Failure::InvalidClient),
    };
    let client = clients.get(client_id).ok_or(Failure::InvalidClient)?;
    match (&client.client_secret, secret) {
        (None, _) => Ok(client.clone()),
        (Some(expected), Some(presented)) if expected.matches(presented) => Ok(client.clone()),
        (Some(_), _) => Err(Failure::InvalidClient),
    }
}

/// `Authorization: Basic` client credentials, form-urldecoded as RFC 6749 §2.3.1 requires.
fn basic_client_credentials(request: &Incoming) -> Option<(String, String)> {
    let (id, secret) = wire::basic_credentials(&request.headers)?;
    let decode = |text: &str| -> String {
        form_urlencoded::parse(format!("v={text}").as_bytes())
            .next()
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default()
    };
    Some((decode(&id), decode(&secret)))
}

fn success(tokens: &IssuedTokens) -> Response<Body> {
    // Member order of the documented example (r_RESTOAuthExample.md); tokens are base64url.
    let refresh = match &tokens.refresh_token {
        Some(refresh_token) => format!(r#","refresh_token":"{refresh_token}""#),
        None => String::new(),
    };
    let body = format!(
        r#"{{"scope":"useraccount","token_type":"Bearer","expires_in":{expires_in}{refresh},"access_token":"{access}"}}"#,
        expires_in = tokens.expires_in,
        access = tokens.access_token,
    );
    no_store(json_response(StatusCode::OK, body))
}

fn failure_response(failure: Failure, rfc6749: bool) -> Response<Body> {
    if !rfc6749 {
        return no_store(json_response(
            StatusCode::UNAUTHORIZED,
            SERVICENOW_FAILURE_BODY,
        ));
    }
    let (status, error, description) = match failure {
        Failure::InvalidRequest(description) => {
            (StatusCode::BAD_REQUEST, "invalid_request", description)
        }
        Failure::InvalidClient => (
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        ),
        Failure::InvalidGrant(description) => {
            (StatusCode::BAD_REQUEST, "invalid_grant", description)
        }
        Failure::UnauthorizedClient(description) => {
            (StatusCode::BAD_REQUEST, "unauthorized_client", description)
        }
        Failure::UnsupportedGrantType => (
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "the grant type is not supported or not enabled",
        ),
    };
    let body = serde_json::json!({ "error": error, "error_description": description });
    let mut response = no_store(json_response(status, body.to_string()));
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
    }
    response
}

fn no_store(mut response: Response<Body>) -> Response<Body> {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
        .headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}
