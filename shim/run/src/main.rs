//! `spin-run`: serve a Spin app on this machine with the same runtime the containerd
//! shim embeds. No cluster, no containerd. The app comes from local files or straight
//! from a registry ([`source`]); `spin-run up …` is accepted as Spin's `spin up …`, so
//! its image can be the `spinImage` of an executor.

mod source;

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use spin_app::settings;
use spin_runtime::config::{InstanceReuse, Limits};
use spin_runtime::content::open_regular;
use spin_runtime::log_queue::LogQueue;
use spin_runtime::runtime_config_file::{self, PlacedDatabases};
use spin_runtime::tls::ClientTls;
use spin_runtime::trigger::http::{HttpServer, has_routes};
use spin_runtime::trigger::run::{Ended, run_triggers};
use spin_runtime::{PreparedApp, RuntimeConfig};

/// Serve a Spin app locally: `spin-run --from examples/hello-python`, or from a
/// registry: `spin-run --from ghcr.io/me/app:v1`.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The app: a directory with spin.toml, a spin.toml file, a locked app JSON, or a
    /// registry reference with its registry host (REGISTRY/REPOSITORY[:TAG][@DIGEST]).
    #[arg(long, short = 'f', env = "SPIN_APP", default_value = ".")]
    from: String,
    /// Talk plain HTTP to the app's registry (loopback registries get it without this).
    #[arg(long, short = 'k', env = "SPIN_INSECURE_REGISTRY")]
    insecure: bool,
    /// Docker config files with registry credentials, tried in order (comma-separated
    /// in the environment) [default: $DOCKER_CONFIG/config.json or ~/.docker/config.json].
    #[arg(long, env = "SPIN_DOCKER_CONFIG", value_delimiter = ',')]
    docker_config: Vec<PathBuf>,
    /// Where apps pulled from registries are cached by digest [default:
    /// ~/.cache/spin-kube/registry].
    #[arg(long, env = "SPIN_REGISTRY_CACHE")]
    registry_cache: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free port (printed at start-up).
    #[arg(long, env = "SPIN_HTTP_LISTEN_ADDR", default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// Directory for the app's state (key-value data); default: `.spin` next to the
    /// app, or a temporary directory for an app from a registry.
    #[arg(long, env = "SPIN_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Precompiled-component cache; default: ~/.cache/spin-kube/compiled.
    #[arg(long, env = "SPIN_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Spin runtime config file (TOML): key-value stores (`[key_value_store.LABEL]`) and
    /// SQLite databases (`[sqlite_database.LABEL]`), `type = "spin"`, `path` relative to
    /// this file's directory.
    #[arg(long, env = "SPIN_RUNTIME_CONFIG_FILE")]
    runtime_config_file: Option<PathBuf>,
    /// Compile every time instead of using the cache.
    #[arg(long)]
    no_cache: bool,
    /// Longest a guest may run for one request, in seconds.
    #[arg(long, env = settings::REQUEST_TIMEOUT_SECS.env, default_value_t = 30)]
    request_timeout: u64,
    /// Most memory one request's instance may use, in MiB.
    #[arg(long, env = "SPIN_MAX_INSTANCE_MEMORY_MB", default_value_t = 256)]
    max_instance_memory: usize,
    /// The same in bytes or a quantity (`64Mi`), as SpinKube's variable (which the
    /// operator sets from `invocationLimits.memory`); takes precedence when given.
    #[arg(long, env = settings::MAX_INSTANCE_MEMORY.env, value_parser = size)]
    max_instance_memory_bytes: Option<u64>,
    /// Most concurrent requests (instances); more get 503.
    #[arg(long, env = settings::MAX_CONCURRENT_INSTANCES.env, default_value_t = 1000)]
    max_concurrent: u32,
    /// Largest request body (bytes, or with a Ki/Mi/Gi suffix); larger get 413.
    #[arg(long, env = settings::MAX_REQUEST_BODY.env, default_value = "100Mi", value_parser = size)]
    max_request_body: u64,
    /// Largest request head (request line and headers).
    #[arg(long, env = settings::MAX_HEADER_BYTES.env, default_value = "64Ki", value_parser = size)]
    max_header_bytes: u64,
    /// Most header fields in one HTTP/1 request.
    #[arg(long, env = settings::MAX_HEADERS.env, default_value_t = 100)]
    max_headers: usize,
    /// Seconds a connection may take to send a request head (or stay idle between requests).
    #[arg(long, env = settings::HEADER_READ_TIMEOUT_SECS.env, default_value_t = 10)]
    header_read_timeout: u64,
    /// Most open client connections; more wait in the listen backlog.
    #[arg(long, env = settings::MAX_CONNECTIONS.env, default_value_t = 10_000)]
    max_connections: usize,
    /// Largest outbound HTTP response body a guest may receive.
    #[arg(long, env = settings::MAX_OUTBOUND_RESPONSE_BODY.env, default_value = "100Mi", value_parser = size)]
    max_outbound_response_body: u64,
    /// Largest the app's key-value database may grow.
    #[arg(long, env = settings::MAX_KEY_VALUE_BYTES.env, default_value = "256Mi", value_parser = size)]
    max_key_value_bytes: u64,
    /// Largest each SQLite database may grow.
    #[arg(long, env = settings::MAX_SQLITE_BYTES.env, default_value = "256Mi", value_parser = size)]
    max_sqlite_bytes: u64,
    /// Longest guest log line kept whole; longer ones are cut and marked.
    #[arg(long, env = settings::MAX_LOG_LINE_BYTES.env, default_value = "16Ki", value_parser = size)]
    max_log_line: u64,
    /// Most bytes of the app's `files` staged for its guests, all components together.
    #[arg(long, env = settings::MAX_FILES_BYTES.env, default_value = "256Mi", value_parser = size)]
    max_files_bytes: u64,
    /// Most bytes of log lines per second; lines past it are dropped and counted.
    #[arg(long, env = settings::MAX_LOG_BYTES_PER_SECOND.env, default_value = "1Mi", value_parser = size)]
    max_log_bytes_per_second: u64,
    /// WASIp3 components: requests one instance serves in all (Spin's option; 1: a
    /// fresh instance per request).
    #[arg(long, env = settings::MAX_INSTANCE_REUSE_COUNT.env, default_value_t = 1)]
    max_instance_reuse_count: usize,
    /// WASIp3 components: requests one reused instance serves at the same time.
    #[arg(long, env = settings::MAX_INSTANCE_CONCURRENT_REUSE_COUNT.env, default_value_t = 1)]
    max_instance_concurrent_reuse_count: usize,
    /// Seconds an idle reusable instance waits for another request.
    #[arg(long, env = settings::IDLE_INSTANCE_TIMEOUT_SECS.env, default_value_t = 1)]
    idle_instance_timeout: u64,
    /// Serve only these components (comma-separated ids).
    #[arg(long, env = "SPIN_COMPONENTS_TO_RETAIN", value_delimiter = ',')]
    components_to_retain: Vec<String>,
}

fn main() -> anyhow::Result<()> {
    // Started again by itself to compile a component (see `spin_runtime::code::child`).
    spin_runtime::code::child::run_if_requested();
    // Logging goes through a bounded queue: a stalled stderr reader never blocks a
    // request.
    let log = LogQueue::stderr();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(log.clone())
        .init();
    let args = Args::parse_from(spin_up_args(std::env::args_os()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let ended = runtime.block_on(run(args, &log));
    // The log's last lines (a command's "command finished") are written before exiting.
    log.drain(Duration::from_secs(2));
    match ended? {
        Ended::Stopped => Ok(()),
        // A command app exits with its command's status.
        Ended::Exited(status) => std::process::exit(status),
    }
}

/// The arguments without a leading `up`: Spin's `spin up --listen … --from …` is what a
/// `spinImage` executor's pod runs.
fn spin_up_args(args: impl Iterator<Item = OsString>) -> Vec<OsString> {
    let mut args: Vec<OsString> = args.collect();
    if args.get(1).is_some_and(|a| a == "up") {
        args.remove(1);
    }
    args
}

/// Serves the app until it is stopped, or until its command ends.
async fn run(args: Args, log: &LogQueue) -> anyhow::Result<Ended> {
    let work = tempfile::Builder::new().prefix("spin-run-").tempdir()?;
    let registry = source::RegistryOptions {
        insecure: args.insecure,
        docker_configs: if args.docker_config.is_empty() {
            vec![spin_registry::credentials::default_path()]
        } else {
            args.docker_config.clone()
        },
        cache: args
            .registry_cache
            .clone()
            .or_else(|| spin_app::user_cache_root().map(|d| d.join("registry")))
            .unwrap_or_else(|| work.path().join("registry")),
    };
    let source = source::resolve(&args.from, &registry, work.path()).await?;
    tracing::info!(app = %source.description, "loaded the app");
    let app = source.app;
    let state_dir = args.state_dir.clone().unwrap_or(source.state_dir);
    let mut config = RuntimeConfig::local(work.path().to_path_buf());
    config.listen = args.listen;
    config.key_value_path = state_dir.join("sqlite_key_value.db");
    config.sqlite_path = state_dir.join("sqlite_db.db");
    if let Some(file) = &args.runtime_config_file {
        let (placed, client_tls) = runtime_config(file)?;
        config.key_value_stores = placed.key_value_stores;
        config.sqlite_databases = placed.sqlite_databases;
        config.client_tls = client_tls;
    }
    config.compile_cache_dir = if args.no_cache {
        None
    } else {
        args.cache_dir
            .clone()
            .or_else(spin_runtime::app::default_cache_dir)
    };
    config.request_timeout = Duration::from_secs(args.request_timeout);
    config.max_instance_memory = match args.max_instance_memory_bytes {
        Some(bytes) => usize::try_from(bytes).unwrap_or(usize::MAX),
        None => args.max_instance_memory << 20,
    };
    config.max_concurrent_instances = args.max_concurrent;
    config.limits = Limits {
        max_request_body: args.max_request_body,
        max_header_bytes: (args.max_header_bytes as usize).max(8 << 10),
        max_headers: args.max_headers,
        header_read_timeout: Duration::from_secs(args.header_read_timeout),
        max_connections: args.max_connections,
        max_outbound_response_body: args.max_outbound_response_body,
        max_log_line: args.max_log_line as usize,
        max_key_value_bytes: args.max_key_value_bytes,
        max_sqlite_bytes: args.max_sqlite_bytes,
        max_files_bytes: args.max_files_bytes,
        max_log_bytes_per_second: args.max_log_bytes_per_second,
    };
    log.limit_rate(args.max_log_bytes_per_second);
    config.reuse = InstanceReuse {
        max_requests: args.max_instance_reuse_count.max(1),
        max_concurrent: args.max_instance_concurrent_reuse_count.max(1),
        idle_timeout: Duration::from_secs(args.idle_instance_timeout),
    };
    config.components_to_retain = args
        .components_to_retain
        .iter()
        .filter(|c| !c.is_empty())
        .cloned()
        .collect();
    config.variables = spin_runtime::config::variables_from_env(std::env::vars());
    // Traces go where the standard OTEL_* variables say (spin_runtime::telemetry).
    let env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    config.telemetry =
        spin_runtime::telemetry::OtelSettings::from_env(|name| env.get(name).map(String::as_str))?;

    let content = source.content;
    let prepared =
        tokio::task::spawn_blocking(move || PreparedApp::prepare(app, config, Arc::from(content)))
            .await
            .context("preparing the app")??;
    let app = Arc::new(prepared);
    let server = if has_routes(&app) {
        Some(HttpServer::bind(app.clone()).await?)
    } else {
        None
    };
    // Start-up log lines (compile or cache hit) come before the address.
    log.drain(Duration::from_secs(2));
    if let Some(server) = &server {
        println!("Serving http://{}", server.local_addr());
        println!("Available Routes:");
        for route in server.listing() {
            println!("  {route}");
        }
    }
    for trigger in app.triggers() {
        for line in trigger.describe() {
            println!("{line}");
        }
    }
    let ended = run_triggers(
        app.clone(),
        server,
        shutdown_signal(),
        Duration::from_secs(10),
    )
    .await;
    drop(work);
    Ok(ended?)
}

/// The databases and the `[[client_tls]]` setups of a runtime config file; a relative
/// path is resolved against the file's directory, as `spin up` does.
fn runtime_config(file: &Path) -> anyhow::Result<(PlacedDatabases, ClientTls)> {
    let base = file.parent().unwrap_or(Path::new("."));
    let mut parsed = runtime_config_file::read(file)?;
    let tables = std::mem::take(&mut parsed.client_tls);
    let client_tls = runtime_config_file::client_tls(file, &tables, |path| {
        let opened = open_regular(&base.join(path)).map_err(|e| e.to_string())?;
        runtime_config_file::read_tls_file(opened)
    })?;
    let placed = parsed.place_databases(file, |_, path| Ok(base.join(path)))?;
    Ok((placed, client_tls))
}

fn size(text: &str) -> Result<u64, String> {
    settings::parse_size(text)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
