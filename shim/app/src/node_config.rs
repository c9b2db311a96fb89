//! The node's own configuration: ceilings on pods' settings, and the size of its caches.
//!
//! **Ceilings** are limits a pod's settings may lower but never raise.
//! A pod sets its limits in its container's environment ([`crate::settings`]; the
//! operator fills it from the SpinApp's `invocationLimits`), and whoever creates pods
//! chooses them. Sizes that land on the node (a key-value database in the container's
//! bundle on `/run`, all instances' memory together, the request bodies and outbound
//! responses held while they stream) must not be the pod's to choose without bound, so
//! the shim clamps each value to the ceiling the node sets and logs when it does.
//!
//! The file is TOML, written by `spin-node-installer` beside the shim
//! (`containerd-shim-spin-v2.toml`); every key is optional, unknown keys are refused:
//!
//! ```toml
//! [ceilings]
//! # Any setting of `settings::ALL`, by its environment variable's name.
//! SPIN_KEY_VALUE_MAX_BYTES = "1Gi"
//! SPIN_MAX_INSTANCE_MEMORY = "512Mi"
//! SPIN_MAX_CONCURRENT_INSTANCES = 200
//! # All instances' memory together: the concurrent instance count is lowered so that
//! # count × instance memory stays below it.
//! all_instances_memory = "16Gi"
//!
//! [caches]
//! # Each node cache is kept within its size, least recently used entries removed first.
//! compiled_max_bytes = "10Gi"
//! blobs_max_bytes = "10Gi"
//! ```
//!
//! Without a file, or for a key it leaves out, the defaults of [`Ceilings::default`] and
//! [`CacheBounds::default`] apply.

use std::collections::BTreeMap;

use crate::settings::{self, Kind, Setting};

/// What the node allows.
#[derive(Debug, Clone, PartialEq)]
pub struct Ceilings {
    /// The highest value of each setting, by setting.
    per_setting: Vec<(Setting, u64)>,
    /// Most memory all instances of one pod may use together.
    pub all_instances_memory: u64,
}

/// The node's configuration.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NodeConfig {
    pub ceilings: Ceilings,
    pub caches: CacheBounds,
}

/// How large each node cache may grow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CacheBounds {
    /// Compiled components (`<cache>/compiled`).
    pub compiled_max_bytes: u64,
    /// Artifact layers copied out of containerd (`<cache>/blobs`).
    pub blobs_max_bytes: u64,
}

impl Default for CacheBounds {
    fn default() -> Self {
        Self {
            compiled_max_bytes: 10 << 30,
            blobs_max_bytes: 10 << 30,
        }
    }
}

/// A node config that cannot be used; names the file and the key.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("node config {file}: {problem}")]
pub struct NodeConfigError {
    pub file: String,
    pub problem: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    ceilings: BTreeMap<String, toml::Value>,
    #[serde(default)]
    caches: BTreeMap<String, toml::Value>,
}

/// A number or a quantity's text.
fn value_text(table: &str, key: &str, value: &toml::Value) -> Result<String, String> {
    match value {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(n) => Ok(n.to_string()),
        other => Err(format!(
            "{table}.{key} = {other}: write a number or a quantity (\"1Gi\")"
        )),
    }
}

impl NodeConfig {
    /// Reads a node config file's text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Self, NodeConfigError> {
        let error = |problem: String| NodeConfigError {
            file: file.to_string(),
            problem,
        };
        let parsed: File = toml::from_str(text).map_err(|e| error(e.message().to_string()))?;
        let ceilings = Ceilings::from_table(parsed.ceilings).map_err(error)?;
        let mut caches = CacheBounds::default();
        for (key, value) in parsed.caches {
            let text = value_text("caches", &key, &value).map_err(error)?;
            let slot = match key.as_str() {
                "compiled_max_bytes" => &mut caches.compiled_max_bytes,
                "blobs_max_bytes" => &mut caches.blobs_max_bytes,
                _ => {
                    return Err(error(format!(
                        "caches.{key} is not a cache bound; use compiled_max_bytes or blobs_max_bytes"
                    )));
                }
            };
            *slot = Kind::Bytes
                .parse(&text)
                .map_err(|problem| error(format!("caches.{key} = {text:?}: {problem}")))?;
        }
        Ok(Self { ceilings, caches })
    }
}

/// The default ceiling of each setting: well above its default, below what one pod
/// should ever take of a node.
fn default_ceiling(setting: &Setting) -> u64 {
    match *setting {
        settings::MAX_INSTANCE_MEMORY => 4 << 30,
        settings::MAX_REQUEST_BODY => 4 << 30,
        settings::MAX_HEADER_BYTES => 1 << 20,
        settings::MAX_HEADERS => 1_000,
        settings::HEADER_READ_TIMEOUT_SECS => 300,
        settings::MAX_CONNECTIONS => 100_000,
        settings::MAX_OUTBOUND_RESPONSE_BODY => 4 << 30,
        settings::MAX_LOG_LINE_BYTES => 1 << 20,
        settings::MAX_KEY_VALUE_BYTES => 1 << 30,
        settings::MAX_SQLITE_BYTES => 1 << 30,
        settings::MAX_FILES_BYTES => 1 << 30,
        settings::MAX_LOG_BYTES_PER_SECOND => 16 << 20,
        settings::REQUEST_TIMEOUT_SECS => 3_600,
        settings::MAX_CONCURRENT_INSTANCES => 10_000,
        settings::MAX_INSTANCE_REUSE_COUNT => 100_000,
        settings::MAX_INSTANCE_CONCURRENT_REUSE_COUNT => 1_000,
        settings::IDLE_INSTANCE_TIMEOUT_SECS => 3_600,
        _ => u64::MAX,
    }
}

/// Default of [`Ceilings::all_instances_memory`].
pub const DEFAULT_ALL_INSTANCES_MEMORY: u64 = 64 << 30;

impl Default for Ceilings {
    fn default() -> Self {
        Self {
            per_setting: settings::ALL
                .iter()
                .map(|s| (*s, default_ceiling(s)))
                .collect(),
            all_instances_memory: DEFAULT_ALL_INSTANCES_MEMORY,
        }
    }
}

impl Ceilings {
    /// The `[ceilings]` table; the error is the problem, for the file's error.
    fn from_table(table: BTreeMap<String, toml::Value>) -> Result<Self, String> {
        let mut ceilings = Self::default();
        for (key, value) in table {
            let text = value_text("ceilings", &key, &value)?;
            let bad = |problem: String| format!("ceilings.{key} = {text:?}: {problem}");
            if key == "all_instances_memory" {
                ceilings.all_instances_memory = Kind::Bytes.parse(&text).map_err(bad)?;
                continue;
            }
            let Some(slot) = ceilings.per_setting.iter_mut().find(|(s, _)| s.env == key) else {
                let known: Vec<&str> = settings::ALL.iter().map(|s| s.env).collect();
                return Err(format!(
                    "ceilings.{key} is not a setting; use all_instances_memory or one of {}",
                    known.join(", ")
                ));
            };
            slot.1 = slot.0.kind.parse(&text).map_err(bad)?;
        }
        Ok(ceilings)
    }

    /// The ceiling of `setting`.
    pub fn of(&self, setting: &Setting) -> u64 {
        self.per_setting
            .iter()
            .find(|(s, _)| s == setting)
            .map(|(_, n)| *n)
            .unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_sets_some_ceilings_and_the_rest_keep_their_defaults() {
        let node = NodeConfig::parse(
            "[ceilings]\nSPIN_KEY_VALUE_MAX_BYTES = \"64Mi\"\nSPIN_MAX_CONCURRENT_INSTANCES = 50\n\
             all_instances_memory = \"8Gi\"\n[caches]\nblobs_max_bytes = \"2Gi\"\n",
            "node.toml",
        )
        .unwrap();
        assert_eq!(node.caches.blobs_max_bytes, 2 << 30);
        assert_eq!(node.caches.compiled_max_bytes, 10 << 30);
        let c = node.ceilings;
        assert_eq!(c.of(&settings::MAX_KEY_VALUE_BYTES), 64 << 20);
        assert_eq!(c.of(&settings::MAX_CONCURRENT_INSTANCES), 50);
        assert_eq!(c.of(&settings::MAX_SQLITE_BYTES), 1 << 30);
        assert_eq!(c.all_instances_memory, 8 << 30);
        assert_eq!(
            NodeConfig::parse("", "node.toml").unwrap().ceilings,
            Ceilings::default()
        );
        for setting in settings::ALL {
            assert!(
                Ceilings::default().of(setting) < u64::MAX,
                "{} has a default ceiling",
                setting.env
            );
        }
    }

    #[test]
    fn mistakes_name_the_file_and_the_key() {
        let cases = [
            (
                "[ceilings]\nSPIN_KV = \"1Gi\"\n",
                "ceilings.SPIN_KV is not a setting",
            ),
            (
                "[ceilings]\nSPIN_SQLITE_MAX_BYTES = \"lots\"\n",
                "ceilings.SPIN_SQLITE_MAX_BYTES = \"lots\": use a number of bytes",
            ),
            (
                "[ceilings]\nSPIN_SQLITE_MAX_BYTES = 1.5\n",
                "write a number or a quantity",
            ),
            ("[limits]\n", "unknown field `limits`"),
            ("[caches]\nsize = 1\n", "caches.size is not a cache bound"),
            (
                "[caches]\nblobs_max_bytes = \"0\"\n",
                "caches.blobs_max_bytes = \"0\"",
            ),
        ];
        for (text, expected) in cases {
            let e = NodeConfig::parse(text, "/opt/spin/bin/containerd-shim-spin-v2.toml")
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with("node config /opt/spin/bin/containerd-shim-spin-v2.toml: ")
                    && e.contains(expected),
                "{e}"
            );
        }
    }
}
