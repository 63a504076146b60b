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

use std::fmt;
use std::io::IsTerminal as _;

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

/// Installs the process's logger: `RUST_LOG` (else `default_filter`, such
/// as `info` for the server and `warn` for the operator's commands, whose
/// answer is their output) decides what is logged, `format` how. Call
/// once, before anything logs.
pub fn init(format: LogFormat, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let registry = tracing_subscriber::registry().with(filter);
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
