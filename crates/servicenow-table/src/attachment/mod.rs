//! The Attachment API (`/api/now/attachment`): list, metadata, streamed download (SHA-256
//! checked), streamed upload (raw or multipart), delete and rename, over the table client's
//! sender (`servicenow-api-more.md` §1).

mod api;
mod metadata;
mod transfer;

use std::{path::Path, time::Duration};

use bytes::Bytes;
use futures::StreamExt as _;
use http::Response;
use servicenow_http::{RequestBody, RequestSender, ResponseBody, StreamLimits, TransportError};
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncWrite, AsyncWriteExt as _};

pub use self::{
    api::{AttachmentListParams, Multipart, UploadTarget},
    metadata::Attachment,
    transfer::{PIECE_SIZE, file_body, file_stream, reader_body},
};
use crate::{Page, SysId, TableClient, TableError, error_from_response};

/// The largest JSON answer (an upload's metadata, an error) read from a streamed exchange.
const ANSWER_LIMIT: usize = 1024 * 1024;

/// What a finished download wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Downloaded {
    /// The attachment's metadata, read before the content.
    pub attachment: Attachment,
    /// How many bytes were written.
    pub bytes: u64,
    /// The SHA-256 of those bytes (hex).
    pub sha256: String,
    /// Whether the instance sent a `hash` the bytes were checked against (a mismatch is an
    /// error, [`TableError::HashMismatch`]; `false` means there was nothing to check against).
    pub verified: bool,
}

/// The Attachment API over a table client's sender: it never sees a token either.
///
/// Downloads and uploads stream through
/// [`RequestSender::send_request_streaming`] in pieces of [`PIECE_SIZE`], so memory stays
/// constant whatever the file's size, within the [`StreamLimits`] of this client (default: the
/// instance's 1 GiB attachment ceiling, a 60 s idle timeout). The small calls (list, metadata,
/// delete, rename) go through the table client's buffered path and its retry policy; a download
/// or upload is sent once (an upload is not idempotent, and a download is easy to start again).
///
/// ```no_run
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// use servicenow_table::{SysId, TableClient, TableName, attachment::{UploadTarget, file_body}};
///
/// let transport = servicenow_http::ReqwestTransport::new()?; // add authorization in practice
/// let client = TableClient::new("https://dev1.service-now.com".parse()?, transport);
/// let attachments = client.attachments();
/// let incident = SysId::new("9d385017c611228701d22104cc95c371")?;
/// let target = UploadTarget::new(TableName::new("incident")?, incident, "app.log")
///     .with_content_type("text/plain");
/// let uploaded = attachments.upload(&target, file_body("app.log").await?).await?;
/// let copy = attachments.download_to_file(&uploaded.sys_id, "copy.log").await?;
/// assert!(copy.verified || uploaded.hash.is_none());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct AttachmentClient<S> {
    tables: TableClient<S>,
    limits: StreamLimits,
}

impl<S: RequestSender + Clone> TableClient<S> {
    /// The Attachment API of this client's instance, through the same sender.
    pub fn attachments(&self) -> AttachmentClient<S> {
        AttachmentClient {
            tables: self.clone(),
            limits: AttachmentClient::<S>::DEFAULT_LIMITS,
        }
    }
}

impl<S: RequestSender> AttachmentClient<S> {
    /// The default limits: 1 GiB (the instance's `com.glide.attachment.max_size` default) and
    /// 60 s without progress.
    pub const DEFAULT_LIMITS: StreamLimits = StreamLimits {
        max_body: 1024 * 1024 * 1024,
        idle_timeout: Duration::from_secs(60),
    };

    /// The same client with other streaming limits (the largest download accepted, the longest
    /// pause without progress).
    #[must_use]
    pub fn with_limits(self, limits: StreamLimits) -> Self {
        Self { limits, ..self }
    }

    /// One page of attachments (`GET /api/now/attachment`), with `X-Total-Count` and whether a
    /// next page exists.
    pub async fn list(
        &self,
        params: &AttachmentListParams,
    ) -> Result<Page<Attachment>, TableError<S::Error>> {
        let operation = "list attachments";
        let request = self
            .tables
            .api()
            .attachment_list_request(params)
            .map_err(TableError::widen)?;
        self.tables
            .execute(request, operation, |response| {
                self.tables.api().parse_attachment_page(response, operation)
            })
            .await
    }

    /// One attachment's metadata (`GET /api/now/attachment/{sys_id}`).
    pub async fn metadata(&self, sys_id: &SysId) -> Result<Attachment, TableError<S::Error>> {
        let operation = format!("read attachment {sys_id}");
        let request = self
            .tables
            .api()
            .attachment_metadata_request(sys_id)
            .map_err(TableError::widen)?;
        self.tables
            .execute(request, &operation, |response| {
                self.tables.api().parse_attachment(response, &operation)
            })
            .await
    }

    /// Streams the attachment's content into `writer`, piece by piece, and checks its SHA-256
    /// against the `hash` of the metadata (read first) when the instance sends one.
    ///
    /// # Errors
    ///
    /// [`TableError::HashMismatch`] when the bytes differ from the hash (the writer then holds
    /// them all: discard them), [`TableError::Local`] when writing fails, the mapped error
    /// envelope for a refusal, [`TableError::Sender`] when the exchange broke (a limit, the
    /// idle timeout, a lost connection).
    pub async fn download_to_writer<W>(
        &self,
        sys_id: &SysId,
        writer: &mut W,
    ) -> Result<Downloaded, TableError<S::Error>>
    where
        W: AsyncWrite + Unpin + Send + ?Sized,
    {
        let attachment = self.metadata(sys_id).await?;
        let operation = format!("download attachment {sys_id}");
        let request = self
            .tables
            .api()
            .attachment_download_request(sys_id)
            .map_err(TableError::widen)?;
        let response = self
            .send_streaming(request.map(RequestBody::from_bytes), &operation)
            .await?;
        if !response.status().is_success() {
            return Err(self.refusal(response, &operation).await);
        }
        let expected = attachment.hash.clone().or_else(|| {
            header_hash(
                response
                    .headers()
                    .get("x-attachment-metadata")
                    .and_then(|value| value.to_str().ok()),
            )
        });
        let mut body = response.into_body();
        let mut hash = Sha256::new();
        let mut bytes: u64 = 0;
        while let Some(piece) = body.next().await {
            let piece = piece.map_err(|error| sender_failure::<S>(&operation, error))?;
            hash.update(&piece);
            bytes += piece.len() as u64;
            writer
                .write_all(&piece)
                .await
                .map_err(|source| local(&operation, "writing the content", source))?;
        }
        writer
            .flush()
            .await
            .map_err(|source| local(&operation, "writing the content", source))?;
        let sha256 = transfer::hex(&hash.finalize());
        if let Some(expected) = expected.as_ref().filter(|expected| **expected != sha256) {
            return Err(TableError::HashMismatch {
                operation,
                expected: expected.clone(),
                actual: sha256,
            });
        }
        Ok(Downloaded {
            verified: expected.is_some(),
            attachment,
            bytes,
            sha256,
        })
    }

    /// Streams the attachment's content into the file at `path`, checked as
    /// [`download_to_writer`](Self::download_to_writer) does.
    ///
    /// The bytes go to `<path>.part` first, which is synced and renamed to `path` only once the
    /// whole content arrived and matched its hash; on any failure it is removed, so a file at
    /// `path` is always complete.
    pub async fn download_to_file(
        &self,
        sys_id: &SysId,
        path: impl AsRef<Path>,
    ) -> Result<Downloaded, TableError<S::Error>> {
        let path = path.as_ref();
        let operation = format!("download attachment {sys_id}");
        let mut partial_name = path.as_os_str().to_owned();
        partial_name.push(".part");
        let partial = std::path::PathBuf::from(partial_name);
        let shown = partial.display().to_string();
        let mut file = tokio::fs::File::create(&partial)
            .await
            .map_err(|source| local(&operation, &format!("creating {shown}"), source))?;
        let outcome = match self.download_to_writer(sys_id, &mut file).await {
            Ok(downloaded) => file
                .sync_all()
                .await
                .map_err(|source| local(&operation, &format!("syncing {shown}"), source))
                .map(|()| downloaded),
            Err(error) => Err(error),
        };
        drop(file);
        let finished = match outcome {
            Ok(downloaded) => tokio::fs::rename(&partial, path)
                .await
                .map_err(|source| {
                    local(
                        &operation,
                        &format!("renaming {shown} to {}", path.display()),
                        source,
                    )
                })
                .map(|()| downloaded),
            Err(error) => Err(error),
        };
        if finished.is_err() {
            // Best effort: the error being returned is the one that matters.
            let _ = tokio::fs::remove_file(&partial).await;
        }
        finished
    }

    /// Uploads `body` as an attachment of `target`'s record with the raw upload
    /// (`POST /api/now/attachment/file`, the body as it is, with the file's `Content-Type`).
    ///
    /// The body streams: build it with [`file_body`] (replayable: a 401 through the facade's
    /// authorizing layer is retried once with a fresh token) or [`reader_body`] (one-shot). When
    /// the instance answers with a `hash`, it is checked against the SHA-256 of what was sent.
    pub async fn upload(
        &self,
        target: &UploadTarget,
        body: RequestBody,
    ) -> Result<Attachment, TableError<S::Error>> {
        let request = self
            .tables
            .api()
            .attachment_upload_request(target, body.length())
            .map_err(TableError::widen)?;
        self.send_upload(request, body, target).await
    }

    /// Uploads `body` with the multipart upload (`POST /api/now/attachment/upload`), framed by
    /// `multipart` (built from the same `target`); otherwise as [`upload`](Self::upload).
    pub async fn upload_multipart(
        &self,
        target: &UploadTarget,
        multipart: &Multipart,
        body: RequestBody,
    ) -> Result<Attachment, TableError<S::Error>> {
        let request = self
            .tables
            .api()
            .attachment_multipart_request(multipart, body.length())
            .map_err(TableError::widen)?;
        let sent = transfer::SentHash::default();
        let body = sent.watch(body);
        let framed = transfer::framed(body, multipart.head().clone(), multipart.tail().clone());
        self.answer_upload(request, framed, sent, target).await
    }

    /// Deletes the attachment (`DELETE /api/now/attachment/{sys_id}`, `204`).
    pub async fn delete(&self, sys_id: &SysId) -> Result<(), TableError<S::Error>> {
        let operation = format!("delete attachment {sys_id}");
        let request = self
            .tables
            .api()
            .attachment_delete_request(sys_id)
            .map_err(TableError::widen)?;
        self.tables
            .execute(request, &operation, |response| {
                self.tables
                    .api()
                    .parse_attachment_changed(response, &operation)
            })
            .await
    }

    /// Renames the attachment (`PATCH /api/now/attachment/{sys_id}` with `{"file_name":…}`,
    /// the rename the Attachment API documents; `204`).
    pub async fn rename(
        &self,
        sys_id: &SysId,
        file_name: &str,
    ) -> Result<(), TableError<S::Error>> {
        let operation = format!("rename attachment {sys_id}");
        let request = self
            .tables
            .api()
            .attachment_rename_request(sys_id, file_name)
            .map_err(TableError::widen)?;
        self.tables
            .execute(request, &operation, |response| {
                self.tables
                    .api()
                    .parse_attachment_changed(response, &operation)
            })
            .await
    }

    async fn send_upload(
        &self,
        request: http::Request<()>,
        body: RequestBody,
        target: &UploadTarget,
    ) -> Result<Attachment, TableError<S::Error>> {
        let sent = transfer::SentHash::default();
        let body = sent.watch(body);
        self.answer_upload(request, body, sent, target).await
    }

    async fn answer_upload(
        &self,
        request: http::Request<()>,
        body: RequestBody,
        sent: transfer::SentHash,
        target: &UploadTarget,
    ) -> Result<Attachment, TableError<S::Error>> {
        let operation = format!(
            "upload attachment {} to {} {}",
            target.file_name, target.table, target.table_sys_id
        );
        let response = self
            .send_streaming(request.map(|()| body), &operation)
            .await?;
        let response = self.buffer(response, &operation).await?;
        let attachment = self
            .tables
            .api()
            .parse_uploaded(&response, &operation)
            .map_err(TableError::widen)?;
        let actual = sent.hex();
        if let Some(expected) = attachment
            .hash
            .as_ref()
            .filter(|expected| **expected != actual)
        {
            return Err(TableError::HashMismatch {
                operation,
                expected: expected.clone(),
                actual,
            });
        }
        Ok(attachment)
    }

    async fn send_streaming(
        &self,
        request: http::Request<RequestBody>,
        operation: &str,
    ) -> Result<Response<ResponseBody>, TableError<S::Error>> {
        self.tables
            .sender()
            .send_request_streaming(request, self.limits)
            .await
            .map_err(|source| TableError::Sender {
                operation: operation.to_owned(),
                source,
            })
    }

    /// A streamed answer read whole (it is JSON: the upload's record, or an error envelope).
    async fn buffer(
        &self,
        response: Response<ResponseBody>,
        operation: &str,
    ) -> Result<Response<Bytes>, TableError<S::Error>> {
        let (parts, body) = response.into_parts();
        let body = body
            .collect(ANSWER_LIMIT)
            .await
            .map_err(|error| sender_failure::<S>(operation, error))?;
        Ok(Response::from_parts(parts, body))
    }

    /// The error a refused streamed request maps to, from its (short) error envelope.
    async fn refusal(
        &self,
        response: Response<ResponseBody>,
        operation: &str,
    ) -> TableError<S::Error> {
        match self.buffer(response, operation).await {
            Ok(response) => error_from_response(&response, operation).widen(),
            Err(error) => error,
        }
    }
}

fn sender_failure<S: RequestSender>(
    operation: &str,
    error: TransportError,
) -> TableError<S::Error> {
    TableError::Sender {
        operation: operation.to_owned(),
        source: S::Error::from(error),
    }
}

fn local<E>(operation: &str, what: &str, source: std::io::Error) -> TableError<E> {
    TableError::Local {
        operation: operation.to_owned(),
        what: what.to_owned(),
        source,
    }
}

/// The `hash` of an `X-Attachment-Metadata` header (JSON with the metadata's field names),
/// when it is a SHA-256.
fn header_hash(header: Option<&str>) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(header?).ok()?;
    let hash = value.get("hash")?.as_str()?.trim();
    (hash.len() == 64 && hash.bytes().all(|byte| byte.is_ascii_hexdigit()))
        .then(|| hash.to_ascii_lowercase())
}
