//! Serving over TLS: a rustls server configuration built from PEM files (a certificate chain and
//! its key), optionally requiring a client certificate signed by a given CA (mutual TLS).

use std::{fmt, sync::Arc, time::Duration};

use rustls::{
    RootCertStore, ServerConfig,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    server::WebPkiClientVerifier,
};
use tokio_rustls::TlsAcceptor;

use crate::Error;

/// How long a client may take to finish the TLS handshake before the connection is closed.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The PEM texts the emulator serves TLS with.
#[derive(Clone)]
pub(crate) struct TlsPem {
    /// The server's certificate chain, leaf first.
    pub(crate) cert_chain: Vec<u8>,
    /// The server's private key (PKCS#8, PKCS#1 or SEC1).
    pub(crate) key: Vec<u8>,
    /// When set, every client must present a certificate signed by one of these CAs.
    pub(crate) client_ca: Option<Vec<u8>>,
}

impl fmt::Debug for TlsPem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("TlsPem")
            .field(
                "cert_chain",
                &format_args!("{} bytes", self.cert_chain.len()),
            )
            .field("key", &format_args!("[redacted]"))
            .field("requires_client_certificate", &self.client_ca.is_some())
            .finish()
    }
}

/// The TLS side of the server: accepts handshakes with the configured certificate.
#[derive(Clone)]
pub(crate) struct Acceptor(pub(crate) TlsAcceptor);

impl fmt::Debug for Acceptor {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("Acceptor")
    }
}

impl TlsPem {
    /// The acceptor for these PEM texts, or a configuration error saying which part is wrong.
    pub(crate) fn acceptor(&self) -> Result<Acceptor, Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain = certificates(&self.cert_chain, "the TLS certificate (--tls-cert)")?;
        let key = PrivateKeyDer::from_pem_slice(&self.key).map_err(|error| {
            Error::Config(format!(
                "reading the TLS private key (--tls-key) failed: {error}"
            ))
        })?;
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|error| Error::Config(format!("setting up TLS failed: {error}")))?;
        let builder = match &self.client_ca {
            None => builder.with_no_client_auth(),
            Some(pem) => {
                let mut roots = RootCertStore::empty();
                for certificate in certificates(pem, "the client CA certificate (--tls-client-ca)")?
                {
                    roots.add(certificate).map_err(|error| {
                        Error::Config(format!(
                            "the client CA certificate (--tls-client-ca) is unusable: {error}"
                        ))
                    })?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .map_err(|error| {
                            Error::Config(format!(
                                "the client CA certificate (--tls-client-ca) is unusable: {error}"
                            ))
                        })?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_single_cert(chain, key).map_err(|error| {
            Error::Config(format!(
                "the TLS certificate (--tls-cert) does not fit its key (--tls-key): {error}"
            ))
        })?;
        // The emulator speaks HTTP/1.1 only.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Acceptor(TlsAcceptor::from(Arc::new(config))))
    }
}

fn certificates(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| Error::Config(format!("reading {what} failed: {error}")))?;
    if certificates.is_empty() {
        return Err(Error::Config(format!(
            "reading {what} failed: no PEM certificate in it"
        )));
    }
    Ok(certificates)
}
