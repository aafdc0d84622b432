//! TLS to the database server for the PostgreSQL and Redis backends: rustls with ring, the
//! server checked against a CA file (or the operating system's roots), an optional client
//! certificate for servers that require one.

use std::path::{Path, PathBuf};

use crate::StoreError;

/// TLS settings of a [`PostgresBackend`](crate::PostgresBackend) or
/// [`RedisBackend`](crate::RedisBackend) connection.
///
/// The server's certificate is always verified (name and chain): against the CAs of
/// [`ca_file`](Self::ca_file) when given (a private database CA), else against the operating
/// system's roots. The files are read when the backend connects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreTls {
    /// A PEM file of the CA certificates that sign the server's certificate.
    pub ca_file: Option<PathBuf>,
    /// A client certificate (PEM) and its key (PEM), for servers that require one.
    pub client_identity: Option<(PathBuf, PathBuf)>,
}

impl StoreTls {
    /// TLS verified against the operating system's roots, no client certificate.
    pub fn new() -> Self {
        Self::default()
    }

    /// Verifies the server against the CAs of this PEM file instead of the OS roots.
    #[must_use]
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// Presents this client certificate and key (PEM files).
    #[must_use]
    pub fn client_identity(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.client_identity = Some((cert.into(), key.into()));
        self
    }
}

/// Reads `path` for `backend`, naming the file and what it is in the error.
pub(crate) fn read(
    backend: &'static str,
    what: &'static str,
    path: &Path,
) -> Result<Vec<u8>, StoreError> {
    std::fs::read(path).map_err(|error| {
        StoreError::backend(
            backend,
            "read TLS file",
            format!("reading the {what} {} failed: {error}", path.display()),
        )
    })
}

/// The rustls client configuration of `tls` (for tokio-postgres).
#[cfg(feature = "postgres")]
pub(crate) fn client_config(
    backend: &'static str,
    tls: &StoreTls,
) -> Result<rustls::ClientConfig, StoreError> {
    use std::sync::Arc;

    use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};

    let invalid = |what: String| StoreError::backend(backend, "configure TLS", what);
    let certificates = |pem: &[u8], what: &str, path: &Path| {
        CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .ok()
            .filter(|certificates| !certificates.is_empty())
            .ok_or_else(|| {
                invalid(format!(
                    "the {what} {} holds no PEM certificate",
                    path.display()
                ))
            })
    };
    let mut roots = rustls::RootCertStore::empty();
    match &tls.ca_file {
        Some(path) => {
            for certificate in certificates(&read(backend, "CA file", path)?, "CA file", path)? {
                roots
                    .add(certificate)
                    .map_err(|error| invalid(format!("a CA certificate is unusable: {error}")))?;
            }
        }
        None => {
            let loaded = rustls_native_certs::load_native_certs();
            let (added, _ignored) = roots.add_parsable_certificates(loaded.certs);
            if added == 0 {
                return Err(invalid(
                    "the operating system has no CA certificates; give a CA file".to_owned(),
                ));
            }
        }
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|error| invalid(error.to_string()))?
    .with_root_certificates(roots);
    match &tls.client_identity {
        None => Ok(builder.with_no_client_auth()),
        Some((cert, key)) => {
            let chain = certificates(
                &read(backend, "client certificate", cert)?,
                "client certificate",
                cert,
            )?;
            let key_pem = zeroize::Zeroizing::new(read(backend, "client key", key)?);
            let key_der = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|error| {
                invalid(format!(
                    "the client key {} holds no usable PEM key: {error}",
                    key.display()
                ))
            })?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|error| {
                    invalid(format!(
                        "the client certificate does not fit its key: {error}"
                    ))
                })
        }
    }
}
