//! Who owns `replicas`: the operator and an autoscaler (or `kubectl scale`) against the
//! in-memory API with server-side apply's field ownership (managers, conflicts, force)
//! and the scale subresource, as a real API server keeps them. They never fight: the
//! operator applies a Deployment's replicas only when the app does not autoscale, and
//! a scaled SpinApp's replicas belong to whoever scaled it.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use kube_fake_api::ownership::owners;
use kube_fake_api::{FakeApi, path};
use serde_json::{Value, json};
use spin_crds::SpinApp;
use spin_operator::reconcile::{Context, reconcile};

const EXECUTOR: &str = include_str!("../../examples/kubernetes/executor.yaml");
const OPERATOR: &str = "spin-operator";
const AUTOSCALER: &str = "horizontal-pod-autoscaler";

fn app(replicas_line: &str) -> Value {
    serde_yaml::from_str(&format!(
        "apiVersion: core.spinkube.dev/v1alpha1\nkind: SpinApp\nmetadata: {{ name: hello, namespace: default }}\nspec:\n  image: ghcr.io/example/hello:v1\n  executor: containerd-shim-spin\n{replicas_line}"
    ))
    .unwrap()
}

fn app_path() -> String {
    path("core.spinkube.dev/v1alpha1", "spinapps", "default", "hello")
}
fn deployment_path() -> String {
    path("apps/v1", "deployments", "default", "hello")
}

struct Cluster {
    api: FakeApi,
    ctx: Arc<Context>,
}

impl Cluster {
    fn new() -> Self {
        let api = FakeApi::default();
        api.insert_yaml(EXECUTOR);
        let ctx = Arc::new(Context::new(api.client(), None));
        Self { api, ctx }
    }

    /// `kubectl apply --server-side` of the SpinApp (manager `kubectl`, not forced).
    async fn user_applies(&self, app: &Value) -> Result<(), kube::Error> {
        Api::<SpinApp>::namespaced(self.api.client(), "default")
            .patch("hello", &PatchParams::apply("kubectl"), &Patch::Apply(app))
            .await
            .map(drop)
    }

    async fn reconcile(&self) {
        let app: SpinApp = serde_json::from_value(self.api.get(&app_path()).unwrap()).unwrap();
        reconcile(Arc::new(app), self.ctx.clone())
            .await
            .expect("reconcile");
    }

    /// What an HPA (or `kubectl scale`) does: writes replicas through `scale`.
    async fn autoscaler_scales<K>(&self, replicas: i32)
    where
        K: kube::Resource<Scope = kube::core::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        let params = PatchParams {
            field_manager: Some(AUTOSCALER.into()),
            ..Default::default()
        };
        Api::<K>::namespaced(self.api.client(), "default")
            .patch_scale(
                "hello",
                &params,
                &Patch::Merge(json!({"spec": {"replicas": replicas}})),
            )
            .await
            .expect("scale");
    }

    fn deployment(&self) -> Value {
        self.api.get(&deployment_path()).unwrap()
    }
}

#[tokio::test]
async fn an_autoscaled_apps_deployment_replicas_stay_with_the_autoscaler() {
    let cluster = Cluster::new();
    cluster
        .user_applies(&app("  enableAutoscaling: true\n"))
        .await
        .unwrap();
    cluster.reconcile().await;
    assert!(cluster.deployment()["spec"].get("replicas").is_none());

    cluster.autoscaler_scales::<Deployment>(4).await;
    for _ in 0..3 {
        cluster.reconcile().await;
    }
    let deployment = cluster.deployment();
    assert_eq!(deployment["spec"]["replicas"], 4);
    assert_eq!(owners(&deployment, ".spec.replicas"), [AUTOSCALER]);
    assert!(owners(&deployment, ".spec.template").contains(&OPERATOR.to_string()));

    // Autoscaling turned off: the operator takes replicas back (its apply is forced).
    cluster.user_applies(&app("  replicas: 2\n")).await.unwrap();
    cluster.reconcile().await;
    let deployment = cluster.deployment();
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert_eq!(owners(&deployment, ".spec.replicas"), [OPERATOR]);
}

#[tokio::test]
async fn an_autoscaler_on_the_spinapp_owns_its_replicas_and_the_deployment_follows() {
    let cluster = Cluster::new();
    let with_two = app("  replicas: 2\n");
    cluster.user_applies(&with_two).await.unwrap();
    cluster.reconcile().await;
    assert_eq!(cluster.deployment()["spec"]["replicas"], 2);

    cluster.autoscaler_scales::<SpinApp>(6).await;
    cluster.reconcile().await;
    assert_eq!(cluster.deployment()["spec"]["replicas"], 6);
    let spinapp = cluster.api.get(&app_path()).unwrap();
    assert_eq!(owners(&spinapp, ".spec.replicas"), [AUTOSCALER]);

    // Re-applying a manifest that still says 2 is refused, naming the owner, as a real
    // API server refuses it: nothing silently scales the app back.
    let e = cluster
        .user_applies(&with_two)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("conflict with \"horizontal-pod-autoscaler\": .spec.replicas"),
        "{e}"
    );
    // A manifest without replicas (what `scaffold --autoscaler-target spinapp` writes)
    // applies cleanly and leaves them to the autoscaler.
    cluster
        .user_applies(&app("  enableAutoscaling: false\n"))
        .await
        .unwrap();
    cluster.reconcile().await;
    assert_eq!(cluster.deployment()["spec"]["replicas"], 6);
}
