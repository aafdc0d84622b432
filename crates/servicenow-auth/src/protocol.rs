//! The machine's only door to `servicenow-oauth`: building its requests and reading its answers.

use std::time::Duration;

use bytes::Bytes;

use rand_chacha::ChaCha20Rng;
use servicenow_oauth::{
    AccessToken, AuthorizationCode, AuthorizationRequest, AuthorizationResponse, ErrorCode,
    FailureClass, PkceVerifier, RedirectUri, RefreshToken, RevocableToken, ScopeSet, State,
    TokenEndpointError, TokenGrant,
};

use crate::config::{AuthConfig, Credential};
use crate::error::AuthError;
use crate::event::TokenFailure;
use crate::login::PendingLogin;
use crate::time::Timestamp;

/// A usable token response.
pub(crate) struct Issued {
    pub(crate) access_token: AccessToken,
    pub(crate) expires_in: Duration,
    pub(crate) refresh_token: Option<RefreshToken>,
    pub(crate) scope: Option<ScopeSet>,
}

/// A token endpoint answer, classified.
pub(crate) enum TokenOutcome {
    Issued(Issued),
    /// The server said no; the same request will not succeed later.
    Rejected(TokenEndpointError),
    /// Worth retrying with backoff.
    Transient(TokenFailure),
}

/// A callback query, read.
pub(crate) enum Callback {
    Code {
        code: AuthorizationCode,
        state: State,
        issuer: Option<String>,
    },
    Error {
        error: ErrorCode,
        description: Option<String>,
        state: Option<State>,
    },
    Malformed {
        problem: String,
    },
}

pub(crate) fn new_state(rng: &mut ChaCha20Rng) -> State {
    State::generate(rng)
}

pub(crate) fn new_verifier(rng: &mut ChaCha20Rng) -> PkceVerifier {
    PkceVerifier::generate(rng)
}

pub(crate) fn authorization_url(
    config: &AuthConfig,
    redirect_uri: &RedirectUri,
    state: &State,
    verifier: &PkceVerifier,
) -> String {
    let challenge = verifier.challenge();
    let request = AuthorizationRequest {
        client_id: &config.client.client_id,
        redirect_uri,
        scope: &config.scopes,
        state,
        pkce_challenge: &challenge,
    };
    request.url(&config.instance).into()
}

pub(crate) fn exchange_request(
    config: &AuthConfig,
    code: &AuthorizationCode,
    login: &PendingLogin,
) -> Result<http::Request<Bytes>, AuthError> {
    let grant = TokenGrant::AuthorizationCode {
        code,
        redirect_uri: login.redirect_uri(),
        code_verifier: login.verifier(),
    };
    token_request(config, &grant)
}

pub(crate) fn refresh_request(
    config: &AuthConfig,
    refresh_token: &RefreshToken,
) -> Result<http::Request<Bytes>, AuthError> {
    token_request(
        config,
        &TokenGrant::RefreshToken {
            refresh_token,
            scope: None,
        },
    )
}

/// Why no acquisition request could be made.
pub(crate) enum AcquisitionProblem {
    /// The JWT signer failed: counted like a transient failure (a key service may come back).
    Signing(String),
    Build(AuthError),
}

impl From<AuthError> for AcquisitionProblem {
    fn from(error: AuthError) -> Self {
        Self::Build(error)
    }
}

/// The request of the configured non-interactive grant (client credentials, JWT bearer with a
/// fresh assertion made at `now` with a `jti` from `rng`, or password).
pub(crate) fn acquisition_request(
    config: &AuthConfig,
    now: Timestamp,
    rng: &mut ChaCha20Rng,
) -> Result<http::Request<Bytes>, AcquisitionProblem> {
    let scope = Some(&config.scopes);
    Ok(match &config.credential {
        Credential::JwtBearer(jwt) => {
            let assertion = jwt
                .assertion(&config.client.client_id, now.as_unix_millis() / 1000, rng)
                .map_err(|error| AcquisitionProblem::Signing(error.to_string()))?;
            token_request(
                config,
                &TokenGrant::JwtBearer {
                    assertion: &assertion,
                    scope,
                },
            )?
        }
        #[cfg(feature = "password-grant")]
        Credential::Password { username, password } => token_request(
            config,
            &TokenGrant::Password {
                username,
                password,
                scope,
            },
        )?,
        Credential::ClientCredentials | Credential::AuthorizationCode { .. } => {
            token_request(config, &TokenGrant::ClientCredentials { scope })?
        }
    })
}

pub(crate) fn revocation_request(
    config: &AuthConfig,
    token: RevocableToken<'_>,
) -> Result<http::Request<Bytes>, AuthError> {
    servicenow_oauth::revocation_request(
        &config.instance,
        &config.client,
        token,
        config.revocation_style,
    )
    .map_err(AuthError::BuildRequest)
}

fn token_request(
    config: &AuthConfig,
    grant: &TokenGrant<'_>,
) -> Result<http::Request<Bytes>, AuthError> {
    servicenow_oauth::token_request(&config.instance, &config.client, grant)
        .map_err(AuthError::BuildRequest)
}

pub(crate) fn parse_token_response(
    config: &AuthConfig,
    response: &http::Response<Bytes>,
) -> TokenOutcome {
    match servicenow_oauth::parse_token_response(response, &config.token_response) {
        Ok(token_response) => TokenOutcome::Issued(Issued {
            access_token: token_response.access_token,
            expires_in: token_response.expires_in,
            refresh_token: token_response.refresh_token,
            scope: token_response.scope,
        }),
        Err(error) => match error.class() {
            FailureClass::Transient => TokenOutcome::Transient(TokenFailure::Server(error)),
            FailureClass::Rejected => TokenOutcome::Rejected(error),
        },
    }
}

pub(crate) fn parse_callback(query: &str) -> Callback {
    match servicenow_oauth::parse_callback_query(query) {
        Ok(AuthorizationResponse::Success(success)) => Callback::Code {
            code: success.code,
            state: success.state,
            issuer: success.iss,
        },
        Ok(AuthorizationResponse::Error(error)) => Callback::Error {
            error: error.error,
            description: error.error_description,
            state: error.state,
        },
        Err(problem) => Callback::Malformed {
            problem: problem.to_string(),
        },
    }
}
