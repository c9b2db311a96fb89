//! Calling a component for one request: a new `Store` from the component's
//! pre-instantiated handler, a memory cap, and a deadline. Whatever the guest does
//! (trap, run away, exhaust memory), only this request fails.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tokio::sync::OwnedSemaphorePermit;
use wasmtime::Store;
use wasmtime::component::{Component, Linker};
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p3::bindings::ServicePre;

use super::command::CommandHandler;
use super::cron::CronHandler;
use super::http::bounded_body::{BoundedBody, is_too_large};
use super::http::wasi_http_p3::P3Handler;
use super::mqtt::MqttHandler;
use super::redis::RedisHandler;
use crate::RuntimeError;
use crate::config::RuntimeConfig;
use crate::host::bindings::cron::SpinCronPre as SyncCronPre;
use crate::host::bindings::cron_current::SpinCronPre as CurrentCronPre;
use crate::host::bindings::inbound_http::InboundHttpComponentPre;
use crate::host::bindings::inbound_mqtt::InboundMqttComponentPre;
use crate::host::bindings::inbound_redis::InboundRedisComponentPre as Spin2RedisPre;
use crate::host::bindings::inbound_redis_current::InboundRedisComponentPre as CurrentRedisPre;
use crate::host::bindings::mqtt_trigger_current::SpinMqttPre;
use crate::host::state::{ComponentHost, RequestState};
use crate::host::unsupported::stub_unsupported_imports;
use wasmtime::component::types::ComponentItem;

/// The body of every request the trigger passes on, size-bounded: a client's, or a
/// component's chained request (`service_chaining`).
pub type RequestBody = BoundedBody<wasmtime_wasi_http::WasiBody>;

/// The body of every response the trigger sends.
pub type ResponseBody =
    http_body_util::combinators::UnsyncBoxBody<Bytes, wasmtime_wasi_http::Error>;

/// Which handler world a component implements.
pub enum HandlerKind {
    /// `wasi:http/handler@0.3.x` (WASIp3: Spin 4 SDKs, e.g. Python spin-sdk 5).
    WasiHttpP3(P3Handler),
    /// `wasi:http/incoming-handler@0.2.x` (Spin 2/3 SDKs, `wasmtime serve` components).
    WasiHttp(ProxyPre<RequestState>),
    /// `fermyon:spin/inbound-http` (Spin's original request/response records).
    SpinInbound(InboundHttpComponentPre<RequestState>),
}

/// Pre-instantiates a component's HTTP handler after finding which world it exports.
/// Imports the runtime does not provide (e.g. `fermyon:spin/llm`) are linked to
/// functions that fail the request with a message naming the import, so an app that
/// never calls them still runs.
pub fn detect_handler(
    engine: &wasmtime::Engine,
    linker: &Linker<RequestState>,
    host: &Arc<ComponentHost>,
    component: &Component,
    config: &RuntimeConfig,
) -> Result<HandlerKind, RuntimeError> {
    let id = &host.id;
    let exports = exports(engine, component);
    let has = |prefix: &str| exports.iter().any(|e| e.starts_with(prefix));
    let p3 = has("wasi:http/handler@0.3.");
    let wasi_http = has("wasi:http/incoming-handler@0.2.");
    let spin_inbound = exports.iter().any(|e| e == "fermyon:spin/inbound-http");
    if !p3 && !wasi_http && !spin_inbound {
        return Err(RuntimeError::NotHttp {
            component: id.to_string(),
            exports: listing(&exports),
        });
    }
    let link_err = |e| link_error(id, e);
    let pre = instantiate_pre(engine, linker, id, component)?;
    if p3 {
        let pre = ServicePre::new(pre).map_err(link_err)?;
        Ok(HandlerKind::WasiHttpP3(P3Handler::new(
            engine.clone(),
            pre,
            host.clone(),
            config.request_timeout,
            config.reuse,
        )))
    } else if wasi_http {
        ProxyPre::new(pre)
            .map(HandlerKind::WasiHttp)
            .map_err(link_err)
    } else {
        InboundHttpComponentPre::new(pre)
            .map(HandlerKind::SpinInbound)
            .map_err(link_err)
    }
}

/// Pre-instantiates a component's Redis handler (`spin:redis/inbound-redis@3.0.0`,
/// else `fermyon:spin/inbound-redis`).
pub fn detect_redis_handler(
    engine: &wasmtime::Engine,
    linker: &Linker<RequestState>,
    host: &Arc<ComponentHost>,
    component: &Component,
) -> Result<RedisHandler, RuntimeError> {
    let id = &host.id;
    let exports = exports(engine, component);
    let current = exports
        .iter()
        .any(|e| e == "spin:redis/inbound-redis@3.0.0");
    if !current && !exports.iter().any(|e| e == "fermyon:spin/inbound-redis") {
        return Err(RuntimeError::NotRedis {
            component: id.to_string(),
            exports: listing(&exports),
        });
    }
    let pre = instantiate_pre(engine, linker, id, component)?;
    if current {
        CurrentRedisPre::new(pre).map(RedisHandler::Current)
    } else {
        Spin2RedisPre::new(pre).map(RedisHandler::Spin2)
    }
    .map_err(|e| link_error(id, e))
}

/// Pre-instantiates a command component's `wasi:cli/run@0.2.x`.
pub fn detect_command(
    engine: &wasmtime::Engine,
    linker: &Linker<RequestState>,
    host: &Arc<ComponentHost>,
    component: &Component,
) -> Result<CommandHandler, RuntimeError> {
    let id = &host.id;
    let exports = exports(engine, component);
    if !exports.iter().any(|e| e.starts_with("wasi:cli/run@0.2.")) {
        return Err(RuntimeError::NotCommand {
            component: id.to_string(),
            exports: listing(&exports),
        });
    }
    let pre = instantiate_pre(engine, linker, id, component)?;
    CommandHandler::new(pre).map_err(|e| link_error(id, e))
}

/// Pre-instantiates a component's cron handler (`handle-cron-event`).
pub fn detect_cron(
    engine: &wasmtime::Engine,
    linker: &Linker<RequestState>,
    host: &Arc<ComponentHost>,
    component: &Component,
) -> Result<CronHandler, RuntimeError> {
    let id = &host.id;
    let exports = exports(engine, component);
    let is_async = match component
        .component_type()
        .get_export(engine, "handle-cron-event")
        .map(|export| export.ty)
    {
        Some(ComponentItem::ComponentFunc(func)) => func.async_(),
        _ => {
            return Err(RuntimeError::NotCron {
                component: id.to_string(),
                exports: listing(&exports),
            });
        }
    };
    let pre = instantiate_pre(engine, linker, id, component)?;
    if is_async {
        CurrentCronPre::new(pre).map(CronHandler::Current)
    } else {
        SyncCronPre::new(pre).map(CronHandler::Sync)
    }
    .map_err(|e| link_error(id, e))
}

/// Pre-instantiates a component's MQTT handler (`handle-message` of
/// `spin:mqtt-trigger@3.0.0`, else `spin:mqtt-trigger-sdk/inbound-mqtt`).
pub fn detect_mqtt(
    engine: &wasmtime::Engine,
    linker: &Linker<RequestState>,
    host: &Arc<ComponentHost>,
    component: &Component,
) -> Result<MqttHandler, RuntimeError> {
    let id = &host.id;
    let exports = exports(engine, component);
    let current = exports.iter().any(|e| e == "handle-message");
    if !current
        && !exports
            .iter()
            .any(|e| e == "spin:mqtt-trigger-sdk/inbound-mqtt")
    {
        return Err(RuntimeError::NotMqtt {
            component: id.to_string(),
            exports: listing(&exports),
        });
    }
    let pre = instantiate_pre(engine, linker, id, component)?;
    if current {
        SpinMqttPre::new(pre).map(MqttHandler::Current)
    } else {
        InboundMqttComponentPre::new(pre).map(MqttHandler::SpinKube)
    }
    .map_err(|e| link_error(id, e))
}

fn exports(engine: &wasmtime::Engine, component: &Component) -> Vec<String> {
    component
        .component_type()
        .exports(engine)
        .map(|(name, _)| name.to_string())
        .collect()
}

fn listing(exports: &[String]) -> String {
    if exports.is_empty() {
        "nothing".into()
    } else {
        exports
            .iter()
            .map(|e| format!("`{e}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn link_error(id: &str, e: wasmtime::Error) -> RuntimeError {
    RuntimeError::Link {
        component: id.to_string(),
        detail: format!("{e:#}"),
    }
}

/// Links the component's imports (stubbing the unsupported ones) once.
fn instantiate_pre(
    engine: &wasmtime::Engine,
    linker: &Linker<RequestState>,
    id: &str,
    component: &Component,
) -> Result<wasmtime::component::InstancePre<RequestState>, RuntimeError> {
    let mut linker = linker.clone();
    stub_unsupported_imports(engine, &mut linker, id, component).map_err(|e| link_error(id, e))?;
    linker
        .instantiate_pre(component)
        .map_err(|e| link_error(id, e))
}

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

fn failure_response(failure: &Failure) -> http::Response<ResponseBody> {
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

/// A fresh store for one request, with the memory cap and epoch yielding set.
pub(crate) fn new_store(
    engine: &wasmtime::Engine,
    host: &Arc<ComponentHost>,
) -> std::io::Result<Store<RequestState>> {
    let state = RequestState::new(host.clone())?;
    let mut store = Store::new(engine, state);
    store.limiter(|state| &mut state.limiter);
    // Yield to the async scheduler at every epoch tick: a busy guest shares the CPU,
    // and the request deadline (a tokio timeout around the call) can fire.
    store.set_epoch_deadline(1);
    store.epoch_deadline_async_yield_and_update(1);
    Ok(store)
}

/// [`new_store`], or the logged 500 response to send.
fn request_store(
    engine: &wasmtime::Engine,
    host: &Arc<ComponentHost>,
) -> Result<Store<RequestState>, Box<http::Response<ResponseBody>>> {
    new_store(engine, host).map_err(|e| {
        let failure = Failure::Trap(format!("cannot set up the request: {e}"));
        failure.log(&host.id);
        Box::new(failure_response(&failure))
    })
}

/// Calls a `wasi:http` component. The response is returned as soon as the guest sets
/// it; the body then streams while the guest keeps writing, under the same deadline.
pub async fn call_wasi_http(
    engine: &wasmtime::Engine,
    pre: &ProxyPre<RequestState>,
    host: &Arc<ComponentHost>,
    request: http::Request<RequestBody>,
    timeout: Duration,
    permit: OwnedSemaphorePermit,
) -> http::Response<ResponseBody> {
    let component = host.id.clone();
    let mut store = match request_store(engine, host) {
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

/// Calls a `fermyon:spin/inbound-http` component with the whole request body (this
/// world takes it as one list, so it is collected, up to the request body limit).
pub async fn call_spin_inbound(
    engine: &wasmtime::Engine,
    pre: &InboundHttpComponentPre<RequestState>,
    host: &Arc<ComponentHost>,
    request: http::Request<RequestBody>,
    timeout: Duration,
    _permit: OwnedSemaphorePermit,
) -> http::Response<ResponseBody> {
    let component = host.id.clone();
    let (parts, body) = request.into_parts();
    let Some(method) = super::http::inbound_http::method(&parts.method) else {
        return text_response(http::StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n");
    };
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if is_too_large(&e) => {
            tracing::warn!(component = %component, "request body larger than the limit (SPIN_HTTP_MAX_REQUEST_BODY): 413");
            return text_response(http::StatusCode::PAYLOAD_TOO_LARGE, "Payload Too Large\n");
        }
        Err(e) => {
            tracing::warn!(component = %component, "could not read the request body: {e}");
            return text_response(http::StatusCode::BAD_REQUEST, "Bad Request\n");
        }
    };
    let guest_request = super::http::inbound_http::request(method, &parts, body);
    let mut store = match request_store(engine, host) {
        Ok(store) => store,
        Err(response) => return *response,
    };
    let run = async {
        let instance = pre.instantiate_async(&mut store).await?;
        instance
            .fermyon_spin_inbound_http()
            .call_handle_request(&mut store, &guest_request)
            .await
    };
    let outcome = tokio::time::timeout(timeout, run).await;
    let failure = match outcome {
        Ok(Ok(response)) => match super::http::inbound_http::response(response) {
            Ok(response) => return response,
            Err(problem) => Failure::Trap(problem),
        },
        Ok(Err(e)) => Failure::classify(e, store.data()),
        Err(_) => Failure::Timeout(timeout),
    };
    failure.log(&component);
    failure_response(&failure)
}
