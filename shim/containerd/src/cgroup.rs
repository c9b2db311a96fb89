//! Joining the container's cgroup, so the kernel enforces the pod's memory and CPU
//! limits on the whole shim (every instance together, and the compile children it
//! starts afterwards, which inherit it) and the node's accounting sees the app. The
//! container is not started when the shim cannot join: a pod whose limits are not
//! applied would run unbounded on a shared node.
//!
//! The path is the OCI spec's `linux.cgroupsPath`, in either driver's form:
//! - cgroupfs: `/kubepods/burstable/pod<uid>/<id>`, under each hierarchy's root;
//! - systemd: `<slice>:<prefix>:<name>` (kubeadm's default, `SystemdCgroup = true`),
//!   which puts the container in the unit `<prefix>-<name>.scope` inside the pod's
//!   slice; a slice name stands for its ancestors too (`kubepods-burstable-pod1.slice`
//!   is `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice`). The
//!   pod's slice must exist (the kubelet creates it, with the pod's limits); the
//!   shim creates its scope directory there, as runc would have systemd do.
//!
//! Both on cgroup v2 and on the v1 memory, cpu and pids hierarchies.

use std::path::{Component, Path, PathBuf};

const ROOT: &str = "/sys/fs/cgroup";

/// Where a cgroups path puts the container, relative to a hierarchy's root.
#[derive(Debug, PartialEq)]
struct Placement {
    /// What must exist already (systemd: the pod's slice) or is created (cgroupfs).
    parent: PathBuf,
    /// The container's own cgroup under it.
    leaf: String,
    /// Whether `parent` must exist.
    parent_must_exist: bool,
}

/// Moves this process into `cgroups_path` and applies `memory_limit`. Returns the
/// directories joined.
pub fn join(cgroups_path: &str, memory_limit: Option<u64>) -> Result<Vec<PathBuf>, String> {
    join_under(
        Path::new(ROOT),
        cgroups_path,
        memory_limit,
        std::process::id(),
    )
}

/// Moves process `pid` into `cgroups_path` under the hierarchies mounted at `root`.
fn join_under(
    root: &Path,
    cgroups_path: &str,
    memory_limit: Option<u64>,
    pid: u32,
) -> Result<Vec<PathBuf>, String> {
    let placement = placement(cgroups_path)?;
    let pid = pid.to_string();
    if root.join("cgroup.controllers").exists() {
        let dir = enter(
            root,
            &placement,
            &pid,
            memory_limit.map(|l| ("memory.max", l)),
        )?;
        return Ok(vec![dir]);
    }
    let mut joined = Vec::new();
    for controller in ["memory", "cpu", "pids"] {
        let hierarchy = root.join(controller);
        if !hierarchy.is_dir() {
            continue;
        }
        let limit = (controller == "memory")
            .then_some(memory_limit)
            .flatten()
            .map(|l| ("memory.limit_in_bytes", l));
        joined.push(enter(&hierarchy, &placement, &pid, limit)?);
    }
    if joined.is_empty() {
        return Err(format!("no cgroup hierarchy under {}", root.display()));
    }
    Ok(joined)
}

/// Reads either driver's form of a cgroups path.
fn placement(cgroups_path: &str) -> Result<Placement, String> {
    let invalid = |why: &str| format!("cgroups path {cgroups_path:?}: {why}");
    if cgroups_path.starts_with('/') {
        let path = Path::new(cgroups_path);
        if !path
            .components()
            .skip(1)
            .all(|c| matches!(c, Component::Normal(_)))
        {
            return Err(invalid("has `.` or `..` components"));
        }
        let leaf = path
            .file_name()
            .ok_or_else(|| invalid("names no cgroup"))?
            .to_string_lossy()
            .into_owned();
        let parent = path
            .parent()
            .and_then(|p| p.strip_prefix("/").ok())
            .unwrap_or(Path::new(""))
            .to_path_buf();
        return Ok(Placement {
            parent,
            leaf,
            parent_must_exist: false,
        });
    }
    let [slice, prefix, name] = cgroups_path.split(':').collect::<Vec<_>>()[..] else {
        return Err(invalid(
            "is neither a cgroupfs path (`/...`) nor a systemd one (`slice:prefix:name`)",
        ));
    };
    let unit_part =
        |part: &str| !part.contains('/') && part != "." && part != ".." && !part.contains('\0');
    if !unit_part(prefix) || !unit_part(name) || name.is_empty() {
        return Err(invalid("names an invalid systemd unit"));
    }
    let parent = expand_slice(if slice.is_empty() {
        "system.slice"
    } else {
        slice
    })
    .ok_or_else(|| invalid("names an invalid systemd slice"))?;
    let leaf = if name.ends_with(".slice") {
        name.to_string()
    } else if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    Ok(Placement {
        parent,
        leaf,
        parent_must_exist: true,
    })
}

/// The directory of a systemd slice: `a-b-c.slice` is `a.slice/a-b.slice/a-b-c.slice`,
/// `-.slice` the root. `None` for a name systemd would refuse.
fn expand_slice(slice: &str) -> Option<PathBuf> {
    let stem = slice.strip_suffix(".slice")?;
    if stem == "-" {
        return Some(PathBuf::new());
    }
    if stem.is_empty()
        || stem.contains('/')
        || stem.starts_with('-')
        || stem.ends_with('-')
        || stem.contains("--")
    {
        return None;
    }
    let mut dir = PathBuf::new();
    let mut name = String::new();
    for part in stem.split('-') {
        if !name.is_empty() {
            name.push('-');
        }
        name.push_str(part);
        dir.push(format!("{name}.slice"));
    }
    Some(dir)
}

/// Creates the container's cgroup under `hierarchy`, applies the limit and joins it.
fn enter(
    hierarchy: &Path,
    placement: &Placement,
    pid: &str,
    limit: Option<(&str, u64)>,
) -> Result<PathBuf, String> {
    let parent = hierarchy.join(&placement.parent);
    if placement.parent_must_exist && !parent.is_dir() {
        return Err(format!(
            "the pod's cgroup {} does not exist (the kubelet creates it with the systemd driver)",
            parent.display()
        ));
    }
    let dir = parent.join(&placement.leaf);
    let err = |what: &str, e: std::io::Error| format!("{what} {}: {e}", dir.display());
    std::fs::create_dir_all(&dir).map_err(|e| err("creating", e))?;
    if let Some((file, bytes)) = limit {
        std::fs::write(dir.join(file), bytes.to_string()).map_err(|e| err(file, e))?;
    }
    std::fs::write(dir.join("cgroup.procs"), pid).map_err(|e| err("joining", e))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placed(path: &str) -> (String, String, bool) {
        let p = placement(path).unwrap();
        (p.parent.display().to_string(), p.leaf, p.parent_must_exist)
    }

    #[test]
    fn both_drivers_paths_are_placed_as_runc_places_them() {
        assert_eq!(
            placed("/kubepods/burstable/pod1/c1"),
            ("kubepods/burstable/pod1".into(), "c1".into(), false)
        );
        assert_eq!(
            placed("kubepods-burstable-pod1.slice:cri-containerd:c1"),
            (
                "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice".into(),
                "cri-containerd-c1.scope".into(),
                true
            )
        );
        assert_eq!(placed("-.slice::c1"), ("".into(), "c1.scope".into(), true));
        assert_eq!(
            placed(":cri-containerd:c1"),
            (
                "system.slice".into(),
                "cri-containerd-c1.scope".into(),
                true
            )
        );
    }

    #[test]
    fn paths_that_would_leave_the_hierarchy_are_refused() {
        for bad in [
            "/kubepods/../../etc",
            "kubepods.slice:p:../../x",
            "a--b.slice:p:c",
            "nonsense",
            "a.slice:p",
            "a.slice:p:c:d",
            "/",
        ] {
            assert!(placement(bad).is_err(), "{bad}");
        }
        // A slice part is a name, never a path.
        assert!(placement("../x.slice:p:c").is_err());
    }

    #[test]
    fn a_systemd_scope_is_made_inside_the_pods_existing_slice() {
        let root = tempfile::tempdir().unwrap();
        let memory = root.path().join("memory");
        let pod = memory.join("kubepods.slice/kubepods-pod1.slice");
        std::fs::create_dir_all(&pod).unwrap();
        let joined = join_under(
            root.path(),
            "kubepods-pod1.slice:cri-containerd:c1",
            Some(64 << 20),
            std::process::id(),
        )
        .unwrap();
        let scope = pod.join("cri-containerd-c1.scope");
        assert_eq!(joined, std::slice::from_ref(&scope));
        assert_eq!(
            std::fs::read_to_string(scope.join("memory.limit_in_bytes")).unwrap(),
            (64u64 << 20).to_string()
        );
        assert_eq!(
            std::fs::read_to_string(scope.join("cgroup.procs")).unwrap(),
            std::process::id().to_string()
        );

        // A pod slice that does not exist means the path was not understood: refused,
        // never created in a place the kubelet's limits do not cover.
        let e = join_under(
            root.path(),
            "kubepods-pod2.slice:cri-containerd:c2",
            None,
            std::process::id(),
        )
        .unwrap_err();
        assert!(e.contains("kubepods-pod2.slice does not exist"), "{e}");
    }

    /// The kernel's own cgroup v2 interface, on a v2 hierarchy mounted for the test
    /// (this works beside a v1 node's hierarchies; the controllers stay with v1, so the
    /// v2 hierarchy has no `memory` controller). Needs root, as the shim does.
    #[test]
    fn a_process_joins_a_real_cgroup_v2_hierarchy_and_a_limit_it_cannot_apply_is_an_error() {
        let mount = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "cgroup2", "none"])
            .arg(mount.path())
            .status()
            .unwrap();
        assert!(mounted.success(), "mounting cgroup2 needs root");
        let root = mount.path();
        let pod = root.join("kubepods.slice/kubepods-pod1.slice");
        std::fs::create_dir_all(&pod).unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let path = "kubepods-pod1.slice:cri-containerd:c1";

        let joined = join_under(root, path, None, child.id());
        let in_kernel = std::fs::read_to_string(format!("/proc/{}/cgroup", child.id())).unwrap();
        // A limit needs the memory controller, which this hierarchy lacks: refused,
        // never run without it.
        let refused = join_under(root, path, Some(64 << 20), child.id());

        child.kill().unwrap();
        child.wait().unwrap();
        let scope = pod.join("cri-containerd-c1.scope");
        let _ = std::fs::remove_dir(&scope);
        let _ = std::fs::remove_dir_all(root.join("kubepods.slice/kubepods-pod1.slice"));
        let _ = std::fs::remove_dir(root.join("kubepods.slice"));
        std::process::Command::new("umount")
            .arg(root)
            .status()
            .unwrap();

        assert_eq!(joined.unwrap(), vec![scope]);
        assert!(
            in_kernel
                .lines()
                .any(|l| l == "0::/kubepods.slice/kubepods-pod1.slice/cri-containerd-c1.scope"),
            "{in_kernel}"
        );
        let e = refused.unwrap_err();
        assert!(e.contains("memory.max"), "{e}");
    }
}
