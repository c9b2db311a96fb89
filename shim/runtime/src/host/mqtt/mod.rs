//! Spin's outbound MQTT interfaces: `fermyon:spin/mqtt@2.0.0` (spin-sdk 3.x) and
//! `spin:mqtt/mqtt@3.0.0` (current SDKs): open a connection to a broker, publish.
//!
//! An address is `mqtt://host[:port][?client_id=ID]` (port 1883 unless given; without a
//! client id one is made up) or `mqtts://...` for TLS (port 8883, see [`broker`]),
//! checked against `allowed_outbound_hosts` (`mqtt://` or `mqtts://` entries) before
//! anything is resolved; a denied one gets `connection-failed` naming it, as in Spin,
//! and a log line naming the entry to add. The connection is MQTT 3.1.1, made at `open`
//! (10 s deadline); `publish` returns once the broker
//! has taken the message as its QoS says (sent for at-most-once, `PUBACK` for
//! at-least-once, `PUBCOMP` for exactly-once), within 10 s. Packets from the broker are
//! bounded (64 KiB), and a request may hold at most [`MAX_MQTT_CONNECTIONS`].

pub mod broker;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, Outgoing, Packet, QoS};
use tokio::sync::Mutex;
use wasmtime::component::{Accessor, HasData, Linker, Resource};

use crate::host::bindings::current::spin::mqtt::mqtt as v3;
use crate::host::bindings::spin::fermyon::spin2_0_0::mqtt::{self as v2, Error, Qos};
use crate::host::capability::{CapabilityView, HostCapability};
use crate::host::capped_table::CappedTable;
use crate::host::outbound::OutboundPolicy;
use crate::network::Network;
use crate::telemetry::TraceSpan;
use broker::BrokerAddress;
use opentelemetry::trace::SpanKind;

/// Most MQTT connections one instance may hold.
pub const MAX_MQTT_CONNECTIONS: usize = 8;
/// Longest a connect or a publish may take.
const DEADLINE: Duration = Duration::from_secs(10);
/// Largest packet accepted from a broker (the client only receives acknowledgements).
const MAX_INCOMING_PACKET: usize = 64 << 10;

/// A connection the guest opened.
pub struct OpenMqtt {
    session: Arc<Mutex<Session>>,
}

impl std::fmt::Debug for OpenMqtt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpenMqtt")
    }
}

struct Session {
    client: AsyncClient,
    events: EventLoop,
    /// `mqtt://host:port` or `mqtts://host:port`, for messages.
    shown: String,
    /// Where the connection (and any reconnect) is made; every poll runs there.
    network: Network,
}

/// Connects to `address` for a component with `policy`.
async fn connect(
    address: &str,
    username: String,
    password: String,
    keep_alive_secs: u64,
    policy: &OutboundPolicy,
    max_outgoing: usize,
) -> Result<Session, Error> {
    let url = url::Url::parse(address).map_err(|_| Error::InvalidAddress)?;
    let broker = BrokerAddress::parse(&url).map_err(|problem| {
        tracing::warn!("MQTT address refused: {problem}");
        Error::InvalidAddress
    })?;
    let shown = broker.shown();
    if !policy.allows_address(&shown).ok_or(Error::InvalidAddress)? {
        return Err(Error::ConnectionFailed(format!(
            "address {shown} is not permitted"
        )));
    }
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let client_id = url
        .query_pairs()
        .find(|(k, _)| k == "client_id")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| {
            format!(
                "spin-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            )
        });
    let network = policy.network.clone();
    let tls = policy.tls.for_host(&broker.host);
    let mut options = broker
        .options(client_id, &network, &tls)
        .await
        .map_err(|e| Error::ConnectionFailed(format!("{shown}: {e}")))?;
    options.set_keep_alive(Duration::from_secs(keep_alive_secs.clamp(1, 65_535)));
    options.set_max_packet_size(MAX_INCOMING_PACKET, max_outgoing);
    if !username.is_empty() || !password.is_empty() {
        options.set_credentials(username, password);
    }
    let (client, mut events) = AsyncClient::new(options, 16);
    let connecting = network.run(async move {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => return Ok(events),
                Ok(_) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    });
    let connected = tokio::time::timeout(DEADLINE, connecting)
        .await
        .map(|ran| ran.map_err(|e| e.to_string()).and_then(|r| r));
    match connected {
        Ok(Ok(events)) => Ok(Session {
            client,
            events,
            shown,
            network,
        }),
        Ok(Err(e)) => Err(Error::ConnectionFailed(format!(
            "{shown}: {}",
            explain_failure(&e)
        ))),
        Err(_) => Err(Error::ConnectionFailed(format!(
            "{shown}: no answer within {} s",
            DEADLINE.as_secs()
        ))),
    }
}

/// A connection failure as a user reads it (a TLS one says what to do about it).
pub fn explain_failure(failure: &str) -> String {
    if failure.contains("certificate") || failure.contains("Tls") || failure.contains("TLS") {
        crate::tls::explain(failure)
    } else {
        failure.to_string()
    }
}

/// Publishes and drives the connection (on its network) until the broker has taken
/// the message.
async fn publish(
    session: Arc<Mutex<Session>>,
    topic: String,
    payload: Vec<u8>,
    qos: Qos,
) -> Result<(), Error> {
    let session = session.lock_owned().await;
    let network = session.network.clone();
    network
        .run(publish_on(session, topic, payload, qos))
        .await
        .map_err(|e| Error::Other(e.to_string()))?
}

async fn publish_on(
    mut session: tokio::sync::OwnedMutexGuard<Session>,
    topic: String,
    payload: Vec<u8>,
    qos: Qos,
) -> Result<(), Error> {
    let qos = match qos {
        Qos::AtMostOnce => QoS::AtMostOnce,
        Qos::AtLeastOnce => QoS::AtLeastOnce,
        Qos::ExactlyOnce => QoS::ExactlyOnce,
    };
    session
        .client
        .publish(topic, qos, false, payload)
        .await
        .map_err(|e| Error::Other(e.to_string()))?;
    let shown = session.shown.clone();
    let done = tokio::time::timeout(DEADLINE, async {
        loop {
            let event = session.events.poll().await.map_err(|e| e.to_string())?;
            let finished = matches!(
                (qos, event),
                (QoS::AtMostOnce, Event::Outgoing(Outgoing::Publish(_)))
                    | (QoS::AtLeastOnce, Event::Incoming(Packet::PubAck(_)))
                    | (QoS::ExactlyOnce, Event::Incoming(Packet::PubComp(_)))
            );
            if finished {
                return Ok::<_, String>(());
            }
        }
    })
    .await;
    match done {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Error::ConnectionFailed(format!("{shown}: {e}"))),
        Err(_) => Err(Error::Other(format!(
            "{shown}: the broker did not take the message within {} s",
            DEADLINE.as_secs()
        ))),
    }
}

/// One instance's broker connections.
#[derive(Debug, Default)]
pub struct MqttHandles {
    connections: CappedTable<OpenMqtt, MAX_MQTT_CONNECTIONS>,
}

/// MQTT: `fermyon:spin/mqtt@2.0.0` and `spin:mqtt/mqtt@3.0.0`.
pub struct Mqtt;

pub type MqttView<'a> = CapabilityView<'a, OutboundPolicy, MqttHandles>;

impl HasData for Mqtt {
    type Data<'a> = MqttView<'a>;
}

impl HostCapability for Mqtt {
    type Grant = OutboundPolicy;
    type Handles = MqttHandles;

    fn add_to_linker<T: Send + 'static>(
        linker: &mut Linker<T>,
        view: fn(&mut T) -> MqttView<'_>,
    ) -> wasmtime::Result<()> {
        v2::add_to_linker::<T, Self>(linker, view)?;
        v3::add_to_linker::<T, Self>(linker, view)
    }
}

impl MqttView<'_> {
    fn mqtt_room(&self) -> Result<(), Error> {
        if self.handles.connections.is_full() {
            return Err(Error::TooManyConnections);
        }
        Ok(())
    }

    /// Hands a new session to the guest, or ends it when the instance already holds as
    /// many as it may (another was opened while this one connected).
    fn keep_mqtt<R: 'static>(&mut self, session: Session) -> Result<Resource<R>, Error> {
        let open = OpenMqtt {
            session: Arc::new(Mutex::new(session)),
        };
        self.handles
            .connections
            .push(open)
            .map_err(|_| Error::TooManyConnections)
    }

    fn mqtt_of<R: 'static>(&self, conn: &Resource<R>) -> wasmtime::Result<Arc<Mutex<Session>>> {
        Ok(self.handles.connections.get(conn)?.session.clone())
    }

    fn close_mqtt<R: 'static>(&mut self, conn: Resource<R>) -> wasmtime::Result<()> {
        self.handles.connections.remove(conn).map(drop)
    }

    /// The span of one call (`spin_outbound_mqtt.publish`, ...), under the instance's
    /// trace.
    fn traced(&self, name: &'static str) -> TraceSpan {
        self.trace.span(name, SpanKind::Client, || {
            vec![opentelemetry::KeyValue::new("messaging.system", "mqtt")]
        })
    }
}

impl v2::Host for MqttView<'_> {}

impl v2::HostConnection for MqttView<'_> {
    async fn open(
        &mut self,
        address: String,
        username: String,
        password: String,
        keep_alive_interval_in_secs: u64,
    ) -> wasmtime::Result<Result<Resource<v2::Connection>, Error>> {
        if let Err(e) = self.mqtt_room() {
            return Ok(Err(e));
        }
        let connecting = connect(
            &address,
            username,
            password,
            keep_alive_interval_in_secs,
            self.grant,
            self.grant.max_reply,
        );
        let session = self
            .traced("spin_outbound_mqtt.open_connection")
            .around(connecting)
            .await;
        Ok(session.and_then(|session| self.keep_mqtt(session)))
    }

    async fn publish(
        &mut self,
        conn: Resource<v2::Connection>,
        topic: String,
        payload: Vec<u8>,
        qos: Qos,
    ) -> wasmtime::Result<Result<(), Error>> {
        let publishing = publish(self.mqtt_of(&conn)?, topic, payload, qos);
        Ok(self
            .traced("spin_outbound_mqtt.publish")
            .around(publishing)
            .await)
    }

    async fn drop(&mut self, conn: Resource<v2::Connection>) -> wasmtime::Result<()> {
        self.close_mqtt(conn)
    }
}

impl From<Error> for v3::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::InvalidAddress => v3::Error::InvalidAddress,
            Error::TooManyConnections => v3::Error::TooManyConnections,
            Error::ConnectionFailed(m) => v3::Error::ConnectionFailed(m),
            Error::Other(m) => v3::Error::Other(m),
        }
    }
}

impl From<v3::Qos> for Qos {
    fn from(q: v3::Qos) -> Self {
        match q {
            v3::Qos::AtMostOnce => Qos::AtMostOnce,
            v3::Qos::AtLeastOnce => Qos::AtLeastOnce,
            v3::Qos::ExactlyOnce => Qos::ExactlyOnce,
        }
    }
}

impl v3::Host for MqttView<'_> {}

impl v3::HostConnection for MqttView<'_> {
    async fn drop(&mut self, conn: Resource<v3::Connection>) -> wasmtime::Result<()> {
        self.close_mqtt(conn)
    }
}

impl<T: Send> v3::HostConnectionWithStore<T> for Mqtt {
    async fn open(
        accessor: &Accessor<T, Self>,
        address: String,
        username: String,
        password: String,
        keep_alive_interval_in_secs: u64,
    ) -> wasmtime::Result<Result<Resource<v3::Connection>, v3::Error>> {
        let (room, policy, span) = accessor.with(|mut access| {
            let view = access.get();
            let span = view.traced("spin_outbound_mqtt.open_connection");
            (view.mqtt_room(), view.grant.clone(), span)
        });
        if let Err(e) = room {
            return Ok(Err(e.into()));
        }
        let connecting = connect(
            &address,
            username,
            password,
            keep_alive_interval_in_secs,
            &policy,
            policy.max_reply,
        );
        let session = span.around(connecting).await;
        Ok(session
            .and_then(|session| accessor.with(|mut access| access.get().keep_mqtt(session)))
            .map_err(Into::into))
    }

    async fn publish(
        accessor: &Accessor<T, Self>,
        conn: Resource<v3::Connection>,
        topic: String,
        payload: Vec<u8>,
        qos: v3::Qos,
    ) -> wasmtime::Result<Result<(), v3::Error>> {
        let (session, span) = accessor.with(|mut access| {
            let view = access.get();
            let span = view.traced("spin_outbound_mqtt.publish");
            view.mqtt_of(&conn).map(|s| (s, span))
        })?;
        Ok(span
            .around(publish(session, topic, payload, qos.into()))
            .await
            .map_err(Into::into))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_allowed_mqtt_addresses_are_connected() {
        let policy = OutboundPolicy::new(
            "c",
            &["mqtt://127.0.0.1:*".to_string()],
            &Default::default(),
            1 << 20,
            Network::Process,
        )
        .unwrap();
        let open = |address: &'static str| {
            let policy = policy.clone();
            async move { connect(address, "u".into(), "hunter2".into(), 5, &policy, 1 << 20).await }
        };
        for address in ["ws://127.0.0.1", "not a url"] {
            assert!(
                matches!(open(address).await, Err(Error::InvalidAddress)),
                "{address}"
            );
        }
        match open("mqtt://example.com:1883").await {
            Err(Error::ConnectionFailed(m)) => {
                assert_eq!(m, "address mqtt://example.com:1883 is not permitted")
            }
            _ => panic!("a host not allowed was connected"),
        }
        match open("mqtts://127.0.0.1").await {
            Err(Error::ConnectionFailed(m)) => {
                assert_eq!(m, "address mqtts://127.0.0.1:8883 is not permitted")
            }
            _ => panic!("a TLS address allowed only in the clear was connected"),
        }
        // Allowed, but nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let address: &'static str = format!("mqtt://127.0.0.1:{port}?client_id=t").leak();
        match open(address).await {
            Err(Error::ConnectionFailed(m)) => {
                assert!(m.starts_with(&format!("mqtt://127.0.0.1:{port}: ")), "{m}");
                assert!(!m.contains("hunter2"), "{m}");
            }
            _ => panic!("connected to nothing"),
        }
    }
}
