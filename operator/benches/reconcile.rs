//! Operator benchmark: reconcile N SpinApps (100 and 1,000) to steady state against the
//! in-memory API server, with the operator's default concurrency (4). Prints wall time,
//! reconciles per second for the first pass (everything created) and a resync pass
//! (nothing to change), and this process's RSS, which holds the operator and the
//! in-memory API's copy of every object.
//!
//!   cargo bench -p spin-operator --bench reconcile

use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use kube_fake_api::{FakeApi, path};
use spin_crds::SpinApp;
use spin_operator::reconcile::{Context, reconcile};

const CONCURRENCY: usize = 4;

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
}

async fn run(n: usize) {
    let api = FakeApi::default();
    api.insert_yaml(
        "apiVersion: core.spinkube.dev/v1alpha1\nkind: SpinAppExecutor\nmetadata: { name: containerd-shim-spin, namespace: default }\nspec: { createDeployment: true, deploymentConfig: { runtimeClassName: wasmtime-spin-v2 } }\n",
    );
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
