//! A `redis-server` for tests of Spin's Redis interfaces, the Redis trigger and
//! Redis-backed key-value stores.

use std::process::{Child, Command};

use crate::local_server;
use crate::test_ca::TestCa;

/// The certificate files of a server with TLS turned on.
#[derive(Clone)]
struct TlsFiles {
    ca: String,
    cert: String,
    key: String,
    /// Whether clients must present a certificate `ca` signed.
    client_auth: bool,
}

/// A `redis-server` (Debian's package, installed by `e2e/setup.sh`) on a free loopback
/// port, with no persistence; killed on drop.
pub struct RedisServer {
    child: Child,
    ip: String,
    password: Option<String>,
    tls: Option<TlsFiles>,
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
        Self::start_with(ip, None, None)
    }

    /// The same, on loopback, requiring `password` (`requirepass`).
    pub fn start_with_password(password: &str) -> Option<Self> {
        Self::start_with("127.0.0.1", Some(password.to_string()), None)
    }

    /// The same, on loopback, serving TLS only with `ca`'s server certificate.
    pub fn start_tls(ca: &TestCa) -> Option<Self> {
        Self::start_with("127.0.0.1", None, Some(TlsFiles::of(ca, false)))
    }

    /// The same, requiring clients to present a certificate `ca` signed.
    pub fn start_tls_requiring_client_certificates(ca: &TestCa) -> Option<Self> {
        Self::start_with("127.0.0.1", None, Some(TlsFiles::of(ca, true)))
    }

    fn start_with(ip: &str, password: Option<String>, tls: Option<TlsFiles>) -> Option<Self> {
        if !local_server::installed("redis-server", "--version", "redis-server") {
            return None;
        }
        let (child, port) =
            local_server::start_on_free_port("redis-server", ip, command(ip, &password, &tls));
        Some(Self {
            child,
            ip: ip.to_string(),
            password,
            tls,
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
            command(&self.ip, &self.password, &self.tls),
        )
        .expect("redis-server restarts on its port");
    }

    /// `redis://127.0.0.1:PORT`, or `rediss://` with TLS.
    pub fn address(&self) -> String {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }
}

impl TlsFiles {
    fn of(ca: &TestCa, client_auth: bool) -> Self {
        let path = |p: &std::path::Path| p.to_string_lossy().into_owned();
        Self {
            ca: path(&ca.ca),
            cert: path(&ca.cert),
            key: path(&ca.key),
            client_auth,
        }
    }
}

fn command(ip: &str, password: &Option<String>, tls: &Option<TlsFiles>) -> impl Fn(u16) -> Command {
    let (ip, password, tls) = (ip.to_string(), password.clone(), tls.clone());
    move |port| {
        let mut c = Command::new("redis-server");
        match &tls {
            None => c.args(["--port", &port.to_string()]),
            Some(tls) => c
                .args(["--port", "0", "--tls-port", &port.to_string()])
                .args([
                    "--tls-cert-file",
                    &tls.cert,
                    "--tls-key-file",
                    &tls.key,
                    "--tls-ca-cert-file",
                    &tls.ca,
                    "--tls-auth-clients",
                    if tls.client_auth { "yes" } else { "no" },
                ]),
        };
        c.args(["--bind", &ip]).args([
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
