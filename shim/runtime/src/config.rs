//! What the embedder (the local runner or the containerd shim) decides about a run.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Settings of one running app. The binaries fill it from flags and environment.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where the HTTP trigger listens (`SPIN_HTTP_LISTEN_ADDR`).
    pub listen: SocketAddr,
    /// SQLite file backing the `default` key-value store; kept across restarts.
    pub key_value_path: PathBuf,
    /// Directory for per-app working files (staged `files` mounts).
    pub work_dir: PathBuf,
    /// Precompiled components, reused across runs; `None` compiles every time.
    pub compile_cache_dir: Option<PathBuf>,
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
}

impl RuntimeConfig {
    /// Defaults for serving locally: loopback port 3000, state under `work_dir`.
    pub fn local(work_dir: PathBuf) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            key_value_path: work_dir.join("sqlite_key_value.db"),
            compile_cache_dir: None,
            work_dir,
            request_timeout: Duration::from_secs(30),
            max_instance_memory: 256 << 20,
            max_concurrent_instances: 1000,
            components_to_retain: Vec::new(),
            variables: Default::default(),
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
