//! A connection to a server a guest named reads at most a set number of bytes in all
//! (`SPIN_OUTBOUND_MAX_RESPONSE_BODY`): the server is the app's choice, so it may be
//! hostile, and a client library buffering its replies must not grow host memory
//! without bound. Past the budget every read fails, and with it the connection.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

pub struct ReadBudget<S> {
    inner: S,
    left: u64,
    /// Who sends, for the error: "the Redis server".
    server: &'static str,
}

impl<S> ReadBudget<S> {
    pub fn new(inner: S, budget: u64, server: &'static str) -> Self {
        Self {
            inner,
            left: budget,
            server,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ReadBudget<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.left == 0 {
            return Poll::Ready(Err(std::io::Error::other(format!(
                "{} sent more than SPIN_OUTBOUND_MAX_RESPONSE_BODY bytes on this connection",
                self.server
            ))));
        }
        let before = buf.filled().len();
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        let read = (buf.filled().len() - before) as u64;
        this.left = this.left.saturating_sub(read);
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ReadBudget<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_connection_reads_at_most_its_budget() {
        let (mut server, client) = tokio::io::duplex(64 << 10);
        let mut capped = ReadBudget::new(client, 10_000, "the Redis server");
        server.write_all(&vec![b'x'; 20_000]).await.unwrap();
        let mut read = vec![0; 4096];
        let mut total = 0;
        let error = loop {
            match capped.read(&mut read).await {
                Ok(n) => total += n,
                Err(e) => break e,
            }
        };
        assert!(total <= 10_000 + 4096, "{total}");
        assert!(
            error
                .to_string()
                .contains("the Redis server sent more than SPIN_OUTBOUND_MAX_RESPONSE_BODY")
        );
    }
}
