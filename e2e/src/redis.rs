//! A `redis-server` for tests of Spin's Redis interfaces, the Redis trigger and
//! Redis-backed key-value stores.

use std::process::{Child, Command};

use crate::local_server;

/// A `redis-server` (Debian's package, installed by `e2e/setup.sh`) on a free loopback
/// port, with no persistence; killed on drop.
pub struct RedisServer {
    child: Child,
    ip: String,
    password: Option<String>,
    pub port: u16,
}

impl RedisServer {
    /// `None` (the test is skipped) without `redis-server`, which CI refuses.
    pub fn start() -> Option<Self> {
        Self::start_on("127.0.0.1")
    }

    /// The same, listening on `ip` (a local address: loopback, or the gateway of a
    /// test's own CNI bridge, which its pods reach).
    pub fn start_on(ip: &str) -> Option<Self> {
        Self::start_with(ip, None)
    }

    /// The same, on loopback, requiring `password` (`requirepass`).
    pub fn start_with_password(password: &str) -> Option<Self> {
        Self::start_with("127.0.0.1", Some(password.to_string()))
    }

    fn start_with(ip: &str, password: Option<String>) -> Option<Self> {
        if !local_server::installed("redis-server", "--version", "redis-server") {
            return None;
        }
        let (child, port) =
            local_server::start_on_free_port("redis-server", ip, command(ip, &password));
        Some(Self {
            child,
            ip: ip.to_string(),
            password,
            port,
        })
    }

    /// Stops the server and starts a new one (empty) on the same port, as a server
    /// restart does to its clients.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = local_server::start_on_port(
            "redis-server",
            &self.ip,
            self.port,
            command(&self.ip, &self.password),
        )
        .expect("redis-server restarts on its port");
    }

    /// `redis://127.0.0.1:PORT`
    pub fn address(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

fn command(ip: &str, password: &Option<String>) -> impl Fn(u16) -> Command {
    let (ip, password) = (ip.to_string(), password.clone());
    move |port| {
        let mut c = Command::new("redis-server");
        c.args(["--port", &port.to_string(), "--bind", &ip]).args([
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "no",
        ]);
        if let Some(password) = &password {
            c.args(["--requirepass", password]);
        }
        c
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
