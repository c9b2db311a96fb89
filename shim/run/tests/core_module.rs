//! Core Wasm modules as an app's `source` (TinyGo and older SDKs): made components at
//! load time with the WASI preview 1 adapter, then served like any component.

mod support;

use support::{TestApp, start_error};
use test_guests::core_module;

const MANIFEST: &str = r#"
spin_manifest_version = 2
[application]
name = "core-module"
[[trigger.http]]
route = "/..."
component = "legacy"
[component.legacy]
source = "legacy.wasm"
variables = { message = "Howdy" }
"#;

#[test]
fn a_core_module_is_served_with_wasi_preview1_and_spin_imports() {
    let module = core_module();
    assert!(wasmparser::Parser::is_core_wasm(&module));
    let app = TestApp::new(MANIFEST, &[("legacy.wasm", module)]);
    let run = app.start(&[], &[]);
    let r = run.get("/hello?x=1");
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, "Howdy from a core module\n"),
        "{}",
        run.log()
    );
    assert_eq!(r.header("x-world"), Some("core-module"));
    // Its preview 1 `fd_write` reached the component's stdout through the adapter.
    let log = run.wait_for_log("core module served /hello?x=1");
    assert!(log.contains("core module served /hello?x=1"), "{log}");
}

#[test]
fn a_spin1_module_is_refused_with_what_to_do() {
    let spin1 = wat::parse_str(
        r#"(module (memory (export "memory") 1)
             (func (export "handle-http-request") (param i32 i32) (result i32) i32.const 0))"#,
    )
    .unwrap();
    let app = TestApp::new(MANIFEST, &[("legacy.wasm", spin1)]);
    let log = start_error(app.path(), &[], &[]);
    assert!(
        log.contains("component `legacy`: its source is a core Wasm module built for Spin 1")
            && log.contains("rebuild it with a Spin 2 or later SDK"),
        "{log}"
    );
}
