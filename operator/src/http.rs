//! The operator's own HTTP endpoints: `/healthz`, `/readyz`, `/metrics`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::metrics::Metrics;

/// What the endpoints report.
#[derive(Debug, Clone)]
pub struct Health {
    /// Set once the replica is ready: leading with the controller running, or standing by.
    pub ready: Arc<AtomicBool>,
    pub metrics: Arc<Metrics>,
}

/// Status and body for a path; pure, so it is tested without a socket.
pub fn respond(health: &Health, path: &str) -> (u16, String) {
    match path {
        "/healthz" => (200, "ok\n".into()),
        "/readyz" if health.ready.load(Ordering::Relaxed) => (200, "ready\n".into()),
        "/readyz" => (503, "not ready\n".into()),
        "/metrics" => (200, health.metrics.render()),
        _ => (404, "not found\n".into()),
    }
}

/// Serves the endpoints until the process ends.
pub async fn serve(addr: SocketAddr, health: Health) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "serving /healthz, /readyz and /metrics");
    loop {
        let (stream, _) = listener.accept().await?;
        let health = health.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let (status, body) = respond(&health, req.uri().path());
                    async move {
                        let mut response = hyper::Response::new(Full::new(Bytes::from(body)));
                        *response.status_mut() =
                            hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
                        Ok::<_, std::convert::Infallible>(response)
                    }
                });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let health = Health {
            ready: Arc::new(AtomicBool::new(false)),
            metrics: Arc::default(),
        };
        assert_eq!(respond(&health, "/healthz").0, 200);
        assert_eq!(respond(&health, "/readyz").0, 503);
        health.ready.store(true, Ordering::Relaxed);
        assert_eq!(respond(&health, "/readyz").0, 200);
        assert!(
            respond(&health, "/metrics")
                .1
                .contains("spin_operator_reconcile_duration_seconds")
        );
        assert_eq!(respond(&health, "/nope").0, 404);
    }
}
