//! `TableClient`: the pure core plus a sender and retries (CRUD, count, first).

use std::{convert::Infallible, sync::Arc};

use bytes::Bytes;
use http::{Request, Response};
use serde::{Serialize, de::DeserializeOwned};
use servicenow_http::{RequestBody, RequestSender, SenderError, StreamLimits};
use servicenow_oauth::InstanceUrl;

use crate::{
    Aggregate, AggregateResult, ApiVersion, CountMethod, Created, EncodedQuery, ListParams, Page,
    ReadOptions, RetryPolicy, SysId, TableApi, TableError, TableName, WriteOptions, Written,
    retry::RetryOutcome,
    waiting::{DEFAULT_JITTER_SEED, Jitter, RetrySleep, TokioSleep},
};

/// Whether [`TableClient::execute_with`] retries 429s or returns them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RateLimits {
    Retry,
    Return,
}

/// A Table API client over any [`RequestSender`]: a plain
/// [`HttpTransport`](servicenow_http::HttpTransport), or a layer over one that adds
/// credentials and fails in its own typed way (the `servicenow` facade's).
///
/// It never sees a token. Every request goes to the configured instance only, and every error
/// is a [`TableError<S::Error>`](TableError): the sender's own failure stays typed in
/// [`TableError::Sender`].
///
/// It reads no clock and no OS randomness of its own: retry delays are jittered from a seeded
/// RNG ([`TableClient::with_jitter_seed`]), slept through an injected [`RetrySleep`]
/// ([`TableClient::with_sleep`]), and `X-RateLimit-Reset` is read against the response's own
/// `Date` header ([`RetryPolicy::delay_after`]).
///
/// ```no_run
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// use futures::TryStreamExt;
/// use servicenow_oauth::InstanceUrl;
/// use servicenow_table::{Condition, Query, Record, StreamConfig, TableClient, TableName};
///
/// let transport = servicenow_http::ReqwestTransport::new()?; // add authorization in practice
/// let client = TableClient::new(InstanceUrl::new("https://dev1.service-now.com")?, transport);
/// let incident = TableName::new("incident")?;
/// let query = Query::new().and("active", Condition::eq("true")).build()?;
/// let mut rows = std::pin::pin!(client.stream::<Record>(&incident, Some(query), Default::default(), StreamConfig::default()));
/// while let Some(record) = rows.try_next().await? {
///     println!("{:?}", record.get_str("number"));
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct TableClient<S> {
    api: TableApi,
    sender: S,
    retry: RetryPolicy,
    jitter: Jitter,
    sleep: Arc<dyn RetrySleep>,
    count_method: CountMethod,
}

impl<S: RequestSender> TableClient<S> {
    /// A v2 client for `instance` with the default [`RetryPolicy`], sending through `sender`,
    /// sleeping with [`TokioSleep`] and jittering from [`DEFAULT_JITTER_SEED`].
    pub fn new(instance: InstanceUrl, sender: S) -> Self {
        Self {
            api: TableApi::new(instance),
            sender,
            retry: RetryPolicy::default(),
            jitter: Jitter::from_seed(DEFAULT_JITTER_SEED),
            sleep: Arc::new(TokioSleep),
            count_method: CountMethod::Get,
        }
    }

    /// The same client with another API version in its paths.
    pub fn with_api_version(self, version: ApiVersion) -> Self {
        Self {
            api: self.api.with_version(version),
            ..self
        }
    }

    /// The same client with another retry policy.
    pub fn with_retry_policy(self, retry: RetryPolicy) -> Self {
        Self { retry, ..self }
    }

    /// The same client with its retry jitter drawn from a ChaCha8 RNG seeded with `seed`
    /// (shared by the clones made afterwards). Pass OS randomness in production; see
    /// [`DEFAULT_JITTER_SEED`].
    pub fn with_jitter_seed(self, seed: [u8; 32]) -> Self {
        Self {
            jitter: Jitter::from_seed(seed),
            ..self
        }
    }

    /// The same client counting with `method` ([`CountMethod::Head`]: `HEAD`, then `GET` when
    /// the instance sends no `X-Total-Count` on it).
    pub fn with_count_method(self, count_method: CountMethod) -> Self {
        Self {
            count_method,
            ..self
        }
    }

    /// The same client waiting between retries through `sleep` instead of [`TokioSleep`].
    pub fn with_sleep(self, sleep: Arc<dyn RetrySleep>) -> Self {
        Self { sleep, ..self }
    }

    /// The pure request builders and response parsers this client uses.
    pub fn api(&self) -> &TableApi {
        &self.api
    }

    /// The sender requests go through.
    pub fn sender(&self) -> &S {
        &self.sender
    }

    /// One page of `table` (`sysparm_limit`/`sysparm_offset` as given; see
    /// [`TableClient::stream`] to read a whole table).
    pub async fn list<R: DeserializeOwned>(
        &self,
        table: &TableName,
        params: &ListParams,
    ) -> Result<Page<R>, TableError<S::Error>> {
        let operation = format!("list {table}");
        let request = self
            .api
            .list_request(table, params)
            .map_err(TableError::widen)?;
        self.execute(request, &operation, |response| {
            self.api.parse_list(response, &operation)
        })
        .await
    }

    /// The record `sys_id` of `table`; [`TableError::NotFound`] when it does not exist or an ACL
    /// hides it.
    pub async fn get<R: DeserializeOwned>(
        &self,
        table: &TableName,
        sys_id: &SysId,
        options: &ReadOptions,
    ) -> Result<R, TableError<S::Error>> {
        let operation = format!("get {table}");
        let request = self
            .api
            .get_request(table, sys_id, options)
            .map_err(TableError::widen)?;
        self.execute(request, &operation, |response| {
            self.api.parse_record(response, &operation)
        })
        .await
    }

    /// Inserts `record` (POST); never retried unless the request provably never reached the
    /// instance.
    pub async fn create<B, R>(
        &self,
        table: &TableName,
        record: &B,
        options: &WriteOptions,
    ) -> Result<Created<R>, TableError<S::Error>>
    where
        B: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let operation = format!("create {table}");
        let request = self
            .api
            .create_request(table, record, options)
            .map_err(TableError::widen)?;
        self.execute(request, &operation, |response| {
            self.api.parse_created(response, &operation)
        })
        .await
    }

    /// [`create`](Self::create) with `X-no-response-body: true`: the instance sends no record
    /// back (less work for it and less to transfer), so the result says only what was written
    /// ([`Written`]: the new sys_id from `Location`). Retried like `create`.
    pub async fn create_without_body<B>(
        &self,
        table: &TableName,
        record: &B,
        options: &WriteOptions,
    ) -> Result<Written, TableError<S::Error>>
    where
        B: Serialize + ?Sized,
    {
        let operation = format!("create {table}");
        let request = self
            .api
            .create_request_without_body(table, record, options)
            .map_err(TableError::widen)?;
        self.execute(request, &operation, |response| {
            self.api
                .parse_written(response, http::StatusCode::CREATED, None, &operation)
        })
        .await
    }

    /// [`update`](Self::update) (PATCH) with `X-no-response-body: true`: no record comes back.
    pub async fn update_without_body<B>(
        &self,
        table: &TableName,
        sys_id: &SysId,
        changes: &B,
        options: &WriteOptions,
    ) -> Result<Written, TableError<S::Error>>
    where
        B: Serialize + ?Sized,
    {
        let operation = format!("update {table}");
        let request = self
            .api
            .update_request_without_body(table, sys_id, changes, options)
            .map_err(TableError::widen)?;
        self.execute(request, &operation, |response| {
            self.api
                .parse_written(response, http::StatusCode::OK, Some(sys_id), &operation)
        })
        .await
    }

    /// Changes the fields in `changes` (PATCH); retried like [`TableClient::create`].
    pub async fn update<B, R>(
        &self,
        table: &TableName,
        sys_id: &SysId,
        changes: &B,
        options: &WriteOptions,
    ) -> Result<R, TableError<S::Error>>
    where
        B: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let operation = format!("update {table}");
        let request = self
            .api
            .update_request(table, sys_id, changes, options)
            .map_err(TableError::widen)?;
        self.execute(request, &operation, |response| {
            self.api.parse_record(response, &operation)
        })
        .await
    }

    /// Writes `record` (PUT); idempotent, so retried.
    pub async fn replace<B, R>(
        &self,
        table: &TableName,
        sys_id: &SysId,
        record: &B,
        options: &WriteOptions,
    ) -> Result<R, TableError<S::Error>>
    where
        B: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let operation = format!("replace {table}");
        let request = self
            .api
            .replace_request(table, sys_id, record, options)
            .map_err(TableError::widen)?;
        self.execute(request, &operation, |response| {
            self.api.parse_record(response, &operation)
        })
        .await
    }

    /// Deletes the record (DELETE, `204`).
    pub async fn delete(
        &self,
        table: &TableName,
        sys_id: &SysId,
    ) -> Result<(), TableError<S::Error>> {
        let operation = format!("delete {table}");
        let request = self
            .api
            .delete_request(table, sys_id)
            .map_err(TableError::widen)?;
        self.execute(request, &operation, |response| {
            self.api.parse_deleted(response, &operation)
        })
        .await
    }

    /// How many records match `query`, from `X-Total-Count` (one small request; see
    /// [`with_count_method`](Self::with_count_method) for `HEAD`).
    pub async fn count(
        &self,
        table: &TableName,
        query: Option<&EncodedQuery>,
    ) -> Result<u64, TableError<S::Error>> {
        let operation = format!("count {table}");
        if self.count_method == CountMethod::Head {
            let request = self
                .api
                .count_head_request(table, query)
                .map_err(TableError::widen)?;
            let counted = self
                .execute(request, &operation, |response| {
                    self.api.parse_head_count(response, &operation)
                })
                .await?;
            if let Some(count) = counted {
                return Ok(count);
            }
            tracing::debug!(%table, "table api: HEAD sent no X-Total-Count; counting with GET");
        }
        let request = self
            .api
            .count_request(table, query)
            .map_err(TableError::widen)?;
        self.execute(request, &operation, |response| {
            self.api.parse_count(response, &operation)
        })
        .await
    }

    /// The Aggregate API over `table` (`GET /api/now/stats/{table}`): a read, so retried like
    /// one.
    pub async fn aggregate(
        &self,
        table: &TableName,
        aggregate: &Aggregate,
    ) -> Result<AggregateResult, TableError<S::Error>> {
        let operation = format!("aggregate {table}");
        let request = self
            .api
            .aggregate_request(table, aggregate)
            .map_err(TableError::widen)?;
        self.execute(request, &operation, |response| {
            self.api.parse_aggregate(response, &operation)
        })
        .await
    }

    /// The first record matching `query` (in the query's order), if any: one page of one row.
    pub async fn first<R: DeserializeOwned>(
        &self,
        table: &TableName,
        query: Option<EncodedQuery>,
        options: ReadOptions,
    ) -> Result<Option<R>, TableError<S::Error>> {
        let params = ListParams {
            query,
            options,
            limit: Some(1),
            offset: None,
        };
        let page = self.list::<R>(table, &params).await?;
        Ok(page.records.into_iter().next())
    }

    /// Sends `request`, parses the response with `parse`, and retries as the policy allows:
    /// a transport failure by [`RetryPolicy::delay_after`], a failure of the sender's own
    /// (no transport failure inside) never.
    pub(crate) async fn execute<O>(
        &self,
        request: Request<Bytes>,
        operation: &str,
        parse: impl Fn(&Response<Bytes>) -> Result<O, TableError<Infallible>>,
    ) -> Result<O, TableError<S::Error>> {
        self.execute_with(request, operation, parse, RateLimits::Retry)
            .await
    }

    /// The sleep between retries (the export waits out a `Retry-After` with it).
    pub(crate) fn sleeper(&self) -> &dyn RetrySleep {
        &*self.sleep
    }

    /// [`execute`](Self::execute), with 429s retried by the policy or returned to the caller
    /// (the export's concurrency control needs to see them).
    pub(crate) async fn execute_with<O>(
        &self,
        request: Request<Bytes>,
        operation: &str,
        parse: impl Fn(&Response<Bytes>) -> Result<O, TableError<Infallible>>,
        rate_limits: RateLimits,
    ) -> Result<O, TableError<S::Error>> {
        let send =
            |request| async move { self.sender.send_request(request).await.map(|r| (r, ())) };
        self.execute_via(request, operation, parse, rate_limits, send)
            .await
    }

    /// [`execute_with`](Self::execute_with) through the streaming exchange, reading and parsing
    /// the body only while holding one of `bodies`' permits: the pages of an export that arrive
    /// together are read a few at a time, while the others wait with their bodies unread
    /// (in the connection's buffer and the kernel's), so memory holds a few page bodies, not
    /// one per request in flight. The exchange's limits are `limits` (the size cap and the
    /// idle timeout of a page).
    pub(crate) async fn execute_gated<O>(
        &self,
        request: Request<Bytes>,
        operation: &str,
        parse: impl Fn(&Response<Bytes>) -> Result<O, TableError<Infallible>>,
        rate_limits: RateLimits,
        bodies: &tokio::sync::Semaphore,
        limits: StreamLimits,
    ) -> Result<O, TableError<S::Error>> {
        let send = |request: Request<Bytes>| async move {
            let response = self
                .sender
                .send_request_streaming(request.map(RequestBody::from_bytes), limits)
                .await?;
            // The semaphore is never closed; were it, the body is read without a permit.
            let permit = bodies.acquire().await.ok();
            let (parts, body) = response.into_parts();
            let declared_length = parts
                .headers
                .get(http::header::CONTENT_LENGTH)
                .and_then(|value| value.to_str().ok()?.parse().ok());
            let body = body
                .collect_sized(limits.max_body, declared_length)
                .await
                .map_err(S::Error::from)?;
            Ok((Response::from_parts(parts, body), permit))
        };
        self.execute_via(request, operation, parse, rate_limits, send)
            .await
    }

    /// The retry loop of [`execute_with`](Self::execute_with) around `send`, whose guard (a
    /// body permit) is held until the response is parsed.
    async fn execute_via<O, G, Sent>(
        &self,
        request: Request<Bytes>,
        operation: &str,
        parse: impl Fn(&Response<Bytes>) -> Result<O, TableError<Infallible>>,
        rate_limits: RateLimits,
        send: impl Fn(Request<Bytes>) -> Sent,
    ) -> Result<O, TableError<S::Error>>
    where
        Sent: Future<Output = Result<(Response<Bytes>, G), S::Error>>,
    {
        let method = request.method().clone();
        let mut retry = 0;
        loop {
            let outcome = send(request.clone()).await;
            let (error, delay) = match outcome {
                Ok((response, _guard)) => match parse(&response) {
                    Ok(value) => return Ok(value),
                    // The same request would run into the same quota again: a stream or an
                    // export asks again with a smaller page instead, a caller decides.
                    Err(error @ TableError::TransactionTimeout { .. }) => {
                        return Err(error.widen());
                    }
                    Err(error @ TableError::MalformedResponse { .. })
                        if response.status().is_success() =>
                    {
                        (
                            error.widen(),
                            self.delay(&method, retry, &RetryOutcome::TruncatedBody),
                        )
                    }
                    Err(error) => (
                        error.widen(),
                        self.delay(&method, retry, &RetryOutcome::Response(&response)),
                    ),
                },
                Err(source) => {
                    let delay = source.as_transport().and_then(|transport| {
                        self.delay(&method, retry, &RetryOutcome::Transport(transport))
                    });
                    (
                        TableError::Sender {
                            operation: operation.to_owned(),
                            source,
                        },
                        delay,
                    )
                }
            };
            let surfaced = rate_limits == RateLimits::Return
                && matches!(error, TableError::RateLimited { .. });
            let Some(delay) = delay.filter(|_| !surfaced) else {
                return Err(error);
            };
            tracing::debug!(operation, retry, ?delay, error = %error, "table api: retrying");
            self.sleep.sleep(delay).await;
            retry += 1;
        }
    }

    fn delay(
        &self,
        method: &http::Method,
        retry: u32,
        outcome: &RetryOutcome<'_>,
    ) -> Option<std::time::Duration> {
        self.jitter
            .with(|rng| self.retry.delay_after(method, retry, outcome, rng))
    }
}
