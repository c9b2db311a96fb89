//! The HTTP server: accepts connections (HTTP/1.1 and h2c), answers the host's own
//! endpoints, routes, sets Spin's request headers and calls the component. Shutdown
//! stops accepting and lets in-flight requests finish (graceful drain).
//!
//! Clients are untrusted: connections, request heads, bodies and concurrent instances
//! are all bounded by [`Limits`] and `max_concurrent_instances`.

mod connection_workers;
pub(crate) mod inbound_http;
mod routes;
mod wasi_http_p2;
pub(crate) mod wasi_http_p3;
pub mod worlds;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::HeaderName;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use http_body_util::BodyExt;
use wasmtime_wasi_http::WasiBody;

use super::handler::{ResponseBody, text_response};
use crate::bounded_body::{Bound, BoundedBody};
use crate::config::Limits;
use crate::host::service_chaining::{ChainTarget, ChainedResponse, ChainedServer};
use crate::telemetry::{HttpMeasure, component_span};
use crate::{PreparedApp, RuntimeError};
use connection_workers::ConnectionWorkers;
use inbound_http::call_spin_inbound;
pub use routes::HttpTrigger;
use spin_app::routes::RouteMatch;
use wasi_http_p2::call_wasi_http;
use worlds::HandlerKind;

/// Path the host answers itself, for probes.
pub const HEALTH_PATH: &str = "/.well-known/spin/health";

/// A bound HTTP trigger, ready to serve.
#[derive(Debug)]
pub struct HttpServer {
    app: Arc<PreparedApp>,
    routes: Arc<HttpTrigger>,
    listener: TcpListener,
    local_addr: SocketAddr,
    workers: ConnectionWorkers,
}

/// Whether the app has an HTTP route to serve (a server to bind).
pub fn has_routes(app: &PreparedApp) -> bool {
    app.trigger::<HttpTrigger>()
        .is_some_and(|http| !http.router.is_empty())
}

impl HttpServer {
    /// Binds `config.listen` of the app.
    pub async fn bind(app: Arc<PreparedApp>) -> Result<Self, RuntimeError> {
        let addr = app.config.listen;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| RuntimeError::Listen { addr, source })?;
        Self::from_listener(app, listener)
    }

    /// Serves on a listener bound elsewhere (e.g. inside a pod's network namespace).
    pub fn from_listener(
        app: Arc<PreparedApp>,
        listener: TcpListener,
    ) -> Result<Self, RuntimeError> {
        let local_addr = listener
            .local_addr()
            .map_err(|source| RuntimeError::Listen {
                addr: app.config.listen,
                source,
            })?;
        let workers = ConnectionWorkers::per_core().map_err(RuntimeError::ConnectionWorkers)?;
        // From now on the app's components can reach each other in-process.
        app.chain.connect(Arc::<PreparedApp>::downgrade(&app));
        let routes = app.trigger::<HttpTrigger>().unwrap_or_default();
        Ok(Self {
            app,
            routes,
            listener,
            local_addr,
            workers,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The routes, as URLs of the bound address.
    pub fn listing(&self) -> Vec<String> {
        self.routes
            .router
            .listing(&format!("http://{}", self.local_addr))
    }

    /// Serves until `shutdown` completes, then waits up to `drain` for in-flight
    /// requests before returning. Open connections are capped (`max_connections`):
    /// past it, new ones wait in the listen backlog.
    pub async fn serve(self, shutdown: impl Future<Output = ()>, drain: Duration) {
        let graceful = GracefulShutdown::new();
        let (app, routes) = (self.app, self.routes);
        let local_addr = self.local_addr;
        let limits = app.config.limits;
        let connections = Arc::new(Semaphore::new(limits.max_connections));
        let streams = SharedRuntime(tokio::runtime::Handle::current());
        tokio::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                permit = connections.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
                () = &mut shutdown => break,
            };
            let (stream, client) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // Running out of file descriptors and the like: keep serving.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let _ = stream.set_nodelay(true);
            let stream = match stream.into_std() {
                Ok(stream) => stream,
                Err(e) => {
                    tracing::debug!(%client, "connection dropped: {e}");
                    continue;
                }
            };
            let connection = Connection {
                app: app.clone(),
                routes: routes.clone(),
                client,
                local: local_addr,
                streams: streams.clone(),
                _permit: permit,
            };
            let watcher = graceful.watcher();
            self.workers
                .spawn(move || connection.serve(stream, watcher));
        }
        tracing::info!("shutting down: draining in-flight requests");
        if tokio::time::timeout(drain, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("drain time of {drain:?} passed with requests still in flight");
        }
        let cut = crate::host::stdio::truncated_lines();
        if cut > 0 {
            tracing::info!(
                "{cut} guest log lines were cut at the line limit (SPIN_LOG_MAX_LINE_BYTES)"
            );
        }
    }
}

/// One accepted connection, served on a connection worker.
struct Connection {
    app: Arc<PreparedApp>,
    routes: Arc<HttpTrigger>,
    client: SocketAddr,
    local: SocketAddr,
    /// Where an HTTP/2 connection's streams run.
    streams: SharedRuntime,
    /// Counts the connection against `max_connections` while it is open.
    _permit: OwnedSemaphorePermit,
}

impl Connection {
    async fn serve(self, stream: std::net::TcpStream, watcher: Watcher) {
        let stream = match TcpStream::from_std(stream) {
            Ok(stream) => stream,
            Err(e) => {
                tracing::debug!(client = %self.client, "connection dropped: {e}");
                return;
            }
        };
        let limits = self.app.config.limits;
        let (app, routes) = (self.app.clone(), self.routes.clone());
        let peer = Arc::new(Peer::new(self.client, self.local));
        let service = hyper::service::service_fn(move |req| {
            let (app, routes, peer) = (app.clone(), routes.clone(), peer.clone());
            async move { Ok::<_, std::convert::Infallible>(handle(&app, &routes, req, &peer).await) }
        });
        let served = match detect_http2(&stream, limits.header_read_timeout).await {
            None => return,
            Some(true) => {
                let conn = http2_builder(&limits, self.streams)
                    .serve_connection(TokioIo::new(stream), service);
                watcher.watch(conn).await
            }
            Some(false) => {
                let conn = http1_builder(&limits).serve_connection(TokioIo::new(stream), service);
                watcher.watch(conn).await
            }
        };
        if let Err(e) = served {
            tracing::debug!(client = %self.client, "connection ended: {e}");
        }
    }
}

/// The process's shared (work-stealing) runtime, as hyper's executor: the streams of
/// one HTTP/2 connection spread over all cores instead of its worker's one.
#[derive(Clone)]
struct SharedRuntime(tokio::runtime::Handle);

impl<F> hyper::rt::Executor<F> for SharedRuntime
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        self.0.spawn(future);
    }
}

/// HTTP/1.1 with the head bounded in size, field count and time (the timer also closes
/// connections idle between requests).
fn http1_builder(limits: &Limits) -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8 << 10))
        .max_headers(limits.max_headers);
    builder
}

/// HTTP/2 (prior knowledge, h2c) with bounded header lists and streams, and pings so
/// dead peers are dropped.
fn http2_builder(
    limits: &Limits,
    streams: SharedRuntime,
) -> hyper::server::conn::http2::Builder<SharedRuntime> {
    let mut builder = hyper::server::conn::http2::Builder::new(streams);
    builder
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(MAX_HTTP2_STREAMS)
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(20));
    builder
}

/// Most concurrent streams one HTTP/2 connection may open.
const MAX_HTTP2_STREAMS: u32 = 256;

/// Whether the client speaks HTTP/2 with prior knowledge: its first bytes are the
/// HTTP/2 preface. `None` when it closes or sends nothing within `within`, so a silent
/// connection costs no more than that.
async fn detect_http2(stream: &TcpStream, within: Duration) -> Option<bool> {
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let mut buf = [0u8; PREFACE.len()];
    let detect = async {
        loop {
            let n = stream.peek(&mut buf).await.ok()?;
            if n == 0 {
                return None;
            }
            if buf[..n] != PREFACE[..n] {
                return Some(false);
            }
            if n == PREFACE.len() {
                return Some(true);
            }
            // Part of the preface so far: the rest is still to come.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(within, detect).await.ok().flatten()
}

async fn handle(
    app: &PreparedApp,
    routes: &HttpTrigger,
    req: http::Request<Incoming>,
    peer: &Peer,
) -> http::Response<ResponseBody> {
    let path = req.uri().path();
    if path == HEALTH_PATH {
        return text_response(http::StatusCode::OK, "OK\n");
    }
    let Some(matched) = routes.router.route(path) else {
        tracing::debug!(%path, "no route");
        return text_response(http::StatusCode::NOT_FOUND, "Not Found\n");
    };
    let req = req.map(|body| body.map_err(wasmtime_wasi_http::Error::from).boxed_unsync());
    dispatch(app, &matched, req, peer).await
}

impl ChainedServer for PreparedApp {
    fn serve_chained<'a>(
        &'a self,
        target: ChainTarget<'a>,
        request: http::Request<WasiBody>,
    ) -> ChainedResponse<'a> {
        Box::pin(serve_chained(self, target, request))
    }
}

/// Serves a component's chained request (`http://<component>.spin.internal/…` or
/// `http://self/…`, already allowed by its `allowed_outbound_hosts`) in-process: to the
/// named component as if by a route `/...`, or through the app's routes. `Err` when the
/// name resolves to no HTTP component of the app.
async fn serve_chained(
    app: &PreparedApp,
    target: ChainTarget<'_>,
    mut req: http::Request<WasiBody>,
) -> Result<http::Response<ResponseBody>, wasmtime_wasi_http::Error> {
    let path_and_query = req
        .uri()
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/"));
    if let Some(authority) = req.uri().authority()
        && let Ok(host) = http::HeaderValue::from_str(authority.as_str())
    {
        req.headers_mut().insert(http::header::HOST, host);
    }
    *req.uri_mut() = http::Uri::from(path_and_query.clone());
    let path = path_and_query.path();
    let routes = app.trigger::<HttpTrigger>();
    let matched = match target {
        ChainTarget::Component(id) => {
            let serves_http = app
                .code()
                .components
                .get(id)
                .is_some_and(|c| c.handler::<HttpTrigger>().is_some());
            if !serves_http {
                return Err(wasmtime_wasi_http::Error::DnsError {
                    rcode: Some(format!(
                        "`{id}.spin.internal`: the app has no HTTP component `{id}`"
                    )),
                    info_code: None,
                });
            }
            RouteMatch {
                component: id,
                raw_route: "/...",
                path_info: path.to_string(),
                params: Vec::new(),
            }
        }
        ChainTarget::App => {
            let routed = routes.as_ref().and_then(|routes| routes.router.route(path));
            match routed {
                Some(matched) => matched,
                None => return Ok(text_response(http::StatusCode::NOT_FOUND, "Not Found\n")),
            }
        }
    };
    static CHAINED: std::sync::LazyLock<Peer> = std::sync::LazyLock::new(|| {
        let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
        Peer {
            addr: None,
            ..Peer::new(unspecified, unspecified)
        }
    });
    Ok(dispatch(app, &matched, req, &CHAINED).await)
}

/// Calls the matched component for a request: bounded in body size and concurrent
/// instances, with Spin's request headers.
async fn dispatch(
    app: &PreparedApp,
    matched: &RouteMatch<'_>,
    mut req: http::Request<WasiBody>,
    peer: &Peer,
) -> http::Response<ResponseBody> {
    let started = Instant::now();
    let code = app.code();
    let Some((component, handler)) = code
        .components
        .get(matched.component)
        .and_then(|c| Some((c, c.handler::<HttpTrigger>()?)))
    else {
        return text_response(http::StatusCode::NOT_FOUND, "Not Found\n");
    };
    let limit = app.config.limits.max_request_body;
    let path = req.uri().path().to_string();
    if declared_length(&req).is_some_and(|len| len > limit) {
        tracing::warn!(component = %matched.component, %path, "request body larger than the limit of {limit} bytes (SPIN_HTTP_MAX_REQUEST_BODY): 413");
        return text_response(http::StatusCode::PAYLOAD_TOO_LARGE, "Payload Too Large\n");
    }
    // One instance per request, at most `max_concurrent_instances` at once, whether or
    // not the pooling allocator is in use.
    let Ok(permit) = app.instances.clone().try_acquire_owned() else {
        tracing::warn!(component = %matched.component, "no instance available: {} requests in flight (SPIN_MAX_CONCURRENT_INSTANCES); 503", app.config.max_concurrent_instances);
        return text_response(
            http::StatusCode::SERVICE_UNAVAILABLE,
            "Service Unavailable\n",
        );
    };
    let mut server_span = app
        .telemetry
        .http_server_span(&req, matched.raw_route, peer.addr);
    let run_span = component_span(&server_span, matched.component);
    let trace = run_span.parent();
    set_spin_headers(&mut req, matched, peer);
    let req = req.map(|body| BoundedBody::new(body, limit, Bound::Request));
    let method = req.method().clone();
    let engine = code.engine.engine();
    let timeout = app.config.request_timeout;
    let response = match handler {
        HandlerKind::WasiHttpP3(handler) => handler.call(absolute_uri(req), permit, trace).await,
        HandlerKind::WasiHttp(pre) => {
            call_wasi_http(engine, pre, &component.host, req, timeout, permit, trace).await
        }
        HandlerKind::SpinInbound(pre) => {
            call_spin_inbound(engine, pre, &component.host, req, timeout, permit, trace).await
        }
    };
    drop(run_span);
    let status = response.status();
    server_span.set(opentelemetry::KeyValue::new(
        "http.response.status_code",
        i64::from(status.as_u16()),
    ));
    if status.is_server_error() {
        server_span.fail(status.to_string());
    }
    app.telemetry.record_request(
        "http",
        matched.component,
        started.elapsed(),
        Some(HttpMeasure {
            method: &method,
            route: matched.raw_route,
            status,
        }),
    );
    tracing::debug!(
        component = %matched.component,
        %method,
        %path,
        status = response.status().as_u16(),
        elapsed_us = started.elapsed().as_micros() as u64,
        "request"
    );
    response
}

/// The request with its URI made absolute (`http://HOST/path?query`), so a WASIp3
/// guest sees the scheme and authority, as a 0.2 guest does.
fn absolute_uri<B>(mut req: http::Request<B>) -> http::Request<B> {
    let authority = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.parse::<http::uri::Authority>().ok());
    let mut parts = req.uri().clone().into_parts();
    if parts.scheme.is_none()
        && let Some(authority) = authority
    {
        parts.scheme = Some(http::uri::Scheme::HTTP);
        parts.authority = Some(authority);
        if parts.path_and_query.is_none() {
            parts.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
        }
        if let Ok(uri) = http::Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
    req
}

/// The request's `Content-Length`, if it sent a valid one.
fn declared_length<B>(req: &http::Request<B>) -> Option<u64> {
    req.headers()
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// A connection's ends as Spin's request headers carry them, formatted once per
/// connection rather than per request.
struct Peer {
    /// The client's address; `None` for a component's chained request.
    addr: Option<SocketAddr>,
    /// `spin-client-addr`.
    client: http::HeaderValue,
    /// The `Host` of a request that sent none: the address the client connected to.
    local: String,
}

impl Peer {
    fn new(client: SocketAddr, local: SocketAddr) -> Self {
        Self {
            addr: Some(client),
            client: http::HeaderValue::try_from(client.to_string())
                .expect("a socket address is a valid header value"),
            local: local.to_string(),
        }
    }
}

const SPIN_FULL_URL: HeaderName = HeaderName::from_static("spin-full-url");
const SPIN_PATH_INFO: HeaderName = HeaderName::from_static("spin-path-info");
const SPIN_MATCHED_ROUTE: HeaderName = HeaderName::from_static("spin-matched-route");
const SPIN_RAW_COMPONENT_ROUTE: HeaderName = HeaderName::from_static("spin-raw-component-route");
const SPIN_COMPONENT_ROUTE: HeaderName = HeaderName::from_static("spin-component-route");
const SPIN_BASE_PATH: HeaderName = HeaderName::from_static("spin-base-path");
const SPIN_CLIENT_ADDR: HeaderName = HeaderName::from_static("spin-client-addr");

/// The headers Spin sets on every request it passes to a component. Values that are not
/// valid header values (a route or path with bytes a header cannot carry) are left out.
fn set_spin_headers<B>(req: &mut http::Request<B>, m: &RouteMatch<'_>, peer: &Peer) {
    let sent_host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok());
    let host = sent_host.unwrap_or(&peer.local);
    let path_and_query = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let mut full_url = String::with_capacity("http://".len() + host.len() + path_and_query.len());
    full_url.push_str("http://");
    full_url.push_str(host);
    full_url.push_str(path_and_query);
    let missing_host = (!req.headers().contains_key(http::header::HOST))
        .then(|| http::HeaderValue::from_str(&peer.local).ok())
        .flatten();
    let headers = req.headers_mut();
    headers.reserve(8 + m.params.len());
    if let Some(local) = missing_host {
        headers.insert(http::header::HOST, local);
    }
    let mut set = |name: HeaderName, value: Result<http::HeaderValue, _>| {
        if let Ok(value) = value {
            headers.insert(name, value);
        }
    };
    set(SPIN_FULL_URL, http::HeaderValue::try_from(full_url));
    set(SPIN_PATH_INFO, http::HeaderValue::from_str(&m.path_info));
    set(SPIN_MATCHED_ROUTE, http::HeaderValue::from_str(m.raw_route));
    set(
        SPIN_RAW_COMPONENT_ROUTE,
        http::HeaderValue::from_str(m.raw_route),
    );
    set(
        SPIN_COMPONENT_ROUTE,
        http::HeaderValue::from_str(m.component_route()),
    );
    set(SPIN_BASE_PATH, Ok(http::HeaderValue::from_static("/")));
    set(SPIN_CLIENT_ADDR, Ok(peer.client.clone()));
    for (name, value) in &m.params {
        let name = format!("spin-path-match-{}", name.to_ascii_lowercase());
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_str(value),
        ) {
            headers.insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matched() -> RouteMatch<'static> {
        RouteMatch {
            component: "api",
            raw_route: "/api/...",
            path_info: "/users/7".into(),
            params: vec![("Id".into(), "7".into())],
        }
    }

    fn peer() -> Peer {
        Peer::new(
            "10.0.0.9:41000".parse().unwrap(),
            "10.0.0.1:80".parse().unwrap(),
        )
    }

    fn header<'a>(req: &'a http::Request<()>, name: &str) -> Option<&'a str> {
        req.headers().get(name).map(|v| v.to_str().unwrap())
    }

    #[test]
    fn spin_headers_describe_the_route_and_the_connection() {
        let mut req = http::Request::get("/api/users/7?q=1")
            .header("host", "example.com")
            .body(())
            .unwrap();
        set_spin_headers(&mut req, &matched(), &peer());
        let expected = [
            ("host", "example.com"),
            ("spin-full-url", "http://example.com/api/users/7?q=1"),
            ("spin-path-info", "/users/7"),
            ("spin-matched-route", "/api/..."),
            ("spin-raw-component-route", "/api/..."),
            ("spin-component-route", "/api"),
            ("spin-base-path", "/"),
            ("spin-client-addr", "10.0.0.9:41000"),
            ("spin-path-match-id", "7"),
        ];
        for (name, value) in expected {
            assert_eq!(header(&req, name), Some(value), "{name}");
        }
        assert_eq!(req.headers().len(), expected.len());
    }

    #[test]
    fn a_request_without_host_gets_the_address_it_connected_to() {
        let mut req = http::Request::get("/api/users/7").body(()).unwrap();
        set_spin_headers(&mut req, &matched(), &peer());
        assert_eq!(header(&req, "host"), Some("10.0.0.1:80"));
        assert_eq!(
            header(&req, "spin-full-url"),
            Some("http://10.0.0.1:80/api/users/7")
        );
    }

    #[test]
    fn a_client_header_that_is_set_is_replaced() {
        let mut req = http::Request::get("/api/x")
            .header("host", "example.com")
            .header("spin-client-addr", "1.2.3.4:5")
            .body(())
            .unwrap();
        set_spin_headers(&mut req, &matched(), &peer());
        let values: Vec<_> = req.headers().get_all("spin-client-addr").iter().collect();
        assert_eq!(values, ["10.0.0.9:41000"]);
    }
}
