//! The chart's images, built by `build-images` from the release binaries and run by a
//! real containerd (runc), as a node would run them:
//! - the operator image starts its binary (libraries complete, non-root user);
//! - the node installer image, run as the DaemonSet runs it (the host's `/` at `/host`),
//!   installs its shim and the `spin` runtime into a second containerd's config; that
//!   containerd then serves a CRI pod with the handler `spin` through the installed shim.

use std::path::{Path, PathBuf};
use std::process::Command;

use spin_kube_e2e::containerd::{LocalContainerd, built_binaries};
use spin_kube_e2e::cri::HelloNode;

const OPERATOR: &str = "ghcr.io/spin-kube-rs/spin-operator:0.1.0";
const INSTALLER: &str = "ghcr.io/spin-kube-rs/spin-node-installer:0.1.0";

/// containerd with both images imported into `default`.
fn node_with_images() -> (LocalContainerd, tempfile::TempDir) {
    let out = tempfile::tempdir().unwrap();
    let built = Command::new(built_binaries().join("build-images"))
        .arg("--out")
        .arg(out.path())
        .output()
        .expect("build-images is built (cargo build --workspace --bins)");
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let containerd = LocalContainerd::start();
    for image in ["spin-operator", "spin-node-installer"] {
        let tar = std::fs::read(out.path().join(format!("{image}.tar"))).unwrap();
        containerd.import_image("default", &tar);
    }
    (containerd, out)
}

fn run(containerd: &LocalContainerd, args: &[&str]) -> String {
    let out = containerd.ctr(args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "ctr {args:?}:\n{text}");
    text
}

#[test]
fn the_operator_image_runs_its_binary() {
    let (containerd, _images) = node_with_images();
    let help = run(
        &containerd,
        &[
            "run",
            "--rm",
            OPERATOR,
            "operator-help",
            "/spin-operator",
            "--help",
        ],
    );
    assert!(help.contains("--leader-election"), "{help}");
    let info = run(&containerd, &["images", "ls"]);
    assert!(
        info.contains(OPERATOR) && info.contains(INSTALLER),
        "{info}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_installer_image_installs_a_shim_that_serves_pods() {
    let (images_node, _images) = node_with_images();
    let mut installed = PathBuf::new();
    let node = LocalContainerd::start_installed_by(|config| {
        let install_dir = config.parent().unwrap().join("opt/spin/bin");
        let bind = "type=bind,src=/,dst=/host,options=rbind:rw";
        let args = |id: &'static str| {
            vec![
                "run".to_string(),
                "--rm".into(),
                "--mount".into(),
                bind.into(),
                INSTALLER.into(),
                id.into(),
                "/spin-node-installer".into(),
                "--install-dir".into(),
                install_dir.display().to_string(),
                "--containerd-config".into(),
                config.display().to_string(),
                "--restart".into(),
                "none".into(),
            ]
        };
        let first: Vec<String> = args("installer-1");
        let out = run(
            &images_node,
            &first.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        assert!(out.contains("shim: installed"), "{out}");
        assert!(out.contains("added runtime `spin`"), "{out}");
        assert!(out.contains("NOT restarted"), "{out}");
        installed = install_dir.join("containerd-shim-spin-v2");
        assert_stripped_executable(&installed);
    });
    assert!(installed.exists());

    // Kept whole: dropping it stops containerd and the registry.
    let mut hello = HelloNode::start_on(node).await;
    hello.serve_one_pod("from-image").await;
}

/// The shim the image carries: an executable ELF, smaller than the unstripped build.
fn assert_stripped_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).unwrap();
    assert!(meta.permissions().mode() & 0o111 != 0, "not executable");
    assert_eq!(&std::fs::read(path).unwrap()[..4], b"\x7fELF");
    let built = std::fs::metadata(built_binaries().join("containerd-shim-spin-v2")).unwrap();
    assert!(meta.len() < built.len(), "the image's shim is not stripped");
}
