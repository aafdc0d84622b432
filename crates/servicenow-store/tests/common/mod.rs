//! Shared helpers of the integration tests: service URLs with the skip rule, unique names.

#![allow(dead_code)] // Each test binary uses a different subset of these helpers.

// The service rule (run, fail under SN_REQUIRE_SERVICES=1, or a skip the end of `cargo test`
// reports) is shared by every crate with a service-backed test.
#[allow(unused_imports)] // Only the binaries with service-backed tests use them.
pub(crate) use servicenow_test_services::{service_url, unreachable};

/// A name unique to this test run, for a schema or key prefix: `prefix_<16 hex digits>`.
pub(crate) fn unique_name(prefix: &str) -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the operating system's random generator works");
    let suffix: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("{prefix}_{suffix}")
}

/// Runs `test` on its own task, then `cleanup` whether or not it panicked, then re-raises the
/// panic, so a failing test still drops its schema or keys.
pub(crate) async fn with_cleanup<F, C>(test: F, cleanup: C)
where
    F: Future<Output = ()> + Send + 'static,
    C: Future<Output = ()>,
{
    let outcome = tokio::spawn(test).await;
    cleanup.await;
    if let Err(error) = outcome {
        std::panic::resume_unwind(error.into_panic());
    }
}

/// A TCP proxy in front of a server, which a test can cut to make the server unreachable
/// in the middle of a store's life.
pub(crate) struct CuttableProxy {
    address: std::net::SocketAddr,
    tasks: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl CuttableProxy {
    /// Listens on a free loopback port and forwards every connection to `target`.
    pub(crate) async fn start(target: std::net::SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let address = listener.local_addr().expect("proxy address");
        let tasks = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let accepted = tasks.clone();
        let acceptor = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let forward = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                accepted.lock().expect("proxy task list").push(forward);
            }
        });
        tasks.lock().expect("proxy task list").push(acceptor);
        Self { address, tasks }
    }

    /// The proxy's address.
    pub(crate) fn address(&self) -> std::net::SocketAddr {
        self.address
    }

    /// Closes the listener and every forwarded connection.
    pub(crate) fn cut(&self) {
        for task in self.tasks.lock().expect("proxy task list").drain(..) {
            task.abort();
        }
    }
}

/// The socket address of a `scheme://[user@]host:port/...` URL.
pub(crate) fn socket_address(url: &str) -> std::net::SocketAddr {
    let after_scheme = url.split("://").nth(1).expect("url has a scheme");
    let authority = after_scheme
        .split('/')
        .next()
        .expect("url has an authority");
    let host_port = authority.rsplit('@').next().expect("authority has a host");
    std::net::ToSocketAddrs::to_socket_addrs(host_port)
        .expect("resolve")
        .next()
        .expect("an address")
}

/// `url` with its host and port replaced by `address`.
pub(crate) fn via(url: &str, address: std::net::SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").expect("url has a scheme");
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, ""), |(authority, path)| (authority, path));
    let user = authority
        .rsplit_once('@')
        .map(|(user, _)| format!("{user}@"))
        .unwrap_or_default();
    format!("{scheme}://{user}{address}/{path}")
}
