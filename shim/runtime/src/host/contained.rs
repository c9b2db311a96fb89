//! A client library parses what a server sent, and the server is the app's choice: a
//! panic inside the library (an index out of range on a malformed answer, say) must
//! cost the one call that met it, not the request's task or the process. Futures that
//! drive a client run through [`contained`], which turns such a panic into an error
//! naming the client. (What no unwinding can catch, a stack overflow or an allocation
//! the system refuses, is prevented where the answers are read:
//! [`crate::host::read_budget`].)

use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;

/// A client library panicked on what a server sent.
#[derive(Debug, thiserror::Error)]
#[error("{client} failed on the server's answer: {message}")]
pub struct Panicked {
    client: &'static str,
    message: String,
}

/// Runs `future`, a call into `client` ("the PostgreSQL client"); a panic in it is
/// returned as [`Panicked`]. The guest may call the same connection again: the
/// library's state stays memory-safe, and at worst that call fails too.
pub async fn contained<F: Future>(client: &'static str, future: F) -> Result<F::Output, Panicked> {
    AssertUnwindSafe(future)
        .catch_unwind()
        .await
        .map_err(|payload| {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".into());
            tracing::warn!("{client} panicked on a server's answer: {message}");
            Panicked { client, message }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_becomes_the_calls_error() {
        let index = std::hint::black_box(7);
        let failed = contained("the test client", async move { [1, 2, 3][index] })
            .await
            .unwrap_err();
        let message = failed.to_string();
        assert!(
            message
                .starts_with("the test client failed on the server's answer: index out of bounds"),
            "{message}"
        );
        assert_eq!(contained("the test client", async { 5 }).await.unwrap(), 5);
    }
}
