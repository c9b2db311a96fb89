//! What the embedder (the local runner or the containerd shim) decides about a run.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use spin_app::settings::{self, Setting};

/// Settings of one running app. The binaries fill it from flags and environment.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where the HTTP trigger listens (`SPIN_HTTP_LISTEN_ADDR`).
    pub listen: SocketAddr,
    /// SQLite file backing the `default` key-value store unless the runtime config
    /// file places it; kept across restarts.
    pub key_value_path: PathBuf,
    /// Key-value stores from the runtime config file, by label, their locations
    /// resolved by the embedder.
    pub key_value_stores: std::collections::BTreeMap<String, DatabaseLocation>,
    /// SQLite file of the `default` database unless the runtime config file places it;
    /// kept across restarts.
    pub sqlite_path: PathBuf,
    /// SQLite databases from the runtime config file, by label, their locations
    /// resolved by the embedder.
    pub sqlite_databases: std::collections::BTreeMap<String, DatabaseLocation>,
    /// Directory for per-app working files (staged `files` mounts).
    pub work_dir: PathBuf,
    /// Precompiled components, reused across runs; `None` compiles every time.
    pub compile_cache_dir: Option<PathBuf>,
    /// Most bytes the compile cache may hold (least recently used entries removed
    /// past it); `None`: unbounded.
    pub compile_cache_max_bytes: Option<u64>,
    /// Longest a guest may run for one request, response body included.
    pub request_timeout: Duration,
    /// Most linear memory one instance (one request) may use, all memories together.
    pub max_instance_memory: usize,
    /// Most instances alive at once (concurrent requests); past it requests get 503.
    pub max_concurrent_instances: u32,
    /// Components to keep (`SPIN_COMPONENTS_TO_RETAIN`); empty keeps all.
    pub components_to_retain: Vec<String>,
    /// Values for application variables, by name, taking precedence over defaults.
    /// The runner fills this from `SPIN_VARIABLE_<NAME>` environment variables.
    pub variables: std::collections::BTreeMap<String, String>,
    /// What clients and guests may make the host hold.
    pub limits: Limits,
    /// Whether WASIp3 instances serve more than one request.
    pub reuse: InstanceReuse,
    /// Where outbound connections (HTTP, Redis, MQTT, key-value stores on Redis) leave
    /// from: the process's network, or a pod's network namespace.
    pub network: crate::network::Network,
    /// Where the app's spans go (the `OTEL_*` variables of its environment); `None`:
    /// traces are off.
    pub telemetry: Option<crate::telemetry::OtelSettings>,
    /// How TLS connections are made (the runtime config file's `[[client_tls]]`
    /// tables; built-in roots alone without them).
    pub client_tls: crate::tls::ClientTls,
}

pub use spin_app::runtime_config::DatabaseLocation;

/// Instance reuse for WASIp3 components (Spin's `--max-instance-reuse-count`,
/// `--max-instance-concurrent-reuse-count`, `--idle-instance-timeout`). Off by default:
/// every request gets a fresh instance, as for every other component. 0.2-era
/// components always get a fresh instance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InstanceReuse {
    /// `SPIN_HTTP_MAX_INSTANCE_REUSE_COUNT` (1): requests one instance serves in all.
    pub max_requests: usize,
    /// `SPIN_HTTP_MAX_INSTANCE_CONCURRENT_REUSE_COUNT` (1): requests one instance
    /// serves at the same time.
    pub max_concurrent: usize,
    /// `SPIN_HTTP_IDLE_INSTANCE_TIMEOUT_SECS` (1): how long an idle instance waits for
    /// another request.
    pub idle_timeout: Duration,
}

impl Default for InstanceReuse {
    fn default() -> Self {
        Self {
            max_requests: 1,
            max_concurrent: 1,
            idle_timeout: Duration::from_secs(1),
        }
    }
}

impl InstanceReuse {
    /// Whether any instance serves more than one request.
    pub fn enabled(&self) -> bool {
        self.max_requests > 1
    }
}

/// Bounds on every host-side buffer and wait that a client or a guest controls. The
/// defaults suit ordinary web apps; each can be changed per app with the environment
/// variable named on its field (for a pod: the container's `env`, which the operator
/// fills from the SpinApp's `invocationLimits`; for `spin-run`: the variable or the flag
/// of the same name). See [`spin_app::settings`]; sizes take a number of bytes or a
/// quantity (`64Mi`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// `SPIN_HTTP_MAX_REQUEST_BODY` (100Mi): larger requests get 413. A body with a
    /// `Content-Length` is refused before the guest runs; a chunked one is cut off
    /// when it passes the limit (the guest sees a body error).
    pub max_request_body: u64,
    /// `SPIN_HTTP_MAX_HEADER_BYTES` (64Ki): most bytes of a request's head (request
    /// line and headers; for HTTP/2 the decoded header list). Larger: 431 or the
    /// connection is closed.
    pub max_header_bytes: usize,
    /// `SPIN_HTTP_MAX_HEADERS` (100): most header fields in one HTTP/1 request.
    pub max_headers: usize,
    /// `SPIN_HTTP_HEADER_READ_TIMEOUT_SECS` (10): a connection that does not deliver a
    /// complete request head within this time (after connecting, or while idle
    /// between requests) is closed.
    pub header_read_timeout: Duration,
    /// `SPIN_HTTP_MAX_CONNECTIONS` (10000): most open client connections; past it new
    /// connections wait in the listen backlog.
    pub max_connections: usize,
    /// `SPIN_OUTBOUND_MAX_RESPONSE_BODY` (100Mi): most bytes a guest may receive in one
    /// outbound HTTP response; past it the guest gets a body-size error.
    pub max_outbound_response_body: u64,
    /// `SPIN_LOG_MAX_LINE_BYTES` (16Ki): a guest's stdout/stderr line longer than this
    /// is cut there, marked and counted.
    pub max_log_line: usize,
    /// `SPIN_KEY_VALUE_MAX_BYTES` (256Mi): most bytes the app's key-value database may
    /// hold (all stores together); past it writes fail with "database or disk is full".
    /// In a pod the database lives in the container's bundle, which containerd keeps on
    /// `/run` (memory on most nodes), so guests must not grow it without bound.
    pub max_key_value_bytes: u64,
    /// `SPIN_SQLITE_MAX_BYTES` (256Mi): most bytes each SQLite database may hold; past
    /// it writes fail with `database-full`. A query's result may be at most as large as
    /// an instance's memory (`SPIN_MAX_INSTANCE_MEMORY`), and it runs at most as long as
    /// a request (`SPIN_REQUEST_TIMEOUT_SECS`).
    pub max_sqlite_bytes: u64,
    /// `SPIN_FILES_MAX_BYTES` (256Mi): most bytes of `files` all components together may
    /// stage for their guests; an app with more is refused at start, naming the file that
    /// passed it.
    pub max_files_bytes: u64,
    /// `SPIN_LOG_MAX_BYTES_PER_SECOND` (1Mi): most bytes of log lines per second, on
    /// average (a second's worth may come at once); past it lines are dropped and the
    /// count is reported.
    pub max_log_bytes_per_second: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_request_body: 100 << 20,
            max_header_bytes: 64 << 10,
            max_headers: 100,
            header_read_timeout: Duration::from_secs(10),
            max_connections: 10_000,
            max_outbound_response_body: 100 << 20,
            max_log_line: 16 << 10,
            max_key_value_bytes: 256 << 20,
            max_sqlite_bytes: 256 << 20,
            max_files_bytes: 256 << 20,
            max_log_bytes_per_second: 1 << 20,
        }
    }
}

pub use crate::setting_error::SettingError;

impl RuntimeConfig {
    /// Applies the settings of [`spin_app::settings::ALL`] present in an environment (a
    /// container's `env`); absent ones keep their value. The environment's `OTEL_*`
    /// variables, when they name a collector, turn traces on.
    pub fn apply_env<'a>(
        &mut self,
        lookup: impl Fn(&str) -> Option<&'a str>,
    ) -> Result<(), SettingError> {
        if let Some(telemetry) = crate::telemetry::OtelSettings::from_env(&lookup)? {
            self.telemetry = Some(telemetry);
        }
        for setting in settings::ALL {
            let Some(value) = lookup(setting.env) else {
                continue;
            };
            let n = setting.kind.parse(value).map_err(|problem| SettingError {
                name: setting.env.into(),
                value: value.into(),
                problem,
            })?;
            self.set(setting, n);
        }
        Ok(())
    }

    /// Sets one setting to an already parsed value.
    pub fn set(&mut self, setting: &Setting, n: u64) {
        let size = usize::try_from(n).unwrap_or(usize::MAX);
        let l = &mut self.limits;
        match *setting {
            // hyper's smallest read buffer; smaller would refuse ordinary requests.
            settings::MAX_HEADER_BYTES => l.max_header_bytes = size.max(8 << 10),
            settings::MAX_REQUEST_BODY => l.max_request_body = n,
            settings::MAX_HEADERS => l.max_headers = size,
            settings::HEADER_READ_TIMEOUT_SECS => l.header_read_timeout = Duration::from_secs(n),
            settings::MAX_CONNECTIONS => l.max_connections = size,
            settings::MAX_OUTBOUND_RESPONSE_BODY => l.max_outbound_response_body = n,
            settings::MAX_LOG_LINE_BYTES => l.max_log_line = size,
            settings::MAX_KEY_VALUE_BYTES => l.max_key_value_bytes = n,
            settings::MAX_SQLITE_BYTES => l.max_sqlite_bytes = n,
            settings::MAX_FILES_BYTES => l.max_files_bytes = n,
            settings::MAX_LOG_BYTES_PER_SECOND => l.max_log_bytes_per_second = n,
            settings::REQUEST_TIMEOUT_SECS => self.request_timeout = Duration::from_secs(n),
            settings::MAX_INSTANCE_MEMORY => self.max_instance_memory = size,
            settings::MAX_CONCURRENT_INSTANCES => {
                self.max_concurrent_instances = u32::try_from(n).unwrap_or(u32::MAX)
            }
            settings::MAX_INSTANCE_REUSE_COUNT => self.reuse.max_requests = size,
            settings::MAX_INSTANCE_CONCURRENT_REUSE_COUNT => self.reuse.max_concurrent = size,
            settings::IDLE_INSTANCE_TIMEOUT_SECS => {
                self.reuse.idle_timeout = Duration::from_secs(n)
            }
            _ => {}
        }
    }
}

/// A pod's value that was above the node's ceiling and was lowered to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Clamped {
    /// The setting's variable (`SPIN_KEY_VALUE_MAX_BYTES`), or what the ceiling bounds.
    pub name: &'static str,
    pub asked: u64,
    pub ceiling: u64,
}

impl RuntimeConfig {
    /// The current value of one setting, as [`RuntimeConfig::set`] takes it.
    pub fn get(&self, setting: &Setting) -> u64 {
        let l = &self.limits;
        let n = |v: usize| v as u64;
        match *setting {
            settings::MAX_HEADER_BYTES => n(l.max_header_bytes),
            settings::MAX_REQUEST_BODY => l.max_request_body,
            settings::MAX_HEADERS => n(l.max_headers),
            settings::HEADER_READ_TIMEOUT_SECS => l.header_read_timeout.as_secs(),
            settings::MAX_CONNECTIONS => n(l.max_connections),
            settings::MAX_OUTBOUND_RESPONSE_BODY => l.max_outbound_response_body,
            settings::MAX_LOG_LINE_BYTES => n(l.max_log_line),
            settings::MAX_KEY_VALUE_BYTES => l.max_key_value_bytes,
            settings::MAX_SQLITE_BYTES => l.max_sqlite_bytes,
            settings::MAX_FILES_BYTES => l.max_files_bytes,
            settings::MAX_LOG_BYTES_PER_SECOND => l.max_log_bytes_per_second,
            settings::REQUEST_TIMEOUT_SECS => self.request_timeout.as_secs(),
            settings::MAX_INSTANCE_MEMORY => n(self.max_instance_memory),
            settings::MAX_CONCURRENT_INSTANCES => self.max_concurrent_instances.into(),
            settings::MAX_INSTANCE_REUSE_COUNT => n(self.reuse.max_requests),
            settings::MAX_INSTANCE_CONCURRENT_REUSE_COUNT => n(self.reuse.max_concurrent),
            settings::IDLE_INSTANCE_TIMEOUT_SECS => self.reuse.idle_timeout.as_secs(),
            _ => 0,
        }
    }

    /// Lowers every setting above the node's ceiling to it, and the concurrent instance
    /// count so that all instances' memory together stays within
    /// `ceilings.all_instances_memory`; returns what was lowered.
    pub fn clamp_to(&mut self, ceilings: &spin_app::node_config::Ceilings) -> Vec<Clamped> {
        let mut clamped = Vec::new();
        for setting in settings::ALL {
            let (asked, ceiling) = (self.get(setting), ceilings.of(setting));
            if asked > ceiling {
                self.set(setting, ceiling);
                clamped.push(Clamped {
                    name: setting.env,
                    asked,
                    ceiling,
                });
            }
        }
        let per_instance = (self.max_instance_memory as u64).max(1);
        let most = u32::try_from(ceilings.all_instances_memory / per_instance)
            .unwrap_or(u32::MAX)
            .max(1);
        if self.max_concurrent_instances > most {
            clamped.push(Clamped {
                name: "SPIN_MAX_CONCURRENT_INSTANCES × SPIN_MAX_INSTANCE_MEMORY",
                asked: u64::from(self.max_concurrent_instances) * per_instance,
                ceiling: ceilings.all_instances_memory,
            });
            self.max_concurrent_instances = most;
        }
        clamped
    }

    /// Defaults for serving locally: loopback port 3000, state under `work_dir`.
    pub fn local(work_dir: PathBuf) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            key_value_path: work_dir.join("sqlite_key_value.db"),
            key_value_stores: Default::default(),
            sqlite_path: work_dir.join("sqlite_db.db"),
            sqlite_databases: Default::default(),
            compile_cache_dir: None,
            compile_cache_max_bytes: None,
            work_dir,
            request_timeout: Duration::from_secs(30),
            max_instance_memory: 256 << 20,
            max_concurrent_instances: 1000,
            components_to_retain: Vec::new(),
            variables: Default::default(),
            limits: Limits::default(),
            reuse: InstanceReuse::default(),
            network: Default::default(),
            telemetry: None,
            client_tls: Default::default(),
        }
    }
}

/// Application variable values from `SPIN_VARIABLE_<NAME>` environment entries
/// (`SPIN_VARIABLE_API_KEY` sets `api_key`), as Spin's environment provider reads them.
pub fn variables_from_env(
    env: impl IntoIterator<Item = (String, String)>,
) -> std::collections::BTreeMap<String, String> {
    env.into_iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("SPIN_VARIABLE_")
                .filter(|name| !name.is_empty())
                .map(|name| (name.to_ascii_lowercase(), v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Applies an environment given as pairs.
    fn apply(config: &mut RuntimeConfig, env: &[(&str, &str)]) {
        let lookup = |name: &str| env.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
        config.apply_env(lookup).unwrap();
    }

    #[test]
    fn a_pods_values_are_lowered_to_the_nodes_ceilings_never_raised() {
        let ceilings = spin_app::node_config::NodeConfig::parse(
            "[ceilings]\nSPIN_KEY_VALUE_MAX_BYTES = \"64Mi\"\nall_instances_memory = \"1Gi\"\n",
            "node.toml",
        )
        .unwrap()
        .ceilings;
        let mut config = RuntimeConfig::local("/tmp/x".into());
        let env = [
            ("SPIN_KEY_VALUE_MAX_BYTES", "1Ti"),
            ("SPIN_SQLITE_MAX_BYTES", "16Mi"),
            ("SPIN_MAX_INSTANCE_MEMORY", "128Mi"),
        ];
        apply(&mut config, &env);
        let clamped = config.clamp_to(&ceilings);
        assert_eq!(config.limits.max_key_value_bytes, 64 << 20);
        assert_eq!(
            config.limits.max_sqlite_bytes,
            16 << 20,
            "lower values stay"
        );
        // 1000 instances of 128 MiB do not fit 1 GiB: 8 do.
        assert_eq!(config.max_concurrent_instances, 8);
        assert_eq!(
            clamped,
            [
                Clamped {
                    name: "SPIN_KEY_VALUE_MAX_BYTES",
                    asked: 1 << 40,
                    ceiling: 64 << 20
                },
                Clamped {
                    name: "SPIN_MAX_CONCURRENT_INSTANCES × SPIN_MAX_INSTANCE_MEMORY",
                    asked: 1000 * (128 << 20),
                    ceiling: 1 << 30
                }
            ]
        );
        // Every setting round-trips through get and set.
        for setting in settings::ALL {
            let before = config.get(setting);
            config.set(setting, before);
            assert_eq!(config.get(setting), before, "{}", setting.env);
        }
    }

    #[test]
    fn env_settings_apply_and_errors_name_the_variable() {
        let mut config = RuntimeConfig::local("/tmp/x".into());
        let env = [
            ("SPIN_HTTP_MAX_REQUEST_BODY", "1Mi"),
            ("SPIN_HTTP_MAX_HEADERS", "20"),
            ("SPIN_MAX_INSTANCE_MEMORY", "64Mi"),
        ];
        apply(&mut config, &env);
        assert_eq!(config.limits.max_request_body, 1 << 20);
        assert_eq!(config.limits.max_headers, 20);
        assert_eq!(config.max_instance_memory, 64 << 20);
        assert_eq!(
            config.limits.max_connections,
            Limits::default().max_connections
        );
        let err = config
            .apply_env(|name| (name == "SPIN_HTTP_MAX_REQUEST_BODY").then_some("lots"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("SPIN_HTTP_MAX_REQUEST_BODY=\"lots\": use a number of bytes"),
            "{err}"
        );
        // Every setting the table names is applied.
        for setting in settings::ALL {
            let mut c = RuntimeConfig::local("/tmp/x".into());
            let before = format!("{c:?}");
            c.apply_env(|name| (name == setting.env).then_some("12345678"))
                .unwrap();
            assert_ne!(format!("{c:?}"), before, "{} changed nothing", setting.env);
        }
    }

    #[test]
    fn env_variables_are_lowercased() {
        let vars = variables_from_env([
            ("SPIN_VARIABLE_API_KEY".to_string(), "k".to_string()),
            ("SPIN_VARIABLE_".to_string(), "ignored".to_string()),
            ("PATH".to_string(), "/bin".to_string()),
        ]);
        assert_eq!(vars.len(), 1);
        assert_eq!(vars["api_key"], "k");
    }
}
