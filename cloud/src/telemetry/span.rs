//! One step of a message's trace. Started from the trace context a row or a request carried;
//! hands on its own context for the next row or request. Ends when dropped.

use cowork_cloud_client::TraceParent;
use opentelemetry::trace::{
    SpanContext, SpanId, Status, TraceContextExt, TraceFlags, TraceId, TraceState, Tracer as _,
};
use opentelemetry::{Context, KeyValue, global};

/// The instrumentation scope our spans are reported under.
const SCOPE: &str = "open-cowork";

/// What kind of step a span is (OpenTelemetry's span kinds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpanKind {
    /// A request we serve.
    Server,
    /// A request we make.
    Client,
    /// Taking work from a durable queue.
    Consumer,
    /// Work inside the process.
    Internal,
}

impl From<SpanKind> for opentelemetry::trace::SpanKind {
    fn from(kind: SpanKind) -> Self {
        match kind {
            SpanKind::Server => Self::Server,
            SpanKind::Client => Self::Client,
            SpanKind::Consumer => Self::Consumer,
            SpanKind::Internal => Self::Internal,
        }
    }
}

/// A span of the process's tracer (a no-op that still passes its parent's context on when
/// traces are off).
pub struct Span {
    context: Context,
}

impl Span {
    /// Starts `name` as a child of `parent` (a new trace when there is none).
    pub fn start(name: &'static str, kind: SpanKind, parent: Option<&TraceParent>) -> Self {
        let parent = parent.map_or_else(Context::new, |parent| Context::new().with_remote_span_context(remote(parent)));
        Self::start_in(name, kind, &parent)
    }

    /// Starts `name` as a child of this span.
    pub fn child(&self, name: &'static str, kind: SpanKind) -> Self {
        Self::start_in(name, kind, &self.context)
    }

    fn start_in(name: &'static str, kind: SpanKind, parent: &Context) -> Self {
        let tracer = global::tracer(SCOPE);
        let span = tracer.span_builder(name).with_kind(kind.into()).start_with_context(&tracer, parent);
        Self { context: parent.with_span(span) }
    }

    /// The context to store with a row or send as `traceparent`; `None` when there is no trace.
    pub fn trace_parent(&self) -> Option<TraceParent> {
        let span = self.context.span();
        let context = span.span_context();
        if !context.is_valid() {
            return None;
        }
        TraceParent::from_parts(&context.trace_id().to_string(), &context.span_id().to_string(), context.is_sampled())
    }

    /// Records an attribute.
    pub fn set(&self, key: &'static str, value: impl Into<opentelemetry::Value>) {
        self.context.span().set_attribute(KeyValue::new(key, value));
    }

    /// Marks the step as failed with a short, already redacted reason.
    pub fn fail(&self, reason: impl Into<String>) {
        self.context.span().set_status(Status::error(reason.into()));
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        self.context.span().end();
    }
}

/// The span context a stored or received trace parent names.
fn remote(parent: &TraceParent) -> SpanContext {
    let trace_id = TraceId::from_hex(parent.trace_id()).unwrap_or(TraceId::INVALID);
    let span_id = SpanId::from_hex(parent.span_id()).unwrap_or(SpanId::INVALID);
    let flags = if parent.sampled() { TraceFlags::SAMPLED } else { TraceFlags::default() };
    SpanContext::new(trace_id, span_id, flags, true, TraceState::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_an_exporter_the_parent_context_is_passed_on() {
        let parent = TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        let span = Span::start("ingress", SpanKind::Server, parent.as_ref());
        assert_eq!(span.trace_parent(), parent);
        assert_eq!(span.child("inbox", SpanKind::Consumer).trace_parent(), parent);
        assert_eq!(Span::start("ingress", SpanKind::Server, None).trace_parent(), None);
    }
}
