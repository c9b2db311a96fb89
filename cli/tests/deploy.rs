//! `deploy` against the in-memory API server the operator is tested with, with the real
//! operator's reconcile playing the cluster; and the binary's dry run and errors.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use kube_fake_api::{FakeApi, path};
use spin_crds::SpinApp;
use spin_kube::deploy;
use spin_kube::scaffold::{ScaffoldOptions, scaffold};
use spin_kube_e2e::registry::LocalRegistry;
use spin_operator::reconcile::{Context, reconcile};

const IMAGE: &str = "registry.example/team/example-app:v1";
const EXECUTOR: &str = include_str!("../../examples/kubernetes/executor.yaml");

fn app_path() -> String {
    path(
        "core.spinkube.dev/v1alpha1",
        "spinapps",
        "default",
        "example-app",
    )
}

/// What the operator and kubelet do: reconcile the applied SpinApp, then report its
/// pods ready and reconcile again.
async fn play_cluster(api: FakeApi) {
    let ctx = Arc::new(Context::new(api.client(), None));
    let app = loop {
        if let Some(value) = api.get(&app_path()) {
            break serde_json::from_value::<SpinApp>(value).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    reconcile(Arc::new(app), ctx.clone()).await.unwrap();
    // Let `deploy` see the not-ready state before the pods come up.
    tokio::time::sleep(deploy::POLL * 2).await;
    api.edit(
        &path("apps/v1", "deployments", "default", "example-app"),
        |d| {
            d["status"] =
                serde_json::json!({"replicas": 2, "readyReplicas": 2, "updatedReplicas": 2});
        },
    );
    let app: SpinApp = serde_json::from_value(api.get(&app_path()).unwrap()).unwrap();
    reconcile(Arc::new(app), ctx).await.unwrap();
}

#[tokio::test]
async fn applies_waits_for_ready_and_tells_the_address() {
    let api = FakeApi::default();
    api.insert_yaml(EXECUTOR);
    let client = api.client();
    let mut opts = ScaffoldOptions::defaults();
    opts.variables = vec!["greeting=hi".into()];
    let docs = scaffold(IMAGE, &opts).unwrap();

    let cluster = tokio::spawn(play_cluster(api.clone()));
    deploy::apply(&client, "default", &docs).await.unwrap();
    let mut progress = Vec::new();
    deploy::wait_ready(
        &client,
        "default",
        "example-app",
        Duration::from_secs(20),
        |l| progress.push(l.to_string()),
    )
    .await
    .unwrap();
    cluster.await.unwrap();
    assert_eq!(
        progress,
        [
            "ReplicasNotReady: 0/2 replicas ready",
            "AllReplicasReady: 2/2 replicas ready"
        ]
    );

    let stored = api.get(&app_path()).unwrap();
    assert_eq!(stored["spec"]["image"], IMAGE);
    assert_eq!(stored["spec"]["variables"][0]["value"], "hi");
    assert!(
        api.requests().iter().any(|r| r.starts_with(
            "PATCH /apis/core.spinkube.dev/v1alpha1/namespaces/default/spinapps/example-app?"
        ) && r.contains("fieldManager=spin-kube")
            && r.contains("force=true")),
        "{:?}",
        api.requests()
    );
    let address = deploy::service_address(&client, "default", "example-app")
        .await
        .unwrap();
    assert!(
        address.starts_with("http://example-app.default.svc.cluster.local:80"),
        "{address}"
    );
    assert!(address.contains("kubectl port-forward -n default svc/example-app 8080:80"));
}

#[tokio::test]
async fn says_how_to_install_missing_crds() {
    let api = FakeApi::default();
    api.without_group("core.spinkube.dev");
    let docs = scaffold(IMAGE, &ScaffoldOptions::defaults()).unwrap();
    let e = deploy::apply(&api.client(), "default", &docs)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("does not know SpinApp (core.spinkube.dev/v1alpha1)"),
        "{e}"
    );
    assert!(
        e.contains("kubectl apply --server-side -f crds/spinkube.crds.yaml"),
        "{e}"
    );
}

#[tokio::test]
async fn gives_up_after_the_timeout_naming_what_to_look_at() {
    let api = FakeApi::default();
    let client = api.client();
    let docs = scaffold(IMAGE, &ScaffoldOptions::defaults()).unwrap();
    deploy::apply(&client, "default", &docs).await.unwrap();
    let e = deploy::wait_ready(
        &client,
        "default",
        "example-app",
        Duration::from_millis(600),
        |_| {},
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("SpinApp default/example-app is not ready after 0 s"),
        "{e}"
    );
    assert!(e.contains("is the spin-operator running?"), "{e}");
    assert!(
        e.contains("kubectl describe spinapp example-app -n default"),
        "{e}"
    );
}

fn spin_kube(args: &[&str], home: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_spin-kube"))
        .args(args)
        .env("HOME", home)
        .env("KUBECONFIG", home.join("no-such-kubeconfig"))
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env("DOCKER_CONFIG", home)
        .output()
        .unwrap()
}

#[test]
fn dry_run_pushes_then_prints_the_manifests_by_digest() {
    let home = tempfile::tempdir().unwrap();
    let registry = LocalRegistry::start();
    let app = tempfile::tempdir().unwrap();
    std::fs::write(
        app.path().join("spin.toml"),
        "spin_manifest_version = 2\n[application]\nname = \"hello\"\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"hello\"\n[component.hello]\nsource = \"hello.wasm\"\n",
    )
    .unwrap();
    std::fs::write(app.path().join("hello.wasm"), test_guests::hello()).unwrap();
    let target = format!("{}/hello:v1", registry.addr);
    let out = spin_kube(
        &[
            "deploy",
            "--push-to",
            &target,
            "--file",
            &app.path().display().to_string(),
            "--insecure",
            "--dry-run",
            "--replicas",
            "1",
        ],
        home.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let yaml = String::from_utf8(out.stdout).unwrap();
    assert!(yaml.contains(&format!("image: {target}@sha256:")), "{yaml}");
    assert!(yaml.contains("replicas: 1"), "{yaml}");
}

#[test]
fn without_a_kubeconfig_says_how_to_get_one() {
    let home = tempfile::tempdir().unwrap();
    let out = spin_kube(&["deploy", "--from", IMAGE], home.path());
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("no Kubernetes cluster is configured"), "{e}");
    assert!(e.contains("--dry-run"), "{e}");

    let out = spin_kube(&["deploy"], home.path());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--from"));
}
