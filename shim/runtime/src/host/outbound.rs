//! Outbound HTTP, checked against the component's `allowed_outbound_hosts`.
//!
//! A denied request never leaves the process: the guest gets `HttpRequestDenied`
//! (`wasi:http`) or `destination-not-allowed` (Spin's `fermyon:spin/http`), and the
//! runtime logs which entry would allow it. An allowed request to the app itself
//! (`*.spin.internal`, `self`) is served in-process ([`super::service_chaining`]);
//! any other goes over the network.

use std::collections::BTreeMap;
use std::sync::Arc;

use spin_app::allowed_hosts::AllowedHost;
use spin_app::template::{Template, TemplateError};
use wasmtime_wasi_http::{RequestOptions, WasiBody, WasiHttpHooks};

use super::service_chaining::{ChainLink, chain_target};
use crate::RuntimeError;
use crate::bounded_body::{Bound, BoundedBody};
use crate::host::http_client;
use crate::network::Network;
use crate::telemetry::{TraceParent, TraceSpan, text};

/// Which destinations one component may reach.
#[derive(Debug, Clone)]
pub struct OutboundPolicy {
    component: Arc<str>,
    allowed: Arc<[AllowedHost]>,
    /// Most bytes of one response body a guest may receive.
    pub max_response_body: u64,
    /// Most bytes of one database query's result the host buffers for the guest, and
    /// of one MQTT packet: the instance's memory cap, since the guest could not hold
    /// more. Until [`OutboundPolicy::replies_within`] sets it, `max_response_body`.
    pub max_reply: usize,
    /// Where connections to allowed destinations leave from.
    pub network: Network,
    /// The app, for requests to its own components.
    chain: ChainLink,
    /// How this component's TLS connections are made, by host.
    pub tls: crate::tls::ComponentTls,
}

impl OutboundPolicy {
    /// Renders templated entries with the app's variables and parses every entry.
    pub fn new(
        component: &str,
        entries: &[String],
        app_values: &BTreeMap<String, String>,
        max_response_body: u64,
        network: Network,
    ) -> Result<Self, RuntimeError> {
        let allowed = entries
            .iter()
            .map(|entry| {
                let problem = |p: String| RuntimeError::AllowedHosts {
                    component: component.to_string(),
                    problem: p,
                };
                let rendered = Template::parse(entry)
                    .and_then(|template| template.render(app_values))
                    .map_err(|e| match e {
                        TemplateError::Undeclared { .. } => problem(format!("{entry:?} {e}")),
                        _ => problem(e.to_string()),
                    })?;
                AllowedHost::parse(&rendered).map_err(problem)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            component: component.into(),
            allowed: allowed.into(),
            max_response_body,
            max_reply: usize::try_from(max_response_body).unwrap_or(usize::MAX),
            network,
            chain: ChainLink::default(),
            tls: Default::default(),
        })
    }

    /// Bounds database results and broker messages by the instance's memory cap.
    pub fn replies_within(self, max_reply: usize) -> Self {
        Self { max_reply, ..self }
    }

    /// TLS connections are made as `tls` says (the app's `[[client_tls]]` tables).
    pub fn with_tls(self, tls: crate::tls::ComponentTls) -> Self {
        Self { tls, ..self }
    }

    /// The component this policy is for.
    pub fn component(&self) -> &str {
        &self.component
    }

    /// Requests to `*.spin.internal` and `self` go to the app behind `chain`.
    pub fn chained_to(self, chain: ChainLink) -> Self {
        Self { chain, ..self }
    }

    /// Whether the URI may be requested; a refusal is logged with the entry to add.
    /// Checks a connection to `shown` (a [`shown_address`]) against the allow-list:
    /// `None` when it is not an address at all, else whether it is allowed (a refusal
    /// is logged with the entry to add).
    pub fn allows_address(&self, shown: &str) -> Option<bool> {
        let uri: http::Uri = shown.parse().ok()?;
        Some(self.allows(&uri))
    }

    pub fn allows(&self, uri: &http::Uri) -> bool {
        let scheme = uri.scheme_str().unwrap_or("https");
        let host = uri.host().unwrap_or_default();
        let port = uri.port_u16();
        if !host.is_empty() && self.allowed.iter().any(|a| a.allows(scheme, host, port)) {
            return true;
        }
        let suggestion = match port {
            Some(p) => format!("{scheme}://{host}:{p}"),
            None => format!("{scheme}://{host}"),
        };
        tracing::warn!(
            component = %self.component,
            %uri,
            "outbound request denied: add \"{suggestion}\" to allowed_outbound_hosts of component `{}` to allow it",
            self.component
        );
        false
    }
}

/// `scheme://host:port` as allow-list checks and messages show a connection's address:
/// an IPv6 host bracketed, never credentials.
pub fn shown_address(scheme: &str, host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("{scheme}://[{host}]:{port}")
    } else {
        format!("{scheme}://{host}:{port}")
    }
}

/// `wasi:http` hooks that enforce the policy before sending.
#[derive(Debug)]
pub struct OutboundHooks {
    pub policy: OutboundPolicy,
    /// Where the requests' spans hang.
    pub trace: TraceParent,
}

type SendFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                ),
                wasmtime_wasi_http::Error,
            >,
        > + Send,
>;

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> SendFuture {
        if !self.policy.allows(request.uri()) {
            record_denied(&self.trace, &request);
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        let policy = self.policy.clone();
        let trace = self.trace.clone();
        Box::new(async move {
            let (response, io) = send_allowed(&policy, &trace, request, options).await?;
            Ok((response, Box::new(io) as Box<dyn Future<Output = _> + Send>))
        })
    }
}

/// Sends a request the policy has allowed: in-process to the app itself, else over the
/// network; the response body is bounded by `max_response_body` either way. The
/// request gets a client span under `trace`, and carries it in `traceparent` unless
/// the guest set one itself.
pub async fn send_allowed(
    policy: &OutboundPolicy,
    trace: &TraceParent,
    mut request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
) -> Result<(http::Response<WasiBody>, http_client::Connection), wasmtime_wasi_http::Error> {
    let mut span = client_span(trace, &request);
    if !request.headers().contains_key("traceparent") {
        span.inject(request.headers_mut());
    }
    let sent = send_traced(policy, request, options).await;
    match &sent {
        Ok((response, _)) => {
            let status = response.status();
            span.set(opentelemetry::KeyValue::new(
                "http.response.status_code",
                i64::from(status.as_u16()),
            ));
            if status.is_server_error() {
                span.fail(status.to_string());
            }
        }
        Err(e) => span.fail(e.to_string()),
    }
    sent
}

/// A failed client span for a request the policy refused.
pub fn record_denied<B>(trace: &TraceParent, request: &http::Request<B>) {
    client_span(trace, request).fail("denied: not in the component's allowed_outbound_hosts");
}

/// An outbound request's span: named by its method, with its destination (never
/// credentials or the query, which may carry secrets).
fn client_span<B>(trace: &TraceParent, request: &http::Request<B>) -> TraceSpan {
    let method = request.method().as_str();
    trace.span(
        method.to_string(),
        opentelemetry::trace::SpanKind::Client,
        || {
            let uri = request.uri();
            let scheme = uri.scheme_str().unwrap_or("http");
            let host = uri.host().unwrap_or_default();
            let port = uri
                .port_u16()
                .unwrap_or(if scheme == "https" { 443 } else { 80 });
            vec![
                opentelemetry::KeyValue::new("http.request.method", method.to_string()),
                text(
                    "url.full",
                    &format!("{}{}", shown_address(scheme, host, port), uri.path()),
                ),
                text("server.address", host),
                opentelemetry::KeyValue::new("server.port", i64::from(port)),
            ]
        },
    )
}

async fn send_traced(
    policy: &OutboundPolicy,
    request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
) -> Result<(http::Response<WasiBody>, http_client::Connection), wasmtime_wasi_http::Error> {
    use http_body_util::BodyExt;
    let limit = policy.max_response_body;
    let uri = request.uri().clone();
    if let Some(target) = chain_target(&uri) {
        let response = policy.chain.send(target, request).await?;
        let response =
            response.map(|body| BoundedBody::new(body, limit, Bound::Response).boxed_unsync());
        return Ok((response, Box::pin(async { Ok(()) })));
    }
    let (response, io) = http_client::send(&policy.network, &policy.tls, request, options).await?;
    let response =
        response.map(|body| BoundedBody::new(body, limit, Bound::Response).boxed_unsync());
    Ok((response, io))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templated_entries_use_app_variables() {
        let values = BTreeMap::from([("host".to_string(), "api.example.com".to_string())]);
        let policy = OutboundPolicy::new(
            "c",
            &["https://{{ host }}".to_string()],
            &values,
            1 << 20,
            Network::Process,
        )
        .unwrap();
        let allows = |uri: &str| policy.allows(&uri.parse().unwrap());
        assert!(allows("https://api.example.com/x"));
        assert!(!allows("https://evil.example.com/x"));
        assert!(!allows("/relative"));
    }

    #[test]
    fn bad_entry_names_the_component() {
        let err = OutboundPolicy::new(
            "web",
            &["nope".to_string()],
            &BTreeMap::new(),
            1 << 20,
            Network::Process,
        )
        .unwrap_err();
        assert!(err.to_string().contains("web"), "{err}");
    }
}
