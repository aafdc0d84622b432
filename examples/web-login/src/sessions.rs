//! Browser sessions: an opaque random id in an `HttpOnly` cookie, mapped on the server to the
//! app's user id (the subject the tokens are stored under) and a CSRF token. Nothing else reaches
//! the browser.
//!
//! Against fixation, an id never survives a change of privilege: `POST /connect` replaces the
//! session with a new id **and a new subject**, and a successful callback replaces the id again
//! (keeping the subject minted at `/connect`, under which the tokens were just stored). Sessions
//! end after [`SessionLimits::idle`] without a request and [`SessionLimits::absolute`] after the
//! `/connect` that began them, whatever happens; the map holds at most
//! [`SessionLimits::max_sessions`], the least recently used giving way. A connected session that
//! ends that way is handed to the app to log out (its subject would otherwise be unreachable
//! while its tokens stay valid).

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use cookie::{Cookie, SameSite};
use http::{HeaderMap, header};
use tokio::sync::{Mutex, mpsc};

/// The session cookie's name on plain-http loopback, where a `__Host-` cookie cannot be set.
pub(crate) const COOKIE_NAME: &str = "web_login_session";
/// The session cookie's name everywhere else: the `__Host-` prefix makes browsers refuse it
/// unless it is `Secure`, `Path=/` and without `Domain`, so a sibling subdomain or a plain-http
/// page cannot plant or overwrite it.
pub(crate) const HOST_COOKIE_NAME: &str = "__Host-web_login_session";

/// How long sessions live and how many the server keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionLimits {
    /// A session with no request for this long ends.
    pub idle: Duration,
    /// A session ends this long after the `/connect` (or first page) that began it.
    pub absolute: Duration,
    /// At most this many sessions are kept; past it the least recently used one ends.
    pub max_sessions: usize,
}

impl Default for SessionLimits {
    /// 30 minutes idle, 8 hours in all, 10,000 sessions.
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(30 * 60),
            absolute: Duration::from_secs(8 * 60 * 60),
            max_sessions: 10_000,
        }
    }
}

/// One browser session.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// The app's user id for this browser, the subject of its tokens in the store.
    pub(crate) subject: String,
    /// Whether a login completed and no logout followed.
    pub(crate) connected: bool,
    /// The token every state-changing form of this session carries.
    pub(crate) csrf_token: String,
}

#[derive(Debug)]
struct Entry {
    session: Session,
    began: Instant,
    last_seen: Instant,
}

/// Sessions by id, in memory (a real app keeps them in its own session store).
#[derive(Debug)]
pub(crate) struct Sessions {
    by_id: Mutex<HashMap<String, Entry>>,
    limits: SessionLimits,
    secure: bool,
    /// Subjects of connected sessions that ended by expiry or eviction, to be logged out.
    retired: mpsc::Sender<String>,
}

impl Sessions {
    /// Sessions under `limits`; `secure` names the cookie `__Host-…` and makes it `Secure`.
    /// Subjects of connected sessions that expire or are evicted are sent to `retired`.
    pub(crate) fn new(limits: SessionLimits, secure: bool, retired: mpsc::Sender<String>) -> Self {
        Self {
            by_id: Mutex::new(HashMap::new()),
            limits,
            secure,
            retired,
        }
    }

    /// The session the request's cookie names, if it exists and has not expired.
    pub(crate) async fn find(&self, headers: &HeaderMap) -> Option<(String, Session)> {
        let id = session_cookie(headers, self.cookie_name())?;
        self.find_at(&id, Instant::now()).await
    }

    async fn find_at(&self, id: &str, now: Instant) -> Option<(String, Session)> {
        let mut by_id = self.by_id.lock().await;
        let entry = by_id.get_mut(id)?;
        if self.expired(entry, now) {
            if let Some(entry) = by_id.remove(id) {
                self.retire(entry);
            }
            return None;
        }
        entry.last_seen = now;
        Some((id.to_owned(), entry.session.clone()))
    }

    /// The request's session, or a new anonymous one (whose cookie the response must set).
    pub(crate) async fn find_or_create(
        &self,
        headers: &HeaderMap,
    ) -> Result<(String, Session, bool), getrandom::Error> {
        if let Some((id, session)) = self.find(headers).await {
            return Ok((id, session, false));
        }
        let (id, session) = self.begin(None).await?;
        Ok((id, session, true))
    }

    /// Ends `old` (if given) and begins a new, unconnected session with a new id, a new subject
    /// and a new CSRF token: what `/connect` does, so that an id or subject planted before the
    /// login is never the one logged in.
    pub(crate) async fn begin(
        &self,
        old: Option<&str>,
    ) -> Result<(String, Session), getrandom::Error> {
        let id = random_id()?;
        let session = Session {
            subject: format!("web-user-{}", random_id()?),
            connected: false,
            csrf_token: random_id()?,
        };
        let now = Instant::now();
        let mut by_id = self.by_id.lock().await;
        if let Some(entry) = old.and_then(|old| by_id.remove(old)) {
            self.retire(entry);
        }
        self.make_room(&mut by_id, now);
        by_id.insert(
            id.clone(),
            Entry {
                session: session.clone(),
                began: now,
                last_seen: now,
            },
        );
        Ok((id, session))
    }

    /// After a successful login: the session moves to a new id (and CSRF token), connected; the
    /// old id is gone. Keeps the subject (minted by [`begin`](Self::begin) for this login) and
    /// the absolute deadline. `None` if the session no longer exists.
    pub(crate) async fn connect(
        &self,
        old: &str,
    ) -> Result<Option<(String, Session)>, getrandom::Error> {
        let id = random_id()?;
        let csrf_token = random_id()?;
        let mut by_id = self.by_id.lock().await;
        let Some(mut entry) = by_id.remove(old) else {
            return Ok(None);
        };
        entry.session.connected = true;
        entry.session.csrf_token = csrf_token;
        entry.last_seen = Instant::now();
        let session = entry.session.clone();
        by_id.insert(id.clone(), entry);
        Ok(Some((id, session)))
    }

    /// Marks the session no longer connected (its tokens are gone at the instance).
    pub(crate) async fn disconnect(&self, id: &str) {
        if let Some(entry) = self.by_id.lock().await.get_mut(id) {
            entry.session.connected = false;
        }
    }

    /// Ends the session (after its tokens were revoked and deleted).
    pub(crate) async fn remove(&self, id: &str) {
        self.by_id.lock().await.remove(id);
    }

    /// Subjects of connected sessions.
    pub(crate) async fn connected_subjects(&self) -> Vec<String> {
        self.by_id
            .lock()
            .await
            .values()
            .filter(|entry| entry.session.connected)
            .map(|entry| entry.session.subject.clone())
            .collect()
    }

    /// How many sessions the server holds.
    #[cfg(test)]
    pub(crate) async fn len(&self) -> usize {
        self.by_id.lock().await.len()
    }

    /// `Set-Cookie` for a session id: `HttpOnly`, `SameSite=Lax`, `Path=/`, `Max-Age` of the
    /// absolute lifetime, and, unless on plain-http loopback, `Secure` with the `__Host-` name.
    pub(crate) fn set_cookie(&self, id: &str) -> String {
        let max_age = cookie::time::Duration::seconds(
            i64::try_from(self.limits.absolute.as_secs()).unwrap_or(i64::MAX),
        );
        Cookie::build((self.cookie_name(), id.to_owned()))
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .path("/")
            .max_age(max_age)
            .build()
            .to_string()
    }

    /// `Set-Cookie` that removes the session cookie.
    pub(crate) fn clear_cookie(&self) -> String {
        let mut cookie = Cookie::build((self.cookie_name(), ""))
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .path("/")
            .build();
        cookie.make_removal();
        cookie.to_string()
    }

    fn cookie_name(&self) -> &'static str {
        if self.secure {
            HOST_COOKIE_NAME
        } else {
            COOKIE_NAME
        }
    }

    fn expired(&self, entry: &Entry, now: Instant) -> bool {
        now.saturating_duration_since(entry.last_seen) >= self.limits.idle
            || now.saturating_duration_since(entry.began) >= self.limits.absolute
    }

    /// Drops expired sessions when the map is full, then the least recently used ones until one
    /// more fits.
    fn make_room(&self, by_id: &mut HashMap<String, Entry>, now: Instant) {
        if by_id.len() < self.limits.max_sessions {
            return;
        }
        let expired: Vec<String> = by_id
            .iter()
            .filter(|(_, entry)| self.expired(entry, now))
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            if let Some(entry) = by_id.remove(&id) {
                self.retire(entry);
            }
        }
        while by_id.len() >= self.limits.max_sessions.max(1) {
            let Some(oldest) = by_id
                .iter()
                .min_by_key(|(_, entry)| entry.last_seen)
                .map(|(id, _)| id.clone())
            else {
                break;
            };
            if let Some(entry) = by_id.remove(&oldest) {
                self.retire(entry);
            }
        }
    }

    /// Hands a connected session's subject over to be logged out.
    fn retire(&self, entry: Entry) {
        if entry.session.connected && self.retired.try_send(entry.session.subject).is_err() {
            tracing::warn!("too many ended sessions waiting for their logout; one was skipped");
        }
    }
}

/// Whether `given` is the session's CSRF token, compared in constant time.
pub(crate) fn csrf_matches(session: &Session, given: &str) -> bool {
    let expected = session.csrf_token.as_bytes();
    let given = given.as_bytes();
    expected.len() == given.len()
        && expected
            .iter()
            .zip(given)
            .fold(0_u8, |difference, (a, b)| difference | (a ^ b))
            == 0
}

/// 256 random bits, base64url.
fn random_id() -> Result<String, getrandom::Error> {
    let mut bytes = [0_u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

fn session_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == name)
        .map(|cookie| cookie.value().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions(limits: SessionLimits) -> (Sessions, mpsc::Receiver<String>) {
        let (sender, receiver) = mpsc::channel(16);
        (Sessions::new(limits, false, sender), receiver)
    }

    fn cookie_header(name: &str, id: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            format!("other=1; {name}={id}").parse().unwrap(),
        );
        headers
    }

    #[test]
    fn the_cookie_is_http_only_lax_bounded_and_host_prefixed_over_https() {
        let (sender, _) = mpsc::channel(1);
        let https = Sessions::new(SessionLimits::default(), true, sender.clone());
        let cookie = https.set_cookie("abc");
        assert!(
            cookie.starts_with("__Host-web_login_session=abc"),
            "{cookie}"
        );
        for part in [
            "HttpOnly",
            "SameSite=Lax",
            "Secure",
            "Path=/",
            "Max-Age=28800",
        ] {
            assert!(cookie.contains(part), "{part} missing: {cookie}");
        }
        assert!(!cookie.contains("Domain"), "{cookie}");
        assert!(
            https
                .clear_cookie()
                .starts_with("__Host-web_login_session=")
        );
        let loopback = Sessions::new(SessionLimits::default(), false, sender);
        let cookie = loopback.set_cookie("abc");
        assert!(cookie.starts_with("web_login_session=abc"), "{cookie}");
        assert!(!cookie.contains("Secure"), "{cookie}");
    }

    #[tokio::test]
    async fn a_session_is_found_by_its_cookie_only() {
        let (sessions, _) = sessions(SessionLimits::default());
        let (id, session, created) = sessions.find_or_create(&HeaderMap::new()).await.unwrap();
        assert!(created);
        assert!(session.subject.starts_with("web-user-"));
        let (found, _) = sessions
            .find(&cookie_header(COOKIE_NAME, &id))
            .await
            .unwrap();
        assert_eq!(found, id);
        assert!(
            sessions
                .find(&cookie_header(COOKIE_NAME, "guess"))
                .await
                .is_none()
        );
        // The __Host- name is not read on plain-http loopback, nor the other way round.
        assert!(
            sessions
                .find(&cookie_header(HOST_COOKIE_NAME, &id))
                .await
                .is_none()
        );
    }

    #[tokio::test]
    async fn connect_and_login_never_keep_a_known_id() {
        let (sessions, _) = sessions(SessionLimits::default());
        let (planted, before, _) = sessions.find_or_create(&HeaderMap::new()).await.unwrap();
        let (connecting, during) = sessions.begin(Some(&planted)).await.unwrap();
        assert_ne!(connecting, planted);
        assert_ne!(during.subject, before.subject, "a new subject at /connect");
        assert_ne!(during.csrf_token, before.csrf_token);
        assert!(sessions.find_at(&planted, Instant::now()).await.is_none());
        let (connected, after) = sessions.connect(&connecting).await.unwrap().unwrap();
        assert_ne!(connected, connecting);
        assert_eq!(after.subject, during.subject, "the tokens' subject stays");
        assert!(after.connected);
        assert_ne!(after.csrf_token, during.csrf_token);
        assert!(
            sessions
                .find_at(&connecting, Instant::now())
                .await
                .is_none()
        );
        assert_eq!(sessions.len().await, 1);
    }

    #[tokio::test]
    async fn sessions_end_when_idle_or_old_and_connected_ones_are_logged_out() {
        let limits = SessionLimits {
            idle: Duration::from_secs(60),
            absolute: Duration::from_secs(300),
            max_sessions: 100,
        };
        let (sessions, mut retired) = sessions(limits);
        let (id, _) = sessions.begin(None).await.unwrap();
        let (id, session) = sessions.connect(&id).await.unwrap().unwrap();
        let start = Instant::now();
        // Used every 50 s: alive past the idle limit, until the absolute one.
        let mut at = start;
        while at < start + Duration::from_secs(250) {
            at += Duration::from_secs(50);
            assert!(sessions.find_at(&id, at).await.is_some(), "alive at {at:?}");
        }
        assert!(
            sessions
                .find_at(&id, start + Duration::from_secs(301))
                .await
                .is_none()
        );
        assert_eq!(retired.try_recv().unwrap(), session.subject);

        // Idle for a minute: ended, and not connected, so nothing to log out.
        let (idle, _) = sessions.begin(None).await.unwrap();
        assert!(
            sessions
                .find_at(&idle, Instant::now() + Duration::from_secs(61))
                .await
                .is_none()
        );
        assert!(retired.try_recv().is_err());
        assert_eq!(sessions.len().await, 0);
    }

    #[tokio::test]
    async fn the_map_is_bounded_and_the_least_recently_used_session_gives_way() {
        let limits = SessionLimits {
            max_sessions: 3,
            ..SessionLimits::default()
        };
        let (sessions, _) = sessions(limits);
        let mut ids = Vec::new();
        for _ in 0..3 {
            ids.push(sessions.begin(None).await.unwrap().0);
        }
        // The first is used again, so the second is the least recently used.
        assert!(sessions.find_at(&ids[0], Instant::now()).await.is_some());
        sessions.begin(None).await.unwrap();
        assert!(sessions.find_at(&ids[1], Instant::now()).await.is_none());
        assert!(sessions.find_at(&ids[0], Instant::now()).await.is_some());
        assert!(sessions.find_at(&ids[2], Instant::now()).await.is_some());
        for _ in 0..50 {
            sessions.begin(None).await.unwrap();
            assert_eq!(sessions.len().await, 3);
        }
    }

    #[test]
    fn csrf_tokens_must_match_exactly() {
        let session = Session {
            subject: "s".to_owned(),
            connected: true,
            csrf_token: "token-123".to_owned(),
        };
        assert!(csrf_matches(&session, "token-123"));
        for wrong in ["", "token-12", "token-124", "token-1234"] {
            assert!(!csrf_matches(&session, wrong), "{wrong}");
        }
    }
}
