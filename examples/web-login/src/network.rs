//! The example's network flags (each with its environment variable): a CA file, a client
//! certificate, the proxy — what a deployment inside a company network sets.

use std::path::PathBuf;

use servicenow::transport::{ClientIdentity, Proxy, ProxyUrl, TransportConfig};

/// Trust, client certificate and proxy for the requests to the instance.
#[derive(Debug, Default, clap::Args)]
pub struct NetworkArgs {
    /// A PEM file of CA certificates to trust besides the operating system's (a company's
    /// TLS-inspection CA, a private instance's CA). Default: SSL_CERT_FILE's.
    #[arg(long, env = "SN_CA_FILE", value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// A client certificate (PEM) for an instance that requires mutual TLS.
    #[arg(
        long,
        env = "SN_CLIENT_CERT",
        value_name = "FILE",
        requires = "client_key"
    )]
    pub client_cert: Option<PathBuf>,
    /// The private key (PEM) of --client-cert.
    #[arg(
        long,
        env = "SN_CLIENT_KEY",
        value_name = "FILE",
        requires = "client_cert"
    )]
    pub client_key: Option<PathBuf>,
    /// `system` (default: HTTPS_PROXY, bypassed for NO_PROXY), `none`, or http://host:port
    /// (credentials only through SN_PROXY, never a flag). Loopback never uses a proxy.
    #[arg(
        long,
        env = "SN_PROXY",
        value_name = "system|none|URL",
        hide_env_values = true
    )]
    pub proxy: Option<String>,
    /// Hosts that bypass an explicit --proxy (NO_PROXY syntax).
    #[arg(long, env = "NO_PROXY", value_name = "HOSTS")]
    pub no_proxy: Option<String>,
}

impl NetworkArgs {
    /// The transport configuration these flags describe.
    pub fn transport_config(&self) -> anyhow::Result<TransportConfig> {
        let ca_file = self.ca_file.clone().or_else(|| {
            std::env::var_os("SSL_CERT_FILE")
                .filter(|value| !value.is_empty())
                .map(PathBuf::from)
        });
        let client_identity = match (&self.client_cert, &self.client_key) {
            (Some(cert), Some(key)) => Some(ClientIdentity::from_pem_files(cert, key)),
            _ => None,
        };
        let proxy = match self.proxy.as_deref().map(str::trim) {
            None | Some("" | "system") => Proxy::System,
            Some("none") => Proxy::None,
            Some(url) => Proxy::Url(
                ProxyUrl::new(url)?.with_no_proxy(self.no_proxy.clone().unwrap_or_default()),
            ),
        };
        Ok(TransportConfig {
            ca_file,
            client_identity,
            proxy,
            ..TransportConfig::default()
        })
    }
}
