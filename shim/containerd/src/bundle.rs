//! What the shim needs from a container's OCI bundle (`config.json`): pure, tested.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

/// CRI annotation naming the container's kind (`sandbox` or `container`).
pub const CONTAINER_TYPE: &str = "io.kubernetes.cri.container-type";
/// CRI annotation naming the pod sandbox a container belongs to.
pub const SANDBOX_ID: &str = "io.kubernetes.cri.sandbox-id";

/// Why a bundle cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("OCI bundle {}: {problem}", bundle.display())]
pub struct BundleError {
    pub bundle: PathBuf,
    pub problem: String,
}

/// The parts of a container's spec the shim acts on.
#[derive(Debug, Clone, PartialEq)]
pub struct BundleSpec {
    /// The root filesystem directory (absolute).
    pub root: PathBuf,
    /// The process environment, `NAME=VALUE` split.
    pub env: Vec<(String, String)>,
    pub annotations: HashMap<String, String>,
    /// The network namespace to join, when the spec names one by path.
    pub netns: Option<PathBuf>,
    /// `linux.resources.memory.limit`, bytes.
    pub memory_limit: Option<u64>,
    /// `linux.cgroupsPath`.
    pub cgroups_path: Option<String>,
    /// `process.args` (the shim runs no process; the operator passes flags here).
    pub args: Vec<String>,
    /// Bind mounts as (destination in the container, source on the host).
    pub mounts: Vec<(PathBuf, PathBuf)>,
}

impl BundleSpec {
    pub fn load(bundle: &Path) -> Result<Self, BundleError> {
        let err = |problem: String| BundleError {
            bundle: bundle.to_path_buf(),
            problem,
        };
        let bytes = std::fs::read(bundle.join("config.json"))
            .map_err(|e| err(format!("cannot read config.json: {e}")))?;
        let spec: Spec = serde_json::from_slice(&bytes)
            .map_err(|e| err(format!("config.json is not an OCI runtime spec: {e}")))?;
        let root = spec
            .root()
            .as_ref()
            .map(|r| r.path().clone())
            .unwrap_or_else(|| PathBuf::from("rootfs"));
        let root = if root.is_absolute() {
            root
        } else {
            bundle.join(root)
        };
        let env = spec
            .process()
            .as_ref()
            .and_then(|p| p.env().clone())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|kv| {
                kv.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .collect();
        let linux = spec.linux().as_ref();
        let netns = linux
            .and_then(|l| l.namespaces().as_ref())
            .and_then(|nss| {
                nss.iter()
                    .find(|ns| ns.typ() == LinuxNamespaceType::Network)
            })
            .and_then(|ns| ns.path().clone())
            .filter(|p| !p.as_os_str().is_empty());
        let memory_limit = linux
            .and_then(|l| l.resources().as_ref())
            .and_then(|r| r.memory().as_ref())
            .and_then(|m| m.limit())
            .filter(|&l| l > 0)
            .map(|l| l as u64);
        let args = spec
            .process()
            .as_ref()
            .and_then(|p| p.args().clone())
            .unwrap_or_default();
        let mounts = spec
            .mounts()
            .as_ref()
            .map(|mounts| {
                mounts
                    .iter()
                    .filter(|m| m.typ().as_deref().is_none_or(|t| t == "bind"))
                    .filter_map(|m| Some((m.destination().clone(), m.source().clone()?)))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            root,
            env,
            args,
            mounts,
            annotations: spec.annotations().clone().unwrap_or_default(),
            netns,
            memory_limit,
            cgroups_path: linux
                .and_then(|l| l.cgroups_path().clone())
                .map(|p| p.display().to_string()),
        })
    }

    /// A pod's sandbox ("pause") container: held by the shim, nothing runs.
    pub fn is_sandbox(&self) -> bool {
        self.annotations.get(CONTAINER_TYPE).map(String::as_str) == Some("sandbox")
    }

    /// The shim grouping key: the pod's sandbox id, so one shim serves a whole pod.
    pub fn grouping(&self, container_id: &str) -> String {
        self.annotations
            .get(SANDBOX_ID)
            .cloned()
            .unwrap_or_else(|| container_id.to_string())
    }

    pub fn env_var(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(config: &str) -> (tempfile::TempDir, BundleSpec) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), config).unwrap();
        let spec = BundleSpec::load(dir.path()).unwrap();
        (dir, spec)
    }

    #[test]
    fn reads_what_cri_sets() {
        let (dir, spec) = bundle(
            r#"{"ociVersion":"1.1.0","root":{"path":"rootfs"},
            "process":{"cwd":"/","user":{"uid":0,"gid":0},"env":["PATH=/bin","SPIN_COMPONENTS_TO_RETAIN=a,b","X=1","X=2"]},
            "annotations":{"io.kubernetes.cri.container-type":"container","io.kubernetes.cri.sandbox-id":"pod1"},
            "linux":{"cgroupsPath":"kubepods-pod1.slice:cri:c1",
              "resources":{"memory":{"limit":134217728}},
              "namespaces":[{"type":"pid"},{"type":"network","path":"/var/run/netns/cni-1"}]}}"#,
        );
        assert_eq!(spec.root, dir.path().join("rootfs"));
        assert_eq!(spec.env_var("SPIN_COMPONENTS_TO_RETAIN"), Some("a,b"));
        assert_eq!(spec.env_var("X"), Some("2"));
        assert_eq!(spec.netns, Some(PathBuf::from("/var/run/netns/cni-1")));
        assert_eq!(spec.memory_limit, Some(128 << 20));
        assert_eq!(spec.grouping("c1"), "pod1");
        assert!(!spec.is_sandbox());
        assert_eq!(
            spec.cgroups_path.as_deref(),
            Some("kubepods-pod1.slice:cri:c1")
        );
    }

    #[test]
    fn ctr_style_bundles_have_no_pod() {
        let (_dir, spec) = bundle(
            r#"{"ociVersion":"1.1.0","root":{"path":"/srv/app"},"process":{"cwd":"/","user":{"uid":0,"gid":0}},
            "linux":{"namespaces":[{"type":"network"}]}}"#,
        );
        assert_eq!(spec.root, PathBuf::from("/srv/app"));
        assert_eq!(spec.netns, None);
        assert_eq!(spec.memory_limit, None);
        assert_eq!(spec.grouping("c1"), "c1");
    }

    #[test]
    fn a_missing_or_broken_config_names_the_bundle() {
        let dir = tempfile::tempdir().unwrap();
        let e = BundleSpec::load(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains(&dir.path().display().to_string()) && e.contains("config.json"),
            "{e}"
        );
    }
}
