//! Spin OCI artifacts (what `spin registry push` and `spin-kube push` produce) read from
//! containerd's content store over its gRPC API: the container's image, its manifest,
//! the locked app, and the Wasm/data layers, copied once per node into a blob cache
//! the runtime reads by digest.

use std::path::{Path, PathBuf};

use containerd_client::services::v1::containers_client::ContainersClient;
use containerd_client::services::v1::content_client::ContentClient;
use containerd_client::services::v1::images_client::ImagesClient;
use containerd_client::services::v1::{GetContainerRequest, GetImageRequest, ReadContentRequest};
use containerd_client::tonic::Request;
use containerd_client::tonic::transport::Channel;
use containerd_client::with_namespace;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use spin_app::LockedApp;
use spin_app::oci::{DATA_LAYER_MEDIA_TYPE, LOCKED_APP_MEDIA_TYPE, WASM_LAYER_MEDIA_TYPE};

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
    #[error("blob cache {}: {source}", path.display())]
    Cache {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: String,
    digest: String,
}

#[derive(Deserialize)]
struct Manifest {
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
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

    /// The digest of the manifest an image name points to.
    async fn target(&self, image: &str) -> Result<Descriptor, ArtifactError> {
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
        Ok(Descriptor {
            media_type: target.media_type,
            digest: target.digest,
        })
    }

    /// A whole blob from the content store.
    pub async fn read(&self, digest: &str) -> Result<Vec<u8>, ArtifactError> {
        let req = ReadContentRequest {
            digest: digest.into(),
            offset: 0,
            size: 0,
        };
        let mut stream = ContentClient::new(self.channel.clone())
            .read(with_namespace!(req, self.namespace))
            .await
            .map_err(Self::failed(format!("blob {digest}")))?
            .into_inner();
        let mut out = Vec::new();
        while let Some(chunk) = stream
            .message()
            .await
            .map_err(Self::failed(format!("blob {digest}")))?
        {
            out.extend_from_slice(&chunk.data);
        }
        Ok(out)
    }
}

/// Reads the Spin app of `image` and makes sure every layer it needs is in
/// `blob_dir/sha256/<hex>` (verified by digest). Returns the locked app.
pub async fn load(
    containerd: &Containerd,
    image: &str,
    blob_dir: &Path,
) -> Result<LockedApp, ArtifactError> {
    let invalid = |problem: String| ArtifactError::Invalid {
        image: image.into(),
        problem,
    };
    let target = containerd.target(image).await?;
    if target.media_type.contains("index") || target.media_type.contains("manifest.list") {
        return Err(invalid(format!(
            "it is a multi-platform index ({}); Spin apps are pushed as a single manifest",
            target.media_type
        )));
    }
    let manifest: Manifest = serde_json::from_slice(&containerd.read(&target.digest).await?)
        .map_err(|e| invalid(format!("manifest {}: {e}", target.digest)))?;
    let locked_digest = manifest
        .layers
        .iter()
        .rev()
        .find(|l| l.media_type == LOCKED_APP_MEDIA_TYPE)
        .or((manifest.config.media_type == LOCKED_APP_MEDIA_TYPE).then_some(&manifest.config))
        .map(|d| d.digest.clone())
        .ok_or_else(|| ArtifactError::NotSpin {
            image: image.into(),
        })?;
    let locked_bytes = containerd.read(&locked_digest).await?;
    let locked = LockedApp::from_json(&locked_bytes, Path::new(image)).map_err(|source| {
        ArtifactError::Locked {
            image: image.into(),
            source,
        }
    })?;
    for layer in &manifest.layers {
        if layer.media_type == WASM_LAYER_MEDIA_TYPE || layer.media_type == DATA_LAYER_MEDIA_TYPE {
            cache_blob(containerd, &layer.digest, blob_dir).await?;
        }
    }
    Ok(locked)
}

/// Copies a blob into the node cache unless it is there; checks its digest.
async fn cache_blob(
    containerd: &Containerd,
    digest: &str,
    blob_dir: &Path,
) -> Result<(), ArtifactError> {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    let dir = blob_dir.join("sha256");
    let path = dir.join(hex);
    if path.is_file() {
        return Ok(());
    }
    let bytes = containerd.read(digest).await?;
    let actual = hex::encode(Sha256::digest(&bytes));
    if actual != hex {
        return Err(ArtifactError::Containerd {
            what: format!("blob {digest}"),
            detail: format!("content has digest sha256:{actual}"),
        });
    }
    let cache_err = |source| ArtifactError::Cache {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(&dir).map_err(cache_err)?;
    // Write then rename, so a concurrent pod never reads half a blob.
    let tmp = dir.join(format!(".{hex}.{}", std::process::id()));
    std::fs::write(&tmp, &bytes).map_err(cache_err)?;
    std::fs::rename(&tmp, &path).map_err(cache_err)?;
    Ok(())
}
