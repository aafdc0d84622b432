//! `sn demo`: the project's whole job on its embedded defaults, explained step by step: an
//! in-process emulator, a real authorization code flow through its login and consent pages,
//! tokens in the encrypted SQLite store, the Table API, an expiry with exactly one refresh, and a
//! logout that revokes.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use bytes::Bytes;
use serde_json::{Map, Value};
use servicenow::{
    Error, ManualClock, Servicenow,
    auth::ReauthorizationReason,
    oauth::{ClientId, ClientSecret, InstanceUrl, OAuthClient, RedirectUri},
    store::{KeySource, StoreError},
    stores,
    table::{
        Aggregate, AggregateFunction, Condition, DisplayValues, ListParams, Query, Record, SysId,
        TableName, attachment::UploadTarget,
    },
    transport::{HttpTransport, RequestBody},
};
use servicenow_emulator::{
    ClientRegistration, CountersSnapshot, DEFAULT_ACCESS_TOKEN_TTL, DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET, Dataset, Emulator, EmulatorHandle, TokenOutcome,
    user_agent::{ConsentDecision, ScriptedUserAgent},
};

use crate::{
    auth_commands::describe_revocation,
    cli::{DemoArgs, Format, GlobalArgs, ValueArgs},
    failure::{CliError, CliResult},
    keys,
    loopback::{Callback, Loopback},
    output::{CellSafety, describe_time, say, write_records},
    table_commands::read_options,
};

/// The emulator user the demo logs in as.
const DEMO_USER: (&str, &str) = ("admin", "admin");
/// The subject the demo's tokens are stored under.
const DEMO_SUBJECT: &str = "demo-user";
/// Concurrent requests sent after the expiry, to show that they share one refresh.
const CONCURRENT_REQUESTS: usize = 5;

/// Runs the demo; any step that does not do what it says fails the command.
pub(crate) async fn run(global: &GlobalArgs, args: &DemoArgs) -> CliResult<()> {
    say("sn demo: the whole flow against a ServiceNow emulator running inside this process.\n");

    let mut loopback = Loopback::bind("http://127.0.0.1:0/callback").await?;
    let redirect_uri = format!("http://{}/callback", loopback.address());
    let emulator = Emulator::builder()
        .dataset(Dataset::Pdi)
        .client(ClientRegistration::confidential(
            DEFAULT_CLIENT_ID,
            DEFAULT_CLIENT_SECRET,
            vec![redirect_uri.clone()],
        ))
        .start()
        .await
        .map_err(|error| demo_failed(&format!("the emulator did not start: {error}")))?;
    step(
        1,
        &format!(
            "Started a ServiceNow emulator at {} with an OAuth application (client id {DEFAULT_CLIENT_ID}, \
         redirect URI {redirect_uri}), a user {}/{} and a developer instance's demo records.",
            emulator.base_url(),
            DEMO_USER.0,
            DEMO_USER.1
        ),
    );

    let temporary;
    let temporary_store = global.store_dir.is_none();
    let store_dir: PathBuf = match &global.store_dir {
        Some(directory) => directory.clone(),
        None => {
            temporary = tempfile::tempdir().map_err(|error| {
                CliError::local(
                    format!("cannot create a temporary directory: {error}"),
                    None,
                )
            })?;
            // A directory the store creates itself, so that it is private (mode 0700).
            temporary.path().join("store")
        }
    };
    let store_dir = store_dir.as_path();
    let (opened, why) = open_demo_store(global, store_dir, temporary_store).await?;
    let store = opened.token_store();
    step(
        2,
        &format!(
            "Opened the encrypted token store in {} (SQLite; every value is sealed with \
         ChaCha20-Poly1305). Sealing key: {} — {why}",
            store_dir.display(),
            opened.key_source(),
        ),
    );

    let clock = ManualClock::new();
    let instance =
        InstanceUrl::new(emulator.base_url()).map_err(|error| demo_failed(&error.to_string()))?;
    let oauth_client = OAuthClient::confidential(
        ClientId::new(DEFAULT_CLIENT_ID).map_err(|error| demo_failed(&error.to_string()))?,
        ClientSecret::new(DEFAULT_CLIENT_SECRET)
            .map_err(|error| demo_failed(&error.to_string()))?,
    );
    let app = Servicenow::builder(instance, oauth_client)
        .redirect_uri(
            RedirectUri::new(redirect_uri.clone())
                .map_err(|error| demo_failed(&error.to_string()))?,
        )
        .store(Arc::clone(&store))
        .clock(Arc::new(clock.clone()))
        .build()
        .await?;
    let client = app.user(DEMO_SUBJECT)?;
    let login = app.login()?;
    let authorization_url = login.begin(DEMO_SUBJECT).await?;
    step(
        3,
        &format!(
            "Began a login: a fresh state and PKCE verifier are kept (sealed) in the store, and the \
         user is sent to {}?response_type=code&client_id=…&redirect_uri=…&state=…&code_challenge=…\
         &code_challenge_method=S256.",
            authorization_url.split('?').next().unwrap_or_default()
        ),
    );

    let before_login = emulator.counters();
    let callback = if args.browser {
        browser_login(&authorization_url, &mut loopback).await?
    } else {
        scripted_login(&authorization_url, &mut loopback).await?
    };
    let completed = login.complete(DEMO_SUBJECT, &callback.query).await;
    let token_set = match completed {
        Ok(token_set) => {
            callback
                .respond(
                    true,
                    "The demo is logged in; the terminal goes on from here.",
                )
                .await;
            token_set
        }
        Err(error) => {
            callback.respond(false, &error.to_string()).await;
            return Err(error.into());
        }
    };
    let exchanges = delta(&before_login, &emulator.counters(), "authorization_code");
    expect(
        exchanges == 1,
        &format!("expected one code exchange, the emulator saw {exchanges}"),
    )?;
    let now = servicenow::Clock::now(&clock);
    step(
        5,
        &format!(
            "The callback reached sn's loopback listener; its state matched the pending login, and the \
         code was exchanged with the PKCE verifier (1 token request, grant_type=authorization_code). \
         The access token is valid until {}; the refresh token until {}; scope {}.",
            describe_time(token_set.access_token_expires_at(), now),
            token_set
                .refresh_token()
                .and_then(|record| record.expires_at())
                .map(|at| describe_time(at, now))
                .unwrap_or_else(|| "no stated expiry".to_owned()),
            token_set
                .scope()
                .map(|scope| scope.to_space_separated())
                .unwrap_or_else(|| "not stated".to_owned()),
        ),
    );
    let token = token_set.access_token().secret().to_owned();
    expect(
        !files_contain(store_dir, token.as_bytes()),
        "the access token appears in clear in the token store",
    )?;
    say("   The store holds only ciphertext: the access token appears in none of its files.");

    let incidents = client.table::<Record>("incident")?;
    let open_incidents = ListParams {
        query: Some(
            Query::new()
                .and("active", Condition::eq("true"))
                .order_by("number")
                .build()?,
        ),
        options: read_options(&field_names(), &ValueArgs::default())?,
        limit: Some(5),
        offset: None,
    };
    let page = incidents.list(&open_incidents).await?;
    step(
        6,
        &format!(
            "Listed open incidents with the Table API ({} of {} shown); the client added the bearer \
         token itself, and only for this instance:",
            page.records.len(),
            page.total_count
                .map(|total| total.to_string())
                .unwrap_or_else(|| "?".to_owned())
        ),
    );
    print_incidents(page.records)?;
    let by_priority = Aggregate::new()
        .query(Query::new().and("active", Condition::eq("true")).build()?)
        .count()
        .group_by("priority")?
        .display_values(DisplayValues::Display)
        .order_by_aggregate_desc(AggregateFunction::Count, None)?;
    let groups = client.aggregate("incident", &by_priority).await?.groups();
    let busiest = groups
        .first()
        .ok_or_else(|| demo_failed("the Aggregate API returned no group"))?;
    say(&format!(
        "   Then asked the Aggregate API instead of reading them all: {} open incidents in {} \
         priorities, most of them ({}) at \"{}\" (one request to /api/now/stats/incident).",
        groups
            .iter()
            .filter_map(|group| group.stats.count)
            .sum::<u64>(),
        groups.len(),
        busiest.stats.count.unwrap_or(0),
        busiest
            .fields
            .first()
            .map_or("?", |field| field.value.as_str()),
    ));
    attach_and_read_back(&client).await?;

    let forward = DEFAULT_ACCESS_TOKEN_TTL + Duration::from_secs(120);
    emulator.clock().advance(forward);
    clock.advance(forward);
    step(
        7,
        &format!(
            "Moved the emulator's clock and the client's clock {} minutes forward: the access token \
         has expired.",
            forward.as_secs() / 60
        ),
    );

    let before_refresh = emulator.counters();
    let requests = (0..CONCURRENT_REQUESTS).map(|_| incidents.list(&open_incidents));
    let pages = futures::future::join_all(requests).await;
    let succeeded = pages.into_iter().collect::<Result<Vec<_>, _>>()?.len();
    let after_refresh = emulator.counters();
    let refreshes = delta(&before_refresh, &after_refresh, "refresh_token");
    let token_requests =
        after_refresh.total_token_requests() - before_refresh.total_token_requests();
    expect(
        refreshes == 1 && token_requests == 1,
        &format!("expected exactly one refresh, the emulator saw {token_requests} token requests"),
    )?;
    step(
        8,
        &format!(
            "Sent {CONCURRENT_REQUESTS} Table API requests at once: the client refreshed the token \
         first, with exactly one token request (grant_type=refresh_token, counted by the \
         emulator), and all {succeeded} requests succeeded with the new token."
        ),
    );

    let old_bearer = client
        .token_manager()
        .current()
        .ok_or_else(|| demo_failed("the client holds no token after the refresh"))?;
    let outcome = login.logout(DEMO_SUBJECT).await?;
    let revocations = emulator.counters().revocations - after_refresh.revocations;
    expect(revocations > 0, "the logout sent no revocation request")?;
    step(
        9,
        &format!(
            "Logged out: {}; the tokens were deleted from the store.",
            describe_revocation(outcome.as_ref())
        ),
    );

    let status = raw_status(&emulator, &old_bearer.header_value()).await?;
    expect(
        status == http::StatusCode::UNAUTHORIZED,
        &format!("the revoked access token was answered with HTTP {status} instead of 401"),
    )?;
    // The logout made the user's live handle read the store again: it holds no tokens now, so
    // its next request asks for a new login instead of sending anything.
    let after_logout = incidents.list(&open_incidents).await;
    let reason = match &after_logout {
        Err(Error::ReauthorizationRequired { reason }) => Some(reason.as_ref()),
        _ => None,
    };
    let Some(reason) = reason else {
        return Err(demo_failed(&format!(
            "after the logout the client did not ask for a login: {after_logout:?}"
        )));
    };
    let why = match reason {
        ReauthorizationReason::RefreshRejected(_) => {
            "the client's one refresh attempt with the revoked refresh token was refused too \
             (401 access_denied)"
        }
        _ => "the client has no tokens left",
    };
    step(
        10,
        &format!(
            "Revocation confirmed: the instance now refuses the old access token (HTTP 401); \
             {why}, so the client asks for a new login instead of retrying."
        ),
    );

    emulator.shutdown().await;
    if temporary_store && matches!(opened.key_source(), KeySource::OsKeyring { .. }) {
        // The demo's store is deleted with its directory: its keyring entry goes too.
        opened
            .key_source()
            .remove()
            .await
            .map_err(|error| demo_failed(&format!("removing the demo's key: {error}")))?;
    }
    say("\nDone: login, encrypted storage, the Table API, refresh and logout all worked.");
    say(
        "Next, with a real instance: sn login --instance https://YOUR-INSTANCE.service-now.com \
         --client-id ID   (see docs/servicenow-setup.md)",
    );
    Ok(())
}

/// The demo's store and why its key source was chosen: the one asked for; else the OS keyring,
/// as `sn` uses by default; else, on a machine without a keyring service, a key file in the
/// demo's temporary directory, saying so.
async fn open_demo_store(
    global: &GlobalArgs,
    store_dir: &Path,
    temporary: bool,
) -> CliResult<(stores::Store, String)> {
    if global.key_source.is_some() || KeySource::from_environment().is_some() {
        let source = keys::key_source(global.key_source.as_ref(), store_dir);
        let store = keys::open_store(store_dir, source).await?;
        return Ok((store, "the source you chose.".to_owned()));
    }
    let keyring = keys::keyring_source(store_dir);
    match stores::Store::sqlite(store_dir, keyring).await {
        Ok(store) => Ok((
            store,
            format!(
                "the OS keyring, sn's default{}.",
                if temporary {
                    "; the demo removes its entry at the end"
                } else {
                    ""
                }
            ),
        )),
        Err(Error::Store(error)) if matches!(*error, StoreError::KeySource { .. }) => {
            let source = KeySource::colocated_file(store_dir.join(stores::KEY_FILE));
            let store = stores::Store::sqlite(store_dir, source).await?;
            Ok((
                store,
                format!(
                    "this machine has no usable OS keyring ({error}), so the demo keeps its key \
                     in a file beside its data{}. That protects a copy of the database alone; \
                     `sn login` keeps the key in the OS keyring.",
                    if temporary {
                        ", in a temporary directory deleted at the end"
                    } else {
                        ""
                    }
                ),
            ))
        }
        Err(error) => Err(error.into()),
    }
}

async fn scripted_login(authorization_url: &str, loopback: &mut Loopback) -> CliResult<Callback> {
    let redirect = ScriptedUserAgent::new()
        .authorize(
            authorization_url,
            DEMO_USER.0,
            DEMO_USER.1,
            ConsentDecision::Allow,
        )
        .await
        .map_err(|error| demo_failed(&format!("the scripted browser failed: {error}")))?;
    step(
        4,
        &format!(
            "A scripted browser opened that URL, logged in as {} on the emulator's login page and \
         pressed Allow on its consent page; the emulator redirected it to {}?code=…&state=….",
            DEMO_USER.0,
            redirect.location().split('?').next().unwrap_or_default()
        ),
    );
    // The browser follows the redirect to sn's loopback listener, as a real one would.
    let location = redirect.location().to_owned();
    let browser = tokio::spawn(async move {
        let transport = servicenow::default_transport().ok()?;
        let request = http::Request::get(location).body(Bytes::new()).ok()?;
        transport
            .send(request)
            .await
            .ok()
            .map(|response| response.status())
    });
    let callback = tokio::time::timeout(Duration::from_secs(30), loopback.next_callback())
        .await
        .map_err(|_| demo_failed("the redirect never reached the loopback listener"))??;
    drop(browser);
    Ok(callback)
}

async fn browser_login(authorization_url: &str, loopback: &mut Loopback) -> CliResult<Callback> {
    say(&format!(
        "4. Open this URL in your browser, log in as {} (password {}) and press Allow:\n   {authorization_url}",
        DEMO_USER.0, DEMO_USER.1
    ));
    if webbrowser::open(authorization_url).is_err() {
        say("   (no browser could be opened automatically)");
    }
    tokio::time::timeout(Duration::from_secs(300), loopback.next_callback())
        .await
        .map_err(|_| {
            CliError::authentication(
                "the browser did not come back within 5 minutes",
                Some("run `sn demo` again, or without --browser".to_owned()),
            )
        })?
}

/// Uploads a small log to the first incident and downloads it again, telling what was checked.
async fn attach_and_read_back(client: &servicenow::Client) -> CliResult<()> {
    let incident = client
        .table::<Record>("incident")?
        .first(None)
        .await?
        .ok_or_else(|| demo_failed("the emulator has no incident to attach a file to"))?;
    let number = incident.get_str("number").unwrap_or("?").to_owned();
    let sys_id = SysId::new(
        incident
            .get_str("sys_id")
            .ok_or_else(|| demo_failed("the incident has no sys_id"))?,
    )?;
    let log = Bytes::from_static(b"12:00:01 printer jam reported\n12:04:40 paper tray 2 cleared\n");
    let target = UploadTarget::new(TableName::new("incident")?, sys_id, "printer.log")
        .with_content_type("text/plain");
    let attachments = client.attachments();
    let uploaded = attachments
        .upload(&target, RequestBody::from_bytes(log.clone()))
        .await?;
    let mut copy = Vec::new();
    let downloaded = attachments
        .download_to_writer(&uploaded.sys_id, &mut copy)
        .await?;
    expect(
        copy == log && downloaded.verified,
        "the attachment did not come back as it was sent",
    )?;
    say(&format!(
        "   Attached printer.log ({} bytes) to {number}, streamed up to /api/now/attachment/file, \
         and read it back from /api/now/attachment/{}/file: the same bytes, their SHA-256 matching \
         the hash the instance keeps.",
        downloaded.bytes, uploaded.sys_id
    ));
    Ok(())
}

fn field_names() -> Vec<String> {
    ["number", "short_description", "priority", "state"]
        .map(str::to_owned)
        .to_vec()
}

fn print_incidents(records: Vec<Record>) -> CliResult<()> {
    let rows: Vec<Map<String, Value>> = records.into_iter().map(Record::into_fields).collect();
    let mut text = Vec::new();
    write_records(
        &mut text,
        &rows,
        &field_names(),
        Format::Table,
        CellSafety::default(),
    )?;
    let text = String::from_utf8_lossy(&text);
    for line in text.lines() {
        say(&format!("     {line}"));
    }
    Ok(())
}

/// Sends one Table API request with a given `Authorization` header, past the client, to show what
/// the instance thinks of that token.
async fn raw_status(
    emulator: &EmulatorHandle,
    authorization: &http::HeaderValue,
) -> CliResult<http::StatusCode> {
    let transport = servicenow::default_transport()?;
    let request = http::Request::get(emulator.url("/api/now/table/incident?sysparm_limit=1"))
        .header(http::header::AUTHORIZATION, authorization.clone())
        .body(Bytes::new())
        .map_err(|error| demo_failed(&error.to_string()))?;
    let response = transport.send(request).await.map_err(Error::from)?;
    Ok(response.status())
}

fn delta(before: &CountersSnapshot, after: &CountersSnapshot, grant_type: &str) -> u64 {
    after.token_requests(grant_type, TokenOutcome::Issued)
        - before.token_requests(grant_type, TokenOutcome::Issued)
}

/// Whether any file directly in `directory` contains `needle`.
fn files_contain(directory: &Path, needle: &[u8]) -> bool {
    let Ok(entries) = std::fs::read_dir(directory) else {
        return false;
    };
    entries.flatten().any(|entry| {
        std::fs::read(entry.path())
            .map(|bytes| bytes.windows(needle.len()).any(|window| window == needle))
            .unwrap_or(false)
    })
}

fn step(number: u32, text: &str) {
    say(&format!("{number}. {text}"));
}

fn expect(condition: bool, what: &str) -> CliResult<()> {
    if condition {
        Ok(())
    } else {
        Err(demo_failed(what))
    }
}

fn demo_failed(what: &str) -> CliError {
    CliError::unexpected(format!("the demo failed: {what}"))
}
