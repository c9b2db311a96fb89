//! Where a key-value store keeps its data: SQLite ([`KeyValueDb`], on Tokio's blocking
//! threads) or a Redis server named by the runtime config file (`type = "redis"`).
//!
//! A Redis store is shared by every request of the app: one multiplexed connection,
//! opened at first use and again after it fails (a server restart costs the requests in
//! flight, not the app). Keys are the server's own (no label prefix, as in Spin: give
//! stores that must not share keys their own database, `redis://host/N`). The URL comes
//! from whoever wrote the runtime config, not from a guest, so `allowed_outbound_hosts`
//! does not apply; the server is still untrusted: a connection reads at most
//! `SPIN_OUTBOUND_MAX_RESPONSE_BODY` bytes before it is replaced. A `rediss://` URL is
//! reached over TLS, verified against the roots of the first `[[client_tls]]` table
//! naming its host (the built-in roots otherwise).

use std::sync::Arc;

use redis::aio::MultiplexedConnection;

use crate::host::bindings::spin::fermyon::spin2_0_0::key_value::Error;
use crate::host::key_value::KeyValueDb;
use crate::host::redis::client::{self as redis_client, RedisAddress};
use crate::network::Network;
use crate::tls::{ClientTls, TlsClient};

/// Compare-and-swap on Redis: sets `KEYS[1]` to `ARGV[2]` if it holds `ARGV[1]`.
const SWAP_IF_EQUAL: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
     redis.call('SET', KEYS[1], ARGV[2]) return 1 else return 0 end";

/// One store's backend.
#[derive(Debug)]
pub enum KeyValueBackend {
    Sqlite(Arc<KeyValueDb>),
    Redis(Box<RedisKeyValue>),
}

/// A key-value store on a Redis server.
pub struct RedisKeyValue {
    address: RedisAddress,
    tls: Arc<TlsClient>,
    /// `redis://host:port` or `rediss://host:port`, for messages.
    shown: String,
    max_read: u64,
    network: Network,
    conn: tokio::sync::Mutex<Option<MultiplexedConnection>>,
}

impl std::fmt::Debug for RedisKeyValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RedisKeyValue({})", self.shown)
    }
}

impl RedisKeyValue {
    /// Checks `url` (never quoted back: it may hold a password); connects at first use,
    /// over TLS with the roots `client_tls` gives its host when the URL is `rediss://`.
    pub fn new(
        url: &str,
        client_tls: &ClientTls,
        max_read: u64,
        network: Network,
    ) -> Result<Self, String> {
        let address = RedisAddress::parse(url).map_err(|problem| format!("`url`: {problem}"))?;
        Ok(Self {
            shown: address.shown(),
            tls: client_tls.for_host(&address.host),
            address,
            max_read,
            network,
            conn: tokio::sync::Mutex::new(None),
        })
    }

    async fn connection(&self) -> Result<MultiplexedConnection, Error> {
        let mut conn = self.conn.lock().await;
        if let Some(c) = conn.as_ref() {
            return Ok(c.clone());
        }
        let opened = redis_client::open(&self.network, &self.address, &self.tls, self.max_read)
            .await
            .map_err(|e| Error::Other(format!("key-value store on {}: {e:?}", self.shown)))?;
        *conn = Some(opened.clone());
        Ok(opened)
    }

    /// Runs a command; a connection that failed is dropped so the next call reconnects.
    async fn run<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, Error> {
        let mut conn = self.connection().await?;
        match cmd.query_async(&mut conn).await {
            Ok(value) => Ok(value),
            Err(e) => {
                if e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error() {
                    self.conn.lock().await.take();
                }
                tracing::error!(store = %self.shown, error = %e, "key-value operation failed");
                Err(Error::Other(e.to_string()))
            }
        }
    }
}

/// Runs `op` on a SQLite database on a blocking thread.
async fn on_sqlite<T: Send + 'static>(
    db: &Arc<KeyValueDb>,
    label: String,
    op: impl FnOnce(&KeyValueDb, &str) -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    let db = db.clone();
    tokio::task::spawn_blocking(move || op(&db, &label))
        .await
        .map_err(|e| Error::Other(e.to_string()))?
}

impl KeyValueBackend {
    pub async fn get(
        self: Arc<Self>,
        label: String,
        key: String,
    ) -> Result<Option<Vec<u8>>, Error> {
        match &*self {
            KeyValueBackend::Sqlite(db) => on_sqlite(db, label, move |db, l| db.get(l, &key)).await,
            KeyValueBackend::Redis(r) => r.run(redis::cmd("GET").arg(key)).await,
        }
    }

    pub async fn set(
        self: Arc<Self>,
        label: String,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), Error> {
        match &*self {
            KeyValueBackend::Sqlite(db) => {
                on_sqlite(db, label, move |db, l| db.set(l, &key, &value)).await
            }
            KeyValueBackend::Redis(r) => r.run(redis::cmd("SET").arg(key).arg(value)).await,
        }
    }

    pub async fn delete(self: Arc<Self>, label: String, key: String) -> Result<(), Error> {
        match &*self {
            KeyValueBackend::Sqlite(db) => {
                on_sqlite(db, label, move |db, l| db.delete(l, &key)).await
            }
            KeyValueBackend::Redis(r) => {
                let _: i64 = r.run(redis::cmd("DEL").arg(key)).await?;
                Ok(())
            }
        }
    }

    pub async fn exists(self: Arc<Self>, label: String, key: String) -> Result<bool, Error> {
        match &*self {
            KeyValueBackend::Sqlite(db) => {
                on_sqlite(db, label, move |db, l| db.exists(l, &key)).await
            }
            KeyValueBackend::Redis(r) => r.run(redis::cmd("EXISTS").arg(key)).await,
        }
    }

    /// Every key, sorted (a Redis store: the server's keys, read with `KEYS *` within the
    /// connection's read budget).
    pub async fn keys(self: Arc<Self>, label: String) -> Result<Vec<String>, Error> {
        match &*self {
            KeyValueBackend::Sqlite(db) => on_sqlite(db, label, |db, l| db.keys(l)).await,
            KeyValueBackend::Redis(r) => {
                let mut keys: Vec<String> = r.run(redis::cmd("KEYS").arg("*")).await?;
                keys.sort();
                Ok(keys)
            }
        }
    }

    pub async fn increment(
        self: Arc<Self>,
        label: String,
        key: String,
        delta: i64,
    ) -> Result<i64, Error> {
        match &*self {
            KeyValueBackend::Sqlite(db) => {
                on_sqlite(db, label, move |db, l| db.increment(l, &key, delta)).await
            }
            KeyValueBackend::Redis(r) => r.run(redis::cmd("INCRBY").arg(key).arg(delta)).await,
        }
    }

    /// Sets the key to `value` if it still holds `expected` (`None`: absent); whether
    /// it did.
    pub async fn compare_and_swap(
        self: Arc<Self>,
        label: String,
        key: String,
        expected: Option<Vec<u8>>,
        value: Vec<u8>,
    ) -> Result<bool, Error> {
        match &*self {
            KeyValueBackend::Sqlite(db) => {
                on_sqlite(db, label, move |db, l| {
                    db.compare_and_swap(l, &key, expected.as_deref(), &value)
                })
                .await
            }
            KeyValueBackend::Redis(r) => match expected {
                None => {
                    let set: Option<String> = r
                        .run(redis::cmd("SET").arg(key).arg(value).arg("NX"))
                        .await?;
                    Ok(set.is_some())
                }
                Some(expected) => {
                    let swapped: i64 = r
                        .run(
                            redis::cmd("EVAL")
                                .arg(SWAP_IF_EQUAL)
                                .arg(1)
                                .arg(key)
                                .arg(expected)
                                .arg(value),
                        )
                        .await?;
                    Ok(swapped == 1)
                }
            },
        }
    }
}
