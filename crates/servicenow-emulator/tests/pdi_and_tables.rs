//! What scripts written against a personal developer instance rely on: DELETE without
//! `Content-Type` answered 204 as real instances do (`servicenow-api-more.md` §4), the tables
//! beyond tasks (`sys_user_group`, `sys_user_grmember`, `sys_metadata`, `sys_attachment`) with
//! references that resolve, and `--dataset pdi`'s well-known records under their published
//! sys_ids.

mod common;

use common::{get, json, password_tokens, start, start_with};
use reqwest::StatusCode;
use servicenow_emulator::{Dataset, Emulator, pdi};

#[tokio::test]
async fn delete_without_content_type_is_answered_204_as_real_clients_expect() {
    let emulator = start().await;
    let (token, _) = password_tokens(&emulator).await;
    let sys_ids = emulator.live_sys_ids("incident").unwrap();
    // PySNC and the Ansible collection send `Accept` only; the Attachment API's curl sends
    // neither header.
    for (sys_id, headers) in [
        (&sys_ids[0], "Accept: application/json\r\n"),
        (&sys_ids[1], ""),
    ] {
        let request = format!(
            "DELETE /api/now/table/incident/{sys_id} HTTP/1.1\r\nHost: x\r\n\
             Authorization: Bearer {token}\r\n{headers}Connection: close\r\n\r\n"
        );
        let response = String::from_utf8(common::raw_exchange(&emulator, &request).await).unwrap();
        assert!(response.starts_with("HTTP/1.1 204 "), "{response}");
        assert_eq!(emulator.row_values("incident", sys_id), None, "deleted");
    }
    // The REST overview's stricter rule is a setting.
    emulator.update_settings(|settings| settings.delete_requires_content_type = true);
    let request = format!(
        "DELETE /api/now/table/incident/{} HTTP/1.1\r\nHost: x\r\n\
         Authorization: Bearer {token}\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
        sys_ids[2]
    );
    let response = String::from_utf8(common::raw_exchange(&emulator, &request).await).unwrap();
    assert!(response.starts_with("HTTP/1.1 400 "), "{response}");
    assert!(emulator.row_values("incident", &sys_ids[2]).is_some());
}

#[tokio::test]
async fn group_memberships_point_at_users_and_groups_that_exist() {
    let emulator = start().await;
    let (token, _) = password_tokens(&emulator).await;
    let (status, _, text) = get(
        &emulator,
        "/api/now/table/sys_user_grmember?sysparm_limit=50&sysparm_display_value=all",
        &token,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let members = json(&text)["result"].as_array().unwrap().clone();
    assert_eq!(members.len(), 50);
    for member in &members {
        let user = member["user"]["value"].as_str().unwrap();
        let group = member["group"]["value"].as_str().unwrap();
        let user_row = emulator.row_values("sys_user", user).expect("a real user");
        let group_row = emulator
            .row_values("sys_user_group", group)
            .expect("a real group");
        assert_eq!(member["user"]["display_value"], user_row["name"].as_str());
        assert_eq!(member["group"]["display_value"], group_row["name"].as_str());
    }
    // Dot-walking through both references works in queries.
    let group_name = members[0]["group"]["display_value"].as_str().unwrap();
    let (_, headers, text) = get(
        &emulator,
        &format!(
            "/api/now/table/sys_user_grmember?sysparm_fields=group.name&sysparm_query=group.name={}",
            group_name.replace(' ', "%20")
        ),
        &token,
    )
    .await;
    let count: usize = common::header(&headers, "X-Total-Count").parse().unwrap();
    assert!(count >= 1);
    for row in json(&text)["result"].as_array().unwrap() {
        assert_eq!(row["group.name"], group_name);
    }
}

#[tokio::test]
async fn attachment_metadata_and_application_files_have_their_wire_shapes() {
    let emulator = start().await;
    let (token, _) = password_tokens(&emulator).await;
    let (_, _, text) = get(
        &emulator,
        "/api/now/table/sys_attachment?sysparm_limit=5",
        &token,
    )
    .await;
    for attachment in json(&text)["result"].as_array().unwrap() {
        let size: u64 = attachment["size_bytes"]
            .as_str()
            .expect("numbers are strings on the wire")
            .parse()
            .unwrap();
        assert!(size > 0);
        let hash = attachment["hash"].as_str().unwrap();
        assert_eq!(hash.len(), 64, "a SHA-256 in hex");
        assert_eq!(attachment["table_name"], "incident");
        let target = attachment["table_sys_id"].as_str().unwrap();
        assert!(emulator.row_values("incident", target).is_some());
    }
    let (_, _, text) = get(
        &emulator,
        "/api/now/table/sys_metadata?sysparm_limit=20&sysparm_fields=sys_class_name,sys_name,sys_scope",
        &token,
    )
    .await;
    let rows = json(&text)["result"].as_array().unwrap().clone();
    assert!(rows.iter().all(|row| row["sys_scope"] == "global"));
    assert!(
        rows.iter()
            .any(|row| row["sys_class_name"] != rows[0]["sys_class_name"]),
        "the base table holds several concrete classes"
    );
}

#[tokio::test]
async fn the_pdi_dataset_has_the_well_known_records_under_their_published_sys_ids() {
    let emulator = start_with(Emulator::builder().dataset(Dataset::Pdi)).await;
    assert_eq!(emulator.dataset(), Dataset::Pdi);
    let (token, _) = password_tokens(&emulator).await;
    let (status, _, text) = get(
        &emulator,
        "/api/now/table/sys_user?sysparm_query=user_name=admin",
        &token,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let admins = json(&text)["result"].as_array().unwrap().clone();
    assert_eq!(admins.len(), 1, "exactly one admin: {admins:?}");
    assert_eq!(admins[0]["sys_id"], pdi::ADMIN_SYS_ID);
    assert_eq!(admins[0]["name"], "System Administrator");

    let (_, _, text) = get(
        &emulator,
        &format!(
            "/api/now/table/incident/{}?sysparm_display_value=true",
            pdi::INC0000003_SYS_ID
        ),
        &token,
    )
    .await;
    let incident = json(&text)["result"].clone();
    assert_eq!(incident["number"], "INC0000003");
    assert_eq!(incident["assigned_to"]["display_value"], "Beth Anglin");
    assert_eq!(incident["assignment_group"]["display_value"], "Network");

    // Names are unambiguous: the generated people and groups carry a round number.
    for (table, field, value) in [
        ("sys_user", "name", "Beth%20Anglin"),
        ("sys_user_group", "name", "Service%20Desk"),
    ] {
        let (_, headers, _) = get(
            &emulator,
            &format!("/api/now/table/{table}?sysparm_query={field}={value}&sysparm_limit=1"),
            &token,
        )
        .await;
        assert_eq!(
            common::header(&headers, "X-Total-Count"),
            "1",
            "{table} {value}"
        );
    }
    // The demo group's members are found through the membership table.
    let (_, _, text) = get(
        &emulator,
        &format!(
            "/api/now/table/sys_user_grmember?sysparm_query=group={}&sysparm_fields=user.user_name",
            pdi::SERVICE_DESK_GROUP_SYS_ID
        ),
        &token,
    )
    .await;
    let mut members: Vec<String> = json(&text)["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["user.user_name"].as_str().unwrap().to_owned())
        .collect();
    members.sort();
    assert_eq!(members, ["beth.anglin", "itil"]);
    // A PDI's own new records start at INC0010001.
    let (_, _, text) = get(
        &emulator,
        "/api/now/table/incident?sysparm_limit=1&sysparm_fields=number&sysparm_query=ORDERBYnumber",
        &token,
    )
    .await;
    assert_eq!(json(&text)["result"][0]["number"], "INC0000003");
    let (_, _, text) = get(
        &emulator,
        "/api/now/table/incident?sysparm_limit=1&sysparm_fields=number&sysparm_query=numberSTARTSWITHINC001^ORDERBYnumber",
        &token,
    )
    .await;
    assert_eq!(json(&text)["result"][0]["number"], "INC0010001");
}
