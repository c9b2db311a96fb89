//! The cron trigger end to end: the real `spin-run` runs a component made from WAT on
//! a seconds-level schedule, next to an HTTP route of the same app; and
//! `examples/cron-python`, built with componentize-py for Spin's current cron trigger
//! plugin (a WASIp3 `async` `handle-cron-event`), on its own.

mod support;

use support::{Runner, TestApp, built_sample};
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

#[test]
fn the_current_plugins_async_handler_fires_with_the_time() {
    let Some(app) = built_sample(
        "cron-python",
        "../build-python.sh 5.0.0 0.25.1 fermyon:spin-cron/spin-cron@2.0.0",
    ) else {
        return;
    };
    let cache = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cron-python-compiled");
    let run = Runner::start(&app, &["--cache-dir", cache.to_str().unwrap()], &[])
        .unwrap_or_else(|log| panic!("spin-run did not start:\n{log}"));
    assert_eq!(
        run.addr.port(),
        0,
        "no HTTP port for an app without HTTP routes"
    );
    // Every two seconds; the guest prints the time it was given.
    let log = run.wait_for_log_count("cron tick at ", 2);
    let ticks: Vec<u64> = log
        .lines()
        .filter_map(|l| l.split("cron tick at ").nth(1))
        .filter_map(|t| t.split_whitespace().next()?.parse().ok())
        .collect();
    assert!(ticks.len() >= 2, "{log}");
    assert!(
        ticks.iter().all(|t| t % 2 == 0),
        "even seconds only: {ticks:?}"
    );
}
