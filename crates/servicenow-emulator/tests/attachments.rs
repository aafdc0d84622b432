//! The Attachment API (`servicenow-api-more.md` §1) told as a client meets it: a file uploaded
//! raw or as multipart comes back byte for byte with its SHA-256 in `hash`, its metadata all
//! strings and its row in `sys_attachment`; lists page like the Table API; errors come in the
//! REST error envelope; oversize uploads are refused while they stream in.

mod common;

use common::{get, header, http, json, password_tokens, start, start_with};
use reqwest::StatusCode;
use serde_json::Value;
use servicenow_emulator::{AttachmentStorage, Emulator, EmulatorHandle, WriteDenial};
use sha2::{Digest as _, Sha256};

/// Deterministic bytes that are not all alike.
fn content(length: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..length)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

async fn raw_upload(
    emulator: &EmulatorHandle,
    token: &str,
    query: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let response = http()
        .post(emulator.url(&format!("/api/now/v1/attachment/file?{query}")))
        .bearer_auth(token)
        .header("Accept", "application/json")
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .expect("the Attachment API answers");
    let (status, headers) = (response.status(), response.headers().clone());
    (status, headers, response.text().await.unwrap_or_default())
}

async fn download(emulator: &EmulatorHandle, token: &str, sys_id: &str) -> reqwest::Response {
    http()
        .get(emulator.url(&format!("/api/now/attachment/{sys_id}/file")))
        .bearer_auth(token)
        .send()
        .await
        .expect("the Attachment API answers")
}

#[tokio::test]
async fn a_raw_upload_comes_back_byte_for_byte_and_is_deleted_with_204() {
    let emulator = start().await;
    let (token, _) = password_tokens(&emulator).await;
    let incident = emulator.live_sys_ids("incident").unwrap()[3].clone();
    let bytes = content(300_000);
    let (status, headers, text) = raw_upload(
        &emulator,
        &token,
        &format!("table_name=incident&table_sys_id={incident}&file_name=trace.log"),
        "text/plain",
        bytes.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    let record = json(&text)["result"].clone();
    let sys_id = record["sys_id"].as_str().unwrap().to_owned();
    // As PySNC's live test expects: the `/file` URL under the path the upload used.
    assert_eq!(
        header(&headers, "Location"),
        emulator.url(&format!("/api/now/v1/attachment/{sys_id}/file"))
    );
    assert!(
        record.as_object().unwrap().values().all(Value::is_string),
        "every value is a string: {record}"
    );
    assert_eq!(record["size_bytes"], "300000");
    assert_eq!(record["hash"], sha256_hex(&bytes).as_str());
    assert_eq!(record["file_name"], "trace.log");
    assert_eq!(record["content_type"], "text/plain");
    assert_eq!(record["table_name"], "incident");
    assert_eq!(record["table_sys_id"], incident.as_str());
    assert_eq!(record["sys_created_by"], "admin");
    assert_eq!(
        record["download_link"],
        emulator
            .url(&format!("/api/now/attachment/{sys_id}/file"))
            .as_str()
    );

    let (status, _, text) = get(&emulator, &format!("/api/now/attachment/{sys_id}"), &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&text)["result"], record, "metadata as the upload said");
    let (status, _, text) = get(
        &emulator,
        &format!("/api/now/table/sys_attachment/{sys_id}"),
        &token,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "the row is in sys_attachment");
    assert_eq!(json(&text)["result"]["hash"], record["hash"]);

    let response = download(&emulator, &token, &sys_id).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(response.headers(), "Content-Type"), "text/plain");
    let metadata = json(header(response.headers(), "X-Attachment-Metadata"));
    assert_eq!(metadata["size_bytes"], "300000");
    assert_eq!(response.bytes().await.unwrap().as_ref(), bytes.as_slice());

    let response = http()
        .delete(emulator.url(&format!("/api/now/attachment/{sys_id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(response.headers().get("Content-Type"), None);
    assert!(response.bytes().await.unwrap().is_empty());
    for path in [
        format!("/api/now/attachment/{sys_id}"),
        format!("/api/now/attachment/{sys_id}/file"),
    ] {
        let (status, _, text) = get(&emulator, &path, &token).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(json(&text)["error"]["message"], "No Record found");
    }
}

#[tokio::test]
async fn a_multipart_upload_takes_the_record_from_the_fields_before_the_file() {
    let emulator = start().await;
    let (token, _) = password_tokens(&emulator).await;
    let problem = emulator.live_sys_ids("problem").unwrap()[0].clone();
    let bytes = content(70_000);
    let boundary = "----emulator-test-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"table_name\"\r\n\r\nproblem\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"table_sys_id\"\r\n\r\n{problem}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"uploadFile\"; filename=\"screen.png\"\r\n\
         Content-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let response = http()
        .post(emulator.url("/api/now/attachment/upload"))
        .bearer_auth(&token)
        .header("Accept", "application/json")
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = header(response.headers(), "Location").to_owned();
    let record = json(&response.text().await.unwrap())["result"].clone();
    let sys_id = record["sys_id"].as_str().unwrap();
    assert_eq!(
        location,
        emulator.url(&format!("/api/now/attachment/{sys_id}/file"))
    );
    assert_eq!(record["file_name"], "screen.png");
    assert_eq!(record["content_type"], "image/png");
    assert_eq!(record["table_name"], "problem");
    assert_eq!(record["hash"], sha256_hex(&bytes).as_str());
    let response = download(&emulator, &token, sys_id).await;
    assert_eq!(header(response.headers(), "Content-Type"), "image/png");
    assert_eq!(response.bytes().await.unwrap().as_ref(), bytes.as_slice());
}

#[tokio::test]
async fn a_40_mb_upload_streams_to_disk_and_its_hash_is_the_content_s_sha256() {
    let emulator = start().await;
    let (token, _) = password_tokens(&emulator).await;
    let incident = emulator.live_sys_ids("incident").unwrap()[0].clone();
    let bytes = content(40 * 1024 * 1024 + 17);
    let expected = sha256_hex(&bytes);
    let (status, _, text) = raw_upload(
        &emulator,
        &token,
        &format!("table_name=incident&table_sys_id={incident}&file_name=dump.bin"),
        "application/octet-stream",
        bytes.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    let record = json(&text)["result"].clone();
    assert_eq!(record["hash"], expected.as_str());
    assert_eq!(record["size_bytes"], bytes.len().to_string().as_str());
    let response = download(&emulator, &token, record["sys_id"].as_str().unwrap()).await;
    assert_eq!(
        response.content_length(),
        Some(bytes.len() as u64),
        "the length is declared up front"
    );
    let downloaded = response.bytes().await.unwrap();
    assert_eq!(sha256_hex(&downloaded), expected);
}

#[tokio::test]
async fn uploads_over_the_size_limit_or_the_memory_cap_are_refused_with_413() {
    let emulator = start_with(
        Emulator::builder().attachment_storage(AttachmentStorage::Memory {
            max_total_bytes: 150_000,
        }),
    )
    .await;
    let (token, _) = password_tokens(&emulator).await;
    let incident = emulator.live_sys_ids("incident").unwrap()[0].clone();
    let query = format!("table_name=incident&table_sys_id={incident}&file_name=a.bin");
    let (status, _, _) = raw_upload(&emulator, &token, &query, "a/b", content(100_000)).await;
    assert_eq!(status, StatusCode::CREATED);
    // 100 000 of the 150 000 bytes are used: 60 000 more do not fit.
    let (status, _, text) = raw_upload(&emulator, &token, &query, "a/b", content(60_000)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{text}");
    assert_eq!(json(&text)["status"], "failure");
    assert_eq!(json(&text)["error"]["message"], "Request entity too large");

    emulator.update_settings(|settings| {
        settings.attachment_max_bytes = 1_000;
        settings.attachment_too_large_status = 400;
    });
    let (status, _, _) = raw_upload(&emulator, &token, &query, "a/b", content(1_001)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the status is a setting");
    let (status, _, _) = raw_upload(&emulator, &token, &query, "a/b", content(1_000)).await;
    assert_eq!(status, StatusCode::CREATED, "the limit itself is allowed");
    let (_, headers, _) = get(
        &emulator,
        &format!("/api/now/attachment?sysparm_query=table_sys_id={incident}"),
        &token,
    )
    .await;
    assert_eq!(
        header(&headers, "X-Total-Count"),
        "2",
        "refusals leave no row"
    );
}

#[tokio::test]
async fn bad_uploads_get_the_documented_errors() {
    let emulator = start().await;
    let (token, _) = password_tokens(&emulator).await;
    let incident = emulator.live_sys_ids("incident").unwrap()[0].clone();
    let missing_record = "0123456789abcdef0123456789abcdef";
    for (query, status, message) in [
        (
            "table_name=incident&file_name=x.txt".to_owned(),
            StatusCode::BAD_REQUEST,
            "Bad Request",
        ),
        (
            format!("table_name=no_such_table&table_sys_id={incident}&file_name=x.txt"),
            StatusCode::BAD_REQUEST,
            "Invalid table no_such_table",
        ),
        (
            format!("table_name=incident&table_sys_id={missing_record}&file_name=x.txt"),
            StatusCode::NOT_FOUND,
            "No Record found",
        ),
    ] {
        let (got, _, text) = raw_upload(&emulator, &token, &query, "text/plain", vec![1]).await;
        assert_eq!(got, status, "{query}: {text}");
        assert_eq!(json(&text)["error"]["message"], message, "{query}");
    }

    let response = http()
        .post(emulator.url(&format!(
            "/api/now/attachment/file?table_name=incident&table_sys_id={incident}&file_name=x"
        )))
        .body("no token")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        json(&response.text().await.unwrap())["error"]["message"],
        "User Not Authenticated"
    );

    emulator.update_settings(|settings| {
        settings.write_acl_denials = vec![WriteDenial::table("sys_attachment")];
    });
    let query = format!("table_name=incident&table_sys_id={incident}&file_name=x.txt");
    let (status, _, text) = raw_upload(&emulator, &token, &query, "text/plain", vec![1]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    let some_attachment = emulator.live_sys_ids("sys_attachment").unwrap()[0].clone();
    let response = http()
        .delete(emulator.url(&format!("/api/now/attachment/{some_attachment}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_list_pages_like_the_table_api_and_generated_files_match_their_hash() {
    let emulator = start().await;
    let (token, _) = password_tokens(&emulator).await;
    let (status, headers, text) = get(
        &emulator,
        "/api/now/attachment?sysparm_query=table_name=incident^ORDERBYsys_created_on&sysparm_limit=10&sysparm_offset=20",
        &token,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, "X-Total-Count"), "100");
    let link = header(&headers, "Link");
    assert!(
        link.contains("/api/now/attachment?") && link.contains("rel=\"next\""),
        "{link}"
    );
    let page = json(&text)["result"].as_array().unwrap().clone();
    assert_eq!(page.len(), 10);
    for record in &page[..3] {
        let sys_id = record["sys_id"].as_str().unwrap();
        assert!(record["download_link"].as_str().unwrap().ends_with("/file"));
        let response = download(&emulator, &token, sys_id).await;
        assert_eq!(
            header(response.headers(), "Content-Type"),
            record["content_type"].as_str().unwrap()
        );
        let bytes = response.bytes().await.unwrap();
        assert_eq!(
            bytes.len().to_string(),
            record["size_bytes"].as_str().unwrap()
        );
        assert_eq!(sha256_hex(&bytes), record["hash"].as_str().unwrap());
    }
    // Without a limit the documented default of 1000 applies (the Link says so).
    let (_, headers, _) = get(&emulator, "/api/now/attachment", &token).await;
    assert!(
        header(&headers, "Link").contains("sysparm_limit=1000"),
        "{}",
        header(&headers, "Link")
    );
}

#[tokio::test]
async fn a_rename_changes_the_file_name_only() {
    let emulator = start().await;
    let (token, _) = password_tokens(&emulator).await;
    let sys_id = emulator.live_sys_ids("sys_attachment").unwrap()[5].clone();
    let (_, _, before) = get(&emulator, &format!("/api/now/attachment/{sys_id}"), &token).await;
    let response = http()
        .patch(emulator.url(&format!("/api/now/attachment/{sys_id}")))
        .bearer_auth(&token)
        .header("Content-Type", "application/json")
        .body(r#"{"file_name":"renamed.txt"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (_, _, after) = get(&emulator, &format!("/api/now/attachment/{sys_id}"), &token).await;
    let (before, after) = (
        json(&before)["result"].clone(),
        json(&after)["result"].clone(),
    );
    assert_eq!(after["file_name"], "renamed.txt");
    assert_eq!(after["hash"], before["hash"]);
}

#[tokio::test]
async fn two_uploads_racing_for_the_last_memory_get_one_201_and_one_413() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let emulator = start_with(
        Emulator::builder().attachment_storage(AttachmentStorage::Memory {
            max_total_bytes: 150_000,
        }),
    )
    .await;
    let (token, _) = password_tokens(&emulator).await;
    let incident = emulator.live_sys_ids("incident").unwrap()[0].clone();
    let body = content(100_000);
    let head = format!(
        "POST /api/now/attachment/file?table_name=incident&table_sys_id={incident}&file_name=half.bin HTTP/1.1\r\n\
         Host: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    // Both begin while 150 000 bytes are free, and each would fit alone.
    let mut uploads = Vec::new();
    for _ in 0..2 {
        let mut stream = tokio::net::TcpStream::connect(emulator.local_addr())
            .await
            .unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&body[..50_000]).await.unwrap();
        uploads.push(stream);
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let mut statuses = Vec::new();
    for mut stream in uploads {
        stream.write_all(&body[50_000..]).await.unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.unwrap();
        let answer = String::from_utf8_lossy(&answer);
        statuses.push(answer.split(' ').nth(1).unwrap_or_default().to_owned());
    }
    statuses.sort();
    assert_eq!(statuses, ["201", "413"]);
}

#[tokio::test]
async fn deleting_the_row_through_the_table_api_deletes_the_content_too() {
    let emulator = start_with(
        Emulator::builder().attachment_storage(AttachmentStorage::Memory {
            max_total_bytes: 150_000,
        }),
    )
    .await;
    let (token, _) = password_tokens(&emulator).await;
    let incident = emulator.live_sys_ids("incident").unwrap()[0].clone();
    let query = format!("table_name=incident&table_sys_id={incident}&file_name=a.bin");
    let (status, _, text) = raw_upload(&emulator, &token, &query, "a/b", content(100_000)).await;
    assert_eq!(status, StatusCode::CREATED);
    let sys_id = json(&text)["result"]["sys_id"].as_str().unwrap().to_owned();
    let response = http()
        .delete(emulator.url(&format!("/api/now/table/sys_attachment/{sys_id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    // The 100 000 bytes were given back: another upload of that size fits under the cap.
    let (status, _, text) = raw_upload(&emulator, &token, &query, "a/b", content(100_000)).await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
}
