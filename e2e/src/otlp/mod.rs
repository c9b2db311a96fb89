//! An OTLP receiver for tests: the collector's two endpoints (OTLP/HTTP with protobuf
//! bodies at `POST /v1/traces` and `POST /v1/metrics`, and OTLP/gRPC's
//! `TraceService/Export` and `MetricsService/Export`), built on the official OTLP
//! protobuf definitions (`opentelemetry-proto`), on loopback ports the system picks.
//! Every span and metric data point it receives is kept, with its resource's
//! attributes, until the test asks.

mod metrics;

pub use metrics::{MetricValue, ReceivedPoint};

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::MetricsServiceServer;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message;

/// One received span, flattened for assertions.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    pub name: String,
    /// 0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer.
    pub kind: i32,
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    pub attributes: Vec<(String, String)>,
    /// The resource's attributes (`service.name`, ...).
    pub resource: Vec<(String, String)>,
    /// 0 unset, 1 ok, 2 error.
    pub status_code: i32,
    pub status_message: String,
    /// Which endpoint it came through: `http` or `grpc`.
    pub via: &'static str,
    /// The name of the instrumentation scope that made it.
    pub scope: String,
}

impl ReceivedSpan {
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn resource_attribute(&self, key: &str) -> Option<&str> {
        self.resource
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A running receiver; its servers stop when it is dropped.
pub struct OtlpReceiver {
    /// `http://127.0.0.1:PORT`: the base for `OTEL_EXPORTER_OTLP_ENDPOINT` with
    /// `http/protobuf`.
    pub http_endpoint: String,
    /// `http://127.0.0.1:PORT` of the gRPC endpoint.
    pub grpc_endpoint: String,
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
    /// Export requests received, both endpoints.
    exports: Arc<Mutex<usize>>,
    /// Spans received, kept or not.
    count: Arc<Mutex<u64>>,
    points: Arc<Mutex<Vec<ReceivedPoint>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl OtlpReceiver {
    /// Starts both endpoints on loopback, on the current Tokio runtime.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_on("127.0.0.1".parse()?).await
    }

    /// Starts both endpoints on `ip` (a pod network's gateway, say).
    pub async fn start_on(ip: std::net::IpAddr) -> anyhow::Result<Self> {
        let spans = Arc::new(Mutex::new(Vec::new()));
        let exports = Arc::new(Mutex::new(0));
        let count = Arc::new(Mutex::new(0));
        let points = Arc::new(Mutex::new(Vec::new()));
        let http = tokio::net::TcpListener::bind((ip, 0)).await?;
        let http_addr = http.local_addr()?;
        let grpc = tokio::net::TcpListener::bind((ip, 0)).await?;
        let grpc_addr = grpc.local_addr()?;
        let sink = Sink {
            spans: spans.clone(),
            exports: exports.clone(),
            count: count.clone(),
            points: points.clone(),
        };
        let http_task = tokio::spawn(serve_http(http, sink.clone()));
        let grpc_task = tokio::spawn(async move {
            let incoming = tonic::transport::server::TcpIncoming::from(grpc);
            let _ = tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(GrpcSink(sink.clone())))
                .add_service(MetricsServiceServer::new(GrpcSink(sink)))
                .serve_with_incoming(incoming)
                .await;
        });
        Ok(Self {
            http_endpoint: format!("http://{http_addr}"),
            grpc_endpoint: format!("http://{grpc_addr}"),
            spans,
            exports,
            count,
            points,
            tasks: vec![http_task, grpc_task],
        })
    }

    /// The spans received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans.lock().unwrap().clone()
    }

    /// Spans received so far, including those past [`MAX_KEPT`].
    pub fn span_count(&self) -> u64 {
        *self.count.lock().unwrap()
    }

    /// Export requests received so far.
    pub fn exports(&self) -> usize {
        *self.exports.lock().unwrap()
    }

    /// The metric data points received so far, oldest first.
    pub fn points(&self) -> Vec<ReceivedPoint> {
        self.points.lock().unwrap().clone()
    }

    /// Waits up to `within` for the received metric data points to satisfy `done`;
    /// the points then.
    pub async fn wait_for_points(
        &self,
        within: Duration,
        done: impl Fn(&[ReceivedPoint]) -> bool,
    ) -> anyhow::Result<Vec<ReceivedPoint>> {
        wait_until(
            within,
            "metrics",
            || self.points(),
            done,
            |points| format!("{:#?}", points.iter().rev().take(20).collect::<Vec<_>>()),
        )
        .await
    }

    /// Waits up to `within` for the received spans to satisfy `done`; the spans then.
    pub async fn wait_for(
        &self,
        within: Duration,
        done: impl Fn(&[ReceivedSpan]) -> bool,
    ) -> anyhow::Result<Vec<ReceivedSpan>> {
        wait_until(
            within,
            "spans",
            || self.spans(),
            done,
            |spans| {
                let shown: Vec<_> = spans
                    .iter()
                    .map(|s| (&s.name, s.kind, &s.parent_span_id))
                    .collect();
                format!("{shown:#?}")
            },
        )
        .await
    }
}

/// Polls `received` until `done` says yes (its items then), or fails after `within`
/// showing what came.
async fn wait_until<T>(
    within: Duration,
    what: &str,
    received: impl Fn() -> Vec<T>,
    done: impl Fn(&[T]) -> bool,
    show: impl Fn(&[T]) -> String,
) -> anyhow::Result<Vec<T>> {
    let started = Instant::now();
    loop {
        let items = received();
        if done(&items) {
            return Ok(items);
        }
        if started.elapsed() > within {
            anyhow::bail!(
                "the receiver did not get the expected {what} within {within:?}; it got: {}",
                show(&items)
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[derive(Clone)]
struct Sink {
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
    exports: Arc<Mutex<usize>>,
    count: Arc<Mutex<u64>>,
    points: Arc<Mutex<Vec<ReceivedPoint>>>,
}

/// Most spans kept for [`OtlpReceiver::spans`] (a benchmark sends millions; they are
/// only counted past this).
pub const MAX_KEPT: usize = 100_000;

impl Sink {
    fn take(&self, request: ExportTraceServiceRequest, via: &'static str) {
        let mut received = Vec::new();
        for resource_spans in request.resource_spans {
            let resource = resource_spans
                .resource
                .map(|r| flatten(&r.attributes))
                .unwrap_or_default();
            for scope_spans in resource_spans.scope_spans {
                let scope = scope_spans.scope.map(|s| s.name).unwrap_or_default();
                for span in scope_spans.spans {
                    let status = span.status.unwrap_or_default();
                    received.push(ReceivedSpan {
                        name: span.name,
                        kind: span.kind,
                        trace_id: hex::encode(&span.trace_id),
                        span_id: hex::encode(&span.span_id),
                        parent_span_id: hex::encode(&span.parent_span_id),
                        attributes: flatten(&span.attributes),
                        resource: resource.clone(),
                        status_code: status.code,
                        status_message: status.message,
                        via,
                        scope: scope.clone(),
                    });
                }
            }
        }
        *self.exports.lock().unwrap() += 1;
        *self.count.lock().unwrap() += received.len() as u64;
        let mut kept = self.spans.lock().unwrap();
        let room = MAX_KEPT.saturating_sub(kept.len());
        kept.extend(received.into_iter().take(room));
    }

    fn take_metrics(&self, request: ExportMetricsServiceRequest, via: &'static str) {
        let received = metrics::flatten_request(request, via);
        *self.exports.lock().unwrap() += 1;
        let mut kept = self.points.lock().unwrap();
        let room = MAX_KEPT.saturating_sub(kept.len());
        kept.extend(received.into_iter().take(room));
    }
}

fn flatten(attributes: &[KeyValue]) -> Vec<(String, String)> {
    attributes
        .iter()
        .map(|kv| (kv.key.clone(), value_text(kv.value.as_ref())))
        .collect()
}

fn value_text(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

async fn serve_http(listener: tokio::net::TcpListener, sink: Sink) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let sink = sink.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let sink = sink.clone();
                    async move { Ok::<_, std::convert::Infallible>(answer(req, &sink).await) }
                });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn answer(
    req: http::Request<hyper::body::Incoming>,
    sink: &Sink,
) -> http::Response<Full<bytes::Bytes>> {
    let reply = |status: u16, body: Vec<u8>| {
        http::Response::builder()
            .status(status)
            .header("content-type", "application/x-protobuf")
            .body(Full::new(bytes::Bytes::from(body)))
            .unwrap()
    };
    let path = req.uri().path().to_string();
    if req.method() != http::Method::POST || !matches!(path.as_str(), "/v1/traces" | "/v1/metrics")
    {
        return reply(404, Vec::new());
    }
    // As collectors do (Go's net/http): HTTP/1.1 without `Host` is a bad request.
    if !req.headers().contains_key(http::header::HOST) {
        return reply(400, Vec::new());
    }
    let Ok(body) = req.into_body().collect().await else {
        return reply(400, Vec::new());
    };
    let body = body.to_bytes();
    if path == "/v1/metrics" {
        return match ExportMetricsServiceRequest::decode(body) {
            Ok(request) => {
                sink.take_metrics(request, "http");
                reply(200, Vec::new())
            }
            Err(_) => reply(400, Vec::new()),
        };
    }
    match ExportTraceServiceRequest::decode(body) {
        Ok(request) => {
            sink.take(request, "http");
            reply(200, ExportTraceServiceResponse::default().encode_to_vec())
        }
        Err(_) => reply(400, Vec::new()),
    }
}

struct GrpcSink(Sink);

#[tonic::async_trait]
impl TraceService for GrpcSink {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0.take(request.into_inner(), "grpc");
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}
