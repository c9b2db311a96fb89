//! What a component dependency may use of its parent component's configuration
//! (`inherit_configuration` in `spin.toml`, `inherit` in the locked app).
//!
//! Each configuration key of a component governs a set of WIT interfaces; a dependency
//! that does not inherit a key gets none of them: its imports of those interfaces are
//! satisfied by a stand-in that refuses every call (see `spin-compose`), not by the
//! host. The names and sets follow Spin's; interfaces are named without their version,
//! so every version of one is covered. Beyond Spin's sets, `wasi:keyvalue/atomics` and
//! `batch` go with `wasi:keyvalue/store` (their handles come from it), and WASIp3's
//! `wasi:sockets/types` (which creates TCP and UDP sockets there) with the network.

use crate::locked::InheritConfiguration;

/// Configuration keys a dependency may inherit, and the interfaces each one governs.
pub const CONFIGURATIONS: &[(&str, &[&str])] = &[
    ("ai_models", &["fermyon:spin/llm"]),
    (
        "allowed_outbound_hosts",
        &[
            "fermyon:spin/http",
            "fermyon:spin/mqtt",
            "fermyon:spin/mysql",
            "fermyon:spin/postgres",
            "fermyon:spin/redis",
            "spin:mqtt/mqtt",
            "spin:mysql/mysql",
            "spin:postgres/postgres",
            "spin:redis/redis",
            "wasi:http/client",
            "wasi:http/outgoing-handler",
            "wasi:sockets/ip-name-lookup",
            "wasi:sockets/tcp",
            "wasi:sockets/tcp-create-socket",
            "wasi:sockets/types",
            "wasi:sockets/udp",
            "wasi:sockets/udp-create-socket",
        ],
    ),
    ("environment", &["wasi:cli/environment"]),
    ("files", &["wasi:filesystem/preopens"]),
    (
        "key_value_stores",
        &[
            "fermyon:spin/key-value",
            "spin:key-value/key-value",
            "wasi:keyvalue/atomics",
            "wasi:keyvalue/batch",
            "wasi:keyvalue/store",
        ],
    ),
    (
        "sqlite_databases",
        &["fermyon:spin/sqlite", "spin:sqlite/sqlite"],
    ),
    (
        "variables",
        &[
            "fermyon:spin/config",
            "fermyon:spin/variables",
            "spin:variables/variables",
            "wasi:config/store",
        ],
    ),
];

/// Checks every name an `inherit_configuration` list gives; the error lists the names
/// there are.
pub fn check_names<'a>(names: impl IntoIterator<Item = &'a String>) -> Result<(), String> {
    for name in names {
        if !CONFIGURATIONS.iter().any(|(key, _)| key == name) {
            let known: Vec<_> = CONFIGURATIONS.iter().map(|(key, _)| *key).collect();
            return Err(format!(
                "{name:?} is not a configuration a dependency can inherit (one of {known:?})"
            ));
        }
    }
    Ok(())
}

/// An import name without its version: `wasi:cli/environment@0.2.6` →
/// `wasi:cli/environment`.
fn unversioned(import: &str) -> &str {
    import.split_once('@').map_or(import, |(name, _)| name)
}

impl InheritConfiguration {
    /// Whether a dependency with this inheritance is refused the interface it imports
    /// as `import` (a versioned or unversioned interface name): the interface is
    /// governed by a configuration key the dependency does not inherit.
    pub fn denies(&self, import: &str) -> bool {
        let interface = unversioned(import);
        let Some((key, _)) = CONFIGURATIONS
            .iter()
            .find(|(_, interfaces)| interfaces.contains(&interface))
        else {
            return false;
        };
        match self {
            Self::All => false,
            Self::Some(inherited) => !inherited.iter().any(|name| name == key),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dependency_is_refused_what_it_does_not_inherit() {
        let nothing = InheritConfiguration::default();
        let kv = InheritConfiguration::Some(vec!["key_value_stores".into()]);
        assert!(nothing.denies("spin:key-value/key-value@3.0.0"));
        assert!(nothing.denies("wasi:cli/environment@0.2.6"));
        assert!(nothing.denies("wasi:http/client@0.3.0-rc-2026-03-15"));
        assert!(!nothing.denies("wasi:io/streams@0.2.6"));
        assert!(!nothing.denies("wasi:http/types@0.2.6"));
        assert!(!kv.denies("wasi:keyvalue/atomics@0.2.0-draft2"));
        assert!(kv.denies("fermyon:spin/variables@2.0.0"));
        assert!(!InheritConfiguration::All.denies("fermyon:spin/llm"));
    }

    #[test]
    fn unknown_configuration_names_are_refused() {
        assert!(check_names(&["files".to_string()]).is_ok());
        let err = check_names(&["file".to_string()]).unwrap_err();
        assert!(err.contains("\"file\"") && err.contains("files"), "{err}");
    }
}
