//! The Spin plugin packages: manifest fields Spin reads, checksum, and the executable
//! inside answering as `spin kube` / `spin k8s`.

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use sha2::{Digest, Sha256};

#[test]
fn packages_kube_and_k8s_with_manifests_spin_can_install() {
    let out = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("package-plugin.sh");
    let run = Command::new("bash")
        .arg(&script)
        .arg(out.path())
        .env("SPIN_KUBE_BIN", env!("CARGO_BIN_EXE_spin-kube"))
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );

    for name in ["kube", "k8s"] {
        check_plugin(out.path(), name);
    }
}

fn check_plugin(out: &Path, name: &str) {
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(out.join(format!("{name}.json"))).unwrap()).unwrap();
    assert_eq!(manifest["name"], name);
    assert_eq!(manifest["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(manifest["spinCompatibility"], ">=2.0");
    let package = &manifest["packages"][0];
    assert_eq!(package["os"], "linux");
    let tarball = package["url"]
        .as_str()
        .unwrap()
        .strip_prefix("file://")
        .unwrap();
    let bytes = std::fs::read(tarball).unwrap();
    assert_eq!(package["sha256"], hex::encode(Sha256::digest(&bytes)));

    let unpacked = tempfile::tempdir().unwrap();
    let tar = Command::new("tar")
        .args(["-xzf", tarball, "-C"])
        .arg(unpacked.path())
        .status()
        .unwrap();
    assert!(tar.success());
    let help = Command::new(unpacked.path().join(name))
        .arg("--help")
        .output()
        .unwrap();
    let text = String::from_utf8(help.stdout).unwrap();
    assert!(
        text.contains(&format!("Usage: spin {name} <COMMAND>")),
        "{text}"
    );
}
