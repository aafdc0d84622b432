//! `Attachments`: the Attachment API of one credential's handle, every failure a `servicenow::Error`.

use std::{
    path::Path,
    sync::atomic::{AtomicU64, Ordering},
};

use servicenow_http::{RequestBody, StreamLimits};
use servicenow_table::{
    Page, SysId,
    attachment::{
        Attachment, AttachmentClient, AttachmentListParams, Downloaded, Multipart, UploadTarget,
    },
};
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWrite;

use crate::{ClientTransport, error::Result};

/// How many multipart boundaries this process made: each one differs.
static BOUNDARIES: AtomicU64 = AtomicU64::new(0);

/// The Attachment API of a [`Client`](crate::Client) (from
/// [`Client::attachments`](crate::Client::attachments)): list, metadata, streamed download and
/// upload, delete, rename. See [`AttachmentClient`] for each call; this handle returns
/// [`servicenow::Error`](crate::Error), with ServiceNow's message for a refusal.
///
/// Requests go through the credential's authorizing transport: the token only ever goes to the
/// instance, and a 401 is retried once with a fresh token. A streamed upload is retried only
/// when its body can be read again: [`file_body`](servicenow_table::attachment::file_body)
/// reopens the file, a body of bytes is kept; a one-shot
/// [`reader_body`](servicenow_table::attachment::reader_body) fails with
/// [`Error::UploadNotReplayable`](crate::Error::UploadNotReplayable) instead.
///
/// ```no_run
/// # async fn example(client: servicenow::Client) -> servicenow::Result<()> {
/// use servicenow::table::{SysId, TableName, attachment::{UploadTarget, file_body}};
///
/// let incident = SysId::new("9d385017c611228701d22104cc95c371")?;
/// let target = UploadTarget::new(TableName::new("incident")?, incident, "app.log")
///     .with_content_type("text/plain");
/// let body = file_body("app.log").await.expect("app.log is readable");
/// let uploaded = client.attachments().upload(&target, body).await?;
/// let copy = client.attachments().download_to_file(&uploaded.sys_id, "copy.log").await?;
/// println!("{} bytes, sha-256 {} (verified: {})", copy.bytes, copy.sha256, copy.verified);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Attachments {
    pub(crate) inner: AttachmentClient<ClientTransport>,
    pub(crate) boundary_seed: [u8; 32],
}

impl Attachments {
    /// The same handle with other streaming limits (the largest download, the longest pause).
    #[must_use]
    pub fn with_limits(self, limits: StreamLimits) -> Self {
        Self {
            inner: self.inner.with_limits(limits),
            ..self
        }
    }

    /// One page of attachments.
    pub async fn list(&self, params: &AttachmentListParams) -> Result<Page<Attachment>> {
        Ok(self.inner.list(params).await?)
    }

    /// One attachment's metadata.
    pub async fn metadata(&self, sys_id: &SysId) -> Result<Attachment> {
        Ok(self.inner.metadata(sys_id).await?)
    }

    /// Streams the content into `writer`, SHA-256 checked.
    pub async fn download_to_writer<W>(&self, sys_id: &SysId, writer: &mut W) -> Result<Downloaded>
    where
        W: AsyncWrite + Unpin + Send + ?Sized,
    {
        Ok(self.inner.download_to_writer(sys_id, writer).await?)
    }

    /// Streams the content into the file at `path` (through `<path>.part`), SHA-256 checked.
    pub async fn download_to_file(
        &self,
        sys_id: &SysId,
        path: impl AsRef<Path>,
    ) -> Result<Downloaded> {
        Ok(self.inner.download_to_file(sys_id, path).await?)
    }

    /// Uploads `body` with the raw upload (`POST /api/now/attachment/file`).
    pub async fn upload(&self, target: &UploadTarget, body: RequestBody) -> Result<Attachment> {
        Ok(self.inner.upload(target, body).await?)
    }

    /// Uploads `body` with the multipart upload (`POST /api/now/attachment/upload`), delimited
    /// by a boundary drawn from this integration's random seed.
    pub async fn upload_multipart(
        &self,
        target: &UploadTarget,
        body: RequestBody,
    ) -> Result<Attachment> {
        let multipart = Multipart::new(target, &self.boundary())?;
        Ok(self
            .inner
            .upload_multipart(target, &multipart, body)
            .await?)
    }

    /// Deletes the attachment.
    pub async fn delete(&self, sys_id: &SysId) -> Result<()> {
        Ok(self.inner.delete(sys_id).await?)
    }

    /// Renames the attachment.
    pub async fn rename(&self, sys_id: &SysId, file_name: &str) -> Result<()> {
        Ok(self.inner.rename(sys_id, file_name).await?)
    }

    /// A boundary no file can be expected to contain: 32 hex characters of SHA-256 over the
    /// integration's OS-random seed and a counter.
    fn boundary(&self) -> String {
        let count = BOUNDARIES.fetch_add(1, Ordering::Relaxed);
        let digest = Sha256::new()
            .chain_update(self.boundary_seed)
            .chain_update(count.to_le_bytes())
            .finalize();
        let mut boundary = String::from("sn-");
        for byte in &digest[..16] {
            boundary.push_str(&format!("{byte:02x}"));
        }
        boundary
    }
}
