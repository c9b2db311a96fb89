//! The standard OpenTelemetry environment variables of an app, read from the app's own
//! environment (a pod's container `env`, which the operator fills from the executor's
//! `otel` block; `spin-run`'s process environment), never from the shim's.
//!
//! A signal (traces, metrics) is on when `OTEL_EXPORTER_OTLP_ENDPOINT` or its own
//! `OTEL_EXPORTER_OTLP_{TRACES,METRICS}_ENDPOINT` is set, unless `OTEL_SDK_DISABLED` is
//! `true` or `OTEL_{TRACES,METRICS}_EXPORTER` is `none`; each signal's own
//! `_PROTOCOL`, `_HEADERS` and `_TIMEOUT` variables come before the shared ones.
//! A value that cannot be used fails the app's start, naming the variable; the sizes a
//! pod may ask for are capped ([`MAX_QUEUE_SIZE`], [`MIN_METRIC_INTERVAL`]), since the
//! shim does the work.

use std::time::Duration;

use crate::setting_error::SettingError;

/// Most finished spans waiting for export, whatever `OTEL_BSP_MAX_QUEUE_SIZE` asks:
/// with attribute values cut at [`MAX_ATTRIBUTE_BYTES`], a full queue holds a few
/// tens of MiB at most.
pub const MAX_QUEUE_SIZE: usize = 8192;

/// Shortest time between two metric exports, whatever `OTEL_METRIC_EXPORT_INTERVAL`
/// asks.
pub const MIN_METRIC_INTERVAL: Duration = Duration::from_millis(100);

/// Longest string attribute value kept (request paths, URLs, user agents, channel
/// names); longer ones are cut at a character boundary.
pub const MAX_ATTRIBUTE_BYTES: usize = 512;

/// How a signal reaches the collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `http/protobuf` (the default, as in Spin): `POST {endpoint}/v1/{signal}`.
    HttpProtobuf,
    /// `grpc`: the collector's `TraceService/Export` or `MetricsService/Export`.
    Grpc,
}

/// Which traces are recorded (`OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampling {
    AlwaysOn,
    AlwaysOff,
    /// This fraction of new traces.
    Ratio(f64),
    /// As the caller's `traceparent` says; new traces by the inner choice.
    ParentBased(RootSampling),
}

/// How a parent-based sampler decides for a trace that starts here.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RootSampling {
    AlwaysOn,
    AlwaysOff,
    Ratio(f64),
}

/// What the app's environment asks of its telemetry; at least one signal is on.
#[derive(Debug, Clone, PartialEq)]
pub struct OtelSettings {
    /// `service.name`: `OTEL_SERVICE_NAME`, else from `OTEL_RESOURCE_ATTRIBUTES`, else
    /// `spin` (as Spin names it).
    pub service_name: String,
    /// `OTEL_RESOURCE_ATTRIBUTES` (`key=value,…`, values percent-decoded).
    pub resource: Vec<(String, String)>,
    pub traces: Option<TraceSettings>,
    pub metrics: Option<MetricSettings>,
}

/// Where one signal is sent, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct Destination {
    pub protocol: Protocol,
    /// For `http/protobuf` the full URL (`/v1/traces` or `/v1/metrics` added to
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`, the signal's own endpoint as given), for `grpc`
    /// the collector's address.
    pub endpoint: http::Uri,
    /// Headers sent with every export (`OTEL_EXPORTER_OTLP_HEADERS`, then the
    /// signal's own), e.g. an API key.
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
    /// Longest one export may take (`OTEL_EXPORTER_OTLP_TIMEOUT`, ms; 10 s).
    pub timeout: Duration,
}

/// How spans are recorded and batched.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceSettings {
    pub destination: Destination,
    pub sampling: Sampling,
    /// `OTEL_BSP_MAX_QUEUE_SIZE` (2048, at most [`MAX_QUEUE_SIZE`]).
    pub max_queue: usize,
    /// `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` (512, at most the queue).
    pub max_batch: usize,
    /// `OTEL_BSP_SCHEDULE_DELAY` (ms; 5 s): longest a span waits before its batch goes.
    pub delay: Duration,
}

/// How often metrics are sent.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSettings {
    pub destination: Destination,
    /// `OTEL_METRIC_EXPORT_INTERVAL` (ms; 60 s, at least [`MIN_METRIC_INTERVAL`]).
    pub interval: Duration,
}

/// The variables' part that names a signal, and the path OTLP/HTTP gives it.
#[derive(Debug, Clone, Copy)]
enum Signal {
    Traces,
    Metrics,
}

impl Signal {
    fn name(self) -> &'static str {
        match self {
            Self::Traces => "TRACES",
            Self::Metrics => "METRICS",
        }
    }

    fn path(self) -> &'static str {
        match self {
            Self::Traces => "v1/traces",
            Self::Metrics => "v1/metrics",
        }
    }
}

/// A variable's value, `None` when unset or empty.
type Lookup<'l, 'a> = &'l dyn Fn(&str) -> Option<&'a str>;

impl OtelSettings {
    /// The app's telemetry settings; `None` when every signal is off.
    pub fn from_env<'a>(
        lookup: impl Fn(&str) -> Option<&'a str>,
    ) -> Result<Option<Self>, SettingError> {
        // Set but empty counts as unset, as in the specification.
        let get = |name: &str| lookup(name).map(str::trim).filter(|v| !v.is_empty());
        if get("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Ok(None);
        }
        let traces = match destination(&get, Signal::Traces)? {
            Some(destination) => Some(trace_settings(&get, destination)?),
            None => None,
        };
        let metrics = match destination(&get, Signal::Metrics)? {
            Some(destination) => Some(MetricSettings {
                destination,
                interval: match get("OTEL_METRIC_EXPORT_INTERVAL") {
                    Some(v) => millis("OTEL_METRIC_EXPORT_INTERVAL", v)?.max(MIN_METRIC_INTERVAL),
                    None => Duration::from_secs(60),
                },
            }),
            None => None,
        };
        if traces.is_none() && metrics.is_none() {
            return Ok(None);
        }
        let resource = match get("OTEL_RESOURCE_ATTRIBUTES") {
            Some(value) => pairs("OTEL_RESOURCE_ATTRIBUTES", value)?,
            None => Vec::new(),
        };
        let service_name = get("OTEL_SERVICE_NAME")
            .map(str::to_string)
            .or_else(|| {
                resource
                    .iter()
                    .find(|(k, _)| k == "service.name")
                    .map(|(_, v)| v.clone())
            })
            .unwrap_or_else(|| "spin".to_string());
        Ok(Some(Self {
            service_name,
            resource,
            traces,
            metrics,
        }))
    }
}

/// Where `signal` goes; `None` when it is off.
fn destination(get: Lookup, signal: Signal) -> Result<Option<Destination>, SettingError> {
    let name = signal.name();
    let exporter = format!("OTEL_{name}_EXPORTER");
    match get(&exporter) {
        None | Some("otlp") => {}
        Some("none") => return Ok(None),
        Some(other) => {
            return Err(error(
                &exporter,
                other,
                "not an exporter this runtime has; use `otlp` or `none`",
            ));
        }
    }
    let own_endpoint = format!("OTEL_EXPORTER_OTLP_{name}_ENDPOINT");
    let base_endpoint = get("OTEL_EXPORTER_OTLP_ENDPOINT");
    let (own, base) = (get(&own_endpoint), base_endpoint);
    if own.is_none() && base.is_none() {
        return Ok(None);
    }
    // The signal's own variable, else the shared one.
    let either = |suffix: &str| {
        let own = format!("OTEL_EXPORTER_OTLP_{name}_{suffix}");
        match get(&own) {
            Some(value) => Some((own, value)),
            None => {
                let shared = format!("OTEL_EXPORTER_OTLP_{suffix}");
                get(&shared).map(|value| (shared, value))
            }
        }
    };
    let protocol = match either("PROTOCOL") {
        Some((var, value)) => protocol(&var, value)?,
        None => Protocol::HttpProtobuf,
    };
    let endpoint = match (own, base) {
        (Some(url), _) => endpoint(&own_endpoint, url, None)?,
        (None, Some(url)) => {
            let path = (protocol == Protocol::HttpProtobuf).then_some(signal.path());
            endpoint("OTEL_EXPORTER_OTLP_ENDPOINT", url, path)?
        }
        (None, None) => unreachable!("checked above"),
    };
    let mut headers = Vec::new();
    for var in [
        "OTEL_EXPORTER_OTLP_HEADERS".to_string(),
        format!("OTEL_EXPORTER_OTLP_{name}_HEADERS"),
    ] {
        if let Some(value) = get(&var) {
            for (key, value) in pairs(&var, value)? {
                let bad = |problem: String| error(&var, value.as_str(), problem);
                let key = http::HeaderName::try_from(key.as_str())
                    .map_err(|_| bad(format!("`{key}` is not a header name")))?;
                let value = http::HeaderValue::try_from(value.as_str())
                    .map_err(|_| bad(format!("the value of `{key}` is not a header value")))?;
                headers.retain(|(k, _)| *k != key);
                headers.push((key, value));
            }
        }
    }
    let timeout = match either("TIMEOUT") {
        Some((var, value)) => millis(&var, value)?,
        None => Duration::from_secs(10),
    };
    Ok(Some(Destination {
        protocol,
        endpoint,
        headers,
        timeout,
    }))
}

fn trace_settings(get: Lookup, destination: Destination) -> Result<TraceSettings, SettingError> {
    let sampling = sampling(get("OTEL_TRACES_SAMPLER"), get("OTEL_TRACES_SAMPLER_ARG"))?;
    let max_queue = match get("OTEL_BSP_MAX_QUEUE_SIZE") {
        Some(v) => count("OTEL_BSP_MAX_QUEUE_SIZE", v)?.min(MAX_QUEUE_SIZE),
        None => 2048,
    };
    let max_batch = match get("OTEL_BSP_MAX_EXPORT_BATCH_SIZE") {
        Some(v) => count("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", v)?,
        None => 512,
    }
    .min(max_queue);
    let delay = match get("OTEL_BSP_SCHEDULE_DELAY") {
        Some(v) => millis("OTEL_BSP_SCHEDULE_DELAY", v)?,
        None => Duration::from_secs(5),
    };
    Ok(TraceSettings {
        destination,
        sampling,
        max_queue,
        max_batch,
        delay,
    })
}

fn error(name: &str, value: &str, problem: impl Into<String>) -> SettingError {
    SettingError {
        name: name.into(),
        value: value.into(),
        problem: problem.into(),
    }
}

fn protocol(name: &str, value: &str) -> Result<Protocol, SettingError> {
    match value {
        "http/protobuf" => Ok(Protocol::HttpProtobuf),
        "grpc" => Ok(Protocol::Grpc),
        "http/json" => Err(error(
            name,
            value,
            "OTLP over JSON is not supported; use `http/protobuf` or `grpc`",
        )),
        _ => Err(error(
            name,
            value,
            "not an OTLP protocol; use `http/protobuf` or `grpc`",
        )),
    }
}

/// An `http://` or `https://` URL with a host; `path` (`v1/traces`) is appended to its
/// path for a base endpoint.
fn endpoint(name: &str, value: &str, path: Option<&str>) -> Result<http::Uri, SettingError> {
    let uri: http::Uri = value.parse().map_err(|e| {
        error(
            name,
            value,
            format!("not a URL ({e}); write it as http://HOST:PORT"),
        )
    })?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        return Err(error(
            name,
            value,
            "not an http:// or https:// URL with a host (e.g. http://otel-collector:4318)",
        ));
    }
    let Some(path) = path else {
        return Ok(uri);
    };
    let base = uri.path().trim_end_matches('/');
    let joined = format!(
        "{}://{}{base}/{path}",
        uri.scheme_str().unwrap_or("http"),
        uri.authority().map_or("", |a| a.as_str())
    );
    joined
        .parse()
        .map_err(|e| error(name, value, format!("not a URL with /{path} added ({e})")))
}

/// `key=value,key=value` with percent-encoded values (headers, resource attributes).
fn pairs(name: &str, value: &str) -> Result<Vec<(String, String)>, SettingError> {
    value
        .split(',')
        .filter(|item| !item.trim().is_empty())
        .map(|item| {
            let (key, val) = item
                .split_once('=')
                .ok_or_else(|| error(name, value, format!("`{}` is not key=value", item.trim())))?;
            let decoded = percent_decode(val.trim()).ok_or_else(|| {
                error(
                    name,
                    value,
                    format!(
                        "the value of `{}` is not valid percent-encoded UTF-8",
                        key.trim()
                    ),
                )
            })?;
            Ok((key.trim().to_string(), decoded))
        })
        .collect()
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn millis(name: &str, value: &str) -> Result<Duration, SettingError> {
    value
        .parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| error(name, value, "not a whole number of milliseconds"))
}

fn count(name: &str, value: &str) -> Result<usize, SettingError> {
    match value.parse::<usize>() {
        Ok(0) | Err(_) => Err(error(name, value, "not a whole number above 0")),
        Ok(n) => Ok(n),
    }
}

fn sampling(sampler: Option<&str>, arg: Option<&str>) -> Result<Sampling, SettingError> {
    const NAME: &str = "OTEL_TRACES_SAMPLER_ARG";
    let ratio = || -> Result<f64, SettingError> {
        match arg {
            None => Ok(1.0),
            Some(v) => match v.parse::<f64>() {
                Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
                _ => Err(error(NAME, v, "not a ratio between 0 and 1")),
            },
        }
    };
    Ok(match sampler.unwrap_or("parentbased_always_on") {
        "always_on" => Sampling::AlwaysOn,
        "always_off" => Sampling::AlwaysOff,
        "traceidratio" => Sampling::Ratio(ratio()?),
        "parentbased_always_on" => Sampling::ParentBased(RootSampling::AlwaysOn),
        "parentbased_always_off" => Sampling::ParentBased(RootSampling::AlwaysOff),
        "parentbased_traceidratio" => Sampling::ParentBased(RootSampling::Ratio(ratio()?)),
        other => {
            return Err(error(
                "OTEL_TRACES_SAMPLER",
                other,
                "not a sampler this runtime knows (always_on, always_off, traceidratio, \
                 parentbased_always_on, parentbased_always_off, parentbased_traceidratio)",
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(vars: &[(&str, &str)]) -> Result<Option<OtelSettings>, SettingError> {
        OtelSettings::from_env(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| *v))
    }

    /// The trace settings `vars` give.
    fn traces(vars: &[(&str, &str)]) -> TraceSettings {
        read(vars).unwrap().unwrap().traces.unwrap()
    }

    #[test]
    fn telemetry_is_off_without_an_endpoint_or_when_disabled() {
        assert_eq!(read(&[]).unwrap(), None);
        assert_eq!(read(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")]).unwrap(), None);
        let disabled = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_SDK_DISABLED", "TRUE"),
        ];
        assert_eq!(read(&disabled).unwrap(), None);
        let none = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_TRACES_EXPORTER", "none"),
            ("OTEL_METRICS_EXPORTER", "none"),
        ];
        assert_eq!(read(&none).unwrap(), None);
    }

    #[test]
    fn a_base_endpoint_gets_the_traces_path_and_a_traces_endpoint_is_used_as_given() {
        let s = read(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")])
            .unwrap()
            .unwrap();
        assert_eq!(s.service_name, "spin");
        let t = s.traces.unwrap();
        assert_eq!(t.destination.protocol, Protocol::HttpProtobuf);
        assert_eq!(t.destination.endpoint, "http://collector:4318/v1/traces");
        assert_eq!(t.destination.timeout, Duration::from_secs(10));
        assert_eq!((t.max_queue, t.max_batch), (2048, 512));
        let t = traces(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "https://x.example/otlp/t",
            ),
        ]);
        assert_eq!(t.destination.endpoint, "https://x.example/otlp/t");
        let t = traces(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ]);
        assert_eq!(
            (t.destination.protocol, t.destination.endpoint.to_string()),
            (Protocol::Grpc, "http://collector:4317/".to_string())
        );
    }

    #[test]
    fn each_signal_takes_its_own_variables_before_the_shared_ones() {
        let s = read(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://metrics:4317"),
            ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "2500"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "5000"),
        ])
        .unwrap()
        .unwrap();
        let (t, m) = (s.traces.unwrap(), s.metrics.unwrap());
        assert_eq!(t.destination.endpoint, "http://collector:4318/v1/traces");
        assert_eq!(t.destination.protocol, Protocol::HttpProtobuf);
        assert_eq!(m.destination.endpoint, "http://metrics:4317/");
        assert_eq!(m.destination.protocol, Protocol::Grpc);
        assert_eq!(m.destination.timeout, Duration::from_millis(2500));
        assert_eq!(m.interval, Duration::from_secs(5));

        // Metrics only; the interval has a floor and a default.
        let s = read(&[
            (
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                "http://m:4318/v1/metrics",
            ),
            ("OTEL_METRIC_EXPORT_INTERVAL", "1"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(s.traces, None);
        assert_eq!(s.metrics.unwrap().interval, MIN_METRIC_INTERVAL);
        let s = read(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_TRACES_EXPORTER", "none"),
        ])
        .unwrap()
        .unwrap();
        let m = s.metrics.unwrap();
        assert_eq!(s.traces, None);
        assert_eq!(m.destination.endpoint, "http://c:4318/v1/metrics");
        assert_eq!(m.interval, Duration::from_secs(60));
    }

    #[test]
    fn headers_resource_and_service_name() {
        let s = read(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=a%20b, x-team=web"),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "api-key=traces"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "service.name=shop,deployment.environment=prod",
            ),
        ])
        .unwrap()
        .unwrap();
        let traces = s.traces.unwrap();
        let headers: Vec<_> = traces
            .destination
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_str().unwrap()))
            .collect();
        assert_eq!(headers, [("x-team", "web"), ("api-key", "traces")]);
        assert_eq!(s.service_name, "shop");
        let named = read(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_SERVICE_NAME", "cart"),
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name=shop"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(named.service_name, "cart");
    }

    #[test]
    fn a_pod_cannot_ask_for_a_queue_past_the_cap() {
        let s = traces(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "100000000"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "100000"),
        ]);
        assert_eq!((s.max_queue, s.max_batch), (MAX_QUEUE_SIZE, MAX_QUEUE_SIZE));
    }

    #[test]
    fn bad_values_name_the_variable_and_the_fix() {
        let cases = [
            (
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
                "OTEL_EXPORTER_OTLP_PROTOCOL=\"http/json\": OTLP over JSON is not supported; use `http/protobuf` or `grpc`",
            ),
            (
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "10s"),
                "OTEL_EXPORTER_OTLP_TIMEOUT=\"10s\": not a whole number of milliseconds",
            ),
            (
                ("OTEL_EXPORTER_OTLP_HEADERS", "api-key"),
                "OTEL_EXPORTER_OTLP_HEADERS=\"api-key\": `api-key` is not key=value",
            ),
            (
                ("OTEL_TRACES_SAMPLER", "sometimes"),
                "OTEL_TRACES_SAMPLER=\"sometimes\": not a sampler this runtime knows",
            ),
            (
                ("OTEL_METRICS_EXPORTER", "prometheus"),
                "OTEL_METRICS_EXPORTER=\"prometheus\": not an exporter this runtime has; use `otlp` or `none`",
            ),
            (
                ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "thrift"),
                "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL=\"thrift\": not an OTLP protocol",
            ),
            (
                ("OTEL_METRIC_EXPORT_INTERVAL", "1m"),
                "OTEL_METRIC_EXPORT_INTERVAL=\"1m\": not a whole number of milliseconds",
            ),
        ];
        for ((name, value), expected) in cases {
            let err = read(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                (name, value),
            ])
            .unwrap_err()
            .to_string();
            assert!(err.starts_with(expected), "{err}");
        }
        let err = read(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("http://"), "{err}");
    }

    #[test]
    fn samplers() {
        let with = |sampler: &str, arg: Option<&str>| sampling(Some(sampler), arg).unwrap();
        assert_eq!(
            sampling(None, None).unwrap(),
            Sampling::ParentBased(RootSampling::AlwaysOn)
        );
        assert_eq!(with("traceidratio", Some("0.25")), Sampling::Ratio(0.25));
        assert_eq!(
            with("parentbased_traceidratio", Some("0.5")),
            Sampling::ParentBased(RootSampling::Ratio(0.5))
        );
        assert!(sampling(Some("traceidratio"), Some("2")).is_err());
    }
}
