//! Which registry serves a Wasm package when the manifest does not say: the wasm-pkg
//! configuration Spin and `wkg` read (`$XDG_CONFIG_HOME/wasm-pkg/config.toml`, else
//! `~/.config/wasm-pkg/config.toml`), so a user's existing setup keeps working:
//!
//! ```toml
//! default_registry = "example.com"
//! [namespace_registries]
//! my-ns = "localhost:5000"                # or { registry = "localhost:5000" }
//! [package_registry_overrides]
//! "other:pkg" = "registry.example.net"
//! ```
//!
//! A package's registry is its override, else its namespace's, else the default, else
//! the built-in one for the `wasi` and `ba` namespaces (`bytecodealliance.org`), as
//! wasm-pkg resolves it. Other keys (per-registry backend settings) are not read:
//! credentials come from the Docker config, as for app images.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use spin_app::package::{PackageRequest, check_registry};

/// Namespaces wasm-pkg maps to a registry without configuration.
const BUILT_IN_NAMESPACES: &[(&str, &str)] = &[
    ("wasi", "bytecodealliance.org"),
    ("ba", "bytecodealliance.org"),
];

/// The registries packages come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackageConfig {
    pub default_registry: Option<String>,
    pub namespace_registries: BTreeMap<String, String>,
    pub package_registry_overrides: BTreeMap<String, String>,
    /// The file read, for error messages.
    pub source: Option<PathBuf>,
}

/// A configuration file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("wasm-pkg configuration {}: {problem}", path.display())]
pub struct PackageConfigError {
    pub path: PathBuf,
    pub problem: String,
}

#[derive(Deserialize)]
struct ConfigFile {
    default_registry: Option<String>,
    #[serde(default)]
    namespace_registries: BTreeMap<String, RegistryEntry>,
    #[serde(default)]
    package_registry_overrides: BTreeMap<String, RegistryEntry>,
}

/// `"example.com"` or `{ registry = "example.com", ... }`.
#[derive(Deserialize)]
#[serde(untagged)]
enum RegistryEntry {
    Name(String),
    Table { registry: String },
}

impl RegistryEntry {
    fn into_name(self) -> String {
        match self {
            Self::Name(name) | Self::Table { registry: name } => name,
        }
    }
}

/// Largest configuration file read.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

impl PackageConfig {
    /// `wasm-pkg/config.toml` under `$XDG_CONFIG_HOME` or `~/.config`; empty when
    /// there is none.
    pub fn from_user_config() -> Result<Self, PackageConfigError> {
        let dir = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")));
        match dir.map(|d| d.join("wasm-pkg/config.toml")) {
            Some(path) if path.exists() => Self::from_file(&path),
            _ => Ok(Self::default()),
        }
    }

    /// Reads one configuration file.
    pub fn from_file(path: &Path) -> Result<Self, PackageConfigError> {
        use std::io::Read;
        let fail = |problem: String| PackageConfigError {
            path: path.to_path_buf(),
            problem,
        };
        let mut text = String::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_CONFIG_BYTES).read_to_string(&mut text))
            .map_err(|e| fail(e.to_string()))?;
        let file: ConfigFile = toml::from_str(&text).map_err(|e| fail(e.to_string()))?;
        let entries = |map: BTreeMap<String, RegistryEntry>| {
            map.into_iter()
                .map(|(key, entry)| {
                    let registry = entry.into_name();
                    check_registry(&registry).map_err(|e| fail(format!("{key:?}: {e}")))?;
                    Ok((key, registry))
                })
                .collect::<Result<BTreeMap<_, _>, _>>()
        };
        if let Some(registry) = &file.default_registry {
            check_registry(registry).map_err(|e| fail(format!("default_registry: {e}")))?;
        }
        Ok(Self {
            default_registry: file.default_registry,
            namespace_registries: entries(file.namespace_registries)?,
            package_registry_overrides: entries(file.package_registry_overrides)?,
            source: Some(path.to_path_buf()),
        })
    }

    /// The registry serving `request`: the manifest's, else as configured.
    pub fn registry_for(&self, request: &PackageRequest) -> Option<String> {
        let built_in = BUILT_IN_NAMESPACES
            .iter()
            .find(|(ns, _)| *ns == request.namespace())
            .map(|(_, registry)| registry.to_string());
        request
            .registry
            .clone()
            .or_else(|| {
                self.package_registry_overrides
                    .get(&request.package)
                    .cloned()
            })
            .or_else(|| self.namespace_registries.get(request.namespace()).cloned())
            .or_else(|| self.default_registry.clone())
            .or(built_in)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(package: &str, registry: Option<&str>) -> PackageRequest {
        PackageRequest::for_dependency(None, "1", Some(package), registry.map(str::to_string))
            .unwrap()
    }

    #[test]
    fn a_package_finds_its_registry_as_wasm_pkg_resolves_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            r#"
default_registry = "default.example"
[namespace_registries]
my = "localhost:5000"
theirs = { registry = "theirs.example", metadata = { preferredProtocol = "oci" } }
[package_registry_overrides]
"my:special" = "special.example"
[registry."localhost:5000".oci]
auth = { username = "u", password = "p" }
"#,
        )
        .unwrap();
        let config = PackageConfig::from_file(&path).unwrap();
        let registry = |package, given| config.registry_for(&request(package, given));
        assert_eq!(registry("my:lib", None).as_deref(), Some("localhost:5000"));
        assert_eq!(
            registry("theirs:lib", None).as_deref(),
            Some("theirs.example")
        );
        assert_eq!(
            registry("my:special", None).as_deref(),
            Some("special.example")
        );
        assert_eq!(
            registry("any:lib", None).as_deref(),
            Some("default.example")
        );
        assert_eq!(
            registry("my:lib", Some("given.example")).as_deref(),
            Some("given.example")
        );

        let empty = PackageConfig::default();
        assert_eq!(
            empty.registry_for(&request("wasi:http", None)).as_deref(),
            Some("bytecodealliance.org")
        );
        assert_eq!(empty.registry_for(&request("my:lib", None)), None);
    }

    #[test]
    fn a_registry_that_is_a_url_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "default_registry = \"http://evil.example/x\"\n").unwrap();
        let err = PackageConfig::from_file(&path).unwrap_err().to_string();
        assert!(err.contains("default_registry"), "{err}");
    }
}
