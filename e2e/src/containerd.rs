//! A real containerd (Debian's package, 1.7 from trixie: `e2e/setup-containerd.sh`) with
//! its own root, state and sockets under a temp dir, our shim on its PATH and the CRI
//! runtime handler `spin` → `io.containerd.spin.v2`. Needs root.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub struct LocalContainerd {
    child: Child,
    pub dir: tempfile::TempDir,
    /// The gRPC socket.
    pub socket: PathBuf,
    /// The CNI bridge this instance's pods use (`spine2e{bridge}`, 10.231.{bridge}.0/24).
    bridge: u32,
}

/// The directory holding the workspace's built binaries (the shim among them).
pub fn built_binaries() -> PathBuf {
    let exe = std::env::current_exe().expect("current executable");
    // target/<profile>/deps/<test> or target/<profile>/<bin> → target/<profile>
    let dir = exe.parent().expect("target dir");
    if dir.ends_with("deps") {
        dir.parent().expect("target dir").to_path_buf()
    } else {
        dir.to_path_buf()
    }
}

impl LocalContainerd {
    /// containerd with the `spin` runtime in its config and the shim on its PATH.
    pub fn start() -> Self {
        Self::launch(true, |_| {})
    }

    /// containerd whose config has no `spin` runtime and whose PATH has no shim until
    /// `install` (given the config file) puts them there, as the node installer does.
    pub fn start_installed_by(install: impl FnOnce(&std::path::Path)) -> Self {
        Self::launch(false, install)
    }

    fn launch(spin_on_path: bool, install: impl FnOnce(&std::path::Path)) -> Self {
        assert!(
            nix_is_root(),
            "the containerd end-to-end tests need root (containerd, mounts, network namespaces)"
        );
        let dir = tempfile::Builder::new()
            .prefix("ctrd-")
            .tempdir_in("/var/tmp")
            .expect("temp dir");
        let root = dir.path();
        let socket = root.join("containerd.sock");
        let config = format!(
            r#"version = 2
root = "{root}/root"
state = "{root}/state"
[grpc]
  address = "{socket}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause}"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "{root}/certs.d"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
{spin}  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{root}/cni"
"#,
            root = root.display(),
            socket = socket.display(),
            pause = crate::images::PAUSE_IMAGE,
            spin = if spin_on_path {
                "  [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.spin]\n    runtime_type = \"io.containerd.spin.v2\"\n"
            } else {
                ""
            },
        );
        std::fs::create_dir_all(root.join("cni")).unwrap();
        std::fs::create_dir_all(root.join("certs.d")).unwrap();
        // A bridge network of its own per containerd, so parallel runs (and tests of
        // one run that each start a containerd) do not meet.
        static STARTED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let nth = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let n = (std::process::id() + nth * 41) % 200 + 20;
        let cni = format!(
            r#"{{"cniVersion":"1.0.0","name":"spin-e2e-{n}","plugins":[{{"type":"bridge","bridge":"spine2e{n}","isGateway":true,"ipMasq":false,"ipam":{{"type":"host-local","ranges":[[{{"subnet":"10.231.{n}.0/24"}}]],"dataDir":"{root}/ipam"}}}}]}}"#,
            root = root.display()
        );
        std::fs::write(root.join("cni/10-spin-e2e.conflist"), cni).unwrap();
        let config_path = root.join("config.toml");
        std::fs::write(&config_path, config).unwrap();
        install(&config_path);
        let log = std::fs::File::create(root.join("containerd.log")).unwrap();
        let system_path = std::env::var("PATH").unwrap_or_default();
        let path = if spin_on_path {
            format!("{}:{system_path}", built_binaries().display())
        } else {
            system_path
        };
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&config_path)
            .env("PATH", path)
            .env("SPIN_SHIM_CACHE_DIR", root.join("compiled"))
            // Absent until a test writes it: the shim's default ceilings.
            .env("SPIN_SHIM_NODE_CONFIG", root.join("node.toml"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("containerd is not installed: run e2e/setup-containerd.sh");
        let mut containerd = Self {
            child,
            dir,
            socket,
            bridge: n,
        };
        containerd.wait_ready();
        containerd
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.socket.exists() && self.ctr(&["version"]).status.success() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("containerd exited ({status}):\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "containerd did not start:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `ctr --address SOCKET ARGS...` in the `default` namespace.
    pub fn ctr(&self, args: &[&str]) -> Output {
        self.ctr_command(args)
            .output()
            .expect("ctr (from the containerd package)")
    }

    /// `ctr run --rm` of `target` (as in [`Self::spin_run`]) to its end: the output of a
    /// container that must stop by itself (a refused app, a command). Panics, killing
    /// the `ctr` client, if it is still running after two minutes, so a container that
    /// serves instead of failing fails its test rather than hanging the suite.
    pub fn spin_run_to_end(&self, port: Option<u16>, target: &[&str]) -> Output {
        output_within(
            self.spin_run("--rm", port, target),
            Duration::from_secs(120),
        )
    }

    /// `ctr run MODE` (`--rm` or `-d`) with our runtime on the host network; with a
    /// port, the app listens on 127.0.0.1:PORT. `target` is the image (or
    /// `--rootfs DIR`), the container id and the command.
    pub fn spin_run(&self, mode: &str, port: Option<u16>, target: &[&str]) -> Command {
        let listen = port.map(|p| format!("SPIN_HTTP_LISTEN_ADDR=127.0.0.1:{p}"));
        let mut args = vec![
            "run",
            mode,
            "--runtime",
            "io.containerd.spin.v2",
            "--net-host",
        ];
        if let Some(listen) = &listen {
            args.extend(["--env", listen.as_str()]);
        }
        args.extend(target);
        self.ctr_command(&args)
    }

    /// `ctr run -d` of the app in `rootfs` as container `id`, listening on
    /// 127.0.0.1:`port`, with extra `--env NAME=VALUE` entries; panics unless it starts
    /// and answers 200.
    pub fn run_rootfs_app(&self, id: &str, rootfs: &std::path::Path, port: u16, env: &[&str]) {
        let root = rootfs.display().to_string();
        let mut target: Vec<&str> = env.iter().flat_map(|e| ["--env", *e]).collect();
        target.extend(["--rootfs", &root, id, "/"]);
        self.run_detached(id, &target, port);
    }

    /// `ctr run -d` of `target` (an image or `--rootfs` arguments, the container id
    /// `id`, the command), listening on 127.0.0.1:`port`; panics unless it starts and
    /// answers 200 at `/`. Returns the answer's body.
    pub fn run_detached(&self, id: &str, target: &[&str], port: u16) -> String {
        let run = self.spin_run("-d", Some(port), target).output().unwrap();
        assert!(
            run.status.success(),
            "{id}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        let (status, body) =
            crate::probe::wait_for_answer("127.0.0.1", port, "/", Duration::from_secs(60));
        assert_eq!(status, 200, "{id}: {body}");
        body
    }

    pub fn ctr_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("ctr");
        cmd.arg("--address").arg(&self.socket).args(args);
        cmd
    }

    /// Lets CRI pull from a plain-HTTP registry (`certs.d/<host>/hosts.toml`).
    pub fn allow_plain_http(&self, registry: &str) {
        let dir = self.dir.path().join("certs.d").join(registry);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("hosts.toml"),
            format!("server = \"http://{registry}\"\n[host.\"http://{registry}\"]\n  capabilities = [\"pull\", \"resolve\"]\n"),
        )
        .unwrap();
    }

    /// Imports the pause image into CRI's namespace.
    pub fn import_pause_image(&self) {
        self.import_pause_image_into("k8s.io");
    }

    /// Imports the pause image into a containerd namespace.
    pub fn import_pause_image_into(&self, namespace: &str) {
        self.import_image(namespace, &crate::images::pause_image_tar());
    }

    /// Imports an OCI layout tarball into a containerd namespace.
    pub fn import_image(&self, namespace: &str, image_tar: &[u8]) {
        let tar = self.dir.path().join("image.tar");
        std::fs::write(&tar, image_tar).unwrap();
        let out = self.ctr(&[
            "-n",
            namespace,
            "images",
            "import",
            &tar.display().to_string(),
        ]);
        assert!(
            out.status.success(),
            "importing an image: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// containerd's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }

    /// The node config (ceilings on pods' settings) the shims read; absent at start.
    pub fn node_config(&self) -> PathBuf {
        self.dir.path().join("node.toml")
    }

    /// The node's compile cache the shims use.
    pub fn compile_cache(&self) -> PathBuf {
        self.dir.path().join("compiled")
    }
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

impl Drop for LocalContainerd {
    fn drop(&mut self) {
        // Stop what is left (shims of failed tests), then containerd.
        for ns in ["default", "k8s.io"] {
            let tasks = self.ctr(&["-n", ns, "task", "ls", "-q"]);
            for id in String::from_utf8_lossy(&tasks.stdout).lines() {
                let _ = self.ctr(&["-n", ns, "task", "kill", "-s", "SIGKILL", id]);
                let _ = self.ctr(&["-n", ns, "task", "delete", "-f", id]);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The CNI bridge this instance made.
        let _ = Command::new("ip")
            .args(["link", "del", &format!("spine2e{}", self.bridge)])
            .stderr(Stdio::null())
            .status();
    }
}

/// Runs `command` to its end and returns its output; panics, killing it, if it has
/// not ended within `limit`.
pub fn output_within(mut command: Command, limit: Duration) -> Output {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id().to_string();
    let (done, ended) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(child.wait_with_output()));
    match ended.recv_timeout(limit) {
        Ok(output) => output.expect("wait"),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid]).status();
            let output = ended.recv().expect("waiter").expect("wait");
            panic!(
                "{command:?} still ran after {limit:?}; it printed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}
