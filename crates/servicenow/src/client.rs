//! `Client`, the cheap per-credential handle of a `Servicenow`, and `Table`, its typed view of one table.

use std::{marker::PhantomData, sync::Arc};

use futures::{Stream, StreamExt as _};
use serde::{Serialize, de::DeserializeOwned};
use servicenow_oauth::InstanceUrl;
use servicenow_table::{
    BatchItemError, Created, EncodedQuery, Export, ExportCheckpoint, ExportConfig, ListParams,
    Page, ReadOptions, StreamConfig, SysId, TableClient, TableName, WriteOptions, Written,
};

use crate::{
    app::App,
    authorized::AuthorizedTransport,
    error::{Error, Result},
    manager::TokenManager,
};

/// What a [`Client`]'s Table API requests go through: the app's transport behind the
/// authorizing layer of this credential.
pub type ClientTransport = AuthorizedTransport<Arc<dyn servicenow_http::HttpTransport>>;

/// The handle of one credential of a [`Servicenow`](crate::Servicenow): its tokens (stored
/// encrypted, refreshed once at a time across tasks and processes) and the Table API on top.
///
/// Cheap to create and to clone: it shares the app's transport, store and clock, and holds the
/// credential's token manager, which builds its machine only when a token is first needed.
#[derive(Clone, Debug)]
pub struct Client {
    app: Arc<App>,
    manager: TokenManager,
}

impl Client {
    pub(crate) fn new(app: Arc<App>, manager: TokenManager) -> Self {
        Self { app, manager }
    }

    /// The integration this handle belongs to (for its [`login`](crate::Servicenow::login), or
    /// another credential's handle).
    pub fn servicenow(&self) -> crate::Servicenow {
        crate::Servicenow::from_app(Arc::clone(&self.app))
    }

    /// The instance this client talks to.
    pub fn instance(&self) -> &InstanceUrl {
        &self.app.instance
    }

    /// The token manager (for [`bearer`](TokenManager::bearer), stats, background refresh).
    pub fn token_manager(&self) -> &TokenManager {
        &self.manager
    }

    /// The token endpoint's executor (transport, store, clock) this handle shares.
    pub(crate) fn endpoint(&self) -> &crate::drive::TokenEndpoint {
        &self.app.managers.endpoint
    }

    /// The Table API client, authorized by this credential's tokens.
    pub fn tables(&self) -> TableClient<ClientTransport> {
        let transport = AuthorizedTransport::new(
            Arc::clone(&self.app.transport),
            self.manager.clone(),
            self.app.instance.clone(),
        );
        TableClient::new(self.app.instance.clone(), transport)
            .with_retry_policy(self.app.retry)
            .with_sleep(Arc::new(crate::clock::ClockSleep(Arc::clone(
                &self.app.managers.endpoint.clock,
            ))))
            .with_jitter_seed(self.app.jitter_seed)
    }

    /// The Aggregate API over `table`: counts, averages, minima, maxima and sums, optionally
    /// grouped (see [`Aggregate`](servicenow_table::Aggregate)).
    pub async fn aggregate(
        &self,
        table: &str,
        aggregate: &servicenow_table::Aggregate,
    ) -> Result<servicenow_table::AggregateResult> {
        let table = TableName::new(table)?;
        Ok(self.tables().aggregate(&table, aggregate).await?)
    }

    /// Several Table API requests in one round trip through the Batch API; unserviced items are
    /// sent again (bounded) and then reported per item (see
    /// [`TableClient::batch`](servicenow_table::TableClient::batch)).
    pub async fn batch(
        &self,
        items: Vec<servicenow_table::BatchItem>,
        config: servicenow_table::BatchConfig,
    ) -> Result<servicenow_table::BatchResults> {
        Ok(self.tables().batch(items, config).await?)
    }

    /// The Attachment API, authorized by this credential's tokens (see [`Attachments`](crate::Attachments)).
    pub fn attachments(&self) -> crate::Attachments {
        crate::Attachments {
            inner: self.tables().attachments(),
            boundary_seed: self.app.jitter_seed,
        }
    }

    /// A typed handle on one table: `T` is a `serde` struct of the fields you read, or
    /// [`table::Record`](servicenow_table::Record) for any field.
    pub fn table<T>(&self, name: &str) -> Result<Table<T>> {
        Ok(Table {
            tables: self.tables(),
            name: TableName::new(name)?,
            records: PhantomData,
        })
    }
}

/// A typed handle on one table of a [`Client`]; cheap to clone. Every method returns
/// [`servicenow::Error`](Error), its stream included.
#[derive(Debug)]
pub struct Table<T> {
    tables: TableClient<ClientTransport>,
    name: TableName,
    records: PhantomData<fn() -> T>,
}

impl<T> Clone for Table<T> {
    fn clone(&self) -> Self {
        Self {
            tables: self.tables.clone(),
            name: self.name.clone(),
            records: PhantomData,
        }
    }
}

impl<T: DeserializeOwned + Send + 'static> Table<T> {
    /// The table's name.
    pub fn name(&self) -> &TableName {
        &self.name
    }

    /// One page of records.
    pub async fn list(&self, params: &ListParams) -> Result<Page<T>> {
        Ok(self.tables.list(&self.name, params).await?)
    }

    /// Every record matching `query`, page after page in constant memory (see
    /// [`TableClient::stream`]).
    pub fn stream(
        &self,
        query: Option<EncodedQuery>,
        options: ReadOptions,
        config: StreamConfig,
    ) -> impl Stream<Item = Result<T>> + Send + '_ {
        self.tables
            .stream::<T>(&self.name, query, options, config)
            .map(|item| item.map_err(Error::from))
    }

    /// Every record matching `query`, **unordered**, read by several keyset streams at once
    /// under adaptive concurrency (see [`TableClient::export`]): the fast way to read a whole
    /// table. [`Export::next_batch`] gives pages and [`Export::checkpoint`] where the export
    /// stands; [`Export::into_rows`] gives rows. Its errors convert into [`Error`] with `?`.
    pub fn export(
        &self,
        query: Option<EncodedQuery>,
        options: ReadOptions,
        config: ExportConfig,
    ) -> Result<Export<'_, ClientTransport, T>> {
        Ok(self.tables.export(
            &self.name,
            query,
            options,
            config,
            Arc::new(crate::clock::MonotonicStopwatch::start()),
        )?)
    }

    /// [`export`](Self::export), continuing from a checkpoint of the same table and query.
    pub fn resume_export(
        &self,
        query: Option<EncodedQuery>,
        options: ReadOptions,
        config: ExportConfig,
        checkpoint: &ExportCheckpoint,
    ) -> Result<Export<'_, ClientTransport, T>> {
        Ok(self.tables.resume_export(
            &self.name,
            query,
            options,
            config,
            Arc::new(crate::clock::MonotonicStopwatch::start()),
            checkpoint,
        )?)
    }

    /// The record with this `sys_id`.
    pub async fn get(&self, sys_id: &SysId, options: &ReadOptions) -> Result<T> {
        Ok(self.tables.get(&self.name, sys_id, options).await?)
    }

    /// How many records match `query` (from `X-Total-Count`).
    pub async fn count(&self, query: Option<&EncodedQuery>) -> Result<u64> {
        Ok(self.tables.count(&self.name, query).await?)
    }

    /// The first record matching `query`, if any.
    pub async fn first(&self, query: Option<EncodedQuery>) -> Result<Option<T>> {
        Ok(self
            .tables
            .first(&self.name, query, ReadOptions::default())
            .await?)
    }

    /// Inserts a record (201 + `Location`).
    pub async fn create<B: Serialize + Sync>(
        &self,
        record: &B,
        options: &WriteOptions,
    ) -> Result<Created<T>> {
        Ok(self.tables.create(&self.name, record, options).await?)
    }

    /// Inserts a record with `X-no-response-body: true`: the instance sends no record back,
    /// and [`Written`] says what was written (the new sys_id, from `Location`).
    pub async fn create_without_body<B: Serialize + Sync>(
        &self,
        record: &B,
        options: &WriteOptions,
    ) -> Result<Written> {
        Ok(self
            .tables
            .create_without_body(&self.name, record, options)
            .await?)
    }

    /// Changes some fields of a record (PATCH) with `X-no-response-body: true`.
    pub async fn update_without_body<B: Serialize + Sync>(
        &self,
        sys_id: &SysId,
        changes: &B,
        options: &WriteOptions,
    ) -> Result<Written> {
        Ok(self
            .tables
            .update_without_body(&self.name, sys_id, changes, options)
            .await?)
    }

    /// Changes some fields of a record (PATCH).
    pub async fn update<B: Serialize + Sync>(
        &self,
        sys_id: &SysId,
        changes: &B,
        options: &WriteOptions,
    ) -> Result<T> {
        Ok(self
            .tables
            .update(&self.name, sys_id, changes, options)
            .await?)
    }

    /// Replaces a record (PUT).
    pub async fn replace<B: Serialize + Sync>(
        &self,
        sys_id: &SysId,
        record: &B,
        options: &WriteOptions,
    ) -> Result<T> {
        Ok(self
            .tables
            .replace(&self.name, sys_id, record, options)
            .await?)
    }

    /// Deletes a record (204).
    pub async fn delete(&self, sys_id: &SysId) -> Result<()> {
        Ok(self.tables.delete(&self.name, sys_id).await?)
    }

    /// Inserts every record in one Batch API round trip; one result per record, in order
    /// (`Err` only when the whole batch call failed).
    pub async fn create_many<B: Serialize + Sync>(
        &self,
        records: &[B],
        options: &WriteOptions,
    ) -> Result<Vec<std::result::Result<Created<T>, BatchItemError>>> {
        Ok(self
            .tables
            .create_many(&self.name, records, options)
            .await?)
    }

    /// Changes some fields of several records (PATCH each) in one Batch API round trip.
    pub async fn update_many<B: Serialize + Sync>(
        &self,
        changes: &[(SysId, B)],
        options: &WriteOptions,
    ) -> Result<Vec<std::result::Result<T, BatchItemError>>> {
        Ok(self
            .tables
            .update_many(&self.name, changes, options)
            .await?)
    }

    /// Deletes several records in one Batch API round trip.
    pub async fn delete_many(
        &self,
        sys_ids: &[SysId],
    ) -> Result<Vec<std::result::Result<(), BatchItemError>>> {
        Ok(self.tables.delete_many(&self.name, sys_ids).await?)
    }
}
