//! A body that fails once more than a set number of bytes went through it, so a request
//! or an outbound response can stream without limit on time but not on size.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use wasmtime_wasi_http::Error;

/// Which limit a body is under, for the error it ends with.
#[derive(Debug, Clone, Copy)]
pub enum Bound {
    /// A client's request to us.
    Request,
    /// An outbound server's response to a guest.
    Response,
}

#[derive(Debug)]
pub struct BoundedBody<B> {
    inner: B,
    remaining: u64,
    limit: u64,
    bound: Bound,
}

impl<B> BoundedBody<B> {
    pub fn new(inner: B, limit: u64, bound: Bound) -> Self {
        Self {
            inner,
            remaining: limit,
            limit,
            bound,
        }
    }
}

/// Whether an error is a body that went past its limit.
pub fn is_too_large(error: &Error) -> bool {
    matches!(
        error,
        Error::HttpRequestBodySize(_) | Error::HttpResponseBodySize(_)
    )
}

impl<B> Body for BoundedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Error>,
{
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let frame = match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => return Poll::Pending,
        };
        if let Some(data) = frame.data_ref() {
            let len = data.len() as u64;
            if len > self.remaining {
                self.remaining = 0;
                let limit = Some(self.limit);
                return Poll::Ready(Some(Err(match self.bound {
                    Bound::Request => Error::HttpRequestBodySize(limit),
                    Bound::Response => Error::HttpResponseBodySize(limit),
                })));
            }
            self.remaining -= len;
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full, StreamBody};

    #[tokio::test]
    async fn passes_bodies_within_the_limit_and_fails_past_it() {
        let ok = BoundedBody::new(
            Full::new(Bytes::from_static(b"12345")).map_err(|never| -> Error { match never {} }),
            5,
            Bound::Request,
        );
        assert_eq!(ok.collect().await.unwrap().to_bytes(), "12345");

        let chunks = futures::stream::iter(
            (0..10).map(|_| Ok::<_, Error>(Frame::data(Bytes::from_static(b"xxxx")))),
        );
        let err = BoundedBody::new(StreamBody::new(chunks), 10, Bound::Response)
            .collect()
            .await
            .unwrap_err();
        assert!(is_too_large(&err), "{err:?}");
    }
}
