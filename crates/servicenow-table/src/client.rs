//! `TableClient`: the pure core plus a transport and retries (CRUD, count, first).

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Request, Response};
use serde::{Serialize, de::DeserializeOwned};
use servicenow_http::HttpTransport;

use crate::{
    ApiVersion, Created, EncodedQuery, InstanceBase, ListParams, Page, ReadOptions, RetryPolicy,
    SysId, TableApi, TableError, TableName, WriteOptions, retry::RetryOutcome,
};

/// A Table API client over any [`HttpTransport`].
///
/// It never sees a token: give it an authorizing transport (the `servicenow` facade's), or any
/// transport that adds credentials. Every request goes to the configured instance only.
///
/// ```no_run
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// use futures::TryStreamExt;
/// use servicenow_table::{Condition, InstanceBase, Query, Record, StreamConfig, TableClient, TableName};
///
/// let transport = servicenow_http::ReqwestTransport::new()?; // add authorization in practice
/// let client = TableClient::new(InstanceBase::new("https://dev1.service-now.com")?, transport);
/// let incident = TableName::new("incident")?;
/// let query = Query::new().and("active", Condition::eq("true")).build()?;
/// let mut rows = std::pin::pin!(client.stream::<Record>(&incident, Some(query), Default::default(), StreamConfig::default()));
/// while let Some(record) = rows.try_next().await? {
///     println!("{:?}", record.get_str("number"));
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct TableClient<T> {
    api: TableApi,
    transport: T,
    retry: RetryPolicy,
}

impl<T: HttpTransport> TableClient<T> {
    /// A v2 client for `instance` with the default [`RetryPolicy`].
    pub fn new(instance: InstanceBase, transport: T) -> Self {
        Self {
            api: TableApi::new(instance),
            transport,
            retry: RetryPolicy::default(),
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

    /// The pure request builders and response parsers this client uses.
    pub fn api(&self) -> &TableApi {
        &self.api
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// One page of `table` (`sysparm_limit`/`sysparm_offset` as given; see
    /// [`TableClient::stream`] to read a whole table).
    pub async fn list<R: DeserializeOwned>(
        &self,
        table: &TableName,
        params: &ListParams,
    ) -> Result<Page<R>, TableError> {
        let operation = format!("list {table}");
        let request = self.api.list_request(table, params)?;
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
    ) -> Result<R, TableError> {
        let operation = format!("get {table}");
        let request = self.api.get_request(table, sys_id, options)?;
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
    ) -> Result<Created<R>, TableError>
    where
        B: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let operation = format!("create {table}");
        let request = self.api.create_request(table, record, options)?;
        self.execute(request, &operation, |response| {
            self.api.parse_created(response, &operation)
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
    ) -> Result<R, TableError>
    where
        B: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let operation = format!("update {table}");
        let request = self.api.update_request(table, sys_id, changes, options)?;
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
    ) -> Result<R, TableError>
    where
        B: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let operation = format!("replace {table}");
        let request = self.api.replace_request(table, sys_id, record, options)?;
        self.execute(request, &operation, |response| {
            self.api.parse_record(response, &operation)
        })
        .await
    }

    /// Deletes the record (DELETE, `204`).
    pub async fn delete(&self, table: &TableName, sys_id: &SysId) -> Result<(), TableError> {
        let operation = format!("delete {table}");
        let request = self.api.delete_request(table, sys_id)?;
        self.execute(request, &operation, |response| {
            self.api.parse_deleted(response, &operation)
        })
        .await
    }

    /// How many records match `query`, from `X-Total-Count` (one small request).
    pub async fn count(
        &self,
        table: &TableName,
        query: Option<&EncodedQuery>,
    ) -> Result<u64, TableError> {
        let operation = format!("count {table}");
        let request = self.api.count_request(table, query)?;
        self.execute(request, &operation, |response| {
            self.api.parse_count(response, &operation)
        })
        .await
    }

    /// The first record matching `query` (in the query's order), if any: one page of one row.
    pub async fn first<R: DeserializeOwned>(
        &self,
        table: &TableName,
        query: Option<EncodedQuery>,
        options: ReadOptions,
    ) -> Result<Option<R>, TableError> {
        let params = ListParams {
            query,
            options,
            limit: Some(1),
            offset: None,
        };
        let page = self.list::<R>(table, &params).await?;
        Ok(page.records.into_iter().next())
    }

    /// Sends `request`, parses the response with `parse`, and retries as the policy allows.
    pub(crate) async fn execute<O>(
        &self,
        request: Request<Bytes>,
        operation: &str,
        parse: impl Fn(&Response<Bytes>) -> Result<O, TableError>,
    ) -> Result<O, TableError> {
        let method = request.method().clone();
        let mut retry = 0;
        loop {
            let outcome = self.transport.send(request.clone()).await;
            let (error, delay) = match outcome {
                Ok(response) => match parse(&response) {
                    Ok(value) => return Ok(value),
                    Err(error @ TableError::MalformedResponse { .. })
                        if response.status().is_success() =>
                    {
                        (
                            error,
                            self.delay(&method, retry, &RetryOutcome::TruncatedBody),
                        )
                    }
                    Err(error) => (
                        error,
                        self.delay(&method, retry, &RetryOutcome::Response(&response)),
                    ),
                },
                Err(source) => {
                    let delay = self.delay(&method, retry, &RetryOutcome::Transport(&source));
                    (
                        TableError::Transport {
                            operation: operation.to_owned(),
                            source,
                        },
                        delay,
                    )
                }
            };
            let Some(delay) = delay else {
                return Err(error);
            };
            tracing::debug!(operation, retry, ?delay, error = %error, "table api: retrying");
            tokio::time::sleep(delay).await;
            retry += 1;
        }
    }

    fn delay(
        &self,
        method: &http::Method,
        retry: u32,
        outcome: &RetryOutcome<'_>,
    ) -> Option<std::time::Duration> {
        let now_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs() as i64);
        self.retry
            .delay_after(method, retry, outcome, now_unix, &mut rand::rng())
    }
}
