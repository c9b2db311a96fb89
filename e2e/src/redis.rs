//! A `redis-server` for tests of Spin's Redis interfaces and Redis-backed key-value
//! stores.

use std::process::{Child, Command};

use crate::local_server;

/// A `redis-server` (Debian's package, installed by `e2e/setup.sh`) on a free loopback
/// port, with no persistence; killed on drop.
pub struct RedisServer {
    child: Child,
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
        if !local_server::installed("redis-server", "--version", "redis-server") {
            return None;
        }
        let (child, port) = local_server::start_on_free_port("redis-server", ip, |port| {
            let mut c = Command::new("redis-server");
            c.args(["--port", &port.to_string(), "--bind", ip]).args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
            ]);
            c
        });
        Some(Self { child, port })
    }

    /// `redis://127.0.0.1:PORT`
    pub fn address(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
