//! The exporters' connections to the collector. The exporters are OTLP's own
//! (`opentelemetry-otlp`), but their connections are the runtime's: made from the
//! app's [`Network`], so in a pod the collector is reached from the pod's network
//! namespace with the pod's name resolution, never from the node's (the endpoint is
//! the pod's to choose).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt as _;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};

use super::settings::{Destination, Protocol};
use crate::network::Network;

/// Most bytes of a collector's answer read (an OTLP export answer is a few bytes).
const MAX_ANSWER_BYTES: usize = 64 << 10;

/// Why the exporter could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("OpenTelemetry exporter for {endpoint}: {problem}")]
pub struct ExporterError {
    pub endpoint: String,
    pub problem: String,
}

/// Builds the exporter `$builder` (an OTLP exporter's `builder()`) makes for
/// `destination`, over the protocol it names, connecting from `network`. A macro: the
/// span and metric builders share their configuration traits but no builder type.
macro_rules! exporter_for {
    ($builder:expr, $destination:expr, $network:expr) => {{
        let destination: &Destination = $destination;
        let fail = |problem: String| ExporterError {
            endpoint: destination.endpoint.to_string(),
            problem,
        };
        match destination.protocol {
            Protocol::HttpProtobuf => {
                over_http($builder.with_http(), destination, $network).build()
            }
            Protocol::Grpc => over_grpc($builder.with_tonic(), destination, $network)
                .map_err(&fail)?
                .build(),
        }
        .map_err(|e| fail(e.to_string()))
    }};
}

/// The OTLP span exporter `destination` asks for, connecting from `network`.
pub(super) fn span_exporter(
    destination: &Destination,
    network: &Network,
) -> Result<opentelemetry_otlp::SpanExporter, ExporterError> {
    exporter_for!(
        opentelemetry_otlp::SpanExporter::builder(),
        destination,
        network
    )
}

/// The OTLP metric exporter `destination` asks for (cumulative, as Spin's), connecting
/// from `network`.
pub(super) fn metric_exporter(
    destination: &Destination,
    network: &Network,
) -> Result<opentelemetry_otlp::MetricExporter, ExporterError> {
    exporter_for!(
        opentelemetry_otlp::MetricExporter::builder(),
        destination,
        network
    )
}

/// An OTLP/HTTP exporter's builder sending to `destination` with the runtime's client.
fn over_http<B: WithExportConfig + WithHttpConfig>(
    builder: B,
    destination: &Destination,
    network: &Network,
) -> B {
    let headers = destination
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_string())))
        .collect();
    builder
        .with_http_client(NetworkHttpClient {
            network: network.clone(),
            timeout: destination.timeout,
        })
        .with_endpoint(destination.endpoint.to_string())
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_timeout(destination.timeout)
        .with_headers(headers)
}

/// An OTLP/gRPC exporter's builder sending to `destination` over a channel whose
/// connections come from `network`.
fn over_grpc<B: WithExportConfig + WithTonicConfig>(
    builder: B,
    destination: &Destination,
    network: &Network,
) -> Result<B, String> {
    Ok(builder
        .with_channel(grpc_channel(destination, network)?)
        .with_timeout(destination.timeout)
        .with_metadata(grpc_metadata(destination)))
}

/// `OTEL_EXPORTER_OTLP_*_HEADERS` as gRPC metadata.
pub(super) fn grpc_metadata(destination: &Destination) -> tonic::metadata::MetadataMap {
    let mut metadata = tonic::metadata::MetadataMap::new();
    for (name, value) in &destination.headers {
        if let (Ok(key), Ok(value)) = (
            tonic::metadata::MetadataKey::from_bytes(name.as_str().as_bytes()),
            tonic::metadata::MetadataValue::try_from(value.as_bytes()),
        ) {
            metadata.insert(key, value);
        }
    }
    metadata
}

/// A lazily connecting gRPC channel whose connections come from `network`; `https`
/// endpoints are verified against the Mozilla root set, as outbound HTTP is.
pub(super) fn grpc_channel(
    destination: &Destination,
    network: &Network,
) -> Result<tonic::transport::Channel, String> {
    let mut endpoint = tonic::transport::Endpoint::from(destination.endpoint.clone())
        .timeout(destination.timeout)
        .connect_timeout(destination.timeout);
    if destination.endpoint.scheme_str() == Some("https") {
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
pub(super) struct NetworkHttpClient {
    pub(super) network: Network,
    pub(super) timeout: Duration,
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
