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
    #[error(transparent)]
    Registry(#[from] spin_registry::RegistryError),
    #[error(transparent)]
    Sources(#[from] spin_registry::sources::SourceError),
    #[error(transparent)]
    PackageConfig(#[from] spin_registry::package_config::PackageConfigError),
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

/// How the user typed this program (`spin kube`, `spin k8s` or `spin-kube`), for advice
/// in messages; set once by the binary.
static INVOKED_AS: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();

/// Records how the program was invoked; later calls are ignored.
pub fn set_invoked_as(name: &'static str) {
    let _ = INVOKED_AS.set(name);
}

/// How the user typed this program: `spin kube` unless [`set_invoked_as`] said otherwise.
pub fn invoked_as() -> &'static str {
    INVOKED_AS.get().copied().unwrap_or("spin kube")
}

/// Why a command that talks to the cluster (`deploy`, `list`, `get`, `logs`, `connect`,
/// `delete`) did not finish.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "no Kubernetes cluster is configured ({0}): set KUBECONFIG, pass --kubeconfig, or create ~/.kube/config (`kubectl config view` shows it); `deploy --dry-run` prints the manifests without a cluster"
    )]
    NoKubeconfig(String),
    #[error(
        "cannot reach the cluster at {server}: {detail}. Is it running, and is the kubeconfig's current context the right one (`kubectl config current-context`)?"
    )]
    Unreachable { server: String, detail: String },
    #[error("the cluster does not know {kind} ({api_version}): {advice}")]
    CrdsMissing {
        kind: String,
        api_version: String,
        advice: String,
    },
    #[error(
        "the cluster refused to {verb} {resource} {scope} ({message}); ask a cluster admin for a Role that allows `{verb}` on `{resource}` (`kubectl auth can-i {verb} {resource} {scope_flag}` checks it)"
    )]
    Forbidden {
        verb: &'static str,
        resource: String,
        /// `in namespace NS` or `in all namespaces`.
        scope: String,
        /// `-n NS` or `-A`.
        scope_flag: String,
        message: String,
    },
    #[error(
        "there is no SpinApp {name} in namespace {namespace}: `{} list -n {namespace}` shows the apps there, `{} list -A` those in every namespace",
        invoked_as(),
        invoked_as()
    )]
    NoSuchApp { namespace: String, name: String },
    #[error("cannot {action} {kind} {namespace}/{name}: {source}")]
    Kube {
        action: &'static str,
        kind: String,
        namespace: String,
        name: String,
        source: Box<kube::Error>,
    },
    #[error(
        "SpinApp {namespace}/{name} is not ready after {waited_secs} s ({last}); `{} get {name} -n {namespace}` shows its conditions and warnings",
        invoked_as()
    )]
    NotReady {
        namespace: String,
        name: String,
        waited_secs: u64,
        last: String,
    },
    #[error(
        "SpinApp {namespace}/{name} has no {wanted} ({condition}); `{} get {name} -n {namespace}` shows why",
        invoked_as()
    )]
    NoPods {
        namespace: String,
        name: String,
        /// `pods` or `ready pod`.
        wanted: &'static str,
        condition: String,
    },
    #[error(
        "SpinApp {namespace}/{name} has no Service yet ({condition}); the operator creates it with the Deployment"
    )]
    NoService {
        namespace: String,
        name: String,
        condition: String,
    },
    #[error("the log of pod {pod} broke off: {source}")]
    LogStream { pod: String, source: std::io::Error },
    #[error("the forward to port {port} of pod {pod} broke off: {detail}")]
    PortForward {
        pod: String,
        port: u16,
        detail: String,
    },
    #[error("cannot listen on {addr}: {source}; choose another --port")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error(
        "not deleting SpinApp {namespace}/{name}: standard input is not a terminal to confirm on; pass --yes"
    )]
    NotConfirmed { namespace: String, name: String },
    #[error("--{flag}: {problem}")]
    Flag { flag: &'static str, problem: String },
}
