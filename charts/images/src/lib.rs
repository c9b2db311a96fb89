//! The chart's container images, built from our release binaries with no base image
//! (none can be pulled here) and no registry: each is the stripped binaries plus the
//! shared libraries `ldd` names, as an OCI image layout tarball
//! ([`oci_layout::image_tar`]).
//!
//! - `spin-operator`: `/spin-operator`, run as 65532:65532.
//! - `spin-node-installer`: `/spin-node-installer` and `/containerd-shim-spin-v2` side by
//!   side (the installer installs the shim next to itself), run as root.
//! - `spin-run`: `/spin-run`, run as 65532:65532 with a world-writable `/tmp` as its
//!   home (caches, the app's state): the `spinImage` of an executor for nodes where no
//!   shim can be installed; it pulls the app from its registry itself (registry CA
//!   roots are compiled in).

pub mod oci_layout;
pub mod rootfs;

use std::collections::BTreeMap;
use std::path::Path;

use oci_layout::{DIRECTORY, ImageConfig, LayerFile, image_tar};
use rootfs::{RootfsError, shared_libraries, stripped_binary};

/// One image: its repository's last path segment, the binaries it holds (the first is
/// the entrypoint), the user it runs as, its environment and its world-writable
/// (sticky) directories.
#[derive(Debug, Clone, Copy)]
pub struct ImageSpec {
    pub name: &'static str,
    pub binaries: &'static [&'static str],
    pub user: &'static str,
    pub env: &'static [&'static str],
    pub writable_dirs: &'static [&'static str],
}

pub const OPERATOR: ImageSpec = ImageSpec {
    name: "spin-operator",
    binaries: &["spin-operator"],
    user: "65532:65532",
    env: &[],
    writable_dirs: &[],
};

pub const NODE_INSTALLER: ImageSpec = ImageSpec {
    name: "spin-node-installer",
    binaries: &["spin-node-installer", "containerd-shim-spin-v2"],
    user: "",
    env: &[],
    writable_dirs: &[],
};

pub const SPIN_RUN: ImageSpec = ImageSpec {
    name: "spin-run",
    binaries: &["spin-run"],
    user: "65532:65532",
    env: &["HOME=/tmp"],
    writable_dirs: &["tmp"],
};

pub const IMAGES: [ImageSpec; 3] = [OPERATOR, NODE_INSTALLER, SPIN_RUN];

/// The image tarball of `spec`, from the binaries in `bin_dir`, named `reference`.
pub fn build(spec: &ImageSpec, bin_dir: &Path, reference: &str) -> Result<Vec<u8>, RootfsError> {
    let mut files = BTreeMap::new();
    for binary in spec.binaries {
        let path = bin_dir.join(binary);
        let stripped = stripped_binary(&path)?;
        for lib in shared_libraries(&path)? {
            files.insert(lib.path.clone(), lib);
        }
        files.insert(stripped.path.clone(), stripped);
    }
    let mut entries: Vec<LayerFile<'_>> = spec
        .writable_dirs
        .iter()
        .map(|dir| (*dir, &[][..], 0o1777 | DIRECTORY))
        .collect();
    entries.extend(
        files
            .values()
            .map(|f| (f.path.trim_start_matches('/'), f.content.as_slice(), f.mode)),
    );
    let entrypoint = format!("/{}", spec.binaries[0]);
    Ok(image_tar(
        reference,
        &entries,
        &ImageConfig {
            entrypoint: &[&entrypoint],
            user: spec.user,
            env: spec.env,
        },
    ))
}
