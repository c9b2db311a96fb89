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

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter as _, SpanProcessor};
use tokio::sync::{mpsc, oneshot};

use super::settings::TraceSettings;

/// Least time between two log lines about failing exports.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// The app's span processor: a bounded queue in front of one export task.
#[derive(Debug)]
pub(super) struct QueuedExport {
    queue: SpanQueue,
    stop: std::sync::Mutex<Option<oneshot::Sender<()>>>,
}

/// The way into the export queue: for the spans the runtime ends and for those a
/// guest hands over (`wasi:otel`). Cheap to clone.
#[derive(Debug, Clone)]
pub(super) struct SpanQueue {
    queue: mpsc::Sender<SpanData>,
    dropped: Arc<AtomicU64>,
}

impl SpanQueue {
    /// Queues a sampled span without waiting; counts it dropped when the queue is full.
    pub(super) fn push(&self, span: SpanData) {
        if !span.span_context.is_sampled() {
            return;
        }
        if self.queue.try_send(span).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The export task, to wait for at shutdown.
pub(super) type ExportTask = tokio::task::JoinHandle<()>;

impl QueuedExport {
    /// Starts the export task on the current Tokio runtime.
    pub(super) fn start(
        exporter: opentelemetry_otlp::SpanExporter,
        settings: &TraceSettings,
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
                endpoint: settings.destination.endpoint.to_string(),
            },
            dropped.clone(),
        ));
        let processor = Self {
            queue: SpanQueue { queue, dropped },
            stop: std::sync::Mutex::new(Some(stop)),
        };
        (processor, task)
    }

    pub(super) fn queue(&self) -> SpanQueue {
        self.queue.clone()
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
        self.queue.push(span);
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
pub(super) struct FailureLog {
    last: Option<Instant>,
    since: u64,
}

impl FailureLog {
    /// Notes a failed export: the failures since the last log line when it is time
    /// for another (at most one a [`LOG_EVERY`]).
    pub(super) fn failed(&mut self) -> Option<u64> {
        self.since += 1;
        if self.last.is_some_and(|t| t.elapsed() < LOG_EVERY) {
            return None;
        }
        self.last = Some(Instant::now());
        Some(std::mem::take(&mut self.since))
    }

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
        if let Some(failed_exports) = self.failed() {
            tracing::warn!(
                endpoint = %batching.endpoint,
                failed_exports,
                dropped_spans = dropped.load(Ordering::Relaxed),
                "exporting spans failed: {e}"
            );
        }
    }
}
