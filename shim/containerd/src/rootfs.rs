//! Apps in a container's root filesystem (a classic image holding `spin.toml`), read
//! chrooted into that root ([`crate::confined`]).
//!
//! There the manifest is loaded, which must name only relative paths without `..`, and
//! every file the app uses is opened. The kernel resolves every path of the app inside
//! the root: `..` stops at it and absolute symlinks start from it, so a link
//! `data -> /etc` in the image names the image's own `/etc`. Only regular files are opened (no devices, FIFOs or sockets). The open files
//! go back to the shim, which reads them by descriptor; no path of the app is ever
//! resolved on the host.

use std::collections::HashMap;
use std::fs::File;
use std::io::Seek;
use std::path::Path;

use spin_app::LockedApp;
use spin_app::locked::ContentRef;
use spin_runtime::content::{Blob, ContentError, ContentResolver, open_regular};

/// Why a root-filesystem app could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("{0}")]
    App(#[from] spin_app::AppError),
    #[error("{what}: {problem}")]
    File { what: String, problem: String },
    #[error("root filesystem: {0}")]
    Confined(#[from] crate::confined::ConfinedError),
}

/// The files a root-filesystem app uses, opened inside the root, by `file://` URL.
#[derive(Debug)]
pub struct RootfsContent {
    opened: HashMap<String, File>,
}

impl ContentResolver for RootfsContent {
    fn resolve(&self, content: &ContentRef) -> Result<Blob, ContentError> {
        if let Some(bytes) = &content.inline {
            return Ok(Blob::Bytes(bytes.clone()));
        }
        let source = content
            .source
            .as_ref()
            .ok_or(ContentError::NoSourceInImage)?;
        let file = self
            .opened
            .get(source)
            .ok_or_else(|| ContentError::NotOpened {
                url: source.clone(),
            })?;
        let mut file = file.try_clone().map_err(ContentError::Read)?;
        file.rewind().map_err(ContentError::Read)?;
        Ok(Blob::File { file, path: None })
    }
}

/// The app whose `spin.toml` is at the top of `root`, if there is one.
pub fn load(root: &Path) -> Result<Option<(LockedApp, RootfsContent)>, RootfsError> {
    // The bundle's root (from containerd, not from the image) may be absent for a
    // container without a root filesystem; then there is no rootfs app.
    if !root.is_dir() {
        return Ok(None);
    }
    crate::confined::run_inside(root, "rootfs-app", load_here)?
}

/// Loads `/spin.toml` of the current root and opens what it names.
fn load_here() -> Result<Option<(LockedApp, RootfsContent)>, RootfsError> {
    let manifest = Path::new("/spin.toml");
    if !manifest.is_file() {
        return Ok(None);
    }
    let locked = spin_app::load::load_manifest_confined(manifest)?;
    let mut opened = HashMap::new();
    for component in &locked.components {
        let sources = std::iter::once(&component.source.content)
            .chain(component.files.iter().map(|f| &f.content));
        for source in sources.filter_map(|c| c.source.as_ref()) {
            let what = || format!("component `{}`: {source}", component.id);
            let path = spin_app::load::file_path(source).ok_or_else(|| RootfsError::File {
                what: what(),
                problem: "not a file:// URL".into(),
            })?;
            let file = open_regular(&path).map_err(|problem| RootfsError::File {
                what: what(),
                problem: problem.to_string(),
            })?;
            opened.insert(source.clone(), file);
        }
    }
    Ok(Some((locked, RootfsContent { opened })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use spin_runtime::content::read_verified;

    fn is_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    fn app(root: &Path, files: &str) {
        std::fs::write(
            root.join("spin.toml"),
            format!(
                "spin_manifest_version = 2\n[application]\nname = \"a\"\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"c\"\n[component.c]\nsource = \"c.wasm\"\nfiles = {files}\n"
            ),
        )
        .unwrap();
        std::fs::write(root.join("c.wasm"), b"\0asm").unwrap();
    }

    fn file_bytes(locked: &LockedApp, content: &RootfsContent, guest: &str) -> Vec<u8> {
        let c = &locked.components[0];
        let f = c.files.iter().find(|f| f.path == Path::new(guest)).unwrap();
        read_verified(content.resolve(&f.content).unwrap(), None, 1 << 20).unwrap()
    }

    #[test]
    fn symlinks_in_the_image_resolve_inside_its_root() {
        if !is_root() {
            eprintln!("skipped: chroot needs root");
            return;
        }
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("etc")).unwrap();
        std::fs::write(root.path().join("etc/hostname"), b"the image's own").unwrap();
        std::os::unix::fs::symlink("/etc", root.path().join("data")).unwrap();
        std::os::unix::fs::symlink("../../../../etc/hostname", root.path().join("up.txt")).unwrap();
        app(root.path(), r#"["data/hostname", "up.txt"]"#);
        let (locked, content) = load(root.path()).unwrap().unwrap();
        assert_eq!(
            file_bytes(&locked, &content, "data/hostname"),
            b"the image's own"
        );
        assert_eq!(file_bytes(&locked, &content, "up.txt"), b"the image's own");
    }

    #[test]
    fn absolute_and_parent_paths_are_refused() {
        if !is_root() {
            eprintln!("skipped: chroot needs root");
            return;
        }
        for files in [
            r#"[{ source = "/etc", destination = "/" }]"#,
            r#"[{ source = "../..", destination = "/" }]"#,
        ] {
            let root = tempfile::tempdir().unwrap();
            app(root.path(), files);
            let e = load(root.path()).unwrap_err().to_string();
            assert!(e.contains("is not inside the app"), "{files}: {e}");
        }
    }

    #[test]
    fn a_spin_toml_linking_to_a_host_file_reads_the_image_instead() {
        if !is_root() {
            eprintln!("skipped: chroot needs root");
            return;
        }
        let root = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.path().join("spin.toml")).unwrap();
        assert!(load(root.path()).unwrap().is_none());
    }

    #[test]
    fn device_nodes_are_not_opened() {
        if !is_root() {
            eprintln!("skipped: chroot needs root");
            return;
        }
        let root = tempfile::tempdir().unwrap();
        let dev = root.path().join("disk");
        nix::sys::stat::mknod(
            &dev,
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0o644),
            nix::sys::stat::makedev(1, 3),
        )
        .unwrap();
        app(
            root.path(),
            r#"[{ source = "disk", destination = "/disk" }]"#,
        );
        let e = load(root.path()).unwrap_err().to_string();
        assert!(
            e.contains("does not exist") || e.contains("not a regular file"),
            "{e}"
        );
    }
}
