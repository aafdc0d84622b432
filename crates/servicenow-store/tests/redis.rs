//! The Redis backend against the server of this machine: conformance, raw values, bad values.
//!
//! Needs `SN_TEST_REDIS_URL`; skipped (and listed at the end of `cargo test`) without it unless
//! `SN_REQUIRE_SERVICES=1`. Each test uses its own key prefix and deletes its keys.

mod common;

use std::{sync::Arc, time::Duration};

use servicenow_store::{
    CredentialKey, Keyring, RedisBackend, RedisOptions, SealedStore, SealingKey, SecretBytes,
    StoreError, TokenStore, conformance,
};

async fn backend(test: &str) -> Option<(RedisBackend, String, String)> {
    let url = common::service_url("SN_TEST_REDIS_URL", test)?;
    let prefix = format!("{}:", common::unique_name("sn-store-test"));
    let options = RedisOptions::new(&prefix).expect("valid prefix");
    match RedisBackend::connect(&url, options).await {
        Ok(backend) => Some((backend, url, prefix)),
        Err(error) => {
            common::unreachable(test, "Redis", &error);
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_backend_passes_the_conformance_suite() {
    let Some((backend, _, _)) = backend("redis_backend_passes_the_conformance_suite").await else {
        return;
    };
    let backend = Arc::new(backend);
    let cleanup = backend.clone();
    common::with_cleanup(conformance::run_all(backend), async move {
        cleanup.delete_prefix().await.expect("delete keys");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_value_is_a_typed_error_and_stays_stored() {
    let Some((backend, url, prefix)) =
        backend("a_corrupted_value_is_a_typed_error_and_stays_stored").await
    else {
        return;
    };
    let cleanup = backend.clone();
    common::with_cleanup(
        async move {
            let store = SealedStore::new(Keyring::new(SealingKey::from_bytes(1, [5; 32])), backend);
            let key =
                CredentialKey::new("https://dev1.service-now.com", "client", "alice").expect("key");
            store
                .save(&key, SecretBytes::new(b"tokens".to_vec()), None)
                .await
                .expect("save");
            let client = redis::Client::open(url.as_str()).expect("url");
            let mut vandal = client
                .get_multiplexed_async_connection()
                .await
                .expect("connect");
            let redis_key = format!("{prefix}cred:{}", key.storage_id());
            let cases: [(&str, &str, &[u8]); 3] = [
                ("version is text", "v", b"seven"),
                ("envelope is one byte", "e", b"\x01"),
                (
                    "unknown format",
                    "e",
                    b"\x09aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                ),
            ];
            for (name, field, value) in cases {
                let _: i64 = redis::cmd("HSET")
                    .arg(&redis_key)
                    .arg(field)
                    .arg(value)
                    .query_async(&mut vandal)
                    .await
                    .expect("vandalise");
                if field == "v" {
                    let error = store.load(&key).await.expect_err(name);
                    assert!(
                        matches!(error, StoreError::Corrupt { .. }),
                        "{name}: {error:?}"
                    );
                    let _: i64 = redis::cmd("HSET")
                        .arg(&redis_key)
                        .arg("v")
                        .arg("12")
                        .query_async(&mut vandal)
                        .await
                        .expect("repair");
                    continue;
                }
                let error = store.load(&key).await.expect_err(name);
                assert!(
                    matches!(
                        error,
                        StoreError::Truncated { .. } | StoreError::UnknownFormat { .. }
                    ),
                    "{name}: {error:?}"
                );
                let exists: i64 = redis::cmd("EXISTS")
                    .arg(&redis_key)
                    .query_async(&mut vandal)
                    .await
                    .expect("exists");
                assert_eq!(exists, 1, "{name}: the value is still there");
            }
        },
        async move {
            cleanup.delete_prefix().await.expect("delete keys");
        },
    )
    .await;
}

#[tokio::test]
async fn an_unreachable_server_is_a_typed_backend_error() {
    let options = RedisOptions::new("sn-store-unreachable:")
        .expect("valid")
        .timeout(Duration::from_secs(2));
    let error = RedisBackend::connect("redis://127.0.0.1:9", options)
        .await
        .expect_err("nothing listens on port 9");
    assert!(
        matches!(
            error,
            StoreError::Backend {
                backend: "redis",
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_lost_mid_operation_is_a_typed_error_and_the_value_survives() {
    let test = "a_server_lost_mid_operation_is_a_typed_error_and_the_value_survives";
    let Some((direct, url, prefix)) = backend(test).await else {
        return;
    };
    let cleanup = direct.clone();
    common::with_cleanup(
        async move {
            let proxy = common::CuttableProxy::start(common::socket_address(&url)).await;
            let options = RedisOptions::new(&prefix)
                .expect("valid")
                .timeout(Duration::from_secs(2));
            let proxied = RedisBackend::connect(&common::via(&url, proxy.address()), options)
                .await
                .expect("connect");
            let keyring = Keyring::new(SealingKey::from_bytes(1, [6; 32]));
            let store = SealedStore::new(keyring.clone(), proxied);
            let key =
                CredentialKey::new("https://dev1.service-now.com", "client", "alice").expect("key");
            let version = store
                .save(&key, SecretBytes::new(b"tokens".to_vec()), None)
                .await
                .expect("save");
            proxy.cut();
            let error = store.load(&key).await.expect_err("the server is gone");
            assert!(
                matches!(
                    error,
                    StoreError::Backend {
                        backend: "redis",
                        ..
                    }
                ),
                "{error:?}"
            );
            let error = store
                .save(&key, SecretBytes::new(b"newer".to_vec()), Some(version))
                .await
                .expect_err("gone");
            assert!(
                matches!(
                    error,
                    StoreError::Backend {
                        backend: "redis",
                        ..
                    }
                ),
                "{error:?}"
            );
            let survivor = SealedStore::new(keyring, direct)
                .load(&key)
                .await
                .expect("load")
                .expect("still stored");
            assert_eq!(
                (survivor.version, survivor.value.expose_secret()),
                (version, &b"tokens"[..])
            );
        },
        async move {
            cleanup.delete_prefix().await.expect("delete keys");
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_backend_rotates_keys() {
    let Some((backend, _, _)) = backend("redis_backend_rotates_keys").await else {
        return;
    };
    let backend = Arc::new(backend);
    let cleanup = backend.clone();
    common::with_cleanup(conformance::rotation::run_on_empty(backend), async move {
        cleanup.delete_prefix().await.expect("delete keys");
    })
    .await;
}
