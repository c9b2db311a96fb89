//! Path B: containerd's CRI driven as kubelet drives it, with the RuntimeClass handler
//! `spin`: pull a Spin OCI artifact, run a pod sandbox on a CNI bridge network, create
//! and start the app container, answer on the pod IP, stop gracefully, remove; a second
//! pod of the same image starts from the node's compile cache.

use std::time::{Duration, Instant};

use spin_kube_e2e::cri::{Cri, HelloNode, PodSpec, api};
use spin_kube_e2e::probe;

#[tokio::test(flavor = "multi_thread")]
async fn kubelet_path_serves_spin_pods_on_the_pod_network() {
    // Kept whole: dropping it stops containerd and the registry.
    let mut node = HelloNode::start().await;
    let (cri, image) = (&mut node.cri, node.image.clone());
    let logs = tempfile::tempdir().unwrap();
    let mut pod_logs = Vec::new();
    for name in ["pod-a", "pod-b"] {
        let parent = format!("/spin-e2e-{}-{name}", std::process::id());
        let pod = cri
            .start_app_pod(PodSpec {
                name,
                image: &image,
                log_root: logs.path(),
                cgroup_parent: Some(parent.clone()),
                memory_limit: Some(128 << 20),
                env: Vec::new(),
                mounts: Vec::new(),
            })
            .await;
        eprintln!(
            "{name}: StartContainer → first answer in {:?} (pod IP {})",
            pod.start_to_200, pod.ip
        );
        let (status, body) = probe::get(&pod.ip, 80, "/").unwrap();
        assert_eq!((status, body.contains("Hello")), (200, true), "{body}");

        // The shim joined the container's cgroup, with the container's memory limit.
        let limit = cgroup_memory_limit(&parent);
        assert_eq!(limit, Some(128 << 20), "memory limit of the shim's cgroup");

        // What `kubectl top` and the HPA read.
        let stats = cri
            .runtime
            .container_stats(api::ContainerStatsRequest {
                container_id: pod.container.clone(),
            })
            .await
            .unwrap_or_else(|e| panic!("ContainerStats: {e}\n{}", node.containerd.log()))
            .into_inner()
            .stats
            .unwrap();
        let working_set = stats
            .memory
            .and_then(|m| m.working_set_bytes)
            .map(|v| v.value)
            .unwrap_or(0);
        assert!(working_set > 1 << 20, "memory working set {working_set}");
        assert!(
            stats
                .cpu
                .and_then(|c| c.usage_core_nano_seconds)
                .is_some_and(|v| v.value > 0)
        );

        if name == "pod-a" {
            // The optimizing compile runs after the first answer; the second pod can only
            // find its result in the cache once it is written.
            pod.wait_for_log("optimized code now serves", Duration::from_secs(60))
                .await;
        }
        let exit_code = cri.remove_app_pod(&pod, 10).await;
        assert_eq!(exit_code, 0, "graceful stop");
        pod_logs.push(std::fs::read_to_string(pod.log_dir.join("app.log")).unwrap_or_default());
    }
    for pod in ["pod-a", "pod-b"] {
        remove_cgroups(&format!("/spin-e2e-{}-{pod}", std::process::id()));
    }
    assert!(
        pod_logs[0].contains(": compiled component"),
        "{}",
        pod_logs[0]
    );
    assert!(
        pod_logs[1].contains("loaded precompiled component from cache")
            && !pod_logs[1].contains(": compiled component"),
        "{}",
        pod_logs[1]
    );
}

/// An app built with the current Spin Python SDK (spin-sdk 5: a WASIp3 component that
/// imports WASI 0.2, 0.3 and 0.3 release candidates side by side), pushed as an
/// artifact and run as a pod: it answers on the pod IP and keeps key-value data.
#[tokio::test(flavor = "multi_thread")]
async fn kubelet_path_serves_a_current_python_sdk_app() {
    let Some(app) = sample_copy(
        "hello-python-sdk5",
        &["spin.toml", "app.wasm", "static/hello.txt"],
    ) else {
        return;
    };

    let mut node = HelloNode::start().await;
    let image = node.registry.push_app(app.path(), "hello-python-sdk5:v1");
    node.cri.pull(&image).await;
    let logs = tempfile::tempdir().unwrap();
    let pod = node
        .cri
        .start_app_pod(PodSpec {
            name: "sdk5",
            image: &image,
            log_root: logs.path(),
            cgroup_parent: None,
            memory_limit: None,
            env: Vec::new(),
            mounts: Vec::new(),
        })
        .await;
    eprintln!(
        "sdk5: StartContainer → first answer in {:?}",
        pod.start_to_200
    );
    let log = || std::fs::read_to_string(pod.log_dir.join("app.log")).unwrap_or_default();
    assert_eq!(
        probe::get(&pod.ip, 80, "/"),
        Some((
            200,
            "Hello from Spin on Kubernetes, in Python (SDK 5)!\n".to_string()
        )),
        "{}",
        log()
    );
    assert_eq!(
        probe::get(&pod.ip, 80, "/count").map(|(_, b)| b).as_deref(),
        Some("visits=1\n")
    );
    assert_eq!(
        probe::get(&pod.ip, 80, "/wasi-count")
            .map(|(_, b)| b)
            .as_deref(),
        Some("wasi-visits=1\n")
    );
    assert_eq!(
        probe::get(&pod.ip, 80, "/count").map(|(_, b)| b).as_deref(),
        Some("visits=2\n")
    );
    assert_eq!(node.cri.remove_app_pod(&pod, 10).await, 0, "graceful stop");
}

/// An app whose components call each other (`examples/chain-python`: service chaining
/// through `*.spin.internal` and `self`) run as a pod: the chained requests stay inside
/// the shim.
#[tokio::test(flavor = "multi_thread")]
async fn components_of_a_pod_call_each_other_in_process() {
    let Some(app) = sample_copy("chain-python", &["spin.toml", "app.wasm"]) else {
        return;
    };
    let mut node = HelloNode::start().await;
    let image = node.registry.push_app(app.path(), "chain-python:v1");
    node.cri.pull(&image).await;
    let logs = tempfile::tempdir().unwrap();
    let pod = node
        .cri
        .start_app_pod(PodSpec {
            name: "chain",
            image: &image,
            log_root: logs.path(),
            cgroup_parent: None,
            memory_limit: None,
            env: Vec::new(),
            mounts: Vec::new(),
        })
        .await;
    let log = || std::fs::read_to_string(pod.log_dir.join("app.log")).unwrap_or_default();
    assert_eq!(
        probe::get(&pod.ip, 80, "/").map(|(_, b)| b).as_deref(),
        Some(
            "frontend got 200: backend.spin.internal served /greet \
             (matched /..., client 0.0.0.0:0)\n"
        ),
        "{}",
        log()
    );
    assert_eq!(
        probe::get(&pod.ip, 80, "/self").map(|(_, b)| b).as_deref(),
        Some("frontend got 200: self served /greet (matched /api/..., client 0.0.0.0:0)\n"),
        "{}",
        log()
    );
    assert_eq!(node.cri.remove_app_pod(&pod, 10).await, 0, "graceful stop");
}

/// A pod's traces and metrics go to the collector its environment names (`OTEL_*`, as
/// the operator sets them from the executor's `otel` block), connected from the pod's
/// network: a collector on the pod network gets the spans of the chained requests,
/// linked, and the request counts when the pod stops; one on the node's loopback,
/// named by a second pod, gets nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_pods_spans_reach_its_collector_from_the_pod_network() {
    use spin_kube_e2e::otlp::OtlpReceiver;

    let Some(app) = sample_copy("chain-python", &["spin.toml", "app.wasm"]) else {
        return;
    };
    let mut node = HelloNode::start().await;
    let logs = tempfile::tempdir().unwrap();
    // A first pod brings the CNI bridge up; its gateway is the node as pods see it.
    let bridge = node
        .cri
        .start_app_pod(PodSpec {
            name: "bridge",
            image: &node.image.clone(),
            log_root: logs.path(),
            cgroup_parent: None,
            memory_limit: None,
            env: Vec::new(),
            mounts: Vec::new(),
        })
        .await;
    let gateway = format!("{}.1", bridge.ip.rsplit_once('.').unwrap().0);
    let collector = OtlpReceiver::start_on(gateway.parse().unwrap())
        .await
        .unwrap();
    let node_only = OtlpReceiver::start().await.unwrap();
    let image = node.registry.push_app(app.path(), "chain-python:traced");
    node.cri.pull(&image).await;
    let traced = |name: &'static str, endpoint: &str| PodSpec {
        name,
        image: &image,
        log_root: logs.path(),
        cgroup_parent: None,
        memory_limit: None,
        env: vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT".into(), endpoint.into()),
            ("OTEL_BSP_SCHEDULE_DELAY".into(), "50".into()),
        ],
        mounts: Vec::new(),
    };
    let pod = node
        .cri
        .start_app_pod(traced("traced", &collector.http_endpoint))
        .await;
    let log = || std::fs::read_to_string(pod.log_dir.join("app.log")).unwrap_or_default();
    assert_eq!(
        probe::get(&pod.ip, 80, "/").map(|(status, _)| status),
        Some(200),
        "{}",
        log()
    );
    let spans = collector
        .wait_for(Duration::from_secs(30), |spans| spans.len() >= 5)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", log()));
    let server = spans
        .iter()
        .find(|s| s.parent_span_id.is_empty())
        .expect("a root span");
    assert_eq!((server.name.as_str(), server.kind), ("GET /...", 2));
    assert_eq!(server.attribute("spin.app_name"), Some("chain-python"));
    // Each span hangs under the one before: request, frontend, outbound call, the
    // backend's request, the backend.
    let mut parent = server;
    for name in [
        "execute_wasm_component frontend",
        "GET",
        "GET /...",
        "execute_wasm_component backend",
    ] {
        let child = spans
            .iter()
            .find(|s| s.parent_span_id == parent.span_id)
            .unwrap_or_else(|| panic!("no span under {}: {spans:#?}", parent.name));
        assert_eq!(child.name, name);
        assert_eq!(child.trace_id, server.trace_id);
        parent = child;
    }
    assert_eq!(node.cri.remove_app_pod(&pod, 10).await, 0, "graceful stop");
    // Its request counts went when it stopped (the interval is a minute).
    let points = collector
        .wait_for_points(Duration::from_secs(10), |points| {
            points.iter().any(|p| {
                p.metric == "spin.request_count" && p.attribute("component_id") == Some("frontend")
            })
        })
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", log()));
    let counted = points
        .iter()
        .find(|p| {
            p.metric == "spin.request_count" && p.attribute("component_id") == Some("frontend")
        })
        .unwrap();
    assert_eq!(counted.attribute("app_id"), Some("chain-python"));

    // The node's loopback is not the pod's: a pod naming it reaches nothing.
    let pod = node
        .cri
        .start_app_pod(traced("loopback", &node_only.http_endpoint))
        .await;
    assert_eq!(
        probe::get(&pod.ip, 80, "/").map(|(status, _)| status),
        Some(200)
    );
    assert_eq!(node.cri.remove_app_pod(&pod, 10).await, 0, "graceful stop");
    assert_eq!(node_only.exports(), 0);
}

/// `examples/compose-python` as a pod: its components composed with their dependency
/// (isolated, and trusted with the environment) and with HTTP middleware, from the
/// layers the push gave each of them.
#[tokio::test]
async fn a_pod_runs_components_composed_with_dependencies_and_middleware() {
    let Some(app) = sample_copy(
        "compose-python",
        &[
            "spin.toml",
            "app/app.wasm",
            "greeter/app.wasm",
            "middleware/app.wasm",
        ],
    ) else {
        return;
    };
    let mut node = HelloNode::start().await;
    let image = node.registry.push_app(app.path(), "compose-python:v1");
    node.cri.pull(&image).await;
    let logs = tempfile::tempdir().unwrap();
    let pod = node
        .cri
        .start_app_pod(PodSpec {
            name: "compose",
            image: &image,
            log_root: logs.path(),
            cgroup_parent: None,
            memory_limit: None,
            env: Vec::new(),
            mounts: Vec::new(),
        })
        .await;
    let log = || std::fs::read_to_string(pod.log_dir.join("app.log")).unwrap_or_default();
    for (path, sees) in [
        ("/isolated", "<unset>"),
        ("/trusted", "Hallo"),
        ("/wrapped", "Hallo"),
    ] {
        // The Python app streams its body (chunked); the probe reads it raw.
        let (status, body) = probe::get(&pod.ip, 80, path).unwrap_or_default();
        let expected = format!("Hello, Kubernetes! (the greeter sees GREETING={sees})\n");
        assert!(
            status == 200 && body.contains(&expected),
            "{path}: {status} {body:?}\n{}",
            log()
        );
    }
    assert_eq!(node.cri.remove_app_pod(&pod, 10).await, 0, "graceful stop");
}

/// A copy of `examples/<name>` (the listed files), or `None` (the test is skipped)
/// when one of its Wasm files is not built, which CI refuses.
fn sample_copy(name: &str, files: &[&str]) -> Option<tempfile::TempDir> {
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name);
    let missing = files
        .iter()
        .find(|f| f.ends_with(".wasm") && !sample.join(f).is_file());
    if let Some(missing) = missing {
        assert!(
            std::env::var_os("CI").is_none(),
            "examples/{name}/{missing} is not built"
        );
        eprintln!("skipped: examples/{name}/{missing} is not built");
        return None;
    }
    let app = tempfile::tempdir().unwrap();
    for file in files {
        let to = app.path().join(file);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(sample.join(file), to).unwrap();
    }
    Some(app)
}

/// The memory limit of the cgroup under `parent` that a running shim is in (v1 memory
/// hierarchy or v2), if one is.
fn cgroup_memory_limit(parent: &str) -> Option<u64> {
    let (_, limit_file) = shim_cgroup(parent)?;
    std::fs::read_to_string(limit_file)
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Removes the (by now empty) cgroups under `parent` and `parent` itself, deepest
/// first, waiting for the pods' shims to exit.
fn remove_cgroups(parent: &str) {
    fn remove_tree(dir: &std::path::Path) -> bool {
        for child in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if child.path().is_dir() {
                remove_tree(&child.path());
            }
        }
        std::fs::remove_dir(dir).is_ok()
    }
    let rel = parent.trim_start_matches('/');
    for hierarchy in ["memory", "cpu", "pids", ""] {
        let dir = std::path::Path::new("/sys/fs/cgroup")
            .join(hierarchy)
            .join(rel);
        if !dir.is_dir() {
            continue;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while !remove_tree(&dir) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The hierarchies a cgroup is made in on this node: the v2 root, or the v1 memory, cpu
/// and pids hierarchies.
fn cgroup_hierarchies() -> Vec<std::path::PathBuf> {
    let root = std::path::Path::new("/sys/fs/cgroup");
    if root.join("cgroup.controllers").exists() {
        return vec![root.to_path_buf()];
    }
    ["memory", "cpu", "pids"]
        .iter()
        .map(|h| root.join(h))
        .filter(|h| h.is_dir())
        .collect()
}

/// The cgroup (the v1 memory hierarchy's, or v2's) of the running shim whose cgroup is
/// under `parent`, and the file holding its memory limit.
fn shim_cgroup(parent: &str) -> Option<(String, String)> {
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let exe = std::fs::read_link(entry.path().join("exe")).unwrap_or_default();
        if !exe.to_string_lossy().ends_with("containerd-shim-spin-v2") {
            continue;
        }
        let cgroups = std::fs::read_to_string(entry.path().join("cgroup")).unwrap_or_default();
        for line in cgroups.lines() {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            if !path.starts_with(parent) {
                continue;
            }
            let limit_file = match controllers {
                "memory" => format!("/sys/fs/cgroup/memory{path}/memory.limit_in_bytes"),
                "" => format!("/sys/fs/cgroup{path}/memory.max"),
                _ => continue,
            };
            return Some((path.to_string(), limit_file));
        }
    }
    None
}

/// On nodes whose kubelet and containerd use the systemd cgroup driver (kubeadm's and
/// most managed clusters' default) the container's cgroups path is
/// `<pod slice>:cri-containerd:<id>`: the shim makes the scope `cri-containerd-<id>.scope`
/// in the pod's slice and joins it, with the container's memory limit. This machine has
/// no systemd, so the test makes the pod's slice where systemd would (as the kubelet
/// has it made), in every hierarchy.
#[tokio::test(flavor = "multi_thread")]
async fn systemd_driver_pods_run_inside_their_pods_slice() {
    let mut node = HelloNode::start().await;
    let (cri, image) = (&mut node.cri, node.image.clone());
    let logs = tempfile::tempdir().unwrap();
    let top = format!("spine2e{}", std::process::id());
    let pod_slice = format!("/{top}.slice/{top}-poda.slice");
    for hierarchy in cgroup_hierarchies() {
        std::fs::create_dir_all(hierarchy.join(pod_slice.trim_start_matches('/'))).unwrap();
    }
    let pod = cri
        .start_app_pod(PodSpec {
            name: "systemd-pod",
            image: &image,
            log_root: logs.path(),
            cgroup_parent: Some(pod_slice.clone()),
            memory_limit: Some(96 << 20),
            env: Vec::new(),
            mounts: Vec::new(),
        })
        .await;
    let (status, body) = probe::get(&pod.ip, 80, "/").unwrap();
    assert_eq!((status, body.contains("Hello")), (200, true), "{body}");
    assert_eq!(
        shim_cgroup(&pod_slice).map(|(path, _)| path),
        Some(format!(
            "{pod_slice}/cri-containerd-{}.scope",
            pod.container
        )),
        "{}",
        node.containerd.log()
    );
    assert_eq!(cgroup_memory_limit(&pod_slice), Some(96 << 20));
    assert_eq!(cri.remove_app_pod(&pod, 10).await, 0, "graceful stop");

    // A pod whose slice does not exist (the kubelet did not make it, so its limits are
    // nowhere): the app container is refused with the reason, and nothing runs.
    let missing = format!("/{top}.slice/{top}-podb.slice");
    let config = {
        let mut c = Cri::pod_config("systemd-missing", logs.path());
        c.linux = Some(api::LinuxPodSandboxConfig {
            cgroup_parent: missing.clone(),
            ..Default::default()
        });
        c
    };
    let sandbox = cri.run_sandbox(&config).await;
    let container = cri
        .create_app_container(&sandbox, &config, &image, None, &[], &[])
        .await;
    let refused = cri
        .runtime
        .start_container(api::StartContainerRequest {
            container_id: container,
        })
        .await
        .expect_err("a container that cannot join its cgroup must not start");
    let message = refused.message();
    assert!(
        message.contains("cannot join its cgroup, so the pod's limits would not apply")
            && message.contains(&format!("{top}-podb.slice does not exist")),
        "{message}"
    );
    assert_eq!(shim_cgroup(&missing), None);
    remove_cgroups(&format!("/{top}.slice"));
}

/// A pod's outbound connections leave from the pod's network, whatever the app's
/// `allowed_outbound_hosts` allows: its `127.0.0.1` is the pod's own loopback, not the
/// node's, and names resolve through the pod's `/etc/hosts` (mounted as the kubelet
/// mounts it). A key-value store on Redis, from a runtime config file mounted as the
/// operator mounts its Secret, is reached the same way.
#[tokio::test(flavor = "multi_thread")]
async fn pod_outbound_connections_leave_from_the_pod_network() {
    use spin_kube_e2e::redis::RedisServer;
    use spin_kube_e2e::upstream::Upstream;

    let mut node = HelloNode::start().await;
    let logs = tempfile::tempdir().unwrap();
    // A first pod brings the CNI bridge up; its gateway is the node as pods see it.
    let hello = node
        .cri
        .start_app_pod(PodSpec {
            name: "bridge",
            image: &node.image.clone(),
            log_root: logs.path(),
            cgroup_parent: None,
            memory_limit: None,
            env: Vec::new(),
            mounts: Vec::new(),
        })
        .await;
    let gateway = format!("{}.1", hello.ip.rsplit_once('.').unwrap().0);
    let node_only = Upstream::start("127.0.0.1".parse().unwrap(), "node loopback");
    let on_gateway = Upstream::start(gateway.parse().unwrap(), "node via the pod network");
    let Some(redis) = RedisServer::start_on(&gateway) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "redis-server is not installed"
        );
        eprintln!("skipped: redis-server is not installed");
        return;
    };

    let app = tempfile::tempdir().unwrap();
    std::fs::write(
        app.path().join("spin.toml"),
        r#"spin_manifest_version = 2
[application]
name = "pod-network"
[[trigger.http]]
route = "/relay"
component = "relay"
[[trigger.http]]
route = "/..."
component = "counter"
[component.relay]
source = "relay.wasm"
allowed_outbound_hosts = ["http://127.0.0.1:*", "http://node.test:*"]
[component.counter]
source = "counter.wasm"
key_value_stores = ["default"]
"#,
    )
    .unwrap();
    std::fs::write(app.path().join("relay.wasm"), test_guests::inbound(true)).unwrap();
    std::fs::write(
        app.path().join("counter.wasm"),
        test_guests::probe("counter", test_guests::Probe::KeyValue),
    )
    .unwrap();
    let image = node.registry.push_app(app.path(), "pod-network:v1");
    node.cri.pull(&image).await;
    let files = tempfile::tempdir().unwrap();
    let hosts = files.path().join("hosts");
    std::fs::write(
        &hosts,
        format!("127.0.0.1 localhost\n{gateway} node.test\n"),
    )
    .unwrap();
    let config = files.path().join("runtime-config.toml");
    std::fs::write(
        &config,
        format!(
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://node.test:{}\"\n",
            redis.port
        ),
    )
    .unwrap();
    let pod = node
        .cri
        .start_app_pod(PodSpec {
            name: "outbound",
            image: &image,
            log_root: logs.path(),
            cgroup_parent: None,
            memory_limit: None,
            env: Vec::new(),
            mounts: vec![
                (hosts, "/etc/hosts".into()),
                (config, "/runtime-config.toml".into()),
            ],
        })
        .await;
    let log = || std::fs::read_to_string(pod.log_dir.join("app.log")).unwrap_or_default();
    let ip = pod.ip.clone();
    let relay = move |url: String| {
        let ip = ip.clone();
        async move {
            tokio::task::spawn_blocking(move || probe::request(&ip, 80, "POST", "/relay", &url))
                .await
                .unwrap()
        }
    };

    // The node's loopback service is allowed by the manifest, yet not reachable.
    let answer = relay(format!("http://127.0.0.1:{}/", node_only.addr.port())).await;
    assert_eq!(
        answer.as_ref().map(|a| a.0),
        Some(502),
        "{answer:?}\n{}",
        log()
    );
    assert_eq!(node_only.hits(), 0, "the pod reached the node's loopback");
    // The node as the pod network reaches it, by a name from the pod's hosts file.
    let answer = relay(format!("http://node.test:{}/", on_gateway.addr.port())).await;
    assert_eq!(
        answer,
        Some((200, "upstream: node via the pod network".into())),
        "{}",
        log()
    );
    // The key-value store on Redis, through the pod's network: the counter's key
    // grows there (the first request, StartContainer's probe, wrote `x`).
    let (status, body) = probe::get(&pod.ip, 80, "/").unwrap();
    assert_eq!(status, 200, "{body}\n{}", log());
    assert!(body.contains("\nxx\r\n"), "{body:?}");
    let stored = std::process::Command::new("redis-cli")
        .args([
            "-h",
            &gateway,
            "-p",
            &redis.port.to_string(),
            "GET",
            "count",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&stored.stdout).trim(), "xx");

    assert_eq!(node.cri.remove_app_pod(&pod, 10).await, 0);
    assert_eq!(node.cri.remove_app_pod(&hello, 10).await, 0);
}

/// A multi-trigger app (HTTP and Redis, `examples/redis-python`) in one pod: the
/// Redis trigger subscribes from the pod's network to a server it names by a host
/// from the pod's `/etc/hosts`, and messages published there reach the component,
/// which the app's HTTP side then lists.
#[tokio::test(flavor = "multi_thread")]
async fn one_pod_serves_http_and_consumes_redis() {
    use spin_kube_e2e::redis::RedisServer;

    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/redis-python");
    if !sample.join("app.wasm").is_file() {
        assert!(
            std::env::var_os("CI").is_none(),
            "examples/redis-python/app.wasm is not built"
        );
        eprintln!("skipped: examples/redis-python/app.wasm is not built");
        return;
    }
    let mut node = HelloNode::start().await;
    let logs = tempfile::tempdir().unwrap();
    let hello = node
        .cri
        .start_app_pod(PodSpec {
            name: "bridge",
            image: &node.image.clone(),
            log_root: logs.path(),
            cgroup_parent: None,
            memory_limit: None,
            env: Vec::new(),
            mounts: Vec::new(),
        })
        .await;
    let gateway = format!("{}.1", hello.ip.rsplit_once('.').unwrap().0);
    let Some(redis) = RedisServer::start_on(&gateway) else {
        return;
    };

    // The example, pointed at the server by name.
    let app = tempfile::tempdir().unwrap();
    std::fs::copy(sample.join("app.wasm"), app.path().join("app.wasm")).unwrap();
    let manifest = std::fs::read_to_string(sample.join("spin.toml"))
        .unwrap()
        .replace(
            "redis://127.0.0.1:6379",
            &format!("redis://node.test:{}", redis.port),
        )
        .replace("redis://127.0.0.1:*", "redis://node.test:*");
    std::fs::write(app.path().join("spin.toml"), manifest).unwrap();
    let image = node.registry.push_app(app.path(), "redis-python:v1");
    node.cri.pull(&image).await;
    let files = tempfile::tempdir().unwrap();
    let hosts = files.path().join("hosts");
    std::fs::write(
        &hosts,
        format!("127.0.0.1 localhost\n{gateway} node.test\n"),
    )
    .unwrap();
    let pod = node
        .cri
        .start_app_pod(PodSpec {
            name: "multi-trigger",
            image: &image,
            log_root: logs.path(),
            cgroup_parent: None,
            memory_limit: None,
            env: Vec::new(),
            mounts: vec![(hosts, "/etc/hosts".into())],
        })
        .await;
    let log = || std::fs::read_to_string(pod.log_dir.join("app.log")).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !log().contains("Redis trigger subscribed") {
        assert!(Instant::now() < deadline, "{}", log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let published = std::process::Command::new("redis-cli")
        .args(["-h", &gateway, "-p", &redis.port.to_string()])
        .args(["publish", "messages", "into the pod"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&published.stdout).trim(),
        "1",
        "one subscriber"
    );
    let ip = pod.ip.clone();
    loop {
        let ip = ip.clone();
        let received = tokio::task::spawn_blocking(move || probe::get(&ip, 80, "/received"))
            .await
            .unwrap();
        if received == Some((200, "into the pod\n".to_string())) {
            break;
        }
        assert!(Instant::now() < deadline, "{received:?}\n{}", log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(node.cri.remove_app_pod(&pod, 10).await, 0, "graceful stop");
    assert_eq!(node.cri.remove_app_pod(&hello, 10).await, 0);
}

/// A command app (`[[trigger.command]]`) as a pod with `restartPolicy: Never` would run
/// it: StartContainer runs the command once and ContainerStatus reports its exit code.
#[tokio::test(flavor = "multi_thread")]
async fn a_command_pods_exit_code_is_the_commands_status() {
    use test_guests::{CommandEnd, command};

    let mut node = HelloNode::start().await;
    let logs = tempfile::tempdir().unwrap();
    for (name, end, expected) in [
        ("job-ok", CommandEnd::Ok, 0),
        ("job-err", CommandEnd::Err, 1),
    ] {
        let app = tempfile::tempdir().unwrap();
        std::fs::write(
            app.path().join("spin.toml"),
            "spin_manifest_version = 2\n[application]\nname = \"job\"\n\
             [[trigger.command]]\ncomponent = \"job\"\n[component.job]\nsource = \"job.wasm\"\n",
        )
        .unwrap();
        std::fs::write(app.path().join("job.wasm"), command(end)).unwrap();
        let image = node.registry.push_app(app.path(), &format!("{name}:v1"));
        node.cri.pull(&image).await;
        let log_dir = logs.path().join(name);
        std::fs::create_dir_all(&log_dir).unwrap();
        let config = spin_kube_e2e::cri::Cri::pod_config(name, &log_dir);
        let sandbox = node.cri.run_sandbox(&config).await;
        let container = node
            .cri
            .create_app_container(&sandbox, &config, &image, None, &[], &[])
            .await;
        node.cri
            .runtime
            .start_container(api::StartContainerRequest {
                container_id: container.clone(),
            })
            .await
            .unwrap_or_else(|e| panic!("StartContainer: {e}"));
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            let status = node
                .cri
                .runtime
                .container_status(api::ContainerStatusRequest {
                    container_id: container.clone(),
                    verbose: false,
                })
                .await
                .unwrap_or_else(|e| panic!("ContainerStatus: {e}"))
                .into_inner()
                .status
                .unwrap();
            if status.state == api::ContainerState::ContainerExited as i32 {
                break status;
            }
            assert!(Instant::now() < deadline, "{name} did not exit: {status:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(status.exit_code, expected, "{name}: {status:?}");
        node.cri
            .runtime
            .remove_container(api::RemoveContainerRequest {
                container_id: container,
            })
            .await
            .unwrap();
        node.cri
            .runtime
            .stop_pod_sandbox(api::StopPodSandboxRequest {
                pod_sandbox_id: sandbox.clone(),
            })
            .await
            .unwrap();
        node.cri
            .runtime
            .remove_pod_sandbox(api::RemovePodSandboxRequest {
                pod_sandbox_id: sandbox,
            })
            .await
            .unwrap();
    }
}
