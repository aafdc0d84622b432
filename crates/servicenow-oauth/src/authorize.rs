//! The authorization request URL (RFC 6749 §4.1.1 with PKCE, RFC 7636 §4.3) for ServiceNow's
//! `GET {instance}/oauth_auth.do`.

use crate::{ClientId, InstanceUrl, PkceChallenge, RedirectUri, ScopeSet, State};

/// The parameters of one authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3).
///
/// Build it with values the caller keeps: the same `state` must be checked on the callback and
/// the same `redirect_uri` repeated in the token request (RFC 6749 §4.1.3).
#[derive(Clone, Copy, Debug)]
pub struct AuthorizationRequest<'a> {
    /// `client_id`.
    pub client_id: &'a ClientId,
    /// `redirect_uri`, sent byte for byte as given.
    pub redirect_uri: &'a RedirectUri,
    /// `scope`, space-separated; omitted when empty (ServiceNow then grants `useraccount`).
    pub scope: &'a ScopeSet,
    /// `state`, the one-time CSRF binding (RFC 6749 §10.12).
    pub state: &'a State,
    /// `code_challenge`, sent with `code_challenge_method=S256`.
    pub pkce_challenge: &'a PkceChallenge,
}

impl AuthorizationRequest<'_> {
    /// The URL to send the user's browser to:
    /// `{instance}/oauth_auth.do?response_type=code&client_id=…&redirect_uri=…&state=…`
    /// `[&scope=…]&code_challenge=…&code_challenge_method=S256`, each value
    /// `application/x-www-form-urlencoded` (RFC 6749 Appendix B).
    ///
    /// The URL carries `state`, which is secret until the callback arrives; don't log it.
    #[must_use]
    pub fn url(&self, instance: &InstanceUrl) -> url::Url {
        let mut url = instance.authorization_endpoint().clone();
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("response_type", "code");
            query.append_pair("client_id", self.client_id.as_str());
            query.append_pair("redirect_uri", self.redirect_uri.as_str());
            query.append_pair("state", self.state.secret());
            if !self.scope.is_empty() {
                query.append_pair("scope", &self.scope.to_space_separated());
            }
            query.append_pair("code_challenge", self.pkce_challenge.as_str());
            query.append_pair("code_challenge_method", PkceChallenge::METHOD);
        }
        url
    }
}
