//! Pure request builders: each Table API operation as an `http::Request<Bytes>`, no IO, no token.

use std::convert::Infallible;

use bytes::Bytes;
use http::{Method, Request, header};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;
use servicenow_oauth::InstanceUrl;

use crate::{
    ApiVersion, EncodedQuery, ReadOptions, SysId, TableError, TableName, WriteOptions,
    options::{read_parameters, write_parameters},
};

/// Everything but RFC 3986's unreserved characters is percent-encoded in query parameters, so
/// `^` is `%5E`, `=` is `%3D`, a space is `%20` and `+` is `%2B`.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

const JSON: &str = "application/json";

/// Adds `X-no-response-body: true` (POST, PUT, PATCH: the instance sends no body back).
fn without_response_body(mut request: Request<Bytes>) -> Request<Bytes> {
    request
        .headers_mut()
        .insert("x-no-response-body", http::HeaderValue::from_static("true"));
    request
}

/// The parameters of one list request (one page).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListParams {
    /// `sysparm_query`, built with [`Query`](crate::Query).
    pub query: Option<EncodedQuery>,
    /// Fields, display values, reference links, count, view.
    pub options: ReadOptions,
    /// `sysparm_limit`: the page size (the instance's default is 10,000).
    pub limit: Option<u32>,
    /// `sysparm_offset`.
    pub offset: Option<u64>,
}

/// The Table API of one instance: builds requests and parses responses, with no IO.
///
/// Nothing here can fail in a sender, so every error is a `TableError<Infallible>`
/// ([`TableError::widen`] makes it a client's error).
///
/// [`TableClient`](crate::TableClient) is this plus a transport, retries and pagination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableApi {
    instance: InstanceUrl,
    version: ApiVersion,
}

impl TableApi {
    /// The v2 Table API of `instance`: every request goes to its origin, and a `Link` to any
    /// other origin is refused ([`TableError::ForeignOrigin`]).
    pub fn new(instance: InstanceUrl) -> Self {
        Self {
            instance,
            version: ApiVersion::V2,
        }
    }

    /// The same API with another version in its paths.
    pub fn with_version(self, version: ApiVersion) -> Self {
        Self { version, ..self }
    }

    /// The instance every request goes to.
    pub fn instance(&self) -> &InstanceUrl {
        &self.instance
    }

    /// The version in the paths.
    pub fn version(&self) -> ApiVersion {
        self.version
    }

    /// `GET /api/now/v2/table/{table}?sysparm_…` (one page).
    pub fn list_request(
        &self,
        table: &TableName,
        params: &ListParams,
    ) -> Result<Request<Bytes>, TableError<Infallible>> {
        let mut parameters = Vec::new();
        if let Some(query) = &params.query {
            parameters.push(("sysparm_query", query.as_str().to_owned()));
        }
        read_parameters(&params.options, &mut parameters);
        if let Some(limit) = params.limit {
            parameters.push(("sysparm_limit", limit.to_string()));
        }
        if let Some(offset) = params.offset {
            parameters.push(("sysparm_offset", offset.to_string()));
        }
        self.build(Method::GET, table, None, &parameters, None)
    }

    /// `GET …/{table}?sysparm_limit=1&sysparm_fields=sys_id` with the query: the total is in
    /// `X-Total-Count`, parsed by [`TableApi::parse_count`].
    pub fn count_request(
        &self,
        table: &TableName,
        query: Option<&EncodedQuery>,
    ) -> Result<Request<Bytes>, TableError<Infallible>> {
        let mut parameters = Vec::new();
        if let Some(query) = query {
            parameters.push(("sysparm_query", query.as_str().to_owned()));
        }
        parameters.push(("sysparm_fields", "sys_id".to_owned()));
        parameters.push(("sysparm_limit", "1".to_owned()));
        self.build(Method::GET, table, None, &parameters, None)
    }

    /// [`count_request`](Self::count_request) as `HEAD`: the same headers without a body
    /// (`servicenow-api-more.md` §4: HEAD may replace GET; whether an instance sends
    /// `X-Total-Count` on it is not documented, so the client falls back to GET without it).
    pub fn count_head_request(
        &self,
        table: &TableName,
        query: Option<&EncodedQuery>,
    ) -> Result<Request<Bytes>, TableError<Infallible>> {
        let mut request = self.count_request(table, query)?;
        *request.method_mut() = Method::HEAD;
        Ok(request)
    }

    /// `GET …/{table}/{sys_id}`.
    pub fn get_request(
        &self,
        table: &TableName,
        sys_id: &SysId,
        options: &ReadOptions,
    ) -> Result<Request<Bytes>, TableError<Infallible>> {
        let mut parameters = Vec::new();
        read_parameters(options, &mut parameters);
        // Counting and paging mean nothing for a single record.
        parameters.retain(|(name, _)| {
            !matches!(
                *name,
                "sysparm_no_count" | "sysparm_suppress_pagination_header"
            )
        });
        self.build(Method::GET, table, Some(sys_id), &parameters, None)
    }

    /// `POST …/{table}` with the record as JSON.
    pub fn create_request<B: Serialize + ?Sized>(
        &self,
        table: &TableName,
        record: &B,
        options: &WriteOptions,
    ) -> Result<Request<Bytes>, TableError<Infallible>> {
        self.write(Method::POST, table, None, record, options)
    }

    /// `PATCH …/{table}/{sys_id}`: changes only the fields sent.
    pub fn update_request<B: Serialize + ?Sized>(
        &self,
        table: &TableName,
        sys_id: &SysId,
        changes: &B,
        options: &WriteOptions,
    ) -> Result<Request<Bytes>, TableError<Infallible>> {
        self.write(Method::PATCH, table, Some(sys_id), changes, options)
    }

    /// `PUT …/{table}/{sys_id}`: ServiceNow treats it like PATCH (only the fields sent change),
    /// but it is idempotent by method, so it is retried where PATCH is not.
    pub fn replace_request<B: Serialize + ?Sized>(
        &self,
        table: &TableName,
        sys_id: &SysId,
        record: &B,
        options: &WriteOptions,
    ) -> Result<Request<Bytes>, TableError<Infallible>> {
        self.write(Method::PUT, table, Some(sys_id), record, options)
    }

    /// [`create_request`](Self::create_request) with `X-no-response-body: true`: the instance
    /// answers without the record (parsed by [`TableApi::parse_written`]).
    pub fn create_request_without_body<B: Serialize + ?Sized>(
        &self,
        table: &TableName,
        record: &B,
        options: &WriteOptions,
    ) -> Result<Request<Bytes>, TableError<Infallible>> {
        self.create_request(table, record, options)
            .map(without_response_body)
    }

    /// [`update_request`](Self::update_request) (PATCH) with `X-no-response-body: true`.
    pub fn update_request_without_body<B: Serialize + ?Sized>(
        &self,
        table: &TableName,
        sys_id: &SysId,
        changes: &B,
        options: &WriteOptions,
    ) -> Result<Request<Bytes>, TableError<Infallible>> {
        self.update_request(table, sys_id, changes, options)
            .map(without_response_body)
    }

    /// `DELETE …/{table}/{sys_id}`.
    pub fn delete_request(
        &self,
        table: &TableName,
        sys_id: &SysId,
    ) -> Result<Request<Bytes>, TableError<Infallible>> {
        self.build(Method::DELETE, table, Some(sys_id), &[], Some(Bytes::new()))
    }

    fn write<B: Serialize + ?Sized>(
        &self,
        method: Method,
        table: &TableName,
        sys_id: Option<&SysId>,
        record: &B,
        options: &WriteOptions,
    ) -> Result<Request<Bytes>, TableError<Infallible>> {
        let body = serde_json::to_vec(record).map_err(|source| TableError::Serialize {
            operation: format!("{} {table}", method.as_str().to_lowercase()),
            source,
        })?;
        let mut parameters = Vec::new();
        write_parameters(options, &mut parameters);
        self.build(method, table, sys_id, &parameters, Some(Bytes::from(body)))
    }

    /// The path of a table (and record) under this API's version.
    pub fn path(&self, table: &TableName, sys_id: Option<&SysId>) -> String {
        let version = match self.version {
            ApiVersion::V1 => "v1",
            ApiVersion::V2 => "v2",
        };
        match sys_id {
            Some(sys_id) => format!("/api/now/{version}/table/{table}/{sys_id}"),
            None => format!("/api/now/{version}/table/{table}"),
        }
    }

    fn build(
        &self,
        method: Method,
        table: &TableName,
        sys_id: Option<&SysId>,
        parameters: &[(&str, String)],
        body: Option<Bytes>,
    ) -> Result<Request<Bytes>, TableError<Infallible>> {
        self.request_to(method, &self.path(table, sys_id), parameters, body)
    }

    /// A request to `path` on the instance (every other REST API of it: stats, batch), with
    /// the parameters percent-encoded and JSON `Accept` (and `Content-Type` when there is a
    /// body).
    pub(crate) fn request_to(
        &self,
        method: Method,
        path: &str,
        parameters: &[(&str, String)],
        body: Option<Bytes>,
    ) -> Result<Request<Bytes>, TableError<Infallible>> {
        let mut url = format!("{}{path}", self.instance.origin());
        for (index, (name, value)) in parameters.iter().enumerate() {
            url.push(if index == 0 { '?' } else { '&' });
            url.push_str(name);
            url.push('=');
            url.extend(utf8_percent_encode(value, QUERY_VALUE));
        }
        let mut builder = Request::builder()
            .method(method)
            .uri(&url)
            .header(header::ACCEPT, JSON);
        if body.is_some() {
            builder = builder.header(header::CONTENT_TYPE, JSON);
        }
        builder
            .body(body.unwrap_or_default())
            .map_err(|_| TableError::InvalidName {
                kind: "request url",
                value: url.clone(),
                reason: "the built url is not a valid uri",
            })
    }
}
