//! Calling a component for one request: a new `Store` from the component's
//! pre-instantiated handler, a memory cap, and a deadline. Whatever the guest does
//! (trap, run away, exhaust memory), only this request fails.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use wasmtime::Store;

use crate::bounded_body::BoundedBody;
use crate::host::state::{ComponentHost, RequestState};
use crate::telemetry::TraceParent;

/// The body of every request the trigger passes on, size-bounded: a client's, or a
/// component's chained request (`service_chaining`).
pub type RequestBody = BoundedBody<wasmtime_wasi_http::WasiBody>;

/// The body of every response the trigger sends.
pub type ResponseBody =
    http_body_util::combinators::UnsyncBoxBody<Bytes, wasmtime_wasi_http::Error>;

/// Why a request failed inside the guest.
#[derive(Debug)]
pub enum Failure {
    Timeout(Duration),
    OutOfMemory,
    Busy(String),
    Trap(String),
    NoResponse,
}

impl Failure {
    pub(crate) fn classify(err: wasmtime::Error, state: &RequestState) -> Self {
        let pool_full = err
            .chain()
            .any(|e| e.is::<wasmtime::PoolConcurrencyLimitError>());
        if state.limiter.exceeded {
            Failure::OutOfMemory
        } else if pool_full {
            Failure::Busy(format!("{err:#}"))
        } else {
            Failure::Trap(format!("{err:?}"))
        }
    }

    pub fn status(&self) -> http::StatusCode {
        match self {
            Failure::Busy(_) => http::StatusCode::SERVICE_UNAVAILABLE,
            _ => http::StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub(crate) fn log(&self, component: &str) {
        match self {
            Failure::Timeout(limit) => tracing::error!(
                component,
                "request timed out after {limit:?}; the guest was stopped"
            ),
            Failure::OutOfMemory => tracing::error!(
                component,
                "request exceeded the instance memory limit; the guest was stopped"
            ),
            Failure::Busy(e) => tracing::warn!(
                component,
                "no instance available (too many concurrent requests): {e}"
            ),
            Failure::Trap(e) => tracing::error!(component, "guest failed: {e}"),
            Failure::NoResponse => {
                tracing::error!(component, "guest returned without setting a response")
            }
        }
    }
}

/// A short reason, for the failed span.
impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Timeout(limit) => write!(f, "timed out after {limit:?}"),
            Failure::OutOfMemory => f.write_str("exceeded the instance memory limit"),
            Failure::Busy(e) => write!(f, "no instance available: {e}"),
            Failure::Trap(e) => write!(f, "guest failed: {e}"),
            Failure::NoResponse => f.write_str("guest returned without setting a response"),
        }
    }
}

/// A plain-text response from the host itself.
pub fn text_response(status: http::StatusCode, body: &'static str) -> http::Response<ResponseBody> {
    let mut response = http::Response::new(full_body(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

pub fn full_body(bytes: Bytes) -> ResponseBody {
    Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync()
}

pub(crate) fn failure_response(failure: &Failure) -> http::Response<ResponseBody> {
    match failure.status() {
        http::StatusCode::SERVICE_UNAVAILABLE => {
            text_response(failure.status(), "Service Unavailable\n")
        }
        _ => text_response(
            http::StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Server Error\n",
        ),
    }
}

/// A fresh store for one request, with the memory cap and epoch yielding set; its host
/// calls' spans hang under `trace`.
pub(crate) fn new_store(
    engine: &wasmtime::Engine,
    host: &Arc<ComponentHost>,
    trace: TraceParent,
) -> std::io::Result<Store<RequestState>> {
    let state = RequestState::new(host.clone(), trace)?;
    let mut store = Store::new(engine, state);
    store.limiter(|state| &mut state.limiter);
    // Yield to the async scheduler at every epoch tick: a busy guest shares the CPU,
    // and the request deadline (a tokio timeout around the call) can fire.
    store.set_epoch_deadline(1);
    store.epoch_deadline_async_yield_and_update(1);
    Ok(store)
}

/// [`new_store`], or the logged 500 response to send.
pub(crate) fn request_store(
    engine: &wasmtime::Engine,
    host: &Arc<ComponentHost>,
    trace: TraceParent,
) -> Result<Store<RequestState>, Box<http::Response<ResponseBody>>> {
    new_store(engine, host, trace).map_err(|e| {
        let failure = Failure::Trap(format!("cannot set up the request: {e}"));
        failure.log(&host.id);
        Box::new(failure_response(&failure))
    })
}
