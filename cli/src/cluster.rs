//! Reaching the cluster: a client for the kubeconfig and namespace the user chose, and
//! the API server's refusals turned into errors that say what to do.

use std::path::PathBuf;

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::error::ClusterError;

/// The SpinApp resource as RBAC and `kubectl auth can-i` name it.
pub const SPINAPPS: &str = "spinapps.core.spinkube.dev";

/// The label SpinKube's operator (and ours) puts on an app's pods, Deployment and
/// Service, valued with the SpinApp's name.
pub const APP_NAME_LABEL: &str = "core.spinkube.dev/app-name";

/// Where to talk to: the flags every cluster command shares, named as kubectl names them.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ClusterArgs {
    /// Namespace of the app; the kubeconfig context's (or `default`) when unset.
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    /// Kubeconfig file; $KUBECONFIG or ~/.kube/config when unset.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
}

/// A client and the namespace it works in (`*`: all namespaces, for `list -A`).
#[derive(Clone)]
pub struct Target {
    pub client: kube::Client,
    pub namespace: String,
    /// The API server's URL, for errors.
    pub server: String,
}

impl ClusterArgs {
    /// The client for these flags.
    pub async fn target(&self) -> Result<Target, ClusterError> {
        let no_config = |e: String| ClusterError::NoKubeconfig(e);
        let config = match &self.kubeconfig {
            Some(path) => {
                let kubeconfig = Kubeconfig::read_from(path)
                    .map_err(|e| no_config(format!("{}: {e}", path.display())))?;
                kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                    .await
                    .map_err(|e| no_config(format!("{}: {e}", path.display())))?
            }
            None => kube::Config::infer()
                .await
                .map_err(|e| no_config(e.to_string()))?,
        };
        let server = config.cluster_url.to_string();
        let client = kube::Client::try_from(config).map_err(|e| no_config(e.to_string()))?;
        Ok(Target::new(client, self.namespace.clone(), server))
    }
}

impl Target {
    /// A target for `client`, in `namespace` or the client's default one.
    pub fn new(client: kube::Client, namespace: Option<String>, server: String) -> Self {
        let namespace = namespace.unwrap_or_else(|| client.default_namespace().to_string());
        Self {
            client,
            namespace,
            server,
        }
    }

    /// The error for a failed request that would `verb` `resource` (named `name`, if one
    /// object) in this target's namespace.
    pub fn refused(
        &self,
        error: kube::Error,
        verb: &'static str,
        resource: &str,
        name: Option<&str>,
    ) -> ClusterError {
        match error {
            kube::Error::Api(status) if status.code == 403 => ClusterError::Forbidden {
                verb,
                resource: resource.to_string(),
                scope: format!("in namespace {}", self.namespace),
                scope_flag: format!("-n {}", self.namespace),
                message: status.message,
            },
            kube::Error::Api(status)
                if status.code == 404
                    && resource == SPINAPPS
                    && status
                        .message
                        .contains("could not find the requested resource") =>
            {
                ClusterError::CrdsMissing {
                    kind: "SpinApp".into(),
                    api_version: "core.spinkube.dev/v1alpha1".into(),
                    advice: install_advice("SpinApp"),
                }
            }
            kube::Error::Api(status) if status.code == 404 && resource == SPINAPPS => {
                ClusterError::NoSuchApp {
                    namespace: self.namespace.clone(),
                    name: name.unwrap_or_default().to_string(),
                }
            }
            kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::HttpError(_) => {
                ClusterError::Unreachable {
                    server: self.server.clone(),
                    detail: error.to_string(),
                }
            }
            source => ClusterError::Kube {
                action: verb,
                kind: resource.to_string(),
                namespace: self.namespace.clone(),
                name: name.unwrap_or("*").to_string(),
                source: Box::new(source),
            },
        }
    }
}

/// What to install so that the cluster knows `kind`.
pub fn install_advice(kind: &str) -> String {
    match kind {
        "ScaledObject" => "install KEDA (https://keda.sh), or scaffold with --autoscaler hpa".into(),
        _ => "install the SpinKube CRDs first: `kubectl apply --server-side -f crds/spinkube.crds.yaml` from this repository, or `helm install spin-operator charts/spin-operator`".into(),
    }
}
