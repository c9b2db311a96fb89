//! `wasi:otel@0.2.0-rc.2`: a guest's own telemetry, joined to the runtime's.
//!
//! - **Tracing.** `outer-span-context` answers the span of the component's run, so the
//!   spans a guest's OpenTelemetry SDK starts belong to the request's trace, under the
//!   runtime's `execute_wasm_component` span. `on-start` tells the host a guest span
//!   began: until it ends, the host calls the instance makes (outbound HTTP, Redis,
//!   databases, ...) hang under it (under the latest one started, of those still
//!   open). `on-end` hands the finished span over; it goes out with the runtime's own
//!   spans, through the same bounded queue, cut to size by [`convert`]. A span ended
//!   that was never started is exported all the same; one whose ids are not
//!   well-formed hex is dropped. When traces are off, tracing calls do nothing and the
//!   outer span context is all zeros (not sampled), as in Spin without a collector.
//! - **Logs.** Each record becomes a line of the component's log, like its stdout
//!   (what `kubectl logs` shows): the body, at the record's severity number (1–8
//!   DEBUG, 9–12 or none INFO, 13–16 WARN, 17–24 ERROR), cut at the component's
//!   longest log line.
//!   This runtime has no OTLP log exporter.
//! - **Metrics.** `export` queues the guest's metrics for the app's metrics collector
//!   (the destination of the runtime's own metrics) and returns at once; the guest
//!   hears an error when the queue is full or the export is over [`metric_data`]'s
//!   bounds. When metrics are off it does nothing.
//!
//! Unlike Spin, which links these only with `--experimental-wasi-otel`, they are
//! always linked: a guest that imports them runs, and its telemetry is exported when
//! the app's environment names a collector.

mod convert;
mod metric_data;

use opentelemetry::trace::{SpanContext, SpanId};
use wasmtime::component::{HasData, Linker};

use crate::host::bindings::otel::wasi::otel::{logs, metrics, tracing as wasi_tracing, types};
use crate::telemetry::{TelemetryLink, TraceParent};

/// Most guest spans tracked as open at once per instance; a span started past it is
/// still exported when it ends, but host calls do not hang under it.
pub const MAX_OPEN_GUEST_SPANS: usize = 64;

/// The guest spans an instance has open, newest last.
#[derive(Debug, Default)]
pub struct GuestSpans {
    /// The component's run: where host calls hang while no guest span is open.
    run: TraceParent,
    open: Vec<SpanContext>,
}

impl GuestSpans {
    pub fn new(run: TraceParent) -> Self {
        Self {
            run,
            open: Vec::new(),
        }
    }

    /// Where host calls hang now.
    fn current(&self) -> TraceParent {
        match self.open.last() {
            Some(guest) => self.run.under(guest.clone()),
            None => self.run.clone(),
        }
    }
}

/// What the `wasi:otel` functions run on.
pub struct OtelView<'a> {
    /// The component's id, for its log lines.
    pub component: &'a str,
    /// Longest log line kept whole.
    pub max_log_line: usize,
    /// Where its metrics go.
    pub telemetry: &'a TelemetryLink,
    pub spans: &'a mut GuestSpans,
    /// Where the Spin capabilities' calls hang.
    pub trace: &'a mut TraceParent,
    /// Where `wasi:http` requests hang.
    pub http_trace: &'a mut TraceParent,
}

impl OtelView<'_> {
    fn hang_host_calls_under_latest(&mut self) {
        let current = self.spans.current();
        *self.trace = current.clone();
        *self.http_trace = current;
    }
}

/// `wasi:otel` tracing, metrics and logs.
pub struct Otel;

impl HasData for Otel {
    type Data<'a> = OtelView<'a>;
}

impl Otel {
    pub fn add_to_linker<T: Send + 'static>(
        linker: &mut Linker<T>,
        view: fn(&mut T) -> OtelView<'_>,
    ) -> wasmtime::Result<()> {
        types::add_to_linker::<T, Self>(linker, view)?;
        wasi_tracing::add_to_linker::<T, Self>(linker, view)?;
        metrics::add_to_linker::<T, Self>(linker, view)?;
        logs::add_to_linker::<T, Self>(linker, view)
    }
}

impl types::Host for OtelView<'_> {}

impl wasi_tracing::Host for OtelView<'_> {
    fn on_start(&mut self, context: wasi_tracing::SpanContext) {
        if !self.spans.run.is_on() || self.spans.open.len() >= MAX_OPEN_GUEST_SPANS {
            return;
        }
        if let Some(context) = convert::span_context(&context) {
            self.spans.open.push(context);
            self.hang_host_calls_under_latest();
        }
    }

    fn on_end(&mut self, span: wasi_tracing::SpanData) {
        if !self.spans.run.is_on() {
            return;
        }
        let Some(span) = convert::span_data(span) else {
            tracing::debug!(
                component = self.component,
                "a guest span with malformed ids was dropped"
            );
            return;
        };
        let id: SpanId = span.span_context.span_id();
        if let Some(at) = self.spans.open.iter().rposition(|c| c.span_id() == id) {
            self.spans.open.remove(at);
            self.hang_host_calls_under_latest();
        }
        self.spans.run.export(span);
    }

    fn outer_span_context(&mut self) -> wasi_tracing::SpanContext {
        convert::to_guest(&self.spans.run.span_context())
    }
}

impl metrics::Host for OtelView<'_> {
    fn export(&mut self, metrics: metrics::ResourceMetrics) -> Result<(), metrics::Error> {
        self.telemetry
            .export_guest_metrics(|| metric_data::export_request(metrics))
            .map_err(|problem| format!("wasi:otel/metrics export: {problem}"))
    }
}

impl logs::Host for OtelView<'_> {
    fn on_emit(&mut self, record: logs::LogRecord) {
        let body = record.body.as_deref().map(log_text).unwrap_or_default();
        let name = record.event_name.unwrap_or_default();
        let mut line = if name.is_empty() {
            body
        } else if body.is_empty() {
            name
        } else {
            format!("{name}: {body}")
        };
        let max = self.max_log_line;
        if line.len() > max {
            let mut end = max;
            while !line.is_char_boundary(end) {
                end -= 1;
            }
            line.truncate(end);
            line.push_str(&format!(" [line cut at {max} bytes]"));
        }
        let component = self.component;
        match record.severity_number.unwrap_or(9) {
            0..=8 => tracing::debug!(target: "guest", component, "{line}"),
            9..=12 => tracing::info!(target: "guest", component, "{line}"),
            13..=16 => tracing::warn!(target: "guest", component, "{line}"),
            _ => tracing::error!(target: "guest", component, "{line}"),
        }
    }
}

/// A log body: `wasi:otel` sends JSON; a JSON string is shown as its text, anything
/// else as the JSON itself.
fn log_text(json: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(serde_json::Value::String(text)) => text,
        _ => json.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_body_string_is_shown_as_text_and_other_json_as_itself() {
        assert_eq!(log_text(r#""hello \"you\"""#), r#"hello "you""#);
        assert_eq!(log_text(r#"{"a":1}"#), r#"{"a":1}"#);
        assert_eq!(log_text("plain"), "plain");
    }

    #[test]
    fn with_traces_off_guest_spans_change_nothing() {
        let mut spans = GuestSpans::default();
        assert!(!spans.current().is_on());
        spans.open.push(SpanContext::NONE);
        assert!(!spans.current().is_on());
    }
}
