//! Which real store a test and its worker processes share, written as one string so it can cross a process boundary.

use std::{path::PathBuf, sync::Arc};

use anyhow::Context as _;
use servicenow_store::{
    KeySource, PostgresBackend, PostgresOptions, RedisBackend, RedisOptions, SealedStore,
    TokenStore,
};

/// A store shared by processes: the embedded SQLite default, PostgreSQL or Redis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreSpec {
    /// The facade's encrypted SQLite store in this directory (key file beside the database).
    Sqlite {
        /// The store directory.
        directory: PathBuf,
    },
    /// PostgreSQL at `url`, tables in `schema`, sealing key in `key_file`.
    Postgres {
        /// The connection URL.
        url: String,
        /// The schema this test owns.
        schema: String,
        /// The sealing key, shared by every process.
        key_file: PathBuf,
    },
    /// Redis at `url`, keys under `prefix`, sealing key in `key_file`.
    Redis {
        /// The connection URL.
        url: String,
        /// The key prefix this test owns.
        prefix: String,
        /// The sealing key, shared by every process.
        key_file: PathBuf,
    },
}

impl StoreSpec {
    /// The spec as one line: `sqlite|DIR`, `postgres|URL|SCHEMA|KEY`, `redis|URL|PREFIX|KEY`.
    pub fn encode(&self) -> String {
        match self {
            Self::Sqlite { directory } => format!("sqlite|{}", directory.display()),
            Self::Postgres {
                url,
                schema,
                key_file,
            } => {
                format!("postgres|{url}|{schema}|{}", key_file.display())
            }
            Self::Redis {
                url,
                prefix,
                key_file,
            } => {
                format!("redis|{url}|{prefix}|{}", key_file.display())
            }
        }
    }

    /// Reads what [`encode`](Self::encode) wrote.
    pub fn decode(text: &str) -> anyhow::Result<Self> {
        let parts: Vec<&str> = text.split('|').collect();
        match parts.as_slice() {
            ["sqlite", directory] => Ok(Self::Sqlite {
                directory: PathBuf::from(directory),
            }),
            ["postgres", url, schema, key_file] => Ok(Self::Postgres {
                url: (*url).to_owned(),
                schema: (*schema).to_owned(),
                key_file: PathBuf::from(key_file),
            }),
            ["redis", url, prefix, key_file] => Ok(Self::Redis {
                url: (*url).to_owned(),
                prefix: (*prefix).to_owned(),
                key_file: PathBuf::from(key_file),
            }),
            _ => anyhow::bail!("decoding store spec: unknown shape {text:?}"),
        }
    }

    /// A short name for messages and figures.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Sqlite { .. } => "sqlite",
            Self::Postgres { .. } => "postgres",
            Self::Redis { .. } => "redis",
        }
    }

    /// Opens the store (creating tables, schema or key file on first use).
    pub async fn open(&self) -> anyhow::Result<Arc<dyn TokenStore>> {
        match self {
            Self::Sqlite { directory } => {
                // Every worker opens the same directory: the key file there is shared.
                let key = KeySource::colocated_file(directory.join(servicenow::stores::KEY_FILE));
                Ok(servicenow::stores::Store::sqlite(directory, key)
                    .await
                    .context("opening the sqlite store")?
                    .token_store())
            }
            Self::Postgres {
                url,
                schema,
                key_file,
            } => {
                let backend = PostgresBackend::connect(url, PostgresOptions::new(schema.clone())?)
                    .await
                    .context("connecting to postgres")?;
                let key = KeySource::colocated_file(key_file);
                Ok(Arc::new(SealedStore::open(&key, Arc::new(backend)).await?))
            }
            Self::Redis {
                url,
                prefix,
                key_file,
            } => {
                let backend = RedisBackend::connect(url, RedisOptions::new(prefix.clone())?)
                    .await
                    .context("connecting to redis")?;
                let key = KeySource::colocated_file(key_file);
                Ok(Arc::new(SealedStore::open(&key, Arc::new(backend)).await?))
            }
        }
    }
}
