//! A plain HTTP load balancer for process tests: forwards each request to the next replica in
//! turn and, when a replica does not answer (killed, stopped), to the one after it, as a load
//! balancer with passive health checks does. It knows nothing of bindings.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// How long a replica may take to answer before the next one is tried.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a replica that did not answer is skipped.
const SKIP_FOR: Duration = Duration::from_secs(3);

/// An upstream's index and base URL.
type Target = (usize, String);

struct Upstream {
    base: String,
    skipped_until: Option<Instant>,
}

struct Inner {
    upstreams: RwLock<Vec<Upstream>>,
    next: AtomicUsize,
    http: reqwest::Client,
}

/// The balancer.
#[derive(Clone)]
pub struct Balancer {
    /// Where it listens: `http://127.0.0.1:<port>`.
    pub base: String,
    inner: Arc<Inner>,
}

impl Balancer {
    /// Starts a balancer on a free loopback port in front of `upstreams` (base URLs).
    pub async fn start(upstreams: Vec<String>) -> Self {
        let http = reqwest::Client::builder().timeout(UPSTREAM_TIMEOUT).build().expect("client");
        let upstreams = upstreams.into_iter().map(|base| Upstream { base, skipped_until: None }).collect();
        let inner = Arc::new(Inner { upstreams: RwLock::new(upstreams), next: AtomicUsize::new(0), http });
        let app = axum::Router::new().fallback(forward).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind balancer");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base, inner }
    }

    /// Replaces the upstream at `index` (a replica restarted on a new port).
    pub fn replace(&self, index: usize, base: String) {
        if let Some(slot) = self.inner.upstreams.write().expect("upstreams").get_mut(index) {
            *slot = Upstream { base, skipped_until: None };
        }
    }
}

async fn forward(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = Instant::now();
    // Replicas that recently failed to answer go last.
    let (mut order, skipped): (Vec<Target>, Vec<Target>) = {
        let upstreams = inner.upstreams.read().expect("upstreams");
        let first = inner.next.fetch_add(1, Ordering::Relaxed);
        (0..upstreams.len())
            .map(|offset| (first + offset) % upstreams.len())
            .map(|index| (index, upstreams[index].base.clone()))
            .partition(|(index, _)| upstreams[*index].skipped_until.is_none_or(|until| until <= now))
    };
    order.extend(skipped);
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    for (index, base) in order {
        let mut request = inner.http.request(method.clone(), format!("{base}{path}")).body(body.clone());
        for (name, value) in &headers {
            if name != axum::http::header::HOST && name != axum::http::header::CONTENT_LENGTH {
                request = request.header(name, value);
            }
        }
        let Ok(response) = request.send().await else {
            if let Some(upstream) = inner.upstreams.write().expect("upstreams").get_mut(index) {
                upstream.skipped_until = Some(Instant::now() + SKIP_FOR);
            }
            continue;
        };
        let status = StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
        let mut headers = HeaderMap::new();
        for (name, value) in response.headers() {
            if name == axum::http::header::CONTENT_TYPE || name == axum::http::header::RETRY_AFTER {
                headers.insert(name, value.clone());
            }
        }
        let Ok(body) = response.bytes().await else { continue };
        return (status, headers, body).into_response();
    }
    (StatusCode::BAD_GATEWAY, "no replica answered").into_response()
}
