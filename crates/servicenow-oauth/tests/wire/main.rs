//! Wire-level tests of servicenow-oauth: exact request bytes, parsers, validation and secrecy.

mod authorization_url;
mod callback;
mod instance_url;
#[cfg(feature = "jwt")]
mod jwt_bearer;
mod parsers_never_panic;
mod pkce_and_state;
mod redaction;
mod revocation;
mod support;
mod token_request;
mod token_response;
mod types;
