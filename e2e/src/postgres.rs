//! A PostgreSQL server (Debian's `postgresql`, installed by `e2e/setup.sh`) for tests of
//! Spin's PostgreSQL interfaces: a fresh cluster in a temporary directory, on a free
//! loopback port, trusting local connections (`postgres://postgres@127.0.0.1:PORT/
//! postgres`); stopped and removed on drop. PostgreSQL refuses to run as root, so the
//! cluster belongs to the package's `postgres` user. With TLS turned on the server takes
//! only TLS connections over TCP (`hostssl` in `pg_hba.conf`).

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use crate::local_server;
use crate::test_ca::TestCa;

pub struct PostgresServer {
    child: Child,
    pub port: u16,
    tls: bool,
    _data: tempfile::TempDir,
}

/// The directory of the installed server's programs (`/usr/lib/postgresql/N/bin`).
fn bin_dir() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|d| d.join("postgres").is_file())
        .collect();
    dirs.sort();
    dirs.pop()
}

/// The uid and gid of the `postgres` user.
fn postgres_user() -> Option<(u32, u32)> {
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, "postgres"]).output().ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    Some((id("-u")?, id("-g")?))
}

impl PostgresServer {
    /// `None` (the test is skipped) without the `postgresql` package, which CI refuses.
    pub fn start() -> Option<Self> {
        Self::start_with(None)
    }

    /// The same, taking only TLS connections over TCP, with `ca`'s server certificate.
    pub fn start_tls(ca: &TestCa) -> Option<Self> {
        Self::start_with(Some(ca))
    }

    fn start_with(tls: Option<&TestCa>) -> Option<Self> {
        let (Some(bin), Some((uid, gid))) = (bin_dir(), postgres_user()) else {
            assert!(
                std::env::var_os("CI").is_none(),
                "postgresql is not installed (e2e/setup.sh installs it)"
            );
            eprintln!("skipped: postgresql is not installed");
            return None;
        };
        let data = tempfile::tempdir().unwrap();
        let cluster = data.path().join("cluster");
        std::fs::create_dir(&cluster).unwrap();
        for dir in [data.path(), cluster.as_path()] {
            std::os::unix::fs::chown(dir, Some(uid), Some(gid)).unwrap();
        }
        let init = Command::new(bin.join("initdb"))
            .args([
                "-D",
                cluster.to_str().unwrap(),
                "-U",
                "postgres",
                "-A",
                "trust",
            ])
            .args(["--no-sync", "-E", "UTF8", "--locale", "C"])
            .uid(uid)
            .gid(gid)
            .output()
            .unwrap();
        assert!(
            init.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&init.stderr)
        );
        let mut settings = vec![
            "listen_addresses=127.0.0.1".to_string(),
            "fsync=off".to_string(),
        ];
        if let Some(ca) = tls {
            // The key must belong to the server's user and be private to it.
            let files = [
                (&ca.cert, "server.pem", "ssl_cert_file"),
                (&ca.key, "server-key.pem", "ssl_key_file"),
            ];
            for (from, name, setting) in files {
                let to = data.path().join(name);
                std::fs::copy(from, &to).unwrap();
                std::os::unix::fs::chown(&to, Some(uid), Some(gid)).unwrap();
                std::fs::set_permissions(&to, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                    .unwrap();
                settings.push(format!("{setting}={}", to.display()));
            }
            settings.push("ssl=on".into());
            std::fs::write(
                cluster.join("pg_hba.conf"),
                "local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
            )
            .unwrap();
        }
        let (child, port) = local_server::start_on_free_port("postgres", "127.0.0.1", |port| {
            let mut c = Command::new(bin.join("postgres"));
            c.args(["-D", cluster.to_str().unwrap(), "-p", &port.to_string()]);
            for setting in &settings {
                c.args(["-c", setting]);
            }
            c.args(["-k", data.path().to_str().unwrap()])
                .stdin(Stdio::null())
                .uid(uid)
                .gid(gid);
            c
        });
        // Accepting connections comes before being ready for them.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !Command::new(bin.join("pg_isready"))
            .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
            .status()
            .is_ok_and(|s| s.success())
        {
            assert!(
                std::time::Instant::now() < deadline,
                "postgres is not ready"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Some(Self {
            child,
            port,
            tls: tls.is_some(),
            _data: data,
        })
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`, with `?sslmode=require` when the
    /// server takes only TLS.
    pub fn address(&self) -> String {
        let mode = if self.tls { "?sslmode=require" } else { "" };
        format!("postgres://postgres@127.0.0.1:{}/postgres{mode}", self.port)
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        // SIGTERM: a smart shutdown; SIGKILL would leave shared memory behind.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}
