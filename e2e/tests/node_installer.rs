//! The node installer for real: `spin-node-installer` copies the shim and adds the
//! `spin` runtime to a containerd config that has neither (the shim is not on
//! containerd's PATH either), a second run changes nothing, then containerd starts from
//! that config and a pod with the RuntimeClass handler `spin` is served through CRI.
//! The installer's golden configs (containerd 1.x schemas) load in the real containerd.

use std::path::{Path, PathBuf};
use std::process::Command;

use spin_kube_e2e::containerd::{LocalContainerd, built_binaries};
use spin_kube_e2e::cri::HelloNode;

fn run_installer(config: &Path, install_dir: &Path, restarts: &Path) -> String {
    let bins = built_binaries();
    let out = Command::new(bins.join("spin-node-installer"))
        .arg("--host-root")
        .arg("/")
        .arg("--install-dir")
        .arg(install_dir)
        .arg("--containerd-config")
        .arg(config)
        .arg("--shim")
        .arg(bins.join("containerd-shim-spin-v2"))
        .args(["--restart", "command", "--restart-command"])
        .arg(format!("echo restarted >> {}", restarts.display()))
        .env("RUST_LOG", "info")
        .env_remove("NODE_NAME")
        .output()
        .expect("spin-node-installer is built (cargo build --workspace --bins)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "installer failed:\n{text}");
    text
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_installed_node_serves_spin_pods() {
    let mut installed_shim = PathBuf::new();
    let containerd = LocalContainerd::start_installed_by(|config| {
        let dir = config.parent().unwrap();
        let install_dir = dir.join("opt/spin/bin");
        let restarts = dir.join("restarts.log");
        let before = std::fs::read_to_string(config).unwrap();
        assert!(!before.contains("runtimes.spin"));

        let first = run_installer(config, &install_dir, &restarts);
        assert!(first.contains("shim: installed"), "{first}");
        assert!(first.contains("added runtime `spin`"), "{first}");
        assert!(first.contains("containerd: restarted"), "{first}");
        assert_eq!(lines(&restarts), 1);
        let after = std::fs::read_to_string(config).unwrap();
        let mut rest = after.lines();
        for line in before.lines() {
            assert!(
                rest.any(|l| l == line),
                "{line:?} of the old config is missing or moved:\n{after}"
            );
        }

        let second = run_installer(config, &install_dir, &restarts);
        assert!(second.contains("is up to date"), "{second}");
        assert!(second.contains("already has runtime `spin`"), "{second}");
        assert!(second.contains("no restart needed"), "{second}");
        assert_eq!(lines(&restarts), 1, "the second run restarted containerd");
        assert_eq!(std::fs::read_to_string(config).unwrap(), after);
        installed_shim = install_dir.join("containerd-shim-spin-v2");
    });
    assert!(installed_shim.exists());
    // Only the installed copy can be the shim: none is on containerd's PATH.
    let on_path = Command::new("sh")
        .args(["-c", "command -v containerd-shim-spin-v2"])
        .output()
        .unwrap();
    assert!(
        !on_path.status.success(),
        "a shim is on PATH: {}",
        String::from_utf8_lossy(&on_path.stdout)
    );

    // Kept whole: dropping it stops containerd and the registry.
    let mut node = HelloNode::start_on(containerd).await;
    node.serve_one_pod("installed").await;
}

#[test]
fn installed_configs_load_in_real_containerd() {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shim/node-installer/tests/golden");
    // containerd 1.7 reads config versions 1 and 2; version 3 needs containerd 2.x.
    for case in [
        "debian-stock",
        "kubeadm-default-1.7",
        "kwasm-installed",
        "legacy-v1",
        "no-config",
    ] {
        let path = golden.join(format!("{case}.toml"));
        let out = Command::new("containerd")
            .arg("--config")
            .arg(&path)
            .args(["config", "dump"])
            .output()
            .expect("containerd is installed (e2e/setup-containerd.sh)");
        let dump = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{case}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let spin = dump
            .split("containerd.runtimes.spin]")
            .nth(1)
            .unwrap_or_else(|| panic!("{case}: no spin runtime in\n{dump}"));
        let spin = spin.split("\n\n").next().unwrap();
        assert!(
            spin.contains("runtime_path = \"/opt/spin/bin/containerd-shim-spin-v2\"")
                && spin.contains("runtime_type = \"io.containerd.spin.v2\""),
            "{case}: {spin}"
        );
    }
}
