//! The runtime config file of a container: SpinKube mounts `runtimeConfig.loadFromSecret`
//! at `/runtime-config.toml` and passes `--runtime-config-file /runtime-config.toml`; the
//! shim runs no process, so it finds the file among the container's bind mounts (the
//! destination the flag names, else `/runtime-config.toml`) and reads its host source.
//!
//! The file is the pod author's: a key-value store's `path` must be relative, without
//! `..`, and is kept in the container's own state directory (`<work dir>/key-value/`);
//! an absolute path (which in a container would name a file of the node) is refused.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use spin_runtime::config::KeyValueLocation;
use spin_runtime::runtime_config_file::{
    KeyValueStoreConfig, RuntimeConfigError, RuntimeConfigFile,
};

use crate::bundle::BundleSpec;

/// Where SpinKube's operators mount the file.
pub const DEFAULT_DESTINATION: &str = "/runtime-config.toml";
const FLAG: &str = "--runtime-config-file";

/// The key-value stores of the container's runtime config file (none without one).
pub fn key_value_stores(
    spec: &BundleSpec,
    state_dir: &Path,
) -> Result<BTreeMap<String, KeyValueLocation>, RuntimeConfigError> {
    let Some(file) = source(spec)? else {
        return Ok(BTreeMap::new());
    };
    let parsed = RuntimeConfigFile::read(&file)?;
    let mut stores = BTreeMap::new();
    for (label, store) in parsed.key_value_stores {
        let location = match store {
            KeyValueStoreConfig::Spin { path: None } => KeyValueLocation::Memory,
            KeyValueStoreConfig::Spin { path: Some(path) } => {
                if !is_plain_relative(&path) {
                    return Err(RuntimeConfigError {
                        file: file.clone(),
                        table: format!("[key_value_store.{label}]: "),
                        problem: "in a pod, `path` must be a relative path without `..` (the \
                                  store is kept in the container's state directory)"
                            .into(),
                    });
                }
                KeyValueLocation::File(state_dir.join("key-value").join(path))
            }
        };
        stores.insert(label, location);
    }
    Ok(stores)
}

/// The host file mounted where the container's runtime config file is expected.
fn source(spec: &BundleSpec) -> Result<Option<PathBuf>, RuntimeConfigError> {
    let flagged: Option<String> = spec
        .args
        .iter()
        .position(|a| a == FLAG)
        .and_then(|i| spec.args.get(i + 1).cloned())
        .or_else(|| {
            spec.args
                .iter()
                .find_map(|a| a.strip_prefix("--runtime-config-file="))
                .map(str::to_string)
        });
    let destination = Path::new(flagged.as_deref().unwrap_or(DEFAULT_DESTINATION));
    let mounted = spec
        .mounts
        .iter()
        .rev()
        .find(|(dest, _)| dest == destination)
        .map(|(_, source)| source.clone());
    match (mounted, &flagged) {
        (Some(source), _) => Ok(Some(source)),
        (None, Some(_)) => Err(RuntimeConfigError {
            file: destination.to_path_buf(),
            table: String::new(),
            problem: format!(
                "{FLAG} names it, but no volume is mounted there (mount the Secret with \
                 `subPath: runtime-config.toml`, as the operator does)"
            ),
        }),
        (None, None) => Ok(None),
    }
}

/// A relative path made only of normal components (no `..`, no root, no `.` tricks).
fn is_plain_relative(path: &Path) -> bool {
    !path.as_os_str().is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(args: &[&str], mounts: &[(&str, &Path)]) -> BundleSpec {
        BundleSpec {
            root: PathBuf::from("/"),
            env: Vec::new(),
            annotations: Default::default(),
            netns: None,
            memory_limit: None,
            cgroups_path: None,
            args: args.iter().map(|a| a.to_string()).collect(),
            mounts: mounts
                .iter()
                .map(|(d, s)| (PathBuf::from(d), s.to_path_buf()))
                .collect(),
        }
    }

    #[test]
    fn stores_come_from_the_mounted_file_and_stay_in_the_state_directory() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret-file");
        std::fs::write(
            &file,
            "[key_value_store.default]\ntype = \"spin\"\npath = \"data/app.db\"\n[key_value_store.cache]\ntype = \"spin\"\n",
        )
        .unwrap();
        let state = Path::new("/run/state");
        for args in [
            &["/"][..],
            &["/", "--runtime-config-file", DEFAULT_DESTINATION],
        ] {
            let stores =
                key_value_stores(&spec(args, &[(DEFAULT_DESTINATION, &file)]), state).unwrap();
            assert_eq!(
                stores["default"],
                KeyValueLocation::File(state.join("key-value/data/app.db"))
            );
            assert_eq!(stores["cache"], KeyValueLocation::Memory);
        }
        let moved = spec(
            &["--runtime-config-file=/etc/rc.toml"],
            &[("/etc/rc.toml", &file)],
        );
        assert_eq!(key_value_stores(&moved, state).unwrap().len(), 2);
        assert!(key_value_stores(&spec(&[], &[]), state).unwrap().is_empty());
    }

    #[test]
    fn paths_that_leave_the_state_directory_and_missing_mounts_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for path in ["/etc/shadow", "../../x.db", "a/../../b.db", ""] {
            let file = dir.path().join("rc.toml");
            std::fs::write(
                &file,
                format!("[key_value_store.x]\ntype = \"spin\"\npath = \"{path}\"\n"),
            )
            .unwrap();
            let e = key_value_stores(&spec(&[], &[(DEFAULT_DESTINATION, &file)]), dir.path())
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("[key_value_store.x]: in a pod, `path` must be a relative"),
                "{path}: {e}"
            );
        }
        let e = key_value_stores(
            &spec(&["--runtime-config-file", "/rc.toml"], &[]),
            dir.path(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("no volume is mounted there"), "{e}");
    }
}
