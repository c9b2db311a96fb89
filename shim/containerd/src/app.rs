//! One Spin app container: find the app in the bundle, prepare it (compile or load from
//! the node's cache), bind its listener in the pod's network namespace, serve.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use spin_app::LockedApp;
use spin_runtime::content::ContentResolver;
use spin_runtime::trigger::http::HttpServer;
use spin_runtime::{PreparedApp, RuntimeConfig};

use crate::bundle::BundleSpec;

/// Where the app listens inside the pod unless the spec's env says otherwise
/// (`SPIN_HTTP_LISTEN_ADDR`, or SpinKube's `SPIN_HTTP_LISTEN_ADDRESS`): port 80, which
/// the operator's Deployment names `http-app`.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:80";

/// Node-wide cache: compiled components (every container of the same component
/// reuses them) and artifact layers. `SPIN_SHIM_CACHE_DIR` (in containerd's
/// environment) moves it.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("SPIN_SHIM_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/lib/containerd-shim-spin"))
}

/// The node's configuration ([`spin_app::node_config`]: ceilings on a pod's settings,
/// cache bounds): the file named by `SPIN_SHIM_NODE_CONFIG` in containerd's
/// environment, else `containerd-shim-spin-v2.toml` beside the shim binary (where
/// `spin-node-installer` writes it); the defaults without one.
pub fn node_config() -> Result<spin_app::node_config::NodeConfig, AppError> {
    let path = match std::env::var_os("SPIN_SHIM_NODE_CONFIG") {
        Some(path) => PathBuf::from(path),
        None => std::env::current_exe()
            .map_err(|e| {
                AppError::NodeConfig(spin_app::node_config::NodeConfigError {
                    file: "beside the shim".into(),
                    problem: format!("cannot find the shim's own path: {e}"),
                })
            })?
            .with_extension("toml"),
    };
    let shown = path.display().to_string();
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            spin_app::node_config::NodeConfig::parse(&text, &shown).map_err(AppError::NodeConfig)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Default::default()),
        Err(e) => Err(AppError::NodeConfig(
            spin_app::node_config::NodeConfigError {
                file: shown,
                problem: e.to_string(),
            },
        )),
    }
}

/// Why an app container cannot be created or started; returned to containerd, so
/// `ctr`, `crictl` and the pod's events show it.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(
        "container {id}: no Spin app: its root filesystem {} has no spin.toml and it has no image to read a Spin OCI artifact from",
        root.display()
    )]
    NotSpin { id: String, root: PathBuf },
    #[error("container {id}: {source}")]
    Artifact {
        id: String,
        source: crate::artifact::ArtifactError,
    },
    #[error("container {id}: {source}")]
    Rootfs {
        id: String,
        source: crate::rootfs::RootfsError,
    },
    #[error("container {id}: {source}")]
    Prepare {
        id: String,
        source: spin_runtime::RuntimeError,
    },
    #[error("container {id}: {field} {value:?} is not a socket address ({problem})")]
    Listen {
        id: String,
        field: &'static str,
        value: String,
        problem: String,
    },
    #[error("container {id}: cannot listen on {addr} in network namespace {netns}: {source}")]
    Bind {
        id: String,
        addr: SocketAddr,
        netns: String,
        source: std::io::Error,
    },
    #[error(
        "container {id}: cannot set up outbound connections in network namespace {}: {source}",
        netns.display()
    )]
    Network {
        id: String,
        netns: PathBuf,
        source: std::io::Error,
    },
    #[error("container {id}: environment: {source}")]
    Setting {
        id: String,
        source: spin_runtime::config::SettingError,
    },
    #[error("container {id}: {source}")]
    RuntimeConfig {
        id: String,
        source: spin_runtime::runtime_config_file::RuntimeConfigError,
    },
    #[error("container {id}: {0}", id = .0)]
    Io(String),
    /// The node's own configuration is broken: no container starts until it is fixed.
    #[error("{0}")]
    NodeConfig(spin_app::node_config::NodeConfigError),
}

/// Node-wide cache of Spin artifact layers copied out of containerd's content store.
pub fn blob_dir() -> PathBuf {
    cache_dir().join("blobs")
}

/// Prepares the app of container `id` (blocking: compiles on a cache miss).
pub fn prepare(
    id: &str,
    spec: &BundleSpec,
    work_dir: &Path,
    node: &spin_app::node_config::NodeConfig,
    locked: LockedApp,
    content: Arc<dyn ContentResolver>,
) -> Result<PreparedApp, AppError> {
    let config = runtime_config(id, spec, work_dir, node)?;
    PreparedApp::prepare(locked, config, content).map_err(|source| AppError::Prepare {
        id: id.into(),
        source,
    })
}

fn runtime_config(
    id: &str,
    spec: &BundleSpec,
    work_dir: &Path,
    node: &spin_app::node_config::NodeConfig,
) -> Result<RuntimeConfig, AppError> {
    let mut config = RuntimeConfig::local(work_dir.to_path_buf());
    let (field, value) = match (
        spec.env_var("SPIN_HTTP_LISTEN_ADDR"),
        spec.env_var("SPIN_HTTP_LISTEN_ADDRESS"),
    ) {
        (Some(v), _) => ("SPIN_HTTP_LISTEN_ADDR", v),
        (None, Some(v)) => ("SPIN_HTTP_LISTEN_ADDRESS", v),
        (None, None) => ("listen address", DEFAULT_LISTEN),
    };
    config.listen = value
        .parse()
        .map_err(|e: std::net::AddrParseError| AppError::Listen {
            id: id.into(),
            field,
            value: value.into(),
            problem: e.to_string(),
        })?;
    config.compile_cache_dir = Some(cache_dir().join("compiled"));
    config.compile_cache_max_bytes = Some(node.caches.compiled_max_bytes);
    config.components_to_retain = spec
        .env_var("SPIN_COMPONENTS_TO_RETAIN")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(String::from)
        .collect();
    config.variables = spin_runtime::config::variables_from_env(spec.env.iter().cloned());
    let mounted = crate::runtime_config_mount::load(spec, work_dir).map_err(|source| {
        AppError::RuntimeConfig {
            id: id.into(),
            source,
        }
    })?;
    config.key_value_stores = mounted.databases.key_value_stores;
    config.sqlite_databases = mounted.databases.sqlite_databases;
    config.client_tls = mounted.client_tls;
    config
        .apply_env(|name| spec.env_var(name))
        .map_err(|source| AppError::Setting {
            id: id.into(),
            source,
        })?;
    config.network = network(id, spec)?;
    // The container's memory limit bounds every instance; the pod's cgroup (where the
    // host lets the shim join it) bounds them all.
    if let Some(limit) = spec.memory_limit {
        config.max_instance_memory = config.max_instance_memory.min(limit as usize);
    }
    // Sizes that land on the node are the node's to bound, whatever the pod asked.
    for clamped in config.clamp_to(&node.ceilings) {
        tracing::warn!(
            container = %id,
            "{}: the pod asks for {}, above this node's ceiling of {}; using the ceiling",
            clamped.name,
            clamped.asked,
            clamped.ceiling
        );
    }
    Ok(config)
}

/// Where the app's outbound connections leave from: the pod's network namespace (with
/// the pod's `/etc/hosts` and `/etc/resolv.conf`, as the kubelet mounts them) when the
/// spec names one other than the shim's, else the shim's own network.
fn network(id: &str, spec: &BundleSpec) -> Result<spin_runtime::network::Network, AppError> {
    use spin_runtime::network::{NameFiles, Network};
    let Some(netns) = spec.netns.as_deref().filter(|ns| !is_own_netns(ns)) else {
        return Ok(Network::Process);
    };
    let mounted = |destination: &str| {
        spec.mounts
            .iter()
            .rev()
            .find(|(dest, _)| dest == Path::new(destination))
            .map(|(_, source)| source.clone())
    };
    let names = NameFiles {
        hosts: mounted("/etc/hosts"),
        resolv_conf: mounted("/etc/resolv.conf"),
    };
    Network::pod(netns, &names).map_err(|source| AppError::Network {
        id: id.into(),
        netns: netns.to_path_buf(),
        source,
    })
}

/// Whether `path` is the network namespace this process is in.
pub fn is_own_netns(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (
        std::fs::metadata(path),
        std::fs::metadata("/proc/self/ns/net"),
    ) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Binds the app's listener, inside the network namespace the spec names (the pod's),
/// else in the shim's own.
pub fn bind(id: &str, app: &Arc<PreparedApp>, spec: &BundleSpec) -> Result<HttpServer, AppError> {
    let addr = app.config.listen;
    let netns = spec.netns.clone();
    let bind_err = |source: std::io::Error| AppError::Bind {
        id: id.into(),
        addr,
        netns: netns
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "of the shim".into()),
        source,
    };
    let listener = match &spec.netns {
        None => std::net::TcpListener::bind(addr).map_err(bind_err)?,
        Some(path) => {
            // setns changes only the calling thread: a short-lived thread joins the
            // pod's namespace and binds there; the socket stays in that namespace.
            let path = path.clone();
            std::thread::spawn(move || -> std::io::Result<std::net::TcpListener> {
                let ns = std::fs::File::open(&path)?;
                nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(std::io::Error::from)?;
                std::net::TcpListener::bind(addr)
            })
            .join()
            .map_err(|_| AppError::Io(format!("{id}: binding thread panicked")))?
            .map_err(bind_err)?
        }
    };
    listener
        .set_nonblocking(true)
        .map_err(|e| AppError::Io(format!("{id}: {e}")))?;
    let listener = tokio::net::TcpListener::from_std(listener)
        .map_err(|e| AppError::Io(format!("{id}: {e}")))?;
    HttpServer::from_listener(app.clone(), listener).map_err(|source| AppError::Prepare {
        id: id.into(),
        source,
    })
}

/// How long SIGTERM lets in-flight requests finish.
pub const DRAIN: Duration = Duration::from_secs(10);
