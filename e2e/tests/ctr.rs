//! Path A: `ctr run --runtime io.containerd.spin.v2` on a real containerd: the app from
//! a root filesystem holding spin.toml (as a classic image's rootfs would), and from a
//! Spin OCI artifact pushed by `spin-kube push` to a real registry and pulled by
//! containerd; and the bad inputs, each refused with a clear error.

use std::process::Stdio;
use std::time::Duration;

use spin_kube_e2e::containerd::LocalContainerd;
use spin_kube_e2e::probe::{self, free_port};
use spin_kube_e2e::redis::RedisServer;
use spin_kube_e2e::registry::LocalRegistry;

fn get(port: u16, path: &str) -> Option<(u16, String)> {
    probe::get("127.0.0.1", port, path)
}

fn wait_for_200(port: u16, path: &str, within: Duration) -> (u16, String) {
    probe::wait_for_answer("127.0.0.1", port, path, within)
}

fn app_rootfs(dir: &std::path::Path, wasm: Vec<u8>) {
    probe::write_app(dir, &wasm);
}

#[test]
fn ctr_runs_a_spin_app_drains_on_sigterm_and_shows_its_logs() {
    let containerd = LocalContainerd::start();
    let rootfs = tempfile::tempdir().unwrap();
    app_rootfs(rootfs.path(), test_guests::hello());
    let port = free_port();
    let root = rootfs.path().display().to_string();
    let run = containerd
        .spin_run("--rm", Some(port), &["--rootfs", &root, "hello-a", "/"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let (status, body) = wait_for_200(port, "/", Duration::from_secs(60));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Hello"), "{body}");

    let tasks = String::from_utf8(containerd.ctr(&["task", "ls"]).stdout).unwrap();
    assert!(
        tasks.contains("hello-a") && tasks.contains("RUNNING"),
        "{tasks}"
    );

    let kill = containerd.ctr(&["task", "kill", "-s", "SIGTERM", "hello-a"]);
    assert!(
        kill.status.success(),
        "{}",
        String::from_utf8_lossy(&kill.stderr)
    );
    let out = run.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "graceful stop exits 0; logs:\n{logs}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        logs.contains(&format!("Serving http://127.0.0.1:{port}")),
        "{logs}"
    );
    assert!(
        get(port, "/").is_none(),
        "still answering after the task exited"
    );
}

#[test]
fn ctr_runs_a_spin_oci_artifact_from_a_registry_and_reuses_the_compile_cache() {
    let containerd = LocalContainerd::start();
    let registry = LocalRegistry::start();
    let app = tempfile::tempdir().unwrap();
    app_rootfs(app.path(), test_guests::hello());
    let image = registry.push_app(app.path(), "hello:v1");
    let pull = containerd.ctr(&["images", "pull", "--plain-http", &image]);
    assert!(
        pull.status.success(),
        "{}",
        String::from_utf8_lossy(&pull.stderr)
    );

    let mut logs = Vec::new();
    for id in ["art-1", "art-2"] {
        let port = free_port();
        let run = containerd
            .spin_run("--rm", Some(port), &[&image, id, "/"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (status, body) = wait_for_200(port, "/", Duration::from_secs(60));
        assert_eq!((status, body.contains("Hello")), (200, true), "{body}");
        let kill = containerd.ctr(&["task", "kill", "-s", "SIGKILL", id]);
        assert!(kill.status.success());
        let out = run.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(137), "SIGKILL exits 137");
        logs.push(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    // The first container compiled the component into the node cache; the second,
    // a new shim process, loaded it from there before serving. (The optimizing tier
    // compiles in the background after the first 200; when the first container was
    // killed before that finished, the second compiles it then, after serving.)
    assert!(logs[0].contains(": compiled component"), "{}", logs[0]);
    let before_serving = logs[1].split("Serving http").next().unwrap();
    assert!(
        !before_serving.contains(": compiled component"),
        "{}",
        logs[1]
    );
    assert!(
        logs[1].contains("loaded precompiled component from cache"),
        "{}",
        logs[1]
    );
}

/// Runs `ctr run` on a rootfs and returns its error output; it must fail.
fn refused(containerd: &LocalContainerd, id: &str, rootfs: &std::path::Path) -> String {
    let root = rootfs.display().to_string();
    let out = containerd.spin_run_to_end(None, &["--rootfs", &root, id, "/"]);
    assert!(!out.status.success(), "{id} started");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bad_apps_fail_at_create_with_a_clear_error_and_leave_containerd_serving() {
    let containerd = LocalContainerd::start();

    let empty = tempfile::tempdir().unwrap();
    let e = refused(&containerd, "bad-empty", empty.path());
    assert!(
        e.contains("container bad-empty: no Spin app") && e.contains("no spin.toml"),
        "{e}"
    );

    let garbage = tempfile::tempdir().unwrap();
    app_rootfs(garbage.path(), b"\0asm not really".to_vec());
    let e = refused(&containerd, "bad-wasm", garbage.path());
    assert!(
        e.contains("container bad-wasm") && e.contains("hello"),
        "{e}"
    );

    let missing = tempfile::tempdir().unwrap();
    app_rootfs(missing.path(), test_guests::hello());
    let manifest = std::fs::read_to_string(missing.path().join("spin.toml")).unwrap();
    std::fs::write(
        missing.path().join("spin.toml"),
        manifest.replace("component = \"hello\"", "component = \"nope\""),
    )
    .unwrap();
    let e = refused(&containerd, "bad-route", missing.path());
    assert!(e.contains("nope"), "{e}");

    // containerd and the runtime are fine: a good app still runs.
    let good = tempfile::tempdir().unwrap();
    app_rootfs(good.path(), test_guests::hello());
    containerd.run_rootfs_app("good", good.path(), free_port(), &[]);
}

#[test]
fn images_that_are_not_runnable_spin_apps_are_refused_naming_what_is_wrong() {
    let containerd = LocalContainerd::start();
    let registry = LocalRegistry::start();

    // A Spin artifact whose Wasm layer is gone from the content store.
    let app = tempfile::tempdir().unwrap();
    let wasm = test_guests::probe("missing-layer", test_guests::Probe::Echo);
    app_rootfs(app.path(), wasm.clone());
    let image = registry.push_app(app.path(), "missing:v1");
    let pull = containerd.ctr(&["images", "pull", "--plain-http", &image]);
    assert!(
        pull.status.success(),
        "{}",
        String::from_utf8_lossy(&pull.stderr)
    );
    let layer = format!(
        "sha256:{}",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&wasm))
    );
    let rm = containerd.ctr(&["content", "rm", &layer]);
    assert!(
        rm.status.success(),
        "{}",
        String::from_utf8_lossy(&rm.stderr)
    );
    let out = containerd.spin_run_to_end(None, &[&image, "missing", "/"]);
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("container missing") && e.contains(&layer), "{e}");

    // An ordinary container image: no spin.toml, no Spin locked app.
    containerd.import_pause_image_into("default");
    let out =
        containerd.spin_run_to_end(None, &[spin_kube_e2e::images::PAUSE_IMAGE, "not-spin", "/"]);
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("is not a Spin app"), "{e}");
}

#[test]
fn ctr_runs_a_classic_image_whose_rootfs_holds_the_app() {
    let containerd = LocalContainerd::start();
    let manifest = "spin_manifest_version = 2\n[application]\nname = \"hello\"\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"hello\"\n[component.hello]\nsource = \"hello.wasm\"\n";
    let image = "spin-kube.local/classic-hello:1";
    containerd.import_image(
        "default",
        &spin_kube_e2e::images::image_tar(
            image,
            &[
                ("spin.toml", manifest.as_bytes(), 0o644),
                ("hello.wasm", &test_guests::hello(), 0o644),
            ],
            &["/"],
        ),
    );
    let body = containerd.run_detached("classic", &[image, "classic"], free_port());
    assert!(body.contains("Hello"), "{body}");
}

/// The node's blob cache stays within the node config's bound: a second app's layers
/// push out the first's (least recently used), while the first app keeps answering.
#[test]
fn the_blob_cache_stays_within_the_nodes_bound() {
    let containerd = LocalContainerd::start();
    std::fs::write(containerd.node_config(), "[caches]\nblobs_max_bytes = 1\n").unwrap();
    let registry = LocalRegistry::start();
    let (first, second) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    app_rootfs(first.path(), test_guests::hello());
    app_rootfs(
        second.path(),
        test_guests::probe("second", test_guests::Probe::Echo),
    );
    let images = [
        registry.push_app(first.path(), "first:v1"),
        registry.push_app(second.path(), "second:v1"),
    ];
    for image in &images {
        let pull = containerd.ctr(&["images", "pull", "--plain-http", image]);
        assert!(
            pull.status.success(),
            "{}",
            String::from_utf8_lossy(&pull.stderr)
        );
    }
    let blobs = || -> Vec<String> {
        std::fs::read_dir(containerd.compile_cache().join("blobs/sha256"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect()
    };
    let mut ports = Vec::new();
    let mut held = Vec::new();
    for (image, id) in images.iter().zip(["first", "second"]) {
        let port = free_port();
        containerd.run_detached(id, &[image, id, "/"], port);
        ports.push(port);
        held.push(blobs());
    }
    assert!(!held[0].is_empty() && !held[1].is_empty(), "{held:?}");
    assert!(
        held[1].iter().all(|b| !held[0].contains(b)),
        "the first app's layers stayed past the bound: {held:?}"
    );
    let (status, body) = probe::get("127.0.0.1", ports[0], "/").unwrap();
    assert_eq!((status, body.contains("Hello")), (200, true), "{body}");
}

/// Limits come from the container's env (a bad value is refused naming it), lowered to
/// the node's ceilings from the node config the shim reads; a broken node config stops
/// every container, naming the file.
#[test]
fn limits_come_from_the_container_env_within_the_nodes_ceilings() {
    let containerd = LocalContainerd::start();
    let rootfs = tempfile::tempdir().unwrap();
    app_rootfs(rootfs.path(), test_guests::hello());
    let root = rootfs.path().display().to_string();
    let port = free_port();
    containerd.run_rootfs_app(
        "limited",
        rootfs.path(),
        port,
        &["SPIN_HTTP_MAX_REQUEST_BODY=1Ki"],
    );
    let post = |len: usize| {
        let head = format!("POST / HTTP/1.1\r\nhost: x\r\ncontent-length: {len}\r\n\r\n");
        probe::send_raw("127.0.0.1", port, head.as_bytes(), 0)
    };
    assert_eq!(post(2048), 413);

    let out = containerd.spin_run_to_end(
        None,
        &[
            "--env",
            "SPIN_HTTP_MAX_REQUEST_BODY=lots",
            "--rootfs",
            &root,
            "bad-limit",
            "/",
        ],
    );
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("container bad-limit: environment: SPIN_HTTP_MAX_REQUEST_BODY=\"lots\""),
        "{e}"
    );

    // The node's ceiling bounds what a pod asks for: 1 GiB bodies become 1 KiB ones.
    std::fs::write(
        containerd.node_config(),
        "[ceilings]\nSPIN_HTTP_MAX_REQUEST_BODY = \"1Ki\"\n",
    )
    .unwrap();
    let port = free_port();
    containerd.run_rootfs_app(
        "clamped",
        rootfs.path(),
        port,
        &["SPIN_HTTP_MAX_REQUEST_BODY=1Gi"],
    );
    let post = |len: usize| {
        let head = format!("POST / HTTP/1.1\r\nhost: x\r\ncontent-length: {len}\r\n\r\n");
        probe::send_raw("127.0.0.1", port, head.as_bytes(), 0)
    };
    assert_eq!(post(2048), 413, "the node's ceiling applies");

    // A broken node config stops every container, naming the file and the key.
    std::fs::write(containerd.node_config(), "[ceilings]\nSPIN_NOPE = 1\n").unwrap();
    let out = containerd.spin_run_to_end(None, &["--rootfs", &root, "bad-node", "/"]);
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains(&format!(
            "node config {}: ceilings.SPIN_NOPE is not a setting",
            containerd.node_config().display()
        )),
        "{e}"
    );
}

/// The runtime config file as the operator provides it: a Secret mounted at
/// `/runtime-config.toml` and `--runtime-config-file` in the container's args.
#[test]
fn a_mounted_runtime_config_file_places_key_value_stores_on_files_and_redis_and_bad_ones_fail() {
    let containerd = LocalContainerd::start();
    let rootfs = tempfile::tempdir().unwrap();
    probe::write_app(
        rootfs.path(),
        &test_guests::probe("counter", test_guests::Probe::KeyValue),
    );
    let manifest = rootfs.path().join("spin.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text + "key_value_stores = [\"default\"]\n").unwrap();
    let root = rootfs.path().display().to_string();
    let secret = tempfile::tempdir().unwrap();
    let config = secret.path().join("runtime-config.toml");
    let mount = format!(
        "type=bind,src={},dst=/runtime-config.toml,options=rbind:ro",
        config.display()
    );
    let args = |id: &'static str| {
        vec![
            "--mount",
            mount.as_str(),
            "--rootfs",
            root.as_str(),
            id,
            "/",
            "--runtime-config-file",
            "/runtime-config.toml",
        ]
    };

    // Starts a container with `text` as its runtime config; its counter counts from 1.
    let counts = |text: &str, id: &'static str| {
        std::fs::write(&config, text).unwrap();
        let port = free_port();
        let started = containerd
            .spin_run("-d", Some(port), &args(id))
            .output()
            .unwrap();
        assert!(
            started.status.success(),
            "{}",
            String::from_utf8_lossy(&started.stderr)
        );
        // Bodies come chunked: `1\r\nx\r\n0…`, then `2\r\nxx\r\n0…`.
        let first = wait_for_200(port, "/", Duration::from_secs(60)).1;
        assert!(first.contains("\nx\r\n"), "{id}: {first:?}");
        let second = get(port, "/").unwrap().1;
        assert!(second.contains("\nxx\r\n"), "{id}: {second:?}");
    };
    counts(
        "[key_value_store.default]\ntype = \"spin\"\npath = \"data/kv.db\"\n",
        "with-config",
    );
    // The same store on a Redis server.
    if let Some(redis) = RedisServer::start() {
        counts(
            &format!(
                "[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n",
                redis.address()
            ),
            "with-redis",
        );
    }

    for (text, expected) in [
        (
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"http://:s3cret@db\"\n",
            "[key_value_store.default]: `url` must be a redis:// or rediss:// URL",
        ),
        (
            "[key_value_store.default]\ntype = \"spin\"\npath = \"/etc/passwd\"\n",
            "[key_value_store.default]: in a pod, `path` must be a relative path",
        ),
    ] {
        std::fs::write(&config, text).unwrap();
        let out = containerd.spin_run_to_end(None, &args("bad-config"));
        assert!(!out.status.success());
        let e = String::from_utf8_lossy(&out.stderr);
        assert!(
            e.contains("container bad-config: runtime config") && e.contains(expected),
            "{e}"
        );
        assert!(!e.contains("s3cret"), "{e}");
    }
}

/// The bundled sample built with the real Python SDK (componentize-py + spin-sdk; built
/// by `e2e/test.sh` before the tests), pushed as an artifact and served by the shim: a
/// 37 MB component checked against its layer digest, a static file big enough for a
/// data layer (staged and checked too), and the key-value store.
#[test]
fn ctr_serves_the_python_sdk_sample_from_an_artifact() {
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello-python");
    if !sample.join("app.wasm").is_file() {
        eprintln!(
            "skipped: examples/hello-python/app.wasm is not built (examples/build-python.sh)"
        );
        return;
    }
    let app = tempfile::tempdir().unwrap();
    for name in ["spin.toml", "app.wasm"] {
        std::fs::copy(sample.join(name), app.path().join(name)).unwrap();
    }
    std::fs::create_dir_all(app.path().join("static")).unwrap();
    let page = "A static file larger than Spin inlines, so it travels as a data layer.\n".repeat(4);
    std::fs::write(app.path().join("static/hello.txt"), &page).unwrap();

    let containerd = LocalContainerd::start();
    let registry = LocalRegistry::start();
    let image = registry.push_app(app.path(), "hello-python:v1");
    let pull = containerd.ctr(&["images", "pull", "--plain-http", &image]);
    assert!(
        pull.status.success(),
        "{}",
        String::from_utf8_lossy(&pull.stderr)
    );
    let port = free_port();
    let run = containerd
        .spin_run("-d", Some(port), &[&image, "python", "/"])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let (status, body) = wait_for_200(port, "/", Duration::from_secs(120));
    assert_eq!(
        (status, body.as_str()),
        (200, "Hello from Spin on Kubernetes, in Python!\n")
    );
    assert_eq!(get(port, "/file"), Some((200, page)));
    assert_eq!(
        get(port, "/count").map(|(_, b)| b),
        Some("visits=1\n".to_string())
    );
    assert_eq!(
        get(port, "/count").map(|(_, b)| b),
        Some("visits=2\n".to_string())
    );
}

/// A command app (`[[trigger.command]]`) runs once under containerd and the task's
/// exit status is the command's: `ctr run` returns it.
#[test]
fn a_command_apps_status_is_the_containers_exit_status() {
    use test_guests::{CommandEnd, command};

    let containerd = LocalContainerd::start();
    for (id, end, status) in [
        ("job-ok", CommandEnd::Ok, 0),
        ("job-err", CommandEnd::Err, 1),
        ("job-trap", CommandEnd::Trap, 1),
    ] {
        let rootfs = tempfile::tempdir().unwrap();
        std::fs::write(
            rootfs.path().join("spin.toml"),
            "spin_manifest_version = 2\n[application]\nname = \"job\"\n\
             [[trigger.command]]\ncomponent = \"job\"\n[component.job]\nsource = \"job.wasm\"\n",
        )
        .unwrap();
        std::fs::write(rootfs.path().join("job.wasm"), command(end)).unwrap();
        let root = rootfs.path().display().to_string();
        let out = containerd.spin_run_to_end(None, &["--rootfs", &root, id, "/"]);
        assert_eq!(
            out.status.code(),
            Some(status),
            "{id}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
