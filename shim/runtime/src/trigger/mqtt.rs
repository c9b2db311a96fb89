//! The MQTT trigger (`[[trigger.mqtt]]` with `component`, `topic` and `qos`, and the
//! app's `[application.trigger.mqtt]` `address`, `username`, `password` and
//! `keep_alive_interval`, as SpinKube's MQTT trigger plugin defines them; `{{ variable }}`
//! templates resolved from application variables): each trigger subscribes to its
//! topic (wildcards allowed) and every message runs the component's handler once, in
//! a fresh instance with the HTTP request's isolation, memory cap and timeout: the
//! `handle-message` export of Spin's current MQTT trigger plugin
//! (`spin:mqtt-trigger@3.0.0`, WASIp3 `async`, given the topic) or SpinKube's
//! `spin:mqtt-trigger-sdk/inbound-mqtt`.
//!
//! One MQTT 3.1.1 connection per trigger (`rumqttc`), driven from the app's network
//! (the pod's, in the shim), over TLS for an `mqtts://` address (see
//! [`crate::host::mqtt::broker`]; the roots of the first `[[client_tls]]` table naming
//! the broker's host, the built-in roots otherwise); the broker is the app's own configuration, so it is not
//! checked against `allowed_outbound_hosts` (as in Spin). Packets larger than
//! `SPIN_HTTP_MAX_REQUEST_BODY` are refused by the client (the connection drops and is
//! reopened); a message waits for a free instance before the next one is read, so the
//! broker sees back-pressure. A lost connection is reopened with back-off (1 s
//! doubling to 30 s) and the topic subscribed again; a broker refusing the credentials
//! fails the trigger for good, which stops the app with that reason.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, ConnectReturnCode, ConnectionError, Event, Packet, QoS};
use spin_app::LockedApp;
use spin_app::template::Template;

use super::delivery::{Handled, deliver, message_span, run_event};
use super::entry_point::{CompiledComponent, Wanted};
use super::run::Ended;
use super::settings::TriggerSettings;
use super::trigger_type::{AppValues, Trigger};
use crate::host::bindings::inbound_mqtt::InboundMqttComponentPre;
use crate::host::bindings::inbound_mqtt::exports::spin::mqtt_trigger_sdk::inbound_mqtt::Error as GuestError;
use crate::host::bindings::mqtt_trigger_current::SpinMqttPre;
use crate::host::bindings::mqtt_trigger_current::spin::mqtt_trigger::spin_mqtt_types::Metadata;
use crate::host::mqtt::broker::BrokerAddress;
use crate::host::mqtt::explain_failure;
use crate::host::state::RequestState;
use crate::{PreparedApp, RuntimeError};

const FIRST_RETRY: Duration = Duration::from_secs(1);
const LAST_RETRY: Duration = Duration::from_secs(30);

/// The pre-instantiated MQTT handler of a component.
pub enum MqttHandler {
    /// `spin:mqtt-trigger-sdk/inbound-mqtt` (SpinKube's MQTT trigger SDK).
    SpinKube(InboundMqttComponentPre<RequestState>),
    /// `handle-message` of `spin:mqtt-trigger@3.0.0` (Spin's current plugin, WASIp3).
    Current(SpinMqttPre<RequestState>),
}

/// One `[[trigger.mqtt]]` subscription.
pub struct MqttSubscription {
    pub component: String,
    pub topic: String,
    qos: QoS,
    /// `mqtt://host:port` or `mqtts://host:port`, as logs show it.
    pub shown: String,
    broker: BrokerAddress,
    username: String,
    password: String,
    keep_alive: Duration,
}

impl std::fmt::Debug for MqttSubscription {
    /// Without the credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttSubscription")
            .field("component", &self.component)
            .field("topic", &self.topic)
            .field("shown", &self.shown)
            .finish_non_exhaustive()
    }
}

/// The app's MQTT triggers: one subscription each.
#[derive(Debug)]
pub struct MqttTrigger {
    pub subscriptions: Vec<MqttSubscription>,
}

const WANTED: Wanted = Wanted {
    component: "an MQTT component",
    trigger: "MQTT",
    exports: "`handle-message` of `spin:mqtt-trigger@3.0.0` (Spin's MQTT trigger plugin) or \
              `spin:mqtt-trigger-sdk/inbound-mqtt` (SpinKube's MQTT trigger SDK)",
};

impl Trigger for MqttTrigger {
    const TYPE: &'static str = "mqtt";
    type Handler = MqttHandler;
    type Error = MqttTriggerError;

    fn read(app: &LockedApp, values: &AppValues) -> Result<Option<Self>, RuntimeError> {
        let mut subscriptions = Vec::new();
        for trigger in app.triggers.iter().filter(|t| t.trigger_type == Self::TYPE) {
            let settings = TriggerSettings::read(app, trigger, "MQTT", &["topic", "qos"])?;
            let problem = |p: String| settings.problem(p);
            let render = |key: &str, text: &str| {
                Template::parse(text)
                    .and_then(|t| t.render(values))
                    .map_err(|e| problem(format!("`{key}`: {e}")))
            };
            let component = settings.component;
            let topic = settings.text("topic")?.ok_or_else(|| {
                problem("has no `topic`; add one, like topic = \"sensors/#\"".into())
            })?;
            let topic = render("topic", topic)?;
            let qos = match settings.text("qos")? {
                None | Some("0") => QoS::AtMostOnce,
                Some("1") => QoS::AtLeastOnce,
                Some("2") => QoS::ExactlyOnce,
                Some(other) => {
                    return Err(problem(format!(
                        "`qos` must be \"0\", \"1\" or \"2\", not {other:?}"
                    )));
                }
            };
            let setting = |key: &str| -> Result<String, RuntimeError> {
                match app.trigger_setting("mqtt", key) {
                    Some(text) => render(&format!("application.trigger.mqtt.{key}"), text),
                    None => Ok(String::new()),
                }
            };
            let address = setting("address")?;
            if address.is_empty() {
                return Err(problem(
                    "the app has no `[application.trigger.mqtt] address`; set one, like \"mqtt://broker:1883\""
                        .into(),
                ));
            }
            let broker = url::Url::parse(&address)
                .map_err(|_| "not a URL")
                .and_then(|url| BrokerAddress::parse(&url))
                .map_err(|why| problem(format!("`address` {address:?}: {why}")))?;
            let keep_alive = match setting("keep_alive_interval")?.as_str() {
                "" => 30,
                text => text.parse::<u64>().map_err(|_| {
                    problem(format!(
                        "`keep_alive_interval` {text:?} is not a number of seconds"
                    ))
                })?,
            };
            subscriptions.push(MqttSubscription {
                component: component.to_string(),
                topic,
                qos,
                shown: broker.shown(),
                broker,
                username: setting("username")?,
                password: setting("password")?,
                keep_alive: Duration::from_secs(keep_alive.clamp(1, 65_535)),
            });
        }
        Ok((!subscriptions.is_empty()).then_some(Self { subscriptions }))
    }

    fn runs(&self, id: &str) -> bool {
        self.subscriptions.iter().any(|s| s.component == id)
    }

    fn describe(&self) -> Vec<String> {
        self.subscriptions
            .iter()
            .flat_map(|s| {
                [
                    format!("Subscribing to {}:", s.shown),
                    format!("  {}: {}", s.topic, s.component),
                ]
            })
            .collect()
    }

    /// `handle-message` of `spin:mqtt-trigger@3.0.0`, else
    /// `spin:mqtt-trigger-sdk/inbound-mqtt`.
    fn handler(component: &CompiledComponent<'_>) -> Result<MqttHandler, RuntimeError> {
        let exports = component.exports();
        let current = exports.iter().any(|e| e == "handle-message");
        if !current
            && !exports
                .iter()
                .any(|e| e == "spin:mqtt-trigger-sdk/inbound-mqtt")
        {
            return Err(component.lacks(&WANTED, &exports));
        }
        let pre = component.instantiate_pre()?;
        if current {
            SpinMqttPre::new(pre).map(MqttHandler::Current)
        } else {
            InboundMqttComponentPre::new(pre).map(MqttHandler::SpinKube)
        }
        .map_err(|e| component.link_error(e))
    }

    /// Runs every subscription; returns only when one fails for good.
    async fn run(self: Arc<Self>, app: Arc<PreparedApp>) -> Result<Ended, MqttTriggerError> {
        let mut subscriptions = tokio::task::JoinSet::new();
        for index in 0..self.subscriptions.len() {
            subscriptions.spawn(subscribe(app.clone(), self.clone(), index));
        }
        while let Some(ended) = subscriptions.join_next().await {
            if let Ok(Err(e)) = ended {
                return Err(e);
            }
        }
        std::future::pending().await
    }
}

/// Why the MQTT trigger stopped for good.
#[derive(Debug, thiserror::Error)]
#[error("MQTT trigger on {broker}: the broker refused the connection: {code:?}")]
pub struct MqttTriggerError {
    broker: String,
    code: ConnectReturnCode,
}

/// What the connection's driver tells the trigger.
enum FromBroker {
    Message { topic: String, payload: Vec<u8> },
    Subscribed,
    Lost(String),
    Refused(ConnectReturnCode),
}

async fn subscribe(
    app: Arc<PreparedApp>,
    mqtt: Arc<MqttTrigger>,
    index: usize,
) -> Result<(), MqttTriggerError> {
    let sub = &mqtt.subscriptions[index];
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let client_id = format!(
        "spin-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    // Resolved as the app's network resolves it; reconnects dial that address.
    let tls = app.config.client_tls.for_host(&sub.broker.host);
    let mut options = loop {
        match sub
            .broker
            .options(client_id.clone(), &app.config.network, &tls)
            .await
        {
            Ok(options) => break options,
            Err(e) => {
                tracing::warn!(broker = %sub.shown, "MQTT trigger cannot resolve the broker: {e}; retrying in {LAST_RETRY:?}");
                tokio::time::sleep(LAST_RETRY).await;
            }
        }
    };
    options.set_keep_alive(sub.keep_alive);
    let max = usize::try_from(app.config.limits.max_request_body).unwrap_or(usize::MAX);
    options.set_max_packet_size(max.saturating_add(64 << 10), 64 << 10);
    if !sub.username.is_empty() || !sub.password.is_empty() {
        options.set_credentials(sub.username.clone(), sub.password.clone());
    }
    let (client, mut events) = AsyncClient::new(options, 4);
    // One message in flight between the connection and the trigger: the driver stops
    // reading until the trigger took it.
    let (to_trigger, mut from_broker) = tokio::sync::mpsc::channel::<FromBroker>(1);
    let (topic, qos) = (sub.topic.clone(), sub.qos);
    let network = app.config.network.clone();
    let driving = async move {
        network
            .run(async move {
                let mut retry = FIRST_RETRY;
                loop {
                    let delivery = match events.poll().await {
                        Ok(Event::Incoming(Packet::ConnAck(_))) => {
                            retry = FIRST_RETRY;
                            match client.subscribe(topic.clone(), qos).await {
                                Ok(()) => continue,
                                Err(e) => FromBroker::Lost(e.to_string()),
                            }
                        }
                        Ok(Event::Incoming(Packet::SubAck(_))) => FromBroker::Subscribed,
                        Ok(Event::Incoming(Packet::Publish(p))) => FromBroker::Message {
                            topic: p.topic,
                            payload: p.payload.to_vec(),
                        },
                        Ok(_) => continue,
                        Err(ConnectionError::ConnectionRefused(
                            code @ (ConnectReturnCode::BadUserNamePassword
                            | ConnectReturnCode::NotAuthorized),
                        )) => FromBroker::Refused(code),
                        Err(e) => FromBroker::Lost(explain_failure(&e.to_string())),
                    };
                    let failed = matches!(delivery, FromBroker::Lost(_) | FromBroker::Refused(_));
                    if to_trigger.send(delivery).await.is_err() {
                        return;
                    }
                    if failed {
                        tokio::time::sleep(retry).await;
                        retry = (retry * 2).min(LAST_RETRY);
                    }
                }
            })
            .await
    };
    let driver = tokio::spawn(driving);
    let _stop_driver = AbortOnDrop(driver);
    while let Some(delivery) = from_broker.recv().await {
        match delivery {
            FromBroker::Subscribed => {
                tracing::info!(broker = %sub.shown, topic = %sub.topic, "MQTT trigger subscribed")
            }
            FromBroker::Lost(e) => {
                tracing::warn!(broker = %sub.shown, "MQTT trigger connection lost: {e}; reconnecting")
            }
            FromBroker::Refused(code) => {
                return Err(MqttTriggerError {
                    broker: sub.shown.clone(),
                    code,
                });
            }
            FromBroker::Message { topic, payload } => {
                let payload = Arc::new(payload);
                let id = sub.component.clone();
                deliver(&app, &sub.component, move |app| {
                    let (id, topic, payload) = (id.clone(), topic.clone(), payload.clone());
                    async move { handle(&app, &id, &topic, &payload).await }
                })
                .await;
            }
        }
    }
    Ok(())
}

/// Aborts the connection's driver when the trigger stops.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs the subscription's component for one message in a fresh instance.
async fn handle(app: &PreparedApp, id: &str, topic: &str, payload: &Vec<u8>) -> Handled {
    let what = format!("an MQTT message on {topic}");
    let event = message_span(app, "mqtt", topic);
    run_event::<MqttTrigger>(app, id, &what, event, async |pre, store| match pre {
        MqttHandler::SpinKube(pre) => {
            let instance = pre.instantiate_async(&mut *store).await?;
            let handled = instance
                .spin_mqtt_trigger_sdk_inbound_mqtt()
                .call_handle_message(&mut *store, payload)
                .await?;
            Ok(handled.err().map(|e: GuestError| format!("{e:?}")))
        }
        MqttHandler::Current(pre) => {
            let instance = pre.instantiate_async(&mut *store).await?;
            let (payload, topic) = (payload.to_vec(), topic.to_string());
            let handled = store
                .run_concurrent(async |accessor| {
                    instance
                        .call_handle_message(accessor, payload, Metadata { topic })
                        .await
                })
                .await??;
            Ok(handled.err().map(|e| format!("{e:?}")))
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn mqtt_subscriptions(
        app: &LockedApp,
        values: &AppValues,
    ) -> Result<Vec<MqttSubscription>, RuntimeError> {
        Ok(MqttTrigger::read(app, values)?.map_or_else(Vec::new, |m| m.subscriptions))
    }

    fn app(config: serde_json::Value, app_trigger: serde_json::Value) -> LockedApp {
        serde_json::from_value(serde_json::json!({
            "spin_lock_version": 1,
            "metadata": { "name": "m", "triggers": { "mqtt": app_trigger } },
            "triggers": [{ "id": "t", "trigger_type": "mqtt", "trigger_config": config }],
            "components": [
                { "id": "c", "source": { "content_type": "application/wasm", "content": {} } }
            ]
        }))
        .unwrap()
    }

    #[test]
    fn settings_take_templates_and_defaults() {
        let app = app(
            serde_json::json!({ "component": "c", "topic": "{{ room }}/#", "qos": "2" }),
            serde_json::json!({ "address": "mqtt://{{ host }}", "username": "u", "password": "secret" }),
        );
        let values = BTreeMap::from([
            ("room".to_string(), "kitchen".to_string()),
            ("host".to_string(), "broker.test".to_string()),
        ]);
        let subs = mqtt_subscriptions(&app, &values).unwrap();
        assert_eq!(subs[0].topic, "kitchen/#");
        assert_eq!(subs[0].qos, QoS::ExactlyOnce);
        assert_eq!(subs[0].shown, "mqtt://broker.test:1883");
        assert_eq!(subs[0].keep_alive, Duration::from_secs(30));
        assert!(!format!("{subs:?}").contains("secret"));
    }

    #[test]
    fn bad_settings_name_the_trigger_and_the_fix() {
        let ok_app = serde_json::json!({ "address": "mqtt://h" });
        for (config, app_trigger, expected) in [
            (
                serde_json::json!({ "component": "c", "topic": "t", "qos": "3" }),
                ok_app.clone(),
                "`qos` must be \"0\", \"1\" or \"2\"",
            ),
            (
                serde_json::json!({ "component": "c" }),
                ok_app.clone(),
                "has no `topic`",
            ),
            (
                serde_json::json!({ "component": "c", "topic": "t" }),
                serde_json::json!({}),
                "no `[application.trigger.mqtt] address`",
            ),
            (
                serde_json::json!({ "component": "c", "topic": "t" }),
                serde_json::json!({ "address": "ws://h" }),
                "only mqtt://host[:port] and mqtts://host[:port] are served",
            ),
            (
                serde_json::json!({ "component": "c", "topic": "t" }),
                serde_json::json!({ "address": "mqtt://h", "keep_alive_interval": "soon" }),
                "`keep_alive_interval` \"soon\"",
            ),
            (
                serde_json::json!({ "component": "c", "topic": "t", "retain": true }),
                ok_app.clone(),
                "unknown MQTT trigger setting `retain`",
            ),
        ] {
            let err = mqtt_subscriptions(&app(config, app_trigger), &BTreeMap::new())
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("trigger `t`: "), "{err}");
            assert!(err.contains(expected), "{err}");
        }
    }
}
