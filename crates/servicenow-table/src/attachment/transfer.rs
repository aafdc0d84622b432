//! The local ends of an attachment transfer: upload bodies read from a file (replayable) or an
//! `AsyncRead` (one-shot) in fixed pieces, and the SHA-256 kept while bytes go by.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use bytes::{Bytes, BytesMut};
use futures::StreamExt as _;
use servicenow_http::{ByteStream, RequestBody};
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt as _};

/// The size of the pieces a file or reader is read in: memory per transfer stays about this.
pub const PIECE_SIZE: usize = 64 * 1024;

/// A replayable upload body reading the file at `path`, reopened for each attempt (so an upload
/// refused with 401 can be sent again with a fresh token), in pieces of [`PIECE_SIZE`].
///
/// # Errors
///
/// The operating system's error when the file's metadata cannot be read (it does not exist, it
/// is not readable).
pub async fn file_body(path: impl AsRef<Path>) -> std::io::Result<RequestBody> {
    let path = path.as_ref().to_path_buf();
    let length = tokio::fs::metadata(&path).await?.len();
    Ok(RequestBody::replayable(Some(length), move || {
        file_stream(path.clone())
    }))
}

/// A one-shot upload body read from `reader` in pieces of [`PIECE_SIZE`]: it cannot be sent
/// twice, so an upload refused with 401 fails (with the facade, as
/// `servicenow::Error::UploadNotReplayable`) instead of being retried. `length`, when known, is
/// sent as `Content-Length`.
pub fn reader_body<R>(reader: R, length: Option<u64>) -> RequestBody
where
    R: AsyncRead + Send + Unpin + 'static,
{
    RequestBody::once(length, reader_stream(reader))
}

/// The file at `path`, opened when first polled, as a stream of pieces.
pub fn file_stream(path: PathBuf) -> ByteStream {
    let opening = futures::stream::once(async move { tokio::fs::File::open(path).await });
    Box::pin(
        opening
            .map(|opened| match opened {
                Ok(file) => reader_stream(file),
                Err(error) => Box::pin(futures::stream::iter([Err(error)])) as ByteStream,
            })
            .flatten(),
    )
}

/// `reader` as a stream of pieces of at most [`PIECE_SIZE`] bytes.
fn reader_stream<R>(reader: R) -> ByteStream
where
    R: AsyncRead + Send + Unpin + 'static,
{
    Box::pin(futures::stream::unfold(Some(reader), |state| async move {
        let mut reader = state?;
        let mut piece = BytesMut::with_capacity(PIECE_SIZE);
        match reader.read_buf(&mut piece).await {
            Ok(0) => None,
            Ok(_) => Some((Ok(piece.freeze()), Some(reader))),
            Err(error) => Some((Err(error), None)),
        }
    }))
}

/// The SHA-256 of what an upload sent, reset at each replay so that it describes the attempt
/// that was answered.
#[derive(Clone, Default)]
pub(crate) struct SentHash(Arc<Mutex<Sha256>>);

impl SentHash {
    /// `body`, hashed as it is read.
    pub(crate) fn watch(&self, body: RequestBody) -> RequestBody {
        let length = body.length();
        let hash = self.clone();
        body.wrap(length, move |stream| {
            *hash.lock() = Sha256::new();
            let hash = hash.clone();
            Box::pin(stream.inspect(move |piece| {
                if let Ok(piece) = piece {
                    hash.lock().update(piece);
                }
            }))
        })
    }

    pub(crate) fn hex(&self) -> String {
        hex(&self.lock().clone().finalize())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Sha256> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A multipart body: `head`, the file's pieces, `tail`; replayable when the file body is.
pub(crate) fn framed(body: RequestBody, head: Bytes, tail: Bytes) -> RequestBody {
    let length = body
        .length()
        .map(|length| head.len() as u64 + length + tail.len() as u64);
    body.wrap(length, move |stream| {
        let head = futures::stream::iter([Ok(head.clone())]);
        let tail = futures::stream::iter([Ok(tail.clone())]);
        Box::pin(head.chain(stream).chain(tail))
    })
}

/// Lowercase hex of a digest.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}
