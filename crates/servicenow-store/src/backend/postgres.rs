//! `PostgresBackend`: the distributed engine for many replicas, through a deadpool connection pool.
//!
//! Compare-and-swap is an `UPDATE … WHERE version = $expected`. A lease is a row with a holder
//! and an expiry, taken by one conditional upsert and compared against the server's clock, so
//! every replica agrees on expiry whatever its own clock says. Session advisory locks were not
//! chosen: they belong to one pooled connection (the lease would pin it for the whole refresh,
//! and transaction-mode poolers like PgBouncer break them) and they never expire while a hung
//! holder keeps its connection open. The schema is created on first use under an advisory
//! transaction lock, with its version in a `meta` table.

use std::{fmt, time::Duration};

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::{NoTls, Row};

use crate::{
    Backend, DeleteOutcome, LeaseHolder, RawRecord, SaveOutcome, StorageId, StoreError, StoreTls,
    Version, store::millis,
};

const BACKEND: &str = "postgres";
/// The schema version this build creates and understands.
const SCHEMA_VERSION: i64 = 1;

/// Where and how the PostgreSQL backend keeps its tables.
#[derive(Clone, Debug)]
pub struct PostgresOptions {
    schema: String,
    max_connections: usize,
    timeout: Duration,
    tls: Option<StoreTls>,
}

impl PostgresOptions {
    /// Tables in `schema` (`[a-z_][a-z0-9_]*`, at most 63 bytes; created on first use), with
    /// 16 pooled connections and a 10-second connect and wait timeout.
    pub fn new(schema: impl Into<String>) -> Result<Self, StoreError> {
        let schema = schema.into();
        let valid_start =
            schema.starts_with(|first: char| first.is_ascii_lowercase() || first == '_');
        let valid_rest = schema
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_');
        if !valid_start || !valid_rest || schema.len() > 63 {
            return Err(StoreError::InvalidKey {
                reason: "a PostgreSQL schema name must match [a-z_][a-z0-9_]{0,62}",
            });
        }
        Ok(Self {
            schema,
            max_connections: 16,
            timeout: Duration::from_secs(10),
            tls: None,
        })
    }

    /// Connects with TLS (rustls; `sslmode=require` whatever the URL says, the server's
    /// certificate always verified, a client certificate if given).
    pub fn tls(mut self, tls: StoreTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The largest number of pooled connections.
    pub fn max_connections(mut self, max_connections: usize) -> Self {
        self.max_connections = max_connections.max(1);
        self
    }

    /// How long connecting, or waiting for a pooled connection, may take before an error.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The schema name.
    pub fn schema(&self) -> &str {
        &self.schema
    }
}

impl Default for PostgresOptions {
    /// The `servicenow_store` schema.
    fn default() -> Self {
        Self {
            schema: "servicenow_store".to_owned(),
            max_connections: 16,
            timeout: Duration::from_secs(10),
            tls: None,
        }
    }
}

/// Sealed records in PostgreSQL tables: `credentials`, `leases`, `pending` and `meta`.
#[derive(Clone)]
pub struct PostgresBackend {
    pool: Pool,
    sql: Statements,
    schema: String,
}

impl fmt::Debug for PostgresBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresBackend")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

/// The statements, with the schema name filled in.
#[derive(Clone, Debug)]
struct Statements {
    load: String,
    insert: String,
    update: String,
    delete: String,
    delete_version: String,
    acquire_lease: String,
    release_lease: String,
    sweep_pending: String,
    put_pending: String,
    take_pending: String,
}

impl Statements {
    fn new(schema: &str) -> Self {
        Self {
            load: format!(r#"SELECT version, envelope FROM "{schema}".credentials WHERE id = $1"#),
            insert: format!(
                r#"INSERT INTO "{schema}".credentials (id, version, envelope) VALUES ($1, $2, $3)
                   ON CONFLICT (id) DO NOTHING"#
            ),
            update: format!(
                r#"UPDATE "{schema}".credentials SET version = $2, envelope = $3, updated_at = now()
                   WHERE id = $1 AND version = $4"#
            ),
            delete: format!(r#"DELETE FROM "{schema}".credentials WHERE id = $1"#),
            delete_version: format!(
                r#"DELETE FROM "{schema}".credentials WHERE id = $1 AND version = $2"#
            ),
            acquire_lease: format!(
                r#"INSERT INTO "{schema}".leases AS lease (id, holder, expires_at)
                   VALUES ($1, $2, clock_timestamp() + $3::bigint * interval '1 millisecond')
                   ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                   WHERE lease.expires_at <= clock_timestamp()"#
            ),
            release_lease: format!(
                r#"DELETE FROM "{schema}".leases WHERE id = $1 AND holder = $2"#
            ),
            sweep_pending: format!(
                r#"DELETE FROM "{schema}".pending WHERE expires_at <= clock_timestamp()"#
            ),
            put_pending: format!(
                r#"INSERT INTO "{schema}".pending (id, envelope, expires_at)
                   VALUES ($1, $2, clock_timestamp() + $3::bigint * interval '1 millisecond')
                   ON CONFLICT (id) DO UPDATE SET envelope = excluded.envelope, expires_at = excluded.expires_at"#
            ),
            take_pending: format!(
                r#"DELETE FROM "{schema}".pending WHERE id = $1
                   RETURNING envelope, expires_at > clock_timestamp() AS live"#
            ),
        }
    }
}

impl PostgresBackend {
    /// Connects to `url` (`postgres://user@host:port/database`) and creates or checks the
    /// schema. Without [`PostgresOptions::tls`] the connection is plain (a server on the same
    /// host or a private network); with it, TLS is required and verified.
    pub async fn connect(url: &str, options: PostgresOptions) -> Result<Self, StoreError> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|error| StoreError::backend(BACKEND, "parse connection url", error))?;
        config.connect_timeout(options.timeout);
        config.application_name("servicenow-store");
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match &options.tls {
            None => Manager::from_config(config, NoTls, manager_config),
            Some(tls) => {
                config.ssl_mode(tokio_postgres::config::SslMode::Require);
                let tls = tokio_postgres_rustls::MakeRustlsConnect::new(
                    crate::backend::tls::client_config(BACKEND, tls)?,
                );
                Manager::from_config(config, tls, manager_config)
            }
        };
        let pool = Pool::builder(manager)
            .max_size(options.max_connections)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(options.timeout))
            .create_timeout(Some(options.timeout))
            .recycle_timeout(Some(options.timeout))
            .build()
            .map_err(|error| StoreError::backend(BACKEND, "build connection pool", error))?;
        Self::from_pool(pool, options).await
    }

    /// Uses a pool the caller built (with TLS, other credentials or limits); creates or checks
    /// the schema of `options`.
    pub async fn from_pool(pool: Pool, options: PostgresOptions) -> Result<Self, StoreError> {
        let backend = Self {
            pool,
            sql: Statements::new(&options.schema),
            schema: options.schema,
        };
        backend.migrate().await?;
        Ok(backend)
    }

    /// The schema holding the tables.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    async fn client(
        &self,
        operation: &'static str,
    ) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool
            .get()
            .await
            .map_err(|error| StoreError::backend(BACKEND, operation, error))
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let schema = &self.schema;
        let mut client = self.client("migrate").await?;
        let transaction = client.transaction().await.map_err(sql("migrate"))?;
        // Replicas starting together must not race `CREATE … IF NOT EXISTS` (it can fail on the
        // catalog's unique index), so migration is serialized per schema.
        transaction
            .execute(
                "SELECT pg_advisory_xact_lock(hashtext('servicenow-store:' || $1))",
                &[schema],
            )
            .await
            .map_err(sql("migrate"))?;
        transaction
            .batch_execute(&format!(
                r#"CREATE SCHEMA IF NOT EXISTS "{schema}";
                   CREATE TABLE IF NOT EXISTS "{schema}".meta (name TEXT PRIMARY KEY, value BIGINT NOT NULL);"#
            ))
            .await
            .map_err(sql("migrate"))?;
        let version = transaction
            .query_opt(
                &format!(r#"SELECT value FROM "{schema}".meta WHERE name = 'schema_version'"#),
                &[],
            )
            .await
            .map_err(sql("migrate"))?
            .map(|row| row.try_get::<_, i64>(0))
            .transpose()
            .map_err(sql("migrate"))?;
        match version {
            None => {
                transaction
                    .batch_execute(&format!(
                        r#"CREATE TABLE "{schema}".credentials (
                               id TEXT PRIMARY KEY,
                               version BIGINT NOT NULL,
                               envelope BYTEA NOT NULL,
                               updated_at TIMESTAMPTZ NOT NULL DEFAULT now());
                           CREATE TABLE "{schema}".leases (
                               id TEXT PRIMARY KEY,
                               holder TEXT NOT NULL,
                               expires_at TIMESTAMPTZ NOT NULL);
                           CREATE TABLE "{schema}".pending (
                               id TEXT PRIMARY KEY,
                               envelope BYTEA NOT NULL,
                               expires_at TIMESTAMPTZ NOT NULL);
                           CREATE INDEX ON "{schema}".pending (expires_at);
                           INSERT INTO "{schema}".meta (name, value) VALUES ('schema_version', {SCHEMA_VERSION});"#
                    ))
                    .await
                    .map_err(sql("migrate"))?;
            }
            Some(SCHEMA_VERSION) => (),
            Some(newer) => {
                return Err(StoreError::corrupt(
                    BACKEND,
                    "migrate",
                    format!(
                        "schema version {newer} is newer than this build understands ({SCHEMA_VERSION})"
                    ),
                ));
            }
        }
        transaction.commit().await.map_err(sql("migrate"))
    }

    /// The record of `id`, read on `client` (never a second pooled connection: a caller that
    /// holds one and waits for another could exhaust the pool).
    async fn current(
        &self,
        client: &deadpool_postgres::Object,
        operation: &'static str,
        id: &str,
    ) -> Result<Option<RawRecord>, StoreError> {
        let row = client
            .query_opt(&self.sql.load, &[&id])
            .await
            .map_err(sql(operation))?;
        row.map(|row| read_record(operation, &row)).transpose()
    }

    /// Drops the schema and everything in it (test clean-up).
    #[cfg(feature = "__testing")]
    #[cfg_attr(docsrs, doc(cfg(feature = "__testing")))]
    pub async fn drop_schema(&self) -> Result<(), StoreError> {
        let client = self.client("drop schema").await?;
        client
            .batch_execute(&format!(
                r#"DROP SCHEMA IF EXISTS "{}" CASCADE"#,
                self.schema
            ))
            .await
            .map_err(sql("drop schema"))
    }
}

fn sql(operation: &'static str) -> impl Fn(tokio_postgres::Error) -> StoreError {
    move |error| StoreError::backend(BACKEND, operation, error)
}

fn to_sql_version(version: Version) -> i64 {
    // Versions are below 2^53, so they always fit.
    i64::try_from(version.get()).unwrap_or(i64::MAX)
}

fn read_record(operation: &'static str, row: &Row) -> Result<RawRecord, StoreError> {
    let version = row.try_get::<_, i64>(0).map_err(sql(operation))?;
    let version = u64::try_from(version)
        .ok()
        .and_then(Version::new)
        .ok_or_else(|| {
            StoreError::corrupt(
                BACKEND,
                operation,
                format!("version {version} is out of range"),
            )
        })?;
    let envelope = row.try_get::<_, Vec<u8>>(1).map_err(sql(operation))?;
    Ok(RawRecord { version, envelope })
}

#[async_trait]
impl Backend for PostgresBackend {
    async fn load(&self, id: &StorageId) -> Result<Option<RawRecord>, StoreError> {
        let client = self.client("load").await?;
        self.current(&client, "load", id.as_str()).await
    }

    async fn save(
        &self,
        id: &StorageId,
        record: RawRecord,
        expected: Option<Version>,
    ) -> Result<SaveOutcome, StoreError> {
        let client = self.client("save").await?;
        let (id, version) = (id.as_str(), to_sql_version(record.version));
        let changed = match expected {
            None => {
                client
                    .execute(&self.sql.insert, &[&id, &version, &record.envelope])
                    .await
            }
            Some(expected) => {
                let expected = to_sql_version(expected);
                client
                    .execute(
                        &self.sql.update,
                        &[&id, &version, &record.envelope, &expected],
                    )
                    .await
            }
        }
        .map_err(sql("save"))?;
        if changed == 1 {
            return Ok(SaveOutcome::Saved);
        }
        Ok(SaveOutcome::Conflict(
            self.current(&client, "save", id).await?,
        ))
    }

    async fn delete(
        &self,
        id: &StorageId,
        expected: Option<Version>,
    ) -> Result<DeleteOutcome, StoreError> {
        let client = self.client("delete").await?;
        let id = id.as_str();
        let changed = match expected {
            None => client.execute(&self.sql.delete, &[&id]).await,
            Some(expected) => {
                client
                    .execute(&self.sql.delete_version, &[&id, &to_sql_version(expected)])
                    .await
            }
        }
        .map_err(sql("delete"))?;
        Ok(match (changed, expected) {
            (1, _) => DeleteOutcome::Deleted,
            (_, None) => DeleteOutcome::Absent,
            (_, Some(_)) => DeleteOutcome::Conflict(self.current(&client, "delete", id).await?),
        })
    }

    async fn try_acquire_lease(
        &self,
        id: &StorageId,
        holder: &LeaseHolder,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let client = self.client("acquire lease").await?;
        let changed = client
            .execute(
                &self.sql.acquire_lease,
                &[&id.as_str(), &holder.as_str(), &millis(ttl)],
            )
            .await
            .map_err(sql("acquire lease"))?;
        Ok(changed == 1)
    }

    async fn release_lease(
        &self,
        id: &StorageId,
        holder: &LeaseHolder,
    ) -> Result<bool, StoreError> {
        let client = self.client("release lease").await?;
        let changed = client
            .execute(&self.sql.release_lease, &[&id.as_str(), &holder.as_str()])
            .await
            .map_err(sql("release lease"))?;
        Ok(changed == 1)
    }

    async fn put_pending(
        &self,
        id: &StorageId,
        envelope: Vec<u8>,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let client = self.client("put pending login").await?;
        client
            .execute(&self.sql.sweep_pending, &[])
            .await
            .map_err(sql("put pending login"))?;
        client
            .execute(
                &self.sql.put_pending,
                &[&id.as_str(), &envelope, &millis(ttl)],
            )
            .await
            .map_err(sql("put pending login"))?;
        Ok(())
    }

    async fn take_pending(&self, id: &StorageId) -> Result<Option<Vec<u8>>, StoreError> {
        let client = self.client("take pending login").await?;
        let row = client
            .query_opt(&self.sql.take_pending, &[&id.as_str()])
            .await
            .map_err(sql("take pending login"))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let envelope: Vec<u8> = row.try_get(0).map_err(sql("take pending login"))?;
        let live: bool = row.try_get(1).map_err(sql("take pending login"))?;
        Ok(live.then_some(envelope))
    }
}

#[cfg(feature = "__testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "__testing")))]
#[async_trait]
impl crate::conformance::RawPeek for PostgresBackend {
    /// Every text and bytea column of every row, as the server returns them.
    async fn raw_bytes(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        let schema = &self.schema;
        let client = self.client("read raw rows").await?;
        let mut raw = Vec::new();
        let queries = [
            format!(r#"SELECT id, envelope FROM "{schema}".credentials"#),
            format!(r#"SELECT id, envelope FROM "{schema}".pending"#),
        ];
        for query in &queries {
            for row in client
                .query(query.as_str(), &[])
                .await
                .map_err(sql("read raw rows"))?
            {
                raw.push(
                    row.try_get::<_, String>(0)
                        .map_err(sql("read raw rows"))?
                        .into_bytes(),
                );
                raw.push(row.try_get::<_, Vec<u8>>(1).map_err(sql("read raw rows"))?);
            }
        }
        let leases = format!(r#"SELECT id, holder FROM "{schema}".leases"#);
        for row in client
            .query(leases.as_str(), &[])
            .await
            .map_err(sql("read raw rows"))?
        {
            raw.push(
                row.try_get::<_, String>(0)
                    .map_err(sql("read raw rows"))?
                    .into_bytes(),
            );
            raw.push(
                row.try_get::<_, String>(1)
                    .map_err(sql("read raw rows"))?
                    .into_bytes(),
            );
        }
        Ok(raw)
    }
}
