//! A connection to a server a guest named reads at most a set number of bytes in all
//! (`SPIN_OUTBOUND_MAX_RESPONSE_BODY`): the server is the app's choice, so it may be
//! hostile, and a client library buffering its replies must not grow host memory
//! without bound. Past the budget every read fails, and with it the connection.
//!
//! Bytes on the wire are not the whole cost: a client library turns them into values
//! that may be much larger (a 4-byte Redis integer becomes a 64-byte value), or lets the
//! server steer it into work of its own (a PostgreSQL client resolving type after type).
//! A [`ReplyCheck`] follows the protocol's framing as the bytes arrive, before the
//! client sees them, charges what parsing them will cost to the same budget and
//! refuses what no bound can allow (nesting, round trips). A refusal is kept in a
//! [`Refusal`] the client's caller reads, because the library itself only reports that
//! its connection broke.

use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Follows a server's bytes as they arrive.
pub trait ReplyCheck: Unpin {
    /// Looks at the next bytes the server sent; returns what parsing them will cost on
    /// the host beyond their own length, or why they are refused.
    fn check(&mut self, bytes: &[u8]) -> Result<u64, String>;
}

/// No framing followed: only bytes count.
pub struct BytesOnly;

impl ReplyCheck for BytesOnly {
    fn check(&mut self, _: &[u8]) -> Result<u64, String> {
        Ok(0)
    }
}

/// Why a connection's reads were refused, once they were; shared with the code that
/// turns the client library's error into the guest's.
#[derive(Clone, Default)]
pub struct Refusal(Arc<OnceLock<String>>);

impl Refusal {
    /// The reason, when reads were refused.
    pub fn reason(&self) -> Option<&str> {
        self.0.get().map(String::as_str)
    }

    fn set(&self, reason: String) -> String {
        self.0.get_or_init(|| reason).clone()
    }
}

pub struct ReadBudget<S, C = BytesOnly> {
    inner: S,
    left: u64,
    /// Who sends, for the error: "the Redis server".
    server: &'static str,
    check: C,
    refusal: Refusal,
}

impl<S> ReadBudget<S> {
    pub fn new(inner: S, budget: u64, server: &'static str) -> Self {
        Self::checked(inner, budget, server, BytesOnly)
    }
}

impl<S, C> ReadBudget<S, C> {
    /// Reads at most `budget` bytes plus parsing costs, framing followed by `check`.
    pub fn checked(inner: S, budget: u64, server: &'static str, check: C) -> Self {
        Self {
            inner,
            left: budget,
            server,
            check,
            refusal: Refusal::default(),
        }
    }

    /// Where the reason of a refusal will be found.
    pub fn refusal(&self) -> Refusal {
        self.refusal.clone()
    }

    fn refuse(&self, reason: String) -> std::io::Error {
        std::io::Error::other(self.refusal.set(format!("{} {reason}", self.server)))
    }
}

impl<S: AsyncRead + Unpin, C: ReplyCheck> AsyncRead for ReadBudget<S, C> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        const OVER: &str = "sent more than SPIN_OUTBOUND_MAX_RESPONSE_BODY bytes on this \
                            connection (values counted as the host holds them)";
        if self.refusal.reason().is_some() || self.left == 0 {
            return Poll::Ready(Err(self.refuse(OVER.into())));
        }
        let before = buf.filled().len();
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        let arrived = &buf.filled()[before..];
        if arrived.is_empty() {
            return polled;
        }
        let cost = match this.check.check(arrived) {
            Ok(cost) => cost,
            Err(reason) => {
                buf.set_filled(before);
                return Poll::Ready(Err(this.refuse(reason)));
            }
        };
        let charged = (arrived.len() as u64).saturating_add(cost);
        if charged > this.left {
            buf.set_filled(before);
            this.left = 0;
            return Poll::Ready(Err(this.refuse(OVER.into())));
        }
        this.left -= charged;
        polled
    }
}

impl<S: AsyncWrite + Unpin, C: Unpin> AsyncWrite for ReadBudget<S, C> {
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

    async fn read_until_error<S: AsyncRead + Unpin>(mut stream: S) -> (usize, std::io::Error) {
        let mut read = vec![0; 4096];
        let mut total = 0;
        loop {
            match stream.read(&mut read).await {
                Ok(0) => panic!("end of stream after {total} bytes, no error"),
                Ok(n) => total += n,
                Err(e) => return (total, e),
            }
        }
    }

    #[tokio::test]
    async fn a_connection_reads_at_most_its_budget() {
        let (mut server, client) = tokio::io::duplex(64 << 10);
        let capped = ReadBudget::new(client, 10_000, "the Redis server");
        let refusal = capped.refusal();
        server.write_all(&vec![b'x'; 20_000]).await.unwrap();
        let (total, error) = read_until_error(capped).await;
        assert!(total <= 10_000, "{total}");
        assert!(
            error
                .to_string()
                .contains("the Redis server sent more than SPIN_OUTBOUND_MAX_RESPONSE_BODY")
        );
        assert_eq!(refusal.reason(), Some(error.to_string().as_str()));
    }

    /// Charges 100 per `v` and refuses a `!`.
    struct Costly;

    impl ReplyCheck for Costly {
        fn check(&mut self, bytes: &[u8]) -> Result<u64, String> {
            if bytes.contains(&b'!') {
                return Err("sent a bang".into());
            }
            Ok(100 * bytes.iter().filter(|b| **b == b'v').count() as u64)
        }
    }

    #[tokio::test]
    async fn parsing_costs_count_against_the_budget_and_refusals_are_kept() {
        let (mut server, client) = tokio::io::duplex(64 << 10);
        let capped = ReadBudget::checked(client, 10_000, "the server", Costly);
        server.write_all(&vec![b'v'; 1_000]).await.unwrap();
        let (total, error) = read_until_error(capped).await;
        assert!(
            total < 100,
            "{total} bytes of 101-byte values within 10,000"
        );
        assert!(error.to_string().contains("values counted"), "{error}");

        let (mut server, client) = tokio::io::duplex(64 << 10);
        let capped = ReadBudget::checked(client, 10_000, "the server", Costly);
        let refusal = capped.refusal();
        server.write_all(b"ab!").await.unwrap();
        let (total, error) = read_until_error(capped).await;
        assert_eq!(total, 0);
        assert_eq!(error.to_string(), "the server sent a bang");
        assert_eq!(refusal.reason(), Some("the server sent a bang"));
    }
}
