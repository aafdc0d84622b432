//! Snapshots of the exact request each operation and option produces (method, URL, headers, body).

use std::convert::Infallible;

use bytes::Bytes;
use serde::Serialize;
use servicenow_oauth::InstanceUrl;
use servicenow_table::{
    ApiVersion, Condition, DisplayValues, FieldName, ListParams, Query, ReadOptions, Record, SysId,
    TableApi, TableError, TableName, View, WriteOptions,
};

fn api() -> TableApi {
    TableApi::new(InstanceUrl::new("https://dev1.service-now.com").expect("valid instance"))
}

fn incident() -> TableName {
    TableName::new("incident").expect("valid table")
}

fn sys_id() -> SysId {
    SysId::new("9d385017c611228701d22104cc95c371").expect("valid sys_id")
}

fn fields(names: &[&str]) -> Vec<FieldName> {
    names
        .iter()
        .map(|name| FieldName::new(*name).expect("valid field"))
        .collect()
}

/// The request as text: request line, headers in order, blank line, body.
fn render(request: Result<http::Request<Bytes>, TableError<Infallible>>) -> String {
    let request = request.expect("the request builds");
    let mut text = format!("{} {}\n", request.method(), request.uri());
    for (name, value) in request.headers() {
        text.push_str(&format!(
            "{name}: {}\n",
            value.to_str().unwrap_or("<binary>")
        ));
    }
    text.push('\n');
    text.push_str(&String::from_utf8_lossy(request.body()));
    text
}

#[derive(Serialize)]
struct NewIncident<'a> {
    short_description: &'a str,
    urgency: &'a str,
}

#[test]
fn list_without_parameters() {
    insta::assert_snapshot!(render(
        api().list_request(&incident(), &ListParams::default())
    ));
}

#[test]
fn list_with_query_and_every_read_option() {
    let query = Query::new()
        .and("active", Condition::eq("true"))
        .or("short_description", Condition::like("email & vpn+"))
        .order_by_desc("sys_created_on")
        .build()
        .expect("safe query");
    let params = ListParams {
        query: Some(query),
        options: ReadOptions {
            fields: fields(&["number", "short_description", "caller_id.email"]),
            display_values: DisplayValues::All,
            exclude_reference_link: true,
            no_count: true,
            view: Some(View::Mobile),
            ..ReadOptions::default()
        },
        limit: Some(500),
        offset: Some(1500),
    };
    insta::assert_snapshot!(render(api().list_request(&incident(), &params)));
}

#[test]
fn list_with_display_values_only_and_each_view() {
    for (view, name) in [(View::Desktop, "desktop"), (View::Both, "both")] {
        let params = ListParams {
            options: ReadOptions {
                display_values: DisplayValues::Display,
                view: Some(view),
                ..ReadOptions::default()
            },
            ..ListParams::default()
        };
        insta::assert_snapshot!(
            format!("list_view_{name}"),
            render(api().list_request(&incident(), &params))
        );
    }
}

#[test]
fn list_on_the_v1_api() {
    let api = api().with_version(ApiVersion::V1);
    insta::assert_snapshot!(render(api.list_request(
        &incident(),
        &ListParams {
            limit: Some(10),
            ..ListParams::default()
        }
    )));
}

#[test]
fn count() {
    let query = Query::new()
        .and("priority", Condition::is_in([1, 2]))
        .build()
        .expect("safe query");
    insta::assert_snapshot!(render(api().count_request(&incident(), Some(&query))));
}

#[test]
fn list_without_link_across_domains_in_a_query_category() {
    let params = ListParams {
        options: ReadOptions {
            suppress_pagination_header: true,
            query_no_domain: true,
            query_category: Some("list & report".to_owned()),
            ..ReadOptions::default()
        },
        limit: Some(100),
        ..ListParams::default()
    };
    insta::assert_snapshot!(render(api().list_request(&incident(), &params)));
}

#[test]
fn a_record_read_drops_the_paging_options_but_keeps_the_domain_ones() {
    let options = ReadOptions {
        suppress_pagination_header: true,
        query_no_domain: true,
        query_category: Some("replica".to_owned()),
        ..ReadOptions::default()
    };
    insta::assert_snapshot!(render(api().get_request(&incident(), &sys_id(), &options)));
}

#[test]
fn count_by_head() {
    let query = Query::new()
        .and("active", Condition::eq("true"))
        .build()
        .expect("safe query");
    insta::assert_snapshot!(render(api().count_head_request(&incident(), Some(&query))));
}

#[test]
fn create_without_response_body() {
    let record = NewIncident {
        short_description: "Printer on fire",
        urgency: "1",
    };
    let options = WriteOptions {
        input_display_value: true,
        ..WriteOptions::default()
    };
    insta::assert_snapshot!(render(api().create_request_without_body(
        &incident(),
        &record,
        &options
    )));
}

#[test]
fn update_without_response_body() {
    let changes = Record::new().with("state", "6");
    insta::assert_snapshot!(render(api().update_request_without_body(
        &incident(),
        &sys_id(),
        &changes,
        &WriteOptions::default()
    )));
}

#[test]
fn get_by_sys_id_with_options() {
    let options = ReadOptions {
        fields: fields(&["number"]),
        display_values: DisplayValues::Display,
        no_count: true,
        ..ReadOptions::default()
    };
    insta::assert_snapshot!(render(api().get_request(&incident(), &sys_id(), &options)));
}

#[test]
fn create_typed() {
    let record = NewIncident {
        short_description: "Printer on fire",
        urgency: "1",
    };
    insta::assert_snapshot!(render(api().create_request(
        &incident(),
        &record,
        &WriteOptions::default()
    )));
}

#[test]
fn create_dynamic_with_every_write_option() {
    let record = Record::new()
        .with("short_description", "VPN down")
        .with("caller_id", "Abel Tuter");
    let options = WriteOptions {
        fields: fields(&["sys_id", "number"]),
        display_values: DisplayValues::All,
        exclude_reference_link: true,
        input_display_value: true,
    };
    insta::assert_snapshot!(render(api().create_request(&incident(), &record, &options)));
}

#[test]
fn update_is_a_patch() {
    let changes = Record::new().with("state", "6");
    insta::assert_snapshot!(render(api().update_request(
        &incident(),
        &sys_id(),
        &changes,
        &WriteOptions::default()
    )));
}

#[test]
fn replace_is_a_put() {
    let record = NewIncident {
        short_description: "Printer fixed",
        urgency: "3",
    };
    insta::assert_snapshot!(render(api().replace_request(
        &incident(),
        &sys_id(),
        &record,
        &WriteOptions::default()
    )));
}

#[test]
fn delete_sends_both_json_headers() {
    insta::assert_snapshot!(render(api().delete_request(&incident(), &sys_id())));
}

#[test]
fn loopback_http_instances_keep_their_port() {
    let api = TableApi::new(InstanceUrl::new("http://127.0.0.1:8443/").expect("loopback"));
    insta::assert_snapshot!(render(api.get_request(
        &incident(),
        &sys_id(),
        &ReadOptions::default()
    )));
}
