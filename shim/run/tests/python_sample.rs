//! The bundled sample (`examples/hello-python`), built with the official Spin Python
//! SDK, served by the real `spin-run`: the Spin 2/3 SDK world with variables,
//! key-value, files and outbound HTTP.

mod support;

use std::path::PathBuf;

use support::{Runner, upstream};

fn sample() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello-python");
    if dir.join("app.wasm").is_file() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "examples/hello-python/app.wasm is missing; .ci/run builds it before the tests"
    );
    eprintln!(
        "SKIPPED: examples/hello-python/app.wasm is not built (run examples/build-python.sh in that folder)"
    );
    None
}

/// Copies the sample so the test's key-value data stays out of the source tree.
fn sample_copy(dir: &std::path::Path) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    for name in ["spin.toml", "app.wasm"] {
        std::fs::copy(dir.join(name), copy.path().join(name)).unwrap();
    }
    std::fs::create_dir_all(copy.path().join("static")).unwrap();
    std::fs::copy(
        dir.join("static/hello.txt"),
        copy.path().join("static/hello.txt"),
    )
    .unwrap();
    copy
}

#[test]
fn python_sample_serves_every_capability() {
    let Some(dir) = sample() else { return };
    let app = sample_copy(&dir);
    let up = upstream("pong from upstream");
    let upstream_url = format!("http://{up}/ping");
    let env = [("SPIN_VARIABLE_UPSTREAM", upstream_url.as_str())];
    let cache = tempfile::tempdir().unwrap();
    let cache_args = ["--cache-dir", cache.path().to_str().unwrap()];
    let run = Runner::start(app.path(), &cache_args, &env).unwrap();

    let r = run.get("/");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "Hello from Spin on Kubernetes, in Python!\n");

    assert_eq!(run.get("/count").body, "visits=1\n");
    assert_eq!(run.get("/count").body, "visits=2\n");

    let r = run.get("/file");
    assert_eq!(
        r.body,
        std::fs::read_to_string(dir.join("static/hello.txt")).unwrap()
    );

    let r = run.get("/outbound");
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, "upstream said: pong from upstream"),
        "{}",
        run.log()
    );

    let r = run.get("/forbidden");
    assert_eq!(r.status, 403, "{}", r.body);
    let log = run.wait_for_log("outbound request denied");
    assert!(
        log.contains("add \"http://example.com\" to allowed_outbound_hosts"),
        "{log}"
    );
    drop(run);

    let run = Runner::start(
        app.path(),
        &cache_args,
        &[("SPIN_VARIABLE_GREETING", "Howdy")],
    )
    .unwrap();
    assert!(
        run.log()
            .contains("loaded precompiled component from cache")
    );
    assert_eq!(
        run.get("/").body,
        "Howdy from Spin on Kubernetes, in Python!\n",
        "runner log:\n{}",
        run.log()
    );
    assert_eq!(
        run.get("/count").body,
        "visits=3\n",
        "key-value data survives a restart"
    );
}
