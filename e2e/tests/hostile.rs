//! Hostile apps through real containerd (ctr and CRI): artifacts whose locked app was
//! rewritten by hand, and root-filesystem apps that point outside their image. Each is
//! refused when the shim creates its task (`ctr run`; CRI's StartContainer) with an
//! error naming the problem, a canary file the test
//! puts on the host is never served, and an app started before them keeps answering.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use spin_kube_e2e::containerd::LocalContainerd;
use spin_kube_e2e::cri::{Cri, HelloNode, api};
use spin_kube_e2e::probe::{self, free_port};
use spin_kube_e2e::registry::LocalRegistry;

/// A secret on the host, as a file and in a directory, that no app may reach.
struct Canary {
    dir: tempfile::TempDir,
    secret: String,
}

impl Canary {
    fn place() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("spin-canary-")
            .tempdir_in("/var/tmp")
            .unwrap();
        let secret = format!("CANARY-{}-do-not-serve", std::process::id());
        std::fs::write(dir.path().join("secret.txt"), &secret).unwrap();
        Self { dir, secret }
    }

    fn file(&self) -> PathBuf {
        self.dir.path().join("secret.txt")
    }

    fn url(&self, path: &Path) -> String {
        format!("file://{}", path.display())
    }
}

/// An app that is already serving, as another tenant's pod would be.
struct Bystander {
    port: u16,
}

impl Bystander {
    fn start(containerd: &LocalContainerd) -> (Self, tempfile::TempDir) {
        let rootfs = tempfile::tempdir().unwrap();
        probe::write_app(rootfs.path(), &test_guests::hello());
        let port = free_port();
        containerd.run_rootfs_app("bystander", rootfs.path(), port, &[]);
        (Self { port }, rootfs)
    }

    fn assert_serving(&self) {
        let (status, body) =
            probe::wait_for_answer("127.0.0.1", self.port, "/", Duration::from_secs(60));
        assert_eq!((status, body.contains("Hello")), (200, true), "{body}");
    }
}

/// `ctr run` of `target` must fail; returns what it printed.
fn refused(containerd: &LocalContainerd, id: &str, target: &[&str], canary: &Canary) -> String {
    let port = free_port();
    let mut args = target.to_vec();
    args.extend([id, "/"]);
    let out = containerd.spin_run_to_end(Some(port), &args);
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{id} started:\n{printed}");
    assert!(
        !printed.contains(&canary.secret),
        "{id}: the canary leaked into the output"
    );
    assert!(probe::get("127.0.0.1", port, "/").is_none(), "{id} answers");
    printed
}

fn pulled(containerd: &LocalContainerd, image: &str) -> String {
    let pull = containerd.ctr(&["images", "pull", "--plain-http", image]);
    assert!(
        pull.status.success(),
        "{}",
        String::from_utf8_lossy(&pull.stderr)
    );
    image.to_string()
}

/// A Spin app with one component and one static file large enough for a data layer.
fn app_with_file(dir: &Path, wasm: Vec<u8>) {
    std::fs::write(
        dir.join("spin.toml"),
        "spin_manifest_version = 2\n[application]\nname = \"hello\"\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"hello\"\n[component.hello]\nsource = \"hello.wasm\"\nfiles = [\"static/page.html\"]\n",
    )
    .unwrap();
    std::fs::write(dir.join("hello.wasm"), wasm).unwrap();
    std::fs::create_dir_all(dir.join("static")).unwrap();
    std::fs::write(dir.join("static/page.html"), "<p>a page</p>\n".repeat(40)).unwrap();
}

/// A change an attacker makes to a locked app.
type Edit = Box<dyn FnOnce(&mut Value) + Send>;

fn component(locked: &mut Value) -> &mut Value {
    &mut locked["components"][0]
}

#[test]
fn rewritten_artifacts_are_refused_and_nothing_of_the_host_is_served() {
    let containerd = LocalContainerd::start();
    let registry = LocalRegistry::start();
    let canary = Canary::place();
    let (bystander, _bystander_root) = Bystander::start(&containerd);
    let app = tempfile::tempdir().unwrap();
    app_with_file(app.path(), test_guests::hello());

    let secret_url = canary.url(&canary.file());
    let dir_url = canary.url(canary.dir.path());
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "wasm-source",
            Box::new({
                let url = secret_url.clone();
                move |l| {
                    component(l)["source"] =
                        json!({"content_type": "application/wasm", "source": url})
                }
            }),
            "names its content by `source`",
        ),
        (
            "file-source",
            Box::new({
                let url = secret_url.clone();
                move |l| {
                    component(l)["files"][0] = json!({"source": url, "path": "static/page.html"})
                }
            }),
            "names its content by `source`",
        ),
        (
            "dir-source",
            Box::new(move |l| component(l)["files"][0] = json!({"source": dir_url, "path": "/"})),
            "names its content by `source`",
        ),
        (
            "wasm-digest",
            Box::new(|l| {
                component(l)["source"]["digest"] =
                    json!("sha256:../../../../../../../../../../../../var/tmp/x")
            }),
            "is not of the form sha256:<64 lowercase hex digits>",
        ),
        (
            "data-digest",
            Box::new(|l| {
                component(l)["files"][0]["digest"] = json!("sha256:../../../../etc/shadow")
            }),
            "is not of the form sha256:<64 lowercase hex digits>",
        ),
        (
            "component-id",
            Box::new(|l| {
                component(l)["id"] = json!("../../../../tmp/x");
                l["triggers"][0]["trigger_config"]["component"] = json!("../../../../tmp/x");
            }),
            "is not a component id",
        ),
        (
            "file-path",
            Box::new(|l| component(l)["files"][0]["path"] = json!("../../../../tmp/evil")),
            "leaves the component's file mount",
        ),
    ];
    for (name, edit, expected) in cases {
        let image = pulled(
            &containerd,
            &registry.push_rewritten(app.path(), name, edit),
        );
        let e = refused(&containerd, &format!("hostile-{name}"), &[&image], &canary);
        assert!(e.contains(expected), "{name}: {e}");
    }

    // Another app's layer, in the node's blob cache because that app ran here first,
    // may not be borrowed by naming its digest.
    let other = tempfile::tempdir().unwrap();
    let other_wasm = test_guests::probe("someone-else", test_guests::Probe::Echo);
    app_with_file(other.path(), other_wasm.clone());
    let other_image = pulled(&containerd, &registry.push_app(other.path(), "other:v1"));
    let port = free_port();
    let run = containerd
        .spin_run("-d", Some(port), &[&other_image, "other", "/"])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    probe::wait_for_answer("127.0.0.1", port, "/", Duration::from_secs(60));
    let other_digest = format!(
        "sha256:{}",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&other_wasm))
    );
    let image = pulled(
        &containerd,
        &registry.push_rewritten(app.path(), "borrow", move |l| {
            component(l)["source"]["digest"] = json!(other_digest)
        }),
    );
    let e = refused(&containerd, "hostile-borrow", &[&image], &canary);
    assert!(e.contains("is not a Wasm or data layer"), "{e}");

    // A data layer in the node's cache whose bytes no longer match its digest.
    let page = "<p>a page</p>\n".repeat(40);
    let page_hex = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(page.as_bytes()));
    let cached = containerd
        .compile_cache()
        .join("blobs/sha256")
        .join(&page_hex);
    assert!(cached.is_file(), "the data layer is in the node cache");
    std::fs::write(&cached, format!("tampered {}", canary.secret)).unwrap();
    let image = pulled(&containerd, &registry.push_app(app.path(), "tampered:v1"));
    let e = refused(&containerd, "hostile-tampered", &[&image], &canary);
    assert!(e.contains("but the app says"), "{e}");

    bystander.assert_serving();
}

#[test]
fn rootfs_apps_cannot_name_files_outside_their_root() {
    let containerd = LocalContainerd::start();
    let canary = Canary::place();
    let (bystander, _bystander_root) = Bystander::start(&containerd);
    let canary_dir = canary.dir.path().display().to_string();
    let cases = [
        (
            "absolute",
            format!("[{{ source = \"{canary_dir}\", destination = \"/\" }}]"),
            None,
            "is not inside the app",
        ),
        (
            "parent",
            format!("[{{ source = \"../../../../../..{canary_dir}\", destination = \"/\" }}]"),
            None,
            "is not inside the app",
        ),
        (
            "symlinked-dir",
            "[\"data/secret.txt\"]".to_string(),
            Some(("data", canary_dir.clone())),
            "does not exist",
        ),
        (
            "symlinked-file",
            "[\"secret.txt\"]".to_string(),
            Some(("secret.txt", canary.file().display().to_string())),
            "does not exist",
        ),
    ];
    for (name, files, link, expected) in cases {
        let rootfs = tempfile::tempdir().unwrap();
        probe::write_app(rootfs.path(), &test_guests::hello());
        let manifest = std::fs::read_to_string(rootfs.path().join("spin.toml")).unwrap();
        std::fs::write(
            rootfs.path().join("spin.toml"),
            format!("{manifest}files = {files}\n"),
        )
        .unwrap();
        if let Some((at, target)) = link {
            std::os::unix::fs::symlink(target, rootfs.path().join(at)).unwrap();
        }
        let root = rootfs.path().display().to_string();
        let e = refused(
            &containerd,
            &format!("rootfs-{name}"),
            &["--rootfs", &root],
            &canary,
        );
        assert!(e.contains(expected), "{name}: {e}");
    }
    bystander.assert_serving();
}

/// CreateContainer and StartContainer over CRI, as kubelet calls them; containerd's CRI
/// creates the task (the shim's Create) in StartContainer, which must fail. Returns
/// the error it gives.
async fn cri_create_refused(cri: &mut Cri, name: &str, image: &str, logs: &Path) -> String {
    let config = Cri::pod_config(name, logs);
    let sandbox = cri.run_sandbox(&config).await;
    let created = cri
        .create_app_container(&sandbox, &config, image, None, &[], &[])
        .await;
    let started = cri
        .runtime
        .start_container(api::StartContainerRequest {
            container_id: created.clone(),
        })
        .await;
    let error = match started {
        Ok(_) => panic!("{name}: started"),
        Err(status) => status.message().to_string(),
    };
    let _ = cri
        .runtime
        .remove_container(api::RemoveContainerRequest {
            container_id: created,
        })
        .await;
    let _ = cri
        .runtime
        .stop_pod_sandbox(api::StopPodSandboxRequest {
            pod_sandbox_id: sandbox.clone(),
        })
        .await;
    let _ = cri
        .runtime
        .remove_pod_sandbox(api::RemovePodSandboxRequest {
            pod_sandbox_id: sandbox,
        })
        .await;
    error
}

#[tokio::test(flavor = "multi_thread")]
async fn cri_refuses_hostile_artifacts_and_other_pods_keep_serving() {
    let mut node = HelloNode::start().await;
    let canary = Canary::place();
    let logs = tempfile::tempdir().unwrap();
    let bystander = node
        .cri
        .start_app_pod(spin_kube_e2e::cri::PodSpec {
            name: "bystander",
            image: &node.image.clone(),
            log_root: logs.path(),
            cgroup_parent: None,
            memory_limit: None,
            env: Vec::new(),
            mounts: Vec::new(),
        })
        .await;
    let secret_url = canary.url(&canary.file());
    let app = node.app.path().to_path_buf();
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "cri-file-source",
            Box::new(move |l| {
                component(l)["files"] = json!([{"source": secret_url, "path": "secret.txt"}])
            }),
            "names its content by `source`",
        ),
        (
            "cri-digest",
            Box::new(|l| component(l)["source"]["digest"] = json!("sha256:../../../../etc/shadow")),
            "sha256:<64 lowercase hex digits>",
        ),
    ];
    for (name, edit, expected) in cases {
        let image = node.registry.push_rewritten(&app, name, edit);
        node.cri.pull(&image).await;
        let e = cri_create_refused(&mut node.cri, name, &image, logs.path()).await;
        assert!(e.contains(expected), "{name}: {e}");
        assert!(!e.contains(&canary.secret));
    }
    let (status, body) = probe::get(&bystander.ip, 80, "/").unwrap();
    assert_eq!((status, body.contains("Hello")), (200, true), "{body}");
    assert_eq!(node.cri.remove_app_pod(&bystander, 10).await, 0);
}
