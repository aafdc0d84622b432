//! Small raw-TCP HTTP servers on 127.0.0.1:0 that misbehave on purpose, for the hardening tests.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

/// What a test server does once it has read a request head.
#[derive(Clone, Debug)]
pub(crate) enum Behaviour {
    /// Writes these bytes and closes the connection.
    Reply(Vec<u8>),
    /// Answers `/start` with a 302 to `/target`, and `/target` with 200; counts hits on `/target`.
    RedirectToTarget,
    /// Reads the request and never answers (holds the connection until the test ends).
    Silent,
    /// Echoes the request body back with status 200.
    Echo,
}

/// A server running in the background of the current test's runtime.
#[derive(Debug)]
pub(crate) struct TestServer {
    pub(crate) address: SocketAddr,
    pub(crate) target_hits: Arc<AtomicUsize>,
}

impl TestServer {
    pub(crate) async fn start(behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let address = listener.local_addr().expect("local address");
        let target_hits = Arc::new(AtomicUsize::new(0));
        let hits = target_hits.clone();
        tokio::spawn(async move {
            // Bounded: a test sends a handful of requests.
            for _ in 0..64 {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(serve(stream, behaviour.clone(), hits.clone()));
            }
        });
        Self {
            address,
            target_hits,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }
}

/// A loopback port on which nothing listens (bound, then released).
pub(crate) async fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let address = listener.local_addr().expect("local address");
    drop(listener);
    format!("http://{address}/")
}

pub(crate) fn response(status_line: &str, headers: &[(&str, String)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status_line}\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

async fn serve(mut stream: TcpStream, behaviour: Behaviour, target_hits: Arc<AtomicUsize>) {
    let Some((head, body)) = read_request(&mut stream).await else {
        return;
    };
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let reply = match behaviour {
        Behaviour::Reply(bytes) => bytes,
        Behaviour::Echo => response(
            "200 OK",
            &[
                ("Content-Length", body.len().to_string()),
                ("Connection", "close".into()),
            ],
            &body,
        ),
        Behaviour::RedirectToTarget if path == "/target" => {
            target_hits.fetch_add(1, Ordering::SeqCst);
            response(
                "200 OK",
                &[
                    ("Content-Length", "7".into()),
                    ("Connection", "close".into()),
                ],
                b"reached",
            )
        }
        Behaviour::RedirectToTarget => response(
            "302 Found",
            &[
                ("Location", "/target".into()),
                ("Content-Length", "0".into()),
                ("Connection", "close".into()),
            ],
            b"",
        ),
        Behaviour::Silent => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return;
        }
    };
    let _ = stream.write_all(&reply).await;
    let _ = stream.shutdown().await;
}

/// Reads one request head and its `Content-Length` body (bounded to 1 MiB).
async fn read_request(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(position) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            break position + 4;
        }
        if buffer.len() > 1 << 20 {
            return None;
        }
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let length = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0)
        .min(1 << 20);
    let mut body = buffer[head_end..].to_vec();
    while body.len() < length {
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..read]);
    }
    Some((head, body))
}
