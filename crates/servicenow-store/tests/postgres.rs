//! The PostgreSQL backend against the server of this machine: conformance, raw rows, bad rows.
//!
//! Needs `SN_TEST_POSTGRES_URL`; skipped (and listed at the end of `cargo test`) without it unless
//! `SN_REQUIRE_SERVICES=1`. Each test uses its own schema and drops it.

mod common;

use std::{sync::Arc, time::Duration};

use servicenow_store::{
    CredentialKey, Keyring, PostgresBackend, PostgresOptions, SealedStore, SealingKey, SecretBytes,
    StoreError, TokenStore, conformance,
};

async fn backend(test: &str) -> Option<(PostgresBackend, String)> {
    let url = common::service_url("SN_TEST_POSTGRES_URL", test)?;
    let schema = common::unique_name("sn_store_test");
    let options = PostgresOptions::new(&schema).expect("valid schema name");
    match PostgresBackend::connect(&url, options).await {
        Ok(backend) => Some((backend, url)),
        Err(error) => {
            common::unreachable(test, "PostgreSQL", &error);
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_backend_passes_the_conformance_suite() {
    let Some((backend, _)) = backend("postgres_backend_passes_the_conformance_suite").await else {
        return;
    };
    let backend = Arc::new(backend);
    let cleanup = backend.clone();
    common::with_cleanup(conformance::run_all(backend), async move {
        cleanup.drop_schema().await.expect("drop schema");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_row_is_a_typed_error_and_stays_in_the_table() {
    let Some((backend, url)) =
        backend("a_corrupted_row_is_a_typed_error_and_stays_in_the_table").await
    else {
        return;
    };
    let cleanup = backend.clone();
    common::with_cleanup(
        async move {
            let schema = backend.schema().to_owned();
            let store = SealedStore::new(Keyring::new(SealingKey::from_bytes(1, [3; 32])), backend);
            let key = CredentialKey::new("https://dev1.service-now.com", "client", "alice").expect("key");
            store.save(&key, SecretBytes::new(b"tokens".to_vec()), None).await.expect("save");
            let (vandal, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.expect("connect");
            tokio::spawn(connection);
            let id = key.storage_id();
            let cases = [
                ("negative version", format!(r#"UPDATE "{schema}".credentials SET version = -1 WHERE id = $1"#)),
                ("empty envelope", format!(r#"UPDATE "{schema}".credentials SET version = 5, envelope = '' WHERE id = $1"#)),
                ("unknown format", format!(r#"UPDATE "{schema}".credentials SET envelope = '\x07aabbcc' WHERE id = $1"#)),
            ];
            for (name, statement) in cases {
                vandal.execute(statement.as_str(), &[&id.as_str()]).await.expect("vandalise");
                let error = store.load(&key).await.expect_err(name);
                assert!(
                    matches!(
                        error,
                        StoreError::Corrupt { .. } | StoreError::Truncated { .. } | StoreError::UnknownFormat { .. }
                    ),
                    "{name}: {error:?}"
                );
                let count: i64 = vandal
                    .query_one(format!(r#"SELECT count(*) FROM "{schema}".credentials WHERE id = $1"#).as_str(), &[&id.as_str()])
                    .await
                    .expect("count")
                    .get(0);
                assert_eq!(count, 1, "{name}: the row is still there");
            }
        },
        async move {
            cleanup.drop_schema().await.expect("drop schema");
        },
    )
    .await;
}

#[tokio::test]
async fn an_unreachable_server_is_a_typed_backend_error() {
    // Port 9 (discard) has no PostgreSQL listening on a test machine.
    let options = PostgresOptions::new("sn_store_unreachable")
        .expect("valid")
        .timeout(Duration::from_secs(2));
    let error = PostgresBackend::connect("postgres://postgres@127.0.0.1:9/test", options)
        .await
        .expect_err("nothing listens on port 9");
    assert!(
        matches!(
            error,
            StoreError::Backend {
                backend: "postgres",
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn schema_names_that_could_inject_sql_are_refused() {
    for name in ["", "Upper", "a-b", "x\"; DROP TABLE y; --", &"a".repeat(64)] {
        assert!(
            PostgresOptions::new(name).is_err(),
            "{name:?} must be refused"
        );
    }
    assert!(PostgresOptions::new("sn_store_1").is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_lost_mid_operation_is_a_typed_error_and_the_row_survives() {
    let test = "a_server_lost_mid_operation_is_a_typed_error_and_the_row_survives";
    let Some((direct, url)) = backend(test).await else {
        return;
    };
    let cleanup = direct.clone();
    common::with_cleanup(
        async move {
            let proxy = common::CuttableProxy::start(common::socket_address(&url)).await;
            let options = PostgresOptions::new(direct.schema())
                .expect("valid")
                .timeout(Duration::from_secs(2));
            let proxied = PostgresBackend::connect(&common::via(&url, proxy.address()), options)
                .await
                .expect("connect");
            let keyring = Keyring::new(SealingKey::from_bytes(1, [4; 32]));
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
                        backend: "postgres",
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
                        backend: "postgres",
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
            cleanup.drop_schema().await.expect("drop schema");
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_backend_rotates_keys() {
    let Some((backend, _)) = backend("postgres_backend_rotates_keys").await else {
        return;
    };
    let backend = Arc::new(backend);
    let cleanup = backend.clone();
    common::with_cleanup(conformance::rotation::run_on_empty(backend), async move {
        cleanup.drop_schema().await.expect("drop schema");
    })
    .await;
}
