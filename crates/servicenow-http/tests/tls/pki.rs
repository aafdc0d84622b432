//! A throwaway certificate authority made with rcgen for each test: a server certificate for the
//! loopback names and `sn.example.test`, and client certificates for mutual TLS.

use std::path::PathBuf;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

/// The non-loopback name the server certificate also covers; only the test proxy knows where it
/// lives (it resolves nowhere else), so a request for it succeeds only through the proxy.
pub(crate) const PROXIED_HOST: &str = "sn.example.test";

/// A CA, its certificate as PEM, and the key that signs with it.
pub(crate) struct Authority {
    certificate: rcgen::Certificate,
    key: KeyPair,
}

/// A certificate and its key, both PEM, as a server or client presents them.
pub(crate) struct Issued {
    pub(crate) cert_pem: String,
    pub(crate) key_pem: String,
}

impl Authority {
    pub(crate) fn new(name: &str) -> Self {
        let key = KeyPair::generate().expect("generate a CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let certificate = params.self_signed(&key).expect("self-sign the CA");
        Self { certificate, key }
    }

    pub(crate) fn cert_pem(&self) -> String {
        self.certificate.pem()
    }

    /// A server certificate for `localhost`, `127.0.0.1` and [`PROXIED_HOST`].
    pub(crate) fn server(&self) -> Issued {
        self.issue(
            &["localhost", "127.0.0.1", PROXIED_HOST],
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    /// A client certificate for mutual TLS.
    pub(crate) fn client(&self, name: &str) -> Issued {
        self.issue(&[name], ExtendedKeyUsagePurpose::ClientAuth)
    }

    fn issue(&self, names: &[&str], usage: ExtendedKeyUsagePurpose) -> Issued {
        let key = KeyPair::generate().expect("generate a leaf key");
        let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("leaf params");
        params.extended_key_usages = vec![usage];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let certificate = params
            .signed_by(&key, &self.certificate, &self.key)
            .expect("sign the leaf");
        Issued {
            cert_pem: certificate.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

/// Files in a temporary directory that lives as long as the value.
pub(crate) struct Files {
    directory: tempfile::TempDir,
}

impl Files {
    pub(crate) fn new() -> Self {
        Self {
            directory: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    pub(crate) fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.directory.path().join(name);
        std::fs::write(&path, contents).expect("write a PEM file");
        path
    }
}
