//! The HTTP server: accepts connections (HTTP/1.1 and h2c), answers the host's own
//! endpoints, routes, sets Spin's request headers and calls the component. Shutdown
//! stops accepting and lets in-flight requests finish (graceful drain).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use super::handler::{HandlerKind, ResponseBody, call_spin_inbound, call_wasi_http, text_response};
use super::routes::RouteMatch;
use crate::{PreparedApp, RuntimeError};

/// Path the host answers itself, for probes.
pub const HEALTH_PATH: &str = "/.well-known/spin/health";

/// A bound HTTP trigger, ready to serve.
#[derive(Debug)]
pub struct HttpServer {
    app: Arc<PreparedApp>,
    listener: TcpListener,
    local_addr: SocketAddr,
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
        Ok(Self {
            app,
            listener,
            local_addr,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` completes, then waits up to `drain` for in-flight
    /// requests before returning.
    pub async fn serve(self, shutdown: impl Future<Output = ()>, drain: Duration) {
        let graceful = GracefulShutdown::new();
        let builder = auto::Builder::new(TokioExecutor::new());
        let app = self.app;
        let local_addr = self.local_addr;
        tokio::pin!(shutdown);
        loop {
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
            let app = app.clone();
            let service = hyper::service::service_fn(move |req| {
                let app = app.clone();
                async move {
                    Ok::<_, std::convert::Infallible>(handle(&app, req, client, local_addr).await)
                }
            });
            let conn = builder
                .serve_connection(TokioIo::new(stream), service)
                .into_owned();
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(%client, "connection ended: {e}");
                }
            });
        }
        tracing::info!("shutting down: draining in-flight requests");
        if tokio::time::timeout(drain, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("drain time of {drain:?} passed with requests still in flight");
        }
    }
}

async fn handle(
    app: &PreparedApp,
    mut req: http::Request<Incoming>,
    client: SocketAddr,
    local: SocketAddr,
) -> http::Response<ResponseBody> {
    let started = Instant::now();
    let path = req.uri().path().to_string();
    if path == HEALTH_PATH {
        return text_response(http::StatusCode::OK, "OK\n");
    }
    let Some(matched) = app.router.route(&path) else {
        tracing::debug!(%path, "no route");
        return text_response(http::StatusCode::NOT_FOUND, "Not Found\n");
    };
    let Some(component) = app.components.get(matched.component) else {
        return text_response(http::StatusCode::NOT_FOUND, "Not Found\n");
    };
    set_spin_headers(&mut req, &matched, client, local);
    let method = req.method().clone();
    let engine = app.engine.engine();
    let timeout = app.config.request_timeout;
    let response = match &component.handler {
        HandlerKind::WasiHttp(pre) => {
            call_wasi_http(engine, pre, &component.host, req, timeout).await
        }
        HandlerKind::SpinInbound(pre) => {
            call_spin_inbound(engine, pre, &component.host, req, timeout).await
        }
    };
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

/// The headers Spin sets on every request it passes to a component.
fn set_spin_headers(
    req: &mut http::Request<Incoming>,
    m: &RouteMatch<'_>,
    client: SocketAddr,
    local: SocketAddr,
) {
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| local.to_string());
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let full_url = format!("http://{host}{path_and_query}");
    let client = client.to_string();
    let fixed = [
        ("spin-full-url", full_url.as_str()),
        ("spin-path-info", m.path_info.as_str()),
        ("spin-matched-route", m.raw_route),
        ("spin-raw-component-route", m.raw_route),
        ("spin-component-route", m.component_route()),
        ("spin-base-path", "/"),
        ("spin-client-addr", client.as_str()),
    ];
    let headers = req.headers_mut();
    if !headers.contains_key(http::header::HOST)
        && let Ok(v) = http::HeaderValue::from_str(&host)
    {
        headers.insert(http::header::HOST, v);
    }
    for (name, value) in fixed {
        if let Ok(value) = http::HeaderValue::from_str(value) {
            headers.insert(http::HeaderName::from_static(name), value);
        }
    }
    for (name, value) in &m.params {
        let name = format!("spin-path-match-{}", name.to_ascii_lowercase());
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_str(value),
        ) {
            headers.insert(name, value);
        }
    }
}
