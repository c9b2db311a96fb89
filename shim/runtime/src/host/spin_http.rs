//! Spin's outbound HTTP of its original interface (`fermyon:spin/http`): one request,
//! its whole body in a list, under the component's outbound policy like `wasi:http`.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use wasmtime::component::{HasData, Linker};

use crate::host::bindings::inbound_http::fermyon::spin::http;
use crate::host::bindings::inbound_http::fermyon::spin::http_types::{
    HttpError, Method, Request, Response,
};
use crate::host::outbound::{OutboundPolicy, record_denied, send_allowed};
use crate::telemetry::TraceParent;

/// Spin's outbound `fermyon:spin/http`. No handles: linked to a view of the
/// component's outbound policy and the instance's trace alone.
pub struct SpinOutboundHttp;

/// What Spin's outbound HTTP runs on.
pub struct SpinHttpView<'a> {
    pub policy: &'a OutboundPolicy,
    pub trace: &'a TraceParent,
}

impl HasData for SpinOutboundHttp {
    type Data<'a> = SpinHttpView<'a>;
}

impl SpinOutboundHttp {
    pub fn add_to_linker<T: Send + 'static>(
        linker: &mut Linker<T>,
        view: fn(&mut T) -> SpinHttpView<'_>,
    ) -> wasmtime::Result<()> {
        http::add_to_linker::<T, Self>(linker, view)
    }
}

impl http::Host for SpinHttpView<'_> {
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
        let mut builder = ::http::Request::builder()
            .method(http_method(req.method))
            .uri(&uri);
        if !self.policy.allows(&uri) {
            if let Ok(request) = builder.body(()) {
                record_denied(self.trace, &request);
            }
            return Ok(Err(HttpError::DestinationNotAllowed));
        }
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
            let (response, io) = send_allowed(self.policy, self.trace, request, None).await?;
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
                tracing::warn!(component = %self.policy.component(), uri = %uri, "outbound request failed: {e}");
                Err(HttpError::RequestError)
            }
        })
    }
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

pub fn header_pairs(headers: &::http::HeaderMap) -> Vec<(String, String)> {
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
