//! HTTP transports for talking to a ServiceNow instance: the `HttpTransport` trait and hardened adapters.
//!
//! This crate does not know about tokens, OAuth or the Table API: it moves one
//! `http::Request<Bytes>` to a server and brings back one `http::Response<Bytes>`.
//! The layers above (the table client, the token manager) are written against the
//! [`HttpTransport`] trait only, so an integrator can bring their own transport: a corporate
//! proxy client, a recording transport, a test double.
//!
//! The built-in transports are hardened by default:
//!
//! - **redirects are never followed**: a 3xx comes back as a response, so a bearer token is
//!   never replayed to wherever a `Location` header points;
//! - the **response body is capped** ([`TransportConfig::max_response_body`]; a smaller preset,
//!   [`TransportConfig::for_token_endpoint`], for token endpoints);
//! - **connect and total timeouts**, so a server that never answers cannot hang a caller;
//! - **`https` only**, except `http` to loopback (`127.0.0.0/8`, `::1`, `localhost`) for local
//!   emulators; any other `http` URL is refused before a connection is opened.
//!
//! They live in the network [`TransportConfig`] describes, the same for both:
//!
//! - **trust**: the operating system's trust store by default ([`Roots::System`], where a
//!   company installs the CA it inspects TLS with), plus the CA certificates of a PEM file
//!   ([`TransportConfig::ca_file`]), or the bundled web PKI roots as an explicit choice
//!   ([`Roots::WebPki`]);
//! - **client identity**: a client certificate and key for mutual TLS ([`ClientIdentity`]);
//! - **proxy**: explicit ([`Proxy::None`], [`Proxy::System`] — `HTTPS_PROXY` and `NO_PROXY`,
//!   the default — or [`Proxy::Url`]), as a `CONNECT` tunnel; loopback hosts never go through a
//!   proxy; proxy passwords are a secret type ([`ProxyPassword`]).
//!
//! A TLS failure says what went wrong and which setting fixes it ([`TlsProblem`]): an unknown
//! issuer names the CA file, a server asking for a client certificate names the client identity.
//!
//! | Feature | Transport |
//! |---|---|
//! | `reqwest` (default) | [`ReqwestTransport`]: reqwest 0.12 with rustls (ring) |
//! | `hyper` | [`HyperTransport`]: hyper 1, hyper-util's client, hyper-rustls (ring) |
//! | `blocking` | [`BlockingTransport`]: your blocking client's send function, on Tokio's blocking pool |
//! | `machine` | [`machine`]: drive `servicenow-auth`'s machine through any transport |
//!
//! # Bringing your own transport
//!
//! Any `Send + Sync` type implementing [`HttpTransport`] works wherever a transport is taken,
//! including as `Arc<dyn HttpTransport>`. The trait is declared with `#[async_trait]`, so an
//! implementation carries [`#[async_trait]`](macro@async_trait) too; this crate re-exports it,
//! with the [`http`] and [`bytes`] crates its signature names, so a transport needs no other
//! dependency. This one logs the method and path of every request it forwards (never the
//! query, the headers or the body, where tokens and secrets travel):
//!
//! ```
//! use std::sync::{Arc, Mutex};
//!
//! use servicenow_http::{HttpTransport, TransportError, async_trait, bytes::Bytes, http};
//!
//! /// Forwards to an inner transport and keeps the method and path of every request.
//! struct RecordingTransport {
//!     inner: Arc<dyn HttpTransport>,
//!     seen: Mutex<Vec<String>>,
//! }
//!
//! #[async_trait]
//! impl HttpTransport for RecordingTransport {
//!     async fn send(&self, request: http::Request<Bytes>) -> Result<http::Response<Bytes>, TransportError> {
//!         let line = format!("{} {}", request.method(), request.uri().path());
//!         self.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(line);
//!         self.inner.send(request).await
//!     }
//! }
//!
//! /// A stand-in server for the example: answers every request with `204 No Content`.
//! struct NoContent;
//!
//! #[async_trait]
//! impl HttpTransport for NoContent {
//!     async fn send(&self, _request: http::Request<Bytes>) -> Result<http::Response<Bytes>, TransportError> {
//!         Ok(http::Response::builder().status(204).body(Bytes::new()).expect("static response"))
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let runtime = tokio::runtime::Builder::new_current_thread().build()?;
//! # runtime.block_on(async {
//! let recorder = Arc::new(RecordingTransport { inner: Arc::new(NoContent), seen: Mutex::default() });
//! let transport: Arc<dyn HttpTransport> = recorder.clone();
//! let uri = "https://dev1.service-now.com/oauth_revoke_token.do?token=secret";
//! let response = transport.send(http::Request::get(uri).body(Bytes::new())?).await?;
//! assert_eq!(response.status(), 204);
//! assert_eq!(recorder.seen.lock().unwrap_or_else(|p| p.into_inner()).as_slice(), ["GET /oauth_revoke_token.do"]);
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # })
//! # }
//! ```
//!
//! An adapter for another client maps that client's failures with the [`TransportError`]
//! constructors ([`TransportError::connect_refused`], [`TransportError::timeout`],
//! [`TransportError::tls`], [`TransportError::body_too_large`], …). A blocking client is wrapped
//! by [`BlockingTransport`] (feature `blocking`), which runs it on Tokio's blocking pool.
//! `examples/custom-transport` and `examples/blocking-driver` in the repository are whole
//! programs doing each.
//!
//! # Streaming bodies
//!
//! [`HttpTransport::send`] keeps whole bodies in memory: right for JSON, wrong for a 200 MB
//! attachment. [`HttpTransport::send_streaming`] sends a [`RequestBody`] piece by piece and
//! returns the response body as a [`ResponseBody`] stream, under [`StreamLimits`] the caller
//! sets (a size limit and an idle timeout instead of the total deadline). Both built-in
//! transports stream both ways in constant memory. It is a provided method: a custom transport
//! (and [`BlockingTransport`]) that does not override it gets a buffered fallback that still
//! applies the size limit. A [`RequestBody`] says whether it can be sent twice
//! ([`RequestBody::try_clone`]): bytes and reopenable sources can, a one-shot stream cannot,
//! which is what a layer that retries after a 401 needs to know.
//!
//! A custom transport should apply the same hardening; [`check_url`] and [`TransportConfig`] are
//! public so it can.
//!
//! # Layers over a transport
//!
//! A REST client (the Table API client of `servicenow-table`) is written against
//! [`RequestSender`], which every `HttpTransport` implements with [`TransportError`] as its
//! error. A layer that adds credentials implements `RequestSender` itself, with its own error
//! type (a [`SenderError`]): its failures (no credential, a request for another origin) stay
//! typed all the way to the caller, and [`SenderError::as_transport`] gives the client the
//! transport failure inside, if any, for its retry decisions.

#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "blocking")]
mod blocking;
mod error;
#[cfg(feature = "hyper")]
mod hyper_transport;
#[cfg(any(feature = "reqwest", feature = "hyper"))]
mod idle;
#[cfg(feature = "machine")]
#[cfg_attr(docsrs, doc(cfg(feature = "machine")))]
pub mod machine;
mod policy;
mod proxy;
#[cfg(feature = "reqwest")]
mod reqwest_transport;
mod sender;
mod streaming;
mod transport;
mod trust;

/// The attribute every [`HttpTransport`] implementation carries (the trait is declared with it).
pub use async_trait::async_trait;
/// The `bytes` crate: [`Bytes`](bytes::Bytes) is the body of every request and response.
pub use bytes;
/// The `http` crate, whose `Request` and `Response` the transport moves.
pub use http;

#[cfg(feature = "blocking")]
#[cfg_attr(docsrs, doc(cfg(feature = "blocking")))]
pub use crate::blocking::BlockingTransport;

#[cfg(feature = "hyper")]
#[cfg_attr(docsrs, doc(cfg(feature = "hyper")))]
pub use crate::hyper_transport::{HyperBody, HyperClient, HyperTransport};
#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub use crate::reqwest_transport::ReqwestTransport;
pub use crate::{
    error::{BoxError, TimeoutPhase, TlsProblem, TransportError},
    policy::{TransportConfig, check_url},
    proxy::{Proxy, ProxyCredentials, ProxyPassword, ProxyUrl},
    sender::{RequestSender, SenderError},
    streaming::{ByteStream, RequestBody, ResponseBody, StreamLimits},
    transport::HttpTransport,
    trust::{ClientIdentity, Roots},
};
