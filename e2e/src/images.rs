//! Container images built here, as OCI layout tarballs for `ctr images import` (no
//! public registry is reachable):
//! - the pod sandbox image: one layer holding `/pause`, a 129-byte static x86-64 ELF
//!   that loops on the `pause` system call until a signal ends it. Our shim holds
//!   sandboxes without running them; the image just has to exist, as kubelet's does;
//! - classic (non-artifact) images whose one layer holds a Spin app's files.

use spin_kube_images::oci_layout::{self, ImageConfig, LayerFile};

/// The name containerd's CRI config points `sandbox_image` at.
pub const PAUSE_IMAGE: &str = "spin-kube.local/pause:1";

/// `/pause`: ELF header, one PT_LOAD program header, then `mov eax, 34 (pause);
/// syscall; jmp back`.
pub fn pause_binary() -> Vec<u8> {
    let mut elf = Vec::new();
    let code: &[u8] = &[0xb8, 0x22, 0, 0, 0, 0x0f, 0x05, 0xeb, 0xf7];
    let base: u64 = 0x40_0000;
    let total = (64 + 56 + code.len()) as u64;
    elf.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
    elf.extend_from_slice(&[0; 8]);
    elf.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    elf.extend_from_slice(&0x3eu16.to_le_bytes()); // x86-64
    elf.extend_from_slice(&1u32.to_le_bytes());
    elf.extend_from_slice(&(base + 120).to_le_bytes()); // entry
    elf.extend_from_slice(&64u64.to_le_bytes()); // program headers
    elf.extend_from_slice(&0u64.to_le_bytes()); // no section headers
    elf.extend_from_slice(&0u32.to_le_bytes());
    for v in [64u16, 56, 1, 0, 0, 0] {
        elf.extend_from_slice(&v.to_le_bytes());
    }
    elf.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    elf.extend_from_slice(&5u32.to_le_bytes()); // R+X
    elf.extend_from_slice(&0u64.to_le_bytes());
    elf.extend_from_slice(&base.to_le_bytes());
    elf.extend_from_slice(&base.to_le_bytes());
    elf.extend_from_slice(&total.to_le_bytes());
    elf.extend_from_slice(&total.to_le_bytes());
    elf.extend_from_slice(&0x1000u64.to_le_bytes());
    elf.extend_from_slice(code);
    elf
}

/// An OCI layout tarball of `name` with one layer holding `files`.
pub fn image_tar(name: &str, files: &[LayerFile<'_>], entrypoint: &[&str]) -> Vec<u8> {
    oci_layout::image_tar(
        name,
        files,
        &ImageConfig {
            entrypoint,
            ..Default::default()
        },
    )
}

/// The pause image, as [`PAUSE_IMAGE`].
pub fn pause_image_tar() -> Vec<u8> {
    image_tar(
        PAUSE_IMAGE,
        &[("pause", &pause_binary(), 0o755)],
        &["/pause"],
    )
}

#[cfg(all(test, target_arch = "x86_64", target_os = "linux"))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::time::Duration;

    #[test]
    fn pause_runs_until_signalled() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pause");
        std::fs::write(&path, pause_binary()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut child = std::process::Command::new(&path).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(200));
        assert!(
            child.try_wait().unwrap().is_none(),
            "pause exited by itself"
        );
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert!(!status.success());
    }
}
