//! Spin's original HTTP records (`fermyon:spin/http-types`): serving a request with an
//! `inbound-http` component, converting requests and responses. The outbound side,
//! `fermyon:spin/http`, is a host capability ([`crate::host::spin_http`]).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use tokio::sync::OwnedSemaphorePermit;

use crate::bounded_body::is_too_large;
use crate::host::bindings::inbound_http::InboundHttpComponentPre;
use crate::host::bindings::inbound_http::fermyon::spin::http_types::{Method, Request, Response};
use crate::host::spin_http::header_pairs;
use crate::host::state::{ComponentHost, RequestState};
use crate::telemetry::TraceParent;
use crate::trigger::handler::{
    Failure, RequestBody, ResponseBody, failure_response, full_body, request_store, text_response,
};

/// The record method for an HTTP method; `None` for methods the record cannot carry.
pub fn method(m: &::http::Method) -> Option<Method> {
    Some(match *m {
        ::http::Method::GET => Method::Get,
        ::http::Method::POST => Method::Post,
        ::http::Method::PUT => Method::Put,
        ::http::Method::DELETE => Method::Delete,
        ::http::Method::PATCH => Method::Patch,
        ::http::Method::HEAD => Method::Head,
        ::http::Method::OPTIONS => Method::Options,
        _ => return None,
    })
}

/// The guest's view of a request: path and query as `uri`, all headers (the trigger's
/// `spin-*` headers included), and the body when there is one.
pub fn request(method: Method, parts: &::http::request::Parts, body: Bytes) -> Request {
    Request {
        method,
        uri: parts
            .uri
            .path_and_query()
            .map(|pq| pq.as_str().to_string())
            .unwrap_or_else(|| "/".into()),
        headers: header_pairs(&parts.headers),
        params: Vec::new(),
        body: (!body.is_empty()).then(|| body.to_vec()),
    }
}

/// The HTTP response for a guest's response record; `Err` names what is invalid.
pub fn response(r: Response) -> Result<::http::Response<ResponseBody>, String> {
    let mut builder = ::http::Response::builder().status(r.status);
    for (name, value) in r.headers.unwrap_or_default() {
        builder = builder.header(name, value);
    }
    builder
        .body(full_body(r.body.map(Bytes::from).unwrap_or_default()))
        .map_err(|e| format!("the guest's response is invalid: {e}"))
}

/// Calls a `fermyon:spin/inbound-http` component with the whole request body (this
/// world takes it as one list, so it is collected, up to the request body limit).
pub async fn call_spin_inbound(
    engine: &wasmtime::Engine,
    pre: &InboundHttpComponentPre<RequestState>,
    host: &Arc<ComponentHost>,
    request: ::http::Request<RequestBody>,
    timeout: Duration,
    _permit: OwnedSemaphorePermit,
    trace: TraceParent,
) -> ::http::Response<ResponseBody> {
    let component = host.id.clone();
    let (parts, body) = request.into_parts();
    let Some(method) = method(&parts.method) else {
        return text_response(
            ::http::StatusCode::METHOD_NOT_ALLOWED,
            "Method Not Allowed\n",
        );
    };
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if is_too_large(&e) => {
            tracing::warn!(component = %component, "request body larger than the limit (SPIN_HTTP_MAX_REQUEST_BODY): 413");
            return text_response(::http::StatusCode::PAYLOAD_TOO_LARGE, "Payload Too Large\n");
        }
        Err(e) => {
            tracing::warn!(component = %component, "could not read the request body: {e}");
            return text_response(::http::StatusCode::BAD_REQUEST, "Bad Request\n");
        }
    };
    let guest_request = self::request(method, &parts, body);
    let mut store = match request_store(engine, host, trace) {
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
        Ok(Ok(response)) => match self::response(response) {
            Ok(response) => return response,
            Err(problem) => Failure::Trap(problem),
        },
        Ok(Err(e)) => Failure::classify(e, store.data()),
        Err(_) => Failure::Timeout(timeout),
    };
    failure.log(&component);
    failure_response(&failure)
}
