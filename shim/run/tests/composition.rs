//! Component dependencies and HTTP middleware end to end on the real `spin-run`: the
//! app's components are composed with what they depend on when the app loads.

mod support;

use support::{TestApp, built_sample_of, start_error};
use test_guests::{Probe, probe};

/// `examples/compose-python`: a spin-sdk 5 app importing a greeter that another Python
/// component provides, composed in isolated (it inherits nothing) and trusted with the
/// environment, and the trusted app again behind Python middleware.
#[test]
fn python_app_runs_with_its_dependency_and_middleware() {
    let Some(dir) = built_sample_of(
        "compose-python",
        &["app/app.wasm", "greeter/app.wasm", "middleware/app.wasm"],
        "spin build in examples/compose-python (see e2e/test.sh)",
    ) else {
        return;
    };
    let run = support::Runner::start(&dir, &[], &[]).unwrap();
    let r = run.get("/isolated");
    assert_eq!(
        (r.status, r.body.as_str()),
        (
            200,
            "Hello, Kubernetes! (the greeter sees GREETING=<unset>)\n"
        ),
        "{}",
        run.log()
    );
    let trusted = "Hello, Kubernetes! (the greeter sees GREETING=Hallo)\n";
    let r = run.get("/trusted");
    assert_eq!((r.status, r.body.as_str()), (200, trusted), "{}", run.log());
    assert_eq!(r.header("x-middleware"), None);
    let r = run.get("/wrapped");
    assert_eq!((r.status, r.body.as_str()), (200, trusted), "{}", run.log());
    assert_eq!(r.header("x-middleware"), Some("python"), "{:?}", r.headers);
}

/// A dependency that fits no import, and middleware around a component that is not a
/// WASIp3 handler, stop the app at start-up with an error naming the component and
/// the dependency.
#[test]
fn compositions_that_cannot_be_made_are_explained() {
    let manifest = |extra: &str| {
        format!(
            r#"
spin_manifest_version = 2
[application]
name = "bad-deps"
[[trigger.http]]
route = "/..."
component = "web"
{extra}
[component.web]
source = "web.wasm"
[component.web.dependencies]
"my:lib/greet" = {{ path = "lib.wasm" }}
"#
        )
    };
    let app = TestApp::new(
        &manifest(""),
        &[
            ("web.wasm", probe("web", Probe::Echo)),
            ("lib.wasm", probe("lib", Probe::Echo)),
        ],
    );
    let log = start_error(app.path(), &[], &[]);
    assert!(
        log.contains("component `web`: cannot compose it with its dependencies: dependency \"my:lib/greet\" matches no import of the component"),
        "{log}"
    );
    let app = TestApp::new(
        &manifest("dependencies.middleware = [{ path = \"lib.wasm\" }]").replace(
            "[component.web.dependencies]\n\"my:lib/greet\" = { path = \"lib.wasm\" }\n",
            "",
        ),
        &[
            ("web.wasm", probe("web", Probe::Echo)),
            ("lib.wasm", probe("lib", Probe::Echo)),
        ],
    );
    let log = start_error(app.path(), &[], &[]);
    assert!(
        log.contains("HTTP middleware wraps components that export wasi:http/handler@0.3.0"),
        "{log}"
    );
}
