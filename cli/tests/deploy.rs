//! `deploy` against the in-memory API server the operator is tested with, with the real
//! operator's reconcile playing the cluster; and the binary's dry run and errors.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use kube_fake_api::{FakeApi, path};
use spin_crds::SpinApp;
use spin_kube::cluster::Target;
use spin_kube::scaffold::{ScaffoldOptions, scaffold};
use spin_kube::{address, deploy};
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

/// What the operator and kubelet do: reconcile the applied SpinApp, then start a pod
/// (which logs one line and exits), report the pods ready and reconcile again.
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
    api.insert_yaml(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: example-app-1, labels: {core.spinkube.dev/app-name: example-app}}\n",
    );
    api.append_log("default", "example-app-1", "Serving http://0.0.0.0:80\n");
    api.end_log("default", "example-app-1");
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
    let target = target(&api);
    let mut opts = ScaffoldOptions::defaults();
    opts.variables = vec!["greeting=hi".into()];
    let docs = scaffold(IMAGE, &opts).unwrap();

    let cluster = tokio::spawn(play_cluster(api.clone()));
    deploy::apply(&target, &docs).await.unwrap();
    let mut progress = Vec::new();
    deploy::wait_ready(&target, "example-app", Duration::from_secs(20), |l| {
        progress.push(l.to_string())
    })
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
    let service = address::service(&target, "example-app")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        address::of(&service).url,
        "http://example-app.default.svc.cluster.local:80"
    );
}

fn target(api: &FakeApi) -> Target {
    Target::new(api.client(), Some("default".into()), "https://fake".into())
}

#[tokio::test]
async fn says_how_to_install_missing_crds() {
    let api = FakeApi::default();
    api.without_group("core.spinkube.dev");
    let docs = scaffold(IMAGE, &ScaffoldOptions::defaults()).unwrap();
    let e = deploy::apply(&target(&api), &docs)
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
    let target = target(&api);
    let docs = scaffold(IMAGE, &ScaffoldOptions::defaults()).unwrap();
    deploy::apply(&target, &docs).await.unwrap();
    let e = deploy::wait_ready(&target, "example-app", Duration::from_millis(600), |_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("SpinApp default/example-app is not ready after 0 s"),
        "{e}"
    );
    assert!(e.contains("is the spin-operator running?"), "{e}");
    assert!(e.contains("spin kube get example-app -n default"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_binary_deploys_then_prints_address_routes_and_logs() {
    let api = FakeApi::default();
    api.insert_yaml(EXECUTOR);
    let addr = api.serve_http().await;
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("kubeconfig"), FakeApi::kubeconfig(addr)).unwrap();
    let registry = LocalRegistry::start();
    let app = tempfile::tempdir().unwrap();
    std::fs::write(
        app.path().join("spin.toml"),
        "spin_manifest_version = 2\n[application]\nname = \"hello\"\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"hello\"\n[[trigger.http]]\nroute = \"/api/items\"\ncomponent = \"items\"\n[component.hello]\nsource = \"hello.wasm\"\n[component.items]\nsource = \"hello.wasm\"\n",
    )
    .unwrap();
    std::fs::write(app.path().join("hello.wasm"), test_guests::hello()).unwrap();
    let image = format!("{}/example-app:v1", registry.addr);
    let deploy = |args: Vec<String>| {
        let home = home.path().to_path_buf();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = Command::new(env!("CARGO_BIN_EXE_spin-kube"))
                .args(&args)
                .env("HOME", &home)
                .env("KUBECONFIG", home.join("kubeconfig"))
                .env("DOCKER_CONFIG", &home)
                .output()
                .unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(out.status.success(), "{text}");
            String::from_utf8(out.stdout).unwrap()
        })
    };
    let source = app.path().display().to_string();
    let cluster = tokio::spawn(play_cluster(api.clone()));
    let args = [
        "deploy",
        "--push-to",
        &image,
        "--file",
        &source,
        "--insecure",
        "--watch-logs",
    ];
    let out = deploy(args.map(String::from).to_vec()).await.unwrap();
    cluster.await.unwrap();
    let at = "http://example-app.default.svc.cluster.local:80";
    assert_eq!(
        out,
        format!(
            "SpinApp default/example-app is ready at {at}\nAvailable Routes:\n  hello: {at} (wildcard)\n  items: {at}/api/items\nFrom this machine: spin-kube connect example-app -n default\n[example-app-1] Serving http://0.0.0.0:80\n"
        )
    );

    // Deployed from the registry by tag (a new spec the operator reconciles): the
    // routes come from the image's locked app.
    let operator = tokio::spawn({
        let api = api.clone();
        async move {
            let app = loop {
                let stored = api.get(&app_path()).unwrap();
                if stored["metadata"]["generation"] == 2 {
                    break serde_json::from_value::<SpinApp>(stored).unwrap();
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            };
            let ctx = Arc::new(Context::new(api.client(), None));
            reconcile(Arc::new(app), ctx).await.unwrap();
        }
    });
    let args = ["deploy", "--from", &image, "--insecure"];
    let out = deploy(args.map(String::from).to_vec()).await.unwrap();
    operator.await.unwrap();
    assert!(out.contains(&format!("  items: {at}/api/items\n")), "{out}");
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
