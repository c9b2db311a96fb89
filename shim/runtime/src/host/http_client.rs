//! Sends a guest's outbound HTTP request (already allowed by its policy) over HTTP/1.1,
//! from the app's [`Network`]: in a pod the connection leaves from the pod's network
//! namespace and the name resolves as the pod resolves it. `https` is verified as
//! [`crate::tls`] says (the built-in Mozilla roots unless a `[[client_tls]]` table
//! names the component and host); the name in the URL is the TLS server name.
//!
//! Timeouts are the guest's `request-options`, else: connect 30 s (resolve, TCP and
//! TLS), first byte 600 s, between body frames 600 s; the request's own timeout bounds
//! all of them.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper_util::rt::TokioIo;
use wasmtime_wasi_http::{Error, RequestOptions};

use crate::network::{ByteStream, Network};
use crate::tls::ComponentTls;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(600);
const BETWEEN_BYTES_TIMEOUT: Duration = Duration::from_secs(600);

/// The response and a future that ends with the connection (and reports a failure to
/// send the request body).
pub type Sent = (http::Response<ResponseBody>, Connection);

/// A future that ends with a sent request's connection.
pub type Connection = Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>;

pub async fn send<B>(
    network: &Network,
    tls: &ComponentTls,
    mut request: http::Request<B>,
    options: Option<RequestOptions>,
) -> Result<Sent, Error>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let uri = request.uri();
    let host = uri
        .host()
        .ok_or(Error::HttpRequestUriInvalid)?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let use_tls = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
    let port = uri.port_u16().unwrap_or(if use_tls { 443 } else { 80 });
    let option = |pick: fn(&RequestOptions) -> Option<Duration>, default| {
        options.as_ref().and_then(pick).unwrap_or(default)
    };
    let connect_timeout = option(|o| o.connect_timeout, CONNECT_TIMEOUT);
    let first_byte_timeout = option(|o| o.first_byte_timeout, FIRST_BYTE_TIMEOUT);
    let between_bytes = option(|o| o.between_bytes_timeout, BETWEEN_BYTES_TIMEOUT);

    let connecting = async {
        let tcp = network.connect(&host, port).await.map_err(connect_error)?;
        let _ = tcp.set_nodelay(true);
        let stream: Box<dyn ByteStream> = if use_tls {
            crate::tls::server_name(&host).map_err(|_| Error::HttpRequestUriInvalid)?;
            Box::new(
                tls.for_host(&host)
                    .connect(&host, tcp, &[])
                    .await
                    .map_err(Error::Tls)?,
            )
        } else {
            Box::new(tcp)
        };
        hyper::client::conn::http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await
            .map_err(Error::from)
    };
    let (mut sender, connection) = tokio::time::timeout(connect_timeout, connecting)
        .await
        .map_err(|_| Error::ConnectionTimeout)??;
    // The connection is driven on its own; it ends once the response body is consumed
    // or dropped.
    let connection = tokio::spawn(connection);

    // On the wire the request names only the path (the authority is in `Host`).
    let path = uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .parse()
        .map_err(|_| Error::HttpRequestUriInvalid)?;
    *request.uri_mut() = path;

    let response = tokio::time::timeout(first_byte_timeout, sender.send_request(request))
        .await
        .map_err(|_| Error::ConnectionReadTimeout)??;
    let response = response.map(|incoming| ResponseBody {
        incoming,
        idle: between_bytes.max(Duration::from_nanos(1)),
        deadline: None,
    });
    let ended = Box::pin(async move {
        match connection.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) if e.is_timeout() => Err(Error::HttpResponseTimeout),
            Ok(Err(e)) => Err(Error::from(e)),
            Err(_) => Err(Error::ConnectionTerminated),
        }
    });
    Ok((response, ended))
}

/// The error a failed resolve or connect becomes, as `wasi:http` names it.
fn connect_error(e: std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::NotFound => Error::DnsError {
            rcode: Some("address not available".into()),
            info_code: None,
        },
        std::io::ErrorKind::ConnectionRefused => Error::ConnectionRefused,
        _ => Error::Connect(e),
    }
}

/// An outbound response body that fails when no frame arrives for the between-bytes
/// timeout.
pub struct ResponseBody {
    incoming: hyper::body::Incoming,
    idle: Duration,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.incoming).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.deadline = None;
                Poll::Ready(frame.map(|f| f.map_err(Error::from)))
            }
            Poll::Pending => {
                let idle = this.idle;
                let deadline = this
                    .deadline
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                match deadline.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Error::ConnectionReadTimeout))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Empty};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn request(uri: String) -> http::Request<Empty<Bytes>> {
        http::Request::get(uri).body(Empty::new()).unwrap()
    }

    #[tokio::test]
    async fn sends_over_http_and_refuses_a_server_that_does_not_speak_tls() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut head = [0u8; 1024];
                let _ = s.read(&mut head).await;
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\npong")
                    .await;
            }
        });
        let (response, _) = send(
            &Network::Process,
            &ComponentTls::default(),
            request(format!("http://{addr}/ping")),
            None,
        )
        .await
        .unwrap();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"pong");

        let refused = send(
            &Network::Process,
            &ComponentTls::default(),
            request(format!("https://{addr}/")),
            None,
        )
        .await;
        assert!(matches!(refused, Err(Error::Tls(_))), "{:?}", refused.err());
    }

    #[tokio::test]
    async fn an_unknown_name_is_a_dns_error() {
        let sent = send(
            &Network::Process,
            &ComponentTls::default(),
            request("http://no-such-host.invalid/".into()),
            None,
        )
        .await;
        assert!(
            matches!(sent, Err(Error::DnsError { .. })),
            "{:?}",
            sent.err()
        );
    }
}
