//! The cron trigger end to end: the real `spin-run` runs a component made from WAT on
//! a seconds-level schedule, next to an HTTP route of the same app.

mod support;

use support::TestApp;
use test_guests::{Probe, cron, probe};

#[test]
fn a_cron_component_fires_on_schedule_beside_http() {
    let app = TestApp::new(
        r#"
spin_manifest_version = 2
[application]
name = "ticker"
[[trigger.cron]]
component = "tick"
cron_expression = "* * * * * *"
[[trigger.http]]
route = "/..."
component = "web"
[component.tick]
source = "tick.wasm"
[component.web]
source = "web.wasm"
"#,
        &[
            ("tick.wasm", cron()),
            ("web.wasm", probe("web", Probe::Hello)),
        ],
    );
    let run = app.start(&[], &[]);
    // Every second: three runs within a few seconds, each a fresh instance.
    let log = run.wait_for_log_count("cron fired", 3);
    assert!(log.matches("cron fired").count() >= 3, "{log}");
    assert!(log.contains("tick"), "{log}");
    assert_eq!(run.get("/").status, 200);
}
