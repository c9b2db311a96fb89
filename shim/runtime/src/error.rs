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
    #[error("component `{component}` cannot be linked: {detail}")]
    Link { component: String, detail: String },
    #[error(
        "component `{component}` is not an HTTP component: it exports neither `wasi:http/incoming-handler@0.2.x` nor `fermyon:spin/inbound-http` (exports: {exports})"
    )]
    NotHttp { component: String, exports: String },
    #[error(
        "component `{component}` targets {what}, which this runtime does not support yet; build it with a Spin 2 or 3 SDK (wasi:http 0.2)"
    )]
    UnsupportedWorld { component: String, what: String },
    #[error("trigger `{trigger}`: {problem}")]
    Trigger { trigger: String, problem: String },
    #[error(transparent)]
    Route(#[from] spin_app::routes::RouteError),
    #[error("the app has no HTTP route to serve (only private routes or no triggers)")]
    NothingToServe,
    #[error("variable `{name}` {problem}")]
    Variable { name: String, problem: String },
    #[error("component `{component}`: allowed_outbound_hosts: {problem}")]
    AllowedHosts { component: String, problem: String },
    #[error("component `{component}`: key_value_stores: {problem}")]
    KeyValue { component: String, problem: String },
    #[error("component `{component}`: files: {problem}")]
    Files { component: String, problem: String },
    #[error(
        "SPIN_COMPONENTS_TO_RETAIN names `{component}`, which the app does not define (components: {known:?})"
    )]
    RetainUnknown {
        component: String,
        known: Vec<String>,
    },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}
