//! The one origin rule: which hosts are loopback, and whether a request URI is on the instance's
//! origin (scheme, host and port, no userinfo), checked without allocating.

use std::net::{IpAddr, Ipv6Addr};

/// Whether `host` names this machine: `localhost` (any case), an IPv4 address in
/// `127.0.0.0/8`, or `::1`, bracketed as in a URL (`[::1]`) or not.
///
/// This is the one loopback rule of the workspace: [`InstanceUrl`](crate::InstanceUrl) and
/// [`RedirectUri`](crate::RedirectUri) allow plain `http` only on such a host, and the
/// transports of `servicenow-http` refuse any other `http` URL. The host is compared as
/// written: `127.1` or `0x7f.0.0.1` (which some resolvers would read as loopback) are not.
///
/// ```
/// use servicenow_oauth::is_loopback_host;
///
/// assert!(is_loopback_host("LocalHost"));
/// assert!(is_loopback_host("127.9.9.9"));
/// assert!(is_loopback_host("[::1]"));
/// assert!(is_loopback_host("::1"));
/// assert!(!is_loopback_host("localhost.example.com"));
/// assert!(!is_loopback_host("[::2]"));
/// ```
#[must_use]
pub fn is_loopback_host(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    if let Some(v6) = host
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
    {
        return v6
            .parse::<Ipv6Addr>()
            .is_ok_and(|address| address.is_loopback());
    }
    host.parse::<IpAddr>()
        .is_ok_and(|address| address.is_loopback())
}

/// `scheme://host[:port]` of an absolute URI, serialized as
/// [`InstanceUrl::origin`](crate::InstanceUrl::origin) is (scheme and host lowercased, the
/// scheme's default port omitted, userinfo dropped), or `None` for a relative URI.
///
/// Meant for error messages that name where a request was going ("refused to send a token to
/// `https://elsewhere.example`"); it allocates, so it is not the check itself
/// ([`InstanceUrl::same_origin`](crate::InstanceUrl::same_origin) is).
///
/// ```
/// use servicenow_oauth::origin_of;
///
/// let uri: http::Uri = "HTTPS://Dev1.Service-Now.com:443/api/now/table/incident".parse()?;
/// assert_eq!(origin_of(&uri).as_deref(), Some("https://dev1.service-now.com"));
/// assert_eq!(origin_of(&"/api/now/table/incident".parse()?), None);
/// # Ok::<(), http::uri::InvalidUri>(())
/// ```
#[must_use]
pub fn origin_of(uri: &http::Uri) -> Option<String> {
    uri.scheme()?;
    let url = url::Url::parse(&uri.to_string()).ok()?;
    match url.origin() {
        origin @ url::Origin::Tuple(..) => Some(origin.ascii_serialization()),
        url::Origin::Opaque(_) => None,
    }
}

/// An origin as compared on every request: scheme, lowercase host (IPv6 in brackets), port
/// with the scheme's default filled in. Computed once, when the instance URL is validated.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct OriginParts {
    https: bool,
    host: String,
    port: u16,
}

impl OriginParts {
    /// The parts of a validated `http`/`https` URL; `None` for any other scheme or no host.
    pub(crate) fn of_url(url: &url::Url) -> Option<Self> {
        let https = match url.scheme() {
            "https" => true,
            "http" => false,
            _ => return None,
        };
        Some(Self {
            https,
            host: url.host_str()?.to_ascii_lowercase(),
            port: url.port_or_known_default()?,
        })
    }

    /// The host, lowercase, IPv6 in brackets.
    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    /// Whether `uri` is on this origin: same scheme (any case), same host (ASCII
    /// case-insensitive), same port (the scheme's default when none is written), and no
    /// userinfo. A relative URI never is. Allocates nothing.
    pub(crate) fn matches(&self, uri: &http::Uri) -> bool {
        let Some(authority) = uri.authority() else {
            return false;
        };
        let https = match uri.scheme_str() {
            Some(scheme) if scheme.eq_ignore_ascii_case("https") => true,
            Some(scheme) if scheme.eq_ignore_ascii_case("http") => false,
            _ => return false,
        };
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        https == self.https
            && port == self.port
            && !authority.as_str().contains('@')
            && authority.host().eq_ignore_ascii_case(&self.host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(instance: &str) -> OriginParts {
        OriginParts::of_url(&url::Url::parse(instance).unwrap()).unwrap()
    }

    fn uri(text: &str) -> http::Uri {
        text.parse().unwrap()
    }

    #[test]
    fn the_origin_check_matches_scheme_host_and_port_exactly() {
        let allowed = parts("https://dev1.service-now.com");
        assert!(allowed.matches(&uri("https://dev1.service-now.com/api/now/table/incident")));
        assert!(allowed.matches(&uri("HTTPS://DEV1.Service-Now.com:443/api/now/table/x?y=1")));
        for foreign in [
            "http://dev1.service-now.com/api",
            "https://dev1.service-now.com:8443/api",
            "https://dev1.service-now.com.evil.example/api",
            "https://evil.example/dev1.service-now.com",
            "https://user@dev1.service-now.com/api",
            "https://dev1.service-now.com@evil.example/api",
            "ftp://dev1.service-now.com/api",
            "/api/now/table/incident",
        ] {
            assert!(!allowed.matches(&uri(foreign)), "{foreign} must not match");
        }
        let loopback = parts("http://127.0.0.1:8080");
        assert!(loopback.matches(&uri("http://127.0.0.1:8080/api")));
        assert!(!loopback.matches(&uri("http://127.0.0.1:8081/api")));
        assert!(!loopback.matches(&uri("https://127.0.0.1:8080/api")));
        let v6 = parts("http://[::1]:9000");
        assert!(v6.matches(&uri("http://[::1]:9000/api")));
        assert!(!v6.matches(&uri("http://[::2]:9000/api")));
    }

    #[test]
    fn origins_compare_as_the_instance_serializes_them() {
        assert_eq!(
            origin_of(&uri(
                "HTTPS://Dev1.Service-Now.com:443/api/now/table/incident?x=1"
            ))
            .as_deref(),
            Some("https://dev1.service-now.com")
        );
        assert_eq!(
            origin_of(&uri("https://user@evil.example:8443/x")).as_deref(),
            Some("https://evil.example:8443")
        );
        assert_eq!(origin_of(&uri("/api/now/table/incident")), None);
    }

    #[test]
    fn loopback_is_localhost_127_slash_8_and_ipv6_one_bracketed_or_not() {
        for host in [
            "localhost",
            "LOCALHOST",
            "127.0.0.1",
            "127.255.0.9",
            "[::1]",
            "::1",
            "[0:0:0:0:0:0:0:1]",
        ] {
            assert!(is_loopback_host(host), "{host} is loopback");
        }
        for host in [
            "localhost.example.com",
            "128.0.0.1",
            "10.0.0.1",
            "[::2]",
            "[::1",
            "::1]",
            "",
            "example.com",
        ] {
            assert!(!is_loopback_host(host), "{host} is not loopback");
        }
    }
}
