//! Pulling a Spin app (what `spin registry push` and `spin kube push` produce) from a
//! registry: the manifest, the locked app, and the Wasm and data layers into a blob
//! cache (`<dir>/sha256/<hex>`) the runtime reads by digest.
//!
//! The registry and everything it sends are untrusted: the manifest and the locked app
//! are size-bounded and checked against their digests (the manifest against the
//! reference's digest when it has one), each layer is streamed to a temporary file with
//! a bound of the size the manifest gives, hashed while it is written and renamed into
//! place only when it matches its digest. A layer's `urls` are never followed.
//!
//! The cache is content-addressed: a layer already there is not fetched again (the
//! runtime checks its digest before use), and an app pinned by digest whose blobs are
//! all cached starts without the registry.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use oci_client::Reference;
use oci_client::manifest::{IMAGE_MANIFEST_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE};
use spin_app::oci::{ImageManifest, MAX_MANIFEST_BYTES};
use spin_app::{LockedApp, Sha256Digest};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::access::Registry;
use crate::error::{RegistryError, classify};

/// Largest locked app read (it carries small files inline).
pub const MAX_LOCKED_APP_BYTES: u64 = spin_app::load::MAX_APP_FILE_BYTES;
/// Largest Wasm or data layer pulled.
pub const MAX_LAYER_BYTES: u64 = 1 << 30;

/// A pulled app: its locked app and what the runtime may read from the cache for it.
#[derive(Debug)]
pub struct PulledApp {
    pub locked: LockedApp,
    /// The digest of the image manifest that was run.
    pub manifest_digest: Sha256Digest,
    /// The Wasm and data layers this app's manifest lists; the only blobs it may use.
    pub carried: HashSet<Sha256Digest>,
    /// Layers fetched now (the rest were in the cache).
    pub fetched: usize,
}

/// The locked app of the Spin app at `reference`, digest-verified, held in memory only.
pub async fn locked_app(
    reference: &Reference,
    registry: &Registry,
) -> Result<LockedApp, RegistryError> {
    let remote = Remote::new(reference, registry);
    let (manifest, _, _) = remote.manifest_bytes().await?;
    let layer = remote.locked_app_layer(&manifest)?;
    let mut bytes = Capped::new(Vec::new(), layer.size.min(MAX_LOCKED_APP_BYTES));
    remote.blob(&layer.digest, &mut bytes).await?;
    remote.parse_locked(&bytes.inner)
}

/// Pulls the Spin app at `reference` into `blob_dir`.
pub async fn pull_app(
    reference: &Reference,
    registry: &Registry,
    blob_dir: &Path,
) -> Result<PulledApp, RegistryError> {
    let remote = Remote::new(reference, registry);
    let cache = BlobCache::new(blob_dir)?;
    let pinned = reference.digest().and_then(|d| Sha256Digest::parse(d).ok());
    let (manifest, manifest_digest) =
        match pinned.and_then(|d| cache.read(&d, MAX_MANIFEST_BYTES).map(|b| (b, d))) {
            Some((bytes, digest)) => (remote.parse_manifest(&bytes)?, digest),
            None => {
                let (manifest, bytes, digest) = remote.manifest_bytes().await?;
                cache.store(&digest, &bytes)?;
                (manifest, digest)
            }
        };
    let layer = remote.locked_app_layer(&manifest)?.clone();
    let mut fetched = 0;
    let locked_bytes = match cache.read(&layer.digest, MAX_LOCKED_APP_BYTES) {
        Some(bytes) => bytes,
        None => {
            let mut bytes = Capped::new(Vec::new(), layer.size.min(MAX_LOCKED_APP_BYTES));
            remote.blob(&layer.digest, &mut bytes).await?;
            cache.store(&layer.digest, &bytes.inner)?;
            fetched += 1;
            bytes.inner
        }
    };
    let locked = remote.parse_locked(&locked_bytes)?;
    let mut carried = HashSet::new();
    for layer in manifest.content_layers() {
        if layer.size > MAX_LAYER_BYTES {
            return Err(remote.not_spin(format!(
                "layer {} is {} bytes, more than the limit of {MAX_LAYER_BYTES}",
                layer.digest, layer.size
            )));
        }
        if !cache.has(&layer.digest, layer.size) {
            cache.fetch(&remote, &layer.digest, layer.size).await?;
            fetched += 1;
        }
        carried.insert(layer.digest.clone());
    }
    Ok(PulledApp {
        locked,
        manifest_digest,
        carried,
        fetched,
    })
}

/// One repository in one registry.
pub(crate) struct Remote<'a> {
    client: oci_client::Client,
    reference: &'a Reference,
    registry: &'a Registry,
}

impl<'a> Remote<'a> {
    pub(crate) fn new(reference: &'a Reference, registry: &'a Registry) -> Self {
        Self {
            client: registry.client(reference.registry()),
            reference,
            registry,
        }
    }

    fn fail(
        &self,
        action: &str,
    ) -> impl FnOnce(oci_client::errors::OciDistributionError) -> RegistryError {
        let action = action.to_string();
        move |e| classify(e, self.reference, self.registry, &action)
    }

    fn not_spin(&self, problem: String) -> RegistryError {
        RegistryError::NotSpin {
            reference: self.reference.whole(),
            problem,
        }
    }

    /// The image manifest, its bytes and its SHA-256 digest (the client checks the bytes
    /// against the reference's digest, when it has one, and the registry's digest header).
    async fn manifest_bytes(
        &self,
    ) -> Result<(ImageManifest, Vec<u8>, Sha256Digest), RegistryError> {
        let bytes = self.manifest_raw().await?;
        // The client has checked the bytes against the digests it was given; the
        // cache names the manifest by its SHA-256 whatever algorithm those used.
        let digest = Sha256Digest::of(&bytes);
        Ok((self.parse_manifest(&bytes)?, bytes, digest))
    }

    /// The image manifest's bytes (the client checks them against the reference's
    /// digest, when it has one, and the registry's digest header).
    pub(crate) async fn manifest_raw(&self) -> Result<Vec<u8>, RegistryError> {
        let (bytes, _) = self
            .client
            .pull_manifest_raw(
                self.reference,
                &self.registry.auth,
                &[OCI_IMAGE_MEDIA_TYPE, IMAGE_MANIFEST_MEDIA_TYPE],
            )
            .await
            .map_err(self.fail("send the manifest"))?;
        Ok(bytes.to_vec())
    }

    /// The repository's tags.
    pub(crate) async fn tags(&self) -> Result<Vec<String>, RegistryError> {
        self.client
            .list_tags(self.reference, &self.registry.auth, None, None)
            .await
            .map(|listed| listed.tags)
            .map_err(self.fail("list the tags"))
    }

    fn parse_manifest(&self, bytes: &[u8]) -> Result<ImageManifest, RegistryError> {
        ImageManifest::parse(bytes).map_err(|e| self.not_spin(e))
    }

    fn locked_app_layer<'m>(
        &self,
        manifest: &'m ImageManifest,
    ) -> Result<&'m spin_app::oci::Descriptor, RegistryError> {
        let layer = manifest.locked_app().ok_or_else(|| {
            self.not_spin(format!(
                "its manifest has no {} layer (push it with `spin registry push` or `spin kube push`)",
                spin_app::oci::LOCKED_APP_MEDIA_TYPE
            ))
        })?;
        if layer.size > MAX_LOCKED_APP_BYTES {
            return Err(self.not_spin(format!(
                "its locked app is {} bytes, more than the limit of {MAX_LOCKED_APP_BYTES}",
                layer.size
            )));
        }
        Ok(layer)
    }

    fn parse_locked(&self, bytes: &[u8]) -> Result<LockedApp, RegistryError> {
        LockedApp::from_json(bytes, Path::new(&self.reference.whole()))
            .map_err(|e| self.not_spin(e.to_string()))
    }

    /// Streams blob `digest` into `out`; the client checks the digest.
    async fn blob(
        &self,
        digest: &Sha256Digest,
        out: impl AsyncWrite + Unpin,
    ) -> Result<(), RegistryError> {
        let digest_text = digest.to_string();
        self.client
            .pull_blob(self.reference, digest_text.as_str(), out)
            .await
            .map_err(self.fail(&format!("send blob {digest}")))
    }
}

/// The content-addressed blob cache.
pub(crate) struct BlobCache {
    dir: PathBuf,
}

impl BlobCache {
    pub(crate) fn new(blob_dir: &Path) -> Result<Self, RegistryError> {
        let dir = blob_dir.join("sha256");
        std::fs::create_dir_all(&dir).map_err(|source| RegistryError::Cache {
            path: dir.clone(),
            source,
        })?;
        Ok(Self { dir })
    }

    pub(crate) fn path(&self, digest: &Sha256Digest) -> PathBuf {
        self.dir.join(digest.hex())
    }

    fn cache_err(&self, digest: &Sha256Digest) -> impl FnOnce(std::io::Error) -> RegistryError {
        let path = self.path(digest);
        move |source| RegistryError::Cache { path, source }
    }

    /// Whether a blob of that size is cached (its digest is checked where it is used).
    fn has(&self, digest: &Sha256Digest, size: u64) -> bool {
        std::fs::symlink_metadata(self.path(digest)).is_ok_and(|m| m.is_file() && m.len() == size)
    }

    /// A cached blob of at most `limit` bytes that hashes to its digest.
    fn read(&self, digest: &Sha256Digest, limit: u64) -> Option<Vec<u8>> {
        let file = std::fs::File::open(self.path(digest)).ok()?;
        let mut bytes = Vec::new();
        file.take(limit + 1).read_to_end(&mut bytes).ok()?;
        (bytes.len() as u64 <= limit && Sha256Digest::of(&bytes) == *digest).then_some(bytes)
    }

    /// Stores verified bytes under their digest.
    fn store(&self, digest: &Sha256Digest, bytes: &[u8]) -> Result<(), RegistryError> {
        use std::io::Write;
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir).map_err(self.cache_err(digest))?;
        tmp.write_all(bytes).map_err(self.cache_err(digest))?;
        tmp.persist(self.path(digest))
            .map_err(|e| self.cache_err(digest)(e.error))?;
        Ok(())
    }

    /// Streams a layer of `size` bytes into a temporary file beside its place, renamed
    /// into place once the client has checked its digest, so a concurrent reader never
    /// sees half a blob.
    pub(crate) async fn fetch(
        &self,
        remote: &Remote<'_>,
        digest: &Sha256Digest,
        size: u64,
    ) -> Result<(), RegistryError> {
        let tmp = tempfile::NamedTempFile::new_in(&self.dir).map_err(self.cache_err(digest))?;
        let file = tmp.reopen().map_err(self.cache_err(digest))?;
        let mut out = Capped::new(tokio::fs::File::from_std(file), size);
        remote.blob(digest, &mut out).await?;
        out.inner.flush().await.map_err(self.cache_err(digest))?;
        tmp.persist(self.path(digest))
            .map_err(|e| self.cache_err(digest)(e.error))?;
        Ok(())
    }
}

/// A writer that refuses bytes past `limit`: a registry may not send more than the
/// manifest said.
struct Capped<W> {
    inner: W,
    written: u64,
    limit: u64,
}

impl<W> Capped<W> {
    fn new(inner: W, limit: u64) -> Self {
        Self {
            inner,
            written: 0,
            limit,
        }
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for Capped<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.written + data.len() as u64 > self.limit {
            return Poll::Ready(Err(std::io::Error::other(format!(
                "the registry sent more than the {} bytes the manifest gives",
                self.limit
            ))));
        }
        let this = &mut *self;
        let poll = Pin::new(&mut this.inner).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = poll {
            this.written += n as u64;
        }
        poll
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
