//! The hyper server: accept loop, per-connection tasks that a test can drop all at once, and
//! the router from paths to handlers.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Limited};
use hyper::{server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use parking_lot::{Mutex, RwLock};
use tokio::{net::TcpListener, sync::watch, task::JoinSet};

use crate::{
    EmulatorClock, Settings, aggregate, batch,
    counters::Counters,
    data::Database,
    faults::FaultState,
    oauth::{OAuthState, authorize, revoke, token},
    rate_limit::RateLimitState,
    table::{self, QueryCache},
    wire::{self, HandlerResult},
};

/// Request bodies larger than this are refused with 413.
const MAX_REQUEST_BODY: usize = 16 * 1024 * 1024;

/// Everything the handlers share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) seed: u64,
    pub(crate) base_url: String,
    pub(crate) public_url: Option<String>,
    pub(crate) clock: EmulatorClock,
    pub(crate) counters: Counters,
    pub(crate) settings: RwLock<Settings>,
    pub(crate) oauth: Mutex<OAuthState>,
    pub(crate) database: RwLock<Database>,
    pub(crate) faults: Mutex<FaultState>,
    pub(crate) rate_limits: Mutex<RateLimitState>,
    pub(crate) query_cache: Mutex<QueryCache>,
    /// The content of uploaded attachments.
    pub(crate) attachments: crate::attachment::AttachmentStore,
    /// The cost model's nodes and sessions, when one is configured.
    pub(crate) cost: Option<crate::cost::CostState>,
    /// Bumped to make every open connection close.
    pub(crate) connection_epoch: watch::Sender<u64>,
    /// Set when the emulator serves HTTPS (`--tls-cert`/`--tls-key`).
    pub(crate) tls: Option<crate::tls::Acceptor>,
}

impl Shared {
    /// The origin written into `Link` and `Location` headers.
    pub(crate) fn link_origin(&self) -> String {
        let settings = self.settings.read();
        let origin = settings
            .link_origin_override
            .as_deref()
            .or(self.public_url.as_deref())
            .unwrap_or(&self.base_url);
        origin.trim_end_matches('/').to_owned()
    }

    pub(crate) fn drop_connections(&self) {
        self.connection_epoch.send_modify(|epoch| *epoch += 1);
    }
}

/// A request with its body read.
#[derive(Debug, Clone)]
pub(crate) struct Incoming {
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// A running accept loop.
#[derive(Debug)]
pub(crate) struct ServerTask {
    stop: watch::Sender<bool>,
    join: tokio::task::JoinHandle<()>,
}

impl ServerTask {
    pub(crate) async fn bind(address: SocketAddr) -> Result<TcpListener, crate::Error> {
        TcpListener::bind(address)
            .await
            .map_err(|source| crate::Error::Bind { address, source })
    }

    pub(crate) fn spawn(listener: TcpListener, shared: Arc<Shared>) -> Self {
        let (stop, stop_receiver) = watch::channel(false);
        let join = tokio::spawn(accept_loop(listener, shared, stop_receiver));
        Self { stop, join }
    }

    /// Stops accepting, closes every connection and waits for their tasks.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.join.await;
    }

    /// Asks the loop to stop without waiting (for `Drop`).
    pub(crate) fn signal_stop(&self) {
        let _ = self.stop.send(true);
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    shared.counters.bump(|counters| &mut counters.connections_accepted);
                    let _ = stream.set_nodelay(true);
                    connections.spawn(serve_connection(stream, Arc::clone(&shared)));
                }
                Err(error) => {
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => (),
        }
    }
    drop(listener);
    shared.drop_connections();
    while connections.join_next().await.is_some() {}
}

async fn serve_connection(stream: tokio::net::TcpStream, shared: Arc<Shared>) {
    match shared.tls.clone() {
        None => serve_http(stream, shared).await,
        Some(crate::tls::Acceptor(acceptor)) => {
            let handshake =
                tokio::time::timeout(crate::tls::HANDSHAKE_TIMEOUT, acceptor.accept(stream));
            match handshake.await {
                Ok(Ok(stream)) => serve_http(stream, shared).await,
                Ok(Err(error)) => tracing::debug!(%error, "tls handshake failed"),
                Err(_elapsed) => tracing::debug!("tls handshake timed out"),
            }
        }
    }
}

async fn serve_http<Io>(stream: Io, shared: Arc<Shared>)
where
    Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut epoch = shared.connection_epoch.subscribe();
    let service_shared = Arc::clone(&shared);
    let service = service_fn(move |request| route(Arc::clone(&service_shared), request));
    let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        result = connection => {
            if let Err(error) = result {
                tracing::debug!(%error, "connection ended with an error");
            }
        }
        _ = epoch.changed() => tracing::debug!("connection dropped on request"),
    }
}

async fn route(shared: Arc<Shared>, request: Request<hyper::body::Incoming>) -> HandlerResult {
    let (parts, body) = request.into_parts();
    if crate::attachment::is_attachment_path(parts.uri.path()) {
        // Uploads stream their body to storage, so it is not read here.
        let response = crate::attachment::handle(&shared, parts, body).await?;
        return Ok(with_server_header(response));
    }
    let body = match Limited::new(body, MAX_REQUEST_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return Ok(wire::error_envelope(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request body too large",
                None,
            ));
        }
    };
    let incoming = Incoming {
        method: parts.method,
        uri: parts.uri,
        headers: parts.headers,
        body,
    };
    let response = match (incoming.uri.path(), &incoming.method) {
        ("/oauth_auth.do", &Method::GET) => authorize::show(&shared, &incoming),
        ("/oauth_auth.do", &Method::POST) => authorize::decide(&shared, &incoming),
        ("/login.do", &Method::POST) => authorize::login(&shared, &incoming),
        ("/oauth_token.do", _) => token::handle(&shared, &incoming),
        ("/oauth_revoke_token.do" | "/oauth_revoke.do", _) => revoke::handle(&shared, &incoming),
        ("/", &Method::GET) => authorize::home(&shared, &incoming),
        (path, _) if aggregate::is_stats_path(path) => aggregate::serve(&shared, &incoming).await?,
        (path, _) if batch::is_batch_path(path) => batch::handle(&shared, &incoming).await?,
        (path, _) if path.starts_with("/api/") => table::handle(&shared, &incoming).await?,
        ("/oauth_auth.do" | "/login.do" | "/", _) => wire::response(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain;charset=UTF-8",
            "Method not allowed\n",
        ),
        _ => wire::response(
            StatusCode::NOT_FOUND,
            "text/plain;charset=UTF-8",
            "Not found\n",
        ),
    };
    Ok(with_server_header(response))
}

fn with_server_header(mut response: Response<wire::Body>) -> Response<wire::Body> {
    response
        .headers_mut()
        .insert(http::header::SERVER, HeaderValue::from_static("ServiceNow"));
    response
}
