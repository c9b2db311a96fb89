//! Which HTTP handler world a component implements, found from its exports, and its
//! handler pre-instantiated once.

use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p3::bindings::ServicePre;

use super::wasi_http_p3::P3Handler;
use crate::RuntimeError;
use crate::host::bindings::inbound_http::InboundHttpComponentPre;
use crate::host::state::RequestState;
use crate::trigger::entry_point::{CompiledComponent, Wanted};

/// Which handler world a component implements.
pub enum HandlerKind {
    /// `wasi:http/handler@0.3.x` (WASIp3: Spin 4 SDKs, e.g. Python spin-sdk 5).
    WasiHttpP3(P3Handler),
    /// `wasi:http/incoming-handler@0.2.x` (Spin 2/3 SDKs, `wasmtime serve` components).
    WasiHttp(ProxyPre<RequestState>),
    /// `fermyon:spin/inbound-http` (Spin's original request/response records).
    SpinInbound(InboundHttpComponentPre<RequestState>),
}

const WANTED: Wanted = Wanted {
    component: "an HTTP component",
    trigger: "HTTP",
    exports: "`wasi:http/handler@0.3.x` (WASIp3: Spin 4 SDKs), \
              `wasi:http/incoming-handler@0.2.x` (Spin 2/3 SDKs) or `fermyon:spin/inbound-http` (Spin 1 SDKs)",
};

/// Pre-instantiates a component's HTTP handler after finding which world it exports.
/// Imports the runtime does not provide (e.g. `fermyon:spin/llm`) are linked to
/// functions that fail the request with a message naming the import, so an app that
/// never calls them still runs.
pub fn detect_handler(component: &CompiledComponent<'_>) -> Result<HandlerKind, RuntimeError> {
    let exports = component.exports();
    let has = |prefix: &str| exports.iter().any(|e| e.starts_with(prefix));
    let p3 = has("wasi:http/handler@0.3.");
    let wasi_http = has("wasi:http/incoming-handler@0.2.");
    let spin_inbound = exports.iter().any(|e| e == "fermyon:spin/inbound-http");
    if !p3 && !wasi_http && !spin_inbound {
        return Err(component.lacks(&WANTED, &exports));
    }
    let link_err = |e| component.link_error(e);
    let pre = component.instantiate_pre()?;
    let (engine, config) = (component.engine, component.config);
    if p3 {
        let pre = ServicePre::new(pre).map_err(link_err)?;
        Ok(HandlerKind::WasiHttpP3(P3Handler::new(
            engine.clone(),
            pre,
            component.host.clone(),
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
