//! The oracle of the `token_response` fuzz target: a 200 answer of the token endpoint (`parse_token_response`), whatever its body.

use servicenow_oauth::{TokenResponseOptions, parse_token_response};

/// Checks the properties of the target on one input; panics when one does not hold.
pub fn check(body: &[u8]) {
    let response = http::Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(body.to_vec())
        .expect("a fixed status and header are valid");
    match parse_token_response(&response, &TokenResponseOptions::default()) {
        Ok(token) => {
            // A token is handed out only when it is usable: non-empty VSCHARs (RFC 6749
            // Appendix A: %x20-7E, so a space is allowed), which always make a header value.
            let secret = token.access_token.secret();
            assert!(!secret.is_empty(), "an empty access token was accepted");
            assert!(
                secret.bytes().all(|byte| (0x20..=0x7e).contains(&byte)),
                "a token outside VSCHAR"
            );
            assert!(
                http::HeaderValue::from_str(&format!("Bearer {secret}")).is_ok(),
                "a token that cannot be sent in a header"
            );
            // Debug never prints the token. The scope is printed (it is no secret) and may
            // contain the token's text by chance; so may a field name for a short token.
            let in_scope = format!("{:?}", token.scope).contains(secret);
            let printed = format!("{token:?}").contains(secret);
            assert!(
                secret.len() < 16 || in_scope || !printed,
                "Debug printed the access token"
            );
            assert_eq!(
                format!("{:?}", token.access_token),
                "AccessToken([redacted])"
            );
        }
        Err(error) => {
            let _ = (
                error.to_string(),
                format!("{error:?}"),
                error.class(),
                error.is_transient(),
            );
        }
    }
}
