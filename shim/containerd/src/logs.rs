//! Runtime and guest log lines go to the app container's stdout, the FIFO containerd
//! hands over in Create, so `ctr`, `crictl logs` and `kubectl logs` show them. One shim
//! serves one pod, whose one app container owns the sink; lines with no container
//! attached are dropped (the shim's own `log` records go to containerd's log).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::sync::{Arc, Mutex};

use nix::fcntl::{FcntlArg, OFlag, fcntl};

#[derive(Clone, Default)]
pub struct LogSink {
    out: Arc<Mutex<Option<(String, File)>>>,
}

impl LogSink {
    /// Sends lines to `stdout` (a FIFO path or `file://` URI) of container `id`.
    pub fn attach(&self, id: &str, stdout: &str) -> std::io::Result<()> {
        let path = stdout.strip_prefix("file://").unwrap_or(stdout);
        if path.is_empty() || path.contains("://") {
            return Ok(());
        }
        // Non-blocking open never hangs on a FIFO without reader; writes then block
        // as usual so no line is lost.
        let file = OpenOptions::new()
            .append(true)
            .custom_flags(libc_nonblock())
            .open(path)?;
        fcntl(file.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_APPEND))
            .map_err(std::io::Error::from)?;
        *self.out.lock().unwrap() = Some((id.to_string(), file));
        Ok(())
    }

    /// Stops writing for container `id` (when it exits).
    pub fn detach(&self, id: &str) {
        let mut out = self.out.lock().unwrap();
        if out.as_ref().is_some_and(|(owner, _)| owner == id) {
            *out = None;
        }
    }
}

fn libc_nonblock() -> i32 {
    OFlag::O_NONBLOCK.bits()
}

pub struct SinkWriter(LogSink);

impl Write for SinkWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some((_, file)) = self.0.out.lock().unwrap().as_mut() {
            // A reader that went away must not take the app down.
            let _ = file.write_all(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogSink {
    type Writer = SinkWriter;

    fn make_writer(&'a self) -> Self::Writer {
        SinkWriter(self.clone())
    }
}
