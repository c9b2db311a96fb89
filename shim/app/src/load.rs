//! Reading a Spin app from disk: `spin.toml` (turned into a locked app with `file://`
//! sources) or a locked app JSON file.

use std::collections::BTreeMap;
use std::path::{Component as PathPart, Path, PathBuf};

use serde::Deserialize;
use serde_json::json;

use crate::AppError;
use crate::Sha256Digest;
use crate::allowed_hosts::AllowedHost;
use crate::allowed_http_hosts;
use crate::ids::{is_kebab_id, is_lower_snake_id};
use crate::locked::{
    ContentPath, ContentRef, LockedApp, LockedComponent, LockedSource, LockedTrigger, Variable,
};
use crate::manifest::{
    Component, ComponentSource, ComponentSpec, DependencySource, FilesMount, Manifest,
};
use crate::manifest_v1;
use crate::package::PackageRequest;
use crate::template::Template;

/// Loads an app from a directory holding `spin.toml`, a manifest file, or a locked app
/// JSON file (`*.json`, `*.lock`). Remote URL and registry package sources are refused:
/// use [`load_app_fetched`].
pub fn load_app(path: &Path) -> Result<LockedApp, AppError> {
    load_app_fetched(path, &FetchedSources::default())
}

/// Like [`load_app`], with the remote sources the manifest names ([`sources_to_fetch`])
/// already fetched and verified by the caller into local files.
pub fn load_app_fetched(path: &Path, fetched: &FetchedSources) -> Result<LockedApp, AppError> {
    let file = app_file(path);
    if is_locked_file(&file) {
        LockedApp::from_file(&file)
    } else {
        load_manifest(&file, false, fetched)
    }
}

/// The file an app path names: `spin.toml` in a directory, else the path itself.
fn app_file(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join("spin.toml")
    } else {
        path.to_path_buf()
    }
}

fn is_locked_file(file: &Path) -> bool {
    matches!(
        file.extension().and_then(|e| e.to_str()),
        Some("json" | "lock")
    )
}

/// What was fetched for an app's remote URLs and registry packages ([`sources_to_fetch`]).
#[derive(Debug, Clone, Default)]
pub struct FetchedSources {
    /// Local files by digest, each hashed to its digest by whoever fetched it.
    pub files: BTreeMap<Sha256Digest, PathBuf>,
    /// The digest each registry package was resolved to (its file is in `files`).
    pub packages: BTreeMap<PackageRequest, Sha256Digest>,
}

impl FetchedSources {
    /// The local file of a fetched package.
    fn package_file(&self, request: &PackageRequest) -> Option<(&Sha256Digest, &PathBuf)> {
        let digest = self.packages.get(request)?;
        Some((digest, self.files.get(digest)?))
    }
}

/// A component `source = { url = "...", digest = "sha256:..." }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteSource {
    /// `component.<id>.source` (or the trigger's inline component), for errors.
    pub field: String,
    pub url: String,
    pub digest: Sha256Digest,
}

/// A component or dependency whose Wasm is a package in a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageSource {
    /// `component.<id>.source`, `component.<id>.dependencies."<name>"`, ..., for errors.
    pub field: String,
    pub request: PackageRequest,
}

/// What an app's manifest names outside its directory (nothing for a locked app file).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourcesToFetch {
    pub urls: Vec<RemoteSource>,
    pub packages: Vec<PackageSource>,
}

/// The remote URLs and registry packages an app's manifest names.
pub fn sources_to_fetch(path: &Path) -> Result<SourcesToFetch, AppError> {
    let file = app_file(path);
    if is_locked_file(&file) {
        return Ok(SourcesToFetch::default());
    }
    let manifest = read_manifest(&file)?;
    let mut wanted = SourcesToFetch::default();
    for (field, source) in wasm_sources(&manifest) {
        let (url, digest, request) = match source {
            WasmSource::Component(ComponentSource::Remote { url, digest }) => (url, digest, None),
            WasmSource::Component(ComponentSource::Registry(request)) => {
                wanted.packages.push(PackageSource {
                    field,
                    request: request.clone(),
                });
                continue;
            }
            WasmSource::Dependency(_, DependencySource::Remote { url, digest }) => {
                (url, digest, Some(format!("{field}.url")))
            }
            WasmSource::Dependency(name, dependency) => {
                if let Some(request) = dependency.package_request(name) {
                    let request = request.map_err(|e| AppError::invalid(&file, &field, e))?;
                    wanted.packages.push(PackageSource { field, request });
                }
                continue;
            }
            WasmSource::Component(_) => continue,
        };
        let field = request.unwrap_or(field);
        let digest = Sha256Digest::parse(digest)
            .map_err(|e| AppError::invalid(&file, format!("{field}.digest"), e.to_string()))?;
        wanted.urls.push(RemoteSource {
            field,
            url: url.clone(),
            digest,
        });
    }
    Ok(wanted)
}

/// A Wasm source a manifest names.
enum WasmSource<'m> {
    Component(&'m ComponentSource),
    /// A dependency (with its name) or a middleware (without).
    Dependency(Option<&'m str>, &'m DependencySource),
}

/// Every Wasm source of a manifest with its field: components' (inline ones too), their
/// dependencies', and triggers' middleware.
fn wasm_sources(manifest: &Manifest) -> Vec<(String, WasmSource<'_>)> {
    let mut components: Vec<(String, &Component)> = manifest
        .components
        .iter()
        .map(|(id, c)| (format!("component.{id}"), c))
        .collect();
    let mut sources = Vec::new();
    for (trigger_type, entries) in &manifest.triggers {
        for (index, trigger) in entries.iter().enumerate() {
            let base = format!("trigger.{trigger_type}[{index}]");
            if let Some(ComponentSpec::Inline(c)) = &trigger.component {
                components.push((format!("{base}.component"), &**c));
            }
            for (role, list) in &trigger.dependencies {
                for (i, d) in list.iter().enumerate() {
                    let field = format!("{base}.dependencies.{role}[{i}]");
                    sources.push((field, WasmSource::Dependency(None, &d.source)));
                }
            }
        }
    }
    let own = components
        .iter()
        .map(|(base, c)| (format!("{base}.source"), WasmSource::Component(&c.source)));
    let dependencies = components.iter().flat_map(|(base, c)| {
        c.dependencies.iter().map(move |(name, d)| {
            (
                format!("{base}.dependencies.{name:?}"),
                WasmSource::Dependency(Some(name.as_str()), &d.source),
            )
        })
    });
    own.chain(dependencies).chain(sources).collect()
}

pub use crate::app_file::MAX_APP_FILE_BYTES;
use crate::app_file::read_app_file;

/// Reads `spin.toml` and resolves it into a locked app.
pub fn load_manifest_file(path: &Path) -> Result<LockedApp, AppError> {
    load_manifest(path, false, &FetchedSources::default())
}

/// Like [`load_manifest_file`], for an app someone else wrote (a container image's
/// root filesystem): every path it names must be relative and free of `..`. The
/// caller confines the file system itself (the shim reads such apps chrooted into the
/// container's root).
pub fn load_manifest_confined(path: &Path) -> Result<LockedApp, AppError> {
    load_manifest(path, true, &FetchedSources::default())
}

fn read_manifest(path: &Path) -> Result<Manifest, AppError> {
    let text = read_app_file(path)?;
    let text = String::from_utf8(text).map_err(|e| AppError::Read {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e.utf8_error()),
    })?;
    parse_manifest(&text, path)
}

fn load_manifest(
    path: &Path,
    confined: bool,
    fetched: &FetchedSources,
) -> Result<LockedApp, AppError> {
    let manifest = read_manifest(path)?;
    let root = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let root = std::path::absolute(root).map_err(|source| AppError::Read {
        path: root.to_path_buf(),
        source,
    })?;
    Locker {
        path,
        root: &root,
        confined,
        fetched,
    }
    .lock(manifest)
}

/// Parses manifest text, checking the version first so an unknown version gets advice
/// rather than a list of unknown fields. A version 1 manifest is converted first (see
/// [`crate::manifest_v1`]); a version 2 one is parsed from its text, so errors carry
/// the line.
pub fn parse_manifest(text: &str, path: &Path) -> Result<Manifest, AppError> {
    let syntax = |source| syntax_error(path, source);
    match ManifestText::read(text, path)? {
        ManifestText::V1(document) => {
            Manifest::deserialize(toml::Value::Table(convert_v1(document, path)?)).map_err(syntax)
        }
        ManifestText::V2 => toml::from_str(text).map_err(syntax),
    }
}

/// The manifest as a version 2 TOML document: as written, or converted from version 1.
pub fn v2_document(text: &str, path: &Path) -> Result<toml::Table, AppError> {
    match ManifestText::read(text, path)? {
        ManifestText::V1(document) => convert_v1(document, path),
        ManifestText::V2 => toml::from_str(text).map_err(|e| syntax_error(path, e)),
    }
}

fn syntax_error(path: &Path, source: toml::de::Error) -> AppError {
    AppError::ManifestSyntax {
        path: path.to_path_buf(),
        source: Box::new(source),
    }
}

fn convert_v1(document: toml::Table, path: &Path) -> Result<toml::Table, AppError> {
    manifest_v1::to_v2(document).map_err(|e| {
        AppError::invalid(path, e.field, format!("{} (version 1 manifest)", e.problem))
    })
}

/// Which version a manifest's text declares.
enum ManifestText {
    V1(toml::Table),
    V2,
}

impl ManifestText {
    fn read(text: &str, path: &Path) -> Result<Self, AppError> {
        let table: toml::Table = toml::from_str(text).map_err(|e| syntax_error(path, e))?;
        if manifest_v1::is_v1(&table) {
            return Ok(Self::V1(table));
        }
        match table.get("spin_manifest_version") {
            Some(toml::Value::Integer(2)) => Ok(Self::V2),
            Some(other) => Err(AppError::invalid(
                path,
                "spin_manifest_version",
                format!(
                    "version {other} is not supported; this runtime reads version 2 manifests \
                     (and converts version 1)"
                ),
            )),
            None => Err(AppError::invalid(
                path,
                "spin_manifest_version",
                "missing; add `spin_manifest_version = 2` at the top",
            )),
        }
    }
}

struct Locker<'a> {
    path: &'a Path,
    root: &'a Path,
    /// Only relative paths without `..` (apps from untrusted images).
    confined: bool,
    fetched: &'a FetchedSources,
}

impl Locker<'_> {
    fn err(&self, field: impl Into<String>, problem: impl Into<String>) -> AppError {
        AppError::invalid(self.path, field, problem)
    }

    /// In a confined app, refuses absolute paths and `..`.
    fn check_inside(&self, field: &str, path: &str) -> Result<(), AppError> {
        let leaves = Path::new(path)
            .components()
            .any(|p| !matches!(p, PathPart::Normal(_) | PathPart::CurDir));
        if self.confined && leaves {
            return Err(self.err(
                field,
                format!(
                    "{path:?} is not inside the app: use a path relative to spin.toml, without `..`"
                ),
            ));
        }
        Ok(())
    }

    fn lock(&self, manifest: Manifest) -> Result<LockedApp, AppError> {
        let app = &manifest.application;
        if app.name.trim().is_empty() {
            return Err(self.err("application.name", "must not be empty"));
        }
        let variables = self.variables(&manifest)?;

        let mut components = manifest.components.clone();
        let mut triggers = Vec::new();
        for (trigger_type, entries) in &manifest.triggers {
            for (index, trigger) in entries.iter().enumerate() {
                let field = format!("trigger.{trigger_type}[{index}]");
                let component_id = match &trigger.component {
                    Some(ComponentSpec::Reference(id)) => {
                        if !manifest.components.contains_key(id) {
                            let known: Vec<_> = manifest.components.keys().collect();
                            return Err(self.err(
                                format!("{field}.component"),
                                format!("no component {id:?} is defined (defined: {known:?})"),
                            ));
                        }
                        id.clone()
                    }
                    Some(ComponentSpec::Inline(c)) => {
                        let id = trigger
                            .id
                            .clone()
                            .unwrap_or_else(|| format!("{trigger_type}-trigger-{index}"));
                        components.insert(id.clone(), (**c).clone());
                        id
                    }
                    None => {
                        return Err(self.err(
                            format!("{field}.component"),
                            "missing; name the component this trigger runs",
                        ));
                    }
                };
                let mut config = trigger.config.clone();
                config.insert("component".into(), component_id.clone().into());
                let config =
                    serde_json::to_value(&config).map_err(|e| self.err(&field, e.to_string()))?;
                let trigger_dependencies = self.trigger_dependencies(
                    &field,
                    trigger_type,
                    &trigger.dependencies,
                    &manifest.components,
                )?;
                triggers.push(LockedTrigger {
                    id: trigger
                        .id
                        .clone()
                        .unwrap_or_else(|| format!("{component_id}-{trigger_type}-trigger")),
                    trigger_type: trigger_type.clone(),
                    trigger_config: config,
                    trigger_dependencies,
                });
            }
        }

        let components = components
            .iter()
            .map(|(id, c)| self.component(id, c, &variables, &manifest.components))
            .collect::<Result<Vec<_>, _>>()?;

        let mut metadata = serde_json::Map::new();
        metadata.insert("name".into(), json!(app.name));
        if !app.version.is_empty() {
            metadata.insert("version".into(), json!(app.version));
        }
        if !app.description.is_empty() {
            metadata.insert("description".into(), json!(app.description));
        }
        if !app.authors.is_empty() {
            metadata.insert("authors".into(), json!(app.authors));
        }
        metadata.insert("triggers".into(), json!(app.trigger_settings));
        if manifest.triggers.len() == 1 {
            let (trigger_type, _) = manifest.triggers.iter().next().expect("one entry");
            let mut single = app
                .trigger_settings
                .get(trigger_type)
                .cloned()
                .unwrap_or_default();
            single.insert("type".into(), trigger_type.clone().into());
            metadata.insert("trigger".into(), json!(single));
        }
        metadata.insert(
            "origin".into(),
            json!(file_url(&self.root.join(self.file_name()))),
        );

        let mut locked = LockedApp {
            spin_lock_version: 0,
            must_understand: vec![],
            metadata,
            host_requirements: Default::default(),
            variables,
            triggers,
            components,
        };
        crate::middleware::attach_to_components(&mut locked);
        // As Spin writes it: a host that does not know a requirement refuses the app.
        if locked
            .components
            .iter()
            .any(|c| !c.host_requirements.is_empty())
        {
            locked.spin_lock_version = 1;
            locked.must_understand = vec!["component_host_requirements".into()];
        }
        Ok(locked)
    }

    fn file_name(&self) -> &Path {
        Path::new(self.path.file_name().unwrap_or("spin.toml".as_ref()))
    }

    fn variables(&self, manifest: &Manifest) -> Result<BTreeMap<String, Variable>, AppError> {
        let mut out = BTreeMap::new();
        for (name, v) in &manifest.variables {
            let field = format!("variables.{name}");
            if !is_lower_snake_id(name) {
                return Err(self.err(field, "variable names are lower_snake_case, like `api_key`"));
            }
            if v.required == v.default.is_some() {
                return Err(self.err(
                    field,
                    "set either `required = true` or a `default`, not both and not neither",
                ));
            }
            out.insert(
                name.clone(),
                Variable {
                    description: v.description.clone(),
                    default: v.default.clone(),
                    secret: v.secret,
                },
            );
        }
        Ok(out)
    }

    fn check_template(
        &self,
        field: &str,
        text: &str,
        variables: &BTreeMap<String, Variable>,
    ) -> Result<Template, AppError> {
        let template = Template::parse(text).map_err(|e| self.err(field, e.to_string()))?;
        for name in template.variables() {
            if !variables.contains_key(name) {
                return Err(self.err(
                    field,
                    format!("refers to {{{{ {name} }}}}, but there is no `[variables] {name}`; declare it"),
                ));
            }
        }
        Ok(template)
    }

    fn component(
        &self,
        id: &str,
        c: &Component,
        variables: &BTreeMap<String, Variable>,
        components: &BTreeMap<String, Component>,
    ) -> Result<LockedComponent, AppError> {
        let base = format!("component.{id}");
        if !is_kebab_id(id) {
            return Err(self.err(&base, "component ids are kebab-case, like `my-component`"));
        }
        let source = self.wasm_source(&format!("{base}.source"), &c.source, c.build.as_ref())?;
        for (name, value) in &c.variables {
            let field = format!("{base}.variables.{name}");
            if !is_lower_snake_id(name) {
                return Err(self.err(field, "variable names are lower_snake_case, like `api_key`"));
            }
            self.check_template(&field, value, variables)?;
        }

        let mut hosts = c.allowed_outbound_hosts.clone();
        hosts.extend(
            allowed_http_hosts::to_outbound_hosts(&c.allowed_http_hosts)
                .map_err(|e| self.err(format!("{base}.allowed_http_hosts"), e))?,
        );
        for (i, host) in hosts.iter().enumerate() {
            let field = format!("{base}.allowed_outbound_hosts[{i}]");
            let template = self.check_template(&field, host, variables)?;
            if template.variables().next().is_none() {
                AllowedHost::parse(host).map_err(|e| self.err(&field, e))?;
            }
        }
        for (field, labels, what) in [
            ("key_value_stores", &c.key_value_stores, "store"),
            ("sqlite_databases", &c.sqlite_databases, "database"),
        ] {
            if let Some(label) = labels
                .iter()
                .find(|l| !is_kebab_id(l) && !is_lower_snake_id(l))
            {
                return Err(self.err(
                    format!("{base}.{field}"),
                    format!("{label:?} is not a {what} label (like `default` or `my-{what}`)"),
                ));
            }
        }

        let mut metadata = serde_json::Map::new();
        if !c.description.is_empty() {
            metadata.insert("description".into(), json!(c.description));
        }
        metadata.insert("allowed_outbound_hosts".into(), json!(hosts));
        metadata.insert("key_value_stores".into(), json!(c.key_value_stores));
        metadata.insert("databases".into(), json!(c.sqlite_databases));
        metadata.insert("ai_models".into(), json!(c.ai_models));
        if let Some(build) = &c.build {
            metadata.insert("build".into(), json!(build));
        }

        Ok(LockedComponent {
            id: id.to_string(),
            metadata,
            source,
            env: c.environment.clone(),
            files: self.files(&base, c)?,
            config: c.variables.clone(),
            dependencies: self.dependencies(&base, c, components)?,
            trigger_dependencies: Default::default(),
            host_requirements: Default::default(),
        })
    }

    /// A component's or dependency's Wasm: a local file (which must exist) or a remote
    /// source already fetched. A remote source's digest goes into the locked app, so the
    /// runtime checks the fetched file against it again.
    fn wasm_source(
        &self,
        field: &str,
        source: &ComponentSource,
        build: Option<&toml::Table>,
    ) -> Result<LockedSource, AppError> {
        let (source_path, source_digest) = match source {
            ComponentSource::Local(p) => {
                self.check_inside(field, p)?;
                (self.root.join(p), None)
            }
            ComponentSource::Remote { url, digest } => {
                let digest = Sha256Digest::parse(digest).ok();
                match digest.as_ref().and_then(|d| self.fetched.files.get(d)) {
                    Some(path) => (path.clone(), digest),
                    None => {
                        return Err(self.err(
                            field,
                            format!(
                                "the remote source {url} was not fetched (`spin-run` and \
                                 `spin kube push` fetch them; an image must carry its Wasm)"
                            ),
                        ));
                    }
                }
            }
            ComponentSource::Registry(request) => match self.fetched.package_file(request) {
                Some((digest, path)) => (path.clone(), Some(digest.clone())),
                None => {
                    return Err(self.err(
                        field,
                        format!(
                            "the registry package {request} was not fetched (`spin-run` and \
                             `spin kube push` fetch them; an image must carry its Wasm)"
                        ),
                    ));
                }
            },
        };
        if !source_path.is_file() {
            let hint = build
                .and_then(|b| b.get("command"))
                .and_then(toml::Value::as_str)
                .map(|cmd| format!("; build it first (`spin build`, which runs `{cmd}`)"))
                .unwrap_or_default();
            return Err(self.err(
                field,
                format!("Wasm file {} does not exist{hint}", source_path.display()),
            ));
        }
        Ok(LockedSource {
            content_type: "application/wasm".into(),
            content: ContentRef {
                source: Some(file_url(&source_path)),
                digest: source_digest,
                ..Default::default()
            },
        })
    }

    /// Expands `files` into one entry per file: `file://` source, guest path.
    fn files(&self, base: &str, c: &Component) -> Result<Vec<ContentPath>, AppError> {
        let field = format!("{base}.files");
        let exclude = c
            .exclude_files
            .iter()
            .map(|p| {
                glob::Pattern::new(p)
                    .map_err(|e| self.err(format!("{base}.exclude_files"), format!("{p:?}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = BTreeMap::<PathBuf, PathBuf>::new();
        for mount in &c.files {
            match mount {
                FilesMount::Pattern(pattern) => {
                    if Path::new(pattern)
                        .components()
                        .any(|p| matches!(p, PathPart::ParentDir | PathPart::RootDir))
                    {
                        return Err(self.err(
                            &field,
                            format!("{pattern:?} leaves the app directory; use `{{ source = \"dir\", destination = \"/\" }}` for files elsewhere"),
                        ));
                    }
                    let full = self.root.join(pattern);
                    let found = if full.is_dir() {
                        walk::files_below(&full)
                            .map_err(|e| self.err(&field, format!("{pattern:?}: {e}")))?
                    } else if full.is_file() {
                        vec![full]
                    } else {
                        let matches =
                            walk::glob(self.root, pattern).map_err(|e| self.err(&field, e))?;
                        if matches.is_empty() && glob::Pattern::escape(pattern) == *pattern {
                            return Err(self.err(&field, format!("{pattern:?} does not exist")));
                        }
                        matches
                    };
                    for file in found {
                        let rel = file.strip_prefix(self.root).unwrap_or(&file).to_path_buf();
                        out.insert(rel, file);
                    }
                }
                FilesMount::Placement {
                    source,
                    destination,
                } => {
                    self.check_inside(&field, source)?;
                    let src = self.root.join(source);
                    let dest = PathBuf::from(destination.trim_start_matches('/'));
                    if src.is_file() {
                        if dest.as_os_str().is_empty() {
                            return Err(self.err(
                                &field,
                                format!(
                                    "{destination:?} is not a file name for the file {source:?}"
                                ),
                            ));
                        }
                        out.insert(dest, src);
                    } else if src.is_dir() {
                        for file in walk::files_below(&src)
                            .map_err(|e| self.err(&field, format!("{source:?}: {e}")))?
                        {
                            let rel = file.strip_prefix(&src).unwrap_or(&file);
                            out.insert(dest.join(rel), file);
                        }
                    } else {
                        return Err(self.err(&field, format!("source {source:?} does not exist")));
                    }
                }
            }
        }
        Ok(out
            .into_iter()
            .filter(|(guest, host)| {
                let rel = host.strip_prefix(self.root).unwrap_or(host);
                !exclude
                    .iter()
                    .any(|p| p.matches_path(rel) || p.matches_path(guest))
            })
            .map(|(guest, host)| ContentPath {
                content: ContentRef {
                    source: Some(file_url(&host)),
                    ..Default::default()
                },
                path: guest,
            })
            .collect())
    }
}

/// `file://` URL of an absolute path.
pub fn file_url(path: &Path) -> String {
    url::Url::from_file_path(path)
        .map(|u| u.to_string())
        .unwrap_or_else(|()| format!("file://{}", path.display()))
}

/// The path of a `file://` URL, if it is one.
pub fn file_path(url_text: &str) -> Option<PathBuf> {
    let parsed = url::Url::parse(url_text).ok()?;
    (parsed.scheme() == "file").then(|| parsed.to_file_path().ok())?
}

mod dependencies;
pub mod walk;

#[cfg(test)]
mod tests;
