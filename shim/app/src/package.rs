//! Wasm packages in registries, as a manifest names them: a component's
//! `source = { registry = "...", package = "ns:name", version = "1.2.3" }` (an exact
//! version), a dependency's `"ns:name/iface@0.1.0" = "^0.1"` (the package is the
//! dependency's) or `{ version = "...", package = "...", registry = "..." }`, a
//! middleware's `{ version, package, registry }`.
//!
//! This module only says what is asked for; finding the registry, choosing the version
//! and fetching the Wasm (digest-verified, into the blob cache) is the caller's
//! (`spin_registry::package_source`), and the locker then reads the fetched file by
//! request ([`crate::load::FetchedSources`]), as it does for remote URLs.

use crate::dependency_name::DependencyName;

/// A package a manifest asks for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PackageRequest {
    /// `namespace:name`.
    pub package: String,
    /// A semver requirement (`^0.1`, `>=1.2, <2`); a component's exact version `1.2.3`
    /// is `=1.2.3`.
    pub version: String,
    /// The registry's domain (`example.com`, `localhost:5000`); without it, the user's
    /// wasm-pkg configuration decides.
    pub registry: Option<String>,
}

impl PackageRequest {
    /// A component's `source` table: `version` is one exact version.
    pub fn for_component(
        package: &str,
        version: &str,
        registry: Option<String>,
    ) -> Result<Self, String> {
        let exact = semver::Version::parse(version).map_err(|e| {
            format!("`version` {version:?} is not a semantic version like 1.2.3 ({e})")
        })?;
        Self::new(package.to_string(), format!("={exact}"), registry)
    }

    /// A dependency's registry source. `package` defaults to the package of the
    /// dependency's name (`None` for middleware, which has no name).
    pub fn for_dependency(
        name: Option<&str>,
        version: &str,
        package: Option<&str>,
        registry: Option<String>,
    ) -> Result<Self, String> {
        let package = match (package, name.map(DependencyName::parse)) {
            (Some(package), _) => package.to_string(),
            (None, Some(Ok(DependencyName::Package { package, .. }))) => package,
            (None, _) => {
                return Err(
                    "a registry dependency needs its `package` (`ns:name`) unless its name \
                     is a package or interface name"
                        .into(),
                );
            }
        };
        let requirement = semver::VersionReq::parse(version).map_err(|e| {
            format!("`version` {version:?} is not a semver requirement like \"^0.1\" ({e})")
        })?;
        Self::new(package, requirement.to_string(), registry)
    }

    fn new(package: String, version: String, registry: Option<String>) -> Result<Self, String> {
        match DependencyName::parse(&package) {
            Ok(DependencyName::Package {
                interface: None,
                version: None,
                ..
            }) => {}
            _ => {
                return Err(format!(
                    "`package` {package:?} is not a package name like `my-ns:my-lib`"
                ));
            }
        }
        if let Some(registry) = &registry {
            check_registry(registry)?;
        }
        Ok(Self {
            package,
            version,
            registry,
        })
    }

    /// The package's namespace (`ns` of `ns:name`).
    pub fn namespace(&self) -> &str {
        self.package.split_once(':').map_or("", |(ns, _)| ns)
    }

    /// The package's name (`name` of `ns:name`).
    pub fn name(&self) -> &str {
        self.package.split_once(':').map_or("", |(_, name)| name)
    }

    /// The version requirement (checked when the request was made).
    pub fn requirement(&self) -> Result<semver::VersionReq, semver::Error> {
        semver::VersionReq::parse(&self.version)
    }
}

impl std::fmt::Display for PackageRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.package, self.version)?;
        if let Some(registry) = &self.registry {
            write!(f, " from {registry}")?;
        }
        Ok(())
    }
}

/// A registry is a domain with an optional port, as wasm-pkg names registries: no
/// scheme, path or credentials, so it cannot smuggle a URL into the requests made for it.
pub fn check_registry(registry: &str) -> Result<(), String> {
    let host = registry
        .rsplit_once(':')
        .filter(|(_, port)| port.parse::<u16>().is_ok())
        .map_or(registry, |(host, _)| host);
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if host.len() <= 253 && host.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(format!(
            "`registry` {registry:?} is not a registry domain like `example.com` or \
             `localhost:5000`"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_components_version_is_exact() {
        let r = PackageRequest::for_component("my:lib", "1.2.3", None).unwrap();
        assert_eq!(
            (r.namespace(), r.name(), r.version.as_str()),
            ("my", "lib", "=1.2.3")
        );
        assert!(PackageRequest::for_component("my:lib", "^1.2", None).is_err());
    }

    #[test]
    fn a_dependency_takes_its_package_from_its_name() {
        let r =
            PackageRequest::for_dependency(Some("my:lib/greet@0.1.0"), "0.1", None, None).unwrap();
        assert_eq!((r.package.as_str(), r.version.as_str()), ("my:lib", "^0.1"));
        let named = PackageRequest::for_dependency(
            Some("greeter"),
            "1",
            Some("other:pkg"),
            Some("localhost:5000".into()),
        )
        .unwrap();
        assert_eq!(named.package, "other:pkg");
        let err = PackageRequest::for_dependency(Some("greeter"), "1", None, None).unwrap_err();
        assert!(err.contains("needs its `package`"), "{err}");
        assert!(PackageRequest::for_dependency(None, "1", None, None).is_err());
    }

    #[test]
    fn bad_names_versions_and_registries_are_refused() {
        for (package, version, registry) in [
            ("my-lib", "1.0.0", None),
            ("my:lib/greet", "1.0.0", None),
            ("my:lib", "one", None),
            ("my:lib", "1.0.0", Some("https://example.com")),
            ("my:lib", "1.0.0", Some("example.com/path")),
            ("my:lib", "1.0.0", Some("user@example.com")),
            ("my:lib", "1.0.0", Some("")),
        ] {
            let registry = registry.map(str::to_string);
            assert!(
                PackageRequest::for_dependency(None, version, Some(package), registry.clone())
                    .is_err(),
                "{package} {version} {registry:?}"
            );
        }
        for registry in ["example.com", "localhost:5000", "127.0.0.1:5000", "wa.dev"] {
            check_registry(registry).unwrap();
        }
    }
}
