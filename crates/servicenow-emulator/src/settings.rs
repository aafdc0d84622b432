//! Runtime knobs: behaviours a test can switch while the emulator runs.
//!
//! Where `servicenow-api.md` marks a behaviour as uncertain, the choice lives here, with the
//! default being what the reference document says a real instance most likely does.

use std::time::Duration;

/// Behaviours that can be changed at run time with
/// [`EmulatorHandle::update_settings`](crate::EmulatorHandle::update_settings).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Settings {
    /// `glide.oauth.state.parameter.required`: refuse an authorization request without `state`
    /// ("Missing State parameter in request."). Default `true`, as on new instances.
    pub state_required: bool,
    /// Show an error page for an unregistered `redirect_uri` instead of falling back to the
    /// client's first registered URL (the documented real behaviour). Default `false`.
    pub strict_redirect_uri: bool,
    /// Accept a loopback redirect URI (`http://127.0.0.1`, `[::1]`, `localhost`) whose port
    /// differs from a registered one, as RFC 8252 §7.3 asks. Not documented for ServiceNow.
    /// Default `false`.
    pub loopback_redirect_any_port: bool,
    /// Issue a new refresh token on every refresh and invalidate the old one. ServiceNow returns
    /// the same refresh token and keeps its expiry, so the default is `false`.
    pub rotate_refresh_tokens: bool,
    /// Answer token endpoint failures with RFC 6749 §5.2 codes (`invalid_grant`, …) instead of
    /// ServiceNow's `401 {"error_description":"access_denied","error":"server_error"}`.
    pub rfc6749_errors: bool,
    /// `glide.oauth.inbound.client.credential.grant_type.enabled`. Default `false`.
    pub client_credentials_enabled: bool,
    /// Accept client authentication by HTTP Basic at the token endpoint (an emulator
    /// convenience; unconfirmed on real instances). Default `true`.
    pub basic_client_authentication: bool,
    /// Let public (PKCE) clients use the refresh grant (the docs mark refresh "private clients
    /// only"; unconfirmed). Default `true`.
    pub public_clients_may_refresh: bool,
    /// How long an authorization code stays valid. Default 60 s.
    pub authorization_code_lifetime: Duration,
    /// `glide.invalid_query.returns_no_rows`: an invalid encoded query returns no rows instead
    /// of ignoring the invalid part. Default `false`.
    pub invalid_query_returns_no_rows: bool,
    /// What `rel="prev"` says on the first page. Default: `offset - limit` (the captured
    /// example has limit 1 and shows `-1`).
    pub first_page_prev_link: FirstPagePrevLink,
    /// Origin written into `Link` and `Location` headers instead of the emulator's own, e.g. to
    /// test that a client refuses a `Link` to another host. Default `None`.
    pub link_origin_override: Option<String>,
    /// A per-user rate limit rule on the REST APIs (Table, Aggregate, Batch, Attachment).
    /// Default none.
    pub rate_limit: Option<RateLimitRule>,
    /// Random faults on REST API requests, drawn from the seeded generator. Default none.
    pub faults: FaultPlan,
    /// Answer a Table API list whose page would hold more rows than this with
    /// "Transaction cancelled: maximum execution time exceeded" (`--cancel-pages-over N`).
    /// Default none.
    pub transaction_timeout_above_rows: Option<u64>,
    /// Send `X-Total-Count` (and every other header of the GET) on a `HEAD` of a table. Whether
    /// an instance does is not documented (`servicenow-api-more.md` §4: HEAD may replace GET,
    /// with no body). Default `true`.
    pub head_sends_total_count: bool,
    /// The status of a create or update sent with `X-no-response-body: true`, which is not
    /// documented. Default: the status of the write with a body (201, 200), no body.
    pub no_response_body_status: NoResponseBodyStatus,
    /// Refuse a `DELETE` without `Content-Type` with 400, as ServiceNow's REST API overview
    /// says. Default `false`: the Table API's own page, its curl samples and every real client
    /// (PySNC, the Ansible collection, sndml3) send DELETE without it, and real instances
    /// answer 204 (`servicenow-api-more.md` §4).
    pub delete_requires_content_type: bool,
    /// Writes (POST, PUT, PATCH, DELETE) refused with 403, as an ACL would, alone or inside a
    /// batch. Default none.
    pub write_acl_denials: Vec<WriteDenial>,
    /// A batch item whose body is larger than this is left unserviced
    /// (`glide.rest.batch.max.inputSize`, 5 MB by default, at most 10 MB).
    pub batch_max_input_bytes: usize,
    /// A batch item whose response is larger than this is left unserviced
    /// (`glide.rest.batch.max.outputSize`, 10 MB; `X-BATCHREQUEST-MAX-OUTPUT-SIZE` can only
    /// lower it).
    pub batch_max_output_bytes: usize,
    /// Serve at most this many items per batch call and report the rest in
    /// `unserviced_requests`, as an instance does when the 30 s batch quota runs out.
    /// Default none (every item is served).
    pub batch_serviced_per_call: Option<usize>,
    /// The largest attachment an upload may carry (`com.glide.attachment.max_size`, 1024 MB by
    /// default on real instances). A larger upload is refused while it streams in.
    pub attachment_max_bytes: u64,
    /// The status of that refusal. Real instances' answer to an oversize upload is not
    /// documented (`servicenow-api-more.md` §1, open question 1); default 413, with the REST
    /// error envelope.
    pub attachment_too_large_status: u16,
}

/// A write an ACL refuses: on `table`, by `user_name` (every user when `None`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteDenial {
    /// The table.
    pub table: String,
    /// The user refused, or everyone.
    pub user_name: Option<String>,
}

impl WriteDenial {
    /// Every user's writes to `table` are refused.
    pub fn table(table: impl Into<String>) -> Self {
        Self {
            table: table.into(),
            user_name: None,
        }
    }

    pub(crate) fn applies(&self, table: &str, user: &str) -> bool {
        self.table == table && self.user_name.as_deref().is_none_or(|name| name == user)
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            state_required: true,
            strict_redirect_uri: false,
            loopback_redirect_any_port: false,
            rotate_refresh_tokens: false,
            rfc6749_errors: false,
            client_credentials_enabled: false,
            basic_client_authentication: true,
            public_clients_may_refresh: true,
            authorization_code_lifetime: Duration::from_secs(60),
            invalid_query_returns_no_rows: false,
            first_page_prev_link: FirstPagePrevLink::OffsetMinusLimit,
            link_origin_override: None,
            rate_limit: None,
            faults: FaultPlan::default(),
            transaction_timeout_above_rows: None,
            head_sends_total_count: true,
            no_response_body_status: NoResponseBodyStatus::SameAsWithBody,
            delete_requires_content_type: false,
            write_acl_denials: Vec::new(),
            batch_max_input_bytes: 5 * 1024 * 1024,
            batch_max_output_bytes: 10 * 1024 * 1024,
            batch_serviced_per_call: None,
            attachment_max_bytes: 1024 * 1024 * 1024,
            attachment_too_large_status: 413,
        }
    }
}

/// The status of a write sent with `X-no-response-body: true` (not documented).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum NoResponseBodyStatus {
    /// 201 for a create, 200 for an update, with an empty body.
    #[default]
    SameAsWithBody,
    /// 204 No Content.
    NoContent,
}

/// The `rel="prev"` entry of the `Link` header on the first page (uncertain on real instances).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum FirstPagePrevLink {
    /// `sysparm_offset` = offset − limit, i.e. `-limit` on the first page.
    #[default]
    OffsetMinusLimit,
    /// Always `sysparm_offset=-1` on the first page.
    MinusOne,
    /// No `prev` entry on the first page.
    Omitted,
}

/// A rate limit rule as in `sys_rate_limit_rules`: requests per hour for one user or for all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimitRule {
    /// The rule's sys_id, sent in `X-RateLimit-Rule`.
    pub sys_id: String,
    /// Requests allowed per hour (per user).
    pub requests_per_hour: u32,
    /// The user the rule applies to; `None` applies it to every user (each counted separately).
    pub user_name: Option<String>,
}

impl RateLimitRule {
    /// A rule limiting every user to `requests_per_hour` Table API requests per clock hour.
    pub fn all_users(requests_per_hour: u32) -> Self {
        Self {
            sys_id: "d5a4a3f0c0a8000b0088d1ef5d3d2a70".to_owned(),
            requests_per_hour,
            user_name: None,
        }
    }

    /// A rule for one user.
    pub fn for_user(user_name: impl Into<String>, requests_per_hour: u32) -> Self {
        Self {
            user_name: Some(user_name.into()),
            ..Self::all_users(requests_per_hour)
        }
    }
}

/// Random faults on Table API requests. Which request gets which fault is drawn from a
/// generator seeded by the emulator's seed, so a run with the same requests in the same order
/// sees the same faults.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultPlan {
    /// Probability (0.0–1.0) that a Table API request gets one of `kinds`.
    pub rate: f64,
    /// The faults to choose from, uniformly.
    pub kinds: Vec<FaultKind>,
    /// Latency added to every Table API request (real time), fault or not.
    pub added_latency: Option<Duration>,
}

impl FaultPlan {
    /// No faults.
    pub fn none() -> Self {
        Self::default()
    }

    /// `rate` of Table API requests get one of the transport-level faults a reliability test
    /// wants: 500, 503, a dropped connection or a truncated body.
    pub fn unreliable(rate: f64) -> Self {
        Self {
            rate,
            kinds: vec![
                FaultKind::InternalServerError,
                FaultKind::ServiceUnavailable,
                FaultKind::DropConnection,
                FaultKind::TruncatedBody,
            ],
            added_latency: None,
        }
    }
}

/// One kind of injected fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultKind {
    /// Wait this long (real time) before answering normally.
    Latency(Duration),
    /// HTTP 500 with the error envelope.
    InternalServerError,
    /// HTTP 503 with the error envelope.
    ServiceUnavailable,
    /// Close the connection without any response.
    DropConnection,
    /// Send the headers with the full `Content-Length` and part of the body, then close.
    TruncatedBody,
    /// HTTP 500 "Transaction cancelled: maximum execution time exceeded".
    TransactionCancelled,
}
