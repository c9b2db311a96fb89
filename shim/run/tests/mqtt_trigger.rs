//! The MQTT trigger end to end: the real `spin-run` serving a component made from WAT
//! (SpinKube's MQTT trigger interface) subscribed to a wildcard topic on a real
//! `mosquitto` on a free loopback port, next to an HTTP route of the same app.

mod support;

use std::process::Command;

use spin_kube_e2e::mqtt::MosquittoServer;
use support::TestApp;
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
    let Some(broker) = MosquittoServer::start() else {
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
}
