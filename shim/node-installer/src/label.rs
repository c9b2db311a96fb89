//! Labelling the node once the shim is installed, so the RuntimeClass can schedule
//! Spin pods only where the `spin` handler exists.

use k8s_openapi::api::core::v1::Node;
use kube::Api;
use kube::api::{Patch, PatchParams};

/// Set on a node by the installer when containerd there has the `spin` runtime; the
/// chart's RuntimeClass selects nodes by it.
pub const INSTALLED_LABEL: &str = "spin-kube.dev/containerd-shim-spin";
pub const INSTALLED_VALUE: &str = "installed";

#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    #[error(
        "cannot label node {node} with {label}: {source} (the installer's ServiceAccount needs `get` and `patch` on nodes)"
    )]
    Patch {
        node: String,
        label: String,
        source: kube::Error,
    },
}

/// Sets `key=value` on the node; returns false when it was already set (no write).
pub async fn label_node(
    nodes: &Api<Node>,
    node: &str,
    key: &str,
    value: &str,
) -> Result<bool, LabelError> {
    let err = |source| LabelError::Patch {
        node: node.to_string(),
        label: format!("{key}={value}"),
        source,
    };
    let current = nodes.get(node).await.map_err(err)?;
    let has = current
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(key))
        .is_some_and(|v| v == value);
    if has {
        return Ok(false);
    }
    // A merge patch: it fails on a missing node instead of creating one.
    let patch = serde_json::json!({"metadata": {"labels": {key: value}}});
    nodes
        .patch(node, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(err)?;
    Ok(true)
}
