//! `oauth_revoke_token.do` and `oauth_revoke.do`: `GET ?token=` as documented
//! (`servicenow-api.md` §1.7) and `POST` with a form body as RFC 7009. No authentication is
//! required, as the docs say; an unknown token is answered 200 like a known one (RFC 7009 §2.2).

use http::{Method, Response, StatusCode};

use crate::{
    server::{Incoming, Shared},
    wire::{self, Body, first, form_pairs},
};

pub(crate) fn handle(shared: &Shared, request: &Incoming) -> Response<Body> {
    shared.counters.bump(|counters| &mut counters.revocations);
    let query = form_pairs(request.uri.query().unwrap_or_default().as_bytes());
    let body = if request.method == Method::POST {
        form_pairs(&request.body)
    } else {
        Vec::new()
    };
    let token = first(&body, "token").or_else(|| first(&query, "token"));
    match (request.method.clone(), token) {
        (Method::GET | Method::POST, Some(token)) if !token.is_empty() => {
            let known = shared.oauth.lock().revoke(token);
            tracing::debug!(known, "token revocation");
            wire::response(StatusCode::OK, wire::JSON_CONTENT_TYPE, "")
        }
        (Method::GET | Method::POST, _) => wire::json_response(
            StatusCode::BAD_REQUEST,
            r#"{"error":"invalid_request","error_description":"token is missing"}"#,
        ),
        _ => wire::json_response(StatusCode::METHOD_NOT_ALLOWED, ""),
    }
}
