//! Spin's runtime config file, in Spin's own TOML format: what `spin up
//! --runtime-config-file` reads and what SpinKube mounts at `/runtime-config.toml` from
//! `runtimeConfig.loadFromSecret`.
//!
//! Supported: `[key_value_store.LABEL]` and `[sqlite_database.LABEL]` with
//! `type = "spin"` (a SQLite file at `path`; without `path`, in memory for as long as
//! the process lives), key-value `type = "redis"` (a Redis server at `url`, `redis://`
//! or `rediss://`), and `[[client_tls]]` tables ([`ClientTlsTable`]). Refused
//! at start, naming the file and the table: SQLite `type = "libsql"` and the other
//! tables Spin knows
//! (`llm_compute`, `variables_provider`, `config_provider`, `otel`), which
//! this runtime does not provide yet, and anything else (unknown tables, types and
//! keys), so a setting is never silently ignored.
//!
//! The file is untrusted (in a pod, whoever wrote the Secret wrote it): it is read with a
//! size bound, and errors quote its keys and line numbers, never its values, which may
//! be secrets.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

mod client_tls;
pub use client_tls::ClientTlsTable;

/// Largest runtime config file read (a Kubernetes Secret holds at most 1 MiB).
pub const MAX_RUNTIME_CONFIG_BYTES: u64 = 1 << 20;

/// Tables Spin knows that this runtime does not provide yet.
const NOT_YET: [&str; 4] = [
    "llm_compute",
    "variables_provider",
    "config_provider",
    "otel",
];

/// A parsed runtime config file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeConfigFile {
    /// `[key_value_store.LABEL]` tables, by label.
    pub key_value_stores: BTreeMap<String, KeyValueStoreConfig>,
    /// `[sqlite_database.LABEL]` tables, by label.
    pub sqlite_databases: BTreeMap<String, SqliteDatabaseConfig>,
    /// `[[client_tls]]` tables, in the file's order (the first naming a component and
    /// host wins).
    pub client_tls: Vec<ClientTlsTable>,
}

/// A `[key_value_store.LABEL]` table. Its `Debug` leaves out the password of a Redis
/// URL.
#[derive(Clone, PartialEq, Eq)]
pub enum KeyValueStoreConfig {
    /// `type = "spin"`: SQLite at `path` (as written: the embedder resolves it), or in
    /// memory without one.
    Spin { path: Option<PathBuf> },
    /// `type = "redis"`: the Redis server at `url` (`redis://[user:password@]host[:port][/db]`).
    Redis { url: String },
}

/// A `[sqlite_database.LABEL]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqliteDatabaseConfig {
    /// `type = "spin"`: SQLite at `path` (as written: the embedder resolves it), or in
    /// memory without one.
    Spin { path: Option<PathBuf> },
}

/// Where a key-value store's or a SQLite database's data lives. Its `Debug` leaves out
/// the password of a Redis URL.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseLocation {
    /// A SQLite file, kept across restarts.
    File(PathBuf),
    /// In memory, for as long as the app runs.
    Memory,
    /// A Redis server (key-value stores only).
    Redis { url: String },
}

impl std::fmt::Debug for KeyValueStoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Spin { path } => f.debug_struct("Spin").field("path", path).finish(),
            Self::Redis { url } => f
                .debug_struct("Redis")
                .field("url", &without_password(url))
                .finish(),
        }
    }
}

impl std::fmt::Debug for DatabaseLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
            Self::Memory => f.write_str("Memory"),
            Self::Redis { url } => f
                .debug_struct("Redis")
                .field("url", &without_password(url))
                .finish(),
        }
    }
}

/// `url` with its password (if any) replaced by `***`; a URL that does not parse is
/// not shown at all.
fn without_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            parsed.into()
        }
        Err(_) => "(not a URL)".into(),
    }
}

/// Where a runtime config file's databases live, their paths resolved by the embedder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlacedDatabases {
    pub key_value_stores: BTreeMap<String, DatabaseLocation>,
    pub sqlite_databases: BTreeMap<String, DatabaseLocation>,
}

/// What is wrong with a runtime config file, and how to fix it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("runtime config {}: {table}{problem}", file.display())]
pub struct RuntimeConfigError {
    pub file: PathBuf,
    /// `[key_value_store.cache]: `, or empty for the whole file.
    pub table: String,
    pub problem: String,
}

impl RuntimeConfigFile {
    /// Places the file's databases: a table without `path` in memory, one with a `path`
    /// where `resolve` says (given the table's name, e.g. `sqlite_database`, and the path
    /// as written), or refused with `resolve`'s reason.
    pub fn place_databases(
        self,
        file: &Path,
        resolve: impl Fn(&str, PathBuf) -> Result<PathBuf, String>,
    ) -> Result<PlacedDatabases, RuntimeConfigError> {
        let place = |table: &str, label: &str, path: Option<PathBuf>| match path {
            None => Ok(DatabaseLocation::Memory),
            Some(path) => resolve(table, path)
                .map(DatabaseLocation::File)
                .map_err(|problem| RuntimeConfigError {
                    file: file.to_path_buf(),
                    table: format!("[{table}.{label}]: "),
                    problem,
                }),
        };
        let mut placed = PlacedDatabases::default();
        for (label, store) in self.key_value_stores {
            let location = match store {
                KeyValueStoreConfig::Spin { path } => place("key_value_store", &label, path)?,
                KeyValueStoreConfig::Redis { url } => DatabaseLocation::Redis { url },
            };
            placed.key_value_stores.insert(label, location);
        }
        for (label, SqliteDatabaseConfig::Spin { path }) in self.sqlite_databases {
            let location = place("sqlite_database", &label, path)?;
            placed.sqlite_databases.insert(label, location);
        }
        Ok(placed)
    }

    /// Places the databases as the containerd shim does for a pod: the file is the pod
    /// author's, so a `path` must be relative without `..` and is kept in the
    /// container's state directory (`STATE/key-value/PATH` for key-value stores,
    /// `STATE/sqlite/PATH` for SQLite databases); an absolute path, which in a container
    /// would name a file of the node, is refused.
    pub fn place_in_pod(
        self,
        file: &Path,
        state_dir: &Path,
    ) -> Result<PlacedDatabases, RuntimeConfigError> {
        self.place_databases(file, |table, path| {
            if !is_plain_relative(&path) {
                return Err(
                    "in a pod, `path` must be a relative path without `..` (the \
                            database is kept in the container's state directory)"
                        .into(),
                );
            }
            let dir = match table {
                "key_value_store" => "key-value",
                _ => "sqlite",
            };
            Ok(state_dir.join(dir).join(path))
        })
    }

    /// Parses the text of `file`.
    pub fn parse(text: &str, file: &Path) -> Result<Self, RuntimeConfigError> {
        let err = |table: String, problem: String| RuntimeConfigError {
            file: file.to_path_buf(),
            table,
            problem,
        };
        let root: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
            let at = line.map(|l| format!("line {l}: ")).unwrap_or_default();
            err(
                String::new(),
                format!("{at}not valid TOML: {}", e.message()),
            )
        })?;
        let mut config = Self::default();
        for (name, value) in &root {
            match name.as_str() {
                "key_value_store" => {
                    for (label, store) in
                        tables(value, name).map_err(|problem| err(String::new(), problem))?
                    {
                        let table = format!("[key_value_store.{label}]: ");
                        let store = key_value_store(store)
                            .map_err(|problem| err(table.clone(), problem))?;
                        config.key_value_stores.insert(label.clone(), store);
                    }
                }
                "sqlite_database" => {
                    for (label, database) in
                        tables(value, name).map_err(|problem| err(String::new(), problem))?
                    {
                        let table = format!("[sqlite_database.{label}]: ");
                        let database = sqlite_database(database)
                            .map_err(|problem| err(table.clone(), problem))?;
                        config.sqlite_databases.insert(label.clone(), database);
                    }
                }
                "client_tls" => {
                    config.client_tls =
                        client_tls::parse(value).map_err(|(table, problem)| err(table, problem))?;
                }
                known if NOT_YET.contains(&known) => {
                    return Err(err(
                        format!("[{known}]: "),
                        "is not supported by this runtime yet; remove it, or run the app where \
                         it is supported"
                            .into(),
                    ));
                }
                other => {
                    return Err(err(
                        format!("[{other}]: "),
                        "is not a runtime config table (Spin's are key_value_store, \
                         sqlite_database, llm_compute, variables_provider, client_tls, otel)"
                            .into(),
                    ));
                }
            }
        }
        Ok(config)
    }
}

/// The `[NAME.LABEL]` tables under `NAME`.
fn tables<'a>(value: &'a toml::Value, name: &str) -> Result<&'a toml::Table, String> {
    value
        .as_table()
        .ok_or_else(|| format!("`{name}` must be tables: [{name}.LABEL]"))
}

/// A table's `type`.
fn kind(table: &toml::Table) -> Result<&str, String> {
    table
        .get("type")
        .ok_or("has no `type`; set type = \"spin\" (a SQLite file at `path`)")?
        .as_str()
        .ok_or_else(|| "`type` must be a string".to_string())
}

/// The optional `path` of a `type = "spin"` table, the only other key it takes.
fn spin_path(table: &toml::Table) -> Result<Option<PathBuf>, String> {
    only_keys(table, &["type", "path"])?;
    match table.get("path") {
        None => Ok(None),
        Some(p) => Ok(Some(PathBuf::from(
            p.as_str().ok_or("`path` must be a string (a file path)")?,
        ))),
    }
}

fn as_table(value: &toml::Value) -> Result<&toml::Table, String> {
    value
        .as_table()
        .ok_or_else(|| "must be a table with a `type`, e.g. type = \"spin\"".to_string())
}

fn sqlite_database(value: &toml::Value) -> Result<SqliteDatabaseConfig, String> {
    let table = as_table(value)?;
    match kind(table)? {
        "spin" => Ok(SqliteDatabaseConfig::Spin {
            path: spin_path(table)?,
        }),
        "libsql" => Err(
            "type = \"libsql\" (a remote database) is not supported by this runtime yet; use \
             type = \"spin\" (a SQLite file at `path`)"
                .into(),
        ),
        other => Err(format!(
            "unknown type {other:?}; use type = \"spin\" (a SQLite file at `path`)"
        )),
    }
}

fn key_value_store(value: &toml::Value) -> Result<KeyValueStoreConfig, String> {
    let table = as_table(value)?;
    match kind(table)? {
        "spin" => Ok(KeyValueStoreConfig::Spin {
            path: spin_path(table)?,
        }),
        "redis" => {
            only_keys(table, &["type", "url"])?;
            let url = table
                .get("url")
                .ok_or("has no `url`; set url = \"redis://HOST:PORT\"")?
                .as_str()
                .ok_or("`url` must be a string (redis://HOST:PORT)")?;
            if !url.starts_with("redis://") && !url.starts_with("rediss://") {
                return Err(
                    "`url` must be a redis:// or rediss:// URL (Unix sockets are not \
                            supported)"
                        .into(),
                );
            }
            Ok(KeyValueStoreConfig::Redis { url: url.into() })
        }
        other => Err(format!(
            "unknown type {other:?}; use type = \"spin\" (a SQLite file at `path`)"
        )),
    }
}

/// A relative path made only of normal components (no `..`, no root, no `.` tricks).
fn is_plain_relative(path: &Path) -> bool {
    !path.as_os_str().is_empty()
        && path
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
}

fn only_keys(table: &toml::Table, allowed: &[&str]) -> Result<(), String> {
    match table.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => Err(format!(
            "unknown key `{key}`; this type takes {}",
            allowed
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_leaves_out_redis_passwords() {
        let config = parse(
            "[key_value_store.a]\ntype = \"redis\"\nurl = \"rediss://u:hunter2@db:6380/1\"\n",
        )
        .unwrap();
        let shown = format!("{config:?}");
        assert!(shown.contains("rediss://u:***@db:6380/1"), "{shown}");
        let location = DatabaseLocation::Redis {
            url: "redis://:hunter2@db".into(),
        };
        let shown = format!(
            "{location:?} {:?}",
            DatabaseLocation::Redis { url: "::".into() }
        );
        assert!(
            !shown.contains("hunter2") && shown.contains("(not a URL)"),
            "{shown}"
        );
    }

    fn parse(text: &str) -> Result<RuntimeConfigFile, String> {
        RuntimeConfigFile::parse(text, Path::new("rc.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn reads_spin_key_value_stores() {
        let config = parse(
            "[key_value_store.default]\ntype = \"spin\"\npath = \"data/kv.db\"\n\n[key_value_store.cache]\ntype = \"spin\"\n",
        )
        .unwrap();
        assert_eq!(
            config.key_value_stores["default"],
            KeyValueStoreConfig::Spin {
                path: Some("data/kv.db".into())
            }
        );
        assert_eq!(
            config.key_value_stores["cache"],
            KeyValueStoreConfig::Spin { path: None }
        );
        assert_eq!(parse("").unwrap(), RuntimeConfigFile::default());
        let redis =
            parse("[key_value_store.shared]\ntype = \"redis\"\nurl = \"redis://db:6379/2\"\n")
                .unwrap();
        assert_eq!(
            redis.key_value_stores["shared"],
            KeyValueStoreConfig::Redis {
                url: "redis://db:6379/2".into()
            }
        );
        let config = parse(
            "[sqlite_database.default]\ntype = \"spin\"\npath = \"app.db\"\n[sqlite_database.scratch]\ntype = \"spin\"\n",
        )
        .unwrap();
        assert_eq!(
            config.sqlite_databases["default"],
            SqliteDatabaseConfig::Spin {
                path: Some("app.db".into())
            }
        );
        assert_eq!(
            config.sqlite_databases["scratch"],
            SqliteDatabaseConfig::Spin { path: None }
        );
    }

    #[test]
    fn errors_name_the_file_the_table_and_the_fix_but_no_values() {
        for (text, expected) in [
            (
                "[key_value_store.cache]\ntype = \"memcached\"\n",
                "runtime config rc.toml: [key_value_store.cache]: unknown type \"memcached\"; use type = \"spin\"",
            ),
            (
                "[key_value_store.cache]\npath = \"x\"\n",
                "[key_value_store.cache]: has no `type`",
            ),
            (
                "[key_value_store.cache]\ntype = \"spin\"\npaht = \"x\"\n",
                "[key_value_store.cache]: unknown key `paht`; this type takes `type`, `path`",
            ),
            (
                "[key_value_store.cache]\ntype = \"redis\"\nurl = \"http://:hunter2@db\"\n",
                "[key_value_store.cache]: `url` must be a redis:// or rediss:// URL",
            ),
            (
                "[key_value_store.cache]\ntype = \"redis\"\n",
                "[key_value_store.cache]: has no `url`",
            ),
            (
                "[sqlite_database.default]\ntype = \"libsql\"\nurl = \"https://hunter2.example\"\n",
                "[sqlite_database.default]: type = \"libsql\" (a remote database) is not supported",
            ),
            (
                "[sqlite_database.default]\ntype = \"spin\"\npath = 3\n",
                "[sqlite_database.default]: `path` must be a string",
            ),
            (
                "[llm_compute]\ntype = \"spin\"\n",
                "[llm_compute]: is not supported by this runtime yet",
            ),
            (
                "[key_valu_store.x]\ntype = \"spin\"\n",
                "[key_valu_store]: is not a runtime config table",
            ),
            ("a = \"hunter2\" b\n", "line 1: not valid TOML"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(expected), "{text}: {e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
    }
}
