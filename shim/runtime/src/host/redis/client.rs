//! Connections to the Redis servers guests name, and the commands Spin's Redis
//! interfaces run on them.
//!
//! An address is checked against the component's `allowed_outbound_hosts` (`redis://`
//! or `rediss://` entries, port 6379 unless given) before anything is resolved.
//! `redis://host:port[/db]` is served in the clear and `rediss://host:port[/db]` over
//! TLS, verified against the component's roots ([`crate::tls`]); verification cannot be
//! turned off (`#insecure` is refused) and Unix sockets are refused as invalid
//! addresses. The server is the app's choice, so it is not trusted either: the connect
//! has a deadline, and a connection may read at most `SPIN_OUTBOUND_MAX_RESPONSE_BODY`
//! bytes in all, each value counted as the host will hold it once parsed and nested at
//! most 32 deep ([`crate::host::redis::resp_replies`]), after which its commands fail.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, Value};

use crate::host::bindings::spin::fermyon::spin2_0_0::redis::{Error, RedisParameter, RedisResult};
use crate::host::outbound::{OutboundPolicy, shown_address};
use crate::host::read_budget::ReadBudget;
use crate::host::redis::resp_replies::RespReplies;
use crate::network::{ByteStream, Network};
use crate::tls::TlsClient;

/// Longest a connect (resolve, TCP, handshake) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A Redis server as an app names it: `redis://[user:password@]host[:port][/db]`, or
/// `rediss://...` for TLS.
#[derive(Clone)]
pub struct RedisAddress {
    /// The database, user and password (and the address in the clear form).
    pub info: ConnectionInfo,
    pub host: String,
    pub port: u16,
    pub tls: bool,
}

impl std::fmt::Debug for RedisAddress {
    /// Without the credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown())
    }
}

impl RedisAddress {
    /// Parses `address`; the error says what is wrong without quoting it (it may hold a
    /// password).
    pub fn parse(address: &str) -> Result<Self, &'static str> {
        let (clear, tls) = match address.get(..9) {
            Some(scheme) if scheme.eq_ignore_ascii_case("rediss://") => {
                if address.contains('#') {
                    return Err("TLS certificate verification cannot be turned off \
                        (`#insecure`); trust the server's CA with a [[client_tls]] table \
                        in the runtime config instead");
                }
                (format!("redis://{}", &address[9..]), true)
            }
            _ => (address.to_string(), false),
        };
        let info = clear.as_str().into_connection_info().map_err(|_| {
            "not a Redis address; use redis://[user:password@]host[:port][/db], \
             or rediss://... for TLS"
        })?;
        match info.addr() {
            ConnectionAddr::Tcp(host, port) => Ok(Self {
                host: host.clone(),
                port: *port,
                info,
                tls,
            }),
            _ => Err("Unix sockets are not served; use redis://host:port or rediss://host:port"),
        }
    }

    /// `redis://host:port` or `rediss://host:port`: what `allowed_outbound_hosts` is
    /// checked against and what messages name (never a password).
    pub fn shown(&self) -> String {
        shown_address(
            if self.tls { "rediss" } else { "redis" },
            &self.host,
            self.port,
        )
    }
}

/// Opens a connection to `address` for a component with `policy`.
pub async fn connect(
    address: &str,
    policy: &OutboundPolicy,
) -> Result<MultiplexedConnection, Error> {
    let address = RedisAddress::parse(address).map_err(|problem| {
        tracing::warn!("Redis address refused: {problem}");
        Error::InvalidAddress
    })?;
    // Denied as Spin denies it (`invalid-address`); the log names the entry to add.
    if policy.allows_address(&address.shown()) != Some(true) {
        return Err(Error::InvalidAddress);
    }
    let tls = policy.tls.for_host(&address.host);
    open(&policy.network, &address, &tls, policy.max_response_body).await
}

/// Connects (within [`CONNECT_TIMEOUT`]) to an address already checked, over TLS with
/// `tls` when the address asks for it; the connection reads at most `max_read` bytes.
pub async fn open(
    network: &Network,
    address: &RedisAddress,
    tls: &TlsClient,
    max_read: u64,
) -> Result<MultiplexedConnection, Error> {
    let connecting = async {
        let stream = connect_stream(network, address, tls).await?;
        let capped =
            ReadBudget::checked(stream, max_read, "the Redis server", RespReplies::default());
        let (conn, driver) = MultiplexedConnection::new_with_config(
            address.info.redis_settings(),
            capped,
            redis::AsyncConnectionConfig::default(),
        )
        .await
        .map_err(std::io::Error::other)?;
        // The driver ends when the last handle to the connection is dropped.
        tokio::spawn(driver);
        Ok::<_, std::io::Error>(conn)
    };
    let shown = address.shown();
    match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => {
            let failure = e.to_string();
            let failure = crate::tls::advice(&failure).unwrap_or(failure);
            Err(Error::Other(format!(
                "cannot connect to {shown}: {failure}"
            )))
        }
        Err(_) => Err(Error::Other(format!(
            "cannot connect to {shown}: no answer within {} s",
            CONNECT_TIMEOUT.as_secs()
        ))),
    }
}

/// The TCP connection to `address`, inside TLS when the address asks for it.
pub async fn connect_stream(
    network: &Network,
    address: &RedisAddress,
    tls: &TlsClient,
) -> std::io::Result<Box<dyn ByteStream>> {
    let tcp = network.connect(&address.host, address.port).await?;
    let _ = tcp.set_nodelay(true);
    Ok(if address.tls {
        Box::new(tls.connect(&address.host, tcp, &[]).await?)
    } else {
        Box::new(tcp)
    })
}

/// A command's failure as Spin's error: a wrong type is `type-error`.
fn error(e: redis::RedisError) -> Error {
    let text = e.to_string();
    if e.kind() == redis::ErrorKind::UnexpectedReturnType
        || text.contains("WRONGTYPE")
        || text.contains("not an integer")
    {
        Error::TypeError
    } else {
        Error::Other(text)
    }
}

async fn run<T: redis::FromRedisValue>(
    conn: &mut MultiplexedConnection,
    cmd: &redis::Cmd,
) -> Result<T, Error> {
    cmd.query_async(conn).await.map_err(error)
}

pub async fn publish(
    mut conn: MultiplexedConnection,
    channel: String,
    payload: Vec<u8>,
) -> Result<(), Error> {
    let _: i64 = run(&mut conn, redis::cmd("PUBLISH").arg(channel).arg(payload)).await?;
    Ok(())
}

pub async fn get(mut conn: MultiplexedConnection, key: String) -> Result<Option<Vec<u8>>, Error> {
    run(&mut conn, redis::cmd("GET").arg(key)).await
}

pub async fn set(
    mut conn: MultiplexedConnection,
    key: String,
    value: Vec<u8>,
) -> Result<(), Error> {
    run(&mut conn, redis::cmd("SET").arg(key).arg(value)).await
}

pub async fn incr(mut conn: MultiplexedConnection, key: String) -> Result<i64, Error> {
    run(&mut conn, redis::cmd("INCR").arg(key)).await
}

pub async fn del(mut conn: MultiplexedConnection, keys: Vec<String>) -> Result<u32, Error> {
    run(&mut conn, redis::cmd("DEL").arg(keys)).await
}

pub async fn sadd(
    mut conn: MultiplexedConnection,
    key: String,
    values: Vec<String>,
) -> Result<u32, Error> {
    run(&mut conn, redis::cmd("SADD").arg(key).arg(values)).await
}

pub async fn smembers(mut conn: MultiplexedConnection, key: String) -> Result<Vec<String>, Error> {
    run(&mut conn, redis::cmd("SMEMBERS").arg(key)).await
}

pub async fn srem(
    mut conn: MultiplexedConnection,
    key: String,
    values: Vec<String>,
) -> Result<u32, Error> {
    run(&mut conn, redis::cmd("SREM").arg(key).arg(values)).await
}

/// Any command; the reply flattened into Spin's result list (arrays, sets and maps
/// item by item, as Spin does).
pub async fn execute(
    mut conn: MultiplexedConnection,
    command: String,
    arguments: Vec<RedisParameter>,
) -> Result<Vec<RedisResult>, Error> {
    let mut cmd = redis::cmd(&command);
    for argument in arguments {
        match argument {
            RedisParameter::Int64(n) => cmd.arg(n),
            RedisParameter::Binary(bytes) => cmd.arg(bytes),
        };
    }
    let value: Value = run(&mut conn, &cmd).await?;
    let mut results = Vec::new();
    flatten(value, &mut results);
    Ok(results)
}

fn flatten(value: Value, out: &mut Vec<RedisResult>) {
    match value {
        Value::Nil => out.push(RedisResult::Nil),
        Value::Int(n) => out.push(RedisResult::Int64(n)),
        Value::BulkString(bytes) => out.push(RedisResult::Binary(bytes)),
        Value::SimpleString(s) => out.push(RedisResult::Status(s)),
        Value::Okay => out.push(RedisResult::Status("OK".into())),
        Value::Array(items) | Value::Set(items) => {
            items.into_iter().for_each(|v| flatten(v, out));
        }
        Value::Map(pairs) => pairs.into_iter().for_each(|(k, v)| {
            flatten(k, out);
            flatten(v, out);
        }),
        Value::VerbatimString { text, .. } => out.push(RedisResult::Binary(text.into_bytes())),
        Value::Double(d) => out.push(RedisResult::Status(d.to_string())),
        Value::Boolean(b) => out.push(RedisResult::Int64(i64::from(b))),
        Value::BigNumber(n) => out.push(RedisResult::Binary(n)),
        other => out.push(RedisResult::Status(format!("{other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_allowed_redis_addresses_are_connected() {
        let policy = OutboundPolicy::new(
            "c",
            &["redis://127.0.0.1:*".to_string()],
            &Default::default(),
            1 << 20,
            Network::Process,
        )
        .unwrap();
        for address in [
            "redis://example.com:6379",
            "redis://:hunter2@10.0.0.1",
            "rediss://127.0.0.1:6380",
            "rediss://127.0.0.1:6380/#insecure",
            "redis+unix:///run/redis.sock",
            "not a url",
        ] {
            assert!(
                matches!(connect(address, &policy).await, Err(Error::InvalidAddress)),
                "{address}"
            );
        }
        // Allowed, but nothing listens there: the error says so, without a password.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        match connect(&format!("redis://:hunter2@127.0.0.1:{port}"), &policy).await {
            Err(Error::Other(m)) => {
                assert!(m.contains("cannot connect to redis://127.0.0.1"), "{m}");
                assert!(!m.contains("hunter2"), "{m}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn addresses_say_whether_they_use_tls() {
        let clear = RedisAddress::parse("redis://:pw@db:6380/2").unwrap();
        assert_eq!(
            (clear.host.as_str(), clear.port, clear.tls),
            ("db", 6380, false)
        );
        assert_eq!(clear.info.redis_settings().db(), 2);
        assert_eq!(format!("{clear:?}"), "redis://db:6380");
        let tls = RedisAddress::parse("REDISS://user:pw@db/1").unwrap();
        assert_eq!((tls.port, tls.tls), (6379, true));
        assert_eq!(tls.info.redis_settings().username(), Some("user"));
        assert_eq!(tls.shown(), "rediss://db:6379");
        assert!(
            RedisAddress::parse("rediss://db/#insecure")
                .unwrap_err()
                .contains("[[client_tls]]")
        );
        assert!(
            RedisAddress::parse("redis+unix:///run/r.sock")
                .unwrap_err()
                .contains("Unix")
        );
        assert!(RedisAddress::parse("http://db").is_err());
    }
}
