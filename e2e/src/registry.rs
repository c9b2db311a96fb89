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

    /// Pushes the app in `app_dir` with `spin-kube push`, then pushes it again under
    /// `<repository>:hostile` with its locked app changed by `edit`, as an attacker
    /// who rewrites an artifact by hand would. Returns the rewritten reference.
    pub fn push_rewritten(
        &self,
        app_dir: &std::path::Path,
        repository: &str,
        edit: impl FnOnce(&mut serde_json::Value),
    ) -> String {
        self.push_app(app_dir, &format!("{repository}:original"));
        let accept = "application/vnd.oci.image.manifest.v1+json";
        let (_, manifest) = self.http(
            "GET",
            &format!("/v2/{repository}/manifests/original"),
            &[("Accept", accept)],
            &[],
        );
        let mut manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
        let locked_layer = manifest["layers"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .rev()
            .find(|l| l["mediaType"] == "application/vnd.fermyon.spin.application.v1+config")
            .expect("a locked app layer");
        let digest = locked_layer["digest"].as_str().unwrap().to_string();
        let (_, locked) = self.http("GET", &format!("/v2/{repository}/blobs/{digest}"), &[], &[]);
        let mut locked: serde_json::Value = serde_json::from_slice(&locked).unwrap();
        edit(&mut locked);
        let locked = serde_json::to_vec(&locked).unwrap();
        locked_layer["digest"] = self.push_blob(repository, &locked).into();
        locked_layer["size"] = locked.len().into();
        let manifest = serde_json::to_vec(&manifest).unwrap();
        let (status, body) = self.http(
            "PUT",
            &format!("/v2/{repository}/manifests/hostile"),
            &[("Content-Type", accept)],
            &manifest,
        );
        assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
        format!("{}/{repository}:hostile", self.addr)
    }

    /// Pushes `wasm` as a Wasm package (the CNCF Wasm OCI artifact layout `wkg publish`
    /// writes: a `application/vnd.wasm.config.v0+json` config and one `layer_type`
    /// layer) to `<repository>:<tag>`; returns the layer's digest.
    pub fn push_wasm_package(
        &self,
        repository: &str,
        tag: &str,
        wasm: &[u8],
        layer_type: &str,
    ) -> String {
        let layer = self.push_blob(repository, wasm);
        let config = serde_json::json!({
            "architecture": "wasm",
            "os": "wasip2",
            "layerDigests": [layer],
        });
        let config = serde_json::to_vec(&config).unwrap();
        let config_digest = self.push_blob(repository, &config);
        let media_type = "application/vnd.oci.image.manifest.v1+json";
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": {
                "mediaType": "application/vnd.wasm.config.v0+json",
                "digest": config_digest,
                "size": config.len(),
            },
            "layers": [{ "mediaType": layer_type, "digest": layer, "size": wasm.len() }],
        });
        let (status, body) = self.http(
            "PUT",
            &format!("/v2/{repository}/manifests/{tag}"),
            &[("Content-Type", media_type)],
            &serde_json::to_vec(&manifest).unwrap(),
        );
        assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
        layer
    }

    /// Uploads a blob in one request; returns its digest.
    pub fn push_blob(&self, repository: &str, bytes: &[u8]) -> String {
        use sha2::Digest;
        let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)));
        let (status, headers, _) = self.exchange(
            "POST",
            &format!("/v2/{repository}/blobs/uploads/"),
            &[],
            &[],
        );
        assert_eq!(status, 202, "{headers}");
        let location = headers
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("location")
                    .then(|| value.trim().to_string())
            })
            .expect("upload location");
        let path = location
            .split_once(&self.addr)
            .map(|(_, p)| p.to_string())
            .unwrap_or(location);
        let sep = if path.contains('?') { '&' } else { '?' };
        let (status, body) = self.http("PUT", &format!("{path}{sep}digest={digest}"), &[], bytes);
        assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
        digest
    }

    /// One plain HTTP/1.1 request to the registry: status and body.
    fn http(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, Vec<u8>) {
        let (status, _, body) = self.exchange(method, path, headers, body);
        (status, body)
    }

    /// Sends a request; returns the status, the response head and the body.
    fn exchange(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, String, Vec<u8>) {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(&self.addr).unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body).unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap();
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a response head");
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (status, head, raw[split + 4..].to_vec())
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
