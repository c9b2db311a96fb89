//! Restarting containerd so it reads the new runtime.
//!
//! - `systemd` (the DaemonSet's default): runs `systemctl` inside the host's mount, UTS,
//!   IPC, network and PID namespaces, those of the host's PID 1 (the pod has
//!   `hostPID: true` and is privileged), and restarts the first active unit of the
//!   flavour (`containerd`; `k3s` or `k3s-agent`; `rke2-server` or `rke2-agent`).
//! - `host-command`: the host's `/bin/sh -c COMMAND` in the host's namespaces (as for
//!   systemd), for hosts without systemd (e.g. `/etc/init.d/containerd restart`).
//! - `command`: `/bin/sh -c COMMAND` in the installer's own namespaces, for an installer
//!   run on the host itself (and for tests).
//! - `none`: nothing; the installer says a restart is still needed and asks for it
//!   again on its next run.

use std::process::Command;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Restart {
    Systemd { units: Vec<String> },
    HostCommand(String),
    Command(String),
    None,
}

#[derive(Debug, thiserror::Error)]
pub enum RestartError {
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed {
        command: String,
        status: std::process::ExitStatus,
        stderr: String,
    },
    #[error(
        "none of the systemd units {units:?} is active on the host; name the unit with --containerd-unit or restart containerd with --restart=command"
    )]
    NoActiveUnit { units: Vec<String> },
    #[error(
        "cannot open the host's namespaces at /proc/1/ns (the installer needs hostPID and privileged): {0}"
    )]
    HostNamespaces(std::io::Error),
}

/// What was done, for the log; `None` when nothing was restarted. `host_pid` is the
/// host's init as the installer sees it (1 with `hostPID`), whose namespaces
/// `systemd` and `host-command` enter.
pub fn restart(how: &Restart, host_pid: u32) -> Result<Option<String>, RestartError> {
    match how {
        Restart::None => Ok(None),
        Restart::Command(command) => {
            let mut cmd = Command::new("/bin/sh");
            cmd.arg("-c").arg(command);
            run(cmd, command)?;
            Ok(Some(command.clone()))
        }
        Restart::HostCommand(command) => {
            let namespaces = host_ns::open(host_pid).map_err(RestartError::HostNamespaces)?;
            let mut cmd = host_ns::command(&namespaces, "/bin/sh");
            cmd.arg("-c").arg(command);
            run(cmd, command)?;
            Ok(Some(format!("{command} (on the host)")))
        }
        Restart::Systemd { units } => {
            let namespaces = host_ns::open(host_pid).map_err(RestartError::HostNamespaces)?;
            for unit in units {
                let mut probe = host_ns::command(&namespaces, "systemctl");
                probe.args(["is-active", "--quiet", unit]);
                let active = probe
                    .status()
                    .map_err(|source| RestartError::Spawn {
                        command: format!("systemctl is-active {unit}"),
                        source,
                    })?
                    .success();
                if active {
                    let mut cmd = host_ns::command(&namespaces, "systemctl");
                    cmd.args(["restart", unit]);
                    let shown = format!("systemctl restart {unit}");
                    run(cmd, &shown)?;
                    return Ok(Some(shown));
                }
            }
            Err(RestartError::NoActiveUnit {
                units: units.clone(),
            })
        }
    }
}

fn run(mut cmd: Command, shown: &str) -> Result<(), RestartError> {
    let out = cmd.output().map_err(|source| RestartError::Spawn {
        command: shown.to_string(),
        source,
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(RestartError::Failed {
            command: shown.to_string(),
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// Running a command in the host's namespaces (what `nsenter --target 1` does), so
/// the installer image needs no `nsenter`.
// unsafe: `setns` has to happen in the forked child before exec (a multi-threaded
// process cannot enter another mount namespace), which only `pre_exec` allows. The
// closure calls nothing but `setns` on descriptors opened before the fork, which is
// async-signal-safe.
#[allow(unsafe_code)]
mod host_ns {
    use std::fs::File;
    use std::os::unix::process::CommandExt;
    use std::process::Command;
    use std::sync::Arc;

    use nix::sched::{CloneFlags, setns};

    /// The namespaces of the host's init, opened once.
    pub type Namespaces = Arc<Vec<(File, CloneFlags)>>;

    pub fn open(pid: u32) -> std::io::Result<Namespaces> {
        let kinds = [
            ("mnt", CloneFlags::CLONE_NEWNS),
            ("uts", CloneFlags::CLONE_NEWUTS),
            ("ipc", CloneFlags::CLONE_NEWIPC),
            ("net", CloneFlags::CLONE_NEWNET),
            ("pid", CloneFlags::CLONE_NEWPID),
        ];
        let mut opened = Vec::new();
        for (name, flag) in kinds {
            let path = format!("/proc/{pid}/ns/{name}");
            let file = File::open(&path)
                .map_err(|e| std::io::Error::new(e.kind(), format!("{path}: {e}")))?;
            opened.push((file, flag));
        }
        Ok(Arc::new(opened))
    }

    pub fn command(namespaces: &Namespaces, program: &str) -> Command {
        let mut cmd = Command::new(program);
        let namespaces = namespaces.clone();
        // SAFETY: see the module comment; only setns runs between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                for (file, flag) in namespaces.iter() {
                    setns(file, *flag).map_err(std::io::Error::from)?;
                }
                Ok(())
            });
        }
        cmd
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_runs_and_its_failure_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("restarted");
        let done = restart(&Restart::Command(format!("touch {}", marker.display())), 1).unwrap();
        assert!(done.unwrap().starts_with("touch "));
        assert!(marker.exists());

        let err = restart(&Restart::Command("echo nope >&2; exit 3".into()), 1)
            .unwrap_err()
            .to_string();
        assert!(err.contains("exit status: 3"), "{err}");
        assert!(err.contains("nope"), "{err}");
    }

    #[test]
    fn none_restarts_nothing() {
        assert_eq!(restart(&Restart::None, 1).unwrap(), None);
    }
}
