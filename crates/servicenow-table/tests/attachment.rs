//! The Attachment API (`servicenow-api-more.md` §1): the exact requests, the metadata parsed from
//! the strings the wire sends, the documented error bodies mapped to `TableError`, and round
//! trips through the emulator: upload (raw and multipart, from a file and from a reader), list,
//! download (SHA-256 checked, to a file that is never left half-written), rename and delete.

mod emulator;

use std::{
    convert::Infallible,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use bytes::Bytes;
use servicenow_emulator::Emulator;
use servicenow_http::{
    HttpTransport, RequestBody, ResponseBody, StreamLimits, TransportError, async_trait,
};
use servicenow_oauth::InstanceUrl;
use servicenow_table::{
    Condition, ListParams, Query, Record, SysId, TableApi, TableClient, TableError, TableName,
    attachment::{
        Attachment, AttachmentListParams, Multipart, UploadTarget, file_body, reader_body,
    },
};
use sha2::{Digest as _, Sha256};

const INCIDENT_ID: &str = "9d385017c611228701d22104cc95c371";

fn api() -> TableApi {
    TableApi::new(InstanceUrl::new("https://dev1.service-now.com").expect("valid instance"))
}

fn target() -> UploadTarget {
    UploadTarget::new(
        TableName::new("incident").expect("valid table"),
        SysId::new(INCIDENT_ID).expect("valid sys_id"),
        "crash report.txt",
    )
    .with_content_type("text/plain")
}

fn render<B: AsRef<[u8]>>(request: Result<http::Request<B>, TableError<Infallible>>) -> String {
    let request = request.expect("the request builds");
    let mut text = format!("{} {}\n", request.method(), request.uri());
    for (name, value) in request.headers() {
        text.push_str(&format!(
            "{name}: {}\n",
            value.to_str().unwrap_or("<binary>")
        ));
    }
    let body = String::from_utf8_lossy(request.body().as_ref()).into_owned();
    if !body.is_empty() {
        text.push_str(&format!("\n{body}\n"));
    }
    text
}

fn response(status: u16, body: &str) -> http::Response<Bytes> {
    http::Response::builder()
        .status(status)
        .body(Bytes::from(body.to_owned()))
        .expect("valid response")
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

// The exact requests.

#[test]
fn a_list_page_of_one_records_attachments() -> Result<(), TableError<Infallible>> {
    let query = Query::new()
        .and("table_name", Condition::eq("incident"))
        .and("table_sys_id", Condition::eq(INCIDENT_ID))
        .build()?;
    let params = AttachmentListParams {
        query: Some(query),
        limit: Some(50),
        offset: Some(100),
    };
    insta::assert_snapshot!(render(api().attachment_list_request(&params)));
    Ok(())
}

#[test]
fn metadata_download_delete_and_rename() {
    let sys_id = SysId::new("0ab1c2d3e4f5061728394a5b6c7d8e9f").expect("valid sys_id");
    insta::assert_snapshot!(
        "metadata",
        render(api().attachment_metadata_request(&sys_id))
    );
    insta::assert_snapshot!(
        "download",
        render(api().attachment_download_request(&sys_id))
    );
    insta::assert_snapshot!("delete", render(api().attachment_delete_request(&sys_id)));
    insta::assert_snapshot!(
        "rename",
        render(api().attachment_rename_request(&sys_id, "renamed \"final\".txt"))
    );
}

#[test]
fn a_raw_upload_carries_the_target_in_the_query_and_the_files_type() {
    let request = api()
        .attachment_upload_request(&target(), Some(1_234))
        .map(|request| request.map(|()| Bytes::new()));
    insta::assert_snapshot!(render(request));
}

#[test]
fn a_multipart_upload_sends_the_fields_first_and_the_file_last() {
    let multipart = Multipart::new(&target(), "sn-0123456789abcdef").expect("a valid boundary");
    let request = api()
        .attachment_multipart_request(&multipart, Some(5))
        .map(|request| {
            let mut body = multipart.head().to_vec();
            body.extend_from_slice(b"hello");
            body.extend_from_slice(multipart.tail());
            request.map(|()| body)
        });
    insta::assert_snapshot!(render(request));
}

#[test]
fn a_multipart_boundary_or_file_name_that_would_break_the_framing_is_refused() {
    assert!(matches!(
        Multipart::new(&target(), "bad boundary\r\n"),
        Err(TableError::InvalidName { .. })
    ));
    let sneaky = UploadTarget {
        file_name: "a\"; name=\"table_name".to_owned(),
        ..target()
    };
    assert!(matches!(
        Multipart::new(&sneaky, "sn-1"),
        Err(TableError::InvalidName { .. })
    ));
}

// The metadata, from the strings the wire sends.

/// A record as the documentation's sample and a developer instance's record send it.
const DOCUMENTED_RECORD: &str = r#"{"result":{
    "size_bytes":"462","file_name":"Issue_screenshot.jpg","sys_mod_count":"1",
    "average_image_color":"","image_width":"","sys_updated_on":"2016-01-19 21:54:41",
    "sys_tags":"","table_name":"incident","sys_id":"615ea769c0a8016d1e2d1c8fd1a19b3d",
    "image_height":"","sys_updated_by":"admin",
    "download_link":"https://instance.service-now.com/api/now/attachment/615ea769c0a8016d1e2d1c8fd1a19b3d/file",
    "content_type":"image/jpeg","sys_created_on":"2016-01-19 21:54:41","size_compressed":"439",
    "compressed":"true","state":"pending","chunk_size_bytes":"700000",
    "hash":"F52A6780E5E6A0E0A30B0A7B8B3C7E3D2C3F7F1A1B2C3D4E5F60718293A4B5C6",
    "table_sys_id":"d71f7935c0a8016700802b64c67c11c6","sys_created_by":"admin"}}"#;

#[test]
fn metadata_numbers_and_flags_are_parsed_from_strings() {
    let attachment = api()
        .parse_attachment(&response(200, DOCUMENTED_RECORD), "read attachment")
        .expect("the documented record parses");
    assert_eq!(attachment.size_bytes, Some(462));
    assert_eq!(attachment.size_compressed, Some(439));
    assert_eq!(attachment.compressed, Some(true));
    assert_eq!(attachment.sys_mod_count, Some(1));
    assert_eq!(attachment.image_width, None, "an empty string is no value");
    assert_eq!(attachment.file_name, "Issue_screenshot.jpg");
    assert_eq!(attachment.content_type, "image/jpeg");
    assert_eq!(
        attachment.hash.as_deref(),
        Some("f52a6780e5e6a0e0a30b0a7b8b3c7e3d2c3f7f1a1b2c3d4e5f60718293a4b5c6"),
        "lowercased for comparison"
    );
}

#[test]
fn a_size_that_is_not_a_number_makes_the_response_malformed() {
    let body = DOCUMENTED_RECORD.replace(r#""size_bytes":"462""#, r#""size_bytes":"lots""#);
    let outcome = api().parse_attachment(&response(200, &body), "read attachment");
    match outcome {
        Err(TableError::MalformedResponse { reason, .. }) => {
            assert!(reason.contains("size_bytes"), "{reason}");
        }
        other => panic!("expected a malformed response, got {other:?}"),
    }
}

// The documented error bodies.

#[test]
fn documented_errors_map_to_typed_errors_with_servicenows_message() {
    let not_found = r#"{"error":{"message":"No Record found","detail":"Record doesn't exist or ACL restricts the record retrieval"},"status":"failure"}"#;
    match api().parse_attachment(&response(404, not_found), "read attachment x") {
        Err(TableError::NotFound { response, .. }) => {
            assert_eq!(response.message, "No Record found");
            assert_eq!(
                response.detail.as_deref(),
                Some("Record doesn't exist or ACL restricts the record retrieval")
            );
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    let missing = r#"{"error":{"message":"Bad Request","detail":"Missing parameters: table_sys_id"},"status":"failure"}"#;
    assert!(matches!(
        api().parse_uploaded(&response(400, missing), "upload"),
        Err(TableError::BadRequest { response, .. }) if response.detail.as_deref() == Some("Missing parameters: table_sys_id")
    ));
    let unauthenticated = r#"{"error":{"message":"User Not Authenticated","detail":"Required to provide Auth information"},"status":"failure"}"#;
    assert!(matches!(
        api().parse_attachment_page(&response(401, unauthenticated), "list attachments"),
        Err(TableError::Unauthorized { response, .. }) if response.message == "User Not Authenticated"
    ));
    assert!(matches!(
        api().parse_attachment_changed(&response(403, r#"{"error":{"message":"Operation Failed","detail":"ACL Exception Delete Failed due to security constraints"},"status":"failure"}"#), "delete attachment"),
        Err(TableError::Forbidden { .. })
    ));
    assert!(
        api()
            .parse_attachment_changed(&response(204, ""), "delete attachment")
            .is_ok()
    );
}

// Round trips through the emulator.

async fn an_incident(client: &emulator::Client) -> SysId {
    let page = client
        .list::<Record>(
            &TableName::new("incident").expect("valid table"),
            &ListParams {
                limit: Some(1),
                ..ListParams::default()
            },
        )
        .await
        .expect("the emulator lists incidents");
    let sys_id = page.records[0]
        .get_str("sys_id")
        .expect("every row has a sys_id");
    SysId::new(sys_id).expect("a valid sys_id")
}

fn content() -> Vec<u8> {
    (0..300_000u32).map(|index| (index % 251) as u8).collect()
}

#[tokio::test]
async fn a_file_goes_up_and_comes_back_whole_checked_against_its_hash() {
    let emulator = emulator::start(Emulator::builder().rows("incident", 5)).await;
    let client = emulator::client(&emulator);
    let attachments = client.attachments();
    let incident = an_incident(&client).await;
    let directory = tempfile::tempdir().expect("a temporary directory");
    let original = directory.path().join("report.bin");
    std::fs::write(&original, content()).expect("write the original");

    let target = UploadTarget::new(
        TableName::new("incident").expect("valid"),
        incident.clone(),
        "report.bin",
    );
    let body = file_body(&original).await.expect("the file is readable");
    let uploaded = attachments
        .upload(&target, body)
        .await
        .expect("the upload is accepted");
    assert_eq!(uploaded.size_bytes, Some(300_000));
    assert_eq!(
        uploaded.hash.as_deref(),
        Some(sha256_hex(&content()).as_str())
    );
    assert_eq!(uploaded.content_type, "application/octet-stream");

    let copy = directory.path().join("copy.bin");
    let downloaded = attachments
        .download_to_file(&uploaded.sys_id, &copy)
        .await
        .expect("the download completes");
    assert!(downloaded.verified, "the emulator sends a hash");
    assert_eq!(downloaded.bytes, 300_000);
    assert_eq!(std::fs::read(&copy).expect("the copy"), content());
    assert!(!directory.path().join("copy.bin.part").exists());

    let query = Query::new()
        .and("table_sys_id", Condition::eq(incident.as_str()))
        .and("file_name", Condition::eq("report.bin"))
        .build()
        .expect("a safe query");
    let page = attachments
        .list(&AttachmentListParams {
            query: Some(query),
            limit: Some(10),
            offset: None,
        })
        .await
        .expect("the list");
    let listed: Vec<&Attachment> = page.records.iter().collect();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].sys_id, uploaded.sys_id);
}

#[tokio::test]
async fn a_reader_uploads_through_multipart_then_is_renamed_and_deleted() {
    let emulator = emulator::start(Emulator::builder().rows("incident", 5)).await;
    let client = emulator::client(&emulator);
    let attachments = client.attachments();
    let incident = an_incident(&client).await;
    let target = UploadTarget::new(
        TableName::new("incident").expect("valid"),
        incident,
        "notes.txt",
    )
    .with_content_type("text/plain");
    let multipart = Multipart::new(&target, "sn-test-boundary-7f3a").expect("a valid boundary");
    let reader = std::io::Cursor::new(b"first line\nsecond line\n".to_vec());

    let uploaded = attachments
        .upload_multipart(&target, &multipart, reader_body(reader, Some(23)))
        .await
        .expect("the multipart upload is accepted");
    assert_eq!(uploaded.file_name, "notes.txt");
    assert_eq!(uploaded.content_type, "text/plain");
    assert_eq!(uploaded.size_bytes, Some(23));

    attachments
        .rename(&uploaded.sys_id, "notes-final.txt")
        .await
        .expect("the rename");
    let renamed = attachments
        .metadata(&uploaded.sys_id)
        .await
        .expect("metadata");
    assert_eq!(renamed.file_name, "notes-final.txt");

    let mut written = Vec::new();
    let downloaded = attachments
        .download_to_writer(&uploaded.sys_id, &mut written)
        .await
        .expect("the download");
    assert_eq!(written, b"first line\nsecond line\n");
    assert!(downloaded.verified);

    attachments
        .delete(&uploaded.sys_id)
        .await
        .expect("the delete");
    match attachments.metadata(&uploaded.sys_id).await {
        Err(TableError::NotFound { response, .. }) => {
            assert_eq!(response.message, "No Record found");
        }
        other => panic!("expected NotFound after the delete, got {other:?}"),
    }
}

#[tokio::test]
async fn an_upload_to_a_record_that_does_not_exist_is_refused_with_servicenows_message() {
    let emulator = emulator::start(Emulator::builder().rows("incident", 5)).await;
    let client = emulator::client(&emulator);
    let target = UploadTarget::new(
        TableName::new("incident").expect("valid"),
        SysId::new("ffffffffffffffffffffffffffffffff").expect("valid"),
        "x.txt",
    );
    let outcome = client
        .attachments()
        .upload(&target, RequestBody::from_bytes(Bytes::from_static(b"x")))
        .await;
    match outcome {
        Err(TableError::NotFound { response, .. }) => assert!(!response.message.is_empty()),
        other => panic!("expected NotFound, got {other:?}"),
    }
}

// A damaged download.

/// An instance whose metadata promises one hash and whose content is other bytes; it records
/// whether the content was asked for.
#[derive(Clone)]
struct DamagedInTransit {
    served: Arc<AtomicBool>,
}

#[async_trait]
impl HttpTransport for DamagedInTransit {
    async fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError> {
        assert!(
            request.uri().path().ends_with(INCIDENT_ID),
            "metadata first"
        );
        let record = format!(
            r#"{{"result":{{"sys_id":"{INCIDENT_ID}","file_name":"a.bin","size_bytes":"5","hash":"{}"}}}}"#,
            sha256_hex(b"hello")
        );
        Ok(response(200, &record))
    }

    async fn send_streaming(
        &self,
        request: http::Request<RequestBody>,
        _limits: StreamLimits,
    ) -> Result<http::Response<ResponseBody>, TransportError> {
        assert!(request.uri().path().ends_with("/file"));
        self.served.store(true, Ordering::SeqCst);
        Ok(http::Response::new(ResponseBody::from_bytes(
            Bytes::from_static(b"jello"),
        )))
    }
}

#[tokio::test]
async fn a_download_that_does_not_match_its_hash_fails_and_leaves_no_file_behind() {
    let served = Arc::new(AtomicBool::new(false));
    let client = TableClient::new(
        InstanceUrl::new("https://dev1.service-now.com").expect("valid"),
        DamagedInTransit {
            served: Arc::clone(&served),
        },
    );
    let directory = tempfile::tempdir().expect("a temporary directory");
    let path = directory.path().join("a.bin");

    let outcome = client
        .attachments()
        .download_to_file(&SysId::new(INCIDENT_ID).expect("valid"), &path)
        .await;

    match outcome {
        Err(TableError::HashMismatch {
            expected, actual, ..
        }) => {
            assert_eq!(expected, sha256_hex(b"hello"));
            assert_eq!(actual, sha256_hex(b"jello"));
        }
        other => panic!("expected a hash mismatch, got {other:?}"),
    }
    assert!(served.load(Ordering::SeqCst), "the content was read");
    assert!(!path.exists(), "no file looks complete");
    assert!(
        !directory.path().join("a.bin.part").exists(),
        "the partial file is gone"
    );
}
