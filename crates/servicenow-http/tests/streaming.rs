//! Streaming bodies through the built-in transports, against a small loopback server: uploads
//! arrive whole, downloads obey the caller's size limit and idle timeout (not the JSON cap nor
//! the total deadline), and a transport without streaming support falls back to buffering.
#![cfg(any(feature = "reqwest", feature = "hyper"))]

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use servicenow_http::{
    HttpTransport, Proxy, RequestBody, ResponseBody, StreamLimits, TimeoutPhase, TransportConfig,
    TransportError, async_trait,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

/// A JSON cap and a total deadline far below what the streams here move and last: the
/// streaming path must not be bound by either.
fn json_limits() -> TransportConfig {
    TransportConfig {
        max_response_body: 1_000,
        connect_timeout: Duration::from_secs(5),
        total_timeout: Duration::from_millis(300),
        proxy: Proxy::None,
        ..TransportConfig::default()
    }
}

/// FNV-1a over a byte sequence, computed the same way on both ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Digest {
    length: u64,
    hash: u64,
}

impl Digest {
    fn new() -> Self {
        Self {
            length: 0,
            hash: 0xcbf2_9ce4_8422_2325,
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.hash = (self.hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
        self.length += bytes.len() as u64;
    }
}

/// The `index`th piece of a test body: bytes that differ from piece to piece.
fn piece(index: usize, size: usize) -> Vec<u8> {
    (0..size)
        .map(|offset| (index.wrapping_mul(31) ^ offset.wrapping_mul(7)) as u8)
        .collect()
}

/// What the server does after reading a request head.
#[derive(Clone, Debug)]
enum Server {
    /// Reads the `Content-Length` body and answers with its length and hash.
    Digest,
    /// Sends `pieces` pieces of `size` bytes, `pause` apart, with or without a declared length.
    Send {
        pieces: usize,
        size: usize,
        pause: Duration,
        declare_length: bool,
    },
    /// Sends the head and one piece, then nothing more (holds the connection).
    Stall,
    /// Reads the request and never answers.
    Silent,
}

async fn start(server: Server) -> String {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let address = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        for _ in 0..16 {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(serve(stream, server.clone()));
        }
    });
    format!("http://{address}/api/now/attachment/file")
}

async fn serve(mut stream: TcpStream, server: Server) {
    let mut buffer = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let head_end = loop {
        if let Some(position) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            break position + 4;
        }
        let Ok(read) = stream.read(&mut chunk).await else {
            return;
        };
        if read == 0 {
            return;
        }
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
    let length: u64 = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0);
    let mut digest = Digest::new();
    digest.update(&buffer[head_end..]);
    while digest.length < length {
        let Ok(read) = stream.read(&mut chunk).await else {
            return;
        };
        if read == 0 {
            break;
        }
        digest.update(&chunk[..read]);
    }
    match server {
        Server::Digest => {
            let body = format!("{} {}", digest.length, digest.hash);
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(reply.as_bytes()).await;
        }
        Server::Send {
            pieces,
            size,
            pause,
            declare_length,
        } => {
            let framing = if declare_length {
                format!("content-length: {}", pieces * size)
            } else {
                "transfer-encoding: chunked".to_owned()
            };
            let head = format!("HTTP/1.1 200 OK\r\n{framing}\r\nconnection: close\r\n\r\n");
            if stream.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            for index in 0..pieces {
                let bytes = piece(index, size);
                let written = if declare_length {
                    stream.write_all(&bytes).await
                } else {
                    let mut framed = format!("{size:x}\r\n").into_bytes();
                    framed.extend_from_slice(&bytes);
                    framed.extend_from_slice(b"\r\n");
                    stream.write_all(&framed).await
                };
                if written.is_err() {
                    return;
                }
                tokio::time::sleep(pause).await;
            }
            if !declare_length {
                let _ = stream.write_all(b"0\r\n\r\n").await;
            }
        }
        Server::Stall => {
            let head = "HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n";
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(&piece(0, 1_000)).await;
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        Server::Silent => tokio::time::sleep(Duration::from_secs(3600)).await,
    }
    let _ = stream.shutdown().await;
}

fn upload(url: &str, body: RequestBody) -> http::Request<RequestBody> {
    http::Request::post(url)
        .header("content-type", "application/octet-stream")
        .body(body)
        .expect("valid request")
}

fn one_shot_pieces(pieces: usize, size: usize) -> (RequestBody, Digest) {
    let mut expected = Digest::new();
    for index in 0..pieces {
        expected.update(&piece(index, size));
    }
    let stream = futures_util::stream::iter(0..pieces)
        .map(move |index| Ok::<_, std::io::Error>(Bytes::from(piece(index, size))));
    let body = RequestBody::once(Some((pieces * size) as u64), Box::pin(stream));
    (body, expected)
}

async fn read_all(mut body: ResponseBody) -> Result<(Digest, usize), TransportError> {
    let mut digest = Digest::new();
    let mut pieces = 0;
    while let Some(piece) = body.next().await {
        digest.update(&piece?);
        pieces += 1;
    }
    Ok((digest, pieces))
}

fn expected_download(pieces: usize, size: usize) -> Digest {
    let mut digest = Digest::new();
    for index in 0..pieces {
        digest.update(&piece(index, size));
    }
    digest
}

async fn a_streamed_upload_arrives_whole_and_in_order(transport: &dyn HttpTransport) {
    let url = start(Server::Digest).await;
    // 8 MiB in 128 pieces, through a transport whose JSON cap is 1 000 bytes.
    let (body, expected) = one_shot_pieces(128, 64 * 1024);
    let response = transport
        .send_streaming(
            upload(&url, body),
            StreamLimits::new(1_000, Duration::from_secs(10)),
        )
        .await
        .expect("the upload is answered");
    assert_eq!(response.status(), 200);
    let answer = response
        .into_body()
        .collect(1_000)
        .await
        .expect("the short answer");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    assert_eq!(answer, format!("{} {}", expected.length, expected.hash));
}

async fn a_download_larger_than_the_json_cap_arrives_within_the_callers_limit(
    transport: &dyn HttpTransport,
) {
    for declare_length in [true, false] {
        let url = start(Server::Send {
            pieces: 64,
            size: 64 * 1024,
            pause: Duration::ZERO,
            declare_length,
        })
        .await;
        let response = transport
            .send_streaming(
                upload(&url, RequestBody::from_bytes(Bytes::new())),
                StreamLimits::new(8 * 1024 * 1024, Duration::from_secs(10)),
            )
            .await
            .expect("the download starts");
        let (digest, pieces) = read_all(response.into_body())
            .await
            .expect("the download completes");
        assert_eq!(digest, expected_download(64, 64 * 1024));
        assert!(
            pieces > 1,
            "the body arrived piece by piece, not in one buffer"
        );
    }
}

async fn a_download_over_the_callers_limit_ends_with_body_too_large(transport: &dyn HttpTransport) {
    for declare_length in [true, false] {
        let url = start(Server::Send {
            pieces: 16,
            size: 64 * 1024,
            pause: Duration::ZERO,
            declare_length,
        })
        .await;
        let limits = StreamLimits::new(256 * 1024, Duration::from_secs(10));
        let outcome = match transport
            .send_streaming(upload(&url, RequestBody::from_bytes(Bytes::new())), limits)
            .await
        {
            Ok(response) => read_all(response.into_body()).await.map(|_| ()),
            Err(error) => Err(error),
        };
        assert!(
            matches!(
                outcome,
                Err(TransportError::BodyTooLarge { limit: 262_144 })
            ),
            "declared length {declare_length}: {outcome:?}"
        );
    }
}

async fn a_download_that_stalls_ends_with_the_idle_timeout(transport: &dyn HttpTransport) {
    let url = start(Server::Stall).await;
    let limits = StreamLimits::new(1 << 20, Duration::from_millis(200));
    let response = transport
        .send_streaming(upload(&url, RequestBody::from_bytes(Bytes::new())), limits)
        .await
        .expect("the head arrives");
    let outcome = read_all(response.into_body()).await;
    assert!(
        matches!(
            outcome,
            Err(TransportError::Timeout {
                phase: TimeoutPhase::Idle,
                ..
            })
        ),
        "{outcome:?}"
    );
}

async fn a_server_that_never_answers_a_streamed_request_hits_the_idle_timeout(
    transport: &dyn HttpTransport,
) {
    let url = start(Server::Silent).await;
    let limits = StreamLimits::new(1 << 20, Duration::from_millis(200));
    let outcome = transport
        .send_streaming(upload(&url, RequestBody::from_bytes(Bytes::new())), limits)
        .await;
    assert!(
        matches!(
            outcome,
            Err(TransportError::Timeout {
                phase: TimeoutPhase::Idle,
                ..
            })
        ),
        "{outcome:?}"
    );
}

async fn a_slow_but_moving_download_outlives_the_total_deadline(transport: &dyn HttpTransport) {
    // Ten pieces 100 ms apart: a second in all, over a transport whose total deadline is 300 ms.
    let url = start(Server::Send {
        pieces: 10,
        size: 100,
        pause: Duration::from_millis(100),
        declare_length: false,
    })
    .await;
    let limits = StreamLimits::new(1 << 20, Duration::from_secs(2));
    let response = transport
        .send_streaming(upload(&url, RequestBody::from_bytes(Bytes::new())), limits)
        .await
        .expect("the head arrives");
    let (digest, _) = read_all(response.into_body())
        .await
        .expect("a moving download is not cut by the total deadline");
    assert_eq!(digest, expected_download(10, 100));
}

macro_rules! streaming_tests {
    ($module:ident, $transport:expr) => {
        mod $module {
            use super::*;

            fn transport() -> impl HttpTransport {
                $transport(json_limits()).expect("the transport builds")
            }

            #[tokio::test]
            async fn a_streamed_upload_arrives_whole_and_in_order() {
                super::a_streamed_upload_arrives_whole_and_in_order(&transport()).await;
            }

            #[tokio::test]
            async fn a_download_larger_than_the_json_cap_arrives_within_the_callers_limit() {
                super::a_download_larger_than_the_json_cap_arrives_within_the_callers_limit(
                    &transport(),
                )
                .await;
            }

            #[tokio::test]
            async fn a_download_over_the_callers_limit_ends_with_body_too_large() {
                super::a_download_over_the_callers_limit_ends_with_body_too_large(&transport())
                    .await;
            }

            #[tokio::test]
            async fn a_download_that_stalls_ends_with_the_idle_timeout() {
                super::a_download_that_stalls_ends_with_the_idle_timeout(&transport()).await;
            }

            #[tokio::test]
            async fn a_server_that_never_answers_a_streamed_request_hits_the_idle_timeout() {
                super::a_server_that_never_answers_a_streamed_request_hits_the_idle_timeout(
                    &transport(),
                )
                .await;
            }

            #[tokio::test]
            async fn a_slow_but_moving_download_outlives_the_total_deadline() {
                super::a_slow_but_moving_download_outlives_the_total_deadline(&transport()).await;
            }
        }
    };
}

#[cfg(feature = "reqwest")]
streaming_tests!(
    reqwest_transport,
    servicenow_http::ReqwestTransport::with_config
);

#[cfg(feature = "hyper")]
streaming_tests!(
    hyper_transport,
    servicenow_http::HyperTransport::with_config
);

/// A transport written before streaming existed: only `send`.
struct BufferedOnly {
    body: Bytes,
}

#[async_trait]
impl HttpTransport for BufferedOnly {
    async fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, TransportError> {
        assert_eq!(
            request.body().len(),
            8 * 1024,
            "the upload was buffered whole"
        );
        Ok(http::Response::new(self.body.clone()))
    }
}

#[tokio::test]
async fn a_transport_without_streaming_support_buffers_and_still_applies_the_limit() {
    let transport = BufferedOnly {
        body: Bytes::from(vec![7u8; 4_096]),
    };
    let limits = StreamLimits::new(4_096, Duration::from_secs(1));
    let (body, _) = one_shot_pieces(8, 1_024);
    let response = transport
        .send_streaming(upload("https://dev1.service-now.com/x", body), limits)
        .await
        .expect("within the limit");
    let (digest, _) = read_all(response.into_body()).await.expect("the body");
    assert_eq!(digest.length, 4_096);

    let (body, _) = one_shot_pieces(8, 1_024);
    let tighter = StreamLimits::new(4_095, Duration::from_secs(1));
    let outcome = transport
        .send_streaming(upload("https://dev1.service-now.com/x", body), tighter)
        .await;
    assert!(
        matches!(outcome, Err(TransportError::BodyTooLarge { limit: 4_095 })),
        "{outcome:?}"
    );
}

#[cfg(feature = "blocking")]
#[tokio::test(flavor = "multi_thread")]
async fn the_blocking_adapter_streams_through_its_buffered_fallback_with_the_limit() {
    let transport = servicenow_http::BlockingTransport::new(|request: http::Request<Bytes>| {
        Ok(http::Response::new(request.into_body()))
    });
    let (body, expected) = one_shot_pieces(4, 1_024);
    let response = transport
        .send_streaming(
            upload("http://127.0.0.1:1/x", body),
            StreamLimits::new(4_096, Duration::from_secs(1)),
        )
        .await
        .expect("echoed");
    let (digest, _) = read_all(response.into_body()).await.expect("the body");
    assert_eq!(digest, expected);

    let (body, _) = one_shot_pieces(4, 1_024);
    let outcome = transport
        .send_streaming(
            upload("http://127.0.0.1:1/x", body),
            StreamLimits::new(1_000, Duration::from_secs(1)),
        )
        .await;
    assert!(
        matches!(outcome, Err(TransportError::BodyTooLarge { .. })),
        "{outcome:?}"
    );
}
