//! Where uploaded attachment content lives: files in a temporary directory (the default, so a
//! 200 MB upload never sits in memory) or memory with a cap on the total. Uploads are written
//! as they arrive while their SHA-256 is computed; downloads are read back in chunks.

use std::{
    collections::HashMap,
    path::PathBuf,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt as _;
use hyper::body::{Frame, SizeHint};
use parking_lot::Mutex;
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncRead, AsyncWriteExt as _, ReadBuf};

use crate::wire::{self, Body};

/// Where the emulator keeps the content of uploaded attachments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AttachmentStorage {
    /// Files in a temporary directory created at the first upload and removed with the
    /// emulator. Uploads and downloads stream: memory use does not grow with their size.
    #[default]
    TempDir,
    /// In memory, at most `max_total_bytes` for all attachments together; an upload that
    /// would pass the cap is refused like an oversize one.
    Memory {
        /// The cap on the content of every stored attachment together.
        max_total_bytes: u64,
    },
}

/// Chunk size of downloads read from disk.
const READ_CHUNK: usize = 64 * 1024;

/// The stored content of every uploaded attachment, by sys_id.
#[derive(Debug)]
pub(crate) struct AttachmentStore {
    storage: AttachmentStorage,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    directory: Option<tempfile::TempDir>,
    contents: HashMap<String, Content>,
    memory_used: u64,
}

#[derive(Debug, Clone)]
enum Content {
    File { path: PathBuf, size: u64 },
    Memory(Bytes),
}

/// Why an upload could not be stored.
#[derive(Debug)]
pub(crate) enum IngestError {
    /// More bytes than the limit.
    TooLarge { limit: u64 },
    /// The temporary directory or file failed.
    Io(std::io::Error),
}

/// Content being received: written as it arrives and hashed on the way.
#[derive(Debug)]
pub(crate) struct Ingest {
    sink: Sink,
    hasher: Sha256,
    size: u64,
    limit: u64,
}

#[derive(Debug)]
enum Sink {
    File {
        file: tokio::fs::File,
        path: PathBuf,
    },
    Memory(BytesMut),
}

/// Content fully received: its size and SHA-256, not yet attached to a sys_id.
#[derive(Debug)]
pub(crate) struct Received {
    content: Content,
    pub(crate) size: u64,
    pub(crate) sha256_hex: String,
}

impl AttachmentStore {
    pub(crate) fn new(storage: AttachmentStorage) -> Self {
        Self {
            storage,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Starts receiving content of at most `max_bytes` (and, in memory, at most what is left
    /// under the cap).
    pub(crate) async fn begin(&self, max_bytes: u64) -> Result<Ingest, IngestError> {
        let (sink, limit) = match self.storage {
            AttachmentStorage::Memory { max_total_bytes } => {
                let left = max_total_bytes.saturating_sub(self.inner.lock().memory_used);
                (Sink::Memory(BytesMut::new()), max_bytes.min(left))
            }
            AttachmentStorage::TempDir => {
                let path = {
                    let mut inner = self.inner.lock();
                    if inner.directory.is_none() {
                        let directory = tempfile::Builder::new()
                            .prefix("servicenow-emulator-attachments-")
                            .tempdir()
                            .map_err(IngestError::Io)?;
                        inner.directory = Some(directory);
                    }
                    let directory = inner.directory.as_ref().map(|d| d.path().to_owned());
                    directory
                        .unwrap_or_default()
                        .join(format!("upload-{}", wire::random_token(12)))
                };
                let file = tokio::fs::File::create(&path)
                    .await
                    .map_err(IngestError::Io)?;
                (Sink::File { file, path }, max_bytes)
            }
        };
        Ok(Ingest {
            sink,
            hasher: Sha256::new(),
            size: 0,
            limit,
        })
    }

    /// Counts content held in memory against the cap (uploads running side by side each saw
    /// room when they began; the first to finish gets it).
    pub(crate) fn reserve(&self, received: &Received) -> Result<(), IngestError> {
        let AttachmentStorage::Memory { max_total_bytes } = self.storage else {
            return Ok(());
        };
        let mut inner = self.inner.lock();
        let left = max_total_bytes.saturating_sub(inner.memory_used);
        if received.size > left {
            return Err(IngestError::TooLarge { limit: left });
        }
        inner.memory_used += received.size;
        Ok(())
    }

    /// Gives back what [`reserve`](Self::reserve) counted, for content that is not filed.
    pub(crate) fn unreserve(&self, received: Received) {
        let mut inner = self.inner.lock();
        release(&mut inner, received.content);
    }

    /// Files received (and reserved) content under `sys_id`.
    pub(crate) fn commit(&self, sys_id: &str, received: Received) {
        let mut inner = self.inner.lock();
        if let Some(old) = inner.contents.insert(sys_id.to_owned(), received.content) {
            release(&mut inner, old);
        }
    }

    /// Forgets the content of `sys_id` (its file is removed).
    pub(crate) fn remove(&self, sys_id: &str) {
        let mut inner = self.inner.lock();
        if let Some(old) = inner.contents.remove(sys_id) {
            release(&mut inner, old);
        }
    }

    /// A body streaming the content of `sys_id` and its length; `None` if none was uploaded.
    pub(crate) async fn open(&self, sys_id: &str) -> Option<Result<(Body, u64), std::io::Error>> {
        let content = self.inner.lock().contents.get(sys_id).cloned()?;
        Some(match content {
            Content::Memory(bytes) => {
                let size = bytes.len() as u64;
                Ok((wire::full_body(bytes), size))
            }
            Content::File { path, size } => match tokio::fs::File::open(&path).await {
                Ok(file) => Ok((
                    FileBody {
                        file,
                        remaining: size,
                    }
                    .boxed(),
                    size,
                )),
                Err(error) => Err(error),
            },
        })
    }
}

fn release(inner: &mut Inner, content: Content) {
    match content {
        Content::Memory(bytes) => inner.memory_used -= bytes.len() as u64,
        Content::File { path, .. } => {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Ingest {
    /// Writes the next piece of the content.
    pub(crate) async fn push(&mut self, chunk: &[u8]) -> Result<(), IngestError> {
        self.size += chunk.len() as u64;
        if self.size > self.limit {
            return Err(IngestError::TooLarge { limit: self.limit });
        }
        self.hasher.update(chunk);
        match &mut self.sink {
            Sink::Memory(buffer) => buffer.extend_from_slice(chunk),
            Sink::File { file, .. } => file.write_all(chunk).await.map_err(IngestError::Io)?,
        }
        Ok(())
    }

    /// The content is complete.
    pub(crate) async fn finish(self) -> Result<Received, IngestError> {
        let content = match self.sink {
            Sink::Memory(buffer) => Content::Memory(buffer.freeze()),
            Sink::File { mut file, path } => {
                file.flush().await.map_err(IngestError::Io)?;
                Content::File {
                    path,
                    size: self.size,
                }
            }
        };
        let digest = self.hasher.finalize();
        let mut sha256_hex = String::with_capacity(64);
        for byte in digest {
            use std::fmt::Write as _;
            let _ = write!(sha256_hex, "{byte:02x}");
        }
        Ok(Received {
            content,
            size: self.size,
            sha256_hex,
        })
    }

    /// Gives up: the partial file is removed.
    pub(crate) fn abandon(self) {
        if let Sink::File { path, file } = self.sink {
            drop(file);
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A file sent in chunks of [`READ_CHUNK`] bytes.
struct FileBody {
    file: tokio::fs::File,
    remaining: u64,
}

impl hyper::body::Body for FileBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let want = READ_CHUNK.min(usize::try_from(self.remaining).unwrap_or(READ_CHUNK));
        let mut buffer = vec![0_u8; want];
        let mut read = ReadBuf::new(&mut buffer);
        match Pin::new(&mut self.file).poll_read(context, &mut read) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(error)) => Poll::Ready(Some(Err(error))),
            Poll::Ready(Ok(())) => {
                let filled = read.filled().len();
                if filled == 0 {
                    return Poll::Ready(Some(Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the attachment file is shorter than its recorded size",
                    ))));
                }
                self.remaining -= filled as u64;
                buffer.truncate(filled);
                Poll::Ready(Some(Ok(Frame::data(Bytes::from(buffer)))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}
