//! Token revocation requests for `{instance}/oauth_revoke_token.do`: the RFC 7009 POST form by
//! default, ServiceNow's documented `GET ?token=` as a named option.
//!
//! Neither form has been confirmed against a real instance by this project: ServiceNow documents
//! only the GET, and RFC 7009 §2.1 (with RFC 9700 §4.3.2, no tokens in URLs) wants the POST.

use bytes::Bytes;
use http::header::ACCEPT;
use http::{HeaderValue, Method, Request};

use crate::token_request::{OAuthClient, authenticate, form_post};
use crate::{AccessToken, Error, InstanceUrl, RefreshToken};

/// How the revocation request is sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RevocationStyle {
    /// RFC 7009 §2.1: `POST` with a form body `token=…&token_type_hint=…` plus the client's
    /// authentication. The default, because it keeps the token out of URLs and logs
    /// (RFC 9700 §4.3.2). Whether ServiceNow accepts it is unconfirmed.
    #[default]
    PostForm,
    /// ServiceNow's documented form: `GET {instance}/oauth_revoke_token.do?token=…`, with no
    /// client authentication ("This endpoint access does not require authentication").
    /// The token travels in the URL, where proxies and server logs may record it: use it only
    /// if the POST form is refused.
    DocumentedGetWithTokenInQuery,
}

/// The token to revoke, which also names the `token_type_hint` (RFC 7009 §2.1).
#[derive(Clone, Copy, Debug)]
pub enum RevocableToken<'a> {
    /// An access token (`token_type_hint=access_token`).
    AccessToken(&'a AccessToken),
    /// A refresh token (`token_type_hint=refresh_token`); revoking it ends the grant.
    RefreshToken(&'a RefreshToken),
}

impl RevocableToken<'_> {
    fn secret(&self) -> &str {
        match self {
            Self::AccessToken(token) => token.secret(),
            Self::RefreshToken(token) => token.secret(),
        }
    }

    fn hint(&self) -> &'static str {
        match self {
            Self::AccessToken(_) => "access_token",
            Self::RefreshToken(_) => "refresh_token",
        }
    }
}

/// Builds the revocation request for `token` in the given `style` (see [`RevocationStyle`]).
///
/// The POST form authenticates as `client` like a token request (RFC 7009 §2.1); the GET form
/// sends the token alone. An RFC 7009 server answers 200 even for an unknown token (§2.2).
///
/// # Errors
///
/// [`Error::BuildRequest`] if the `http` crate refuses the request (not expected).
pub fn revocation_request(
    instance: &InstanceUrl,
    client: &OAuthClient,
    token: RevocableToken<'_>,
    style: RevocationStyle,
) -> Result<Request<Bytes>, Error> {
    let built = match style {
        RevocationStyle::PostForm => {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("token", token.secret());
            form.append_pair("token_type_hint", token.hint());
            let authorization = authenticate(client, &mut form);
            form_post(instance.revocation_endpoint().clone(), form, authorization)
        }
        RevocationStyle::DocumentedGetWithTokenInQuery => {
            let query = form_urlencoded::Serializer::new(String::new())
                .append_pair("token", token.secret())
                .finish();
            let uri = format!("{}?{query}", instance.revocation_endpoint());
            Request::builder()
                .method(Method::GET)
                .uri(uri)
                .header(ACCEPT, HeaderValue::from_static("application/json"))
                .body(Bytes::new())
        }
    };
    built.map_err(|source| Error::BuildRequest {
        what: "revocation",
        source,
    })
}
