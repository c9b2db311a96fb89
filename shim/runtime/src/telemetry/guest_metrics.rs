//! A guest's own metrics (`wasi:otel/metrics` `export`) on their way to the app's
//! metrics collector, beside the runtime's.
//!
//! An export goes into a bounded queue without waiting ([`MAX_PENDING`] exports;
//! the guest hears "queue full" past it) and one task per app sends them one at a
//! time, each within the export timeout, over the protocol and to the endpoint the
//! app's `OTEL_EXPORTER_OTLP_METRICS_*` settings name, from the app's network. A
//! failing send is logged at most once a minute, like the runtime's own exports.

use bytes::Bytes;
use opentelemetry_http::HttpClient as _;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use prost::Message as _;
use tokio::sync::{mpsc, oneshot};

use super::connect::{ExporterError, NetworkHttpClient, grpc_channel, grpc_metadata};
use super::export::FailureLog;
use super::settings::{Destination, Protocol};
use crate::network::Network;

/// Most guest exports waiting to be sent, per app.
pub const MAX_PENDING: usize = 64;

/// Where instances hand their metrics exports.
#[derive(Debug)]
pub(super) struct GuestMetrics {
    queue: mpsc::Sender<ExportMetricsServiceRequest>,
}

/// The other end of [`GuestMetrics`], which the sending task drains.
#[derive(Debug)]
pub(super) struct GuestMetricsQueue(mpsc::Receiver<ExportMetricsServiceRequest>);

/// A queue for guest metrics.
pub(super) fn guest_metrics_queue() -> (GuestMetrics, GuestMetricsQueue) {
    let (queue, pending) = mpsc::channel(MAX_PENDING);
    (GuestMetrics { queue }, GuestMetricsQueue(pending))
}

impl GuestMetrics {
    /// Queues one export; an error for the guest when the queue is full.
    pub(super) fn export(&self, request: ExportMetricsServiceRequest) -> Result<(), String> {
        self.queue.try_send(request).map_err(|_| {
            format!("metrics export queue full ({MAX_PENDING} exports waiting for the collector)")
        })
    }
}

/// How exports reach the collector.
enum Sender {
    Http(NetworkHttpClient),
    Grpc(MetricsServiceClient<tonic::transport::Channel>),
}

/// The sending task; it ends when `stop` fires, after sending what is queued.
pub(super) fn start(
    GuestMetricsQueue(mut pending): GuestMetricsQueue,
    destination: &Destination,
    network: &Network,
    mut stop: oneshot::Receiver<()>,
) -> Result<tokio::task::JoinHandle<()>, ExporterError> {
    let mut sender = match destination.protocol {
        Protocol::HttpProtobuf => Sender::Http(NetworkHttpClient {
            network: network.clone(),
            timeout: destination.timeout,
        }),
        Protocol::Grpc => Sender::Grpc(MetricsServiceClient::new(
            grpc_channel(destination, network).map_err(|problem| ExporterError {
                endpoint: destination.endpoint.to_string(),
                problem,
            })?,
        )),
    };
    let destination = destination.clone();
    Ok(tokio::spawn(async move {
        let mut failures = FailureLog::default();
        loop {
            let request = tokio::select! {
                next = pending.recv() => match next {
                    Some(request) => request,
                    None => break,
                },
                _ = &mut stop => {
                    pending.close();
                    while let Ok(request) = pending.try_recv() {
                        send_noting(&mut sender, &destination, request, &mut failures).await;
                    }
                    break;
                }
            };
            send_noting(&mut sender, &destination, request, &mut failures).await;
        }
    }))
}

async fn send_noting(
    sender: &mut Sender,
    destination: &Destination,
    request: ExportMetricsServiceRequest,
    failures: &mut FailureLog,
) {
    let sent = tokio::time::timeout(destination.timeout, send(sender, destination, request)).await;
    let problem = match sent {
        Ok(Ok(())) => return,
        Ok(Err(problem)) => problem,
        Err(_) => format!("no answer within {:?}", destination.timeout),
    };
    if let Some(failed_exports) = failures.failed() {
        tracing::warn!(
            endpoint = %destination.endpoint,
            failed_exports,
            "exporting a guest's metrics failed: {problem}"
        );
    }
}

async fn send(
    sender: &mut Sender,
    destination: &Destination,
    request: ExportMetricsServiceRequest,
) -> Result<(), String> {
    match sender {
        Sender::Http(client) => {
            let mut http_request = http::Request::post(destination.endpoint.clone())
                .header(http::header::CONTENT_TYPE, "application/x-protobuf")
                .body(Bytes::from(request.encode_to_vec()))
                .map_err(|e| e.to_string())?;
            for (name, value) in &destination.headers {
                http_request
                    .headers_mut()
                    .insert(name.clone(), value.clone());
            }
            let answer = client
                .send_bytes(http_request)
                .await
                .map_err(|e| e.to_string())?;
            if answer.status().is_success() {
                Ok(())
            } else {
                Err(format!("the collector answered {}", answer.status()))
            }
        }
        Sender::Grpc(client) => {
            let mut grpc_request = tonic::Request::new(request);
            *grpc_request.metadata_mut() = grpc_metadata(destination);
            client
                .export(grpc_request)
                .await
                .map(|_| ())
                .map_err(|status| status.message().to_string())
        }
    }
}
