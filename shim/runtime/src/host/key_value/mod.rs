//! `fermyon:spin/key-value@2.0.0` on SQLite. Every database call runs on Tokio's
//! blocking threads, so a slow disk or a busy lock never holds an async worker.
//!
//! A store lives in a SQLite file (the `default` store in the app's state directory,
//! others where the runtime config file puts them), in the same table layout Spin uses
//! for `.spin/sqlite_key_value.db`, so data survives restarts and a file written by
//! `spin up` can be reused; or in an in-memory database.

pub mod backend;
pub mod current;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};
use wasmtime::component::{HasData, Linker, Resource};

use crate::host::bindings::spin::fermyon::spin2_0_0::key_value::{self, Error, Store};
use crate::host::capability::{CapabilityView, HostCapability};
use crate::host::capped_table::CappedTable;
use crate::host::key_value::backend::KeyValueBackend;
use crate::telemetry::TraceSpan;
use opentelemetry::trace::SpanKind;

/// A SQLite database behind key-value stores.
#[derive(Debug)]
pub struct KeyValueDb {
    /// The file, or `:memory:`.
    path: PathBuf,
    conn: Mutex<Connection>,
}

#[derive(Debug, thiserror::Error)]
#[error("key-value database {}: {source}", path.display())]
pub struct KeyValueDbError {
    path: PathBuf,
    source: rusqlite::Error,
}

impl KeyValueDb {
    /// Opens (or creates) the database, capped at `max_bytes` (SQLite's
    /// `max_page_count`): past it, writes fail with "database or disk is full".
    pub fn open(path: &Path, max_bytes: u64) -> Result<Self, KeyValueDbError> {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let conn = Connection::open(path).map_err(|source| KeyValueDbError {
            path: path.to_path_buf(),
            source,
        })?;
        Self::init(conn, path, max_bytes)
    }

    /// An in-memory database, capped like a file.
    pub fn in_memory(max_bytes: u64) -> Result<Self, KeyValueDbError> {
        let path = Path::new(":memory:");
        let conn = Connection::open_in_memory().map_err(|source| KeyValueDbError {
            path: path.to_path_buf(),
            source,
        })?;
        Self::init(conn, path, max_bytes)
    }

    fn init(conn: Connection, path: &Path, max_bytes: u64) -> Result<Self, KeyValueDbError> {
        let err = |source| KeyValueDbError {
            path: path.to_path_buf(),
            source,
        };
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA busy_timeout = 5000;
             CREATE TABLE IF NOT EXISTS spin_key_value (
               store TEXT NOT NULL,
               key   TEXT NOT NULL,
               value BLOB NOT NULL,
               PRIMARY KEY (store, key)
             );",
        )
        .map_err(err)?;
        let page_size: u64 = conn
            .query_row("PRAGMA page_size", [], |row| row.get(0))
            .map_err(err)?;
        let max_pages = max_bytes.div_ceil(page_size.max(1)).max(1);
        // The pragma answers with the new maximum, so it is read like a query.
        conn.query_row(&format!("PRAGMA max_page_count = {max_pages}"), [], |_| {
            Ok(())
        })
        .map_err(err)?;
        Ok(Self {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, Error> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&conn).map_err(|e| {
            tracing::error!(db = %self.path.display(), error = %e, "key-value operation failed");
            Error::Other(e.to_string())
        })
    }

    pub fn get(&self, store: &str, key: &str) -> Result<Option<Vec<u8>>, Error> {
        self.with(|c| {
            c.prepare_cached("SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .query_row(params![store, key], |row| row.get(0))
                .optional()
        })
    }

    pub fn set(&self, store: &str, key: &str, value: &[u8]) -> Result<(), Error> {
        self.with(|c| {
            c.prepare_cached(
                "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![store, key, value])
            .map(drop)
        })
    }

    pub fn delete(&self, store: &str, key: &str) -> Result<(), Error> {
        self.with(|c| {
            c.prepare_cached("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .execute(params![store, key])
                .map(drop)
        })
    }

    pub fn exists(&self, store: &str, key: &str) -> Result<bool, Error> {
        Ok(self.get(store, key)?.is_some())
    }

    /// Adds `delta` to the key's value, read and written as the decimal text of an
    /// `i64` (0 when absent), in one transaction.
    pub fn increment(&self, store: &str, key: &str, delta: i64) -> Result<i64, Error> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let result = (|| {
            let tx = conn.transaction()?;
            let current: Option<Vec<u8>> = tx
                .query_row(
                    "SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2",
                    params![store, key],
                    |row| row.get(0),
                )
                .optional()?;
            let current = match current {
                None => 0,
                Some(bytes) => match std::str::from_utf8(&bytes)
                    .ok()
                    .and_then(|t| t.trim().parse::<i64>().ok())
                {
                    Some(n) => n,
                    None => {
                        return Ok(Err(Error::Other(format!(
                            "the value of {key:?} is not a number"
                        ))));
                    }
                },
            };
            let next = current.saturating_add(delta);
            tx.execute(
                "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
                params![store, key, next.to_string().into_bytes()],
            )?;
            tx.commit()?;
            Ok(Ok(next))
        })();
        result.unwrap_or_else(|e: rusqlite::Error| {
            tracing::error!(db = %self.path.display(), error = %e, "key-value operation failed");
            Err(Error::Other(e.to_string()))
        })
    }

    /// Sets the key to `value` if it still holds `expected` (`None`: absent); whether
    /// it did.
    pub fn compare_and_swap(
        &self,
        store: &str,
        key: &str,
        expected: Option<&[u8]>,
        value: &[u8],
    ) -> Result<bool, Error> {
        self.with(|c| {
            let changed = match expected {
                Some(expected) => c
                    .prepare_cached(
                        "UPDATE spin_key_value SET value = ?4
                         WHERE store = ?1 AND key = ?2 AND value = ?3",
                    )?
                    .execute(params![store, key, expected, value])?,
                None => c
                    .prepare_cached(
                        "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                         ON CONFLICT (store, key) DO NOTHING",
                    )?
                    .execute(params![store, key, value])?,
            };
            Ok(changed == 1)
        })
    }

    pub fn keys(&self, store: &str) -> Result<Vec<String>, Error> {
        self.with(|c| {
            c.prepare_cached("SELECT key FROM spin_key_value WHERE store = ?1 ORDER BY key")?
                .query_map(params![store], |row| row.get(0))?
                .collect()
        })
    }
}

/// The app's key-value stores: each label's backend (labels may share one).
pub type KeyValueStores = std::collections::HashMap<String, Arc<KeyValueBackend>>;

/// The stores a component may open, and where they live.
#[derive(Debug, Clone)]
pub struct KeyValueAccess {
    /// Labels the manifest grants (`key_value_stores`).
    pub granted: Vec<String>,
    /// The app's stores.
    pub stores: Arc<KeyValueStores>,
}

/// A store opened by the guest: its label.
#[derive(Debug)]
pub struct OpenStore {
    label: String,
}

/// Most stores one instance may hold open at once.
const MAX_OPEN_STORES: usize = 16;

/// Most compare-and-swap handles one instance may hold at once: each holds a copy of
/// a value, so a guest must not pile them up.
const MAX_OPEN_CAS: usize = 16;

/// The stores and compare-and-swap handles one instance holds, in every key-value
/// interface (a store opened through one is the same kind of handle as through another).
#[derive(Debug, Default)]
pub struct KeyValueHandles {
    stores: CappedTable<OpenStore, MAX_OPEN_STORES>,
    cas: CappedTable<current::CasSnapshot, MAX_OPEN_CAS>,
}

/// Key-value: `fermyon:spin/key-value@2.0.0`, `spin:key-value@3.0.0` and
/// `wasi:keyvalue@0.2.0-draft2` (store, atomics, batch).
pub struct KeyValue;

pub type KeyValueView<'a> = CapabilityView<'a, KeyValueAccess, KeyValueHandles>;

impl HasData for KeyValue {
    type Data<'a> = KeyValueView<'a>;
}

impl HostCapability for KeyValue {
    type Grant = KeyValueAccess;
    type Handles = KeyValueHandles;

    fn add_to_linker<T: Send + 'static>(
        linker: &mut Linker<T>,
        view: fn(&mut T) -> KeyValueView<'_>,
    ) -> wasmtime::Result<()> {
        key_value::add_to_linker::<T, Self>(linker, view)?;
        current::add_to_linker(linker, view)
    }
}

impl key_value::Host for KeyValueView<'_> {}

impl key_value::HostStore for KeyValueView<'_> {
    async fn open(&mut self, label: String) -> wasmtime::Result<Result<Resource<Store>, Error>> {
        Ok(self.open_store(label))
    }

    async fn get(
        &mut self,
        store: Resource<Store>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        on_db(
            self.traced("spin_key_value.get"),
            self.db_of(&store)?,
            move |db, label| db.get(label, key),
        )
        .await
    }

    async fn set(
        &mut self,
        store: Resource<Store>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        on_db(
            self.traced("spin_key_value.set"),
            self.db_of(&store)?,
            move |db, label| db.set(label, key, value),
        )
        .await
    }

    async fn delete(
        &mut self,
        store: Resource<Store>,
        key: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        on_db(
            self.traced("spin_key_value.delete"),
            self.db_of(&store)?,
            move |db, label| db.delete(label, key),
        )
        .await
    }

    async fn exists(
        &mut self,
        store: Resource<Store>,
        key: String,
    ) -> wasmtime::Result<Result<bool, Error>> {
        on_db(
            self.traced("spin_key_value.exists"),
            self.db_of(&store)?,
            move |db, label| db.exists(label, key),
        )
        .await
    }

    async fn get_keys(
        &mut self,
        store: Resource<Store>,
    ) -> wasmtime::Result<Result<Vec<String>, Error>> {
        on_db(
            self.traced("spin_key_value.get_keys"),
            self.db_of(&store)?,
            |db, label| db.keys(label),
        )
        .await
    }

    async fn drop(&mut self, store: Resource<Store>) -> wasmtime::Result<()> {
        self.close_store(store)
    }
}

impl KeyValueView<'_> {
    /// Opens a store for the guest, in any of the key-value interfaces: granted by
    /// `key_value_stores`, backed, and within the open-store limit.
    pub(crate) fn open_store<R: 'static>(&mut self, label: String) -> Result<Resource<R>, Error> {
        if !self.grant.granted.contains(&label) {
            tracing::warn!(
                component = %self.component,
                store = %label,
                "key-value store not granted: add it to `key_value_stores` in spin.toml"
            );
            return Err(Error::AccessDenied);
        }
        if !self.grant.stores.contains_key(&label) {
            return Err(Error::NoSuchStore);
        }
        self.handles
            .stores
            .push(OpenStore { label })
            .map_err(|_| Error::StoreTableFull)
    }

    pub(crate) fn close_store<R: 'static>(&mut self, store: Resource<R>) -> wasmtime::Result<()> {
        self.handles.stores.remove(store).map(drop)
    }

    /// The database and label of an open store.
    pub(crate) fn db_of<R: 'static>(
        &self,
        store: &Resource<R>,
    ) -> wasmtime::Result<(Arc<KeyValueBackend>, String)> {
        let label = self.handles.stores.get(store)?.label.clone();
        Ok((self.db_of_label(&label)?, label))
    }

    /// The span of one call (`spin_key_value.get`, ...), under the instance's trace.
    pub(crate) fn traced(&self, name: &'static str) -> TraceSpan {
        self.trace.span(name, SpanKind::Client, || {
            vec![opentelemetry::KeyValue::new(
                "db.system.name",
                "spin_key_value",
            )]
        })
    }

    /// The database of a store the guest opened.
    pub(crate) fn db_of_label(&self, label: &str) -> wasmtime::Result<Arc<KeyValueBackend>> {
        self.grant
            .stores
            .get(label)
            .cloned()
            .ok_or_else(|| wasmtime::format_err!("store {label} has no database"))
    }
}

/// Runs `op` on a store's backend within `span` (failed with the error, if any); the
/// error is converted to the calling interface's (`fermyon:spin/key-value`,
/// `spin:key-value@3`, `wasi:keyvalue`).
pub(crate) async fn on_db<T, E: From<Error>, F: std::future::Future<Output = Result<T, Error>>>(
    mut span: TraceSpan,
    (store, label): (Arc<KeyValueBackend>, String),
    op: impl FnOnce(Arc<KeyValueBackend>, String) -> F,
) -> wasmtime::Result<Result<T, E>> {
    let done = op(store, label).await;
    if let Err(e) = &done {
        span.fail(format!("{e:?}"));
    }
    Ok(done.map_err(E::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persists_across_reopen_and_separates_stores() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.db");
        {
            let db = KeyValueDb::open(&path, 1 << 20).unwrap();
            db.set("default", "a", b"1").unwrap();
            db.set("default", "a", b"2").unwrap();
            db.set("other", "a", b"x").unwrap();
            db.set("default", "b", b"3").unwrap();
            db.delete("default", "b").unwrap();
        }
        let db = KeyValueDb::open(&path, 1 << 20).unwrap();
        assert_eq!(db.get("default", "a").unwrap().as_deref(), Some(&b"2"[..]));
        assert_eq!(db.keys("default").unwrap(), ["a"]);
        assert!(!db.exists("default", "b").unwrap());
        assert_eq!(db.get("other", "a").unwrap().as_deref(), Some(&b"x"[..]));
    }

    #[test]
    fn increment_and_compare_and_swap() {
        let dir = tempfile::tempdir().unwrap();
        let db = KeyValueDb::open(&dir.path().join("kv.db"), 1 << 20).unwrap();
        assert_eq!(db.increment("s", "n", 5).unwrap(), 5);
        assert_eq!(db.increment("s", "n", -2).unwrap(), 3);
        db.set("s", "text", b"abc").unwrap();
        assert!(
            matches!(db.increment("s", "text", 1), Err(Error::Other(m)) if m.contains("not a number"))
        );
        assert!(db.compare_and_swap("s", "k", None, b"1").unwrap());
        assert!(!db.compare_and_swap("s", "k", None, b"2").unwrap());
        assert!(!db.compare_and_swap("s", "k", Some(b"0"), b"2").unwrap());
        assert!(db.compare_and_swap("s", "k", Some(b"1"), b"2").unwrap());
        assert_eq!(db.get("s", "k").unwrap().as_deref(), Some(&b"2"[..]));
    }

    #[test]
    fn in_memory_stores_work_and_are_capped() {
        let db = KeyValueDb::in_memory(256 << 10).unwrap();
        db.set("cache", "a", b"1").unwrap();
        assert_eq!(db.get("cache", "a").unwrap().as_deref(), Some(&b"1"[..]));
        let value = vec![7u8; 16 << 10];
        let full = (0..100).find_map(|i| db.set("cache", &format!("k{i}"), &value).err());
        assert!(
            matches!(&full, Some(Error::Other(e)) if e.contains("full")),
            "{full:?}"
        );
    }

    #[test]
    fn the_database_is_capped() {
        let dir = tempfile::tempdir().unwrap();
        let db = KeyValueDb::open(&dir.path().join("kv.db"), 256 << 10).unwrap();
        let value = vec![7u8; 16 << 10];
        let full = (0..100).find_map(|i| db.set("default", &format!("k{i}"), &value).err());
        assert!(
            matches!(&full, Some(Error::Other(e)) if e.contains("full")),
            "{full:?}"
        );
        let size = std::fs::metadata(dir.path().join("kv.db")).unwrap().len();
        assert!(size <= 256 << 10, "{size} bytes");
    }
}
