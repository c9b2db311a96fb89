//! A MariaDB server (Debian's `mariadb-server`, installed by `e2e/setup.sh`) for tests
//! of Spin's MySQL interfaces: a fresh data directory in a temporary directory, on a
//! free loopback port, without authentication (`--skip-grant-tables`), with an empty
//! database `spin` (`mysql://root@127.0.0.1:PORT/spin`); stopped and removed on drop.
//! The server runs as the package's `mysql` user. With TLS turned on it takes only
//! TLS connections over TCP (`--require-secure-transport`).

use std::process::{Child, Command, Stdio};

use crate::local_server;
use crate::test_ca::TestCa;

/// Where Debian's package puts the server (not on every PATH).
const MARIADBD: &str = "/usr/sbin/mariadbd";

pub struct MariadbServer {
    child: Child,
    pub port: u16,
    tls: bool,
    _data: tempfile::TempDir,
}

impl MariadbServer {
    /// `None` (the test is skipped) without `mariadb-server`, which CI refuses.
    pub fn start() -> Option<Self> {
        Self::start_with(None)
    }

    /// The same, taking only TLS connections over TCP, with `ca`'s server certificate.
    pub fn start_tls(ca: &TestCa) -> Option<Self> {
        Self::start_with(Some(ca))
    }

    fn start_with(tls: Option<&TestCa>) -> Option<Self> {
        if !local_server::installed(MARIADBD, "--version", "mariadb-server") {
            return None;
        }
        let data = tempfile::tempdir().unwrap();
        let dir = data.path().join("data");
        let socket = data.path().join("mysqld.sock");
        // Temporary tables in a directory of this server's own: servers bootstrapped at
        // the same time in the shared /tmp removed each other's (seen in CI).
        let tmp = data.path().join("tmp");
        std::fs::create_dir(&tmp).unwrap();
        // Copies the server's key and certificate where its user reads them.
        let mut tls_args = Vec::new();
        if let Some(ca) = tls {
            for (from, name, flag) in [
                (&ca.cert, "server.pem", "--ssl-cert"),
                (&ca.key, "server-key.pem", "--ssl-key"),
            ] {
                let to = data.path().join(name);
                std::fs::copy(from, &to).unwrap();
                tls_args.push(format!("{flag}={}", to.display()));
            }
            tls_args.push("--require-secure-transport=ON".into());
        }
        let chown = Command::new("chown")
            .args(["-R", "mysql:mysql"])
            .arg(data.path())
            .status()
            .unwrap();
        assert!(chown.success());
        let init = Command::new("mariadb-install-db")
            .args(["--no-defaults", "--user=mysql", "--skip-test-db"])
            .arg(format!("--datadir={}", dir.display()))
            .arg(format!("--tmpdir={}", tmp.display()))
            .output()
            .unwrap();
        assert!(
            init.status.success(),
            "mariadb-install-db: {}",
            String::from_utf8_lossy(&init.stderr)
        );
        let (child, port) = local_server::start_on_free_port("mariadbd", "127.0.0.1", |port| {
            let mut c = Command::new(MARIADBD);
            c.args(["--no-defaults", "--user=mysql", "--skip-grant-tables"])
                .arg(format!("--datadir={}", dir.display()))
                .arg(format!("--socket={}", socket.display()))
                .arg(format!("--tmpdir={}", tmp.display()))
                .arg(format!(
                    "--pid-file={}",
                    data.path().join("mysqld.pid").display()
                ))
                .args([&format!("--port={port}"), "--bind-address=127.0.0.1"])
                .args(["--innodb-buffer-pool-size=16M", "--skip-log-bin"])
                .args(&tls_args)
                .stdin(Stdio::null());
            c
        });
        // Over the server's socket, which needs no TLS.
        let created = Command::new("mariadb")
            .arg("--no-defaults")
            .arg(format!("--socket={}", socket.display()))
            .args(["-u", "root", "-e", "CREATE DATABASE spin"])
            .output()
            .unwrap();
        assert!(
            created.status.success(),
            "CREATE DATABASE: {}",
            String::from_utf8_lossy(&created.stderr)
        );
        Some(Self {
            child,
            port,
            tls: tls.is_some(),
            _data: data,
        })
    }

    /// `mysql://root@127.0.0.1:PORT/spin`, with `?ssl-mode=REQUIRED` when the server
    /// takes only TLS.
    pub fn address(&self) -> String {
        let mode = if self.tls { "?ssl-mode=REQUIRED" } else { "" };
        format!("mysql://root@127.0.0.1:{}/spin{mode}", self.port)
    }
}

impl Drop for MariadbServer {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}
