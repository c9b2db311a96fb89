//! One installation run: check the config, copy the shim, write the config, restart
//! containerd when (and only when) the config changed or an earlier restart is still
//! owed. Running it again on an installed node writes nothing and restarts nothing.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::config_edit::{self, ConfigError, EditRequest, Schema};
use crate::host::{self, ConfigTarget, HostFs};
use crate::restart::{self, Restart, RestartError};

/// The shim's file name on the host.
pub const SHIM_BINARY: &str = "containerd-shim-spin-v2";
/// Present in the install dir while containerd has not been restarted since the
/// config last changed (a run that stopped half-way restarts on the next run).
const RESTART_PENDING: &str = ".restart-pending";

#[derive(Debug, Clone)]
pub struct Options {
    /// Where the host's `/` is for the installer.
    pub host_root: PathBuf,
    /// The shim binary to install (in the installer's image).
    pub shim_source: PathBuf,
    /// Where the shim goes, as a host path.
    pub install_dir: PathBuf,
    /// The config to edit, as a host path; `None` finds it (k3s, rke2, plain).
    pub containerd_config: Option<PathBuf>,
    /// How to restart; `None` means systemd with the flavour's units.
    pub restart: Option<Restart>,
    /// The host's init as the installer sees it (1 with `hostPID`).
    pub host_pid: u32,
    /// The node's ceilings on pods' settings (TOML, [`spin_app::node_config`]), written
    /// beside the shim as [`NODE_CONFIG`]; `None` leaves whatever is there.
    pub node_config: Option<String>,
}

/// The node config's file name, beside the shim (where the shim looks for it).
pub const NODE_CONFIG: &str = "containerd-shim-spin-v2.toml";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The shim's host path.
    pub shim_path: PathBuf,
    pub shim_sha256: String,
    pub shim_copied: bool,
    pub config: ConfigTarget,
    pub schema: Schema,
    pub config_changed: bool,
    /// The restart command that ran, if any.
    pub restarted: Option<String>,
    /// The config changed but `--restart=none` was asked for.
    pub restart_pending: bool,
    /// The node config beside the shim was written (it was new or differed).
    pub node_config_written: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot read the shim to install at {path}: {source}")]
    ShimSource {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "cannot {what} {path} on the host: {source} (is the host's / mounted at the host root, writable?)"
    )]
    Host {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}; nothing was installed")]
    NodeConfig(#[from] spin_app::node_config::NodeConfigError),
    #[error("containerd was not restarted, so the `spin` runtime is not active yet: {0}")]
    Restart(#[from] RestartError),
}

pub fn install(opts: &Options) -> Result<Report, InstallError> {
    let host = HostFs::new(&opts.host_root);
    let host_err = |what: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| InstallError::Host { what, path, source }
    };

    // 0. The node config, checked as the shim will read it: a broken one would stop
    //    every Spin pod on the node, so it stops the installation instead.
    let node_config_path = opts.install_dir.join(NODE_CONFIG);
    if let Some(text) = &opts.node_config {
        spin_app::node_config::NodeConfig::parse(text, &node_config_path.display().to_string())?;
    }

    // 1. The config, edited in memory first: a malformed one stops everything here.
    let mut target = host::find_config(&host, opts.containerd_config.as_deref())
        .map_err(host_err("read", Path::new("the containerd config")))?;
    // A symlinked config is edited where it points; the link stays.
    target.path = host
        .resolve(&target.path)
        .map_err(host_err("read", &target.path))?;
    let existing = host
        .read(&target.path)
        .map_err(host_err("read", &target.path))?;
    let original = match (&existing, target.template) {
        (Some(text), _) => text.clone(),
        (None, true) => host::BASE_TEMPLATE.to_string(),
        (None, false) => String::new(),
    };
    let shim_path = opts.install_dir.join(SHIM_BINARY);
    let shim_path_text = shim_path.display().to_string();
    let file = target.path.display().to_string();
    let edited = config_edit::add_spin_runtime(
        &original,
        &EditRequest {
            file: &file,
            shim_path: &shim_path_text,
            template: target.template,
            schema_hint: target.schema_hint,
        },
    )?;
    let config_changed = edited.changed || existing.is_none();

    // 2. The shim, replaced only when its content differs (hashed as a stream: the
    //    binary is large and the installer's memory limit small).
    let shim_sha256 = sha256_of(&opts.shim_source).map_err(|source| InstallError::ShimSource {
        path: opts.shim_source.clone(),
        source,
    })?;
    let local_dir = host.local(&opts.install_dir);
    std::fs::create_dir_all(&local_dir).map_err(host_err("create", &opts.install_dir))?;
    let local_shim = host.local(&shim_path);
    let shim_copied = sha256_of(&local_shim).ok().as_ref() != Some(&shim_sha256);
    if shim_copied {
        copy_atomically(&opts.shim_source, &local_shim, 0o755)
            .map_err(host_err("write", &shim_path))?;
    }

    // The node config beside it: the shim reads it at every container's start, so a
    //    change applies to new pods without a restart.
    let mut node_config_written = false;
    if let Some(text) = &opts.node_config {
        let local = host.local(&node_config_path);
        if std::fs::read_to_string(&local).ok().as_deref() != Some(text.as_str()) {
            write_atomically(&local, text.as_bytes(), 0o644)
                .map_err(host_err("write", &node_config_path))?;
            node_config_written = true;
        }
    }

    // 3. The config, then containerd.
    let pending = local_dir.join(RESTART_PENDING);
    if config_changed {
        std::fs::write(&pending, b"").map_err(host_err("write", &opts.install_dir))?;
        let local_config = host.local(&target.path);
        if let Some(parent) = local_config.parent() {
            std::fs::create_dir_all(parent).map_err(host_err("create", &target.path))?;
        }
        let mode = std::fs::metadata(&local_config)
            .map(|m| m.permissions().mode())
            .unwrap_or(0o644);
        write_atomically(&local_config, edited.text.as_bytes(), mode)
            .map_err(host_err("write", &target.path))?;
    }
    let how = opts.restart.clone().unwrap_or_else(|| Restart::Systemd {
        units: target
            .flavor
            .units()
            .iter()
            .map(|u| u.to_string())
            .collect(),
    });
    let mut restarted = None;
    let mut restart_pending = false;
    if pending.exists() {
        restarted = restart::restart(&how, opts.host_pid)?;
        if restarted.is_some() {
            std::fs::remove_file(&pending).map_err(host_err("remove", &opts.install_dir))?;
        } else {
            restart_pending = true;
        }
    }
    Ok(Report {
        shim_path,
        shim_sha256,
        shim_copied,
        config: target,
        schema: edited.schema,
        config_changed,
        restarted,
        restart_pending,
        node_config_written,
    })
}

fn sha256_of(path: &Path) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    std::io::copy(&mut std::fs::File::open(path)?, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

fn copy_atomically(from: &Path, to: &Path, mode: u32) -> std::io::Result<()> {
    replace_atomically(to, mode, |file| {
        std::io::copy(&mut std::fs::File::open(from)?, file).map(|_| ())
    })
}

fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    replace_atomically(path, mode, |file| file.write_all(bytes))
}

/// Writes next to the destination and renames over it, so containerd (or a running
/// shim) never sees a half-written file.
fn replace_atomically(
    path: &Path,
    mode: u32,
    write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.spin-node-installer.tmp"));
    let mut file = std::fs::File::create(&tmp)?;
    write(&mut file)?;
    file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}
