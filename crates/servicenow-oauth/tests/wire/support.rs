//! Shared helpers: a fixed-seed RNG, a fixture client, and a plain-text rendering of a request
//! for snapshots.

use bytes::Bytes;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng as _;
use servicenow_oauth::{ClientAuthMethod, ClientId, ClientSecret, InstanceUrl, OAuthClient};

/// The RNG every snapshot uses, so PKCE verifiers and states are stable.
pub(crate) fn seeded_rng() -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(0x5e41_ce00)
}

pub(crate) fn instance() -> InstanceUrl {
    InstanceUrl::new("https://example.service-now.com").unwrap()
}

/// A confidential client whose id and secret need encoding (space, colon, plus, percent,
/// non-ASCII), so both client-authentication methods show their encoding in the snapshots.
pub(crate) fn confidential_client(method: ClientAuthMethod) -> OAuthClient {
    OAuthClient::confidential(
        ClientId::new("client id:1+é").unwrap(),
        ClientSecret::new("s3cr%t pass:wörd").unwrap(),
    )
    .with_auth_method(method)
}

/// `METHOD URI`, then each header as `name: value`, a blank line, and the body as text.
pub(crate) fn render(request: &http::Request<Bytes>) -> String {
    let mut text = format!("{} {}\n", request.method(), request.uri());
    for (name, value) in request.headers() {
        text.push_str(&format!("{name}: {}\n", value.to_str().unwrap()));
    }
    text.push('\n');
    text.push_str(std::str::from_utf8(request.body()).unwrap());
    text
}

/// The form body of a request as decoded pairs.
pub(crate) fn form_pairs(request: &http::Request<Bytes>) -> Vec<(String, String)> {
    form_urlencoded::parse(request.body())
        .into_owned()
        .collect()
}

/// Whether a type implements `Clone`, `Display` or `Serialize`, decided at compile time by
/// inherent-method priority: the inherent method exists only when the bound holds, and this
/// trait's method is the fallback.
pub(crate) trait ProbeFallback {
    fn is_clone(&self) -> bool {
        false
    }
    fn is_display(&self) -> bool {
        false
    }
    fn is_serialize(&self) -> bool {
        false
    }
}

pub(crate) struct CloneProbe<T>(pub(crate) std::marker::PhantomData<T>);
pub(crate) struct DisplayProbe<T>(pub(crate) std::marker::PhantomData<T>);
pub(crate) struct SerializeProbe<T>(pub(crate) std::marker::PhantomData<T>);

impl<T> ProbeFallback for CloneProbe<T> {}
impl<T> ProbeFallback for DisplayProbe<T> {}
impl<T> ProbeFallback for SerializeProbe<T> {}

impl<T: Clone> CloneProbe<T> {
    pub(crate) fn is_clone(&self) -> bool {
        true
    }
}

impl<T: std::fmt::Display> DisplayProbe<T> {
    pub(crate) fn is_display(&self) -> bool {
        true
    }
}

impl<T: serde::Serialize> SerializeProbe<T> {
    pub(crate) fn is_serialize(&self) -> bool {
        true
    }
}

/// `implements!(Clone, T)` is `true` when `T: Clone`, and likewise for `Display` and `Serialize`.
macro_rules! implements {
    (Clone, $type:ty) => {{
        #[allow(unused_imports)]
        use crate::support::ProbeFallback as _;
        crate::support::CloneProbe::<$type>(std::marker::PhantomData).is_clone()
    }};
    (Display, $type:ty) => {{
        #[allow(unused_imports)]
        use crate::support::ProbeFallback as _;
        crate::support::DisplayProbe::<$type>(std::marker::PhantomData).is_display()
    }};
    (Serialize, $type:ty) => {{
        #[allow(unused_imports)]
        use crate::support::ProbeFallback as _;
        crate::support::SerializeProbe::<$type>(std::marker::PhantomData).is_serialize()
    }};
}

pub(crate) use implements;
