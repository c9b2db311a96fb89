//! Joining the container's cgroup, so the kernel enforces the pod's memory limit on
//! the whole shim (every instance together) and the node's accounting sees the app.
//! Where the host does not allow it (no write access, systemd-driver paths), the shim
//! says so in the container log and goes on: the runtime still caps each instance.

use std::path::{Path, PathBuf};

const ROOT: &str = "/sys/fs/cgroup";

/// Moves this process into `cgroups_path` (cgroupfs style, `/kubepods/.../<id>`) on
/// cgroup v2 or the v1 memory/cpu/pids hierarchies, and applies `memory_limit`.
/// Returns the directories joined.
pub fn join(cgroups_path: &str, memory_limit: Option<u64>) -> Result<Vec<PathBuf>, String> {
    if !cgroups_path.starts_with('/') {
        return Err(format!(
            "cgroup {cgroups_path:?} is a systemd-driver path, which this shim does not join yet"
        ));
    }
    let rel = cgroups_path.trim_start_matches('/');
    let root = Path::new(ROOT);
    let pid = std::process::id().to_string();
    if root.join("cgroup.controllers").exists() {
        let dir = root.join(rel);
        enter(&dir, &pid, memory_limit.map(|l| ("memory.max", l)))?;
        return Ok(vec![dir]);
    }
    let mut joined = Vec::new();
    for controller in ["memory", "cpu", "pids"] {
        let hierarchy = root.join(controller);
        if !hierarchy.is_dir() {
            continue;
        }
        let dir = hierarchy.join(rel);
        let limit = (controller == "memory")
            .then_some(memory_limit)
            .flatten()
            .map(|l| ("memory.limit_in_bytes", l));
        enter(&dir, &pid, limit)?;
        joined.push(dir);
    }
    if joined.is_empty() {
        return Err(format!("no cgroup hierarchy under {ROOT}"));
    }
    Ok(joined)
}

fn enter(dir: &Path, pid: &str, limit: Option<(&str, u64)>) -> Result<(), String> {
    let err = |what: &str, e: std::io::Error| format!("{what} {}: {e}", dir.display());
    std::fs::create_dir_all(dir).map_err(|e| err("creating", e))?;
    if let Some((file, bytes)) = limit {
        std::fs::write(dir.join(file), bytes.to_string()).map_err(|e| err(file, e))?;
    }
    std::fs::write(dir.join("cgroup.procs"), pid).map_err(|e| err("joining", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemd_paths_are_refused_with_the_reason() {
        let e = join("kubepods-pod1.slice:cri-containerd:abc", None).unwrap_err();
        assert!(e.contains("systemd-driver path"), "{e}");
    }
}
