//! `reconcile` against the in-memory API server: create, status, drift, config
//! changes, and every user error reported without a hot loop.

use std::sync::Arc;

use kube::runtime::controller::Action;
use kube_fake_api::{FakeApi, path};
use serde_json::Value;
use spin_crds::SpinApp;
use spin_operator::reconcile::{Context, RESYNC, WAIT_FOR_REFERENCE, reconcile};

/// The default executor, as users install it.
const EXECUTOR: &str = include_str!("../../examples/kubernetes/executor.yaml");

const APP: &str = r#"
apiVersion: core.spinkube.dev/v1alpha1
kind: SpinApp
metadata: { name: hello, namespace: default }
spec:
  image: ghcr.io/example/hello:v1
  executor: containerd-shim-spin
  replicas: 2
"#;

fn deployment_path() -> String {
    path("apps/v1", "deployments", "default", "hello")
}
fn service_path() -> String {
    path("v1", "services", "default", "hello")
}
fn app_path() -> String {
    path("core.spinkube.dev/v1alpha1", "spinapps", "default", "hello")
}

struct Harness {
    api: FakeApi,
    ctx: Arc<Context>,
}

impl Harness {
    fn new(objects: &[&str]) -> Self {
        let api = FakeApi::default();
        for yaml in objects {
            api.insert_yaml(yaml);
        }
        let client = api.client();
        Self {
            api,
            ctx: Arc::new(Context::new(client, None)),
        }
    }

    /// Reconciles the app as currently stored (status included).
    async fn reconcile(&self) -> Action {
        let app: SpinApp = serde_json::from_value(self.api.get(&app_path()).unwrap()).unwrap();
        reconcile(Arc::new(app), self.ctx.clone())
            .await
            .expect("reconcile")
    }

    fn status(&self) -> Value {
        self.api.get(&app_path()).unwrap()["status"].clone()
    }

    fn condition(&self, type_: &str) -> (String, String, String) {
        let status = self.status();
        let c = status["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == type_)
            .unwrap_or_else(|| panic!("no {type_} condition in {status}"))
            .clone();
        (
            c["status"].as_str().unwrap().into(),
            c["reason"].as_str().unwrap().into(),
            c["message"].as_str().unwrap().into(),
        )
    }
}

#[tokio::test]
async fn creates_children_and_reports_readiness() {
    let h = Harness::new(&[EXECUTOR, APP]);
    assert_eq!(h.reconcile().await, Action::requeue(RESYNC));

    let deployment = h.api.get(&deployment_path()).expect("Deployment applied");
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert_eq!(
        deployment["spec"]["template"]["spec"]["runtimeClassName"],
        "wasmtime-spin-v2"
    );
    assert_eq!(
        deployment["metadata"]["ownerReferences"][0]["kind"],
        "SpinApp"
    );
    assert_eq!(
        deployment["metadata"]["ownerReferences"][0]["uid"],
        "uid-hello"
    );
    let applies: Vec<_> = h
        .api
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("PATCH") && !r.contains("/status"))
        .collect();
    assert_eq!(applies.len(), 2, "{applies:?}");
    assert!(
        applies
            .iter()
            .all(|r| r.contains("fieldManager=spin-operator") && r.contains("force=true")),
        "{applies:?}"
    );
    let service = h.api.get(&service_path()).expect("Service applied");
    assert_eq!(service["spec"]["ports"][0]["port"], 80);

    assert_eq!(h.condition("Ready").0, "False");
    assert_eq!(h.condition("Ready").2, "0/2 replicas ready");
    assert_eq!(h.status()["activeScheduler"], "containerd-shim-spin");

    h.api.edit(&deployment_path(), |d| {
        d["status"] =
            serde_json::json!({ "readyReplicas": 2, "updatedReplicas": 2, "replicas": 2 });
    });
    h.reconcile().await;
    assert_eq!(
        h.condition("Ready"),
        (
            "True".into(),
            "AllReplicasReady".into(),
            "2/2 replicas ready".into()
        )
    );
    assert_eq!(h.condition("Available").0, "True");
    assert_eq!(h.condition("Progressing").0, "False");
    assert_eq!(h.status()["readyReplicas"], 2);
    assert_eq!(h.status()["deploymentName"], "hello");
    assert_eq!(h.status()["replicas"], 2);
    assert_eq!(h.status()["selector"], "core.spinkube.dev/app-name=hello");
    assert_eq!(h.status()["serviceName"], "hello");
    assert!(
        h.ctx
            .metrics
            .render()
            .contains("spin_operator_reconciles_total{result=\"ok\"} 2")
    );
}

#[tokio::test]
async fn drift_is_corrected_and_spec_changes_apply() {
    let h = Harness::new(&[EXECUTOR, APP]);
    h.reconcile().await;
    h.api
        .edit(&deployment_path(), |d| d["spec"]["replicas"] = 7.into());
    h.reconcile().await;
    assert_eq!(
        h.api.get(&deployment_path()).unwrap()["spec"]["replicas"],
        2
    );

    h.api.edit(&app_path(), |a| {
        a["spec"]["image"] = "ghcr.io/example/hello:v2".into()
    });
    h.reconcile().await;
    let d = h.api.get(&deployment_path()).unwrap();
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "ghcr.io/example/hello:v2"
    );
}

#[tokio::test]
async fn a_changed_secret_rolls_the_pods() {
    let secret = |value: &str| {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{ name: creds, namespace: default }}\ndata: {{ key: {value} }}\n"
        )
    };
    let app = APP.replace(
        "  replicas: 2",
        "  variables: [{ name: api_key, valueFrom: { secretKeyRef: { name: creds, key: key } } }]",
    );
    let h = Harness::new(&[EXECUTOR, &app, &secret("b25l")]);
    h.reconcile().await;
    let hash = |h: &Harness| {
        h.api.get(&deployment_path()).unwrap()["spec"]["template"]["metadata"]["annotations"]["core.spinkube.dev/config-hash"].clone()
    };
    let first = hash(&h);
    assert!(first.is_string());
    h.api.insert_yaml(&secret("dHdv"));
    h.reconcile().await;
    assert_ne!(hash(&h), first);
}

#[tokio::test]
async fn inline_runtime_config_is_rendered_into_a_mounted_secret_that_rolls_the_pods() {
    let secret = |value: &str| {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{ name: db, namespace: default }}\ndata: {{ file: {value} }}\n"
        )
    };
    let app = APP.replace(
        "  replicas: 2",
        "  runtimeConfig:\n    keyValueStores: [{ name: cache, type: spin }]\n    sqliteDatabases:\n    - name: default\n      type: spin\n      options: [{ name: path, valueFrom: { secretKeyRef: { name: db, key: file } } }]",
    );
    // "app.db", then "new.db"
    let h = Harness::new(&[EXECUTOR, &app, &secret("YXBwLmRi")]);
    assert_eq!(h.reconcile().await, Action::requeue(RESYNC));
    let rendered_path = path("v1", "secrets", "default", "hello-inline-runtime-config");
    let rendered = |h: &Harness| {
        let secret = h.api.get(&rendered_path).expect("the rendered Secret");
        use base64::Engine;
        let data = secret["data"]["runtime-config.toml"]
            .as_str()
            .unwrap()
            .to_string();
        let text = base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap();
        (String::from_utf8(text).unwrap(), secret)
    };
    let (text, stored) = rendered(&h);
    assert_eq!(
        text,
        "[key_value_store.cache]\ntype = \"spin\"\n\n[sqlite_database.default]\npath = \"app.db\"\ntype = \"spin\"\n"
    );
    assert_eq!(stored["metadata"]["ownerReferences"][0]["kind"], "SpinApp");
    let deployment = h.api.get(&deployment_path()).unwrap();
    let pod = &deployment["spec"]["template"];
    assert_eq!(
        pod["spec"]["volumes"][0]["secret"]["secretName"],
        "hello-inline-runtime-config"
    );
    assert_eq!(
        pod["spec"]["containers"][0]["args"],
        serde_json::json!(["--runtime-config-file", "/runtime-config.toml"])
    );
    let hash = pod["metadata"]["annotations"]["core.spinkube.dev/config-hash"].clone();
    h.api.insert_yaml(&secret("bmV3LmRi"));
    h.reconcile().await;
    assert!(rendered(&h).0.contains("path = \"new.db\""));
    let rolled = h.api.get(&deployment_path()).unwrap()["spec"]["template"]["metadata"]
        ["annotations"]["core.spinkube.dev/config-hash"]
        .clone();
    assert_ne!(rolled, hash, "a changed option rolls the pods");
}

#[tokio::test]
async fn scaling_the_spinapp_scales_its_deployment() {
    let h = Harness::new(&[EXECUTOR, APP]);
    h.reconcile().await;
    // What `kubectl scale spinapp/hello --replicas 5` (or an HPA targeting the SpinApp)
    // writes through the scale subresource: `spec.replicas`.
    h.api
        .edit(&app_path(), |app| app["spec"]["replicas"] = 5.into());
    h.reconcile().await;
    assert_eq!(
        h.api.get(&deployment_path()).unwrap()["spec"]["replicas"],
        5
    );
}

#[tokio::test]
async fn executor_without_deployments_gets_only_a_service() {
    let executor = "apiVersion: core.spinkube.dev/v1alpha1\nkind: SpinAppExecutor\nmetadata: { name: containerd-shim-spin, namespace: default }\nspec: { createDeployment: false }\n";
    let h = Harness::new(&[executor, APP]);
    h.reconcile().await;
    assert!(h.api.get(&deployment_path()).is_none());
    assert!(h.api.get(&service_path()).is_some());
    assert_eq!(h.condition("Ready").1, "ServiceOnly");
    assert!(h.status().get("deploymentName").is_none());
    assert_eq!(h.status()["serviceName"], "hello");
}

/// `executor` annotated as its namespace's default.
fn marked_default(executor: &str) -> String {
    executor.replace(
        "metadata:\n",
        "metadata:\n  annotations: { spin-kube.dev/default-executor: \"true\" }\n",
    )
}

#[tokio::test]
async fn an_app_without_executor_gets_the_only_or_the_marked_default_one() {
    let unnamed = APP.replace("  executor: containerd-shim-spin\n", "");
    let other = EXECUTOR.replace("name: containerd-shim-spin", "name: other");
    for (executors, expected) in [
        (vec![EXECUTOR.to_string()], "containerd-shim-spin"),
        (vec![EXECUTOR.to_string(), marked_default(&other)], "other"),
    ] {
        let mut objects: Vec<&str> = executors.iter().map(String::as_str).collect();
        objects.push(&unnamed);
        let h = Harness::new(&objects);
        h.reconcile().await;
        assert_eq!(h.status()["activeScheduler"], expected);
        assert!(h.api.get(&deployment_path()).is_some());
    }
}

#[tokio::test]
async fn user_errors_are_reported_and_not_hot_looped() {
    let other_executor = EXECUTOR.replace("name: containerd-shim-spin", "name: other");
    let default_executor = marked_default(EXECUTOR);
    let other_default = marked_default(&other_executor);
    let cases: Vec<(String, Vec<&str>, &str, &str, Action)> = vec![
        (
            APP.replace("executor: containerd-shim-spin", "executor: nope"),
            vec![EXECUTOR],
            "ExecutorNotFound",
            "spec.executor: no SpinAppExecutor named \"nope\"",
            Action::requeue(WAIT_FOR_REFERENCE),
        ),
        (
            APP.replace("  replicas: 2", "  variables: [{ name: api_key, valueFrom: { secretKeyRef: { name: missing, key: k } } }]"),
            vec![EXECUTOR],
            "SecretNotFound",
            "spec.variables[0].valueFrom.secretKeyRef: Secret \"missing\"",
            Action::requeue(WAIT_FOR_REFERENCE),
        ),
        (
            APP.replace("  replicas: 2", "  variables: [{ name: region, valueFrom: { configMapKeyRef: { name: cfg, key: region } } }]"),
            vec![EXECUTOR],
            "ConfigMapNotFound",
            "spec.variables[0].valueFrom.configMapKeyRef: ConfigMap \"cfg\"",
            Action::requeue(WAIT_FOR_REFERENCE),
        ),
        (
            APP.replace("  replicas: 2", "  runtimeConfig: { loadFromSecret: rc }"),
            vec![EXECUTOR],
            "SecretNotFound",
            "spec.runtimeConfig.loadFromSecret: Secret \"rc\"",
            Action::requeue(WAIT_FOR_REFERENCE),
        ),
        (
            APP.replace("  replicas: 2", "  runtimeConfig: { sqliteDatabases: [{ name: default, type: spin, options: [{ name: path, valueFrom: { configMapKeyRef: { name: dbs, key: path } } }] }] }"),
            vec![EXECUTOR],
            "ConfigMapNotFound",
            "spec.runtimeConfig.sqliteDatabases[0].options[0].valueFrom.configMapKeyRef: ConfigMap \"dbs\"",
            Action::requeue(WAIT_FOR_REFERENCE),
        ),
        (
            APP.replace("  replicas: 2", "  runtimeConfig: { keyValueStores: [{ name: cache, type: memcached }] }"),
            vec![EXECUTOR],
            "InvalidSpec",
            "spec.runtimeConfig.keyValueStores[0]: unknown type \"memcached\"; use type = \"spin\"",
            Action::await_change(),
        ),
        (
            APP.replace("  replicas: 2", "  replicas: 2\n  enableAutoscaling: true"),
            vec![EXECUTOR],
            "InvalidSpec",
            "spec.replicas: cannot be set together with spec.enableAutoscaling",
            Action::await_change(),
        ),
        (
            APP.replace("  executor: containerd-shim-spin\n", ""),
            vec![EXECUTOR, &other_executor],
            "ExecutorAmbiguous",
            "spec.executor: not set, and namespace default has several executors (containerd-shim-spin, other); name one, or annotate exactly one with spin-kube.dev/default-executor: \"true\"",
            Action::await_change(),
        ),
        (
            APP.replace("  executor: containerd-shim-spin\n", ""),
            vec![&default_executor, &other_default],
            "ExecutorAmbiguous",
            "has several default executors (containerd-shim-spin, other)",
            Action::await_change(),
        ),
    ];
    // Objects of the app's names that are not the app's: never taken over.
    let cases = cases.into_iter().chain([
        (
            APP.to_string(),
            vec![EXECUTOR, FOREIGN_SERVICE],
            "NameTaken",
            "Service default/hello already exists and does not belong to this SpinApp, so the operator leaves it alone; rename the SpinApp (metadata.name) or remove the Service",
            Action::requeue(WAIT_FOR_REFERENCE),
        ),
        (
            APP.to_string(),
            vec![EXECUTOR, FOREIGN_DEPLOYMENT],
            "NameTaken",
            "Deployment default/hello already exists",
            Action::requeue(WAIT_FOR_REFERENCE),
        ),
        (
            APP.replace("  replicas: 2", "  runtimeConfig: { keyValueStores: [{ name: default, type: spin }] }"),
            vec![EXECUTOR, FOREIGN_SECRET],
            "NameTaken",
            "Secret default/hello-inline-runtime-config already exists",
            Action::requeue(WAIT_FOR_REFERENCE),
        ),
    ]);
    for (app, mut objects, reason, message, action) in cases {
        objects.push(&app);
        let h = Harness::new(&objects);
        assert_eq!(h.reconcile().await, action, "{reason}");
        let (status, got_reason, got_message) = h.condition("Ready");
        assert_eq!((status.as_str(), got_reason.as_str()), ("False", reason));
        assert!(
            got_message.contains(message),
            "{got_message:?} lacks {message:?}"
        );
        // Nothing is applied (a Deployment there is someone else's, untouched).
        assert!(
            h.api
                .get(&deployment_path())
                .is_none_or(|d| d["metadata"]["ownerReferences"].is_null()),
            "{reason}: nothing is applied"
        );
        let events = h.api.events();
        assert!(
            events
                .iter()
                .any(|(r, note)| r == reason && note.contains(message)),
            "{reason}: events {events:?}"
        );
        for path in [service_path(), secret_path(), deployment_path()] {
            if let Some(foreign) = h.api.get(&path).filter(|_| reason == "NameTaken") {
                assert!(
                    foreign["metadata"]["ownerReferences"].is_null(),
                    "{path} was taken over: {foreign}"
                );
            }
        }
    }
}

/// Someone else's Service named like the app: left as it was (port 5432, no owner).
const FOREIGN_SERVICE: &str = r#"
apiVersion: v1
kind: Service
metadata: { name: hello, namespace: default }
spec: { ports: [{ port: 5432 }], selector: { app: database } }
"#;
const FOREIGN_DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: { name: hello, namespace: default }
spec: { selector: { matchLabels: { app: db } }, template: { metadata: { labels: { app: db } }, spec: { containers: [{ name: db, image: postgres }] } } }
"#;
const FOREIGN_SECRET: &str = r#"
apiVersion: v1
kind: Secret
metadata: { name: hello-inline-runtime-config, namespace: default }
data: { password: aHVudGVyMg== }
"#;

fn secret_path() -> String {
    path("v1", "secrets", "default", "hello-inline-runtime-config")
}

/// Once the object in the way is gone, the app's own is applied.
#[tokio::test]
async fn an_app_is_applied_once_the_object_in_its_way_is_removed() {
    let h = Harness::new(&[EXECUTOR, APP, FOREIGN_SERVICE]);
    assert_eq!(h.reconcile().await, Action::requeue(WAIT_FOR_REFERENCE));
    assert_eq!(
        h.api.get(&service_path()).unwrap()["spec"]["ports"][0]["port"],
        5432
    );
    h.api.remove(&service_path());
    assert_eq!(h.reconcile().await, Action::requeue(RESYNC));
    let service = h.api.get(&service_path()).unwrap();
    assert_eq!(service["spec"]["ports"][0]["port"], 80);
    assert_eq!(
        service["metadata"]["ownerReferences"][0]["uid"],
        "uid-hello"
    );
    // Its own objects are the app's to update on the next reconcile.
    assert_eq!(h.reconcile().await, Action::requeue(RESYNC));
}

#[tokio::test]
async fn the_only_executor_is_used_when_none_is_named() {
    let h = Harness::new(&[
        EXECUTOR,
        &APP.replace("  executor: containerd-shim-spin\n", ""),
    ]);
    assert_eq!(h.reconcile().await, Action::requeue(RESYNC));
    assert!(h.api.get(&deployment_path()).is_some());
    assert_eq!(h.status()["activeScheduler"], "containerd-shim-spin");
}
