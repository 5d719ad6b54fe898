//! A webhook integrator's receiver for process tests. It keeps the messages a chat shows: a send
//! creates a message, an edit replaces its text, and a delivery id seen before is answered with
//! the first answer and changes nothing (the `Idempotency-Key` contract a receiver is asked to
//! keep). It can hold one chat's next delivery until the test lets it go with a status of its
//! choosing, so a test knows a replica is in the middle of a send.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// One message as the chat shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The receiver's message id.
    pub message_id: String,
    /// Its text now.
    pub text: String,
}

#[derive(Default)]
struct Inner {
    /// Messages per chat, in the order they were created.
    chats: HashMap<String, Vec<Message>>,
    /// The answer given to each delivery id applied so far.
    answered: HashMap<String, String>,
    /// How often each delivery id arrived (repeats included, held ones included).
    arrivals: HashMap<String, usize>,
    /// The `traceparent` header of every delivery that carried one, in arrival order.
    trace_parents: Vec<String>,
    /// Deliveries that made no sense (an edit of an unknown message, a body without a type).
    anomalies: Vec<String>,
    /// A chat whose next delivery is held.
    hold: Option<String>,
    /// The held delivery's id and the way to let it go.
    held: Option<(String, oneshot::Sender<u16>)>,
    created: u64,
}

/// The receiver.
#[derive(Clone)]
pub struct Receiver {
    /// Where it listens: `http://127.0.0.1:<port>/hook`.
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

impl Receiver {
    /// Starts a receiver on a free loopback port.
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = axum::Router::new().route("/hook", post(receive)).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind receiver");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, inner }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().expect("receiver state"))
    }

    /// The messages of `chat`, oldest first.
    pub fn messages(&self, chat: &str) -> Vec<Message> {
        self.with(|inner| inner.chats.get(chat).cloned().unwrap_or_default())
    }

    /// Every delivery id that arrived more than once, with its count.
    pub fn repeats(&self) -> HashMap<String, usize> {
        self.with(|inner| inner.arrivals.iter().filter(|(_, n)| **n > 1).map(|(id, n)| (id.clone(), *n)).collect())
    }

    /// How often `delivery_id` arrived.
    pub fn arrivals(&self, delivery_id: &str) -> usize {
        self.with(|inner| inner.arrivals.get(delivery_id).copied().unwrap_or(0))
    }

    /// Deliveries that made no sense.
    pub fn anomalies(&self) -> Vec<String> {
        self.with(|inner| inner.anomalies.clone())
    }

    /// The `traceparent` headers deliveries carried, in arrival order.
    pub fn trace_parents(&self) -> Vec<String> {
        self.with(|inner| inner.trace_parents.clone())
    }

    /// Holds the chat's next delivery until [`Self::release`].
    pub fn hold_next(&self, chat: &str) {
        self.with(|inner| inner.hold = Some(chat.to_owned()));
    }

    /// The id of the delivery held now, if one is.
    pub fn held(&self) -> Option<String> {
        self.with(|inner| inner.held.as_ref().map(|(id, _)| id.clone()))
    }

    /// Lets the held delivery go, answered with `status` (200: applied as usual).
    pub fn release(&self, status: u16) {
        if let Some((_, release)) = self.with(|inner| inner.held.take()) {
            let _ = release.send(status);
        }
    }
}

async fn receive(State(inner): State<Arc<Mutex<Inner>>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let delivery_id = json["deliveryId"].as_str().unwrap_or_default().to_owned();
    let chat = json["target"]["chatId"].as_str().unwrap_or_default().to_owned();
    let held = {
        let Ok(mut state) = inner.lock() else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
        *state.arrivals.entry(delivery_id.clone()).or_default() += 1;
        if let Some(trace) = headers.get("traceparent").and_then(|v| v.to_str().ok()) {
            state.trace_parents.push(trace.to_owned());
        }
        if state.hold.as_deref() == Some(chat.as_str()) {
            state.hold = None;
            let (release, released) = oneshot::channel();
            state.held = Some((delivery_id.clone(), release));
            Some(released)
        } else {
            None
        }
    };
    if let Some(released) = held {
        let status = released.await.unwrap_or(503);
        if status != 200 {
            return StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE).into_response();
        }
    }
    let Ok(mut state) = inner.lock() else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
    if let Some(answer) = state.answered.get(&delivery_id) {
        return Json(json!({"messageId": answer})).into_response();
    }
    let text = json["text"].as_str().unwrap_or_default().to_owned();
    let message_id = match json["type"].as_str() {
        Some("edit") => {
            let message_id = json["messageId"].as_str().unwrap_or_default().to_owned();
            let message = state.chats.get_mut(&chat).and_then(|m| m.iter_mut().find(|m| m.message_id == message_id));
            match message {
                Some(message) => message.text = text,
                None => state.anomalies.push(format!("edit of unknown message {message_id} in {chat}")),
            }
            message_id
        }
        Some(_) => {
            state.created += 1;
            let message_id = format!("msg-{}", state.created);
            state.chats.entry(chat).or_default().push(Message { message_id: message_id.clone(), text });
            message_id
        }
        None => {
            state.anomalies.push(format!("a delivery without a type: {json}"));
            return StatusCode::BAD_REQUEST.into_response();
        }
    };
    state.answered.insert(delivery_id, message_id.clone());
    Json(json!({"messageId": message_id})).into_response()
}
