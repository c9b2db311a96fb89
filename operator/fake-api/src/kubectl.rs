//! Client-side parsing by the real `kubectl` (no API server needed), for tests that
//! generate manifests: `kubectl kustomize` reads every document into its resource map.

/// Runs `kubectl kustomize` over `files` (name, YAML) and returns its output; `None`
/// when kubectl is not installed (a skip, refused in CI). Panics with kubectl's message
/// when a file does not parse.
pub fn kustomize(files: &[(String, String)]) -> Option<String> {
    if std::process::Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_err()
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "kubectl is required in CI"
        );
        eprintln!("SKIPPED: kubectl is not installed");
        return None;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let mut kustomization = String::from("resources:\n");
    for (name, yaml) in files {
        std::fs::write(dir.path().join(name), yaml).expect("write manifest");
        kustomization.push_str(&format!("- {name}\n"));
    }
    std::fs::write(dir.path().join("kustomization.yaml"), kustomization)
        .expect("write kustomization");
    let out = std::process::Command::new("kubectl")
        .arg("kustomize")
        .arg(dir.path())
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "kubectl kustomize: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}
