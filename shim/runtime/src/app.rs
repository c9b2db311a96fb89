//! Turning a locked app into something ready to serve: variables resolved, routes
//! checked, files staged, and each component compiled (or loaded from the compile
//! cache) and pre-instantiated once. Cheap checks run before any compilation, so a
//! typo is reported in milliseconds.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;
use spin_app::LockedApp;
use spin_app::locked::LockedComponent;

use crate::RuntimeError;
use crate::code::{AppCode, CodeSources, LiveCode, ServedComponent};
use crate::config::DatabaseLocation;
use crate::config::RuntimeConfig;
use crate::content::ContentResolver;
use crate::host::key_value::backend::{KeyValueBackend, RedisKeyValue};
use crate::host::key_value::{KeyValueAccess, KeyValueDb, KeyValueStores};
use crate::host::outbound::OutboundPolicy;
use crate::host::service_chaining::ChainLink;
use crate::host::sqlite::db::{self as sqlite_db, Bounds, SqliteDb};
use crate::host::sqlite::{SqliteAccess, SqliteDatabases};
use crate::host::state::ComponentHost;
use crate::host::variables::{component_variables, resolve_app_variables};
use crate::telemetry::{Telemetry, TelemetryLink};
use crate::trigger::delivery::message_concurrency;
use crate::trigger::read_triggers;
use crate::trigger::trigger_type::{AppTrigger, Trigger};

/// An app ready to serve.
pub struct PreparedApp {
    pub name: String,
    /// Its triggers, one per type it lists ([`crate::trigger::trigger_type`]).
    triggers: Vec<Arc<dyn AppTrigger>>,
    /// The compiled components ([`crate::code`]).
    code: LiveCode,
    pub config: RuntimeConfig,
    /// One permit per instance alive (request in flight): `max_concurrent_instances`.
    pub instances: Arc<tokio::sync::Semaphore>,
    /// One permit per event of a message trigger being handled
    /// ([`crate::trigger::delivery`]).
    pub message_slots: Arc<tokio::sync::Semaphore>,
    /// How the components' requests to `*.spin.internal` and `self` reach this app
    /// ([`crate::host::service_chaining`]); connected by the HTTP trigger.
    pub chain: ChainLink,
    /// Where its spans start ([`crate::telemetry`]); off unless `config.telemetry`.
    pub telemetry: Telemetry,
}

impl std::fmt::Debug for PreparedApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let types: Vec<_> = self.triggers.iter().map(|t| t.trigger_type()).collect();
        f.debug_struct("PreparedApp")
            .field("name", &self.name)
            .field("triggers", &types)
            .finish_non_exhaustive()
    }
}

impl PreparedApp {
    /// The code new requests run: baseline until optimized code replaces it.
    pub fn code(&self) -> Arc<AppCode> {
        self.code.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Its triggers, in the order of [`crate::trigger::trigger_type`]'s list.
    pub fn triggers(&self) -> impl Iterator<Item = &Arc<dyn AppTrigger>> {
        self.triggers.iter()
    }

    /// Its trigger of type `T`, if it lists one.
    pub fn trigger<T: Trigger>(&self) -> Option<Arc<T>> {
        self.triggers.iter().find_map(|trigger| {
            let any: Arc<dyn std::any::Any + Send + Sync> = trigger.clone();
            any.downcast::<T>().ok()
        })
    }

    pub fn prepare(
        mut app: LockedApp,
        config: RuntimeConfig,
        content: Arc<dyn ContentResolver>,
    ) -> Result<Self, RuntimeError> {
        let started = Instant::now();
        retain_components(&mut app, &config.components_to_retain)?;
        let name = app.name().unwrap_or("spin-app").to_string();

        // Checks that need no compilation come first.
        let app_values = resolve_app_variables(&app, &config.variables)?;
        let triggers = read_triggers(&app, &app_values)?;
        if !triggers.iter().any(|t| t.reachable()) {
            return Err(RuntimeError::NothingToServe);
        }
        let kv_stores = Arc::new(open_key_value(&app, &config)?);
        let databases = Arc::new(open_sqlite(&app, &config)?);

        let chain = ChainLink::default();
        let telemetry_link = TelemetryLink::default();
        let shared = SharedHostState {
            app_values: &app_values,
            kv_stores: &kv_stores,
            databases: &databases,
            chain: &chain,
            telemetry: &telemetry_link,
        };
        let mut components = Vec::new();
        let mut files_budget = crate::files::FilesBudget::new(config.limits.max_files_bytes);
        for component in &app.components {
            let runs_it: Vec<_> = triggers
                .iter()
                .filter(|t| t.runs(&component.id))
                .cloned()
                .collect();
            if runs_it.is_empty() {
                continue;
            }
            let host = component_host(
                component,
                &shared,
                &config,
                content.as_ref(),
                &mut files_budget,
            )?;
            components.push(ServedComponent {
                locked: component.clone(),
                triggers: runs_it,
                host: Arc::new(host),
            });
        }
        let code = crate::code::build(CodeSources {
            components,
            content,
            config: config.clone(),
        })?;
        // What loading the app freed (manifests, layers, Wasm) goes back to the system.
        crate::heap::release_freed_memory();
        {
            let current = code.read().unwrap_or_else(|p| p.into_inner());
            tracing::info!(app = %name, components = current.components.len(), pooling = current.engine.pooling, tier = current.engine.tier.name(), elapsed_ms = started.elapsed().as_millis() as u64, "app prepared");
        }
        // Exporting starts last, once nothing else can fail.
        let telemetry = match &config.telemetry {
            Some(settings) => Telemetry::start(settings, &config.network, &name)?,
            None => Telemetry::default(),
        };
        telemetry_link.set(telemetry.clone());
        Ok(Self {
            telemetry,
            name,
            triggers,
            code,
            instances: Arc::new(tokio::sync::Semaphore::new(
                config.max_concurrent_instances as usize,
            )),
            message_slots: Arc::new(tokio::sync::Semaphore::new(message_concurrency(
                config.max_concurrent_instances,
            ))),
            chain,
            config,
        })
    }
}

/// Keeps only the listed components (`SPIN_COMPONENTS_TO_RETAIN`) and their triggers.
fn retain_components(app: &mut LockedApp, retain: &[String]) -> Result<(), RuntimeError> {
    if retain.is_empty() {
        return Ok(());
    }
    if let Some(unknown) = retain.iter().find(|id| app.component(id).is_none()) {
        return Err(RuntimeError::RetainUnknown {
            component: unknown.clone(),
            known: app.components.iter().map(|c| c.id.clone()).collect(),
        });
    }
    app.components.retain(|c| retain.contains(&c.id));
    app.triggers.retain(|t| {
        t.trigger_config
            .get("component")
            .and_then(Value::as_str)
            .is_some_and(|c| retain.iter().any(|r| r == c))
    });
    Ok(())
}

/// Opens the database of every key-value store some component is granted: the runtime
/// config file's location for its label, else (for `default`) the app's state
/// directory; or a Redis server. Labels placed in the same file share one database.
fn open_key_value(app: &LockedApp, config: &RuntimeConfig) -> Result<KeyValueStores, RuntimeError> {
    let max_bytes = config.limits.max_key_value_bytes;
    let max_redis_read = config.limits.max_outbound_response_body;
    open_databases(
        app,
        Databases {
            field: "key_value_stores",
            metadata: "key_value_stores",
            table: "key_value_store",
            what: "store",
            placed: &config.key_value_stores,
            default_path: &config.key_value_path,
        },
        |location| match location {
            DatabaseLocation::Memory => KeyValueDb::in_memory(max_bytes)
                .map(|db| KeyValueBackend::Sqlite(Arc::new(db)))
                .map_err(|e| e.to_string()),
            DatabaseLocation::File(path) => KeyValueDb::open(path, max_bytes)
                .map(|db| KeyValueBackend::Sqlite(Arc::new(db)))
                .map_err(|e| e.to_string()),
            DatabaseLocation::Redis { url } => RedisKeyValue::new(
                url,
                &config.client_tls,
                max_redis_read,
                config.network.clone(),
            )
            .map(|r| KeyValueBackend::Redis(Box::new(r))),
        },
    )
}

/// Opens every SQLite database some component is granted, placed as key-value stores
/// are. A statement may return at most an instance's memory and run at most as long as
/// a request.
fn open_sqlite(app: &LockedApp, config: &RuntimeConfig) -> Result<SqliteDatabases, RuntimeError> {
    let max_bytes = config.limits.max_sqlite_bytes;
    let bounds = Bounds {
        max_result_bytes: config.max_instance_memory,
        timeout: config.request_timeout,
    };
    sqlite_db::limit_process_heap(config.max_instance_memory).map_err(RuntimeError::SqliteHeap)?;
    open_databases(
        app,
        Databases {
            field: "sqlite_databases",
            // Spin's locked app calls it `databases`.
            metadata: "databases",
            table: "sqlite_database",
            what: "database",
            placed: &config.sqlite_databases,
            default_path: &config.sqlite_path,
        },
        |location| match location {
            DatabaseLocation::Memory => {
                SqliteDb::in_memory(max_bytes, bounds).map_err(|e| e.to_string())
            }
            DatabaseLocation::File(path) => {
                SqliteDb::open(path, max_bytes, bounds).map_err(|e| e.to_string())
            }
            // The runtime config parser places only key-value stores on Redis.
            DatabaseLocation::Redis { .. } => Err("a SQLite database cannot be on Redis".into()),
        },
    )
}

/// One kind of labelled database a manifest grants.
struct Databases<'a> {
    /// The manifest field that grants labels, named in messages.
    field: &'static str,
    /// The locked component's metadata key that holds them.
    metadata: &'static str,
    /// The runtime config table that places them.
    table: &'static str,
    /// What one is called in messages.
    what: &'static str,
    placed: &'a BTreeMap<String, DatabaseLocation>,
    /// Where `default` lives unless placed.
    default_path: &'a Path,
}

/// Opens, once per label and once per file, every database some component is granted.
fn open_databases<D>(
    app: &LockedApp,
    kind: Databases<'_>,
    open: impl Fn(&DatabaseLocation) -> Result<D, String>,
) -> Result<HashMap<String, Arc<D>>, RuntimeError> {
    let mut opened: HashMap<String, Arc<D>> = HashMap::new();
    let mut files: BTreeMap<PathBuf, Arc<D>> = BTreeMap::new();
    let default_location = DatabaseLocation::File(kind.default_path.to_path_buf());
    for c in &app.components {
        for label in c.metadata_strings(kind.metadata) {
            if opened.contains_key(&label) {
                continue;
            }
            let fail = |problem: String| RuntimeError::Database {
                component: c.id.clone(),
                field: kind.field,
                problem,
            };
            let location = match kind.placed.get(&label) {
                Some(location) => location,
                None if label == "default" => &default_location,
                None => {
                    return Err(fail(format!(
                        "{what} `{label}` is not defined; only `default` is unless a runtime \
                         config file adds [{table}.{label}] (e.g. type = \"spin\", path = \
                         \"{label}.db\")",
                        what = kind.what,
                        table = kind.table,
                    )));
                }
            };
            let db = match location {
                DatabaseLocation::File(path) => match files.get(path) {
                    Some(db) => db.clone(),
                    None => {
                        let db = Arc::new(
                            open(location)
                                .map_err(|e| fail(format!("{} `{label}`: {e}", kind.what)))?,
                        );
                        files.insert(path.clone(), db.clone());
                        db
                    }
                },
                DatabaseLocation::Memory | DatabaseLocation::Redis { .. } => Arc::new(
                    open(location).map_err(|e| fail(format!("{} `{label}`: {e}", kind.what)))?,
                ),
            };
            opened.insert(label, db);
        }
    }
    Ok(opened)
}

/// What every component's host shares with the others of its app.
struct SharedHostState<'a> {
    app_values: &'a BTreeMap<String, String>,
    kv_stores: &'a Arc<KeyValueStores>,
    databases: &'a Arc<SqliteDatabases>,
    chain: &'a ChainLink,
    telemetry: &'a TelemetryLink,
}

fn component_host(
    component: &LockedComponent,
    shared: &SharedHostState<'_>,
    config: &RuntimeConfig,
    content: &dyn ContentResolver,
    files_budget: &mut crate::files::FilesBudget,
) -> Result<ComponentHost, RuntimeError> {
    let files_dir = if component.files.is_empty() {
        None
    } else {
        let dir = config.work_dir.join("files").join(&component.id);
        crate::files::stage(component, &dir, content, files_budget)?;
        Some(dir)
    };
    Ok(ComponentHost {
        id: component.id.as_str().into(),
        variables: component_variables(component, shared.app_values)?,
        env: component
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        files_dir,
        key_value: KeyValueAccess {
            granted: component.metadata_strings("key_value_stores"),
            stores: shared.kv_stores.clone(),
        },
        sqlite: SqliteAccess {
            granted: component.metadata_strings("databases"),
            databases: shared.databases.clone(),
        },
        outbound: OutboundPolicy::new(
            &component.id,
            &component.metadata_strings("allowed_outbound_hosts"),
            shared.app_values,
            config.limits.max_outbound_response_body,
            config.network.clone(),
        )?
        .chained_to(shared.chain.clone())
        .replies_within(config.max_instance_memory)
        .with_tls(config.client_tls.for_component(&component.id)),
        max_memory: config.max_instance_memory,
        max_log_line: config.limits.max_log_line,
        telemetry: shared.telemetry.clone(),
    })
}

/// Where the compile cache lives by default: `compiled` in
/// [`spin_app::user_cache_root`].
pub fn default_cache_dir() -> Option<PathBuf> {
    spin_app::user_cache_root().map(|d| d.join("compiled"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_to_retain_keep_their_triggers_of_every_type() {
        let trigger = |id: &str, kind: &str, component: &str| serde_json::json!({ "id": id, "trigger_type": kind, "trigger_config": { "component": component } });
        let component = |id: &str| serde_json::json!({ "id": id, "source": { "content_type": "application/wasm", "content": {} } });
        let mut app: LockedApp = serde_json::from_value(serde_json::json!({
            "spin_lock_version": 1,
            "triggers": [
                trigger("h", "http", "web"),
                trigger("r", "redis", "listener"),
                trigger("m", "mqtt", "listener"),
                trigger("c", "cron", "tick"),
                trigger("j", "command", "job"),
            ],
            "components": [component("web"), component("listener"), component("tick"), component("job")]
        }))
        .unwrap();
        retain_components(&mut app, &["listener".into(), "job".into()]).unwrap();
        let kept: Vec<_> = app.triggers.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(kept, ["r", "m", "j"]);
        let components: Vec<_> = app.components.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(components, ["listener", "job"]);
    }
}
