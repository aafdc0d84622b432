//! The one-shot loopback listener of `sn login` (RFC 8252 §7.3): it binds the redirect URI's
//! port on the loopback interface only, waits for the browser's callback, hands its query string
//! over and answers the browser with a short page.

use std::net::{Ipv4Addr, SocketAddr};

use servicenow::oauth::is_loopback_host;
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
    sync::mpsc,
    task::JoinHandle,
};
use url::Url;

use crate::failure::{CliError, CliResult};

/// The largest request head the listener reads.
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// How long one connection may take to send its request head (browsers open idle
/// speculative connections; they must not block the callback).
const HEAD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A listener bound to the redirect URI's loopback address and port.
#[derive(Debug)]
pub(crate) struct Loopback {
    callbacks: mpsc::Receiver<Callback>,
    acceptor: JoinHandle<()>,
    address: SocketAddr,
}

/// A callback that arrived: its query string, and the connection to answer on.
#[derive(Debug)]
pub(crate) struct Callback {
    /// The raw query string (`code=…&state=…` or `error=…&state=…`).
    pub(crate) query: String,
    stream: TcpStream,
}

impl Loopback {
    /// Binds the address of `redirect_uri`, which must be `http://127.0.0.1:PORT/…`,
    /// `http://[::1]:PORT/…` or `http://localhost:PORT/…` (bound on 127.0.0.1).
    pub(crate) async fn bind(redirect_uri: &str) -> CliResult<Self> {
        let (address, path) = loopback_address(redirect_uri)?;
        let listener = TcpListener::bind(address).await.map_err(|error| {
            CliError::local(
                format!("cannot listen on {address} for the login callback: {error}"),
                Some(
                    "another program uses that port (another `sn login`?); register another \
                     loopback redirect URI and pass it with --redirect-uri"
                        .to_owned(),
                ),
            )
        })?;
        let address = listener.local_addr().map_err(|error| {
            CliError::local(
                format!("cannot listen for the login callback: {error}"),
                None,
            )
        })?;
        let (sender, callbacks) = mpsc::channel(1);
        let acceptor = tokio::spawn(accept(listener, path, sender));
        Ok(Self {
            callbacks,
            acceptor,
            address,
        })
    }

    /// The address it listens on (the actual port when the redirect URI named port 0).
    pub(crate) fn address(&self) -> SocketAddr {
        self.address
    }

    /// Waits for the callback (requests for other paths get a 404 and are ignored).
    pub(crate) async fn next_callback(&mut self) -> CliResult<Callback> {
        self.callbacks
            .recv()
            .await
            .ok_or_else(|| CliError::unexpected("the callback listener stopped"))
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

impl Callback {
    /// Answers the browser with a page saying how the login went.
    pub(crate) async fn respond(mut self, succeeded: bool, text: &str) {
        let (status, title) = if succeeded {
            ("200 OK", "Logged in")
        } else {
            ("400 Bad Request", "Login failed")
        };
        let body = format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
             <body><h1>{title}</h1><p>{}</p><p>You can close this tab and return to the \
             terminal.</p></body></html>",
            escape_html(text)
        );
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
             Cache-Control: no-store\r\nReferrer-Policy: no-referrer\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        // The browser may already be gone; the login's outcome does not depend on this page.
        let _ = self.stream.write_all(response.as_bytes()).await;
        let _ = self.stream.shutdown().await;
    }
}

/// The socket address and path a loopback redirect URI names.
pub(crate) fn loopback_address(redirect_uri: &str) -> CliResult<(SocketAddr, String)> {
    let refuse = |why: &str| {
        CliError::usage(
            format!("the redirect URI {redirect_uri:?} cannot be used by sn login: {why}"),
            Some(format!(
                "register a loopback redirect URI such as {} on the instance and pass it with \
                 --redirect-uri",
                crate::profile::DEFAULT_REDIRECT_URI
            )),
        )
    };
    let url = Url::parse(redirect_uri).map_err(|error| refuse(&error.to_string()))?;
    if url.scheme() != "http" {
        return Err(refuse("it must be http:// on the loopback interface"));
    }
    let Some(port) = url.port() else {
        return Err(refuse("it must name its port, e.g. :8765"));
    };
    // The one loopback rule (servicenow-oauth's), then the address it names.
    if !url.host_str().is_some_and(is_loopback_host) {
        return Err(refuse("its host must be 127.0.0.1, [::1] or localhost"));
    }
    let ip = match url.host() {
        Some(url::Host::Ipv4(ip)) => std::net::IpAddr::V4(ip),
        Some(url::Host::Ipv6(ip)) => std::net::IpAddr::V6(ip),
        // `localhost`, the one loopback name, is bound on 127.0.0.1.
        _ => std::net::IpAddr::V4(Ipv4Addr::LOCALHOST),
    };
    Ok((SocketAddr::new(ip, port), url.path().to_owned()))
}

async fn accept(listener: TcpListener, path: String, sender: mpsc::Sender<Callback>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let path = path.clone();
        let sender = sender.clone();
        tokio::spawn(async move {
            if let Ok(Some(callback)) =
                tokio::time::timeout(HEAD_TIMEOUT, read_callback(stream, &path)).await
            {
                let _ = sender.send(callback).await;
            }
        });
    }
}

/// Reads one request head; returns the callback if it is `GET <path>?…`, else answers 404.
async fn read_callback(mut stream: TcpStream, path: &str) -> Option<Callback> {
    let mut head = Vec::with_capacity(1024);
    let mut buffer = [0_u8; 2048];
    while !head.windows(4).any(|window| window == b"\r\n\r\n") {
        let read = stream.read(&mut buffer).await.ok()?;
        if read == 0 || head.len() + read > MAX_HEAD_BYTES {
            return None;
        }
        head.extend_from_slice(&buffer[..read]);
    }
    let text = String::from_utf8_lossy(&head);
    let request_line = text.lines().next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (method, target) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let (target_path, query) = target.split_once('?').unwrap_or((target, ""));
    if method == "GET" && target_path == path {
        return Some(Callback {
            query: query.to_owned(),
            stream,
        });
    }
    let body = "not found";
    let response = format!(
        "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    None
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_http_redirect_uris_with_a_port_are_accepted() {
        let (address, path) = loopback_address("http://127.0.0.1:8765/callback").unwrap();
        assert_eq!(address, "127.0.0.1:8765".parse().unwrap());
        assert_eq!(path, "/callback");
        let (address, _) = loopback_address("http://localhost:9000/cb").unwrap();
        assert_eq!(address, "127.0.0.1:9000".parse().unwrap());
        assert!(loopback_address("http://[::1]:9000/cb").is_ok());
        for refused in [
            "https://127.0.0.1:8765/callback",
            "http://127.0.0.1/callback",
            "http://example.com:8765/callback",
            "http://192.168.1.2:8765/callback",
            "not a url",
        ] {
            assert!(
                matches!(loopback_address(refused), Err(CliError::Usage { .. })),
                "{refused} should be refused"
            );
        }
    }

    #[tokio::test]
    async fn the_callback_query_is_handed_over_and_other_paths_get_404() {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let mut loopback = Loopback::bind(&format!("http://127.0.0.1:{port}/callback"))
            .await
            .unwrap();
        let address = loopback.address();
        let favicon = send(address, "GET /favicon.ico HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(favicon.starts_with("HTTP/1.1 404"), "{favicon}");
        let browser = tokio::spawn(send(
            address,
            "GET /callback?code=abc&state=xyz HTTP/1.1\r\nHost: x\r\n\r\n",
        ));
        let callback = loopback.next_callback().await.unwrap();
        assert_eq!(callback.query, "code=abc&state=xyz");
        callback.respond(true, "done <ok>").await;
        let page = browser.await.unwrap();
        assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
        assert!(page.contains("done &lt;ok&gt;"), "{page}");
    }

    async fn send(address: SocketAddr, request: &str) -> String {
        let mut stream = TcpStream::connect(address).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    }
}
