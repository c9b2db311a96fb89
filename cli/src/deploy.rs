//! `deploy`: server-side apply of scaffolded documents, then waiting for the SpinApp's
//! `Ready` condition.

use std::time::{Duration, Instant};

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_yaml::Value;
use spin_crds::SpinApp;

use crate::cluster::{SPINAPPS, Target, install_advice};
use crate::error::ClusterError;
use crate::readiness;

/// Field manager of everything `deploy` applies (and what `delete` looks for).
pub const FIELD_MANAGER: &str = "spin-kube";

/// How often the SpinApp's status is read while waiting.
pub const POLL: Duration = Duration::from_millis(250);

/// Applies each document to the target's namespace in order, taking ownership of the
/// fields it sets.
pub async fn apply(target: &Target, docs: &[Value]) -> Result<(), ClusterError> {
    for doc in docs {
        let api_version = doc["apiVersion"].as_str().unwrap_or_default();
        let kind = doc["kind"].as_str().unwrap_or_default();
        let name = doc["metadata"]["name"].as_str().unwrap_or_default();
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
        let api: Api<DynamicObject> =
            Api::namespaced_with(target.client.clone(), &target.namespace, &resource);
        let params = PatchParams::apply(FIELD_MANAGER).force();
        match api.patch(name, &params, &Patch::Apply(doc)).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {
                return Err(ClusterError::CrdsMissing {
                    kind: kind.to_string(),
                    api_version: api_version.to_string(),
                    advice: install_advice(kind),
                });
            }
            Err(e) => {
                let plural = match group {
                    "" => resource.plural.clone(),
                    group => format!("{}.{group}", resource.plural),
                };
                return Err(target.refused(e, "patch", &plural, Some(name)));
            }
        }
    }
    Ok(())
}

/// Waits until the SpinApp reports `Ready=True` for its current generation, calling
/// `progress` with a one-line summary each time the status changes.
pub async fn wait_ready(
    target: &Target,
    name: &str,
    timeout: Duration,
    mut progress: impl FnMut(&str),
) -> Result<(), ClusterError> {
    let api: Api<SpinApp> = Api::namespaced(target.client.clone(), &target.namespace);
    let start = Instant::now();
    let mut last = readiness::NO_STATUS.to_string();
    loop {
        let app = api
            .get(name)
            .await
            .map_err(|e| target.refused(e, "get", SPINAPPS, Some(name)))?;
        match readiness::ready_condition(&app) {
            None => last = readiness::waiting(&app),
            Some(ready) => {
                let summary = format!("{}: {}", ready.reason, ready.message);
                if summary != last {
                    progress(&summary);
                    last = summary;
                }
                if ready.status == "True" {
                    return Ok(());
                }
            }
        }
        if start.elapsed() >= timeout {
            return Err(ClusterError::NotReady {
                namespace: target.namespace.clone(),
                name: name.into(),
                waited_secs: timeout.as_secs(),
                last,
            });
        }
        tokio::time::sleep(POLL).await;
    }
}
