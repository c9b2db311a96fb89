//! OpenTelemetry metrics from the real `spin-run`, received by a real OTLP receiver
//! (`spin_kube_e2e::otlp`, on the official OTLP protobuf definitions) over both
//! protocols: request counts and durations, and instance memory, per component of an
//! SDK-built app, sent every interval and once more when the app stops.

mod support;

use std::time::Duration;

use spin_kube_e2e::otlp::{MetricValue, ReceivedPoint};
use support::{Runner, built_sample, receiver};

/// The latest point of `metric` whose attributes include `with`.
fn latest<'p>(
    points: &'p [ReceivedPoint],
    metric: &str,
    with: &[(&str, &str)],
) -> Option<&'p ReceivedPoint> {
    points
        .iter()
        .rev()
        .find(|p| p.metric == metric && with.iter().all(|(k, v)| p.attribute(k) == Some(*v)))
}

/// A counter's value, or a histogram's count.
fn count(point: Option<&ReceivedPoint>) -> u64 {
    match point.map(|p| &p.value) {
        Some(MetricValue::Number(n)) => *n as u64,
        Some(MetricValue::Histogram { count, .. }) => *count,
        None => 0,
    }
}

/// `examples/chain-python` (spin-sdk 5): three requests to the frontend, each calling
/// the backend in-process, counted per component with Spin's `spin.request_count`
/// and timed by `spin.request_duration` and `http.server.request.duration`; metrics
/// only (`OTEL_TRACES_EXPORTER=none`), over OTLP/HTTP.
#[test]
fn requests_are_counted_and_timed_per_component_over_http_protobuf() {
    let Some(dir) = built_sample("chain-python", "../build-python.sh 5.0.0 0.25.1") else {
        return;
    };
    let (runtime, receiver) = receiver();
    let run = Runner::start(
        &dir,
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.http_endpoint),
            ("OTEL_TRACES_EXPORTER", "none"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "200"),
            ("OTEL_SERVICE_NAME", "shop"),
        ],
    )
    .unwrap();
    for _ in 0..3 {
        assert_eq!(run.get("/").status, 200, "{}", run.log());
    }
    let frontend = [
        ("trigger_type", "http"),
        ("app_id", "chain-python"),
        ("component_id", "frontend"),
    ];
    let points = runtime
        .block_on(receiver.wait_for_points(Duration::from_secs(30), |points| {
            count(latest(points, "spin.request_count", &frontend)) >= 3
                && count(latest(points, "spin.component_memory_used", &frontend[2..])) >= 3
        }))
        .unwrap();
    assert!(points.iter().all(|p| p.via == "http"));
    assert!(receiver.spans().is_empty(), "traces are off");
    let requests = latest(&points, "spin.request_count", &frontend).unwrap();
    assert_eq!(requests.value, MetricValue::Number(3.0), "{requests:#?}");
    assert!(
        requests
            .resource
            .iter()
            .any(|(k, v)| k == "service.name" && v == "shop"),
        "{requests:#?}"
    );
    let backend = [("component_id", "backend"), ("trigger_type", "http")];
    assert_eq!(count(latest(&points, "spin.request_count", &backend)), 3);

    let durations = latest(&points, "spin.request_duration", &frontend).unwrap();
    assert_eq!(durations.unit, "s");
    let MetricValue::Histogram { count, sum } = durations.value else {
        panic!("{durations:#?}")
    };
    assert_eq!(count, 3);
    assert!(sum > 0.0 && sum < 30.0, "{durations:#?}");
    let http = latest(
        &points,
        "http.server.request.duration",
        &[
            ("http.request.method", "GET"),
            ("http.route", "/..."),
            ("http.response.status_code", "200"),
        ],
    )
    .unwrap();
    assert!(
        matches!(http.value, MetricValue::Histogram { count, .. } if count >= 3),
        "{http:#?}"
    );

    // One instance per request, each recorded as it ended: a Python component holds
    // megabytes.
    let memory = latest(&points, "spin.component_memory_used", &frontend[2..]).unwrap();
    assert_eq!(memory.unit, "By");
    let MetricValue::Histogram { count, sum } = memory.value else {
        panic!("{memory:#?}")
    };
    assert_eq!(count, 3, "{memory:#?}");
    assert!(sum / count as f64 > f64::from(1 << 20), "{memory:#?}");
}

/// Over OTLP/gRPC to a metrics endpoint of its own, with the default interval (a
/// minute): the counts still arrive, sent when the app stops.
#[test]
fn the_last_counts_go_when_the_app_stops_over_grpc() {
    let Some(dir) = built_sample("hello-python-sdk5", "../build-python.sh 5.0.0 0.25.1") else {
        return;
    };
    let (runtime, receiver) = receiver();
    let mut run = Runner::start(
        &dir,
        &[],
        &[
            (
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                &receiver.grpc_endpoint,
            ),
            ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "grpc"),
        ],
    )
    .unwrap();
    for _ in 0..2 {
        assert_eq!(run.get("/").status, 200, "{}", run.log());
    }
    assert!(receiver.points().is_empty(), "nothing before the interval");
    run.stop();
    let points = runtime
        .block_on(receiver.wait_for_points(Duration::from_secs(10), |points| !points.is_empty()))
        .unwrap();
    assert!(points.iter().all(|p| p.via == "grpc"));
    let requests = latest(&points, "spin.request_count", &[("trigger_type", "http")]);
    assert_eq!(count(requests), 2, "{points:#?}");
    assert!(receiver.spans().is_empty(), "only metrics were asked for");
}
