//! The Table API end to end through `Client` with OAuth: CRUD, and 100,000-row streams that survive inserts, faults, a rate limit and tokens expiring mid-stream.

use std::{
    collections::HashSet,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use futures::TryStreamExt as _;
use serde::Deserialize;
use servicenow::{
    Client, ManualClock, Servicenow,
    oauth::{ClientId, ClientSecret, InstanceUrl, OAuthClient, RedirectUri},
    table::{
        FieldName, Paging, ReadOptions, Record, RetryPolicy, StreamConfig, SysId, WriteOptions,
    },
    transport::{ReqwestTransport, TransportConfig},
};
use servicenow_emulator::{
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REDIRECT_URIS, Emulator, EmulatorHandle,
    FaultPlan, RateLimitRule, TokenOutcome,
    user_agent::{ConsentDecision, ScriptedUserAgent},
};

const ROWS: usize = 100_000;
const SUBJECT: &str = "alice";

#[derive(Debug, Deserialize)]
struct Row {
    sys_id: String,
}

/// A `Client` for `emulator`, logged in as `admin` through the real login and consent pages.
async fn logged_in_client(emulator: &EmulatorHandle) -> Client {
    let transport = ReqwestTransport::with_config(TransportConfig {
        total_timeout: Duration::from_secs(60),
        ..TransportConfig::default()
    })
    .expect("transport builds");
    let servicenow = Servicenow::builder(
        InstanceUrl::new(emulator.base_url()).expect("loopback instance"),
        OAuthClient::confidential(
            ClientId::new(DEFAULT_CLIENT_ID).expect("client id"),
            ClientSecret::new(DEFAULT_CLIENT_SECRET).expect("client secret"),
        ),
    )
    .redirect_uri(RedirectUri::new(DEFAULT_REDIRECT_URIS[0]).expect("redirect uri"))
    .store(servicenow::stores::open_memory().expect("memory store"))
    .transport(Arc::new(transport))
    .clock(Arc::new(ManualClock::new()))
    // The faults are injected, not real outages: retry quickly.
    .retry_policy(RetryPolicy {
        max_attempts: 10,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(200),
        max_retry_after: Duration::from_secs(30),
    })
    .build()
    .await
    .expect("client builds");
    let login = servicenow.login().expect("users are configured");
    let authorization_url = login.begin(SUBJECT).await.expect("login begins");
    let redirect = ScriptedUserAgent::new()
        .authorize(&authorization_url, "admin", "admin", ConsentDecision::Allow)
        .await
        .expect("the user allows");
    login
        .complete(SUBJECT, redirect.query())
        .await
        .expect("login completes");
    servicenow.user(SUBJECT).expect("users are configured")
}

fn sys_id_only() -> ReadOptions {
    ReadOptions {
        fields: vec![FieldName::new("sys_id").expect("valid")],
        ..ReadOptions::default()
    }
}

fn refreshes(emulator: &EmulatorHandle) -> u64 {
    emulator
        .counters()
        .token_requests("refresh_token", TokenOutcome::Issued)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_makes_a_full_crud_round_trip_through_the_client_with_oauth() {
    let emulator = Emulator::builder()
        .rows("incident", 10)
        .start()
        .await
        .expect("emulator starts");
    let client = logged_in_client(&emulator).await;
    let incidents = client.table::<Record>("incident").expect("table name");
    let options = WriteOptions::default();

    let created = incidents
        .create(
            &Record::new().with("short_description", "printer on fire"),
            &options,
        )
        .await
        .expect("create");
    let sys_id = SysId::new(created.record.sys_id().expect("a sys_id")).expect("valid sys_id");
    let read = incidents
        .get(&sys_id, &ReadOptions::default())
        .await
        .expect("get");
    assert_eq!(read.get_str("short_description"), Some("printer on fire"));

    let updated = incidents
        .update(&sys_id, &Record::new().with("priority", "1"), &options)
        .await
        .expect("patch");
    assert_eq!(updated.get_str("priority"), Some("1"));
    assert_eq!(
        updated.get_str("short_description"),
        Some("printer on fire"),
        "a patch keeps other fields"
    );

    let replaced = incidents
        .replace(
            &sys_id,
            &Record::new().with("short_description", "printer fixed"),
            &options,
        )
        .await
        .expect("put");
    assert_eq!(replaced.get_str("short_description"), Some("printer fixed"));

    // Writes without a response body: no record comes back, only what was written.
    let quiet = incidents
        .update_without_body(&sys_id, &Record::new().with("urgency", "1"), &options)
        .await
        .expect("patch without a body");
    assert_eq!(quiet.sys_id.as_ref(), Some(&sys_id));
    let created_quietly = incidents
        .create_without_body(&Record::new().with("short_description", "quiet"), &options)
        .await
        .expect("create without a body");
    let quiet_id = created_quietly.sys_id.expect("the sys_id from Location");
    assert_eq!(
        incidents
            .get(&quiet_id, &ReadOptions::default())
            .await
            .expect("get")
            .get_str("short_description"),
        Some("quiet")
    );

    incidents.delete(&sys_id).await.expect("delete");
    let gone = incidents.get(&sys_id, &ReadOptions::default()).await;
    assert!(
        matches!(
            gone.as_ref().map_err(servicenow::Error::table_error),
            Err(Some(servicenow::table::TableError::NotFound { .. }))
        ),
        "a deleted record is not found: {gone:?}"
    );
    let counters = emulator.counters();
    assert_eq!(
        counters.token_requests("authorization_code", TokenOutcome::Issued),
        1,
        "one login, and no other token request"
    );
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100k_row_stream_survives_inserts_and_a_token_expiring_mid_stream_unnoticed() {
    let emulator = Arc::new(
        Emulator::builder()
            .rows("incident", ROWS as u64)
            .start()
            .await
            .expect("emulator starts"),
    );
    let client = logged_in_client(&emulator).await;
    let incidents = client.table::<Row>("incident").expect("table name");
    let writer = client.table::<Record>("incident").expect("table name");
    let stop = Arc::new(AtomicBool::new(false));
    let inserter = tokio::spawn({
        let stop = Arc::clone(&stop);
        async move {
            let mut inserted = HashSet::new();
            // Bounded: at most 500 inserts, whatever the stream's speed.
            for n in 0..500 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let created = writer
                    .create(
                        &Record::new().with("short_description", format!("inserted {n}")),
                        &WriteOptions::default(),
                    )
                    .await
                    .expect("insert");
                inserted.insert(created.record.sys_id().expect("sys_id").to_owned());
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            inserted
        }
    });

    let refreshes_before = refreshes(&emulator);
    let received = AtomicUsize::new(0);
    let streamed: Vec<String> = incidents
        .stream(
            None,
            sys_id_only(),
            StreamConfig {
                page_size: 1_000,
                prefetch: 2,
                paging: Paging::Offset,
            },
        )
        .map_ok(|row| {
            // A third of the way in, the access token expires on the server's clock only: the
            // client still believes it valid, gets a 401, refreshes once and retries.
            if received.fetch_add(1, Ordering::SeqCst) == ROWS / 3 {
                emulator.clock().advance(Duration::from_secs(31 * 60));
            }
            row.sys_id
        })
        .try_collect()
        .await
        .expect("the stream completes without the caller seeing the expiry");
    stop.store(true, Ordering::SeqCst);
    let inserted = inserter.await.expect("the inserter finishes");

    let distinct: HashSet<&String> = streamed.iter().collect();
    assert_eq!(distinct.len(), streamed.len(), "no row repeated");
    let generated = streamed.iter().filter(|id| !inserted.contains(*id)).count();
    assert_eq!(generated, ROWS, "every generated row exactly once");
    assert!(!inserted.is_empty(), "rows were inserted during the stream");
    assert_eq!(
        refreshes(&emulator) - refreshes_before,
        1,
        "the expired token was refreshed exactly once"
    );
}

/// Freezes the emulator's clock one second before the end of an hour; returns the hour's end.
fn freeze_in_the_last_second_of_an_hour(emulator: &EmulatorHandle) -> i64 {
    emulator.clock().freeze();
    let now = emulator.clock().unix_seconds();
    let window_end = now - now.rem_euclid(3600) + 3600;
    emulator
        .clock()
        .set(UNIX_EPOCH + Duration::from_secs((window_end - 1) as u64));
    window_end
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100k_row_stream_survives_faults_a_rate_limit_and_hourly_token_expiry() {
    let emulator = Arc::new(
        Emulator::builder()
            .rows("incident", ROWS as u64)
            .configure(|settings| {
                settings.faults = FaultPlan::unreliable(0.10);
                settings.rate_limit = Some(RateLimitRule::all_users(25));
            })
            .start()
            .await
            .expect("emulator starts"),
    );
    let client = logged_in_client(&emulator).await;
    let incidents = client.table::<Row>("incident").expect("table name");
    let mut window_end = freeze_in_the_last_second_of_an_hour(&emulator);
    // Each time the rate limit refuses a request, the server's clock moves to the next hour's
    // window; every such jump also expires the access token (30 minutes), so the stream meets
    // refreshes as well as 429s and faults.
    let stop = Arc::new(AtomicBool::new(false));
    let windows = tokio::spawn({
        let (emulator, stop) = (Arc::clone(&emulator), Arc::clone(&stop));
        async move {
            let mut refusals_seen = emulator.counters().rate_limited;
            // Bounded: ten minutes of polling every 20 ms.
            for _ in 0..30_000 {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let refusals = emulator.counters().rate_limited;
                if refusals > refusals_seen {
                    refusals_seen = refusals;
                    window_end += 3600;
                    emulator
                        .clock()
                        .set(UNIX_EPOCH + Duration::from_secs((window_end - 1) as u64));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    });
    let before = emulator.counters();
    let started = SystemTime::now();
    let streamed: Vec<String> = incidents
        .stream(
            None,
            sys_id_only(),
            StreamConfig {
                page_size: 1_000,
                prefetch: 2,
                paging: Paging::Offset,
            },
        )
        .map_ok(|row| row.sys_id)
        .try_collect()
        .await
        .expect("the stream completes through faults, 429s and expiries");
    stop.store(true, Ordering::SeqCst);
    windows.await.expect("the window task finishes");
    let after = emulator.counters();
    let faults = after.faults_injected - before.faults_injected;
    let rate_limited = after.rate_limited - before.rate_limited;
    let refreshed = after.token_requests("refresh_token", TokenOutcome::Issued)
        - before.token_requests("refresh_token", TokenOutcome::Issued);
    eprintln!(
        "streamed {} rows in {:?} with OAuth: {faults} faults, {rate_limited} 429s, {refreshed} refreshes",
        streamed.len(),
        started.elapsed().unwrap_or_default()
    );
    assert!(
        faults > 0 && rate_limited > 0 && refreshed > 0,
        "the stream met faults ({faults}), the rate limit ({rate_limited}) and expiries ({refreshed})"
    );
    let distinct: HashSet<&String> = streamed.iter().collect();
    assert_eq!(distinct.len(), ROWS, "every row");
    assert_eq!(streamed.len(), ROWS, "exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_logout_elsewhere_table_calls_ask_for_a_new_login_with_a_typed_error() {
    let emulator = Emulator::builder()
        .rows("incident", 10)
        .start()
        .await
        .expect("emulator starts");
    let client = logged_in_client(&emulator).await;
    let login = client.servicenow().login().expect("users are configured");
    let incidents = client.table::<Record>("incident").expect("table name");
    assert!(
        incidents.first(None).await.expect("logged in").is_some(),
        "the table is readable while logged in"
    );
    assert!(
        login
            .stored_token_set(SUBJECT)
            .await
            .expect("store readable")
            .is_some()
    );

    // Another replica (here: the same store) logs the user out.
    login.logout(SUBJECT).await.expect("logout");
    assert!(
        login
            .stored_token_set(SUBJECT)
            .await
            .expect("store readable")
            .is_none(),
        "logout deleted the stored set"
    );
    // The logout reloaded this process's live handle of the user: no reload by hand.

    let result = incidents.first(None).await;
    assert!(
        matches!(
            result,
            Err(servicenow::Error::ReauthorizationRequired { .. })
        ),
        "after a logout, a table call of a live handle is a typed re-authorization error, not a transport error: {result:?}"
    );
    emulator.shutdown().await;
}
