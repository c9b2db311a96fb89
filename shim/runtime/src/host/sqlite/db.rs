//! The SQLite databases behind Spin's `sqlite` interfaces, hardened for guests that
//! write their own SQL.
//!
//! A guest's statement may only touch its own database: `ATTACH` (and so `VACUUM
//! INTO`, which attaches its target) is refused, as is every `PRAGMA` outside a short
//! list of harmless ones (a guest must not lift the size cap, the cache size or the
//! busy timeout), and the connection runs in SQLite's defensive mode. What a statement
//! may make the host hold is bounded: the database by `max_page_count`, one value by
//! `SQLITE_LIMIT_LENGTH`, a result by [`Bounds::max_result_bytes`], and its running
//! time by a progress handler that interrupts it at [`Bounds::timeout`]. What a
//! statement needs beside its database (sorts, `TEMP` tables, materialized views,
//! transient indexes) stays in memory (`temp_store = MEMORY`), never in the node's
//! temporary directory: `TEMP` tables are capped at the smaller of the database's cap
//! and an instance's memory, and all of SQLite's memory in the process by
//! [`limit_process_heap`].
//!
//! Connections are pooled per database (a guest's open connection holds one until it
//! drops it), so requests run their statements concurrently where SQLite allows.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::limits::Limit;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use crate::host::bindings::spin::fermyon::spin2_0_0::sqlite::{
    Error, QueryResult, RowResult, Value,
};

/// Idle connections kept per database for the next request.
const MAX_IDLE_CONNECTIONS: usize = 8;

/// Pragmas a guest may run: schema introspection, checks and per-connection switches
/// that change nothing outside the statement's own database.
const ALLOWED_PRAGMAS: &[&str] = &[
    "application_id",
    "collation_list",
    "data_version",
    "defer_foreign_keys",
    "foreign_key_check",
    "foreign_key_list",
    "foreign_keys",
    "freelist_count",
    "index_info",
    "index_list",
    "index_xinfo",
    "integrity_check",
    "optimize",
    "page_count",
    "page_size",
    "quick_check",
    "recursive_triggers",
    "schema_version",
    "table_info",
    "table_list",
    "table_xinfo",
    "user_version",
];

/// Of [`ALLOWED_PRAGMAS`], those a guest may also set.
const SETTABLE_PRAGMAS: &[&str] = &[
    "application_id",
    "defer_foreign_keys",
    "foreign_keys",
    "optimize",
    "recursive_triggers",
    "user_version",
];

/// What one statement may make the host hold, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Most bytes of one result (column names and values), and of one value.
    pub max_result_bytes: usize,
    /// Longest one statement runs before it is interrupted.
    pub timeout: Duration,
}

/// Caps all the memory SQLite uses in this process (page caches, sorts and `TEMP`
/// tables of every connection together) at `max_bytes`: past it a statement fails with
/// "out of memory" and the connection stays usable. SQLite's own limit is process-wide
/// and only ever lowered, so the runtime sets it once per app (one app per process),
/// to an instance's memory.
pub fn limit_process_heap(max_bytes: usize) -> rusqlite::Result<()> {
    let conn = Connection::open_in_memory()?;
    conn.query_row(&format!("PRAGMA hard_heap_limit = {max_bytes}"), [], |_| {
        Ok(())
    })
}

/// One SQLite database: a file, or memory shared by its connections.
#[derive(Debug)]
pub struct SqliteDb {
    /// The file, or `:memory:`, for messages.
    shown: PathBuf,
    /// What `Connection::open_with_flags` opens.
    target: String,
    flags: OpenFlags,
    is_file: bool,
    max_bytes: u64,
    bounds: Bounds,
    idle: Mutex<Vec<Connection>>,
    /// Restores the switches a guest may set to a new connection's values.
    reset: String,
    /// Keeps an in-memory database alive while no guest holds a connection.
    _anchor: Option<Mutex<Connection>>,
}

#[derive(Debug, thiserror::Error)]
#[error("SQLite database {}: {source}", path.display())]
pub struct SqliteDbError {
    path: PathBuf,
    source: rusqlite::Error,
}

impl SqliteDb {
    /// Opens (or creates) a database file, capped at `max_bytes`.
    pub fn open(path: &Path, max_bytes: u64, bounds: Bounds) -> Result<Self, SqliteDbError> {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let mut db = Self {
            shown: path.to_path_buf(),
            target: path.to_string_lossy().into_owned(),
            flags: OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            is_file: true,
            max_bytes,
            bounds,
            idle: Mutex::new(Vec::new()),
            reset: String::new(),
            _anchor: None,
        };
        // Opening one now reports a bad path at start, not at the first request.
        let first = db.new_connection().map_err(|source| SqliteDbError {
            path: path.to_path_buf(),
            source,
        })?;
        db.reset = reset_of(&first).map_err(|source| SqliteDbError {
            path: path.to_path_buf(),
            source,
        })?;
        db.release(first);
        Ok(db)
    }

    /// A database in memory for as long as the app runs, capped like a file.
    pub fn in_memory(max_bytes: u64, bounds: Bounds) -> Result<Self, SqliteDbError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let mut db = Self {
            shown: PathBuf::from(":memory:"),
            // A `memdb` name starting with `/` is shared by the process's connections.
            target: format!(
                "file:/spin-kube-sqlite-{}-{n}?vfs=memdb",
                std::process::id()
            ),
            flags: OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            is_file: false,
            max_bytes,
            bounds,
            idle: Mutex::new(Vec::new()),
            reset: String::new(),
            _anchor: None,
        };
        let anchor = db.new_connection().map_err(|source| SqliteDbError {
            path: db.shown.clone(),
            source,
        })?;
        db.reset = reset_of(&anchor).map_err(|source| SqliteDbError {
            path: db.shown.clone(),
            source,
        })?;
        db._anchor = Some(Mutex::new(anchor));
        Ok(db)
    }

    /// A connection for a guest: an idle one, or a new one (which may touch the disk:
    /// async callers use [`connect_async`]).
    pub fn connect(&self) -> Result<Connection, Error> {
        match self.take_idle() {
            Some(conn) => Ok(conn),
            None => self.new_connection().map_err(|e| self.error(e.into())),
        }
    }

    fn take_idle(&self) -> Option<Connection> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }

    /// Takes back a connection a guest is done with. Only a clean one goes back to the
    /// pool: no open transaction and no `TEMP` objects (the next request must not see
    /// them, nor inherit what they hold), the per-connection switches a guest may set
    /// reset.
    pub fn release(&self, conn: Connection) {
        let clean = conn.is_autocommit()
            && conn
                .query_row("SELECT count(*) FROM temp.sqlite_schema", [], |row| {
                    row.get::<_, i64>(0)
                })
                .is_ok_and(|n| n == 0)
            && conn.execute_batch(&self.reset).is_ok();
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if clean && idle.len() < MAX_IDLE_CONNECTIONS {
            idle.push(conn);
        }
    }

    /// Runs one statement with its parameters, within the database's bounds.
    pub fn execute(
        &self,
        conn: &Connection,
        statement: &str,
        parameters: Vec<Value>,
    ) -> Result<QueryResult, Error> {
        let deadline = Instant::now() + self.bounds.timeout;
        conn.progress_handler(1000, Some(move || Instant::now() >= deadline));
        let result = self.run(conn, statement, parameters);
        conn.progress_handler(0, None::<fn() -> bool>);
        result.map_err(|e| {
            if Instant::now() >= deadline {
                Error::Io(format!(
                    "the statement ran longer than {} s and was interrupted",
                    self.bounds.timeout.as_secs()
                ))
            } else {
                self.error(e)
            }
        })
    }

    fn run(
        &self,
        conn: &Connection,
        statement: &str,
        parameters: Vec<Value>,
    ) -> Result<QueryResult, QueryError> {
        let mut prepared = conn.prepare_cached(statement)?;
        let columns: Vec<String> = prepared
            .column_names()
            .into_iter()
            .map(String::from)
            .collect();
        let mut size: usize = columns.iter().map(String::len).sum();
        let params = parameters.iter().map(|v| match v {
            Value::Integer(i) => rusqlite::types::Value::Integer(*i),
            Value::Real(r) => rusqlite::types::Value::Real(*r),
            Value::Text(t) => rusqlite::types::Value::Text(t.clone()),
            Value::Blob(b) => rusqlite::types::Value::Blob(b.clone()),
            Value::Null => rusqlite::types::Value::Null,
        });
        let mut rows = prepared.query(rusqlite::params_from_iter(params))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let mut values = Vec::with_capacity(columns.len());
            for i in 0..columns.len() {
                let value = match row.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(i) => Value::Integer(i),
                    ValueRef::Real(r) => Value::Real(r),
                    ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                };
                size += match &value {
                    Value::Text(t) => t.len(),
                    Value::Blob(b) => b.len(),
                    _ => 8,
                };
                if size > self.bounds.max_result_bytes {
                    return Err(QueryError::TooLarge(self.bounds.max_result_bytes));
                }
                values.push(value);
            }
            out.push(RowResult { values });
        }
        Ok(QueryResult { columns, rows: out })
    }

    fn new_connection(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(&self.target, self.flags)?;
        if self.is_file {
            conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
            conn.execute_batch("PRAGMA busy_timeout = 5000;")?;
        }
        conn.execute_batch("PRAGMA temp_store = MEMORY;")?;
        let page_size: u64 = conn.query_row("PRAGMA page_size", [], |row| row.get(0))?;
        let pages = |bytes: u64| bytes.div_ceil(page_size.max(1)).max(1);
        // `TEMP` tables live in a database of their own, in memory.
        let max_temp_bytes = self.max_bytes.min(self.bounds.max_result_bytes as u64);
        for (schema, max_pages) in [
            ("main", pages(self.max_bytes)),
            ("temp", pages(max_temp_bytes)),
        ] {
            // The pragma answers with the new maximum, so it is read like a query.
            conn.query_row(
                &format!("PRAGMA {schema}.max_page_count = {max_pages}"),
                [],
                |_| Ok(()),
            )?;
        }
        conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)?;
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA,
            false,
        )?;
        conn.set_limit(Limit::SQLITE_LIMIT_ATTACHED, 0)?;
        let longest = i32::try_from(self.bounds.max_result_bytes).unwrap_or(i32::MAX);
        conn.set_limit(Limit::SQLITE_LIMIT_LENGTH, longest.max(1 << 10))?;
        conn.authorizer(Some(authorize));
        Ok(conn)
    }

    fn error(&self, e: QueryError) -> Error {
        let e = match e {
            QueryError::TooLarge(max) => {
                return Error::Io(format!(
                    "the result is larger than {} MiB; select fewer rows or columns",
                    max >> 20
                ));
            }
            QueryError::Sqlite(e) => e,
        };
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => return Error::DatabaseFull,
            Some(rusqlite::ErrorCode::AuthorizationForStatementDenied) => {
                return Error::Io(format!(
                    "{e}: this runtime refuses ATTACH, VACUUM INTO, load_extension() and \
                     pragmas other than {}",
                    ALLOWED_PRAGMAS.join(", ")
                ));
            }
            _ => {}
        }
        tracing::debug!(db = %self.shown.display(), error = %e, "SQLite statement failed");
        Error::Io(e.to_string())
    }
}

/// A connection for a guest from async code: an idle one at once (the common case: no
/// thread hop), else a new one opened on a blocking thread.
pub async fn connect_async(db: &Arc<SqliteDb>) -> wasmtime::Result<Result<Connection, Error>> {
    if let Some(conn) = db.take_idle() {
        return Ok(Ok(conn));
    }
    let db = db.clone();
    Ok(tokio::task::spawn_blocking(move || db.connect()).await?)
}

/// The pragmas that put a connection's guest-settable switches back to the values of
/// `fresh` (`defer_foreign_keys` resets itself at every commit).
fn reset_of(fresh: &Connection) -> rusqlite::Result<String> {
    let mut reset = String::new();
    for pragma in ["foreign_keys", "recursive_triggers"] {
        let value: i64 = fresh.query_row(&format!("PRAGMA {pragma}"), [], |row| row.get(0))?;
        reset.push_str(&format!("PRAGMA {pragma} = {value};"));
    }
    Ok(reset)
}

/// Why a statement produced no result.
#[derive(Debug)]
enum QueryError {
    Sqlite(rusqlite::Error),
    TooLarge(usize),
}

impl From<rusqlite::Error> for QueryError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sqlite(e)
    }
}

/// What a guest's statement may do (see the module's documentation).
fn authorize(ctx: AuthContext<'_>) -> Authorization {
    match ctx.action {
        AuthAction::Attach { .. } | AuthAction::Detach { .. } => Authorization::Deny,
        AuthAction::Pragma {
            pragma_name,
            pragma_value,
        } => {
            let name = pragma_name.to_ascii_lowercase();
            let allowed = ALLOWED_PRAGMAS.contains(&name.as_str())
                && (pragma_value.is_none() || SETTABLE_PRAGMAS.contains(&name.as_str()));
            if allowed {
                Authorization::Allow
            } else {
                Authorization::Deny
            }
        }
        AuthAction::Function { function_name } => {
            match function_name.to_ascii_lowercase().as_str() {
                "load_extension" | "fts3_tokenizer" => Authorization::Deny,
                _ => Authorization::Allow,
            }
        }
        _ => Authorization::Allow,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDS: Bounds = Bounds {
        max_result_bytes: 1 << 20,
        timeout: Duration::from_secs(2),
    };

    fn run(db: &SqliteDb, conn: &Connection, sql: &str, params: Vec<Value>) -> QueryResult {
        db.execute(conn, sql, params)
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
    }

    fn refused(db: &SqliteDb, conn: &Connection, sql: &str) -> String {
        match db.execute(conn, sql, Vec::new()) {
            Err(Error::Io(m)) => m,
            other => panic!("{sql}: {other:?}"),
        }
    }

    #[test]
    fn values_round_trip_and_data_persists() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.db");
        {
            let db = SqliteDb::open(&path, 1 << 20, BOUNDS).unwrap();
            let conn = db.connect().unwrap();
            run(
                &db,
                &conn,
                "CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB, n)",
                vec![],
            );
            run(
                &db,
                &conn,
                "INSERT INTO t VALUES (?, ?, ?, ?, ?)",
                vec![
                    Value::Integer(-7),
                    Value::Real(1.5),
                    Value::Text("héllo".into()),
                    Value::Blob(vec![0, 255]),
                    Value::Null,
                ],
            );
            assert_eq!(conn.changes(), 1);
            db.release(conn);
        }
        let db = SqliteDb::open(&path, 1 << 20, BOUNDS).unwrap();
        let conn = db.connect().unwrap();
        let result = run(&db, &conn, "SELECT * FROM t", vec![]);
        assert_eq!(result.columns, ["i", "r", "s", "b", "n"]);
        assert!(matches!(
            result.rows[0].values.as_slice(),
            [
                Value::Integer(-7),
                Value::Real(r),
                Value::Text(s),
                Value::Blob(b),
                Value::Null
            ] if *r == 1.5 && s == "héllo" && b == &[0, 255]
        ));
    }

    #[test]
    fn statements_cannot_reach_other_files_or_lift_the_caps() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDb::open(&dir.path().join("app.db"), 1 << 20, BOUNDS).unwrap();
        let conn = db.connect().unwrap();
        let outside = dir.path().join("outside.db");
        for sql in [
            format!("ATTACH DATABASE '{}' AS x", outside.display()),
            format!("VACUUM INTO '{}'", outside.display()),
            "PRAGMA max_page_count = 1000000000".into(),
            "PRAGMA cache_size = -100000000".into(),
            "PRAGMA busy_timeout = 100000000".into(),
            "PRAGMA writable_schema = ON".into(),
            "PRAGMA temp_store_directory = '/tmp'".into(),
            "SELECT load_extension('/tmp/x.so')".into(),
        ] {
            let message = refused(&db, &conn, &sql);
            assert!(
                message.contains("not authorized") || message.contains("authorization denied"),
                "{sql}: {message}"
            );
        }
        assert!(!outside.exists());
        run(&db, &conn, "PRAGMA foreign_keys = ON", vec![]);
        run(&db, &conn, "PRAGMA user_version = 3", vec![]);
        let version = run(&db, &conn, "PRAGMA user_version", vec![]);
        assert!(matches!(version.rows[0].values[0], Value::Integer(3)));
    }

    #[test]
    fn size_results_values_and_time_are_bounded() {
        let db = SqliteDb::in_memory(
            256 << 10,
            Bounds {
                max_result_bytes: 64 << 10,
                timeout: Duration::from_millis(300),
            },
        )
        .unwrap();
        let conn = db.connect().unwrap();
        run(&db, &conn, "CREATE TABLE t (v BLOB)", vec![]);
        let full = (0..100).find_map(|_| {
            db.execute(
                &conn,
                "INSERT INTO t VALUES (?)",
                vec![Value::Blob(vec![1; 16 << 10])],
            )
            .err()
        });
        assert!(matches!(full, Some(Error::DatabaseFull)), "{full:?}");
        let message = refused(&db, &conn, "SELECT v FROM t");
        assert!(message.contains("larger than"), "{message}");
        let message = refused(&db, &conn, "SELECT zeroblob(1000000)");
        assert!(message.contains("too big"), "{message}");
        let started = Instant::now();
        let message = refused(
            &db,
            &conn,
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) \
             SELECT count(*) FROM c",
        );
        assert!(message.contains("interrupted"), "{message}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn only_clean_connections_return_to_the_pool() {
        let db = SqliteDb::in_memory(1 << 20, BOUNDS).unwrap();
        let conn = db.connect().unwrap();
        run(&db, &conn, "CREATE TEMP TABLE scratch (x)", vec![]);
        db.release(conn);
        let conn = db.connect().unwrap();
        assert!(
            db.execute(&conn, "SELECT * FROM scratch", vec![]).is_err(),
            "a TEMP table reached the next request"
        );
        let switch = |conn: &Connection| -> i64 {
            conn.query_row("PRAGMA recursive_triggers", [], |row| row.get(0))
                .unwrap()
        };
        let default = switch(&conn);
        run(
            &db,
            &conn,
            &format!("PRAGMA recursive_triggers = {}", 1 - default),
            vec![],
        );
        db.release(conn);
        let conn = db.connect().unwrap();
        assert_eq!(switch(&conn), default, "a switch reached the next request");
        run(&db, &conn, "BEGIN", vec![]);
        db.release(conn);
        assert!(db.connect().unwrap().is_autocommit());
    }

    #[test]
    fn in_memory_databases_are_shared_by_their_connections() {
        let db = SqliteDb::in_memory(1 << 20, BOUNDS).unwrap();
        let other = SqliteDb::in_memory(1 << 20, BOUNDS).unwrap();
        let a = db.connect().unwrap();
        let b = db.connect().unwrap();
        run(&db, &a, "CREATE TABLE t (x)", vec![]);
        run(&db, &a, "INSERT INTO t VALUES (1)", vec![]);
        let seen = run(&db, &b, "SELECT x FROM t", vec![]);
        assert_eq!(seen.rows.len(), 1);
        let c = other.connect().unwrap();
        assert!(other.execute(&c, "SELECT x FROM t", vec![]).is_err());
    }
}
