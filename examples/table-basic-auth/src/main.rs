//! The table client alone, with another authentication: HTTP Basic, added by a transport of your own, for the instance only, over the reqwest transport.
#![allow(clippy::print_stdout, reason = "an example prints what it did")]

use base64::{Engine as _, engine::general_purpose::STANDARD};
use servicenow_http::{
    HttpTransport, ReqwestTransport, TransportError, async_trait, bytes::Bytes, http,
};
use servicenow_table::{InstanceUrl, ListParams, Record, TableClient};

/// Adds `Authorization: Basic …` (marked sensitive, so never logged) to requests for the instance.
struct BasicAuth {
    inner: ReqwestTransport,
    instance: InstanceUrl,
    authorization: http::HeaderValue,
}

#[async_trait]
impl HttpTransport for BasicAuth {
    async fn send(
        &self,
        mut request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError> {
        // Only to the instance: a pagination `Link` could point elsewhere.
        if self.instance.same_origin(request.uri()) {
            request
                .headers_mut()
                .insert(http::header::AUTHORIZATION, self.authorization.clone());
        }
        self.inner.send(request).await
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let env = |name: &str| std::env::var(name).map_err(|_| format!("set {name}"));
    let instance: InstanceUrl = env("SN_INSTANCE")?.parse()?;
    let credentials = STANDARD.encode(format!("{}:{}", env("SN_USER")?, env("SN_PASSWORD")?));
    let mut authorization = http::HeaderValue::try_from(format!("Basic {credentials}"))?;
    authorization.set_sensitive(true);
    let transport = BasicAuth {
        inner: ReqwestTransport::new()?,
        instance: instance.clone(),
        authorization,
    };
    let tables = TableClient::new(instance, transport);

    let params = ListParams {
        limit: Some(3),
        ..ListParams::default()
    };
    let page = tables.list::<Record>(&"incident".parse()?, &params).await?;
    for record in &page.records {
        println!(
            "{}",
            record
                .get("number")
                .and_then(|number| number.as_str())
                .unwrap_or("?")
        );
    }
    println!("read {} incidents", page.records.len());
    Ok(())
}
