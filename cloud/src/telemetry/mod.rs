//! Traces over OTLP/HTTP: one trace per inbound message, continued from the trace context
//! stored with each durable row, so it goes on in another process and after a restart.
//!
//! Off unless an endpoint is set (`OPEN_COWORK_{GATEWAY,CLOUD}_OTLP_ENDPOINT`, or the standard
//! `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`); the other standard
//! `OTEL_*` variables (service name, resource attributes, sampler, batch sizes, headers,
//! timeout) are read by the OpenTelemetry SDK. Spans leave in batches on the SDK's own thread:
//! a slow or absent collector never holds up a request; what cannot be queued or sent is
//! dropped and counted.

mod export;
mod span;

use std::collections::HashMap;
use std::sync::Arc;

use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};

pub use span::{Span, SpanKind};

use crate::config::ConfigError;

/// The OTLP/HTTP path of traces under a collector's base URL.
const TRACES_PATH: &str = "/v1/traces";

/// Where spans go.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum TraceExport {
    /// No exporter: spans are not recorded, but trace context received is still passed on.
    #[default]
    Off,
    /// To the collector at this traces URL (`…/v1/traces`).
    Otlp(String),
    /// To where the standard `OTEL_EXPORTER_OTLP_*` variables say (the SDK reads them).
    OtlpFromStandardVariables,
}

impl TraceExport {
    /// Reads `variable` (our own endpoint: a collector base URL or its traces URL), then the
    /// standard variables; `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` turn it off.
    pub fn from_env(env: &HashMap<String, String>, variable: &str) -> Result<Self, ConfigError> {
        let get = |name: &str| env.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
        if get("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"))
            || get("OTEL_TRACES_EXPORTER").is_some_and(|v| v.eq_ignore_ascii_case("none"))
        {
            return Ok(Self::Off);
        }
        for protocol in ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"] {
            if get(protocol).is_some_and(|p| p != "http/protobuf") {
                return Err(ConfigError::invalid(protocol, "must be http/protobuf, the one OTLP protocol built in"));
            }
        }
        if let Some(endpoint) = get(variable) {
            return Ok(Self::Otlp(traces_url(variable, endpoint)?));
        }
        for standard in ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"] {
            if let Some(endpoint) = get(standard) {
                traces_url(standard, endpoint)?;
                return Ok(Self::OtlpFromStandardVariables);
            }
        }
        Ok(Self::Off)
    }

    /// Whether spans are exported.
    pub fn is_on(&self) -> bool {
        *self != Self::Off
    }
}

/// The traces URL of a collector base URL (or of a traces URL given whole). Only `http` and
/// `https` URLs with a host are taken; the URL itself is never echoed (it may carry a token).
fn traces_url(variable: &str, endpoint: &str) -> Result<String, ConfigError> {
    let parsed =
        url::Url::parse(endpoint).map_err(|_| ConfigError::invalid(variable, "must be an http:// or https:// URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
        return Err(ConfigError::invalid(variable, "must be an http:// or https:// URL"));
    }
    let trimmed = endpoint.trim_end_matches('/');
    Ok(if trimmed.ends_with(TRACES_PATH) { trimmed.to_owned() } else { format!("{trimmed}{TRACES_PATH}") })
}

/// The installed exporter; flushes what is queued when shut down.
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Telemetry {
    /// Sends what is queued (bounded by the SDK's export timeout) and stops the exporter.
    pub fn shutdown(self) {
        if let Err(error) = self.provider.shutdown() {
            tracing::warn!(%error, "trace exporter did not shut down cleanly");
        }
    }
}

/// Installs the process's tracer for `service` (the default `service.name`; `OTEL_SERVICE_NAME`
/// wins). `dropped` is called with the number of spans lost whenever a batch cannot be queued
/// or sent. Must run inside a Tokio runtime: exports run on it. `None` when export is off.
pub fn install(
    export: &TraceExport,
    service: &'static str,
    dropped: Arc<dyn Fn(u64) + Send + Sync>,
) -> Option<Telemetry> {
    if *export == TraceExport::Off {
        return None;
    }
    let mut builder = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_http_client(export::HttpClient::new(tokio::runtime::Handle::current()));
    if let TraceExport::Otlp(url) = export {
        builder = builder.with_endpoint(url.clone());
    }
    let exporter = match builder.build() {
        Ok(exporter) => exporter,
        Err(error) => {
            tracing::error!(%error, "traces are off: the OTLP exporter could not be built");
            return None;
        }
    };
    let queue = export::queue_capacity();
    let dropped = export::DropCounter(dropped);
    let waiting = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = export::Counted::new(exporter, waiting.clone(), dropped.clone());
    let batches = BatchSpanProcessor::builder(counted)
        .with_batch_config(BatchConfigBuilder::default().with_max_queue_size(queue).build())
        .build();
    let processor = export::Bounded::new(batches, waiting, queue, dropped);
    let resource = if std::env::var_os("OTEL_SERVICE_NAME").is_some() {
        Resource::builder().build()
    } else {
        Resource::builder().with_service_name(service).build()
    };
    let provider = SdkTracerProvider::builder().with_span_processor(processor).with_resource(resource).build();
    opentelemetry::global::set_tracer_provider(provider.clone());
    Some(Telemetry { provider })
}

/// A drop report for a process without metrics: a warning at the 1st, 10th, 100th, ... span lost.
pub fn log_drops() -> Arc<dyn Fn(u64) + Send + Sync> {
    let total = Arc::new(std::sync::atomic::AtomicU64::new(0));
    Arc::new(move |spans| {
        let before = total.fetch_add(spans, std::sync::atomic::Ordering::Relaxed);
        let after = before + spans;
        if before == 0 || after.ilog10() > before.ilog10() {
            tracing::warn!(
                dropped_spans_total = after,
                "trace spans dropped: the OTLP collector is unreachable or slow"
            );
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    const OURS: &str = "OPEN_COWORK_GATEWAY_OTLP_ENDPOINT";

    #[test]
    fn our_endpoint_is_a_collector_base_or_its_traces_url() {
        let read = |value: &str| TraceExport::from_env(&env(&[(OURS, value)]), OURS).ok();
        assert_eq!(read("http://collector:4318"), Some(TraceExport::Otlp("http://collector:4318/v1/traces".into())));
        assert_eq!(read("https://c.example/"), Some(TraceExport::Otlp("https://c.example/v1/traces".into())));
        assert_eq!(read("http://c:4318/v1/traces"), Some(TraceExport::Otlp("http://c:4318/v1/traces".into())));
        assert_eq!(TraceExport::from_env(&env(&[]), OURS).ok(), Some(TraceExport::Off));
    }

    #[test]
    fn the_standard_variables_turn_it_on_or_off() {
        let read = |pairs: &[(&str, &str)]| TraceExport::from_env(&env(pairs), OURS).ok();
        assert_eq!(
            read(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")]),
            Some(TraceExport::OtlpFromStandardVariables)
        );
        assert_eq!(
            read(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:4318/v1/traces")]),
            Some(TraceExport::OtlpFromStandardVariables)
        );
        assert_eq!(read(&[(OURS, "http://c:4318"), ("OTEL_SDK_DISABLED", "true")]), Some(TraceExport::Off));
        assert_eq!(read(&[(OURS, "http://c:4318"), ("OTEL_TRACES_EXPORTER", "none")]), Some(TraceExport::Off));
    }

    #[test]
    fn a_bad_endpoint_names_its_variable_and_not_its_value() {
        for bad in ["collector-secret:4318", "ftp://secret@c/x", "not a secret url", "http://secret@"] {
            let error =
                TraceExport::from_env(&env(&[(OURS, bad)]), OURS).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(error.contains(OURS), "{bad}: {error}");
            assert!(!error.contains("secret"), "{bad}: {error}");
        }
        for protocol in ["OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"] {
            let grpc = TraceExport::from_env(&env(&[(OURS, "http://c:4318"), (protocol, "grpc")]), OURS);
            assert!(grpc.err().map(|e| e.to_string()).unwrap_or_default().contains(protocol));
            let proto = TraceExport::from_env(&env(&[(OURS, "http://c:4318"), (protocol, "http/protobuf")]), OURS);
            assert!(proto.is_ok_and(|export| export.is_on()));
        }
        let standard = TraceExport::from_env(&env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "nope")]), OURS);
        assert!(standard.err().map(|e| e.to_string()).unwrap_or_default().contains("OTEL_EXPORTER_OTLP_ENDPOINT"));
    }
}
