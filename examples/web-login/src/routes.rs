//! The app's routes: home (connect button or incidents), connect, callback, logout.

use axum::{
    Router,
    extract::{RawQuery, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use servicenow::{
    Error, ErrorKind, LoginError,
    auth::LoginFailure,
    table::{Condition, FieldName, ListParams, Query, ReadOptions, Record},
};

use crate::{
    App,
    pages::{self, IncidentRow},
    sessions::{clear_cookie, set_cookie},
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
        Some("disconnected=1") => {
            Some("Disconnected: your ServiceNow tokens were revoked and deleted.")
        }
        _ => None,
    };
    let Some((id, session)) = app.inner.sessions.find(&headers).await else {
        return html(StatusCode::OK, pages::connect_page(&instance, notice));
    };
    if !session.connected {
        return html(StatusCode::OK, pages::connect_page(&instance, notice));
    }
    match open_incidents(&app, &session.subject).await {
        Ok((rows, total)) => html(
            StatusCode::OK,
            pages::incidents_page(&instance, &rows, total),
        ),
        Err(error) if needs_login(&error) => {
            app.inner.sessions.set_connected(&id, false).await;
            html(
                StatusCode::OK,
                pages::connect_page(
                    &instance,
                    Some("ServiceNow asks you to connect again (your access ended)."),
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

async fn connect(State(app): State<App>, headers: HeaderMap) -> Response {
    let Ok((id, session, created)) = app.inner.sessions.find_or_create(&headers).await else {
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
    if created {
        add_cookie(&mut response, &set_cookie(&id, app.inner.secure_cookies));
    }
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
        Ok(_) => {
            app.inner.sessions.set_connected(&id, true).await;
            redirect("/")
        }
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

async fn logout(State(app): State<App>, headers: HeaderMap) -> Response {
    let mut response = redirect("/?disconnected=1");
    if let Some((id, session)) = app.inner.sessions.find(&headers).await {
        if let Err(error) = app.inner.login.logout(&session.subject).await {
            tracing::warn!(%error, "logging out failed");
        }
        app.inner.sessions.remove(&id).await;
    }
    add_cookie(&mut response, &clear_cookie(app.inner.secure_cookies));
    response
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
    // The callback URL carries the authorization code: never send it on as a Referer.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
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
