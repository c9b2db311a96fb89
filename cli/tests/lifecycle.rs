//! `list`, `get`, `logs`, `connect` and `delete` against the in-memory API server, with
//! the real operator's reconcile playing the controller and pods made from the
//! Deployment's template playing the kubelet; then the binary over HTTP.

use std::sync::Arc;
use std::time::Duration;

use kube_fake_api::{FakeApi, path};
use serde_json::{Value, json};
use spin_crds::SpinApp;
use spin_kube::cluster::Target;
use spin_kube::logs::LogOptions;
use spin_kube::scaffold::{ScaffoldOptions, scaffold};
use spin_kube::{connect, delete, deploy, get, list, logs};
use spin_operator::reconcile::{Context, reconcile};
use tokio::io::AsyncReadExt;

const IMAGE: &str = "registry.example/team/example-app:v1";
const EXECUTOR: &str = include_str!("../../examples/kubernetes/executor.yaml");
const NOW: &str = "2026-01-10T00:00:00Z";

/// A cluster with `example-app` deployed by `deploy` (with a runtime-config Secret),
/// reconciled, and `ready` of its two pods ready.
struct Cluster {
    api: FakeApi,
    target: Target,
}

impl Cluster {
    async fn with_app(ready: usize) -> Self {
        let api = FakeApi::default();
        api.insert_yaml(EXECUTOR);
        let target = Target::new(api.client(), Some("default".into()), "https://fake".into());
        let mut options = ScaffoldOptions::defaults();
        options.runtime_config_file = Some(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/runtime-config.toml"),
        );
        deploy::apply(&target, &scaffold(IMAGE, &options).unwrap())
            .await
            .unwrap();
        let cluster = Self { api, target };
        cluster.reconcile("example-app").await;
        for (i, pod) in ["example-app-7d9f-a", "example-app-7d9f-b"]
            .iter()
            .enumerate()
        {
            cluster.pod_from_template(pod, i < ready);
        }
        cluster.api.edit(
            &path("apps/v1", "deployments", "default", "example-app"),
            |d| d["status"] = json!({"replicas": 2, "readyReplicas": ready, "updatedReplicas": 2}),
        );
        cluster.reconcile("example-app").await;
        cluster
    }

    async fn reconcile(&self, name: &str) {
        let stored = self
            .api
            .get(&path(
                "core.spinkube.dev/v1alpha1",
                "spinapps",
                "default",
                name,
            ))
            .unwrap();
        let app: SpinApp = serde_json::from_value(stored).unwrap();
        let ctx = Arc::new(Context::new(self.api.client(), None));
        reconcile(Arc::new(app), ctx).await.unwrap();
    }

    /// A pod as the Deployment's ReplicaSet would create it, Running, ready or not.
    fn pod_from_template(&self, name: &str, ready: bool) {
        let deployment = self
            .api
            .get(&path("apps/v1", "deployments", "default", "example-app"))
            .unwrap();
        let template = &deployment["spec"]["template"];
        let pod = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "labels": template["metadata"]["labels"]},
            "spec": template["spec"],
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]},
        });
        self.api.insert_yaml(&serde_json::to_string(&pod).unwrap());
    }
}

fn now() -> jiff::Timestamp {
    NOW.parse().unwrap()
}

#[tokio::test]
async fn list_shows_each_app_with_readiness_in_one_or_every_namespace() {
    let cluster = Cluster::with_app(2).await;
    cluster.api.insert_yaml(
        "apiVersion: core.spinkube.dev/v1alpha1\nkind: SpinApp\nmetadata: {name: other, namespace: team-b}\nspec: {image: 'r.example/other:v3', executor: containerd-shim-spin, replicas: 3}\n",
    );

    let apps = list::list(&cluster.target, false).await.unwrap();
    let table = list::render(&apps, false, now());
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    assert!(
        lines[0].starts_with("NAME          READY   DESIRED   EXECUTOR               IMAGE"),
        "{table}"
    );
    assert!(lines[1].starts_with("example-app   2       2         containerd-shim-spin   registry.example/team/example-app:v1"), "{table}");

    let all = list::list(&cluster.target, true).await.unwrap();
    let table = list::render(&all, true, now());
    assert!(table.starts_with("NAMESPACE   NAME"), "{table}");
    assert!(
        table.contains("team-b      other         0       3"),
        "{table}"
    );
    assert!(
        table.contains("default     example-app   2       2"),
        "{table}"
    );

    let yaml = spin_kube::output::render(
        &json!({"kind": "List", "items": all}),
        spin_kube::output::Format::Yaml,
    );
    assert!(yaml.contains("name: other"), "{yaml}");
    assert!(!yaml.contains("managedFields"), "{yaml}");
}

#[tokio::test]
async fn get_shows_status_conditions_address_and_warnings() {
    let cluster = Cluster::with_app(1).await;
    let report = get::report(&cluster.target, "example-app").await.unwrap();
    let text = get::render(&report, now());
    assert!(text.contains("Name:        example-app\nNamespace:   default\nImage:       registry.example/team/example-app:v1\nExecutor:    containerd-shim-spin\nReplicas:    1 ready, 2 desired\n"), "{text}");
    assert!(
        text.contains("Address:     http://example-app.default.svc.cluster.local:80"),
        "{text}"
    );
    assert!(
        text.contains("  Ready         False    ReplicasNotReady           1/2 replicas ready\n"),
        "{text}"
    );
    assert!(text.contains("1/2 replicas ready"), "{text}");
    assert!(text.ends_with("Warnings: none\n"), "{text}");

    // An app the operator refuses: its Warning event shows.
    cluster.api.insert_yaml(
        "apiVersion: core.spinkube.dev/v1alpha1\nkind: SpinApp\nmetadata: {name: broken, namespace: default}\nspec: {image: 'r.example/broken:v1', executor: no-such-executor}\n",
    );
    cluster.reconcile("broken").await;
    let report = get::report(&cluster.target, "broken").await.unwrap();
    let text = get::render(&report, now());
    let warnings = text
        .split("Warnings:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("{text}"));
    assert!(warnings.contains("no-such-executor"), "{text}");
    assert!(!text.contains("Address:     http"), "{text}");
}

#[tokio::test]
async fn logs_prefix_each_line_with_its_pod_and_follow_until_the_pods_end() {
    let cluster = Cluster::with_app(2).await;
    let api = &cluster.api;
    api.append_log(
        "default",
        "example-app-7d9f-a",
        "Serving http://0.0.0.0:80\nGET / 200\n",
    );
    api.append_log(
        "default",
        "example-app-7d9f-b",
        "Serving http://0.0.0.0:80\n",
    );

    let pods = logs::app_pods(&cluster.target, "example-app")
        .await
        .unwrap();
    let mut lines = Vec::new();
    logs::print(&cluster.target, &pods, &LogOptions::default(), |l| {
        lines.push(l.to_string())
    })
    .await
    .unwrap();
    assert_eq!(
        lines,
        [
            "[example-app-7d9f-a] Serving http://0.0.0.0:80",
            "[example-app-7d9f-a] GET / 200",
            "[example-app-7d9f-b] Serving http://0.0.0.0:80",
        ]
    );

    let tail = LogOptions {
        tail: Some(1),
        since: Some(600),
        ..LogOptions::default()
    };
    let mut lines = Vec::new();
    logs::print(&cluster.target, &pods, &tail, |l| lines.push(l.to_string()))
        .await
        .unwrap();
    assert_eq!(
        lines,
        [
            "[example-app-7d9f-a] GET / 200",
            "[example-app-7d9f-b] Serving http://0.0.0.0:80"
        ]
    );
    assert!(
        api.requests()
            .iter()
            .any(|r| r.contains("/pods/example-app-7d9f-b/log?")
                && r.contains("tailLines=1")
                && r.contains("sinceSeconds=600")),
        "{:?}",
        api.requests()
    );

    // Following: lines written later arrive, from either pod, until both containers end.
    let follow = LogOptions {
        follow: true,
        tail: Some(0),
        ..LogOptions::default()
    };
    let (sender, mut received) = tokio::sync::mpsc::unbounded_channel();
    let target = cluster.target.clone();
    let follower = tokio::spawn(async move {
        logs::print(&target, &pods, &follow, |l| {
            sender.send(l.to_string()).unwrap()
        })
        .await
    });
    // Write only once both follow requests are in (their start is fixed then).
    let following = || {
        api.requests()
            .iter()
            .filter(|r| r.contains("follow=true"))
            .count()
            == 2
    };
    while !following() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    api.append_log("default", "example-app-7d9f-b", "GET /b 200\n");
    assert_eq!(
        received.recv().await.unwrap(),
        "[example-app-7d9f-b] GET /b 200"
    );
    api.append_log("default", "example-app-7d9f-a", "GET /a 404\n");
    assert_eq!(
        received.recv().await.unwrap(),
        "[example-app-7d9f-a] GET /a 404"
    );
    api.end_log("default", "example-app-7d9f-a");
    api.end_log("default", "example-app-7d9f-b");
    tokio::time::timeout(Duration::from_secs(10), follower)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn connect_picks_a_ready_pod_and_its_named_port_and_reports_a_failed_forward() {
    let cluster = Cluster::with_app(1).await;
    // The ready pod is `-a`; `-b` is Running but not ready.
    let forward = connect::choose(&cluster.target, "example-app")
        .await
        .unwrap();
    assert_eq!(
        forward,
        connect::Forward {
            pod: "example-app-7d9f-a".into(),
            port: 80
        }
    );

    // The in-memory API cannot upgrade a connection to a port-forward stream, so a
    // forwarded connection is closed and the failure reported, naming the pod.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let local = listener.local_addr().unwrap();
    let (sender, mut failures) = tokio::sync::mpsc::unbounded_channel();
    let server = tokio::spawn(connect::serve(
        cluster.target.clone(),
        forward,
        listener,
        move |e| {
            let _ = sender.send(e.to_string());
        },
    ));
    let mut connection = tokio::net::TcpStream::connect(local).await.unwrap();
    let mut buf = Vec::new();
    connection.read_to_end(&mut buf).await.unwrap();
    assert!(buf.is_empty());
    let failure = failures.recv().await.unwrap();
    assert!(failure.contains("pods/portforward"), "{failure}");
    assert!(failure.contains("example-app-7d9f-a"), "{failure}");
    server.abort();

    // No ready pod: the app's condition says why.
    let cluster = Cluster::with_app(0).await;
    let e = connect::choose(&cluster.target, "example-app")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("SpinApp default/example-app has no ready pod (Ready=False ReplicasNotReady: 0/2 replicas ready)"), "{e}");
}

#[tokio::test]
async fn delete_removes_the_app_what_it_owns_and_what_deploy_applied_only() {
    let cluster = Cluster::with_app(2).await;
    let api = &cluster.api;
    // An autoscaler someone else made under deploy's naming scheme is kept.
    api.insert_yaml(
        "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: example-app-autoscaler, namespace: default}\nspec: {maxReplicas: 3, scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: example-app}}\n",
    );

    let plan = delete::plan(&cluster.target, "example-app").await.unwrap();
    assert_eq!(
        plan.owned,
        ["Deployment example-app", "Service example-app"]
    );
    assert_eq!(
        plan.companions
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>(),
        ["Secret example-app-runtime-config"]
    );
    assert_eq!(
        plan.kept,
        ["HorizontalPodAutoscaler example-app-autoscaler"]
    );
    assert_eq!(
        plan.describe("default"),
        "SpinApp default/example-app\n  Deployment example-app, Service example-app and its pods (owned by the SpinApp; Kubernetes removes them)\n  Secret example-app-runtime-config (applied by deploy)\nkept: HorizontalPodAutoscaler example-app-autoscaler (not applied by deploy)\n"
    );

    delete::execute(&cluster.target, &plan).await.unwrap();
    let gone = |p: String| api.get(&p).is_none();
    assert!(gone(path(
        "core.spinkube.dev/v1alpha1",
        "spinapps",
        "default",
        "example-app"
    )));
    assert!(gone(path(
        "apps/v1",
        "deployments",
        "default",
        "example-app"
    )));
    assert!(gone(path("v1", "services", "default", "example-app")));
    assert!(gone(path(
        "v1",
        "secrets",
        "default",
        "example-app-runtime-config"
    )));
    assert!(!gone(path(
        "autoscaling/v2",
        "horizontalpodautoscalers",
        "default",
        "example-app-autoscaler"
    )));
}

#[tokio::test]
async fn every_failure_says_what_to_do() {
    let cluster = Cluster::with_app(0).await;
    let target = &cluster.target;
    let no_app = "there is no SpinApp nope in namespace default: `spin kube list -n default` shows the apps there, `spin kube list -A` those in every namespace";
    assert_eq!(
        get::report(target, "nope").await.err().unwrap().to_string(),
        no_app
    );
    assert_eq!(
        logs::app_pods(target, "nope")
            .await
            .unwrap_err()
            .to_string(),
        no_app
    );
    assert_eq!(
        connect::choose(target, "nope")
            .await
            .unwrap_err()
            .to_string(),
        no_app
    );
    assert_eq!(
        delete::plan(target, "nope").await.unwrap_err().to_string(),
        no_app
    );

    // An app whose pods do not exist yet.
    cluster.api.insert_yaml(
        "apiVersion: core.spinkube.dev/v1alpha1\nkind: SpinApp\nmetadata: {name: fresh, namespace: default}\nspec: {image: 'r.example/fresh:v1'}\n",
    );
    let e = logs::app_pods(target, "fresh")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(
            "SpinApp default/fresh has no pods (no status yet: is the spin-operator running?)"
        ),
        "{e}"
    );
    let e = connect::choose(target, "fresh")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("SpinApp default/fresh has no Service yet"),
        "{e}"
    );

    // RBAC refusals name the verb, the resource and the check to run.
    let api = &cluster.api;
    api.forbid(
        "list",
        "/apis/core.spinkube.dev/v1alpha1/namespaces/default/spinapps",
    );
    api.forbid("list", "/apis/core.spinkube.dev/v1alpha1/spinapps");
    api.forbid("get", "/api/v1/namespaces/default/pods/");
    let e = list::list(target, false).await.unwrap_err().to_string();
    assert!(
        e.starts_with(
            "the cluster refused to list spinapps.core.spinkube.dev in namespace default ("
        ),
        "{e}"
    );
    assert!(
        e.contains("`kubectl auth can-i list spinapps.core.spinkube.dev -n default` checks it"),
        "{e}"
    );
    let e = list::list(target, true).await.unwrap_err().to_string();
    assert!(
        e.contains("refused to list spinapps.core.spinkube.dev in all namespaces"),
        "{e}"
    );
    assert!(e.contains("-A` checks it"), "{e}");
    let pods = logs::app_pods(target, "example-app").await.unwrap();
    let e = logs::print(target, &pods, &LogOptions::default(), |_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("refused to get pods/log in namespace default"),
        "{e}"
    );

    // The CRDs are not installed.
    let bare = FakeApi::default();
    bare.without_group("core.spinkube.dev");
    let target = Target::new(bare.client(), None, "https://fake".into());
    let e = list::list(&target, false).await.unwrap_err().to_string();
    assert!(e.contains("the cluster does not know SpinApp (core.spinkube.dev/v1alpha1): install the SpinKube CRDs"), "{e}");
}

fn spin_kube(args: &[&str], kubeconfig: &std::path::Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_spin-kube"))
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_binary_lists_gets_logs_and_deletes_over_http() {
    let cluster = Cluster::with_app(2).await;
    cluster
        .api
        .append_log("default", "example-app-7d9f-a", "one\ntwo\n");
    let addr = cluster.api.serve_http().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("config");
    std::fs::write(&kubeconfig, FakeApi::kubeconfig(addr)).unwrap();
    let run = |args: &'static [&'static str]| {
        let kubeconfig = kubeconfig.clone();
        tokio::task::spawn_blocking(move || spin_kube(args, &kubeconfig))
    };
    let text = |o: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };

    let out = run(&["list"]).await.unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("example-app   2       2         containerd-shim-spin"),
        "{}",
        text(&out)
    );

    let out = run(&["get", "example-app", "-o", "json"]).await.unwrap();
    let app: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(app["spec"]["image"], IMAGE);

    let out = run(&["logs", "example-app", "--tail", "1"]).await.unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("[example-app-7d9f-a] two\n"),
        "{}",
        text(&out)
    );

    let out = run(&["delete", "example-app"]).await.unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("not deleting SpinApp default/example-app: standard input is not a terminal to confirm on; pass --yes"), "{}", text(&out));

    let out = run(&["delete", "example-app", "--yes"]).await.unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).starts_with("Deleted SpinApp default/example-app\n"),
        "{}",
        text(&out)
    );

    let out = run(&["get", "example-app"]).await.unwrap();
    assert!(text(&out).contains("error: there is no SpinApp example-app in namespace default: `spin-kube list -n default`"), "{}", text(&out));

    let out = run(&["list"]).await.unwrap();
    assert!(
        text(&out).contains("No SpinApps in namespace default."),
        "{}",
        text(&out)
    );
}

#[test]
fn an_unreachable_cluster_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("config");
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    std::fs::write(&kubeconfig, FakeApi::kubeconfig(closed)).unwrap();
    let out = spin_kube(&["list"], &kubeconfig);
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        e.contains(&format!("cannot reach the cluster at http://{closed}/")),
        "{e}"
    );
    assert!(e.contains("kubectl config current-context"), "{e}");
}

#[test]
fn bad_durations_are_refused_by_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let out = spin_kube(
        &["logs", "x", "--since", "5 minutes"],
        &dir.path().join("none"),
    );
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("is not a duration; write e.g. 30s, 5m or 1h30m"),
        "{e}"
    );
}
