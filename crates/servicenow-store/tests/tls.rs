//! The Redis backend over TLS against a real TLS server: a `redis-server` started by the test
//! with certificates from a throwaway CA (rcgen), one that requires client certificates, and
//! the plain PostgreSQL of the test services refusing to be talked to without TLS.
//!
//! Runs when `SN_TEST_REDIS_URL` / `SN_TEST_POSTGRES_URL` say the services are part of the run
//! (the Redis tests also need the `redis-server` binary, which the Redis service comes with).

mod common;

use std::{
    net::{Ipv4Addr, SocketAddr, TcpListener},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use servicenow_store::{
    CredentialKey, Keyring, PostgresBackend, PostgresOptions, RedisBackend, RedisOptions,
    SealedStore, SealingKey, SecretBytes, StoreTls, TokenStore,
};

struct Pki {
    directory: tempfile::TempDir,
    ca: rcgen::Certificate,
    ca_key: KeyPair,
}

impl Pki {
    fn new() -> Self {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // A subject of its own: a leaf with the issuer's name would pass for self-signed.
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "throwaway database CA");
        let ca = params.self_signed(&ca_key).expect("CA");
        Self {
            directory: tempfile::tempdir().expect("temporary directory"),
            ca,
            ca_key,
        }
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.directory.path().join(name);
        std::fs::write(&path, text).expect("write a PEM file");
        path
    }

    fn ca_file(&self) -> PathBuf {
        self.write("ca.pem", &self.ca.pem())
    }

    /// A certificate and key signed by the CA, written as `NAME.pem` and `NAME.key`.
    fn issue(&self, name: &str, usage: ExtendedKeyUsagePurpose) -> (PathBuf, PathBuf) {
        let key = KeyPair::generate().expect("leaf key");
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .expect("leaf params");
        params.extended_key_usages = vec![usage];
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let certificate = params
            .signed_by(&key, &self.ca, &self.ca_key)
            .expect("sign");
        (
            self.write(&format!("{name}.pem"), &certificate.pem()),
            self.write(&format!("{name}.key"), &key.serialize_pem()),
        )
    }
}

/// A `redis-server` serving TLS only, killed when dropped.
struct TlsRedis {
    child: Child,
    address: SocketAddr,
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl TlsRedis {
    fn start(pki: &Pki, require_client_certificates: bool) -> std::io::Result<Self> {
        let (cert, key) = pki.issue("redis", ExtendedKeyUsagePurpose::ServerAuth);
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--tls-port")
            .arg(port.to_string())
            .arg("--tls-cert-file")
            .arg(&cert)
            .arg("--tls-key-file")
            .arg(&key)
            .arg("--tls-ca-cert-file")
            .arg(pki.ca_file())
            .arg("--tls-auth-clients")
            .arg(if require_client_certificates {
                "yes"
            } else {
                "no"
            })
            .arg("--dir")
            .arg(pki.directory.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let server = Self {
            child,
            address: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        };
        for _ in 0..100 {
            if std::net::TcpStream::connect(server.address).is_ok() {
                return Ok(server);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(std::io::Error::other(
            "redis-server did not start listening",
        ))
    }

    fn url(&self) -> String {
        format!("rediss://{}", self.address)
    }
}

fn options(tls: StoreTls) -> RedisOptions {
    RedisOptions::new(format!("{}:", common::unique_name("sn-store-tls")))
        .expect("valid prefix")
        .timeout(Duration::from_secs(3))
        .tls(tls)
}

async fn round_trip(backend: RedisBackend) {
    let store = SealedStore::new(Keyring::new(SealingKey::from_bytes(1, [9; 32])), backend);
    let key = CredentialKey::new("https://dev1.service-now.com", "client", "alice").expect("key");
    store
        .save(&key, SecretBytes::new(b"tokens".to_vec()), None)
        .await
        .expect("save over TLS");
    let loaded = store
        .load(&key)
        .await
        .expect("load over TLS")
        .expect("stored");
    assert_eq!(loaded.value.expose_secret(), b"tokens");
}

fn started(test: &str, pki: &Pki, require_client_certificates: bool) -> Option<TlsRedis> {
    common::service_url("SN_TEST_REDIS_URL", test)?;
    match TlsRedis::start(pki, require_client_certificates) {
        Ok(server) => Some(server),
        Err(error) => {
            common::unreachable(test, "redis-server with TLS", &error);
            None
        }
    }
}

#[tokio::test]
async fn redis_over_tls_is_verified_against_the_ca_file_and_refused_without_it() {
    let test = "redis_over_tls_is_verified_against_the_ca_file_and_refused_without_it";
    let pki = Pki::new();
    let Some(server) = started(test, &pki, false) else {
        return;
    };
    let backend = RedisBackend::connect(
        &server.url(),
        options(StoreTls::new().ca_file(pki.ca_file())),
    )
    .await
    .expect("TLS with the CA file");
    round_trip(backend).await;

    let error = RedisBackend::connect(&server.url(), options(StoreTls::new()))
        .await
        .expect_err("the OS roots do not know the throwaway CA");
    assert!(error.to_string().contains("redis"), "{error}");

    let error = RedisBackend::connect(
        &format!("redis://{}", server.address),
        options(StoreTls::new().ca_file(pki.ca_file())),
    )
    .await
    .expect_err("TLS settings with a plain URL");
    assert!(format!("{error:?}").contains("rediss://"), "{error:?}");
}

#[tokio::test]
async fn redis_requiring_client_certificates_accepts_the_configured_one_and_refuses_its_absence() {
    let test =
        "redis_requiring_client_certificates_accepts_the_configured_one_and_refuses_its_absence";
    let pki = Pki::new();
    let Some(server) = started(test, &pki, true) else {
        return;
    };
    let (cert, key) = pki.issue("client", ExtendedKeyUsagePurpose::ClientAuth);
    let backend = RedisBackend::connect(
        &server.url(),
        options(
            StoreTls::new()
                .ca_file(pki.ca_file())
                .client_identity(cert, key),
        ),
    )
    .await
    .expect("mutual TLS with the client certificate");
    round_trip(backend).await;

    let refused = RedisBackend::connect(
        &server.url(),
        options(StoreTls::new().ca_file(pki.ca_file())),
    )
    .await;
    assert!(
        refused.is_err(),
        "a client without a certificate was served"
    );
}

#[tokio::test]
async fn postgres_with_tls_configured_never_falls_back_to_a_plain_connection() {
    let test = "postgres_with_tls_configured_never_falls_back_to_a_plain_connection";
    let Some(url) = common::service_url("SN_TEST_POSTGRES_URL", test) else {
        return;
    };
    let pki = Pki::new();
    // The test server speaks plain PostgreSQL (or TLS with a certificate this CA did not
    // sign): either way, a backend told to use TLS must not get a connection.
    let options = PostgresOptions::new(common::unique_name("sn_store_tls"))
        .expect("schema")
        .timeout(Duration::from_secs(3))
        .tls(StoreTls::new().ca_file(pki.ca_file()));
    let outcome = PostgresBackend::connect(&url, options).await;
    assert!(outcome.is_err(), "connected without verified TLS");
    let missing = PostgresOptions::new(common::unique_name("sn_store_tls"))
        .expect("schema")
        .tls(StoreTls::new().ca_file("/nonexistent/ca.pem"));
    let error = PostgresBackend::connect(&url, missing)
        .await
        .expect_err("an unreadable CA file");
    assert!(
        format!("{error:?}").contains("/nonexistent/ca.pem"),
        "{error:?}"
    );
}
