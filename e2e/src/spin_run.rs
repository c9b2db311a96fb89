//! The local runner (`spin-run`, built with the workspace) serving an app on a free
//! loopback port, for benchmarks beside the shim. Killed on drop.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct SpinRun {
    child: Child,
    pub addr: SocketAddr,
    /// The child's `TMPDIR`: its work directory goes with this value, since the child is
    /// killed rather than stopped.
    _tmp: tempfile::TempDir,
}

impl SpinRun {
    /// Starts `spin-run --from APP --cache-dir CACHE` and waits for its first answer.
    pub fn start(app: &Path, cache: &Path) -> Self {
        let port = crate::probe::free_port();
        let tmp = tempfile::tempdir().expect("a temporary directory");
        let child = Command::new(crate::containerd::built_binaries().join("spin-run"))
            .arg("--from")
            .arg(app)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--cache-dir")
            .arg(cache)
            .env("RUST_LOG", "warn")
            .env("TMPDIR", tmp.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spin-run (built with the workspace)");
        let (status, body) =
            crate::probe::wait_for_answer("127.0.0.1", port, "/", Duration::from_secs(60));
        assert_eq!(status, 200, "{body}");
        Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            _tmp: tmp,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for SpinRun {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
