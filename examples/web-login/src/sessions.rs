//! Browser sessions: an opaque random id in an `HttpOnly` cookie, mapped on the server to the
//! app's user id (the subject the tokens are stored under). Nothing else reaches the browser.

use std::collections::HashMap;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use cookie::{Cookie, SameSite};
use http::{HeaderMap, header};
use tokio::sync::Mutex;

/// The session cookie's name.
pub(crate) const COOKIE_NAME: &str = "web_login_session";

/// One browser session.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// The app's user id for this browser, the subject of its tokens in the store.
    pub(crate) subject: String,
    /// Whether a login completed and no logout followed.
    pub(crate) connected: bool,
}

/// Sessions by id, in memory (a real app keeps them in its own session store).
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    by_id: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// The session the request's cookie names, if it exists.
    pub(crate) async fn find(&self, headers: &HeaderMap) -> Option<(String, Session)> {
        let id = session_cookie(headers)?;
        let session = self.by_id.lock().await.get(&id).cloned()?;
        Some((id, session))
    }

    /// The request's session, or a new one (whose cookie the response must set).
    pub(crate) async fn find_or_create(
        &self,
        headers: &HeaderMap,
    ) -> Result<(String, Session, bool), getrandom::Error> {
        if let Some((id, session)) = self.find(headers).await {
            return Ok((id, session, false));
        }
        let id = random_id()?;
        let session = Session {
            subject: format!("web-user-{}", random_id()?),
            connected: false,
        };
        self.by_id.lock().await.insert(id.clone(), session.clone());
        Ok((id, session, true))
    }

    /// Marks the session connected or not.
    pub(crate) async fn set_connected(&self, id: &str, connected: bool) {
        if let Some(session) = self.by_id.lock().await.get_mut(id) {
            session.connected = connected;
        }
    }

    /// Ends the session.
    pub(crate) async fn remove(&self, id: &str) {
        self.by_id.lock().await.remove(id);
    }

    /// Subjects of connected sessions.
    pub(crate) async fn connected_subjects(&self) -> Vec<String> {
        self.by_id
            .lock()
            .await
            .values()
            .filter(|session| session.connected)
            .map(|session| session.subject.clone())
            .collect()
    }
}

/// 256 random bits, base64url.
fn random_id() -> Result<String, getrandom::Error> {
    let mut bytes = [0_u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == COOKIE_NAME)
        .map(|cookie| cookie.value().to_owned())
}

/// `Set-Cookie` for a session id: `HttpOnly`, `SameSite=Lax`, `Path=/`, and `Secure` unless the
/// app runs on plain-http loopback.
pub(crate) fn set_cookie(id: &str, secure: bool) -> String {
    Cookie::build((COOKIE_NAME, id.to_owned()))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .path("/")
        .build()
        .to_string()
}

/// `Set-Cookie` that removes the session cookie.
pub(crate) fn clear_cookie(secure: bool) -> String {
    let mut cookie = Cookie::build((COOKIE_NAME, ""))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .path("/")
        .build();
    cookie.make_removal();
    cookie.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_http_only_lax_and_secure_when_asked() {
        let cookie = set_cookie("abc", true);
        assert!(cookie.starts_with("web_login_session=abc"), "{cookie}");
        assert!(cookie.contains("HttpOnly"), "{cookie}");
        assert!(cookie.contains("SameSite=Lax"), "{cookie}");
        assert!(cookie.contains("Secure"), "{cookie}");
        assert!(!set_cookie("abc", false).contains("Secure"));
    }

    #[tokio::test]
    async fn a_session_is_found_by_its_cookie_only() {
        let sessions = Sessions::default();
        let (id, session, created) = sessions.find_or_create(&HeaderMap::new()).await.unwrap();
        assert!(created);
        assert!(session.subject.starts_with("web-user-"));
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            format!("other=1; {COOKIE_NAME}={id}").parse().unwrap(),
        );
        let (found, _) = sessions.find(&headers).await.unwrap();
        assert_eq!(found, id);
        let mut forged = HeaderMap::new();
        forged.insert(
            header::COOKIE,
            format!("{COOKIE_NAME}=guess").parse().unwrap(),
        );
        assert!(sessions.find(&forged).await.is_none());
    }
}
