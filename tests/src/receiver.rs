//! A webhook integrator's receiver on loopback: records every delivery the gateway POSTs to it
//! (headers and JSON body) and answers `{messageId}` like a real bridge, or a chosen status.

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// One delivery as received.
#[derive(Clone, Debug)]
pub struct Received {
    /// Request headers.
    pub headers: HeaderMap,
    /// The raw body.
    pub body: Vec<u8>,
    /// The body as JSON.
    pub json: Value,
}

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    fail_next: Vec<u16>,
}

/// The receiver.
#[derive(Clone)]
pub struct WebhookReceiver {
    /// Where it listens: `http://127.0.0.1:<port>/hook`.
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

impl WebhookReceiver {
    /// Starts a receiver on a free loopback port.
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = axum::Router::new().route("/hook", post(receive)).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind receiver");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, inner }
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().map(|i| i.received.clone()).unwrap_or_default()
    }

    /// Answers the next deliveries with these statuses, in order.
    pub fn fail_next(&self, statuses: &[u16]) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.fail_next.extend_from_slice(statuses);
        }
    }
}

async fn receive(State(inner): State<Arc<Mutex<Inner>>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Ok(mut inner) = inner.lock() else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
    if !inner.fail_next.is_empty() {
        let status = inner.fail_next.remove(0);
        return StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR).into_response();
    }
    let message_id = match json["type"].as_str() {
        Some("edit") => json["messageId"].as_str().unwrap_or_default().to_owned(),
        _ => format!("bridge-{}", inner.received.len() + 1),
    };
    inner.received.push(Received { headers, body: body.to_vec(), json });
    Json(json!({"messageId": message_id})).into_response()
}
