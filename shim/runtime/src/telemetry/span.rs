//! Spans as the runtime makes them: a handle that is nothing at all when traces are off
//! (no allocation, no clock read), and a parent that host calls hang their spans on.

use std::borrow::Cow;
use std::sync::Arc;

use opentelemetry::trace::{
    Span as _, SpanContext, SpanKind, Status, TraceContextExt as _, Tracer as _,
};
use opentelemetry::{Context, KeyValue, Value};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, Span as SdkSpan, SpanData};

use super::export::SpanQueue;

use super::settings::MAX_ATTRIBUTE_BYTES;

/// A span being recorded; it ends (and goes to the export queue) when dropped.
#[derive(Debug, Default)]
pub struct TraceSpan(Option<Live>);

#[derive(Debug)]
struct Live {
    span: SdkSpan,
    source: Arc<SpanSource>,
}

/// What an app's spans are made with and where they go: its tracer, and its export
/// queue (which also takes the spans a guest hands over through `wasi:otel`).
#[derive(Debug)]
pub(super) struct SpanSource {
    pub(super) tracer: SdkTracer,
    pub(super) queue: SpanQueue,
}

/// Where spans of one instance's host calls (outbound HTTP, databases, brokers) hang:
/// the span of the component's run. Cheap to clone; nothing when traces are off.
#[derive(Debug, Clone, Default)]
pub struct TraceParent(Option<Arc<Parent>>);

#[derive(Debug)]
struct Parent {
    source: Arc<SpanSource>,
    context: Context,
}

impl TraceSpan {
    /// A span under `parent` (a remote one from a `traceparent`, or none: a new trace).
    pub(super) fn start(
        source: &Arc<SpanSource>,
        parent: &Context,
        name: impl Into<Cow<'static, str>>,
        kind: SpanKind,
        attributes: Vec<KeyValue>,
    ) -> Self {
        let span = source
            .tracer
            .span_builder(name)
            .with_kind(kind)
            .with_attributes(attributes)
            .start_with_context(&source.tracer, parent);
        Self(Some(Live {
            span,
            source: source.clone(),
        }))
    }

    /// Whether this span is recorded (traces on, and sampled).
    #[cfg(test)]
    pub fn is_recording(&self) -> bool {
        self.0.as_ref().is_some_and(|l| l.span.is_recording())
    }

    /// What spans under this one hang on.
    pub fn parent(&self) -> TraceParent {
        TraceParent(self.0.as_ref().map(|live| {
            Arc::new(Parent {
                source: live.source.clone(),
                context: Context::new().with_remote_span_context(live.span.span_context().clone()),
            })
        }))
    }

    pub fn set(&mut self, attribute: KeyValue) {
        if let Some(live) = &mut self.0 {
            live.span.set_attribute(attribute);
        }
    }

    /// Marks the span failed, with the reason (shown by trace viewers).
    pub fn fail(&mut self, reason: impl Into<Cow<'static, str>>) {
        if let Some(live) = &mut self.0 {
            live.span.set_status(Status::error(reason));
        }
    }

    /// Awaits `call` within this span, which fails with the call's error, if any.
    pub async fn around<T, E: std::fmt::Debug>(
        mut self,
        call: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let done = call.await;
        if let Err(e) = &done {
            self.fail(format!("{e:?}"));
        }
        done
    }

    /// The W3C `traceparent` (and `tracestate`) naming this span, to send on a request
    /// it makes.
    pub fn inject(&self, headers: &mut http::HeaderMap) {
        if let Some(live) = &self.0 {
            inject(live.span.span_context(), headers);
        }
    }
}

impl TraceParent {
    /// A span under the parent; `attributes` is only called when traces are on.
    pub fn span(
        &self,
        name: impl Into<Cow<'static, str>>,
        kind: SpanKind,
        attributes: impl FnOnce() -> Vec<KeyValue>,
    ) -> TraceSpan {
        match &self.0 {
            None => TraceSpan(None),
            Some(parent) => {
                TraceSpan::start(&parent.source, &parent.context, name, kind, attributes())
            }
        }
    }

    /// The span this parent stands for (an invalid one when traces are off).
    pub fn span_context(&self) -> SpanContext {
        match &self.0 {
            None => SpanContext::NONE,
            Some(parent) => parent.context.span().span_context().clone(),
        }
    }

    /// A parent on the same pipeline standing for `span` instead (a guest's span, which
    /// the host calls it makes then hang under); nothing when traces are off.
    pub fn under(&self, span: SpanContext) -> TraceParent {
        TraceParent(self.0.as_ref().map(|parent| {
            Arc::new(Parent {
                source: parent.source.clone(),
                context: Context::new().with_remote_span_context(span),
            })
        }))
    }

    /// Queues a span a guest finished (`wasi:otel`) for export, as the runtime's own
    /// are: never waiting, dropped and counted when the queue is full.
    pub fn export(&self, span: SpanData) {
        if let Some(parent) = &self.0 {
            parent.source.queue.push(span);
        }
    }

    /// Whether spans are recorded at all.
    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }
}

/// The caller's trace context from a request's `traceparent`/`tracestate`; an empty
/// context (a new trace) when it sent none or a malformed one.
pub(super) fn extract(headers: &http::HeaderMap) -> Context {
    use opentelemetry::propagation::TextMapPropagator as _;
    TraceContextPropagator::new().extract(&Headers(headers))
}

fn inject(span: &SpanContext, headers: &mut http::HeaderMap) {
    use opentelemetry::propagation::TextMapPropagator as _;
    let context = Context::new().with_remote_span_context(span.clone());
    TraceContextPropagator::new().inject_context(&context, &mut HeadersMut(headers));
}

struct Headers<'a>(&'a http::HeaderMap);

impl opentelemetry::propagation::Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

struct HeadersMut<'a>(&'a mut http::HeaderMap);

impl opentelemetry::propagation::Injector for HeadersMut<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::try_from(key),
            http::HeaderValue::try_from(value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// A string attribute, cut at [`MAX_ATTRIBUTE_BYTES`] (on a character boundary): values
/// come from clients and guests, and wait in the shim's queue.
pub fn text(key: &'static str, value: &str) -> KeyValue {
    let mut end = value.len().min(MAX_ATTRIBUTE_BYTES);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    KeyValue::new(key, Value::from(value[..end].to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_cut_on_a_character_boundary() {
        let long = "é".repeat(MAX_ATTRIBUTE_BYTES);
        let kv = text("url.path", &long);
        let kept = kv.value.as_str();
        assert!(kept.len() <= MAX_ATTRIBUTE_BYTES);
        assert_eq!(kept.len(), MAX_ATTRIBUTE_BYTES);
        assert!(kept.chars().all(|c| c == 'é'));
    }

    #[test]
    fn off_spans_do_nothing() {
        let span = TraceSpan::default();
        assert!(!span.is_recording());
        let mut headers = http::HeaderMap::new();
        span.inject(&mut headers);
        assert!(headers.is_empty());
        let child = TraceParent::default().span("x", SpanKind::Client, || {
            unreachable!("attributes are not made when traces are off")
        });
        assert!(!child.is_recording());
    }

    #[test]
    fn a_traceparent_is_read_and_a_bad_one_starts_a_new_trace() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "traceparent",
            http::HeaderValue::from_static(
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
        );
        let cx = extract(&headers);
        let remote = cx.span().span_context().clone();
        assert_eq!(
            remote.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert!(remote.is_remote() && remote.is_sampled());
        headers.insert("traceparent", http::HeaderValue::from_static("00-zz-1"));
        assert!(!extract(&headers).span().span_context().is_valid());
    }
}
