//! The example web app in a real headless Chromium (through chromedriver and WebDriver): connect,
//! log in on the emulator's page, Allow, see the incidents, disconnect; Deny; a forged callback;
//! a session id planted before login (fixation); and forms on other origins posting to `/logout`
//! (CSRF). Runs when SN_TEST_CHROMEDRIVER points at chromedriver; otherwise skipped, and listed
//! as skipped at the end of `cargo test` (a failure when SN_REQUIRE_SERVICES=1).

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    sync::Arc,
    time::Duration,
};

use fantoccini::{Client as Browser, ClientBuilder, Locator};
use servicenow::{
    auth::TokenSet,
    oauth::{ClientId, ClientSecret, InstanceUrl, OAuthClient, RedirectUri},
};
use servicenow_emulator::{
    ClientRegistration, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Emulator, EmulatorHandle,
    TokenOutcome,
};
use tokio::{net::TcpListener, process::Child, task::JoinHandle};
use web_login::{App, AppConfig, SessionLimits, open_store};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_allow_see_incidents_then_disconnect() {
    let Some(chromium) = Chromium::start("connect_allow_see_incidents_then_disconnect").await
    else {
        return;
    };
    let world = World::start().await;
    let browser = chromium.browser().await;

    browser.goto(&world.app_url).await.unwrap();
    let before_login = session_id(&browser).await;
    browser
        .find(Locator::Id("connect"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    log_in_on_the_emulator(&browser).await;
    browser
        .find(Locator::Id("allow"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    // Back on the app, which shows the user's open incidents.
    let table = browser
        .wait()
        .for_element(Locator::Id("incidents"))
        .await
        .unwrap();
    let incidents = table.find_all(Locator::Css("tr.incident")).await.unwrap();
    assert_eq!(incidents.len(), 10);
    assert!(table.text().await.unwrap().contains("INC00000"));
    let url = browser.current_url().await.unwrap();
    assert_eq!(
        url.path(),
        "/",
        "the callback URL (with its code) is left at once"
    );
    assert_eq!(
        world
            .emulator
            .counters()
            .token_requests("authorization_code", TokenOutcome::Issued),
        1
    );

    // The tokens are on the server; the browser holds only the opaque session cookie.
    let tokens = world.stored_tokens().await;
    let source = browser.source().await.unwrap();
    let cookies = browser.get_all_cookies().await.unwrap();
    let session = cookies
        .iter()
        .find(|cookie| cookie.name() == "web_login_session")
        .expect("the session cookie");
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(session.same_site(), Some(cookie::SameSite::Lax));
    assert!(session.expires().is_some(), "the cookie has an expiry");
    assert_ne!(
        session.value(),
        before_login,
        "the session id changed at login"
    );
    for secret in tokens.secrets() {
        assert!(!source.contains(&secret), "a token is in the page");
        for cookie in &cookies {
            assert!(
                !cookie.value().contains(&secret),
                "a token is in cookie {}",
                cookie.name()
            );
        }
    }

    // Disconnect: the tokens are revoked at the instance and deleted from the store.
    let revocations = world.emulator.counters().revocations;
    browser
        .find(Locator::Id("logout"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let notice = browser
        .wait()
        .for_element(Locator::Id("notice"))
        .await
        .unwrap();
    assert!(
        notice
            .text()
            .await
            .unwrap()
            .contains("the instance accepted the revocation")
    );
    browser.find(Locator::Id("connect")).await.unwrap();
    assert!(world.emulator.counters().revocations > revocations);
    assert!(world.app.connected_subjects().await.is_empty());

    browser.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deny_on_the_consent_page_connects_nothing() {
    let Some(chromium) = Chromium::start("deny_on_the_consent_page_connects_nothing").await else {
        return;
    };
    let world = World::start().await;
    let browser = chromium.browser().await;

    browser.goto(&world.app_url).await.unwrap();
    browser
        .find(Locator::Id("connect"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    log_in_on_the_emulator(&browser).await;
    browser
        .find(Locator::Id("deny"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    let error = browser
        .wait()
        .for_element(Locator::Id("error"))
        .await
        .unwrap();
    assert!(error.text().await.unwrap().contains("declined access"));
    assert!(world.app.connected_subjects().await.is_empty());
    assert_eq!(world.emulator.counters().total_token_requests(), 0);
    browser
        .find(Locator::Id("back"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait()
        .for_element(Locator::Id("connect"))
        .await
        .unwrap();

    browser.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_callback_with_a_wrong_state_is_rejected() {
    let Some(chromium) = Chromium::start("a_forged_callback_with_a_wrong_state_is_rejected").await
    else {
        return;
    };
    let world = World::start().await;
    let browser = chromium.browser().await;

    // A login is pending for this browser's session …
    browser.goto(&world.app_url).await.unwrap();
    browser
        .find(Locator::Id("connect"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait()
        .for_element(Locator::Id("user_name"))
        .await
        .unwrap();
    // … and a callback with a state the app never issued arrives (a CSRF or login-injection try).
    browser
        .goto(&format!(
            "{}/callback?code=attacker-code&state=forged-state",
            world.app_url
        ))
        .await
        .unwrap();
    let error = browser
        .wait()
        .for_element(Locator::Id("error"))
        .await
        .unwrap();
    assert!(error.text().await.unwrap().contains("state mismatch"));
    assert_eq!(
        world.emulator.counters().total_token_requests(),
        0,
        "the forged code was never sent to the token endpoint"
    );
    assert!(world.app.connected_subjects().await.is_empty());

    browser.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_id_planted_before_login_is_not_the_id_after_login() {
    let Some(chromium) =
        Chromium::start("a_session_id_planted_before_login_is_not_the_id_after_login").await
    else {
        return;
    };
    let world = World::start().await;
    let browser = chromium.browser().await;

    // The attacker gets a valid session id of their own from the app …
    let (_, set_cookies, _) = http_get(&world.app_url, None).await;
    let planted = set_cookies
        .iter()
        .find_map(|cookie| cookie.strip_prefix("web_login_session="))
        .and_then(|rest| rest.split(';').next())
        .expect("the app set a session cookie")
        .to_owned();
    // … and plants it in the victim's browser (as a sibling subdomain or an injected header would).
    browser.goto(&world.app_url).await.unwrap();
    browser.delete_cookie("web_login_session").await.unwrap();
    let mut cookie = cookie::Cookie::new("web_login_session", planted.clone());
    cookie.set_domain("127.0.0.1");
    cookie.set_path("/");
    // WebDriver's default SameSite=None needs Secure, which plain-http loopback cannot have.
    cookie.set_same_site(cookie::SameSite::Lax);
    browser.add_cookie(cookie).await.unwrap();
    browser.refresh().await.unwrap();
    assert_eq!(
        session_id(&browser).await,
        planted,
        "the planted id is in use"
    );

    // The victim connects and logs in.
    browser
        .wait()
        .for_element(Locator::Id("connect"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    log_in_on_the_emulator(&browser).await;
    browser
        .find(Locator::Id("allow"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait()
        .for_element(Locator::Id("incidents"))
        .await
        .unwrap();

    // The browser's session is another id, and the planted one opens nothing for the attacker.
    let after = session_id(&browser).await;
    assert_ne!(
        after, planted,
        "the planted session id was kept across login"
    );
    assert_eq!(world.app.connected_subjects().await.len(), 1);
    let (status, renewed, page) = http_get(&world.app_url, Some(&planted)).await;
    assert!(status.contains("200"), "{status}");
    assert!(page.contains("id=\"connect\""), "{page}");
    assert!(!page.contains("id=\"incidents\""), "{page}");
    assert!(
        renewed.iter().any(|cookie| !cookie.contains(&planted)),
        "the planted id is unknown now: a new anonymous session is set"
    );

    browser.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_to_logout_from_another_site_changes_nothing() {
    let Some(chromium) =
        Chromium::start("a_post_to_logout_from_another_site_changes_nothing").await
    else {
        return;
    };
    let world = World::start().await;
    let browser = chromium.browser().await;
    browser.goto(&world.app_url).await.unwrap();
    browser
        .find(Locator::Id("connect"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    log_in_on_the_emulator(&browser).await;
    browser
        .find(Locator::Id("allow"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait()
        .for_element(Locator::Id("incidents"))
        .await
        .unwrap();
    let session = session_id(&browser).await;
    let subjects = world.app.connected_subjects().await;
    let tokens = world.stored_tokens().await;
    let revocations = world.emulator.counters().revocations;

    // Two attacker pages, each auto-submitting a form to the app's /logout: one on another site
    // (localhost: SameSite=Lax keeps the cookie back), one on another port of the same host (the
    // same site, so Lax alone would send the cookie; the Origin and the CSRF token stop it).
    let attacker = Attacker::start(&format!("{}/logout", world.app_url)).await;
    for page in [
        format!("http://localhost:{}/", attacker.port),
        format!("http://127.0.0.1:{}/", attacker.port),
    ] {
        browser.goto(&page).await.unwrap();
        let error = browser
            .wait()
            .for_element(Locator::Id("error"))
            .await
            .unwrap();
        assert!(
            error.text().await.unwrap().contains("nothing was changed"),
            "{page}"
        );
        assert_eq!(
            browser.current_url().await.unwrap().path(),
            "/logout",
            "the form was posted from {page}"
        );

        // Nothing changed: no revocation, the same tokens stored, the same session and cookie.
        assert_eq!(world.emulator.counters().revocations, revocations, "{page}");
        assert_eq!(world.app.connected_subjects().await, subjects, "{page}");
        assert_eq!(
            world.stored_tokens().await.secrets(),
            tokens.secrets(),
            "{page}"
        );
        browser.goto(&world.app_url).await.unwrap();
        browser
            .wait()
            .for_element(Locator::Id("incidents"))
            .await
            .unwrap();
        assert_eq!(session_id(&browser).await, session, "{page}");
    }
    assert_eq!(
        attacker.served().await,
        2,
        "both attacker pages were loaded"
    );

    browser.close().await.unwrap();
}

/// The value of the browser's session cookie for the app.
async fn session_id(browser: &Browser) -> String {
    browser
        .get_named_cookie("web_login_session")
        .await
        .expect("the session cookie")
        .value()
        .to_owned()
}

/// A plain `GET` of `url` (an http://127.0.0.1 URL) with an optional session cookie: the status
/// line, the `Set-Cookie` values and the body.
async fn http_get(url: &str, session: Option<&str>) -> (String, Vec<String>, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let url = url::Url::parse(url).unwrap();
    let address = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let cookie = session
        .map(|id| format!("Cookie: web_login_session={id}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\n{cookie}Connection: close\r\n\r\n",
        url.path(),
        url.authority()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines.next().unwrap().to_owned();
    let set_cookies = lines
        .filter_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("set-cookie")
                .then(|| value.trim().to_owned())
        })
        .collect();
    (status, set_cookies, body.to_owned())
}

/// A page on another origin that posts a form to `target` as soon as it loads (a CSRF attempt
/// with a guessed token), counting how often it was served.
struct Attacker {
    port: u16,
    served: Arc<tokio::sync::Mutex<u32>>,
    server: JoinHandle<std::io::Result<()>>,
}

impl Attacker {
    async fn start(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let page = format!(
            "<!doctype html><html><body><form id=\"f\" method=\"post\" action=\"{target}\">\
             <input type=\"hidden\" name=\"csrf_token\" value=\"guessed\"></form>\
             <script>document.getElementById('f').submit()</script></body></html>"
        );
        let served = Arc::new(tokio::sync::Mutex::new(0));
        let counter = Arc::clone(&served);
        let router = axum::Router::new().route(
            "/",
            axum::routing::get(move || {
                let page = page.clone();
                let counter = Arc::clone(&counter);
                async move {
                    *counter.lock().await += 1;
                    axum::response::Html(page)
                }
            }),
        );
        let server = tokio::spawn(async move { axum::serve(listener, router).await });
        Self {
            port,
            served,
            server,
        }
    }

    async fn served(&self) -> u32 {
        *self.served.lock().await
    }
}

impl Drop for Attacker {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn log_in_on_the_emulator(browser: &Browser) {
    let user = browser
        .wait()
        .for_element(Locator::Id("user_name"))
        .await
        .unwrap();
    user.send_keys("admin").await.unwrap();
    browser
        .find(Locator::Id("user_password"))
        .await
        .unwrap()
        .send_keys("admin")
        .await
        .unwrap();
    browser
        .find(Locator::Id("sysverb_login"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait()
        .for_element(Locator::Id("consent"))
        .await
        .unwrap();
}

/// The emulator and the app, with the app's callback registered on the emulator.
struct World {
    emulator: EmulatorHandle,
    app: App,
    app_url: String,
    server: JoinHandle<std::io::Result<()>>,
    _directory: tempfile::TempDir,
}

impl World {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let app_url = format!("http://{}", listener.local_addr().unwrap());
        let redirect_uri = format!("{app_url}/callback");
        let emulator = Emulator::builder()
            .client(ClientRegistration::confidential(
                DEFAULT_CLIENT_ID,
                DEFAULT_CLIENT_SECRET,
                vec![redirect_uri.clone()],
            ))
            .rows("incident", 40)
            .start()
            .await
            .unwrap();
        let directory = tempfile::tempdir().unwrap();
        let store = open_store(
            &format!("sqlite:{}", directory.path().join("store").display()),
            &directory.path().join("key"),
        )
        .await
        .unwrap();
        let app = App::new(AppConfig {
            instance: InstanceUrl::new(emulator.base_url()).unwrap(),
            oauth_client: OAuthClient::confidential(
                ClientId::new(DEFAULT_CLIENT_ID).unwrap(),
                ClientSecret::new(DEFAULT_CLIENT_SECRET).unwrap(),
            ),
            redirect_uri: RedirectUri::new(redirect_uri).unwrap(),
            store: Arc::clone(&store),
            public_url: app_url.clone(),
            network: Default::default(),
            sessions: SessionLimits::default(),
        })
        .await
        .unwrap();
        let server = tokio::spawn(app.clone().serve(listener));
        Self {
            emulator,
            app,
            app_url,
            server,
            _directory: directory,
        }
    }

    /// The token set the store holds for the one connected user.
    async fn stored_tokens(&self) -> TokenSet {
        let subjects = self.app.connected_subjects().await;
        assert_eq!(subjects.len(), 1, "one connected browser");
        let key = self.app.login().credential_key(&subjects[0]).unwrap();
        let stored = self
            .app
            .store()
            .load(&key)
            .await
            .unwrap()
            .expect("stored tokens");
        serde_json::from_slice(stored.value.expose_secret()).unwrap()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.server.abort();
    }
}

trait Secrets {
    fn secrets(&self) -> Vec<String>;
}

impl Secrets for TokenSet {
    fn secrets(&self) -> Vec<String> {
        let mut secrets = vec![self.access_token().secret().to_owned()];
        if let Some(refresh) = self.refresh_token() {
            secrets.push(refresh.token().secret().to_owned());
        }
        secrets
    }
}

/// chromedriver started on a free port (killed when dropped), and headless Chromium sessions
/// through it, each with a fresh profile directory.
struct Chromium {
    _driver: Child,
    url: String,
    profiles: tempfile::TempDir,
    binary: Option<PathBuf>,
}

impl Chromium {
    /// Starts chromedriver for `test`, or `None` (a skip the end of `cargo test` reports) when
    /// `SN_TEST_CHROMEDRIVER` is not set; under `SN_REQUIRE_SERVICES=1` that is a failure
    /// (install Debian's chromium and chromium-driver and set it to `$(command -v chromedriver)`).
    async fn start(test: &str) -> Option<Self> {
        let path = PathBuf::from(servicenow_test_services::service_url(
            servicenow_test_services::CHROMEDRIVER_VARIABLE,
            test,
        )?);
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let driver = tokio::process::Command::new(&path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|error| panic!("starting {}: {error}", path.display()));
        let mut ready = false;
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(ready, "chromedriver did not listen on port {port}");
        Some(Self {
            _driver: driver,
            url: format!("http://127.0.0.1:{port}"),
            profiles: tempfile::tempdir().unwrap(),
            binary: chromium_beside(&path),
        })
    }

    async fn browser(&self) -> Browser {
        // A fresh profile: no cookies or cache from any other session.
        let profile = self.profiles.path().join("profile");
        let mut options = serde_json::json!({
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                format!("--user-data-dir={}", profile.display()),
            ],
        });
        if let Some(binary) = &self.binary {
            options["binary"] = serde_json::Value::from(binary.display().to_string());
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".to_owned(), options);
        ClientBuilder::native()
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .unwrap()
    }
}

/// The chromium binary installed beside chromedriver (Debian puts both in /usr/bin), if any.
fn chromium_beside(chromedriver: &Path) -> Option<PathBuf> {
    let directory = chromedriver.parent()?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .map(|name| directory.join(name))
        .find(|candidate| candidate.exists())
}
