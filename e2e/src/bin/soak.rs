//! Soak benchmark: sustained keep-alive load (64 connections, 60 s by default) against
//! a CRI pod served by our shim on a real containerd and against `spin-run`, the same
//! hello-world app, one after the other in the same run. Prints requests, errors,
//! requests/s, p50/p99, and the server's RSS after warm-up and at the end, with the
//! end/warm-up ratio (the target: no errors, within 1.10).
//!
//! Run through `e2e/soak.sh` (root, containerd). Bounded in time and connections.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use spin_kube_e2e::cri::{HelloNode, PodSpec};
use spin_kube_e2e::probe;
use spin_kube_e2e::spin_run::SpinRun;

#[derive(Debug, Parser)]
struct Args {
    /// Seconds of load per contender, after the warm-up.
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// Seconds of load before the first RSS reading.
    #[arg(long, default_value_t = 5)]
    warmup: u64,
    #[arg(long, default_value_t = 64)]
    connections: usize,
}

#[derive(Debug)]
struct Outcome {
    name: &'static str,
    requests: u64,
    errors: u64,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    rss_warm_mib: f64,
    rss_end_mib: f64,
}

/// RSS of a process, MiB.
fn rss_mib(pid: u32) -> f64 {
    probe::rss_kib(pid) as f64 / 1024.0
}

/// One keep-alive connection sending GET / until `stop`; reconnects after an error.
async fn client(
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    recording: Arc<AtomicBool>,
    errors: Arc<AtomicU64>,
) -> Vec<u32> {
    let mut latencies_us = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let Ok(stream) = tokio::net::TcpStream::connect(addr).await else {
            errors.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let Ok((mut sender, conn)) =
            hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream)).await
        else {
            errors.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        tokio::spawn(conn);
        while !stop.load(Ordering::Relaxed) {
            let req = http::Request::get("/")
                .header("host", addr.to_string())
                .body(Empty::new())
                .unwrap();
            let started = Instant::now();
            let ok = match sender.send_request(req).await {
                Ok(resp) => {
                    let status = resp.status();
                    resp.into_body().collect().await.is_ok() && status == 200
                }
                Err(_) => false,
            };
            if !ok {
                errors.fetch_add(1, Ordering::Relaxed);
                break;
            }
            if recording.load(Ordering::Relaxed) {
                latencies_us.push(started.elapsed().as_micros() as u32);
            }
        }
    }
    latencies_us
}

async fn soak(name: &'static str, addr: SocketAddr, pid: u32, args: &Args) -> Outcome {
    let stop = Arc::new(AtomicBool::new(false));
    let recording = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..args.connections)
        .map(|_| {
            tokio::spawn(client(
                addr,
                stop.clone(),
                recording.clone(),
                errors.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(args.warmup)).await;
    let rss_warm_mib = rss_mib(pid);
    let errors_in_warmup = errors.load(Ordering::Relaxed);
    recording.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.duration)).await;
    recording.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed();
    let rss_end_mib = rss_mib(pid);
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for c in clients {
        latencies.extend(c.await.unwrap());
    }
    latencies.sort_unstable();
    let pct = |p: usize| {
        latencies
            .get(latencies.len() * p / 100)
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    Outcome {
        name,
        requests: latencies.len() as u64,
        errors: errors.load(Ordering::Relaxed) - errors_in_warmup,
        rps: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50_ms: pct(50),
        p99_ms: pct(99),
        rss_warm_mib,
        rss_end_mib,
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let mut node = HelloNode::start().await;
    let image = node.image.clone();
    let logs = tempfile::tempdir().unwrap();
    let shims_before = probe::shim_pids();
    let pod = node
        .cri
        .start_app_pod(PodSpec {
            name: "soak",
            image: &image,
            log_root: logs.path(),
            cgroup_parent: None,
            memory_limit: None,
            env: Vec::new(),
            mounts: Vec::new(),
        })
        .await;
    let pod_addr: SocketAddr = format!("{}:80", pod.ip).parse().unwrap();
    let shim = probe::shim_pids()
        .into_iter()
        .find(|p| !shims_before.contains(p))
        .expect("the pod's shim");
    let cri = soak("CRI pod (containerd-shim-spin-v2)", pod_addr, shim, &args).await;
    node.cri.remove_app_pod(&pod, 10).await;

    let cache = tempfile::tempdir().unwrap();
    let run = SpinRun::start(node.app.path(), cache.path());
    let local = soak("spin-run", run.addr, run.pid(), &args).await;
    drop(run);

    println!(
        "soak: hello-world, {} keep-alive connections, {} s after {} s warm-up, 2-core machine",
        args.connections, args.duration, args.warmup
    );
    println!(
        "{:<36} {:>10} {:>7} {:>9} {:>8} {:>8} {:>10} {:>9} {:>7}",
        "server",
        "requests",
        "errors",
        "req/s",
        "p50 ms",
        "p99 ms",
        "RSS warm",
        "RSS end",
        "end/warm"
    );
    for o in [&cri, &local] {
        println!(
            "{:<36} {:>10} {:>7} {:>9.0} {:>8.2} {:>8.2} {:>8.1}Mi {:>7.1}Mi {:>7.3}",
            o.name,
            o.requests,
            o.errors,
            o.rps,
            o.p50_ms,
            o.p99_ms,
            o.rss_warm_mib,
            o.rss_end_mib,
            o.rss_end_mib / o.rss_warm_mib.max(0.001)
        );
    }
    println!(
        "CRI pod / spin-run: req/s {:.2}x, p99 {:.2}x",
        cri.rps / local.rps.max(1.0),
        cri.p99_ms / local.p99_ms.max(0.001)
    );
}
