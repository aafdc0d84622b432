//! The app's routes: home (connect button or incidents), connect, callback, logout.

use axum::{
    Form, Router,
    extract::{RawQuery, State, rejection::FormRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;
use servicenow::{
    Error, ErrorKind, LoginError,
    auth::{LoginFailure, Revocation, RevocationOutcome},
    table::{Condition, FieldName, ListParams, Query, ReadOptions, Record},
};

use crate::{
    App,
    pages::{self, IncidentRow},
    sessions::{Session, csrf_matches},
};

/// How many incidents the home page shows.
const INCIDENTS_SHOWN: u32 = 10;

pub(crate) fn router(app: App) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/connect", post(connect))
        .route("/callback", get(callback))
        .route("/logout", post(logout))
        .with_state(app)
}

async fn home(State(app): State<App>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let instance = app.inner.config.instance.origin().to_owned();
    let notice = match query.as_deref() {
        Some("disconnected=accepted") => Some(
            "Disconnected: the instance accepted the revocation of your ServiceNow tokens, and \
             this app deleted them.",
        ),
        Some("disconnected=unconfirmed") => Some(
            "Disconnected: this app deleted your ServiceNow tokens, but the instance did not \
             accept their revocation (they stay valid until they expire).",
        ),
        _ => None,
    };
    // Every visitor gets a session, so the Connect form can carry a CSRF token.
    let Ok((id, session, created)) = app.inner.sessions.find_or_create(&headers).await else {
        return internal_error();
    };
    let mut response = if session.connected {
        connected_home(&app, &id, &session, &instance).await
    } else {
        html(
            StatusCode::OK,
            pages::connect_page(&instance, notice, &session.csrf_token),
        )
    };
    if created {
        add_cookie(&mut response, &app.inner.sessions.set_cookie(&id));
    }
    response
}

async fn connected_home(app: &App, id: &str, session: &Session, instance: &str) -> Response {
    match open_incidents(app, &session.subject).await {
        Ok((rows, total)) => html(
            StatusCode::OK,
            pages::incidents_page(instance, &rows, total, &session.csrf_token),
        ),
        Err(error) if needs_login(&error) => {
            app.inner.sessions.disconnect(id).await;
            html(
                StatusCode::OK,
                pages::connect_page(
                    instance,
                    Some("ServiceNow asks you to connect again (your access ended)."),
                    &session.csrf_token,
                ),
            )
        }
        Err(error) => {
            tracing::warn!(%error, "listing incidents failed");
            html(
                StatusCode::BAD_GATEWAY,
                pages::error_page(
                    "ServiceNow did not answer",
                    "Reading your incidents failed; try again in a moment.",
                ),
            )
        }
    }
}

/// The body of every state-changing form: the session's CSRF token.
#[derive(Debug, Deserialize)]
pub(crate) struct CsrfForm {
    csrf_token: String,
}

/// The session of a state-changing POST, if the request proves it comes from this app's own
/// page: an `Origin` header, when the browser sends one, names this app's origin (`null`, which
/// sandboxed frames and opaque origins send, is refused too), and the form carries the session's
/// CSRF token. Otherwise the 403 page to answer, having changed nothing.
async fn checked_post(
    app: &App,
    headers: &HeaderMap,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Result<(String, Session), Response> {
    let forbidden = || {
        html(
            StatusCode::FORBIDDEN,
            pages::error_page(
                "Request refused",
                "This request did not come from this app's own page (its origin or CSRF token \
                 is missing or wrong), so nothing was changed. Go back, reload and try again.",
            ),
        )
    };
    if let Some(origin) = headers.get(header::ORIGIN) {
        if origin.as_bytes() != app.inner.origin.as_bytes() {
            tracing::warn!(origin = ?origin, "refused a cross-origin POST");
            return Err(forbidden());
        }
    }
    let Ok(Form(form)) = form else {
        return Err(forbidden());
    };
    let Some((id, session)) = app.inner.sessions.find(headers).await else {
        return Err(forbidden());
    };
    if !csrf_matches(&session, &form.csrf_token) {
        tracing::warn!("refused a POST with a wrong CSRF token");
        return Err(forbidden());
    }
    Ok((id, session))
}

async fn connect(
    State(app): State<App>,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    let (old_id, _) = match checked_post(&app, &headers, form).await {
        Ok(checked) => checked,
        Err(refused) => return refused,
    };
    // A new id and a new subject: whatever id the browser held before (planted or not) is gone.
    let Ok((id, session)) = app.inner.sessions.begin(Some(&old_id)).await else {
        return internal_error();
    };
    let url = match app.inner.login.begin(&session.subject).await {
        Ok(url) => url,
        Err(error) => {
            tracing::warn!(%error, "beginning a login failed");
            return internal_error();
        }
    };
    let mut response = redirect(&url);
    add_cookie(&mut response, &app.inner.sessions.set_cookie(&id));
    response
}

async fn callback(
    State(app): State<App>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let Some((id, session)) = app.inner.sessions.find(&headers).await else {
        return html(
            StatusCode::BAD_REQUEST,
            pages::error_page(
                "Sign-in rejected",
                "This sign-in response does not belong to a session of this browser.",
            ),
        );
    };
    let query = query.unwrap_or_default();
    match app.inner.login.complete(&session.subject, &query).await {
        Ok(_) => match app.inner.sessions.connect(&id).await {
            // Logged in: the session moves to a new id.
            Ok(Some((id, _))) => {
                let mut response = redirect("/");
                add_cookie(&mut response, &app.inner.sessions.set_cookie(&id));
                response
            }
            Ok(None) | Err(_) => internal_error(),
        },
        Err(Error::Login(login))
            if matches!(
                login.as_ref(),
                LoginError::Failed(LoginFailure::AuthorizationDenied { .. })
            ) =>
        {
            html(
                StatusCode::FORBIDDEN,
                pages::error_page(
                    "Not connected",
                    "You declined access on ServiceNow, so nothing was connected.",
                ),
            )
        }
        Err(Error::Login(login))
            if matches!(
                login.as_ref(),
                LoginError::UnknownState | LoginError::MalformedCallback(_)
            ) =>
        {
            html(
                StatusCode::BAD_REQUEST,
                pages::error_page(
                    "Sign-in rejected",
                    "This sign-in response does not match a sign-in started in this browser \
                 (state mismatch); nothing was connected.",
                ),
            )
        }
        Err(error) => {
            tracing::warn!(%error, "completing a login failed");
            html(
                StatusCode::BAD_GATEWAY,
                pages::error_page(
                    "Sign-in failed",
                    "ServiceNow did not accept the sign-in; please try again.",
                ),
            )
        }
    }
}

async fn logout(
    State(app): State<App>,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    let (id, session) = match checked_post(&app, &headers, form).await {
        Ok(checked) => checked,
        Err(refused) => return refused,
    };
    // Revoke first; only then clear anything. If that fails, the session and its tokens stay, so
    // the user can try again (nothing half-done, nothing orphaned).
    let outcome = match app.inner.login.logout(&session.subject).await {
        Ok(outcome) => outcome,
        Err(error) => {
            tracing::warn!(%error, "logging out failed");
            return html(
                StatusCode::BAD_GATEWAY,
                pages::error_page(
                    "Not disconnected",
                    "Your ServiceNow tokens could not be revoked and deleted; nothing was \
                     changed. Try again in a moment.",
                ),
            );
        }
    };
    app.inner.sessions.remove(&id).await;
    let mut response = redirect(if all_accepted(outcome.as_ref()) {
        "/?disconnected=accepted"
    } else {
        "/?disconnected=unconfirmed"
    });
    add_cookie(&mut response, &app.inner.sessions.clear_cookie());
    response
}

/// Whether the instance accepted every revocation there was to send.
fn all_accepted(outcome: Option<&RevocationOutcome>) -> bool {
    outcome.is_none_or(|outcome| {
        [outcome.refresh_token, outcome.access_token]
            .into_iter()
            .all(|revocation| matches!(revocation, Revocation::Accepted | Revocation::NoToken))
    })
}

async fn open_incidents(
    app: &App,
    subject: &str,
) -> servicenow::Result<(Vec<IncidentRow>, Option<u64>)> {
    let client = app.client_for(subject)?;
    let fields = ["number", "short_description", "priority", "state"]
        .into_iter()
        .map(FieldName::new)
        .collect::<Result<Vec<_>, _>>()?;
    let params = ListParams {
        query: Some(
            Query::new()
                .and("active", Condition::eq("true"))
                .order_by_desc("number")
                .build()?,
        ),
        options: ReadOptions {
            fields,
            ..ReadOptions::default()
        },
        limit: Some(INCIDENTS_SHOWN),
        offset: None,
    };
    let page = client.table::<Record>("incident")?.list(&params).await?;
    let text = |record: &Record, field: &str| record.get_str(field).unwrap_or_default().to_owned();
    let rows = page
        .records
        .iter()
        .map(|record| IncidentRow {
            number: text(record, "number"),
            short_description: text(record, "short_description"),
            priority: text(record, "priority"),
            state: text(record, "state"),
        })
        .collect();
    Ok((rows, page.total_count))
}

/// Whether the failure means the user must connect again.
fn needs_login(error: &Error) -> bool {
    error.kind() == ErrorKind::Reauthorize
}

/// An HTML response that no cache keeps and no other site frames.
fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    secure_headers(headers);
    response
}

fn redirect(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    secure_headers(response.headers_mut());
    response
}

fn secure_headers(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // The callback URL carries the authorization code: never send it to another origin as a
    // Referer. `same-origin` rather than `no-referrer`, because under `no-referrer` browsers send
    // `Origin: null` with this app's own form posts, and the CSRF check wants the real origin.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

fn add_cookie(response: &mut Response, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

fn internal_error() -> Response {
    html(
        StatusCode::INTERNAL_SERVER_ERROR,
        pages::error_page("Something went wrong", "Please try again."),
    )
}
