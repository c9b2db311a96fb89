//! What can go wrong, per command. Every message names what to fix.

use std::path::PathBuf;

/// Why `push` failed.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(
        "no Spin manifest at {}: run this in a Spin app's directory or pass --file PATH/TO/spin.toml",
        .0.display()
    )]
    NoManifest(PathBuf),
    #[error(transparent)]
    App(#[from] spin_app::AppError),
    #[error("component `{component}` {problem}")]
    Component { component: String, problem: String },
    #[error("cannot assemble the artifact: {0}")]
    Assemble(String),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error(
        "cannot reach the registry {registry}: {detail}. Is it running and is the host right? For a plain-HTTP registry pass --insecure"
    )]
    Unreachable { registry: String, detail: String },
    #[error(
        "the registry {registry} refused access to {repository}: {detail}. Log in with `docker login {registry}`; credentials are read from {config}"
    )]
    AuthDenied {
        registry: String,
        repository: String,
        detail: String,
        config: String,
    },
    #[error("the registry {registry} failed to {action}: {detail}")]
    Registry {
        registry: String,
        action: String,
        detail: String,
    },
    #[error("Docker config {}: {problem}", path.display())]
    DockerConfig { path: PathBuf, problem: String },
}

impl PushError {
    pub fn component(component: &str, problem: impl Into<String>) -> Self {
        Self::Component {
            component: component.to_string(),
            problem: problem.into(),
        }
    }
}

/// An image reference that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error(
    "{reference:?} is not a valid image reference ({problem}); write it as REGISTRY/REPOSITORY:TAG, e.g. localhost:5000/hello:v1"
)]
pub struct ReferenceError {
    pub reference: String,
    pub problem: String,
}

/// Why `scaffold` cannot produce manifests.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error("--{flag}: {problem}")]
    Flag { flag: &'static str, problem: String },
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error("--runtime-config-file {}: {source}", path.display())]
    RuntimeConfig {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl ScaffoldError {
    pub fn flag(flag: &'static str, problem: impl Into<String>) -> Self {
        Self::Flag {
            flag,
            problem: problem.into(),
        }
    }
}

/// Why `deploy` did not finish.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(
        "no Kubernetes cluster is configured ({0}): set KUBECONFIG or create ~/.kube/config (`kubectl config view` shows it), or pass --dry-run to print the manifests instead"
    )]
    NoKubeconfig(String),
    #[error("the cluster does not know {kind} ({api_version}): {advice}")]
    CrdsMissing {
        kind: String,
        api_version: String,
        advice: String,
    },
    #[error("cannot {action} {kind} {namespace}/{name}: {source}")]
    Kube {
        action: &'static str,
        kind: String,
        namespace: String,
        name: String,
        source: Box<kube::Error>,
    },
    #[error(
        "SpinApp {namespace}/{name} is not ready after {waited_secs} s ({last}); see `kubectl describe spinapp {name} -n {namespace}` and the pods' events"
    )]
    NotReady {
        namespace: String,
        name: String,
        waited_secs: u64,
        last: String,
    },
}
