//! Components, dependencies and middleware that are Wasm packages in an OCI registry
//! (`source = { registry, package, version }`, `"ns:pkg/iface@1.0.0" = "0.1"`,
//! `{ package, version }`): `spin-run` finds the registry (the manifest's, else the
//! wasm-pkg configuration's), picks the highest matching version, fetches its Wasm into
//! the blob cache and runs the app as if the file were local.

mod support;

use spin_kube_e2e::registry::LocalRegistry;
use support::{Runner, TestApp, built_sample_of, start_error};
use test_guests::{Probe, probe};

const WASM: &str = "application/wasm";

fn component_from(registry: &str, package: &str, version: &str) -> String {
    format!(
        r#"
spin_manifest_version = 2
[application]
name = "packaged"
[[trigger.http]]
route = "/..."
component = "web"
[component.web]
source = {{ registry = "{registry}", package = "{package}", version = "{version}" }}
"#
    )
}

#[test]
fn a_component_source_is_the_package_version_it_names() {
    let registry = LocalRegistry::start();
    registry.push_wasm_package("probes/echo", "1.0.0", &probe("one", Probe::Echo), WASM);
    registry.push_wasm_package("probes/echo", "1.1.0", &probe("two", Probe::Echo), WASM);
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().display().to_string();
    let args = ["--registry-cache", cache_dir.as_str()];

    let app = TestApp::new(&component_from(&registry.addr, "probes:echo", "1.0.0"), &[]);
    let run = app.start(&args, &[]);
    let r = run.get("/hello");
    assert!(r.body.starts_with("one\n"), "{}\n{}", r.body, run.log());
    drop(run);

    let app = TestApp::new(&component_from(&registry.addr, "probes:echo", "2.0.0"), &[]);
    let log = start_error(app.path(), &args, &[]);
    assert!(
        log.contains("component.web.source")
            && log.contains("no version of probes:echo")
            && log.contains("versions there: 1.0.0, 1.1.0"),
        "{log}"
    );

    // A package whose layer is not Wasm is refused before anything is stored.
    registry.push_wasm_package("probes/data", "1.0.0", b"{}", "application/json");
    let app = TestApp::new(&component_from(&registry.addr, "probes:data", "1.0.0"), &[]);
    let log = start_error(app.path(), &args, &[]);
    assert!(
        log.contains("is not a Wasm package") && log.contains("application/json"),
        "{log}"
    );
}

/// `examples/compose-python` with its greeter and its middleware taken from a registry
/// found through the wasm-pkg configuration (`[namespace_registries]`), as Spin users
/// publish them with `wkg publish`: the greeter's requirement `0.1` picks 0.1.2 over
/// 0.1.0 and 0.2.0, which hold Wasm that could not be composed.
#[test]
fn a_python_apps_dependency_and_middleware_come_from_a_package_registry() {
    let Some(sample) = built_sample_of(
        "compose-python",
        &["app/app.wasm", "greeter/app.wasm", "middleware/app.wasm"],
        "spin build in examples/compose-python (see e2e/test.sh)",
    ) else {
        return;
    };
    let read = |path: &str| std::fs::read(sample.join(path)).unwrap();
    let registry = LocalRegistry::start();
    let wrong = probe("wrong", Probe::Echo);
    registry.push_wasm_package("example/greeter", "0.1.0", &wrong, WASM);
    registry.push_wasm_package("example/greeter", "0.1.2", &read("greeter/app.wasm"), WASM);
    registry.push_wasm_package("example/greeter", "0.2.0", &wrong, WASM);
    registry.push_wasm_package(
        "example/add-header",
        "1.0.0",
        &read("middleware/app.wasm"),
        WASM,
    );

    let config = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(config.path().join("wasm-pkg")).unwrap();
    std::fs::write(
        config.path().join("wasm-pkg/config.toml"),
        format!("[namespace_registries]\nexample = \"{}\"\n", registry.addr),
    )
    .unwrap();
    let app = tempfile::tempdir().unwrap();
    std::fs::write(
        app.path().join("spin.toml"),
        format!(
            r#"
spin_manifest_version = 2
[application]
name = "compose-from-registry"
[[trigger.http]]
route = "/..."
component = "trusted"
dependencies.middleware = [{{ package = "example:add-header", version = "1" }}]
[component.trusted]
source = "{}"
environment = {{ GREETING = "Hallo" }}
[component.trusted.dependencies]
"example:greeter/greet@0.1.0" = {{ version = "0.1", inherit_configuration = ["environment"] }}
"#,
            sample.join("app/app.wasm").display()
        ),
    )
    .unwrap();
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().display().to_string();
    let config_home = config.path().display().to_string();
    let run = Runner::start(
        app.path(),
        &["--registry-cache", cache_dir.as_str()],
        &[("XDG_CONFIG_HOME", config_home.as_str())],
    )
    .unwrap_or_else(|log| panic!("{log}"));
    let r = run.get("/");
    assert_eq!(
        (r.status, r.body.as_str()),
        (
            200,
            "Hello, Kubernetes! (the greeter sees GREETING=Hallo)\n"
        ),
        "{}",
        run.log()
    );
    assert_eq!(r.header("x-middleware"), Some("python"), "{:?}", r.headers);
}
