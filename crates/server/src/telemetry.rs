//! Where logs go and what shape they take (`GATEHOUSE_LOG_FORMAT`).
//!
//! `text` is for people: one line an event, coloured only when stderr is a
//! terminal, so files and journald never get escape codes. `json` is for
//! log pipelines: one flat JSON object a line with `time`, `level`,
//! `target`, `message`, the fields of every span the event happened in
//! (the request's `request_id`, `method` and `route`; a service method's
//! `client_id`, `user` or `grant`) and the event's own fields. Flat, not
//! nested, so `request_id` is a top-level key every log query can filter on.
//!
//! Logs go to stderr; stdout carries only what an operator must read once.
//!
//! Traces: with `GATEHOUSE_OTLP_ENDPOINT`, the same `tracing` spans (the
//! request's, the service methods') are exported as OpenTelemetry traces
//! over OTLP/HTTP, batched on a thread of their own so a slow or absent
//! collector never slows a request: when the queue is full, spans are
//! dropped, not waited for. A caller's W3C `traceparent` makes the request
//! span a child of the caller's trace.

use std::fmt;
use std::io::IsTerminal as _;
use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;

/// `GATEHOUSE_LOG_FORMAT`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (the default).
    #[default]
    Text,
    /// One JSON object a line.
    Json,
}

/// What [`init`] installed that must be flushed before the process exits:
/// the trace exporter's last batch. Keep it until the end of `main`.
#[derive(Debug)]
#[must_use = "dropping it without shutdown loses the last batch of traces"]
pub struct Telemetry {
    traces: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Sends the spans still queued and stops the exporter. Runs on a
    /// blocking thread: the exporter waits for its last request, which
    /// itself runs on this runtime.
    pub async fn shutdown(self) {
        if let Some(provider) = self.traces {
            let flushed = tokio::task::spawn_blocking(move || provider.shutdown()).await;
            if let Ok(Err(e)) = flushed {
                tracing::warn!(error = %e, "the last traces could not be sent");
            }
        }
    }
}

/// Installs the process's logger: `RUST_LOG` (else `default_filter`, such
/// as `info` for the server and `warn` for the operator's commands, whose
/// answer is their output) decides what is logged, `format` how. With
/// `otlp_endpoint` (`GATEHOUSE_OTLP_ENDPOINT`), the same spans are also
/// exported as OpenTelemetry traces. Call once, inside the tokio runtime,
/// before anything logs.
///
/// # Errors
/// An invalid `otlp_endpoint`, or TLS roots that cannot be loaded for it.
pub fn init(
    format: LogFormat,
    default_filter: &str,
    otlp_endpoint: Option<&str>,
    extra_ca_file: Option<&str>,
) -> anyhow::Result<Telemetry> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let traces = otlp_endpoint
        .map(|endpoint| trace_provider(endpoint, extra_ca_file))
        .transpose()?;
    let otel = traces.as_ref().map(|provider| {
        EXPORTING.store(true, Ordering::Relaxed);
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        tracing_opentelemetry::layer().with_tracer(provider.tracer("gatehouse"))
    });
    let registry = tracing_subscriber::registry().with(filter).with(otel);
    let done = match format {
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(std::io::stderr().is_terminal()),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(SpanFields)
            .with(json_layer(std::io::stderr))
            .try_init(),
    };
    // Already installed (a test harness, an embedding program): keep theirs.
    let _ = done;
    Ok(Telemetry { traces })
}

/// Whether spans are exported, so the request middleware reads a caller's
/// `traceparent` only when someone will see the trace it joins.
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Makes `span` a child of the trace the request's W3C `traceparent` (and
/// `tracestate`) header names, when traces are exported; otherwise does
/// nothing, at the cost of one relaxed load.
pub fn join_caller_trace(span: &tracing::Span, headers: &actix_web::http::header::HeaderMap) {
    if !EXPORTING.load(Ordering::Relaxed) {
        return;
    }
    struct Headers<'a>(&'a actix_web::http::header::HeaderMap);
    impl opentelemetry::propagation::Extractor for Headers<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            self.0.get(key).and_then(|v| v.to_str().ok())
        }
        fn keys(&self) -> Vec<&str> {
            self.0
                .keys()
                .map(actix_web::http::header::HeaderName::as_str)
                .collect()
        }
    }
    let parent = opentelemetry::global::get_text_map_propagator(|p| p.extract(&Headers(headers)));
    let _ = span.set_parent(parent);
}

/// The URL spans are posted to: `endpoint` is a collector's base URL (as
/// `OTEL_EXPORTER_OTLP_ENDPOINT`, e.g. `http://collector:4318`), to which
/// the traces path `/v1/traces` is added unless it is already there.
///
/// # Errors
/// Not an `http` or `https` URL, or one with a query.
pub fn traces_url(endpoint: &str) -> anyhow::Result<String> {
    let parsed =
        url::Url::parse(endpoint).map_err(|e| anyhow::anyhow!("GATEHOUSE_OTLP_ENDPOINT: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.query().is_some() {
        anyhow::bail!("GATEHOUSE_OTLP_ENDPOINT must be an http(s) URL without a query");
    }
    let base = endpoint.trim_end_matches('/');
    Ok(if base.ends_with("/v1/traces") {
        base.to_owned()
    } else {
        format!("{base}/v1/traces")
    })
}

/// A tracer provider batching spans to `endpoint` over OTLP/HTTP
/// (protobuf), named `gatehouse` with this build's version.
fn trace_provider(
    endpoint: &str,
    extra_ca_file: Option<&str>,
) -> anyhow::Result<SdkTracerProvider> {
    let client = OtlpClient {
        http: reqwest::Client::builder()
            .use_preconfigured_tls(crate::fetch::client_tls(extra_ca_file)?)
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| anyhow::anyhow!("GATEHOUSE_OTLP_ENDPOINT client: {e}"))?,
        runtime: tokio::runtime::Handle::try_current()
            .map_err(|_| anyhow::anyhow!("traces are exported from within the runtime"))?,
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(traces_url(endpoint)?)
        .build()
        .map_err(|e| anyhow::anyhow!("GATEHOUSE_OTLP_ENDPOINT: {e}"))?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name("gatehouse")
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

/// The exporter's HTTP client: the server's own reqwest, its requests run
/// as tasks on the server's runtime. The batch exporter works on a thread
/// of its own, outside any runtime, and awaits the task's handle there.
#[derive(Debug)]
struct OtlpClient {
    http: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for OtlpClient {
    async fn send_bytes(
        &self,
        request: opentelemetry_http::Request<opentelemetry_http::Bytes>,
    ) -> Result<
        opentelemetry_http::Response<opentelemetry_http::Bytes>,
        opentelemetry_http::HttpError,
    > {
        let http = self.http.clone();
        let request = reqwest::Request::try_from(request)?;
        let sent = self.runtime.spawn(async move {
            let response = http.execute(request).await?;
            let mut answer = opentelemetry_http::Response::builder().status(response.status());
            if let Some(headers) = answer.headers_mut() {
                headers.extend(response.headers().clone());
            }
            let body = response.bytes().await?;
            Ok::<_, opentelemetry_http::HttpError>(answer.body(body)?)
        });
        sent.await?
    }
}

/// The JSON formatting layer writing to `writer`; it needs [`SpanFields`]
/// in the same subscriber to see span fields.
pub fn json_layer<S, W>(writer: W) -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(false)
        .event_format(FlatJson)
}

/// Records every span's fields as JSON values in the span's extensions,
/// including fields recorded after the span began (`Span::record`), for
/// [`FlatJson`] to merge into each event.
#[derive(Debug, Clone, Copy, Default)]
pub struct SpanFields;

/// What [`SpanFields`] keeps for one span.
struct Fields(Map<String, Value>);

impl<S> Layer<S> for SpanFields
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = Map::new();
        attrs.record(&mut JsonVisitor(&mut fields));
        span.extensions_mut().insert(Fields(fields));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        if let Some(Fields(fields)) = ext.get_mut::<Fields>() {
            values.record(&mut JsonVisitor(fields));
        }
    }
}

/// One flat JSON object a line (see the module docs). Keys of inner spans
/// override outer ones; the event's own fields override both; `time`,
/// `level`, `target` and `message` are always the event's.
#[derive(Debug, Clone, Copy, Default)]
pub struct FlatJson;

impl<S, N> FormatEvent<S, N> for FlatJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = Map::new();
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                if let Some(Fields(fields)) = span.extensions().get::<Fields>() {
                    line.extend(fields.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
            }
        }
        event.record(&mut JsonVisitor(&mut line));
        let meta = event.metadata();
        let time = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let message = line
            .remove("message")
            .unwrap_or_else(|| Value::String(String::new()));
        // The four fixed keys first, in this order, for people reading a
        // raw line; then the fields, sorted.
        let mut text = String::with_capacity(256);
        let mut put = |key: &str, value: &Value| -> fmt::Result {
            text.push(if text.is_empty() { '{' } else { ',' });
            text.push_str(&serde_json::to_string(key).map_err(|_| fmt::Error)?);
            text.push(':');
            text.push_str(&serde_json::to_string(value).map_err(|_| fmt::Error)?);
            Ok(())
        };
        put("time", &Value::String(time))?;
        put("level", &Value::String(meta.level().to_string()))?;
        put("target", &Value::String(meta.target().to_owned()))?;
        put("message", &message)?;
        for key in ["time", "level", "target"] {
            line.remove(key);
        }
        for (key, value) in &line {
            put(key, value)?;
        }
        text.push('}');
        writeln!(writer, "{text}")
    }
}

/// Collects fields as JSON values: numbers and booleans as themselves,
/// everything else as its `Display` or `Debug` text.
struct JsonVisitor<'a>(&'a mut Map<String, Value>);

impl Visit for JsonVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), Value::String(format!("{value:?}")));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .insert(field.name().to_owned(), Value::String(value.to_owned()));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Value::Bool(value));
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[test]
    fn the_otlp_endpoint_is_a_collectors_base_url() {
        for (given, posted) in [
            ("http://collector:4318", "http://collector:4318/v1/traces"),
            ("http://collector:4318/", "http://collector:4318/v1/traces"),
            (
                "https://otel.example/otlp",
                "https://otel.example/otlp/v1/traces",
            ),
            (
                "http://127.0.0.1:4318/v1/traces",
                "http://127.0.0.1:4318/v1/traces",
            ),
        ] {
            assert_eq!(traces_url(given).unwrap(), posted, "{given}");
        }
        for bad in [
            "collector:4318",
            "grpc://collector:4317",
            "http://c/?x=1",
            "",
        ] {
            let e = traces_url(bad).unwrap_err().to_string();
            assert!(e.contains("GATEHOUSE_OTLP_ENDPOINT"), "{bad}: {e}");
        }
    }

    /// A writer tests can read back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Captured {
        type Writer = Captured;
        fn make_writer(&'w self) -> Self::Writer {
            self.clone()
        }
    }

    fn lines(out: &Captured) -> Vec<Value> {
        String::from_utf8(out.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).expect("every line is one JSON object"))
            .collect()
    }

    #[test]
    fn json_lines_are_flat_and_carry_every_enclosing_spans_fields() {
        let out = Captured::default();
        let subscriber = tracing_subscriber::registry()
            .with(SpanFields)
            .with(json_layer(out.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let request = tracing::info_span!("request", request_id = "req-1", route = "/token");
            let _r = request.enter();
            let service =
                tracing::info_span!("token", client_id = "app", user = tracing::field::Empty);
            let _s = service.enter();
            service.record("user", "u-7");
            tracing::warn!(
                error = "invalid_grant",
                attempt = 2_u64,
                "token refused \"quoted\"\nnewline"
            );
        });
        let got = lines(&out);
        assert_eq!(got.len(), 1);
        let l = &got[0];
        assert_eq!(l["level"], "WARN");
        assert_eq!(l["message"], "token refused \"quoted\"\nnewline");
        assert_eq!(l["request_id"], "req-1");
        assert_eq!(l["route"], "/token");
        assert_eq!(l["client_id"], "app");
        assert_eq!(l["user"], "u-7", "fields recorded later are kept");
        assert_eq!(l["error"], "invalid_grant");
        assert_eq!(l["attempt"], 2);
        assert!(l["target"].as_str().unwrap().contains("telemetry"));
        assert!(
            time::OffsetDateTime::parse(
                l["time"].as_str().unwrap(),
                &time::format_description::well_known::Rfc3339
            )
            .is_ok()
        );
    }

    #[test]
    fn events_outside_any_span_are_lines_too() {
        let out = Captured::default();
        let subscriber = tracing_subscriber::registry()
            .with(SpanFields)
            .with(json_layer(out.clone()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("started");
            tracing::info!(target: "gatehouse::audit", kind = "sign_in.failed");
        });
        let got = lines(&out);
        assert_eq!(got[0]["message"], "started");
        assert!(got[0].get("request_id").is_none());
        assert_eq!(got[1]["target"], "gatehouse::audit");
        assert_eq!(got[1]["message"], "", "every line has a message key");
        let raw = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert!(raw.starts_with("{\"time\":"), "{raw}");
        assert!(raw.contains(",\"level\":\"INFO\",\"target\":"), "{raw}");
    }

    #[test]
    fn the_format_is_read_from_lowercase_names() {
        let f: LogFormat = serde_json::from_str("\"json\"").unwrap();
        assert_eq!(f, LogFormat::Json);
        assert!(serde_json::from_str::<LogFormat>("\"xml\"").is_err());
        assert_eq!(LogFormat::default(), LogFormat::Text);
    }
}
