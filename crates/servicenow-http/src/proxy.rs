//! Which proxy HTTPS requests go through: [`Proxy`] (none, the environment's, or a given URL),
//! `NO_PROXY` lists, and the rule that loopback is never proxied.

use std::fmt;

use http::Uri;

use crate::TransportError;

/// Where the proxy settings are set, named in the errors they fix.
pub(crate) const PROXY_SETTING: &str =
    "TransportConfig::proxy; in sn and the web example --proxy, HTTPS_PROXY or NO_PROXY";

/// The proxy the built-in transports send HTTPS requests through.
///
/// Whatever is chosen, a request to a loopback host (`127.0.0.0/8`, `::1`, `localhost`) always
/// goes straight to it: a bearer token for a local emulator never travels to a proxy. Requests
/// go through the proxy as a `CONNECT` tunnel, so TLS stays end to end with the instance and the
/// proxy sees only the host name and port.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Proxy {
    /// No proxy: every request connects directly.
    None,
    /// The environment's proxy (the default), read when the transport is built:
    /// `HTTPS_PROXY` (or `https_proxy`, else `ALL_PROXY`/`all_proxy`), bypassed for the hosts
    /// of `NO_PROXY` (or `no_proxy`). Without `HTTPS_PROXY` or `ALL_PROXY`, no proxy.
    #[default]
    System,
    /// This proxy, bypassed for the hosts of its `no_proxy` list.
    Url(ProxyUrl),
}

/// An explicit proxy: an `http://host:port` URL, optional credentials, and the hosts that
/// bypass it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyUrl {
    uri: Uri,
    credentials: Option<ProxyCredentials>,
    no_proxy: String,
}

impl ProxyUrl {
    /// Parses `http://[user:password@]host:port`. Credentials in the URL (percent-encoded) are
    /// moved into [`ProxyCredentials`]; only `http` proxies are supported (the tunnel to the
    /// instance is TLS end to end either way).
    ///
    /// # Errors
    ///
    /// [`TransportError::Configuration`] for anything else; the message never repeats a
    /// password.
    pub fn new(url: &str) -> Result<Self, TransportError> {
        let invalid = |problem: String| TransportError::Configuration {
            problem,
            setting: PROXY_SETTING,
        };
        let trimmed = url.trim();
        // A bare `host:port`, as some environments set HTTPS_PROXY, means an http proxy.
        let with_scheme = if trimmed.contains("://") {
            trimmed.to_owned()
        } else {
            format!("http://{trimmed}")
        };
        let uri: Uri = with_scheme
            .parse()
            .map_err(|_| invalid("the proxy is not a URL (expected http://host:port)".into()))?;
        let scheme = uri.scheme_str().unwrap_or_default().to_ascii_lowercase();
        if scheme != "http" {
            return Err(invalid(format!(
                "the proxy scheme {scheme} is not supported (expected http://host:port; the \
                 tunnel to the instance is TLS either way)"
            )));
        }
        let Some(authority) = uri.authority() else {
            return Err(invalid(
                "the proxy URL has no host (expected http://host:port)".into(),
            ));
        };
        let (userinfo, host_port) = match authority.as_str().rsplit_once('@') {
            Some((userinfo, host_port)) => (Some(userinfo), host_port),
            None => (None, authority.as_str()),
        };
        let credentials = match userinfo {
            None => None,
            Some(userinfo) => {
                let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                Some(ProxyCredentials::new(
                    percent_decode(user).ok_or_else(|| {
                        invalid("the proxy user name is not valid percent-encoded UTF-8".into())
                    })?,
                    ProxyPassword::new(percent_decode(password).ok_or_else(|| {
                        invalid("the proxy password is not valid percent-encoded UTF-8".into())
                    })?),
                ))
            }
        };
        let uri: Uri = format!("http://{host_port}")
            .parse()
            .map_err(|_| invalid("the proxy host is not valid".into()))?;
        Ok(Self {
            uri,
            credentials,
            no_proxy: String::new(),
        })
    }

    /// Authenticates to the proxy with these credentials (HTTP Basic, `Proxy-Authorization`).
    #[must_use]
    pub fn with_credentials(mut self, credentials: ProxyCredentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// Bypasses the proxy for these hosts, in `NO_PROXY` syntax: comma-separated; a domain
    /// matches itself and its subdomains (`example.com`, `.example.com`); IP addresses and
    /// networks (`10.0.0.0/8`); `*` for every host.
    #[must_use]
    pub fn with_no_proxy(mut self, hosts: impl Into<String>) -> Self {
        self.no_proxy = hosts.into();
        self
    }

    /// The proxy's URL, `http://host:port`, without credentials.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// The hosts that bypass the proxy, as given.
    pub fn no_proxy(&self) -> &str {
        &self.no_proxy
    }
}

/// A user name and password for the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyCredentials {
    /// The user name.
    pub username: String,
    /// The password.
    pub password: ProxyPassword,
}

impl ProxyCredentials {
    /// Credentials for HTTP Basic authentication to the proxy.
    pub fn new(username: impl Into<String>, password: ProxyPassword) -> Self {
        Self {
            username: username.into(),
            password,
        }
    }
}

/// A proxy password: redacted in `Debug`, no `Display`, wiped from memory when dropped (with
/// the `tls` feature that the built-in transports enable).
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyPassword(String);

impl ProxyPassword {
    /// Wraps a password.
    pub fn new(password: impl Into<String>) -> Self {
        Self(password.into())
    }

    /// The password itself; the name says what it does.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ProxyPassword {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("ProxyPassword([redacted])")
    }
}

#[cfg(feature = "tls")]
impl Drop for ProxyPassword {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = std::str::from_utf8(bytes.get(index + 1..index + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(any(feature = "reqwest", feature = "hyper"))]
pub(crate) use plan::ProxyPlan;

#[cfg(any(feature = "reqwest", feature = "hyper"))]
mod plan {
    use http::{HeaderValue, Uri};
    use hyper_util::client::proxy::matcher::Matcher;
    use servicenow_oauth::is_loopback_host;

    use super::{PROXY_SETTING, Proxy, ProxyUrl};
    use crate::TransportError;

    /// A [`Proxy`] resolved when a transport is built: the proxy (if any), its
    /// `Proxy-Authorization` value, and the hosts that bypass it.
    #[derive(Debug, Clone)]
    pub(crate) struct ProxyPlan {
        target: Option<Target>,
    }

    #[derive(Debug, Clone)]
    pub(crate) struct Target {
        pub(crate) uri: Uri,
        pub(crate) authorization: Option<HeaderValue>,
        /// Matches what goes through the proxy (its `no` list is the bypass list).
        matcher: std::sync::Arc<Matcher>,
    }

    impl ProxyPlan {
        /// Resolves `proxy`, reading the environment through `env` for [`Proxy::System`].
        pub(crate) fn resolve(
            proxy: &Proxy,
            env: impl Fn(&str) -> Option<String>,
        ) -> Result<Self, TransportError> {
            let first = |names: &[&str]| {
                names
                    .iter()
                    .find_map(|name| env(name).filter(|value| !value.trim().is_empty()))
            };
            let url = match proxy {
                Proxy::None => None,
                Proxy::Url(url) => Some(url.clone()),
                Proxy::System => {
                    let names = ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"];
                    match names
                        .iter()
                        .find_map(|name| Some((*name, env(name)?)))
                        .filter(|(_, value)| !value.trim().is_empty())
                    {
                        None => None,
                        Some((name, value)) => {
                            let url = ProxyUrl::new(&value).map_err(|error| match error {
                                TransportError::Configuration { problem, .. } => {
                                    TransportError::Configuration {
                                        problem: format!("{name} is unusable: {problem}"),
                                        setting: PROXY_SETTING,
                                    }
                                }
                                other => other,
                            })?;
                            Some(url.with_no_proxy(
                                first(&["NO_PROXY", "no_proxy"]).unwrap_or_default(),
                            ))
                        }
                    }
                }
            };
            let target = url.map(|url| {
                let authorization = url.credentials.as_ref().map(|credentials| {
                    basic_authorization(&credentials.username, credentials.password.secret())
                });
                Target {
                    matcher: std::sync::Arc::new(
                        Matcher::builder()
                            .https(url.uri.to_string())
                            .no(url.no_proxy.clone())
                            .build(),
                    ),
                    uri: url.uri,
                    authorization,
                }
            });
            Ok(Self { target })
        }

        /// The proxy `destination` goes through, or `None` to connect directly: loopback
        /// hosts and plain `http` never go through a proxy, hosts on the bypass list neither.
        pub(crate) fn route(&self, destination: &Uri) -> Option<&Target> {
            let target = self.target.as_ref()?;
            if destination.scheme_str() != Some("https")
                || destination.host().is_none_or(is_loopback_host)
            {
                return None;
            }
            target.matcher.intercept(destination).map(|_| target)
        }

        /// The proxy, if one is configured at all.
        pub(crate) fn target(&self) -> Option<&Target> {
            self.target.as_ref()
        }
    }

    fn basic_authorization(username: &str, password: &str) -> HeaderValue {
        use base64::Engine as _;
        let credentials = zeroize::Zeroizing::new(format!("{username}:{password}"));
        let encoded = zeroize::Zeroizing::new(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials.as_bytes())
        ));
        // Base64 is always a valid header value.
        let mut value =
            HeaderValue::from_str(&encoded).unwrap_or_else(|_| HeaderValue::from_static("Basic"));
        value.set_sensitive(true);
        value
    }

    #[cfg(test)]
    mod tests {
        use std::collections::HashMap;

        use super::*;
        use crate::{ProxyCredentials, ProxyPassword};

        fn uri(text: &str) -> Uri {
            text.parse().expect("valid uri")
        }

        fn plan(env: &[(&str, &str)]) -> Result<ProxyPlan, TransportError> {
            let env: HashMap<String, String> = env
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect();
            ProxyPlan::resolve(&Proxy::System, |name| env.get(name).cloned())
        }

        fn routed(plan: &ProxyPlan, url: &str) -> Option<String> {
            plan.route(&uri(url)).map(|target| target.uri.to_string())
        }

        #[test]
        fn the_environment_proxy_carries_https_except_no_proxy_hosts_and_loopback() {
            let plan = plan(&[
                ("HTTPS_PROXY", "http://proxy.corp:3128"),
                ("NO_PROXY", "internal.corp, 10.0.0.0/8"),
            ])
            .expect("a usable environment");
            let proxy = Some("http://proxy.corp:3128/".to_owned());
            assert_eq!(routed(&plan, "https://dev1.service-now.com/api"), proxy);
            assert_eq!(routed(&plan, "https://sn.internal.corp/"), None);
            assert_eq!(routed(&plan, "https://internal.corp/"), None);
            assert_eq!(routed(&plan, "https://10.1.2.3/"), None);
            assert_eq!(routed(&plan, "https://127.0.0.1:8443/"), None);
            assert_eq!(routed(&plan, "https://localhost:8443/"), None);
            assert_eq!(routed(&plan, "https://[::1]:8443/"), None);
            assert_eq!(routed(&plan, "http://127.0.0.1:8080/"), None);
        }

        #[test]
        fn lowercase_and_all_proxy_variables_count_and_an_empty_environment_means_no_proxy() {
            let plan = plan(&[("all_proxy", "proxy.corp:8080")]).expect("usable");
            assert_eq!(
                routed(&plan, "https://dev1.service-now.com/"),
                Some("http://proxy.corp:8080/".to_owned())
            );
            assert!(plan.target().is_some());
            let none = super::super::tests::no_env_plan();
            assert!(none.target().is_none());
            assert_eq!(routed(&none, "https://dev1.service-now.com/"), None);
        }

        #[test]
        fn a_malformed_environment_proxy_is_an_error_naming_the_variable_not_a_silent_bypass() {
            let error = plan(&[("HTTPS_PROXY", "socks5://user:hunter2@proxy:1080")])
                .expect_err("socks is not supported");
            let message = error.to_string();
            assert!(message.contains("HTTPS_PROXY is unusable"), "{message}");
            assert!(message.contains("TransportConfig::proxy"), "{message}");
            assert!(!message.contains("hunter2"), "{message}");
        }

        #[test]
        fn credentials_become_a_sensitive_basic_header_and_never_show_in_debug() {
            let url = ProxyUrl::new("http://alice:p%40ss@proxy.corp:3128").expect("valid");
            assert_eq!(url.uri().to_string(), "http://proxy.corp:3128/");
            let debug = format!("{url:?}");
            assert!(
                !debug.contains("p@ss") && !debug.contains("p%40ss"),
                "{debug}"
            );
            let plan = ProxyPlan::resolve(&Proxy::Url(url), |_| None).expect("usable");
            let target = plan.target().expect("a proxy");
            let header = target.authorization.as_ref().expect("credentials");
            // base64("alice:p@ss")
            assert_eq!(header, "Basic YWxpY2U6cEBzcw==");
            assert!(header.is_sensitive());
            let explicit = ProxyUrl::new("http://proxy.corp:3128")
                .expect("valid")
                .with_credentials(ProxyCredentials::new("bob", ProxyPassword::new("pw")));
            assert!(
                !format!("{explicit:?}").contains("\"pw\""),
                "the password is redacted"
            );
        }
    }
}

#[cfg(all(test, any(feature = "reqwest", feature = "hyper")))]
mod tests {
    use super::*;

    pub(super) fn no_env_plan() -> ProxyPlan {
        ProxyPlan::resolve(&Proxy::System, |_| None).expect("an empty environment")
    }

    #[test]
    fn proxy_urls_must_be_http_with_a_host() {
        assert!(ProxyUrl::new("https://proxy:443").is_err());
        assert!(ProxyUrl::new("http://").is_err());
        assert_eq!(
            ProxyUrl::new("proxy.corp:3128")
                .expect("bare host:port")
                .uri(),
            "http://proxy.corp:3128/"
        );
        assert!(
            ProxyPlan::resolve(&Proxy::None, |_| Some("http://p:1".into()))
                .expect("none")
                .target()
                .is_none()
        );
    }
}
