//! Spin OCI artifacts (what `spin registry push` and `spin-kube push` produce) read from
//! containerd's content store over its gRPC API: the container's image, its manifest,
//! the locked app, and the Wasm/data layers, copied once per node into a blob cache
//! the runtime reads by digest.
//!
//! Everything here is untrusted input: digests are validated before they name a file,
//! blobs are streamed with a size bound and hashed while they are copied, and the app
//! may only use the layers its own manifest lists.

use std::path::{Path, PathBuf};

use containerd_client::services::v1::containers_client::ContainersClient;
use containerd_client::services::v1::content_client::ContentClient;
use containerd_client::services::v1::images_client::ImagesClient;
use containerd_client::services::v1::{GetContainerRequest, GetImageRequest, ReadContentRequest};
use containerd_client::tonic::Request;
use containerd_client::tonic::transport::Channel;
use containerd_client::with_namespace;
use std::collections::HashSet;
use std::io::Write;

use sha2::{Digest, Sha256};
use spin_app::oci::{ImageManifest, LOCKED_APP_MEDIA_TYPE, MAX_MANIFEST_BYTES};
use spin_app::{LockedApp, Sha256Digest};

/// Largest Wasm or data layer copied into the node's blob cache.
pub const MAX_LAYER_BYTES: u64 = 1 << 30;

/// Why the app could not be read from the image.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("cannot reach containerd at {address}: {detail}")]
    Connect { address: String, detail: String },
    #[error("containerd: {what}: {detail}")]
    Containerd { what: String, detail: String },
    #[error(
        "image {image} is not a Spin app: its manifest has no {LOCKED_APP_MEDIA_TYPE} layer or config (push it with `spin registry push` or `spin-kube push`)"
    )]
    NotSpin { image: String },
    #[error("image {image}: {problem}")]
    Invalid { image: String, problem: String },
    #[error("image {image}: {source}")]
    Locked {
        image: String,
        source: spin_app::AppError,
    },
    #[error("layer {digest} is larger than the limit of {limit} bytes")]
    TooLarge { digest: Sha256Digest, limit: u64 },
    #[error("blob cache {}: {source}", path.display())]
    Cache {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A containerd connection in one namespace.
pub struct Containerd {
    channel: Channel,
    namespace: String,
}

impl Containerd {
    pub async fn connect(address: &str, namespace: &str) -> Result<Self, ArtifactError> {
        let channel =
            containerd_client::connect(address)
                .await
                .map_err(|e| ArtifactError::Connect {
                    address: address.into(),
                    detail: e.to_string(),
                })?;
        Ok(Self {
            channel,
            namespace: namespace.into(),
        })
    }

    fn failed(what: String) -> impl FnOnce(containerd_client::tonic::Status) -> ArtifactError {
        move |status| ArtifactError::Containerd {
            what,
            detail: status.message().to_string(),
        }
    }

    /// The image a container was created from.
    pub async fn image_of(&self, container: &str) -> Result<String, ArtifactError> {
        let req = GetContainerRequest {
            id: container.into(),
        };
        let got = ContainersClient::new(self.channel.clone())
            .get(with_namespace!(req, self.namespace))
            .await
            .map_err(Self::failed(format!("container {container}")))?
            .into_inner();
        Ok(got.container.map(|c| c.image).unwrap_or_default())
    }

    /// The media type and digest of the manifest an image name points to.
    async fn target(&self, image: &str) -> Result<(String, String), ArtifactError> {
        let req = GetImageRequest { name: image.into() };
        let target = ImagesClient::new(self.channel.clone())
            .get(with_namespace!(req, self.namespace))
            .await
            .map_err(Self::failed(format!("image {image}")))?
            .into_inner()
            .image
            .and_then(|i| i.target)
            .ok_or_else(|| ArtifactError::Invalid {
                image: image.into(),
                problem: "containerd has no target descriptor for it".into(),
            })?;
        Ok((target.media_type, target.digest))
    }

    /// Streams a blob from the content store into `sink`, refusing more than `limit`
    /// bytes.
    async fn read_into(
        &self,
        digest: &Sha256Digest,
        limit: u64,
        mut sink: impl FnMut(&[u8]) -> Result<(), ArtifactError>,
    ) -> Result<u64, ArtifactError> {
        let req = ReadContentRequest {
            digest: digest.to_string(),
            offset: 0,
            size: 0,
        };
        let mut stream = ContentClient::new(self.channel.clone())
            .read(with_namespace!(req, self.namespace))
            .await
            .map_err(Self::failed(format!("blob {digest}")))?
            .into_inner();
        let mut total = 0u64;
        while let Some(chunk) = stream
            .message()
            .await
            .map_err(Self::failed(format!("blob {digest}")))?
        {
            total += chunk.data.len() as u64;
            if total > limit {
                return Err(ArtifactError::TooLarge {
                    digest: digest.clone(),
                    limit,
                });
            }
            sink(&chunk.data)?;
        }
        Ok(total)
    }

    /// A whole blob of at most `limit` bytes, checked against its digest.
    pub async fn read(&self, digest: &Sha256Digest, limit: u64) -> Result<Vec<u8>, ArtifactError> {
        let mut out = Vec::new();
        self.read_into(digest, limit, |chunk| {
            out.extend_from_slice(chunk);
            Ok(())
        })
        .await?;
        check_digest(digest, &Sha256Digest::of(&out))?;
        Ok(out)
    }
}

fn check_digest(expected: &Sha256Digest, actual: &Sha256Digest) -> Result<(), ArtifactError> {
    if actual != expected {
        return Err(ArtifactError::Containerd {
            what: format!("blob {expected}"),
            detail: format!("content has digest {actual}"),
        });
    }
    Ok(())
}

/// The Spin app of an image: its locked app and the digests of the layers it carries.
pub struct ArtifactApp {
    pub locked: LockedApp,
    pub carried: HashSet<Sha256Digest>,
}

/// Reads the Spin app of `image` and makes sure every Wasm and data layer it carries is
/// in `blob_dir/sha256/<hex>` (verified by digest); the blob cache is then kept within
/// `max_bytes`, this app's layers kept.
pub async fn load(
    containerd: &Containerd,
    image: &str,
    blob_dir: &Path,
    max_bytes: u64,
) -> Result<ArtifactApp, ArtifactError> {
    let invalid = |problem: String| ArtifactError::Invalid {
        image: image.into(),
        problem,
    };
    let (media_type, digest) = containerd.target(image).await?;
    if media_type.contains("index") || media_type.contains("manifest.list") {
        return Err(invalid(format!(
            "it is a multi-platform index ({media_type}); Spin apps are pushed as a single manifest"
        )));
    }
    let digest = Sha256Digest::parse(&digest).map_err(|e| invalid(format!("manifest: {e}")))?;
    let manifest_bytes = containerd.read(&digest, MAX_MANIFEST_BYTES).await?;
    let manifest = ImageManifest::parse(&manifest_bytes)
        .map_err(|e| invalid(format!("manifest {digest}: {e}")))?;
    let locked_layer = manifest
        .locked_app()
        .ok_or_else(|| ArtifactError::NotSpin {
            image: image.into(),
        })?;
    let locked_bytes = containerd
        .read(&locked_layer.digest, spin_app::load::MAX_APP_FILE_BYTES)
        .await?;
    let locked = LockedApp::from_json(&locked_bytes, Path::new(image)).map_err(|source| {
        ArtifactError::Locked {
            image: image.into(),
            source,
        }
    })?;
    let mut carried = HashSet::new();
    for layer in manifest.content_layers() {
        if layer.size > MAX_LAYER_BYTES {
            return Err(ArtifactError::TooLarge {
                digest: layer.digest.clone(),
                limit: MAX_LAYER_BYTES,
            });
        }
        cache_blob(containerd, &layer.digest, layer.size, blob_dir).await?;
        carried.insert(layer.digest.clone());
    }
    let blobs = blob_dir.join("sha256");
    let in_use: Vec<_> = carried.iter().map(|d| blobs.join(d.hex())).collect();
    spin_runtime::cache_bound::evict_least_recently_used(&blobs, max_bytes, &in_use);
    Ok(ArtifactApp { locked, carried })
}

/// Copies a blob into the node cache unless it is there, streaming it to a temp file
/// while hashing it; only bytes that hash to the digest are renamed into place.
async fn cache_blob(
    containerd: &Containerd,
    digest: &Sha256Digest,
    size: u64,
    blob_dir: &Path,
) -> Result<(), ArtifactError> {
    let dir = blob_dir.join("sha256");
    let path = dir.join(digest.hex());
    if path.is_file() {
        spin_runtime::cache_bound::mark_used(&path);
        return Ok(());
    }
    let cache_err = |source| ArtifactError::Cache {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(&dir).map_err(cache_err)?;
    // A temp file in the same directory, renamed when complete, so a concurrent pod
    // never reads half a blob.
    let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(cache_err)?;
    let mut hasher = Sha256::new();
    containerd
        .read_into(digest, size.min(MAX_LAYER_BYTES), |chunk| {
            hasher.update(chunk);
            tmp.write_all(chunk).map_err(cache_err)
        })
        .await?;
    check_digest(digest, &Sha256Digest::from_raw(hasher.finalize().into()))?;
    tmp.persist(&path).map_err(|e| cache_err(e.error))?;
    Ok(())
}
