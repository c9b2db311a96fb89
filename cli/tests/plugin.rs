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

/// The rules of Spin's plugin manifest schema (spin-plugins'
/// `json-schema/spin-plugin-manifest-schema-0.1.json`): required and allowed fields,
/// string types, the OS and architecture names, a comma-separated semver requirement.
fn check_schema(manifest: &Value) {
    let object = manifest.as_object().expect("an object");
    let required = [
        "name",
        "description",
        "version",
        "spinCompatibility",
        "license",
        "packages",
    ];
    for key in required {
        assert!(object.contains_key(key), "{key} missing");
    }
    for (key, value) in object {
        assert!(
            required.contains(&key.as_str()) || key == "homepage",
            "{key} not in the schema"
        );
        assert!(
            key == "packages" || value.is_string(),
            "{key} is not a string"
        );
    }
    let rules = manifest["spinCompatibility"].as_str().unwrap();
    for rule in rules.split(',').map(str::trim) {
        let version = rule
            .trim_start_matches(['>', '<', '~', '^', '*', '='])
            .trim_start_matches('v');
        let parts: Vec<&str> = version.split('.').collect();
        assert!(
            (1..=3).contains(&parts.len())
                && parts
                    .iter()
                    .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit())),
            "spinCompatibility rule {rule:?}"
        );
    }
    let packages = manifest["packages"]
        .as_array()
        .expect("packages is an array");
    assert!(!packages.is_empty());
    for package in packages {
        let fields = package.as_object().expect("a package is an object");
        let mut keys: Vec<&str> = fields.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["arch", "os", "sha256", "url"]);
        assert!(fields.values().all(Value::is_string));
        assert!(["linux", "macos", "windows"].contains(&package["os"].as_str().unwrap()));
        assert!(["amd64", "aarch64"].contains(&package["arch"].as_str().unwrap()));
    }
}

fn check_plugin(out: &Path, name: &str) {
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(out.join(format!("{name}.json"))).unwrap()).unwrap();
    check_schema(&manifest);
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
