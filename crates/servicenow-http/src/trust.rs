//! Whom the built-in transports trust and who they are: the root certificates ([`Roots`], plus a
//! CA file), the client certificate for mutual TLS ([`ClientIdentity`]), and the one rustls
//! client configuration both transports build from them.

use std::path::PathBuf;

/// The certificate authorities a server's certificate may chain to.
///
/// Whatever is chosen, the CA certificates of [`TransportConfig::ca_file`](crate::TransportConfig::ca_file)
/// are trusted as well.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Roots {
    /// The operating system's trust store (the default): where a company installs the CA its
    /// network inspects TLS with. Through `rustls-platform-verifier`: the OS verifier on macOS
    /// and Windows (with the OS's constraints and revocation checks); the system CA bundle on
    /// Linux, where `SSL_CERT_FILE` and `SSL_CERT_DIR` replace the bundle's location.
    #[default]
    System,
    /// The Mozilla roots bundled into the program (`webpki-roots`): the same trust on every
    /// machine, whatever its OS store says; a company's own CA must then come from the CA file.
    WebPki,
    /// Only the CA certificates of [`TransportConfig::ca_file`](crate::TransportConfig::ca_file)
    /// (pinning a private CA); building the transport fails without a CA file.
    CaFileOnly,
}

/// A client certificate and its private key, both PEM files, presented to servers that ask for
/// one (mutual TLS).
///
/// The files are read when the transport is built; the key's PEM text is wiped from this
/// program's memory once rustls has parsed it (what rustls keeps is rustls's to manage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// The certificate chain, leaf first (PEM).
    pub cert_file: PathBuf,
    /// The leaf's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
}

impl ClientIdentity {
    /// The certificate chain in `cert_file` with the key in `key_file`.
    pub fn from_pem_files(cert_file: impl Into<PathBuf>, key_file: impl Into<PathBuf>) -> Self {
        Self {
            cert_file: cert_file.into(),
            key_file: key_file.into(),
        }
    }
}

/// Where each trust setting is set, named in the errors that a setting fixes (only the
/// built-in transports build a TLS configuration, so only they name them).
#[cfg(any(feature = "reqwest", feature = "hyper"))]
pub(crate) mod setting {
    /// The extra CA certificates.
    pub(crate) const CA_FILE: &str =
        "TransportConfig::ca_file; in sn and the web example --ca-file or SN_CA_FILE";
    /// The client certificate and key.
    pub(crate) const CLIENT_IDENTITY: &str = "TransportConfig::client_identity; in sn and the web example --client-cert/--client-key or SN_CLIENT_CERT/SN_CLIENT_KEY";
    /// The root certificates.
    pub(crate) const ROOTS: &str = "TransportConfig::roots; in sn --roots";
}

#[cfg(any(feature = "reqwest", feature = "hyper"))]
pub(crate) use build::client_config;

#[cfg(any(feature = "reqwest", feature = "hyper"))]
mod build {
    use std::{path::Path, sync::Arc};

    use rustls::{
        ClientConfig, RootCertStore,
        pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    };
    use zeroize::Zeroizing;

    use super::{ClientIdentity, Roots, setting};
    use crate::{TransportConfig, TransportError};

    /// The rustls client configuration of `config`: its roots plus its CA file, its client
    /// identity, ring as the crypto provider, and `alpn` as the protocols offered.
    pub(crate) fn client_config(
        config: &TransportConfig,
        alpn: &[&[u8]],
    ) -> Result<ClientConfig, TransportError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let extra = match &config.ca_file {
            Some(path) => read_certificates(path, "CA file", setting::CA_FILE)?,
            None => Vec::new(),
        };
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|source| TransportError::Setup {
                source: Box::new(source),
            })?;
        let builder = match config.roots {
            Roots::System => {
                let verifier =
                    rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider)
                        .map_err(|error| TransportError::Configuration {
                            problem: format!(
                                "the operating system's trust store could not be used ({error}); \
                                 install the system CA bundle, add a CA file, or choose the \
                                 bundled web PKI roots"
                            ),
                            setting: setting::ROOTS,
                        })?;
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(verifier))
            }
            Roots::WebPki => {
                let mut roots = RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                };
                add_all(&mut roots, extra)?;
                builder.with_root_certificates(roots)
            }
            Roots::CaFileOnly => {
                if extra.is_empty() {
                    return Err(TransportError::Configuration {
                        problem: "trusting only the CA file needs a CA file".to_owned(),
                        setting: setting::CA_FILE,
                    });
                }
                let mut roots = RootCertStore::empty();
                add_all(&mut roots, extra)?;
                builder.with_root_certificates(roots)
            }
        };
        let mut tls = match &config.client_identity {
            None => builder.with_no_client_auth(),
            Some(identity) => {
                let (chain, key) = read_identity(identity)?;
                builder.with_client_auth_cert(chain, key).map_err(|error| {
                    TransportError::Configuration {
                        problem: format!(
                            "the client certificate {} does not fit its key {}: {error}",
                            identity.cert_file.display(),
                            identity.key_file.display()
                        ),
                        setting: setting::CLIENT_IDENTITY,
                    }
                })?
            }
        };
        tls.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
        Ok(tls)
    }

    fn add_all(
        roots: &mut RootCertStore,
        certificates: Vec<CertificateDer<'static>>,
    ) -> Result<(), TransportError> {
        for certificate in certificates {
            roots
                .add(certificate)
                .map_err(|error| TransportError::Configuration {
                    problem: format!("a certificate of the CA file is unusable: {error}"),
                    setting: setting::CA_FILE,
                })?;
        }
        Ok(())
    }

    fn read_certificates(
        path: &Path,
        what: &str,
        setting: &'static str,
    ) -> Result<Vec<CertificateDer<'static>>, TransportError> {
        let pem = std::fs::read(path).map_err(|error| TransportError::Configuration {
            problem: format!("reading the {what} {} failed: {error}", path.display()),
            setting,
        })?;
        let certificates = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| TransportError::Configuration {
                problem: format!("the {what} {} is not valid PEM: {error}", path.display()),
                setting,
            })?;
        if certificates.is_empty() {
            return Err(TransportError::Configuration {
                problem: format!(
                    "the {what} {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                    path.display()
                ),
                setting,
            });
        }
        Ok(certificates)
    }

    fn read_identity(
        identity: &ClientIdentity,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TransportError> {
        let chain = read_certificates(
            &identity.cert_file,
            "client certificate",
            setting::CLIENT_IDENTITY,
        )?;
        let path = &identity.key_file;
        let pem =
            Zeroizing::new(
                std::fs::read(path).map_err(|error| TransportError::Configuration {
                    problem: format!("reading the client key {} failed: {error}", path.display()),
                    setting: setting::CLIENT_IDENTITY,
                })?,
            );
        // The parse error names the PEM section, never the key's bytes.
        let key =
            PrivateKeyDer::from_pem_slice(&pem).map_err(|error| TransportError::Configuration {
                problem: format!(
                    "the client key {} holds no usable PEM private key: {error}",
                    path.display()
                ),
                setting: setting::CLIENT_IDENTITY,
            })?;
        Ok((chain, key))
    }
}
