//! The pieces between the SDK and the collector: an HTTP client that runs on our Tokio runtime
//! (the SDK's batch thread has none), an exporter that counts what it fails to send, and a
//! processor that counts what it cannot queue.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use opentelemetry::Context;
use opentelemetry_http::HttpError;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SpanData, SpanExporter, SpanProcessor};

/// How long one export request may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The span queue's size: `OTEL_BSP_MAX_QUEUE_SIZE`, 2048 by default (the SDK's).
pub(super) fn queue_capacity() -> usize {
    std::env::var("OTEL_BSP_MAX_QUEUE_SIZE").ok().and_then(|v| v.trim().parse().ok()).filter(|n| *n > 0).unwrap_or(2048)
}

/// Sends the exporter's requests with reqwest (rustls) on the service's runtime.
#[derive(Debug)]
pub(super) struct HttpClient {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

impl HttpClient {
    pub(super) fn new(runtime: tokio::runtime::Handle) -> Self {
        // Building only fails when the TLS backend cannot start; the default client then fails
        // each export, which is counted.
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self { client, runtime }
    }
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for HttpClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        let call = async move {
            let request = reqwest::Request::try_from(request)?;
            let response = client.execute(request).await?;
            let mut answer = Response::builder().status(response.status().as_u16());
            for (name, value) in response.headers() {
                answer = answer.header(name.as_str(), value.as_bytes());
            }
            let body = response.bytes().await?;
            Ok::<_, HttpError>(answer.body(body)?)
        };
        self.runtime.spawn(call).await?
    }
}

/// Reports spans lost: queue full or export failed.
#[derive(Clone)]
pub(super) struct DropCounter(pub(super) Arc<dyn Fn(u64) + Send + Sync>);

impl DropCounter {
    fn add(&self, spans: usize) {
        if spans > 0 {
            (self.0)(spans as u64);
        }
    }
}

impl std::fmt::Debug for DropCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DropCounter")
    }
}

/// The OTLP exporter, counting the spans of every batch it could not send, and releasing each
/// batch's place in the queue [`Bounded`] keeps.
#[derive(Debug)]
pub(super) struct Counted<E> {
    inner: E,
    waiting: Arc<AtomicUsize>,
    dropped: DropCounter,
}

impl<E: SpanExporter> Counted<E> {
    pub(super) fn new(inner: E, waiting: Arc<AtomicUsize>, dropped: DropCounter) -> Self {
        Self { inner, waiting, dropped }
    }
}

impl<E: SpanExporter> SpanExporter for Counted<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len();
        let result = self.inner.export(batch).await;
        release(&self.waiting, spans);
        if let Err(error) = &result {
            self.dropped.add(spans);
            tracing::debug!(%error, spans, "trace export failed; spans dropped");
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

fn release(waiting: &AtomicUsize, spans: usize) {
    // Saturating: a span the batch processor dropped on shutdown was never released here.
    let _ = waiting.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| Some(n.saturating_sub(spans)));
}

/// The batch processor behind a bound we can see: a span that finds the queue full is dropped
/// and counted here, instead of silently inside the SDK.
#[derive(Debug)]
pub(super) struct Bounded {
    inner: BatchSpanProcessor,
    waiting: Arc<AtomicUsize>,
    capacity: usize,
    dropped: DropCounter,
}

impl Bounded {
    pub(super) fn new(
        inner: BatchSpanProcessor,
        waiting: Arc<AtomicUsize>,
        capacity: usize,
        dropped: DropCounter,
    ) -> Self {
        Self { inner, waiting, capacity, dropped }
    }
}

impl SpanProcessor for Bounded {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        let taken = self
            .waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < self.capacity).then_some(n + 1))
            .is_ok();
        if taken {
            self.inner.on_end(span);
        } else {
            self.dropped.add(1);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}
