//! Log output that never blocks the thread that logs. Each log record goes into a
//! bounded queue (in records and in bytes) that one writer thread drains to the real
//! output; when the queue is full the record is dropped and counted, and the writer
//! reports the count with its next line. So a log reader that stops reading (a stalled
//! `kubectl logs` pipe, a full FIFO) delays only the log, never a request.
//!
//! The writer also keeps the output within a rate ([`LogQueue::limit_rate`], the app's
//! `SPIN_LOG_MAX_BYTES_PER_SECOND`): a token bucket that holds one second's worth, so
//! bursts pass and a steady flood is cut to the rate, the rest dropped and counted.

use std::io::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

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
    /// Most bytes per second written (`u64::MAX`: no limit).
    rate: AtomicU64,
    /// Records dropped for the rate since the last report.
    over_rate: AtomicU64,
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
            rate: AtomicU64::new(u64::MAX),
            over_rate: AtomicU64::new(0),
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

    /// Limits the output to `bytes_per_second` on average; a lower limit set before
    /// stays (several containers of one pod share the queue: the strictest one holds).
    pub fn limit_rate(&self, bytes_per_second: u64) {
        self.shared
            .rate
            .fetch_min(bytes_per_second.max(1), Ordering::Relaxed);
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

/// What the writer may still write: a bucket of bytes refilled at the rate, holding at
/// most one second's worth. A record passes while the bucket is not empty and may take
/// it below zero, so a line longer than a second's worth is still written, then paid for.
struct RateBucket {
    tokens: f64,
    refilled: Instant,
}

impl RateBucket {
    fn admits(&mut self, rate: u64, len: usize) -> bool {
        if rate == u64::MAX {
            return true;
        }
        let now = Instant::now();
        let rate = rate as f64;
        let elapsed = now.duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(rate);
        self.refilled = now;
        if self.tokens <= 0.0 {
            return false;
        }
        self.tokens -= len as f64;
        true
    }
}

fn writer(rx: Receiver<Vec<u8>>, shared: std::sync::Weak<Shared>, mut write: impl FnMut(&[u8])) {
    let mut bucket = RateBucket {
        tokens: f64::MAX,
        refilled: Instant::now(),
    };
    for record in rx {
        let Some(shared) = shared.upgrade() else {
            // Every sender is gone: the last records are written as they are.
            write(&record);
            continue;
        };
        let rate = shared.rate.load(Ordering::Relaxed);
        if bucket.admits(rate, record.len()) {
            write(&record);
            let over_rate = shared.over_rate.swap(0, Ordering::Relaxed);
            if over_rate > 0 {
                write(
                    format!(
                        "log: {over_rate} log lines dropped: the app logs more than \
                         {rate} bytes per second (SPIN_LOG_MAX_BYTES_PER_SECOND)\n"
                    )
                    .as_bytes(),
                );
            }
        } else {
            shared.over_rate.fetch_add(1, Ordering::Relaxed);
            shared.dropped_total.fetch_add(1, Ordering::Relaxed);
        }
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
    fn a_flood_is_cut_to_the_rate_and_the_cut_is_reported() {
        let written = Arc::new(Mutex::new(Vec::<String>::new()));
        let out = written.clone();
        let queue = LogQueue::new(move |record| {
            out.lock()
                .unwrap()
                .push(String::from_utf8_lossy(record).into_owned());
        });
        queue.limit_rate(1000);
        // A higher limit set afterwards (another container of the pod) does not raise it.
        queue.limit_rate(1 << 20);
        let line = format!("{}\n", "x".repeat(99));
        for _ in 0..200 {
            queue.push(line.clone().into_bytes());
        }
        queue.drain(Duration::from_secs(10));
        // One more line, a moment later, carries the report.
        std::thread::sleep(Duration::from_millis(200));
        queue.push(b"after\n".to_vec());
        queue.drain(Duration::from_secs(10));
        let written = written.lock().unwrap();
        let lines = written.iter().filter(|l| **l == line).count();
        // One second's worth (10 lines) and what refilled while pushing.
        assert!((10..=20).contains(&lines), "{lines} lines written");
        assert!(
            written.iter().any(|l| l.contains(
                "log lines dropped: the app logs more than 1000 bytes per second \
                 (SPIN_LOG_MAX_BYTES_PER_SECOND)"
            )),
            "{:?}",
            written.last()
        );
        assert_eq!(queue.dropped_total(), 200 - lines as u64);
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
