//! The bundled sample (`examples/hello-python`), built with the official Spin Python
//! SDK, served by the real `spin-run`: the Spin 2/3 SDK world with variables,
//! key-value, files and outbound HTTP.

mod support;

use std::path::PathBuf;

use support::{Runner, built_sample, sample_copy, upstream};

fn sample() -> Option<PathBuf> {
    built_sample("hello-python", "../build-python.sh")
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
    // The baseline code is written to the cache in the background.
    run.wait_for_log("compiled component written to the cache");
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
