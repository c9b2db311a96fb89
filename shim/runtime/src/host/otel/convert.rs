//! A guest's finished span (`wasi:otel/tracing` `span-data`) as an exportable span,
//! bounded: ids must be well-formed hex or the span is refused; names and string
//! values are cut at [`MAX_ATTRIBUTE_BYTES`]; at most [`MAX_ITEMS`] attributes,
//! events, links and array elements are kept, the rest counted as dropped.

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{
    Event, Link, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{Array, InstrumentationScope, KeyValue, StringValue, Value};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use wasmtime_wasi::p2::bindings::clocks::wall_clock::Datetime;

use crate::host::bindings::otel::wasi::otel::{tracing as wasi, types};
use crate::telemetry::MAX_ATTRIBUTE_BYTES;

/// Most attributes (per span, event, link or scope), events, links and array
/// elements kept of a guest span: OpenTelemetry's default span limit.
pub const MAX_ITEMS: usize = 128;

/// The guest's span context; `None` when its ids are not well-formed.
pub fn span_context(context: &wasi::SpanContext) -> Option<SpanContext> {
    let trace_id = TraceId::from_hex(&context.trace_id).ok()?;
    let span_id = SpanId::from_hex(&context.span_id).ok()?;
    if trace_id == TraceId::INVALID || span_id == SpanId::INVALID {
        return None;
    }
    let flags = if context.trace_flags.contains(wasi::TraceFlags::SAMPLED) {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    let state = TraceState::from_key_value(
        context
            .trace_state
            .iter()
            .take(MAX_ITEMS)
            .map(|(k, v)| (k.as_str(), v.as_str())),
    )
    .unwrap_or_default();
    Some(SpanContext::new(
        trace_id,
        span_id,
        flags,
        context.is_remote,
        state,
    ))
}

/// A host span context as the guest sees it (all-zero ids for an invalid one).
pub fn to_guest(context: &SpanContext) -> wasi::SpanContext {
    wasi::SpanContext {
        trace_id: context.trace_id().to_string(),
        span_id: context.span_id().to_string(),
        trace_flags: if context.is_sampled() {
            wasi::TraceFlags::SAMPLED
        } else {
            wasi::TraceFlags::empty()
        },
        is_remote: context.is_remote(),
        trace_state: context
            .trace_state()
            .header()
            .split(',')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

/// The guest's finished span; `None` when its context is not well-formed.
pub fn span_data(span: wasi::SpanData) -> Option<SpanData> {
    let context = span_context(&span.span_context)?;
    let parent_span_id = SpanId::from_hex(&span.parent_span_id).unwrap_or(SpanId::INVALID);
    let (kept, dropped) = attributes(span.attributes);
    let mut events = SpanEvents::default();
    events.dropped_count = span
        .dropped_events
        .saturating_add(count(span.events.len().saturating_sub(MAX_ITEMS)));
    events.events = span
        .events
        .into_iter()
        .take(MAX_ITEMS)
        .map(|event| {
            let (kept, dropped) = attributes(event.attributes);
            Event::new(cut(event.name), time(event.time), kept, dropped)
        })
        .collect();
    let mut links = SpanLinks::default();
    links.dropped_count = span
        .dropped_links
        .saturating_add(count(span.links.len().saturating_sub(MAX_ITEMS)));
    links.links = span
        .links
        .into_iter()
        .take(MAX_ITEMS)
        .filter_map(|link| {
            let linked = span_context(&link.span_context)?;
            let (kept, dropped) = attributes(link.attributes);
            Some(Link::new(linked, kept, dropped))
        })
        .collect();
    Some(SpanData {
        span_context: context,
        parent_span_id,
        parent_span_is_remote: false,
        span_kind: match span.span_kind {
            wasi::SpanKind::Client => SpanKind::Client,
            wasi::SpanKind::Server => SpanKind::Server,
            wasi::SpanKind::Producer => SpanKind::Producer,
            wasi::SpanKind::Consumer => SpanKind::Consumer,
            wasi::SpanKind::Internal => SpanKind::Internal,
        },
        name: cut(span.name),
        start_time: time(span.start_time),
        end_time: time(span.end_time),
        attributes: kept,
        dropped_attributes_count: span.dropped_attributes.saturating_add(dropped),
        events,
        links,
        status: match span.status {
            wasi::Status::Unset => Status::Unset,
            wasi::Status::Ok => Status::Ok,
            wasi::Status::Error(description) => Status::error(cut(description)),
        },
        instrumentation_scope: scope(span.instrumentation_scope),
    })
}

fn scope(scope: types::InstrumentationScope) -> InstrumentationScope {
    let mut builder = InstrumentationScope::builder(cut(scope.name))
        .with_attributes(attributes(scope.attributes).0);
    if let Some(version) = scope.version {
        builder = builder.with_version(cut(version));
    }
    if let Some(url) = scope.schema_url {
        builder = builder.with_schema_url(cut(url));
    }
    builder.build()
}

/// At most [`MAX_ITEMS`] attributes, and how many more there were.
pub fn attributes(list: Vec<types::KeyValue>) -> (Vec<KeyValue>, u32) {
    let dropped = count(list.len().saturating_sub(MAX_ITEMS));
    let kept = list
        .into_iter()
        .take(MAX_ITEMS)
        .map(|kv| KeyValue::new(cut(kv.key), value(&kv.value)))
        .collect();
    (kept, dropped)
}

/// An attribute value: `wasi:otel` sends JSON (a string, boolean, number, or an array
/// of one of those). Anything else is kept as its text.
pub fn value(json: &str) -> Value {
    use serde_json::Value as Json;
    let text = |s: &str| Value::String(cut(s.to_string()).into());
    let Ok(parsed) = serde_json::from_str::<Json>(json) else {
        return text(json);
    };
    match parsed {
        Json::String(s) => text(&s),
        Json::Bool(b) => Value::Bool(b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::I64(i),
            None => n.as_f64().map(Value::F64).unwrap_or_else(|| text(json)),
        },
        Json::Array(items) => array(&items)
            .map(Value::Array)
            .unwrap_or_else(|| text(json)),
        Json::Null | Json::Object(_) => text(json),
    }
}

/// A homogeneous array (its first [`MAX_ITEMS`] elements); `None` for a mixed one.
fn array(items: &[serde_json::Value]) -> Option<Array> {
    let items = &items[..items.len().min(MAX_ITEMS)];
    let all = |f: fn(&serde_json::Value) -> bool| items.iter().all(f);
    if all(|v| v.is_string()) {
        Some(Array::String(
            items
                .iter()
                .filter_map(|v| v.as_str())
                .map(|s| StringValue::from(cut(s.to_string())))
                .collect(),
        ))
    } else if all(|v| v.is_boolean()) {
        Some(Array::Bool(
            items.iter().filter_map(|v| v.as_bool()).collect(),
        ))
    } else if all(|v| v.is_i64()) {
        Some(Array::I64(
            items.iter().filter_map(|v| v.as_i64()).collect(),
        ))
    } else if all(|v| v.is_number()) {
        Some(Array::F64(
            items.iter().filter_map(|v| v.as_f64()).collect(),
        ))
    } else {
        None
    }
}

/// A guest timestamp; one out of range reads as now.
pub fn time(at: Datetime) -> SystemTime {
    UNIX_EPOCH
        .checked_add(Duration::new(at.seconds, at.nanoseconds.min(999_999_999)))
        .unwrap_or_else(SystemTime::now)
}

/// `text` cut at [`MAX_ATTRIBUTE_BYTES`] on a character boundary.
pub fn cut(mut text: String) -> Cow<'static, str> {
    if text.len() > MAX_ATTRIBUTE_BYTES {
        let mut end = MAX_ATTRIBUTE_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    Cow::Owned(text)
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(trace: &str, span: &str) -> wasi::SpanContext {
        wasi::SpanContext {
            trace_id: trace.into(),
            span_id: span.into(),
            trace_flags: wasi::TraceFlags::SAMPLED,
            is_remote: false,
            trace_state: vec![("vendor".into(), "x".into())],
        }
    }

    fn span(name: &str, attributes: Vec<types::KeyValue>) -> wasi::SpanData {
        let at = Datetime {
            seconds: 1_700_000_000,
            nanoseconds: 5,
        };
        wasi::SpanData {
            span_context: context("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"),
            parent_span_id: "a3ce929d0e0e4736".into(),
            span_kind: wasi::SpanKind::Internal,
            name: name.into(),
            start_time: at,
            end_time: at,
            attributes,
            events: vec![],
            links: vec![],
            status: wasi::Status::Error("boom".into()),
            instrumentation_scope: types::InstrumentationScope {
                name: "guest-lib".into(),
                version: Some("1.0".into()),
                schema_url: None,
                attributes: vec![],
            },
            dropped_attributes: 1,
            dropped_events: 0,
            dropped_links: 0,
        }
    }

    fn kv(key: &str, json: &str) -> types::KeyValue {
        types::KeyValue {
            key: key.into(),
            value: json.into(),
        }
    }

    #[test]
    fn a_guest_span_keeps_its_ids_parent_scope_and_typed_attributes() {
        let attributes = vec![
            kv("s", r#""text""#),
            kv("b", "true"),
            kv("i", "42"),
            kv("f", "1.5"),
            kv("list", r#"["a","b"]"#),
            kv("mixed", r#"[1,"a"]"#),
            kv("raw", "not json"),
        ];
        let data = span_data(span("work", attributes)).unwrap();
        assert_eq!(
            data.span_context.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(data.span_context.span_id().to_string(), "00f067aa0ba902b7");
        assert!(data.span_context.is_sampled());
        assert_eq!(data.parent_span_id.to_string(), "a3ce929d0e0e4736");
        assert_eq!(data.instrumentation_scope.name(), "guest-lib");
        assert_eq!(data.status, Status::error("boom"));
        assert_eq!(data.dropped_attributes_count, 1);
        let values: Vec<String> = data
            .attributes
            .iter()
            .map(|kv| format!("{:?}", kv.value))
            .collect();
        assert_eq!(
            values,
            [
                r#"String(Owned("text"))"#,
                "Bool(true)",
                "I64(42)",
                "F64(1.5)",
                r#"Array(String([Owned("a"), Owned("b")]))"#,
                r#"String(Owned("[1,\"a\"]"))"#,
                r#"String(Owned("not json"))"#,
            ]
        );
    }

    #[test]
    fn malformed_ids_refuse_the_span_and_a_missing_parent_makes_a_root() {
        let mut bad = span("x", vec![]);
        bad.span_context.trace_id = "zz".into();
        assert!(span_data(bad).is_none());
        let mut zero = span("x", vec![]);
        zero.span_context.span_id = "0000000000000000".into();
        assert!(span_data(zero).is_none());
        let mut root = span("x", vec![]);
        root.parent_span_id = String::new();
        assert_eq!(span_data(root).unwrap().parent_span_id, SpanId::INVALID);
    }

    #[test]
    fn oversized_guest_spans_are_cut_and_the_rest_counted() {
        let many = (0..MAX_ITEMS + 10)
            .map(|i| {
                kv(
                    &format!("k{i}"),
                    &format!("\"{}\"", "é".repeat(MAX_ATTRIBUTE_BYTES)),
                )
            })
            .collect();
        let mut big = span(&"n".repeat(10 * MAX_ATTRIBUTE_BYTES), many);
        big.events = (0..MAX_ITEMS + 3)
            .map(|_| wasi::Event {
                name: "e".into(),
                time: Datetime {
                    seconds: u64::MAX,
                    nanoseconds: u32::MAX,
                },
                attributes: vec![],
            })
            .collect();
        let data = span_data(big).unwrap();
        assert_eq!(data.name.len(), MAX_ATTRIBUTE_BYTES);
        assert_eq!(data.attributes.len(), MAX_ITEMS);
        assert_eq!(data.dropped_attributes_count, 1 + 10);
        assert!(
            data.attributes
                .iter()
                .all(|kv| kv.value.as_str().len() <= MAX_ATTRIBUTE_BYTES)
        );
        assert_eq!(data.events.len(), MAX_ITEMS);
        assert_eq!(data.events.dropped_count, 3);
    }

    #[test]
    fn the_host_context_reaches_the_guest_and_back_unchanged() {
        let guest = context("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
        let host = span_context(&guest).unwrap();
        let back = to_guest(&host);
        assert_eq!(back.trace_id, guest.trace_id);
        assert_eq!(back.span_id, guest.span_id);
        assert_eq!(back.trace_state, guest.trace_state);
        assert!(back.trace_flags.contains(wasi::TraceFlags::SAMPLED));
        let none = to_guest(&SpanContext::NONE);
        assert_eq!(none.trace_id, "0".repeat(32));
        assert!(none.trace_state.is_empty());
    }
}
