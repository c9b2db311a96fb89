//! The committed CRD YAML is exactly what the types generate (`kubectl` parses it in
//! the operator's tests, with the manifests that use it).
//! `UPDATE_GOLDEN=1 cargo test -p spin-crds` rewrites the files after a type change.

use std::path::{Path, PathBuf};

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
