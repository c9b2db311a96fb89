//! An executor is kept while apps run on it: the finalizer is added, a delete waits
//! (with a Warning naming the apps) until the last app using it is gone.

use std::sync::Arc;

use kube::api::{Api, DeleteParams};
use kube_fake_api::{FakeApi, path};
use spin_crds::{SpinApp, SpinAppExecutor};
use spin_operator::executor_guard::{FINALIZER, reconcile_executor};
use spin_operator::reconcile::{Context, reconcile};

const EXECUTOR: &str = include_str!("../../examples/kubernetes/executor.yaml");

fn executor_path() -> String {
    path(
        "core.spinkube.dev/v1alpha1",
        "spinappexecutors",
        "default",
        "containerd-shim-spin",
    )
}

async fn reconcile_stored_executor(api: &FakeApi, ctx: &Arc<Context>) {
    let stored = api.get(&executor_path()).expect("executor exists");
    let executor: SpinAppExecutor = serde_json::from_value(stored).unwrap();
    reconcile_executor(Arc::new(executor), ctx.clone())
        .await
        .unwrap();
}

#[tokio::test]
async fn an_executor_in_use_is_kept_until_its_last_app_goes() {
    let api = FakeApi::default();
    api.insert_yaml(EXECUTOR);
    // One app names the executor, one got it by default (status records it).
    api.insert_yaml("apiVersion: core.spinkube.dev/v1alpha1\nkind: SpinApp\nmetadata: { name: named }\nspec: { image: r.example/a:v1, executor: containerd-shim-spin }\n");
    api.insert_yaml("apiVersion: core.spinkube.dev/v1alpha1\nkind: SpinApp\nmetadata: { name: defaulted }\nspec: { image: r.example/b:v1 }\n");
    let ctx = Arc::new(Context::new(api.client(), None));
    let defaulted = path(
        "core.spinkube.dev/v1alpha1",
        "spinapps",
        "default",
        "defaulted",
    );
    let app: SpinApp = serde_json::from_value(api.get(&defaulted).unwrap()).unwrap();
    reconcile(Arc::new(app), ctx.clone()).await.unwrap();

    reconcile_stored_executor(&api, &ctx).await;
    assert_eq!(
        api.get(&executor_path()).unwrap()["metadata"]["finalizers"],
        serde_json::json!([FINALIZER])
    );

    let executors: Api<SpinAppExecutor> = Api::namespaced(api.client(), "default");
    executors
        .delete("containerd-shim-spin", &DeleteParams::default())
        .await
        .unwrap();
    reconcile_stored_executor(&api, &ctx).await;
    let kept = api.get(&executor_path()).expect("kept while in use");
    assert!(!kept["metadata"]["deletionTimestamp"].is_null());
    let events = api.events();
    assert!(
        events.iter().any(|(reason, note)| reason == "ExecutorInUse"
            && note.contains("still used by: defaulted, named")),
        "{events:?}"
    );

    api.remove(&path(
        "core.spinkube.dev/v1alpha1",
        "spinapps",
        "default",
        "named",
    ));
    reconcile_stored_executor(&api, &ctx).await;
    assert!(api.get(&executor_path()).is_some(), "one app still uses it");
    api.remove(&defaulted);
    reconcile_stored_executor(&api, &ctx).await;
    assert!(api.get(&executor_path()).is_none(), "released once unused");
}
