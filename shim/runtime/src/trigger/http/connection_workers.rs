//! Threads that own the HTTP server's connections: one per core, each running a
//! single-threaded Tokio runtime. A connection, the requests it carries and the
//! instances that answer them stay on the thread it was given to, so a request never
//! wakes another core: no cross-thread task hand-offs, no futex wake-ups, and memory
//! is freed by the thread that allocated it.
//!
//! Measured on the hello-world guest (2 cores, `wrk -t2 -c8`, loopback): serving on
//! the process's work-stealing runtime took 23.2 µs of server CPU per request
//! (53k req/s); on these workers 21.5 µs (58k req/s), and p99 fell from 1.1–1.4 ms to
//! 0.4–0.5 ms.
//!
//! A connection goes to the worker with the fewest open connections. What a pinned
//! connection gives up is work stealing: a guest that computes for long shares its
//! thread with the other connections on it, in slices of the epoch tick (every guest
//! yields at each tick), while another worker may be idle. HTTP/2 connections, whose
//! streams can be many, run those streams on the process's shared runtime instead.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// The connection threads of one server; they stop when this is dropped (their
/// connections with them).
#[derive(Debug)]
pub struct ConnectionWorkers {
    workers: Vec<Worker>,
}

#[derive(Debug)]
struct Worker {
    runtime: Handle,
    open: Arc<AtomicUsize>,
    /// Dropping it ends the thread's runtime.
    _stop: oneshot::Sender<()>,
}

impl ConnectionWorkers {
    /// One worker per core available to this process (cgroup CPU limits included).
    pub fn per_core() -> io::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::start(cores)
    }

    fn start(count: usize) -> io::Result<Self> {
        let workers = (0..count.max(1))
            .map(Worker::start)
            .collect::<io::Result<_>>()?;
        Ok(Self { workers })
    }

    /// Runs the future `serve` makes on the worker with the fewest open connections,
    /// counting it as open until the future ends. `serve` is called on that worker, so
    /// the sockets it registers belong to the worker's runtime.
    pub fn spawn<F, Fut>(&self, serve: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let worker = self
            .workers
            .iter()
            .min_by_key(|w| w.open.load(Ordering::Relaxed))
            .expect("there is at least one worker");
        let open = OpenConnection::count(&worker.open);
        worker.runtime.spawn(async move {
            let _open = open;
            serve().await;
        });
    }
}

impl Worker {
    fn start(index: usize) -> io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name(format!("http-worker-{index}"))
            .spawn(move || {
                let _ = runtime.block_on(stopped);
            })?;
        Ok(Self {
            runtime: handle,
            open: Arc::new(AtomicUsize::new(0)),
            _stop: stop,
        })
    }
}

/// One open connection on a worker's count, for as long as it lives.
struct OpenConnection(Arc<AtomicUsize>);

impl OpenConnection {
    fn count(open: &Arc<AtomicUsize>) -> Self {
        open.fetch_add(1, Ordering::Relaxed);
        Self(open.clone())
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn thread_name() -> String {
        std::thread::current()
            .name()
            .unwrap_or_default()
            .to_string()
    }

    #[test]
    fn connections_go_to_the_least_busy_worker_and_are_counted_while_open() {
        let workers = ConnectionWorkers::start(2).unwrap();
        let (names_tx, names_rx) = std::sync::mpsc::channel();
        let mut releases = Vec::new();
        for _ in 0..4 {
            let (release, released) = oneshot::channel::<()>();
            releases.push(release);
            let names = names_tx.clone();
            workers.spawn(move || async move {
                names.send(thread_name()).unwrap();
                let _ = released.await;
            });
        }
        let names: Vec<String> = (0..4)
            .map(|_| names_rx.recv_timeout(Duration::from_secs(5)).unwrap())
            .collect();
        let on = |w: &str| names.iter().filter(|n| *n == w).count();
        assert_eq!((on("http-worker-0"), on("http-worker-1")), (2, 2));
        let open = |i: usize| workers.workers[i].open.load(Ordering::Relaxed);
        assert_eq!((open(0), open(1)), (2, 2));

        // Worker 0 took the first and the third; once both close, it takes the next.
        let (first, third) = (releases.remove(0), releases.remove(1));
        drop((first, third));
        let deadline = Instant::now() + Duration::from_secs(5);
        while open(0) != 0 {
            assert!(
                Instant::now() < deadline,
                "closed connections still counted"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(open(1), 2);
        workers.spawn(move || async move { names_tx.send(thread_name()).unwrap() });
        assert_eq!(
            names_rx.recv_timeout(Duration::from_secs(5)).unwrap(),
            "http-worker-0"
        );
    }
}
