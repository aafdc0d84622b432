//! Protocol types only: `servicenow-oauth` builds a client-credentials token request and parses the answer; `ureq` sends it.
#![allow(clippy::print_stdout, reason = "an example prints what it did")]

use servicenow_oauth::{
    ClientSecret, InstanceUrl, OAuthClient, TokenGrant, TokenResponseOptions, bytes::Bytes, http,
    parse_token_response, token_request,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let env = |name: &str| std::env::var(name).map_err(|_| format!("set {name}"));
    let instance: InstanceUrl = env("SN_INSTANCE")?.parse()?;
    let secret = ClientSecret::new(env("SN_CLIENT_SECRET")?)?;
    let client = OAuthClient::confidential(env("SN_CLIENT_ID")?.parse()?, secret);
    let grant = TokenGrant::ClientCredentials { scope: None };
    let request = token_request(&instance, &client, &grant)?;

    // Any HTTP client sends it; ureq is told to return 4xx/5xx as responses, not follow redirects.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let (parts, mut body) = agent.run(request.map(Vec::from))?.into_parts();
    let body = Bytes::from(body.with_config().limit(64 * 1024).read_to_vec()?);
    let response = http::Response::from_parts(parts, body);
    let token = parse_token_response(&response, &TokenResponseOptions::default())?;
    println!(
        "access token issued, valid for {} s",
        token.expires_in.as_secs()
    );
    Ok(())
}
