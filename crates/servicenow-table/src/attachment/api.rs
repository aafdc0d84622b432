//! Pure request builders and response parsers of the Attachment API (`/api/now/attachment`):
//! no IO, no token, the same URL encoding and error envelope as the Table API.

use std::convert::Infallible;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use serde::Deserialize;

use crate::{
    EncodedQuery, Page, SysId, TableApi, TableError, TableName,
    attachment::Attachment,
    response::{body_text, expect_status, has_next_link, malformed, parse_result, total_count},
};

/// The parameters of one page of the attachment list (`GET /api/now/attachment`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttachmentListParams {
    /// `sysparm_query` over `sys_attachment` (for example `table_name=incident^table_sys_id=…`),
    /// built with [`Query`](crate::Query); `ORDERBY` is allowed.
    pub query: Option<EncodedQuery>,
    /// `sysparm_limit`: the page size (the documented default is 1,000).
    pub limit: Option<u32>,
    /// `sysparm_offset`.
    pub offset: Option<u64>,
}

/// Where an upload goes and what it is: the record it is attached to, the file's name and its
/// type (the raw upload's `Content-Type`, mandatory on the wire).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadTarget {
    /// The table of the record (`table_name`).
    pub table: TableName,
    /// The record (`table_sys_id`).
    pub table_sys_id: SysId,
    /// The attachment's file name (`file_name`).
    pub file_name: String,
    /// The file's type, such as `text/plain`; `application/octet-stream` when unknown.
    pub content_type: String,
}

impl UploadTarget {
    /// An upload of `file_name` to the record `table_sys_id` of `table`, typed as
    /// `application/octet-stream` (change [`content_type`](Self::content_type) when known).
    pub fn new(table: TableName, table_sys_id: SysId, file_name: impl Into<String>) -> Self {
        Self {
            table,
            table_sys_id,
            file_name: file_name.into(),
            content_type: "application/octet-stream".to_owned(),
        }
    }

    /// The same target with the file's type set.
    #[must_use]
    pub fn with_content_type(self, content_type: impl Into<String>) -> Self {
        Self {
            content_type: content_type.into(),
            ..self
        }
    }
}

/// The multipart framing of `POST /api/now/attachment/upload`: the `table_name` and
/// `table_sys_id` fields first, the file last (field `uploadFile`) with its own `Content-Type`,
/// as the documentation's sample sends them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Multipart {
    boundary: String,
    head: Bytes,
    tail: Bytes,
}

impl Multipart {
    /// The framing of `target`'s upload, delimited by `boundary` (1 to 70 characters of
    /// letters, digits, `-` and `_`; choose it unpredictable, for example from random bytes, so
    /// that no file can contain it).
    ///
    /// # Errors
    ///
    /// [`TableError::InvalidName`] when the boundary has other characters, or the file name or
    /// type would break the part's headers (a quote, a line break).
    pub fn new(target: &UploadTarget, boundary: &str) -> Result<Self, TableError<Infallible>> {
        let boundary_ok = (1..=70).contains(&boundary.len())
            && boundary
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
        if !boundary_ok {
            return Err(TableError::InvalidName {
                kind: "multipart boundary",
                value: boundary.to_owned(),
                reason: "1 to 70 letters, digits, '-' or '_' are allowed",
            });
        }
        for (kind, value) in [
            ("attachment file name", &target.file_name),
            ("attachment content type", &target.content_type),
        ] {
            if value
                .chars()
                .any(|c| c == '"' || c == '\\' || c.is_control())
            {
                return Err(TableError::InvalidName {
                    kind,
                    value: value.clone(),
                    reason: "quotes, backslashes and control characters cannot go in a part header",
                });
            }
        }
        let head = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"table_name\"\r\n\r\n{table}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"table_sys_id\"\r\n\r\n{sys_id}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"uploadFile\"; filename=\"{file}\"\r\n\
             Content-Type: {content_type}\r\n\r\n",
            table = target.table,
            sys_id = target.table_sys_id,
            file = target.file_name,
            content_type = target.content_type,
        );
        Ok(Self {
            boundary: boundary.to_owned(),
            head: Bytes::from(head),
            tail: Bytes::from(format!("\r\n--{boundary}--\r\n")),
        })
    }

    /// What goes before the file's bytes.
    pub fn head(&self) -> &Bytes {
        &self.head
    }

    /// What goes after them.
    pub fn tail(&self) -> &Bytes {
        &self.tail
    }

    /// The request's `Content-Type`.
    pub fn content_type(&self) -> String {
        format!("multipart/form-data; boundary={}", self.boundary)
    }

    /// The framed body's length for a file of `file_length` bytes.
    pub fn length(&self, file_length: u64) -> u64 {
        self.head.len() as u64 + file_length + self.tail.len() as u64
    }
}

#[derive(Deserialize)]
struct Envelope<T> {
    result: T,
}

const ATTACHMENT: &str = "/api/now/attachment";

/// The Attachment API's requests and parsers, over the same instance as a [`TableApi`].
impl TableApi {
    /// `GET /api/now/attachment?sysparm_query=…&sysparm_limit=…&sysparm_offset=…`.
    pub fn attachment_list_request(
        &self,
        params: &AttachmentListParams,
    ) -> Result<Request<Bytes>, TableError<Infallible>> {
        let mut parameters = Vec::new();
        if let Some(query) = &params.query {
            parameters.push(("sysparm_query", query.as_str().to_owned()));
        }
        if let Some(limit) = params.limit {
            parameters.push(("sysparm_limit", limit.to_string()));
        }
        if let Some(offset) = params.offset {
            parameters.push(("sysparm_offset", offset.to_string()));
        }
        self.request_to(Method::GET, ATTACHMENT, &parameters, None)
    }

    /// `GET /api/now/attachment/{sys_id}`: the metadata.
    pub fn attachment_metadata_request(
        &self,
        sys_id: &SysId,
    ) -> Result<Request<Bytes>, TableError<Infallible>> {
        self.request_to(Method::GET, &format!("{ATTACHMENT}/{sys_id}"), &[], None)
    }

    /// `GET /api/now/attachment/{sys_id}/file` with `Accept: */*`: the content.
    pub fn attachment_download_request(
        &self,
        sys_id: &SysId,
    ) -> Result<Request<Bytes>, TableError<Infallible>> {
        let mut request = self.request_to(
            Method::GET,
            &format!("{ATTACHMENT}/{sys_id}/file"),
            &[],
            None,
        )?;
        request
            .headers_mut()
            .insert(header::ACCEPT, http::HeaderValue::from_static("*/*"));
        Ok(request)
    }

    /// `POST /api/now/attachment/file?table_name=…&table_sys_id=…&file_name=…` with the file's
    /// `Content-Type` and, when known, its `Content-Length`; the body (the raw bytes) is the
    /// caller's to attach, streamed.
    pub fn attachment_upload_request(
        &self,
        target: &UploadTarget,
        length: Option<u64>,
    ) -> Result<Request<()>, TableError<Infallible>> {
        let parameters = [
            ("table_name", target.table.as_str().to_owned()),
            ("table_sys_id", target.table_sys_id.as_str().to_owned()),
            ("file_name", target.file_name.clone()),
        ];
        let request = self.request_to(
            Method::POST,
            &format!("{ATTACHMENT}/file"),
            &parameters,
            None,
        )?;
        with_body_headers(request, &target.content_type, length)
    }

    /// `POST /api/now/attachment/upload` (`multipart/form-data`, framed by `multipart`), for a
    /// file of `file_length` bytes when known; the body is the caller's to attach: the
    /// framing's head, the file, its tail.
    pub fn attachment_multipart_request(
        &self,
        multipart: &Multipart,
        file_length: Option<u64>,
    ) -> Result<Request<()>, TableError<Infallible>> {
        let request = self.request_to(Method::POST, &format!("{ATTACHMENT}/upload"), &[], None)?;
        with_body_headers(
            request,
            &multipart.content_type(),
            file_length.map(|length| multipart.length(length)),
        )
    }

    /// `DELETE /api/now/attachment/{sys_id}` (`204`).
    pub fn attachment_delete_request(
        &self,
        sys_id: &SysId,
    ) -> Result<Request<Bytes>, TableError<Infallible>> {
        self.request_to(Method::DELETE, &format!("{ATTACHMENT}/{sys_id}"), &[], None)
    }

    /// `PATCH /api/now/attachment/{sys_id}` with `{"file_name":…}`: the rename the Attachment
    /// API documents (`204`).
    pub fn attachment_rename_request(
        &self,
        sys_id: &SysId,
        file_name: &str,
    ) -> Result<Request<Bytes>, TableError<Infallible>> {
        let body = serde_json::json!({ "file_name": file_name }).to_string();
        self.request_to(
            Method::PATCH,
            &format!("{ATTACHMENT}/{sys_id}"),
            &[],
            Some(Bytes::from(body)),
        )
    }

    /// Parses a list page: `200 {"result":[…]}`, `X-Total-Count`, `Link`.
    pub fn parse_attachment_page(
        &self,
        response: &Response<Bytes>,
        operation: &str,
    ) -> Result<Page<Attachment>, TableError<Infallible>> {
        expect_status(response, StatusCode::OK, operation)?;
        let has_next = has_next_link(self.instance(), response.headers(), operation)?;
        let envelope: Envelope<Vec<Attachment>> =
            serde_json::from_str(body_text(response, operation)?)
                .map_err(|error| malformed(operation, response.status(), &error))?;
        Ok(Page {
            records: envelope.result,
            total_count: total_count(response.headers()),
            has_next,
        })
    }

    /// Parses a metadata response (`200 {"result":{…}}`).
    pub fn parse_attachment(
        &self,
        response: &Response<Bytes>,
        operation: &str,
    ) -> Result<Attachment, TableError<Infallible>> {
        expect_status(response, StatusCode::OK, operation)?;
        parse_result(response, operation)
    }

    /// Parses an upload response (`201 {"result":{…}}`).
    pub fn parse_uploaded(
        &self,
        response: &Response<Bytes>,
        operation: &str,
    ) -> Result<Attachment, TableError<Infallible>> {
        expect_status(response, StatusCode::CREATED, operation)?;
        parse_result(response, operation)
    }

    /// Parses a delete or rename response: `204`, or `200` from an instance that sends the
    /// record back.
    pub fn parse_attachment_changed(
        &self,
        response: &Response<Bytes>,
        operation: &str,
    ) -> Result<(), TableError<Infallible>> {
        if response.status() == StatusCode::OK {
            return Ok(());
        }
        expect_status(response, StatusCode::NO_CONTENT, operation)
    }
}

fn with_body_headers(
    request: Request<Bytes>,
    content_type: &str,
    length: Option<u64>,
) -> Result<Request<()>, TableError<Infallible>> {
    let (mut parts, _) = request.into_parts();
    let value = http::HeaderValue::from_str(content_type).map_err(|_| TableError::InvalidName {
        kind: "attachment content type",
        value: content_type.to_owned(),
        reason: "a content type is visible ASCII",
    })?;
    parts.headers.insert(header::CONTENT_TYPE, value);
    if let Some(length) = length {
        parts
            .headers
            .insert(header::CONTENT_LENGTH, http::HeaderValue::from(length));
    }
    Ok(Request::from_parts(parts, ()))
}
