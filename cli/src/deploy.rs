//! `deploy`: server-side apply of scaffolded documents, then waiting for the SpinApp's
//! `Ready` condition and telling where its Service answers.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_yaml::Value;
use spin_crds::SpinApp;

use crate::error::DeployError;

/// Field manager of everything `deploy` applies.
pub const FIELD_MANAGER: &str = "spin-kube";

/// How often the SpinApp's status is read while waiting.
pub const POLL: Duration = Duration::from_millis(250);

/// A client for the current kubeconfig context.
pub async fn client_from_kubeconfig() -> Result<kube::Client, DeployError> {
    let config = kube::Config::infer()
        .await
        .map_err(|e| DeployError::NoKubeconfig(e.to_string()))?;
    kube::Client::try_from(config).map_err(|e| DeployError::NoKubeconfig(e.to_string()))
}

/// The namespace of the current kubeconfig context (`default` when it names none).
pub fn context_namespace(client: &kube::Client) -> String {
    client.default_namespace().to_string()
}

/// Applies each document to `namespace` in order, taking ownership of the fields it sets.
pub async fn apply(
    client: &kube::Client,
    namespace: &str,
    docs: &[Value],
) -> Result<(), DeployError> {
    for doc in docs {
        let api_version = doc["apiVersion"].as_str().unwrap_or_default();
        let kind = doc["kind"].as_str().unwrap_or_default();
        let name = doc["metadata"]["name"].as_str().unwrap_or_default();
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
        let params = PatchParams::apply(FIELD_MANAGER).force();
        match api.patch(name, &params, &Patch::Apply(doc)).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {
                return Err(DeployError::CrdsMissing {
                    kind: kind.to_string(),
                    api_version: api_version.to_string(),
                    advice: install_advice(kind),
                });
            }
            Err(source) => {
                return Err(DeployError::Kube {
                    action: "apply",
                    kind: kind.to_string(),
                    namespace: namespace.to_string(),
                    name: name.to_string(),
                    source: Box::new(source),
                });
            }
        }
    }
    Ok(())
}

fn install_advice(kind: &str) -> String {
    match kind {
        "ScaledObject" => "install KEDA (https://keda.sh), or scaffold with --autoscaler hpa".into(),
        _ => "install the SpinKube CRDs first: `kubectl apply --server-side -f crds/spinkube.crds.yaml` from this repository, or `helm install spin-operator charts/spin-operator`".into(),
    }
}

/// Waits until the SpinApp reports `Ready=True` for its current generation, calling
/// `progress` with a one-line summary each time the status changes.
pub async fn wait_ready(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    timeout: Duration,
    mut progress: impl FnMut(&str),
) -> Result<(), DeployError> {
    let api: Api<SpinApp> = Api::namespaced(client.clone(), namespace);
    let start = Instant::now();
    let mut last = String::from("no status yet: is the spin-operator running?");
    loop {
        let app = api.get(name).await.map_err(|source| DeployError::Kube {
            action: "read",
            kind: "SpinApp".into(),
            namespace: namespace.into(),
            name: name.into(),
            source: Box::new(source),
        })?;
        let generation = app.metadata.generation.unwrap_or(0);
        let ready = app.status.as_ref().and_then(|s| {
            s.conditions
                .iter()
                .find(|c| c.type_ == "Ready" && c.observed_generation.unwrap_or(0) >= generation)
        });
        if let Some(ready) = ready {
            let summary = format!("{}: {}", ready.reason, ready.message);
            if summary != last {
                progress(&summary);
                last = summary;
            }
            if ready.status == "True" {
                return Ok(());
            }
        }
        if start.elapsed() >= timeout {
            return Err(DeployError::NotReady {
                namespace: namespace.into(),
                name: name.into(),
                waited_secs: timeout.as_secs(),
                last,
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Where the app answers inside the cluster, and how to reach it from here.
pub async fn service_address(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<String, DeployError> {
    let api: Api<Service> = Api::namespaced(client.clone(), namespace);
    let service = api.get(name).await.map_err(|source| DeployError::Kube {
        action: "read",
        kind: "Service".into(),
        namespace: namespace.into(),
        name: name.into(),
        source: Box::new(source),
    })?;
    let spec = service.spec.unwrap_or_default();
    let port = spec
        .ports
        .unwrap_or_default()
        .first()
        .map(|p| p.port)
        .unwrap_or(80);
    let cluster_ip = spec
        .cluster_ip
        .map(|ip| format!(" (ClusterIP {ip})"))
        .unwrap_or_default();
    Ok(format!(
        "http://{name}.{namespace}.svc.cluster.local:{port}{cluster_ip}\nfrom this machine: kubectl port-forward -n {namespace} svc/{name} 8080:{port}, then http://localhost:8080"
    ))
}
