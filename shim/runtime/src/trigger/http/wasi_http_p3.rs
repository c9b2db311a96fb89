//! Serving `wasi:http/handler@0.3.0` components (WASIp3: current Spin SDKs).
//!
//! Requests go through Wasmtime's `ProxyHandler`, which runs each instance's store in
//! its own task and keeps it running while the guest streams the response body. With
//! the default [`InstanceReuse`] every request gets a fresh instance and store, as for
//! 0.2-era components; with reuse on, one instance serves up to `max_requests`
//! requests, `max_concurrent` at a time, and waits `idle_timeout` for the next.
//!
//! A request's deadline (`request_timeout`) covers instantiation, the handler and the
//! body it streams. A trap, a timeout or the memory cap ends the instance and only the
//! requests it was serving.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::sync::OwnedSemaphorePermit;
use wasmtime::StoreContextMut;
use wasmtime::component::GuestTaskId;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::handler::{
    ExpirationError, HandlerState, Instance, InstantiationError, Proxy, ProxyHandler, ShouldAccept,
    TrapOrPanicError, WorkerExpiration, WorkerState, WorkerStatus,
};
use wasmtime_wasi_http::p3::bindings::ServicePre;
use wasmtime_wasi_http::p3::bindings::http::types::ErrorCode;

use crate::config::InstanceReuse;
use crate::host::state::{ComponentHost, RequestState};
use crate::telemetry::TraceParent;
use crate::trigger::handler::{Failure, RequestBody, ResponseBody, new_store, text_response};

/// A WASIp3 component ready to serve.
pub struct P3Handler {
    handler: ProxyHandler<Instances>,
}

impl P3Handler {
    pub fn new(
        engine: wasmtime::Engine,
        pre: ServicePre<RequestState>,
        host: Arc<ComponentHost>,
        timeout: Duration,
        reuse: InstanceReuse,
    ) -> Self {
        Self {
            handler: ProxyHandler::new(Instances {
                engine,
                pre,
                host,
                timeout,
                reuse,
            }),
        }
    }

    /// Serves one request. `permit` counts it against `max_concurrent_instances` until
    /// the instance that serves it is gone (a reused instance keeps the permit of the
    /// request that created it); the instance's host calls hang their spans on `trace`.
    pub async fn call(
        &self,
        request: http::Request<RequestBody>,
        permit: OwnedSemaphorePermit,
        trace: TraceParent,
    ) -> http::Response<ResponseBody> {
        let component = self.handler.state().host.id.clone();
        let request = request.map(|body| {
            use http_body_util::BodyExt;
            body.boxed_unsync()
        });
        match self.handler.handle(Taken { permit, trace }, request).await {
            Ok(response) => response,
            Err(e) => {
                let failure = self.failure(&e);
                // A trapped instance is logged, with its cause, when it ends.
                if !e.is::<TrapOrPanicError>() {
                    failure.log(&component);
                }
                match failure.status() {
                    http::StatusCode::SERVICE_UNAVAILABLE => {
                        text_response(failure.status(), "Service Unavailable\n")
                    }
                    status => text_response(status, "Internal Server Error\n"),
                }
            }
        }
    }

    /// Why a request got no response.
    fn failure(&self, e: &wasmtime::Error) -> Failure {
        let instantiation = e.downcast_ref::<InstantiationError<Taken>>();
        let cause = instantiation.map_or(e, |i| &*i.error);
        if e.is::<ExpirationError>() || cause.is::<ExpirationError>() {
            Failure::Timeout(self.handler.state().timeout)
        } else if cause
            .chain()
            .any(|e| e.is::<wasmtime::PoolConcurrencyLimitError>())
        {
            Failure::Busy(format!("{cause:#}"))
        } else if let Some(code) = e.downcast_ref::<ErrorCode>() {
            Failure::Trap(format!("the guest answered with error code {code:?}"))
        } else {
            Failure::Trap(format!("{cause:#}"))
        }
    }
}

/// Makes instances for the handler.
struct Instances {
    engine: wasmtime::Engine,
    pre: ServicePre<RequestState>,
    host: Arc<ComponentHost>,
    timeout: Duration,
    reuse: InstanceReuse,
}

impl HandlerState for Instances {
    type StoreData = RequestState;
    type WorkerExpiration = Expiry;
    type WorkerState = Worker;

    async fn instantiate(&self) -> wasmtime::Result<Instance<RequestState, Expiry, Worker>> {
        let mut store = new_store(&self.engine, &self.host, TraceParent::default())
            .map_err(|e| wasmtime::format_err!("cannot set up the request: {e}"))?;
        let service = tokio::time::timeout(self.timeout, self.pre.instantiate_async(&mut store))
            .await
            .map_err(|_| ExpirationError)??;
        Ok(Instance {
            store,
            proxy: Proxy::P3(service),
            view: <RequestState as WasiHttpView>::http,
            expiration: Expiry {
                timeout: self.timeout,
                idle: self.reuse.idle_timeout,
                sleep: Box::pin(tokio::time::sleep(Duration::ZERO)),
            },
            state: Worker {
                component: self.host.id.clone(),
                timeout: self.timeout,
                reuse: self.reuse,
            },
        })
    }
}

/// What a request brings to the instance that takes it.
struct Taken {
    permit: OwnedSemaphorePermit,
    trace: TraceParent,
}

/// One instance's view of its requests.
struct Worker {
    component: Arc<str>,
    timeout: Duration,
    reuse: InstanceReuse,
}

impl WorkerState for Worker {
    type StoreData = RequestState;
    type RequestData = Taken;

    fn should_accept_request(&self, concurrent: usize, total: usize) -> ShouldAccept {
        if total >= self.reuse.max_requests.max(1) {
            ShouldAccept::Never
        } else if concurrent >= self.reuse.max_concurrent.max(1) {
            ShouldAccept::No
        } else {
            ShouldAccept::Yes
        }
    }

    fn on_request_start(
        &self,
        mut store: StoreContextMut<'_, RequestState>,
        taken: Taken,
        _task: GuestTaskId,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + Sync>> {
        let state = store.data_mut();
        if state.instance_permit.is_none() {
            state.instance_permit = Some(taken.permit);
        }
        state.set_trace(taken.trace);
        Box::pin(tokio::time::sleep(self.timeout))
    }

    fn drop(&self, store: wasmtime::Store<RequestState>, result: wasmtime::Result<()>) {
        let Err(e) = result else { return };
        if e.to_string() == "guest timed out" || e.is::<ExpirationError>() {
            // The request it was serving got its 500 and its log line already.
            tracing::debug!(component = %self.component, "instance stopped at its deadline");
        } else if e.to_string() == "worker panicked" && !std::thread::panicking() {
            // wasmtime-wasi-http's name for a worker whose task was dropped: the app
            // is stopping while this instance still served. Not the guest's failure.
            tracing::debug!(component = %self.component, "instance dropped as the app stops");
        } else {
            Failure::classify(e, store.data()).log(&self.component);
        }
    }
}

/// When an instance must go: `timeout` after its latest request started (or after
/// its last response, while the guest still streams), `idle` after it fell idle.
struct Expiry {
    timeout: Duration,
    idle: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl WorkerExpiration for Expiry {
    fn poll(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        status: WorkerStatus,
        start: Instant,
    ) -> Poll<()> {
        let this = self.get_mut();
        let limit = match status {
            WorkerStatus::Idle => this.idle,
            WorkerStatus::Requests | WorkerStatus::PostReturn => this.timeout,
        };
        let deadline = tokio::time::Instant::from_std(start + limit);
        if this.sleep.deadline() != deadline {
            this.sleep.as_mut().reset(deadline);
        }
        this.sleep.as_mut().poll(cx)
    }
}
