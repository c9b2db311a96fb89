//! A `mosquitto` broker for tests of Spin's MQTT interfaces, and a subscriber
//! (`mosquitto_sub`) that reports what it receives.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::local_server;
use crate::test_ca::TestCa;

/// `mosquitto` (Debian's package, installed by `e2e/setup.sh`) on a free loopback port
/// (its default without a config file: loopback only, anonymous clients), or with a TLS
/// listener only; killed on drop.
pub struct MosquittoServer {
    child: Child,
    pub port: u16,
    tls: Option<Tls>,
}

/// A TLS listener's configuration: its directory, and the certificates it serves.
struct Tls {
    dir: tempfile::TempDir,
    ca: TestCa,
}

impl MosquittoServer {
    /// `None` (the test is skipped) without `mosquitto`, which CI refuses.
    pub fn start() -> Option<Self> {
        if !local_server::installed("mosquitto", "-h", "mosquitto")
            || !local_server::installed("mosquitto_sub", "--help", "mosquitto-clients")
        {
            return None;
        }
        let (child, port) = local_server::start_on_free_port("mosquitto", "127.0.0.1", command);
        Some(Self {
            child,
            port,
            tls: None,
        })
    }

    /// The same, with one TLS listener serving `ca`'s server certificate (`mqtts://`).
    pub fn start_tls(ca: &TestCa) -> Option<Self> {
        if !local_server::installed("mosquitto", "-h", "mosquitto")
            || !local_server::installed("mosquitto_sub", "--help", "mosquitto-clients")
        {
            return None;
        }
        let tls = Tls {
            dir: tempfile::tempdir().unwrap(),
            ca: ca.clone(),
        };
        let (child, port) =
            local_server::start_on_free_port("mosquitto", "127.0.0.1", tls_config(&tls.dir, ca));
        Some(Self {
            child,
            port,
            tls: Some(tls),
        })
    }

    /// Stops the broker and starts a new one on the same port, as a broker restart
    /// does to its clients.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let started = match &self.tls {
            None => local_server::start_on_port("mosquitto", "127.0.0.1", self.port, command),
            Some(tls) => local_server::start_on_port(
                "mosquitto",
                "127.0.0.1",
                self.port,
                tls_config(&tls.dir, &tls.ca),
            ),
        };
        self.child = started.expect("mosquitto restarts on its port");
    }

    /// `mqtt://127.0.0.1:PORT`, or `mqtts://` with TLS.
    pub fn address(&self) -> String {
        let scheme = if self.tls.is_some() { "mqtts" } else { "mqtt" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// A subscriber to `topic`, returned once the broker has acknowledged it.
    pub fn subscribe(&self, topic: &str) -> Subscriber {
        // Line-buffered (coreutils' stdbuf): a pipe would hold its output back.
        let mut child = Command::new("stdbuf")
            .args([
                "-oL",
                "mosquitto_sub",
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
            ])
            .args(["-t", topic, "-d", "-q", "1"])
            .args(
                self.tls
                    .iter()
                    .flat_map(|tls| [OsStr::new("--cafile"), tls.ca.ca.as_os_str()]),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto_sub (apt-get install mosquitto-clients)");
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let subscriber = Subscriber { child, lines };
        subscriber.wait_for("SUBACK");
        subscriber
    }
}

impl Drop for MosquittoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `mosquitto` on `port`.
fn command(port: u16) -> Command {
    let mut c = Command::new("mosquitto");
    c.args(["-p", &port.to_string()]);
    c
}

/// `mosquitto -c` with a configuration (written in `dir`) of one TLS listener on a
/// port, serving `ca`'s server certificate to anonymous clients. It stays root: the
/// certificate files are in a directory only root reads.
fn tls_config(dir: &tempfile::TempDir, ca: &TestCa) -> impl Fn(u16) -> Command {
    let config = dir.path().join("mosquitto.conf");
    let listener = format!(
        "user root\nallow_anonymous true\ncafile {}\ncertfile {}\nkeyfile {}\n",
        ca.ca.display(),
        ca.cert.display(),
        ca.key.display()
    );
    move |port| {
        let text = format!("listener {port} 127.0.0.1\n{listener}");
        std::fs::write(&config, text).expect("write mosquitto.conf");
        let mut c = Command::new("mosquitto");
        c.arg("-c").arg(&config);
        c
    }
}

/// A running `mosquitto_sub -d`; killed on drop.
pub struct Subscriber {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Subscriber {
    /// Waits (up to 20 s) for an output line containing `needle`; returns it.
    pub fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        panic!("mosquitto_sub printed no line containing {needle:?}");
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
