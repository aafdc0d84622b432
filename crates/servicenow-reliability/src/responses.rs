//! A transport double that answers every request with a random, mostly malformed, HTTP response built from the fuzz corpus, and remembers every secret it planted.

use std::{
    path::Path,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use async_trait::async_trait;
use bytes::Bytes;
use rand::{Rng as _, SeedableRng as _, seq::IndexedRandom as _};
use rand_chacha::ChaCha8Rng;
use servicenow_http::{HttpTransport, TransportError};

/// Statuses drawn for responses: the ones clients handle and some they should never see.
const STATUSES: &[u16] = &[
    200, 200, 200, 201, 204, 206, 301, 302, 304, 400, 401, 401, 403, 404, 405, 409, 413, 429, 429,
    500, 502, 503, 504, 599, 999,
];

/// Token-like characters, as ServiceNow's tokens are made of.
const TOKEN_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The response bodies the double draws from: every file of the fuzz corpus.
pub fn corpus_bodies(fuzz_corpus: &Path) -> Vec<Vec<u8>> {
    let mut bodies = Vec::new();
    let Ok(targets) = std::fs::read_dir(fuzz_corpus) else {
        return bodies;
    };
    for target in targets.filter_map(Result::ok) {
        let Ok(files) = std::fs::read_dir(target.path()) else {
            continue;
        };
        for file in files.filter_map(Result::ok) {
            if let Ok(bytes) = std::fs::read(file.path()) {
                bodies.push(bytes);
            }
        }
    }
    bodies.sort();
    bodies
}

/// Answers every request with a random response; counts them and keeps the planted secrets.
#[derive(Debug)]
pub struct RandomResponses {
    rng: Mutex<ChaCha8Rng>,
    bodies: Vec<Vec<u8>>,
    served: AtomicU64,
    secrets: Mutex<Vec<String>>,
}

impl RandomResponses {
    /// A double drawing from `bodies` with a seeded generator.
    pub fn new(seed: u64, bodies: Vec<Vec<u8>>) -> Self {
        Self {
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed)),
            bodies,
            served: AtomicU64::new(0),
            secrets: Mutex::new(Vec::new()),
        }
    }

    /// Responses (and transport failures) served so far.
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    /// Every token the double planted in a response.
    pub fn secrets(&self) -> Vec<String> {
        self.secrets
            .lock()
            .map(|secrets| secrets.clone())
            .unwrap_or_default()
    }

    fn token(&self, rng: &mut ChaCha8Rng) -> String {
        let length = rng.random_range(32..96);
        let token: String = (0..length)
            .map(|_| char::from(*TOKEN_ALPHABET.choose(rng).unwrap_or(&b'x')))
            .collect();
        if let Ok(mut secrets) = self.secrets.lock() {
            secrets.push(token.clone());
        }
        token
    }

    fn token_body(&self, rng: &mut ChaCha8Rng) -> Vec<u8> {
        // Tokens in a token-shaped body are secrets the client would hold: they are recorded.
        // An error description is the server's own text: what it says is not recorded.
        let access = self.token(rng);
        let refresh = self.token(rng);
        let described = format!("bad grant {}", rng.random::<u64>());
        let choices = [
            format!(
                r#"{{"access_token":"{access}","refresh_token":"{refresh}","scope":"useraccount","token_type":"Bearer","expires_in":1799}}"#
            ),
            format!(
                r#"{{"access_token":"{access}","token_type":"Bearer","expires_in":"{}"}}"#,
                rng.random_range(0..4000)
            ),
            format!(
                r#"{{"access_token":"{access}","token_type":"mac","refresh_token":"{refresh}"}}"#
            ),
            format!(
                r#"{{"error":"server_error","error_description":"access_denied","refresh_token":"{refresh}"}}"#
            ),
            format!(
                r#"{{"error":"invalid_grant","error_description":"{described}","access_token":"{access}"}}"#
            ),
            format!(r#"<html>{access} {refresh}</html>"#),
            format!(r#"{{"access_token":"{access} with space","token_type":"Bearer"}}"#),
            format!(
                r#"{{"access_token":"{access}","token_type":"Bearer","expires_in":-1,"scope":"{refresh}\u0000"}}"#
            ),
        ];
        choices
            .choose(rng)
            .cloned()
            .unwrap_or_default()
            .into_bytes()
    }

    fn table_body(&self, rng: &mut ChaCha8Rng) -> Vec<u8> {
        let rows = rng.random_range(0..4);
        let choices = [
            format!(
                r#"{{"result":[{}]}}"#,
                (0..rows)
                    .map(|row| format!(r#"{{"sys_id":"{row:032x}","number":"INC{row:07}","active":"true"}}"#))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            r#"{"result":{"sys_id":"abc"}}"#.to_owned(),
            r#"{"error":{"message":"No Record found","detail":"ACL"},"status":"failure"}"#.to_owned(),
            r#"{"error":{"message":"Transaction cancelled: maximum execution time exceeded","detail":null},"status":"failure"}"#.to_owned(),
            r#"{"result":[{"sys_id":"a"},"#.to_owned(),
            String::new(),
        ];
        choices
            .choose(rng)
            .cloned()
            .unwrap_or_default()
            .into_bytes()
    }

    fn body(&self, rng: &mut ChaCha8Rng, is_token_request: bool) -> Vec<u8> {
        match rng.random_range(0..10) {
            0..=2 if is_token_request => self.token_body(rng),
            0..=2 => self.table_body(rng),
            3..=5 => self.bodies.choose(rng).cloned().unwrap_or_default(),
            6 => {
                // A corpus body cut short, as a broken connection leaves it.
                let mut body = self.bodies.choose(rng).cloned().unwrap_or_default();
                let keep = rng.random_range(0..=body.len());
                body.truncate(keep);
                body
            }
            7 => {
                // A corpus body with random bytes flipped.
                let mut body = self.bodies.choose(rng).cloned().unwrap_or_default();
                for _ in 0..rng.random_range(1..8) {
                    if !body.is_empty() {
                        let at = rng.random_range(0..body.len());
                        body[at] = rng.random();
                    }
                }
                body
            }
            8 => (0..rng.random_range(0..512))
                .map(|_| rng.random::<u8>())
                .collect(),
            _ => Vec::new(),
        }
    }

    fn header_value(&self, rng: &mut ChaCha8Rng) -> Vec<u8> {
        let choices: [Vec<u8>; 8] = [
            b"0".to_vec(),
            rng.random_range(0..100_000u64).to_string().into_bytes(),
            b"-5".to_vec(),
            b"18446744073709551616".to_vec(),
            b"Wed, 21 Oct 2015 07:28:00 GMT".to_vec(),
            b"<https://dev1.service-now.com/api/now/table/incident?sysparm_offset=1>;rel=\"next\""
                .to_vec(),
            b"<https://evil.example/api>;rel=\"next\"".to_vec(),
            (0..rng.random_range(0..40))
                .map(|_| rng.random_range(0x20..0x7f))
                .collect(),
        ];
        choices.choose(rng).cloned().unwrap_or_default()
    }

    /// The next random response for `request`.
    fn respond(
        &self,
        request: &http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError> {
        let Ok(mut rng) = self.rng.lock() else {
            return Err(io_error("the double's generator was poisoned"));
        };
        let rng = &mut *rng;
        self.served.fetch_add(1, Ordering::Relaxed);
        if rng.random_ratio(1, 20) {
            return Err(io_error("connection reset by the double"));
        }
        let is_token_request = request.uri().path().ends_with("/oauth_token.do");
        let status = *STATUSES.choose(rng).unwrap_or(&500);
        let mut builder = http::Response::builder().status(
            http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR),
        );
        for name in [
            "retry-after",
            "x-total-count",
            "link",
            "content-type",
            "x-ratelimit-reset",
            "location",
        ] {
            if rng.random_ratio(1, 3) {
                if let Ok(value) = http::HeaderValue::from_bytes(&self.header_value(rng)) {
                    builder = builder.header(name, value);
                }
            }
        }
        let body = self.body(rng, is_token_request);
        builder
            .body(Bytes::from(body))
            .map_err(|_| io_error("the double built an invalid response"))
    }
}

fn io_error(message: &'static str) -> TransportError {
    TransportError::Io {
        origin: "https://dev1.service-now.com".to_owned(),
        source: Box::new(std::io::Error::other(message)),
    }
}

#[async_trait]
impl HttpTransport for RandomResponses {
    async fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError> {
        self.respond(&request)
    }
}
