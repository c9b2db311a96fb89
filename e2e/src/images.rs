//! Container images built here, as OCI layout tarballs for `ctr images import` (no
//! public registry is reachable):
//! - the pod sandbox image: one layer holding `/pause`, a 129-byte static x86-64 ELF
//!   that loops on the `pause` system call until a signal ends it. Our shim holds
//!   sandboxes without running them; the image just has to exist, as kubelet's does;
//! - classic (non-artifact) images whose one layer holds a Spin app's files.

use sha2::{Digest, Sha256};

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

fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn tar_of(entries: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, data, mode) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(*mode);
        header.set_mtime(0);
        header.set_cksum();
        builder.append_data(&mut header, path, *data).unwrap();
    }
    builder.into_inner().unwrap()
}

/// An OCI image layout tarball of `name` with one layer holding `files`.
pub fn image_tar(name: &str, files: &[(&str, &[u8], u32)], entrypoint: &[&str]) -> Vec<u8> {
    let layer = tar_of(files);
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Entrypoint": entrypoint},
        "rootfs": {"type": "layers", "diff_ids": [digest(&layer)]},
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(&config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest(&layer), "size": layer.len()}],
    }))
    .unwrap();
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest(&manifest),
            "size": manifest.len(),
            "annotations": {"io.containerd.image.name": name},
        }],
    }))
    .unwrap();
    let blob = |bytes: &[u8]| format!("blobs/sha256/{}", &digest(bytes)[7..]);
    tar_of(&[
        ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#, 0o644),
        ("index.json", &index, 0o644),
        (&blob(&manifest), &manifest, 0o644),
        (&blob(&config), &config, 0o644),
        (&blob(&layer), &layer, 0o644),
    ])
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
