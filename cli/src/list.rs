//! `list`: the SpinApps of a namespace, or of every namespace, as a kubectl-like table.

use jiff::Timestamp;
use kube::api::{Api, ListParams};
use spin_crds::SpinApp;

use crate::cluster::{SPINAPPS, Target};
use crate::error::ClusterError;
use crate::table;

/// The SpinApps in the target's namespace, or in all of them; sorted by namespace and name.
pub async fn list(target: &Target, all_namespaces: bool) -> Result<Vec<SpinApp>, ClusterError> {
    let api: Api<SpinApp> = if all_namespaces {
        Api::all(target.client.clone())
    } else {
        Api::namespaced(target.client.clone(), &target.namespace)
    };
    let list = api.list(&ListParams::default()).await.map_err(|e| {
        match target.refused(e, "list", SPINAPPS, None) {
            ClusterError::Forbidden {
                verb,
                resource,
                message,
                ..
            } if all_namespaces => ClusterError::Forbidden {
                verb,
                resource,
                scope: "in all namespaces".into(),
                scope_flag: "-A".into(),
                message,
            },
            other => other,
        }
    })?;
    let mut apps = list.items;
    apps.sort_by(|a, b| {
        (&a.metadata.namespace, &a.metadata.name).cmp(&(&b.metadata.namespace, &b.metadata.name))
    });
    Ok(apps)
}

/// `NAME READY DESIRED EXECUTOR IMAGE AGE`, with `NAMESPACE` first for all namespaces.
/// DESIRED is `auto` for an autoscaled app.
pub fn render(apps: &[SpinApp], all_namespaces: bool, now: Timestamp) -> String {
    let mut headers = vec!["NAME", "READY", "DESIRED", "EXECUTOR", "IMAGE", "AGE"];
    if all_namespaces {
        headers.insert(0, "NAMESPACE");
    }
    let rows: Vec<Vec<String>> = apps
        .iter()
        .map(|app| {
            let status = app.status.clone().unwrap_or_default();
            let desired = match (app.spec.enable_autoscaling, app.spec.replicas) {
                (true, _) => "auto".to_string(),
                (false, replicas) => replicas.unwrap_or(1).to_string(),
            };
            let executor = app
                .spec
                .executor
                .clone()
                .or(status.active_scheduler)
                .unwrap_or_else(|| "<none>".into());
            let created = app.metadata.creation_timestamp.as_ref().map(|t| t.0);
            let mut row = vec![
                app.metadata.name.clone().unwrap_or_default(),
                status.ready_replicas.to_string(),
                desired,
                executor,
                app.spec.image.clone(),
                table::age(created, now),
            ];
            if all_namespaces {
                row.insert(0, app.metadata.namespace.clone().unwrap_or_default());
            }
            row
        })
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    table::render(&headers, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(yaml: &str) -> SpinApp {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn a_row_per_app_with_its_readiness_and_age() {
        let apps = [
            app(
                "apiVersion: core.spinkube.dev/v1alpha1\nkind: SpinApp\nmetadata: {name: hello, namespace: web, creationTimestamp: '2026-01-09T23:58:00Z'}\nspec: {image: 'r.example/hello:v1', executor: containerd-shim-spin, replicas: 2}\nstatus: {readyReplicas: 1}\n",
            ),
            app(
                "apiVersion: core.spinkube.dev/v1alpha1\nkind: SpinApp\nmetadata: {name: scaled, namespace: web}\nspec: {image: 'r.example/scaled:v2', enableAutoscaling: true}\n",
            ),
        ];
        let now: Timestamp = "2026-01-10T00:00:00Z".parse().unwrap();
        assert_eq!(
            render(&apps, false, now),
            "NAME     READY   DESIRED   EXECUTOR               IMAGE                 AGE\n\
             hello    1       2         containerd-shim-spin   r.example/hello:v1    2m\n\
             scaled   0       auto      <none>                 r.example/scaled:v2   <unknown>\n"
        );
        assert!(render(&apps, true, now).starts_with("NAMESPACE   NAME "));
        assert_eq!(render(&[], false, now), "");
    }
}
