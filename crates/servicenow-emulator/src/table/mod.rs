//! The Table API (`servicenow-api.md` §2): routing of `/api/now/[v1/|v2/]table/{table}[/{sys_id}]`,
//! authentication (bearer tokens issued here, or HTTP Basic for users), rate limits and faults,
//! then the list, record and write handlers.

mod list;
mod render;
mod write;

use std::{future::Future, sync::Arc};

use http::{HeaderValue, Method, Response, StatusCode, header};
use http_body_util::BodyExt as _;

pub(crate) use list::QueryCache;

use crate::{
    FaultKind,
    cost::SESSION_COOKIE,
    rate_limit::RateDecision,
    server::{Incoming, Shared},
    wire::{self, Body, HandlerResult, error_envelope},
};

/// The documented body of a request timed out by the transaction quota.
pub(crate) const TRANSACTION_CANCELLED: &str =
    "Transaction cancelled: maximum execution time exceeded";
const TRANSACTION_CANCELLED_DETAIL: &str = "Transaction cancelled: maximum execution time exceeded Check logs for error trace or enable glide.rest.debug property to verify REST request processing";

/// The API version in the path; no version means the latest, which behaves as v2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ApiVersion {
    V1,
    V2,
    Latest,
}

/// A parsed Table API path.
#[derive(Debug)]
pub(crate) struct TableRoute {
    pub(crate) version: ApiVersion,
    pub(crate) table: String,
    pub(crate) sys_id: Option<String>,
}

pub(crate) async fn handle(shared: &Arc<Shared>, request: &Incoming) -> HandlerResult {
    let Some(route) = parse_path(request.uri.path()) else {
        let response = error_envelope(
            StatusCode::BAD_REQUEST,
            "Requested URI does not represent any resource",
            None,
        );
        return Ok(response);
    };
    shared
        .counters
        .table_request(request.method.as_str(), &route.table);
    let Some(user) = authenticate(shared, request) else {
        shared
            .counters
            .bump(|counters| &mut counters.table_unauthorized);
        return Ok(unauthorized());
    };
    let settings = shared.settings.read().clone();
    let decision = match rate_limit(shared, &user, &settings) {
        Ok(decision) => decision,
        Err(refused) => return Ok(*refused),
    };
    // The cost model (opt-in): a thread on a node for the request's modelled time.
    let admission = match &shared.cost {
        None => None,
        Some(cost) => match cost
            .admit(session_cookie(request).as_deref(), shared.seed)
            .await
        {
            Some(admission) => {
                shared.counters.executing_started();
                Some((admission, tokio::time::Instant::now()))
            }
            None => {
                shared.counters.bump(|counters| &mut counters.queue_full);
                return Ok(with_common_headers(
                    queue_full(cost.model.queue_full_retry_after),
                    decision.as_ref(),
                ));
            }
        },
    };
    let truncate = match injected_fault(shared, &settings, decision.as_ref()).await {
        FaultGate::Proceed { truncate } => truncate,
        FaultGate::Stop(result) => return result,
    };
    let writes = matches!(
        request.method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    if writes
        && settings
            .write_acl_denials
            .iter()
            .any(|denial| denial.applies(&route.table, &user))
    {
        let response = error_envelope(
            StatusCode::FORBIDDEN,
            "Operation Failed",
            Some("ACL Exception Update Failed due to security constraints"),
        );
        return Ok(with_common_headers(response, decision.as_ref()));
    }
    let mut work = None;
    let response = match (&request.method, route.sys_id.is_some()) {
        (&Method::GET | &Method::HEAD, false) if !is_large_page(request) => {
            let (response, list_work) = list::list(shared, request, &route, &settings);
            work = Some(list_work);
            response
        }
        (&Method::GET | &Method::HEAD, false) => {
            // A large page is rendered on the blocking pool: thousands of rows take tens of
            // milliseconds of CPU, which on an async worker would stall every other connection
            // served by it (a prefetched page's transfer, another client's token request).
            let shared = Arc::clone(shared);
            let request = request.clone();
            let settings = settings.clone();
            let (response, list_work) = tokio::task::spawn_blocking(move || {
                list::list(&shared, &request, &route, &settings)
            })
            .await
            .map_err(std::io::Error::other)?;
            work = Some(list_work);
            response
        }
        (&Method::GET | &Method::HEAD, true) => list::get_record(shared, request, &route),
        (&Method::POST, false) => write::create(shared, request, &route, &user),
        (&Method::PUT | &Method::PATCH, true) => write::update(shared, request, &route, &user),
        (&Method::DELETE, true) => write::delete(shared, request, &route, &settings),
        _ => error_envelope(StatusCode::METHOD_NOT_ALLOWED, "Method not Supported", None),
    };
    let response = head_or_quiet_write(request, response, &settings);
    let mut response = with_common_headers(response, decision.as_ref());
    if let (Some(cost), Some((admission, started))) = (&shared.cost, admission) {
        let modelled = match work {
            Some(work) => cost.model.list_time(work),
            None => cost.model.request_time(),
        };
        // The real rendering above is part of the modelled time, not added to it.
        if modelled > cost.model.quota() {
            tokio::time::sleep_until(started + cost.model.quota()).await;
            shared
                .counters
                .bump(|counters| &mut counters.transactions_cancelled);
            response = with_common_headers(transaction_cancelled(), decision.as_ref());
        } else {
            tokio::time::sleep_until(started + modelled).await;
        }
        if let Some(session) = &admission.new_session {
            insert_header(
                &mut response,
                "Set-Cookie",
                &format!("{SESSION_COOKIE}={session}; Path=/; HttpOnly"),
            );
        }
        drop(admission);
        shared.counters.executing_finished();
    }
    truncated_if(response, truncate).await
}

/// Runs `serve` for `user` behind the Table API's gates: the rate limit, injected latency and
/// faults, and the common headers (the Aggregate, Batch and Attachment APIs go through here).
pub(crate) async fn gated(
    shared: &Shared,
    user: &str,
    serve: impl Future<Output = HandlerResult>,
) -> HandlerResult {
    let settings = shared.settings.read().clone();
    let decision = match rate_limit(shared, user, &settings) {
        Ok(decision) => decision,
        Err(refused) => return Ok(*refused),
    };
    let truncate = match injected_fault(shared, &settings, decision.as_ref()).await {
        FaultGate::Proceed { truncate } => truncate,
        FaultGate::Stop(result) => return result,
    };
    let response = with_common_headers(serve.await?, decision.as_ref());
    truncated_if(response, truncate).await
}

/// Counts `user`'s request against the rate limit rule: its decision (`None` without a rule),
/// or the 429 beyond the limit.
fn rate_limit(
    shared: &Shared,
    user: &str,
    settings: &crate::Settings,
) -> Result<Option<RateDecision>, Box<Response<Body>>> {
    let decision = shared.rate_limits.lock().check(
        settings.rate_limit.as_ref(),
        user,
        shared.clock.unix_seconds(),
    );
    let Some(decision) = decision else {
        return Ok(None);
    };
    if decision.allowed {
        return Ok(Some(decision));
    }
    shared.counters.bump(|counters| &mut counters.rate_limited);
    let detail = format!(
        "Rate limit of {} requests per hour for Table API exceeded",
        decision.limit
    );
    let mut response = error_envelope(
        StatusCode::TOO_MANY_REQUESTS,
        "Rate limit exceeded",
        Some(&detail),
    );
    insert_header(
        &mut response,
        "Retry-After",
        &decision.retry_after.to_string(),
    );
    Err(Box::new(with_common_headers(response, Some(&decision))))
}

/// What the fault drawn for a request leaves to do.
enum FaultGate {
    /// Serve it (`truncate`: cut the body in half).
    Proceed { truncate: bool },
    /// Answer with this instead (or drop the connection).
    Stop(HandlerResult),
}

/// The configured added latency, then the fault drawn for this request.
async fn injected_fault(
    shared: &Shared,
    settings: &crate::Settings,
    decision: Option<&RateDecision>,
) -> FaultGate {
    if let Some(latency) = settings.faults.added_latency {
        tokio::time::sleep(latency).await;
    }
    let fault = shared.faults.lock().draw(&settings.faults);
    if fault.is_some() {
        shared
            .counters
            .bump(|counters| &mut counters.faults_injected);
    }
    let stop = |response| FaultGate::Stop(Ok(with_common_headers(response, decision)));
    match fault {
        None => FaultGate::Proceed { truncate: false },
        Some(FaultKind::Latency(latency)) => {
            tokio::time::sleep(latency).await;
            FaultGate::Proceed { truncate: false }
        }
        Some(FaultKind::InternalServerError) => stop(error_envelope(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Server Error",
            Some("Injected fault"),
        )),
        Some(FaultKind::ServiceUnavailable) => stop(error_envelope(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service Unavailable",
            Some("Injected fault"),
        )),
        Some(FaultKind::TransactionCancelled) => stop(transaction_cancelled()),
        Some(FaultKind::DropConnection) => FaultGate::Stop(Err(std::io::Error::other(
            "fault injection: connection dropped",
        ))),
        Some(FaultKind::TruncatedBody) => FaultGate::Proceed { truncate: true },
    }
}

/// `response` with its body cut in half when `truncate` (the truncated-body fault).
async fn truncated_if(response: Response<Body>, truncate: bool) -> HandlerResult {
    if !truncate {
        return Ok(response);
    }
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await?.to_bytes();
    Ok(Response::from_parts(parts, wire::truncated_body(bytes)))
}

/// A Table API list of `table` served under another API's path (the Attachment API lists
/// `sys_attachment` this way): the same query, paging, `X-Total-Count` and `Link`.
pub(crate) fn list_of(
    shared: &Shared,
    request: &Incoming,
    table: &str,
    settings: &crate::Settings,
) -> Response<Body> {
    let route = TableRoute {
        version: ApiVersion::Latest,
        table: table.to_owned(),
        sys_id: None,
    };
    list::list(shared, request, &route, settings).0
}

/// `HEAD` answers with the headers of the `GET` and no body (hyper sends none for `HEAD`), without
/// `X-Total-Count` unless `head_sends_total_count`; a successful write sent with
/// `X-no-response-body: true` gets `no_response_body_status`.
fn head_or_quiet_write(
    request: &Incoming,
    mut response: Response<Body>,
    settings: &crate::Settings,
) -> Response<Body> {
    if request.method == Method::HEAD {
        if !settings.head_sends_total_count {
            response.headers_mut().remove("X-Total-Count");
        }
        return response;
    }
    let quiet = request
        .headers
        .get("X-no-response-body")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.eq_ignore_ascii_case("true"));
    let write = matches!(request.method, Method::POST | Method::PUT | Method::PATCH);
    if quiet
        && write
        && response.status().is_success()
        && settings.no_response_body_status == crate::NoResponseBodyStatus::NoContent
    {
        *response.status_mut() = StatusCode::NO_CONTENT;
        response.headers_mut().remove(header::CONTENT_TYPE);
        response.headers_mut().remove(header::CONTENT_LENGTH);
    }
    response
}

/// Whether a list request asks for more rows than are worth rendering inline: up to 100 rows
/// (about a third of a millisecond) stay on the worker, where the handoff to the blocking pool
/// would be a noticeable part of a small request.
fn is_large_page(request: &Incoming) -> bool {
    const INLINE_ROWS: u64 = 100;
    let pairs = wire::form_pairs(request.uri.query().unwrap_or_default().as_bytes());
    list::page_limit(&pairs) > INLINE_ROWS
}

/// The session a request names with the `JSESSIONID` cookie.
fn session_cookie(request: &Incoming) -> Option<String> {
    request
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|value| !value.is_empty() && value.len() <= 128)
}

/// 429 for a request that found its node's `API_INT` queue full. The real body of this case
/// is not documented (§6 of `servicenow-api-more.md` says only "overflow returns 429"); the
/// emulator sends the documented error envelope.
fn queue_full(retry_after: Option<u64>) -> Response<Body> {
    let mut response = error_envelope(
        StatusCode::TOO_MANY_REQUESTS,
        "Too Many Requests",
        Some("The API_INT semaphore queue of this node is full"),
    );
    if let Some(seconds) = retry_after {
        insert_header(&mut response, "Retry-After", &seconds.to_string());
    }
    response
}

pub(crate) fn transaction_cancelled() -> Response<Body> {
    error_envelope(
        StatusCode::INTERNAL_SERVER_ERROR,
        TRANSACTION_CANCELLED,
        Some(TRANSACTION_CANCELLED_DETAIL),
    )
}

/// The 401 of every REST API, with ServiceNow's `WWW-Authenticate`.
pub(crate) fn unauthorized() -> Response<Body> {
    let mut response = error_envelope(
        StatusCode::UNAUTHORIZED,
        "User Not Authenticated",
        Some("Required to provide Auth information"),
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("BASIC realm=\"Service-now\""),
    );
    response
}

/// The user a request acts as: a bearer token issued here, or a user's HTTP Basic credentials.
pub(crate) fn authenticate(shared: &Shared, request: &Incoming) -> Option<String> {
    let now = shared.clock.now();
    if let Some(token) = wire::bearer_token(&request.headers) {
        return shared.oauth.lock().bearer_user(token, now);
    }
    let (user, password) = wire::basic_credentials(&request.headers)?;
    shared
        .oauth
        .lock()
        .check_password(&user, &password)
        .then_some(user)
}

fn parse_path(path: &str) -> Option<TableRoute> {
    let rest = path.strip_prefix("/api/now/")?;
    let (version, rest) = if let Some(rest) = rest.strip_prefix("v1/") {
        (ApiVersion::V1, rest)
    } else if let Some(rest) = rest.strip_prefix("v2/") {
        (ApiVersion::V2, rest)
    } else {
        (ApiVersion::Latest, rest)
    };
    let rest = rest.strip_prefix("table/")?.trim_end_matches('/');
    let mut segments = rest.split('/');
    let table = segments
        .next()
        .filter(|table| !table.is_empty())?
        .to_owned();
    let sys_id = segments.next().map(str::to_owned);
    if segments.next().is_some() {
        return None;
    }
    Some(TableRoute {
        version,
        table,
        sys_id,
    })
}

fn with_common_headers(
    mut response: Response<Body>,
    decision: Option<&RateDecision>,
) -> Response<Body> {
    if let Some(decision) = decision {
        insert_header(
            &mut response,
            "X-RateLimit-Limit",
            &decision.limit.to_string(),
        );
        insert_header(
            &mut response,
            "X-RateLimit-Reset",
            &decision.reset.to_string(),
        );
        insert_header(&mut response, "X-RateLimit-Rule", &decision.rule_sys_id);
    }
    insert_header(&mut response, "X-Is-Logged-In", "true");
    insert_header(&mut response, "X-Transaction-ID", &wire::random_token(9));
    response
}

pub(crate) fn insert_header(response: &mut Response<Body>, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
}

/// Whether the `Accept` header allows JSON (`None` when absent).
fn accepts_json(request: &Incoming) -> Option<bool> {
    let accept = request
        .headers
        .get(header::ACCEPT)?
        .to_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    Some(
        accept.contains("application/json")
            || accept.contains("*/*")
            || accept.contains("application/*"),
    )
}
