//! A `mosquitto` broker for tests of Spin's MQTT interfaces, and a subscriber
//! (`mosquitto_sub`) that reports what it receives.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// `mosquitto` (Debian's package, installed by `e2e/setup.sh`) on a free loopback port
/// (its default without a config file: loopback only, anonymous clients); killed on drop.
pub struct MosquittoServer {
    child: Child,
    pub port: u16,
}

impl MosquittoServer {
    /// `None` (the test is skipped) without `mosquitto`, which CI refuses.
    pub fn start() -> Option<Self> {
        if Command::new("mosquitto").arg("-h").output().is_err() {
            assert!(
                std::env::var_os("CI").is_none(),
                "mosquitto is missing; e2e/setup.sh installs it"
            );
            eprintln!("SKIPPED: mosquitto is not installed (apt-get install mosquitto)");
            return None;
        }
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut child = Command::new("mosquitto")
                .args(["-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Some(Self { child, port });
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("mosquitto did not start");
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
