//! Getting finished spans to the collector without ever holding up a request.
//!
//! A request's span goes into a bounded queue with `try_send` (never waiting); when
//! the queue is full the span is dropped and counted (as are the spans of a failed
//! export). One task per app takes batches
//! off the queue and exports them, one at a time, each within the export timeout, so
//! a slow or unreachable collector fills the queue instead of growing anything. A
//! failing export is logged at most once a minute, with how many spans were dropped.
//!
//! The exporters are OTLP's own (`opentelemetry-otlp`), but their connections are the
//! runtime's: made from the app's [`Network`], so in a pod the collector is reached
//! from the pod's network namespace with the pod's name resolution, never from the
//! node's (the endpoint is the pod's to choose).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt as _;
use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _, WithTonicConfig as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter as _, SpanProcessor};
use tokio::sync::{mpsc, oneshot};

use super::settings::{OtelSettings, Protocol};
use crate::network::Network;

/// Most bytes of a collector's answer read (an OTLP export answer is a few bytes).
const MAX_ANSWER_BYTES: usize = 64 << 10;
/// Least time between two log lines about failing exports.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// Why the exporter could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("OpenTelemetry exporter for {endpoint}: {problem}")]
pub struct ExporterError {
    pub endpoint: String,
    pub problem: String,
}

/// The OTLP exporter the settings ask for, connecting from `network`.
pub(super) fn exporter(
    settings: &OtelSettings,
    network: &Network,
) -> Result<opentelemetry_otlp::SpanExporter, ExporterError> {
    let fail = |problem: String| ExporterError {
        endpoint: settings.endpoint.to_string(),
        problem,
    };
    match settings.protocol {
        Protocol::HttpProtobuf => {
            let headers = settings
                .headers
                .iter()
                .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_string())))
                .collect();
            opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_http_client(NetworkHttpClient {
                    network: network.clone(),
                    timeout: settings.timeout,
                })
                .with_endpoint(settings.endpoint.to_string())
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .with_timeout(settings.timeout)
                .with_headers(headers)
                .build()
                .map_err(|e| fail(e.to_string()))
        }
        Protocol::Grpc => {
            let mut metadata = tonic::metadata::MetadataMap::new();
            for (name, value) in &settings.headers {
                if let (Ok(key), Ok(value)) = (
                    tonic::metadata::MetadataKey::from_bytes(name.as_str().as_bytes()),
                    tonic::metadata::MetadataValue::try_from(value.as_bytes()),
                ) {
                    metadata.insert(key, value);
                }
            }
            opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_channel(grpc_channel(settings, network).map_err(fail)?)
                .with_timeout(settings.timeout)
                .with_metadata(metadata)
                .build()
                .map_err(|e| fail(e.to_string()))
        }
    }
}

/// A lazily connecting gRPC channel whose connections come from `network`; `https`
/// endpoints are verified against the Mozilla root set, as outbound HTTP is.
fn grpc_channel(
    settings: &OtelSettings,
    network: &Network,
) -> Result<tonic::transport::Channel, String> {
    let mut endpoint = tonic::transport::Endpoint::from(settings.endpoint.clone())
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout);
    if settings.endpoint.scheme_str() == Some("https") {
        endpoint = endpoint
            .tls_config(tonic::transport::ClientTlsConfig::new().with_webpki_roots())
            .map_err(|e| e.to_string())?;
    }
    let network = network.clone();
    let connector = tower::service_fn(move |uri: http::Uri| {
        let network = network.clone();
        async move {
            let (host, port) = host_and_port(&uri)?;
            let tcp = network.connect(&host, port).await?;
            let _ = tcp.set_nodelay(true);
            Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tcp))
        }
    });
    Ok(endpoint.connect_with_connector_lazy(connector))
}

fn host_and_port(uri: &http::Uri) -> std::io::Result<(String, u16)> {
    let host = uri
        .host()
        .ok_or_else(|| std::io::Error::other(format!("{uri}: no host")))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let tls = uri.scheme_str() == Some("https");
    Ok((host, uri.port_u16().unwrap_or(if tls { 443 } else { 80 })))
}

/// OTLP/HTTP's client: the runtime's own HTTP/1.1 client over the app's network, the
/// answer read up to [`MAX_ANSWER_BYTES`] within the export timeout.
#[derive(Debug)]
struct NetworkHttpClient {
    network: Network,
    timeout: Duration,
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for NetworkHttpClient {
    async fn send_bytes(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, opentelemetry_http::HttpError> {
        let mut request = request.map(http_body_util::Full::new);
        // HTTP/1.1 requires `Host` (collectors refuse requests without it).
        if let Some(authority) = request.uri().authority()
            && let Ok(host) = http::HeaderValue::from_str(authority.as_str())
        {
            request
                .headers_mut()
                .entry(http::header::HOST)
                .or_insert(host);
        }
        let exchange = async {
            let (response, _connection) =
                crate::host::http_client::send(&self.network, &Default::default(), request, None)
                    .await?;
            let (head, body) = response.into_parts();
            let body = http_body_util::Limited::new(body, MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|e| format!("reading the collector's answer: {e}"))?
                .to_bytes();
            Ok::<_, opentelemetry_http::HttpError>(http::Response::from_parts(head, body))
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| format!("no answer within {:?}", self.timeout))?
    }
}

/// The app's span processor: a bounded queue in front of one export task.
#[derive(Debug)]
pub(super) struct QueuedExport {
    queue: mpsc::Sender<SpanData>,
    dropped: Arc<AtomicU64>,
    stop: std::sync::Mutex<Option<oneshot::Sender<()>>>,
}

/// The export task, to wait for at shutdown.
pub(super) type ExportTask = tokio::task::JoinHandle<()>;

impl QueuedExport {
    /// Starts the export task on the current Tokio runtime.
    pub(super) fn start(
        exporter: opentelemetry_otlp::SpanExporter,
        settings: &OtelSettings,
    ) -> (Self, ExportTask) {
        let (queue, spans) = mpsc::channel(settings.max_queue);
        let (stop, stopped) = oneshot::channel();
        let dropped = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(export_loop(
            exporter,
            spans,
            stopped,
            Batching {
                max_batch: settings.max_batch,
                delay: settings.delay,
                endpoint: settings.endpoint.to_string(),
            },
            dropped.clone(),
        ));
        let processor = Self {
            queue,
            dropped: dropped.clone(),
            stop: std::sync::Mutex::new(Some(stop)),
        };
        (processor, task)
    }

    fn stop(&self) {
        let stop = self.stop.lock().map(|mut s| s.take()).ok().flatten();
        if let Some(stop) = stop {
            let _ = stop.send(());
        }
    }
}

impl SpanProcessor for QueuedExport {
    fn on_start(&self, _span: &mut opentelemetry_sdk::trace::Span, _cx: &opentelemetry::Context) {}

    fn on_end(&self, span: SpanData) {
        if !span.span_context.is_sampled() {
            return;
        }
        if self.queue.try_send(span).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    /// Asks the task to export what is queued and end; [`super::Telemetry::shutdown`]
    /// waits for it.
    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        self.stop();
        Ok(())
    }
}

struct Batching {
    max_batch: usize,
    delay: Duration,
    endpoint: String,
}

async fn export_loop(
    exporter: opentelemetry_otlp::SpanExporter,
    mut spans: mpsc::Receiver<SpanData>,
    mut stopped: oneshot::Receiver<()>,
    batching: Batching,
    dropped: Arc<AtomicU64>,
) {
    let mut failures = FailureLog::default();
    let mut batch = Vec::with_capacity(batching.max_batch);
    let mut stopping = false;
    while !stopping {
        // Wait for a first span, then fill the batch until it is full or `delay` passed.
        tokio::select! {
            first = spans.recv() => match first {
                Some(span) => batch.push(span),
                None => stopping = true,
            },
            _ = &mut stopped => stopping = true,
        }
        if !stopping {
            let deadline = tokio::time::Instant::now() + batching.delay;
            while batch.len() < batching.max_batch {
                tokio::select! {
                    more = spans.recv() => match more {
                        Some(span) => batch.push(span),
                        None => break,
                    },
                    _ = tokio::time::sleep_until(deadline) => break,
                    _ = &mut stopped => { stopping = true; break; }
                }
            }
        }
        if stopping {
            // What is queued still goes, in batches.
            while let Ok(span) = spans.try_recv() {
                batch.push(span);
                if batch.len() >= batching.max_batch {
                    let full = std::mem::take(&mut batch);
                    let count = full.len();
                    failures.note(count, exporter.export(full).await, &batching, &dropped);
                }
            }
        }
        if !batch.is_empty() {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(batching.max_batch));
            let count = full.len();
            failures.note(count, exporter.export(full).await, &batching, &dropped);
        }
    }
    let lost = dropped.load(Ordering::Relaxed);
    if lost > 0 {
        tracing::warn!(
            endpoint = %batching.endpoint,
            "{lost} spans were not exported: the queue was full (OTEL_BSP_MAX_QUEUE_SIZE) or their export failed"
        );
    }
}

/// Failed exports, logged now and then rather than each time.
#[derive(Default)]
struct FailureLog {
    last: Option<Instant>,
    since: u64,
}

impl FailureLog {
    /// Notes an export of `count` spans; a failed one's spans count as dropped.
    fn note(
        &mut self,
        count: usize,
        result: OTelSdkResult,
        batching: &Batching,
        dropped: &AtomicU64,
    ) {
        let Err(e) = result else { return };
        dropped.fetch_add(count as u64, Ordering::Relaxed);
        self.since += 1;
        if self.last.is_some_and(|t| t.elapsed() < LOG_EVERY) {
            return;
        }
        tracing::warn!(
            endpoint = %batching.endpoint,
            failed_exports = self.since,
            dropped_spans = dropped.load(Ordering::Relaxed),
            "exporting spans failed: {e}"
        );
        self.last = Some(Instant::now());
        self.since = 0;
    }
}
