//! Metric data points as the receiver keeps them: one per series per export.

use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::MetricsService;
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};

use super::{GrpcSink, flatten};

/// One received data point, flattened for assertions.
#[derive(Debug, Clone)]
pub struct ReceivedPoint {
    pub metric: String,
    pub unit: String,
    pub attributes: Vec<(String, String)>,
    /// The resource's attributes (`service.name`, ...).
    pub resource: Vec<(String, String)>,
    pub value: MetricValue,
    /// Which endpoint it came through: `http` or `grpc`.
    pub via: &'static str,
}

/// A data point's value.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricValue {
    /// A counter's or gauge's number.
    Number(f64),
    /// A histogram's count of measurements and their sum.
    Histogram { count: u64, sum: f64 },
}

impl ReceivedPoint {
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Every data point of an export request.
pub(super) fn flatten_request(
    request: ExportMetricsServiceRequest,
    via: &'static str,
) -> Vec<ReceivedPoint> {
    let mut points = Vec::new();
    for resource_metrics in request.resource_metrics {
        let resource = resource_metrics
            .resource
            .map(|r| flatten(&r.attributes))
            .unwrap_or_default();
        for scope in resource_metrics.scope_metrics {
            for m in scope.metrics {
                let point = |attributes, value| ReceivedPoint {
                    metric: m.name.clone(),
                    unit: m.unit.clone(),
                    attributes,
                    resource: resource.clone(),
                    value,
                    via,
                };
                let number = |value: Option<number_data_point::Value>| match value {
                    Some(number_data_point::Value::AsInt(i)) => i as f64,
                    Some(number_data_point::Value::AsDouble(d)) => d,
                    None => f64::NAN,
                };
                match &m.data {
                    Some(metric::Data::Sum(sum)) => {
                        points.extend(sum.data_points.iter().map(|p| {
                            point(flatten(&p.attributes), MetricValue::Number(number(p.value)))
                        }))
                    }
                    Some(metric::Data::Gauge(gauge)) => {
                        points.extend(gauge.data_points.iter().map(|p| {
                            point(flatten(&p.attributes), MetricValue::Number(number(p.value)))
                        }))
                    }
                    Some(metric::Data::Histogram(histogram)) => {
                        points.extend(histogram.data_points.iter().map(|p| {
                            let value = MetricValue::Histogram {
                                count: p.count,
                                sum: p.sum.unwrap_or(f64::NAN),
                            };
                            point(flatten(&p.attributes), value)
                        }))
                    }
                    _ => {}
                }
            }
        }
    }
    points
}

#[tonic::async_trait]
impl MetricsService for GrpcSink {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.0.take_metrics(request.into_inner(), "grpc");
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}
