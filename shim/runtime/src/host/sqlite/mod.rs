//! Spin's SQLite interfaces: `fermyon:spin/sqlite@2.0.0` (spin-sdk 3.x and older) and
//! `spin:sqlite/sqlite@3.1.0` (current SDKs; `@3.0.0` imports link to it by semver).
//!
//! A component opens the databases its `sqlite_databases` grants: `default` (the app's
//! state directory unless the runtime config file places it) and those the runtime
//! config file adds. An open connection holds one pooled SQLite connection, so
//! `last-insert-rowid` and `changes` answer for its own statements. Statements run on
//! Tokio's blocking threads within [`crate::host::sqlite::db`]'s bounds.

pub mod db;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use wasmtime::component::{Accessor, FutureReader, HasData, Linker, Resource, StreamReader};

use crate::host::bindings::current::spin::sqlite::sqlite as v3;
use crate::host::bindings::spin::fermyon::spin2_0_0::sqlite::{
    self as v2, Error, QueryResult, Value,
};
use crate::host::capability::{CapabilityView, HostCapability};
use crate::host::capped_table::CappedTable;
use crate::host::sqlite::db::{SqliteDb, connect_async};
use crate::telemetry::TraceSpan;
use opentelemetry::trace::SpanKind;

/// Most SQLite connections one instance may hold open at once.
const MAX_OPEN_CONNECTIONS: usize = 8;

/// The app's SQLite databases, by label (labels may share one).
pub type SqliteDatabases = HashMap<String, Arc<SqliteDb>>;

/// The databases a component may open.
#[derive(Debug, Clone)]
pub struct SqliteAccess {
    /// Labels the manifest grants (`sqlite_databases`).
    pub granted: Vec<String>,
    /// The app's databases.
    pub databases: Arc<SqliteDatabases>,
}

/// An open connection's database and SQLite connection, taken out of the resource
/// table to use off the guest's thread.
type Connected = (Arc<SqliteDb>, Arc<Mutex<Option<Connection>>>);

/// A connection the guest opened; empty once it has been handed back to the pool.
#[derive(Debug)]
pub struct OpenConnection {
    db: Arc<SqliteDb>,
    conn: Arc<Mutex<Option<Connection>>>,
}

/// The connections one instance holds, in either interface.
#[derive(Debug, Default)]
pub struct SqliteHandles {
    connections: CappedTable<OpenConnection, MAX_OPEN_CONNECTIONS>,
}

/// SQLite: `fermyon:spin/sqlite@2.0.0` and `spin:sqlite/sqlite@3.1.0`.
pub struct Sqlite;

pub type SqliteView<'a> = CapabilityView<'a, SqliteAccess, SqliteHandles>;

impl HasData for Sqlite {
    type Data<'a> = SqliteView<'a>;
}

impl HostCapability for Sqlite {
    type Grant = SqliteAccess;
    type Handles = SqliteHandles;

    fn add_to_linker<T: Send + 'static>(
        linker: &mut Linker<T>,
        view: fn(&mut T) -> SqliteView<'_>,
    ) -> wasmtime::Result<()> {
        v2::add_to_linker::<T, Self>(linker, view)?;
        v3::add_to_linker::<T, Self>(linker, view)
    }
}

impl SqliteView<'_> {
    /// Opens a connection for the guest, in either interface: granted by
    /// `sqlite_databases`, backed, and within the open-connection limit.
    async fn open_database<R: 'static>(
        &mut self,
        label: String,
    ) -> wasmtime::Result<Result<Resource<R>, Error>> {
        let db = match self.database(&label) {
            Ok(db) => db,
            Err(e) => return Ok(Err(e)),
        };
        Ok(match connect_async(&db).await? {
            Ok(conn) => self.keep_connection(db, conn),
            Err(e) => Err(e),
        })
    }

    fn database(&self, label: &str) -> Result<Arc<SqliteDb>, Error> {
        if !self.grant.granted.iter().any(|g| g == label) {
            tracing::warn!(
                component = %self.component,
                database = %label,
                "SQLite database not granted: add it to `sqlite_databases` in spin.toml"
            );
            return Err(Error::AccessDenied);
        }
        let db = self
            .grant
            .databases
            .get(label)
            .cloned()
            .ok_or(Error::NoSuchDatabase)?;
        if self.handles.connections.is_full() {
            return Err(too_many_connections());
        }
        Ok(db)
    }

    /// Hands a new connection to the guest, or back to the pool when the instance
    /// already holds as many as it may (another was opened while this one connected).
    fn keep_connection<R: 'static>(
        &mut self,
        db: Arc<SqliteDb>,
        conn: Connection,
    ) -> Result<Resource<R>, Error> {
        let open = OpenConnection {
            db,
            conn: Arc::new(Mutex::new(Some(conn))),
        };
        self.handles.connections.push(open).map_err(|refused| {
            refused.release();
            too_many_connections()
        })
    }

    fn close_database<R: 'static>(&mut self, conn: Resource<R>) -> wasmtime::Result<()> {
        self.handles.connections.remove(conn)?.release();
        Ok(())
    }

    fn connection<R: 'static>(&self, conn: &Resource<R>) -> wasmtime::Result<Connected> {
        let open = self.handles.connections.get(conn)?;
        Ok((open.db.clone(), open.conn.clone()))
    }
}

impl OpenConnection {
    /// Gives the SQLite connection back to the database's pool.
    fn release(self) {
        let taken = self.conn.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(conn) = taken {
            self.db.release(conn);
        }
    }
}

fn too_many_connections() -> Error {
    Error::Io(format!(
        "more than {MAX_OPEN_CONNECTIONS} SQLite connections open; drop one first"
    ))
}

/// Runs a statement on a blocking thread, within `span` (failed with the error).
async fn execute(
    mut span: TraceSpan,
    (db, conn): Connected,
    statement: String,
    parameters: Vec<Value>,
) -> wasmtime::Result<Result<QueryResult, Error>> {
    let done = tokio::task::spawn_blocking(move || {
        let conn = conn.lock().unwrap_or_else(|p| p.into_inner());
        match conn.as_ref() {
            Some(conn) => db.execute(conn, &statement, parameters),
            None => Err(Error::InvalidConnection),
        }
    })
    .await?;
    if let Err(e) = &done {
        span.fail(format!("{e:?}"));
    }
    Ok(done)
}

/// The span of one statement (`spin_sqlite.execute`), under the instance's trace.
fn statement_span(trace: &crate::telemetry::TraceParent) -> TraceSpan {
    trace.span("spin_sqlite.execute", SpanKind::Client, || {
        vec![opentelemetry::KeyValue::new("db.system.name", "sqlite")]
    })
}

/// Reads per-connection state (no I/O).
fn on_connection<T: Default>((_, conn): Connected, read: impl FnOnce(&Connection) -> T) -> T {
    let conn = conn.lock().unwrap_or_else(|p| p.into_inner());
    conn.as_ref().map(read).unwrap_or_default()
}

impl v2::Host for SqliteView<'_> {}

impl v2::HostConnection for SqliteView<'_> {
    async fn open(
        &mut self,
        database: String,
    ) -> wasmtime::Result<Result<Resource<v2::Connection>, Error>> {
        self.open_database(database).await
    }

    async fn execute(
        &mut self,
        conn: Resource<v2::Connection>,
        statement: String,
        parameters: Vec<Value>,
    ) -> wasmtime::Result<Result<QueryResult, Error>> {
        let span = statement_span(self.trace);
        execute(span, self.connection(&conn)?, statement, parameters).await
    }

    async fn drop(&mut self, conn: Resource<v2::Connection>) -> wasmtime::Result<()> {
        self.close_database(conn)
    }
}

impl From<Error> for v3::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::NoSuchDatabase => v3::Error::NoSuchDatabase,
            Error::AccessDenied => v3::Error::AccessDenied,
            Error::InvalidConnection => v3::Error::InvalidConnection,
            Error::DatabaseFull => v3::Error::DatabaseFull,
            Error::Io(m) => v3::Error::Io(m),
        }
    }
}

impl From<v3::Value> for Value {
    fn from(v: v3::Value) -> Self {
        match v {
            v3::Value::Integer(i) => Value::Integer(i),
            v3::Value::Real(r) => Value::Real(r),
            v3::Value::Text(t) => Value::Text(t),
            v3::Value::Blob(b) => Value::Blob(b),
            v3::Value::Null => Value::Null,
        }
    }
}

impl From<Value> for v3::Value {
    fn from(v: Value) -> Self {
        match v {
            Value::Integer(i) => v3::Value::Integer(i),
            Value::Real(r) => v3::Value::Real(r),
            Value::Text(t) => v3::Value::Text(t),
            Value::Blob(b) => v3::Value::Blob(b),
            Value::Null => v3::Value::Null,
        }
    }
}

fn rows_to_v3(rows: Vec<v2::RowResult>) -> Vec<v3::RowResult> {
    rows.into_iter()
        .map(|row| v3::RowResult {
            values: row.values.into_iter().map(Into::into).collect(),
        })
        .collect()
}

async fn execute_v3(
    span: TraceSpan,
    connection: Connected,
    statement: String,
    parameters: Vec<v3::Value>,
) -> wasmtime::Result<Result<QueryResult, v3::Error>> {
    let parameters = parameters.into_iter().map(Into::into).collect();
    Ok(execute(span, connection, statement, parameters)
        .await?
        .map_err(Into::into))
}

impl v3::Host for SqliteView<'_> {}

impl v3::HostConnection for SqliteView<'_> {
    async fn open(
        &mut self,
        database: String,
    ) -> wasmtime::Result<Result<Resource<v3::Connection>, v3::Error>> {
        Ok(self.open_database(database).await?.map_err(Into::into))
    }

    async fn execute(
        &mut self,
        conn: Resource<v3::Connection>,
        statement: String,
        parameters: Vec<v3::Value>,
    ) -> wasmtime::Result<Result<v3::QueryResult, v3::Error>> {
        let span = statement_span(self.trace);
        let result = execute_v3(span, self.connection(&conn)?, statement, parameters).await?;
        Ok(result.map(|r| v3::QueryResult {
            columns: r.columns,
            rows: rows_to_v3(r.rows),
        }))
    }

    async fn last_insert_rowid(&mut self, conn: Resource<v3::Connection>) -> wasmtime::Result<i64> {
        Ok(on_connection(
            self.connection(&conn)?,
            Connection::last_insert_rowid,
        ))
    }

    async fn changes(&mut self, conn: Resource<v3::Connection>) -> wasmtime::Result<u64> {
        Ok(on_connection(self.connection(&conn)?, Connection::changes))
    }

    async fn drop(&mut self, conn: Resource<v3::Connection>) -> wasmtime::Result<()> {
        self.close_database(conn)
    }
}

fn connection_of<T>(
    accessor: &Accessor<T, Sqlite>,
    conn: &Resource<v3::Connection>,
) -> wasmtime::Result<Connected> {
    accessor.with(|mut access| access.get().connection(conn))
}

impl<T> v3::HostConnectionWithStore<T> for Sqlite {
    async fn open_async(
        accessor: &Accessor<T, Self>,
        database: String,
    ) -> wasmtime::Result<Result<Resource<v3::Connection>, v3::Error>> {
        let db = match accessor.with(|mut access| access.get().database(&database)) {
            Ok(db) => db,
            Err(e) => return Ok(Err(e.into())),
        };
        let conn = connect_async(&db).await?;
        let conn = match conn {
            Ok(conn) => conn,
            Err(e) => return Ok(Err(e.into())),
        };
        Ok(accessor.with(|mut access| access.get().keep_connection(db, conn).map_err(Into::into)))
    }

    /// The statement runs to completion (its result bounded), then its rows are
    /// streamed to the guest; the future reports success.
    async fn execute_async(
        accessor: &Accessor<T, Self>,
        conn: Resource<v3::Connection>,
        statement: String,
        parameters: Vec<v3::Value>,
    ) -> wasmtime::Result<
        Result<
            (
                Vec<String>,
                StreamReader<v3::RowResult>,
                FutureReader<Result<(), v3::Error>>,
            ),
            v3::Error,
        >,
    > {
        let connection = connection_of(accessor, &conn)?;
        let span = accessor.with(|mut access| statement_span(access.get().trace));
        let result = match execute_v3(span, connection, statement, parameters).await? {
            Ok(result) => result,
            Err(e) => return Ok(Err(e)),
        };
        accessor.with(|mut access| {
            let rows = StreamReader::new(&mut access, rows_to_v3(result.rows))?;
            let done = FutureReader::new(&mut access, async { wasmtime::Result::<_>::Ok(Ok(())) })?;
            Ok(Ok((result.columns, rows, done)))
        })
    }

    async fn last_insert_rowid_async(
        accessor: &Accessor<T, Self>,
        conn: Resource<v3::Connection>,
    ) -> wasmtime::Result<i64> {
        Ok(on_connection(
            connection_of(accessor, &conn)?,
            Connection::last_insert_rowid,
        ))
    }

    async fn changes_async(
        accessor: &Accessor<T, Self>,
        conn: Resource<v3::Connection>,
    ) -> wasmtime::Result<u64> {
        Ok(on_connection(
            connection_of(accessor, &conn)?,
            Connection::changes,
        ))
    }
}
