//! `sn api METHOD PATH`: any REST endpoint of the profile's instance through the same
//! authorizing transport as the Table API, so nobody needs curl with a copied token. The path
//! must be relative to the instance: the token goes nowhere else.

use std::io::Read as _;

use bytes::Bytes;
use http::{Method, Request, header};
use servicenow::transport::RequestSender as _;

use crate::{
    auth_commands::profile_client,
    cli::{ApiArgs, GlobalArgs},
    failure::{CliError, CliResult},
    output::{output_error, say},
};

/// Runs `sn api`.
pub(crate) async fn run(global: &GlobalArgs, args: &ApiArgs) -> CliResult<()> {
    let method = method_of(&args.method)?;
    let path = checked_path(&args.path)?;
    let body = match &args.data {
        None => Bytes::new(),
        Some(path) if path.as_os_str() == "-" => {
            let mut body = Vec::new();
            std::io::stdin().read_to_end(&mut body).map_err(|error| {
                CliError::local(format!("cannot read standard input: {error}"), None)
            })?;
            body.into()
        }
        Some(path) => std::fs::read(path)
            .map_err(|error| {
                CliError::local(format!("cannot read {}: {error}", path.display()), None)
            })?
            .into(),
    };
    let client = profile_client(global).await?;
    let url = format!("{}{path}", client.instance().origin());
    let mut request = Request::builder()
        .method(method)
        .uri(&url)
        .header(header::ACCEPT, "application/json");
    if !body.is_empty() {
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    let request = request
        .body(body)
        .map_err(|_| CliError::usage(format!("{path} is not a valid request path"), None))?;
    let tables = client.tables();
    let response = tables
        .sender()
        .send_request(request)
        .await
        .map_err(CliError::from_client)?;
    let status = response.status();
    let text = match serde_json::from_slice::<serde_json::Value>(response.body()) {
        Ok(json) => serde_json::to_string_pretty(&json).map_err(|error| output_error(&error))?,
        // Not JSON: shown without control characters or escape sequences, like record data.
        Err(_) => {
            crate::untrusted::terminal_text(&String::from_utf8_lossy(response.body())).into_owned()
        }
    };
    if !text.is_empty() {
        say(&text);
    }
    if status.is_success() {
        eprintln!("{status}");
        return Ok(());
    }
    Err(servicenow::table::error_from_response(
        &response,
        &format!("{} {path}", args.method.to_uppercase()),
    )
    .into())
}

fn method_of(text: &str) -> CliResult<Method> {
    match text.to_ascii_uppercase().as_str() {
        "GET" => Ok(Method::GET),
        "POST" => Ok(Method::POST),
        "PUT" => Ok(Method::PUT),
        "PATCH" => Ok(Method::PATCH),
        "DELETE" => Ok(Method::DELETE),
        "HEAD" => Ok(Method::HEAD),
        _ => Err(CliError::usage(
            format!("{text:?} is not a method sn api sends"),
            Some("use GET, POST, PUT, PATCH, DELETE or HEAD".to_owned()),
        )),
    }
}

/// A path on the instance: starts with one `/`, no scheme or host, so the token cannot be sent
/// to another origin.
pub(crate) fn checked_path(path: &str) -> CliResult<&str> {
    let relative = path.starts_with('/') && !path.starts_with("//") && !path.contains('\\');
    if !relative || path.contains(char::is_whitespace) {
        return Err(CliError::usage(
            format!("{path:?} is not a path on the instance"),
            Some("give the path only, e.g. /api/now/table/incident?sysparm_limit=1; the instance comes from the profile".to_owned()),
        ));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_on_the_instance_are_accepted() {
        assert!(checked_path("/api/now/stats/incident?sysparm_count=true").is_ok());
        for foreign in [
            "https://evil.example/api",
            "//evil.example/api",
            "api/now/table/incident",
            "/\\evil.example",
            "/api now",
        ] {
            assert!(checked_path(foreign).is_err(), "{foreign}");
        }
    }
}
