//! A guest's metrics (`wasi:otel/metrics` `resource-metrics`) as an OTLP export
//! request, bounded: at most [`MAX_POINTS`] data points (with their exemplars) and
//! [`MAX_BUCKETS`] buckets per histogram point in one export, or the export is refused
//! with the limit it passed; strings and attributes are cut as a guest span's are
//! ([`super::convert`]).

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1 as common;
use opentelemetry_proto::tonic::metrics::v1 as proto;
use opentelemetry_proto::tonic::resource::v1::Resource;
use wasmtime_wasi::p2::bindings::clocks::wall_clock::Datetime;

use super::convert::{MAX_ITEMS, attributes, cut};
use crate::host::bindings::otel::wasi::otel::{metrics as wasi, types};

/// Most data points and exemplars in one guest export.
pub const MAX_POINTS: usize = 4096;
/// Most buckets of one histogram data point.
pub const MAX_BUCKETS: usize = 512;

/// The export request for `metrics`, or why it is refused.
pub fn export_request(
    metrics: wasi::ResourceMetrics,
) -> Result<ExportMetricsServiceRequest, String> {
    let mut budget = Budget(MAX_POINTS);
    let scope_metrics = metrics
        .scope_metrics
        .into_iter()
        .map(|scope| {
            Ok(proto::ScopeMetrics {
                scope: Some(instrumentation_scope(scope.scope)),
                metrics: scope
                    .metrics
                    .into_iter()
                    .map(|m| metric(m, &mut budget))
                    .collect::<Result<_, String>>()?,
                schema_url: String::new(),
            })
        })
        .collect::<Result<_, String>>()?;
    Ok(ExportMetricsServiceRequest {
        resource_metrics: vec![proto::ResourceMetrics {
            resource: Some(Resource {
                attributes: key_values(metrics.resource.attributes),
                ..Default::default()
            }),
            scope_metrics,
            schema_url: metrics
                .resource
                .schema_url
                .map(|u| cut(u).into_owned())
                .unwrap_or_default(),
        }],
    })
}

/// What is left of [`MAX_POINTS`].
struct Budget(usize);

impl Budget {
    fn take(&mut self, n: usize) -> Result<(), String> {
        self.0 = self.0.checked_sub(n).ok_or_else(|| {
            format!("more than {MAX_POINTS} data points and exemplars in one export")
        })?;
        Ok(())
    }
}

fn metric(metric: wasi::Metric, budget: &mut Budget) -> Result<proto::Metric, String> {
    use proto::metric::Data;
    use wasi::MetricData as M;
    let data = match metric.data {
        M::F64Gauge(g) | M::U64Gauge(g) | M::S64Gauge(g) => Data::Gauge(proto::Gauge {
            data_points: g
                .data_points
                .into_iter()
                .map(|p| {
                    number_point(
                        p.attributes,
                        p.value,
                        p.exemplars,
                        g.start_time,
                        g.time,
                        budget,
                    )
                })
                .collect::<Result<_, _>>()?,
        }),
        M::F64Sum(s) | M::U64Sum(s) | M::S64Sum(s) => Data::Sum(proto::Sum {
            data_points: s
                .data_points
                .into_iter()
                .map(|p| {
                    number_point(
                        p.attributes,
                        p.value,
                        p.exemplars,
                        Some(s.start_time),
                        s.time,
                        budget,
                    )
                })
                .collect::<Result<_, _>>()?,
            aggregation_temporality: temporality(s.temporality),
            is_monotonic: s.is_monotonic,
        }),
        M::F64Histogram(h) | M::U64Histogram(h) | M::S64Histogram(h) => {
            Data::Histogram(proto::Histogram {
                data_points: h
                    .data_points
                    .into_iter()
                    .map(|p| {
                        budget.take(1 + p.exemplars.len())?;
                        if p.bounds.len() > MAX_BUCKETS || p.bucket_counts.len() > MAX_BUCKETS {
                            return Err(too_many_buckets(&metric.name));
                        }
                        Ok(proto::HistogramDataPoint {
                            attributes: key_values(p.attributes),
                            start_time_unix_nano: nanos(h.start_time),
                            time_unix_nano: nanos(h.time),
                            count: p.count,
                            sum: Some(float(p.sum)),
                            bucket_counts: p.bucket_counts,
                            explicit_bounds: p.bounds,
                            exemplars: exemplars(p.exemplars),
                            flags: 0,
                            min: p.min.map(float),
                            max: p.max.map(float),
                        })
                    })
                    .collect::<Result<_, _>>()?,
                aggregation_temporality: temporality(h.temporality),
            })
        }
        M::F64ExponentialHistogram(h)
        | M::U64ExponentialHistogram(h)
        | M::S64ExponentialHistogram(h) => {
            Data::ExponentialHistogram(proto::ExponentialHistogram {
                data_points: h
                    .data_points
                    .into_iter()
                    .map(|p| {
                        budget.take(1 + p.exemplars.len())?;
                        if p.positive_bucket.counts.len() > MAX_BUCKETS
                            || p.negative_bucket.counts.len() > MAX_BUCKETS
                        {
                            return Err(too_many_buckets(&metric.name));
                        }
                        let buckets = |b: wasi::ExponentialBucket| {
                            proto::exponential_histogram_data_point::Buckets {
                                offset: b.offset,
                                bucket_counts: b.counts,
                            }
                        };
                        Ok(proto::ExponentialHistogramDataPoint {
                            attributes: key_values(p.attributes),
                            start_time_unix_nano: nanos(h.start_time),
                            time_unix_nano: nanos(h.time),
                            count: p.count,
                            sum: Some(float(p.sum)),
                            scale: i32::from(p.scale),
                            zero_count: p.zero_count,
                            positive: Some(buckets(p.positive_bucket)),
                            negative: Some(buckets(p.negative_bucket)),
                            flags: 0,
                            exemplars: exemplars(p.exemplars),
                            min: p.min.map(float),
                            max: p.max.map(float),
                            zero_threshold: p.zero_threshold,
                        })
                    })
                    .collect::<Result<_, _>>()?,
                aggregation_temporality: temporality(h.temporality),
            })
        }
    };
    Ok(proto::Metric {
        name: cut(metric.name).into_owned(),
        description: cut(metric.description).into_owned(),
        unit: cut(metric.unit).into_owned(),
        metadata: Vec::new(),
        data: Some(data),
    })
}

fn too_many_buckets(metric: &str) -> String {
    format!("metric `{metric}` has a histogram point with more than {MAX_BUCKETS} buckets")
}

fn number_point(
    attributes: Vec<types::KeyValue>,
    value: wasi::MetricNumber,
    exemplar_list: Vec<wasi::Exemplar>,
    start: Option<Datetime>,
    time: Datetime,
    budget: &mut Budget,
) -> Result<proto::NumberDataPoint, String> {
    use proto::number_data_point::Value;
    budget.take(1 + exemplar_list.len())?;
    Ok(proto::NumberDataPoint {
        attributes: key_values(attributes),
        start_time_unix_nano: start.map(nanos).unwrap_or_default(),
        time_unix_nano: nanos(time),
        exemplars: exemplars(exemplar_list),
        flags: 0,
        value: Some(match int_or_double(value) {
            Ok(int) => Value::AsInt(int),
            Err(double) => Value::AsDouble(double),
        }),
    })
}

fn exemplars(list: Vec<wasi::Exemplar>) -> Vec<proto::Exemplar> {
    use proto::exemplar::Value;
    list.into_iter()
        .take(MAX_ITEMS)
        .map(|e| proto::Exemplar {
            filtered_attributes: key_values(e.filtered_attributes),
            time_unix_nano: nanos(e.time),
            span_id: hex_bytes::<8>(&e.span_id),
            trace_id: hex_bytes::<16>(&e.trace_id),
            value: Some(match int_or_double(e.value) {
                Ok(int) => Value::AsInt(int),
                Err(double) => Value::AsDouble(double),
            }),
        })
        .collect()
}

/// `N` bytes from their hex text; empty when it is not that.
fn hex_bytes<const N: usize>(text: &str) -> Vec<u8> {
    if text.len() != 2 * N {
        return Vec::new();
    }
    (0..N)
        .map(|i| u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()
        .unwrap_or_default()
}

/// A guest number as OTLP carries it: an integer, or a double (for an `f64`, or a
/// `u64` past `i64`'s range).
fn int_or_double(n: wasi::MetricNumber) -> Result<i64, f64> {
    match n {
        wasi::MetricNumber::F64(v) => Err(v),
        wasi::MetricNumber::S64(v) => Ok(v),
        wasi::MetricNumber::U64(v) => i64::try_from(v).map_err(|_| v as f64),
    }
}

fn float(n: wasi::MetricNumber) -> f64 {
    match n {
        wasi::MetricNumber::F64(v) => v,
        wasi::MetricNumber::S64(v) => v as f64,
        wasi::MetricNumber::U64(v) => v as f64,
    }
}

fn temporality(t: wasi::Temporality) -> i32 {
    match t {
        wasi::Temporality::Delta => proto::AggregationTemporality::Delta as i32,
        wasi::Temporality::Cumulative | wasi::Temporality::LowMemory => {
            proto::AggregationTemporality::Cumulative as i32
        }
    }
}

fn nanos(at: Datetime) -> u64 {
    at.seconds
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(at.nanoseconds.min(999_999_999)))
}

fn instrumentation_scope(scope: types::InstrumentationScope) -> common::InstrumentationScope {
    common::InstrumentationScope {
        name: cut(scope.name).into_owned(),
        version: scope
            .version
            .map(|v| cut(v).into_owned())
            .unwrap_or_default(),
        attributes: key_values(scope.attributes),
        dropped_attributes_count: 0,
    }
}

fn key_values(list: Vec<types::KeyValue>) -> Vec<common::KeyValue> {
    attributes(list)
        .0
        .into_iter()
        .map(|kv| common::KeyValue {
            key: kv.key.to_string(),
            value: Some(common::AnyValue::from(kv.value)),
            ..Default::default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64) -> Datetime {
        Datetime {
            seconds,
            nanoseconds: 0,
        }
    }

    fn counter(points: usize) -> wasi::ResourceMetrics {
        wasi::ResourceMetrics {
            resource: types::Resource {
                attributes: vec![types::KeyValue {
                    key: "service.name".into(),
                    value: r#""shop""#.into(),
                }],
                schema_url: None,
            },
            scope_metrics: vec![wasi::ScopeMetrics {
                scope: types::InstrumentationScope {
                    name: "guest".into(),
                    version: None,
                    schema_url: None,
                    attributes: vec![],
                },
                metrics: vec![wasi::Metric {
                    name: "orders".into(),
                    description: String::new(),
                    unit: "1".into(),
                    data: wasi::MetricData::U64Sum(wasi::Sum {
                        data_points: (0..points)
                            .map(|i| wasi::SumDataPoint {
                                attributes: vec![types::KeyValue {
                                    key: "shard".into(),
                                    value: i.to_string(),
                                }],
                                value: wasi::MetricNumber::U64(7),
                                exemplars: vec![],
                            })
                            .collect(),
                        start_time: at(1),
                        time: at(2),
                        temporality: wasi::Temporality::Delta,
                        is_monotonic: true,
                    }),
                }],
            }],
        }
    }

    #[test]
    fn a_guest_counter_becomes_an_otlp_sum() {
        let request = export_request(counter(1)).unwrap();
        let resource = &request.resource_metrics[0];
        let key = &resource.resource.as_ref().unwrap().attributes[0];
        assert_eq!(key.key, "service.name");
        let scope = &resource.scope_metrics[0];
        assert_eq!(scope.scope.as_ref().unwrap().name, "guest");
        let metric = &scope.metrics[0];
        assert_eq!(
            (metric.name.as_str(), metric.unit.as_str()),
            ("orders", "1")
        );
        let Some(proto::metric::Data::Sum(sum)) = &metric.data else {
            panic!("{metric:?}")
        };
        assert!(sum.is_monotonic);
        assert_eq!(
            sum.aggregation_temporality,
            proto::AggregationTemporality::Delta as i32
        );
        let point = &sum.data_points[0];
        assert_eq!(point.value, Some(proto::number_data_point::Value::AsInt(7)));
        assert_eq!(point.start_time_unix_nano, 1_000_000_000);
        assert_eq!(point.time_unix_nano, 2_000_000_000);
    }

    #[test]
    fn an_export_past_the_limits_is_refused_naming_them() {
        let e = export_request(counter(MAX_POINTS + 1)).unwrap_err();
        assert!(e.contains(&MAX_POINTS.to_string()), "{e}");
        assert!(export_request(counter(MAX_POINTS)).is_ok());
    }

    #[test]
    fn exemplar_ids_are_read_from_hex_or_left_empty() {
        assert_eq!(hex_bytes::<2>("0aff"), vec![0x0a, 0xff]);
        assert!(hex_bytes::<2>("0aXf").is_empty());
        assert!(hex_bytes::<2>("0a").is_empty());
        assert!(hex_bytes::<2>("é0a").is_empty());
    }
}
