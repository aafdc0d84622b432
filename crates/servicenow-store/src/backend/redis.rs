//! `RedisBackend`: the other distributed engine, through redis-rs's reconnecting connection manager.
//!
//! Compare-and-swap and versioned delete are Lua scripts (atomic on the server, one round
//! trip, no WATCH retry loop). A lease is `SET key holder NX PX ttl`, released by a script that
//! deletes it only if it still holds this holder's token; Redis expires it by itself. A pending
//! login is `SET … PX ttl` and taken once with `GETDEL`.

use std::{fmt, time::Duration};

use async_trait::async_trait;
#[cfg(feature = "__testing")]
use redis::AsyncCommands;
use redis::{
    Script,
    aio::{ConnectionManager, ConnectionManagerConfig},
};

use crate::{
    Backend, DeleteOutcome, LeaseHolder, RawRecord, SaveOutcome, StorageId, StoreError, StoreTls,
    Version, store::millis,
};

const BACKEND: &str = "redis";

/// Compare-and-swap: ARGV = expected version ('' for none), new version, envelope.
/// Returns {1} when written, {0, current version or nil, current envelope or nil} otherwise.
const SAVE_SCRIPT: &str = r"
local current = redis.call('HGET', KEYS[1], 'v')
if current ~= (ARGV[1] ~= '' and ARGV[1]) then
  if current then return {0, current, redis.call('HGET', KEYS[1], 'e')} end
  return {0, false, false}
end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'e', ARGV[3])
return {1, false, false}
";

/// Delete: ARGV = expected version ('' for unconditional).
/// Returns {1} deleted, {2} absent, or {0, current version or nil, current envelope or nil}.
const DELETE_SCRIPT: &str = r"
local current = redis.call('HGET', KEYS[1], 'v')
if ARGV[1] ~= '' and current ~= ARGV[1] then
  if current then return {0, current, redis.call('HGET', KEYS[1], 'e')} end
  return {0, false, false}
end
if redis.call('DEL', KEYS[1]) == 1 then return {1, false, false} end
return {2, false, false}
";

/// Release: deletes the lease only if ARGV[1] holds it.
const RELEASE_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// Where and how the Redis backend keeps its keys.
#[derive(Clone, Debug)]
pub struct RedisOptions {
    key_prefix: String,
    timeout: Duration,
    tls: Option<StoreTls>,
}

impl RedisOptions {
    /// Keys start with `key_prefix` (printable ASCII without spaces, at most 128 bytes), with a
    /// 10-second connect and response timeout.
    pub fn new(key_prefix: impl Into<String>) -> Result<Self, StoreError> {
        let key_prefix = key_prefix.into();
        if key_prefix.len() > 128 || !key_prefix.bytes().all(|byte| byte.is_ascii_graphic()) {
            return Err(StoreError::InvalidKey {
                reason: "a Redis key prefix must be printable ASCII without spaces",
            });
        }
        Ok(Self {
            key_prefix,
            timeout: Duration::from_secs(10),
            tls: None,
        })
    }

    /// Connects with TLS (rustls; the URL must be `rediss://`), the server's certificate
    /// verified against the CA file (else the OS roots), a client certificate if given.
    pub fn tls(mut self, tls: StoreTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// How long connecting or waiting for a reply may take before an error.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The key prefix.
    pub fn key_prefix(&self) -> &str {
        &self.key_prefix
    }
}

impl Default for RedisOptions {
    /// Keys under `servicenow-store:`.
    fn default() -> Self {
        Self {
            key_prefix: "servicenow-store:".to_owned(),
            timeout: Duration::from_secs(10),
            tls: None,
        }
    }
}

/// Sealed records in Redis: a hash per credential (`v` version, `e` envelope), a string per
/// lease and per pending login.
#[derive(Clone)]
pub struct RedisBackend {
    connection: ConnectionManager,
    prefix: String,
    save: Script,
    delete: Script,
    release: Script,
}

impl fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBackend")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisBackend {
    /// Connects to `url`: `redis://host:port/db`, or `rediss://host:port/db` (TLS, verified
    /// against the OS roots, or with [`RedisOptions::tls`] against its CA file and with its
    /// client certificate).
    pub async fn connect(url: &str, options: RedisOptions) -> Result<Self, StoreError> {
        let client = match &options.tls {
            None => redis::Client::open(url).map_err(redis_error("parse connection url"))?,
            Some(tls) => {
                if !url.starts_with("rediss://") {
                    return Err(StoreError::backend(
                        BACKEND,
                        "parse connection url",
                        "TLS is configured, so the URL must start with rediss://",
                    ));
                }
                let root_cert = match &tls.ca_file {
                    Some(path) => Some(crate::backend::tls::read(BACKEND, "CA file", path)?),
                    None => None,
                };
                let client_tls = match &tls.client_identity {
                    Some((cert, key)) => Some(redis::ClientTlsConfig {
                        client_cert: crate::backend::tls::read(
                            BACKEND,
                            "client certificate",
                            cert,
                        )?,
                        client_key: crate::backend::tls::read(BACKEND, "client key", key)?,
                    }),
                    None => None,
                };
                redis::Client::build_with_tls(
                    url,
                    redis::TlsCertificates {
                        client_tls,
                        root_cert,
                    },
                )
                .map_err(redis_error("configure TLS"))?
            }
        };
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(options.timeout)
            .set_response_timeout(options.timeout)
            // Reconnect quickly and give up soon: the caller decides how to retry a store error.
            // (redis-rs multiplies its backoff's 1-second base by `factor`; the default 100 would
            // mean minutes of silent retrying against a dead server.)
            .set_factor(2)
            .set_max_delay(1000)
            .set_number_of_retries(2);
        let connection = client
            .get_connection_manager_with_config(config)
            .await
            .map_err(redis_error("connect"))?;
        Ok(Self {
            connection,
            prefix: options.key_prefix,
            save: Script::new(SAVE_SCRIPT),
            delete: Script::new(DELETE_SCRIPT),
            release: Script::new(RELEASE_SCRIPT),
        })
    }

    fn key(&self, kind: &str, id: &StorageId) -> String {
        format!("{}{kind}:{id}", self.prefix)
    }

    /// Deletes every key under the prefix (test clean-up).
    #[cfg(feature = "__testing")]
    #[cfg_attr(docsrs, doc(cfg(feature = "__testing")))]
    pub async fn delete_prefix(&self) -> Result<(), StoreError> {
        let keys = self.keys().await?;
        let mut connection = self.connection.clone();
        for chunk in keys.chunks(100) {
            let _: i64 = connection
                .del(chunk)
                .await
                .map_err(redis_error("delete prefix"))?;
        }
        Ok(())
    }

    #[cfg(feature = "__testing")]
    async fn keys(&self) -> Result<Vec<String>, StoreError> {
        let mut connection = self.connection.clone();
        let pattern = format!("{}*", self.prefix.replace(['*', '?', '[', ']', '\\'], "?"));
        let mut keys = Vec::new();
        let mut cursor: u64 = 0;
        // SCAN returns to cursor 0 after a full pass; the bound only guards against a server bug.
        for _ in 0..1_000_000 {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut connection)
                .await
                .map_err(redis_error("scan keys"))?;
            keys.extend(
                batch
                    .into_iter()
                    .filter(|key| key.starts_with(&self.prefix)),
            );
            if next == 0 {
                break;
            }
            cursor = next;
        }
        Ok(keys)
    }
}

fn redis_error(operation: &'static str) -> impl Fn(redis::RedisError) -> StoreError {
    move |error| StoreError::backend(BACKEND, operation, error)
}

/// A script's `{status, version, envelope}` reply turned into the current record, if any.
fn current_record(
    operation: &'static str,
    version: Option<String>,
    envelope: Option<Vec<u8>>,
) -> Result<Option<RawRecord>, StoreError> {
    match (version, envelope) {
        (None, _) => Ok(None),
        (Some(version), envelope) => {
            let version = version
                .parse::<u64>()
                .ok()
                .and_then(Version::new)
                .ok_or_else(|| {
                    StoreError::corrupt(
                        BACKEND,
                        operation,
                        "the version field is not a valid version",
                    )
                })?;
            let envelope = envelope.ok_or_else(|| {
                StoreError::corrupt(BACKEND, operation, "the envelope field is missing")
            })?;
            Ok(Some(RawRecord { version, envelope }))
        }
    }
}

#[async_trait]
impl Backend for RedisBackend {
    async fn load(&self, id: &StorageId) -> Result<Option<RawRecord>, StoreError> {
        let mut connection = self.connection.clone();
        let (version, envelope): (Option<String>, Option<Vec<u8>>) = redis::cmd("HMGET")
            .arg(self.key("cred", id))
            .arg("v")
            .arg("e")
            .query_async(&mut connection)
            .await
            .map_err(redis_error("load"))?;
        current_record("load", version, envelope)
    }

    async fn save(
        &self,
        id: &StorageId,
        record: RawRecord,
        expected: Option<Version>,
    ) -> Result<SaveOutcome, StoreError> {
        let mut connection = self.connection.clone();
        let expected = expected
            .map(|version| version.get().to_string())
            .unwrap_or_default();
        let (status, version, envelope): (i64, Option<String>, Option<Vec<u8>>) = self
            .save
            .key(self.key("cred", id))
            .arg(expected)
            .arg(record.version.get().to_string())
            .arg(record.envelope)
            .invoke_async(&mut connection)
            .await
            .map_err(redis_error("save"))?;
        match status {
            1 => Ok(SaveOutcome::Saved),
            _ => Ok(SaveOutcome::Conflict(current_record(
                "save", version, envelope,
            )?)),
        }
    }

    async fn delete(
        &self,
        id: &StorageId,
        expected: Option<Version>,
    ) -> Result<DeleteOutcome, StoreError> {
        let mut connection = self.connection.clone();
        let expected = expected
            .map(|version| version.get().to_string())
            .unwrap_or_default();
        let (status, version, envelope): (i64, Option<String>, Option<Vec<u8>>) = self
            .delete
            .key(self.key("cred", id))
            .arg(expected)
            .invoke_async(&mut connection)
            .await
            .map_err(redis_error("delete"))?;
        match status {
            1 => Ok(DeleteOutcome::Deleted),
            2 => Ok(DeleteOutcome::Absent),
            _ => Ok(DeleteOutcome::Conflict(current_record(
                "delete", version, envelope,
            )?)),
        }
    }

    async fn try_acquire_lease(
        &self,
        id: &StorageId,
        holder: &LeaseHolder,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let mut connection = self.connection.clone();
        let reply: Option<String> = redis::cmd("SET")
            .arg(self.key("lease", id))
            .arg(holder.as_str())
            .arg("NX")
            .arg("PX")
            .arg(millis(ttl))
            .query_async(&mut connection)
            .await
            .map_err(redis_error("acquire lease"))?;
        Ok(reply.is_some())
    }

    async fn release_lease(
        &self,
        id: &StorageId,
        holder: &LeaseHolder,
    ) -> Result<bool, StoreError> {
        let mut connection = self.connection.clone();
        let deleted: i64 = self
            .release
            .key(self.key("lease", id))
            .arg(holder.as_str())
            .invoke_async(&mut connection)
            .await
            .map_err(redis_error("release lease"))?;
        Ok(deleted == 1)
    }

    async fn put_pending(
        &self,
        id: &StorageId,
        envelope: Vec<u8>,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        let () = redis::cmd("SET")
            .arg(self.key("pending", id))
            .arg(envelope)
            .arg("PX")
            .arg(millis(ttl))
            .query_async(&mut connection)
            .await
            .map_err(redis_error("put pending login"))?;
        Ok(())
    }

    async fn take_pending(&self, id: &StorageId) -> Result<Option<Vec<u8>>, StoreError> {
        let mut connection = self.connection.clone();
        redis::cmd("GETDEL")
            .arg(self.key("pending", id))
            .query_async(&mut connection)
            .await
            .map_err(redis_error("take pending login"))
    }
}

#[cfg(feature = "__testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "__testing")))]
#[async_trait]
impl crate::conformance::RawPeek for RedisBackend {
    /// Every key under the prefix and its value: hash fields and strings, as the server holds them.
    async fn raw_bytes(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut connection = self.connection.clone();
        let mut raw = Vec::new();
        for key in self.keys().await? {
            let kind: String = redis::cmd("TYPE")
                .arg(&key)
                .query_async(&mut connection)
                .await
                .map_err(redis_error("read raw values"))?;
            match kind.as_str() {
                "hash" => {
                    let fields: Vec<Vec<u8>> = redis::cmd("HGETALL")
                        .arg(&key)
                        .query_async(&mut connection)
                        .await
                        .map_err(redis_error("read raw values"))?;
                    raw.extend(fields);
                }
                "string" => {
                    let value: Option<Vec<u8>> = connection
                        .get(&key)
                        .await
                        .map_err(redis_error("read raw values"))?;
                    raw.extend(value);
                }
                _ => (),
            }
            raw.push(key.into_bytes());
        }
        Ok(raw)
    }
}
