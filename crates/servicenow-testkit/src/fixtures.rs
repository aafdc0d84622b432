//! Ready-made configurations and servers that match each other, for tests.

use servicenow_auth::AuthConfig;
use servicenow_oauth::{
    AssertionClaims, AssertionSigner, ClientId, ClientSecret, InstanceUrl, JwsAlgorithm,
    JwtAssertion, JwtBearer, OAuthClient, RedirectUri, encode_compact_jwt,
};

use crate::server::{FakeTokenServer, RegisteredClient};

/// The instance every fixture talks to.
pub const INSTANCE: &str = "https://dev12345.service-now.com";
/// The client id every fixture uses.
pub const CLIENT_ID: &str = "3f1e0c6a9b7d4e2f8a5c1b0d9e8f7a6b";
/// The client secret every fixture uses (a marker easy to find in leak checks).
pub const CLIENT_SECRET: &str = "client-SECRET-5ae1";
/// The redirect URI of the authorization code fixtures.
pub const REDIRECT_URI: &str = "https://app.example.com/oauth/callback";

/// The confidential client (`client_secret_post`).
pub fn client() -> OAuthClient {
    OAuthClient::confidential(
        ClientId::new(CLIENT_ID).expect("fixture client id is valid"),
        ClientSecret::new(CLIENT_SECRET).expect("fixture client secret is valid"),
    )
}

/// The instance URL.
pub fn instance() -> InstanceUrl {
    InstanceUrl::new(INSTANCE).expect("fixture instance URL is valid")
}

/// A user credential: authorization code + PKCE, then refresh.
pub fn authorization_code_config() -> AuthConfig {
    let redirect_uri = RedirectUri::new(REDIRECT_URI).expect("fixture redirect URI is valid");
    AuthConfig::authorization_code(instance(), client(), redirect_uri)
}

/// A service credential: client credentials.
pub fn client_credentials_config() -> AuthConfig {
    AuthConfig::client_credentials(instance(), client())
}

/// The user every JWT fixture asserts (`sub`).
pub const JWT_SUBJECT: &str = "integration@example.com";

/// A JWT bearer credential for [`JWT_SUBJECT`], its assertions made by [`MarkerSigner`].
pub fn jwt_bearer_config() -> AuthConfig {
    let jwt = JwtBearer::new(JWT_SUBJECT, std::sync::Arc::new(MarkerSigner))
        .expect("fixture subject is valid");
    AuthConfig::jwt_bearer(instance(), client(), jwt)
}

/// An [`AssertionSigner`] for the machine's tests: real header and claims, and a fixed marker
/// where the signature goes. The fake token server does not check signatures; the emulator,
/// which does, is tested with real keys.
#[derive(Debug)]
pub struct MarkerSigner;

impl AssertionSigner for MarkerSigner {
    fn algorithm(&self) -> JwsAlgorithm {
        JwsAlgorithm::Rs256
    }

    fn key_id(&self) -> Option<&str> {
        Some("testkit")
    }

    fn sign(&self, claims: &AssertionClaims) -> Result<JwtAssertion, servicenow_oauth::Error> {
        encode_compact_jwt(self.algorithm(), self.key_id(), claims, |_| {
            Ok(b"testkit-marker-SECRET".to_vec())
        })
    }
}

/// A ServiceNow-like server that knows the fixture client.
pub fn servicenow_server() -> FakeTokenServer {
    FakeTokenServer::servicenow(RegisteredClient {
        client_id: CLIENT_ID.to_owned(),
        client_secret: Some(CLIENT_SECRET.to_owned()),
    })
}
