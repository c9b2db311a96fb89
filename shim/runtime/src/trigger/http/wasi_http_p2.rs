//! Serving a request with a `wasi:http/incoming-handler@0.2.x` component (Spin 2/3
//! SDKs, `wasmtime serve` components).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::OwnedSemaphorePermit;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;

use crate::host::state::{ComponentHost, RequestState};
use crate::telemetry::TraceParent;
use crate::trigger::handler::{
    Failure, RequestBody, ResponseBody, failure_response, request_store, text_response,
};

/// Calls a `wasi:http` component. The response is returned as soon as the guest sets
/// it; the body then streams while the guest keeps writing, under the same deadline.
pub async fn call_wasi_http(
    engine: &wasmtime::Engine,
    pre: &ProxyPre<RequestState>,
    host: &Arc<ComponentHost>,
    request: http::Request<RequestBody>,
    timeout: Duration,
    permit: OwnedSemaphorePermit,
    trace: TraceParent,
) -> http::Response<ResponseBody> {
    let component = host.id.clone();
    let mut store = match request_store(engine, host, trace) {
        Ok(store) => store,
        Err(response) => return *response,
    };
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let prepared = (|| -> wasmtime::Result<_> {
        let req = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, request)?;
        let out = store.data_mut().http().new_response_outparam(sender)?;
        Ok((req, out))
    })();
    let (req, out) = match prepared {
        Ok(pair) => pair,
        Err(e) => {
            tracing::warn!(component = %component, "bad request: {e:#}");
            return text_response(http::StatusCode::BAD_REQUEST, "Bad Request\n");
        }
    };
    let pre = pre.clone();
    let task_component = component.clone();
    let task = tokio::spawn(async move {
        // The instance counts against the limit until the guest is done, streaming
        // included.
        let _permit = permit;
        let run = async {
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, req, out)
                .await
        };
        let failure = match tokio::time::timeout(timeout, run).await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(Failure::classify(e, store.data())),
            Err(_) => Some(Failure::Timeout(timeout)),
        };
        if let Some(f) = &failure {
            f.log(&task_component);
        }
        failure
    });
    match receiver.await {
        Ok(Ok(response)) => response,
        Ok(Err(code)) => {
            tracing::error!(component = %component, "guest answered with error code {code:?}");
            text_response(
                http::StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error\n",
            )
        }
        Err(_) => {
            let failure = match task.await {
                Ok(Some(failure)) => failure,
                Ok(None) => {
                    let f = Failure::NoResponse;
                    f.log(&component);
                    f
                }
                Err(join) => {
                    let f = Failure::Trap(format!("request task failed: {join}"));
                    f.log(&component);
                    f
                }
            };
            failure_response(&failure)
        }
    }
}
