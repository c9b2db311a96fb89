//! Which containerd the node runs and where its config is, read from the host's files.
//!
//! - k3s and rke2 write `config.toml` themselves at every start; changes go in a
//!   template next to it: `config-v3.toml.tmpl` when the generated config is a
//!   `version = 3` one (containerd 2.x), `config.toml.tmpl` otherwise. A new template
//!   starts with `{{ template "base" . }}` (k3s's own config) so only our runtime is
//!   added to it.
//! - Anything else: `/etc/containerd/config.toml`, restarted as the `containerd` unit.

use std::path::{Path, PathBuf};

use crate::config_edit::Schema;

/// A path on the host, read and written through the host root the installer sees
/// (`/host` in the DaemonSet).
#[derive(Debug, Clone)]
pub struct HostFs {
    root: PathBuf,
}

impl HostFs {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Where a host path (absolute, as the host sees it) is for the installer.
    pub fn local(&self, host_path: &Path) -> PathBuf {
        self.root
            .join(host_path.strip_prefix("/").unwrap_or(host_path))
    }

    /// The file a host path ends at when its last component is a symlink (as on hosts
    /// whose config is managed elsewhere), read as the host would: an absolute target
    /// is a host path, not one in the installer's container.
    pub fn resolve(&self, host_path: &Path) -> std::io::Result<PathBuf> {
        let mut path = host_path.to_path_buf();
        for _ in 0..8 {
            let local = self.local(&path);
            match std::fs::symlink_metadata(&local) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    let target = std::fs::read_link(&local)?;
                    path = match path.parent() {
                        Some(dir) if target.is_relative() => dir.join(target),
                        _ => target,
                    };
                }
                _ => return Ok(path),
            }
        }
        Err(std::io::Error::other(format!(
            "{}: too many levels of symbolic links",
            host_path.display()
        )))
    }

    pub fn read(&self, host_path: &Path) -> std::io::Result<Option<String>> {
        match std::fs::read_to_string(self.local(host_path)) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Containerd,
    K3s,
    Rke2,
}

impl Flavor {
    /// The systemd units that run containerd for this flavour, tried in order (the
    /// first active one is restarted).
    pub fn units(self) -> &'static [&'static str] {
        match self {
            Self::Containerd => &["containerd"],
            Self::K3s => &["k3s", "k3s-agent"],
            Self::Rke2 => &["rke2-server", "rke2-agent"],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Containerd => "containerd",
            Self::K3s => "k3s",
            Self::Rke2 => "rke2",
        }
    }
}

/// The config file to edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigTarget {
    pub flavor: Flavor,
    /// The file, as a host path.
    pub path: PathBuf,
    pub template: bool,
    /// For templates: the schema of the config k3s/rke2 generated.
    pub schema_hint: Option<Schema>,
}

pub const DEFAULT_CONFIG: &str = "/etc/containerd/config.toml";
const K3S_DIR: &str = "/var/lib/rancher/k3s/agent/etc/containerd";
const RKE2_DIR: &str = "/var/lib/rancher/rke2/agent/etc/containerd";
/// The start of a new k3s/rke2 template: everything k3s would write anyway.
pub const BASE_TEMPLATE: &str = "{{ template \"base\" . }}\n";

/// Finds the config to edit; `explicit` (a host path) wins over detection.
pub fn find_config(host: &HostFs, explicit: Option<&Path>) -> std::io::Result<ConfigTarget> {
    if let Some(path) = explicit {
        let template = path.extension().is_some_and(|e| e == "tmpl");
        return Ok(ConfigTarget {
            flavor: Flavor::Containerd,
            path: path.to_path_buf(),
            template,
            schema_hint: None,
        });
    }
    for (flavor, dir) in [(Flavor::Rke2, RKE2_DIR), (Flavor::K3s, K3S_DIR)] {
        let generated = Path::new(dir).join("config.toml");
        if let Some(text) = host.read(&generated)? {
            let schema = Schema::of_config(&text);
            let template = if schema == Some(Schema::V3) {
                "config-v3.toml.tmpl"
            } else {
                "config.toml.tmpl"
            };
            return Ok(ConfigTarget {
                flavor,
                path: Path::new(dir).join(template),
                template: true,
                schema_hint: schema,
            });
        }
    }
    Ok(ConfigTarget {
        flavor: Flavor::Containerd,
        path: PathBuf::from(DEFAULT_CONFIG),
        template: false,
        schema_hint: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host_with(files: &[(&str, &str)]) -> (tempfile::TempDir, HostFs) {
        let dir = tempfile::tempdir().unwrap();
        let host = HostFs::new(dir.path());
        for (path, text) in files {
            let local = host.local(Path::new(path));
            std::fs::create_dir_all(local.parent().unwrap()).unwrap();
            std::fs::write(local, text).unwrap();
        }
        (dir, host)
    }

    #[test]
    fn plain_containerd_by_default() {
        let (_d, host) = host_with(&[]);
        let target = find_config(&host, None).unwrap();
        assert_eq!(target.flavor, Flavor::Containerd);
        assert_eq!(target.path, Path::new(DEFAULT_CONFIG));
        assert!(!target.template);
    }

    #[test]
    fn k3s_with_containerd_1_uses_config_toml_tmpl() {
        let (_d, host) = host_with(&[(
            "/var/lib/rancher/k3s/agent/etc/containerd/config.toml",
            "version = 2\n",
        )]);
        let target = find_config(&host, None).unwrap();
        assert_eq!(target.flavor, Flavor::K3s);
        assert_eq!(
            target.path,
            Path::new("/var/lib/rancher/k3s/agent/etc/containerd/config.toml.tmpl")
        );
        assert_eq!(target.schema_hint, Some(Schema::V2));
    }

    #[test]
    fn rke2_with_containerd_2_uses_config_v3_toml_tmpl() {
        let (_d, host) = host_with(&[(
            "/var/lib/rancher/rke2/agent/etc/containerd/config.toml",
            "version = 3\n",
        )]);
        let target = find_config(&host, None).unwrap();
        assert_eq!(target.flavor, Flavor::Rke2);
        assert!(target.path.ends_with("config-v3.toml.tmpl"));
        assert_eq!(target.schema_hint, Some(Schema::V3));
        assert_eq!(Flavor::Rke2.units(), ["rke2-server", "rke2-agent"]);
    }

    #[test]
    fn an_explicit_path_wins() {
        let (_d, host) = host_with(&[(
            "/var/lib/rancher/k3s/agent/etc/containerd/config.toml",
            "version = 2\n",
        )]);
        let target = find_config(&host, Some(Path::new("/etc/other.toml"))).unwrap();
        assert_eq!(target.path, Path::new("/etc/other.toml"));
        assert_eq!(target.flavor, Flavor::Containerd);
    }
}
