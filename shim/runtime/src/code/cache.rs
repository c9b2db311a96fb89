//! Precompiled components on disk, so a component is compiled once per node and engine.
//!
//! An entry is named by the SHA-256 of the Wasm (the OCI layer digest when there is one)
//! and a hash of the engine's compatibility settings. Its own SHA-256 is stored next to
//! it and checked before use, so a truncated or corrupt file is rebuilt, never loaded.
//! With a bound ([`CompileCache::bounded`]) the directory is kept within it after each
//! write, least recently used entries first ([`crate::cache_bound`]); a load marks its
//! entry used.

// Loading a precompiled artifact is `unsafe` in Wasmtime because the bytes are trusted
// to be machine code Wasmtime produced. This module only loads files it wrote itself,
// after checking their SHA-256 against the sidecar written with them; Wasmtime also
// checks the artifact's header against the running engine and refuses a mismatch.
#![allow(unsafe_code)]

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use spin_app::Sha256Digest;
use wasmtime::Engine;

use crate::engine::CodeTier;
use wasmtime::component::Component;

#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
    engine_hash: String,
    max_bytes: Option<u64>,
}

impl CompileCache {
    pub fn new(dir: PathBuf, engine: &Engine, tier: CodeTier) -> Self {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        // Baseline and optimized code of one Wasm are different entries.
        tier.name().hash(&mut hasher);
        env!("CARGO_PKG_VERSION").hash(&mut hasher);
        // What is compiled from the Wasm (a component may be wrapped first).
        crate::code::prerelease::WRAPPER_VERSION.hash(&mut hasher);
        crate::code::core_module::CONVERSION_VERSION.hash(&mut hasher);
        Self {
            dir,
            engine_hash: format!("{:016x}", hasher.finish()),
            max_bytes: None,
        }
    }

    /// Keeps the directory within `max_bytes` (`None`: unbounded).
    pub fn bounded(self, max_bytes: Option<u64>) -> Self {
        Self { max_bytes, ..self }
    }

    /// The entry's file name is made only of the digest's validated hex digits and the
    /// engine hash, so no digest can name a file outside the cache directory.
    fn entry(&self, wasm_digest: &Sha256Digest) -> PathBuf {
        self.dir
            .join(format!("{}-{}.cwasm", wasm_digest.hex(), self.engine_hash))
    }

    /// The cached component for this Wasm digest, if a sound entry exists. The entry is
    /// mapped, not read into memory: only the code a process runs becomes resident,
    /// and the pods of one app on a node share those pages through the page cache
    /// (Python sample: an idle server 75 → 52 MiB).
    pub fn load(&self, engine: &Engine, wasm_digest: &Sha256Digest) -> Option<Component> {
        let path = self.entry(wasm_digest);
        let actual = file_sha256(&path).ok()?;
        let expected = std::fs::read_to_string(checksum_path(&path)).ok();
        if expected.as_deref().map(str::trim) != Some(&actual) {
            tracing::warn!(path = %path.display(), "compiled component cache entry is corrupt; recompiling");
            self.discard(&path);
            return None;
        }
        // SAFETY: the file was written by `write` below from `Component::serialize`
        // output and its checksum matches what was written with it. Entries are only
        // ever replaced by renaming a new file over them, so the mapped file does not
        // change under the component.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => {
                crate::cache_bound::mark_used(&path);
                Some(component)
            }
            Err(err) => {
                tracing::warn!(path = %path.display(), error = %format!("{err:#}"), "compiled component cache entry is incompatible; recompiling");
                self.discard(&path);
                None
            }
        }
    }

    /// Writes an entry atomically (temp file, then rename); whether it was written.
    /// Failures are only logged, since the cache is an optimisation.
    pub fn store(&self, wasm_digest: &Sha256Digest, component: &Component) -> bool {
        match component.serialize() {
            Ok(bytes) => self.store_serialized(wasm_digest, &bytes),
            Err(err) => {
                tracing::warn!(error = %err, "could not serialize a compiled component for the cache");
                false
            }
        }
    }

    /// The same for a component serialized already (by a compile child).
    pub fn store_serialized(&self, wasm_digest: &Sha256Digest, bytes: &[u8]) -> bool {
        match self.write(wasm_digest, bytes) {
            Ok(()) => true,
            Err(err) => {
                tracing::warn!(dir = %self.dir.display(), error = %err, "could not write compiled component cache");
                false
            }
        }
    }

    fn write(&self, wasm_digest: &Sha256Digest, bytes: &[u8]) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let path = self.entry(wasm_digest);
        let sum = checksum_path(&path);
        let tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        std::fs::write(tmp.path(), bytes)?;
        std::fs::write(&sum, hex::encode(Sha256::digest(bytes)))?;
        tmp.persist(&path).map_err(|e| e.error)?;
        if let Some(max_bytes) = self.max_bytes {
            crate::cache_bound::evict_least_recently_used(&self.dir, max_bytes, &[path]);
        }
        Ok(())
    }

    fn discard(&self, path: &Path) {
        let _ = std::fs::remove_file(path);
        let _ = std::fs::remove_file(checksum_path(path));
    }
}

/// The SHA-256 of a file, read in pieces.
fn file_sha256(path: &Path) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    std::io::copy(&mut std::fs::File::open(path)?, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

fn checksum_path(path: &Path) -> PathBuf {
    path.with_extension("cwasm.sha256")
}
