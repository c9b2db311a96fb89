//! Spin's outbound Redis interfaces: `fermyon:spin/redis@2.0.0` (spin-sdk 3.x and older)
//! and `spin:redis/redis@3.0.0` (current SDKs, `async` functions).
//!
//! Connections live as long as the request: opening the same address again within a
//! request reuses its connection, and a request may reach at most
//! [`MAX_REDIS_ADDRESSES`] addresses (past it: `too-many-connections`). Commands are in
//! [`crate::host::redis::client`].

pub mod client;
pub mod resp_replies;

use std::collections::HashMap;
use std::future::Future;

use redis::aio::MultiplexedConnection;
use wasmtime::component::{Accessor, HasData, Linker, Resource};

use crate::host::bindings::current::spin::redis::redis as v3;
use crate::host::bindings::spin::fermyon::spin2_0_0::redis::{
    self as v2, Error, RedisParameter, RedisResult,
};
use crate::host::capability::{CapabilityView, HostCapability};
use crate::host::capped_table::CappedTable;
use crate::host::outbound::OutboundPolicy;
use crate::telemetry::TraceSpan;
use opentelemetry::trace::SpanKind;

/// Most Redis addresses one instance may connect to.
pub const MAX_REDIS_ADDRESSES: usize = 8;

/// Most connection handles one instance may hold at once. Handles to one address share
/// its connection, so this only bounds what a guest that never drops them piles up
/// (SDKs whose garbage collector drops handles late open one per call).
const MAX_REDIS_HANDLES: usize = 64;

/// A connection the guest opened (a handle to the instance's connection to its address).
pub struct OpenRedis {
    conn: MultiplexedConnection,
}

impl std::fmt::Debug for OpenRedis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpenRedis")
    }
}

/// One instance's Redis connections, by address, and the guest's handles to them.
#[derive(Debug, Default)]
pub struct RedisHandles {
    by_address: HashMap<String, OpenRedis>,
    handles: CappedTable<OpenRedis, MAX_REDIS_HANDLES>,
}

/// Redis: `fermyon:spin/redis@2.0.0` and `spin:redis/redis@3.0.0`.
pub struct Redis;

pub type RedisView<'a> = CapabilityView<'a, OutboundPolicy, RedisHandles>;

impl HasData for Redis {
    type Data<'a> = RedisView<'a>;
}

impl HostCapability for Redis {
    type Grant = OutboundPolicy;
    type Handles = RedisHandles;

    fn add_to_linker<T: Send + 'static>(
        linker: &mut Linker<T>,
        view: fn(&mut T) -> RedisView<'_>,
    ) -> wasmtime::Result<()> {
        v2::add_to_linker::<T, Self>(linker, view)?;
        v3::add_to_linker::<T, Self>(linker, view)
    }
}

impl RedisView<'_> {
    /// A connection to `address` for the guest: the instance's own, or a new one.
    fn redis_connection(&self, address: &str) -> Result<Option<MultiplexedConnection>, Error> {
        if self.handles.handles.is_full() {
            return Err(Error::TooManyConnections);
        }
        match self.handles.by_address.get(address) {
            Some(open) => Ok(Some(open.conn.clone())),
            None if self.handles.by_address.len() >= MAX_REDIS_ADDRESSES => {
                Err(Error::TooManyConnections)
            }
            None => Ok(None),
        }
    }

    fn keep_redis<R: 'static>(
        &mut self,
        address: String,
        conn: MultiplexedConnection,
    ) -> Result<Resource<R>, Error> {
        let handle = self
            .handles
            .handles
            .push(OpenRedis { conn: conn.clone() })
            .map_err(|_| Error::TooManyConnections)?;
        self.handles.by_address.insert(address, OpenRedis { conn });
        Ok(handle)
    }

    /// The span of one call (`spin_outbound_redis.get`, ...), under the instance's trace.
    fn traced(&self, name: &'static str) -> TraceSpan {
        self.trace.span(name, SpanKind::Client, || {
            vec![opentelemetry::KeyValue::new("db.system.name", "redis")]
        })
    }

    fn redis_of<R: 'static>(&self, conn: &Resource<R>) -> wasmtime::Result<MultiplexedConnection> {
        Ok(self.handles.handles.get(conn)?.conn.clone())
    }
}

impl v2::Host for RedisView<'_> {}

impl v2::HostConnection for RedisView<'_> {
    async fn open(
        &mut self,
        address: String,
    ) -> wasmtime::Result<Result<Resource<v2::Connection>, Error>> {
        let conn = match self.redis_connection(&address) {
            Ok(Some(conn)) => conn,
            Ok(None) => match self
                .traced("spin_outbound_redis.open_connection")
                .around(client::connect(&address, self.grant))
                .await
            {
                Ok(conn) => conn,
                Err(e) => return Ok(Err(e)),
            },
            Err(e) => return Ok(Err(e)),
        };
        Ok(self.keep_redis(address, conn))
    }

    async fn publish(
        &mut self,
        conn: Resource<v2::Connection>,
        channel: String,
        payload: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        Ok(self
            .traced("spin_outbound_redis.publish")
            .around(client::publish(self.redis_of(&conn)?, channel, payload))
            .await)
    }

    async fn get(
        &mut self,
        conn: Resource<v2::Connection>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        Ok(self
            .traced("spin_outbound_redis.get")
            .around(client::get(self.redis_of(&conn)?, key))
            .await)
    }

    async fn set(
        &mut self,
        conn: Resource<v2::Connection>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        Ok(self
            .traced("spin_outbound_redis.set")
            .around(client::set(self.redis_of(&conn)?, key, value))
            .await)
    }

    async fn incr(
        &mut self,
        conn: Resource<v2::Connection>,
        key: String,
    ) -> wasmtime::Result<Result<i64, Error>> {
        Ok(self
            .traced("spin_outbound_redis.incr")
            .around(client::incr(self.redis_of(&conn)?, key))
            .await)
    }

    async fn del(
        &mut self,
        conn: Resource<v2::Connection>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<u32, Error>> {
        Ok(self
            .traced("spin_outbound_redis.del")
            .around(client::del(self.redis_of(&conn)?, keys))
            .await)
    }

    async fn sadd(
        &mut self,
        conn: Resource<v2::Connection>,
        key: String,
        values: Vec<String>,
    ) -> wasmtime::Result<Result<u32, Error>> {
        Ok(self
            .traced("spin_outbound_redis.sadd")
            .around(client::sadd(self.redis_of(&conn)?, key, values))
            .await)
    }

    async fn smembers(
        &mut self,
        conn: Resource<v2::Connection>,
        key: String,
    ) -> wasmtime::Result<Result<Vec<String>, Error>> {
        Ok(self
            .traced("spin_outbound_redis.smembers")
            .around(client::smembers(self.redis_of(&conn)?, key))
            .await)
    }

    async fn srem(
        &mut self,
        conn: Resource<v2::Connection>,
        key: String,
        values: Vec<String>,
    ) -> wasmtime::Result<Result<u32, Error>> {
        Ok(self
            .traced("spin_outbound_redis.srem")
            .around(client::srem(self.redis_of(&conn)?, key, values))
            .await)
    }

    async fn execute(
        &mut self,
        conn: Resource<v2::Connection>,
        command: String,
        arguments: Vec<RedisParameter>,
    ) -> wasmtime::Result<Result<Vec<RedisResult>, Error>> {
        Ok(self
            .traced("spin_outbound_redis.execute")
            .around(client::execute(self.redis_of(&conn)?, command, arguments))
            .await)
    }

    async fn drop(&mut self, conn: Resource<v2::Connection>) -> wasmtime::Result<()> {
        self.handles.handles.remove(conn).map(drop)
    }
}

impl From<Error> for v3::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::InvalidAddress => v3::Error::InvalidAddress,
            Error::TooManyConnections => v3::Error::TooManyConnections,
            Error::TypeError => v3::Error::TypeError,
            Error::Other(m) => v3::Error::Other(m),
        }
    }
}

impl From<v3::RedisParameter> for RedisParameter {
    fn from(p: v3::RedisParameter) -> Self {
        match p {
            v3::RedisParameter::Int64(n) => RedisParameter::Int64(n),
            v3::RedisParameter::Binary(b) => RedisParameter::Binary(b),
        }
    }
}

impl From<RedisResult> for v3::RedisResult {
    fn from(r: RedisResult) -> Self {
        match r {
            RedisResult::Nil => v3::RedisResult::Nil,
            RedisResult::Status(s) => v3::RedisResult::Status(s),
            RedisResult::Int64(n) => v3::RedisResult::Int64(n),
            RedisResult::Binary(b) => v3::RedisResult::Binary(b),
        }
    }
}

impl v3::Host for RedisView<'_> {}

impl v3::HostConnection for RedisView<'_> {
    async fn drop(&mut self, conn: Resource<v3::Connection>) -> wasmtime::Result<()> {
        self.handles.handles.remove(conn).map(drop)
    }
}

/// Runs one command of the `spin:redis@3` interface on the connection behind `conn`.
async fn on_v3<T, U: From<T>, F: Future<Output = Result<T, Error>>>(
    accessor: &Accessor<impl Send, Redis>,
    name: &'static str,
    conn: &Resource<v3::Connection>,
    command: impl FnOnce(MultiplexedConnection) -> F,
) -> wasmtime::Result<Result<U, v3::Error>> {
    let (connection, span) = accessor.with(|mut access| {
        let view = access.get();
        Ok::<_, wasmtime::Error>((view.redis_of(conn)?, view.traced(name)))
    })?;
    Ok(span
        .around(command(connection))
        .await
        .map(U::from)
        .map_err(Into::into))
}

impl<T: Send> v3::HostConnectionWithStore<T> for Redis {
    async fn open(
        accessor: &Accessor<T, Self>,
        address: String,
    ) -> wasmtime::Result<Result<Resource<v3::Connection>, v3::Error>> {
        let (known, policy) = accessor.with(|mut access| {
            let view = access.get();
            (view.redis_connection(&address), view.grant.clone())
        });
        let conn = match known {
            Ok(Some(conn)) => conn,
            Ok(None) => match accessor
                .with(|mut access| access.get().traced("spin_outbound_redis.open_connection"))
                .around(client::connect(&address, &policy))
                .await
            {
                Ok(conn) => conn,
                Err(e) => return Ok(Err(e.into())),
            },
            Err(e) => return Ok(Err(e.into())),
        };
        Ok(accessor.with(|mut access| access.get().keep_redis(address, conn).map_err(Into::into)))
    }

    async fn publish(
        accessor: &Accessor<T, Self>,
        conn: Resource<v3::Connection>,
        channel: String,
        payload: Vec<u8>,
    ) -> wasmtime::Result<Result<(), v3::Error>> {
        on_v3(accessor, "spin_outbound_redis.publish", &conn, |c| {
            client::publish(c, channel, payload)
        })
        .await
    }

    async fn get(
        accessor: &Accessor<T, Self>,
        conn: Resource<v3::Connection>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, v3::Error>> {
        on_v3(accessor, "spin_outbound_redis.get", &conn, |c| {
            client::get(c, key)
        })
        .await
    }

    async fn set(
        accessor: &Accessor<T, Self>,
        conn: Resource<v3::Connection>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), v3::Error>> {
        on_v3(accessor, "spin_outbound_redis.set", &conn, |c| {
            client::set(c, key, value)
        })
        .await
    }

    async fn incr(
        accessor: &Accessor<T, Self>,
        conn: Resource<v3::Connection>,
        key: String,
    ) -> wasmtime::Result<Result<i64, v3::Error>> {
        on_v3(accessor, "spin_outbound_redis.incr", &conn, |c| {
            client::incr(c, key)
        })
        .await
    }

    async fn del(
        accessor: &Accessor<T, Self>,
        conn: Resource<v3::Connection>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<u32, v3::Error>> {
        on_v3(accessor, "spin_outbound_redis.del", &conn, |c| {
            client::del(c, keys)
        })
        .await
    }

    async fn sadd(
        accessor: &Accessor<T, Self>,
        conn: Resource<v3::Connection>,
        key: String,
        values: Vec<String>,
    ) -> wasmtime::Result<Result<u32, v3::Error>> {
        on_v3(accessor, "spin_outbound_redis.sadd", &conn, |c| {
            client::sadd(c, key, values)
        })
        .await
    }

    async fn smembers(
        accessor: &Accessor<T, Self>,
        conn: Resource<v3::Connection>,
        key: String,
    ) -> wasmtime::Result<Result<Vec<String>, v3::Error>> {
        on_v3(accessor, "spin_outbound_redis.smembers", &conn, |c| {
            client::smembers(c, key)
        })
        .await
    }

    async fn srem(
        accessor: &Accessor<T, Self>,
        conn: Resource<v3::Connection>,
        key: String,
        values: Vec<String>,
    ) -> wasmtime::Result<Result<u32, v3::Error>> {
        on_v3(accessor, "spin_outbound_redis.srem", &conn, |c| {
            client::srem(c, key, values)
        })
        .await
    }

    async fn execute(
        accessor: &Accessor<T, Self>,
        conn: Resource<v3::Connection>,
        command: String,
        arguments: Vec<v3::RedisParameter>,
    ) -> wasmtime::Result<Result<Vec<v3::RedisResult>, v3::Error>> {
        let arguments = arguments.into_iter().map(Into::into).collect();
        let results: Result<Vec<RedisResult>, v3::Error> =
            on_v3(accessor, "spin_outbound_redis.execute", &conn, |c| {
                client::execute(c, command, arguments)
            })
            .await?;
        Ok(results.map(|r| r.into_iter().map(Into::into).collect()))
    }
}
