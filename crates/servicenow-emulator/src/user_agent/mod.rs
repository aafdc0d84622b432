//! A scripted user agent: does over real sockets what a person in a browser does on the
//! emulator's pages, so tests, the CLI demo and benchmarks can complete an authorization code
//! flow without a browser.
//!
//! Given the full authorization URL a client built (`…/oauth_auth.do?…`), it GETs it, fills in
//! the login form (keeping the session cookie and the CSRF token), follows the redirect back to
//! the authorization request, presses Allow or Deny on the consent page, and returns the final
//! redirect's `Location` **without following it**. It only understands this emulator's pages
//! (forms `id="login"` and `id="consent"`, see `docs/emulator.md`), speaks plain HTTP/1.1, and
//! keeps cookies between calls, so a second authorization with the same agent skips the login
//! form, as a browser would.

use std::{collections::BTreeMap, fmt};

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use parking_lot::Mutex;
use url::Url;

use crate::Error;

mod forms;

use forms::{error_page, find_form};

/// The button to press on the consent page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsentDecision {
    /// Press Allow: the redirect carries `code` and `state`.
    Allow,
    /// Press Deny: the redirect carries `error=access_denied` and `state`.
    Deny,
}

/// The redirect the authorization ended with (to the client's redirect URI).
#[derive(Clone, PartialEq, Eq)]
pub struct AuthorizationRedirect {
    location: Url,
}

impl AuthorizationRedirect {
    /// The full `Location`, query included (it may hold an authorization code).
    pub fn location(&self) -> &str {
        self.location.as_str()
    }

    /// The first value of a query parameter of the redirect (`code`, `state`, `error` …).
    pub fn parameter(&self, name: &str) -> Option<String> {
        self.location
            .query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }

    /// The redirect's query string (for a client's callback parser).
    pub fn query(&self) -> &str {
        self.location.query().unwrap_or_default()
    }
}

impl fmt::Debug for AuthorizationRedirect {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut without_query = self.location.clone();
        without_query.set_query(None);
        formatter
            .debug_struct("AuthorizationRedirect")
            .field("location", &format_args!("{without_query}?[redacted]"))
            .finish()
    }
}

/// The scripted user agent. Cheap to create; keeps its cookies for its lifetime.
pub struct ScriptedUserAgent {
    client: Client<HttpConnector, Full<Bytes>>,
    /// Cookies by `host:port`.
    cookies: Mutex<BTreeMap<String, BTreeMap<String, String>>>,
}

impl fmt::Debug for ScriptedUserAgent {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("ScriptedUserAgent")
            .finish_non_exhaustive()
    }
}

impl Default for ScriptedUserAgent {
    fn default() -> Self {
        Self::new()
    }
}

/// At most this many requests per authorization (GET, login, redirect, consent is four).
const MAX_STEPS: usize = 10;
/// Pages larger than this are refused.
const MAX_PAGE_BYTES: usize = 1024 * 1024;

/// A request the agent is about to send.
pub(super) struct Step {
    pub(super) method: Method,
    pub(super) url: Url,
    pub(super) form: Option<String>,
}

impl ScriptedUserAgent {
    /// A new agent with no cookies.
    pub fn new() -> Self {
        Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
            cookies: Mutex::default(),
        }
    }

    /// Forgets every cookie (logs out of every session).
    pub fn forget_cookies(&self) {
        self.cookies.lock().clear();
    }

    /// Runs the pages from `authorization_url` to the redirect away from the instance and
    /// returns that redirect, not followed.
    ///
    /// Errors: [`Error::LoginRejected`] for wrong credentials, [`Error::ErrorPage`] when the
    /// instance shows an error page (e.g. "Missing State parameter in request."),
    /// [`Error::UnexpectedPage`] for anything it does not recognise.
    pub async fn authorize(
        &self,
        authorization_url: &str,
        user_name: &str,
        password: &str,
        decision: ConsentDecision,
    ) -> Result<AuthorizationRedirect, Error> {
        let start = Url::parse(authorization_url)
            .map_err(|error| url_error(authorization_url, &format!("not a URL ({error})")))?;
        if start.scheme() != "http" {
            return Err(url_error(
                authorization_url,
                "only http:// (the emulator) is supported",
            ));
        }
        let instance = origin(&start);
        let mut step = Step {
            method: Method::GET,
            url: start,
            form: None,
        };
        let mut credentials_sent = false;
        for _ in 0..MAX_STEPS {
            let (status, location, page) = self.send(&step).await?;
            if status.is_redirection() {
                let location = location
                    .ok_or_else(|| Error::UnexpectedPage(format!("a {status} without Location")))?;
                let target = step.url.join(&location).map_err(|error| {
                    Error::UnexpectedPage(format!("unusable Location {location:?}: {error}"))
                })?;
                let stays = origin(&target) == instance
                    && matches!(target.path(), "/oauth_auth.do" | "/login.do");
                if !stays {
                    return Ok(AuthorizationRedirect { location: target });
                }
                step = Step {
                    method: Method::GET,
                    url: target,
                    form: None,
                };
                continue;
            }
            if let Some(form) = find_form(&page, "login") {
                if credentials_sent {
                    return Err(match status {
                        StatusCode::OK => Error::LoginRejected {
                            user_name: user_name.to_owned(),
                        },
                        _ => error_page(status, &page),
                    });
                }
                credentials_sent = true;
                let mut fields = form.hidden_fields();
                fields.push(("user_name".to_owned(), user_name.to_owned()));
                fields.push(("user_password".to_owned(), password.to_owned()));
                fields.extend(form.button(None));
                step = form.submission(&step.url, &fields)?;
                continue;
            }
            if let Some(form) = find_form(&page, "consent") {
                let choice = match decision {
                    ConsentDecision::Allow => "allow",
                    ConsentDecision::Deny => "deny",
                };
                let mut fields = form.hidden_fields();
                let button = form.button(Some(choice)).ok_or_else(|| {
                    Error::UnexpectedPage(format!("the consent page has no {choice} button"))
                })?;
                fields.push(button);
                step = form.submission(&step.url, &fields)?;
                continue;
            }
            return Err(error_page(status, &page));
        }
        Err(Error::UnexpectedPage(format!(
            "no redirect away from the instance after {MAX_STEPS} requests"
        )))
    }

    async fn send(&self, step: &Step) -> Result<(StatusCode, Option<String>, String), Error> {
        let authority = authority(&step.url);
        let mut builder = Request::builder()
            .method(step.method.clone())
            .uri(step.url.as_str())
            .header(
                header::USER_AGENT,
                "servicenow-emulator-scripted-user-agent",
            )
            .header(header::ACCEPT, "text/html");
        let cookie_header = self.cookie_header(&authority);
        if !cookie_header.is_empty() {
            builder = builder.header(header::COOKIE, cookie_header);
        }
        let body = match &step.form {
            Some(form) => {
                builder = builder.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
                Bytes::from(form.clone())
            }
            None => Bytes::new(),
        };
        let request = builder
            .body(Full::new(body))
            .map_err(|error| transport_error(&step.url, error))?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|error| transport_error(&step.url, error))?;
        self.store_cookies(&authority, response.headers());
        let status = response.status();
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let bytes = Limited::new(response.into_body(), MAX_PAGE_BYTES)
            .collect()
            .await
            .map_err(|error| transport_error(&step.url, error))?
            .to_bytes();
        Ok((
            status,
            location,
            String::from_utf8_lossy(&bytes).into_owned(),
        ))
    }

    fn cookie_header(&self, authority: &str) -> String {
        let cookies = self.cookies.lock();
        cookies
            .get(authority)
            .map(|jar| {
                jar.iter()
                    .map(|(name, value)| format!("{name}={value}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default()
    }

    fn store_cookies(&self, authority: &str, headers: &http::HeaderMap) {
        let mut cookies = self.cookies.lock();
        for value in headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
        {
            let pair = value.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                cookies
                    .entry(authority.to_owned())
                    .or_default()
                    .insert(name.trim().to_owned(), value.trim().to_owned());
            }
        }
    }
}

fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

fn authority(url: &Url) -> String {
    format!(
        "{}:{}",
        url.host_str().unwrap_or_default(),
        url.port_or_known_default().unwrap_or(80)
    )
}

fn url_error(url: &str, reason: &str) -> Error {
    Error::UserAgentUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    }
}

fn transport_error(url: &Url, error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
    let mut shown = url.clone();
    shown.set_query(None);
    Error::UserAgentTransport {
        url: shown.to_string(),
        source: error.into(),
    }
}
