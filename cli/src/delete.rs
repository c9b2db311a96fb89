//! `delete NAME`: the SpinApp and what `deploy` applied beside it. The app's Deployment,
//! Service and pods are owned by the SpinApp, so Kubernetes' garbage collector removes
//! them; the runtime-config Secret and the autoscaler `deploy` applies are deleted here,
//! but only when `deploy` applied them (its field manager is on them).

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams};
use kube::core::{ApiResource, GroupVersionKind};
use spin_crds::SpinApp;

use crate::cluster::{APP_NAME_LABEL, SPINAPPS, Target};
use crate::deploy::FIELD_MANAGER;
use crate::error::ClusterError;
use crate::get;

/// What deleting an app removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub name: String,
    /// `Deployment NAME`, `Service NAME`: owned by the SpinApp, removed with it.
    pub owned: Vec<String>,
    /// Applied by `deploy` beside the SpinApp; deleted first.
    pub companions: Vec<Companion>,
    /// Named like `deploy`'s companions but applied by someone else; kept.
    pub kept: Vec<String>,
}

/// An object `deploy` applies beside the SpinApp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Companion {
    pub kind: String,
    pub name: String,
    resource: ApiResource,
}

impl std::fmt::Display for Companion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind, self.name)
    }
}

/// (group, version, kind) and name suffix of what `scaffold` may put beside a SpinApp.
const COMPANIONS: [(&str, &str, &str, &str); 3] = [
    ("", "v1", "Secret", "-runtime-config"),
    (
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "-autoscaler",
    ),
    ("keda.sh", "v1alpha1", "ScaledObject", "-autoscaler"),
];

/// What deleting app `name` would remove.
pub async fn plan(target: &Target, name: &str) -> Result<Plan, ClusterError> {
    let app = get::fetch_app(target, name).await?;
    let uid = app.metadata.uid.clone().unwrap_or_default();
    let mut owned = owned_by::<Deployment>(target, name, &uid, "deployments.apps").await?;
    owned.extend(owned_by::<Service>(target, name, &uid, "services").await?);

    let mut companions = Vec::new();
    let mut kept = Vec::new();
    for (group, version, kind, suffix) in COMPANIONS {
        let companion = Companion {
            kind: kind.into(),
            name: format!("{name}{suffix}"),
            resource: ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind)),
        };
        let api = companion.api(target);
        let object = match api.get_opt(&companion.name).await {
            Ok(object) => object,
            // The kind is not installed (KEDA), so nothing of it was applied.
            Err(kube::Error::Api(s)) if s.code == 404 => None,
            Err(e) => {
                return Err(target.refused(e, "get", &companion.plural(), Some(&companion.name)));
            }
        };
        let Some(object) = object else { continue };
        let applied_by_deploy = object
            .metadata
            .managed_fields
            .iter()
            .flatten()
            .any(|m| m.manager.as_deref() == Some(FIELD_MANAGER));
        if applied_by_deploy {
            companions.push(companion);
        } else {
            kept.push(companion.to_string());
        }
    }
    Ok(Plan {
        name: name.to_string(),
        owned,
        companions,
        kept,
    })
}

/// `KIND NAME` of each object of type `K` labelled as app `name`'s and owned by it
/// (uid `uid`); `resource` names `K` for RBAC errors.
async fn owned_by<K>(
    target: &Target,
    name: &str,
    uid: &str,
    resource: &str,
) -> Result<Vec<String>, ClusterError>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned,
{
    let api: Api<K> = Api::namespaced(target.client.clone(), &target.namespace);
    let selector = ListParams::default().labels(&format!("{APP_NAME_LABEL}={name}"));
    let objects = api
        .list(&selector)
        .await
        .map_err(|e| target.refused(e, "list", resource, None))?;
    Ok(objects
        .iter()
        .filter(|o| {
            o.meta()
                .owner_references
                .iter()
                .flatten()
                .any(|r| r.uid == uid)
        })
        .map(|o| {
            format!(
                "{} {}",
                K::kind(&()),
                o.meta().name.as_deref().unwrap_or_default()
            )
        })
        .collect())
}

impl Companion {
    fn api(&self, target: &Target) -> Api<DynamicObject> {
        Api::namespaced_with(target.client.clone(), &target.namespace, &self.resource)
    }

    fn plural(&self) -> String {
        match self.resource.group.as_str() {
            "" => self.resource.plural.clone(),
            group => format!("{}.{group}", self.resource.plural),
        }
    }
}

impl Plan {
    /// What will go, one line per group of objects.
    pub fn describe(&self, namespace: &str) -> String {
        let mut out = format!("SpinApp {namespace}/{}\n", self.name);
        if !self.owned.is_empty() {
            out.push_str(&format!(
                "  {} and its pods (owned by the SpinApp; Kubernetes removes them)\n",
                self.owned.join(", ")
            ));
        }
        if !self.companions.is_empty() {
            let names: Vec<String> = self.companions.iter().map(|c| c.to_string()).collect();
            out.push_str(&format!("  {} (applied by deploy)\n", names.join(", ")));
        }
        if !self.kept.is_empty() {
            out.push_str(&format!(
                "kept: {} (not applied by deploy)\n",
                self.kept.join(", ")
            ));
        }
        out
    }
}

/// Deletes the plan's companions, then the SpinApp (its owned objects follow it).
pub async fn execute(target: &Target, plan: &Plan) -> Result<(), ClusterError> {
    for companion in &plan.companions {
        match companion
            .api(target)
            .delete(&companion.name, &DeleteParams::background())
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => {
                return Err(target.refused(
                    e,
                    "delete",
                    &companion.plural(),
                    Some(&companion.name),
                ));
            }
        }
    }
    let apps: Api<SpinApp> = Api::namespaced(target.client.clone(), &target.namespace);
    apps.delete(&plan.name, &DeleteParams::background())
        .await
        .map_err(|e| target.refused(e, "delete", SPINAPPS, Some(&plan.name)))?;
    Ok(())
}
