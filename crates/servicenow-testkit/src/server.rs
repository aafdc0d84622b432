//! A rule-based fake ServiceNow token server, in process and sans-IO: requests in, answers out.

use bytes::Bytes;
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use base64::Engine as _;
use servicenow_auth::{Timestamp, TransportFailure};
use servicenow_oauth::PkceVerifier;

/// ServiceNow's answer to almost every token endpoint failure (servicenow-api.md §1.8).
pub const SERVICENOW_ACCESS_DENIED: &str =
    r#"{"error_description":"access_denied","error":"server_error"}"#;

/// What the fake server does with a refresh token when it answers a refresh.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RefreshTokenPolicy {
    /// Return the same refresh token string (ServiceNow: no rotation).
    ReturnSame,
    /// Omit `refresh_token` from the refresh response (RFC 6749 §6 allows it).
    Omit,
    /// Issue a new refresh token and invalidate the old one.
    Rotate,
}

/// A scripted answer that overrides the rules for the next token request.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Fault {
    /// An HTTP 5xx with an HTML body.
    ServerError(u16),
    /// HTTP 429 with `Retry-After` in seconds.
    RateLimited {
        /// The `Retry-After` value.
        retry_after_secs: u64,
    },
    /// HTTP 200 with a body that is not JSON.
    Garbage,
    /// ServiceNow's 401 `access_denied` body, whatever the request.
    AccessDenied,
    /// RFC 6749's 400 `invalid_grant`.
    InvalidGrant,
    /// No answer at all: the request hangs until the machine's own deadline.
    Silence,
    /// The transport reports a failure instead of a response.
    Transport(TransportFailure),
}

/// How the fake server answered one request.
#[derive(Debug)]
pub enum ServerAnswer {
    /// An HTTP response.
    Response(http::Response<Bytes>),
    /// The transport failed.
    Transport(TransportFailure),
    /// Nothing will come back.
    Silence,
}

/// The client the fake server knows.
#[derive(Clone, Debug)]
pub struct RegisteredClient {
    /// `client_id`.
    pub client_id: String,
    /// `client_secret` (`None` for a public client).
    pub client_secret: Option<String>,
}

/// A fake ServiceNow token server: issues codes, access and refresh tokens, expires and revokes
/// them, rotates or not, and fails on demand.
#[derive(Debug)]
pub struct FakeTokenServer {
    /// The only client it knows.
    pub client: RegisteredClient,
    /// `expires_in` of every access token it issues.
    pub access_token_lifetime: Duration,
    /// How long a refresh token lives from its first issue (ServiceNow: 100 days).
    pub refresh_token_lifetime: Duration,
    /// What a refresh returns as `refresh_token`.
    pub refresh_token_policy: RefreshTokenPolicy,
    /// Whether `client_credentials` is enabled (off by default on ServiceNow).
    pub client_credentials_enabled: bool,
    /// Scripted answers, used (first in, first out) before any rule.
    pub faults: VecDeque<Fault>,
    codes: BTreeMap<String, IssuedCode>,
    access_tokens: BTreeMap<String, Timestamp>,
    refresh_tokens: BTreeMap<String, Timestamp>,
    serial: u64,
    issued: Vec<String>,
    access_token_issues: BTreeMap<String, (Timestamp, Timestamp)>,
    refresh_token_first_issues: BTreeMap<String, Timestamp>,
    grants_seen: BTreeMap<String, usize>,
    revocations_seen: usize,
    jwt_ids_seen: std::collections::BTreeSet<String>,
}

#[derive(Clone, Debug)]
struct IssuedCode {
    redirect_uri: String,
    challenge: String,
}

impl FakeTokenServer {
    /// A server for `client` with ServiceNow's defaults: 1800 s access tokens, 100-day refresh
    /// tokens returned unchanged on refresh, client credentials enabled.
    pub fn servicenow(client: RegisteredClient) -> Self {
        Self {
            client,
            access_token_lifetime: Duration::from_secs(1800),
            refresh_token_lifetime: Duration::from_secs(8_640_000),
            refresh_token_policy: RefreshTokenPolicy::ReturnSame,
            client_credentials_enabled: true,
            faults: VecDeque::new(),
            codes: BTreeMap::new(),
            access_tokens: BTreeMap::new(),
            refresh_tokens: BTreeMap::new(),
            serial: 0,
            issued: Vec::new(),
            access_token_issues: BTreeMap::new(),
            refresh_token_first_issues: BTreeMap::new(),
            grants_seen: BTreeMap::new(),
            revocations_seen: 0,
            jwt_ids_seen: std::collections::BTreeSet::new(),
        }
    }

    /// Queues a fault for the next token request.
    pub fn fail_next(&mut self, fault: Fault) {
        self.faults.push_back(fault);
    }

    /// Plays the user who logs in and presses Allow: reads the authorization URL and returns the
    /// callback query (`code=…&state=…`) the browser would bring back.
    pub fn authorize(&mut self, authorization_url: &str) -> String {
        let query = authorization_url
            .split_once('?')
            .map_or("", |(_, query)| query);
        let parameters = form(query.as_bytes());
        let code = self.next_value("code");
        self.codes.insert(
            code.clone(),
            IssuedCode {
                redirect_uri: parameters.get("redirect_uri").cloned().unwrap_or_default(),
                challenge: parameters
                    .get("code_challenge")
                    .cloned()
                    .unwrap_or_default(),
            },
        );
        let state = parameters.get("state").cloned().unwrap_or_default();
        form_encode(&[("code", &code), ("state", &state)])
    }

    /// Plays the user who presses Deny: the callback query with `error=access_denied`.
    pub fn deny(&mut self, authorization_url: &str) -> String {
        let query = authorization_url
            .split_once('?')
            .map_or("", |(_, query)| query);
        let state = form(query.as_bytes())
            .get("state")
            .cloned()
            .unwrap_or_default();
        form_encode(&[
            ("error", "access_denied"),
            ("error_description", "the user denied access"),
            ("state", &state),
        ])
    }

    /// Revokes every token and code it issued, as an administrator would in "Manage Tokens".
    pub fn revoke_everything(&mut self) {
        self.codes.clear();
        self.access_tokens.clear();
        self.refresh_tokens.clear();
    }

    /// Forgets every access token it issued (refresh tokens stay valid).
    pub fn forget_access_tokens(&mut self) {
        self.access_tokens.clear();
    }

    /// Whether a resource request with this bearer token would be accepted at `now`.
    pub fn accepts_access_token(&self, token: &str, now: Timestamp) -> bool {
        self.access_tokens
            .get(token)
            .is_some_and(|expires_at| now < *expires_at)
    }

    /// Whether this refresh token is live at `now`.
    pub fn accepts_refresh_token(&self, token: &str, now: Timestamp) -> bool {
        self.refresh_tokens
            .get(token)
            .is_some_and(|expires_at| now < *expires_at)
    }

    /// How many token requests of this `grant_type` it has seen.
    pub fn grants_seen(&self, grant_type: &str) -> usize {
        self.grants_seen.get(grant_type).copied().unwrap_or(0)
    }

    /// How many token requests of any grant it has seen.
    pub fn token_requests_seen(&self) -> usize {
        self.grants_seen.values().sum()
    }

    /// How many revocation requests it has seen.
    pub fn revocations_seen(&self) -> usize {
        self.revocations_seen
    }

    /// Answers one request sent at `now`.
    pub fn handle(&mut self, now: Timestamp, request: &http::Request<Bytes>) -> ServerAnswer {
        let path = request.uri().path();
        if path == "/oauth_revoke_token.do" {
            return ServerAnswer::Response(self.revoke(request));
        }
        if path != "/oauth_token.do" || request.method() != http::Method::POST {
            return ServerAnswer::Response(respond(
                404,
                "text/html",
                b"<html>not found</html>".to_vec(),
            ));
        }
        let parameters = form(request.body());
        let grant_type = parameters.get("grant_type").cloned().unwrap_or_default();
        *self.grants_seen.entry(grant_type.clone()).or_default() += 1;
        if let Some(fault) = self.faults.pop_front() {
            return fault_answer(fault);
        }
        if !self.client_authenticated(request, &parameters) {
            return ServerAnswer::Response(access_denied());
        }
        let answer = match grant_type.as_str() {
            "authorization_code" => self.exchange(now, &parameters),
            "refresh_token" => self.refresh(now, &parameters),
            "client_credentials" if self.client_credentials_enabled => Ok(self.issue(now, None)),
            servicenow_oauth::JWT_BEARER_GRANT_TYPE => self.jwt_bearer(now, &parameters),
            "password" => {
                let refresh_token = self.next_value("rt");
                Ok(self.issue(now, Some(refresh_token)))
            }
            _ => Err(()),
        };
        ServerAnswer::Response(answer.unwrap_or_else(|()| access_denied()))
    }

    /// The JWT bearer grant as ServiceNow checks it, less the signature (the emulator checks
    /// that): `sub` present, `iat` not in the future, `exp` in the future, `jti` never seen.
    fn jwt_bearer(
        &mut self,
        now: Timestamp,
        parameters: &BTreeMap<String, String>,
    ) -> Result<http::Response<Bytes>, ()> {
        let claims = parameters
            .get("assertion")
            .and_then(|assertion| assertion_claims(assertion))
            .ok_or(())?;
        let now_seconds = now.as_unix_millis() / 1000;
        let number = |name: &str| claims.get(name).and_then(serde_json::Value::as_u64);
        let jti = claims
            .get("jti")
            .and_then(serde_json::Value::as_str)
            .ok_or(())?;
        let sub = claims.get("sub").and_then(serde_json::Value::as_str);
        if sub.is_none_or(str::is_empty)
            || number("iat").is_none_or(|iat| iat > now_seconds)
            || number("exp").is_none_or(|exp| exp <= now_seconds)
            || !self.jwt_ids_seen.insert(jti.to_owned())
        {
            return Err(());
        }
        Ok(self.issue(now, None))
    }

    fn exchange(
        &mut self,
        now: Timestamp,
        parameters: &BTreeMap<String, String>,
    ) -> Result<http::Response<Bytes>, ()> {
        let code = parameters.get("code").ok_or(())?;
        let issued = self.codes.remove(code).ok_or(())?;
        let verifier = parameters.get("code_verifier").ok_or(())?;
        let challenge = PkceVerifier::new(verifier.as_str())
            .map_err(|_| ())?
            .challenge();
        if challenge.as_str() != issued.challenge
            || parameters.get("redirect_uri") != Some(&issued.redirect_uri)
        {
            return Err(());
        }
        let refresh_token = self.next_value("rt");
        Ok(self.issue(now, Some(refresh_token)))
    }

    fn refresh(
        &mut self,
        now: Timestamp,
        parameters: &BTreeMap<String, String>,
    ) -> Result<http::Response<Bytes>, ()> {
        let presented = parameters.get("refresh_token").ok_or(())?;
        if !self.accepts_refresh_token(presented, now) {
            return Err(());
        }
        let access_token = self.new_access_token(now);
        let refresh_token = match self.refresh_token_policy {
            RefreshTokenPolicy::ReturnSame => Some(presented.clone()),
            RefreshTokenPolicy::Omit => None,
            RefreshTokenPolicy::Rotate => {
                self.refresh_tokens.remove(presented);
                let rotated = self.next_value("rt");
                self.refresh_tokens.insert(
                    rotated.clone(),
                    now.saturating_add(self.refresh_token_lifetime),
                );
                self.refresh_token_first_issues.insert(rotated.clone(), now);
                Some(rotated)
            }
        };
        Ok(self.token_response(&access_token, refresh_token.as_deref()))
    }

    fn issue(&mut self, now: Timestamp, refresh_token: Option<String>) -> http::Response<Bytes> {
        let access_token = self.new_access_token(now);
        if let Some(refresh_token) = &refresh_token {
            self.refresh_tokens.insert(
                refresh_token.clone(),
                now.saturating_add(self.refresh_token_lifetime),
            );
            self.refresh_token_first_issues
                .insert(refresh_token.clone(), now);
        }
        self.token_response(&access_token, refresh_token.as_deref())
    }

    fn new_access_token(&mut self, now: Timestamp) -> String {
        let access_token = self.next_value("at");
        let expires_at = now.saturating_add(self.access_token_lifetime);
        self.access_tokens.insert(access_token.clone(), expires_at);
        self.access_token_issues
            .insert(access_token.clone(), (now, expires_at));
        access_token
    }

    fn token_response(
        &self,
        access_token: &str,
        refresh_token: Option<&str>,
    ) -> http::Response<Bytes> {
        let mut body = serde_json::json!({
            "access_token": access_token,
            "scope": "useraccount",
            "token_type": "Bearer",
            "expires_in": self.access_token_lifetime.as_secs(),
        });
        if let (Some(refresh_token), Some(members)) = (refresh_token, body.as_object_mut()) {
            members.insert(
                "refresh_token".to_owned(),
                serde_json::Value::from(refresh_token),
            );
        }
        respond(200, "application/json", body.to_string().into_bytes())
    }

    fn revoke(&mut self, request: &http::Request<Bytes>) -> http::Response<Bytes> {
        self.revocations_seen += 1;
        let body_parameters = form(request.body());
        let query_parameters = form(request.uri().query().unwrap_or("").as_bytes());
        let token = body_parameters
            .get("token")
            .or_else(|| query_parameters.get("token"));
        if let Some(token) = token {
            self.access_tokens.remove(token);
            self.refresh_tokens.remove(token);
        }
        respond(200, "application/json", b"{}".to_vec())
    }

    fn client_authenticated(
        &self,
        request: &http::Request<Bytes>,
        parameters: &BTreeMap<String, String>,
    ) -> bool {
        let basic = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Basic "))
            .and_then(|encoded| {
                base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .ok()
            })
            .and_then(|decoded| String::from_utf8(decoded).ok());
        let (client_id, client_secret) = match &basic {
            Some(credentials) => {
                let (id, secret) = credentials
                    .split_once(':')
                    .unwrap_or((credentials.as_str(), ""));
                (decode_component(id), Some(decode_component(secret)))
            }
            None => (
                parameters.get("client_id").cloned().unwrap_or_default(),
                parameters.get("client_secret").cloned(),
            ),
        };
        client_id == self.client.client_id && client_secret == self.client.client_secret
    }

    /// When it issued this access token and when it expires (kept after revocation too).
    pub fn access_token_issue(&self, token: &str) -> Option<(Timestamp, Timestamp)> {
        self.access_token_issues.get(token).copied()
    }

    /// When it first issued this refresh token string (kept after revocation too).
    pub fn refresh_token_first_issue(&self, token: &str) -> Option<Timestamp> {
        self.refresh_token_first_issues.get(token).copied()
    }

    /// Every code, access token and refresh token it ever issued, for leak checks.
    pub fn secrets_issued(&self) -> &[String] {
        &self.issued
    }

    fn next_value(&mut self, prefix: &str) -> String {
        self.serial += 1;
        let value = format!("{prefix}-{:04}-SECRET", self.serial);
        self.issued.push(value.clone());
        value
    }
}

/// The claims of a compact JWT, decoded without checking its signature (for tests).
pub fn assertion_claims(assertion: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    let claims = assertion.split('.').nth(1)?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(claims)
        .ok()?;
    match serde_json::from_slice(&json).ok()? {
        serde_json::Value::Object(claims) => Some(claims),
        _ => None,
    }
}

fn fault_answer(fault: Fault) -> ServerAnswer {
    match fault {
        Fault::ServerError(status) => ServerAnswer::Response(respond(
            status,
            "text/html",
            b"<html><body>Service Unavailable</body></html>".to_vec(),
        )),
        Fault::RateLimited { retry_after_secs } => {
            let mut response =
                respond(429, "text/html", b"<html>Too Many Requests</html>".to_vec());
            if let Ok(value) = http::HeaderValue::from_str(&retry_after_secs.to_string()) {
                response
                    .headers_mut()
                    .insert(http::header::RETRY_AFTER, value);
            }
            ServerAnswer::Response(response)
        }
        Fault::Garbage => {
            ServerAnswer::Response(respond(200, "application/json", b"{\"access_tok".to_vec()))
        }
        Fault::AccessDenied => ServerAnswer::Response(access_denied()),
        Fault::InvalidGrant => ServerAnswer::Response(respond(
            400,
            "application/json",
            br#"{"error":"invalid_grant","error_description":"refresh token revoked"}"#.to_vec(),
        )),
        Fault::Silence => ServerAnswer::Silence,
        Fault::Transport(failure) => ServerAnswer::Transport(failure),
    }
}

fn access_denied() -> http::Response<Bytes> {
    respond(
        401,
        "application/json",
        SERVICENOW_ACCESS_DENIED.as_bytes().to_vec(),
    )
}

fn respond(status: u16, content_type: &str, body: impl Into<Bytes>) -> http::Response<Bytes> {
    let mut response = http::Response::new(body.into());
    *response.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(value) = http::HeaderValue::from_str(content_type) {
        response
            .headers_mut()
            .insert(http::header::CONTENT_TYPE, value);
    }
    response
}

/// The pairs of an `application/x-www-form-urlencoded` text; a repeated name keeps its first value.
pub fn form(bytes: &[u8]) -> BTreeMap<String, String> {
    let mut pairs = BTreeMap::new();
    for (name, value) in form_urlencoded::parse(bytes) {
        pairs
            .entry(name.into_owned())
            .or_insert_with(|| value.into_owned());
    }
    pairs
}

fn form_encode(pairs: &[(&str, &str)]) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        serializer.append_pair(name, value);
    }
    serializer.finish()
}

fn decode_component(text: &str) -> String {
    form_urlencoded::parse(format!("v={text}").as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}
