//! `spin.toml`, manifest version 2, parsed strictly: an unknown field is an error that
//! names it, so a typo never silently drops configuration.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::package::PackageRequest;

/// The whole manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub spin_manifest_version: u32,
    pub application: Application,
    #[serde(default)]
    pub variables: BTreeMap<String, ManifestVariable>,
    /// `[[trigger.<type>]]` tables, by trigger type.
    #[serde(default, rename = "trigger")]
    pub triggers: BTreeMap<String, Vec<Trigger>>,
    #[serde(default, rename = "component")]
    pub components: BTreeMap<String, Component>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Application {
    pub name: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub authors: Vec<String>,
    /// Target environments (`spin-up:3.3`); informational here.
    #[serde(default)]
    pub targets: Vec<toml::Value>,
    /// Application-level trigger settings, e.g. `[application.trigger.http] base = "/"`.
    #[serde(default, rename = "trigger")]
    pub trigger_settings: BTreeMap<String, toml::Table>,
    /// Settings for other tools; ignored by Spin and by us.
    #[serde(default)]
    pub tool: toml::Table,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestVariable {
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub secret: bool,
    #[serde(default)]
    pub description: Option<String>,
}

/// One `[[trigger.<type>]]` entry. Besides `id` and `component`, the keys are specific
/// to the trigger type (`route` and `executor` for HTTP) and kept as a table.
#[derive(Debug, Clone, Deserialize)]
pub struct Trigger {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub component: Option<ComponentSpec>,
    /// Components the trigger wraps around its component, by role: `middleware`
    /// (HTTP), outermost first.
    #[serde(default)]
    pub dependencies: BTreeMap<String, Vec<Dependency>>,
    #[serde(flatten)]
    pub config: toml::Table,
}

/// `component = "id"` or an inline component table.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "toml::Value")]
pub enum ComponentSpec {
    Reference(String),
    Inline(Box<Component>),
}

impl TryFrom<toml::Value> for ComponentSpec {
    type Error = String;
    fn try_from(v: toml::Value) -> Result<Self, String> {
        match v {
            toml::Value::String(id) => Ok(Self::Reference(id)),
            toml::Value::Table(t) => Component::deserialize(t)
                .map(|c| Self::Inline(Box::new(c)))
                .map_err(|e| format!("inline component: {e}")),
            other => Err(format!(
                "`component` must be a component id or a table, not a {}",
                other.type_str()
            )),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    pub source: ComponentSource,
    #[serde(default)]
    pub description: String,
    /// Component variables: name to template.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    #[serde(default)]
    pub files: Vec<FilesMount>,
    #[serde(default)]
    pub exclude_files: Vec<String>,
    /// Deprecated spelling of `allowed_outbound_hosts` (host names, HTTP and HTTPS).
    #[serde(default)]
    pub allowed_http_hosts: Vec<String>,
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    #[serde(default, alias = "key-value-stores")]
    pub key_value_stores: Vec<String>,
    #[serde(default)]
    pub sqlite_databases: Vec<String>,
    #[serde(default)]
    pub ai_models: Vec<String>,
    #[serde(default)]
    pub targets: Vec<toml::Value>,
    /// `[component.x.build]`: how to build the Wasm file (`command`, `workdir`, `watch`).
    #[serde(default)]
    pub build: Option<toml::Table>,
    /// `[component.<id>.dependencies]`: what satisfies some of the component's imports,
    /// by dependency name.
    #[serde(default)]
    pub dependencies: BTreeMap<String, Dependency>,
    /// `true`: every dependency inherits all of the component's configuration (not
    /// together with a dependency's own `inherit_configuration`).
    #[serde(default)]
    pub dependencies_inherit_configuration: Option<bool>,
    #[serde(default)]
    pub tool: toml::Table,
}

/// Where a component's Wasm comes from.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "toml::Value")]
pub enum ComponentSource {
    /// A path relative to the manifest.
    Local(String),
    /// `{ url = "...", digest = "sha256:..." }`.
    Remote { url: String, digest: String },
    /// `{ registry = "...", package = "...", version = "..." }` (`registry` optional).
    Registry(PackageRequest),
}

impl TryFrom<toml::Value> for ComponentSource {
    type Error = String;
    fn try_from(v: toml::Value) -> Result<Self, String> {
        let table = match v {
            toml::Value::String(path) => return Ok(Self::Local(path)),
            toml::Value::Table(t) => t,
            other => {
                return Err(format!(
                    "`source` must be a file path or a table, not a {}",
                    other.type_str()
                ));
            }
        };
        let text = |key: &str| {
            table
                .get(key)
                .and_then(toml::Value::as_str)
                .map(str::to_string)
        };
        if let (Some(url), Some(digest)) = (text("url"), text("digest")) {
            return Ok(Self::Remote { url, digest });
        }
        if let (Some(package), Some(version)) = (text("package"), text("version")) {
            return PackageRequest::for_component(&package, &version, text("registry"))
                .map(Self::Registry);
        }
        Err("`source` table needs `url` and `digest`, or `package` and `version`".into())
    }
}

/// A `files` entry: a path or glob pattern relative to the manifest, or a directory
/// placed at a guest path.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "toml::Value")]
pub enum FilesMount {
    Pattern(String),
    Placement { source: String, destination: String },
}

impl TryFrom<toml::Value> for FilesMount {
    type Error = String;
    fn try_from(v: toml::Value) -> Result<Self, String> {
        match v {
            toml::Value::String(p) => Ok(Self::Pattern(p)),
            toml::Value::Table(t) => {
                let text = |key: &str| t.get(key).and_then(toml::Value::as_str).map(str::to_string);
                if let Some(extra) = t.keys().find(|k| *k != "source" && *k != "destination") {
                    return Err(format!(
                        "unknown key `{extra}` in a `files` entry (expected `source` and `destination`)"
                    ));
                }
                match (text("source"), text("destination")) {
                    (Some(source), Some(destination)) => Ok(Self::Placement {
                        source,
                        destination,
                    }),
                    _ => Err("a `files` table needs `source` and `destination` strings".into()),
                }
            }
            other => Err(format!(
                "a `files` entry must be a path pattern or a table, not a {}",
                other.type_str()
            )),
        }
    }
}

/// A component dependency, or an HTTP middleware (`dependencies.middleware = [...]` on
/// a trigger, where `export` is not used).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "toml::Value")]
pub struct Dependency {
    pub source: DependencySource,
    /// The dependency's export that satisfies the import (default: the import's name).
    pub export: Option<String>,
    /// `true`, `false` or a list of configuration keys ([`crate::inherit`]).
    pub inherit_configuration: Option<Inherit>,
}

/// Where a dependency's Wasm comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum DependencySource {
    /// `{ path = "..." }`, relative to the manifest.
    Local(String),
    /// `{ url = "...", digest = "sha256:..." }`.
    Remote { url: String, digest: String },
    /// `{ component = "<id>" }`: the Wasm of another component of the app.
    AppComponent(String),
    /// `"<version>"` or `{ version = "...", registry = "...", package = "..." }`: a
    /// package in a registry ([`PackageRequest::for_dependency`]).
    Registry {
        version: String,
        package: Option<String>,
        registry: Option<String>,
    },
}

impl DependencySource {
    /// The package a registry source asks for; `name` is the dependency's name (`None`
    /// for middleware).
    pub fn package_request(&self, name: Option<&str>) -> Option<Result<PackageRequest, String>> {
        match self {
            Self::Registry {
                version,
                package,
                registry,
            } => Some(PackageRequest::for_dependency(
                name,
                version,
                package.as_deref(),
                registry.clone(),
            )),
            _ => None,
        }
    }
}

/// `inherit_configuration`: all or nothing, or the named configuration keys.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Inherit {
    All(bool),
    Some(Vec<String>),
}

impl TryFrom<toml::Value> for Dependency {
    type Error = String;
    fn try_from(v: toml::Value) -> Result<Self, String> {
        let table = match v {
            toml::Value::String(version) => {
                return Ok(Self {
                    source: DependencySource::Registry {
                        version,
                        package: None,
                        registry: None,
                    },
                    export: None,
                    inherit_configuration: None,
                });
            }
            toml::Value::Table(t) => t,
            other => {
                return Err(format!(
                    "a dependency is a version string or a table, not a {}",
                    other.type_str()
                ));
            }
        };
        const KEYS: &[&str] = &[
            "path",
            "url",
            "digest",
            "component",
            "version",
            "registry",
            "package",
            "export",
            "inherit_configuration",
        ];
        if let Some(extra) = table.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(format!(
                "unknown key `{extra}` in a dependency (expected one of {KEYS:?})"
            ));
        }
        let text = |key: &str| -> Result<Option<String>, String> {
            match table.get(key) {
                None => Ok(None),
                Some(toml::Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(format!(
                    "`{key}` must be a string, not a {}",
                    other.type_str()
                )),
            }
        };
        let source = match (
            text("path")?,
            text("url")?,
            text("component")?,
            text("version")?,
        ) {
            (Some(path), None, None, None) => DependencySource::Local(path),
            (None, Some(url), None, None) => DependencySource::Remote {
                url,
                digest: text("digest")?
                    .ok_or("a `url` dependency needs its `digest` (sha256:...)")?,
            },
            (None, None, Some(id), None) => DependencySource::AppComponent(id),
            (None, None, None, Some(version)) => DependencySource::Registry {
                version,
                package: text("package")?,
                registry: text("registry")?,
            },
            _ => {
                return Err(
                    "a dependency gives exactly one of `path`, `url` (with `digest`), \
                     `component` or `version` (a registry package)"
                        .into(),
                );
            }
        };
        if !matches!(source, DependencySource::Registry { .. })
            && (table.contains_key("package") || table.contains_key("registry"))
        {
            return Err("`package` and `registry` go with `version` (a registry package)".into());
        }
        let inherit_configuration = table
            .get("inherit_configuration")
            .cloned()
            .map(Inherit::deserialize)
            .transpose()
            .map_err(|_| {
                "`inherit_configuration` is `true`, `false` or a list of configuration keys"
                    .to_string()
            })?;
        Ok(Self {
            source,
            export: text("export")?,
            inherit_configuration,
        })
    }
}
