//! `--restart=systemd` and `--restart=host-command` through the real binary: a "host"
//! process in a UTS namespace of its own (hostname `node-under-test`) stands for the
//! host's init; a fake `systemctl` on PATH records which host it ran in and what it was
//! asked. On a k3s agent node (k3s inactive, k3s-agent active) the installer restarts
//! `k3s-agent`, inside the host's namespaces. Needs root (setns, unshare).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct FakeHost {
    child: Child,
}

impl FakeHost {
    /// A process in a new UTS namespace named `node-under-test`, waiting.
    fn start() -> Self {
        let child = Command::new("unshare")
            .args([
                "--uts",
                "sh",
                "-c",
                "hostname node-under-test && exec sleep 120",
            ])
            .stdin(Stdio::null())
            .spawn()
            .expect("unshare (util-linux)");
        let comm = format!("/proc/{}/comm", child.id());
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::read_to_string(&comm).unwrap_or_default().trim() != "sleep" {
            assert!(Instant::now() < deadline, "the fake host did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        Self { child }
    }
}

impl Drop for FakeHost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}

/// A k3s agent node's host root, and a PATH whose `systemctl` logs its calls.
fn k3s_agent_node(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let host = dir.join("host");
    let k3s = host.join("var/lib/rancher/k3s/agent/etc/containerd");
    std::fs::create_dir_all(&k3s).unwrap();
    std::fs::write(k3s.join("config.toml"), "version = 3\n").unwrap();
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let calls = dir.join("systemctl.log");
    let fake = bin.join("systemctl");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\necho \"$(hostname) $*\" >> {}\n[ \"$*\" = \"is-active --quiet k3s\" ] && exit 3\nexit 0\n",
            calls.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let shim = dir.join("containerd-shim-spin-v2");
    std::fs::write(&shim, b"\x7fELF pretend shim").unwrap();
    (host, bin, calls)
}

fn installer(host: &Path, bin: &Path, host_pid: u32, restart: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_spin-node-installer"))
        .arg("--host-root")
        .arg(host)
        .arg("--shim")
        .arg(host.parent().unwrap().join("containerd-shim-spin-v2"))
        .arg("--host-pid")
        .arg(host_pid.to_string())
        .args(restart)
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .env_remove("NODE_NAME")
        .output()
        .unwrap()
}

#[test]
fn systemd_restarts_the_active_k3s_unit_inside_the_host() {
    if !is_root() {
        eprintln!("SKIPPED: needs root (setns)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (host, bin, calls) = k3s_agent_node(dir.path());
    let fake_host = FakeHost::start();

    let out = installer(&host, &bin, fake_host.child.id(), &["--restart", "systemd"]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("restarted (systemctl restart k3s-agent)"),
        "{text}"
    );
    assert_eq!(
        std::fs::read_to_string(&calls).unwrap(),
        "node-under-test is-active --quiet k3s\n\
         node-under-test is-active --quiet k3s-agent\n\
         node-under-test restart k3s-agent\n"
    );
    assert!(
        host.join("var/lib/rancher/k3s/agent/etc/containerd/config-v3.toml.tmpl")
            .exists()
    );

    // Installed: the next run asks systemd nothing.
    let again = installer(&host, &bin, fake_host.child.id(), &["--restart", "systemd"]);
    assert!(again.status.success());
    assert_eq!(std::fs::read_to_string(&calls).unwrap().lines().count(), 3);
}

#[test]
fn host_command_runs_inside_the_host_and_a_missing_host_is_named() {
    if !is_root() {
        eprintln!("SKIPPED: needs root (setns)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (host, bin, _) = k3s_agent_node(dir.path());
    let marker = dir.path().join("restarted-on");
    let fake_host = FakeHost::start();

    let out = installer(
        &host,
        &bin,
        fake_host.child.id(),
        &[
            "--restart",
            "host-command",
            "--restart-command",
            &format!("hostname > {}", marker.display()),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap().trim(),
        "node-under-test"
    );

    // Without the host's namespaces (no hostPID): the error says what is missing, and
    // the restart stays owed.
    let fresh = tempfile::tempdir().unwrap();
    let (host, bin, _) = k3s_agent_node(fresh.path());
    let out = installer(&host, &bin, 999_999_999, &["--restart", "systemd"]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(text.contains("containerd was not restarted"), "{text}");
    assert!(text.contains("needs hostPID and privileged"), "{text}");
}
