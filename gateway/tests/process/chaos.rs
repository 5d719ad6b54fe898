//! Replicas under faults, on a Postgres server of the test's own: three replicas behind a load
//! balancer carry conversations on 24 bindings through the signed webhook provider to an
//! external receiver while one replica is killed with `kill -9` and restarted, one is stopped
//! with SIGSTOP in the middle of a send past its lease and then continued, and Postgres is
//! restarted. At the end every accepted message has exactly one complete reply, in order per
//! chat, and the stopped replica's late write was refused by the fence. Also: an outage of the
//! database longer than the lease makes every owner step down, and they take over again after.

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use cowork_cloud::runtime::DemoRuntime;
use serde_json::{Value, json};

use crate::balancer::Balancer;
use crate::harness::{ADMIN_TOKEN, DEADLINE, GatewayProcess};
use crate::postgres_server::PostgresServer;
use crate::receiver::Receiver;

const SECRET: &str = "chaos-webhook-shared-secret-0123456789";
const BINDINGS: usize = 24;
const CHATS_PER_BINDING: usize = 2;
/// The ownership lease (heartbeats every 500 ms).
const LEASE_MS: u64 = 3_000;

fn binding(index: usize) -> String {
    format!("b-{index:02}")
}

/// One webhook provider per binding, all delivering to `receiver`.
fn providers(receiver: &str) -> String {
    let list: Vec<Value> = (0..BINDINGS)
        .map(|index| {
            json!({
                "id": format!("webhook-{}", binding(index)),
                "kind": "webhook",
                "channelBindingId": binding(index),
                "credentials": {"sharedSecret": SECRET},
                "settings": {"deliveryUrl": receiver, "allowPrivateDelivery": true},
            })
        })
        .collect();
    Value::Array(list).to_string()
}

fn replica(db: &str, instance: &str, providers: &str) -> GatewayProcess {
    let lease = LEASE_MS.to_string();
    GatewayProcess::start_with(
        db,
        5,
        &[
            ("OPEN_COWORK_GATEWAY_INSTANCE_ID", instance),
            ("OPEN_COWORK_GATEWAY_PROVIDERS", providers),
            ("OPEN_COWORK_GATEWAY_HEARTBEAT_INTERVAL_MS", "500"),
            ("OPEN_COWORK_GATEWAY_OWNERSHIP_LEASE_MS", &lease),
            ("OPEN_COWORK_GATEWAY_ADMIN_TOKEN", ADMIN_TOKEN),
        ],
    )
}

fn signal(gateway: &GatewayProcess, name: &str) {
    let status = Command::new("kill").args([&format!("-{name}"), &gateway.child.id().to_string()]).status();
    assert!(status.is_ok_and(|s| s.success()), "kill -{name}");
}

/// Waits until `probe` gives `Some`, polling; fails naming `what` at the deadline.
async fn until<T, F: Future<Output = Option<T>>>(what: &str, mut probe: impl FnMut() -> F) -> T {
    let started = Instant::now();
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(started.elapsed() < DEADLINE * 2, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The owner of every binding by `gateway`'s `/ownership` (`None` while it cannot answer).
async fn owners(gateway: &GatewayProcess) -> Option<HashMap<String, Option<String>>> {
    let (status, body) = gateway.get_as("/ownership", Some(ADMIN_TOKEN)).await;
    (status == 200).then(|| {
        body["bindings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|b| Some((b["channelBindingId"].as_str()?.to_owned(), b["owner"].as_str().map(str::to_owned))))
            .collect()
    })
}

/// A counter or gauge of the `/metrics` of the gateway at `base`.
pub(crate) async fn metric(base: &str, name: &str) -> Option<f64> {
    let response = reqwest::Client::new()
        .get(format!("{base}/metrics"))
        .bearer_auth(ADMIN_TOKEN)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .ok()?;
    let text = response.text().await.ok()?;
    text.lines()
        .filter(|line| line.starts_with(name) && !line.starts_with('#'))
        .find_map(|line| line.rsplit(' ').next()?.parse().ok())
}

/// The conversations the test has had: every message accepted, per chat, in order.
struct Load {
    balancer: Balancer,
    http: reqwest::Client,
    sent: HashMap<String, Vec<String>>,
}

impl Load {
    /// Posts one signed message until a replica accepts it (a sender retries what was refused).
    async fn post(&mut self, binding: &str, chat: &str, text: &str) {
        let body = json!({"id": format!("{chat}/{text}"), "target": {"chatId": chat}, "sender": {"userId": "u-1"}, "text": text})
            .to_string();
        let url = format!("{}/webhooks/webhook-{binding}", self.balancer.base);
        let started = Instant::now();
        loop {
            let ts = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock after 1970")
                .as_secs()
                .to_string();
            let signature =
                cowork_providers::signature::signature_header(SECRET.as_bytes(), "v1", &ts, body.as_bytes());
            let response = self
                .http
                .post(&url)
                .header("content-type", "application/json")
                .header("x-open-cowork-gateway-webhook-timestamp", ts)
                .header("x-open-cowork-gateway-webhook-signature", signature)
                .body(body.clone())
                .send()
                .await;
            let status = response.map(|r| r.status().as_u16()).unwrap_or(0);
            if (200..300).contains(&status) {
                break;
            }
            assert!(matches!(status, 0 | 429 | 502 | 503), "{text} on {chat} refused with {status}");
            assert!(started.elapsed() < DEADLINE, "{text} on {chat} never accepted (last status {status})");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.sent.entry(chat.to_owned()).or_default().push(text.to_owned());
    }

    /// One message to every chat of every binding.
    async fn wave(&mut self, wave: usize) {
        for index in 0..BINDINGS {
            for chat in 0..CHATS_PER_BINDING {
                let binding = binding(index);
                self.post(&binding, &format!("{binding}-c{chat}"), &format!("wave {wave} here")).await;
            }
        }
    }

    /// Whether every chat shows exactly one complete reply per message, in order.
    fn complete(&self, receiver: &Receiver) -> Result<(), String> {
        for (chat, texts) in &self.sent {
            let expected: Vec<String> = texts.iter().map(|text| DemoRuntime::final_reply(text)).collect();
            let shown: Vec<String> = receiver.messages(chat).into_iter().map(|m| m.text).collect();
            if shown != expected {
                return Err(format!("chat {chat} shows {shown:#?}, expected {expected:#?}"));
            }
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_answer_every_message_once_through_kill_sigstop_and_a_postgres_restart() {
    let Some(pg) = PostgresServer::start() else { return };
    let receiver = Receiver::start().await;
    let providers = providers(&receiver.url);
    // The first replica migrates the database; the others join it.
    let a = replica(&pg.url(), "gw-a", &providers);
    let b = replica(&pg.url(), "gw-b", &providers);
    let mut c = replica(&pg.url(), "gw-c", &providers);
    let balancer = Balancer::start(vec![a.base.clone(), b.base.clone(), c.base.clone()]).await;
    let mut load = Load { balancer: balancer.clone(), http: reqwest::Client::new(), sent: HashMap::new() };
    until("every replica holding a share", || async {
        let owners = owners(&a).await?;
        let all = ["gw-a", "gw-b", "gw-c"].iter().all(|id| owners.values().any(|o| o.as_deref() == Some(*id)));
        (owners.len() == BINDINGS && owners.values().all(Option::is_some) && all).then_some(())
    })
    .await;
    load.wave(0).await;
    load.wave(1).await;

    // kill -9 with work in flight; its share moves, and comes back when it restarts.
    c.kill_hard();
    load.wave(2).await;
    until("c's share moving", || async {
        let owners = owners(&a).await?;
        (owners.len() == BINDINGS && owners.values().all(|o| o.as_deref().is_some_and(|o| o != "gw-c"))).then_some(())
    })
    .await;
    c = replica(&pg.url(), "gw-c", &providers);
    balancer.replace(2, c.base.clone());
    until("c's share back", || async {
        owners(&a).await?.values().any(|o| o.as_deref() == Some("gw-c")).then_some(())
    })
    .await;
    load.wave(3).await;

    // SIGSTOP in the middle of a send, past the lease.
    let owned = owners(&a).await.expect("ownership");
    let victim = owned.iter().find(|(_, o)| o.as_deref() == Some("gw-b")).map(|(b, _)| b.clone()).expect("b holds one");
    let hold_chat = format!("{victim}-hold");
    receiver.hold_next(&hold_chat);
    load.post(&victim, &hold_chat, "held on its way").await;
    let held = until("b sending the held delivery", || async { receiver.held() }).await;
    signal(&b, "STOP");
    load.wave(4).await;
    until("the new owner sending the held delivery again", || async {
        let owners = owners(&a).await?;
        let moved = owners.get(&victim)?.as_deref().is_some_and(|o| o != "gw-b");
        (moved && receiver.arrivals(&held) >= 2).then_some(())
    })
    .await;
    // b wakes up to a 503 for the send it had in flight: recording that failure is refused.
    receiver.release(503);
    signal(&b, "CONT");
    let refused = until("b's late write refused", || async {
        metric(&b.base, "open_cowork_gateway_fenced_writes_refused_total").await.filter(|n| *n >= 1.0)
    })
    .await;

    // Postgres restarts under load.
    load.wave(5).await;
    pg.restart();
    load.wave(6).await;

    until("every reply complete", || async { load.complete(&receiver).ok() }).await;
    // Nothing trails in afterwards: no late send, duplicate or edit.
    tokio::time::sleep(Duration::from_millis(500)).await;
    if let Err(error) = load.complete(&receiver) {
        panic!("after the run: {error}");
    }
    assert!(receiver.anomalies().is_empty(), "{:?}", receiver.anomalies());
    let messages: usize = load.sent.values().map(Vec::len).sum();
    assert_eq!(messages, BINDINGS * CHATS_PER_BINDING * 7 + 1);
    // Only sends in flight at a fault may arrive twice (each recognised by its delivery id).
    let repeats = receiver.repeats();
    assert!(repeats.len() <= BINDINGS * CHATS_PER_BINDING, "{repeats:?}");
    assert!(refused >= 1.0);
    // Every binding has one live owner at the end.
    let owners = until("every binding owned", || async {
        let owners = owners(&a).await?;
        (owners.len() == BINDINGS && owners.values().all(Option::is_some)).then_some(owners)
    })
    .await;
    assert_eq!(owners.len(), BINDINGS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_longer_than_the_lease_makes_owners_step_down() {
    let Some(pg) = PostgresServer::start() else { return };
    let receiver = Receiver::start().await;
    let providers = providers(&receiver.url);
    let a = replica(&pg.url(), "gw-a", &providers);
    let b = replica(&pg.url(), "gw-b", &providers);
    let owned = |gateway: &GatewayProcess| {
        let base = gateway.base.clone();
        async move { metric(&base, "open_cowork_gateway_owned_bindings").await }
    };
    until("both replicas holding a share", || async {
        let (x, y) = (owned(&a).await?, owned(&b).await?);
        (x >= 1.0 && y >= 1.0 && x + y == BINDINGS as f64).then_some(())
    })
    .await;

    pg.stop();
    until("a stepping down", || async { (owned(&a).await? == 0.0).then_some(()) }).await;
    until("b stepping down", || async { (owned(&b).await? == 0.0).then_some(()) }).await;

    pg.start_again();
    until("the bindings taken again", || async {
        let (x, y) = (owned(&a).await?, owned(&b).await?);
        (x + y == BINDINGS as f64).then_some(())
    })
    .await;
    let balancer = Balancer::start(vec![a.base.clone(), b.base.clone()]).await;
    let mut load = Load { balancer, http: reqwest::Client::new(), sent: HashMap::new() };
    load.wave(0).await;
    until("every reply complete", || async { load.complete(&receiver).ok() }).await;
}
