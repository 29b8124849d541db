//! Logs and traces: structured `tracing` to stderr (text or JSON lines) and, when an OTLP
//! endpoint is configured, OpenTelemetry traces exported in the background.
//!
//! Traces follow the standard `OTEL_*` variables (`OTEL_EXPORTER_OTLP_ENDPOINT`,
//! `OTEL_EXPORTER_OTLP_PROTOCOL` = `grpc`, `http/protobuf` or `http/json`, `OTEL_SERVICE_NAME`,
//! `OTEL_TRACES_SAMPLER`, `OTEL_BSP_*`…); without an endpoint nothing is exported. Spans carry
//! names, ids and path templates, never a token, a variable or a contact's data. Exporting runs
//! off the request path: a dead collector costs a warning, never a request.

use std::fmt;
use std::io::IsTerminal as _;

use opentelemetry::propagation::Extractor;
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_otlp::{Protocol, WithExportConfig as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

/// How log lines are written.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (colours on a terminal).
    Text,
    /// One JSON object per line: timestamp, level, target, message, fields, span, trace id.
    Json,
}

/// Where traces go (`--otlp-endpoint`, `--otlp-protocol`, or their `OTEL_*` variables).
#[derive(Clone, Debug, Default)]
pub struct TraceExport {
    /// Base endpoint; unset (and no `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`): no traces.
    pub endpoint: Option<String>,
    /// `grpc`, `http/protobuf` or `http/json`.
    pub protocol: String,
}

/// Keeps the trace exporter alive; dropping it flushes what is buffered.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            let _ = provider.shutdown();
        }
    }
}

/// Installs the global subscriber. `format`: default text on a terminal, JSON otherwise.
/// `RUST_LOG` overrides the default `info` for our crates. Call inside the tokio runtime (the
/// gRPC exporter runs on it).
pub fn init(format: Option<LogFormat>, export: TraceExport) -> Telemetry {
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("ghl_subgraph=info,ghl_sandbox=info,warn"));
    let terminal = std::io::stderr().is_terminal();
    let format = format.unwrap_or(if terminal { LogFormat::Text } else { LogFormat::Json });
    let logs = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer().with_ansi(terminal).with_writer(std::io::stderr).with_filter(filter()).boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer().event_format(JsonLines).with_writer(std::io::stderr).with_filter(filter()).boxed(),
    };
    let (provider, problem) = match tracer_provider(&export) {
        Ok(provider) => (provider, None),
        Err(problem) => (None, Some(problem)),
    };
    let traces = provider.as_ref().map(|provider| {
        opentelemetry::global::set_text_map_propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new());
        let tracer = provider.tracer("ghl-subgraph");
        // Our spans only: the filter of logs (RUST_LOG) does not decide what is traced.
        tracing_opentelemetry::layer().with_tracer(tracer).with_filter(EnvFilter::new("ghl_subgraph=info"))
    });
    let _ = tracing_subscriber::registry().with(logs).with(traces).try_init();
    if let Some(problem) = problem {
        tracing::warn!(%problem, "OpenTelemetry traces are off");
    }
    Telemetry { provider }
}

/// The OTLP trace pipeline, when an endpoint is set; `Err` says why a configured one is not used.
fn tracer_provider(export: &TraceExport) -> Result<Option<SdkTracerProvider>, String> {
    let env = |name: &str| std::env::var(name).ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    // A traces-only endpoint is used as it is, by the exporter itself; a base endpoint gets the
    // signal's path (HTTP), as the OTLP specification says.
    let traces_endpoint = env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    let base = export.endpoint.as_deref().map(str::trim).filter(|e| !e.is_empty());
    let disabled = env("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) || env("OTEL_TRACES_EXPORTER").is_some_and(|v| v == "none");
    if (traces_endpoint.is_none() && base.is_none()) || disabled {
        return Ok(None);
    }
    let protocol = env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL").unwrap_or_else(|| export.protocol.clone());
    let endpoint = match (&traces_endpoint, base) {
        (Some(_), _) | (None, None) => None,
        (None, Some(base)) if protocol == "grpc" => Some(base.to_owned()),
        (None, Some(base)) => Some(format!("{}/v1/traces", base.trim_end_matches('/'))),
    };
    let mut resource = opentelemetry_sdk::Resource::builder();
    if env("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name("ghl-subgraph");
    }
    let builder = SdkTracerProvider::builder().with_resource(resource.build());
    let provider = match protocol.as_str() {
        "grpc" => {
            let mut exporter = opentelemetry_otlp::SpanExporter::builder().with_tonic();
            if let Some(endpoint) = endpoint {
                exporter = exporter.with_endpoint(endpoint);
            }
            let exporter = exporter.build().map_err(|e| e.to_string())?;
            let processor =
                opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor::builder(exporter, opentelemetry_sdk::runtime::Tokio).build();
            builder.with_span_processor(processor).build()
        }
        "http/protobuf" | "http/json" => {
            let wire = if protocol == "http/json" { Protocol::HttpJson } else { Protocol::HttpBinary };
            let mut exporter = opentelemetry_otlp::SpanExporter::builder().with_http().with_protocol(wire);
            if let Some(endpoint) = endpoint {
                exporter = exporter.with_endpoint(endpoint);
            }
            let exporter = exporter.build().map_err(|e| e.to_string())?;
            // Its own thread: the blocking HTTP client never runs on the request runtime.
            builder.with_batch_exporter(exporter).build()
        }
        other => return Err(format!("OTEL_EXPORTER_OTLP_PROTOCOL `{other}` is not one of grpc, http/protobuf, http/json")),
    };
    Ok(Some(provider))
}

/// Continues the caller's trace: the W3C `traceparent` (and `tracestate`) of `headers` become
/// the parent of `span`. Without a tracer nothing happens.
pub fn continue_trace(span: &tracing::Span, headers: &axum::http::HeaderMap) {
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| propagator.extract(&HeaderExtractor(headers)));
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
}

struct HeaderExtractor<'a>(&'a axum::http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// One JSON object per event.
struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let meta = event.metadata();
        let mut fields = Fields::default();
        event.record(&mut fields);
        let message = fields.0.remove("message").unwrap_or(serde_json::Value::String(String::new()));
        let mut line = serde_json::Map::new();
        line.insert("timestamp".into(), chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true).into());
        line.insert("level".into(), meta.level().as_str().into());
        line.insert("target".into(), meta.target().into());
        line.insert("message".into(), message);
        line.insert("fields".into(), serde_json::Value::Object(fields.0));
        if let Some(span) = ctx.lookup_current() {
            line.insert("span".into(), span.name().into());
        }
        let trace = tracing::Span::current().context().span().span_context().clone();
        if trace.is_valid() {
            line.insert("trace_id".into(), trace.trace_id().to_string().into());
            line.insert("span_id".into(), trace.span_id().to_string().into());
        }
        writeln!(writer, "{}", serde_json::Value::Object(line))
    }
}

#[derive(Default)]
struct Fields(serde_json::Map<String, serde_json::Value>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}").into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
}
