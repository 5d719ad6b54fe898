//! Real POSTs against a local HTTP server on 127.0.0.1 (with `allow_private`): success, caps,
//! redirects, timeouts, address pinning and fallback, and secret-free errors.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{ip, open, private};
use crate::egress::{
    DenyReason, Egress, EgressError, EgressRequest, EgressResponse, ResolveError, Resolver, StaticResolver,
};

/// Starts the test server; it lives as long as the test's runtime.
async fn serve() -> SocketAddr {
    let app = Router::new()
        .route(
            "/echo",
            post(|headers: HeaderMap, body: Bytes| async move {
                let seen = headers.get("x-test").cloned().unwrap_or_else(|| "none".parse().unwrap());
                let host = headers.get("host").cloned().unwrap_or_else(|| "none".parse().unwrap());
                ([("x-seen", seen), ("x-host", host)], body)
            }),
        )
        .route("/big", post(|| async { vec![b'a'; 10_000] }))
        .route("/redirect", post(|| async { (StatusCode::FOUND, [("location", "http://169.254.169.254/")], "") }))
        .route("/fail", post(|| async { (StatusCode::SERVICE_UNAVAILABLE, "down") }))
        .route(
            "/slow",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                "late"
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// A raw server answering one request with a chunked body of `total` bytes (no Content-Length).
async fn serve_chunked(total: usize) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buffer = [0u8; 4096];
        let _ = socket.read(&mut buffer).await;
        let _ = socket.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n").await;
        for _ in 0..total / 1000 {
            let _ = socket.write_all(format!("3e8\r\n{}\r\n", "b".repeat(1000)).as_bytes()).await;
        }
        let _ = socket.write_all(b"0\r\n\r\n").await;
    });
    addr
}

fn local_egress(timeout: Duration) -> Egress {
    let resolver = StaticResolver::new([("hooks.test", vec![ip("127.0.0.1")])]);
    Egress::new(Arc::new(resolver), timeout)
}

fn request(body: &'static str) -> EgressRequest {
    let mut headers = HeaderMap::new();
    headers.insert("x-test", "hello".parse().unwrap());
    headers.insert("host", "evil.test".parse().unwrap());
    EgressRequest { headers, body: Bytes::from_static(body.as_bytes()) }
}

async fn post_ok(egress: &Egress, url: &str) -> EgressResponse {
    match egress.post(url, &private(), request("payload"), 64 * 1024).await {
        Ok(response) => response,
        Err(error) => panic!("{url}: {error}"),
    }
}

#[tokio::test]
async fn egress_post_returns_status_headers_and_body() {
    let addr = serve().await;
    let response = post_ok(&local_egress(Duration::from_secs(5)), &format!("http://{addr}/echo")).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.body, "payload");
    assert_eq!(response.headers.get("x-seen").unwrap(), "hello");
    // The caller's Host header is dropped: the URL's host is sent.
    assert_eq!(response.headers.get("x-host").unwrap(), &addr.to_string());

    let failed = post_ok(&local_egress(Duration::from_secs(5)), &format!("http://{addr}/fail")).await;
    assert_eq!((failed.status, failed.body.as_ref()), (503, b"down".as_ref()));
}

#[tokio::test]
async fn egress_post_caps_the_response_body() {
    let addr = serve().await;
    let egress = local_egress(Duration::from_secs(5));
    let url = format!("http://{addr}/big");
    let too_large = egress.post(&url, &private(), request(""), 1024).await;
    assert!(matches!(too_large, Err(EgressError::ResponseTooLarge(1024))), "{too_large:?}");
    let exact = egress.post(&url, &private(), request(""), 10_000).await;
    assert_eq!(exact.map(|response| response.body.len()).ok(), Some(10_000));

    let chunked = serve_chunked(20_000).await;
    let streamed = egress.post(&format!("http://{chunked}/"), &private(), request(""), 4096).await;
    assert!(matches!(streamed, Err(EgressError::ResponseTooLarge(4096))), "{streamed:?}");
}

#[tokio::test]
async fn egress_post_never_follows_redirects() {
    let addr = serve().await;
    let egress = local_egress(Duration::from_secs(5));
    let error = egress.post(&format!("http://{addr}/redirect"), &private(), request(""), 1024).await.err();
    assert!(matches!(error, Some(EgressError::Redirect(302))), "{error:?}");
    assert!(!error.is_some_and(|error| error.is_retryable()));
}

#[tokio::test]
async fn egress_post_times_out_as_temporary() {
    let addr = serve().await;
    let started = Instant::now();
    let egress = local_egress(Duration::from_millis(300));
    let error = egress.post(&format!("http://{addr}/slow"), &private(), request(""), 1024).await.err();
    assert!(matches!(&error, Some(EgressError::Temporary(_))), "{error:?}");
    assert!(error.is_some_and(|error| error.is_retryable()));
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// A static resolver that counts its lookups.
struct Counting {
    inner: StaticResolver,
    lookups: AtomicUsize,
}

#[async_trait]
impl Resolver for Counting {
    async fn lookup(&self, host: &str) -> Result<Vec<IpAddr>, ResolveError> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.inner.lookup(host).await
    }
}

#[tokio::test]
async fn egress_post_connects_to_the_pinned_address_with_one_lookup() {
    let addr = serve().await;
    let resolver = Arc::new(Counting {
        inner: StaticResolver::new([("hooks.test", vec![ip("127.0.0.1")])]),
        lookups: AtomicUsize::new(0),
    });
    let egress = Egress::new(resolver.clone(), Duration::from_secs(5));
    let port = addr.port();
    // `hooks.test` exists only in the static resolver: reaching the server proves the pin.
    for url in [format!("http://hooks.test:{port}/echo"), format!("http://HOOKS.test.:{port}/echo")] {
        let response = post_ok(&egress, &url).await;
        assert_eq!(response.body, "payload", "{url}");
    }
    assert_eq!(resolver.lookups.load(Ordering::SeqCst), 2);
    // Without allow_private, the same name is refused before any connection.
    let denied = egress.post(&format!("http://hooks.test:{port}/echo"), &open(), request(""), 1024).await;
    assert!(matches!(denied, Err(EgressError::Denied(DenyReason::InsecureHttp))), "{denied:?}");
}

#[tokio::test]
async fn egress_post_tries_the_next_validated_address() {
    let addr = serve().await;
    // Nothing listens on 127.0.0.2 (the server is bound to 127.0.0.1 only): refused, then next.
    let resolver = StaticResolver::new([("hooks.test", vec![ip("127.0.0.2"), ip("127.0.0.1")])]);
    let egress = Egress::new(Arc::new(resolver), Duration::from_secs(5));
    let response = post_ok(&egress, &format!("http://hooks.test:{}/echo", addr.port())).await;
    assert_eq!(response.body, "payload");
}

#[tokio::test]
async fn egress_post_connection_failures_are_temporary_and_secret_free() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed = listener.local_addr().unwrap();
    drop(listener);
    let egress = local_egress(Duration::from_secs(5));
    let url = format!("http://{closed}/hook/secret-token-123?key=hunter2");
    let error = egress.post(&url, &private(), request(""), 1024).await.err();
    assert!(matches!(&error, Some(EgressError::Temporary(_))), "{error:?}");
    let message = error.map(|error| error.to_string()).unwrap_or_default();
    assert!(!message.contains("secret-token-123") && !message.contains("hunter2"), "{message}");

    // https to a plain-http server: the rustls handshake fails, retryably, without the URL.
    let addr = serve().await;
    let url = format!("https://{addr}/echo?token=hunter2");
    let error = egress.post(&url, &private(), request(""), 1024).await.err();
    assert!(matches!(&error, Some(EgressError::Temporary(_))), "{error:?}");
    assert!(!error.map(|error| error.to_string()).unwrap_or_default().contains("hunter2"));
}
