//! Token endpoint requests (RFC 6749 §4.1.3, §4.4.2, §6, and §4.3.2 behind a feature) as
//! `http::Request<Bytes>` values (and RFC 7523 §2.1's JWT bearer grant), with the client
//! authentication of RFC 6749 §2.3.1.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderValue, Method, Request};
use zeroize::Zeroizing;

use crate::{
    AuthorizationCode, ClientId, ClientSecret, Error, InstanceUrl, PkceVerifier, RedirectUri,
    RefreshToken, ScopeSet,
};
#[cfg(feature = "password-grant")]
use crate::{ResourceOwnerPassword, ResourceOwnerUsername};

/// How a confidential client proves its identity at the token endpoint (RFC 6749 §2.3.1).
/// Exactly one method is used per request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClientAuthMethod {
    /// `client_id` and `client_secret` in the form body: what every ServiceNow example does,
    /// hence the default (RFC 6749 §2.3.1 calls it "NOT RECOMMENDED", but allows it).
    #[default]
    ClientSecretPost,
    /// `Authorization: Basic base64(urlencode(client_id) ":" urlencode(client_secret))`, each
    /// part `application/x-www-form-urlencoded` first as RFC 6749 §2.3.1 requires. No
    /// ServiceNow page documents it at this endpoint.
    ClientSecretBasic,
}

/// The OAuth client as the token endpoint sees it: its id, its secret if it is confidential,
/// and how it authenticates.
///
/// A public client (no secret, RFC 6749 §2.1; ServiceNow's "public client" for PKCE) sends
/// `client_id` in the body and nothing else, whatever `auth_method` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthClient {
    /// `client_id`.
    pub client_id: ClientId,
    /// `client_secret`, absent for a public client.
    pub client_secret: Option<ClientSecret>,
    /// How the secret is sent; ignored for a public client.
    pub auth_method: ClientAuthMethod,
}

impl OAuthClient {
    /// A public client: no secret; it relies on PKCE (RFC 9700 §2.1.1).
    #[must_use]
    pub fn public(client_id: ClientId) -> Self {
        Self {
            client_id,
            client_secret: None,
            auth_method: ClientAuthMethod::default(),
        }
    }

    /// A confidential client using `client_secret_post` (ServiceNow's documented method).
    #[must_use]
    pub fn confidential(client_id: ClientId, client_secret: ClientSecret) -> Self {
        Self {
            client_id,
            client_secret: Some(client_secret),
            auth_method: ClientAuthMethod::default(),
        }
    }

    /// The same client with another authentication method.
    #[must_use]
    pub fn with_auth_method(mut self, auth_method: ClientAuthMethod) -> Self {
        self.auth_method = auth_method;
        self
    }
}

/// One grant at the token endpoint, with the parameters it sends.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum TokenGrant<'a> {
    /// `grant_type=authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.5).
    AuthorizationCode {
        /// `code`, from the callback.
        code: &'a AuthorizationCode,
        /// `redirect_uri`, identical to the authorization request's.
        redirect_uri: &'a RedirectUri,
        /// `code_verifier`, the PKCE secret whose challenge went in the authorization request.
        code_verifier: &'a PkceVerifier,
    },
    /// `grant_type=refresh_token` (RFC 6749 §6).
    RefreshToken {
        /// `refresh_token`.
        refresh_token: &'a RefreshToken,
        /// `scope`; omitted when `None` or empty, which keeps the original grant (RFC 6749 §6).
        scope: Option<&'a ScopeSet>,
    },
    /// `grant_type=client_credentials` (RFC 6749 §4.4.2); on ServiceNow it must be enabled by
    /// `glide.oauth.inbound.client.credential.grant_type.enabled`.
    ClientCredentials {
        /// `scope`; omitted when `None` or empty.
        scope: Option<&'a ScopeSet>,
    },
    /// `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` (RFC 7523 §2.1) with the signed
    /// JWT in `assertion`, and client authentication as configured (ServiceNow's JWT endpoint
    /// wants `client_id` and `client_secret` unless the registry entry is a public client).
    /// ServiceNow issues no refresh token for it: make a new assertion for every request
    /// ([`crate::JwtBearer::assertion`]).
    JwtBearer {
        /// `assertion`, the compact JWT.
        assertion: &'a crate::JwtAssertion,
        /// `scope`; omitted when `None` or empty.
        scope: Option<&'a ScopeSet>,
    },
    /// `grant_type=password` (RFC 6749 §4.3.2). RFC 9700 §2.4: this grant MUST NOT be used;
    /// it exists, behind the `password-grant` feature, because ServiceNow's examples use it.
    #[cfg(feature = "password-grant")]
    #[cfg_attr(docsrs, doc(cfg(feature = "password-grant")))]
    Password {
        /// `username`.
        username: &'a ResourceOwnerUsername,
        /// `password`.
        password: &'a ResourceOwnerPassword,
        /// `scope`; omitted when `None` or empty.
        scope: Option<&'a ScopeSet>,
    },
}

/// The `grant_type` of the JWT bearer grant (RFC 7523 §2.1).
pub const JWT_BEARER_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Builds `POST {instance}/oauth_token.do` for `grant`, authenticated as `client`.
///
/// The request has `Content-Type: application/x-www-form-urlencoded` and
/// `Accept: application/json`, and every parameter in the body (never in the query:
/// ServiceNow's `glide.oauth.allow.parameters.in.post.body.only`). A Basic `Authorization`
/// header is marked sensitive. The body holds secrets and is not zeroized: drop the request
/// once sent.
///
/// # Errors
///
/// [`Error::BuildRequest`] if the `http` crate refuses the request (not expected: every
/// value has been validated or encoded).
pub fn token_request(
    instance: &InstanceUrl,
    client: &OAuthClient,
    grant: &TokenGrant<'_>,
) -> Result<Request<Bytes>, Error> {
    let mut form = form_urlencoded::Serializer::new(String::new());
    match grant {
        TokenGrant::AuthorizationCode {
            code,
            redirect_uri,
            code_verifier,
        } => {
            form.append_pair("grant_type", "authorization_code");
            form.append_pair("code", code.secret());
            form.append_pair("redirect_uri", redirect_uri.as_str());
            form.append_pair("code_verifier", code_verifier.secret());
        }
        TokenGrant::RefreshToken {
            refresh_token,
            scope,
        } => {
            form.append_pair("grant_type", "refresh_token");
            form.append_pair("refresh_token", refresh_token.secret());
            append_scope(&mut form, *scope);
        }
        TokenGrant::ClientCredentials { scope } => {
            form.append_pair("grant_type", "client_credentials");
            append_scope(&mut form, *scope);
        }
        TokenGrant::JwtBearer { assertion, scope } => {
            form.append_pair("grant_type", JWT_BEARER_GRANT_TYPE);
            form.append_pair("assertion", assertion.secret());
            append_scope(&mut form, *scope);
        }
        #[cfg(feature = "password-grant")]
        TokenGrant::Password {
            username,
            password,
            scope,
        } => {
            form.append_pair("grant_type", "password");
            form.append_pair("username", username.as_str());
            form.append_pair("password", password.secret());
            append_scope(&mut form, *scope);
        }
    }
    let authorization = authenticate(client, &mut form);
    form_post(instance.token_endpoint().clone(), form, authorization).map_err(|source| {
        Error::BuildRequest {
            what: "token",
            source,
        }
    })
}

/// Adds the client's credentials to the form, or returns the Basic header to send instead.
pub(crate) fn authenticate(
    client: &OAuthClient,
    form: &mut form_urlencoded::Serializer<'_, String>,
) -> Option<Zeroizing<String>> {
    match (&client.client_secret, client.auth_method) {
        (None, _) => {
            form.append_pair("client_id", client.client_id.as_str());
            None
        }
        (Some(secret), ClientAuthMethod::ClientSecretPost) => {
            form.append_pair("client_id", client.client_id.as_str());
            form.append_pair("client_secret", secret.secret());
            None
        }
        (Some(secret), ClientAuthMethod::ClientSecretBasic) => {
            Some(basic_authorization(&client.client_id, secret))
        }
    }
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1, RFC 7617).
pub(crate) fn basic_authorization(
    client_id: &ClientId,
    client_secret: &ClientSecret,
) -> Zeroizing<String> {
    let mut credentials = Zeroizing::new(String::new());
    credentials.extend(form_urlencoded::byte_serialize(
        client_id.as_str().as_bytes(),
    ));
    credentials.push(':');
    credentials.extend(form_urlencoded::byte_serialize(
        client_secret.secret().as_bytes(),
    ));
    let mut header = Zeroizing::new(String::from("Basic "));
    STANDARD.encode_string(credentials.as_bytes(), &mut header);
    header
}

/// A `POST` of a form body to `uri`, asking for JSON, with an optional sensitive
/// `Authorization` header.
pub(crate) fn form_post(
    uri: http::Uri,
    form: form_urlencoded::Serializer<'_, String>,
    authorization: Option<Zeroizing<String>>,
) -> Result<Request<Bytes>, http::Error> {
    let mut form = form;
    let body = Bytes::from(form.finish().into_bytes());
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        )
        .header(ACCEPT, HeaderValue::from_static("application/json"))
        .body(body)?;
    if let Some(authorization) = authorization {
        let mut value = HeaderValue::try_from(authorization.as_str())?;
        value.set_sensitive(true);
        request.headers_mut().insert(AUTHORIZATION, value);
    }
    Ok(request)
}

fn append_scope(form: &mut form_urlencoded::Serializer<'_, String>, scope: Option<&ScopeSet>) {
    if let Some(scope) = scope.filter(|scope| !scope.is_empty()) {
        form.append_pair("scope", &scope.to_space_separated());
    }
}
