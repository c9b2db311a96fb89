//! The names of Spin's OCI artifact layout: what `spin registry push` writes and what
//! the shim reads. They are wire contracts shared with Spin and SpinKube.
//!
//! Layout (from Spin's `crates/oci/src/client.rs`, `push_locked_core`):
//! - the image config is a plain OCI image config (`architecture: wasm`, `os: wasip1`)
//!   whose label [`LOCKED_APP_DIGEST_LABEL`] names the locked app's layer;
//! - one [`WASM_LAYER_MEDIA_TYPE`] layer per distinct component source;
//! - one [`DATA_LAYER_MEDIA_TYPE`] layer per distinct static file larger than
//!   [`INLINE_MAX_BYTES`] (smaller ones are inlined into the locked app only);
//! - the locked app itself, last, as a [`LOCKED_APP_MEDIA_TYPE`] layer, its sources
//!   rewritten to `digest` (and `inline` for small content) references.
//!
//! Apps pushed by Spin before 2.0 carried the locked app as the manifest's config blob,
//! with the same media type; readers accept both.

/// The locked app JSON, as a layer (current) or as the config blob (older pushes).
pub const LOCKED_APP_MEDIA_TYPE: &str = "application/vnd.fermyon.spin.application.v1+config";
/// A component's Wasm binary.
pub const WASM_LAYER_MEDIA_TYPE: &str = "application/vnd.wasm.content.layer.v1+wasm";
/// A static file mounted into a component.
pub const DATA_LAYER_MEDIA_TYPE: &str = "application/vnd.wasm.content.layer.v1+data";
/// A gzipped tar of static files (Spin pushes it for apps with very many files).
pub const ARCHIVE_LAYER_MEDIA_TYPE: &str = "application/vnd.wasm.content.bundle.v1.tar+gzip";
/// Image config label holding the digest of the locked app layer.
pub const LOCKED_APP_DIGEST_LABEL: &str = "com.fermyon.spin.lockedAppDigest";
/// Content up to this size is inlined into the locked app's `inline` field.
pub const INLINE_MAX_BYTES: usize = 128;

use serde::Deserialize;

use crate::Sha256Digest;

/// Largest image manifest read (the OCI distribution spec's recommended limit).
pub const MAX_MANIFEST_BYTES: u64 = 4 << 20;

/// One blob of an image: what it is, its digest, its size.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    /// Validated when parsed; a manifest naming anything else is refused.
    pub digest: Sha256Digest,
    pub size: u64,
}

/// An OCI image manifest, as far as a Spin app needs it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ImageManifest {
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
}

impl ImageManifest {
    /// Parses manifest JSON (at most [`MAX_MANIFEST_BYTES`]); the error is a sentence.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(format!(
                "the manifest is larger than {} MiB",
                MAX_MANIFEST_BYTES >> 20
            ));
        }
        serde_json::from_slice(bytes).map_err(|e| format!("not an OCI image manifest: {e}"))
    }

    /// The locked app: the last [`LOCKED_APP_MEDIA_TYPE`] layer, else (apps pushed by
    /// Spin before 2.0) the config blob when it has that media type.
    pub fn locked_app(&self) -> Option<&Descriptor> {
        self.layers
            .iter()
            .rev()
            .find(|l| l.media_type == LOCKED_APP_MEDIA_TYPE)
            .or((self.config.media_type == LOCKED_APP_MEDIA_TYPE).then_some(&self.config))
    }

    /// The component and static-file layers: all that the locked app may refer to.
    pub fn content_layers(&self) -> impl Iterator<Item = &Descriptor> {
        self.layers.iter().filter(|l| {
            l.media_type == WASM_LAYER_MEDIA_TYPE || l.media_type == DATA_LAYER_MEDIA_TYPE
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(layers: &str) -> String {
        format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{d}","size":2}},"layers":[{layers}]}}"#,
            d = Sha256Digest::of(b"{}")
        )
    }

    fn layer(media_type: &str, bytes: &[u8]) -> String {
        format!(
            r#"{{"mediaType":"{media_type}","digest":"{}","size":{}}}"#,
            Sha256Digest::of(bytes),
            bytes.len()
        )
    }

    #[test]
    fn finds_the_locked_app_and_content_layers() {
        let text = manifest(&format!(
            "{},{},{}",
            layer(WASM_LAYER_MEDIA_TYPE, b"wasm"),
            layer(DATA_LAYER_MEDIA_TYPE, b"data"),
            layer(LOCKED_APP_MEDIA_TYPE, b"{}")
        ));
        let m = ImageManifest::parse(text.as_bytes()).unwrap();
        assert_eq!(m.locked_app().unwrap().digest, Sha256Digest::of(b"{}"));
        let content: Vec<_> = m.content_layers().map(|l| l.size).collect();
        assert_eq!(content, [4, 4]);
    }

    #[test]
    fn refuses_traversal_digests_and_huge_manifests() {
        let text = manifest(&layer(WASM_LAYER_MEDIA_TYPE, b"wasm")).replace(
            &Sha256Digest::of(b"wasm").to_string(),
            "sha256:../../../../etc/shadow",
        );
        let e = ImageManifest::parse(text.as_bytes()).unwrap_err();
        assert!(e.contains("sha256:<64 lowercase hex"), "{e}");
        let huge = vec![b' '; MAX_MANIFEST_BYTES as usize + 1];
        assert!(ImageManifest::parse(&huge).unwrap_err().contains("larger"));
    }
}
