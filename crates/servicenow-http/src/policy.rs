//! The configuration of the built-in transports: the hardening every one applies (URL policy,
//! body cap, timeouts, no redirects) and the network they live in (trust, client identity, proxy).

use std::{path::PathBuf, time::Duration};

use http::Uri;
use servicenow_oauth::is_loopback_host;

use crate::{ClientIdentity, Proxy, Roots, TransportError};

/// Limits, deadlines, trust and network of a built-in transport.
///
/// The defaults suit Table API traffic; [`TransportConfig::for_token_endpoint`] is the stricter
/// preset for an OAuth token endpoint, whose responses are a few hundred bytes. The hardening
/// (redirects never followed, the body cap, both deadlines, `https` except loopback) holds in
/// every combination of the trust and proxy settings.
///
/// ```
/// use servicenow_http::{ClientIdentity, Proxy, ProxyUrl, Roots, TransportConfig};
///
/// // Inside a company network: the OS trust store plus the company's inspection CA, a client
/// // certificate, and an explicit proxy that internal hosts bypass.
/// let config = TransportConfig {
///     roots: Roots::System,
///     ca_file: Some("/etc/company/inspection-ca.pem".into()),
///     client_identity: Some(ClientIdentity::from_pem_files("me.pem", "me.key")),
///     proxy: Proxy::Url(ProxyUrl::new("http://proxy.corp:3128")?.with_no_proxy("corp.internal")),
///     ..TransportConfig::default()
/// };
/// # let _ = config;
/// # Ok::<_, servicenow_http::TransportError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportConfig {
    /// The largest response body accepted, in bytes; a longer body fails with
    /// [`TransportError::BodyTooLarge`].
    pub max_response_body: usize,
    /// How long establishing a connection (TCP and TLS) may take.
    pub connect_timeout: Duration,
    /// How long the whole exchange may take, from sending to the last byte of the body.
    pub total_timeout: Duration,
    /// The certificate authorities servers are checked against (default: the operating
    /// system's trust store).
    pub roots: Roots,
    /// A PEM file of extra CA certificates to trust besides [`roots`](Self::roots): the CA a
    /// company inspects TLS with, or a private instance's CA. Read when the transport is built.
    pub ca_file: Option<PathBuf>,
    /// The client certificate and key presented to servers that ask for one (mutual TLS).
    pub client_identity: Option<ClientIdentity>,
    /// The proxy HTTPS requests go through (default: the environment's, [`Proxy::System`]);
    /// loopback hosts never go through one.
    pub proxy: Proxy,
}

impl TransportConfig {
    /// Default response body cap: 64 MiB, enough for a Table API page of a few thousand wide rows.
    pub const DEFAULT_MAX_RESPONSE_BODY: usize = 64 * 1024 * 1024;
    /// Response body cap for token endpoints: 64 KiB.
    pub const TOKEN_ENDPOINT_MAX_RESPONSE_BODY: usize = 64 * 1024;

    /// The preset for an OAuth token endpoint: a 64 KiB body cap and a 30 s total deadline.
    pub fn for_token_endpoint() -> Self {
        Self::default().with_token_endpoint_limits()
    }

    /// This configuration (its trust, client identity and proxy) with the token endpoint's
    /// limits: the body cap lowered to 64 KiB and the total deadline to 30 s, if they were
    /// higher.
    #[must_use]
    pub fn with_token_endpoint_limits(mut self) -> Self {
        self.max_response_body = self
            .max_response_body
            .min(Self::TOKEN_ENDPOINT_MAX_RESPONSE_BODY);
        self.total_timeout = self.total_timeout.min(Duration::from_secs(30));
        self
    }
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            max_response_body: Self::DEFAULT_MAX_RESPONSE_BODY,
            connect_timeout: Duration::from_secs(10),
            total_timeout: Duration::from_secs(120),
            roots: Roots::default(),
            ca_file: None,
            client_identity: None,
            proxy: Proxy::default(),
        }
    }
}

/// Checks that `uri` may be sent to: `https`, or `http` to a loopback host (`127.0.0.0/8`, `::1`,
/// `localhost`: [`servicenow_oauth::is_loopback_host`], the workspace's one loopback rule).
/// Returns the origin (`scheme://authority`) for error messages.
///
/// Call it before anything touches the network; the built-in transports do.
pub fn check_url(uri: &Uri) -> Result<String, TransportError> {
    let Some(scheme) = uri.scheme_str() else {
        return Err(TransportError::InvalidRequest {
            reason: "the url has no scheme".into(),
        });
    };
    let Some(authority) = uri.authority() else {
        return Err(TransportError::InvalidRequest {
            reason: "the url has no host".into(),
        });
    };
    let scheme = scheme.to_ascii_lowercase();
    let origin = format!(
        "{scheme}://{}",
        authority.as_str().rsplit('@').next().unwrap_or_default()
    );
    if authority.as_str().contains('@') {
        return Err(TransportError::InvalidRequest {
            reason: "the url carries user information".into(),
        });
    }
    match scheme.as_str() {
        "https" => Ok(origin),
        "http" if is_loopback_host(authority.host()) => Ok(origin),
        "http" => Err(TransportError::InsecureUrl { origin }),
        _ => Err(TransportError::InvalidRequest {
            reason: format!("unsupported url scheme {scheme}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(url: &str) -> Result<String, String> {
        let uri: Uri = url.parse().map_err(|_| "unparsable".to_owned())?;
        check_url(&uri).map_err(|error| match error {
            TransportError::InsecureUrl { .. } => "insecure".to_owned(),
            other => format!("invalid: {other}"),
        })
    }

    #[test]
    fn https_is_always_allowed_and_http_only_to_loopback() {
        assert_eq!(
            verdict("https://dev1.service-now.com/api"),
            Ok("https://dev1.service-now.com".into())
        );
        assert_eq!(
            verdict("http://127.0.0.1:8080/x"),
            Ok("http://127.0.0.1:8080".into())
        );
        assert_eq!(verdict("http://127.9.9.9/x"), Ok("http://127.9.9.9".into()));
        assert_eq!(
            verdict("http://[::1]:3000/"),
            Ok("http://[::1]:3000".into())
        );
        assert_eq!(
            verdict("HTTP://LocalHost:1/"),
            Ok("http://LocalHost:1".into())
        );
        assert_eq!(
            verdict("http://dev1.service-now.com/"),
            Err("insecure".into())
        );
        assert_eq!(verdict("http://10.0.0.1/"), Err("insecure".into()));
        assert_eq!(
            verdict("http://localhost.example.invalid/"),
            Err("insecure".into())
        );
        assert_eq!(verdict("http://128.0.0.1/"), Err("insecure".into()));
        assert_eq!(verdict("http://[::2]/"), Err("insecure".into()));
    }

    #[test]
    fn urls_without_a_host_or_with_other_schemes_or_credentials_are_invalid() {
        assert!(verdict("/relative/path").is_err_and(|reason| reason.starts_with("invalid")));
        assert!(
            verdict("ftp://example.invalid/").is_err_and(|reason| reason.starts_with("invalid"))
        );
        assert!(
            verdict("https://user:pw@example.invalid/")
                .is_err_and(|reason| reason.contains("user"))
        );
    }
}
