//! Which HTTP handler world a component implements, found from its exports, and its
//! handler pre-instantiated once.

use std::sync::Arc;

use wasmtime::component::{Component, Linker};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p3::bindings::ServicePre;

use super::wasi_http_p3::P3Handler;
use crate::RuntimeError;
use crate::config::RuntimeConfig;
use crate::host::bindings::inbound_http::InboundHttpComponentPre;
use crate::host::state::{ComponentHost, RequestState};
use crate::trigger::handler::{exports, instantiate_pre, link_error, listing};

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
