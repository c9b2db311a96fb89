//! Helpers for tests that drive the real `spin-run` binary over real HTTP.

#![allow(dead_code)] // each test binary uses a different subset

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// spin.toml text with one `[[trigger.http]]` and `[component]` per entry of
/// `(route, component id, wasm file, extra component lines)`.
pub fn manifest(name: &str, components: &[(&str, &str, &str, &str)]) -> String {
    let mut text = format!("spin_manifest_version = 2\n[application]\nname = \"{name}\"\n");
    for (route, id, _, _) in components {
        text.push_str(&format!(
            "[[trigger.http]]\nroute = \"{route}\"\ncomponent = \"{id}\"\n"
        ));
    }
    for (_, id, source, extra) in components {
        text.push_str(&format!(
            "[component.{id}]\nsource = \"{source}\"\n{extra}\n"
        ));
    }
    text
}

/// A Spin app written to a temp dir.
pub struct TestApp {
    pub dir: tempfile::TempDir,
}

impl TestApp {
    /// `manifest` is the spin.toml text; `wasm` the files it refers to.
    pub fn new(manifest: &str, wasm: &[(&str, Vec<u8>)]) -> Self {
        Self {
            dir: test_guests::app_dir(manifest, wasm),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn start(&self, args: &[&str], env: &[(&str, &str)]) -> Runner {
        Runner::start(self.path(), args, env)
            .unwrap_or_else(|e| panic!("spin-run did not start: {e}"))
    }
}

/// A running `spin-run`; killed on drop.
pub struct Runner {
    child: Child,
    pub addr: SocketAddr,
    log: PathBuf,
    _log_dir: tempfile::TempDir,
}

impl Runner {
    /// Starts `spin-run --from DIR --listen 127.0.0.1:0` and waits for its
    /// `Serving http://ADDR` line (or, for an app without HTTP routes, its first
    /// `Subscribing to` or `Scheduled` line; `addr` is then 0.0.0.0:0). `Err` holds the log when it
    /// exits instead.
    pub fn start(app: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<Self, String> {
        let log_dir = tempfile::tempdir().unwrap();
        let log = log_dir.path().join("stderr.log");
        let stderr = Stdio::from(std::fs::File::create(&log).unwrap());
        Self::start_logging_to(app, args, env, stderr, log_dir, log)
    }

    /// Like `start`, with the log on a pipe that the caller holds (and may never read).
    pub fn start_with_log_pipe(app: &Path, args: &[&str]) -> (Self, std::process::ChildStderr) {
        let log_dir = tempfile::tempdir().unwrap();
        let log = log_dir.path().join("unused.log");
        let mut runner = Self::start_logging_to(app, args, &[], Stdio::piped(), log_dir, log)
            .unwrap_or_else(|e| panic!("spin-run did not start: {e}"));
        let pipe = runner.child.stderr.take().unwrap();
        (runner, pipe)
    }

    fn start_logging_to(
        app: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        stderr: Stdio,
        log_dir: tempfile::TempDir,
        log: PathBuf,
    ) -> Result<Self, String> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_spin-run"))
            .arg("--from")
            .arg(app)
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .env("SPIN_CACHE_DIR", log_dir.path().join("compiled"))
            // The runner's work directory goes with the test even though the child is
            // killed (SIGKILL) rather than stopped.
            .env("TMPDIR", log_dir.path())
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(addr) = line.strip_prefix("Serving http://") {
                        break addr.parse().unwrap();
                    }
                    // An app without HTTP routes lists its other triggers instead.
                    if line.starts_with("Subscribing to ") || line.starts_with("Scheduled") {
                        break SocketAddr::from(([0, 0, 0, 0], 0));
                    }
                }
                _ => {
                    let status = child.wait().unwrap();
                    return Err(format!(
                        "exited with {status}:\n{}",
                        std::fs::read_to_string(&log).unwrap()
                    ));
                }
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Ok(Self {
            child,
            addr,
            log,
            _log_dir: log_dir,
        })
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The runner's resident memory, in KiB.
    pub fn rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    /// Waits until the log contains `needle` (up to 10 s).
    pub fn wait_for_log(&self, needle: &str) -> String {
        self.wait_for_log_count(needle, 1)
    }

    /// Waits until the log contains `needle` `count` times (up to 10 s).
    pub fn wait_for_log_count(&self, needle: &str, count: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log();
            if log.matches(needle).count() >= count || Instant::now() > deadline {
                return log;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits (up to 20 s) for the runner to exit on its own; `None` if it does not.
    pub fn wait_exit(&mut self) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Stops the runner as Kubernetes does (SIGTERM) and waits (up to 20 s) for it.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        self.wait_exit()
    }

    pub fn get(&self, path: &str) -> Response {
        request(self.addr, "GET", path, &[], b"")
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `spin-run` expecting it to fail at start-up; returns its log.
pub fn start_error(app: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    match Runner::start(app, args, env) {
        Ok(_) => panic!("spin-run started, but an error was expected"),
        Err(log) => log,
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request on a fresh connection.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let (status, headers, chunks) = request_timed(addr, method, path, headers, body);
    Response {
        status,
        headers,
        body: chunks
            .into_iter()
            .map(|(_, c)| String::from_utf8_lossy(&c).into_owned())
            .collect(),
    }
}

/// Status, headers, and each body chunk with the time it arrived.
pub type TimedResponse = (u16, Vec<(String, String)>, Vec<(Duration, Vec<u8>)>);

/// Like `request`, but returns each body chunk with the time it arrived.
pub fn request_timed(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> TimedResponse {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("0")
        .parse()
        .unwrap();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let mut chunks = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            if reader.read_line(&mut size).unwrap() == 0 {
                break;
            }
            let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if size == 0 {
                break;
            }
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).unwrap();
            chunk.truncate(size);
            chunks.push((started.elapsed(), chunk));
        }
    } else {
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).unwrap();
        chunks.push((started.elapsed(), rest));
    }
    (status, headers, chunks)
}

/// A tiny HTTP server on loopback answering every request with `body`.
pub fn upstream(body: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let mut stream = reader.into_inner();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}

/// A sample app of `examples/` whose `app.wasm` is built (`e2e/test.sh` builds them
/// before the tests); `None` (the test is skipped) when it is not, which CI refuses.
pub fn built_sample(name: &str, build: &str) -> Option<PathBuf> {
    built_sample_of(name, &["app.wasm"], build)
}

/// Like [`built_sample`], for a sample whose Wasm files are `wasm` (paths in its folder).
pub fn built_sample_of(name: &str, wasm: &[&str], build: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name);
    let missing: Vec<_> = wasm.iter().filter(|w| !dir.join(w).is_file()).collect();
    if missing.is_empty() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "examples/{name}: {missing:?} not built; .ci/run builds them before the tests"
    );
    eprintln!("SKIPPED: examples/{name}: {missing:?} not built (run `{build}`)");
    None
}

/// Copies a sample (manifest, Wasm, static file) so the test's key-value data stays
/// out of the source tree.
pub fn sample_copy(dir: &Path) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    for name in ["spin.toml", "app.wasm"] {
        std::fs::copy(dir.join(name), copy.path().join(name)).unwrap();
    }
    std::fs::create_dir_all(copy.path().join("static")).unwrap();
    std::fs::copy(
        dir.join("static/hello.txt"),
        copy.path().join("static/hello.txt"),
    )
    .unwrap();
    copy
}

/// The one span `what` picks out of `spans` (fails the test unless there is exactly one).
pub fn only_span(
    spans: &[spin_kube_e2e::otlp::ReceivedSpan],
    what: impl Fn(&spin_kube_e2e::otlp::ReceivedSpan) -> bool,
) -> &spin_kube_e2e::otlp::ReceivedSpan {
    let found: Vec<_> = spans.iter().filter(|s| what(s)).collect();
    assert_eq!(found.len(), 1, "{spans:#?}");
    found[0]
}

/// An OTLP receiver on loopback, and the Tokio runtime it runs on (to wait on it).
pub fn receiver() -> (tokio::runtime::Runtime, spin_kube_e2e::otlp::OtlpReceiver) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let receiver = runtime
        .block_on(spin_kube_e2e::otlp::OtlpReceiver::start())
        .unwrap();
    (runtime, receiver)
}
