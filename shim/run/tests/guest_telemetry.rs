//! `wasi:otel` from a real app: `examples/otel-python` (spin-sdk 5, componentize-py
//! 0.25.1, WASIp3) adds its own span to the request's trace, makes key-value calls
//! inside it, exports a counter and emits a log record, under the real `spin-run` with
//! a real OTLP receiver.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use spin_kube_e2e::otlp::{MetricValue, ReceivedSpan};
use support::{Runner, built_sample, only_span, receiver, request};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

fn sample() -> Option<PathBuf> {
    built_sample(
        "otel-python",
        "../build-python.sh 5.0.0 0.25.1 example:otel-app/http-app@0.1.0",
    )
}

/// The app in a scratch folder, so its key-value data stays out of the source tree.
fn app_copy(dir: &Path) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    for name in ["spin.toml", "app.wasm"] {
        std::fs::copy(dir.join(name), copy.path().join(name)).unwrap();
    }
    copy
}

fn cache_dir() -> String {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("otel-python-compiled");
    dir.to_string_lossy().into_owned()
}

/// The guest's span is a child of the component's run in the caller's trace, keeps
/// its own scope and attributes, and the key-value calls made while it was open are
/// its children; its counter reaches the metrics collector with its own resource; its
/// log record is a line of the component's log.
#[test]
fn a_guest_span_joins_the_request_trace_and_host_calls_hang_under_it() {
    let Some(dir) = sample() else { return };
    let app = app_copy(&dir);
    let (runtime, receiver) = receiver();
    let run = Runner::start(
        app.path(),
        &["--cache-dir", &cache_dir()],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.grpc_endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_BSP_SCHEDULE_DELAY", "50"),
        ],
    )
    .unwrap();
    let traceparent = format!("00-{TRACE_ID}-00f067aa0ba902b7-01");
    let r = request(run.addr, "GET", "/", &[("traceparent", &traceparent)], b"");
    assert_eq!(r.status, 200, "{}", run.log());
    assert_eq!(r.body, format!("visit 1, trace {TRACE_ID}\n"));

    let in_trace = |spans: &[ReceivedSpan]| -> Vec<ReceivedSpan> {
        spans
            .iter()
            .filter(|s| s.trace_id == TRACE_ID)
            .cloned()
            .collect()
    };
    let spans = runtime
        .block_on(receiver.wait_for(Duration::from_secs(30), |spans| {
            // The guest's span and its calls end before the run's span does, so they
            // may come in an earlier export: wait for all of them.
            let spans = in_trace(spans);
            spans.iter().any(|s| s.name == "count-visit")
                && spans
                    .iter()
                    .any(|s| s.name == "execute_wasm_component traced")
                && spans
                    .iter()
                    .filter(|s| s.name.starts_with("spin_key_value."))
                    .count()
                    >= 2
        }))
        .unwrap();
    let spans = in_trace(&spans);
    let run_span = only_span(&spans, |s| s.name == "execute_wasm_component traced");
    let guest = only_span(&spans, |s| s.name == "count-visit");
    assert_eq!(guest.parent_span_id, run_span.span_id, "{spans:#?}");
    assert_eq!(guest.scope, "otel-python");
    assert_eq!(guest.kind, 1);
    assert_eq!(guest.status_code, 1);
    assert_eq!(guest.attribute("visits"), Some("1"));
    let host_calls: Vec<_> = spans
        .iter()
        .filter(|s| s.name.starts_with("spin_key_value."))
        .collect();
    assert!(
        host_calls.iter().all(|s| s.parent_span_id == guest.span_id),
        "{spans:#?}"
    );

    let points = runtime
        .block_on(receiver.wait_for_points(Duration::from_secs(30), |points| {
            points.iter().any(|p| p.metric == "visits")
        }))
        .unwrap();
    let visits: Vec<_> = points.iter().filter(|p| p.metric == "visits").collect();
    assert_eq!(visits.len(), 1, "{points:#?}");
    assert_eq!(visits[0].value, MetricValue::Number(1.0));
    assert_eq!(visits[0].attribute("page"), Some("/"));
    assert_eq!(visits[0].unit, "1");
    assert_eq!(
        visits[0]
            .resource
            .iter()
            .find(|(k, _)| k == "service.name")
            .map(|(_, v)| v.as_str()),
        Some("otel-python")
    );
    assert_eq!(visits[0].via, "grpc");

    let log = run.log();
    let line = log
        .lines()
        .find(|l| l.contains("visit 1 counted"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(line.contains("INFO") && line.contains("traced"), "{line}");
}

/// Without a collector, the guest's tracing and metrics calls do nothing and cost it
/// nothing: it gets an all-zero outer context (and starts a trace of its own), its
/// export succeeds, and it still logs.
#[test]
fn without_a_collector_wasi_otel_calls_still_serve() {
    let Some(dir) = sample() else { return };
    let app = app_copy(&dir);
    let run = Runner::start(app.path(), &["--cache-dir", &cache_dir()], &[]).unwrap();
    for visit in 1..=2 {
        let r = run.get("/");
        assert_eq!(r.status, 200, "{}", run.log());
        assert!(
            r.body.starts_with(&format!("visit {visit}, trace ")),
            "{}",
            r.body
        );
        assert!(!r.body.contains(&"0".repeat(32)), "{}", r.body);
        assert!(!r.body.contains("metrics"), "{}", r.body);
    }
    assert!(run.log().contains("visit 2 counted"), "{}", run.log());
}
