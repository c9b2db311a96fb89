//! Service chaining end to end on the real `spin-run`: components calling
//! `http://<component>.spin.internal/…` and `http://self/…` are served by the same
//! app in-process, subject to `allowed_outbound_hosts`.

mod support;

use support::{Runner, TestApp, built_sample, request};
use test_guests::{Probe, inbound, probe};

/// `examples/chain-python` (spin-sdk 5): a frontend calling a routed backend, a
/// private component and the app's own routes.
#[test]
fn python_components_call_each_other_in_process() {
    let Some(dir) = built_sample("chain-python", "../build-python.sh 5.0.0 0.25.1") else {
        return;
    };
    let run = Runner::start(&dir, &[], &[]).unwrap();
    let r = run.get("/");
    assert_eq!(
        (r.status, r.body.as_str()),
        (
            200,
            "frontend got 200: backend.spin.internal served /greet \
             (matched /..., client 0.0.0.0:0)\n"
        ),
        "{}",
        run.log()
    );
    let r = run.get("/audit");
    assert_eq!(
        r.body,
        "frontend got 200: audit.spin.internal served /log (matched /..., client 0.0.0.0:0)\n",
        "{}",
        run.log()
    );
    // `self` goes through the app's routes: /api/... is the backend.
    let r = run.get("/self");
    assert_eq!(
        r.body,
        "frontend got 200: self served /greet (matched /api/..., client 0.0.0.0:0)\n",
        "{}",
        run.log()
    );
    // The private component is not routed for clients; the backend is.
    assert_eq!(run.get("/api/x").status, 200);
    let r = run.get("/undeclared");
    assert_eq!(r.status, 502, "{}", r.body);
    assert!(r.body.contains("HttpRequestDenied"), "{}", r.body);
    run.wait_for_log("add \"http://nobody.spin.internal\" to allowed_outbound_hosts");
}

/// WAT guests through Spin's original `fermyon:spin/http`: a relay allowed
/// `*.spin.internal` reaches a private `wasi:http` component with Spin's headers, a
/// name that is no component of the app fails, and a relay not allowed is refused.
#[test]
fn chained_requests_follow_allowed_outbound_hosts() {
    let app = TestApp::new(
        r#"
spin_manifest_version = 2
[application]
name = "chain"
[[trigger.http]]
route = "/relay"
component = "relay"
[[trigger.http]]
route = "/closed"
component = "closed"
[[trigger.http]]
route = { private = true }
component = "echo"
[component.relay]
source = "relay.wasm"
allowed_outbound_hosts = ["http://*.spin.internal"]
[component.closed]
source = "relay.wasm"
[component.echo]
source = "echo.wasm"
"#,
        &[
            ("relay.wasm", inbound(true)),
            ("echo.wasm", probe("echo", Probe::Echo)),
        ],
    );
    let run = app.start(&[], &[]);
    let relay = |path: &str, url: &str| request(run.addr, "POST", path, &[], url.as_bytes());

    let r = relay("/relay", "http://echo.spin.internal/deep/path?q=1");
    assert_eq!(r.status, 200, "{}\n{}", r.body, run.log());
    for expected in [
        "upstream: echo\n",
        "spin-path-info: /deep/path\n",
        "spin-matched-route: /...\n",
        "spin-full-url: http://echo.spin.internal/deep/path?q=1\n",
    ] {
        assert!(r.body.contains(expected), "{expected:?} in {}", r.body);
    }
    // No component `nobody`: the request fails (request-error, case 3).
    let r = relay("/relay", "http://nobody.spin.internal/");
    assert_eq!((r.status, r.body.as_str()), (502, "error 3"));
    run.wait_for_log("the app has no HTTP component `nobody`");
    // A component without `*.spin.internal` in its allowed hosts is refused
    // (destination-not-allowed, case 1).
    let r = relay("/closed", "http://echo.spin.internal/");
    assert_eq!((r.status, r.body.as_str()), (502, "error 1"));
}
