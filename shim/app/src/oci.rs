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
