//! The oracle of the `callback_query` fuzz target: the redirect's query string and request target (`parse_callback_query`, `parse_callback_uri`).

use servicenow_oauth::{AuthorizationResponse, parse_callback_query, parse_callback_uri};

/// Checks the properties of the target on one input; panics when one does not hold.
pub fn check(data: &[u8]) {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = parse_callback_query(query);
    if let Ok(response) = &parsed {
        // Debug of a callback never shows the code or the state.
        let debug = format!("{response:?}");
        if let AuthorizationResponse::Success(success) = response {
            let code = success.code.secret();
            // `iss` is printed (it is no secret); the code may only appear inside it.
            let inside_iss = success
                .iss
                .as_deref()
                .is_some_and(|iss| format!("{iss:?}").contains(code));
            // Real codes are long; a code of a few characters can match a field name by chance.
            assert!(
                code.len() < 16 || inside_iss || !debug.contains(code),
                "Debug printed the code"
            );
        }
    }
    if let Err(error) = &parsed {
        let _ = (error.to_string(), format!("{error:?}"));
    }
    // The same query as a loopback server's request target gives the same answer.
    let target = format!("/callback?{}", query.trim_start_matches('?'));
    if let Ok(uri) = target.parse::<http::Uri>() {
        let from_uri = parse_callback_uri(&uri);
        if let (Ok(a), Ok(b)) = (
            &from_uri,
            parse_callback_query(uri.query().unwrap_or_default()),
        ) {
            assert_eq!(a, &b);
        }
    }
}
