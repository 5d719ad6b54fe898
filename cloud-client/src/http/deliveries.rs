//! The cloud's delivery queue as a gateway consumes it: the claim-based delivery stream, read by
//! one task that reconnects with full-jitter backoff (250 ms to 30 s) and reopens a connection
//! that has gone silent, handing each claimed delivery to the caller over a bounded channel (so a
//! busy gateway stops reading, and the cloud stops claiming for it); and the calls that renew
//! and acknowledge a claim.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::follow::SseParser;
use super::{CloudClient, CloudError, percent_encode};
use crate::backoff::RetryPolicy;

/// A connection silent this long (the cloud writes a keep-alive every 15 s) is reopened.
const SILENCE: Duration = Duration::from_secs(60);

/// The most an unfinished event may hold before the stream is dropped and reopened.
const MAX_PENDING: usize = 1024 * 1024;

/// A delivery the cloud handed this gateway, claimed until it is renewed, acked or lapses.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimedDelivery {
    /// The public id (unique within its binding).
    pub delivery_id: String,
    /// The channel binding it goes out on.
    pub channel_binding_id: String,
    /// The binding's provider id.
    #[serde(default)]
    pub provider: String,
    /// Where it goes (`externalChatId`, `externalThreadId`, ...).
    #[serde(default)]
    pub target: Value,
    /// What it is (`workflow.completed`, ...).
    #[serde(default)]
    pub event_type: String,
    /// What to send (`text` or `message`; otherwise the whole payload as JSON).
    #[serde(default)]
    pub payload: Value,
    /// Claims so far, this one included.
    #[serde(default)]
    pub attempt_count: u32,
    /// The claimant named on this claim.
    #[serde(default)]
    pub claimed_by: Option<String>,
}

/// What the delivery stream claims, for whom and for how long.
#[derive(Clone, Debug, PartialEq)]
pub struct DeliveryStreamRequest {
    /// The claimant recorded on each claim (and required on its renewals and ack).
    pub claimed_by: String,
    /// How long each claim lasts unless renewed.
    pub ttl: Duration,
    /// Only these bindings (every granted one when empty).
    pub channel_binding_ids: Vec<String>,
}

impl DeliveryStreamRequest {
    fn path(&self) -> String {
        let mut path = format!(
            "/api/channels/deliveries/stream?claimedBy={}&ttlMs={}",
            percent_encode(&self.claimed_by),
            self.ttl.as_millis()
        );
        for binding in &self.channel_binding_ids {
            path.push_str("&channelBindingId=");
            path.push_str(&percent_encode(binding));
        }
        path
    }
}

/// How a claimed delivery ended, as the gateway acknowledges it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeliveryAck {
    /// Delivered to the platform.
    Sent,
    /// Given up, with why.
    Dead(String),
}

impl CloudClient {
    /// Follows the delivery stream until `shutdown`, reconnecting as needed, and keeps
    /// `connected` telling whether a stream is open; at most `buffer` claimed deliveries wait in
    /// the feed before reading pauses.
    pub fn follow_deliveries(
        &self,
        request: DeliveryStreamRequest,
        buffer: usize,
        connected: Arc<AtomicBool>,
        shutdown: CancellationToken,
    ) -> mpsc::Receiver<ClaimedDelivery> {
        let (sender, deliveries) = mpsc::channel(buffer.max(1));
        let reader = StreamReader { client: self.clone(), path: request.path(), sender, connected };
        tokio::spawn(reader.run(shutdown));
        deliveries
    }

    /// Extends the claim on `delivery` by `ttl` from now.
    pub async fn renew_delivery(&self, delivery: &ClaimedDelivery, ttl: Duration) -> Result<(), CloudError> {
        let body = json!({
            "claimedBy": delivery.claimed_by,
            "channelBindingId": delivery.channel_binding_id,
            "ttlMs": u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
        });
        self.post(&delivery_path(delivery, "renew"), &body).await.map(drop)
    }

    /// Acknowledges the claim on `delivery` as `ack`.
    pub async fn ack_delivery(&self, delivery: &ClaimedDelivery, ack: &DeliveryAck) -> Result<(), CloudError> {
        let (status, last_error) = match ack {
            DeliveryAck::Sent => ("sent", None),
            DeliveryAck::Dead(reason) => ("dead", Some(reason.as_str())),
        };
        let body = json!({
            "status": status,
            "claimedBy": delivery.claimed_by,
            "channelBindingId": delivery.channel_binding_id,
            "lastError": last_error,
        });
        self.post(&delivery_path(delivery, "ack"), &body).await.map(drop)
    }
}

fn delivery_path(delivery: &ClaimedDelivery, action: &str) -> String {
    format!("/api/channels/deliveries/{}/{action}", percent_encode(&delivery.delivery_id))
}

/// The task reading the stream.
struct StreamReader {
    client: CloudClient,
    path: String,
    sender: mpsc::Sender<ClaimedDelivery>,
    connected: Arc<AtomicBool>,
}

/// Why reading one connection ended.
enum Ending {
    /// Shutdown, or nobody reads the feed any more.
    Stop,
    /// The connection ended, broke or went silent: reconnect.
    Dropped { delivered: bool },
}

impl StreamReader {
    async fn run(self, shutdown: CancellationToken) {
        let policy = RetryPolicy::reconnect();
        let mut failures = 0u32;
        loop {
            match self.client.open_stream(&self.path, None).await {
                Ok(response) => {
                    self.connected.store(true, Ordering::Relaxed);
                    let ending = self.read(response, &shutdown).await;
                    self.connected.store(false, Ordering::Relaxed);
                    match ending {
                        Ending::Stop => return,
                        // A connection that brought work resets the schedule; one that only
                        // opened and closed keeps backing off.
                        Ending::Dropped { delivered: true } => failures = 0,
                        Ending::Dropped { delivered: false } => {}
                    }
                }
                Err(error) => tracing::warn!(%error, "the cloud's delivery stream could not be opened; retrying"),
            }
            failures = failures.saturating_add(1);
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(policy.full_jitter(failures)) => {}
            }
        }
    }

    async fn read(&self, mut response: reqwest::Response, shutdown: &CancellationToken) -> Ending {
        let mut parser = SseParser::default();
        let mut delivered = false;
        loop {
            let chunk = tokio::select! {
                () = shutdown.cancelled() => return Ending::Stop,
                chunk = tokio::time::timeout(SILENCE, response.chunk()) => chunk,
            };
            let Ok(Ok(Some(chunk))) = chunk else { return Ending::Dropped { delivered } };
            let frames = parser.push(&chunk);
            if parser.pending() > MAX_PENDING {
                tracing::warn!("the cloud's delivery stream sent an oversized event; reconnecting");
                return Ending::Dropped { delivered };
            }
            for frame in frames {
                match frame.event.as_str() {
                    "channel.delivery" => match parse_delivery(&frame.data) {
                        Ok(delivery) => {
                            delivered = true;
                            tokio::select! {
                                () = shutdown.cancelled() => return Ending::Stop,
                                sent = self.sender.send(delivery) => if sent.is_err() { return Ending::Stop },
                            }
                        }
                        // Unacked, it lapses and the cloud's attempt budget ends it.
                        Err(error) => tracing::warn!(%error, "the cloud sent a delivery that does not parse; skipped"),
                    },
                    "error" => {
                        let message: Value = serde_json::from_str(&frame.data).unwrap_or_default();
                        let message = message["error"].as_str().unwrap_or("unknown error").to_owned();
                        tracing::warn!(error = %message, "the cloud's delivery stream reported an error");
                    }
                    _ => {}
                }
            }
        }
    }
}

fn parse_delivery(data: &str) -> Result<ClaimedDelivery, String> {
    #[derive(Deserialize)]
    struct Envelope {
        delivery: ClaimedDelivery,
    }
    serde_json::from_str::<Envelope>(data).map(|envelope| envelope.delivery).map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_path_names_claimant_ttl_and_bindings_encoded() {
        let request = DeliveryStreamRequest {
            claimed_by: "gateway:a b".into(),
            ttl: Duration::from_secs(120),
            channel_binding_ids: vec!["slack-1".into(), "x&y".into()],
        };
        assert_eq!(
            request.path(),
            "/api/channels/deliveries/stream?claimedBy=gateway%3Aa%20b&ttlMs=120000&channelBindingId=slack-1\
             &channelBindingId=x%26y"
        );
    }

    #[test]
    fn a_delivery_frame_parses_and_a_malformed_one_is_an_error() {
        let data = r#"{"delivery":{"deliveryId":"d1","channelBindingId":"b","provider":"fake",
            "target":{"externalChatId":"c"},"eventType":"workflow.completed","payload":{"text":"hi"},
            "attemptCount":2,"claimedBy":"gw","status":"claimed"}}"#;
        let delivery = parse_delivery(data).expect("parses");
        assert_eq!((delivery.delivery_id.as_str(), delivery.attempt_count), ("d1", 2));
        assert_eq!(delivery.payload["text"], "hi");
        assert!(parse_delivery(r#"{"delivery":{"deliveryId":"d1"}}"#).is_err(), "a binding is required");
        assert!(parse_delivery("not json").is_err());
    }
}
