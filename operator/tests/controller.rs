//! The controller loop against the in-memory API server: existing apps are reconciled
//! from the initial list, and shutdown ends the loop.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube_fake_api::{FakeApi, path};
use spin_crds::{SpinApp, SpinAppExecutor};
use spin_operator::controller::{apps_using, run};
use spin_operator::reconcile::Context;

#[tokio::test]
async fn reconciles_listed_apps_and_stops_on_shutdown() {
    let api = FakeApi::default();
    api.insert_yaml("apiVersion: core.spinkube.dev/v1alpha1\nkind: SpinAppExecutor\nmetadata: { name: containerd-shim-spin, namespace: apps }\nspec: { createDeployment: true, deploymentConfig: { runtimeClassName: wasmtime-spin-v2 } }\n");
    for name in ["one", "two"] {
        api.insert_yaml(&format!("apiVersion: core.spinkube.dev/v1alpha1\nkind: SpinApp\nmetadata: {{ name: {name}, namespace: apps }}\nspec: {{ image: ghcr.io/example/{name}:v1, executor: containerd-shim-spin }}\n"));
    }
    let client = api.client();
    let ctx = Arc::new(Context::new(client.clone(), None));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let controller = tokio::spawn(run(client, ctx, 2, async move {
        let _ = stopped.await;
    }));

    let deadline = Instant::now() + Duration::from_secs(10);
    let all_applied = || {
        ["one", "two"].iter().all(|n| {
            api.get(&path("apps/v1", "deployments", "apps", n))
                .is_some()
        })
    };
    while !all_applied() {
        assert!(
            Instant::now() < deadline,
            "apps were not reconciled; requests: {:?}",
            api.requests()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = api
        .get(&path(
            "core.spinkube.dev/v1alpha1",
            "spinapps",
            "apps",
            "one",
        ))
        .unwrap()["status"]
        .clone();
    assert_eq!(status["activeScheduler"], "containerd-shim-spin");

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), controller)
        .await
        .expect("controller stops on shutdown")
        .unwrap();
}

#[test]
fn executor_changes_concern_the_apps_that_use_it() {
    let executor: SpinAppExecutor = serde_yaml::from_str("apiVersion: core.spinkube.dev/v1alpha1\nkind: SpinAppExecutor\nmetadata: { name: shim, namespace: a }\nspec: { createDeployment: true }\n").unwrap();
    let app = |name: &str, ns: &str, executor: Option<&str>| -> Arc<SpinApp> {
        let executor = executor
            .map(|e| format!(", executor: {e}"))
            .unwrap_or_default();
        Arc::new(serde_yaml::from_str(&format!("apiVersion: core.spinkube.dev/v1alpha1\nkind: SpinApp\nmetadata: {{ name: {name}, namespace: {ns} }}\nspec: {{ image: x{executor} }}\n")).unwrap())
    };
    let apps = [
        app("uses", "a", Some("shim")),
        app("defaulted", "a", None),
        app("other", "a", Some("else")),
        app("elsewhere", "b", Some("shim")),
    ];
    let names: Vec<_> = apps_using(&executor, &apps)
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["uses", "defaulted"]);
}
