//! Locking a component's `dependencies` and a trigger's `dependencies.middleware`:
//! each becomes a [`LockedDependency`] whose Wasm is a local file, a fetched remote
//! source or a fetched registry package, like a component's own.

use std::collections::BTreeMap;

use super::Locker;
use crate::AppError;
use crate::dependency_name::DependencyName;
use crate::locked::{InheritConfiguration, LockedDependency};
use crate::manifest::{Component, ComponentSource, Dependency, DependencySource, Inherit};
use crate::package::PackageRequest;

/// Most dependencies one component may have, and most middleware one trigger may wrap.
pub const MAX_DEPENDENCIES: usize = 32;

/// The trigger dependency role of HTTP middleware.
pub const MIDDLEWARE: &str = "middleware";

impl Locker<'_> {
    /// `[component.<id>.dependencies]`, locked.
    pub(super) fn dependencies(
        &self,
        base: &str,
        c: &Component,
        components: &BTreeMap<String, Component>,
    ) -> Result<BTreeMap<String, LockedDependency>, AppError> {
        let field = format!("{base}.dependencies");
        if c.dependencies.len() > MAX_DEPENDENCIES {
            return Err(self.err(&field, format!("at most {MAX_DEPENDENCIES} dependencies")));
        }
        let all = c.dependencies_inherit_configuration;
        if all.is_some()
            && c.dependencies
                .values()
                .any(|d| d.inherit_configuration.is_some())
        {
            return Err(self.err(
                format!("{base}.dependencies_inherit_configuration"),
                "give either `dependencies_inherit_configuration` or each dependency's \
                 `inherit_configuration`, not both",
            ));
        }
        c.dependencies
            .iter()
            .map(|(name, dependency)| {
                let field = format!("{field}.{name:?}");
                DependencyName::parse(name).map_err(|e| self.err(&field, e))?;
                let inherit = match all {
                    Some(true) => InheritConfiguration::All,
                    _ => self.inherit(&field, dependency.inherit_configuration.as_ref())?,
                };
                let locked =
                    self.dependency(&field, Some(name), dependency, inherit, components)?;
                Ok((name.clone(), locked))
            })
            .collect()
    }

    /// A trigger's `dependencies` table, locked: only HTTP triggers take any, and only
    /// `middleware`.
    pub(super) fn trigger_dependencies(
        &self,
        field: &str,
        trigger_type: &str,
        dependencies: &BTreeMap<String, Vec<Dependency>>,
        components: &BTreeMap<String, Component>,
    ) -> Result<BTreeMap<String, Vec<LockedDependency>>, AppError> {
        let mut out = BTreeMap::new();
        for (role, list) in dependencies {
            let field = format!("{field}.dependencies.{role}");
            if trigger_type != "http" || role != MIDDLEWARE {
                return Err(self.err(
                    &field,
                    "the only trigger dependencies are HTTP middleware \
                     (`dependencies.middleware` on a `[[trigger.http]]`)",
                ));
            }
            if list.len() > MAX_DEPENDENCIES {
                return Err(self.err(&field, format!("at most {MAX_DEPENDENCIES} middleware")));
            }
            let locked = list
                .iter()
                .enumerate()
                .map(|(index, dependency)| {
                    let field = format!("{field}[{index}]");
                    if dependency.export.is_some() {
                        return Err(self.err(
                            format!("{field}.export"),
                            "middleware is joined by `wasi:http/handler`; it takes no `export`",
                        ));
                    }
                    let inherit =
                        self.inherit(&field, dependency.inherit_configuration.as_ref())?;
                    self.dependency(&field, None, dependency, inherit, components)
                })
                .collect::<Result<Vec<_>, _>>()?;
            if !locked.is_empty() {
                out.insert(role.clone(), locked);
            }
        }
        Ok(out)
    }

    fn inherit(
        &self,
        field: &str,
        inherit: Option<&Inherit>,
    ) -> Result<InheritConfiguration, AppError> {
        Ok(match inherit {
            None | Some(Inherit::All(false)) => InheritConfiguration::default(),
            Some(Inherit::All(true)) => InheritConfiguration::All,
            Some(Inherit::Some(names)) => {
                crate::inherit::check_names(names)
                    .map_err(|e| self.err(format!("{field}.inherit_configuration"), e))?;
                InheritConfiguration::Some(names.clone())
            }
        })
    }

    /// One dependency (`name`) or middleware (no name), locked.
    fn dependency(
        &self,
        field: &str,
        name: Option<&str>,
        dependency: &Dependency,
        inherit: InheritConfiguration,
        components: &BTreeMap<String, Component>,
    ) -> Result<LockedDependency, AppError> {
        let (source_field, source, build) = match &dependency.source {
            DependencySource::Local(path) => (
                format!("{field}.path"),
                ComponentSource::Local(path.clone()),
                None,
            ),
            DependencySource::Remote { url, digest } => (
                format!("{field}.url"),
                ComponentSource::Remote {
                    url: url.clone(),
                    digest: digest.clone(),
                },
                None,
            ),
            DependencySource::AppComponent(id) => {
                let Some(other) = components.get(id) else {
                    let known: Vec<_> = components.keys().collect();
                    return Err(self.err(
                        format!("{field}.component"),
                        format!("no component {id:?} is defined (defined: {known:?})"),
                    ));
                };
                (
                    format!("{field}.component"),
                    other.source.clone(),
                    other.build.as_ref(),
                )
            }
            DependencySource::Registry {
                version,
                package,
                registry,
            } => {
                let request = PackageRequest::for_dependency(
                    name,
                    version,
                    package.as_deref(),
                    registry.clone(),
                )
                .map_err(|e| self.err(field, e))?;
                (
                    format!("{field}.version"),
                    ComponentSource::Registry(request),
                    None,
                )
            }
        };
        Ok(LockedDependency {
            source: self.wasm_source(&source_field, &source, build)?,
            export: dependency.export.clone(),
            inherit,
        })
    }
}
