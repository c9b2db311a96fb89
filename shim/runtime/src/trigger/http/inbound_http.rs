//! Spin's original HTTP records (`fermyon:spin/http-types`): serving a request with an
//! `inbound-http` component, converting requests and responses, and outbound
//! `fermyon:spin/http`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tokio::sync::OwnedSemaphorePermit;
use wasmtime::component::{HasData, Linker};

use super::bounded_body::is_too_large;
use crate::host::bindings::inbound_http::InboundHttpComponentPre;
use crate::host::bindings::inbound_http::fermyon::spin::http;
use crate::host::bindings::inbound_http::fermyon::spin::http_types::{
    HttpError, Method, Request, Response,
};
use crate::host::outbound::{OutboundPolicy, send_allowed};
use crate::host::state::{ComponentHost, RequestState};
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

fn http_method(m: Method) -> ::http::Method {
    match m {
        Method::Get => ::http::Method::GET,
        Method::Post => ::http::Method::POST,
        Method::Put => ::http::Method::PUT,
        Method::Delete => ::http::Method::DELETE,
        Method::Patch => ::http::Method::PATCH,
        Method::Head => ::http::Method::HEAD,
        Method::Options => ::http::Method::OPTIONS,
    }
}

fn header_pairs(headers: &::http::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
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

/// Spin's outbound `fermyon:spin/http`. No handles: linked to a view of the
/// component's outbound policy alone.
pub struct SpinOutboundHttp;

impl HasData for SpinOutboundHttp {
    type Data<'a> = &'a OutboundPolicy;
}

impl SpinOutboundHttp {
    pub fn add_to_linker<T: Send + 'static>(
        linker: &mut Linker<T>,
        view: fn(&mut T) -> &OutboundPolicy,
    ) -> wasmtime::Result<()> {
        http::add_to_linker::<T, Self>(linker, view)
    }
}

impl http::Host for &OutboundPolicy {
    async fn send_request(
        &mut self,
        req: Request,
    ) -> wasmtime::Result<Result<Response, HttpError>> {
        let Ok(uri) = req.uri.parse::<::http::Uri>() else {
            return Ok(Err(HttpError::InvalidUrl));
        };
        if uri.host().is_none() {
            return Ok(Err(HttpError::InvalidUrl));
        }
        if !self.allows(&uri) {
            return Ok(Err(HttpError::DestinationNotAllowed));
        }
        let mut builder = ::http::Request::builder()
            .method(http_method(req.method))
            .uri(&uri);
        if let Some(authority) = uri.authority() {
            builder = builder.header(::http::header::HOST, authority.as_str());
        }
        for (name, value) in &req.headers {
            builder = builder.header(name, value);
        }
        let body = Full::new(Bytes::from(req.body.unwrap_or_default()))
            .map_err(|never| match never {})
            .boxed_unsync();
        let Ok(request) = builder.body(body) else {
            return Ok(Err(HttpError::RequestError));
        };
        let result = async {
            let (response, io) = send_allowed(self, request, None).await?;
            tokio::spawn(io);
            let (parts, body) = response.into_parts();
            // This interface returns the body as one list: collected, up to the limit.
            let body = body.collect().await?.to_bytes();
            Ok::<_, wasmtime_wasi_http::Error>((parts, body))
        }
        .await;
        Ok(match result {
            Ok((parts, body)) => Ok(Response {
                status: parts.status.as_u16(),
                headers: Some(header_pairs(&parts.headers)),
                body: Some(body.to_vec()),
            }),
            Err(e) => {
                tracing::warn!(component = %self.component(), uri = %uri, "outbound request failed: {e}");
                Err(HttpError::RequestError)
            }
        })
    }
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
