//! Debian's `docker-registry` (CNCF Distribution) on 127.0.0.1 with a free port.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A registry process with its own storage, killed on drop.
pub struct LocalRegistry {
    child: Child,
    dir: tempfile::TempDir,
    /// `127.0.0.1:PORT`.
    pub addr: String,
}

impl LocalRegistry {
    /// An open registry: anyone may push and pull.
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// A registry that only lets `user` with `password` in (HTTP basic auth).
    pub fn start_with_login(user: &str, password: &str) -> Self {
        let hash = bcrypt::hash(password, 4).expect("bcrypt");
        Self::start_with(Some(format!("{user}:{hash}\n")))
    }

    fn start_with(htpasswd: Option<String>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().display().to_string();
        let extra = match htpasswd {
            Some(line) => {
                std::fs::write(dir.path().join("htpasswd"), line).unwrap();
                format!("auth:\n  htpasswd:\n    realm: test\n    path: {root}/htpasswd\n")
            }
            None => String::new(),
        };
        let config = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {root}/data\nhttp:\n  addr: 127.0.0.1:0\n{extra}"
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("docker-registry is not installed: run e2e/setup.sh (apt-get install docker-registry)");
        let mut registry = Self {
            child,
            dir,
            addr: String::new(),
        };
        registry.addr = registry.wait_for_address();
        registry
    }

    /// The address from the registry's "listening on" log line.
    fn wait_for_address(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(addr) = self.log().lines().find_map(|l| {
                let rest = l.split("listening on ").nth(1)?;
                Some(rest.split(['"', ' ']).next()?.to_string())
            }) {
                return addr;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("docker-registry exited ({status}):\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "docker-registry did not start:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Pushes the Spin app in `app_dir` as `<registry>/<repository>` with the real
    /// `spin-kube push`; returns the reference.
    pub fn push_app(&self, app_dir: &std::path::Path, repository: &str) -> String {
        let image = format!("{}/{repository}", self.addr);
        let push = Command::new(crate::containerd::built_binaries().join("spin-kube"))
            .args(["push", "--insecure", "--file"])
            .arg(app_dir)
            .arg(&image)
            .env("DOCKER_CONFIG", app_dir)
            .output()
            .expect("spin-kube (built with the workspace)");
        assert!(
            push.status.success(),
            "{}",
            String::from_utf8_lossy(&push.stderr)
        );
        image
    }

    /// Everything the registry logged so far, access log included.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("registry.log")
    }
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
