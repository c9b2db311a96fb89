//! The chart's images, built by `build-images` from the release binaries and run by a
//! real containerd (runc), as a node would run them:
//! - the operator image starts its binary (libraries complete, non-root user);
//! - the node installer image, run as the DaemonSet runs it (the host's `/` at `/host`),
//!   installs its shim and the `spin` runtime into a second containerd's config; that
//!   containerd then serves a CRI pod with the handler `spin` through the installed shim;
//! - the `spin-run` image, run with the arguments a `spinImage` executor's pod gets,
//!   pulls a pushed app from a registry and serves it, as a non-root user; a missing
//!   pull secret, a bad reference and an unreachable registry fail with what to do.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use spin_kube_e2e::containerd::{LocalContainerd, built_binaries};
use spin_kube_e2e::cri::HelloNode;
use spin_kube_e2e::probe::{free_port, wait_for_answer};
use spin_kube_e2e::registry::LocalRegistry;

const OPERATOR: &str = "ghcr.io/spin-kube-rs/spin-operator:0.1.0";
const INSTALLER: &str = "ghcr.io/spin-kube-rs/spin-node-installer:0.1.0";
const SPIN_RUN: &str = "ghcr.io/spin-kube-rs/spin-run:0.1.0";

/// containerd with the images imported into `default`.
fn node_with_images() -> (LocalContainerd, tempfile::TempDir) {
    let out = tempfile::tempdir().unwrap();
    let built = Command::new(built_binaries().join("build-images"))
        .arg("--out")
        .arg(out.path())
        .output()
        .expect("build-images is built (cargo build --workspace --bins)");
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let containerd = LocalContainerd::start();
    for image in ["spin-operator", "spin-node-installer", "spin-run"] {
        let tar = std::fs::read(out.path().join(format!("{image}.tar"))).unwrap();
        containerd.import_image("default", &tar);
    }
    (containerd, out)
}

fn run(containerd: &LocalContainerd, args: &[&str]) -> String {
    let out = containerd.ctr(args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "ctr {args:?}:\n{text}");
    text
}

#[test]
fn the_operator_image_runs_its_binary() {
    let (containerd, _images) = node_with_images();
    let help = run(
        &containerd,
        &[
            "run",
            "--rm",
            OPERATOR,
            "operator-help",
            "/spin-operator",
            "--help",
        ],
    );
    assert!(help.contains("--leader-election"), "{help}");
    let info = run(&containerd, &["images", "ls"]);
    assert!(
        info.contains(OPERATOR) && info.contains(INSTALLER),
        "{info}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_installer_image_installs_a_shim_that_serves_pods() {
    let (images_node, _images) = node_with_images();
    let mut installed = PathBuf::new();
    let node = LocalContainerd::start_installed_by(|config| {
        let install_dir = config.parent().unwrap().join("opt/spin/bin");
        let bind = "type=bind,src=/,dst=/host,options=rbind:rw";
        let args = |id: &'static str| {
            vec![
                "run".to_string(),
                "--rm".into(),
                "--mount".into(),
                bind.into(),
                INSTALLER.into(),
                id.into(),
                "/spin-node-installer".into(),
                "--install-dir".into(),
                install_dir.display().to_string(),
                "--containerd-config".into(),
                config.display().to_string(),
                "--restart".into(),
                "none".into(),
            ]
        };
        let first: Vec<String> = args("installer-1");
        let out = run(
            &images_node,
            &first.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        assert!(out.contains("shim: installed"), "{out}");
        assert!(out.contains("added runtime `spin`"), "{out}");
        assert!(out.contains("NOT restarted"), "{out}");
        installed = install_dir.join("containerd-shim-spin-v2");
        assert_stripped_executable(&installed);
    });
    assert!(installed.exists());

    // Kept whole: dropping it stops containerd and the registry.
    let mut hello = HelloNode::start_on(node).await;
    hello.serve_one_pod("from-image").await;
}

/// The shim the image carries: an executable ELF, smaller than the unstripped build.
fn assert_stripped_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).unwrap();
    assert!(meta.permissions().mode() & 0o111 != 0, "not executable");
    assert_eq!(&std::fs::read(path).unwrap()[..4], b"\x7fELF");
    let built = std::fs::metadata(built_binaries().join("containerd-shim-spin-v2")).unwrap();
    assert!(meta.len() < built.len(), "the image's shim is not stripped");
}

/// `ctr run` of the spin-run image on the host network (where the test registry
/// listens) with the command a `spinImage` executor's pod runs:
/// `/spin-run up --listen ADDR --from IMAGE`, plus `extra` ctr options before the image.
fn spin_run_image(
    containerd: &LocalContainerd,
    mode: &str,
    id: &str,
    listen: &str,
    from: &str,
    extra: &[&str],
) -> std::process::Output {
    let mut args = vec!["run", mode, "--net-host"];
    args.extend_from_slice(extra);
    args.extend([
        SPIN_RUN,
        id,
        "/spin-run",
        "up",
        "--listen",
        listen,
        "--from",
        from,
    ]);
    containerd.ctr(&args)
}

fn write_hello_app(dir: &Path) {
    std::fs::write(
        dir.join("spin.toml"),
        "spin_manifest_version = 2\n[application]\nname = \"boxed\"\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"hello\"\n[component.hello]\nsource = \"hello.wasm\"\n",
    )
    .unwrap();
    std::fs::write(dir.join("hello.wasm"), test_guests::hello()).unwrap();
}

#[test]
fn the_spin_run_image_pulls_and_serves_an_app_as_a_spin_image_executor_pod() {
    let (containerd, _images) = node_with_images();
    let registry = LocalRegistry::start_with_login("puller", "s3cret");
    let app = tempfile::tempdir().unwrap();
    write_hello_app(app.path());
    // The pull secret as the kubelet mounts a kubernetes.io/dockerconfigjson Secret.
    let secret = tempfile::tempdir().unwrap();
    let config = format!(
        r#"{{"auths":{{"{}":{{"auth":"cHVsbGVyOnMzY3JldA=="}}}}}}"#,
        registry.addr
    );
    std::fs::write(secret.path().join("config.json"), &config).unwrap();
    std::fs::write(app.path().join("config.json"), &config).unwrap();
    let image = registry.push_app(app.path(), "boxed:v1");

    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mount = format!(
        "type=bind,src={},dst=/var/run/secrets/spin-kube/registry/0,options=rbind:ro",
        secret.path().display()
    );
    let env = "SPIN_DOCKER_CONFIG=/var/run/secrets/spin-kube/registry/0/config.json";
    let started = spin_run_image(
        &containerd,
        "-d",
        "boxed",
        &listen,
        &image,
        &["--mount", &mount, "--env", env],
    );
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    let (status, body) = wait_for_answer("127.0.0.1", port, "/", Duration::from_secs(60));
    assert_eq!(status, 200, "{body}");
    let tasks = run(&containerd, &["task", "ls"]);
    let pid = tasks
        .lines()
        .find(|l| l.starts_with("boxed "))
        .and_then(|l| l.split_whitespace().nth(1))
        .expect(&tasks);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("Uid:") && l.contains("65532")),
        "runs as a non-root user:\n{status}"
    );

    let refused = |id: &str, from: &str| {
        let out = spin_run_image(&containerd, "--rm", id, "127.0.0.1:0", from, &[]);
        assert!(!out.status.success(), "{id} started");
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let e = refused("no-secret", &image);
    assert!(e.contains("refused access to boxed"), "{e}");
    let e = refused("bad-reference", "not a reference");
    assert!(e.contains("not a registry reference"), "{e}");
    let e = refused(
        "unreachable",
        &format!("127.0.0.1:{}/boxed:v1", free_port()),
    );
    assert!(e.contains("cannot reach the registry"), "{e}");
}
