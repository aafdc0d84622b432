//! The facade with a transport of your own: it logs each request's method and path (never its query, headers or body, where tokens travel) and forwards it to hyper; tokens stay in memory.
#![allow(clippy::print_stdout, reason = "an example prints what it did")]

use std::sync::Arc;

use servicenow::transport::{HttpTransport, HyperTransport, TransportError, async_trait};
use servicenow::{Servicenow, bytes::Bytes, http, oauth, stores, table};

/// Logs method, path and outcome of each request, then hands it to the inner transport.
struct Logging<T>(T);

#[async_trait]
impl<T: HttpTransport> HttpTransport for Logging<T> {
    async fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError> {
        let line = format!("{} {}", request.method(), request.uri().path());
        let result = self.0.send(request).await;
        match &result {
            Ok(response) => println!("{line} -> {}", response.status().as_u16()),
            Err(error) => println!("{line} -> {error}"),
        }
        result
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let env = |name: &str| std::env::var(name).map_err(|_| format!("set {name}"));
    let secret = oauth::ClientSecret::new(env("SN_CLIENT_SECRET")?)?;
    let client = oauth::OAuthClient::confidential(env("SN_CLIENT_ID")?.parse()?, secret);
    let servicenow = Servicenow::builder(env("SN_INSTANCE")?.parse()?, client)
        .store(stores::open_memory()?)
        .transport(Arc::new(Logging(HyperTransport::new()?)))
        .build()
        .await?;
    let incidents = servicenow.service().table::<table::Record>("incident")?;
    let params = table::ListParams {
        limit: Some(3),
        ..table::ListParams::default()
    };
    println!(
        "read {} incidents",
        incidents.list(&params).await?.records.len()
    );
    Ok(())
}
