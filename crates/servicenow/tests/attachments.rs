//! The Attachment API through `Client::attachments` against the emulator: a round trip with
//! OAuth, ServiceNow's message in `servicenow::Error`, and the one refresh on 401 for a streamed
//! upload (sent again from its file; a one-shot reader is not sent twice).

use std::{sync::Arc, time::Duration};

use servicenow::{
    Client, Error, ErrorKind, Servicenow, SystemClock,
    oauth::{ClientId, ClientSecret, InstanceUrl, OAuthClient},
    table::{
        ListParams, Record, SysId, TableName,
        attachment::{UploadTarget, file_body, reader_body},
    },
    transport::{ReqwestTransport, TransportConfig},
};
use servicenow_emulator::{
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Emulator, EmulatorBuilder, EmulatorHandle,
};

/// An emulator with a few incidents that grants client credentials (as an instance configured
/// for an integration does).
fn emulator() -> EmulatorBuilder {
    Emulator::builder()
        .rows("incident", 3)
        .configure(|settings| settings.client_credentials_enabled = true)
}

async fn service_client(emulator: &EmulatorHandle) -> Client {
    let transport = ReqwestTransport::with_config(TransportConfig {
        total_timeout: Duration::from_secs(60),
        ..TransportConfig::default()
    })
    .expect("transport builds");
    Servicenow::builder(
        InstanceUrl::new(emulator.base_url()).expect("loopback instance"),
        OAuthClient::confidential(
            ClientId::new(DEFAULT_CLIENT_ID).expect("client id"),
            ClientSecret::new(DEFAULT_CLIENT_SECRET).expect("client secret"),
        ),
    )
    .store(servicenow::stores::open_memory().expect("memory store"))
    .transport(Arc::new(transport))
    .clock(Arc::new(SystemClock))
    .build()
    .await
    .expect("client builds")
    .service()
}

async fn an_incident(client: &Client) -> SysId {
    let page = client
        .table::<Record>("incident")
        .expect("valid table")
        .list(&ListParams {
            limit: Some(1),
            ..ListParams::default()
        })
        .await
        .expect("incidents are listed");
    SysId::new(page.records[0].get_str("sys_id").expect("a sys_id")).expect("valid sys_id")
}

fn target(incident: SysId, name: &str) -> UploadTarget {
    UploadTarget::new(TableName::new("incident").expect("valid"), incident, name)
        .with_content_type("text/plain")
}

#[tokio::test]
async fn an_upload_refused_with_401_is_sent_again_from_its_file_with_a_fresh_token() {
    let emulator = emulator().start().await.expect("emulator");
    let client = service_client(&emulator).await;
    let incident = an_incident(&client).await;
    let directory = tempfile::tempdir().expect("temporary directory");
    let path = directory.path().join("app.log");
    std::fs::write(&path, "started\nstopped\n").expect("write the log");
    // The token the handle holds is now refused: the upload meets a 401.
    emulator.revoke_all_tokens();

    let uploaded = client
        .attachments()
        .upload(
            &target(incident, "app.log"),
            file_body(&path).await.expect("readable"),
        )
        .await
        .expect("sent again from the file with a fresh token");

    assert_eq!(uploaded.size_bytes, Some(16));
    assert_eq!(client.token_manager().stats().token_requests, 2);
    let mut copy = Vec::new();
    let downloaded = client
        .attachments()
        .download_to_writer(&uploaded.sys_id, &mut copy)
        .await
        .expect("the download");
    assert_eq!(copy, b"started\nstopped\n");
    assert!(downloaded.verified);
}

#[tokio::test]
async fn a_one_shot_upload_refused_with_401_fails_typed_and_the_next_one_passes() {
    let emulator = emulator().start().await.expect("emulator");
    let client = service_client(&emulator).await;
    let incident = an_incident(&client).await;
    emulator.revoke_all_tokens();

    let reader = std::io::Cursor::new(b"once".to_vec());
    let outcome = client
        .attachments()
        .upload(
            &target(incident.clone(), "once.txt"),
            reader_body(reader, Some(4)),
        )
        .await;
    match outcome {
        Err(error @ Error::UploadNotReplayable { .. }) => {
            assert_eq!(error.kind(), ErrorKind::Unavailable);
        }
        other => panic!("expected UploadNotReplayable, got {other:?}"),
    }

    let reader = std::io::Cursor::new(b"once".to_vec());
    let uploaded = client
        .attachments()
        .upload(&target(incident, "once.txt"), reader_body(reader, Some(4)))
        .await
        .expect("a new reader goes with the fresh token");
    assert_eq!(uploaded.file_name, "once.txt");
}

#[tokio::test]
async fn a_missing_attachment_is_not_found_with_servicenows_message() {
    let emulator = emulator().start().await.expect("emulator");
    let client = service_client(&emulator).await;
    let missing = SysId::new("ffffffffffffffffffffffffffffffff").expect("valid");

    let error = client
        .attachments()
        .metadata(&missing)
        .await
        .expect_err("nothing has that sys_id");

    assert_eq!(error.kind(), ErrorKind::NotFound);
    let message = error
        .table_error()
        .and_then(|table| table.service_now_message())
        .expect("ServiceNow's message is kept");
    assert_eq!(message.message, "No Record found");
    assert!(error.to_string().contains("No Record found"), "{error}");
}
