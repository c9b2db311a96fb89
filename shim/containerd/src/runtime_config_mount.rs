//! The runtime config file of a container: SpinKube mounts `runtimeConfig.loadFromSecret`
//! at `/runtime-config.toml` and passes `--runtime-config-file /runtime-config.toml`; the
//! shim runs no process, so it finds the file among the container's bind mounts (the
//! destination the flag names, else `/runtime-config.toml`) and reads its host source.
//!
//! The file is the pod author's: its databases are placed in the container's own state
//! directory ([`spin_app::runtime_config::RuntimeConfigFile::place_in_pod`]); a path
//! that would leave it is refused.

use std::path::{Path, PathBuf};

use spin_runtime::runtime_config_file::{PlacedDatabases, RuntimeConfigError};

use crate::bundle::BundleSpec;

/// Where SpinKube's operators mount the file.
pub const DEFAULT_DESTINATION: &str = "/runtime-config.toml";
const FLAG: &str = "--runtime-config-file";

/// The databases the container's runtime config file places (none without one).
pub fn databases(
    spec: &BundleSpec,
    state_dir: &Path,
) -> Result<PlacedDatabases, RuntimeConfigError> {
    let Some(file) = source(spec)? else {
        return Ok(PlacedDatabases::default());
    };
    spin_runtime::runtime_config_file::read(&file)?.place_in_pod(&file, state_dir)
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

#[cfg(test)]
mod tests {
    use super::*;
    use spin_runtime::config::DatabaseLocation;

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
            "[key_value_store.default]\ntype = \"spin\"\npath = \"data/app.db\"\n[key_value_store.cache]\ntype = \"spin\"\n[sqlite_database.default]\ntype = \"spin\"\npath = \"app.db\"\n",
        )
        .unwrap();
        let state = Path::new("/run/state");
        for args in [
            &["/"][..],
            &["/", "--runtime-config-file", DEFAULT_DESTINATION],
        ] {
            let placed = databases(&spec(args, &[(DEFAULT_DESTINATION, &file)]), state).unwrap();
            let stores = &placed.key_value_stores;
            assert_eq!(
                stores["default"],
                DatabaseLocation::File(state.join("key-value/data/app.db"))
            );
            assert_eq!(stores["cache"], DatabaseLocation::Memory);
            assert_eq!(
                placed.sqlite_databases["default"],
                DatabaseLocation::File(state.join("sqlite/app.db"))
            );
        }
        let moved = spec(
            &["--runtime-config-file=/etc/rc.toml"],
            &[("/etc/rc.toml", &file)],
        );
        assert_eq!(databases(&moved, state).unwrap().key_value_stores.len(), 2);
        assert_eq!(
            databases(&spec(&[], &[]), state).unwrap(),
            PlacedDatabases::default()
        );
    }

    #[test]
    fn paths_that_leave_the_state_directory_and_missing_mounts_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for table in ["key_value_store", "sqlite_database"] {
            for path in ["/etc/shadow", "../../x.db", "a/../../b.db", ""] {
                let file = dir.path().join("rc.toml");
                std::fs::write(
                    &file,
                    format!("[{table}.x]\ntype = \"spin\"\npath = \"{path}\"\n"),
                )
                .unwrap();
                let e = databases(&spec(&[], &[(DEFAULT_DESTINATION, &file)]), dir.path())
                    .unwrap_err()
                    .to_string();
                assert!(
                    e.contains(&format!("[{table}.x]: in a pod, `path` must be a relative")),
                    "{path}: {e}"
                );
            }
        }
        let e = databases(
            &spec(&["--runtime-config-file", "/rc.toml"], &[]),
            dir.path(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("no volume is mounted there"), "{e}");
    }
}
