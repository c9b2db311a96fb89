//! The runtime config file of a container: SpinKube mounts `runtimeConfig.loadFromSecret`
//! at `/runtime-config.toml` and passes `--runtime-config-file /runtime-config.toml`; the
//! shim runs no process, so it finds the file among the container's bind mounts (the
//! destination the flag names, else `/runtime-config.toml`) and reads its host source.
//!
//! The file is the pod author's: its databases are placed in the container's own state
//! directory ([`spin_app::runtime_config::RuntimeConfigFile::place_in_pod`]); a path
//! that would leave it is refused.
//!
//! The certificate and key files of its `[[client_tls]]` tables are paths in the
//! container, relative ones taken from the file's directory (`/` for the default
//! destination), as a process reading the file in the container would see them: mount
//! the Secret holding them as a volume (say at `/tls`) and name `/tls/ca.pem`. Each is
//! read from the bind mount whose destination holds it, opened inside that mount's
//! source ([`crate::confined`]), so a symlink in the volume (a Secret volume's
//! `..data/ca.pem`) resolves within the volume; at most
//! [`spin_runtime::runtime_config_file::MAX_TLS_FILE_BYTES`] of a regular file is read.
//! A path outside every mount, or with `..`, is refused.

use std::path::{Component, Path, PathBuf};

use spin_runtime::content::open_regular;
use spin_runtime::runtime_config_file::{self, PlacedDatabases, RuntimeConfigError};
use spin_runtime::tls::ClientTls;

use crate::bundle::BundleSpec;

/// Where SpinKube's operators mount the file.
pub const DEFAULT_DESTINATION: &str = "/runtime-config.toml";
const FLAG: &str = "--runtime-config-file";

/// What the container's runtime config file sets up.
#[derive(Default)]
pub struct MountedRuntimeConfig {
    pub databases: PlacedDatabases,
    pub client_tls: ClientTls,
}

/// The databases the container's runtime config file places and the TLS setups of its
/// `[[client_tls]]` tables (none without a file).
pub fn load(
    spec: &BundleSpec,
    state_dir: &Path,
) -> Result<MountedRuntimeConfig, RuntimeConfigError> {
    let Some((destination, file)) = source(spec)? else {
        return Ok(MountedRuntimeConfig::default());
    };
    let mut parsed = runtime_config_file::read(&file)?;
    let tables = std::mem::take(&mut parsed.client_tls);
    let base = destination.parent().unwrap_or(Path::new("/"));
    let client_tls = runtime_config_file::client_tls(&destination, &tables, |path| {
        read_in_container(spec, &base.join(path))
    })?;
    Ok(MountedRuntimeConfig {
        databases: parsed.place_in_pod(&file, state_dir)?,
        client_tls,
    })
}

/// Reads the file at `path` in the container from the bind mount that holds it.
fn read_in_container(spec: &BundleSpec, path: &Path) -> Result<Vec<u8>, String> {
    if path.components().any(|c| c == Component::ParentDir) {
        return Err("a path in the container must not contain `..`".into());
    }
    let (destination, source) = spec
        .mounts
        .iter()
        .rev()
        .filter(|(destination, _)| path.starts_with(destination))
        .max_by_key(|(destination, _)| destination.components().count())
        .ok_or_else(|| {
            "no volume is mounted there; mount the Secret holding it into the container".to_string()
        })?;
    let inside = path
        .strip_prefix(destination)
        .expect("the mount holds the path");
    let opened = if inside.as_os_str().is_empty() {
        open_regular(source).map_err(|e| e.to_string())?
    } else {
        let inside = Path::new("/").join(inside);
        crate::confined::run_inside(source, "client-tls-file", move || open_regular(&inside))
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?
    };
    runtime_config_file::read_tls_file(opened)
}

/// Where the container's runtime config file is expected, and the host file mounted
/// there.
fn source(spec: &BundleSpec) -> Result<Option<(PathBuf, PathBuf)>, RuntimeConfigError> {
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
        (Some(source), _) => Ok(Some((destination.to_path_buf(), source))),
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

    fn databases(spec: &BundleSpec, state: &Path) -> Result<PlacedDatabases, RuntimeConfigError> {
        load(spec, state).map(|loaded| loaded.databases)
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

    #[test]
    fn tls_files_are_read_from_the_mount_that_holds_them() {
        let dir = tempfile::tempdir().unwrap();
        let volume = dir.path().join("volume");
        std::fs::create_dir(&volume).unwrap();
        std::fs::write(volume.join("ca.pem"), "ca").unwrap();
        std::fs::write(dir.path().join("host-secret"), "host").unwrap();
        // An absolute link in the volume names the volume's own file.
        std::os::unix::fs::symlink("/ca.pem", volume.join("link.pem")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("host-secret"), volume.join("out.pem")).unwrap();
        let single = dir.path().join("single");
        std::fs::write(&single, "single").unwrap();
        let spec = spec(&[], &[("/tls", &volume), ("/tls/extra/key.pem", &single)]);
        let read = |path: &str| read_in_container(&spec, Path::new(path));
        assert_eq!(read("/tls/extra/key.pem").unwrap(), b"single");
        assert!(
            read("/etc/ssl/ca.pem")
                .unwrap_err()
                .contains("no volume is mounted")
        );
        assert!(read("/tls/../etc/passwd").unwrap_err().contains("`..`"));
        if nix::unistd::geteuid().is_root() {
            assert_eq!(read("/tls/ca.pem").unwrap(), b"ca");
            assert_eq!(read("/tls/link.pem").unwrap(), b"ca");
            assert!(read("/tls/out.pem").is_err());
        }
    }
}
