//! Runtime and guest log lines go to the app container's stdout, the FIFO containerd
//! hands over in Create, so `ctr`, `crictl logs` and `kubectl logs` show them. One shim
//! serves one pod, whose one app container owns the sink; lines with no container
//! attached are dropped (the shim's own `log` records go to containerd's log).
//!
//! Lines pass through a [`LogQueue`]: only its writer thread ever waits on the FIFO,
//! so a reader that stops reading never stalls a request.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use spin_runtime::log_queue::{LogQueue, QueuedRecord};

type Target = Arc<Mutex<Option<(String, Arc<File>)>>>;

#[derive(Clone)]
pub struct LogSink {
    target: Target,
    queue: LogQueue,
}

impl Default for LogSink {
    fn default() -> Self {
        let target: Target = Arc::default();
        let out = target.clone();
        let queue = LogQueue::new(move |record| {
            // The lock is held only to take the file, never while writing.
            let file = out.lock().unwrap().as_ref().map(|(_, f)| f.clone());
            if let Some(file) = file {
                // A reader that went away must not take the app down.
                let _ = (&*file).write_all(record);
            }
        });
        Self { target, queue }
    }
}

impl LogSink {
    /// Sends lines to `stdout` (a FIFO path or `file://` URI) of container `id`.
    pub fn attach(&self, id: &str, stdout: &str) -> std::io::Result<()> {
        let path = stdout.strip_prefix("file://").unwrap_or(stdout);
        if path.is_empty() || path.contains("://") {
            return Ok(());
        }
        // Non-blocking open never hangs on a FIFO without reader; writes then block
        // (in the log writer thread only) so no line is lost while the reader keeps up.
        let file = OpenOptions::new()
            .append(true)
            .custom_flags(OFlag::O_NONBLOCK.bits())
            .open(path)?;
        fcntl(file.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_APPEND))
            .map_err(std::io::Error::from)?;
        *self.target.lock().unwrap() = Some((id.to_string(), Arc::new(file)));
        Ok(())
    }

    /// The queue every line passes through (to limit its rate).
    pub fn queue(&self) -> &LogQueue {
        &self.queue
    }

    /// Stops writing for container `id` (when it exits), after giving the lines it
    /// logged a moment to reach its reader.
    pub fn detach(&self, id: &str) {
        self.queue.drain(Duration::from_millis(500));
        let mut target = self.target.lock().unwrap();
        if target.as_ref().is_some_and(|(owner, _)| owner == id) {
            *target = None;
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogSink {
    type Writer = QueuedRecord;

    fn make_writer(&'a self) -> Self::Writer {
        self.queue.make_writer()
    }
}
