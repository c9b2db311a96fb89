//! Labelling the node through the real kube client against the in-memory API server.

use k8s_openapi::api::core::v1::Node;
use kube_fake_api::{FakeApi, cluster_path};
use spin_node_installer::label::{INSTALLED_LABEL, INSTALLED_VALUE, label_node};

#[tokio::test]
async fn the_node_is_labelled_once() {
    let api = FakeApi::default();
    api.insert_yaml("apiVersion: v1\nkind: Node\nmetadata:\n  name: node-1\n  labels:\n    kubernetes.io/os: linux\n");
    let nodes = kube::Api::<Node>::all(api.client());

    assert!(
        label_node(&nodes, "node-1", INSTALLED_LABEL, INSTALLED_VALUE)
            .await
            .unwrap()
    );
    let node = api.get(&cluster_path("v1", "nodes", "node-1")).unwrap();
    assert_eq!(node["metadata"]["labels"][INSTALLED_LABEL], "installed");
    assert_eq!(node["metadata"]["labels"]["kubernetes.io/os"], "linux");

    let patches_before = api
        .requests()
        .iter()
        .filter(|r| r.starts_with("PATCH"))
        .count();
    assert!(
        !label_node(&nodes, "node-1", INSTALLED_LABEL, INSTALLED_VALUE)
            .await
            .unwrap()
    );
    let patches_after = api
        .requests()
        .iter()
        .filter(|r| r.starts_with("PATCH"))
        .count();
    assert_eq!(
        patches_after, patches_before,
        "an already labelled node is not patched"
    );
}

#[tokio::test]
async fn a_missing_node_is_named_and_not_created() {
    let api = FakeApi::default();
    let nodes = kube::Api::<Node>::all(api.client());
    let err = label_node(&nodes, "ghost", INSTALLED_LABEL, INSTALLED_VALUE)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot label node ghost"), "{err}");
    assert!(api.get(&cluster_path("v1", "nodes", "ghost")).is_none());
}

#[test]
fn a_label_without_a_value_is_refused_before_anything_is_installed() {
    let host = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_spin-node-installer"))
        .arg("--host-root")
        .arg(host.path())
        .args(["--node-label", "spin-ready", "--restart", "none"])
        .env_remove("NODE_NAME")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("--node-label \"spin-ready\" must be KEY=VALUE"),
        "{err}"
    );
    assert!(!host.path().join("etc").exists() && !host.path().join("opt").exists());
}
