//! Request ids and request logging, one layer around the whole HTTP surface: every request gets
//! an `x-request-id` (a short printable incoming one is kept, otherwise a new one), echoed in the
//! response, and runs inside a `request` span carrying the id, method and path, so every log
//! line a handler writes carries them too. When the response is ready one event records its
//! status and latency: at DEBUG normally (so a busy ingress does not pay for a log line per
//! request at the default level), at WARN for 5xx. A 413 closes its connection (the unread
//! rest of the body makes it unusable).

use std::time::Instant;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use tracing::Instrument;

/// The request id header, read and echoed.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The longest incoming request id that is kept.
const MAX_INCOMING_ID: usize = 64;

/// Wraps `router` in the request id and logging layer.
pub fn layer(router: Router) -> Router {
    router.layer(middleware::from_fn(log_request))
}

async fn log_request(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|value| acceptable_id(value))
        .map_or_else(|| uuid::Uuid::new_v4().simple().to_string(), str::to_owned);
    let header_value = HeaderValue::from_str(&id).ok();
    if let Some(value) = &header_value {
        request.headers_mut().insert(REQUEST_ID_HEADER, value.clone());
    }
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.uri().path(),
        status = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
    );
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    span.record("status", status).record("latency_ms", latency_ms);
    span.in_scope(|| {
        if status >= 500 {
            tracing::warn!(status, latency_ms, "request failed");
        } else {
            tracing::debug!(status, latency_ms, "request finished");
        }
    });
    if let Some(value) = header_value {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    if status == 413 {
        // The rest of an oversized body is never read, so the connection cannot carry another
        // request: say so, or the client reuses it and its next request fails mid-flight.
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// A kept request id: 1 to 64 visible ASCII characters (no spaces, no control characters).
fn acceptable_id(value: &str) -> bool {
    !value.is_empty() && value.len() <= MAX_INCOMING_ID && value.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    async fn id_of(incoming: Option<&str>) -> String {
        let app = layer(Router::new().route("/", get(|| async { "hi" })));
        let mut request = Request::builder().uri("/");
        if let Some(value) = incoming {
            request = request.header("x-request-id", value);
        }
        let response = app.oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
        response.headers()["x-request-id"].to_str().unwrap().to_owned()
    }

    #[tokio::test]
    async fn a_413_closes_its_connection() {
        let app = layer(Router::new().route("/", get(|| async { axum::http::StatusCode::PAYLOAD_TOO_LARGE })));
        let response = app.oneshot(Request::builder().uri("/").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(response.headers()["connection"], "close");
    }

    #[tokio::test]
    async fn a_short_printable_incoming_id_is_kept() {
        assert_eq!(id_of(Some("req-42_abc")).await, "req-42_abc");
    }

    #[tokio::test]
    async fn missing_long_or_odd_ids_are_replaced() {
        for incoming in [None, Some(&"x".repeat(65)[..]), Some("has space"), Some("")] {
            let id = id_of(incoming).await;
            assert_eq!(id.len(), 32, "{incoming:?} -> {id}");
            assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        }
    }
}
