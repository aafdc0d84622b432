//! Streaming bodies: `RequestBody` (an upload, replayable or one-shot), `ResponseBody` (a
//! download, read piece by piece) and the `StreamLimits` a streaming exchange runs under.

use std::{
    fmt,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt as _};

use crate::TransportError;

/// The pieces of an upload, as they are read (from a file, a socket, a generator).
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// Makes a fresh [`ByteStream`] of the same bytes each time it is called.
type Replay = Arc<dyn Fn() -> ByteStream + Send + Sync>;

/// The body of a streamed request (an upload).
///
/// A body is **replayable** when the same bytes can be produced again from the start: one built
/// from [`Bytes`] ([`from_bytes`](Self::from_bytes)) or from a function that reopens its source
/// ([`replayable`](Self::replayable): a file path, reopened for each attempt). A body built from
/// a stream that can be read once ([`once`](Self::once): an `AsyncRead`, a socket) is not.
/// Whoever may need to send a request twice (the authorizing layer after a 401) asks
/// [`try_clone`](Self::try_clone) and gets `None` for a one-shot body.
///
/// ```
/// use servicenow_http::{RequestBody, bytes::Bytes};
///
/// let bytes = RequestBody::from_bytes(Bytes::from_static(b"log line\n"));
/// assert!(bytes.is_replayable());
/// assert_eq!(bytes.length(), Some(9));
///
/// let pieces = futures_util::stream::iter([Ok(Bytes::from_static(b"once"))]);
/// let once = RequestBody::once(Some(4), Box::pin(pieces));
/// assert!(once.try_clone().is_none(), "a one-shot stream cannot be sent twice");
/// ```
pub struct RequestBody {
    source: Source,
    length: Option<u64>,
}

enum Source {
    Bytes(Bytes),
    Replay(Replay),
    Once(ByteStream),
}

impl RequestBody {
    /// A body of bytes already in memory; replayable.
    pub fn from_bytes(bytes: Bytes) -> Self {
        Self {
            length: Some(bytes.len() as u64),
            source: Source::Bytes(bytes),
        }
    }

    /// A replayable body: `open` is called once per attempt and must produce the same bytes
    /// each time (reopen a file, rewind a buffer). `length`, when known, is sent as
    /// `Content-Length`; otherwise the body goes chunked.
    pub fn replayable(
        length: Option<u64>,
        open: impl Fn() -> ByteStream + Send + Sync + 'static,
    ) -> Self {
        Self {
            source: Source::Replay(Arc::new(open)),
            length,
        }
    }

    /// A body read once from `stream`; it cannot be sent again, so a layer that must retry
    /// (after a 401) reports its failure instead.
    pub fn once(length: Option<u64>, stream: ByteStream) -> Self {
        Self {
            source: Source::Once(stream),
            length,
        }
    }

    /// The same body seen through `wrap` (framing around it, a progress counter, a running
    /// hash), with `length` as its new length. Replayability is kept: `wrap` is applied to each
    /// replay of a replayable body.
    #[must_use]
    pub fn wrap(
        self,
        length: Option<u64>,
        wrap: impl Fn(ByteStream) -> ByteStream + Send + Sync + 'static,
    ) -> Self {
        let source = match self.source {
            Source::Bytes(bytes) => {
                let open: Replay = Arc::new(move || {
                    let bytes = bytes.clone();
                    Box::pin(futures_util::stream::iter([Ok(bytes)])) as ByteStream
                });
                Source::Replay(Arc::new(move || wrap(open())))
            }
            Source::Replay(open) => Source::Replay(Arc::new(move || wrap(open()))),
            Source::Once(stream) => Source::Once(wrap(stream)),
        };
        Self { source, length }
    }

    /// The body's length in bytes, when known.
    pub fn length(&self) -> Option<u64> {
        self.length
    }

    /// Whether the same bytes can be sent again ([`try_clone`](Self::try_clone) is `Some`).
    pub fn is_replayable(&self) -> bool {
        !matches!(self.source, Source::Once(_))
    }

    /// A second body that produces the same bytes from the start; `None` for a one-shot body.
    pub fn try_clone(&self) -> Option<Self> {
        let source = match &self.source {
            Source::Bytes(bytes) => Source::Bytes(bytes.clone()),
            Source::Replay(open) => Source::Replay(Arc::clone(open)),
            Source::Once(_) => return None,
        };
        Some(Self {
            source,
            length: self.length,
        })
    }

    /// The bytes, when the body was built from bytes in memory.
    pub fn as_bytes(&self) -> Option<&Bytes> {
        match &self.source {
            Source::Bytes(bytes) => Some(bytes),
            Source::Replay(_) | Source::Once(_) => None,
        }
    }

    /// The body as a stream of pieces (for a transport to send).
    pub fn into_stream(self) -> ByteStream {
        match self.source {
            Source::Bytes(bytes) => Box::pin(futures_util::stream::iter([Ok(bytes)])),
            Source::Replay(open) => open(),
            Source::Once(stream) => stream,
        }
    }

    /// Reads the whole body into memory (what a transport without streaming support does).
    ///
    /// # Errors
    ///
    /// The first error the body's source reports (a file that cannot be read).
    pub async fn collect(self) -> Result<Bytes, std::io::Error> {
        if let Source::Bytes(bytes) = self.source {
            return Ok(bytes);
        }
        let capacity = self.length.map_or(0, |length| {
            usize::try_from(length).unwrap_or(0).min(16 * 1024 * 1024)
        });
        let mut collected = BytesMut::with_capacity(capacity);
        let mut stream = self.into_stream();
        while let Some(piece) = stream.next().await {
            collected.extend_from_slice(&piece?);
        }
        Ok(collected.freeze())
    }
}

impl From<Bytes> for RequestBody {
    fn from(bytes: Bytes) -> Self {
        Self::from_bytes(bytes)
    }
}

impl fmt::Debug for RequestBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.source {
            Source::Bytes(_) => "bytes",
            Source::Replay(_) => "replayable",
            Source::Once(_) => "one-shot",
        };
        f.debug_struct("RequestBody")
            .field("kind", &kind)
            .field("length", &self.length)
            .finish()
    }
}

/// The body of a streamed response (a download): a [`Stream`] of pieces as they arrive, within
/// the [`StreamLimits`] of the exchange. An error ends it: [`TransportError::BodyTooLarge`] past
/// the size limit, [`TransportError::Timeout`] with [`TimeoutPhase::Idle`](crate::TimeoutPhase::Idle)
/// when no byte arrived for the idle timeout, [`TransportError::Io`] when the connection broke.
pub struct ResponseBody {
    inner: Pin<Box<dyn Stream<Item = Result<Bytes, TransportError>> + Send>>,
}

impl ResponseBody {
    /// A body read from `stream` (for a transport adapter).
    pub fn from_stream(
        stream: impl Stream<Item = Result<Bytes, TransportError>> + Send + 'static,
    ) -> Self {
        Self {
            inner: Box::pin(stream),
        }
    }

    /// A body already in memory (what a transport without streaming support returns).
    pub fn from_bytes(bytes: Bytes) -> Self {
        Self::from_stream(futures_util::stream::iter(
            (!bytes.is_empty()).then_some(Ok(bytes)),
        ))
    }

    /// Reads the whole body into memory, up to `limit` bytes (an error body, a small file).
    ///
    /// # Errors
    ///
    /// [`TransportError::BodyTooLarge`] past `limit`, or the error that ended the stream.
    pub async fn collect(self, limit: usize) -> Result<Bytes, TransportError> {
        self.collect_sized(limit, None).await
    }

    /// [`collect`](Self::collect) into one buffer sized once from the length the response
    /// declared (`Content-Length`), so that a large body is not regrown, and copied, as it
    /// arrives. The declared length is only a hint: at most 16 MiB is
    /// reserved before the bytes arrive, and `limit` is enforced on what arrives.
    ///
    /// # Errors
    ///
    /// [`TransportError::BodyTooLarge`] past `limit`, or the error that ended the stream.
    pub async fn collect_sized(
        mut self,
        limit: usize,
        declared_length: Option<u64>,
    ) -> Result<Bytes, TransportError> {
        let mut collected = BytesMut::with_capacity(reserved_up_front(declared_length, limit));
        while let Some(piece) = self.inner.next().await {
            let piece = piece?;
            if collected.len() + piece.len() > limit {
                return Err(TransportError::BodyTooLarge { limit });
            }
            collected.extend_from_slice(&piece);
        }
        Ok(collected.freeze())
    }
}

impl Stream for ResponseBody {
    type Item = Result<Bytes, TransportError>;

    fn poll_next(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(context)
    }
}

impl fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseBody").finish_non_exhaustive()
    }
}

/// The most a body buffer reserves before its bytes arrive (16 MiB): a server announcing 64 MiB
/// and sending nothing costs nothing more.
const MAX_RESERVED_UP_FRONT: usize = 16 * 1024 * 1024;

/// The capacity to reserve for a body that declared `declared_length` bytes, within `limit`.
pub(crate) fn reserved_up_front(declared_length: Option<u64>, limit: usize) -> usize {
    declared_length.map_or(0, |length| {
        usize::try_from(length)
            .unwrap_or(limit)
            .min(limit)
            .min(MAX_RESERVED_UP_FRONT)
    })
}

/// The limits of one streaming exchange, set by the caller (a download's size is the caller's
/// business, not the transport's JSON cap).
///
/// - `max_body`: the longest response body accepted; a longer one (declared in
///   `Content-Length` or arriving) ends with [`TransportError::BodyTooLarge`].
/// - `idle_timeout`: how long the exchange may make no progress (no upload piece taken, no
///   response head, no download piece) before it fails with
///   [`TimeoutPhase::Idle`](crate::TimeoutPhase::Idle). A streaming exchange has no total
///   deadline: a 1 GB download over a slow link takes as long as it takes, as long as it moves.
///   The connect timeout of the transport still applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    /// The longest response body accepted, in bytes.
    pub max_body: usize,
    /// The longest pause without progress.
    pub idle_timeout: Duration,
}

impl StreamLimits {
    /// Limits of `max_body` bytes and an idle timeout of `idle_timeout`.
    pub fn new(max_body: usize, idle_timeout: Duration) -> Self {
        Self {
            max_body,
            idle_timeout,
        }
    }
}

/// Ends `stream` with [`TransportError::BodyTooLarge`] once more than `limit` bytes arrived
/// (used by the built-in transports' streamed responses).
#[cfg(any(feature = "reqwest", feature = "hyper"))]
pub(crate) fn capped<S>(
    stream: S,
    limit: usize,
) -> impl Stream<Item = Result<Bytes, TransportError>>
where
    S: Stream<Item = Result<Bytes, TransportError>>,
{
    let mut seen: usize = 0;
    let mut failed = false;
    stream.map(move |piece| {
        if failed {
            return Err(TransportError::BodyTooLarge { limit });
        }
        let piece = piece?;
        seen = seen.saturating_add(piece.len());
        if seen > limit {
            failed = true;
            return Err(TransportError::BodyTooLarge { limit });
        }
        Ok(piece)
    })
}

/// The default [`HttpTransport::send_streaming`](crate::HttpTransport::send_streaming): the
/// request body read into memory, the buffered `send`, the response checked against the limit.
pub(crate) async fn buffered<T: crate::HttpTransport + ?Sized>(
    transport: &T,
    request: http::Request<RequestBody>,
    limits: StreamLimits,
) -> Result<http::Response<ResponseBody>, TransportError> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|error| TransportError::interrupted(&parts.uri, error))?;
    let response = transport
        .send(http::Request::from_parts(parts, body))
        .await?;
    if response.body().len() > limits.max_body {
        return Err(TransportError::BodyTooLarge {
            limit: limits.max_body,
        });
    }
    Ok(response.map(ResponseBody::from_bytes))
}
