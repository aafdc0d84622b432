//! 10,000 malformed HTTP responses (random status, headers, and bodies from the fuzz corpus) fed through a transport double into the token manager and the table client: typed errors, no panic, no hang, no secret in any error text.

use std::{
    collections::{BTreeMap, HashSet},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use futures::{StreamExt as _, TryStreamExt as _};
use rand::{Rng as _, SeedableRng as _};
use servicenow::{
    Client, Clock,
    table::{ListParams, Paging, ReadOptions, Record, StreamConfig, SysId},
};
use servicenow_auth::Timestamp;
use servicenow_oauth::{ClientId, ClientSecret, InstanceUrl, OAuthClient};
use servicenow_reliability::{
    fixture,
    responses::{RandomResponses, corpus_bodies},
};

const RESPONSES: u64 = 10_000;
const INSTANCE: &str = "https://dev1.service-now.com";
/// A secret the client holds from the start; the double plants the others.
const CLIENT_SECRET: &str = "cs-9f8e7d6c5b4a39281706f5e4d3c2b1a0ZYXWVUTSRQ";
/// A leak is any run of this many characters of a secret appearing in an error text.
const LEAK_WINDOW: usize = 24;

/// Wall-clock time that follows tokio's (paused) clock, so backoffs and `Retry-After` waits
/// pass at once without real sleeping.
#[derive(Debug)]
struct TokioClock {
    start: tokio::time::Instant,
}

#[async_trait::async_trait]
impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix_seconds(1_764_000_000).saturating_add(self.start.elapsed())
    }
}

static PANICS: AtomicU64 = AtomicU64::new(0);

async fn client(double: &Arc<RandomResponses>, clock: &Arc<TokioClock>) -> Client {
    let oauth = OAuthClient::confidential(
        ClientId::new("reliability").unwrap(),
        ClientSecret::new(CLIENT_SECRET).unwrap(),
    );
    servicenow::Servicenow::builder(InstanceUrl::new(INSTANCE).unwrap(), oauth)
        .store(servicenow::stores::open_memory().unwrap())
        .transport(Arc::clone(double) as Arc<dyn servicenow::transport::HttpTransport>)
        .clock(Arc::clone(clock) as Arc<dyn Clock>)
        .manager_options(fixture::manager_options(Duration::from_secs(30)))
        .build()
        .await
        .unwrap()
        .service()
}

/// Every window of `LEAK_WINDOW` characters of every secret.
fn leak_windows(secrets: &[String]) -> HashSet<String> {
    secrets
        .iter()
        .flat_map(|secret| {
            let chars: Vec<char> = secret.chars().collect();
            chars
                .windows(LEAK_WINDOW)
                .map(|window| window.iter().collect::<String>())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn leaks(text: &str, windows: &HashSet<String>) -> bool {
    let chars: Vec<char> = text.chars().collect();
    chars
        .windows(LEAK_WINDOW)
        .any(|window| windows.contains(&window.iter().collect::<String>()))
}

/// The variant name of an error's `Debug`, for the figures.
fn kind(debug: &str) -> String {
    debug
        .split(['(', ' ', '{'])
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(start_paused = true)]
async fn ten_thousand_malformed_responses_give_typed_errors_without_panic_or_secret() {
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        previous_hook(info);
    }));
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let bodies = corpus_bodies(&corpus);
    assert!(
        bodies.len() >= 30,
        "the fuzz corpus is missing: {}",
        corpus.display()
    );
    let double = Arc::new(RandomResponses::new(20_261_128, bodies));
    let clock = Arc::new(TokioClock {
        start: tokio::time::Instant::now(),
    });
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut shared = client(&double, &clock).await;
    let incident = "incident";
    let mut errors: Vec<String> = Vec::new();
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    let mut operations = 0_u64;

    while double.served() < RESPONSES && operations < 4 * RESPONSES {
        operations += 1;
        if operations % 50 == 0 {
            shared = client(&double, &clock).await;
        }
        let table = shared.table::<Record>(incident).unwrap();
        let operation = async {
            let result: Result<(), (String, String)> = match rng.random_range(0..6) {
                0 => client(&double, &clock)
                    .await
                    .token_manager()
                    .bearer()
                    .await
                    .map(drop)
                    .map_err(|e| (e.to_string(), format!("{e:?}"))),
                1 => table
                    .list(&ListParams::default())
                    .await
                    .map(drop)
                    .map_err(|e| (e.to_string(), format!("{e:?}"))),
                2 => table
                    .get(
                        &SysId::new("9d385017c611228701d22104cc95c371").unwrap(),
                        &ReadOptions::default(),
                    )
                    .await
                    .map(drop)
                    .map_err(|e| (e.to_string(), format!("{e:?}"))),
                3 => table
                    .count(None)
                    .await
                    .map(drop)
                    .map_err(|e| (e.to_string(), format!("{e:?}"))),
                4 => table
                    .stream(
                        None,
                        ReadOptions::default(),
                        StreamConfig {
                            page_size: 2,
                            prefetch: 2,
                            paging: Paging::Offset,
                        },
                    )
                    .take(7)
                    .try_collect::<Vec<_>>()
                    .await
                    .map(drop)
                    .map_err(|e| (e.to_string(), format!("{e:?}"))),
                _ => table
                    .create(
                        &Record::new().with("short_description", "fuzzed"),
                        &Default::default(),
                    )
                    .await
                    .map(drop)
                    .map_err(|e| (e.to_string(), format!("{e:?}"))),
            };
            result
        };
        // A bound on a hang in virtual time (tokio's clock is paused and jumps ahead).
        match tokio::time::timeout(Duration::from_secs(24 * 3600), operation).await {
            Ok(Ok(())) => *outcomes.entry("ok".to_owned()).or_default() += 1,
            Ok(Err((display, debug))) => {
                *outcomes.entry(kind(&debug)).or_default() += 1;
                errors.push(format!("{display}\n{debug}"));
            }
            Err(_) => panic!("an operation hung for a virtual day"),
        }
    }

    let mut secrets = double.secrets();
    secrets.push(CLIENT_SECRET.to_owned());
    let windows = leak_windows(&secrets);
    let leaked: Vec<&String> = errors.iter().filter(|text| leaks(text, &windows)).collect();
    eprintln!(
        "malformed_responses: responses={} operations={operations} errors={} secrets_planted={} outcomes={outcomes:?}",
        double.served(),
        errors.len(),
        secrets.len(),
    );
    assert!(
        double.served() >= RESPONSES,
        "only {} responses were served",
        double.served()
    );
    assert_eq!(
        PANICS.load(Ordering::SeqCst),
        0,
        "a panic happened (see stderr)"
    );
    assert!(
        leaked.is_empty(),
        "{} error texts contain a secret; the first:\n{}",
        leaked.len(),
        leaked[0]
    );
    assert!(
        !errors
            .iter()
            .any(|text| text.contains("RefreshTaskStopped")),
        "a refresh task died (a panic inside it)"
    );
    assert!(
        outcomes.len() > 3,
        "the responses exercised too few paths: {outcomes:?}"
    );
}
