//! OpenTelemetry traces from the real `spin-run`, received by a real OTLP receiver
//! (`spin_kube_e2e::otlp`, on the official OTLP protobuf definitions) over both
//! protocols: the spans of a request, their parent/child links across an SDK app's
//! outbound call, and an unreachable collector costing the requests nothing.

mod support;

use std::time::Duration;

use support::{Runner, built_sample, only_span, receiver, request};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// `examples/chain-python` (spin-sdk 5, WASIp3) calling its backend in-process: one
/// trace from the caller's `traceparent` through the frontend, its outbound request
/// and the backend it reached, each span under the one before.
#[test]
fn a_request_and_its_outbound_call_are_one_trace_over_http_protobuf() {
    let Some(dir) = built_sample("chain-python", "../build-python.sh 5.0.0 0.25.1") else {
        return;
    };
    let (runtime, receiver) = receiver();
    let run = Runner::start(
        &dir,
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.http_endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "50"),
            ("OTEL_SERVICE_NAME", "shop"),
            ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test"),
        ],
    )
    .unwrap();
    let traceparent = format!("00-{TRACE_ID}-{CALLER_SPAN}-01");
    let r = request(
        run.addr,
        "GET",
        "/?q=1",
        &[("traceparent", &traceparent), ("user-agent", "trace-test")],
        b"",
    );
    assert_eq!(r.status, 200, "{}", run.log());
    let spans = runtime
        .block_on(receiver.wait_for(Duration::from_secs(30), |spans| {
            spans.iter().filter(|s| s.trace_id == TRACE_ID).count() >= 5
        }))
        .unwrap();
    let spans: Vec<_> = spans
        .into_iter()
        .filter(|s| s.trace_id == TRACE_ID)
        .collect();
    assert_eq!(spans.len(), 5, "{spans:#?}");
    assert!(spans.iter().all(|s| s.via == "http"));

    let server = only_span(&spans, |s| s.parent_span_id == CALLER_SPAN);
    assert_eq!((server.name.as_str(), server.kind), ("GET /...", 2));
    assert_eq!(server.attribute("http.request.method"), Some("GET"));
    assert_eq!(server.attribute("http.route"), Some("/..."));
    assert_eq!(server.attribute("url.path"), Some("/"));
    assert_eq!(server.attribute("url.query"), Some("q=1"));
    assert_eq!(server.attribute("user_agent.original"), Some("trace-test"));
    assert_eq!(server.attribute("http.response.status_code"), Some("200"));
    assert_eq!(server.attribute("spin.app_name"), Some("chain-python"));
    assert_eq!(server.attribute("network.peer.address"), Some("127.0.0.1"));
    assert_eq!(server.resource_attribute("service.name"), Some("shop"));
    assert_eq!(
        server.resource_attribute("deployment.environment"),
        Some("test")
    );

    let frontend = only_span(&spans, |s| s.parent_span_id == server.span_id);
    assert_eq!(frontend.name, "execute_wasm_component frontend");
    assert_eq!(frontend.attribute("spin.component_id"), Some("frontend"));

    let outbound = only_span(&spans, |s| s.parent_span_id == frontend.span_id);
    assert_eq!((outbound.name.as_str(), outbound.kind), ("GET", 3));
    assert_eq!(
        outbound.attribute("url.full"),
        Some("http://backend.spin.internal:80/greet")
    );
    assert_eq!(
        outbound.attribute("server.address"),
        Some("backend.spin.internal")
    );
    assert_eq!(outbound.attribute("http.response.status_code"), Some("200"));

    // The backend got the outbound span in `traceparent`.
    let backend_server = only_span(&spans, |s| s.parent_span_id == outbound.span_id);
    assert_eq!(
        (backend_server.name.as_str(), backend_server.kind),
        ("GET /...", 2)
    );
    assert_eq!(backend_server.attribute("network.peer.address"), None);
    let backend = only_span(&spans, |s| s.parent_span_id == backend_server.span_id);
    assert_eq!(backend.name, "execute_wasm_component backend");

    // A request without `traceparent` starts a trace of its own.
    assert_eq!(run.get("/api/x").status, 200);
    let spans = runtime
        .block_on(receiver.wait_for(Duration::from_secs(30), |spans| {
            spans
                .iter()
                .any(|s| s.attribute("url.path") == Some("/api/x") && s.parent_span_id.is_empty())
        }))
        .unwrap();
    let root = only_span(&spans, |s| s.attribute("url.path") == Some("/api/x"));
    assert_ne!(root.trace_id, TRACE_ID);
}

/// The same over OTLP/gRPC, and a failing guest marks its spans failed.
#[test]
fn spans_go_over_grpc_and_a_failed_request_is_marked() {
    let Some(dir) = built_sample("chain-python", "../build-python.sh 5.0.0 0.25.1") else {
        return;
    };
    let (runtime, receiver) = receiver();
    let run = Runner::start(
        &dir,
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.grpc_endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_BSP_SCHEDULE_DELAY", "50"),
        ],
    )
    .unwrap();
    // Not in the frontend's allowed_outbound_hosts: the app answers 502.
    assert_eq!(run.get("/undeclared").status, 502);
    let spans = runtime
        .block_on(receiver.wait_for(Duration::from_secs(30), |spans| {
            spans.iter().any(|s| s.kind == 2) && spans.iter().any(|s| s.kind == 3)
        }))
        .unwrap();
    assert!(spans.iter().all(|s| s.via == "grpc"));
    let server = only_span(&spans, |s| s.kind == 2);
    assert_eq!(server.resource_attribute("service.name"), Some("spin"));
    assert_eq!(server.attribute("http.response.status_code"), Some("502"));
    let outbound = only_span(&spans, |s| s.kind == 3);
    assert_eq!(outbound.status_code, 2, "{outbound:#?}");
    assert!(outbound.status_message.contains("denied"), "{outbound:#?}");
}

/// A collector that refuses connections: every request is still served, the failure
/// is logged once rather than per request, and spin-run stops promptly.
#[test]
fn an_unreachable_collector_costs_the_requests_nothing() {
    let Some(dir) = built_sample("hello-python-sdk5", "../build-python.sh 5.0.0 0.25.1") else {
        return;
    };
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut run = Runner::start(
        &dir,
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "10"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "1"),
        ],
    )
    .unwrap();
    for _ in 0..50 {
        assert_eq!(run.get("/").status, 200, "{}", run.log());
    }
    run.wait_for_log("exporting spans failed");
    let log = run.log();
    assert_eq!(
        log.matches("exporting spans failed").count(),
        1,
        "logged once a minute at most: {log}"
    );
    let stopped = std::time::Instant::now();
    run.stop();
    assert!(stopped.elapsed() < Duration::from_secs(10));
    assert!(
        run.log().contains("spans were not exported"),
        "{}",
        run.log()
    );
}
