//! OpenTelemetry traces and metrics of a running app, exported over OTLP to the
//! collector its environment names ([`settings`]). Metrics: see [`metrics`].
//!
//! Spans, named as Spin names them so dashboards built for Spin keep working:
//! - `{METHOD} {route}` (kind server) for each inbound HTTP request, its parent taken
//!   from the request's W3C `traceparent`; under it `execute_wasm_component {id}`;
//! - one span per trigger event (`{channel} receive` for Redis and MQTT messages,
//!   `cron {component}`, `command {component}`), with the component's run under it;
//! - under the component's run, one client span per outbound call: HTTP (`{METHOD}`,
//!   which the request carries in `traceparent`), key-value, SQLite, Redis,
//!   PostgreSQL, MySQL and MQTT (`spin_key_value.get`, `spin_sqlite.execute`,
//!   `spin_outbound_redis.get`, `spin_outbound_pg.query`, `spin_outbound_mysql.query`,
//!   `spin_outbound_mqtt.publish`, ...), failed with the error when the call fails.
//!
//! When the environment names no collector, nothing is recorded: every span handle is
//! empty and costs a branch, as does every measurement.

mod connect;
mod export;
mod guest_metrics;
mod metrics;
mod settings;
mod span;

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::trace::{SpanKind, TracerProvider as _};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, SpanExporter as _};

pub use connect::ExporterError;
pub use metrics::HttpMeasure;
pub use settings::{
    Destination, MAX_ATTRIBUTE_BYTES, MAX_QUEUE_SIZE, MIN_METRIC_INTERVAL, MetricSettings,
    OtelSettings, Protocol, RootSampling, Sampling, TraceSettings,
};
pub use span::{TraceParent, TraceSpan, text};

use crate::network::Network;

/// An app's traces and metrics: where its spans start and its requests are counted,
/// or nothing when they are off. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Telemetry {
    traces: Option<Arc<Pipeline>>,
    metrics: Option<Arc<metrics::AppMetrics>>,
    guest_metrics: Option<Arc<GuestMetricsExport>>,
}

/// An app's [`Telemetry`] for what is made before exporting starts (its components'
/// instances): empty until [`TelemetryLink::set`], recording nothing. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct TelemetryLink(Arc<std::sync::OnceLock<Telemetry>>);

impl TelemetryLink {
    pub fn set(&self, telemetry: Telemetry) {
        let _ = self.0.set(telemetry);
    }

    /// See [`Telemetry::export_guest_metrics`]; nothing before exporting starts.
    pub fn export_guest_metrics(
        &self,
        make: impl FnOnce() -> Result<ExportMetricsServiceRequest, String>,
    ) -> Result<(), String> {
        match self.0.get() {
            Some(telemetry) => telemetry.export_guest_metrics(make),
            None => Ok(()),
        }
    }

    /// See [`Telemetry::record_instance_memory`].
    pub fn record_instance_memory(&self, component: &str, bytes: usize) {
        if let Some(telemetry) = self.0.get() {
            telemetry.record_instance_memory(component, bytes);
        }
    }
}

/// Where guests' metrics exports queue ([`guest_metrics`]), the task sending them, and
/// how to stop it.
#[derive(Debug)]
struct GuestMetricsExport {
    queue: guest_metrics::GuestMetrics,
    stop: std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

#[derive(Debug)]
struct Pipeline {
    source: Arc<span::SpanSource>,
    provider: SdkTracerProvider,
    task: std::sync::Mutex<Option<export::ExportTask>>,
    /// The app's name, on every server and event span (`spin.app_name`).
    app_name: Arc<str>,
}

impl Telemetry {
    /// Starts exporting as `settings` say, on the current Tokio runtime; connections to
    /// the collector leave from `network`.
    pub fn start(
        settings: &OtelSettings,
        network: &Network,
        app_name: &str,
    ) -> Result<Self, ExporterError> {
        let resource = resource(settings);
        let traces = match &settings.traces {
            Some(traces) => {
                let mut exporter = connect::span_exporter(&traces.destination, network)?;
                exporter.set_resource(&resource);
                let (processor, task) = export::QueuedExport::start(exporter, traces);
                let queue = processor.queue();
                let provider = SdkTracerProvider::builder()
                    .with_resource(resource.clone())
                    .with_sampler(sampler(traces.sampling))
                    .with_span_processor(processor)
                    .build();
                Some(Arc::new(Pipeline {
                    source: Arc::new(span::SpanSource {
                        tracer: provider.tracer("spin-kube"),
                        queue,
                    }),
                    provider,
                    task: std::sync::Mutex::new(Some(task)),
                    app_name: app_name.into(),
                }))
            }
            None => None,
        };
        let metrics = match &settings.metrics {
            Some(metrics) => {
                let exporter = connect::metric_exporter(&metrics.destination, network)?;
                Some(Arc::new(metrics::AppMetrics::start(
                    exporter, metrics, resource, app_name,
                )))
            }
            None => None,
        };
        let guest_metrics = match &settings.metrics {
            Some(metrics) => {
                let (sender, queue) = guest_metrics::guest_metrics_queue();
                let (stop, stopped) = tokio::sync::oneshot::channel();
                let task = guest_metrics::start(queue, &metrics.destination, network, stopped)?;
                Some(Arc::new(GuestMetricsExport {
                    queue: sender,
                    stop: std::sync::Mutex::new(Some(stop)),
                    task: std::sync::Mutex::new(Some(task)),
                }))
            }
            None => None,
        };
        Ok(Self {
            traces,
            metrics,
            guest_metrics,
        })
    }

    /// Counts one request or trigger event that `component` handled in `elapsed`
    /// (with the HTTP request's method, route and status for an HTTP one).
    pub fn record_request(
        &self,
        trigger_type: &'static str,
        component: &str,
        elapsed: Duration,
        http: Option<HttpMeasure<'_>>,
    ) {
        if let Some(metrics) = &self.metrics {
            metrics.record(trigger_type, component, elapsed, http);
        }
    }

    /// Records the memory an instance of `component` held when it ended.
    pub fn record_instance_memory(&self, component: &str, bytes: usize) {
        if let Some(metrics) = &self.metrics {
            metrics.record_instance_memory(component, bytes as u64);
        }
    }

    /// Queues a guest's metrics export (`wasi:otel`) for the metrics collector; `make`
    /// is only called when metrics are on (off, the export does nothing). An error for
    /// the guest when `make` refuses the export or the queue is full.
    pub fn export_guest_metrics(
        &self,
        make: impl FnOnce() -> Result<ExportMetricsServiceRequest, String>,
    ) -> Result<(), String> {
        match &self.guest_metrics {
            Some(guest) => guest.queue.export(make()?),
            None => Ok(()),
        }
    }

    /// The server span of an inbound HTTP request to `route`, its parent the caller's
    /// `traceparent`.
    pub fn http_server_span<B>(
        &self,
        request: &http::Request<B>,
        route: &str,
        client: Option<std::net::SocketAddr>,
    ) -> TraceSpan {
        let Some(pipeline) = &self.traces else {
            return TraceSpan::default();
        };
        let method = request.method().as_str();
        let uri = request.uri();
        let mut attributes = vec![
            KeyValue::new("http.request.method", method.to_string()),
            text("http.route", route),
            text("url.path", uri.path()),
            KeyValue::new("url.scheme", "http"),
            KeyValue::new("spin.app_name", pipeline.app_name.to_string()),
        ];
        if let Some(query) = uri.query() {
            attributes.push(text("url.query", query));
        }
        if let Some(agent) = request
            .headers()
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
        {
            attributes.push(text("user_agent.original", agent));
        }
        if let Some(client) = client {
            attributes.push(KeyValue::new(
                "network.peer.address",
                client.ip().to_string(),
            ));
        }
        let parent = span::extract(request.headers());
        let name = format!("{method} {}", cut(route));
        TraceSpan::start(
            &pipeline.source,
            &parent,
            name,
            SpanKind::Server,
            attributes,
        )
    }

    /// The span of one trigger event (a message, a cron tick, a command run): the root
    /// of a new trace.
    pub fn event_span(
        &self,
        name: impl FnOnce() -> String,
        kind: SpanKind,
        attributes: impl FnOnce() -> Vec<KeyValue>,
    ) -> TraceSpan {
        let Some(pipeline) = &self.traces else {
            return TraceSpan::default();
        };
        let mut attributes = attributes();
        attributes.push(KeyValue::new(
            "spin.app_name",
            pipeline.app_name.to_string(),
        ));
        TraceSpan::start(
            &pipeline.source,
            &opentelemetry::Context::new(),
            name(),
            kind,
            attributes,
        )
    }

    /// Exports what is queued and the last counts, and stops, waiting at most
    /// `within` for each.
    pub async fn shutdown(&self, within: Duration) {
        if let Some(metrics) = &self.metrics {
            metrics.shutdown(within).await;
        }
        if let Some(guest) = &self.guest_metrics {
            if let Some(stop) = guest.stop.lock().ok().and_then(|mut s| s.take()) {
                let _ = stop.send(());
            }
            let task = guest.task.lock().ok().and_then(|mut t| t.take());
            if let Some(task) = task
                && tokio::time::timeout(within, task).await.is_err()
            {
                tracing::warn!("the guests' last metrics were not exported within {within:?}");
            }
        }
        let Some(pipeline) = &self.traces else { return };
        let _ = pipeline.provider.shutdown_with_timeout(within);
        let task = pipeline.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task
            && tokio::time::timeout(within, task).await.is_err()
        {
            tracing::warn!("the last spans were not exported within {within:?}");
        }
    }
}

/// The span of a component's run under `parent` (`execute_wasm_component {id}`).
pub fn component_span(parent: &TraceSpan, component: &str) -> TraceSpan {
    parent.parent().span(
        format!("execute_wasm_component {}", cut(component)),
        SpanKind::Internal,
        || vec![text("spin.component_id", component)],
    )
}

/// `text` cut at [`MAX_ATTRIBUTE_BYTES`] on a character boundary (for span names made
/// of client or guest input).
pub fn cut(text: &str) -> &str {
    let mut end = text.len().min(MAX_ATTRIBUTE_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn resource(settings: &OtelSettings) -> opentelemetry_sdk::Resource {
    let attributes = settings
        .resource
        .iter()
        .filter(|(k, _)| k != "service.name")
        .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
        .chain([
            KeyValue::new("telemetry.sdk.name", "opentelemetry"),
            KeyValue::new("telemetry.sdk.language", "rust"),
        ]);
    opentelemetry_sdk::Resource::builder_empty()
        .with_service_name(settings.service_name.clone())
        .with_attributes(attributes)
        .build()
}

fn sampler(sampling: Sampling) -> Sampler {
    let root = |r: RootSampling| match r {
        RootSampling::AlwaysOn => Sampler::AlwaysOn,
        RootSampling::AlwaysOff => Sampler::AlwaysOff,
        RootSampling::Ratio(ratio) => Sampler::TraceIdRatioBased(ratio),
    };
    match sampling {
        Sampling::AlwaysOn => Sampler::AlwaysOn,
        Sampling::AlwaysOff => Sampler::AlwaysOff,
        Sampling::Ratio(ratio) => Sampler::TraceIdRatioBased(ratio),
        Sampling::ParentBased(r) => Sampler::ParentBased(Box::new(root(r))),
    }
}
