//! Start-up, memory and density of Spin pods on a real containerd driven over CRI (as
//! kubelet does), against the same app started by the local runner `spin-run`.
//!
//! Measures, for the hello-world component pushed as a Spin OCI artifact:
//! - CreateContainer→first 200 and StartContainer→first 200, cold (first pod on the
//!   node: compile) and warm (compile cache hit);
//! - RSS of the shim per idle pod, with `--pods` pods running;
//! - how many idle pods fit in 2 GiB at that RSS;
//! - `spin-run` spawn→first 200, cold (empty cache) and warm, and the ratios;
//! - with `--python DIR`, a Python SDK app (37 MB component) first, alone on the node:
//!   CreateContainer and StartContainer→first 200 cold (never compiled on the node:
//!   baseline code; the shim compiles at CreateContainer) and warm
//!   (optimized code from the node's cache), and the shim's idle RSS after each (the
//!   cold pod's once its optimized code serves).

use std::path::Path;
use std::time::{Duration, Instant};

use clap::Parser;
use spin_kube_e2e::cri::{HelloNode, PodSpec};
use spin_kube_e2e::spin_run::SpinRun;

#[derive(Parser)]
struct Args {
    /// Idle pods to run for the memory and density figures.
    #[arg(long, default_value_t = 20)]
    pods: usize,
    /// A built Python SDK sample (spin.toml, app.wasm, static/) to measure first.
    #[arg(long)]
    python: Option<std::path::PathBuf>,
}

/// Memory of the running `containerd-shim-spin-v2` processes, MiB.
struct ShimMemory {
    count: usize,
    /// Resident set: every page a shim maps, shared or not.
    rss: f64,
    /// Proportional set: pages shared by several shims (the binary's code, compiled
    /// code mapped from the node's compile cache) split between them, so the sum is
    /// what the shims take from the node.
    pss: f64,
}

impl ShimMemory {
    fn read() -> Self {
        let mut memory = ShimMemory {
            count: 0,
            rss: 0.0,
            pss: 0.0,
        };
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let exe = std::fs::read_link(entry.path().join("exe")).unwrap_or_default();
            if !exe.to_string_lossy().ends_with("containerd-shim-spin-v2") {
                continue;
            }
            let rollup =
                std::fs::read_to_string(entry.path().join("smaps_rollup")).unwrap_or_default();
            let field = |name: &str| {
                rollup
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
                    .map(|kib| kib / 1024.0)
            };
            if let (Some(rss), Some(pss)) = (field("Rss:"), field("Pss:")) {
                memory.count += 1;
                memory.rss += rss;
                memory.pss += pss;
            }
        }
        memory
    }

    fn per_shim(&self) -> (f64, f64) {
        let n = self.count.max(1) as f64;
        (self.rss / n, self.pss / n)
    }
}

/// `spin-run` spawn → first 200 on loopback.
fn spin_run_start(app: &Path, cache: &Path) -> Duration {
    let started = Instant::now();
    let _run = SpinRun::start(app, cache);
    started.elapsed()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    // Kept whole: dropping it stops containerd and the registry.
    let mut node = HelloNode::start().await;
    let image = node.image.clone();
    let logs = tempfile::tempdir().unwrap();
    let python = match &args.python {
        Some(dir) => Some(python_pods(&mut node, dir, logs.path()).await),
        None => None,
    };
    let cri = &mut node.cri;
    let mut pods = Vec::new();
    for i in 0..args.pods.max(2) {
        let name = match i {
            0 => "cold".to_string(),
            1 => "warm".to_string(),
            _ => format!("idle-{i}"),
        };
        let spec = PodSpec {
            name: &name,
            image: &image,
            log_root: logs.path(),
            cgroup_parent: None,
            memory_limit: None,
            env: Vec::new(),
            mounts: Vec::new(),
        };
        pods.push(cri.start_app_pod(spec).await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = ShimMemory::read();
    let (rss_per_pod, pss_per_pod) = idle.per_shim();

    let cache = tempfile::tempdir().unwrap();
    let run_cold = spin_run_start(node.app.path(), cache.path());
    let run_warm = spin_run_start(node.app.path(), cache.path());

    let (cold, warm) = (&pods[0], &pods[1]);
    println!(
        "hello-world Spin pods on containerd {} via CRI (handler spin), 2-core machine",
        containerd_version()
    );
    println!("{:<44} {:>10}", "measure", "ms");
    println!(
        "{:<44} {:>10.1}",
        "cold pod: CreateContainer → first 200",
        ms(cold.create_to_200)
    );
    println!(
        "{:<44} {:>10.1}",
        "cold pod: StartContainer → first 200",
        ms(cold.start_to_200)
    );
    println!(
        "{:<44} {:>10.1}",
        "warm pod: CreateContainer → first 200",
        ms(warm.create_to_200)
    );
    println!(
        "{:<44} {:>10.1}",
        "warm pod: StartContainer → first 200",
        ms(warm.start_to_200)
    );
    println!(
        "{:<44} {:>10.1}",
        "spin-run cold (empty cache): spawn → 200",
        ms(run_cold)
    );
    println!(
        "{:<44} {:>10.1}",
        "spin-run warm: spawn → 200",
        ms(run_warm)
    );
    println!();
    println!(
        "idle pods: {} shims; RSS {:.1} MiB in all, {rss_per_pod:.1} MiB per pod; PSS {:.1} MiB in all, {pss_per_pod:.1} MiB per pod → {} idle pods in 2 GiB",
        idle.count,
        idle.rss,
        idle.pss,
        (2048.0 / pss_per_pod).floor()
    );
    println!(
        "ratios: cold pod create→200 / spin-run cold = {:.2}x   warm pod create→200 / spin-run warm = {:.2}x",
        ms(cold.create_to_200) / ms(run_cold),
        ms(warm.create_to_200) / ms(run_warm)
    );

    if let Some(py) = python {
        println!();
        println!("Python SDK app (spin-sdk 3.4.1, 37 MB component), one pod at a time");
        println!(
            "{:<42} {:>12} {:>12} {:>14} {:>14}",
            "pod", "create→200", "start→200", "idle shim RSS", "idle shim PSS"
        );
        for (name, pod) in [
            ("cold (never compiled on the node)", &py.cold),
            ("warm (optimized code in the node cache)", &py.warm),
        ] {
            println!(
                "{name:<42} {:>9.0} ms {:>9.0} ms {:>10.1} MiB {:>10.1} MiB",
                ms(pod.create_to_200),
                ms(pod.start_to_200),
                pod.idle_rss,
                pod.idle_pss
            );
        }
        println!(
            "ratios: cold/warm create→200 = {:.1}x   idle RSS cold/warm = {:.2}x",
            ms(py.cold.create_to_200) / ms(py.warm.create_to_200),
            py.cold.idle_rss / py.warm.idle_rss
        );
    }

    for pod in &pods {
        cri.remove_app_pod(pod, 0).await;
    }
}

/// One Python pod's figures.
struct PythonPod {
    create_to_200: Duration,
    start_to_200: Duration,
    /// The shim's RSS and PSS once idle, MiB.
    idle_rss: f64,
    idle_pss: f64,
}

struct PythonPods {
    cold: PythonPod,
    warm: PythonPod,
}

/// Pushes the Python app and runs a pod of it twice, one at a time: on a node that
/// never compiled it, then from the node's compile cache.
async fn python_pods(node: &mut HelloNode, dir: &Path, logs: &Path) -> PythonPods {
    let app = tempfile::tempdir().unwrap();
    for name in ["spin.toml", "app.wasm", "static/hello.txt"] {
        let to = app.path().join(name);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(dir.join(name), to).unwrap();
    }
    let image = node.registry.push_app(app.path(), "bench-python:v1");
    node.cri.pull(&image).await;
    let mut figures = Vec::new();
    for name in ["py-cold", "py-warm"] {
        let pod = node
            .cri
            .start_app_pod(PodSpec {
                name,
                image: &image,
                log_root: logs,
                cgroup_parent: None,
                memory_limit: None,
                env: Vec::new(),
                mounts: Vec::new(),
            })
            .await;
        if name == "py-cold" {
            pod.wait_for_log("optimized code now serves", Duration::from_secs(120))
                .await;
            // As the warm pod's first request did, one request runs on optimized code.
            let answered = spin_kube_e2e::probe::get(&pod.ip, 80, "/").map(|(status, _)| status);
            assert_eq!(answered, Some(200), "the cold pod on optimized code");
        }
        // Idle: the first request's instance is back in the pool, compile threads gone.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (idle_rss, idle_pss) = ShimMemory::read().per_shim();
        figures.push(PythonPod {
            create_to_200: pod.create_to_200,
            start_to_200: pod.start_to_200,
            idle_rss,
            idle_pss,
        });
        node.cri.remove_app_pod(&pod, 10).await;
    }
    let warm = figures.pop().expect("two pods");
    let cold = figures.pop().expect("two pods");
    PythonPods { cold, warm }
}

fn containerd_version() -> String {
    let out = std::process::Command::new("containerd")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    out.split_whitespace().nth(2).unwrap_or("?").to_string()
}
