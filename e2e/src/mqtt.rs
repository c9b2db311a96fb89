//! A `mosquitto` broker for tests of Spin's MQTT interfaces, and a subscriber
//! (`mosquitto_sub`) that reports what it receives.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::local_server;

/// `mosquitto` (Debian's package, installed by `e2e/setup.sh`) on a free loopback port
/// (its default without a config file: loopback only, anonymous clients); killed on drop.
pub struct MosquittoServer {
    child: Child,
    pub port: u16,
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
        Some(Self { child, port })
    }

    /// Stops the broker and starts a new one on the same port, as a broker restart
    /// does to its clients.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = local_server::start_on_port("mosquitto", "127.0.0.1", self.port, command)
            .expect("mosquitto restarts on its port");
    }

    /// `mqtt://127.0.0.1:PORT`
    pub fn address(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
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
