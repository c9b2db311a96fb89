//! Log output that never blocks the thread that logs. Each log record goes into a
//! bounded queue (in records and in bytes) that one writer thread drains to the real
//! output; when the queue is full the record is dropped and counted, and the writer
//! reports the count with its next line. So a log reader that stops reading (a stalled
//! `kubectl logs` pipe, a full FIFO) delays only the log, never a request.

use std::io::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Most records waiting to be written.
pub const MAX_QUEUED_RECORDS: usize = 8192;
/// Most bytes waiting to be written.
pub const MAX_QUEUED_BYTES: usize = 8 << 20;

/// The sending side; cheap to clone.
#[derive(Clone)]
pub struct LogQueue {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for LogQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogQueue")
            .field(
                "queued_bytes",
                &self.shared.queued_bytes.load(Ordering::Relaxed),
            )
            .finish_non_exhaustive()
    }
}

struct Shared {
    tx: SyncSender<Vec<u8>>,
    queued_bytes: AtomicUsize,
    dropped: AtomicU64,
    dropped_total: AtomicU64,
    /// Signalled by the writer whenever the queue empties.
    idle: (Mutex<()>, Condvar),
}

impl LogQueue {
    /// A queue whose writer thread hands every record to `write`.
    pub fn new(write: impl FnMut(&[u8]) + Send + 'static) -> Self {
        let (tx, rx) = sync_channel(MAX_QUEUED_RECORDS);
        let shared = Arc::new(Shared {
            tx,
            queued_bytes: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
            dropped_total: AtomicU64::new(0),
            idle: (Mutex::new(()), Condvar::new()),
        });
        let weak = Arc::downgrade(&shared);
        std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || writer(rx, weak, write))
            .expect("spawning the log writer thread");
        Self { shared }
    }

    /// A queue in front of standard error.
    pub fn stderr() -> Self {
        Self::new(|record| {
            let _ = std::io::stderr().write_all(record);
        })
    }

    /// Queues a record, or drops and counts it if the queue is full.
    pub fn push(&self, record: Vec<u8>) {
        let len = record.len();
        let s = &self.shared;
        if s.queued_bytes.fetch_add(len, Ordering::AcqRel) + len > MAX_QUEUED_BYTES {
            s.queued_bytes.fetch_sub(len, Ordering::AcqRel);
            self.count_dropped();
            return;
        }
        match s.tx.try_send(record) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                s.queued_bytes.fetch_sub(len, Ordering::AcqRel);
                self.count_dropped();
            }
        }
    }

    fn count_dropped(&self) {
        self.shared.dropped.fetch_add(1, Ordering::Relaxed);
        self.shared.dropped_total.fetch_add(1, Ordering::Relaxed);
    }

    /// Records dropped since the queue started.
    pub fn dropped_total(&self) -> u64 {
        self.shared.dropped_total.load(Ordering::Relaxed)
    }

    /// Waits until every queued record is written, at most `within` (before exit).
    pub fn drain(&self, within: Duration) {
        let (lock, idle) = &self.shared.idle;
        let guard = lock.lock().unwrap_or_else(|p| p.into_inner());
        let _ = idle.wait_timeout_while(guard, within, |()| {
            self.shared.queued_bytes.load(Ordering::Acquire) > 0
        });
    }
}

fn writer(rx: Receiver<Vec<u8>>, shared: std::sync::Weak<Shared>, mut write: impl FnMut(&[u8])) {
    for record in rx {
        write(&record);
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let dropped = shared.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            write(
                format!(
                    "log: {dropped} log lines dropped: the log reader is too slow ({} in all)\n",
                    shared.dropped_total.load(Ordering::Relaxed)
                )
                .as_bytes(),
            );
        }
        if shared
            .queued_bytes
            .fetch_sub(record.len(), Ordering::AcqRel)
            == record.len()
        {
            let _guard = shared.idle.0.lock();
            shared.idle.1.notify_all();
        }
    }
}

/// One log record being formatted; queued whole when dropped.
pub struct QueuedRecord {
    queue: LogQueue,
    buf: Vec<u8>,
}

impl Write for QueuedRecord {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for QueuedRecord {
    fn drop(&mut self) {
        if !self.buf.is_empty() {
            self.queue.push(std::mem::take(&mut self.buf));
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogQueue {
    type Writer = QueuedRecord;

    fn make_writer(&'a self) -> QueuedRecord {
        QueuedRecord {
            queue: self.clone(),
            buf: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;

    #[test]
    fn a_stalled_writer_never_blocks_the_logger_and_drops_are_reported() {
        let (unblock_tx, unblock_rx) = channel::<()>();
        let written = Arc::new(Mutex::new(Vec::<String>::new()));
        let out = written.clone();
        let queue = LogQueue::new(move |record| {
            // The first record stalls the writer, as a reader that stopped reading.
            let _ = unblock_rx.recv();
            out.lock()
                .unwrap()
                .push(String::from_utf8_lossy(record).into_owned());
        });
        let started = std::time::Instant::now();
        for i in 0..(MAX_QUEUED_RECORDS * 2) {
            queue.push(format!("line {i}\n").into_bytes());
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "pushing blocked"
        );
        assert!(queue.dropped_total() > 0);
        drop(unblock_tx);
        queue.drain(Duration::from_secs(10));
        let written = written.lock().unwrap();
        assert!(
            written.iter().any(|l| l.contains("log lines dropped")),
            "{:?}",
            written.last()
        );
    }

    #[test]
    fn records_are_bounded_in_bytes_too() {
        let (_hold, stall) = channel::<()>();
        let queue = LogQueue::new(move |_| {
            let _ = stall.recv();
        });
        for _ in 0..100 {
            queue.push(vec![b'x'; 1 << 20]);
        }
        assert!(queue.shared.queued_bytes.load(Ordering::Relaxed) <= MAX_QUEUED_BYTES);
        assert!(queue.dropped_total() >= 90);
    }
}
