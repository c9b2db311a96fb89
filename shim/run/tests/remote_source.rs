//! Components whose `source` is a URL with a digest (`source = { url, digest }`):
//! `spin-run` fetches them once into its blob cache, verified, and serves them; from the
//! cache it starts with the server gone.

mod support;

use std::net::SocketAddr;

use spin_app::Sha256Digest;
use support::{TestApp, start_error};
use test_guests::{Probe, probe};

/// Serves `body` on a free loopback port; the address.
fn serve(body: Vec<u8>) -> SocketAddr {
    spin_kube_e2e::upstream::Upstream::serving([127, 0, 0, 1].into(), body).addr
}

fn manifest(url: &str, digest: &Sha256Digest) -> String {
    format!(
        r#"
spin_manifest_version = 2
[application]
name = "remote"
[[trigger.http]]
route = "/..."
component = "fetched"
[component.fetched]
source = {{ url = "{url}", digest = "{digest}" }}
"#
    )
}

#[test]
fn a_remote_source_is_fetched_once_and_served_from_the_cache() {
    let wasm = probe("fetched", Probe::Echo);
    let digest = Sha256Digest::of(&wasm);
    let addr = serve(wasm);
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().display().to_string();
    let args = ["--registry-cache", cache_dir.as_str()];

    let app = TestApp::new(&manifest(&format!("http://{addr}/c.wasm"), &digest), &[]);
    let run = app.start(&args, &[]);
    let r = run.get("/hello");
    assert!(r.body.starts_with("fetched\n"), "{}\n{}", r.body, run.log());
    drop(run);

    // The same digest from a URL nobody answers: served from the cache.
    let app = TestApp::new(&manifest("http://127.0.0.1:9/c.wasm", &digest), &[]);
    let run = app.start(&args, &[]);
    assert!(run.get("/").body.starts_with("fetched\n"), "{}", run.log());
}

#[test]
fn bytes_that_do_not_match_the_digest_are_refused() {
    let addr = serve(probe("fetched", Probe::Echo));
    let promised = Sha256Digest::of(b"another component");
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().display().to_string();
    let app = TestApp::new(&manifest(&format!("http://{addr}/c.wasm"), &promised), &[]);
    let log = start_error(app.path(), &["--registry-cache", cache_dir.as_str()], &[]);
    assert!(
        log.contains("component.fetched.source") && log.contains(&format!("not the {promised}")),
        "{log}"
    );
}
