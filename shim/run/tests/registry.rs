//! `spin-run --from REGISTRY/REPOSITORY:TAG`: the app pulled from a real registry
//! (Debian's docker-registry on loopback, pushed with the real `spin-kube push`),
//! served, cached by digest, and the errors a user meets.

mod support;

use std::path::Path;

use spin_kube_e2e::registry::LocalRegistry;
use support::{Runner, TestApp, manifest, start_error};

/// An app with a component and a static file larger than the inline limit, so the
/// artifact has a Wasm layer and a data layer.
fn app() -> TestApp {
    let text = manifest(
        "pulled",
        &[(
            "/...",
            "hello",
            "hello.wasm",
            "files = [{ source = \"assets\", destination = \"/\" }]",
        )],
    );
    let app = TestApp::new(&text, &[("hello.wasm", test_guests::hello())]);
    std::fs::create_dir(app.path().join("assets")).unwrap();
    std::fs::write(app.path().join("assets/big.txt"), "x".repeat(1000)).unwrap();
    app
}

fn args<'a>(cache: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--registry-cache", cache.to_str().unwrap()];
    args.extend_from_slice(extra);
    args
}

const NO_DOCKER_CONFIG: &[(&str, &str)] = &[("DOCKER_CONFIG", "/nonexistent")];

fn run(from: &str, cache: &Path, extra: &[&str]) -> Runner {
    Runner::start(Path::new(from), &args(cache, extra), NO_DOCKER_CONFIG)
        .unwrap_or_else(|e| panic!("spin-run did not start: {e}"))
}

fn refused(from: &str, cache: &Path, extra: &[&str]) -> String {
    start_error(Path::new(from), &args(cache, extra), NO_DOCKER_CONFIG)
}

/// The digest `spin-run` logged for what it pulled.
fn pulled_digest(log: &str) -> String {
    let at = log.find("digest=sha256:").expect(log);
    log[at + "digest=".len()..][..71].to_string()
}

#[test]
fn serves_an_app_from_a_registry_and_restarts_from_the_cache_without_it() {
    let registry = LocalRegistry::start();
    let app = app();
    let image = registry.push_app(app.path(), "pulled:v1");
    let cache = tempfile::tempdir().unwrap();

    let first = run(&image, cache.path(), &[]);
    assert_eq!(first.get("/").status, 200);
    let log = first.wait_for_log("pulled the app");
    assert!(log.contains("fetched=3"), "locked app, Wasm, data:\n{log}");
    let digest = pulled_digest(&log);
    drop(first);

    // Again with the registry up: only the manifest is asked for.
    let second = run(&image, cache.path(), &[]);
    assert!(
        second.wait_for_log("pulled the app").contains("fetched=0"),
        "{}",
        second.log()
    );
    drop(second);

    // Pinned by digest, everything is in the cache: the registry is not needed.
    let pinned = format!("{image}@{digest}");
    drop(registry);
    let offline = run(&pinned, cache.path(), &[]);
    assert_eq!(offline.get("/").status, 200);
    let e = refused(&image, cache.path(), &[]);
    assert!(e.contains("cannot reach the registry"), "{e}");
}

#[test]
fn credentials_come_from_docker_config_files_such_as_mounted_pull_secrets() {
    let registry = LocalRegistry::start_with_login("puller", "s3cret");
    let app = app();
    // What `kubectl create secret docker-registry` puts in `.dockerconfigjson`.
    let secret = tempfile::tempdir().unwrap();
    let config = secret.path().join("config.json");
    std::fs::write(
        &config,
        format!(
            r#"{{"auths":{{"{}":{{"username":"puller","password":"s3cret","auth":"cHVsbGVyOnMzY3JldA=="}}}}}}"#,
            registry.addr
        ),
    )
    .unwrap();
    std::fs::copy(&config, app.path().join("config.json")).unwrap();
    let image = registry.push_app(app.path(), "private:v1");
    let cache = tempfile::tempdir().unwrap();

    let e = refused(&image, cache.path(), &[]);
    assert!(
        e.contains("refused access to private") && e.contains("docker login"),
        "{e}"
    );

    let empty = secret.path().join("other.json");
    std::fs::write(&empty, r#"{"auths":{}}"#).unwrap();
    let configs = format!("{},{}", empty.display(), config.display());
    let served = run(&image, cache.path(), &["--docker-config", &configs]);
    assert_eq!(served.get("/").status, 200);
}

#[test]
fn bad_references_say_what_is_wrong() {
    let registry = LocalRegistry::start();
    let cache = tempfile::tempdir().unwrap();

    let missing = format!("{}/nothing-here:v1", registry.addr);
    let e = refused(&missing, cache.path(), &[]);
    assert!(e.contains("is not in the registry"), "{e}");

    let e = refused("no-such-dir/app", cache.path(), &[]);
    assert!(
        e.contains("no such file or directory, and not a registry reference"),
        "{e}"
    );

    let closed = format!("127.0.0.1:{}/app:v1", spin_kube_e2e::probe::free_port());
    let e = refused(&closed, cache.path(), &[]);
    assert!(e.contains("cannot reach the registry"), "{e}");
}

#[test]
fn an_artifact_cannot_name_files_on_this_machine() {
    let registry = LocalRegistry::start();
    let app = app();
    let image = registry.push_rewritten(app.path(), "rewritten", |locked| {
        locked["components"][0]["source"] =
            serde_json::json!({"content_type": "application/wasm", "source": "file:///etc/passwd"});
    });
    let cache = tempfile::tempdir().unwrap();
    let e = refused(&image, cache.path(), &[]);
    assert!(e.contains("may only use `digest`"), "{e}");
}

/// A rewritten locked app cannot compose in what its image does not carry: a dependency
/// naming a host file, or a blob of the same repository that is not one of the image's
/// layers, stops the app before anything is read.
#[test]
fn an_artifact_cannot_compose_what_it_does_not_carry() {
    let registry = LocalRegistry::start();
    let text = format!(
        "{}[component.hello.dependencies]\n\"my:lib/greet\" = {{ path = \"lib.wasm\" }}\n",
        manifest("composed", &[("/...", "hello", "hello.wasm", "")])
    );
    let app = TestApp::new(
        &text,
        &[
            ("hello.wasm", test_guests::hello()),
            ("lib.wasm", test_guests::hello()),
        ],
    );
    let stray = registry.push_blob("composed", b"\0asm\x01\0\0\0 not carried");
    let cache = tempfile::tempdir().unwrap();
    for (source, expected) in [
        (
            serde_json::json!({"content_type": "application/wasm", "source": "file:///etc/passwd"}),
            "may only use `digest`",
        ),
        (
            serde_json::json!({"content_type": "application/wasm", "digest": stray}),
            "is not a Wasm or data layer of the app's image manifest",
        ),
    ] {
        let image = registry.push_rewritten(app.path(), "composed", |locked| {
            locked["components"][0]["dependencies"]["my:lib/greet"]["source"] = source;
        });
        let e = refused(&image, cache.path(), &[]);
        assert!(e.contains(expected) && e.contains("my:lib/greet"), "{e}");
    }
}
