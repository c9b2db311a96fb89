//! Guest stdout and stderr, sent line by line to the runtime's log with the component
//! id, so `kubectl logs` shows what the guest printed and which component printed it.
//!
//! A line is held until its newline, but never more than the line limit of it: a longer
//! line is logged cut at the limit and marked, the rest of it up to the newline is
//! dropped, and [`truncated_lines`] counts such lines for the process.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

#[derive(Debug, Clone, Copy)]
pub enum Stream {
    Stdout,
    Stderr,
}

static TRUNCATED_LINES: AtomicU64 = AtomicU64::new(0);

/// How many guest log lines this process has cut at the line limit.
pub fn truncated_lines() -> u64 {
    TRUNCATED_LINES.load(Ordering::Relaxed)
}

/// A WASI output stream that logs complete lines.
#[derive(Debug, Clone)]
pub struct GuestLog {
    component: Arc<str>,
    stream: Stream,
    max_line: usize,
}

impl GuestLog {
    pub fn new(component: Arc<str>, stream: Stream, max_line: usize) -> Self {
        Self {
            component,
            stream,
            max_line: max_line.max(1),
        }
    }
}

impl IsTerminal for GuestLog {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestLog {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(LineWriter {
            log: self.clone(),
            pending: Vec::new(),
            discarding: false,
        })
    }
}

struct LineWriter {
    log: GuestLog,
    pending: Vec<u8>,
    /// The current line was cut: drop bytes up to its newline.
    discarding: bool,
}

impl LineWriter {
    /// Takes `buf` in; logs each completed line. Holds at most `max_line` bytes.
    fn push(&mut self, mut buf: &[u8]) {
        while !buf.is_empty() {
            let newline = buf.iter().position(|b| *b == b'\n');
            let (chunk, rest) = match newline {
                Some(pos) => (&buf[..pos], &buf[pos + 1..]),
                None => (buf, &[][..]),
            };
            if !self.discarding {
                let room = self.log.max_line - self.pending.len();
                if chunk.len() > room {
                    self.pending.extend_from_slice(&chunk[..room]);
                    let mut line = std::mem::take(&mut self.pending);
                    line.extend_from_slice(
                        format!(" [line cut at {} bytes]", self.log.max_line).as_bytes(),
                    );
                    self.emit(&line);
                    TRUNCATED_LINES.fetch_add(1, Ordering::Relaxed);
                    self.discarding = true;
                } else {
                    self.pending.extend_from_slice(chunk);
                }
            }
            if newline.is_some() {
                if !self.discarding {
                    let line = std::mem::take(&mut self.pending);
                    self.emit(&line);
                }
                self.discarding = false;
            }
            buf = rest;
        }
    }

    fn emit(&self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches('\r');
        match self.log.stream {
            Stream::Stdout => {
                tracing::info!(target: "guest", component = %self.log.component, "{text}")
            }
            Stream::Stderr => {
                tracing::warn!(target: "guest", component = %self.log.component, "{text}")
            }
        }
    }
}

impl AsyncWrite for LineWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            self.emit(&rest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer(max_line: usize) -> LineWriter {
        LineWriter {
            log: GuestLog::new("c".into(), Stream::Stdout, max_line),
            pending: Vec::new(),
            discarding: false,
        }
    }

    #[test]
    fn a_long_line_is_held_only_up_to_the_limit() {
        let mut w = writer(16);
        let before = truncated_lines();
        for _ in 0..1000 {
            w.push(&[b'x'; 1000]);
            assert!(w.pending.len() <= 16);
        }
        w.push(b"tail\nnext line\npartial");
        assert!(truncated_lines() > before);
        assert!(!w.discarding);
        assert_eq!(w.pending, b"partial");
    }

    #[test]
    fn short_lines_pass_whole() {
        let mut w = writer(16);
        w.push(b"one\ntwo");
        assert_eq!(w.pending, b"two");
        w.push(b"\n");
        assert!(w.pending.is_empty());
    }
}
