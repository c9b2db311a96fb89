/// Why an app could not be prepared or served. Each variant names the component, the
/// trigger or the variable to fix.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("Wasmtime engine: {0}")]
    Engine(String),
    #[error("component `{component}`: cannot load its Wasm: {problem}")]
    Source { component: String, problem: String },
    #[error("component `{component}` is not a valid Wasm component: {detail}")]
    Compile { component: String, detail: String },
    #[error("component `{component}`: {source}")]
    CoreModule {
        component: String,
        source: crate::code::core_module::CoreModuleError,
    },
    #[error("component `{component}`: cannot compose it with its dependencies: {source}")]
    Compose {
        component: String,
        source: Box<spin_compose::ComposeError>,
    },
    #[error("component `{component}` cannot be linked: {detail}")]
    Link { component: String, detail: String },
    #[error(
        "component `{component}` is not {} this runtime can run: it exports {exports}; \
         the {} trigger runs components exporting {}",
        .wanted.component, .wanted.trigger, .wanted.exports
    )]
    NoEntryPoint {
        component: String,
        wanted: &'static crate::trigger::entry_point::Wanted,
        exports: String,
    },
    #[error("trigger `{trigger}`: {problem}")]
    Trigger { trigger: String, problem: String },
    #[error(transparent)]
    Route(#[from] spin_app::routes::RouteError),
    #[error(
        "the app has nothing to run: no HTTP route (only private routes or none) and no Redis, MQTT, command or cron trigger"
    )]
    NothingToServe,
    #[error("variable `{name}` {problem}")]
    Variable { name: String, problem: String },
    #[error("component `{component}`: allowed_outbound_hosts: {problem}")]
    AllowedHosts { component: String, problem: String },
    /// `field` is `key_value_stores` or `sqlite_databases`.
    #[error("component `{component}`: {field}: {problem}")]
    Database {
        component: String,
        field: &'static str,
        problem: String,
    },
    #[error("component `{component}`: files: {problem}")]
    Files { component: String, problem: String },
    #[error(
        "SPIN_COMPONENTS_TO_RETAIN names `{component}`, which the app does not define (components: {known:?})"
    )]
    RetainUnknown {
        component: String,
        known: Vec<String>,
    },
    #[error("cannot bound SQLite's memory to SPIN_MAX_INSTANCE_MEMORY: {0}")]
    SqliteHeap(rusqlite::Error),
    #[error("cannot start the HTTP server's connection threads: {0}")]
    ConnectionWorkers(std::io::Error),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Telemetry(#[from] crate::telemetry::ExporterError),
}
