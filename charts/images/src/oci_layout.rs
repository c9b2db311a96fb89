//! An OCI image layout tarball (`oci-layout`, `index.json`, `blobs/sha256/...`) holding
//! one image with one uncompressed layer: what `ctr images import`, `docker load`,
//! `kind load image-archive` and `skopeo copy oci-archive:...` read.

use sha2::{Digest, Sha256};

/// A file of the image's one layer: path (relative to `/`), content, mode. A mode with
/// [`DIRECTORY`] set makes an (empty-content) directory.
pub type LayerFile<'a> = (&'a str, &'a [u8], u32);

/// The file-type bit of a directory in a [`LayerFile`] mode (as in `st_mode`).
pub const DIRECTORY: u32 = 0o040000;

/// The parts of the image config a runtime uses.
#[derive(Debug, Clone, Default)]
pub struct ImageConfig<'a> {
    pub entrypoint: &'a [&'a str],
    /// `uid:gid`, or empty for root.
    pub user: &'a str,
    /// `NAME=value` entries.
    pub env: &'a [&'a str],
}

fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn tar_of(entries: &[LayerFile<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, data, mode) in entries {
        let mut header = tar::Header::new_gnu();
        if mode & DIRECTORY != 0 {
            header.set_entry_type(tar::EntryType::Directory);
        }
        header.set_size(data.len() as u64);
        header.set_mode(mode & 0o7777);
        header.set_mtime(0);
        header.set_cksum();
        builder
            .append_data(&mut header, path, *data)
            .expect("writing to memory");
    }
    builder.into_inner().expect("writing to memory")
}

/// The tarball of image `name` (e.g. `ghcr.io/org/app:1`) whose one layer holds `files`.
pub fn image_tar(name: &str, files: &[LayerFile<'_>], config: &ImageConfig<'_>) -> Vec<u8> {
    let layer = tar_of(files);
    let mut runtime = serde_json::json!({"Entrypoint": config.entrypoint});
    if !config.user.is_empty() {
        runtime["User"] = config.user.into();
    }
    if !config.env.is_empty() {
        runtime["Env"] = config.env.into();
    }
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": runtime,
        "rootfs": {"type": "layers", "diff_ids": [digest(&layer)]},
    }))
    .expect("JSON");
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(&config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest(&layer), "size": layer.len()}],
    }))
    .expect("JSON");
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest(&manifest),
            "size": manifest.len(),
            "annotations": {
                "io.containerd.image.name": name,
                "org.opencontainers.image.ref.name": name.rsplit_once(':').map(|(_, tag)| tag).unwrap_or("latest"),
            },
        }],
    }))
    .expect("JSON");
    let blob = |bytes: &[u8]| format!("blobs/sha256/{}", &digest(bytes)[7..]);
    tar_of(&[
        ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#, 0o644),
        ("index.json", &index, 0o644),
        (&blob(&manifest), &manifest, 0o644),
        (&blob(&config), &config, 0o644),
        (&blob(&layer), &layer, 0o644),
    ])
}
