//! Names of component dependencies and how they match a component's imports, as Spin
//! defines them: a plain kebab name (`greeter`) matches the import of that name; a
//! package name matches every import of the package, narrowed by an interface and a
//! version when it gives them (`my:lib` matches `my:lib/greet@0.1.0`, `my:lib/greet`
//! matches any version of that interface, `my:lib/greet@0.1.0` only that one).

use crate::ids::is_kebab_id;

/// A parsed dependency name (or import name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DependencyName {
    Plain(String),
    Package {
        /// `namespace:name`.
        package: String,
        interface: Option<String>,
        version: Option<String>,
    },
}

impl DependencyName {
    /// Parses a dependency name; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        if !text.contains([':', '/']) {
            return if is_kebab_id(text) {
                Ok(Self::Plain(text.to_string()))
            } else {
                Err(format!(
                    "{text:?} is not a dependency name: use an import name like \
                     `my:lib/greet@0.1.0`, a package like `my:lib`, or a kebab-case name"
                ))
            };
        }
        let bad = || {
            format!(
                "{text:?} is not a package or interface name (like `my:lib`, `my:lib/greet` \
                 or `my:lib/greet@0.1.0`)"
            )
        };
        let (name, version) = match text.split_once('@') {
            Some((name, version)) if is_version(version) => (name, Some(version.to_string())),
            Some(_) => return Err(bad()),
            None => (text, None),
        };
        let (package, interface) = match name.split_once('/') {
            Some((package, interface)) => (package, Some(interface)),
            None => (name, None),
        };
        let (namespace, package_name) = package.split_once(':').ok_or_else(bad)?;
        if !is_kebab_id(namespace)
            || !is_kebab_id(package_name)
            || interface.is_some_and(|i| !is_kebab_id(i))
        {
            return Err(bad());
        }
        Ok(Self::Package {
            package: package.to_string(),
            interface: interface.map(str::to_string),
            version,
        })
    }

    /// Whether this dependency satisfies the component import named `import`.
    pub fn matches_import(&self, import: &str) -> bool {
        let Ok(import) = Self::parse(import) else {
            return false;
        };
        match (self, import) {
            (Self::Plain(name), Self::Plain(import)) => *name == import,
            (
                Self::Package {
                    package,
                    interface,
                    version,
                },
                Self::Package {
                    package: import_package,
                    interface: import_interface,
                    version: import_version,
                },
            ) => {
                *package == import_package
                    && interface
                        .as_ref()
                        .is_none_or(|i| Some(i) == import_interface.as_ref())
                    && version
                        .as_ref()
                        .is_none_or(|v| Some(v) == import_version.as_ref())
            }
            _ => false,
        }
    }
}

/// A semantic version (with pre-release and build parts allowed).
fn is_version(text: &str) -> bool {
    let core = text.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<_> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-+.".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_imports_as_in_spin() {
        let matches =
            |dep: &str, import: &str| DependencyName::parse(dep).unwrap().matches_import(import);
        for (dep, imports) in [
            ("foo:bar/baz@0.1.0", &["foo:bar/baz@0.1.0"][..]),
            ("foo:bar/baz", &["foo:bar/baz@0.1.0", "foo:bar/baz"]),
            ("foo:bar", &["foo:bar/baz@0.1.0", "foo:bar/baz"]),
            ("foo:bar@0.1.0", &["foo:bar/baz@0.1.0"]),
            ("foo-bar", &["foo-bar"]),
        ] {
            for import in imports {
                assert!(matches(dep, import), "{dep} should match {import}");
            }
        }
        for (dep, imports) in [
            ("foo:bar/baz@0.1.0", &["foo:bar/baz"][..]),
            ("foo:bar/baz", &["foo:bar/bub", "foo:bar/bub@0.1.0"]),
            ("foo:bar", &["foo:bub/bib"]),
            ("foo:bar@0.1.0", &["foo:bar/baz"]),
            ("foo:bar/baz", &["foo:bar/baz-bub", "foo-bar"]),
        ] {
            for import in imports {
                assert!(!matches(dep, import), "{dep} should not match {import}");
            }
        }
    }

    #[test]
    fn malformed_names_are_refused() {
        for bad in [
            "",
            "Foo",
            "foo:",
            ":bar",
            "foo:bar/",
            "foo:bar@1",
            "foo:bar/baz@x.y.z",
            "../x",
        ] {
            assert!(DependencyName::parse(bad).is_err(), "{bad}");
        }
        assert!(DependencyName::parse("wasi:http/handler@0.3.0-rc-2026-03-15").is_ok());
    }
}
