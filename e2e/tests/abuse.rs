//! Hostile clients and guests against a CRI pod served by our shim on a real
//! containerd: a 2 GiB POST, header bombs, 1,000 idle connections beside normal
//! traffic, and a guest flooding its log while containerd (the log's reader) is
//! stopped. The pod keeps serving and the shim's memory stays bounded.

use std::time::{Duration, Instant};

use spin_kube_e2e::abuse;
use spin_kube_e2e::cri::{HelloNode, PodSpec};
use spin_kube_e2e::probe::{self, rss_kib, shim_pids};
use test_guests::Probe;

/// Stops a process (SIGSTOP) until dropped.
struct Stopped(u32);

impl Stopped {
    fn new(pid: u32) -> Self {
        signal(pid, "STOP");
        Self(pid)
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        signal(self.0, "CONT");
    }
}

fn signal(pid: u32, name: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name} {pid}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cri_pod_withstands_hostile_clients_and_a_stalled_log_reader() {
    let mut node = HelloNode::start().await;
    let logs = tempfile::tempdir().unwrap();
    let image = node.image.clone();
    let shims_before = shim_pids();
    let hello = node
        .cri
        .start_app_pod(PodSpec {
            name: "hello",
            image: &image,
            log_root: logs.path(),
            cgroup_parent: None,
            memory_limit: None,
            env: Vec::new(),
            mounts: Vec::new(),
        })
        .await;
    let shim = shim_pids()
        .into_iter()
        .find(|p| !shims_before.contains(p))
        .expect("the pod's shim");
    let ip = hello.ip.clone();
    let rss_before = rss_kib(shim);

    let (status_big, status_many, status_huge, p99) = tokio::task::spawn_blocking(move || {
        let status_big = abuse::declared_2_gib_post(&ip, 80);
        let [status_many, status_huge] = abuse::header_bombs(&ip, 80);
        let _idle = abuse::idle_connections(&ip, 80, 1000);
        let latencies = abuse::sorted_latencies(&ip, 80, 200);
        (status_big, status_many, status_huge, latencies[198])
    })
    .await
    .unwrap();
    assert_eq!(status_big, 413, "2 GiB POST");
    assert!(
        matches!(status_many, 431 | 0),
        "10,000 headers: {status_many}"
    );
    assert!(
        matches!(status_huge, 431 | 0),
        "1 MiB header: {status_huge}"
    );
    eprintln!("CRI pod, 1000 idle connections open: p99 {p99:?} over 200 requests");
    assert!(p99 < Duration::from_secs(1), "p99 {p99:?}");
    let rss_after = rss_kib(shim);
    eprintln!("shim RSS {rss_before} KiB before, {rss_after} KiB after the hostile clients");
    assert!(
        rss_after < rss_before + 64 * 1024,
        "{rss_before} → {rss_after} KiB"
    );

    // A guest printing one 100 MiB line: cut at the line limit, bounded memory.
    let long_app = tempfile::tempdir().unwrap();
    probe::write_app(
        long_app.path(),
        &test_guests::probe("long", Probe::HugeLogLine),
    );
    let long_image = node.registry.push_app(long_app.path(), "long-line:v1");
    node.cri.pull(&long_image).await;
    let shims_before = shim_pids();
    let long = node
        .cri
        .start_app_pod(PodSpec {
            name: "long-line",
            image: &long_image,
            log_root: logs.path(),
            cgroup_parent: None,
            memory_limit: None,
            env: Vec::new(),
            mounts: Vec::new(),
        })
        .await;
    let long_shim = shim_pids()
        .into_iter()
        .find(|p| !shims_before.contains(p))
        .expect("the pod's shim");
    let before = rss_kib(long_shim);
    let long_ip = long.ip.clone();
    let answered = tokio::task::spawn_blocking(move || probe::get(&long_ip, 80, "/"))
        .await
        .unwrap();
    assert_eq!(answered.map(|(status, _)| status), Some(200));
    let after = rss_kib(long_shim);
    eprintln!("CRI pod after a request printing a 100 MiB line: shim RSS {before} → {after} KiB");
    assert!(after < before + 48 * 1024, "{before} → {after} KiB");
    assert_eq!(node.cri.remove_app_pod(&long, 10).await, 0);
    let long_log = std::fs::read_to_string(long.log_dir.join("app.log")).unwrap_or_default();
    assert!(
        long_log.contains("[line cut at 16384 bytes]"),
        "no cut line in the pod log"
    );
    assert!(
        long_log.len() < 1 << 20,
        "the pod log holds {} bytes",
        long_log.len()
    );

    // A guest that logs 4 MiB per request, with containerd (the reader of the pod's
    // log FIFO) stopped: requests keep being served, lines are dropped and counted.
    let flood_app = tempfile::tempdir().unwrap();
    probe::write_app(
        flood_app.path(),
        &test_guests::probe("flood", Probe::LogFlood),
    );
    let flood_image = node.registry.push_app(flood_app.path(), "flood:v1");
    node.cri.pull(&flood_image).await;
    let flood = node
        .cri
        .start_app_pod(PodSpec {
            name: "flood",
            image: &flood_image,
            log_root: logs.path(),
            cgroup_parent: None,
            memory_limit: None,
            env: Vec::new(),
            mounts: Vec::new(),
        })
        .await;
    let (flood_ip, hello_ip) = (flood.ip.clone(), hello.ip.clone());
    let stopped = Stopped::new(node.containerd.pid());
    let elapsed = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        for _ in 0..20 {
            assert_eq!(probe::get(&flood_ip, 80, "/").unwrap().0, 200);
            assert_eq!(probe::get(&hello_ip, 80, "/").unwrap().0, 200);
        }
        started.elapsed()
    })
    .await
    .unwrap();
    drop(stopped);
    eprintln!("20 requests logging 4 MiB each, containerd stopped: {elapsed:?}");
    assert!(elapsed < Duration::from_secs(30), "{elapsed:?}");

    // Once containerd reads again, the pod's log says what was dropped.
    let log_file = flood.log_dir.join("app.log");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut found = false;
    while Instant::now() < deadline && !found {
        let _ = probe::get(&flood.ip, 80, "/");
        found = std::fs::read(&log_file)
            .map(|bytes| {
                bytes
                    .windows(b"log lines dropped".len())
                    .any(|w| w == b"log lines dropped")
            })
            .unwrap_or(false);
    }
    assert!(found, "no drop report in {}", log_file.display());
    assert_eq!(node.cri.remove_app_pod(&flood, 10).await, 0);
    assert_eq!(node.cri.remove_app_pod(&hello, 10).await, 0);
}
