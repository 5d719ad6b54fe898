//! [`SessionBackend`] over the cloud's channel API. Sessions are addressed by their session
//! binding id (what the channel routes take); commands go through `sessions/commands` with the
//! caller's idempotency key, so a retried call is the same command; the log is read in pages,
//! and a session with a command in flight is followed on its event stream for prompt wake-ups.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::follow::Followers;
use super::{CloudClient, CloudError};
use crate::{
    BackendError, BindThread, CommandId, DeliveryAction, EventBody, IdentityId, NewCommand, SessionBackend,
    SessionEvent, SessionId,
};

/// How many wake-ups the feed buffers before a slow subscriber lags (and re-reads everything).
const FEED_CAPACITY: usize = 1024;

/// Event types after which a session has nothing running (no need to follow it).
const SETTLED: [&str; 3] = ["session.idle", "session.aborted", "runtime.error"];

/// The sessions of a cloud in another process.
pub struct HttpBackend {
    client: CloudClient,
    /// The provider of each channel binding (the identity route names both).
    providers: HashMap<String, String>,
    feed: broadcast::Sender<SessionId>,
    followers: Arc<Followers>,
    /// The last sequence read from each session's log, so a stream starts there, not at 0.
    latest: std::sync::Mutex<HashMap<SessionId, i64>>,
}

impl std::fmt::Debug for HttpBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpBackend").field("client", &self.client).finish_non_exhaustive()
    }
}

impl HttpBackend {
    /// A backend on `client` for bindings whose providers `providers` names; streams stop at
    /// `shutdown`.
    pub fn new(client: CloudClient, providers: HashMap<String, String>, shutdown: CancellationToken) -> Self {
        let (feed, _) = broadcast::channel(FEED_CAPACITY);
        let followers = Arc::new(Followers::new(client.clone(), feed.clone(), shutdown));
        Self { client, providers, feed, followers, latest: std::sync::Mutex::default() }
    }

    /// The client underneath.
    pub fn client(&self) -> &CloudClient {
        &self.client
    }

    fn latest_read(&self, session: &SessionId) -> i64 {
        self.latest.lock().ok().and_then(|latest| latest.get(session).copied()).unwrap_or(0)
    }

    fn provider(&self, channel_binding_id: &str) -> Result<&str, BackendError> {
        self.providers
            .get(channel_binding_id)
            .map(String::as_str)
            .ok_or_else(|| BackendError::NotFound(format!("channel binding {channel_binding_id} is not configured")))
    }
}

#[async_trait]
impl SessionBackend for HttpBackend {
    async fn resolve_identity(
        &self,
        channel_binding_id: &str,
        external_user_id: &str,
    ) -> Result<IdentityId, BackendError> {
        let body = json!({
            "provider": self.provider(channel_binding_id)?,
            "channelBindingId": channel_binding_id,
            "externalUserId": external_user_id,
        });
        let reply = self.client.post("/api/channels/identities/resolve", &body).await?;
        Ok(IdentityId::new(text(&reply["identity"]["identityId"])?))
    }

    async fn bind_thread(&self, request: BindThread) -> Result<SessionId, BackendError> {
        let mut body = json!({
            "channelBindingId": request.channel_binding_id,
            "provider": self.provider(&request.channel_binding_id)?,
            "externalChatId": request.chat_id,
            "externalThreadId": request.thread_id,
        });
        if !request.title.trim().is_empty() {
            body["title"] = json!(request.title.chars().take(80).collect::<String>());
        }
        let reply = self.client.post("/api/channels/sessions/bind", &body).await?;
        Ok(SessionId::new(text(&reply["binding"]["bindingId"])?))
    }

    async fn submit(&self, session: &SessionId, command: NewCommand) -> Result<CommandId, BackendError> {
        let body = json!({
            "bindingId": session,
            "idempotencyKey": command.idempotency_key,
            "identityId": command.actor,
            "command": command.body,
        });
        let reply = self.client.post_traced("/api/channels/sessions/commands", &body, command.trace.as_ref()).await?;
        // The command's events are coming: follow the stream for them.
        self.followers.follow(session, self.latest_read(session));
        Ok(CommandId::new(text(&reply["command"]["commandId"])?))
    }

    async fn events_after(
        &self,
        session: &SessionId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<SessionEvent>, BackendError> {
        let path = format!("/api/channels/sessions/{}/log?after={after}&limit={limit}", session.as_str());
        let reply = self.client.get(&path).await?;
        let records = reply["events"].as_array().cloned().unwrap_or_default();
        let mut events = Vec::with_capacity(records.len());
        for record in records {
            events.push(event(session, record)?);
        }
        if let (Some(last), Ok(mut latest)) = (events.last(), self.latest.lock()) {
            if latest.len() >= 100_000 {
                latest.clear();
            }
            latest.insert(session.clone(), last.sequence);
        }
        // A turn still running (after a restart, say) is followed for prompt wake-ups.
        let latest = reply["latestSequence"].as_i64().unwrap_or(0);
        let last_type = events.last().map(|e| e.body.type_name());
        if latest > after && last_type.is_some_and(|kind| !SETTLED.contains(&kind)) {
            self.followers.follow(session, after);
        }
        Ok(events)
    }

    fn subscribe(&self) -> broadcast::Receiver<SessionId> {
        self.feed.subscribe()
    }

    async fn remote_health(&self) -> Option<Result<(), String>> {
        if let Err(error) = self.client.ready().await {
            return Some(Err(format!("cloud not ready: {error}")));
        }
        // A lookup of a thread that does not exist: 404 proves the token is valid, scoped to
        // gateways and granted an active binding.
        let provider = self.providers.values().next().map_or("webhook", String::as_str);
        let probe = format!(
            "/api/channels/sessions/by-thread?provider={provider}&externalChatId=readiness-probe&externalThreadId=readiness-probe"
        );
        Some(match self.client.get(&probe).await {
            Ok(_) | Err(CloudError::NotFound(_)) => Ok(()),
            Err(error) => Err(error.to_string()),
        })
    }

    async fn channel_deliveries(&self, query: &str) -> Option<Result<Value, BackendError>> {
        let path = if query.is_empty() {
            "/api/channels/deliveries".to_owned()
        } else {
            format!("/api/channels/deliveries?{query}")
        };
        Some(self.client.get(&path).await.map_err(BackendError::from))
    }

    async fn operate_channel_delivery(
        &self,
        delivery_id: &str,
        action: DeliveryAction,
        body: &Value,
    ) -> Option<Result<Value, BackendError>> {
        let path = format!("/api/channels/deliveries/{}/{}", percent_encode(delivery_id), action.path());
        Some(self.client.post(&path, body).await.map_err(BackendError::from))
    }
}

/// `text` percent-encoded for a path segment or a query value (everything but the unreserved
/// characters of RFC 3986).
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

fn text(value: &Value) -> Result<String, BackendError> {
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| BackendError::from(CloudError::Parse(format!("expected a string, got {value}"))))
}

/// A session event from the cloud's record, under the session binding id the gateway knows.
fn event(session: &SessionId, record: Value) -> Result<SessionEvent, BackendError> {
    let sequence = record["sequence"].as_i64().ok_or_else(|| CloudError::Parse("event without a sequence".into()))?;
    let kind = record["type"].as_str().unwrap_or_default().to_owned();
    let created_at_ms = record["createdAt"].as_str().and_then(crate::timestamp::parse_rfc3339).unwrap_or(0);
    Ok(SessionEvent {
        session_id: session.clone(),
        sequence,
        event_id: text(&record["eventId"])?,
        created_at_ms,
        trace: record["traceparent"].as_str().and_then(crate::TraceParent::parse),
        body: EventBody::from_parts(&kind, record["payload"].clone()),
    })
}
