//! The controller loop against the in-memory API server: existing apps are reconciled
//! from the initial list, a changed Secret or ConfigMap rolls the pods of the apps that
//! refer to it, and shutdown ends the loop.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube_fake_api::{FakeApi, path};
use spin_crds::{SpinApp, SpinAppExecutor};
use spin_operator::controller::{apps_referring, apps_using, run};
use spin_operator::reconcile::Context;
use spin_operator::references::Reference;

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

#[tokio::test]
async fn a_changed_secret_rolls_the_pods_of_the_apps_that_use_it() {
    let api = FakeApi::default();
    api.insert_yaml("apiVersion: core.spinkube.dev/v1alpha1\nkind: SpinAppExecutor\nmetadata: { name: containerd-shim-spin, namespace: apps }\nspec: { createDeployment: true, deploymentConfig: { runtimeClassName: wasmtime-spin-v2 } }\n");
    api.insert_yaml("apiVersion: v1\nkind: Secret\nmetadata: { name: creds, namespace: apps }\ndata: { token: b2xk }\n");
    api.insert_yaml("apiVersion: v1\nkind: ConfigMap\nmetadata: { name: settings, namespace: apps }\ndata: { region: eu }\n");
    api.insert_yaml("apiVersion: core.spinkube.dev/v1alpha1\nkind: SpinApp\nmetadata: { name: user, namespace: apps }\nspec:\n  image: ghcr.io/example/user:v1\n  executor: containerd-shim-spin\n  variables:\n  - { name: token, valueFrom: { secretKeyRef: { name: creds, key: token } } }\n  - { name: region, valueFrom: { configMapKeyRef: { name: settings, key: region } } }\n");
    let client = api.client();
    let ctx = Arc::new(Context::new(client.clone(), None));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let controller = tokio::spawn(run(client, ctx, 2, async move {
        let _ = stopped.await;
    }));
    let deployment = path("apps/v1", "deployments", "apps", "user");
    let hash = || {
        api.get(&deployment).map(|d| {
            d["spec"]["template"]["metadata"]["annotations"]["core.spinkube.dev/config-hash"]
                .clone()
        })
    };
    wait_for("first roll-out", || hash().is_some()).await;

    let before = hash();
    api.edit(&path("v1", "secrets", "apps", "creds"), |s| {
        s["data"]["token"] = "bmV3".into();
    });
    let after_secret = wait_for("Secret change", || hash() != before).await;
    let before = hash();
    api.edit(&path("v1", "configmaps", "apps", "settings"), |c| {
        c["data"]["region"] = "us".into();
    });
    let after_config_map = wait_for("ConfigMap change", || hash() != before).await;
    eprintln!(
        "pod template updated {after_secret:?} after the Secret change, {after_config_map:?} after the ConfigMap change"
    );

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), controller)
        .await
        .expect("controller stops on shutdown")
        .unwrap();
}

/// How long until `done` holds; fails after 10 s.
async fn wait_for(what: &str, done: impl Fn() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{what}: not within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    start.elapsed()
}

#[test]
fn referenced_config_changes_concern_the_apps_that_refer_to_it() {
    let app = |name: &str, ns: &str, secret: &str| -> Arc<SpinApp> {
        Arc::new(serde_yaml::from_str(&format!("apiVersion: core.spinkube.dev/v1alpha1\nkind: SpinApp\nmetadata: {{ name: {name}, namespace: {ns} }}\nspec: {{ image: x, runtimeConfig: {{ loadFromSecret: {secret} }} }}\n")).unwrap())
    };
    let apps = [
        app("uses", "a", "rc"),
        app("other", "a", "else"),
        app("elsewhere", "b", "rc"),
    ];
    let names: Vec<_> = apps_referring(&Reference::Secret("rc".into()), Some("a".into()), &apps)
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["uses"]);
    assert!(apps_referring(&Reference::ConfigMap("rc".into()), Some("a".into()), &apps).is_empty());
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
