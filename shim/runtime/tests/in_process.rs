//! The runtime in this process ([`support`]): what the app's triggers and a host
//! capability do, seen through guests' requests and the prepared app, with no
//! `spin-run` process.

mod support;

use spin_runtime::RuntimeError;
use spin_runtime::config::DatabaseLocation;
use spin_runtime::trigger::cron::CronTrigger;
use spin_runtime::trigger::http::HttpTrigger;
use support::{AppFiles, Serving};
use test_guests::{Probe, cron, probe};

fn web_and_tick(tick_triggers: &str) -> AppFiles {
    AppFiles::new(
        &format!(
            r#"
spin_manifest_version = 2
[application]
name = "both"
[[trigger.http]]
route = "/..."
component = "web"
[[trigger.cron]]
component = "tick"
cron_expression = "0 0 1 1 *"
{tick_triggers}
[component.web]
source = "web.wasm"
[component.tick]
source = "tick.wasm"
"#
        ),
        &[
            ("web.wasm", probe("web", Probe::Hello)),
            ("tick.wasm", cron()),
        ],
    )
}

#[tokio::test]
async fn each_trigger_finds_its_own_entry_point() {
    let app = web_and_tick("").prepare(|_| {}).unwrap();
    let types: Vec<_> = app.triggers().map(|t| t.trigger_type()).collect();
    assert_eq!(types, ["http", "cron"]);
    {
        let code = app.code();
        let (web, tick) = (&code.components["web"], &code.components["tick"]);
        assert!(web.handler::<HttpTrigger>().is_some());
        assert!(web.handler::<CronTrigger>().is_none());
        assert!(tick.handler::<CronTrigger>().is_some());
        assert!(tick.handler::<HttpTrigger>().is_none());
    }
    let serving = Serving::start(app).await;
    assert_eq!(serving.get("/").await, (200, "Hello, world!\n".to_string()));
}

#[test]
fn a_component_two_triggers_run_must_export_both_entry_points() {
    let both = "[[trigger.cron]]\ncomponent = \"web\"\ncron_expression = \"0 0 1 1 *\"";
    let err = web_and_tick(both).prepare(|_| {}).unwrap_err().to_string();
    assert!(
        err.starts_with("component `web` is not a cron component this runtime can run: it exports `wasi:http/incoming-handler@0.2."),
        "{err}"
    );
    assert!(
        err.contains("the cron trigger runs components exporting `handle-cron-event`"),
        "{err}"
    );
}

#[test]
fn private_routes_alone_give_nothing_to_run() {
    let app = AppFiles::new(
        r#"
spin_manifest_version = 2
[application]
name = "hidden"
[[trigger.http]]
route = { private = true }
component = "web"
[component.web]
source = "web.wasm"
"#,
        &[("web.wasm", probe("web", Probe::Hello))],
    );
    assert!(matches!(
        app.prepare(|_| {}),
        Err(RuntimeError::NothingToServe)
    ));
}

#[tokio::test]
async fn components_granted_one_store_share_it_and_memory_keeps_no_file() {
    let app = AppFiles::new(
        r#"
spin_manifest_version = 2
[application]
name = "shared"
[[trigger.http]]
route = "/a"
component = "a"
[[trigger.http]]
route = "/b"
component = "b"
[component.a]
source = "kv.wasm"
key_value_stores = ["default"]
[component.b]
source = "kv.wasm"
key_value_stores = ["default"]
"#,
        &[("kv.wasm", probe("counter", Probe::KeyValue))],
    );
    let serving = serve_with_memory_store(&app).await;
    for (path, value) in [("/a", "x"), ("/b", "xx"), ("/a", "xxx")] {
        assert_eq!(serving.get(path).await, (200, value.to_string()), "{path}");
    }
    assert!(!app.path().join(".spin/sqlite_key_value.db").exists());
}

#[tokio::test]
async fn an_instance_holds_at_most_sixteen_stores_and_the_next_request_starts_afresh() {
    let app = hoarder(Probe::KeyValueOpenMany, r#"key_value_stores = ["default"]"#);
    let serving = serve_with_memory_store(&app).await;
    let sixteen_then_full = format!("{}\n", "x".repeat(16));
    for _ in 0..2 {
        assert_eq!(serving.get("/").await, (200, sixteen_then_full.clone()));
    }
}

#[tokio::test]
async fn an_instance_holds_at_most_sixty_four_redis_handles_and_the_next_request_starts_afresh() {
    let Some(redis) = spin_kube_e2e::redis::RedisServer::start() else {
        return;
    };
    let address = redis.address();
    let app = hoarder(
        Probe::RedisOpenMany,
        &format!(
            "allowed_outbound_hosts = [\"{address}\"]\n\
             [component.hoarder.variables]\nmessage = \"{address}\""
        ),
    );
    let serving = Serving::start(app.prepare(|_| {}).unwrap()).await;
    let sixty_four_then_refused = format!("{}\n", "x".repeat(64));
    for _ in 0..2 {
        assert_eq!(
            serving.get("/").await,
            (200, sixty_four_then_refused.clone())
        );
    }
}

#[tokio::test]
async fn an_instance_holds_at_most_16384_wasi_resources_and_the_next_request_starts_afresh() {
    let holder = |count: u32| {
        format!(
            r#"
[[trigger.http]]
route = "/{count}"
component = "hold-{count}"
[component.hold-{count}]
source = "hold.wasm"
[component.hold-{count}.variables]
message = "{count}"
"#
        )
    };
    // The response needs a few resources of its own.
    let (fits, too_many) = (16_000, 16_385);
    let app = AppFiles::new(
        &format!(
            "spin_manifest_version = 2\n[application]\nname = \"holder\"\n{}{}",
            holder(fits),
            holder(too_many)
        ),
        &[("hold.wasm", probe("holder", Probe::HoldFields))],
    );
    let serving = Serving::start(app.prepare(|_| {}).unwrap()).await;
    let hello = (200, "Hello, world!\n".to_string());
    assert_eq!(serving.get(&format!("/{fits}")).await, hello);
    assert_eq!(serving.get(&format!("/{too_many}")).await.0, 500);
    assert_eq!(serving.get(&format!("/{fits}")).await, hello);
}

/// An app of one component, `hoarder`, a probe in `mode` serving every path, with
/// `settings` after its `source`.
fn hoarder(mode: Probe, settings: &str) -> AppFiles {
    AppFiles::new(
        &format!(
            r#"
spin_manifest_version = 2
[application]
name = "hoarder"
[[trigger.http]]
route = "/..."
component = "hoarder"
[component.hoarder]
source = "hoarder.wasm"
{settings}
"#
        ),
        &[("hoarder.wasm", probe("hoarder", mode))],
    )
}

/// The app served with its `default` key-value store in memory.
async fn serve_with_memory_store(app: &AppFiles) -> Serving {
    let prepared = app
        .prepare(|config| {
            config
                .key_value_stores
                .insert("default".into(), DatabaseLocation::Memory);
        })
        .unwrap();
    Serving::start(prepared).await
}
