//! Traces across processes: in split mode one conversation is one trace, from the sender's
//! `traceparent` through the gateway's ingress, a `kill -9` and restart of the gateway, the
//! cloud's command and runtime turn, back to the gateway's render and every delivery attempt,
//! whose `traceparent` reaches the receiver. Spans are read by a real OTLP/HTTP collector that
//! decodes the protobuf. With the collector down, the gateway keeps answering and counts the
//! spans it dropped.

use std::collections::HashSet;

use cowork_cloud::database::testing::TestDatabase;
use cowork_cloud::runtime::DemoRuntime;
use serde_json::json;

use crate::chaos::metric;
use crate::collector::{Collector, ReceivedSpan};
use crate::harness::{ADMIN_TOKEN, DEADLINE, GatewayProcess, post_signed};
use crate::receiver::Receiver;
use crate::split::{Cloud, setup};

const SECRET: &str = "trace-webhook-shared-secret-0123456789";
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SENDER_SPAN: &str = "00f067aa0ba902b7";
/// Spans leave every 50 ms instead of every 5 s.
const FAST_EXPORT: (&str, &str) = ("OTEL_BSP_SCHEDULE_DELAY", "50");

fn providers(receiver: &str) -> String {
    json!([{
        "id": "webhook", "kind": "webhook", "channelBindingId": "wh-binding",
        "credentials": {"sharedSecret": SECRET},
        "settings": {"deliveryUrl": receiver, "allowPrivateDelivery": true},
    }])
    .to_string()
}

fn message(id: &str, chat: &str, text: &str) -> String {
    json!({"id": id, "target": {"chatId": chat}, "sender": {"userId": "u-1"}, "text": text}).to_string()
}

/// The spans named `name`.
fn named<'s>(spans: &'s [ReceivedSpan], name: &str) -> Vec<&'s ReceivedSpan> {
    spans.iter().filter(|span| span.name == name).collect()
}

/// The one span named `name`, checked to be reported by `service` under `parent`.
fn one<'s>(spans: &'s [ReceivedSpan], name: &str, service: &str, parent: &str) -> &'s ReceivedSpan {
    let found = named(spans, name);
    assert_eq!(found.len(), 1, "one {name} span: {spans:#?}");
    let span = found[0];
    assert_eq!((span.service.as_str(), span.parent_span_id.as_str()), (service, parent), "{name}: {spans:#?}");
    span
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_conversation_is_one_trace_across_the_gateway_a_restart_and_the_cloud() {
    let cloud_db = TestDatabase::sqlite().await;
    let gateway_db = TestDatabase::sqlite().await;
    setup(&["bindings", "create", "--provider", "webhook", "--binding-id", "wh-binding"], &cloud_db.url);
    let token =
        setup(&["tokens", "create", "--name", "gw", "--scope", "gateway", "--binding", "wh-binding"], &cloud_db.url);
    let collector = Collector::start().await;
    let receiver = Receiver::start().await;
    let (_cloud, cloud_url) = Cloud::start_with(
        &cloud_db.url,
        "127.0.0.1:0",
        5,
        &[("OPEN_COWORK_CLOUD_OTLP_ENDPOINT", &collector.url), FAST_EXPORT],
    );
    let providers = providers(&receiver.url);
    let gateway_vars = [
        ("OPEN_COWORK_GATEWAY_PROVIDERS", providers.as_str()),
        ("OPEN_COWORK_GATEWAY_OTLP_ENDPOINT", collector.url.as_str()),
        ("OPEN_COWORK_GATEWAY_INSTANCE_ID", "traced-gateway"),
        FAST_EXPORT,
    ];

    // Accepted by a gateway whose workers are paused, which then dies: the message waits in
    // the inbox with its trace context.
    let mut paused = gateway_vars.to_vec();
    paused.push(("OPEN_COWORK_GATEWAY_PAUSE_WORKERS", "true"));
    let first = GatewayProcess::start_split_with(&gateway_db.url, &cloud_url, &token, &paused);
    let text = "hello, traced through two processes";
    let sender = format!("00-{TRACE_ID}-{SENDER_SPAN}-01");
    let url = format!("{}/webhooks/webhook", first.base);
    let status = post_signed(&url, SECRET, &message("m-1", "chat-1", text), &[("traceparent", &sender)]).await;
    assert_eq!(status, 202);
    let spans = collector.wait_for(TRACE_ID, "the ingress span", |spans| !named(spans, "ingress").is_empty()).await;
    let ingress = one(&spans, "ingress", "open-cowork-gateway", SENDER_SPAN);
    let ingress_id = ingress.span_id.clone();
    first.kill_hard();

    // Another gateway process on the same database carries on, and the reply arrives.
    let second = GatewayProcess::start_split_with(&gateway_db.url, &cloud_url, &token, &gateway_vars);
    let reply = DemoRuntime::final_reply(text);
    let started = std::time::Instant::now();
    while receiver.messages("chat-1").first().map(|m| m.text.as_str()) != Some(reply.as_str()) {
        assert!(started.elapsed() < DEADLINE, "no reply: {:?}", receiver.messages("chat-1"));
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let attempts_sent = receiver.trace_parents().len();
    assert!(attempts_sent >= 1, "the deliveries carried a traceparent");

    // The whole tree, each step under the one before it, across both services.
    let spans = collector
        .wait_for(TRACE_ID, "every step of the conversation", |spans| {
            ["inbox", "prompt", "session command", "runtime turn", "render"]
                .iter()
                .all(|name| !named(spans, name).is_empty())
                && named(spans, "delivery attempt").len() >= attempts_sent
        })
        .await;
    let inbox = one(&spans, "inbox", "open-cowork-gateway", &ingress_id);
    let prompt = one(&spans, "prompt", "open-cowork-gateway", &inbox.span_id);
    let command = one(&spans, "session command", "open-cowork-cloud", &prompt.span_id);
    let turn = one(&spans, "runtime turn", "open-cowork-cloud", &command.span_id);
    let renders = named(&spans, "render");
    assert!(
        renders.iter().all(|r| r.parent_span_id == turn.span_id && r.service == "open-cowork-gateway"),
        "{spans:#?}"
    );
    let render_ids: HashSet<&str> = renders.iter().map(|r| r.span_id.as_str()).collect();
    let attempts = named(&spans, "delivery attempt");
    assert!(attempts.iter().all(|a| render_ids.contains(a.parent_span_id.as_str())), "{spans:#?}");
    let attempt_ids: HashSet<&str> = attempts.iter().map(|a| a.span_id.as_str()).collect();
    for header in receiver.trace_parents() {
        let parts: Vec<&str> = header.split('-').collect();
        assert_eq!((parts.len(), parts[1]), (4, TRACE_ID), "{header}");
        assert!(attempt_ids.contains(parts[2]), "the receiver got the attempt's own context: {header}");
    }
    let ids: HashSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    assert_eq!(ids.len(), spans.len(), "every span once: {spans:#?}");
    drop(second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_collector_down_messages_are_answered_and_dropped_spans_counted() {
    let db = TestDatabase::sqlite().await;
    let receiver = Receiver::start().await;
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let nowhere = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let providers = providers(&receiver.url);
    let gateway = GatewayProcess::start_with(
        &db.url,
        1,
        &[
            ("OPEN_COWORK_GATEWAY_PROVIDERS", &providers),
            ("OPEN_COWORK_GATEWAY_OTLP_ENDPOINT", &nowhere),
            ("OPEN_COWORK_GATEWAY_ADMIN_TOKEN", ADMIN_TOKEN),
            FAST_EXPORT,
        ],
    );
    let url = format!("{}/webhooks/webhook", gateway.base);
    // A valid context is joined, a malformed one ignored; neither changes the answer.
    let headers: [&[(&str, &str)]; 3] = [
        &[("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")],
        &[("traceparent", "00-not-a-trace-context<script>")],
        &[],
    ];
    for (index, extra) in headers.iter().enumerate() {
        let chat = format!("down-{index}");
        let status = post_signed(&url, SECRET, &message(&format!("d-{index}"), &chat, "still answered?"), extra).await;
        assert_eq!(status, 202);
    }
    let reply = DemoRuntime::final_reply("still answered?");
    let started = std::time::Instant::now();
    loop {
        let done = (0..headers.len())
            .all(|i| receiver.messages(&format!("down-{i}")).first().is_some_and(|m| m.text == reply));
        let dropped = metric(&gateway.base, "open_cowork_gateway_trace_spans_dropped_total").await.unwrap_or(0.0);
        if done && dropped > 0.0 {
            break;
        }
        assert!(started.elapsed() < DEADLINE, "replies done: {done}, spans dropped: {dropped}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(receiver.anomalies().is_empty(), "{:?}", receiver.anomalies());
}
