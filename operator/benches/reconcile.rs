//! Operator benchmark: reconcile N SpinApps (100 and 1,000) to steady state against the
//! in-memory API server, with the operator's default concurrency (4). Prints wall time,
//! reconciles per second for the first pass (everything created) and a resync pass
//! (nothing to change), and this process's RSS, which holds the operator and the
//! in-memory API's copy of every object.
//!
//! Then the whole controller (watches, queue, concurrency 4) on 1,000 apps, 10 of which
//! read a variable from one Secret: time to steady state (every Deployment applied),
//! and from a change of that Secret to the pod templates of all 10 rolled (new config
//! hash) while the other 990 are untouched.
//!
//!   cargo bench -p spin-operator --bench reconcile

use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use kube_fake_api::{FakeApi, path};
use spin_crds::SpinApp;
use spin_operator::reconcile::{Context, reconcile};

const CONCURRENCY: usize = 4;
const EXECUTOR: &str = "apiVersion: core.spinkube.dev/v1alpha1\nkind: SpinAppExecutor\nmetadata: { name: containerd-shim-spin, namespace: default }\nspec: { createDeployment: true, deploymentConfig: { runtimeClassName: wasmtime-spin-v2 } }\n";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "{:>6} {:>14} {:>12} {:>16} {:>12}",
        "apps", "pass", "wall ms", "reconciles/s", "RSS MiB"
    );
    for n in [100, 1000] {
        runtime.block_on(run(n));
    }
    runtime.block_on(secret_rollout(1000, 100));
}

/// The controller on `n` apps, every `every`-th reading the Secret `creds`.
async fn secret_rollout(n: usize, every: usize) {
    let api = FakeApi::default();
    api.insert_yaml(EXECUTOR);
    api.insert_yaml(
        "apiVersion: v1\nkind: Secret\nmetadata: { name: creds, namespace: default }\ndata: { token: b2xk }\n",
    );
    for i in 0..n {
        let variable = if i % every == 0 {
            "{ name: token, valueFrom: { secretKeyRef: { name: creds, key: token } } }"
        } else {
            "{ name: greeting, value: hello }"
        };
        api.insert_yaml(&format!(
            "apiVersion: core.spinkube.dev/v1alpha1\nkind: SpinApp\nmetadata: {{ name: app-{i}, namespace: default }}\nspec:\n  image: ghcr.io/example/app-{i}:v1\n  executor: containerd-shim-spin\n  replicas: 2\n  variables: [{variable}]\n"
        ));
    }
    let deployment = |i: usize| path("apps/v1", "deployments", "default", &format!("app-{i}"));
    let hash = |i: usize| {
        api.get(&deployment(i)).map(|d| {
            d["spec"]["template"]["metadata"]["annotations"]["core.spinkube.dev/config-hash"]
                .clone()
        })
    };
    let client = api.client();
    let ctx = Arc::new(Context::new(client.clone(), None));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let started = Instant::now();
    let controller = tokio::spawn(spin_operator::controller::run(
        client,
        ctx,
        CONCURRENCY as u16,
        async move {
            let _ = stopped.await;
        },
    ));
    wait_until(STEADY_POLL, || {
        (0..n).all(|i| api.get(&deployment(i)).is_some())
    })
    .await;
    let steady = started.elapsed();

    let readers: Vec<usize> = (0..n).step_by(every).collect();
    let before: Vec<_> = readers.iter().map(|&i| hash(i)).collect();
    let untouched = api.get(&deployment(1)).unwrap()["metadata"]["resourceVersion"].clone();
    let changed = Instant::now();
    api.edit(&path("v1", "secrets", "default", "creds"), |s| {
        s["data"]["token"] = "bmV3".into();
    });
    wait_until(ROLLOUT_POLL, || {
        readers.iter().zip(&before).all(|(&i, b)| hash(i) != *b)
    })
    .await;
    let rolled = changed.elapsed();
    assert_eq!(
        api.get(&deployment(1)).unwrap()["metadata"]["resourceVersion"],
        untouched,
        "an app that does not read the Secret is not touched"
    );
    println!(
        "controller: {n} apps to steady state in {:.0} ms (target < 10,000); Secret change -> {} apps' pod templates rolled in {:.1} ms",
        steady.as_secs_f64() * 1000.0,
        readers.len(),
        rolled.as_secs_f64() * 1000.0
    );
    stop.send(()).unwrap();
    controller.await.unwrap();
}

/// Polling intervals: checking 1,000 Deployments copies each, so not too often.
const STEADY_POLL: std::time::Duration = std::time::Duration::from_millis(10);
const ROLLOUT_POLL: std::time::Duration = std::time::Duration::from_millis(1);

async fn wait_until(every: std::time::Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "not within 60 s");
        tokio::time::sleep(every).await;
    }
}

async fn run(n: usize) {
    let api = FakeApi::default();
    api.insert_yaml(EXECUTOR);
    for i in 0..n {
        api.insert_yaml(&format!(
            "apiVersion: core.spinkube.dev/v1alpha1\nkind: SpinApp\nmetadata: {{ name: app-{i}, namespace: default }}\nspec:\n  image: ghcr.io/example/app-{i}:v1\n  executor: containerd-shim-spin\n  replicas: 2\n  variables: [{{ name: greeting, value: hello }}]\n  checks: {{ readiness: {{ httpGet: {{ path: /.well-known/spin/health }} }} }}\n"
        ));
    }
    let client = api.client();
    let ctx = Arc::new(Context::new(client.clone(), None));
    for pass in ["create", "resync"] {
        let apps: Vec<Arc<SpinApp>> = (0..n)
            .map(|i| {
                let value = api
                    .get(&path(
                        "core.spinkube.dev/v1alpha1",
                        "spinapps",
                        "default",
                        &format!("app-{i}"),
                    ))
                    .unwrap();
                Arc::new(serde_json::from_value(value).unwrap())
            })
            .collect();
        let started = Instant::now();
        let results: Vec<_> = futures::stream::iter(apps)
            .map(|app| reconcile(app, ctx.clone()))
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let wall = started.elapsed();
        assert!(
            results.iter().all(Result::is_ok),
            "every reconcile succeeds"
        );
        let applied = (0..n)
            .filter(|i| {
                api.get(&path(
                    "apps/v1",
                    "deployments",
                    "default",
                    &format!("app-{i}"),
                ))
                .is_some()
            })
            .count();
        assert_eq!(applied, n, "every app has its Deployment");
        println!(
            "{n:>6} {pass:>14} {:>12.1} {:>16.0} {:>12.1}",
            wall.as_secs_f64() * 1000.0,
            n as f64 / wall.as_secs_f64(),
            rss_mib()
        );
    }
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}
