//! Spin's PostgreSQL interfaces: `fermyon:spin/postgres@2.0.0` (spin-sdk 3.x),
//! `spin:postgres/postgres@3.0.0` and `@4.2.0` (current SDKs; `@4.0.0` and `@4.1.0`
//! imports link to it by semver), all served by [`crate::host::postgres::client`] in
//! terms of the 4.2 types; the older interfaces' narrower types are mapped onto them
//! (`uuid` and `numeric` values arrive there as `str`, `jsonb` as `binary`, any other
//! value they have no case for as `unsupported`).
//!
//! An instance holds at most [`MAX_POSTGRES_CONNECTIONS`] connections; each closes when
//! the guest drops it or the request ends. `query-async` runs the query to completion
//! (its result bounded as `query`'s), then streams the rows.

// The error is the interface's own generated type (its `db-error` record makes it
// large), handed to the guest as it is.
#![allow(clippy::result_large_err)]

pub mod client;
pub mod replies;
pub mod types;

use std::sync::Arc;

use wasmtime::component::{Accessor, FutureReader, HasData, Linker, Resource, StreamReader};

use crate::host::bindings::current::spin::postgres3_0_0::postgres as v3;
use crate::host::bindings::current::spin::postgres4_2_0::postgres as v4;
use crate::host::bindings::spin::fermyon::spin2_0_0::{postgres as v2, rdbms_types as v2_types};
use crate::host::capability::{CapabilityView, HostCapability};
use crate::host::capped_table::CappedTable;
use crate::host::outbound::OutboundPolicy;
use crate::telemetry::TraceSpan;
use client::PostgresConnection;
use opentelemetry::trace::SpanKind;
use v4::ConnectionBuilder;

/// Most PostgreSQL connections one instance may hold.
pub const MAX_POSTGRES_CONNECTIONS: usize = 8;

/// Most connection builders one instance may hold; past it, making one traps (its
/// constructor has no error to return).
const MAX_POSTGRES_BUILDERS: usize = 16;

/// A connection the guest opened.
pub struct OpenPostgres {
    client: Arc<PostgresConnection>,
}

impl std::fmt::Debug for OpenPostgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpenPostgres")
    }
}

/// A `connection-builder`: an address and its options, until `build`.
#[derive(Debug)]
pub struct PostgresBuilder {
    address: String,
    ca_root: Option<String>,
}

/// One instance's PostgreSQL connections and connection builders.
#[derive(Debug, Default)]
pub struct PostgresHandles {
    connections: CappedTable<OpenPostgres, MAX_POSTGRES_CONNECTIONS>,
    builders: CappedTable<PostgresBuilder, MAX_POSTGRES_BUILDERS>,
}

/// PostgreSQL: `fermyon:spin/postgres@2.0.0` (and the `rdbms-types` it shares with
/// MySQL 2.0), `spin:postgres/postgres@3.0.0` and `@4.2.0`.
pub struct Postgres;

pub type PostgresView<'a> = CapabilityView<'a, OutboundPolicy, PostgresHandles>;

impl HasData for Postgres {
    type Data<'a> = PostgresView<'a>;
}

impl HostCapability for Postgres {
    type Grant = OutboundPolicy;
    type Handles = PostgresHandles;

    fn add_to_linker<T: Send + 'static>(
        linker: &mut Linker<T>,
        view: fn(&mut T) -> PostgresView<'_>,
    ) -> wasmtime::Result<()> {
        v2_types::add_to_linker::<T, Self>(linker, view)?;
        v2::add_to_linker::<T, Self>(linker, view)?;
        v3::add_to_linker::<T, Self>(linker, view)?;
        v4::add_to_linker::<T, Self>(linker, view)
    }
}

impl PostgresView<'_> {
    fn postgres_room(&self) -> Result<(), v4::Error> {
        if self.handles.connections.is_full() {
            return Err(too_many_connections());
        }
        Ok(())
    }

    /// Hands a new connection to the guest, or closes it when the instance already
    /// holds as many as it may (another was opened while this one connected).
    fn keep_postgres<R: 'static>(
        &mut self,
        client: PostgresConnection,
    ) -> Result<Resource<R>, v4::Error> {
        let open = OpenPostgres {
            client: Arc::new(client),
        };
        self.handles
            .connections
            .push(open)
            .map_err(|_| too_many_connections())
    }

    fn postgres_of<R: 'static>(
        &self,
        conn: &Resource<R>,
    ) -> wasmtime::Result<Arc<PostgresConnection>> {
        Ok(self.handles.connections.get(conn)?.client.clone())
    }

    fn close_postgres<R: 'static>(&mut self, conn: Resource<R>) -> wasmtime::Result<()> {
        self.handles.connections.remove(conn).map(drop)
    }

    /// Connects to `address`, trusting `ca_root` (PEM) besides the component's roots.
    async fn open_postgres<R: 'static>(
        &mut self,
        address: &str,
        ca_root: Option<&str>,
    ) -> wasmtime::Result<Result<Resource<R>, v4::Error>> {
        if let Err(e) = self.postgres_room() {
            return Ok(Err(e));
        }
        let connecting = client::connect(address, ca_root, self.grant);
        match self
            .traced("spin_outbound_pg.open")
            .around(connecting)
            .await
        {
            Ok(client) => Ok(self.keep_postgres(client)),
            Err(e) => Ok(Err(e)),
        }
    }

    async fn query_postgres<R: 'static>(
        &mut self,
        conn: &Resource<R>,
        statement: String,
        params: Vec<v4::ParameterValue>,
    ) -> wasmtime::Result<Result<v4::RowSet, v4::Error>> {
        let client = self.postgres_of(conn)?;
        let max_bytes = self.grant.max_reply;
        Ok(self
            .traced("spin_outbound_pg.query")
            .around(client::query(&client, &statement, params, max_bytes))
            .await
            .map(|(columns, rows)| v4::RowSet { columns, rows }))
    }

    async fn execute_postgres<R: 'static>(
        &mut self,
        conn: &Resource<R>,
        statement: String,
        params: Vec<v4::ParameterValue>,
    ) -> wasmtime::Result<Result<u64, v4::Error>> {
        let client = self.postgres_of(conn)?;
        Ok(self
            .traced("spin_outbound_pg.execute")
            .around(client::execute(&client, &statement, params))
            .await)
    }

    /// The span of one call (`spin_outbound_pg.query`, ...), under the instance's trace.
    fn traced(&self, name: &'static str) -> TraceSpan {
        self.trace.span(name, SpanKind::Client, || {
            vec![opentelemetry::KeyValue::new("db.system.name", "postgresql")]
        })
    }
}

fn too_many_connections() -> v4::Error {
    v4::Error::ConnectionFailed(format!(
        "a request may hold at most {MAX_POSTGRES_CONNECTIONS} PostgreSQL connections"
    ))
}

// ---- spin:postgres@4.2.0 ----

impl v4::Host for PostgresView<'_> {}

impl v4::HostConnection for PostgresView<'_> {
    async fn open(
        &mut self,
        address: String,
    ) -> wasmtime::Result<Result<Resource<v4::Connection>, v4::Error>> {
        self.open_postgres(&address, None).await
    }

    async fn query(
        &mut self,
        conn: Resource<v4::Connection>,
        statement: String,
        params: Vec<v4::ParameterValue>,
    ) -> wasmtime::Result<Result<v4::RowSet, v4::Error>> {
        self.query_postgres(&conn, statement, params).await
    }

    async fn execute(
        &mut self,
        conn: Resource<v4::Connection>,
        statement: String,
        params: Vec<v4::ParameterValue>,
    ) -> wasmtime::Result<Result<u64, v4::Error>> {
        self.execute_postgres(&conn, statement, params).await
    }

    async fn drop(&mut self, conn: Resource<v4::Connection>) -> wasmtime::Result<()> {
        self.close_postgres(conn)
    }
}

impl v4::HostConnectionBuilder for PostgresView<'_> {
    async fn new(&mut self, address: String) -> wasmtime::Result<Resource<ConnectionBuilder>> {
        let builder = PostgresBuilder {
            address,
            ca_root: None,
        };
        self.handles.builders.push(builder).map_err(|_| {
            wasmtime::format_err!(
                "more than {MAX_POSTGRES_BUILDERS} PostgreSQL connection builders open; drop one first"
            )
        })
    }

    async fn set_ca_root(
        &mut self,
        builder: Resource<ConnectionBuilder>,
        certificate: String,
    ) -> wasmtime::Result<Result<(), v4::Error>> {
        self.handles.builders.get_mut(&builder)?.ca_root = Some(certificate);
        Ok(Ok(()))
    }

    async fn build(
        &mut self,
        builder: Resource<ConnectionBuilder>,
    ) -> wasmtime::Result<Result<Resource<v4::Connection>, v4::Error>> {
        let built = self.handles.builders.get(&builder)?;
        let (address, ca_root) = (built.address.clone(), built.ca_root.clone());
        self.open_postgres(&address, ca_root.as_deref()).await
    }

    async fn drop(&mut self, builder: Resource<ConnectionBuilder>) -> wasmtime::Result<()> {
        self.handles.builders.remove(builder).map(drop)
    }
}

/// Connects from an async function: the request's room and policy read first, the
/// connection kept after.
async fn open_with_store<T>(
    accessor: &Accessor<T, Postgres>,
    address: String,
    ca_root: Option<String>,
) -> wasmtime::Result<Result<Resource<v4::Connection>, v4::Error>> {
    let (room, policy, span): (_, OutboundPolicy, _) = accessor.with(|mut access| {
        let view = access.get();
        let span = view.traced("spin_outbound_pg.open");
        (view.postgres_room(), view.grant.clone(), span)
    });
    if let Err(e) = room {
        return Ok(Err(e));
    }
    match span
        .around(client::connect(&address, ca_root.as_deref(), &policy))
        .await
    {
        Ok(client) => Ok(accessor.with(|mut access| access.get().keep_postgres(client))),
        Err(e) => Ok(Err(e)),
    }
}

impl<T> v4::HostConnectionBuilderWithStore<T> for Postgres {
    async fn build_async(
        accessor: &Accessor<T, Self>,
        builder: Resource<ConnectionBuilder>,
    ) -> wasmtime::Result<Result<Resource<v4::Connection>, v4::Error>> {
        let (address, ca_root) = accessor.with(|mut access| {
            access
                .get()
                .handles
                .builders
                .get(&builder)
                .map(|built| (built.address.clone(), built.ca_root.clone()))
        })?;
        open_with_store(accessor, address, ca_root).await
    }
}

impl<T> v4::HostConnectionWithStore<T> for Postgres {
    async fn open_async(
        accessor: &Accessor<T, Self>,
        address: String,
    ) -> wasmtime::Result<Result<Resource<v4::Connection>, v4::Error>> {
        open_with_store(accessor, address, None).await
    }

    async fn query_async(
        accessor: &Accessor<T, Self>,
        conn: Resource<v4::Connection>,
        statement: String,
        params: Vec<v4::ParameterValue>,
    ) -> wasmtime::Result<
        Result<
            (
                Vec<v4::Column>,
                StreamReader<v4::Row>,
                FutureReader<Result<(), v4::Error>>,
            ),
            v4::Error,
        >,
    > {
        let (client, max_bytes, span) = accessor.with(|mut access| {
            let view = access.get();
            let span = view.traced("spin_outbound_pg.query");
            view.postgres_of(&conn)
                .map(|c| (c, view.grant.max_reply, span))
        })?;
        let querying = client::query(&client, &statement, params, max_bytes);
        let (columns, rows) = match span.around(querying).await {
            Ok(result) => result,
            Err(e) => return Ok(Err(e)),
        };
        accessor.with(|mut access| {
            let rows = StreamReader::new(&mut access, rows)?;
            let done = FutureReader::new(&mut access, async { wasmtime::Result::<_>::Ok(Ok(())) })?;
            Ok(Ok((columns, rows, done)))
        })
    }

    async fn execute_async(
        accessor: &Accessor<T, Self>,
        conn: Resource<v4::Connection>,
        statement: String,
        params: Vec<v4::ParameterValue>,
    ) -> wasmtime::Result<Result<u64, v4::Error>> {
        let (client, span) = accessor.with(|mut access| {
            let view = access.get();
            let span = view.traced("spin_outbound_pg.execute");
            view.postgres_of(&conn).map(|c| (c, span))
        })?;
        Ok(span
            .around(client::execute(&client, &statement, params))
            .await)
    }
}

// ---- spin:postgres@3.0.0 ----

impl v3::Host for PostgresView<'_> {}

impl v3::HostConnection for PostgresView<'_> {
    async fn open(
        &mut self,
        address: String,
    ) -> wasmtime::Result<Result<Resource<v3::Connection>, v3::Error>> {
        Ok(self.open_postgres(&address, None).await?.map_err(v3_error))
    }

    async fn query(
        &mut self,
        conn: Resource<v3::Connection>,
        statement: String,
        params: Vec<v3::ParameterValue>,
    ) -> wasmtime::Result<Result<v3::RowSet, v3::Error>> {
        let params = params.into_iter().map(v3_parameter).collect();
        Ok(self
            .query_postgres(&conn, statement, params)
            .await?
            .map(|set| v3::RowSet {
                columns: set
                    .columns
                    .into_iter()
                    .map(|c| v3::Column {
                        name: c.name,
                        data_type: v3_data_type(c.data_type),
                    })
                    .collect(),
                rows: set
                    .rows
                    .into_iter()
                    .map(|row| row.into_iter().map(v3_value).collect())
                    .collect(),
            })
            .map_err(v3_error))
    }

    async fn execute(
        &mut self,
        conn: Resource<v3::Connection>,
        statement: String,
        params: Vec<v3::ParameterValue>,
    ) -> wasmtime::Result<Result<u64, v3::Error>> {
        let params = params.into_iter().map(v3_parameter).collect();
        Ok(self
            .execute_postgres(&conn, statement, params)
            .await?
            .map_err(v3_error))
    }

    async fn drop(&mut self, conn: Resource<v3::Connection>) -> wasmtime::Result<()> {
        self.close_postgres(conn)
    }
}

fn v3_parameter(p: v3::ParameterValue) -> v4::ParameterValue {
    use v3::ParameterValue as P;
    use v4::ParameterValue as Q;
    match p {
        P::Boolean(v) => Q::Boolean(v),
        P::Int8(v) => Q::Int8(v),
        P::Int16(v) => Q::Int16(v),
        P::Int32(v) => Q::Int32(v),
        P::Int64(v) => Q::Int64(v),
        P::Floating32(v) => Q::Floating32(v),
        P::Floating64(v) => Q::Floating64(v),
        P::Str(v) => Q::Str(v),
        P::Binary(v) => Q::Binary(v),
        P::Date(v) => Q::Date(v),
        P::Time(v) => Q::Time(v),
        P::Datetime(v) => Q::Datetime(v),
        P::Timestamp(v) => Q::Timestamp(v),
        P::DbNull => Q::DbNull,
    }
}

fn v3_value(v: v4::DbValue) -> v3::DbValue {
    use v3::DbValue as W;
    use v4::DbValue as V;
    match v {
        V::Boolean(v) => W::Boolean(v),
        V::Int8(v) => W::Int8(v),
        V::Int16(v) => W::Int16(v),
        V::Int32(v) => W::Int32(v),
        V::Int64(v) => W::Int64(v),
        V::Floating32(v) => W::Floating32(v),
        V::Floating64(v) => W::Floating64(v),
        V::Str(v) | V::Uuid(v) | V::Decimal(v) => W::Str(v),
        V::Binary(v) | V::Jsonb(v) => W::Binary(v),
        V::Date(v) => W::Date(v),
        V::Time(v) => W::Time(v),
        V::Datetime(v) => W::Datetime(v),
        V::Timestamp(v) => W::Timestamp(v),
        V::DbNull => W::DbNull,
        _ => W::Unsupported,
    }
}

fn v3_data_type(t: v4::DbDataType) -> v3::DbDataType {
    use v3::DbDataType as U;
    use v4::DbDataType as T;
    match t {
        T::Boolean => U::Boolean,
        T::Int8 => U::Int8,
        T::Int16 => U::Int16,
        T::Int32 => U::Int32,
        T::Int64 => U::Int64,
        T::Floating32 => U::Floating32,
        T::Floating64 => U::Floating64,
        T::Str | T::Uuid | T::Decimal => U::Str,
        T::Binary | T::Jsonb => U::Binary,
        T::Date => U::Date,
        T::Time => U::Time,
        T::Datetime => U::Datetime,
        T::Timestamp => U::Timestamp,
        _ => U::Other,
    }
}

fn v3_error(e: v4::Error) -> v3::Error {
    match e {
        v4::Error::ConnectionFailed(m) => v3::Error::ConnectionFailed(m),
        v4::Error::BadParameter(m) => v3::Error::BadParameter(m),
        v4::Error::QueryFailed(q) => v3::Error::QueryFailed(query_text(q)),
        v4::Error::ValueConversionFailed(m) => v3::Error::ValueConversionFailed(m),
        v4::Error::Other(m) => v3::Error::Other(m),
    }
}

fn query_text(q: v4::QueryError) -> String {
    match q {
        v4::QueryError::Text(t) => t,
        v4::QueryError::DbError(db) => db.as_text,
    }
}

// ---- fermyon:spin/postgres@2.0.0 ----

impl v2_types::Host for PostgresView<'_> {}
impl v2::Host for PostgresView<'_> {}

impl v2::HostConnection for PostgresView<'_> {
    async fn open(
        &mut self,
        address: String,
    ) -> wasmtime::Result<Result<Resource<v2::Connection>, v2_types::Error>> {
        Ok(self.open_postgres(&address, None).await?.map_err(v2_error))
    }

    async fn query(
        &mut self,
        conn: Resource<v2::Connection>,
        statement: String,
        params: Vec<v2_types::ParameterValue>,
    ) -> wasmtime::Result<Result<v2_types::RowSet, v2_types::Error>> {
        let params = match params.into_iter().map(v2_parameter).collect() {
            Ok(params) => params,
            Err(e) => return Ok(Err(e)),
        };
        Ok(self
            .query_postgres(&conn, statement, params)
            .await?
            .map(|set| v2_types::RowSet {
                columns: set
                    .columns
                    .into_iter()
                    .map(|c| v2_types::Column {
                        name: c.name,
                        data_type: v2_data_type(c.data_type),
                    })
                    .collect(),
                rows: set
                    .rows
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
    ) -> wasmtime::Result<Result<u64, v2_types::Error>> {
        let params = match params.into_iter().map(v2_parameter).collect() {
            Ok(params) => params,
            Err(e) => return Ok(Err(e)),
        };
        Ok(self
            .execute_postgres(&conn, statement, params)
            .await?
            .map_err(v2_error))
    }

    async fn drop(&mut self, conn: Resource<v2::Connection>) -> wasmtime::Result<()> {
        self.close_postgres(conn)
    }
}

/// PostgreSQL has no unsigned integers: one is sent as the next wider signed type, a
/// `u64` as `int8` when it fits.
fn v2_parameter(p: v2_types::ParameterValue) -> Result<v4::ParameterValue, v2_types::Error> {
    use v2_types::ParameterValue as P;
    use v4::ParameterValue as Q;
    Ok(match p {
        P::Boolean(v) => Q::Boolean(v),
        P::Int8(v) => Q::Int8(v),
        P::Int16(v) => Q::Int16(v),
        P::Int32(v) => Q::Int32(v),
        P::Int64(v) => Q::Int64(v),
        P::Uint8(v) => Q::Int16(v.into()),
        P::Uint16(v) => Q::Int32(v.into()),
        P::Uint32(v) => Q::Int64(v.into()),
        P::Uint64(v) => Q::Int64(i64::try_from(v).map_err(|_| {
            v2_types::Error::BadParameter(format!("{v} does not fit PostgreSQL's int8"))
        })?),
        P::Floating32(v) => Q::Floating32(v),
        P::Floating64(v) => Q::Floating64(v),
        P::Str(v) => Q::Str(v),
        P::Binary(v) => Q::Binary(v),
        P::DbNull => Q::DbNull,
    })
}

fn v2_value(v: v4::DbValue) -> v2_types::DbValue {
    use v2_types::DbValue as W;
    use v4::DbValue as V;
    match v {
        V::Boolean(v) => W::Boolean(v),
        V::Int8(v) => W::Int8(v),
        V::Int16(v) => W::Int16(v),
        V::Int32(v) => W::Int32(v),
        V::Int64(v) => W::Int64(v),
        V::Floating32(v) => W::Floating32(v),
        V::Floating64(v) => W::Floating64(v),
        V::Str(v) | V::Uuid(v) | V::Decimal(v) => W::Str(v),
        V::Binary(v) | V::Jsonb(v) => W::Binary(v),
        V::DbNull => W::DbNull,
        _ => W::Unsupported,
    }
}

fn v2_data_type(t: v4::DbDataType) -> v2_types::DbDataType {
    use v2_types::DbDataType as U;
    use v4::DbDataType as T;
    match t {
        T::Boolean => U::Boolean,
        T::Int8 => U::Int8,
        T::Int16 => U::Int16,
        T::Int32 => U::Int32,
        T::Int64 => U::Int64,
        T::Floating32 => U::Floating32,
        T::Floating64 => U::Floating64,
        T::Str | T::Uuid | T::Decimal => U::Str,
        T::Binary | T::Jsonb => U::Binary,
        _ => U::Other,
    }
}

fn v2_error(e: v4::Error) -> v2_types::Error {
    match e {
        v4::Error::ConnectionFailed(m) => v2_types::Error::ConnectionFailed(m),
        v4::Error::BadParameter(m) => v2_types::Error::BadParameter(m),
        v4::Error::QueryFailed(q) => v2_types::Error::QueryFailed(query_text(q)),
        v4::Error::ValueConversionFailed(m) => v2_types::Error::ValueConversionFailed(m),
        v4::Error::Other(m) => v2_types::Error::Other(m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::Network;
    use v4::HostConnectionBuilder;

    #[tokio::test]
    async fn an_instance_holds_at_most_sixteen_connection_builders() {
        let grant =
            OutboundPolicy::new("c", &[], &Default::default(), 1 << 20, Network::Process).unwrap();
        let mut handles = PostgresHandles::default();
        let trace = crate::telemetry::TraceParent::default();
        let mut view = PostgresView {
            component: "c",
            trace: &trace,
            grant: &grant,
            handles: &mut handles,
        };
        let mut builders = Vec::new();
        for _ in 0..MAX_POSTGRES_BUILDERS {
            builders.push(view.new("postgres://127.0.0.1/db".into()).await.unwrap());
        }
        let refused = view
            .new("postgres://127.0.0.1/db".into())
            .await
            .unwrap_err();
        assert_eq!(
            refused.to_string(),
            "more than 16 PostgreSQL connection builders open; drop one first"
        );
        // A dropped builder's slot serves the next one.
        HostConnectionBuilder::drop(&mut view, builders.pop().unwrap())
            .await
            .unwrap();
        view.new("postgres://127.0.0.1/db".into()).await.unwrap();
    }
}
