//! The MQTT trigger end to end, against a real `mosquitto` on a free loopback port: the
//! real `spin-run` serving a component made from WAT (SpinKube's MQTT trigger
//! interface) subscribed to a wildcard topic next to an HTTP route of the same app,
//! and through a broker restart; and `examples/mqtt-python`, built with componentize-py
//! for Spin's current MQTT trigger plugin interface (`spin:mqtt-trigger@3.0.0`).

mod support;

use std::process::Command;

use spin_kube_e2e::mqtt::MosquittoServer;
use support::{Runner, TestApp, built_sample};
use test_guests::{Probe, mqtt_listener, probe};

fn publish(broker: &MosquittoServer, topic: &str, message: &str) {
    let out = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &broker.port.to_string()])
        .args(["-t", topic, "-m", message, "-q", "1"])
        .output()
        .expect("mosquitto_pub (Debian's mosquitto-clients) runs");
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn messages_on_the_topic_run_the_component_beside_http() {
    let Some(mut broker) = MosquittoServer::start() else {
        return;
    };
    let manifest = format!(
        r#"
spin_manifest_version = 2
[application]
name = "mqtt-listener"
[variables]
broker = {{ default = "{}" }}
[application.trigger.mqtt]
address = "{{{{ broker }}}}"
username = ""
password = ""
keep_alive_interval = "30"
[[trigger.mqtt]]
component = "listener"
topic = "sensors/#"
qos = "1"
[[trigger.http]]
route = "/..."
component = "web"
[component.listener]
source = "listener.wasm"
[component.web]
source = "web.wasm"
"#,
        broker.address()
    );
    let app = TestApp::new(
        &manifest,
        &[
            ("listener.wasm", mqtt_listener()),
            ("web.wasm", probe("web", Probe::Hello)),
        ],
    );
    let run = app.start(&[], &[]);
    run.wait_for_log("MQTT trigger subscribed");

    publish(&broker, "sensors/kitchen", "21.5 C");
    publish(&broker, "other/topic", "not for us");
    publish(&broker, "sensors/hall/door", "open");
    let log = run.wait_for_log("mqtt message: open");
    assert!(log.contains("mqtt message: 21.5 C"), "{log}");
    assert!(log.contains("mqtt message: open"), "{log}");
    assert!(!log.contains("not for us"), "{log}");
    assert_eq!(run.get("/").status, 200);

    // The broker restarts: the trigger reconnects and subscribes again.
    broker.restart();
    let log = run.wait_for_log_count("MQTT trigger subscribed", 2);
    assert!(log.contains("MQTT trigger connection lost"), "{log}");
    publish(&broker, "sensors/after", "back again");
    let log = run.wait_for_log("mqtt message: back again");
    assert!(log.contains("mqtt message: back again"), "{log}");
}

#[test]
fn the_current_plugins_async_handler_gets_the_message_and_its_topic() {
    let Some(app) = built_sample(
        "mqtt-python",
        "../build-python.sh 5.0.0 0.25.1 spin:mqtt-trigger/spin-mqtt@3.0.0",
    ) else {
        return;
    };
    let Some(broker) = MosquittoServer::start() else {
        return;
    };
    let cache = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("mqtt-python-compiled");
    let run = Runner::start(
        &app,
        &["--cache-dir", cache.to_str().unwrap()],
        &[("SPIN_VARIABLE_MQTT_ADDRESS", &broker.address())],
    )
    .unwrap_or_else(|log| panic!("spin-run did not start:\n{log}"));
    run.wait_for_log("MQTT trigger subscribed");
    publish(&broker, "sensors/roof", "windy");
    publish(&broker, "sensors/roof", "fail");
    let log = run.wait_for_log("mqtt message on sensors/roof: windy");
    assert!(log.contains("mqtt message on sensors/roof: windy"), "{log}");
    let log = run.wait_for_log("asked to fail");
    assert!(
        log.contains("failed to handle an MQTT message on sensors/roof"),
        "{log}"
    );
}
