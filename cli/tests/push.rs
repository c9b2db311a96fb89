//! `spin-kube push` against a real registry (Debian's docker-registry on loopback):
//! the artifact read back layer by layer, no blob uploaded twice, and the errors a
//! user meets.

use std::path::Path;
use std::process::{Command, Output};

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use serde_json::Value;
use sha2::{Digest, Sha256};
use spin_app::oci::{
    DATA_LAYER_MEDIA_TYPE, LOCKED_APP_DIGEST_LABEL, LOCKED_APP_MEDIA_TYPE, WASM_LAYER_MEDIA_TYPE,
};
use spin_kube_e2e::registry::LocalRegistry;

/// Two components sharing one Wasm file, a large static file present twice and a
/// small one: every dedup and inline rule of Spin's layout.
fn write_app(dir: &Path) {
    std::fs::write(
        dir.join("spin.toml"),
        r#"spin_manifest_version = 2
[application]
name = "layout-test"
version = "1.2.3"
authors = ["A <a@example.com>", "B"]
description = "push layout"

[[trigger.http]]
route = "/one/..."
component = "one"
[[trigger.http]]
route = "/two/..."
component = "two"

[component.one]
source = "hello.wasm"
files = [{ source = "assets", destination = "/" }]
[component.one.build]
command = "make hello.wasm"

[component.two]
source = "hello.wasm"
files = ["big-copy.txt"]
"#,
    )
    .unwrap();
    std::fs::write(dir.join("hello.wasm"), test_guests::hello()).unwrap();
    std::fs::create_dir(dir.join("assets")).unwrap();
    let big = "a static file larger than the inline limit\n".repeat(10);
    std::fs::write(dir.join("assets/big.txt"), &big).unwrap();
    std::fs::write(dir.join("big-copy.txt"), &big).unwrap();
    std::fs::write(dir.join("assets/small.txt"), "tiny\n").unwrap();
}

fn spin_kube(args: &[&str], envs: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_spin-kube"));
    cmd.args(args).env("DOCKER_CONFIG", "/nonexistent");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn uploads(registry: &LocalRegistry) -> usize {
    registry
        .log()
        .lines()
        .filter(|l| l.contains("\"POST /v2/") && l.contains("/blobs/uploads/"))
        .count()
}

async fn blob(client: &Client, reference: &Reference, digest: &str) -> Vec<u8> {
    let mut out = Vec::new();
    client
        .pull_blob(reference, digest, &mut out)
        .await
        .unwrap_or_else(|e| panic!("blob {digest}: {e}"));
    out
}

#[tokio::test]
async fn pushes_spin_layout_and_never_uploads_a_blob_twice() {
    let registry = LocalRegistry::start();
    let app = tempfile::tempdir().unwrap();
    write_app(app.path());
    let target = format!("{}/team/layout-test:v1", registry.addr);
    let file = app.path().display().to_string();

    let out = spin_kube(&["push", "--insecure", "--file", &file, &target], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = String::from_utf8(out.stdout.clone()).unwrap();
    let (shown, digest) = printed.trim().split_once('@').expect("ref@digest");
    assert_eq!(shown, target);
    assert!(
        stderr(&out).contains("(4 blobs uploaded, 0 already in the registry)"),
        "{}",
        stderr(&out)
    );

    // Read it back as a registry client would.
    let client = Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        ..Default::default()
    });
    let reference: Reference = printed.trim().parse().unwrap();
    let (manifest, pulled_digest) = client
        .pull_image_manifest(&reference, &RegistryAuth::Anonymous)
        .await
        .unwrap();
    assert_eq!(pulled_digest, digest);
    let annotations = manifest.annotations.clone().unwrap();
    assert_eq!(annotations["org.opencontainers.image.title"], "layout-test");
    assert_eq!(annotations["org.opencontainers.image.version"], "1.2.3");
    assert_eq!(
        annotations["org.opencontainers.image.authors"],
        "A <a@example.com>, B"
    );
    assert!(annotations.contains_key("org.opencontainers.image.created"));

    let media_types: Vec<&str> = manifest
        .layers
        .iter()
        .map(|l| l.media_type.as_str())
        .collect();
    assert_eq!(
        media_types,
        [
            WASM_LAYER_MEDIA_TYPE,
            DATA_LAYER_MEDIA_TYPE,
            LOCKED_APP_MEDIA_TYPE
        ],
        "one wasm layer for two components, one data layer for two copies, small file inline"
    );
    let mut blobs = Vec::new();
    for layer in &manifest.layers {
        let bytes = blob(&client, &reference, &layer.digest).await;
        assert_eq!(sha256(&bytes), layer.digest);
        assert_eq!(bytes.len() as i64, layer.size);
        blobs.push(bytes);
    }
    assert_eq!(blobs[0], test_guests::hello());

    let config: Value =
        serde_json::from_slice(&blob(&client, &reference, &manifest.config.digest).await).unwrap();
    assert_eq!(
        manifest.config.media_type,
        "application/vnd.oci.image.config.v1+json"
    );
    assert_eq!(config["architecture"], "wasm");
    assert_eq!(config["os"], "wasip1");
    assert_eq!(
        config["config"]["Labels"][LOCKED_APP_DIGEST_LABEL],
        manifest.layers[2].digest
    );

    // The locked app refers to layers by digest, never to local files.
    let locked: Value = serde_json::from_slice(&blobs[2]).unwrap();
    assert!(!blobs[2].windows(7).any(|w| w == b"file://"), "{locked:#}");
    assert!(locked["metadata"].get("origin").is_none());
    let spin_app = spin_app::LockedApp::from_json(&blobs[2], Path::new("pulled")).unwrap();
    assert_eq!(spin_app.components.len(), 2);
    for c in &spin_app.components {
        assert_eq!(
            c.source.content.digest.as_ref().map(ToString::to_string),
            Some(manifest.layers[0].digest.clone())
        );
        assert_eq!(c.source.content.source, None);
    }
    let one = spin_app.component("one").unwrap();
    let files: Vec<(String, Option<String>, bool)> = one
        .files
        .iter()
        .map(|f| {
            (
                f.path.display().to_string(),
                f.content.digest.as_ref().map(ToString::to_string),
                f.content.inline.is_some(),
            )
        })
        .collect();
    assert_eq!(
        files,
        [
            (
                "big.txt".to_string(),
                Some(manifest.layers[1].digest.clone()),
                false
            ),
            ("small.txt".to_string(), Some(sha256(b"tiny\n")), true),
        ]
    );
    assert_eq!(one.files[1].content.inline.as_deref(), Some(&b"tiny\n"[..]));

    // Twice: every blob is already there, so nothing is uploaded.
    let before = uploads(&registry);
    assert_eq!(before, 4, "{}", registry.log());
    let again = spin_kube(&["push", "--insecure", "--file", &file, &target], &[]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("(0 blobs uploaded, 4 already in the registry)"),
        "{}",
        stderr(&again)
    );
    assert_eq!(uploads(&registry), before, "{}", registry.log());
}

/// A component whose `source` is a URL with a digest is fetched (into the user's
/// cache) and pushed as a Wasm layer of that digest, as `spin registry push` does.
/// Dependencies and middleware go up as Wasm layers of their own, named by digest in
/// the locked app, with what they inherit, for the runtime to compose.
#[tokio::test]
async fn pushes_dependencies_and_middleware_as_wasm_layers() {
    let registry = LocalRegistry::start();
    let wasm = |name: &str| test_guests::probe(name, test_guests::Probe::Echo);
    // The library is a registry package: the highest 0.1 version is fetched and pushed.
    registry.push_wasm_package("my/lib", "0.1.3", &wasm("lib"), "application/wasm");
    registry.push_wasm_package("my/lib", "0.2.0", &wasm("lib-0.2"), "application/wasm");
    let app = tempfile::tempdir().unwrap();
    std::fs::write(
        app.path().join("spin.toml"),
        format!(
            r#"spin_manifest_version = 2
[application]
name = "composed"
[[trigger.http]]
route = "/..."
component = "web"
dependencies.middleware = [{{ path = "middleware.wasm", inherit_configuration = ["variables"] }}]
[component.web]
source = "web.wasm"
[component.web.dependencies]
"my:lib/greet@0.1.0" = {{ version = "0.1", registry = "{}", export = "my:lib/greet@0.1.1" }}
"#,
            registry.addr
        ),
    )
    .unwrap();
    for name in ["web", "middleware"] {
        std::fs::write(app.path().join(format!("{name}.wasm")), wasm(name)).unwrap();
    }
    let target = format!("{}/team/composed:v1", registry.addr);
    let file = app.path().display().to_string();
    let out = spin_kube(&["push", "--insecure", "--file", &file, &target], &[]);
    assert!(out.status.success(), "{}", stderr(&out));

    let client = Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        ..Default::default()
    });
    let reference: Reference = target.parse().unwrap();
    let (manifest, _) = client
        .pull_image_manifest(&reference, &RegistryAuth::Anonymous)
        .await
        .unwrap();
    let layers: Vec<(&str, &str)> = manifest
        .layers
        .iter()
        .map(|l| (l.media_type.as_str(), l.digest.as_str()))
        .collect();
    let locked_digest = manifest.layers.last().unwrap().digest.clone();
    let locked: Value =
        serde_json::from_slice(&blob(&client, &reference, &locked_digest).await).unwrap();
    let web = &locked["components"][0];
    let lib = &web["dependencies"]["my:lib/greet@0.1.0"];
    assert_eq!(lib["source"]["digest"], sha256(&wasm("lib")));
    assert_eq!(lib["export"], "my:lib/greet@0.1.1");
    assert!(lib["source"].get("source").is_none(), "{lib}");
    let middleware = &web["trigger_dependencies"]["middleware"][0];
    assert_eq!(middleware["source"]["digest"], sha256(&wasm("middleware")));
    assert_eq!(
        middleware["inherit"],
        serde_json::json!({"Some": ["variables"]})
    );
    assert_eq!(web["host_requirements"]["middleware"], "required");
    for name in ["web", "lib", "middleware"] {
        let digest = sha256(&wasm(name));
        assert!(
            layers.contains(&(WASM_LAYER_MEDIA_TYPE, digest.as_str())),
            "{name}: {layers:?}"
        );
    }
}

#[tokio::test]
async fn pushes_a_remote_source_as_a_wasm_layer() {
    let wasm = test_guests::hello();
    let digest = sha256(&wasm);
    let server = spin_kube_e2e::upstream::Upstream::serving([127, 0, 0, 1].into(), wasm).addr;
    let registry = LocalRegistry::start();
    let app = tempfile::tempdir().unwrap();
    std::fs::write(
        app.path().join("spin.toml"),
        format!(
            r#"spin_manifest_version = 2
[application]
name = "remote-source"
[[trigger.http]]
route = "/..."
component = "fileserver"
[component.fileserver]
source = {{ url = "http://{server}/fileserver.wasm", digest = "{digest}" }}
"#
        ),
    )
    .unwrap();
    let cache = tempfile::tempdir().unwrap();
    let target = format!("{}/team/remote-source:v1", registry.addr);
    let file = app.path().display().to_string();
    let out = spin_kube(
        &["push", "--insecure", "--file", &file, &target],
        &[("XDG_CACHE_HOME", cache.path())],
    );
    assert!(out.status.success(), "{}", stderr(&out));

    let client = Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        ..Default::default()
    });
    let reference: Reference = target.parse().unwrap();
    let (manifest, _) = client
        .pull_image_manifest(&reference, &RegistryAuth::Anonymous)
        .await
        .unwrap();
    let wasm_layer = &manifest.layers[0];
    assert_eq!(wasm_layer.media_type, WASM_LAYER_MEDIA_TYPE);
    assert_eq!(wasm_layer.digest, digest);
    assert!(
        cache
            .path()
            .join("spin-kube/registry/blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
            .is_file()
    );
}

#[tokio::test]
async fn logs_in_with_docker_config_credentials_and_says_when_access_is_denied() {
    let registry = LocalRegistry::start_with_login("dev", "s3cret");
    let app = tempfile::tempdir().unwrap();
    write_app(app.path());
    let target = format!("{}/private:v1", registry.addr);
    let file = app.path().display().to_string();

    let denied = spin_kube(&["push", "--insecure", "--file", &file, &target], &[]);
    assert!(!denied.status.success());
    let e = stderr(&denied);
    assert!(e.contains("refused access to private"), "{e}");
    assert!(
        e.contains(&format!("docker login {}", registry.addr)),
        "{e}"
    );

    let docker = tempfile::tempdir().unwrap();
    let auth = base64_of("dev:s3cret");
    std::fs::write(
        docker.path().join("config.json"),
        format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, registry.addr),
    )
    .unwrap();
    let ok = spin_kube(
        &["push", "--insecure", "--file", &file, &target],
        &[("DOCKER_CONFIG", docker.path())],
    );
    assert!(ok.status.success(), "{}", stderr(&ok));
}

fn base64_of(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[test]
fn clear_errors_for_what_users_get_wrong() {
    let registry = LocalRegistry::start();
    let app = tempfile::tempdir().unwrap();
    write_app(app.path());
    let file = app.path().display().to_string();
    let target = format!("{}/x:v1", registry.addr);
    let fails = |args: &[&str]| {
        let out = spin_kube(args, &[]);
        assert!(!out.status.success(), "{args:?} succeeded");
        let e = stderr(&out);
        assert!(e.starts_with("error: "), "{e}");
        assert!(!e.contains("Stack backtrace"), "{e}");
        e
    };

    // A plain-HTTP registry on loopback needs no --insecure (Docker's rule too).
    let out = spin_kube(&["push", "--file", &file, &target], &[]);
    assert!(out.status.success(), "{}", stderr(&out));

    // Nothing listening.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let e = fails(&[
        "push",
        "--insecure",
        "--file",
        &file,
        &format!("127.0.0.1:{port}/x:v1"),
    ]);
    assert!(
        e.contains(&format!("cannot reach the registry 127.0.0.1:{port}")),
        "{e}"
    );

    let e = fails(&[
        "push",
        "--insecure",
        "--file",
        &file,
        "http://localhost/x:v1",
    ]);
    assert!(e.contains("REGISTRY/REPOSITORY:TAG"), "{e}");

    let empty = tempfile::tempdir().unwrap();
    let e = fails(&[
        "push",
        "--insecure",
        "--file",
        &empty.path().display().to_string(),
        &target,
    ]);
    assert!(
        e.contains("no Spin manifest at") && e.contains("--file"),
        "{e}"
    );

    std::fs::remove_file(app.path().join("hello.wasm")).unwrap();
    let e = fails(&["push", "--insecure", "--file", &file, &target]);
    assert!(
        e.contains("hello.wasm") && e.contains("make hello.wasm"),
        "{e}"
    );

    std::fs::write(
        app.path().join("spin.toml"),
        "spin_manifest_version = 2\n[application]\nnam = 1\n",
    )
    .unwrap();
    let e = fails(&["push", "--insecure", "--file", &file, &target]);
    assert!(e.contains("spin.toml"), "{e}");
}
