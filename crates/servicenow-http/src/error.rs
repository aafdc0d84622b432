//! `TransportError`: what went wrong while sending one request, classified for retry decisions.

use std::{error::Error as StdError, time::Duration};

/// A boxed error from the underlying client, kept as the `source` of a [`TransportError`].
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Which deadline a [`TransportError::Timeout`] ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutPhase {
    /// Establishing the TCP (and TLS) connection took too long: the request was never written.
    Connect,
    /// The whole exchange (connect, send, response head and body) took too long.
    Total,
    /// A streaming exchange made no progress (no upload piece sent, no response head, no
    /// download piece) for its idle timeout ([`StreamLimits`](crate::StreamLimits)).
    Idle,
}

impl std::fmt::Display for TimeoutPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Connect => "connect",
            Self::Total => "total",
            Self::Idle => "idle",
        })
    }
}

/// Why sending a request through an [`HttpTransport`](crate::HttpTransport) failed.
///
/// A response with any status code (including 3xx, 4xx and 5xx) is not an error of the transport:
/// it is returned as `Ok`. This type only describes failures to get a complete response at all.
///
/// The messages never contain request headers or bodies, so a bearer token cannot leak through
/// them; URLs are shown as their origin only.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The TCP connection could not be established; no byte of the request was written.
    #[error("sending request: connecting to {origin} failed")]
    Connect {
        /// The origin (`scheme://host:port`) the transport tried to reach.
        origin: String,
        /// Whether the peer actively refused the connection (`ECONNREFUSED`).
        refused: bool,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
    /// A deadline passed before the response was complete.
    #[error(
        "sending request: the {phase} deadline of {} ms passed before the response was complete",
        .after.as_millis()
    )]
    Timeout {
        /// Which deadline passed.
        phase: TimeoutPhase,
        /// The configured length of that deadline.
        after: Duration,
    },
    /// The response body was longer than the configured cap; reading stopped at the cap.
    #[error("reading response: body exceeds the limit of {limit} bytes")]
    BodyTooLarge {
        /// The configured cap, in bytes.
        limit: usize,
    },
    /// The TLS handshake failed (certificate, protocol or alert); the server never processed the
    /// request. The message says what went wrong and which setting fixes it.
    #[error("sending request: tls handshake with {origin} failed: {problem}")]
    Tls {
        /// The origin the transport tried to reach.
        origin: String,
        /// What went wrong, as far as the error tells.
        problem: TlsProblem,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
    /// The connection broke while the request or response was in flight (reset, truncated body).
    #[error("sending request: connection to {origin} broke mid-exchange")]
    Io {
        /// The origin the transport talked to.
        origin: String,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
    /// The URL is plain `http` to a host that is not loopback; refused before any connection.
    #[error(
        "sending request: refused insecure url {origin} (https is required except for loopback)"
    )]
    InsecureUrl {
        /// The origin that was refused.
        origin: String,
    },
    /// A setting of the transport cannot be used (a CA file that cannot be read, a client key
    /// that does not parse, a malformed proxy URL); the transport was not built.
    #[error("building transport: {problem} (setting: {setting})")]
    Configuration {
        /// What is wrong, naming the file or value (never a secret).
        problem: String,
        /// Where the setting is made: the `TransportConfig` field, and the flag and environment
        /// variable of the `sn` CLI and the web example.
        setting: &'static str,
    },
    /// The transport could not be built (for example, the TLS configuration was rejected).
    #[error("building transport failed")]
    Setup {
        /// The underlying error.
        #[source]
        source: BoxError,
    },
    /// The request itself is unusable (no scheme or host, unsupported scheme, bad header).
    #[error("sending request: invalid request: {reason}")]
    InvalidRequest {
        /// What is wrong with it.
        reason: String,
    },
}

/// Constructors for an adapter over another HTTP client: each takes the request's URI (only
/// its origin is kept, never its path or query) and the client's own error as the source.
///
/// ```
/// use std::time::Duration;
///
/// use servicenow_http::{TimeoutPhase, TransportError};
///
/// let uri: http::Uri = "https://dev1.service-now.com/oauth_token.do?token=secret".parse()?;
/// let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
/// let error = TransportError::connect_refused(&uri, refused);
/// assert!(error.is_connection_refused() && error.never_reached_server());
/// assert_eq!(error.to_string(), "sending request: connecting to https://dev1.service-now.com failed");
///
/// let error = TransportError::timeout(TimeoutPhase::Total, Duration::from_secs(30));
/// assert!(error.is_transient() && !error.never_reached_server());
/// # Ok::<(), http::uri::InvalidUri>(())
/// ```
impl TransportError {
    /// No connection could be made (DNS, unreachable, reset during connect); no byte was sent.
    pub fn connect(uri: &http::Uri, source: impl Into<BoxError>) -> Self {
        Self::Connect {
            origin: origin_for_message(uri),
            refused: false,
            source: source.into(),
        }
    }

    /// The peer refused the connection (`ECONNREFUSED`: nothing listens there).
    pub fn connect_refused(uri: &http::Uri, source: impl Into<BoxError>) -> Self {
        Self::Connect {
            origin: origin_for_message(uri),
            refused: true,
            source: source.into(),
        }
    }

    /// The deadline `phase`, of length `after`, passed: [`TimeoutPhase::Connect`] if the
    /// connection was never established (the request was not sent), [`TimeoutPhase::Total`]
    /// otherwise (the server may have acted on it).
    pub fn timeout(phase: TimeoutPhase, after: Duration) -> Self {
        Self::Timeout { phase, after }
    }

    /// The TLS handshake failed (an untrusted certificate, a protocol alert); `problem` says
    /// what went wrong and which setting fixes it ([`TlsProblem::Other`] when unknown).
    pub fn tls(uri: &http::Uri, problem: TlsProblem, source: impl Into<BoxError>) -> Self {
        Self::Tls {
            origin: origin_for_message(uri),
            problem,
            source: source.into(),
        }
    }

    /// The response body is longer than `limit` bytes; reading stopped there.
    pub fn body_too_large(limit: usize) -> Self {
        Self::BodyTooLarge { limit }
    }

    /// The connection broke once the request was under way (a reset, a truncated body).
    pub fn interrupted(uri: &http::Uri, source: impl Into<BoxError>) -> Self {
        Self::Io {
            origin: origin_for_message(uri),
            source: source.into(),
        }
    }

    /// Whether trying the same request again later may succeed: connect failures, timeouts and
    /// broken connections are transient; a refused URL, an invalid request, a TLS failure and an
    /// oversized body will fail the same way again.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Connect { .. } | Self::Timeout { .. } | Self::Io { .. } => true,
            Self::BodyTooLarge { .. }
            | Self::Tls { .. }
            | Self::InsecureUrl { .. }
            | Self::Configuration { .. }
            | Self::Setup { .. }
            | Self::InvalidRequest { .. } => false,
        }
    }

    /// Whether the request provably never reached the server, so that even a non-idempotent
    /// request (POST, PATCH) may be sent again without risk of applying it twice.
    ///
    /// True for failures before the request was written: a refused or failed connection, a
    /// connect timeout, a TLS handshake failure, a refused URL and an invalid request.
    pub fn never_reached_server(&self) -> bool {
        match self {
            Self::Connect { .. }
            | Self::Tls { .. }
            | Self::InsecureUrl { .. }
            | Self::Configuration { .. }
            | Self::Setup { .. }
            | Self::InvalidRequest { .. } => true,
            Self::Timeout { phase, .. } => *phase == TimeoutPhase::Connect,
            Self::BodyTooLarge { .. } | Self::Io { .. } => false,
        }
    }

    /// Whether the peer actively refused the TCP connection (nothing listens on that port).
    pub fn is_connection_refused(&self) -> bool {
        matches!(self, Self::Connect { refused: true, .. })
    }
}

/// What made a TLS handshake fail, each with the setting that fixes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsProblem {
    /// The server's certificate does not chain to a trusted certificate authority: typically a
    /// company network inspecting TLS with its own CA, or a private instance.
    UntrustedCertificate,
    /// The server's certificate has expired or is not valid yet.
    CertificateExpired,
    /// The server's certificate is not valid for the host name of the URL.
    WrongHostName,
    /// The server asks for a client certificate and none was configured.
    ClientCertificateRequired,
    /// The server refused the client certificate that was presented.
    ClientCertificateRejected,
    /// Something else (protocol versions, cipher suites, a broken certificate): see the source.
    Other,
}

impl std::fmt::Display for TlsProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::UntrustedCertificate => {
                "the server's certificate is signed by a certificate authority this client does \
                 not trust (unknown issuer); if your network inspects TLS with its own CA or the \
                 instance has a private CA, set a CA file (TransportConfig::ca_file; in sn and \
                 the web example --ca-file or SN_CA_FILE)"
            }
            Self::CertificateExpired => {
                "the server's certificate has expired or is not valid yet; check this machine's \
                 clock, or ask the server's owner to renew it"
            }
            Self::WrongHostName => {
                "the server's certificate is not valid for this host name; check the instance URL"
            }
            Self::ClientCertificateRequired => {
                "the server requires a client certificate and none was configured; set one \
                 (TransportConfig::client_identity; in sn and the web example --client-cert and \
                 --client-key, or SN_CLIENT_CERT and SN_CLIENT_KEY)"
            }
            Self::ClientCertificateRejected => {
                "the server refused the client certificate; check that it is signed by a CA the \
                 server accepts and has not expired (TransportConfig::client_identity)"
            }
            Self::Other => "see the cause for the TLS alert or error",
        })
    }
}

/// The TLS problem in `error`'s source chain, if any error there comes from rustls.
/// `has_identity`: whether a client certificate was configured (then a certificate alert from
/// the server is about it).
#[cfg(any(feature = "reqwest", feature = "hyper"))]
pub(crate) fn tls_problem(
    error: &(dyn StdError + 'static),
    has_identity: bool,
) -> Option<TlsProblem> {
    use rustls::{AlertDescription as Alert, CertificateError as Cert};
    let tls = error_chain(error)
        .into_iter()
        .find_map(|error| error.downcast_ref::<rustls::Error>())?;
    Some(match tls {
        rustls::Error::InvalidCertificate(Cert::UnknownIssuer) => TlsProblem::UntrustedCertificate,
        rustls::Error::InvalidCertificate(
            Cert::Expired
            | Cert::ExpiredContext { .. }
            | Cert::NotValidYet
            | Cert::NotValidYetContext { .. },
        ) => TlsProblem::CertificateExpired,
        rustls::Error::InvalidCertificate(
            Cert::NotValidForName | Cert::NotValidForNameContext { .. },
        ) => TlsProblem::WrongHostName,
        rustls::Error::AlertReceived(Alert::CertificateRequired) => {
            TlsProblem::ClientCertificateRequired
        }
        rustls::Error::AlertReceived(
            Alert::BadCertificate
            | Alert::UnknownCA
            | Alert::CertificateUnknown
            | Alert::CertificateExpired
            | Alert::CertificateRevoked
            | Alert::AccessDenied,
        ) => {
            if has_identity {
                TlsProblem::ClientCertificateRejected
            } else {
                TlsProblem::ClientCertificateRequired
            }
        }
        _ => TlsProblem::Other,
    })
}

/// The error of a failed exchange: a TLS failure during the connect (or a client-certificate
/// alert, which TLS 1.3 delivers after the client's side of the handshake, when the server has
/// processed nothing), a connect failure, or a connection broken mid-exchange.
#[cfg(any(feature = "reqwest", feature = "hyper"))]
pub(crate) fn failure(
    origin: String,
    is_connect: bool,
    refused: bool,
    problem: Option<TlsProblem>,
    source: BoxError,
) -> TransportError {
    match (is_connect, problem) {
        (true, Some(problem))
        | (
            false,
            Some(
                problem @ (TlsProblem::ClientCertificateRequired
                | TlsProblem::ClientCertificateRejected),
            ),
        ) => TransportError::Tls {
            origin,
            problem,
            source,
        },
        (true, _) => TransportError::Connect {
            origin,
            refused,
            source,
        },
        (false, _) => TransportError::Io { origin, source },
    }
}

/// `scheme://host[:port]` of `uri` for a message (never its path or query, where a token may
/// travel), or a placeholder for a URI without one.
fn origin_for_message(uri: &http::Uri) -> String {
    servicenow_oauth::origin_of(uri).unwrap_or_else(|| "a relative url".to_owned())
}

/// Every error in `error`'s source chain, looking inside `std::io::Error`s too (their
/// `source()` skips the error they wrap, which is where rustls and refused connections live).
#[cfg(any(feature = "reqwest", feature = "hyper"))]
pub(crate) fn error_chain<'a>(
    error: &'a (dyn StdError + 'static),
) -> Vec<&'a (dyn StdError + 'static)> {
    let mut chain = Vec::new();
    let mut current = Some(error);
    // Bounded: a source chain longer than this is not something a client library produces.
    while let Some(error) = current.filter(|_| chain.len() < 32) {
        chain.push(error);
        current = match error
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => error.source(),
        };
    }
    chain
}

/// Whether any error in `error`'s source chain is an I/O error of `kind`.
#[cfg(any(feature = "reqwest", feature = "hyper"))]
pub(crate) fn chain_has_io_kind(
    error: &(dyn StdError + 'static),
    kind: std::io::ErrorKind,
) -> bool {
    error_chain(error).into_iter().any(|error| {
        error
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == kind)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_failures_before_the_request_was_written_count_as_never_reached() {
        let refused = TransportError::Connect {
            origin: "http://127.0.0.1:1".into(),
            refused: true,
            source: "refused".into(),
        };
        let broken = TransportError::Io {
            origin: "http://127.0.0.1:1".into(),
            source: "reset".into(),
        };
        let total = TransportError::Timeout {
            phase: TimeoutPhase::Total,
            after: Duration::from_secs(1),
        };
        let connect = TransportError::Timeout {
            phase: TimeoutPhase::Connect,
            after: Duration::from_secs(1),
        };
        assert!(
            refused.never_reached_server()
                && refused.is_transient()
                && refused.is_connection_refused()
        );
        assert!(!broken.never_reached_server() && broken.is_transient());
        assert!(!total.never_reached_server() && total.is_transient());
        assert!(connect.never_reached_server());
        let too_large = TransportError::BodyTooLarge { limit: 10 };
        assert!(!too_large.is_transient() && !too_large.never_reached_server());
    }

    #[test]
    fn constructors_keep_the_origin_only_and_classify_like_the_built_in_transports() {
        let uri: http::Uri = "http://127.0.0.1:9/api/now/table/incident?sysparm_query=secret"
            .parse()
            .unwrap();
        let cases = [
            (
                TransportError::connect(&uri, "unreachable"),
                true,
                true,
                false,
            ),
            (
                TransportError::connect_refused(&uri, "refused"),
                true,
                true,
                true,
            ),
            (
                TransportError::tls(&uri, TlsProblem::UntrustedCertificate, "unknown issuer"),
                false,
                true,
                false,
            ),
            (
                TransportError::interrupted(&uri, "reset"),
                true,
                false,
                false,
            ),
        ];
        for (error, transient, never_reached, refused) in cases {
            let message = error.to_string();
            assert!(message.contains("http://127.0.0.1:9"), "{message}");
            assert!(
                !message.contains("secret") && !message.contains("/api"),
                "{message}"
            );
            assert_eq!(
                (
                    error.is_transient(),
                    error.never_reached_server(),
                    error.is_connection_refused()
                ),
                (transient, never_reached, refused),
                "{message}"
            );
        }
        let relative: http::Uri = "/oauth_token.do".parse().unwrap();
        assert_eq!(
            TransportError::connect(&relative, "no host").to_string(),
            "sending request: connecting to a relative url failed"
        );
        assert!(matches!(
            TransportError::body_too_large(5),
            TransportError::BodyTooLarge { limit: 5 }
        ));
    }

    #[test]
    fn messages_are_lowercase_and_name_the_operation() {
        let error = TransportError::InsecureUrl {
            origin: "http://example.invalid".into(),
        };
        assert_eq!(
            error.to_string(),
            "sending request: refused insecure url http://example.invalid (https is required except for loopback)"
        );
        let error = TransportError::BodyTooLarge { limit: 64 };
        assert_eq!(
            error.to_string(),
            "reading response: body exceeds the limit of 64 bytes"
        );
        let error = TransportError::Timeout {
            phase: TimeoutPhase::Connect,
            after: Duration::from_millis(1500),
        };
        assert_eq!(
            error.to_string(),
            "sending request: the connect deadline of 1500 ms passed before the response was complete"
        );
    }
}
