//! The controller loop: which objects are watched and what each change reconciles.

use std::future::Future;
use std::sync::Arc;

use futures::{FutureExt, StreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, controller, watcher};
use kube::{Api, Client, ResourceExt};
use spin_crds::{SpinApp, SpinAppExecutor};

use crate::executor_guard::{executor_ref, reconcile_executor};
use crate::labels;
use crate::reconcile::{Context, ReconcileError, error_policy, reconcile};
use crate::references::{Reference, references};

/// Watches SpinApps, the Deployments and Services this operator owns, SpinAppExecutors,
/// and the Secrets and ConfigMaps apps refer to (so that a changed value rolls the pods
/// at once, through the config hash); and, in a second loop, keeps each executor while
/// apps use it ([`crate::executor_guard`]). Runs until `shutdown` completes; in-flight
/// reconciles are let finish.
pub async fn run(
    client: Client,
    ctx: Arc<Context>,
    concurrency: u16,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let shutdown = shutdown.shared();
    let owned =
        watcher::Config::default().labels(&format!("{}={}", labels::MANAGED_BY, labels::MANAGER));
    let controller = Controller::new(
        Api::<SpinApp>::all(client.clone()),
        watcher::Config::default(),
    );
    let apps = controller.store();
    let (apps_for_secrets, apps_for_config_maps) = (apps.clone(), apps.clone());
    let app_loop = controller
        .owns(Api::<Deployment>::all(client.clone()), owned.clone())
        .owns(Api::<Service>::all(client.clone()), owned)
        .watches(
            Api::<SpinAppExecutor>::all(client.clone()),
            watcher::Config::default(),
            move |executor| apps_using(&executor, &apps.state()),
        )
        .watches(
            Api::<Secret>::all(client.clone()),
            watcher::Config::default(),
            move |secret| {
                let changed = Reference::Secret(secret.name_any());
                apps_referring(&changed, secret.namespace(), &apps_for_secrets.state())
            },
        )
        .watches(
            Api::<ConfigMap>::all(client.clone()),
            watcher::Config::default(),
            move |map| {
                let changed = Reference::ConfigMap(map.name_any());
                apps_referring(&changed, map.namespace(), &apps_for_config_maps.state())
            },
        )
        .with_config(controller::Config::default().concurrency(concurrency))
        .graceful_shutdown_on(shutdown.clone())
        .run(reconcile, error_policy, ctx.clone())
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!("controller: {e}");
            }
        });
    // Executors are kept while apps use them: a second loop, triggered by app changes.
    let executor_loop = Controller::new(
        Api::<SpinAppExecutor>::all(client.clone()),
        watcher::Config::default(),
    )
    .watches(
        Api::<SpinApp>::all(client),
        watcher::Config::default(),
        |app| executor_ref(&app),
    )
    .graceful_shutdown_on(shutdown)
    .run(reconcile_executor, executor_error_policy, ctx)
    .for_each(|result| async move {
        if let Err(e) = result {
            tracing::debug!("executor controller: {e}");
        }
    });
    futures::join!(app_loop, executor_loop);
}

fn executor_error_policy(
    executor: Arc<SpinAppExecutor>,
    error: &ReconcileError,
    _ctx: Arc<Context>,
) -> Action {
    tracing::warn!(executor = %executor.name_any(), %error, "executor reconcile failed; retrying");
    Action::requeue(std::time::Duration::from_secs(5))
}

/// The apps an executor change concerns: those in its namespace naming it, or naming
/// none (they may have defaulted to it).
pub fn apps_using(executor: &SpinAppExecutor, apps: &[Arc<SpinApp>]) -> Vec<ObjectRef<SpinApp>> {
    let ns = executor.namespace();
    let name = executor.name_any();
    apps.iter()
        .filter(|app| {
            app.namespace() == ns && app.spec.executor.as_deref().is_none_or(|e| e == name)
        })
        .map(|app| ObjectRef::from_obj(&**app))
        .collect()
}

/// The apps in `namespace` whose spec refers to `changed`.
pub fn apps_referring(
    changed: &Reference,
    namespace: Option<String>,
    apps: &[Arc<SpinApp>],
) -> Vec<ObjectRef<SpinApp>> {
    apps.iter()
        .filter(|app| app.namespace() == namespace && references(app).contains(changed))
        .map(|app| ObjectRef::from_obj(&**app))
        .collect()
}
