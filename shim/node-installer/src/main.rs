//! `spin-node-installer`: the node installer the chart's DaemonSet runs (see lib.rs).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use k8s_openapi::api::core::v1::Node;
use spin_node_installer::install::{self, Options, SHIM_BINARY};
use spin_node_installer::label::{self, INSTALLED_LABEL, INSTALLED_VALUE};
use spin_node_installer::restart::Restart;

#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Where the host's `/` is mounted in this container (`/` when run on the host).
    #[arg(long, env = "SPIN_INSTALLER_HOST_ROOT", default_value = "/host")]
    host_root: PathBuf,
    /// The shim binary to install [default: containerd-shim-spin-v2 next to this binary].
    #[arg(long, env = "SPIN_INSTALLER_SHIM")]
    shim: Option<PathBuf>,
    /// The host directory the shim is copied to.
    #[arg(
        long,
        env = "SPIN_INSTALLER_INSTALL_DIR",
        default_value = "/opt/spin/bin"
    )]
    install_dir: PathBuf,
    /// The host's containerd config [default: found: k3s/rke2 template or /etc/containerd/config.toml].
    #[arg(long, env = "SPIN_INSTALLER_CONTAINERD_CONFIG")]
    containerd_config: Option<PathBuf>,
    /// How containerd is restarted after its config changed.
    #[arg(long, env = "SPIN_INSTALLER_RESTART", value_enum, default_value_t = RestartMode::Systemd)]
    restart: RestartMode,
    /// The systemd unit to restart [default: containerd; k3s or k3s-agent; rke2-server or rke2-agent].
    #[arg(long, env = "SPIN_INSTALLER_CONTAINERD_UNIT")]
    containerd_unit: Option<String>,
    /// With --restart=host-command or command: the command, run by /bin/sh -c.
    #[arg(
        long,
        env = "SPIN_INSTALLER_RESTART_COMMAND",
        required_if_eq_any([("restart", "command"), ("restart", "host-command")])
    )]
    restart_command: Option<String>,
    /// The host's init process as seen here (1 with hostPID), whose namespaces
    /// --restart=systemd and host-command enter.
    #[arg(long, env = "SPIN_INSTALLER_HOST_PID", default_value_t = 1)]
    host_pid: u32,
    /// The node's ceilings on pods' settings (a TOML file), written beside the shim
    /// as containerd-shim-spin-v2.toml [default: leave what is there].
    #[arg(long, env = "SPIN_INSTALLER_NODE_CONFIG")]
    node_config: Option<PathBuf>,
    /// Label this node when done (the DaemonSet passes its node name).
    #[arg(long, env = "NODE_NAME")]
    node_name: Option<String>,
    /// The label set on the node, KEY=VALUE.
    #[arg(long, env = "SPIN_INSTALLER_NODE_LABEL", default_value_t = format!("{INSTALLED_LABEL}={INSTALLED_VALUE}"))]
    node_label: String,
    /// After installing, stay running until SIGTERM.
    #[arg(long, env = "SPIN_INSTALLER_WAIT")]
    wait: bool,
    /// Install nothing: only wait until SIGTERM. The DaemonSet's container, which holds
    /// no privilege, no host mount and no API token: its init container installed.
    #[arg(long, conflicts_with = "wait")]
    idle: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum RestartMode {
    /// `systemctl restart` in the host's namespaces (needs hostPID and privileged).
    Systemd,
    /// --restart-command in the host's namespaces, by the host's /bin/sh (needs hostPID and privileged).
    HostCommand,
    /// --restart-command in the installer's own namespaces (an installer run on the host).
    Command,
    /// Do not restart; say that it is needed.
    None,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    if args.idle {
        wait_for_sigterm().await;
        return ExitCode::SUCCESS;
    }
    match run(&args).await {
        Ok(()) => {
            if args.wait {
                wait_for_sigterm().await;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args) -> anyhow::Result<()> {
    let (label_key, label_value) = args
        .node_label
        .split_once('=')
        .ok_or_else(|| anyhow::anyhow!("--node-label {:?} must be KEY=VALUE", args.node_label))?;
    let shim_source = match &args.shim {
        Some(path) => path.clone(),
        None => std::env::current_exe()?
            .parent()
            .map(|dir| dir.join(SHIM_BINARY))
            .unwrap_or_else(|| PathBuf::from(SHIM_BINARY)),
    };
    let restart = match args.restart {
        RestartMode::Systemd => args.containerd_unit.as_ref().map(|unit| Restart::Systemd {
            units: vec![unit.clone()],
        }),
        RestartMode::HostCommand => Some(Restart::HostCommand(
            args.restart_command.clone().unwrap_or_default(),
        )),
        RestartMode::Command => Some(Restart::Command(
            args.restart_command.clone().unwrap_or_default(),
        )),
        RestartMode::None => Some(Restart::None),
    };
    let report = install::install(&Options {
        host_root: args.host_root.clone(),
        shim_source,
        install_dir: args.install_dir.clone(),
        containerd_config: args.containerd_config.clone(),
        restart,
        host_pid: args.host_pid,
        node_config: match &args.node_config {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("--node-config {}: {e}", path.display()))?,
            ),
            None => None,
        },
    })?;

    let short = &report.shim_sha256[..12];
    if report.shim_copied {
        tracing::info!(
            "shim: installed {} (sha256 {short})",
            report.shim_path.display()
        );
    } else {
        tracing::info!(
            "shim: {} is up to date (sha256 {short})",
            report.shim_path.display()
        );
    }
    let config = report.config.path.display();
    let flavor = report.config.flavor.name();
    if report.config_changed {
        tracing::info!(
            "config: added runtime `spin` to {config} ({flavor}, config {:?})",
            report.schema
        );
    } else {
        tracing::info!("config: {config} already has runtime `spin` ({flavor})");
    }
    if report.node_config_written {
        tracing::info!(
            "node config: wrote {}",
            report.shim_path.with_extension("toml").display()
        );
    }

    match (&report.restarted, report.restart_pending) {
        (Some(command), _) => tracing::info!("containerd: restarted ({command})"),
        (None, true) => tracing::warn!(
            "containerd: NOT restarted (--restart=none); restart it to make the `spin` runtime available"
        ),
        (None, false) => tracing::info!("containerd: no restart needed"),
    }
    if let Some(node) = &args.node_name {
        let client = kube::Client::try_default()
            .await
            .map_err(|e| anyhow::anyhow!("cannot reach Kubernetes to label node {node}: {e}"))?;
        let nodes = kube::Api::<Node>::all(client);
        if label::label_node(&nodes, node, label_key, label_value).await? {
            tracing::info!("node {node}: labelled {label_key}={label_value}");
        } else {
            tracing::info!("node {node}: already labelled {label_key}={label_value}");
        }
    }
    Ok(())
}

async fn wait_for_sigterm() {
    if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    {
        term.recv().await;
    }
}
