//! Spin's MySQL interfaces: `fermyon:spin/mysql@2.0.0` (spin-sdk 3.x; values in
//! `fermyon:spin/rdbms-types`) and `spin:mysql/mysql@3.0.0` (current SDKs: every
//! function async, rows streamed), both served by [`crate::host::mysql::client`] in
//! terms of the 3.0 types, which are the 2.0 ones under another name.
//!
//! An instance holds at most [`MAX_MYSQL_CONNECTIONS`] connections; each closes when the
//! guest drops it or the request ends. `query` runs the query to completion (its result
//! bounded), then streams the rows.

pub mod client;
mod tls_opts;

use std::sync::Arc;

use wasmtime::component::{Accessor, FutureReader, HasData, Linker, Resource, StreamReader};

use crate::host::bindings::current::spin::mysql::mysql as v3;
use crate::host::bindings::spin::fermyon::spin2_0_0::{mysql as v2, rdbms_types as v2_types};
use crate::host::capability::{CapabilityView, HostCapability};
use crate::host::capped_table::CappedTable;
use crate::host::outbound::OutboundPolicy;
use crate::telemetry::TraceSpan;
use client::MysqlConnection;
use opentelemetry::trace::SpanKind;

/// Most MySQL connections one instance may hold.
pub const MAX_MYSQL_CONNECTIONS: usize = 8;

/// A connection the guest opened.
pub struct OpenMysql {
    conn: Arc<MysqlConnection>,
}

impl std::fmt::Debug for OpenMysql {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpenMysql")
    }
}

/// One instance's MySQL connections.
#[derive(Debug, Default)]
pub struct MysqlHandles {
    connections: CappedTable<OpenMysql, MAX_MYSQL_CONNECTIONS>,
}

/// MySQL: `fermyon:spin/mysql@2.0.0` and `spin:mysql/mysql@3.0.0`.
pub struct Mysql;

pub type MysqlView<'a> = CapabilityView<'a, OutboundPolicy, MysqlHandles>;

impl HasData for Mysql {
    type Data<'a> = MysqlView<'a>;
}

impl HostCapability for Mysql {
    type Grant = OutboundPolicy;
    type Handles = MysqlHandles;

    fn add_to_linker<T: Send + 'static>(
        linker: &mut Linker<T>,
        view: fn(&mut T) -> MysqlView<'_>,
    ) -> wasmtime::Result<()> {
        v2::add_to_linker::<T, Self>(linker, view)?;
        v3::add_to_linker::<T, Self>(linker, view)
    }
}

impl MysqlView<'_> {
    fn mysql_room(&self) -> Result<(), v3::Error> {
        if self.handles.connections.is_full() {
            return Err(too_many_connections());
        }
        Ok(())
    }

    /// Hands a new connection to the guest, or closes it when the instance already
    /// holds as many as it may (another was opened while this one connected).
    fn keep_mysql<R: 'static>(&mut self, conn: MysqlConnection) -> Result<Resource<R>, v3::Error> {
        let open = OpenMysql {
            conn: Arc::new(conn),
        };
        self.handles
            .connections
            .push(open)
            .map_err(|_| too_many_connections())
    }

    fn mysql_of<R: 'static>(&self, conn: &Resource<R>) -> wasmtime::Result<Arc<MysqlConnection>> {
        Ok(self.handles.connections.get(conn)?.conn.clone())
    }

    fn close_mysql<R: 'static>(&mut self, conn: Resource<R>) -> wasmtime::Result<()> {
        self.handles.connections.remove(conn).map(drop)
    }

    /// The span of one call (`spin_outbound_mysql.query`, ...), under the instance's
    /// trace.
    fn traced(&self, name: &'static str) -> TraceSpan {
        self.trace.span(name, SpanKind::Client, || {
            vec![opentelemetry::KeyValue::new("db.system.name", "mysql")]
        })
    }
}

fn too_many_connections() -> v3::Error {
    v3::Error::ConnectionFailed(format!(
        "a request may hold at most {MAX_MYSQL_CONNECTIONS} MySQL connections"
    ))
}

// ---- spin:mysql@3.0.0 ----

impl v3::Host for MysqlView<'_> {}

impl v3::HostConnection for MysqlView<'_> {
    async fn drop(&mut self, conn: Resource<v3::Connection>) -> wasmtime::Result<()> {
        self.close_mysql(conn)
    }
}

impl<T> v3::HostConnectionWithStore<T> for Mysql {
    async fn open(
        accessor: &Accessor<T, Self>,
        address: String,
    ) -> wasmtime::Result<Result<Resource<v3::Connection>, v3::Error>> {
        let (room, policy, span) = accessor.with(|mut access| {
            let view = access.get();
            let span = view.traced("spin_outbound_mysql.open");
            (view.mysql_room(), view.grant.clone(), span)
        });
        if let Err(e) = room {
            return Ok(Err(e));
        }
        match span.around(client::connect(&address, &policy)).await {
            Ok(conn) => Ok(accessor.with(|mut access| access.get().keep_mysql(conn))),
            Err(e) => Ok(Err(e)),
        }
    }

    async fn query(
        accessor: &Accessor<T, Self>,
        conn: Resource<v3::Connection>,
        statement: String,
        params: Vec<v3::ParameterValue>,
    ) -> wasmtime::Result<
        Result<
            (
                Vec<v3::Column>,
                StreamReader<v3::Row>,
                FutureReader<Result<(), v3::Error>>,
            ),
            v3::Error,
        >,
    > {
        let (conn, max_bytes, span) = accessor.with(|mut access| {
            let view = access.get();
            let span = view.traced("spin_outbound_mysql.query");
            view.mysql_of(&conn)
                .map(|c| (c, view.grant.max_reply, span))
        })?;
        let (columns, rows) = match span.around(conn.query(statement, params, max_bytes)).await {
            Ok(result) => result,
            Err(e) => return Ok(Err(e)),
        };
        accessor.with(|mut access| {
            let rows = StreamReader::new(&mut access, rows)?;
            let done = FutureReader::new(&mut access, async { wasmtime::Result::<_>::Ok(Ok(())) })?;
            Ok(Ok((columns, rows, done)))
        })
    }

    async fn execute(
        accessor: &Accessor<T, Self>,
        conn: Resource<v3::Connection>,
        statement: String,
        params: Vec<v3::ParameterValue>,
    ) -> wasmtime::Result<Result<(), v3::Error>> {
        let (conn, span) = accessor.with(|mut access| {
            let view = access.get();
            let span = view.traced("spin_outbound_mysql.execute");
            view.mysql_of(&conn).map(|c| (c, span))
        })?;
        Ok(span.around(conn.execute(statement, params)).await)
    }
}

// ---- fermyon:spin/mysql@2.0.0 ----

impl v2::Host for MysqlView<'_> {}

impl v2::HostConnection for MysqlView<'_> {
    async fn open(
        &mut self,
        address: String,
    ) -> wasmtime::Result<Result<Resource<v2::Connection>, v2_types::Error>> {
        if let Err(e) = self.mysql_room() {
            return Ok(Err(v2_error(e)));
        }
        let connecting = client::connect(&address, self.grant);
        match self
            .traced("spin_outbound_mysql.open")
            .around(connecting)
            .await
        {
            Ok(conn) => Ok(self.keep_mysql(conn).map_err(v2_error)),
            Err(e) => Ok(Err(v2_error(e))),
        }
    }

    async fn query(
        &mut self,
        conn: Resource<v2::Connection>,
        statement: String,
        params: Vec<v2_types::ParameterValue>,
    ) -> wasmtime::Result<Result<v2_types::RowSet, v2_types::Error>> {
        let conn = self.mysql_of(&conn)?;
        let params = params.into_iter().map(v3_parameter).collect();
        Ok(self
            .traced("spin_outbound_mysql.query")
            .around(conn.query(statement, params, self.grant.max_reply))
            .await
            .map(|(columns, rows)| v2_types::RowSet {
                columns: columns
                    .into_iter()
                    .map(|c| v2_types::Column {
                        name: c.name,
                        data_type: v2_data_type(c.data_type),
                    })
                    .collect(),
                rows: rows
                    .into_iter()
                    .map(|row| row.into_iter().map(v2_value).collect())
                    .collect(),
            })
            .map_err(v2_error))
    }

    async fn execute(
        &mut self,
        conn: Resource<v2::Connection>,
        statement: String,
        params: Vec<v2_types::ParameterValue>,
    ) -> wasmtime::Result<Result<(), v2_types::Error>> {
        let conn = self.mysql_of(&conn)?;
        let params = params.into_iter().map(v3_parameter).collect();
        Ok(self
            .traced("spin_outbound_mysql.execute")
            .around(conn.execute(statement, params))
            .await
            .map_err(v2_error))
    }

    async fn drop(&mut self, conn: Resource<v2::Connection>) -> wasmtime::Result<()> {
        self.close_mysql(conn)
    }
}

fn v3_parameter(p: v2_types::ParameterValue) -> v3::ParameterValue {
    use v2_types::ParameterValue as P;
    use v3::ParameterValue as Q;
    match p {
        P::Boolean(v) => Q::Boolean(v),
        P::Int8(v) => Q::Int8(v),
        P::Int16(v) => Q::Int16(v),
        P::Int32(v) => Q::Int32(v),
        P::Int64(v) => Q::Int64(v),
        P::Uint8(v) => Q::Uint8(v),
        P::Uint16(v) => Q::Uint16(v),
        P::Uint32(v) => Q::Uint32(v),
        P::Uint64(v) => Q::Uint64(v),
        P::Floating32(v) => Q::Floating32(v),
        P::Floating64(v) => Q::Floating64(v),
        P::Str(v) => Q::Str(v),
        P::Binary(v) => Q::Binary(v),
        P::DbNull => Q::DbNull,
    }
}

fn v2_value(v: v3::DbValue) -> v2_types::DbValue {
    use v2_types::DbValue as W;
    use v3::DbValue as V;
    match v {
        V::Boolean(v) => W::Boolean(v),
        V::Int8(v) => W::Int8(v),
        V::Int16(v) => W::Int16(v),
        V::Int32(v) => W::Int32(v),
        V::Int64(v) => W::Int64(v),
        V::Uint8(v) => W::Uint8(v),
        V::Uint16(v) => W::Uint16(v),
        V::Uint32(v) => W::Uint32(v),
        V::Uint64(v) => W::Uint64(v),
        V::Floating32(v) => W::Floating32(v),
        V::Floating64(v) => W::Floating64(v),
        V::Str(v) => W::Str(v),
        V::Binary(v) => W::Binary(v),
        V::DbNull => W::DbNull,
        V::Unsupported => W::Unsupported,
    }
}

fn v2_data_type(t: v3::DbDataType) -> v2_types::DbDataType {
    use v2_types::DbDataType as U;
    use v3::DbDataType as T;
    match t {
        T::Boolean => U::Boolean,
        T::Int8 => U::Int8,
        T::Int16 => U::Int16,
        T::Int32 => U::Int32,
        T::Int64 => U::Int64,
        T::Uint8 => U::Uint8,
        T::Uint16 => U::Uint16,
        T::Uint32 => U::Uint32,
        T::Uint64 => U::Uint64,
        T::Floating32 => U::Floating32,
        T::Floating64 => U::Floating64,
        T::Str => U::Str,
        T::Binary => U::Binary,
        T::Other => U::Other,
    }
}

fn v2_error(e: v3::Error) -> v2_types::Error {
    match e {
        v3::Error::ConnectionFailed(m) => v2_types::Error::ConnectionFailed(m),
        v3::Error::BadParameter(m) => v2_types::Error::BadParameter(m),
        v3::Error::QueryFailed(m) => v2_types::Error::QueryFailed(m),
        v3::Error::ValueConversionFailed(m) => v2_types::Error::ValueConversionFailed(m),
        v3::Error::Other(m) => v2_types::Error::Other(m),
    }
}
