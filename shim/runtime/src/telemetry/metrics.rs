//! An app's metrics: counted in memory on the request path, sent to the collector by
//! one task per app every `OTEL_METRIC_EXPORT_INTERVAL`.
//!
//! Instruments, cumulative, named as Spin 4.1 names them where Spin has them:
//! - `spin.request_count` (counter): one per HTTP request or trigger event handed to
//!   a component, with `trigger_type` (`http`, `redis`, `mqtt`, `cron`, `command`),
//!   `app_id` (the app's name) and `component_id`, as Spin counts them;
//! - `spin.request_duration` (histogram, seconds): how long the component took, with
//!   the same attributes (Spin has no such metric; the name follows its own);
//! - `http.server.request.duration` (histogram, seconds): OpenTelemetry's HTTP server
//!   metric, with `http.request.method` (`_OTHER` for methods HTTP does not define),
//!   `http.route` (the manifest's route), `http.response.status_code` and
//!   `url.scheme`;
//! - `spin.component_memory_used` (histogram, bytes): the linear memory and tables an
//!   instance held when it ended, with `component_id`, as Spin records it.
//!
//! Every attribute value comes from the app's manifest or from a closed set, so the
//! series are bounded by the app, not by its clients (and the SDK's cardinality
//! limit caps each metric anyway). Recording takes a few hundred nanoseconds and never
//! waits on the collector: the export task reads the counts under the SDK's own locks
//! and exports them within the export timeout; a failing export is logged at most
//! once a minute and its counts go again with the next one (they are cumulative).

use std::sync::{Arc, Weak};
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, MeterProvider as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter as _;
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{
    InstrumentKind, ManualReader, Pipeline, SdkMeterProvider, Temporality,
};
use tokio::sync::oneshot;

use super::export::FailureLog;
use super::settings::MetricSettings;

/// Where an app's measurements go.
#[derive(Debug)]
pub(super) struct AppMetrics {
    provider: SdkMeterProvider,
    requests: Counter<u64>,
    durations: Histogram<f64>,
    http_durations: Histogram<f64>,
    memory: Histogram<u64>,
    /// The app's name (`app_id`).
    app_id: Arc<str>,
    stop: std::sync::Mutex<Option<oneshot::Sender<()>>>,
    task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// What one HTTP request adds to `http.server.request.duration`.
pub struct HttpMeasure<'a> {
    pub method: &'a http::Method,
    pub route: &'a str,
    pub status: http::StatusCode,
}

impl AppMetrics {
    /// Starts the export task on the current Tokio runtime.
    pub(super) fn start(
        exporter: opentelemetry_otlp::MetricExporter,
        settings: &MetricSettings,
        resource: opentelemetry_sdk::Resource,
        app_id: &str,
    ) -> Self {
        let reader = SharedReader(Arc::new(ManualReader::builder().build()));
        let provider = SdkMeterProvider::builder()
            .with_resource(resource)
            .with_reader(reader.clone())
            .build();
        let meter = provider.meter("spin-kube");
        let requests = meter
            .u64_counter("spin.request_count")
            .with_description("Requests and trigger events handed to a component")
            .build();
        let durations = meter
            .f64_histogram("spin.request_duration")
            .with_unit("s")
            .with_description("How long a component took to handle a request or event")
            .build();
        let http_durations = meter
            .f64_histogram("http.server.request.duration")
            .with_unit("s")
            .with_description("Duration of HTTP server requests")
            .with_boundaries(vec![
                0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
            ])
            .build();
        let memory = meter
            .u64_histogram("spin.component_memory_used")
            .with_unit("By")
            .with_description("Linear memory and tables an instance held when it ended")
            .with_boundaries(vec![
                (1u64 << 20) as f64,
                (4u64 << 20) as f64,
                (16u64 << 20) as f64,
                (32u64 << 20) as f64,
                (64u64 << 20) as f64,
                (128u64 << 20) as f64,
                (256u64 << 20) as f64,
                (512u64 << 20) as f64,
                (1u64 << 30) as f64,
                (4u64 << 30) as f64,
            ])
            .build();
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(export_loop(
            exporter,
            reader,
            settings.interval,
            settings.destination.timeout,
            settings.destination.endpoint.to_string(),
            stopped,
        ));
        Self {
            provider,
            requests,
            durations,
            http_durations,
            memory,
            app_id: app_id.into(),
            stop: std::sync::Mutex::new(Some(stop)),
            task: std::sync::Mutex::new(Some(task)),
        }
    }

    /// Counts one request or event handled by `component` in `elapsed`.
    pub(super) fn record(
        &self,
        trigger_type: &'static str,
        component: &str,
        elapsed: Duration,
        http: Option<HttpMeasure<'_>>,
    ) {
        let attributes = [
            KeyValue::new("trigger_type", trigger_type),
            KeyValue::new("app_id", self.app_id.clone()),
            KeyValue::new("component_id", component.to_string()),
        ];
        let seconds = elapsed.as_secs_f64();
        self.requests.add(1, &attributes);
        self.durations.record(seconds, &attributes);
        if let Some(http) = http {
            self.http_durations.record(
                seconds,
                &[
                    KeyValue::new("http.request.method", known_method(http.method)),
                    KeyValue::new("http.route", super::cut(http.route).to_string()),
                    KeyValue::new("http.response.status_code", i64::from(http.status.as_u16())),
                    KeyValue::new("url.scheme", "http"),
                ],
            );
        }
    }

    /// Records the memory an instance of `component` held when it ended.
    pub(super) fn record_instance_memory(&self, component: &str, bytes: u64) {
        self.memory.record(
            bytes,
            &[KeyValue::new("component_id", component.to_string())],
        );
    }

    /// Exports the last counts and stops, waiting at most `within`.
    pub(super) async fn shutdown(&self, within: Duration) {
        let stop = self.stop.lock().ok().and_then(|mut s| s.take());
        if let Some(stop) = stop {
            let _ = stop.send(());
        }
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task
            && tokio::time::timeout(within, task).await.is_err()
        {
            tracing::warn!("the last metrics were not exported within {within:?}");
        }
        let _ = self.provider.shutdown_with_timeout(within);
    }
}

/// `method` as OpenTelemetry's HTTP conventions name it: one of HTTP's own methods, or
/// `_OTHER` (a client's made-up method is not a series of its own).
fn known_method(method: &http::Method) -> &'static str {
    match *method {
        http::Method::GET => "GET",
        http::Method::POST => "POST",
        http::Method::PUT => "PUT",
        http::Method::DELETE => "DELETE",
        http::Method::HEAD => "HEAD",
        http::Method::OPTIONS => "OPTIONS",
        http::Method::PATCH => "PATCH",
        http::Method::CONNECT => "CONNECT",
        http::Method::TRACE => "TRACE",
        _ => "_OTHER",
    }
}

/// The SDK's manual reader, shared between the meter provider (which registers with
/// it) and the export task (which collects through it).
#[derive(Debug, Clone)]
struct SharedReader(Arc<ManualReader>);

impl MetricReader for SharedReader {
    fn register_pipeline(&self, pipeline: Weak<Pipeline>) {
        self.0.register_pipeline(pipeline);
    }

    fn collect(&self, rm: &mut ResourceMetrics) -> OTelSdkResult {
        self.0.collect(rm)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn temporality(&self, kind: InstrumentKind) -> Temporality {
        self.0.temporality(kind)
    }
}

/// Every `interval`, and once more when stopped: collects the counts and exports
/// them, each export within `timeout`.
async fn export_loop(
    exporter: opentelemetry_otlp::MetricExporter,
    reader: SharedReader,
    interval: Duration,
    timeout: Duration,
    endpoint: String,
    mut stopped: oneshot::Receiver<()>,
) {
    let mut failures = FailureLog::default();
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let stopping = tokio::select! {
            _ = ticks.tick() => false,
            _ = &mut stopped => true,
        };
        let mut collected = ResourceMetrics::default();
        let outcome = match reader.collect(&mut collected) {
            Ok(()) => match tokio::time::timeout(timeout, exporter.export(&collected)).await {
                Ok(exported) => exported.map_err(|e| e.to_string()),
                Err(_) => Err(format!("no answer within {timeout:?}")),
            },
            Err(e) => Err(format!("collecting: {e}")),
        };
        if let Err(e) = outcome
            && let Some(failed_exports) = failures.failed()
        {
            tracing::warn!(%endpoint, failed_exports, "exporting metrics failed: {e}");
        }
        if stopping {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_methods_share_one_series() {
        let other = http::Method::from_bytes(b"BREW").unwrap();
        assert_eq!(known_method(&other), "_OTHER");
        assert_eq!(known_method(&http::Method::PATCH), "PATCH");
    }
}
