//! Connections to the Redis servers guests name, and the commands Spin's Redis
//! interfaces run on them.
//!
//! An address is checked against the component's `allowed_outbound_hosts` (`redis://`
//! entries, port 6379 unless given) before anything is resolved; only plain
//! `redis://host:port[/db]` addresses are served (TLS and Unix sockets are refused as
//! invalid addresses). The server is the app's choice, so it is not trusted either: the
//! connect has a deadline, and a connection may read at most
//! `SPIN_OUTBOUND_MAX_RESPONSE_BODY` bytes in all, each value counted as the host will
//! hold it once parsed and nested at most 32 deep ([`crate::host::redis::resp_replies`]),
//! after which its commands fail.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{ConnectionAddr, IntoConnectionInfo, Value};

use crate::host::bindings::spin::fermyon::spin2_0_0::redis::{Error, RedisParameter, RedisResult};
use crate::host::outbound::{OutboundPolicy, shown_address};
use crate::host::read_budget::ReadBudget;
use crate::host::redis::resp_replies::RespReplies;
use crate::network::Network;

/// Longest a connect (resolve, TCP, handshake) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens a connection to `address` for a component with `policy`.
pub async fn connect(
    address: &str,
    policy: &OutboundPolicy,
) -> Result<MultiplexedConnection, Error> {
    let info = address
        .into_connection_info()
        .map_err(|_| Error::InvalidAddress)?;
    let (host, port) = match info.addr() {
        ConnectionAddr::Tcp(host, port) => (host.clone(), *port),
        _ => {
            tracing::warn!("Redis address refused: only redis://host:port addresses are served");
            return Err(Error::InvalidAddress);
        }
    };
    // Only the scheme, host and port reach the check and the log (never a password).
    let shown = shown_address("redis", &host, port);
    // Denied as Spin denies it (`invalid-address`); the log names the entry to add.
    if policy.allows_address(&shown) != Some(true) {
        return Err(Error::InvalidAddress);
    }
    open(
        &policy.network,
        &info,
        &host,
        port,
        &shown,
        policy.max_response_body,
    )
    .await
}

/// The address a parsed connection info names, when it is plain TCP.
pub fn tcp_address(info: &redis::ConnectionInfo) -> Option<(String, u16)> {
    match info.addr() {
        ConnectionAddr::Tcp(host, port) => Some((host.clone(), *port)),
        _ => None,
    }
}

/// Connects (within [`CONNECT_TIMEOUT`]) to an address already checked; the
/// connection reads at most `max_read` bytes. `shown` names it in errors.
pub async fn open(
    network: &Network,
    info: &redis::ConnectionInfo,
    host: &str,
    port: u16,
    shown: &str,
    max_read: u64,
) -> Result<MultiplexedConnection, Error> {
    let connecting = async {
        let stream = network.connect(host, port).await?;
        let _ = stream.set_nodelay(true);
        let capped =
            ReadBudget::checked(stream, max_read, "the Redis server", RespReplies::default());
        let (conn, driver) = MultiplexedConnection::new_with_config(
            info.redis_settings(),
            capped,
            redis::AsyncConnectionConfig::default(),
        )
        .await
        .map_err(std::io::Error::other)?;
        // The driver ends when the last handle to the connection is dropped.
        tokio::spawn(driver);
        Ok::<_, std::io::Error>(conn)
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(Error::Other(format!("cannot connect to {shown}: {e}"))),
        Err(_) => Err(Error::Other(format!(
            "cannot connect to {shown}: no answer within {} s",
            CONNECT_TIMEOUT.as_secs()
        ))),
    }
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
    async fn only_allowed_plain_redis_addresses_are_connected() {
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
}
