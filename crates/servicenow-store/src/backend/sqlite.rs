//! `SqliteBackend`: the embedded default; one database file in WAL mode, shared by processes.
//!
//! Compare-and-swap is a conditional `UPDATE` (or an `INSERT … ON CONFLICT DO NOTHING` for a
//! new record) inside an immediate transaction; a lease is a row with a holder and an expiry
//! taken by one conditional upsert; a pending login is taken by `DELETE … RETURNING`. Every call
//! runs on tokio's blocking pool, never on the async worker threads.

use std::{
    fs,
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params, types::ValueRef};

use crate::{
    Backend, DeleteOutcome, LeaseHolder, RawRecord, RecordKind, SaveOutcome, StorageId, StoreError,
    Version,
    store::{millis, wall_clock_millis},
};

const BACKEND: &str = "sqlite";
/// The schema version this build creates and understands (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 1;
/// How long a statement waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS sn_store_credentials (
        id TEXT PRIMARY KEY NOT NULL,
        version INTEGER NOT NULL,
        envelope BLOB NOT NULL
    );
    CREATE TABLE IF NOT EXISTS sn_store_leases (
        id TEXT PRIMARY KEY NOT NULL,
        holder TEXT NOT NULL,
        expires_at_ms INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS sn_store_pending (
        id TEXT PRIMARY KEY NOT NULL,
        envelope BLOB NOT NULL,
        expires_at_ms INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS sn_store_pending_expiry ON sn_store_pending (expires_at_ms);
";

/// Sealed records in one SQLite database file (created with mode 0600).
#[derive(Debug, Clone)]
pub struct SqliteBackend {
    connection: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl SqliteBackend {
    /// Opens (or creates) the database at `path`: WAL mode, full sync, schema created or
    /// checked on first use.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let opened_path = path.clone();
        let connection = tokio::task::spawn_blocking(move || open_connection(&opened_path))
            .await
            .map_err(|error| StoreError::backend(BACKEND, "open", error))??;
        Ok(Self {
            connection: Arc::new(Mutex::new(connection)),
            path,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn run<T: Send + 'static>(
        &self,
        operation: &'static str,
        work: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let connection = self.connection.clone();
        tokio::task::spawn_blocking(move || {
            // Every unit of work is a transaction or a single statement, so a panic in another
            // task cannot leave the connection mid-change: a poisoned lock is still usable.
            let mut connection = connection
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            work(&mut connection)
        })
        .await
        .map_err(|error| StoreError::backend(BACKEND, operation, error))?
    }
}

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    if !path.exists() {
        // Create the file private before SQLite does (SQLite gives its WAL and shared-memory
        // files the mode of the database file).
        let created = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path);
        match created {
            Ok(_) => (),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => (),
            Err(error) => return Err(StoreError::backend(BACKEND, "create database file", error)),
        }
    }
    let mode = fs::metadata(path)
        .map_err(|error| StoreError::backend(BACKEND, "open", error))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(StoreError::Permissions {
            path: path.to_path_buf(),
            mode,
            expected: 0o600,
        });
    }
    let mut connection = Connection::open(path).map_err(sql("open"))?;
    connection.busy_timeout(BUSY_TIMEOUT).map_err(sql("open"))?;
    connection
        .pragma_update(None, "journal_mode", "WAL")
        .map_err(sql("enable WAL"))?;
    // Durability over speed: a rotated refresh token must survive a power cut once saved.
    connection
        .pragma_update(None, "synchronous", "FULL")
        .map_err(sql("open"))?;
    migrate(&mut connection)?;
    Ok(connection)
}

fn migrate(connection: &mut Connection) -> Result<(), StoreError> {
    let transaction = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql("migrate"))?;
    let version: i64 = transaction
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(sql("migrate"))?;
    match version {
        0 => {
            transaction.execute_batch(SCHEMA).map_err(sql("migrate"))?;
            transaction
                .pragma_update(None, "user_version", SCHEMA_VERSION)
                .map_err(sql("migrate"))?;
        }
        SCHEMA_VERSION => (),
        newer => {
            return Err(StoreError::corrupt(
                BACKEND,
                "migrate",
                format!(
                    "schema version {newer} is newer than this build understands ({SCHEMA_VERSION})"
                ),
            ));
        }
    }
    transaction.commit().map_err(sql("migrate"))
}

fn sql(operation: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |error| StoreError::backend(BACKEND, operation, error)
}

fn to_sql_version(version: Version) -> i64 {
    // Versions are below 2^53, so they always fit.
    i64::try_from(version.get()).unwrap_or(i64::MAX)
}

fn read_record(operation: &'static str, row: &rusqlite::Row<'_>) -> Result<RawRecord, StoreError> {
    let version = match row.get_ref(0).map_err(sql(operation))? {
        ValueRef::Integer(version) => u64::try_from(version).ok().and_then(Version::new),
        _ => None,
    }
    .ok_or_else(|| {
        StoreError::corrupt(
            BACKEND,
            operation,
            "the version column is not a valid version",
        )
    })?;
    let envelope = match row.get_ref(1).map_err(sql(operation))? {
        ValueRef::Blob(envelope) => envelope.to_vec(),
        _ => {
            return Err(StoreError::corrupt(
                BACKEND,
                operation,
                "the envelope column is not a blob",
            ));
        }
    };
    Ok(RawRecord { version, envelope })
}

fn current(
    operation: &'static str,
    connection: &Connection,
    id: &str,
) -> Result<Option<RawRecord>, StoreError> {
    let mut statement = connection
        .prepare("SELECT version, envelope FROM sn_store_credentials WHERE id = ?1")
        .map_err(sql(operation))?;
    let mut rows = statement.query(params![id]).map_err(sql(operation))?;
    match rows.next().map_err(sql(operation))? {
        Some(row) => read_record(operation, row).map(Some),
        None => Ok(None),
    }
}

#[async_trait]
impl Backend for SqliteBackend {
    async fn load(&self, id: &StorageId) -> Result<Option<RawRecord>, StoreError> {
        let id = id.as_str().to_owned();
        self.run("load", move |connection| current("load", connection, &id))
            .await
    }

    async fn save(
        &self,
        id: &StorageId,
        record: RawRecord,
        expected: Option<Version>,
    ) -> Result<SaveOutcome, StoreError> {
        let id = id.as_str().to_owned();
        self.run("save", move |connection| {
            let transaction =
                connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql("save"))?;
            let version = to_sql_version(record.version);
            let changed = match expected {
                None => transaction.execute(
                    "INSERT INTO sn_store_credentials (id, version, envelope) VALUES (?1, ?2, ?3)
                     ON CONFLICT (id) DO NOTHING",
                    params![id, version, record.envelope],
                ),
                Some(expected) => transaction.execute(
                    "UPDATE sn_store_credentials SET version = ?2, envelope = ?3 WHERE id = ?1 AND version = ?4",
                    params![id, version, record.envelope, to_sql_version(expected)],
                ),
            }
            .map_err(sql("save"))?;
            if changed == 1 {
                transaction.commit().map_err(sql("save"))?;
                return Ok(SaveOutcome::Saved);
            }
            Ok(SaveOutcome::Conflict(current("save", &transaction, &id)?))
        })
        .await
    }

    async fn delete(
        &self,
        id: &StorageId,
        expected: Option<Version>,
    ) -> Result<DeleteOutcome, StoreError> {
        let id = id.as_str().to_owned();
        self.run("delete", move |connection| {
            let transaction = connection
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sql("delete"))?;
            let changed = match expected {
                None => transaction.execute(
                    "DELETE FROM sn_store_credentials WHERE id = ?1",
                    params![id],
                ),
                Some(expected) => transaction.execute(
                    "DELETE FROM sn_store_credentials WHERE id = ?1 AND version = ?2",
                    params![id, to_sql_version(expected)],
                ),
            }
            .map_err(sql("delete"))?;
            let outcome = match (changed, expected) {
                (1, _) => DeleteOutcome::Deleted,
                (_, None) => DeleteOutcome::Absent,
                (_, Some(_)) => DeleteOutcome::Conflict(current("delete", &transaction, &id)?),
            };
            transaction.commit().map_err(sql("delete"))?;
            Ok(outcome)
        })
        .await
    }

    async fn try_acquire_lease(
        &self,
        id: &StorageId,
        holder: &LeaseHolder,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let (id, holder) = (id.as_str().to_owned(), holder.as_str().to_owned());
        self.run("acquire lease", move |connection| {
            let now = wall_clock_millis();
            let changed = connection
                .execute(
                    "INSERT INTO sn_store_leases (id, holder, expires_at_ms) VALUES (?1, ?2, ?3)
                     ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, expires_at_ms = excluded.expires_at_ms
                     WHERE sn_store_leases.expires_at_ms <= ?4",
                    params![id, holder, now.saturating_add(millis(ttl)), now],
                )
                .map_err(sql("acquire lease"))?;
            Ok(changed == 1)
        })
        .await
    }

    async fn release_lease(
        &self,
        id: &StorageId,
        holder: &LeaseHolder,
    ) -> Result<bool, StoreError> {
        let (id, holder) = (id.as_str().to_owned(), holder.as_str().to_owned());
        self.run("release lease", move |connection| {
            let changed = connection
                .execute(
                    "DELETE FROM sn_store_leases WHERE id = ?1 AND holder = ?2",
                    params![id, holder],
                )
                .map_err(sql("release lease"))?;
            Ok(changed == 1)
        })
        .await
    }

    async fn put_pending(
        &self,
        id: &StorageId,
        envelope: Vec<u8>,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let id = id.as_str().to_owned();
        self.run("put pending login", move |connection| {
            let transaction = connection
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sql("put pending login"))?;
            let now = wall_clock_millis();
            transaction
                .execute("DELETE FROM sn_store_pending WHERE expires_at_ms <= ?1", params![now])
                .map_err(sql("put pending login"))?;
            transaction
                .execute(
                    "INSERT OR REPLACE INTO sn_store_pending (id, envelope, expires_at_ms) VALUES (?1, ?2, ?3)",
                    params![id, envelope, now.saturating_add(millis(ttl))],
                )
                .map_err(sql("put pending login"))?;
            transaction.commit().map_err(sql("put pending login"))
        })
        .await
    }

    async fn take_pending(&self, id: &StorageId) -> Result<Option<Vec<u8>>, StoreError> {
        let id = id.as_str().to_owned();
        self.run("take pending login", move |connection| {
            let taken = connection
                .query_row(
                    "DELETE FROM sn_store_pending WHERE id = ?1 RETURNING envelope, expires_at_ms",
                    params![id],
                    |row| Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, i64>(1)?)),
                )
                .optional()
                .map_err(sql("take pending login"))?;
            Ok(taken.and_then(|(envelope, expires_at)| {
                (expires_at > wall_clock_millis()).then_some(envelope)
            }))
        })
        .await
    }

    async fn list(&self, kind: RecordKind) -> Result<Vec<StorageId>, StoreError> {
        self.run("list records", move |connection| {
            let (sql_text, now) = match kind {
                RecordKind::Credential => ("SELECT id FROM sn_store_credentials WHERE ?1 = ?1", 0),
                RecordKind::Pending => (
                    "SELECT id FROM sn_store_pending WHERE expires_at_ms > ?1",
                    wall_clock_millis(),
                ),
            };
            let mut statement = connection.prepare(sql_text).map_err(sql("list records"))?;
            let ids = statement
                .query_map(params![now], |row| row.get::<_, String>(0))
                .map_err(sql("list records"))?;
            let mut listed = Vec::new();
            for id in ids {
                let id = id.map_err(sql("list records"))?;
                listed.push(StorageId::from_stored(&id).ok_or_else(|| {
                    StoreError::corrupt(BACKEND, "list records", "a stored id is not 64 hex digits")
                })?);
            }
            Ok(listed)
        })
        .await
    }

    async fn peek_pending(&self, id: &StorageId) -> Result<Option<Vec<u8>>, StoreError> {
        let id = id.as_str().to_owned();
        self.run("read pending login", move |connection| {
            connection
                .query_row(
                    "SELECT envelope FROM sn_store_pending WHERE id = ?1 AND expires_at_ms > ?2",
                    params![id, wall_clock_millis()],
                    |row| row.get::<_, Vec<u8>>(0),
                )
                .optional()
                .map_err(sql("read pending login"))
        })
        .await
    }

    async fn replace_pending(
        &self,
        id: &StorageId,
        expected: &[u8],
        envelope: Vec<u8>,
    ) -> Result<bool, StoreError> {
        let (id, expected) = (id.as_str().to_owned(), expected.to_vec());
        self.run("re-seal pending login", move |connection| {
            let changed = connection
                .execute(
                    "UPDATE sn_store_pending SET envelope = ?3
                     WHERE id = ?1 AND envelope = ?2 AND expires_at_ms > ?4",
                    params![id, expected, envelope, wall_clock_millis()],
                )
                .map_err(sql("re-seal pending login"))?;
            Ok(changed == 1)
        })
        .await
    }
}

#[cfg(feature = "__testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "__testing")))]
#[async_trait]
impl crate::conformance::RawPeek for SqliteBackend {
    /// The database and WAL files as bytes on disk, and every column of every row.
    async fn raw_bytes(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        let path = self.path.clone();
        let mut raw = self
            .run("read raw rows", |connection| {
                let mut raw = Vec::new();
                for table in [
                    "sn_store_credentials",
                    "sn_store_leases",
                    "sn_store_pending",
                ] {
                    let mut statement = connection
                        .prepare(&format!("SELECT * FROM {table}"))
                        .map_err(sql("read raw rows"))?;
                    let columns = statement.column_count();
                    let mut rows = statement.query([]).map_err(sql("read raw rows"))?;
                    while let Some(row) = rows.next().map_err(sql("read raw rows"))? {
                        for column in 0..columns {
                            raw.push(match row.get_ref(column).map_err(sql("read raw rows"))? {
                                ValueRef::Null => Vec::new(),
                                ValueRef::Integer(number) => number.to_string().into_bytes(),
                                ValueRef::Real(number) => number.to_string().into_bytes(),
                                ValueRef::Text(bytes) | ValueRef::Blob(bytes) => bytes.to_vec(),
                            });
                        }
                    }
                }
                Ok(raw)
            })
            .await?;
        for suffix in ["", "-wal"] {
            let mut file = path.clone().into_os_string();
            file.push(suffix);
            if let Ok(bytes) = fs::read(&file) {
                raw.push(bytes);
            }
        }
        Ok(raw)
    }
}
