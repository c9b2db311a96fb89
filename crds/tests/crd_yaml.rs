//! The committed CRD YAML is exactly what the types generate, and `kubectl` parses it.
//! `UPDATE_GOLDEN=1 cargo test -p spin-crds` rewrites the files after a type change.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn committed_crd_yaml_matches_the_types() {
    let yaml = spin_crds::crd_yaml();
    for file in spin_crds::CRD_FILES {
        let path = root().join(file);
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &yaml).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == yaml,
            "{file} is out of date: run `cargo run -p spin-crds --bin crdgen` (or UPDATE_GOLDEN=1 cargo test -p spin-crds)"
        );
    }
}

#[test]
fn crds_carry_the_spinkube_names() {
    let yaml = spin_crds::crd_yaml();
    for needle in [
        "name: spinapps.core.spinkube.dev",
        "name: spinappexecutors.core.spinkube.dev",
        "kind: SpinApp\n",
        "kind: SpinAppExecutor\n",
        "name: v1alpha1",
        "status: {}",
        "jsonPath: .status.readyReplicas",
    ] {
        assert!(yaml.contains(needle), "missing {needle:?}");
    }
}

/// `kubectl kustomize` parses resources entirely client-side (no API server needed).
fn kubectl_parses(files: &[PathBuf]) -> Result<String, String> {
    let dir = tempfile_dir();
    let mut kustomization = String::from("resources:\n");
    for (i, f) in files.iter().enumerate() {
        let name = format!("r{i}.yaml");
        std::fs::copy(f, dir.join(&name)).unwrap();
        kustomization.push_str(&format!("- {name}\n"));
    }
    std::fs::write(dir.join("kustomization.yaml"), kustomization).unwrap();
    let out = Command::new("kubectl").arg("kustomize").arg(&dir).output();
    let _ = std::fs::remove_dir_all(&dir);
    match out {
        Ok(o) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout).into_owned()),
        Ok(o) => Err(String::from_utf8_lossy(&o.stderr).into_owned()),
        Err(e) => Err(format!("kubectl: {e}")),
    }
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("spin-crds-kubectl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn kubectl_parses_the_crds() {
    if Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_err()
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "kubectl is required in CI"
        );
        eprintln!("SKIPPED: kubectl is not installed");
        return;
    }
    let out = kubectl_parses(&[root().join("crds/spinkube.crds.yaml")]).unwrap();
    assert!(out.contains("kind: CustomResourceDefinition"));
}
