//! The Redis trigger: `[[trigger.redis]]` entries (`channel`, `component`, and
//! `address` or the app's `[application.trigger.redis] address`; `{{ variable }}`
//! templates resolved from application variables) subscribe to their channels, and
//! every message published on a channel runs each component subscribed to it once, in a
//! fresh instance with the same isolation, limits and deadline as an HTTP request.
//! Components export `fermyon:spin/inbound-redis` (Spin 2/3 SDKs) or
//! `spin:redis/inbound-redis@3.0.0` (the current SDKs' WASIp3 `async` export).
//!
//! One connection per server address carries all its channels. It is opened from the
//! app's network (the pod's, in the shim) like every outbound connection, over TLS for a
//! `rediss://` address (verified against the roots of the first `[[client_tls]]` table
//! naming its host, the built-in roots otherwise); the address
//! is the app's own configuration, so it is not checked against any component's
//! `allowed_outbound_hosts` (as in Spin). A lost connection is reopened with back-off
//! (1 s doubling to 30 s, reset once subscribed again); a server refusing the
//! credentials fails the trigger for good, which stops the app with that reason.
//! Messages are taken one at a time and wait for a free instance
//! (`max_concurrent_instances`), so a flood is held back at the socket, not buffered; a
//! message larger than `SPIN_HTTP_MAX_REQUEST_BODY` is skipped with a log line.

mod subscriber;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use spin_app::LockedApp;
use spin_app::template::Template;

use super::delivery::{Handled, deliver, message_span, run_event};
use super::entry_point::{CompiledComponent, Wanted};
use super::run::Ended;
use super::settings::TriggerSettings;
use super::trigger_type::{AppValues, Trigger};
use crate::host::bindings::inbound_redis::InboundRedisComponentPre as Spin2Pre;
use crate::host::bindings::inbound_redis::exports::fermyon::spin::inbound_redis::Error as Spin2Error;
use crate::host::bindings::inbound_redis_current::InboundRedisComponentPre as CurrentPre;
use crate::host::redis::client::{RedisAddress, connect_stream};
use crate::host::state::RequestState;
use crate::network::ByteStream;
use crate::{PreparedApp, RuntimeError};
use subscriber::{Event, SubscribeError, Subscriber};

/// Longest a connect (resolve, TCP, TLS) to the trigger's server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const FIRST_RETRY: Duration = Duration::from_secs(1);
const LAST_RETRY: Duration = Duration::from_secs(30);

/// Every Redis subscription of an app, by server.
#[derive(Debug, Default)]
pub struct RedisTrigger {
    pub servers: Vec<RedisServer>,
}

/// One server the app subscribes to, and which components each channel runs.
pub struct RedisServer {
    /// `redis://host:port` or `rediss://host:port`, as logs show it (never the password).
    pub shown: String,
    address: RedisAddress,
    user: Option<String>,
    password: Option<String>,
    /// Channel to the components it runs, in trigger order.
    pub channels: BTreeMap<String, Vec<String>>,
}

const WANTED: Wanted = Wanted {
    component: "a Redis component",
    trigger: "Redis",
    exports: "`spin:redis/inbound-redis@3.0.0` (current SDKs) or `fermyon:spin/inbound-redis` (Spin 2/3 SDKs)",
};

impl Trigger for RedisTrigger {
    const TYPE: &'static str = "redis";
    type Handler = RedisHandler;
    type Error = RedisTriggerError;

    fn read(app: &LockedApp, values: &AppValues) -> Result<Option<Self>, RuntimeError> {
        let app_address = app.trigger_setting("redis", "address");
        let mut servers: Vec<RedisServer> = Vec::new();
        for trigger in app.triggers.iter().filter(|t| t.trigger_type == Self::TYPE) {
            let settings = TriggerSettings::read(app, trigger, "Redis", &["channel", "address"])?;
            let problem = |p: String| settings.problem(p);
            let text = |key: &str| settings.text(key);
            let component = settings.component.to_string();
            let render = |key: &str, template: &str| {
                Template::parse(template)
                    .and_then(|t| t.render(values))
                    .map_err(|e| problem(format!("`{key}`: {e}")))
            };
            let channel = text("channel")?.ok_or_else(|| {
                problem("has no `channel`; add one, like channel = \"messages\"".into())
            })?;
            let channel = render("channel", channel)?;
            if channel.is_empty() {
                return Err(problem("`channel` is empty".into()));
            }
            let address = text("address")?.or(app_address).ok_or_else(|| {
                problem(
                    "has no server: set `address` on the trigger or \
                         `[application.trigger.redis] address`, like \"redis://localhost:6379\""
                        .into(),
                )
            })?;
            let server = RedisServer::parse(&render("address", address)?).map_err(problem)?;
            let server = match servers.iter_mut().find(|s| s.same_server(&server)) {
                Some(existing) => existing,
                None => {
                    servers.push(server);
                    servers.last_mut().expect("just pushed")
                }
            };
            server.channels.entry(channel).or_default().push(component);
        }
        Ok((!servers.is_empty()).then_some(Self { servers }))
    }

    fn runs(&self, id: &str) -> bool {
        self.servers
            .iter()
            .any(|s| s.channels.values().flatten().any(|c| c == id))
    }

    fn describe(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for server in &self.servers {
            lines.push(format!("Subscribing to {}:", server.shown));
            for (channel, components) in &server.channels {
                lines.push(format!("  {channel}: {}", components.join(", ")));
            }
        }
        lines
    }

    /// `spin:redis/inbound-redis@3.0.0`, else `fermyon:spin/inbound-redis`.
    fn handler(component: &CompiledComponent<'_>) -> Result<RedisHandler, RuntimeError> {
        let exports = component.exports();
        let current = exports
            .iter()
            .any(|e| e == "spin:redis/inbound-redis@3.0.0");
        if !current && !exports.iter().any(|e| e == "fermyon:spin/inbound-redis") {
            return Err(component.lacks(&WANTED, &exports));
        }
        let pre = component.instantiate_pre()?;
        if current {
            CurrentPre::new(pre).map(RedisHandler::Current)
        } else {
            Spin2Pre::new(pre).map(RedisHandler::Spin2)
        }
        .map_err(|e| component.link_error(e))
    }

    /// Runs every subscription until one fails for good (its error). Messages being
    /// handled when the app stops finish on their own.
    async fn run(self: Arc<Self>, app: Arc<PreparedApp>) -> Result<Ended, RedisTriggerError> {
        let mut subscriptions = tokio::task::JoinSet::new();
        for index in 0..self.servers.len() {
            subscriptions.spawn(subscribe(app.clone(), self.clone(), index));
        }
        let ended = match subscriptions.join_next().await {
            Some(Ok(Err(e))) => e,
            Some(Err(join)) => RedisTriggerError {
                server: "(task)".into(),
                source: SubscribeError::Io(std::io::Error::other(join.to_string())),
            },
            Some(Ok(Ok(never))) => match never {},
            None => return std::future::pending().await,
        };
        Err(ended)
    }
}

impl std::fmt::Debug for RedisServer {
    /// Without the credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisServer")
            .field("shown", &self.shown)
            .field("channels", &self.channels)
            .finish_non_exhaustive()
    }
}

impl RedisServer {
    fn parse(address: &str) -> Result<Self, String> {
        let address =
            RedisAddress::parse(address).map_err(|problem| format!("`address`: {problem}"))?;
        let settings = address.info.redis_settings();
        Ok(Self {
            shown: address.shown(),
            user: settings.username().map(str::to_string),
            password: settings.password().map(str::to_string),
            address,
            channels: BTreeMap::new(),
        })
    }

    fn same_server(&self, other: &Self) -> bool {
        (&self.shown, &self.user, &self.password) == (&other.shown, &other.user, &other.password)
    }
}

/// Why the Redis trigger stopped for good.
#[derive(Debug, thiserror::Error)]
#[error("Redis trigger on {server}: {source}")]
pub struct RedisTriggerError {
    server: String,
    source: SubscribeError,
}

/// Keeps one server's subscription alive; returns only when it fails for good.
async fn subscribe(
    app: Arc<PreparedApp>,
    redis: Arc<RedisTrigger>,
    index: usize,
) -> Result<Infallible, RedisTriggerError> {
    let server = &redis.servers[index];
    let channels: Vec<String> = server.channels.keys().cloned().collect();
    let mut retry = FIRST_RETRY;
    loop {
        let failure = match connect(&app, server, &channels).await {
            Ok(mut subscriber) => {
                tracing::info!(server = %server.shown, ?channels, "Redis trigger subscribed");
                retry = FIRST_RETRY;
                loop {
                    match subscriber.next_or_ping().await {
                        Ok(event) => dispatch(&app, server, event).await,
                        Err(e) => break e,
                    }
                }
            }
            Err(e) => e,
        };
        if failure.is_permanent() {
            return Err(RedisTriggerError {
                server: server.shown.clone(),
                source: failure,
            });
        }
        tracing::warn!(server = %server.shown, "Redis trigger connection lost: {failure}; reconnecting in {retry:?}");
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(LAST_RETRY);
    }
}

async fn connect(
    app: &PreparedApp,
    server: &RedisServer,
    channels: &[String],
) -> Result<Subscriber<Box<dyn ByteStream>>, SubscribeError> {
    let connecting = async {
        let tls = app.config.client_tls.for_host(&server.address.host);
        let stream = connect_stream(&app.config.network, &server.address, &tls).await?;
        Subscriber::start(
            stream,
            server.user.as_deref(),
            server.password.as_deref(),
            channels,
            app.config.limits.max_request_body,
        )
        .await
    };
    tokio::time::timeout(CONNECT_TIMEOUT, connecting)
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
            )
            .into())
        })
}

/// Starts the components subscribed to a message's channel, each once an instance is
/// free.
async fn dispatch(app: &Arc<PreparedApp>, server: &RedisServer, event: Event) {
    let (channel, payload) = match event {
        Event::Control => return,
        Event::Oversized { channel, length } => {
            tracing::warn!(server = %server.shown, channel = %String::from_utf8_lossy(&channel), "message of {length} bytes skipped: larger than the limit of {} bytes (SPIN_HTTP_MAX_REQUEST_BODY)", app.config.limits.max_request_body);
            return;
        }
        Event::Message { channel, payload } => (channel, payload),
    };
    let Some(components) = std::str::from_utf8(&channel)
        .ok()
        .and_then(|c| server.channels.get(c))
    else {
        return;
    };
    let payload = Arc::new(payload);
    for id in components {
        let (component, payload) = (id.clone(), payload.clone());
        let channel: Arc<str> = String::from_utf8_lossy(&channel).into();
        deliver(app, id, move |app| {
            let (component, payload) = (component.clone(), payload.clone());
            let channel = channel.clone();
            async move { handle(&app, &component, &channel, payload).await }
        })
        .await;
    }
}

/// Runs one component for one message in a fresh instance.
async fn handle(app: &PreparedApp, id: &str, channel: &str, payload: Arc<Vec<u8>>) -> Handled {
    let event = message_span(app, "redis", channel);
    run_event::<RedisTrigger>(
        app,
        id,
        "a Redis message",
        event,
        async |pre, store| match pre {
            RedisHandler::Spin2(pre) => {
                let instance = pre.instantiate_async(&mut *store).await?;
                let handled = instance
                    .fermyon_spin_inbound_redis()
                    .call_handle_message(&mut *store, &payload)
                    .await?;
                Ok(handled.err().map(|e: Spin2Error| format!("{e:?}")))
            }
            RedisHandler::Current(pre) => {
                let instance = pre.instantiate_async(&mut *store).await?;
                let payload = payload.to_vec();
                let handled = store
                    .run_concurrent(async |accessor| {
                        instance
                            .spin_redis_inbound_redis()
                            .call_handle_message(accessor, payload)
                            .await
                    })
                    .await??;
                Ok(handled.err().map(|e| format!("{e:?}")))
            }
        },
    )
    .await
}

/// The pre-instantiated Redis handler of a component.
pub enum RedisHandler {
    /// `fermyon:spin/inbound-redis` (Spin 2/3 SDKs).
    Spin2(Spin2Pre<RequestState>),
    /// `spin:redis/inbound-redis@3.0.0` (the current SDKs, WASIp3).
    Current(CurrentPre<RequestState>),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(json: serde_json::Value) -> LockedApp {
        serde_json::from_value(json).unwrap()
    }

    fn locked(triggers: serde_json::Value, app_trigger: serde_json::Value) -> LockedApp {
        app(serde_json::json!({
            "spin_lock_version": 1,
            "metadata": { "name": "r", "triggers": { "redis": app_trigger } },
            "triggers": triggers,
            "components": [
                { "id": "a", "source": { "content_type": "application/wasm", "content": {} } },
                { "id": "b", "source": { "content_type": "application/wasm", "content": {} } }
            ]
        }))
    }

    #[test]
    fn channels_group_by_server_with_templates_resolved() {
        let app = locked(
            serde_json::json!([
                { "id": "t1", "trigger_type": "redis", "trigger_config": { "channel": "{{ topic }}", "component": "a" } },
                { "id": "t2", "trigger_type": "redis", "trigger_config": { "channel": "other", "component": "b" } },
                { "id": "t3", "trigger_type": "redis", "trigger_config": { "channel": "news", "component": "b" } },
                { "id": "t4", "trigger_type": "redis", "trigger_config": { "channel": "x", "component": "a", "address": "redis://:secret@10.0.0.9:7000" } },
                { "id": "h", "trigger_type": "http", "trigger_config": { "route": "/", "component": "a" } }
            ]),
            serde_json::json!({ "address": "redis://localhost" }),
        );
        let values = BTreeMap::from([("topic".to_string(), "news".to_string())]);
        let triggers = RedisTrigger::read(&app, &values).unwrap().unwrap();
        assert_eq!(triggers.servers.len(), 2);
        let first = &triggers.servers[0];
        assert_eq!(first.shown, "redis://localhost:6379");
        assert_eq!(first.channels["news"], ["a", "b"]);
        assert_eq!(first.channels["other"], ["b"]);
        let second = &triggers.servers[1];
        assert_eq!(second.shown, "redis://10.0.0.9:7000");
        assert_eq!(second.password.as_deref(), Some("secret"));
        assert!(!format!("{triggers:?}").contains("secret"));
        assert!(triggers.runs("a") && triggers.runs("b"));
    }

    #[test]
    fn a_channel_naming_a_variable_without_a_value_says_which_and_where() {
        let app = locked(
            serde_json::json!([{ "id": "t", "trigger_type": "redis", "trigger_config": { "channel": "{{ nope }}", "component": "a" } }]),
            serde_json::json!({ "address": "redis://h" }),
        );
        let err = RedisTrigger::read(&app, &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with("`channel`: refers to the undeclared application variable `nope`"),
            "{err}"
        );
    }

    #[test]
    fn bad_settings_name_the_trigger_and_the_fix() {
        for (config, app_trigger, expected) in [
            (
                serde_json::json!({ "channel": "c", "component": "a" }),
                serde_json::json!({}),
                "has no server",
            ),
            (
                serde_json::json!({ "component": "a" }),
                serde_json::json!({ "address": "redis://h" }),
                "has no `channel`",
            ),
            (
                serde_json::json!({ "channel": "c", "component": "zz" }),
                serde_json::json!({ "address": "redis://h" }),
                "component `zz`",
            ),
            (
                serde_json::json!({ "channel": "c", "component": "a", "chanel": "x" }),
                serde_json::json!({ "address": "redis://h" }),
                "unknown Redis trigger setting `chanel`",
            ),
            (
                serde_json::json!({ "channel": "c", "component": "a" }),
                serde_json::json!({ "address": "redis+unix:///run/redis.sock" }),
                "Unix sockets are not served",
            ),
            (
                serde_json::json!({ "channel": "{{ nope }}", "component": "a" }),
                serde_json::json!({ "address": "redis://h" }),
                "nope",
            ),
        ] {
            let app = locked(
                serde_json::json!([{ "id": "t", "trigger_type": "redis", "trigger_config": config }]),
                app_trigger,
            );
            let err = RedisTrigger::read(&app, &BTreeMap::new())
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("trigger `t`: "), "{err}");
            assert!(err.contains(expected), "{err}");
        }
    }
}
